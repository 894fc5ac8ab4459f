"""The expect engine shared by the byte-stream transports (telnet, serial).

A transport subclass supplies three primitives (receive with a timeout, send, close); this base
keeps the receive buffer and matches tokens against it the way the device dialogues are written:
a literal token is a case-sensitive substring of the stream, a compiled regex is searched; the
token whose match ends first wins, text before it is consumed, bytes after it stay for the next
expect.  Every wait is bounded by the caller's ``Deadline`` and, optionally, by a shorter per-step
limit that can never extend past the deadline.
"""

from __future__ import annotations

import abc
import re

from stonith.deadline import Deadline
from stonith.errors import DeviceError, Timeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from stonith.lazyre import LazyPattern

    Token = bytes | re.Pattern[bytes] | LazyPattern

# Output that is neither printable ASCII nor the control bytes terminals use is line noise: a
# wrong serial speed, a garbled link or not the device we think.  Failing fast on it beats waiting
# for a token until the deadline.
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\r\n\t\0\b\x07\x0c\x1b")
MAX_BUFFER = 256 * 1024  # no dialogue needs more before a token; a longer flood is a runaway device


class Closed(DeviceError):
    """The other end closed the connection (EOF)."""


class Expected:
    """What an ``expect`` matched: which token, the text before it and the match itself."""

    __slots__ = ("before", "index", "match", "text")

    def __init__(self, index: int, before: bytes, text: bytes, match: re.Match[bytes] | None) -> None:
        self.index = index
        self.before = before
        self.text = text
        self.match = match


class Stream(abc.ABC):
    """A connected byte stream with ``expect``/``write``; subclasses do the I/O."""

    def __init__(self, what: str, *, text_only: bool = True) -> None:
        self.what = what
        self.text_only = text_only
        self.received = 0  # bytes received over the connection's life, after transport decoding
        self._buf = bytearray()
        self._closed = False

    # -- primitives ------------------------------------------------------------------------
    @abc.abstractmethod
    def _recv(self, timeout: float) -> bytes:
        """Data available within ``timeout`` seconds (b"" if none); raise Closed at EOF."""

    @abc.abstractmethod
    def _send(self, data: bytes, timeout: float) -> None:
        """Send all of ``data`` within ``timeout`` seconds."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the connection; must not raise."""

    # -- API --------------------------------------------------------------------------------
    def write(self, data: bytes, deadline: Deadline) -> None:
        if self._closed:
            raise Closed(f"{self.what}: connection already closed")
        if deadline.expired():
            raise Timeout(f"deadline of {deadline.what} passed before writing to {self.what}")
        self._send(data, deadline.remaining())

    def expect(
        self,
        tokens: Sequence[Token],
        deadline: Deadline,
        step: float | None = None,
        doing: str = "an answer",
    ) -> Expected:
        """Wait for the first of ``tokens``; Timeout after ``step`` seconds or at the deadline."""
        limit = deadline.sub(step) if step is not None else deadline
        while True:
            found = self._search(tokens)
            if found is not None:
                return found
            if len(self._buf) > MAX_BUFFER:
                raise DeviceError(f"{self.what}: {len(self._buf)} bytes of output without {doing}")
            remaining = limit.remaining()
            if remaining <= 0:
                seen = bytes(self._buf[-80:]).decode("ascii", "replace")
                cut = step is not None and limit.at < deadline.at
                within = f"{step:g} s" if cut else f"the deadline of {deadline.what}"
                raise Timeout(f"{self.what}: no {doing} within {within} (last output: {seen!r})")
            chunk = self._recv(remaining)
            if chunk:
                self._take(chunk)

    def pending(self) -> bytes:
        """Bytes received but not yet consumed by an expect."""
        return bytes(self._buf)

    def discard(self) -> None:
        self._buf.clear()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    # -- internals --------------------------------------------------------------------------
    def _take(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.text_only and not _TEXT_BYTES.issuperset(chunk):
            bad = next(b for b in chunk if b not in _TEXT_BYTES)
            raise DeviceError(
                f"{self.what}: garbled output (byte 0x{bad:02x}; "
                "wrong speed, line noise or not the expected device)"
            )
        self._buf += chunk

    def _search(self, tokens: Sequence[Token]) -> Expected | None:
        best: tuple[int, int, int, re.Match[bytes] | None] | None = None  # (end, index, start, match)
        data = bytes(self._buf)
        for index, token in enumerate(tokens):
            candidate: tuple[int, int, int, re.Match[bytes] | None]
            if isinstance(token, bytes):
                start = data.find(token)
                if start < 0:
                    continue
                candidate = (start + len(token), index, start, None)
            else:
                match = token.search(data)
                if match is None:
                    continue
                candidate = (match.end(), index, match.start(), match)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
        if best is None:
            return None
        end, index, start, found = best
        del self._buf[:end]
        return Expected(index, data[:start], data[start:end], found)

"""The expect engine shared by the byte-stream transports (telnet, serial).

A transport subclass supplies three primitives (receive with a timeout, send, close); this base
keeps the receive buffer and matches tokens against it the way the device dialogues are written:
a literal token is a case-sensitive substring of the stream, a compiled regex is searched; the
token whose match ends first wins, text before it is consumed, bytes after it stay for the next
expect.  Every wait is bounded by the caller's ``Deadline`` and, optionally, by a shorter per-step
limit that can never extend past the deadline.

Device output is untrusted, and a search holds the interpreter lock: after each received chunk
only the new bytes plus ``SEARCH_OVERLAP`` bytes before them are searched (the bytes before that
were searched already, and found to hold no match), so a device trickling a quarter megabyte costs
a linear amount of work, not a re-scan of the whole buffer per chunk (issue 21 item 2).  For this
to find every match, no token may match more than ``SEARCH_OVERLAP`` bytes: drivers write their
patterns with bounded repeats (checked in tests/drivers/test_patterns.py), which also keeps each
search linear.  A compiled pattern sees the byte before the searched window, so ``^``, ``\b`` and
one-byte lookbehinds behave as over the whole buffer.
"""

from __future__ import annotations

import abc
import re

from stonith.contract import redact
from stonith.contract.deadline import Deadline
from stonith.contract.errors import DeviceError, Timeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from stonith.contract.lazyre import LazyPattern
    from stonith.contract.steps import Steps

    Token = bytes | re.Pattern[bytes] | LazyPattern

# Output that is neither printable ASCII nor the control bytes terminals use is line noise: a
# wrong serial speed, a garbled link or not the device we think.  Failing fast on it beats waiting
# for a token until the deadline.
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\r\n\t\0\b\x07\x0c\x1b")
MAX_BUFFER = 256 * 1024  # no dialogue needs more before a token; a longer flood is a runaway device
SEARCH_OVERLAP = 1024  # the longest match a token may have (literal tokens longer than this widen it)
_CONTEXT = 1  # bytes before the searched window that ``^``, ``$``, ``\b`` and ``(?<=x)`` look at


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
        self._searched = 0  # bytes at the start of _buf known to hold no match of the current tokens
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
        self._check_writable(deadline)
        self._send(data, deadline.remaining())

    def _check_writable(self, deadline: Deadline) -> None:
        """Nothing is sent on a closed stream or past the deadline."""
        if self._closed:
            raise Closed(f"{self.what}: connection already closed")
        if deadline.expired():
            raise Timeout(f"deadline of {deadline.what} passed before writing to {self.what}")

    def expect(
        self,
        tokens: Sequence[Token],
        deadline: Deadline,
        step: float | None = None,
        doing: str = "an answer",
    ) -> Expected:
        """Wait for the first of ``tokens``; Timeout after ``step`` seconds or at the deadline."""
        limit = deadline.sub(step) if step is not None else deadline
        self._searched = 0  # what is left from the last expect was never searched for these tokens
        while True:
            found = self._found(tokens, limit, deadline, step, doing)
            if found is not None:
                return found
            chunk = self._recv(max(limit.remaining(), 0.0))
            if chunk:
                self._take(chunk)

    def expect_steps(
        self,
        tokens: Sequence[Token],
        deadline: Deadline,
        step: float | None = None,
        doing: str = "an answer",
    ) -> Steps[Expected]:
        """``expect`` as a step generator (stonith.contract.steps): it yields ``Wait(until, fd)`` where
        ``expect`` would block.  A stream without a descriptor (``fileno`` None) blocks as ``expect``."""
        fd = self.fileno()
        if fd is None:
            yield from ()
            return self.expect(tokens, deadline, step, doing)
        from stonith.contract.steps import Wait

        limit = deadline.sub(step) if step is not None else deadline
        self._searched = 0
        while True:
            found = self._found(tokens, limit, deadline, step, doing)
            if found is not None:
                return found
            chunk = self._recv_nowait()
            if chunk:
                self._take(chunk)
            else:
                yield Wait(limit.at, fd)

    def write_steps(self, data: bytes, deadline: Deadline) -> Steps[None]:
        """``write`` as a step generator.  A console command is a few bytes, which a connected
        socket's send buffer takes at once: the write itself does not wait (it is still bounded by
        the deadline if a peer stops reading)."""
        yield from ()
        self.write(data, deadline)

    def fileno(self) -> int | None:
        """The descriptor a step runner waits on for input; None: this stream can only block."""
        return None

    def _recv_nowait(self) -> bytes:
        """Data already received, without waiting (b"" if none); raise Closed at EOF.  Streams with
        a ``fileno`` implement it."""
        raise NotImplementedError

    def pending(self) -> bytes:
        """Bytes received but not yet consumed by an expect."""
        return bytes(self._buf)

    def discard(self) -> None:
        self._buf.clear()
        self._searched = 0

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    # -- internals --------------------------------------------------------------------------
    def _found(
        self, tokens: Sequence[Token], limit: Deadline, deadline: Deadline, step: float | None, doing: str
    ) -> Expected | None:
        """The first token in what was received; None: none yet, and time is left to wait."""
        found = self._search(tokens)
        if found is not None:
            return found
        if len(self._buf) > MAX_BUFFER:
            raise DeviceError(f"{self.what}: {len(self._buf)} bytes of output without {doing}")
        if limit.remaining() <= 0:
            # Masked: a device that echoes what we type and then hangs holds our password here.
            seen = redact.tail(bytes(self._buf), 80)
            cut = step is not None and limit.at < deadline.at
            within = f"{step:g} s" if cut else f"the deadline of {deadline.what}"
            raise Timeout(f"{self.what}: no {doing} within {within} (last output: {seen!r})")
        return None

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
        overlap = max([SEARCH_OVERLAP] + [len(t) for t in tokens if isinstance(t, bytes)])
        start = max(0, self._searched - overlap)
        origin = max(0, start - _CONTEXT)
        window = bytes(self._buf[origin:])  # a copy: a match must outlive changes to the buffer
        pos = start - origin
        best: tuple[int, int, int, re.Match[bytes] | None] | None = None  # (end, index, start, match)
        for index, token in enumerate(tokens):
            candidate: tuple[int, int, int, re.Match[bytes] | None]
            if isinstance(token, bytes):
                found = window.find(token, pos)
                if found < 0:
                    continue
                candidate = (found + len(token), index, found, None)
            else:
                match = token.search(window, pos)
                if match is None:
                    continue
                candidate = (match.end(), index, match.start(), match)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
        if best is None:
            self._searched = len(self._buf)
            return None
        end, index, begin, matched = best
        before = bytes(self._buf[:origin]) + window[:begin]
        del self._buf[: origin + end]
        self._searched = 0
        return Expected(index, before, window[begin:end], matched)

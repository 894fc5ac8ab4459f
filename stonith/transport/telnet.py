"""Telnet client transport: a TCP connection with passive option handling and expect.

URL format / options
    ``host``, ``host:port``, ``[v6addr]:port`` or a bare IPv6 address; the default port is 23.
    Options (keyword arguments of ``connect``): ``default_port`` (23), ``text_only`` (fail fast on
    non-text output, see stonith.transport.stream).

Devices of this class (BayTech, APC, WTI consoles) speak plain text and usually negotiate nothing.
When a terminal server does negotiate, we refuse every option (``DO x`` -> ``WONT x``, ``WILL x`` ->
``DONT x``) so the link stays a plain NVT, ignore ``DONT``/``WONT`` (we never enabled anything, and
answering them could loop, RFC 1143), skip subnegotiations and strip every IAC sequence from the
data.  A literal 0xFF in our output is doubled.  Python 3.13 removed ``telnetlib``; this is the
small part of it the drivers need.
"""

from __future__ import annotations

import contextlib
import errno
import socket

from stonith.contract.errors import Timeout, Unreachable
from stonith.contract.validation import split_hostport
from stonith.transport.stream import Closed, Stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps

DEFAULT_PORT = 23

# RFC 854 command bytes.
IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
IAC_BYTE = bytes((IAC,))

# Parser states of the IAC decoder.
_DATA, _IAC, _OPTION, _SB, _SB_IAC = range(5)


class TelnetDecoder:
    """Strips IAC sequences from received bytes and collects the refusals to send back.

    Kept separate from the socket so it can be fed arbitrary splits of a stream in tests.
    """

    def __init__(self) -> None:
        self._state = _DATA
        self._command = 0
        self.replies = bytearray()

    def feed(self, data: bytes) -> bytes:
        if self._state == _DATA and IAC_BYTE not in data:
            return data  # the common case: plain text, nothing to strip
        out = bytearray()
        pos, end = 0, len(data)
        while pos < end:
            if self._state == _DATA:  # copy plain text up to the next IAC in one slice
                found = data.find(IAC_BYTE, pos)
                if found < 0:
                    out += data[pos:]
                    break
                out += data[pos:found]
                self._state = _IAC
                pos = found + 1
            else:
                self._command_byte(data[pos], out)
                pos += 1
        return bytes(out)

    def _command_byte(self, byte: int, out: bytearray) -> None:
        """One byte of an IAC sequence (any state but plain data)."""
        state = self._state
        if state == _IAC:
            if byte == IAC:
                out.append(IAC)  # escaped data byte 0xFF
                self._state = _DATA
            elif byte in (DO, DONT, WILL, WONT):
                self._command = byte
                self._state = _OPTION
            elif byte == SB:
                self._state = _SB
            else:
                self._state = _DATA  # NOP, GA, AYT, ...: two-byte commands carry no data
        elif state == _OPTION:
            if self._command == DO:
                self.replies += bytes((IAC, WONT, byte))
            elif self._command == WILL:
                self.replies += bytes((IAC, DONT, byte))
            self._state = _DATA
        elif state == _SB:
            if byte == IAC:
                self._state = _SB_IAC
        elif byte == SE:  # _SB_IAC
            self._state = _DATA
        else:
            self._state = _SB  # IAC IAC inside a subnegotiation, or a malformed one: keep skipping


class TelnetStream(Stream):
    """A connected telnet session; create it with ``connect``."""

    def __init__(self, sock: socket.socket, what: str, *, text_only: bool = True) -> None:
        super().__init__(what, text_only=text_only)
        self._sock = sock
        self._decoder = TelnetDecoder()

    @classmethod
    def connect(
        cls, address: str, deadline: Deadline, *, default_port: int = DEFAULT_PORT, text_only: bool = True
    ) -> TelnetStream:
        host, port, what = _target(address, default_port, deadline)
        from stonith.transport.resolve import connect_tcp

        try:
            sock = connect_tcp(host, port, deadline)  # the host name's lookup inside the deadline too
        except TimeoutError:
            raise Timeout(f"{what}: no TCP connection within the deadline of {deadline.what}") from None
        except OSError as exc:
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            raise Unreachable(f"{what}: cannot connect ({reason})") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, what, text_only=text_only)

    @classmethod
    def connect_steps(
        cls, address: str, deadline: Deadline, *, default_port: int = DEFAULT_PORT, text_only: bool = True
    ) -> Steps[TelnetStream]:
        """``connect`` as a step generator: the host name's lookup and the TCP connect yield their waits."""
        host, port, what = _target(address, default_port, deadline)
        from stonith.transport.resolve import connect_tcp_steps

        try:
            sock = yield from connect_tcp_steps(host, port, deadline)
        except OSError as exc:
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            raise Unreachable(f"{what}: cannot connect ({reason})") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, what, text_only=text_only)

    def fileno(self) -> int | None:
        return self._sock.fileno()

    def _recv(self, timeout: float) -> bytes:
        return self._read(max(timeout, 0.001))

    def _recv_nowait(self) -> bytes:
        return self._read(0.0)

    def _read(self, timeout: float) -> bytes:
        try:
            self._sock.settimeout(timeout)  # 0: non-blocking
            raw = self._sock.recv(4096)
        except (TimeoutError, BlockingIOError):
            return b""
        except OSError as exc:
            raise Closed(f"{self.what}: connection lost ({exc.strerror or exc})") from None
        if not raw:
            raise Closed(f"{self.what}: connection closed by the device")
        data = self._decoder.feed(raw)
        if self._decoder.replies:
            replies = bytes(self._decoder.replies)
            self._decoder.replies.clear()
            self._send(replies, max(timeout, 1.0), escape=False)
        return data

    def _send(self, data: bytes, timeout: float, *, escape: bool = True) -> None:
        if escape:
            data = data.replace(IAC_BYTE, IAC_BYTE * 2)
        try:
            self._sock.settimeout(max(timeout, 0.001))
            self._sock.sendall(data)
        except TimeoutError:
            raise Timeout(f"{self.what}: could not send within {timeout:g} s") from None
        except OSError as exc:
            raise Closed(f"{self.what}: connection lost while sending ({exc.strerror or exc})") from None

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


def _target(address: str, default_port: int, deadline: Deadline) -> tuple[str, int, str]:
    """(host, port, "host:port") of ``address``; Unreachable if it is none, Timeout if too late."""
    try:
        host, port = split_hostport(address, default_port)
    except ValueError:
        raise Unreachable(f"bad address {address!r}") from None
    what = f"{host}:{port}"
    if deadline.expired():
        raise Timeout(f"deadline of {deadline.what} passed before connecting to {what}")
    return host, port, what


def connect(
    address: str, deadline: Deadline, *, default_port: int = DEFAULT_PORT, text_only: bool = True
) -> TelnetStream:
    """Open a telnet session to ``address`` (see the module docstring for the format)."""
    return TelnetStream.connect(address, deadline, default_port=default_port, text_only=text_only)

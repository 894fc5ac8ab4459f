"""Host names resolved within the deadline.

``getaddrinfo`` blocks in the C library for as long as the resolver configuration allows (with
resolv.conf's defaults, 5 s per attempt, two attempts per name server: half a minute with three dead
name servers), and nothing can interrupt it.  A fence to ``pdu1.example.net`` with a dead DNS
server would overrun its deadline by that much.  So a name is looked up in a thread of its own and
waited for until the deadline only; a lookup still running then is abandoned (its thread ends with
it, and nobody reads its answer).  A literal address is converted at once, without a thread.

``addresses`` blocks the calling thread; ``addresses_steps`` is the same for step generators (the
IPMI Loop): it yields a wait on a pipe the lookup thread writes to when done, so the other BMCs of
the Loop go on meanwhile.  ``connect_tcp`` is ``socket.create_connection`` with the lookup and
every connect attempt inside the deadline.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading

from stonith.contract.errors import Timeout, Unreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps

    AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


def _literal(host: str, port: int, socktype: int) -> list[AddrInfo] | None:
    if not host.isascii():  # no numeric address; a name is looked up in a thread
        return None
    try:
        # As bytes: a str host is encoded with the "idna" codec, whose import (stringprep,
        # unicodedata) cost 1.5 ms in the middle of a run's first connections.
        found = socket.getaddrinfo(host.encode("ascii"), port, type=socktype, flags=socket.AI_NUMERICHOST)
        return list(found)
    except (OSError, UnicodeError):
        return None


class _Lookup:
    """One ``getaddrinfo`` in a daemon thread; ``done`` is set (and the pipe written) when it ends."""

    def __init__(self, host: str, port: int, socktype: int, pipe: bool) -> None:
        self.host = host
        self.done = threading.Event()
        self.result: list[AddrInfo] = []
        self.error: OSError | UnicodeError | None = None
        self.read_fd, self._write_fd = os.pipe() if pipe else (-1, -1)
        threading.Thread(target=self._run, args=(port, socktype), name=f"resolve {host}", daemon=True).start()

    def _run(self, port: int, socktype: int) -> None:
        try:
            self.result = list(socket.getaddrinfo(self.host, port, type=socktype))
        except (OSError, UnicodeError) as exc:
            self.error = exc
        finally:
            self.done.set()
            if self._write_fd >= 0:
                with contextlib.suppress(OSError):  # the waiter gave up and closed its end
                    os.write(self._write_fd, b"x")
                os.close(self._write_fd)

    def answer(self, deadline: Deadline) -> list[AddrInfo]:
        if not self.done.is_set():
            raise Timeout(f"{self.host}: host name not resolved within the deadline of {deadline.what}")
        if self.error is not None or not self.result:
            why = getattr(self.error, "strerror", None) or str(self.error or "no address")
            raise Unreachable(f"{self.host}: cannot resolve host name ({why})")
        return self.result

    def close(self) -> None:
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1


def addresses(host: str, port: int, deadline: Deadline, socktype: int = socket.SOCK_STREAM) -> list[AddrInfo]:
    """``getaddrinfo(host, port)``, waited for until ``deadline`` only (Timeout, or Unreachable)."""
    literal = _literal(host, port, socktype)
    if literal is not None:
        return literal
    lookup = _Lookup(host, port, socktype, pipe=False)
    lookup.done.wait(deadline.remaining())
    return lookup.answer(deadline)


def addresses_steps(
    host: str, port: int, deadline: Deadline, socktype: int = socket.SOCK_DGRAM
) -> Steps[list[AddrInfo]]:
    """``addresses`` as a step generator: waits are yielded, the Loop's thread never blocks."""
    from stonith.contract.steps import Wait

    literal = _literal(host, port, socktype)
    if literal is not None:
        return literal
    lookup = _Lookup(host, port, socktype, pipe=True)
    try:
        while not lookup.done.is_set() and not deadline.expired():
            yield Wait(deadline.at, lookup.read_fd)
        return lookup.answer(deadline)
    finally:
        lookup.close()


def connect_tcp(host: str, port: int, deadline: Deadline) -> socket.socket:
    """A TCP connection to ``host:port``: every address in turn, lookup and connects inside the deadline.

    Raises Timeout, or OSError from the last address tried (as ``socket.create_connection`` does).
    """
    last: OSError | None = None
    for family, socktype, proto, _, sockaddr in addresses(host, port, deadline, socket.SOCK_STREAM):
        if deadline.expired():
            break
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    if last is None or isinstance(last, TimeoutError):
        raise Timeout(f"{host}:{port}: no TCP connection within the deadline of {deadline.what}")
    raise last


_CONNECTING = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK)


def _writable(sock: socket.socket) -> bool:
    import select

    poller = select.poll()  # not select.select: descriptors above 1023 are common with many devices
    poller.register(sock.fileno(), select.POLLOUT)
    return bool(poller.poll(0))


def connect_tcp_steps(host: str, port: int, deadline: Deadline) -> Steps[socket.socket]:
    """``connect_tcp`` as a step generator: the lookup and every connect attempt yield their waits."""
    from stonith.contract.steps import Wait

    last: OSError | None = None
    for family, socktype, proto, _, sockaddr in (
        yield from addresses_steps(host, port, deadline, socket.SOCK_STREAM)
    ):
        if deadline.expired():
            break
        sock = socket.socket(family, socktype, proto)
        sock.setblocking(False)
        code = sock.connect_ex(sockaddr)
        while code in _CONNECTING and not deadline.expired():
            # A connecting socket becomes writable when the connect ends, refused or failed too
            # (then SO_ERROR says why).  A wake-up may come without it (the deadline, or early):
            # look, and wait again while time is left.
            yield Wait(deadline.at, sock.fileno(), write=True)
            if _writable(sock):
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:
            return sock
        sock.close()
        last = TimeoutError() if code in _CONNECTING else OSError(code, os.strerror(code))
    if last is None or isinstance(last, TimeoutError):
        raise Timeout(f"{host}:{port}: no TCP connection within the deadline of {deadline.what}")
    raise last

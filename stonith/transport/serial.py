"""Serial transport: the expect API over pyserial, so a tty or any pyserial URL works.

URL format / options
    ``/dev/ttyS0`` (any tty path, a symlink to a pty included) or a pyserial URL:
    ``socket://host:port`` (raw TCP terminal server), ``rfc2217://host:port`` (telnet COM-port
    control), ``loop://`` (tests), ``spy://PORT`` (hex-dump the traffic), ``alt://PORT?class=...``.
    Options (keyword arguments of ``connect``): ``speed`` (baud, default 9600; BayTech's factory
    setting, 8N1), ``text_only`` (fail fast on non-text output, which at a wrong speed is the
    usual symptom).

A local tty is opened with an exclusive lock (pyserial's flock), so two of our own processes never
talk over each other on one console line.  pyserial is imported only when a port is opened.

pyserial's network handlers connect with a fixed 5 s timeout of their own (``socket://``,
``rfc2217://``), whatever our deadline says: a partitioned terminal server made a 3 s fence take
5.1 s (found by hwtests.netcampaign).  So a URL port is opened in a helper thread and waited for
until the deadline only; an open that finishes after we gave up is closed by that thread.
"""

from __future__ import annotations

import contextlib
import threading

from stonith.contract.errors import Timeout, Unreachable
from stonith.transport.stream import Closed, Stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps

DEFAULT_SPEED = 9600


class SerialStream(Stream):
    """An open serial port; create it with ``connect``."""

    def __init__(self, port: Any, what: str, *, text_only: bool = True) -> None:
        super().__init__(what, text_only=text_only)
        self._port = port

    def fileno(self) -> int | None:
        """A local tty's descriptor, which a step runner waits on (its sessions need no thread of
        their own); None for URL handlers (``rfc2217://`` reads in a thread of its own)."""
        fd = getattr(self._port, "fd", None)
        return fd if isinstance(fd, int) and fd >= 0 else None

    def _recv_nowait(self) -> bytes:
        return self._read(0.0)  # pyserial: a timeout of 0 reads what is there

    def write_steps(self, data: bytes, deadline: Deadline) -> Steps[None]:
        """A console command is a few bytes, which the tty's output buffer takes at once: written
        without waiting (a write timeout of 0) and without waiting for the line to transmit them
        (the answer is waited for anyway).  A buffer that takes less is a line held by flow
        control: a Timeout, never a wait that would hold every other session of the loop."""
        yield from ()
        if self.fileno() is None:
            self.write(data, deadline)
            return
        import serial

        self._check_writable(deadline)
        try:
            self._set("write_timeout", 0)
            written = self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise Closed(f"{self.what}: serial line error while sending ({exc})") from None
        if written != len(data):
            raise Timeout(f"{self.what}: the line took {written} of {len(data)} bytes (flow control?)")

    def _set(self, name: str, value: float) -> None:
        # pyserial reconfigures the port (tcsetattr) whenever a timeout is set: only on a change.
        if getattr(self._port, name) != value:
            setattr(self._port, name, value)

    def _recv(self, timeout: float) -> bytes:
        return self._read(max(timeout, 0.001))

    def _read(self, timeout: float) -> bytes:
        import serial

        try:
            self._set("timeout", timeout)
            first: bytes = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            rest: bytes = self._port.read(waiting) if waiting else b""
        except serial.SerialException as exc:
            # pyserial reports a hung-up line (pty master gone, socket:// peer closed) this way.
            raise Closed(f"{self.what}: serial line closed ({exc})") from None
        except OSError as exc:
            raise Closed(f"{self.what}: serial line error ({exc.strerror or exc})") from None
        return first + rest

    def _send(self, data: bytes, timeout: float) -> None:
        import serial

        try:
            self._port.write_timeout = max(timeout, 0.001)
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException:
            raise Timeout(f"{self.what}: could not send within {timeout:g} s (flow control?)") from None
        except (serial.SerialException, OSError) as exc:
            raise Closed(f"{self.what}: serial line error while sending ({exc})") from None

    def _close(self) -> None:
        # Closing must never raise, whatever the URL handler does.
        with contextlib.suppress(Exception):
            self._port.close()


def connect(
    url: str, deadline: Deadline, *, speed: int = DEFAULT_SPEED, text_only: bool = True
) -> SerialStream:
    """Open ``url`` (a tty path or a pyserial URL) at ``speed`` baud, 8N1."""
    try:
        import serial
    except ImportError:
        raise Unreachable("serial ports need pyserial: pip install 'stonith[serial]'") from None
    if deadline.expired():
        raise Timeout(f"deadline of {deadline.what} passed before opening {url}")
    try:
        port = serial.serial_for_url(
            url,
            baudrate=speed,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=min(deadline.remaining(), 1.0),
            exclusive=url.startswith("/") or None,
            do_not_open="://" in url,
        )
        if "://" in url:
            _open_within(port, url, deadline)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise Unreachable(f"{url}: cannot open serial port ({exc})") from None
    return SerialStream(port, url, text_only=text_only)


def _open_within(port: Any, url: str, deadline: Deadline) -> None:
    """``port.open()`` (a network connect for URL handlers), waited for until the deadline only."""
    done = threading.Event()
    lock = threading.Lock()
    outcome: list[BaseException] = []
    abandoned = False

    def opener() -> None:
        try:
            port.open()
        except BaseException as exc:  # handed to the caller, who re-raises what it knows
            outcome.append(exc)
        with lock:
            done.set()
            if abandoned:  # nobody waits any more: a late connection must not stay open
                with contextlib.suppress(Exception):
                    port.close()

    threading.Thread(target=opener, name=f"open {url}", daemon=True).start()
    done.wait(max(deadline.remaining(), 0.0))
    with lock:
        if not done.is_set():
            abandoned = True
            raise Timeout(f"{url}: no connection within the deadline of {deadline.what}")
    if outcome:
        raise outcome[0]

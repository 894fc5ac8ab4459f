"""Plumbing shared by every mock device: configuration, faults, ground truth, TCP and pty servers.

A mock module (``mocks/<type>.py``) supplies the device end of one protocol: ``MODELS``,
``DEFAULT_MODEL``, ``add_arguments(parser)`` for its own flags, ``default_names(model, count)`` and
``create(config) -> MockDevice``.  Everything else (serving TCP or a pty, session limits, faults on
the output path, the ground truth and its state file) lives here, once for all mocks.

Fault SPEC syntax (``--fault``, repeatable; N counts bytes the device sends on one connection,
OUTLET is an outlet number):

    drop-after=N    close the connection after sending N bytes
    garble[=N]      from byte N on (default 0), every byte sent has its high bit flipped
    silent[=N]      after N bytes (default 0), send nothing more and ignore all input (hung device)
    refuse-login    reject every login as a wrong password
    stuck=OUTLET    the outlet's relay ignores "off" (status keeps showing the truth: on)
    lie=OUTLET      the device acknowledges "off" as done, but the relay stays on (its status read
                    back shows on: a client that trusts acknowledgements is fooled, one that reads
                    back is not)
    lie-status=OUTLET  the device *reports* off while the relay stays on.  No client reading only
                    this device can detect it (it is the device measuring nothing); it exists to
                    prove that ground-truth checks (hwtests) flag such a device as a false success

The ground truth is what the relays really did; a lying outlet's status is not the truth.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import json
import os
import select
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

ON = "on"
OFF = "off"
BUSY_GRACE = 0.5  # seconds a new connection waits for a just-closed session to be noticed
POLL = 0.2  # seconds between checks of the stop flag while blocked on I/O

FAULT_SPECS = (
    "drop-after=N",
    "garble[=N]",
    "silent[=N]",
    "refuse-login",
    "stuck=OUTLET",
    "lie=OUTLET",
    "lie-status=OUTLET",
)


def accepted(listener: socket.socket, stop: threading.Event) -> Iterator[socket.socket]:
    """The connections to ``listener`` until ``stop`` is set or the listener is closed (its timeout
    is how often ``stop`` is looked at)."""
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        yield conn


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class Faults:
    drop_after: int | None = None
    garble_after: int | None = None
    silent_after: int | None = None
    refuse_login: bool = False
    stuck: frozenset[int] = frozenset()
    lie: frozenset[int] = frozenset()
    lie_status: frozenset[int] = frozenset()


def parse_faults(specs: Iterable[str]) -> Faults:
    """Faults from ``--fault`` values; ValueError names the bad one."""
    values: dict[str, Any] = {}
    outlet_faults: dict[str, set[int]] = {"stuck": set(), "lie": set(), "lie-status": set()}
    for spec in specs:
        name, eq, arg = spec.strip().partition("=")
        try:
            number = int(arg) if eq else None
        except ValueError:
            raise ValueError(f"fault {spec!r}: {arg!r} is not a number") from None
        if number is not None and number < 0:
            raise ValueError(f"fault {spec!r}: must not be negative")
        if name == "drop-after" and number is not None:
            values["drop_after"] = number
        elif name == "garble":
            values["garble_after"] = number or 0
        elif name == "silent":
            values["silent_after"] = number or 0
        elif name == "refuse-login" and not eq:
            values["refuse_login"] = True
        elif name in outlet_faults and number:
            outlet_faults[name].add(number)
        else:
            raise ValueError(f"bad fault {spec!r}; valid: {', '.join(FAULT_SPECS)}")
    return Faults(
        stuck=frozenset(outlet_faults["stuck"]),
        lie=frozenset(outlet_faults["lie"]),
        lie_status=frozenset(outlet_faults["lie-status"]),
        **values,
    )


@dataclass
class MockConfig:
    """Everything a mock needs, after command-line parsing."""

    type: str
    model: str
    names: list[str]
    states: list[str]
    username: str
    password: str
    faults: Faults = field(default_factory=Faults)
    relay_delay: float = 0.0
    state_file: str | None = None
    sessions: int = 1
    options: dict[str, Any] = field(default_factory=dict)  # device-specific flags


# ---------------------------------------------------------------------------------------------
# Ground truth


RELAY_TICK = 0.005  # relays due this close together switch in one pass of the controller


class Outlets:
    """The relays: what they really are, what the device reports, and every real change.

    A command is acknowledged at once; the relay follows ``relay_delay`` seconds later, so a
    client that does not read back sees the old state for a while, as on real hardware.  Relay
    changes are applied strictly in the order the commands were accepted (one relay controller
    per device, as in the hardware): an ``off`` accepted before an ``on`` never lands after it,
    however busy the machine running the mock is.
    """

    def __init__(
        self,
        names: list[str],
        states: list[str],
        *,
        relay_delay: float,
        faults: Faults,
        state_file: str | None,
    ) -> None:
        self.names = list(names)
        self._truth = list(states)
        self._shown: dict[int, str] = {}  # lying outlets: what they report instead of the truth
        self._relay_delay = relay_delay
        self._faults = faults
        self._state_file = state_file
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._pending: collections.deque[tuple[float, int, str]] = collections.deque()
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._closed = False
        self._save()

    def __len__(self) -> int:
        return len(self.names)

    def shown(self, number: int) -> str:
        """The state the device reports for outlet ``number`` (1-based)."""
        with self._lock:
            return self._shown.get(number, self._truth[number - 1])

    def shown_all(self) -> list[str]:
        """What the device reports for every outlet, in order (one look, under one lock)."""
        with self._lock:
            return [self._shown.get(n, state) for n, state in enumerate(self._truth, 1)]

    def truth(self, number: int) -> str:
        with self._lock:
            return self._truth[number - 1]

    def switch(self, number: int, state: str) -> None:
        """The device accepted a command for outlet ``number``; the relay follows after the delay."""
        if state == OFF and (number in self._faults.stuck or number in self._faults.lie):
            return  # the command was acknowledged (the device's reply is unchanged): the relay stays on
        with self._lock:
            if number in self._faults.lie_status:
                if state == OFF:
                    self._shown[number] = OFF
                    return
                self._shown.pop(number, None)
        if self._relay_delay <= 0:
            self._apply(number, state)
            return
        with self._lock:
            if self._closed:
                return
            self._pending.append((time.monotonic() + self._relay_delay, number, state))
            if self._worker is None:
                self._worker = threading.Thread(target=self._relays, name="relays", daemon=True)
                self._worker.start()
            self._wake.notify()

    def _relays(self) -> None:
        """The relay controller: applies accepted commands in order, each when its delay is over."""
        with self._lock:
            while not self._closed:
                if not self._pending:
                    self._wake.wait()
                    continue
                wait = self._pending[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                changed = False
                # Commands accepted together (``off 0``) land together: one pass, one state write.
                while self._pending and self._pending[0][0] <= time.monotonic() + RELAY_TICK:
                    _, number, state = self._pending.popleft()
                    changed |= self._change(number, state)
                if changed:
                    # Written before the lock is let go: nobody can read the new state back (and a
                    # client finish on it) while the ground truth on disk does not show it yet.
                    self._save_locked()

    def _apply(self, number: int, state: str) -> None:
        with self._lock:
            if self._change(number, state):
                self._save_locked()

    def _change(self, number: int, state: str) -> bool:
        """Set one relay (the lock held); whether it changed."""
        if self._closed or self._truth[number - 1] == state:
            return False
        self._truth[number - 1] = state
        self._events.append({"t": time.time(), "outlet": str(number), "state": state})
        return True

    def snapshot(self) -> dict[str, Any]:
        """The ground truth in the state-file format."""
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> dict[str, Any]:
        return {
            "outlets": {
                str(i + 1): {"name": n, "state": s}
                for i, (n, s) in enumerate(zip(self.names, self._truth, strict=True))
            },
            "events": [dict(e) for e in self._events],
        }

    def _save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        """Write the state file; ``self._lock`` is held (always taken before _SAVE_LOCK, never after)."""
        if not self._state_file:
            return
        # Serialised by a lock of its own so that concurrent writers never interleave renames.
        with _SAVE_LOCK:
            write_state(self._state_file, self._snapshot_locked())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._pending.clear()
            self._wake.notify_all()


_SAVE_LOCK = threading.Lock()


def write_state(path: str, truth: dict[str, Any]) -> None:
    """Write a mock's ground truth to ``path`` atomically (readers never see half a file)."""
    data = json.dumps(truth, indent=1, sort_keys=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data + "\n")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------------
# Connections


class Hangup(Exception):
    """The connection is over (EOF, a drop fault, or the mock is stopping)."""


class Channel(abc.ABC):
    """One connection as the device sees it: line input, text output, output faults applied."""

    def __init__(self, faults: Faults, stop: threading.Event) -> None:
        self.faults = faults
        self.stop = stop
        self.sent = 0
        self.silenced = False
        # The user a transport has authenticated already (SSH); the device then asks for no login.
        self.login: str | None = None
        self._lines: list[str] = []
        self._partial = bytearray()
        self._after_cr = False

    @abc.abstractmethod
    def _read(self, timeout: float) -> bytes | None:
        """Bytes within ``timeout`` (b"" if none), None at EOF."""

    @abc.abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def new_session(self) -> None:
        """Fault byte counts start again (a serial line has no connections, only sessions)."""
        self.sent = 0
        self.silenced = False

    def readline(self) -> str:
        """The next input line without its end; ``\\r``, ``\\r\\n``, ``\\r\\0`` and ``\\n`` end a line."""
        while not self._lines:
            if self.stop.is_set():
                raise Hangup("stopping")
            data = self._read(POLL)
            if data is None:
                raise Hangup("EOF")
            self._split(data)
        return self._lines.pop(0)

    def _split(self, data: bytes) -> None:
        for byte in data:
            if self._after_cr:
                self._after_cr = False
                if byte in (0x0A, 0x00):
                    continue  # the second half of a CR LF / CR NUL end of line
            if byte in (0x0D, 0x0A):
                self._after_cr = byte == 0x0D
                self._lines.append(self._partial.decode("latin-1"))
                self._partial.clear()
            elif byte in (0x08, 0x7F):
                del self._partial[-1:]
            elif byte >= 0x20 or byte == 0x09:
                self._partial.append(byte)

    def write(self, text: str) -> None:
        data = text.encode("latin-1", "replace")
        if self.silenced:
            return
        faults = self.faults
        if faults.silent_after is not None and self.sent + len(data) >= faults.silent_after:
            data = data[: faults.silent_after - self.sent]
            self.silenced = True
        if faults.drop_after is not None and self.sent + len(data) >= faults.drop_after:
            self._emit(data[: faults.drop_after - self.sent])
            raise Hangup("drop-after fault")
        self._emit(data)
        if self.silenced:
            raise Hangup("silent fault")

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        garble = self.faults.garble_after
        if garble is not None:
            cut = max(0, garble - self.sent)
            data = data[:cut] + bytes(b ^ 0x80 for b in data[cut:])
        self.sent += len(data)
        self._write(data)

    def wait_closed(self) -> None:
        """A hung device: read and ignore everything until the other end goes away."""
        while not self.stop.is_set():
            if self._read(POLL) is None:
                return

    def sleep(self, seconds: float) -> None:
        """Device think-time that ends early when the mock stops."""
        if self.stop.wait(max(0.0, seconds)):
            raise Hangup("stopping")


class SocketChannel(Channel):
    def __init__(self, sock: socket.socket, faults: Faults, stop: threading.Event) -> None:
        super().__init__(faults, stop)
        from stonith.transport.telnet import TelnetDecoder

        self._sock = sock
        self._decoder = TelnetDecoder()  # an interactive telnet client negotiates; refuse it all

    def _read(self, timeout: float) -> bytes | None:
        try:
            self._sock.settimeout(timeout)
            raw = self._sock.recv(4096)
        except TimeoutError:
            return b""
        except OSError:
            return None
        if not raw:
            return None
        data = self._decoder.feed(raw)
        if self._decoder.replies:
            replies = bytes(self._decoder.replies)
            self._decoder.replies.clear()
            # Option refusals are telnet commands: sent as they are, not escaped like data bytes.
            try:
                self._sock.sendall(replies)
            except OSError:
                return None
        return data

    def _write(self, data: bytes) -> None:
        try:
            self._sock.settimeout(5.0)
            self._sock.sendall(data.replace(b"\xff", b"\xff\xff"))
        except OSError:
            raise Hangup("peer gone") from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()


class PtyChannel(Channel):
    """The master side of a pty: the device's serial port."""

    def __init__(self, master: int, faults: Faults, stop: threading.Event) -> None:
        super().__init__(faults, stop)
        self._fd = master

    def _read(self, timeout: float) -> bytes | None:
        try:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return b""
            return os.read(self._fd, 4096)
        except OSError:
            # EIO: no process holds the slave open.  A serial port has no EOF; wait for a client.
            self.stop.wait(timeout)
            return b""

    def _write(self, data: bytes) -> None:
        # A serial line loses what nobody reads: drop output that would block for long.
        deadline = time.monotonic() + 2.0
        while data and not self.stop.is_set():
            try:
                _, ready, _ = select.select([], [self._fd], [], POLL)
                if ready:
                    data = data[os.write(self._fd, data) :]
            except OSError:
                return
            if time.monotonic() > deadline:
                return

    def close(self) -> None:
        pass  # the pty outlives sessions; PtyServer closes it


# ---------------------------------------------------------------------------------------------
# Devices and servers


class MockDevice(abc.ABC):
    """The device end of one protocol; ``session`` runs one login session on a channel."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.outlets = Outlets(
            config.names,
            config.states,
            relay_delay=config.relay_delay,
            faults=config.faults,
            state_file=config.state_file,
        )

    @abc.abstractmethod
    def session(self, channel: Channel) -> None:
        """Serve one session; return (or raise Hangup) when it ends."""

    def close(self) -> None:
        self.outlets.close()


def run_session(device: MockDevice, channel: Channel) -> None:
    try:
        device.session(channel)
    except Hangup:
        if channel.silenced:
            channel.wait_closed()


class TcpServer:
    """Serves ``device`` on a TCP address, at most ``sessions`` connections at a time.

    A connection beyond the limit is accepted and closed at once without a byte: BayTech and
    APC network modules take one telnet session, and closing the extra one gives the client a
    fast, definite failure instead of a hang (a client sees EOF before any banner).
    """

    def __init__(self, device: MockDevice, host: str, port: int, stop: threading.Event) -> None:
        self.device = device
        self.stop = stop
        self._listener = socket.create_server((host, port), family=_family(host), reuse_port=False)
        self._listener.settimeout(POLL)
        self.host, self.port = self._listener.getsockname()[:2]
        self._active = 0
        self._lock = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._channels: set[SocketChannel] = set()

    @property
    def address(self) -> str:
        from stonith.contract.validation import join_hostport

        return join_hostport(self.host, self.port)

    def start(self) -> None:
        thread = threading.Thread(target=self._accept_loop, name=f"mock-accept-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        for conn in accepted(self._listener, self.stop):
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _handle(self, conn: socket.socket) -> None:
        limit = self.device.config.sessions
        with self._lock:
            if limit > 0 and not self._lock.wait_for(lambda: self._active < limit, BUSY_GRACE):
                with contextlib.suppress(OSError):
                    conn.close()
                return
            self._active += 1
        channel = SocketChannel(conn, self.device.config.faults, self.stop)
        self._channels.add(channel)
        try:
            run_session(self.device, channel)
        finally:
            channel.close()
            self._channels.discard(channel)
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        for channel in list(self._channels):
            channel.close()
        for thread in self._threads:
            thread.join(2.0)


class PtyServer:
    """Serves ``device`` on a pseudo-terminal, with a symlink at ``link`` to its slave side.

    A serial line has no connections: the device idles until a byte arrives (a client's wake-up
    CR, discarded), then runs a session (banner, login, ...); after logout it idles again.
    """

    def __init__(self, device: MockDevice, link: str, stop: threading.Event) -> None:
        import tty

        self.device = device
        self.stop = stop
        self.link = os.path.abspath(link)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: a device's UART passes bytes
        self.tty = os.ttyname(self._slave)
        if os.path.islink(self.link):
            os.unlink(self.link)
        os.symlink(self.tty, self.link)
        self._thread = threading.Thread(target=self._loop, name="mock-pty", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        channel = PtyChannel(self._master, self.device.config.faults, self.stop)
        while not self.stop.is_set():
            try:
                channel.readline()
            except Hangup:
                return
            channel.new_session()
            run_session(self.device, channel)

    def close(self) -> None:
        self._thread.join(2.0)
        with contextlib.suppress(OSError):
            if os.path.islink(self.link) and os.readlink(self.link) == self.tty:
                os.unlink(self.link)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def split_listen(text: str) -> tuple[str, int]:
    """``--listen``'s ``HOST:PORT`` or ``[V6]:PORT`` (port 0: any free one); ValueError in its words."""
    from stonith.contract.validation import split_hostport

    try:
        return split_hostport(text, lowest=0)
    except ValueError:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT") from None


class RunningMock:
    """A mock running in this process: its servers, its ready line, its ground truth; ``close`` stops it.

    The inside of a mock (``stonith-mock`` runs one); a test's or a lab's handle on a started mock,
    in this process or as a subprocess, is stonith.mocks.harness.MockHandle.
    """

    def __init__(
        self, device: MockDevice, *, listen: str | None = None, serial_link: str | None = None
    ) -> None:
        self.device = device
        self.stop = threading.Event()
        self._servers: list[TcpServer | PtyServer] = []
        self.info: dict[str, Any] = {"type": device.config.type, "model": device.config.model}
        try:
            if serial_link:
                pty = PtyServer(device, serial_link, self.stop)
                self._servers.append(pty)
                self.info["serial"] = pty.link
            if listen or not serial_link:
                host, port = split_listen(listen or "127.0.0.1:0")
                tcp = TcpServer(device, host, port, self.stop)
                self._servers.append(tcp)
                self.info["address"] = tcp.address
            for server in self._servers:
                server.start()
        except BaseException:
            self.close()
            raise

    def truth(self) -> dict[str, Any]:
        return self.device.outlets.snapshot()

    def close(self) -> None:
        self.stop.set()
        for server in self._servers:
            server.close()
        self.device.close()


def build_config(
    type_name: str,
    model: str,
    *,
    outlets: int,
    names: list[str],
    states: list[str],
    default_names: Callable[[int], list[str]],
    **kwargs: Any,
) -> MockConfig:
    """Names and states padded to ``outlets`` with the device's defaults."""
    if not 1 <= outlets <= 99:
        raise ValueError("--outlets must be within 1-99")
    full_names = [*names[:outlets], *default_names(outlets)[len(names) :]]
    for state in states:
        if state not in (ON, OFF):
            raise ValueError(f"--states: {state!r} is neither on nor off")
    full_states = [*states[:outlets], *[ON] * max(0, outlets - len(states))]
    return MockConfig(type_name, model, full_names, full_states, **kwargs)

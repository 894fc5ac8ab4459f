"""WTI RPS-10M serial power switch chain, device end (cluster-glue ``rps10``).

One RPS-10M master module and up to nine slaves on one serial line, each module one outlet,
addressed ``0``-``9``; ``--outlets N`` modules answer at addresses 0..N-1.  In the ground truth
(state file, ``truth()``) outlet ``k`` is module address ``k-1``.

Byte for byte as in device-dialogues.md section 5:

- command frame ``^B^X^X^B^X^X`` (the fixed password) + address (``0``-``9`` or ``*``) + operation
  (``0`` off, ``1`` on, ``T`` toggle, ``?`` status) + CR, no echo;
- replies ``Plug <d> Off\\r\\n`` / ``Plug <d> On\\r\\n`` per module, then ``Complete\\r\\n``; a toggle prints
  ``Plug <d> Off``, waits ``--toggle-delay`` seconds, prints ``Plug <d> On`` and ``Complete``;
- ``RPS-10 Ready\\r\\n`` when the serial interface is (re)started.  A pty has no DTR, so on a pty the
  mock keeps one ``RPS-10 Ready\\r\\n`` queued whenever the client's input queue is empty (a client's
  ``tcflush`` after its DTR toggle empties it, the next tick sends a fresh one) -- the approach the
  reference suggests; over TCP (``socket://``) it is sent once per connection.

Choices where the documents are silent (a real unit may differ):
    - the answer to ``?`` is one ``Plug <d> On|Off`` line per addressed module, then ``Complete``
      (the switching replies' format; the manual names the command, not its output);
    - a frame with a wrong password, an unknown address or operation gets no answer at all;
    - ``lie=N`` acknowledges an off of module N-1 as ``Plug <d> Off`` while the relay stays on.

Device flags: ``--toggle-delay S`` (off time of ``T``, default 2), ``--ready-interval S`` (pty
re-queue tick, default 0.5).

This module also holds ``RawPtyServer`` and ``run_serial``, used by the other serial mocks whose
clients speak first without a wake-up line (nw_rpc100s, apcsmart): the shared ``PtyServer``
discards the first input line as a console wake-up, which these protocols cannot afford.
"""

from __future__ import annotations

import fcntl
import re
import struct
import termios
import threading
import time

from stonith.mocks._common import (
    OFF,
    ON,
    POLL,
    Channel,
    Hangup,
    MockConfig,
    MockDevice,
    PtyChannel,
    PtyServer,
    RunningMock,
    TcpServer,
    run_session,
    split_listen,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

MODELS = {"rps10m": "RPS-10M"}
DEFAULT_MODEL = "rps10m"
PASSWORD = b"\x02\x18\x18\x02\x18\x18"
FRAME = re.compile(re.escape(PASSWORD) + rb"([0-9*])([01T?])\r")
READY = "RPS-10 Ready\r\n"
MAX_MODULES = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rps10")
    group.add_argument("--toggle-delay", type=float, default=2.0, metavar="S", help="off time of a toggle")
    group.add_argument(
        "--ready-interval", type=float, default=0.5, metavar="S", help="pty: re-queue 'RPS-10 Ready' tick"
    )


def default_names(model: str, count: int) -> list[str]:
    return [f"Plug {n}" for n in range(count)]


def default_outlets(model: str) -> int:
    return 2


def create(config: MockConfig) -> MockDevice:
    if len(config.names) > MAX_MODULES:
        raise ValueError("an RPS-10 chain has at most 10 modules (--outlets 1-10)")
    if config.faults.refuse_login:
        raise ValueError("the RPS-10 has no login (its password is fixed)")
    return Rps10(config)


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> RunningMock:
    return run_serial(create(config), listen=listen, serial_link=serial_link)


# ---------------------------------------------------------------------------------------------
# Serving a device that owns its line (shared by the serial mocks of issue 8)


class RawPtyServer(PtyServer):
    """A ``PtyServer`` whose device owns the line: no wake-up line is consumed before a session.

    The device's ``session`` runs until the mock stops (or a fault ends it, after which a new one
    starts); ``client_pending()`` tells how many bytes the client has not read yet.
    """

    def _loop(self) -> None:
        channel = PtyChannel(self._master, self.device.config.faults, self.stop)
        while not self.stop.is_set():
            channel.new_session()
            run_session(self.device, channel)

    def client_pending(self) -> int:
        """Bytes waiting in the slave's input queue (what the client has not read)."""
        try:
            raw = fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", raw)[0])


class SerialRunningMock(RunningMock):
    """``RunningMock`` with ``RawPtyServer`` for the pty (TCP sessions are per connection)."""

    def __init__(
        self, device: MockDevice, *, listen: str | None = None, serial_link: str | None = None
    ) -> None:
        self.device = device
        self.stop = threading.Event()
        self._servers: list[TcpServer | PtyServer] = []
        self.info: dict[str, Any] = {"type": device.config.type, "model": device.config.model}
        self.pty: RawPtyServer | None = None
        try:
            if serial_link:
                self.pty = RawPtyServer(device, serial_link, self.stop)
                self._servers.append(self.pty)
                self.info["serial"] = self.pty.link
            if listen or not serial_link:
                host, port = split_listen(listen or "127.0.0.1:0")
                tcp = TcpServer(device, host, port, self.stop)
                self._servers.append(tcp)
                self.info["address"] = tcp.address
            line = getattr(device, "attach", None)
            if line is not None:
                line(self.pty)
            for server in self._servers:
                server.start()
        except BaseException:
            self.close()
            raise


def run_serial(
    device: MockDevice, *, listen: str | None = None, serial_link: str | None = None
) -> RunningMock:
    return SerialRunningMock(device, listen=listen, serial_link=serial_link)


def read_some(channel: Channel, timeout: float = POLL) -> bytes:
    """Raw input bytes (the line splitter of ``Channel`` drops control characters)."""
    if channel.stop.is_set():
        raise Hangup("stopping")
    data = channel._read(timeout)
    if data is None:
        raise Hangup("EOF")
    return data


# ---------------------------------------------------------------------------------------------
# The device


class Rps10(MockDevice):
    def __init__(self, config: MockConfig) -> None:
        super().__init__(config)
        self.pty: RawPtyServer | None = None

    def attach(self, pty: RawPtyServer | None) -> None:
        self.pty = pty

    @property
    def toggle_delay(self) -> float:
        return float(self.config.options.get("toggle_delay", 2.0))

    def session(self, channel: Channel) -> None:
        on_pty = isinstance(channel, PtyChannel)
        if not on_pty:
            channel.write(READY)
        interval = float(self.config.options.get("ready_interval", 0.5))
        buffer = b""
        next_tick = 0.0
        while True:
            if on_pty and self.pty is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + interval
                if not buffer and self.pty.client_pending() == 0:
                    channel.write(READY)
            buffer += read_some(channel, min(POLL, interval))
            while True:
                found = FRAME.search(buffer)
                if found is None:
                    cut = buffer.rfind(b"\r")
                    if cut >= 0:
                        buffer = buffer[cut + 1 :]  # a CR ends any frame, valid or not
                    buffer = buffer[-64:]
                    break
                buffer = buffer[found.end() :]
                self._command(channel, found.group(1).decode(), found.group(2).decode())

    def _modules(self, address: str) -> list[int]:
        count = len(self.outlets)
        if address == "*":
            return list(range(count))
        unit = int(address)
        return [unit] if unit < count else []

    def _command(self, channel: Channel, address: str, op: str) -> None:
        units = self._modules(address)
        if not units:
            return  # no module answers at that address
        if op == "?":
            for unit in units:
                state = "On" if self.outlets.shown(unit + 1) == ON else "Off"
                channel.write(f"Plug {unit} {state}\r\n")
            channel.write("Complete\r\n")
            return
        if op in "01":
            state = ON if op == "1" else OFF
            for unit in units:
                self.outlets.switch(unit + 1, state)
                channel.write(f"Plug {unit} {'On' if op == '1' else 'Off'}\r\n")
            channel.write("Complete\r\n")
            return
        for unit in units:  # T: off, delay, on
            self.outlets.switch(unit + 1, OFF)
            channel.write(f"Plug {unit} Off\r\n")
        channel.sleep(self.toggle_delay)
        for unit in units:
            self.outlets.switch(unit + 1, ON)
            channel.write(f"Plug {unit} On\r\n")
        channel.write("Complete\r\n")

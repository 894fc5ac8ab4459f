"""RC-delayed serial reset circuit, device end (cluster-glue ``rcd_serial``): modem lines only.

The circuit of ``doc/stonith/README.rcd_serial`` (device-dialogues.md section 8): a serial line
(DTR or RTS) charges an RC network that drives a transistor across the motherboard's reset pins.
No data is exchanged; the host resets when the capacitor's voltage passes the transistor's
threshold, so short glitches (a port opened at boot, a BIOS probing the port) do nothing.

The model (``RcCircuit``) integrates the capacitor voltage over the recorded line changes:
charging towards 1 with time constant ``tau`` while the wired line is high, discharging
otherwise; in the two-transistor variant it charges only while RTS is high and DTR low (DTR high
discharges it).  Each crossing of ``threshold`` is one reset of the host: the ground truth records
outlet 1 off and on again.  Every line change is kept with its timestamp (``transitions``).

A pty cannot carry modem lines (TIOCMBIS fails with ENOTTY), so this mock is not served on a pty
and cluster-glue's plugin cannot be run against it.  It is reached two ways:

- in process: ``FakePort`` is a pyserial-like port object (``dtr``, ``rts``, ``open``, ``close``) to
  hand to the driver (``RcdSerial.port_factory``), recording every change;
- ``stonith-mock rcd_serial --listen HOST:PORT``: an RFC 2217 (telnet COM-port control) server,
  pyserial's ``PortManager`` in front of a ``FakePort``, so the driver's ordinary code path with
  ``ttydev=rfc2217://HOST:PORT`` sets the modem lines of the model over TCP.

Personalities (``--model``): ``rc`` (one transistor) and ``two-transistor``.  Device flags:
``--line dtr|rts`` (the line wired to the circuit, default rts), ``--tau S`` (R x C, default 0.94 =
20 kOhm x 47 uF), ``--threshold F`` (fraction of full charge that fires the reset, default 0.5).
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time

from stonith.mocks._common import OFF, ON, POLL, MockConfig, MockDevice, RunningMock, accepted, split_listen

from stonith.contract.validation import join_hostport

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from stonith.mocks._common import Channel

MODELS = {"rc": "RC-delayed reset circuit", "two-transistor": "RC-delayed reset circuit, two transistors"}
DEFAULT_MODEL = "rc"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rcd_serial")
    group.add_argument("--line", choices=("dtr", "rts"), default="rts", help="line wired to the circuit")
    group.add_argument("--tau", type=float, default=0.94, metavar="S", help="RC time constant (s)")
    group.add_argument(
        "--threshold", type=float, default=0.5, metavar="F", help="charge fraction that resets the host"
    )


def default_names(model: str, count: int) -> list[str]:
    return [f"Host {n}" for n in range(1, count + 1)]


def default_outlets(model: str) -> int:
    return 1


def create(config: MockConfig) -> RcdSerial:
    if len(config.names) != 1:
        raise ValueError("the reset circuit resets one host (--outlets 1)")
    threshold = float(config.options.get("threshold", 0.5))
    if not 0 < threshold < 1 or float(config.options.get("tau", 0.94)) <= 0:
        raise ValueError("--threshold must be within (0, 1) and --tau positive")
    return RcdSerial(config)


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> RunningMock:
    if serial_link:
        raise ValueError(
            "rcd_serial cannot be served on a pty: ptys have no modem-control lines; "
            "use --listen HOST:PORT (RFC 2217) and ttydev=rfc2217://HOST:PORT"
        )
    device = create(config)
    return Rfc2217Mock(device, listen or "127.0.0.1:0")


class RcCircuit:
    """The capacitor and the reset transistor, driven by the lines' recorded changes."""

    def __init__(self, *, line: str, two_transistor: bool, tau: float, threshold: float) -> None:
        self.line = line
        self.two_transistor = two_transistor
        self.tau = tau
        self.threshold = threshold
        self.lines = {"dtr": False, "rts": False}
        self.transitions: list[dict[str, Any]] = []  # {"t", "line", "state"}
        self.resets: list[float] = []
        self._voltage = 0.0
        self._since = time.monotonic()
        self._fired = False
        self._lock = threading.Lock()
        self.on_reset: list[Any] = []

    def charging(self) -> bool:
        if self.two_transistor:
            return self.lines["rts"] and not self.lines["dtr"]
        return self.lines[self.line]

    def _advance(self, now: float) -> None:
        """Integrate the voltage from ``_since`` to ``now``; a threshold crossing is a reset."""
        elapsed = max(0.0, now - self._since)
        start = self._voltage
        if self.charging():
            self._voltage = 1.0 - (1.0 - start) * math.exp(-elapsed / self.tau)
            if not self._fired and start < self.threshold <= self._voltage:
                crossing = self._since - self.tau * math.log((1.0 - self.threshold) / (1.0 - start))
                self._fired = True
                self.resets.append(crossing)
                for callback in self.on_reset:
                    callback(crossing)
        else:
            self._voltage = start * math.exp(-elapsed / self.tau)
            if self._voltage < self.threshold / 2:
                self._fired = False  # the transistor lets go: the next charge is a new reset
        self._since = now

    def set_line(self, name: str, state: bool) -> None:
        with self._lock:
            now = time.monotonic()
            self._advance(now)
            if self.lines[name] != state:
                self.lines[name] = state
                self.transitions.append({"t": time.time(), "mono": now, "line": name, "state": state})

    def voltage(self) -> float:
        with self._lock:
            self._advance(time.monotonic())
            return self._voltage

    def pulses(self, name: str) -> list[float]:
        """Durations (s) of every completed high period of line ``name``."""
        out: list[float] = []
        rose: float | None = None
        with self._lock:
            for change in self.transitions:
                if change["line"] != name:
                    continue
                if change["state"]:
                    rose = change["mono"]
                elif rose is not None:
                    out.append(change["mono"] - rose)
                    rose = None
        return out


class FakePort:
    """A pyserial-like port whose modem lines drive an ``RcCircuit``.

    As with pyserial, ``dtr``/``rts`` set before ``open`` are applied at open; the data path is a
    sink (the circuit has no receiver) and reads return nothing.
    """

    def __init__(self, circuit: RcCircuit, url: str = "fake://rcd") -> None:
        self.circuit = circuit
        self.port = url
        self.is_open = False
        self.opens = 0
        self._dtr = True  # pyserial's defaults: both lines asserted at open unless told otherwise
        self._rts = True
        self.timeout: float | None = None
        self.write_timeout: float | None = None
        self.baudrate = 9600
        self.bytesize = 8
        self.parity = "N"
        self.stopbits = 1
        self.xonxoff = False
        self.rtscts = False
        self.dsrdtr = False

    def open(self) -> None:
        self.is_open = True
        self.opens += 1
        self.circuit.set_line("dtr", self._dtr)
        self.circuit.set_line("rts", self._rts)

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            # Closing a real tty with HUPCL drops both lines.
            self.circuit.set_line("dtr", False)
            self.circuit.set_line("rts", False)

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        self._dtr = bool(value)
        if self.is_open:
            self.circuit.set_line("dtr", self._dtr)

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, value: bool) -> None:
        self._rts = bool(value)
        if self.is_open:
            self.circuit.set_line("rts", self._rts)

    # What pyserial's RFC 2217 PortManager reads and calls.
    cts = property(lambda self: self._rts)
    dsr = property(lambda self: self._dtr)
    ri = property(lambda self: False)
    cd = property(lambda self: self._dtr)
    in_waiting = 0

    def read(self, size: int = 1) -> bytes:
        return b""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        pass

    def reset_output_buffer(self) -> None:
        pass

    def send_break(self, duration: float = 0.25) -> None:
        pass

    @property
    def break_condition(self) -> bool:
        return False

    @break_condition.setter
    def break_condition(self, value: bool) -> None:
        pass

    def get_settings(self) -> dict[str, Any]:
        return {"baudrate": self.baudrate}

    def apply_settings(self, settings: dict[str, Any]) -> None:
        pass


class RcdSerial(MockDevice):
    def __init__(self, config: MockConfig) -> None:
        super().__init__(config)
        opt = config.options
        self.circuit = RcCircuit(
            line=str(opt.get("line", "rts")),
            two_transistor=config.model == "two-transistor",
            tau=float(opt.get("tau", 0.94)),
            threshold=float(opt.get("threshold", 0.5)),
        )
        self.circuit.on_reset.append(self._reset)

    def _reset(self, at: float) -> None:
        # The host is held in reset while the transistor conducts; the truth records a cycle.
        if 1 in self.config.faults.stuck or 1 in self.config.faults.lie:
            return
        self.outlets.switch(1, OFF)
        self.outlets.switch(1, ON)

    def port(self) -> FakePort:
        return FakePort(self.circuit)

    def session(self, channel: Channel) -> None:
        raise NotImplementedError("the reset circuit exchanges no data")


class _Connection:
    """What PortManager writes its telnet replies to."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(data)


class Rfc2217Mock(RunningMock):
    """The circuit behind an RFC 2217 server: one client at a time, modem lines over telnet."""

    def __init__(self, device: RcdSerial, listen: str) -> None:
        self.device = device
        self.circuit_device = device
        self.stop = threading.Event()
        self._servers = []
        host, port = split_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family)
        self._listener.settimeout(POLL)
        bound = self._listener.getsockname()
        address = join_hostport(bound[0], bound[1])
        self.info = {"type": device.config.type, "model": device.config.model, "address": address}
        self.info["url"] = f"rfc2217://{address}"
        self._thread = threading.Thread(target=self._serve, name="mock-rfc2217", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from serial import rfc2217

        for conn in accepted(self._listener, self.stop):
            port = self.circuit_device.port()
            port.open()  # the port behind the server is open while the client is connected
            port.dtr = False
            port.rts = False
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(POLL)
            manager = rfc2217.PortManager(port, _Connection(conn))
            try:
                while not self.stop.is_set():
                    try:
                        data = conn.recv(1024)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    for _ in manager.filter(data):
                        pass  # payload bytes: the circuit has no receiver
            finally:
                port.close()
                with contextlib.suppress(OSError):
                    conn.close()

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(2.0)
        self.device.close()

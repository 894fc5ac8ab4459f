"""APC Smart-UPS, "smart" serial protocol, device end (cluster-glue ``apcsmart``).

One UPS, one output (outlet 1 in the ground truth: the load of every host on the UPS).  As in
device-dialogues.md section 7 and the apcupsd/NUT protocol notes: single-character commands with
no line end, no echo, replies ending in CR LF:

    Y      -> ``SM``  (smart mode)          ^A  -> model name (``Smart-UPS 1000``)
    Q      -> status flags, two hex digits (``08`` on line, ``10`` on battery)
    p / r  -> shutdown grace delay / wake-up delay, three digits; ``-`` after ``p`` or ``r`` steps
              that value to the next of {020, 180, 300, 600} / {000, 060, 180, 300} and answers ``OK``
    ~      -> register 1, two hex digits; bit 0x40 set while the output is off
    8      -> register 3; bit 0x08 while sleeping after ``@``, bit 0x10 after ``S``
    S      -> on battery: ``OK``, output off after the grace delay, back when the line returns (here:
              after the wake-up delay); on line: ``NA``
    @ddd   -> ``OK``; output off after the grace delay, back on after ``ddd`` tenths of an hour plus the
              wake-up delay (at least ``--sleep`` seconds)
    Z Z    -> output off at once: two ``Z`` at least 1.5 s (and at most 10 s) apart; no answer
    ^N ^N  -> output on at once, the same way
    other  -> ``NA``

Choices where the documents are silent (a real unit may differ): the ``|`` an EEPROM change
announces about 5 s after ``-`` is not sent; ``Z``/``^N`` give no answer; register 1 has no other
bits; a ``@``/``S`` sleep is cancelled by ``^N ^N``.

Device flags: ``--on-battery``, ``--time-scale F`` (multiplies the grace and wake-up delays: tests
use 0.05 so that the 20-second grace delay lasts one second), ``--sleep S`` (shortest sleep after
``@``, unscaled, default 5: long enough for cluster-glue's 1-second poll to see the sleep bit),
``--grace N`` / ``--wakeup N`` (initial values).
"""

from __future__ import annotations

import threading
import time

from stonith.mocks._common import OFF, ON, Channel, MockConfig, MockDevice, RunningMock
from stonith.mocks.rps10 import read_some, run_serial

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

MODELS = {"smart-ups": "Smart-UPS 1000"}
DEFAULT_MODEL = "smart-ups"
GRACE = (20, 180, 300, 600)
WAKEUP = (0, 60, 180, 300)
DOUBLE_MIN, DOUBLE_MAX = 1.5, 10.0
REG1_OFF = 0x40
REG3_SLEEP_AT = 0x08
REG3_SHUTDOWN_S = 0x10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("apcsmart")
    group.add_argument("--on-battery", action="store_true", help="the UPS runs on battery (S works)")
    group.add_argument(
        "--time-scale", type=float, default=1.0, metavar="F", help="scale grace/wake-up delays"
    )
    group.add_argument("--sleep", type=float, default=5.0, metavar="S", help="shortest sleep after @ (s)")
    group.add_argument("--grace", type=int, choices=GRACE, default=180, help="initial grace delay p")
    group.add_argument("--wakeup", type=int, choices=WAKEUP, default=0, help="initial wake-up delay r")


def default_names(model: str, count: int) -> list[str]:
    return ["Output"] + [f"Output {n}" for n in range(2, count + 1)]


def default_outlets(model: str) -> int:
    return 1


def create(config: MockConfig) -> MockDevice:
    if len(config.names) != 1:
        raise ValueError("a Smart-UPS has one switched output (--outlets 1)")
    if config.faults.refuse_login:
        raise ValueError("the Smart-UPS serial port has no login")
    return ApcSmart(config)


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> RunningMock:
    return run_serial(create(config), listen=listen, serial_link=serial_link)


class ApcSmart(MockDevice):
    def __init__(self, config: MockConfig) -> None:
        super().__init__(config)
        opt = config.options
        self.grace = int(opt.get("grace", 180))
        self.wakeup = int(opt.get("wakeup", 0))
        self.on_battery = bool(opt.get("on_battery", False))
        self.scale = float(opt.get("time_scale", 1.0))
        self.min_sleep = float(opt.get("sleep", 5.0))
        self.reg3 = 0
        self._lock = threading.Lock()
        self._generation = 0
        self._last_param = ""  # "p" or "r": what "-" steps
        self._double: dict[str, float] = {}  # Z / ^N: time of the first of the pair

    def session(self, channel: Channel) -> None:
        pending = b""
        while True:
            pending += read_some(channel)
            while pending:
                if pending[:1] == b"@":
                    if len(pending) < 4:
                        break  # the rest of @ddd is still on its way (paced at 50 ms a byte)
                    command, pending = pending[:4], pending[4:]
                else:
                    command, pending = pending[:1], pending[1:]
                reply = self.command(command)
                if reply is not None:
                    channel.write(reply + "\r\n")

    # -- the protocol ---------------------------------------------------------------------------
    def command(self, command: bytes) -> str | None:
        char = command[:1]
        if char in (b"\r", b"\n"):
            return None
        if char != b"-":
            self._last_param = ""
        if char == b"Y":
            return "SM"
        if char == b"\x01":
            return MODELS[self.config.model]
        if char == b"Q":
            return "10" if self.on_battery else "08"
        if char in (b"p", b"r"):
            self._last_param = char.decode()
            return f"{self.grace if char == b'p' else self.wakeup:03d}"
        if char == b"-":
            return self._step()
        if char == b"~":
            return f"{REG1_OFF if self.outlets.shown(1) == OFF else 0:02X}"
        if char == b"8":
            with self._lock:
                return f"{self.reg3:02X}"
        if char == b"S":
            if not self.on_battery:
                return "NA"
            self._sleep(REG3_SHUTDOWN_S, 0.0)
            return "OK"
        if char == b"@":
            digits = command[1:4]
            if not digits.isdigit():
                return "NA"
            self._sleep(REG3_SLEEP_AT, int(digits) * 360.0)
            return "OK"
        if char in (b"Z", b"\x0e"):
            self._twice(char)
            return None
        return "NA"

    def _step(self) -> str:
        if self._last_param == "p":
            self.grace = GRACE[(GRACE.index(self.grace) + 1) % len(GRACE)]
        elif self._last_param == "r":
            self.wakeup = WAKEUP[(WAKEUP.index(self.wakeup) + 1) % len(WAKEUP)]
        else:
            return "NA"
        return "OK"

    def _twice(self, char: bytes) -> None:
        key = char.decode("latin-1")
        now = time.monotonic()
        first = self._double.pop(key, None)
        if first is None or not DOUBLE_MIN <= now - first <= DOUBLE_MAX:
            self._double[key] = now
            return
        with self._lock:
            self._generation += 1  # cancels a pending @/S sleep
            self.reg3 = 0
        self.outlets.switch(1, OFF if char == b"Z" else ON)

    def _sleep(self, bit: int, extra: float) -> None:
        """Output off after the grace delay, back on after the wake-up delay (and ``extra``)."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        grace = self.grace * self.scale
        asleep = max(self.min_sleep, (self.wakeup + extra) * self.scale)

        def fall() -> None:
            with self._lock:
                if generation != self._generation:
                    return
                self.reg3 |= bit
            self.outlets.switch(1, OFF)
            self._timer(asleep, wake)

        def wake() -> None:
            with self._lock:
                if generation != self._generation:
                    return
                self.reg3 = 0
            self.outlets.switch(1, ON)

        self._timer(grace, fall)

    @staticmethod
    def _timer(seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        with self._lock:
            self._generation += 1
        super().close()

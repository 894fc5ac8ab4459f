"""Micro Energetics Night/Ware RPC100S, device end (cluster-glue ``nw_rpc100s``): one outlet.

Byte for byte as in device-dialogues.md section 6: input lines ``//0,<delay>,<duration>[/m|/h];``
(``*`` = forever) end in CR, LF or CR LF, nothing is echoed, and every command is answered
``\\r\\nOK\\r\\n`` or ``\\r\\nInvalid Entry\\r\\n``.  ``<delay>`` seconds after the command the outlet
goes off for ``<duration>`` (then back to its default, on); duration ``0`` means on now, ``*`` off
until the next command.  Empty lines (the extra CR cluster-glue sends) are ignored.

Choices where the documents are silent (a real unit may differ):
    - a new command cancels a pending delay or timed off period;
    - ``/m`` and ``/h`` multiply ``<delay>`` and ``<duration>`` by 60 and 3600;
    - the device has no read-back command at all (that is why the driver cannot verify).

Device flags: ``--time-scale F`` multiplies every device time (tests use 0.05 so that the
10-second reset of cluster-glue lasts half a second).
"""

from __future__ import annotations

import re
import threading

from stonith.mocks._common import OFF, ON, Channel, MockConfig, MockDevice, RunningMock
from stonith.mocks.rps10 import run_serial

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

MODELS = {"rpc100s": "RPC100S"}
DEFAULT_MODEL = "rpc100s"
COMMAND = re.compile(r"//0,(\d+|\*),(\d+|\*)(/[mMhH])?;")
OK = "\r\nOK\r\n"
INVALID = "\r\nInvalid Entry\r\n"
UNITS = {"": 1.0, "/m": 60.0, "/h": 3600.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("nw_rpc100s")
    group.add_argument(
        "--time-scale", type=float, default=1.0, metavar="F", help="multiply every device time by F"
    )


def default_names(model: str, count: int) -> list[str]:
    return [f"Outlet {n}" for n in range(1, count + 1)]


def default_outlets(model: str) -> int:
    return 1


def create(config: MockConfig) -> MockDevice:
    if len(config.names) != 1:
        raise ValueError("the RPC100S has exactly one outlet (--outlets 1)")
    if config.faults.refuse_login:
        raise ValueError("the RPC100S has no login")
    return NwRpc100s(config)


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> RunningMock:
    return run_serial(create(config), listen=listen, serial_link=serial_link)


class NwRpc100s(MockDevice):
    def __init__(self, config: MockConfig) -> None:
        super().__init__(config)
        self._timer_lock = threading.Lock()
        self._generation = 0  # a new command invalidates the timers of the previous one

    @property
    def scale(self) -> float:
        return float(self.config.options.get("time_scale", 1.0))

    def session(self, channel: Channel) -> None:
        while True:
            line = channel.readline().strip()
            if not line:
                continue
            found = COMMAND.fullmatch(line)
            if found is None or found.group(1) == "*":
                channel.write(INVALID)
                continue
            unit = UNITS[(found.group(3) or "").lower()]
            delay = int(found.group(1)) * unit * self.scale
            duration = None if found.group(2) == "*" else int(found.group(2)) * unit * self.scale
            channel.write(OK)
            self._schedule(delay, duration)

    def _schedule(self, delay: float, duration: float | None) -> None:
        with self._timer_lock:
            self._generation += 1
            generation = self._generation
        if duration == 0:
            self._later(delay, generation, ON)
            return
        self._later(delay, generation, OFF)
        if duration is not None:
            self._later(delay + duration, generation, ON)

    def _later(self, seconds: float, generation: int, state: str) -> None:
        def fire() -> None:
            with self._timer_lock:
                if generation != self._generation:
                    return
            self.outlets.switch(1, state)

        if seconds <= 0:
            fire()
            return
        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        with self._timer_lock:
            self._generation += 1
        super().close()

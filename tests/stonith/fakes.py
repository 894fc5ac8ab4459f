"""An in-memory PDU for testing the cluster layer, with a ground truth and injectable faults."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import AuthFailed, DeviceBusy, DeviceError, Timeout, Unreachable
from stonith.contract.fields import INTEGER, Field
from stonith.contract.steps import Wait

if TYPE_CHECKING:
    from stonith.contract.steps import Steps

_clock = itertools.count()


class Truth:
    """What the relays really do, with a global ordering of every change."""

    def __init__(self, outlets: int, names: list[str] | None = None) -> None:
        self.state = {str(i): ON for i in range(1, outlets + 1)}
        self.names = {
            str(i): (names[i - 1] if names and i <= len(names) else f"outlet{i}")
            for i in range(1, outlets + 1)
        }
        self.events: list[tuple[int, str, str]] = []  # (global order, outlet, state)
        self.lock = threading.Lock()
        self.sessions = 0
        self.max_sessions_seen = 0
        # faults
        self.stuck: set[str] = set()
        self.lie: set[str] = set()  # acknowledges off, relay and status stay on
        self.unreachable = False
        self.silent = False
        self.auth_fail = False
        self.flaky_connects = 0  # this many connects fail with Unreachable first
        self.connects = 0  # sessions opened
        self.drop_session_before_on = False  # the session dies while the reset settles
        self.single_session = False
        self.read_delay = 0.0  # seconds a status read takes
        self.timeline: list[tuple[float, str, str, str]] = []  # (monotonic, "read"/"switch", outlet, state)
        self.unknown: set[str] = set()  # status reads UNKNOWN, whatever the relay does
        self.late: dict[str, int] = {}  # outlet -> reads after a switch that still show the state before it
        self.reads = 0  # status reads so far
        self.garbled: set[int] = set()  # these status reads (numbered from 1) fail with DeviceError
        self.lost: set[int] = set()  # these status reads (numbered from 1) fail with Timeout
        self.copies = False  # status answers equal strings, not the constants (like a parsed answer)
        self.lost_commands = 0  # this many switch commands are acknowledged but never reach the relay
        self.after_switch: Callable[[str, str], None] | None = None  # (outlet, state): faults mid-operation
        self._lag: dict[str, tuple[int, str]] = {}  # outlet -> (stale reads left, the state they show)

    def switch(self, outlet: str, state: str) -> None:
        with self.lock:
            if self.lost_commands > 0:
                self.lost_commands -= 1
                return
            if state == OFF and (outlet in self.stuck or outlet in self.lie):
                return
            if self.state[outlet] != state:
                if self.late.get(outlet, 0) > 0:
                    self._lag[outlet] = (self.late[outlet], self.state[outlet])
                self.state[outlet] = state
            self.events.append((next(_clock), outlet, state))
            self.timeline.append((time.monotonic(), "switch", outlet, state))
        if self.after_switch is not None:
            self.after_switch(outlet, state)

    def read(self, outlet: str) -> str:
        """What a status read of ``outlet`` answers now (faults applied), recorded in the timeline."""
        with self.lock:
            self.reads += 1
            if self.reads in self.garbled:
                raise DeviceError(f"garbled status answer (read {self.reads})")
            if self.reads in self.lost:
                raise Timeout(f"no status answer (read {self.reads})")
            state = self.state[outlet]
            stale, shown = self._lag.get(outlet, (0, state))
            if stale > 0:
                state = shown
                self._lag[outlet] = (stale - 1, shown)
            if outlet in self.unknown:
                state = UNKNOWN
            self.timeline.append((time.monotonic(), "read", outlet, state))
            return "".join(state) if self.copies else state


class FakePdu(Driver):
    INFO = DriverInfo(
        "fakepdu",
        shortdesc="Fake PDU",
        description="In-memory PDU for tests",
        fields=(Field("unit", "Unit", basictype=INTEGER, default=0),),
        capabilities=Capabilities(multi=True, sessions=1),
    )
    units: ClassVar[dict[int, Truth]] = {}

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.truth = FakePdu.units[config["unit"]]

    def device_name(self) -> str:
        return f"unit{self.config['unit']}"

    def connect(self, deadline: Deadline) -> None:
        truth = self.truth
        if truth.unreachable:
            raise Unreachable("connection refused")
        if truth.flaky_connects > 0:
            truth.flaky_connects -= 1
            raise Unreachable("connection refused (flaky)")
        if truth.silent:
            deadline.sleep(deadline.remaining())
            raise Timeout("device silent")
        if truth.auth_fail:
            raise AuthFailed("bad password")
        with truth.lock:
            truth.sessions += 1
            truth.connects += 1
            truth.max_sessions_seen = max(truth.max_sessions_seen, truth.sessions)
            if truth.single_session and truth.sessions > 1:
                truth.sessions -= 1
                raise DeviceBusy("second session refused")

    def disconnect(self) -> None:
        with self.truth.lock:
            self.truth.sessions = max(0, self.truth.sessions - 1)

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        time.sleep(0.001)
        return [Outlet(i, n) for i, n in self.truth.names.items()]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        if self.truth.read_delay:
            time.sleep(self.truth.read_delay)
        return self._read(outlet)

    def _read(self, outlet: Outlet) -> str:
        return self.truth.read(outlet.id)

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        if self.truth.drop_session_before_on:
            self.truth.drop_session_before_on = False
            raise DeviceError("connection closed by the device")
        self.truth.switch(outlet.id, ON)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self.truth.switch(outlet.id, OFF)


class FakeStepPdu(FakePdu):
    """FakePdu with non-blocking step verbs: the cluster layer drives it on a shared Loop thread."""

    NONBLOCKING = True

    def connect_steps(self, deadline: Deadline) -> Steps[None]:
        truth = self.truth
        if truth.silent and not truth.unreachable and truth.flaky_connects <= 0:
            yield Wait(deadline.at)
            raise Timeout("device silent")
        self.connect(deadline)  # does not block without the silent fault

    def outlets_steps(self, deadline: Deadline) -> Steps[list[Outlet]]:
        yield Wait(time.monotonic() + 0.001)
        return [Outlet(i, n) for i, n in self.truth.names.items()]

    def status_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[dict[str, str]]:
        seen: dict[str, str] = {}
        for outlet in outlets:
            if self.truth.read_delay:
                yield Wait(time.monotonic() + self.truth.read_delay)
            seen[outlet.id] = self._read(outlet)
        return seen

    def on_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        yield from ()
        self.on_many(outlets, deadline)  # switching a fake relay does not block

    def off_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        yield from ()
        self.off_many(outlets, deadline)

"""The BMC mocks' shared chassis (mocks/_bmc.py): delayed, in command order, one clock for all."""

from __future__ import annotations

import itertools
import time

from stonith.mocks._bmc import Chassis, Lab
from stonith.mocks._common import parse_faults

from tests.mocks.busy import busy_machine


def chassis(lab: Lab, delay: float = 0.02, faults: tuple[str, ...] = ()) -> Chassis:
    machine = Chassis(lab, "node1", "on", faults=parse_faults(faults), off_delay=delay, on_delay=delay)
    lab.add(f"bmc{len(lab.chassis)}", machine)
    return machine


def settled(lab: Lab, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while any(c.pending() for c in lab.chassis.values()) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_chassis_follows_commands_in_the_order_accepted_on_a_busy_machine() -> None:
    lab = Lab(None)
    try:
        with busy_machine():
            machines = [chassis(lab) for _ in range(20)]
            for _ in range(10):
                for machine in machines:
                    machine.power("off")
                    time.sleep(0.001)
                    machine.power("on")
            settled(lab)
        for machine in machines:
            assert machine.truth == "on"  # the last command wins, never a stale "off"
            states = [e["state"] for e in machine.snapshot()["events"]]
            assert all(a != b for a, b in itertools.pairwise(states))  # real changes only
    finally:
        lab.close()


def test_the_chassis_moves_only_after_its_delay_and_cycles_off_then_on() -> None:
    lab = Lab(None)
    try:
        machine = chassis(lab, delay=0.2)
        started = time.monotonic()
        machine.power("off")
        assert machine.reported() == "on" and machine.pending() == "off"
        while machine.truth != "off":
            time.sleep(0.005)
        assert 0.19 <= time.monotonic() - started < 1.0
        machine.power("on")
        settled(lab)
        machine.cycle()
        settled(lab)
        assert [e["state"] for e in machine.snapshot()["events"]] == ["off", "on", "off", "on"]
    finally:
        lab.close()


def test_a_stuck_chassis_ignores_off_and_closing_drops_pending_changes() -> None:
    lab = Lab(None)
    stuck = chassis(lab, faults=("stuck=1",))
    stuck.power("off")
    machine = chassis(lab, delay=0.5)
    machine.power("off")
    lab.close()
    time.sleep(0.6)
    assert stuck.truth == "on" and machine.truth == "on"
    assert stuck.snapshot()["events"] == [] and machine.snapshot()["events"] == []

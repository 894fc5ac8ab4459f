"""The mocks' shared relays (mocks/_common.py): ordered, delayed, one state write per batch."""

from __future__ import annotations

import json
import time

from stonith.mocks._common import Outlets, parse_faults

from tests.mocks.busy import busy_machine


def relays(tmp_path=None, delay=0.05, count=4, faults=()):
    state_file = str(tmp_path / "truth.json") if tmp_path is not None else None
    return Outlets(
        [f"o{n}" for n in range(1, count + 1)],
        ["on"] * count,
        relay_delay=delay,
        faults=parse_faults(faults),
        state_file=state_file,
    )


def wait_idle(outlets: Outlets, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while outlets._pending and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.02)


def test_relays_follow_commands_in_the_order_accepted_even_on_a_busy_machine() -> None:
    # A late "off" landing after the "on" that followed it is what a real relay controller never
    # does, and what one timer thread per command allowed under load (campaign run 8577).
    with busy_machine():
        outlets = relays(delay=0.02, count=1)
        for _ in range(50):
            outlets.switch(1, "off")
            outlets.switch(1, "on")
        wait_idle(outlets)
        events = [e["state"] for e in outlets.snapshot()["events"]]
        assert events == ["off", "on"] * 50
        assert outlets.truth(1) == "on"
        times = [e["t"] for e in outlets.snapshot()["events"]]
        assert times == sorted(times)
        outlets.close()


def test_a_relay_moves_only_after_its_delay() -> None:
    outlets = relays(delay=0.2, count=2)
    started = time.monotonic()
    outlets.switch(2, "off")
    assert outlets.truth(2) == "on" and outlets.shown(2) == "on"
    while outlets.truth(2) == "on":
        assert time.monotonic() - started < 2
        time.sleep(0.005)
    assert time.monotonic() - started >= 0.19
    outlets.close()


def test_a_command_for_every_outlet_writes_the_state_file_once(tmp_path, monkeypatch) -> None:
    outlets = relays(tmp_path, delay=0.05, count=24)
    saves = []
    real_save = outlets._save
    monkeypatch.setattr(outlets, "_save", lambda: (saves.append(1), real_save()))
    for n in range(1, 25):
        outlets.switch(n, "off")
    wait_idle(outlets)
    assert len(saves) <= 2
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert {v["state"] for v in truth["outlets"].values()} == {"off"}
    assert len(truth["events"]) == 24
    outlets.close()


def test_closing_drops_pending_changes_and_stops_the_controller() -> None:
    outlets = relays(delay=0.2, count=1)
    outlets.switch(1, "off")
    outlets.close()
    time.sleep(0.3)
    assert outlets.truth(1) == "on"
    assert outlets._worker is not None
    outlets._worker.join(1.0)
    assert not outlets._worker.is_alive()
    outlets.switch(1, "off")  # a closed device accepts nothing more
    time.sleep(0.3)
    assert outlets.truth(1) == "on"


def test_stuck_and_lying_outlets_ignore_off() -> None:
    outlets = relays(delay=0.0, count=3, faults=("stuck=1", "lie=2", "lie-status=3"))
    for n in (1, 2, 3):
        outlets.switch(n, "off")
    assert [outlets.truth(n) for n in (1, 2, 3)] == ["on", "on", "on"]
    assert [outlets.shown(n) for n in (1, 2, 3)] == ["on", "on", "off"]
    outlets.close()


def test_a_relay_change_is_on_disk_before_anyone_can_read_it_back(tmp_path, monkeypatch) -> None:
    """A client that reads OFF back and finishes must find the off in the state file: seed 103 run
    461 of the network campaign judged a fence false because the relay thread had made the new
    state visible and was still writing the file when the campaign read it."""
    from stonith.mocks import _common

    real_write = _common.write_state

    def slow_write(path: str, truth: dict) -> None:
        time.sleep(0.2)  # a starved relay thread
        real_write(path, truth)

    state_file = tmp_path / "truth.json"
    outlets = Outlets(
        ["a", "b"], ["on", "on"], relay_delay=0.02, faults=parse_faults([]), state_file=str(state_file)
    )
    monkeypatch.setattr(_common, "write_state", slow_write)
    try:
        for delay in (0.02, 0.0):
            outlets._relay_delay = delay
            state = "off" if delay else "on"
            outlets.switch(1, state)
            deadline = time.monotonic() + 3
            while outlets.shown(1) != state and time.monotonic() < deadline:
                time.sleep(0.001)
            on_disk = json.loads(state_file.read_text())
            assert on_disk["outlets"]["1"]["state"] == state
            assert on_disk["events"][-1]["state"] == state
    finally:
        outlets.close()

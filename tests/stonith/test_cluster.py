"""The cluster layer against in-memory PDUs: verified reset, dual supplies, topology, faults, deadlines."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, Capabilities, DriverInfo, Outlet
from stonith.fencing.engine import FAILED, OK, ON_FAILED, UNKNOWN_NODE, Fencer, worst_exit_code
from stonith.fencing.inventory import DeviceEntry, Inventory
from tests.stonith.fakes import FakePdu, FakeStepPdu, Truth

# Every test runs twice: with a blocking driver (a thread per device) and with a NONBLOCKING one
# (step generators on one shared Loop thread, as the cluster layer runs IPMI BMCs).
DRIVER: type[FakePdu] = FakePdu


@pytest.fixture(autouse=True, params=["threads", "loop"])
def driver_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(
        sys.modules[__name__], "DRIVER", FakePdu if request.param == "threads" else FakeStepPdu
    )
    return str(request.param)


def device(
    name: str,
    unit: int,
    hosts: dict[str, list[str]] | None,
    level: int = 1,
    outlets: int = 8,
    names: list[str] | None = None,
    settle: float = 0.0,
) -> tuple[DeviceEntry, Truth]:
    truth = Truth(outlets, names)
    FakePdu.units[unit] = truth
    entry = DeviceEntry(
        name, "fakepdu", f"/test/{name}.toml", DRIVER({"unit": unit}), hosts, level, settle, 30.0, 1, None
    )
    return entry, truth


def test_reset_reads_back_off_before_on() -> None:
    a, ta = device("a", 1, {"n1": ["1"], "n2": ["2"]})
    results = Fencer(Inventory([a], "/test"), timeout=5).run("reset", ["n1"])
    assert [r.result for r in results] == [OK]
    assert [(o, s) for _, o, s in ta.events] == [("1", OFF), ("1", ON)]
    assert ta.state["2"] == ON  # untouched


def test_dual_supply_all_off_before_any_on() -> None:
    a, ta = device("a", 11, {"db1": ["5"]})
    b, tb = device("b", 12, {"db1": ["6"]})
    results = Fencer(Inventory([a, b], "/test"), timeout=5).run("reset", ["db1"])
    assert results[0].result == OK
    events = sorted(ta.events + tb.events)
    states = [s for _, _, s in events]
    assert states == [OFF, OFF, ON, ON]


def test_settle_runs_from_the_last_outlet_read_back_off() -> None:
    a, ta = device("a", 13, {"db1": ["5"]}, settle=0.3)
    b, tb = device("b", 14, {"db1": ["6"]}, settle=0.3)
    tb.read_delay = 0.2  # b confirms its outlet off 0.2 s after a does
    results = Fencer(Inventory([a, b], "/test"), timeout=5).run("reset", ["db1"])
    assert results[0].result == OK
    timeline = sorted(ta.timeline + tb.timeline)
    last_off_read = max(t for t, kind, _, state in timeline if kind == "read" and state == OFF)
    first_on = min(t for t, kind, _, state in timeline if kind == "switch" and state == ON)
    assert first_on - last_off_read >= 0.3
    assert first_on - last_off_read < 0.3 + 0.15  # and not a second settle after the bookkeeping


def test_dual_supply_with_one_device_down_is_not_fenced_and_other_outlet_stays_off() -> None:
    a, ta = device("a", 21, {"db1": ["5"]})
    b, tb = device("b", 22, {"db1": ["6"]})
    tb.unreachable = True
    started = time.monotonic()
    results = Fencer(Inventory([a, b], "/test"), timeout=2).run("reset", ["db1"])
    assert time.monotonic() - started < 3
    assert results[0].result == FAILED
    assert not results[0].fenced
    assert ta.state["5"] == OFF  # left off: documented choice
    assert all(s == OFF for _, _, s in ta.events)
    assert results[0].exit_code == 8


def test_topology_falls_through_to_level_two() -> None:
    a, ta = device("primary", 31, {"n1": ["1"]}, level=1)
    b, tb = device("backup", 32, {"n1": ["3"]}, level=2)
    ta.auth_fail = True
    results = Fencer(Inventory([a, b], "/test"), timeout=5).run("reset", ["n1"])
    assert results[0].result == OK
    assert results[0].level == 2
    assert ta.events == []
    assert [s for _, _, s in tb.events] == [OFF, ON]


def test_stuck_relay_fails_within_deadline_others_unaffected() -> None:
    a, ta = device("a", 41, {"n1": ["1"], "n2": ["2"], "n3": ["3"]})
    ta.stuck.add("2")
    started = time.monotonic()
    results = {
        r.node: r for r in Fencer(Inventory([a], "/test"), timeout=1.5).run("reset", ["n1", "n2", "n3"])
    }
    assert time.monotonic() - started < 1.5 + 1
    assert results["n2"].result == FAILED and not results["n2"].fenced
    assert results["n1"].result == OK and results["n3"].result == OK
    assert "a: outlet 2 (outlet2): still on after 1.5 s" in results["n2"].message
    # the others went through off, settle and on in their own time, not at the deadline
    assert results["n1"].duration < 0.5 and results["n3"].duration < 0.5


def test_lying_acknowledgement_is_caught_by_read_back() -> None:
    a, ta = device("a", 51, {"n1": ["1"]})
    ta.lie.add("1")
    results = Fencer(Inventory([a], "/test"), timeout=1).run("off", ["n1"])
    assert results[0].result == FAILED
    assert ta.state["1"] == ON


def test_silent_device_fails_within_deadline() -> None:
    a, ta = device("a", 61, {"n1": ["1"]})
    ta.silent = True
    started = time.monotonic()
    results = Fencer(Inventory([a], "/test"), timeout=1).run("off", ["n1"])
    assert time.monotonic() - started < 2
    assert results[0].result == FAILED
    assert results[0].exit_code == 6


def test_transient_connect_failure_is_retried() -> None:
    a, ta = device("a", 71, {"n1": ["1"]})
    ta.flaky_connects = 2
    results = Fencer(Inventory([a], "/test"), timeout=5).run("off", ["n1"])
    assert results[0].result == OK


def test_auth_failure_is_not_retried() -> None:
    a, ta = device("a", 72, {"n1": ["1"]})
    ta.auth_fail = True
    started = time.monotonic()
    results = Fencer(Inventory([a], "/test"), timeout=5).run("off", ["n1"])
    assert time.monotonic() - started < 0.5
    assert results[0].exit_code == 2


def test_unknown_node() -> None:
    a, _ = device("a", 81, {"n1": ["1"]})
    results = Fencer(Inventory([a], "/test"), timeout=5).run("reset", ["nobody"])
    assert results[0].result == UNKNOWN_NODE
    assert worst_exit_code(results) == 4


def test_status_semantics() -> None:
    a, ta = device("a", 91, {"n1": ["1", "2"], "n2": ["3"]})
    b, tb = device("b", 92, {"n2": ["4"]})
    ta.state["1"] = OFF
    tb.unreachable = True
    results = {r.node: r for r in Fencer(Inventory([a, b], "/test"), timeout=1).status(["n1", "n2"])}
    assert results["n1"].state == ON  # on if any outlet is on
    assert results["n2"].state == ON
    ta.state["2"] = OFF
    results = {r.node: r for r in Fencer(Inventory([a, b], "/test"), timeout=1).status(["n1"])}
    assert results["n1"].state == OFF
    ta.state["3"] = OFF
    results = {r.node: r for r in Fencer(Inventory([a, b], "/test"), timeout=1).status(["n2"])}
    assert results["n2"].state == "unknown"  # one supply off, the other unreadable: never "off"
    assert results["n2"].exit_code == 8


def test_on_failed_is_reported_not_hidden() -> None:
    a, _ = device("a", 101, {"n1": ["1"]})
    orig = FakePdu.on

    def broken_on(self, outlet, deadline):  # the relay never closes again
        return None

    FakePdu.on = broken_on  # type: ignore[method-assign]
    try:
        results = Fencer(Inventory([a], "/test"), timeout=1).run("reset", ["n1"])
    finally:
        FakePdu.on = orig  # type: ignore[method-assign]
    assert results[0].result == ON_FAILED
    assert results[0].fenced
    assert results[0].exit_code == 5


def test_dynamic_hosts_by_outlet_name() -> None:
    a, ta = device("a", 111, None, names=["web1", "web2", "DB1"])
    b, tb = device("b", 112, None, names=["x", "db2"])
    fencer = Fencer(Inventory([a, b], "/test"), timeout=5)
    assert set(fencer.known_nodes()) >= {"web1", "web2", "db1", "x", "db2"}
    results = fencer.run("reset", ["db1", "x"])
    assert [r.result for r in results] == [OK, OK]
    assert len(ta.events) == 2 and len(tb.events) == 2


def test_a_name_two_devices_report_is_a_conflict_and_nothing_is_switched() -> None:
    a, ta = device("a", 113, None, names=["web1", "db1"])
    b, tb = device("b", 114, None, names=["x", "db1"])
    results = Fencer(Inventory([a, b], "/test"), timeout=5).run("reset", ["db1", "web1"])
    assert results[0].result == FAILED and results[0].exit_code == 1
    assert "several devices (a, b)" in results[0].message
    assert results[1].result == OK
    assert [o for _, o, _ in ta.events] == ["1", "1"] and tb.events == []


def test_a_device_reported_name_never_overrides_a_map() -> None:
    # Level 1 names an outlet like a node that level 2 maps (a renamed outlet, a typo, an attack):
    # the map decides; the level-1 outlet is never switched for that node.
    a, ta = device("a", 115, None, names=["web1", "db1"], level=1)
    c, tc = device("c", 116, {"db1": ["1"]}, level=2)
    inventory = Inventory([a, c], "/test")
    from stonith.fencing.engine import Plan

    plan = Plan(inventory)
    plan.list_devices(lambda d: Deadline(5), lambda fn, items: [fn(item) for item in items])
    assert any("a reports an outlet named db1" in p for p in plan.conflicts())
    results = Fencer(inventory, timeout=5).run("reset", ["db1"])
    assert results[0].result == OK and results[0].level == 2
    assert ta.events == [] and [s for _, _, s in tc.events] == [OFF, ON]


def test_device_reported_names_match_ascii_only() -> None:
    a, ta = device("a", 117, None, names=["d\u0130b1", "db\uff11", "DB2"])
    fencer = Fencer(Inventory([a], "/test"), timeout=5)
    results = {r.node: r for r in fencer.run("off", ["dib1", "db1", "db2"])}
    assert results["db1"].result == UNKNOWN_NODE and results["dib1"].result == UNKNOWN_NODE
    assert results["db2"].result == OK and [o for _, o, _ in ta.events] == ["3"]


def test_single_session_device_serializes_concurrent_operations(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STONITH_LOCK_DIR", str(tmp_path))
    a, ta = device("a", 121, {f"n{i}": [str(i)] for i in range(1, 9)})
    ta.single_session = True
    inventory = Inventory([a], "/test")
    results: list = []

    def one(node: str) -> None:
        results.extend(Fencer(inventory, timeout=10).run("reset", [node]))

    threads = [threading.Thread(target=one, args=(f"n{i}",)) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.result for r in results] == [OK] * 8
    assert ta.max_sessions_seen == 1


@pytest.mark.parametrize("count", [50])
def test_many_nodes_many_devices(count: int) -> None:
    devices = []
    truths = []
    for d in range(5):
        entry, truth = device(f"pdu{d}", 200 + d, {f"n{d}-{i}": [str(i)] for i in range(1, 11)}, outlets=10)
        devices.append(entry)
        truths.append(truth)
    nodes = [f"n{d}-{i}" for d in range(5) for i in range(1, 11)]
    started = time.monotonic()
    results = Fencer(Inventory(devices, "/test"), timeout=10).run("reset", nodes)
    assert len(results) == count
    assert all(r.result == OK for r in results)
    assert time.monotonic() - started < 5
    for truth in truths:  # one batched off and one batched on per device
        assert [s for _, _, s in truth.events][:10] == [OFF] * 10


class _StaticPdu(FakePdu):
    """A device whose outlets the configuration names (like a BMC): listing needs no session."""

    def static_outlets(self) -> list[Outlet]:
        return [Outlet(i, n) for i, n in self.truth.names.items()]


def test_devices_named_by_configuration_are_not_contacted_to_find_a_node() -> None:
    a, _ = device("a", 131, {"n1": ["1"]})
    b, tb = device("b", 132, None, names=["bmc-host"])
    b.driver = _StaticPdu({"unit": 132})
    tb.unreachable = True  # any session to b would fail
    fencer = Fencer(Inventory([a, b], "/test"), timeout=5)
    results = fencer.status(["n1"])
    assert results[0].result == OK
    assert [t.device.name for t in fencer.plan.targets("BMC-host")] == ["b"]
    assert tb.sessions == 0 and tb.max_sessions_seen == 0


def test_targets_keep_inventory_order_for_a_node_on_many_devices() -> None:
    entries = [device(f"d{i}", 140 + i, {"n": ["1"], f"m{i}": ["2"]})[0] for i in range(5)]
    fencer = Fencer(Inventory(entries, "/test"), timeout=5)
    assert [t.device.name for t in fencer.plan.targets("n")] == ["d0", "d1", "d2", "d3", "d4"]
    assert [t.refs for t in fencer.plan.targets("m3")] == [["2"]]
    assert fencer.plan.targets("nobody") == []


def test_a_reset_logs_in_once_per_device() -> None:
    a, ta = device("a", 151, {"n": ["1"]})
    b, tb = device("b", 152, {"n": ["2"]})
    results = Fencer(Inventory([a, b], "/test"), timeout=5).run("reset", ["n"])
    assert results[0].result == OK
    assert (ta.connects, tb.connects) == (1, 1)
    assert (ta.sessions, tb.sessions) == (0, 0)  # logged out at the end


def test_a_session_that_dies_while_the_reset_settles_is_opened_again() -> None:
    a, ta = device("a", 153, {"n": ["1"]}, settle=0.05)
    ta.drop_session_before_on = True
    results = Fencer(Inventory([a], "/test"), timeout=5).run("reset", ["n"])
    assert results[0].result == OK
    assert ta.connects == 2 and ta.sessions == 0
    assert [e[1:] for e in ta.events] == [("1", OFF), ("1", ON)]


def test_sessions_of_a_level_that_did_not_fence_are_closed_before_the_next_level() -> None:
    a, ta = device("a", 154, {"n": ["1"]}, level=1)
    b, tb = device("b", 155, {"n": ["1"]}, level=1)
    c, tc = device("c", 156, {"n": ["1"]}, level=2)
    tb.unreachable = True
    seen: list[int] = []
    real_connect = FakePdu.connect

    def connect(self: FakePdu, deadline: object) -> None:
        if self.truth is tc:
            seen.append(ta.sessions)  # a's session must be closed by the time level 2 starts
        real_connect(self, deadline)  # type: ignore[arg-type]

    FakePdu.connect = connect  # type: ignore[method-assign]
    try:
        results = Fencer(Inventory([a, b, c], "/test"), timeout=5).run("reset", ["n"])
    finally:
        FakePdu.connect = real_connect  # type: ignore[method-assign]
    assert results[0].result == OK and results[0].level == 2
    assert seen == [0]
    assert ta.state["1"] == OFF  # left off: level 1 did not fence, it switches nothing back on
    assert (ta.sessions, tc.sessions) == (0, 0)


def test_nodes_on_unrelated_devices_do_not_wait_for_each_other() -> None:
    # A slow device holds back only the nodes that share a device with it.
    fast, tf = device("fast", 161, {"quick": ["1"]})
    slow, ts = device("slow", 162, {"slowpoke": ["1"], "twin": ["2"]})
    slow.driver = FakePdu({"unit": 162})  # blocks in off(): a thread of its own, also beside a Loop
    other, to = device("other", 163, {"twin": ["1"]})
    real_off = FakePdu.off

    def off(self: FakePdu, outlet: Outlet, deadline: object) -> None:
        if self.truth is ts:
            time.sleep(0.6)
        real_off(self, outlet, deadline)  # type: ignore[arg-type]

    FakePdu.off = off  # type: ignore[method-assign]
    try:
        reported: list[str] = []
        fencer = Fencer(
            Inventory([fast, slow, other], "/test"), timeout=10, progress=lambda r: reported.append(r.node)
        )
        results = fencer.run("reset", ["quick", "slowpoke", "twin"])
    finally:
        FakePdu.off = real_off  # type: ignore[method-assign]
    assert [r.result for r in results] == [OK, OK, OK]
    assert reported[0] == "quick" and sorted(reported) == ["quick", "slowpoke", "twin"]
    assert results[0].duration < results[1].duration
    # "quick" was back on before the slow device had switched anything off
    quick_on = next(order for order, _, state in tf.events if state == ON)
    assert quick_on < min(order for order, _, _ in ts.events)
    # the dual-supply node still had both outlets off before either came back on
    twin = sorted([e for e in ts.events if e[1] == "2"] + list(to.events))
    assert [state for _, _, state in twin] == [OFF, OFF, ON, ON]


def test_groups_beyond_the_thread_limit_are_batched_together() -> None:
    entries = [device(f"g{i}", 170 + i, {f"n{i}": ["1"]})[0] for i in range(6)]
    fencer = Fencer(Inventory(entries, "/test"), timeout=5, max_workers=2)
    results = fencer.run("reset", [f"n{i}" for i in range(6)])
    assert [r.result for r in results] == [OK] * 6


def test_blocking_and_nonblocking_groups_beyond_the_thread_limit() -> None:
    entries = [device(f"m{i}", 190 + i, {f"n{i}": ["1"]})[0] for i in range(7)]
    for entry in entries[:4]:
        entry.driver = FakePdu({"unit": entry.driver.config["unit"]})
    for entry in entries[4:]:
        entry.driver = FakeStepPdu({"unit": entry.driver.config["unit"]})
    fencer = Fencer(Inventory(entries, "/test"), timeout=5, max_workers=2)
    results = fencer.run("reset", [f"n{i}" for i in range(7)])
    assert [r.result for r in results] == [OK] * 7


class _BlindPdu(FakePdu):
    """A device that can switch but not read its outlets back (like nw_rpc100s)."""

    INFO = DriverInfo(
        "blindpdu",
        shortdesc="Blind PDU",
        description="Switches, cannot read back",
        fields=FakePdu.INFO.fields,
        capabilities=Capabilities(multi=True, sessions=1, status=False),
    )


@pytest.mark.parametrize("verb", ["off", "on", "reset"])
def test_a_device_without_read_back_is_refused_before_anything_is_switched(verb: str) -> None:
    a, ta = device("a", 181, {"n": ["1"]})
    a.driver = _BlindPdu({"unit": 181})
    results = Fencer(Inventory([a], "/test"), timeout=5).run(verb, ["n"])
    assert results[0].result == FAILED and not results[0].fenced
    assert "cannot read outlet state back" in results[0].message
    assert ta.events == [] and ta.connects == 0  # not even a session


def test_fan_out_runs_every_item_at_most_limit_at_a_time_and_reraises() -> None:
    from stonith.fencing.engine import fan_out

    lock = threading.Lock()
    active, peak, seen = [0], [0], []

    def work(item: int) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
            seen.append(item)

    fan_out(work, list(range(20)), 4)
    assert sorted(seen) == list(range(20)) and peak[0] == 4
    fan_out(work, [], 4)  # nothing to do: returns at once

    def fail(item: int) -> None:
        seen.append(item)
        if item == 3:
            raise ValueError("device 3 broke")

    seen.clear()
    with pytest.raises(ValueError, match="device 3"):
        fan_out(fail, list(range(8)), 3)
    assert sorted(seen) == list(range(8))  # one failure does not stop the others


def test_fan_out_goes_on_with_the_threads_it_could_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import _thread

    from stonith.fencing.engine import fan_out

    real = _thread.start_new_thread
    calls = [0]

    def scarce(fn: object, args: tuple[object, ...]) -> int:
        calls[0] += 1
        if calls[0] > 2:
            raise RuntimeError("can't start new thread")
        return real(fn, args)  # type: ignore[arg-type]

    monkeypatch.setattr(_thread, "start_new_thread", scarce)
    seen: list[int] = []
    fan_out(seen.append, list(range(10)), 8)
    assert sorted(seen) == list(range(10))


def test_phases_ended_on_a_loop_are_audited_in_one_write_then_reported_in_order() -> None:
    from stonith.contract import steps
    from stonith.fencing.audit import Entry

    class CountingAudit:
        def __init__(self) -> None:
            self.writes: list[list[str]] = []

        def record(self, entries: list[Entry]) -> None:
            self.writes.append([f"{e.node}:{e.verb}" for e in entries])

    audit = CountingAudit()
    fencer = Fencer(Inventory([], "/test"), timeout=5, audit=audit)  # type: ignore[arg-type]
    said: list[str] = []

    def phase(node: str, verb: str) -> tuple[list[Any], list[Any]]:
        entry = Entry(node, "pdu", ["1"], verb, OK, 0.1)
        return [(None, verb, [entry])], [lambda: said.append(f"{node}:{verb} ({len(audit.writes)} writes)")]

    def devices_ending_phases() -> steps.Steps[None]:
        fencer.record_later(*phase("n1", "off"))
        fencer.record_later(*phase("n2", "off"))  # another device, the same round
        yield steps.Wait(time.monotonic() + 0.01)  # the Loop waits: both are written now
        fencer.record_later(*phase("n1", "on"))

    steps.Loop().run([devices_ending_phases()])
    assert audit.writes == [["n1:off", "n2:off"], ["n1:on"]]
    assert said == ["n1:off (1 writes)", "n2:off (1 writes)", "n1:on (2 writes)"]
    fencer.record_later(*phase("n3", "off"))  # off a Loop (a device in a thread of its own): at once
    assert audit.writes[-1] == ["n3:off"] and said[-1] == "n3:off (3 writes)"

"""The engine's verification rules, one by one, against in-memory PDUs (issue 17: mutation testing).

Each test pins a rule of stonith/fencing/engine.py that a mutant of its verification code broke without
test_cluster.py noticing (``python -m bench.mutation`` lists the mutants).  Short deadlines: the
mutation run executes this file first for every mutant.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading

import pytest

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import ExitCode
from stonith.fencing import engine
from stonith.fencing.engine import FAILED, OK, ON_FAILED, Fencer
from stonith.fencing.inventory import DeviceEntry, Inventory
from tests.stonith.fakes import FakePdu, FakeStepPdu, Truth

# Every test runs with a blocking driver (a thread per device) and a NONBLOCKING one (the Loop).
DRIVER: type[FakePdu] = FakePdu


@pytest.fixture(autouse=True, params=["threads", "loop"])
def driver_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(
        sys.modules[__name__], "DRIVER", FakePdu if request.param == "threads" else FakeStepPdu
    )
    return str(request.param)


@pytest.fixture(autouse=True)
def own_locks(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STONITH_LOCK_DIR", str(tmp_path))


_units = iter(range(1000, 100000))


def device(
    name: str,
    hosts: dict[str, list[str]] | None,
    level: int = 1,
    outlets: int = 4,
    names: list[str] | None = None,
    settle: float = 0.0,
    timeout: float = 5.0,
) -> tuple[DeviceEntry, Truth]:
    unit = next(_units)
    truth = Truth(len(names) if names else outlets, names)
    truth.copies = True  # states parsed from an answer: equal to ON/OFF, not the same objects
    FakePdu.units[unit] = truth
    entry = DeviceEntry(
        name, "fakepdu", f"/test/{name}.toml", DRIVER({"unit": unit}), hosts, level, settle, timeout, 1, None
    )
    return entry, truth


def switched(truth: Truth, outlet: str) -> list[str]:
    """The commands the relay of ``outlet`` was given, in order."""
    return [state for _, o, state in truth.events if o == outlet]


def reads(truth: Truth, outlet: str) -> list[str]:
    return [state for _, kind, o, state in truth.timeline if kind == "read" and o == outlet]


# -- unknown is never off ----------------------------------------------------------------------------


def test_a_read_back_that_answers_unknown_is_not_off() -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.unknown.add("1")
    result = Fencer(Inventory([a], "/test"), timeout=0.25).run("off", ["n"])[0]
    assert ta.state["1"] == OFF  # the relay did open: only the read-back cannot tell
    assert result.result == FAILED and not result.fenced
    assert result.state == UNKNOWN
    assert result.exit_code == ExitCode.S_RESETFAIL
    assert re.search(r"a: outlet 1 \(outlet1\): still unknown after 0\.\d s", result.message)


def test_a_reset_whose_off_reads_unknown_never_switches_on() -> None:
    a, ta = device("a", {"n": ["1", "2"]})
    ta.unknown.add("2")
    result = Fencer(Inventory([a], "/test"), timeout=0.25).run("reset", ["n"])[0]
    assert result.result == FAILED and not result.fenced
    assert switched(ta, "1") == [OFF] and switched(ta, "2") == [OFF]  # left off, no on command
    assert result.state == UNKNOWN


def test_status_of_a_node_whose_outlets_all_read_off_is_off() -> None:
    a, ta = device("a", {"n": ["1", "2"]})
    ta.state.update({"1": OFF, "2": OFF})
    result = Fencer(Inventory([a], "/test"), timeout=1).status(["n"])[0]
    assert (result.result, result.state, result.exit_code) == (OK, OFF, 0)
    assert result.message == "a:outlet1=off, a:outlet2=off"
    assert 0 <= result.duration < 0.9


def test_status_of_a_node_with_an_outlet_reading_unknown_is_unknown() -> None:
    a, ta = device("a", {"n": ["1", "2"], "m": ["3", "4"]})
    ta.state.update({"1": OFF, "2": OFF, "3": ON, "4": ON})
    ta.unknown.update({"2", "4"})
    results = {r.node: r for r in Fencer(Inventory([a], "/test"), timeout=1).status(["n", "m"])}
    assert results["n"].state == UNKNOWN and results["n"].result == FAILED
    assert results["n"].exit_code == ExitCode.S_OOPS
    assert results["m"].state == ON and results["m"].result == OK  # one outlet on: the node has power


def test_an_on_read_back_that_answers_unknown_is_on_failed() -> None:
    a, ta = device("a", {"n": ["1"]})

    def unreadable_once_on(outlet: str, state: str) -> None:
        if state == ON:
            ta.unknown.add(outlet)

    ta.after_switch = unreadable_once_on
    result = Fencer(Inventory([a], "/test"), timeout=0.3).run("reset", ["n"])[0]
    assert result.result == ON_FAILED and result.fenced
    assert result.state == UNKNOWN
    assert result.exit_code == ExitCode.S_RESETFAIL
    assert "power-on was not read back: a: outlet 1 (outlet1): still unknown after" in result.message


# -- off is read back before anything is switched on ------------------------------------------------


def test_a_late_read_back_is_waited_for_and_on_follows_the_first_off_read() -> None:
    a, ta = device("a", {"n": ["1"]}, settle=0.3)
    ta.late["1"] = 2  # the relay reports its old state twice more after each switch
    result = Fencer(Inventory([a], "/test"), timeout=5).run("reset", ["n"])[0]
    assert result.result == OK and result.state == ON
    assert reads(ta, "1") == [ON, ON, OFF, OFF, OFF, ON]  # nothing is read while the node settles
    first_off = min(t for t, kind, _, s in ta.timeline if kind == "read" and s == OFF)
    first_on = min(t for t, kind, _, s in ta.timeline if kind == "switch" and s == ON)
    assert first_on - first_off >= 0.3  # the settle time counts from the read, not from the command
    # the relay is given time before the first read, and then a gap that grows with the time the
    # relay has taken (never below the floor)
    times = [t for t, *_ in ta.timeline[:4]]  # the off command, then three reads
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[0] >= engine.POLL_FIRST - 0.005
    for read, gap in zip(times[1:-1], gaps[1:], strict=True):
        assert gap >= max(engine.POLL_FLOOR, engine.LATE_SHARE * (read - times[0])) - 0.005


def test_the_read_back_schedule_sees_a_relay_late_by_a_share_of_its_time_and_spares_slow_devices() -> None:
    interval = engine._read_interval
    assert interval(0.01, 0.001, paced=False) == engine.POLL_FLOOR  # cheap reads, early: the floor
    assert interval(0.5, 0.001, paced=False) == pytest.approx(0.025)  # a 0.5 s relay: seen <= 25 ms late
    assert interval(2.0, 0.001, paced=False) == pytest.approx(0.1)
    assert interval(60.0, 0.001, paced=False) == engine.POLL_MAX  # a stuck relay: four reads a second
    # a read that took 10 ms (a console, a loaded engine): the device answers read-backs <= 1/9 of the time
    assert interval(0.1, 0.010, paced=False) == pytest.approx(0.08)
    assert interval(0.1, 0.5, paced=False) == engine.POLL_MAX
    # a paced driver (IPMI's min_interval) holds its reads itself: its read time spaces nothing
    assert interval(0.1, 0.2, paced=True) == engine.POLL_FLOOR


def test_a_stuck_relay_gets_no_on_command_and_the_other_outlets_stay_off() -> None:
    a, ta = device("a", {"n": ["1", "2"], "m": ["3"]})
    ta.stuck.add("1")
    results = {r.node: r for r in Fencer(Inventory([a], "/test"), timeout=0.25).run("reset", ["n", "m"])}
    assert results["n"].result == FAILED and not results["n"].fenced
    assert ON not in switched(ta, "1") + switched(ta, "2")
    assert (ta.state["1"], ta.state["2"]) == (ON, OFF)
    assert results["n"].state == ON  # as last read
    assert results["m"].result == OK and switched(ta, "3") == [OFF, ON]


def test_a_dual_supply_node_with_a_stuck_feed_is_switched_on_nowhere() -> None:
    a, ta = device("a", {"db": ["1"]})
    b, tb = device("b", {"db": ["1"]})
    tb.stuck.add("1")
    result = Fencer(Inventory([a, b], "/test"), timeout=0.25).run("reset", ["db"])[0]
    assert result.result == FAILED and not result.fenced
    assert switched(ta, "1") == [OFF] and ta.state["1"] == OFF
    assert ON not in switched(tb, "1")


def test_a_stuck_second_outlet_fails_the_node_naming_that_outlet() -> None:
    a, ta = device("a", {"n": ["1", "2"]})
    ta.stuck.add("2")
    result = Fencer(Inventory([a], "/test"), timeout=0.25).run("off", ["n"])[0]
    assert result.result == FAILED and result.exit_code == ExitCode.S_RESETFAIL
    assert re.search(r"a: outlet 2 \(outlet2\): still on after 0\.\d s", result.message)
    assert [(o.id, o.state) for d in result.devices for o in d.outlets] == [("1", OFF), ("2", ON)]
    assert result.state == ON


# -- results and their messages ----------------------------------------------------------------------


def argv(text: str) -> str:
    """``text`` as a command line hands it over: equal, but not the interned literal."""
    return "".join(list(text))


@pytest.mark.parametrize(
    ("verb", "state", "message"),
    [
        ("off", OFF, "powered off at level 1"),
        ("on", ON, "powered on at level 1"),
        ("reset", ON, "fenced and powered on at level 1"),
    ],
)
def test_success_is_reported_with_the_state_read_back(verb: str, state: str, message: str) -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.state["1"] = OFF if verb == "on" else ON
    ta.copies = False  # the constants themselves (the other tests read equal copies)
    result = Fencer(Inventory([a], "/test"), timeout=2).run(argv(verb), ["n"])[0]
    assert (result.result, result.state, result.level, result.exit_code) == (OK, state, 1, 0)
    assert result.message == message
    assert result.fenced == (verb != "on")
    assert switched(ta, "1") == {"off": [OFF], "on": [ON], "reset": [OFF, ON]}[verb]


def test_a_relay_that_does_not_close_again_is_on_failed_and_reads_off() -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.lost_commands = 0

    def never_on(outlet: str, state: str) -> None:
        if state == OFF:
            ta.lost_commands = 1  # the on command that follows is acknowledged, the relay stays open

    ta.after_switch = never_on
    result = Fencer(Inventory([a], "/test"), timeout=0.25).run(argv("reset"), ["n"])[0]
    assert result.result == ON_FAILED and result.fenced
    assert result.state == OFF and result.exit_code == ExitCode.S_RESETFAIL
    assert result.message.startswith("fenced at level 1 (every outlet read back off), but power-on was not")
    assert "a: outlet 1 (outlet1): still off after" in result.message


def test_an_on_that_does_not_read_back_on_fails_with_the_state_read() -> None:
    a, ta = device("a", {"n": ["1", "2"]})
    ta.state.update({"1": OFF, "2": OFF})
    ta.lost_commands = 1  # the first on command never reaches its relay
    result = Fencer(Inventory([a], "/test"), timeout=0.25).run(argv("on"), ["n"])[0]
    assert result.result == FAILED and not result.fenced
    assert result.state == ON  # outlet 2 did come on
    ta.lost_commands = 2
    ta.state.update({"1": OFF, "2": OFF})
    result = Fencer(Inventory([a], "/test"), timeout=0.25).run(argv("on"), ["n"])[0]
    assert result.result == FAILED and result.state == OFF  # every outlet read back off
    assert result.exit_code == ExitCode.S_RESETFAIL
    assert re.fullmatch(
        r"NOT powered on \(levels tried: \[1\]\): a: outlet 1 \(outlet1\): still off after 0\.\d s; "
        r"outlet 2 \(outlet2\): still off after 0\.\d s",
        result.message,
    )


def test_fold_is_ascii_only_and_keeps_the_host_name_rule_unless_any_name() -> None:
    from stonith.fencing.engine import fold

    assert fold("DB1") == "db1"
    assert fold("web server") is None  # not a host name
    assert fold("web server", any_name=True) == "web server"
    assert fold("d\u0130b1", any_name=True) is None
    assert fold("db\uff11") is None
    assert fold("web\x07server", any_name=True) is None


# -- sessions ----------------------------------------------------------------------------------------


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setattr(engine, "RETRY_BACKOFF", (0.01, 0.01, 0.01, 0.01))


def test_no_retry_is_started_that_the_deadline_would_cut_short(monkeypatch) -> None:

    monkeypatch.setattr(engine, "RETRY_BACKOFF", (0.1, 0.2, 0.5, 1.0))
    a, ta = device("a", {"n": ["1"]})
    ta.flaky_connects = 100
    result = Fencer(Inventory([a], "/test"), timeout=0.6).run("off", ["n"])[0]
    assert result.result == FAILED and "connection refused (flaky)" in result.message
    assert ta.flaky_connects == 97  # at 0.3 s the next try would start after 0.5 s more: given up


@pytest.mark.usefixtures("quick_retries")
def test_a_session_is_tried_five_times_in_all() -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.flaky_connects = 4
    result = Fencer(Inventory([a], "/test"), timeout=5).run("off", ["n"])[0]
    assert result.result == OK and ta.connects == 1
    b, tb = device("b", {"n": ["1"]})
    tb.flaky_connects = 5
    result = Fencer(Inventory([b], "/test"), timeout=5).run("off", ["n"])[0]
    assert result.result == FAILED and result.exit_code == ExitCode.S_OOPS
    assert "connection refused (flaky)" in result.message
    assert tb.flaky_connects == 0 and tb.events == []


def test_a_session_kept_from_listing_that_died_is_opened_again() -> None:
    a, ta = device("a", None, names=["web1", "web2"])
    ta.garbled = {1, 2}  # the kept session answers garbage twice in a row: it is dead
    result = Fencer(Inventory([a], "/test"), timeout=5).run("off", ["web2"])[0]
    assert result.result == OK
    assert ta.connects == 2 and ta.sessions == 0


def test_a_driver_bug_in_a_kept_session_fails_its_node_and_logs_out(monkeypatch: pytest.MonkeyPatch) -> None:
    a, ta = device("a", None, names=["web1", "web2"])

    def broken_off(self: FakePdu, outlet: object, deadline: object) -> None:
        raise RuntimeError("driver bug on \x1b[2J\x9b31m device text")

    monkeypatch.setattr(FakePdu, "off", broken_off)
    result = Fencer(Inventory([a], "/test"), timeout=5).run("off", ["web1"])[0]
    assert result.result == FAILED and result.exit_code == ExitCode.S_OOPS
    # Device text in a driver bug's message never reaches a terminal as controls (issue 21 item 9)
    assert "internal error: RuntimeError: driver bug on \\x1b[2J\\x9b31m device text" in result.message
    assert ta.connects == 1 and ta.sessions == 0  # not retried, logged out


def test_one_garbled_or_lost_read_is_read_again_in_the_same_session() -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.garbled = {1}
    b, tb = device("b", {"m": ["1"]})
    tb.lost = {1}
    results = Fencer(Inventory([a, b], "/test"), timeout=2).run("off", ["n", "m"])
    assert [r.result for r in results] == [OK, OK]
    assert (ta.connects, tb.connects) == (1, 1)
    assert switched(ta, "1") == [OFF] and switched(tb, "1") == [OFF]


def test_two_bad_reads_in_a_row_open_the_session_again_and_give_the_command_again() -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.lost_commands = 1  # the off is acknowledged but lost, and then the session dies
    ta.garbled = {1, 2}
    result = Fencer(Inventory([a], "/test"), timeout=5).run("off", ["n"])[0]
    assert result.result == OK
    assert ta.connects == 2 and switched(ta, "1") == [OFF]


def test_a_good_read_clears_the_count_of_bad_reads() -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.late["1"] = 1
    ta.garbled = {2, 3}  # one good read (still on), then two bad ones in a row
    result = Fencer(Inventory([a], "/test"), timeout=5).run("off", ["n"])[0]
    assert result.result == OK
    assert ta.connects == 2
    b, tb = device("b", {"n": ["1"]})
    tb.late["1"] = 1
    tb.garbled = {1, 3}  # bad, good, bad: never two in a row
    result = Fencer(Inventory([b], "/test"), timeout=5).run("off", ["n"])[0]
    assert result.result == OK and tb.connects == 1


# -- interrupts --------------------------------------------------------------------------------------


def test_an_interrupt_before_the_run_switches_nothing() -> None:
    a, ta = device("a", {"n": ["1"]})
    fencer = Fencer(Inventory([a], "/test"), timeout=2)
    fencer.interrupt()
    result = fencer.run("reset", ["n"])[0]
    assert result.result == FAILED and result.state == UNKNOWN
    assert result.message == "interrupted before anything was switched"
    assert result.exit_code == ExitCode.S_RESETFAIL
    assert ta.events == [] and ta.connects == 0


def test_an_interrupt_after_the_off_reads_it_back_and_switches_nothing_on() -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.late["1"] = 2
    fencer = Fencer(Inventory([a], "/test"), timeout=2)
    ta.after_switch = lambda outlet, state: fencer.interrupt()
    result = fencer.run(argv("reset"), ["n"])[0]
    assert result.result == ON_FAILED and result.fenced
    assert result.state == OFF and result.exit_code == ExitCode.S_OOPS
    assert "a: interrupted after the verified off: left off" in result.message
    assert switched(ta, "1") == [OFF] and reads(ta, "1") == [ON, ON, OFF]


def test_an_interrupt_before_a_device_switched_leaves_it_untouched(monkeypatch) -> None:

    monkeypatch.setattr(engine, "RETRY_BACKOFF", (0.2,) * 4)
    a, ta = device("a", {"db": ["1"]})
    b, tb = device("b", {"db": ["1"]})
    tb.flaky_connects = 1  # b is late: a has switched off (and been interrupted) by then
    b_started = threading.Event()
    real_connect, real_off = FakePdu.connect, FakePdu.off

    def connect(self: FakePdu, deadline: Deadline) -> None:
        if self.truth is tb:
            b_started.set()
        real_connect(self, deadline)

    def off(self: FakePdu, outlet: Outlet, deadline: Deadline) -> None:
        if self.truth is ta:
            b_started.wait(2)
        real_off(self, outlet, deadline)

    monkeypatch.setattr(FakePdu, "connect", connect)
    monkeypatch.setattr(FakePdu, "off", off)
    fencer = Fencer(Inventory([a, b], "/test"), timeout=2)
    ta.after_switch = lambda outlet, state: fencer.interrupt()
    result = fencer.run("reset", ["db"])[0]
    assert result.result == FAILED and not result.fenced
    assert result.exit_code == ExitCode.S_OOPS
    assert "b: interrupted before it was switched off" in result.message
    assert switched(ta, "1") == [OFF] and tb.events == [] and tb.connects == 1


def test_an_interrupt_before_a_device_was_asked_leaves_it_alone(monkeypatch) -> None:
    a, ta = device("a", None, names=["db"], level=1)
    c, tc = device("c", None, names=["other"], level=2)
    fencer = Fencer(Inventory([a, c], "/test"), timeout=2)
    real_disconnect = FakePdu.disconnect

    def disconnect(self: FakePdu) -> None:
        real_disconnect(self)
        if self.truth is tc:  # c's session, kept from listing, is closed before level 1 starts
            fencer.interrupt()

    monkeypatch.setattr(FakePdu, "disconnect", disconnect)
    result = fencer.run("off", ["db"])[0]
    assert result.result == FAILED and result.state == UNKNOWN
    assert result.exit_code == ExitCode.S_OOPS
    assert "a: interrupted before the device was asked" in result.message
    assert ta.events == [] and tc.events == [] and ta.sessions == 0


# -- a device whose session is over switches nothing more -------------------------------------------


def test_no_power_on_through_a_device_whose_session_failed_after_its_off(monkeypatch) -> None:

    monkeypatch.setattr(engine, "RETRY_BACKOFF", ())  # a failed session is not opened again
    a, ta = device("a", {"db": ["1"], "n": ["2"]})
    b, tb = device("b", {"db": ["1"], "m": ["2"]})
    ta.late["2"] = 100  # a keeps reading n's outlet after db's read back off ...
    ta.garbled = {3, 4}  # ... and then its session dies
    tb.late.update({"1": 3, "2": 100})  # b reads db off after a's session is over, and keeps reading m
    result = Fencer(Inventory([a, b], "/test"), timeout=1).run(argv("reset"), ["db", "n", "m"])[0]
    assert result.result == ON_FAILED and result.fenced
    assert result.exit_code == ExitCode.S_OOPS
    assert result.message.endswith(
        "power-on was not read back: a: garbled status answer (read 4); b: outlet1=off"
    )
    assert switched(ta, "1") == [OFF] and switched(tb, "1") == [
        OFF
    ]  # a feed that cannot come back: none does


# -- which outlets --------------------------------------------------------------------------------


def test_an_outlet_name_that_moved_since_the_plan_is_refused() -> None:
    a, ta = device("a", None, names=["web1", "x", "db1"])
    fencer = Fencer(Inventory([a], "/test"), timeout=2)
    assert "db1" in fencer.known_nodes()
    ta.names.update({"2": "db1", "3": "y"})  # renamed on the PDU while the operation was planned
    result = fencer.run("off", ["db1"])[0]
    assert result.result == FAILED and result.exit_code == ExitCode.S_BADHOST
    assert "the outlets named 'db1' moved from 3 to 2 while the operation ran" in result.message
    b, tb = device("b", None, names=["web1", "db1", "x"])
    fencer = Fencer(Inventory([b], "/test"), timeout=2)
    assert "db1" in fencer.known_nodes()
    tb.names.update({"2": "y", "3": "db1"})
    result = fencer.run("off", ["db1"])[0]
    assert "the outlets named 'db1' moved from 2 to 3 while the operation ran" in result.message
    assert ta.events == [] and tb.events == []


def test_an_outlet_name_that_disappeared_since_the_plan_is_refused() -> None:
    a, ta = device("a", None, names=["web1", "db1"])
    fencer = Fencer(Inventory([a], "/test"), timeout=2)
    assert "db1" in fencer.known_nodes()
    ta.names["2"] = "db2"
    result = fencer.run("off", ["db1"])[0]
    assert result.result == FAILED and "no outlet named 'db1' any more" in result.message
    assert ta.events == []


def test_a_configured_outlet_is_found_by_id_first_then_by_name() -> None:
    a, ta = device("a", {"n": ["WEB1"], "m": ["2"]}, names=["2", "web1", "zeta"])
    results = Fencer(Inventory([a], "/test"), timeout=2).run("off", ["n", "m"])
    assert [r.result for r in results] == [OK, OK]
    assert ta.state == {"1": ON, "2": OFF, "3": ON}  # "2" is an id before it is a name
    assert [o.id for d in results[0].devices for o in d.outlets] == ["2"]  # "WEB1" is outlet 2's name
    assert [o.id for d in results[1].devices for o in d.outlets] == ["2"]  # "2" is outlet 2's id


def test_a_configured_outlet_the_device_lacks_fails_only_its_node() -> None:
    a, ta = device("a", {"n": ["9"], "m": ["2"]})
    results = Fencer(Inventory([a], "/test"), timeout=2).run("off", ["n", "m"])
    assert [r.result for r in results] == [FAILED, OK]
    assert results[0].exit_code == ExitCode.S_BADHOST
    assert "a: device has no outlet '9' (configured for n)" in results[0].message
    assert switched(ta, "2") == [OFF] and len(ta.events) == 1


def test_a_level_without_the_node_is_skipped_not_the_end() -> None:
    first, t1 = device("first", {"x": ["1"]}, level=1)
    other, _ = device("other", {"y": ["1"]}, level=1)
    second, _ = device("second", {"y": ["1"]}, level=2)
    third, _ = device("third", {"x": ["1"]}, level=3)
    t1.auth_fail = True
    results = {
        r.node: r
        for r in Fencer(Inventory([first, other, second, third], "/test"), timeout=3).run("off", ["x", "y"])
    }
    assert (results["x"].result, results["x"].level) == (OK, 3)  # level 2 has nothing for x
    assert (results["y"].result, results["y"].level) == (OK, 1)


def test_levels_are_compared_by_value() -> None:
    # Levels parsed from two device files are equal numbers, not one object (Python caches only small ints).
    a, ta = device("a", {"db": ["1"]}, level=int("300"))
    b, tb = device("b", {"db": ["1"]}, level=int("300"))
    result = Fencer(Inventory([a, b], "/test"), timeout=2).run("off", ["db"])[0]
    assert (result.result, result.level) == (OK, 300)
    assert switched(ta, "1") == switched(tb, "1") == [OFF]


def test_a_failed_node_is_reported_as_its_last_level_read_it() -> None:
    a, ta = device("a", {"n": ["1"]}, level=1)
    b, tb = device("b", {"n": ["1"]}, level=2)
    ta.stuck.add("1")  # level 1 reads the outlet on, level 2 cannot be asked
    tb.auth_fail = True
    result = Fencer(Inventory([a, b], "/test"), timeout=0.3).run("off", ["n"])[0]
    assert result.result == FAILED and result.state == UNKNOWN


def test_conflicts_name_each_collision_once() -> None:
    from stonith.fencing.engine import Plan

    a, _ = device("a", None, names=["web1", "db1", "x1"])
    b, _ = device("b", None, names=["web1", "y1"])
    c, _ = device("c", {"db1": ["1"]})
    d, _ = device("d", {"x1": ["1"]}, names=["x1"])
    d.device_names = True  # d names its own mapped node: no conflict with itself
    plan = Plan(Inventory([a, b, c, d], "/test"))
    plan.list_devices(lambda d: Deadline(2), lambda fn, items: [fn(item) for item in items])
    assert plan.conflicts() == [
        "a reports an outlet named db1, which [hosts] of c maps: the reported name is ignored; if that "
        "outlet feeds db1, map it in [hosts] of its device too",
        "web1 is named by outlets of a, b: a fence of web1 refuses until [hosts] says which devices feed it",
        "a reports an outlet named x1, which [hosts] of d maps: the reported name is ignored; if that "
        "outlet feeds x1, map it in [hosts] of its device too",
    ]


# -- status -------------------------------------------------------------------------------------------


def test_status_results_carry_level_zero() -> None:
    a, _ = device("a", {"n": ["1"]}, level=2)
    b, tb = device("b", {"n": ["1"]}, level=3)
    tb.auth_fail = True
    result = Fencer(Inventory([a, b], "/test"), timeout=1).status(["n"])[0]
    assert [(d["device"], d["level"]) for d in result.as_dict()["devices"]] == [("a", 0), ("b", 0)]  # type: ignore[index,union-attr]


def test_status_asks_the_devices_that_name_nodes_only_for_unmapped_nodes() -> None:
    a, ta = device("a", {"n": ["1"]})
    b, tb = device("b", None, names=["web1"])
    fencer = Fencer(Inventory([a, b], "/test"), timeout=2)
    assert [r.state for r in fencer.status(["n"])] == [ON] and tb.connects == 0
    assert [(r.result, r.state) for r in fencer.status(["web1"])] == [(OK, ON)]
    assert ta.connects == 1 and tb.connects == 1


@pytest.mark.usefixtures("quick_retries")
def test_status_of_everything_names_each_device_that_could_not_be_asked() -> None:
    a, ta = device("a", None, names=["web1"])
    b, tb = device("b", None, names=["web2"])
    c, _ = device("c", {"n": ["1"]})
    ta.unreachable = True
    tb.auth_fail = True
    results = {r.node: r for r in Fencer(Inventory([a, b, c], "/test"), timeout=1).status()}
    assert sorted(results) == ["a:?", "b:?", "n"]
    assert results["a:?"].result == results["b:?"].result == "unknown-node"
    assert results["a:?"].message.endswith("a: connection refused") and "b:" not in results["a:?"].message
    assert results["a:?"].exit_code == ExitCode.S_OOPS
    assert results["b:?"].message.endswith("b: bad password") and "a:" not in results["b:?"].message
    assert results["b:?"].exit_code == ExitCode.S_ACCESS
    assert results["n"].state == ON
    assert all(0 <= r.duration < 0.9 for r in results.values())  # from the start of the operation


def test_a_node_another_device_might_feed_is_unknown_naming_that_device() -> None:
    a, _ = device("a", None, names=["web1"])
    b, tb = device("b", None, names=["web2"])
    tb.auth_fail = True
    fencer = Fencer(Inventory([a, b], "/test"), timeout=1)
    results = {r.node: r for r in fencer.run("off", ["web1", "db9"])}
    assert results["web1"].result == "unknown-node"
    # web1 was found on a, but b may feed it too; db9 was found nowhere, and b was not asked
    assert results["web1"].message.startswith("unknown: ") and "may feed this node" in results["web1"].message
    assert (
        results["db9"].message.startswith("unknown: ") and "may feed this node" not in results["db9"].message
    )
    assert "b: bad password" in results["web1"].message and "b: bad password" in results["db9"].message
    assert results["web1"].exit_code == results["db9"].exit_code == ExitCode.S_ACCESS


def test_a_driver_bug_while_reading_status_makes_only_its_nodes_unknown(monkeypatch) -> None:
    a, _ = device("a", {"n": ["1"]})
    b, tb = device("b", {"m": ["1"]})

    def broken(self: FakePdu, outlet: object) -> str:
        if self.truth is tb:
            raise KeyError("oops")
        return self.truth.read(outlet.id)  # type: ignore[attr-defined]

    monkeypatch.setattr(FakePdu, "_read", broken)
    results = {r.node: r for r in Fencer(Inventory([a, b], "/test"), timeout=1).status(["n", "m"])}
    assert (results["n"].result, results["n"].state) == (OK, ON)
    assert (results["m"].result, results["m"].state) == (FAILED, UNKNOWN)
    assert results["m"].message == "b: internal error: KeyError: 'oops'"


@pytest.mark.usefixtures("quick_retries")
def test_on_failed_counts_an_outlet_not_yet_read_back_on_as_a_reset_failure() -> None:
    a, ta = device("a", {"db": ["1"]})
    b, tb = device("b", {"db": ["1"]})
    ta.late["1"] = 3

    def lose_b(outlet: str, state: str) -> None:
        if state == OFF:  # b's session dies at the on command, and b refuses the new login
            tb.drop_session_before_on = True
            tb.auth_fail = True

    tb.after_switch = lose_b
    result = Fencer(Inventory([a, b], "/test"), timeout=2).run(argv("reset"), ["db"])[0]
    assert result.result == ON_FAILED
    assert result.exit_code == ExitCode.S_RESETFAIL  # a's outlet never read on: worse than b's refusal
    assert "b: bad password" in result.message


# -- every part of a device's work gets its verdict, whatever finished before it ----------------------


def test_a_device_failure_fails_every_node_still_waiting_on_it(monkeypatch) -> None:

    monkeypatch.setattr(engine, "RETRY_BACKOFF", ())
    a, ta = device("a", {"early": ["1"], "late": ["2"]})
    ta.late["2"] = 100
    ta.garbled = {3, 4}  # after "early" read back off, the session dies
    results = Fencer(Inventory([a], "/test"), timeout=2).run("off", ["early", "late"])
    assert results[0].result == OK
    assert results[1].result == FAILED and results[1].exit_code == ExitCode.S_OOPS
    assert "a: garbled status answer (read 4)" in results[1].message


def test_the_deadline_fails_every_node_still_waiting_after_one_that_finished() -> None:
    a, ta = device("a", {"early": ["1"], "late": ["2"]})
    ta.stuck.add("2")
    results = Fencer(Inventory([a], "/test"), timeout=0.25).run("off", ["early", "late"])
    assert results[0].result == OK
    assert results[1].result == FAILED and results[1].state == ON
    assert re.search(r"a: outlet 2 \(outlet2\): still on after 0\.\d s", results[1].message)


def test_an_interrupt_stops_the_on_of_every_node_after_one_that_finished() -> None:
    a, ta = device("a", {"early": ["1"], "late": ["2"]}, settle=0.1)
    ta.late["2"] = 3  # "late" reads back off after "early" is back on
    fencer = Fencer(Inventory([a], "/test"), timeout=2)
    ta.after_switch = lambda outlet, state: fencer.interrupt() if state == ON else None
    results = fencer.run(argv("reset"), ["early", "late"])
    assert results[0].result == OK  # its on was given before the interrupt
    assert results[1].result == ON_FAILED and "interrupted after the verified off" in results[1].message
    assert switched(ta, "2") == [OFF]


def test_a_device_that_answers_after_its_node_failed_switches_nothing(monkeypatch) -> None:

    monkeypatch.setattr(engine, "RETRY_BACKOFF", (0.2,) * 4)
    a, ta = device("a", {"db": ["1"], "other": ["2"]})
    b, tb = device("b", {"db": ["1"]})
    ta.flaky_connects = 1  # a answers late ...
    tb.auth_fail = True  # ... after b has failed the node
    ta.late["2"] = 3  # and keeps working for another node meanwhile
    results = Fencer(Inventory([a, b], "/test"), timeout=2).run("reset", ["db", "other"])
    result = results[0]
    assert result.result == FAILED and result.exit_code == ExitCode.S_ACCESS
    assert results[1].result == OK
    assert switched(ta, "1") == [] and ta.connects == 1
    assert sorted((d.device, d.phase) for d in result.devices) == [("a", "off"), ("b", "off")]  # once each


def test_an_on_that_does_not_read_back_counts_from_the_on_command_not_the_settle() -> None:
    a, ta = device("a", {"n": ["1"]}, settle=0.4)

    def never_on(outlet: str, state: str) -> None:
        if state == OFF:
            ta.lost_commands = 1

    ta.after_switch = never_on
    result = Fencer(Inventory([a], "/test"), timeout=0.7).run("reset", ["n"])[0]
    assert result.result == ON_FAILED
    assert re.search(r"a: outlet 1 \(outlet1\): still off after 0\.[1-4] s", result.message)


def test_a_session_is_closed_as_soon_as_its_device_is_done() -> None:
    a, ta = device("a", {"n": ["1"]})
    b, tb = device("b", {"m": ["1"]})
    tb.late["1"] = 3
    open_sessions: dict[str, int] = {}

    def progress(result) -> None:
        if result.node == "m":  # b is done long after a
            open_sessions["a"] = ta.sessions

    results = Fencer(Inventory([a, b], "/test"), timeout=2, progress=progress).run("off", ["n", "m"])
    assert [r.result for r in results] == [OK, OK]
    assert open_sessions == {"a": 0}


def test_targets_follow_the_inventory_whatever_the_outlets() -> None:
    a, _ = device("a", {"db": ["5"]})
    b, _ = device("b", {"db": ["1"]})
    assert [t.device.name for t in Fencer(Inventory([a, b], "/test")).plan.targets("DB")] == ["a", "b"]


def test_a_device_that_takes_any_host_name_switches_the_configured_name() -> None:
    info = DriverInfo(
        "anyhost",
        shortdesc="Any host",
        description="Outlets are host names",
        fields=FakePdu.INFO.fields,
        capabilities=Capabilities(multi=True, sessions=1, any_host=True),
    )
    a, ta = device("a", {"web1": ["web1"]})
    a.driver = type("AnyHostPdu", (DRIVER,), {"INFO": info})({"unit": a.driver.config["unit"]})
    ta.names.clear()  # the device lists nothing
    ta.state = {"web1": ON}
    result = Fencer(Inventory([a], "/test"), timeout=2).run("off", ["web1"])[0]
    assert result.result == OK and switched(ta, "web1") == [OFF]


def test_an_on_failed_node_whose_other_feed_is_on_is_reported_on() -> None:
    a, _ = device("a", {"db": ["1"]})
    b, tb = device("b", {"db": ["1"]})

    def lose_b_on(outlet: str, state: str) -> None:
        if state == OFF:
            tb.lost_commands = 1  # b's relay does not close again; a's does

    tb.after_switch = lose_b_on
    inventory = Inventory([a, b], "/test")
    result = Fencer(inventory, timeout=0.3).run("reset", ["db"])[0]
    assert result.result == ON_FAILED
    assert Fencer(inventory, timeout=1).status(["db"])[0].state == ON
    assert result.state == ON  # as status says: a node with an outlet on has power


# -- status through a reader (the service shares one read of a device among its requests) ---------------


def test_status_through_a_reader_opens_no_session() -> None:
    a, ta = device("a", {"n": ["1", "2"]})
    asked: list[str] = []

    def reader(entry: DeviceEntry, deadline: Deadline) -> list[tuple[Outlet, str]]:
        asked.append(entry.name)
        assert deadline.remaining() > 0
        return [(Outlet("1", "outlet1"), OFF), (Outlet("2", "outlet2"), argv(OFF))]

    result = Fencer(Inventory([a], "/test"), timeout=1).status(["n"], reader=reader)[0]
    assert (result.result, result.state) == (OK, OFF)
    assert asked == ["a"] and ta.connects == 0


def test_a_reader_that_fails_makes_only_its_devices_nodes_unknown() -> None:
    from stonith.contract.errors import Unreachable

    a, _ = device("a", {"n": ["1"]})
    b, _ = device("b", {"m": ["1"]})
    c, _ = device("c", {"k": ["1"]})

    def reader(entry: DeviceEntry, deadline: Deadline) -> list[tuple[Outlet, str]]:
        if entry.name == "b":
            raise Unreachable("no route to b")
        if entry.name == "c":
            raise KeyError("reader bug")
        return [(Outlet("1", "outlet1"), ON)]

    results = {r.node: r for r in Fencer(Inventory([a, b, c], "/test"), timeout=1).status(reader=reader)}
    assert (results["n"].result, results["n"].state) == (OK, ON)
    assert (results["m"].state, results["m"].message) == (UNKNOWN, "b: no route to b")
    assert (results["k"].state, results["k"].message) == (
        UNKNOWN,
        "c: internal error: KeyError: 'reader bug'",
    )


def test_readers_of_several_devices_run_at_once() -> None:
    import time

    devices = [device(f"d{i}", {f"n{i}": ["1"]})[0] for i in range(3)]

    def reader(entry: DeviceEntry, deadline: Deadline) -> list[tuple[Outlet, str]]:
        time.sleep(0.3)  # a blocking read, as the service's shared reads are
        return [(Outlet("1", "outlet1"), ON)]

    started = time.monotonic()
    results = Fencer(Inventory(devices, "/test"), timeout=2).status(reader=reader)
    assert [r.state for r in results] == [ON, ON, ON]
    assert time.monotonic() - started < 0.75  # not one after the other


def test_a_name_two_devices_report_fails_only_that_node_and_switches_nothing() -> None:
    a, ta = device("a", None, names=["web1", "db1"])
    b, tb = device("b", None, names=["db1", "x"])
    results = Fencer(Inventory([a, b], "/test"), timeout=2).run("off", ["db1", "web1"])
    assert (results[0].result, results[0].exit_code) == (FAILED, ExitCode.S_BADCONFIG)
    assert "several devices (a, b)" in results[0].message
    assert results[1].result == OK
    assert switched(ta, "2") == [] and tb.events == []


# -- what a history timeline and a live progress view are told ----------------------------------------


def test_each_phase_is_reported_as_it_ends_with_its_wall_clock_times() -> None:
    """The phases callback gets every node's off, then its on, as they end; each device result says
    when the phase began and when its verdict came, the settle lying between the two phases."""
    a, _ = device("a", {"n": ["1", "2"]}, settle=0.2)
    seen: list[tuple[str, str, int, bool, list[str]]] = []

    def phases(node, phase, level, reached, devices) -> None:  # type: ignore[no-untyped-def]
        seen.append((node, phase, level, reached, [d.device for d in devices]))

    result = Fencer(Inventory([a], "/test"), timeout=3, phases=phases).run("reset", ["n"])[0]
    assert result.result == OK
    assert seen == [("n", "off", 1, True, ["a"]), ("n", "on", 1, True, ["a"])]
    off, on = result.devices
    assert off.started <= off.finished <= on.started <= on.finished
    assert on.started - off.finished >= 0.2 - 0.02  # the settle, counted from the off read back
    assert set(off.as_dict()) >= {"started", "finished"}


def test_a_failed_phase_is_reported_with_its_verdict_time() -> None:
    a, ta = device("a", {"n": ["1"]})
    ta.stuck.add("1")
    reached: list[bool] = []
    result = Fencer(
        Inventory([a], "/test"), timeout=0.3, phases=lambda n, p, lv, ok, ds: reached.append(ok)
    ).run("off", ["n"])[0]
    assert result.result == FAILED and reached == [False]
    (off,) = result.devices
    assert off.finished - off.started >= 0.25  # polled until the deadline


def test_connected_groups_keys_that_share_a_name_in_first_seen_order() -> None:
    from stonith.fencing.engine import connected

    links = {"n1": ["a"], "n2": ["b"], "db1": ["a", "b"], "n3": ["c"], "lone": [], "n4": ["c", "d"]}
    assert connected(links) == [["n1", "n2", "db1"], ["n3", "n4"], ["lone"]]

"""The baytech driver against the BayTech mock, through our CLI and through independent peers.

Peers (``require_peer``): Debian's cluster-glue ``baytech`` C plugin (/usr/sbin/stonith, which
only speaks to port 23, hence a mock on 127.0.0.N:23 and root) and PowerMan's powermand with the
shipped ``baytech.dev`` / ``baytech-rpc3-nc.dev`` scripts.  Both run unmodified against the same
mock our driver is tested with, so the mock's dialogue is checked by third parties.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stonith.drivers.baytech import MODELS, Baytech, parse_status

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN
from stonith.contract.errors import BadConfig, StonithError
from tests.conftest import require_peer
from tests.drivers import console_suite as suite

# Shared with the other console drivers' tests; other test files import them from here too.
from tests.drivers.console_suite import FakeStream as FakeStream
from tests.drivers.console_suite import changes as changes
from tests.drivers.console_suite import eventually as eventually
from tests.drivers.console_suite import free_port as free_port
from tests.drivers.console_suite import pm as pm
from tests.drivers.console_suite import pm_states as pm_states

PERSONALITIES = ("rpc3", "rpc3a", "rpc5", "rpc3-nc", "rpc28-nc")
NAMES = suite.NAMES  # node1 has two supplies
USER, PASSWORD = "admin", "s3cret"
BAYTECH = suite.Console("baytech", PERSONALITIES, login=USER, password=PASSWORD, plugin_timeout=60)
mock_for = BAYTECH.mock
glue = BAYTECH.glue


# ---------------------------------------------------------------------------------------------
# Status-table parsing


@pytest.mark.parametrize("model", PERSONALITIES)
def test_parse_screens_of_every_personality(model):
    from stonith.mocks import baytech as mock_baytech
    from stonith.mocks._common import MockConfig

    config = MockConfig(
        "baytech",
        model,
        names=mock_baytech.default_names(model, 4),
        states=[ON, OFF, ON, ON],
        username=USER,
        password=PASSWORD,
    )
    config.names[2] = "web server"
    device = mock_baytech.create(config)
    try:
        screen = device._screen() if device.personality.menus else device._nc_status()
    finally:
        device.close()
    key = {"rpc3": "RPC-3", "rpc3a": "RPC-3A", "rpc5": "RPC-5", "rpc3-nc": "RPC3-NC", "rpc28-nc": "RPC-28"}[
        model
    ]
    table = parse_status(screen.encode("latin-1"), MODELS[key])
    assert table["1"] == (config.names[0], ON)
    assert table["2"][1] == OFF
    assert table["3"] == ("web server", ON)
    assert list(table) == ["1", "2", "3", "4"]


def test_unparseable_state_is_unknown():
    row = b"      1       node1       1       Maybe \r\n      2       node2       2       On  \r\n"
    assert parse_status(row, MODELS["RPC-3"]) == {"1": ("node1", UNKNOWN), "2": ("node2", ON)}
    assert parse_status(b" 1)...node1           : ???          \r\n", MODELS["RPC3-NC"]) == {
        "1": ("node1", UNKNOWN)
    }


@given(st.binary(max_size=600), st.sampled_from(sorted(MODELS)))
def test_parser_never_raises(data, model):
    table = parse_status(data, MODELS[model])
    assert all(state in (ON, OFF, UNKNOWN) for _, state in table.values())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.binary(max_size=80)
        | st.sampled_from(
            [
                b"RPC-3 Telnet Host",
                b"Enter username>",
                b"Enter password>",
                b"Enter Selection>",
                b"  RPC-3>",
                b"RPC3-NC>",
                b"(Y/N)>",
                b"Input error",
                b"Invalid password",
                b"RPC-28A>",
                b"RPC-9 Series",
                b"      1       node1       1       On  \r\n",
            ]
        ),
        max_size=12,
    )
)
def test_driver_meets_arbitrary_output_with_typed_errors_only(chunks):
    """Garbage from the device: a typed error with a documented exit code, no switching command
    ever (listing only reads), and the password only to a device that asked for it."""

    def log_in_then_list(driver, stream):
        driver._stream = stream
        driver._login(stream, Deadline(1), wake=False)
        driver.outlets(Deadline(1))

    driver = Baytech({"ipaddr": "127.0.0.1", "login": "a", "password": "pw-fuzz"})
    stream, _ = suite.meet_arbitrary_output(driver, chunks, log_in_then_list)
    assert not re.search(rb"(?i)\b(on|off|reboot)\s*\d", stream.sent), stream.log
    assert stream.sent_after(b"pw-fuzz", b"password>"), stream.log


def test_ipaddr_or_ttydev_is_required():
    with pytest.raises(BadConfig) as caught:
        Baytech({"login": "x"})
    assert caught.value.problems[0].field == "ipaddr"
    suite.check_required_parameter(BAYTECH, ["login=x", "password=y"], "ipaddr")


# ---------------------------------------------------------------------------------------------
# Our driver through our CLI, every personality, TCP and serial


@pytest.mark.parametrize("link", ["tcp", "serial"])
@pytest.mark.parametrize("model", PERSONALITIES)
def test_cli_list_status_off_on_reset(model, link, tmp_path):
    serial = str(tmp_path / "tty") if link == "serial" else None
    with mock_for(model, serial_link=serial) as mock:
        suite.check_list_status_off_on_reset(BAYTECH, mock, NAMES, "web server")


def _recording(driver):
    sent = []
    command = driver._command

    def record(text, deadline):
        sent.append(text)
        return command(text, deadline)

    driver._command = record
    return sent


@pytest.mark.parametrize("model", ["rpc3", "rpc3-nc"])
def test_every_outlet_at_once_is_one_command_and_a_subset_is_one_per_outlet(model):
    from stonith.fencing import engine

    with mock_for(model) as mock:
        driver = Baytech(
            {"ipaddr": mock.address, "login": USER, "password": PASSWORD}
            if mock.address
            else {"ttydev": mock.serial, "login": USER, "password": PASSWORD}
        )
        deadline = Deadline(20)

        def body(driver, deadline):
            everything = driver.outlets(deadline)
            sent = _recording(driver)
            driver.off_many(everything, deadline)
            # PowerMan's *_all rule, after a second table agrees that these are all the outlets
            assert sent == ["status", "off 0"]
            count = len(everything)
            eventually(lambda: all(mock.state(n) == OFF for n in range(1, count + 1)))
            sent.clear()
            driver.on_many(everything[:2], deadline)
            assert sent == ["on 1", "on 2"]
            eventually(lambda: [mock.state(n) for n in range(1, 5)] == [ON, ON, OFF, OFF])
            # A table that lost rows (line noise) must not pass for the whole device.
            driver._listed = frozenset({"3", "4"})
            sent.clear()
            driver.on_many(everything[2:4], deadline)
            assert sent == ["status", "on 3", "on 4"]
            return count

        count = engine.call(engine.one_device(driver).devices[0], deadline, body)
        eventually(lambda: [mock.state(n) for n in range(1, count + 1)] == [ON] * 4 + [OFF] * (count - 4))


@pytest.mark.parametrize("model", ["rpc3", "rpc5", "rpc3-nc"])
def test_the_login_screen_is_the_first_table_and_never_a_read_back(model):
    """Menu firmware shows the Outlet Control table on entering it: the listing needs no "status"
    of its own; a table after any command (a switch) is always asked for."""
    from stonith.fencing import engine

    with mock_for(model) as mock:
        driver = Baytech({"ipaddr": mock.address, "login": USER, "password": PASSWORD})

        def body(driver, deadline):
            sent = _recording(driver)
            everything = driver.outlets(deadline)
            menus = model != "rpc3-nc"
            assert sent == ([] if menus else ["status"])
            assert [o.name for o in everything[:2]] == NAMES[:2]
            sent.clear()
            driver.off(everything[3], deadline)
            eventually(lambda: mock.state(4) == OFF)
            assert driver.status(everything[3], deadline) == OFF  # read back: asked, never the screen
            assert sent == ["off 4", "status"]

        engine.call(engine.one_device(driver).devices[0], Deadline(20), body)


def test_unknown_host_is_badhost():
    suite.check_off_is_badhost(BAYTECH, "rpc3", "nosuchnode")


# ---------------------------------------------------------------------------------------------
# Failures: never success, never a traceback, always within the deadline


def test_wrong_password_is_s_access_with_one_line():
    suite.check_wrong_password_is_one_line_s_access(BAYTECH, "rpc5")


def test_unreachable_device_fails_fast():
    suite.check_unreachable_device_fails_fast(BAYTECH)


FAULTS = [
    ("rpc3", "silent", (6,)),
    ("rpc3", "silent=300", (6,)),
    ("rpc3-nc", "silent=200", (6,)),
    ("rpc3", "drop-after=150", (8,)),
    ("rpc3", "drop-after=700", (8,)),
    ("rpc28-nc", "drop-after=900", (8,)),
    ("rpc3", "garble", (8,)),
    ("rpc5", "garble=400", (8,)),
    ("rpc3a", "refuse-login", (2,)),
    ("rpc3", "stuck=1", (5, 6)),  # S_TIMEOUT when the deadline ends inside the last read-back
    ("rpc3-nc", "stuck=4", (5, 6)),
]


@pytest.mark.parametrize(("model", "fault", "codes"), FAULTS)
def test_every_fault_fails_within_the_deadline(model, fault, codes):
    suite.check_fault_fails_within_the_deadline(BAYTECH, model, fault, codes)


def test_second_session_is_busy_not_success():
    suite.check_second_session_is_busy_not_success(BAYTECH, "rpc3")


def test_lying_acknowledgement_is_caught_by_read_back():
    # The device acknowledges the off but the relay stays on: reading back exposes it.
    with mock_for("rpc3", faults=["lie=2"]) as mock:
        result = glue(mock, "-T", "off", "node2", timeout="2")
        assert result.returncode in (5, 6), result.stderr
        assert mock.state(2) == ON and changes(mock, 2) == []


def test_lying_status_is_invisible_to_any_single_channel_client_but_truth_shows_it():
    # A device that *reports* off while the relay stays on cannot be caught by reading it back;
    # the mock's ground truth shows it, which is what hwtests' invariants check.
    with mock_for("rpc3", faults=["lie-status=2"]) as mock:
        result = glue(mock, "-T", "off", "node2")
        assert result.returncode == 0
        assert mock.state(2) == ON and changes(mock, 2) == []


# ---------------------------------------------------------------------------------------------
# Peer 1: Debian's cluster-glue baytech plugin, unmodified, on 127.0.0.N:23


@pytest.mark.peer
@pytest.mark.parametrize("model", ["rpc3", "rpc5"])
def test_cluster_glue_plugin_against_mock(model):
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    names = ["node1", "node2", "web server"]
    with BAYTECH.mock_on_port_23(model, names=names) as mock:
        suite.check_glue_plugin_lists_and_resets(BAYTECH, stonith, mock, names, "node2", [2], [1])


# ---------------------------------------------------------------------------------------------
# Peer 2: PowerMan's powermand with the shipped BayTech scripts, unmodified


@pytest.mark.peer
def test_powermand_with_baytech_scripts(tmp_path):
    old = mock_for("rpc3", names=[], confirm=False, password_only=True, password="baytech")
    nc = mock_for("rpc3-nc", names=[])
    with old as m_old, nc as m_nc:
        config = [
            'include "/etc/powerman/baytech.dev"',
            'include "/etc/powerman/baytech-rpc3-nc.dev"',
            f'device "bold" "baytech" "{m_old.address}"',
            f'device "bnc" "baytech-rpc3-nc" "{m_nc.address}"',
            'node "m[1-8]" "bold" "[1-8]"',
            'node "n[1-8]" "bnc"',
        ]
        with suite.powermand(tmp_path, config, devices=2, wait=10) as (pm_bin, port):
            off = {"m2": (m_old, 2), "n3": (m_nc, 3)}
            cycle = {"m5": (m_old, 5), "n6": (m_nc, 6)}
            suite.check_powerman_off_on_cycle(pm_bin, port, 16, off, cycle, still_on="m1")


@pytest.mark.parametrize("fault", ["silent", "silent=30"])
def test_silent_port_message_says_how_long_was_waited(monkeypatch, fault):
    """A port that never shows its banner fails "within N s" after N s, not after N + WAKE_AFTER
    (it said "within 10 s" after 12 s: the Enter sent after 2 s started a fresh 10 s)."""
    from stonith.drivers import baytech

    monkeypatch.setattr(baytech, "BANNER_STEP", 2.0)
    monkeypatch.setattr(baytech, "WAKE_AFTER", 0.8)
    with mock_for("rpc3", faults=[fault]) as mock:
        driver = Baytech({"ipaddr": mock.address, "login": "admin", "password": "pw"})
        start = time.monotonic()
        with pytest.raises(StonithError) as info:
            driver.connect(Deadline(30))
        took = time.monotonic() - start
    said = float(re.search(r"within (\d+(?:\.\d+)?) s", str(info.value))[1])
    assert said == 2.0 and said - 0.1 <= took <= said + 0.5, (took, str(info.value))
    assert "Enter sent after 0.8 s" in str(info.value)

"""The apcmaster driver against the APC MasterSwitch mock, through our CLI and independent peers.

Peers: Debian's cluster-glue ``apcmaster`` C plugin (port 23 only: a mock on 127.0.0.N:23, root),
fence-agents' ``fence_apc`` (telnet mode, through /usr/bin/telnet) and PowerMan's powermand with the
shipped ``apcnew.dev`` (AP9211) and ``apc.dev`` (MasterSwitch Plus) scripts, all unmodified.

cluster-glue's plugin cannot log in to a faithful mock: it waits for the telnet *client's*
``Escape character is '^]'.`` line, which a MasterSwitch never sends (cluster-glue-cli.md section
13, item 1).  ``test_cluster_glue_cannot_log_in_to_a_faithful_masterswitch`` asserts that failure
mode; the rest of its dialogue is proven with the mock's ``--client-banner`` crutch, and the
device dialogue itself with fence_apc and PowerMan, which need no crutch.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stonith.drivers.apcmaster import ApcMaster, parse_outlets

from stonith.contract.driver import OFF, ON, UNKNOWN
from tests.conftest import require_peer
from tests.drivers import console_suite as suite
from tests.drivers.console_suite import changes, eventually

MODELS = ("ap9211", "msp")
NAMES = suite.NAMES  # node1 has two supplies
USER, PASSWORD = "apc", "s3cret"
APC = suite.Console("apcmaster", MODELS, login=USER, password=PASSWORD)
mock_for = APC.mock
glue = APC.glue


# ---------------------------------------------------------------------------------------------
# Screen parsing


@pytest.mark.parametrize("model", MODELS)
def test_parse_the_outlet_list_of_every_personality(model):
    from stonith.mocks import apcmaster as mock_apc
    from stonith.mocks._common import MockConfig

    config = MockConfig(
        "apcmaster",
        model,
        names=["node1", "a name of 23 characters", "x", "node1", *mock_apc.default_names(model, 8)[4:]],
        states=[ON, OFF, ON, ON, ON, ON, ON, ON],
        username=USER,
        password=PASSWORD,
    )
    device = mock_apc.create(config)
    try:
        stack = ["main", "dm", "switch"] if device.personality.switch_level else ["main", "dm"]
        screen = device._screen(stack).encode("latin-1")
        switches = device._screen(["main", "dm"]).encode("latin-1")
    finally:
        device.close()
    table = parse_outlets(screen)
    assert table["1"] == ("node1", ON)
    assert table["2"] == ("a name of 23 characters", OFF)
    assert table["3"] == ("x", ON)
    assert list(table) == [str(n) for n in range(1, 9)]  # not "9- Master Control/Configuration"
    if model == "msp":
        assert parse_outlets(switches) == {}


def test_unreadable_state_is_unknown():
    screen = (
        b"\r\n------- Device Manager ---\r\n\r\n"
        b"     1- node1                   ??\r\n     2- node2   OFF\r\n\r\n"
    )
    assert parse_outlets(screen) == {"1": ("node1                   ??", UNKNOWN), "2": ("node2", OFF)}


@given(st.binary(max_size=600))
def test_parser_never_raises(data):
    assert all(state in (ON, OFF, UNKNOWN) for _, state in parse_outlets(data).values())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.binary(max_size=80)
        | st.sampled_from(
            [
                b"\r\nUser Name : ",
                b"\r\nPassword  : ",
                b"American Power Conversion  AOS v3.3.3\r\n",
                b"\r\n> ",
                b"------- Device Manager ---\r\n\r\n",
                b"     1- node1                   ON\r\n",
                b"------- Outlet 1 ---\r\n     1- Control Outlet\r\n",
                b"     2- Immediate Off\r\n",
                b"Enter 'YES' to continue or <ENTER> to cancel : ",
                b"Command successfully issued.",
                b"Press <ENTER> to continue...",
            ]
        ),
        max_size=14,
    )
)
def test_driver_meets_arbitrary_output_with_typed_errors_only(chunks):
    from stonith.drivers.apcmaster import CONFIRM, SUCCESS

    driver = ApcMaster({"ipaddr": "127.0.0.1", "login": "a", "password": "pw-fuzz"})
    stream, switched = suite.meet_arbitrary_output(driver, chunks, suite.log_in_then_off_outlet_1)
    # Judged by the command log: the switch is confirmed (YES) only at the device's question, the
    # password goes only to its prompt, and a success is only claimed when the device said so.
    assert stream.sent_after(b"YES", CONFIRM), stream.log
    assert stream.sent_after(b"pw-fuzz", b"Password  :"), stream.log
    assert not switched or SUCCESS.search(stream.shown), stream.log


def test_required_parameters():
    suite.check_required_parameter(APC, ["ipaddr=127.0.0.1"], "login")


# ---------------------------------------------------------------------------------------------
# Our driver through our CLI: the conformance scenarios of every driver


@pytest.mark.parametrize("model", MODELS)
def test_cli_list_status_off_on_reset(model):
    # Every outlet of the node (cluster-glue's apcmaster switches only the last match).
    with mock_for(model) as mock:
        suite.check_list_status_off_on_reset(APC, mock, NAMES, "web server")


def test_one_session_per_operation_even_for_on_and_off():
    # cluster-glue opens a second session for on/off; a one-session MasterSwitch refuses it.
    with mock_for("ap9211", sessions=1) as mock:
        assert glue(mock, "-T", "off", "node2").returncode == 0
        assert mock.state(2) == OFF


def test_unknown_host_is_badhost():
    suite.check_off_is_badhost(APC, "ap9211", "nosuchnode")


def test_wrong_password_is_s_access_and_not_retried():
    suite.check_wrong_password_is_one_line_s_access(APC, "msp")


def test_unreachable_device_fails_fast():
    suite.check_unreachable_device_fails_fast(APC)


# A dropped or garbled session is tried again (stonith.fencing.engine.RETRY_BACKOFF) while the deadline
# leaves time for it: the last attempt's error is the device's (8), or, when a busy machine makes
# that attempt outlast the 2 s deadline, the deadline's (6).  Either is a failure in time.
FAULTS = [
    ("ap9211", "silent", (6,)),
    ("ap9211", "silent=400", (6,)),
    ("msp", "silent=900", (6,)),
    ("ap9211", "drop-after=40", (8, 6)),
    ("ap9211", "drop-after=700", (8, 6)),
    ("msp", "drop-after=1500", (8, 6)),
    ("ap9211", "garble", (8, 6)),
    ("msp", "garble=300", (8, 6)),
    ("ap9211", "refuse-login", (2,)),
    ("ap9211", "stuck=1", (5, 6)),
    ("msp", "lie=4", (5, 6)),
]


@pytest.mark.parametrize(("model", "fault", "codes"), FAULTS)
def test_every_fault_fails_within_the_deadline(model, fault, codes):
    suite.check_fault_fails_within_the_deadline(APC, model, fault, codes)


def test_second_session_is_busy_not_success():
    suite.check_second_session_is_busy_not_success(APC, "ap9211")


# ---------------------------------------------------------------------------------------------
# Peer 1: Debian's cluster-glue apcmaster plugin, unmodified, on 127.0.0.N:23


@pytest.mark.peer
@pytest.mark.slow
def test_cluster_glue_cannot_log_in_to_a_faithful_masterswitch():
    # cluster-glue's bug, not the mock's: the plugin waits 10 s for "Escape character is '^]'.",
    # which only a telnet client prints, then retries; its first socket leaks, so the one-session
    # device refuses every retry.  The run fails with exit 1 and never touches an outlet.
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    with APC.mock_on_port_23("ap9211") as mock:
        start = time.monotonic()
        result = APC.run_glue_plugin(stonith, mock, "-S")
        took = time.monotonic() - start
        assert result.returncode == 1, (result.returncode, result.stderr)
        assert took > 10  # at least one full 10 s wait for the telnet client's line
        assert mock.events() == []
    # Our driver logs in to the same faithful device at once.
    with mock_for("ap9211") as mock:
        assert glue(mock, "-S").returncode == 0


@pytest.mark.peer
def test_cluster_glue_plugin_rest_of_dialogue_with_client_banner_crutch():
    # With the telnet client's three lines printed first (not device text), the plugin's menu
    # dialogue runs: -l, -S and -T reset against the AP9211 screens.  Its on/off needs a second
    # concurrent session (sessions=2), and it cycles only the last outlet named after the host.
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    names = ["node1", "node2", "web server", "node2"]
    with APC.mock_on_port_23("ap9211", names=names, client_banner=True, sessions=2) as mock:
        suite.check_glue_plugin_lists_and_resets(APC, stonith, mock, names, "web server", [3], [])
        reset = APC.run_glue_plugin(stonith, mock, "-T", "reset", "node2")
        assert reset.returncode == 0, reset.stderr
        eventually(lambda: changes(mock, 4) == [OFF, ON])
        assert changes(mock, 2) == []  # cluster-glue's last-match-only bug; ours switches both
        suite.check_glue_plugin_switches(APC, stonith, mock, "off", "node1", 1)


# ---------------------------------------------------------------------------------------------
# Peer 2: fence-agents' fence_apc (telnet mode, /usr/bin/telnet), unmodified


def fence_apc(mock, *args):
    return APC.run_fence_agent("fence_apc", mock, *args)


@pytest.mark.peer
@pytest.mark.slow
def test_fence_apc_against_masterswitch_plus():
    with mock_for("msp") as mock:
        suite.check_fence_agent_list_status_off_on_reboot(fence_apc, mock, relays_follow=False)


@pytest.mark.peer
def test_fence_apc_menu_detection_does_not_fit_the_ap9211():
    # fence_apc's "v2" menu path sends 2 in the Device Manager, where an AP9211 lists outlets:
    # it selects outlet 2 and finds no outlet list.  A limitation of fence_apc, documented here;
    # it switches nothing.
    with mock_for("ap9211") as mock:
        assert fence_apc(mock, "-o", "list").stdout == ""
        status = fence_apc(mock, "-o", "status", "-n", "2")
        assert status.returncode != 0
        assert mock.events() == []


# ---------------------------------------------------------------------------------------------
# Peer 3: PowerMan's powermand with the shipped APC scripts, unmodified (credentials apc/apc)


@pytest.mark.peer
def test_powermand_with_apc_scripts(tmp_path):
    # The scripts' ``expect "> "`` after the Enter at "Press <ENTER> to continue..." matches the
    # "<ENTER> " of that very line, so each script ends one screen ahead of the device and the
    # next status reads the outlet list drawn right after the command (as on a real unit).  With
    # relays that follow at once that list already shows the new state.
    new = mock_for("ap9211", names=[], password="apc", relay_delay=0)
    old = mock_for("msp", names=[], password="apc", relay_delay=0)
    with new as m_new, old as m_old:
        config = [
            'include "/etc/powerman/apcnew.dev"',
            'include "/etc/powerman/apc.dev"',
            f'device "anew" "apcnew" "{m_new.address}"',
            f'device "aold" "apc" "{m_old.address}"',
            'node "a[1-8]" "anew"',
            'node "b[1-8]" "aold"',
        ]
        with suite.powermand(tmp_path, config, devices=2) as (pm_bin, port):
            off = {"a2": (m_new, 2), "b3": (m_old, 3)}
            cycle = {"a5": (m_new, 5), "b6": (m_old, 6)}
            suite.check_powerman_off_on_cycle(pm_bin, port, 16, off, cycle, still_on="a1")

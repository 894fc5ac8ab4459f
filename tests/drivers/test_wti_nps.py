"""The wti_nps driver against the WTI mock, through our CLI and independent peers.

Peers: Debian's cluster-glue ``wti_nps`` C plugin (port 23 only: a mock on 127.0.0.N:23, root),
fence-agents' ``fence_wti`` (telnet mode, through /usr/bin/telnet) and PowerMan's powermand with the
shipped ``wti.dev`` script, all unmodified.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stonith.drivers.wti_nps import WtiNps, parse_status

from stonith.contract.driver import OFF, ON, UNKNOWN
from tests.conftest import require_peer
from tests.drivers import console_suite as suite

MODELS = ("nps", "ips", "tps")
NAMES = suite.NAMES  # node1 has two supplies
PASSWORD = "s3cret"


def names_for(model):
    return NAMES if model != "tps" else NAMES[:2]


WTI = suite.Console("wti_nps", MODELS, login=None, password=PASSWORD, names=names_for)
mock_for = WTI.mock


# ---------------------------------------------------------------------------------------------
# Status-table parsing


@pytest.mark.parametrize("model", MODELS)
def test_parse_the_table_of_every_personality(model):
    from stonith.mocks import wti_nps as mock_wti
    from stonith.mocks._common import MockConfig

    count = mock_wti.default_outlets(model)
    names = ["node1", "a-name-of-16-chr"][:count] + mock_wti.default_names(model, count)[2:]
    config = MockConfig(
        "wti_nps", model, names=names, states=[ON, OFF] + [ON] * (count - 2), username="", password=""
    )
    device = mock_wti.create(config)
    try:
        table = parse_status(device._table().encode("latin-1"))
    finally:
        device.close()
    assert table["1"] == ("node1", ON)
    assert table["2"] == ("a-name-of-16-chr", OFF)
    assert list(table) == [str(n) for n in range(1, count + 1)]


def test_unreadable_state_is_unknown():
    text = (
        b" Plug | Name | Status |\r\n------+------+--------+\r\n"
        b"  1   | n1   |  ??    |\r\n  2   | n2 | OFF |\r\n"
    )
    assert parse_status(text) == {"1": ("n1", UNKNOWN), "2": ("n2", OFF)}


@given(st.binary(max_size=600))
def test_parser_never_raises(data):
    assert all(state in (ON, OFF, UNKNOWN) for _, state in parse_status(data).values())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.binary(max_size=80)
        | st.sampled_from(
            [
                b"\r\nEnter Password: ",
                b"Invalid password",
                b"Network Power Switch v3.02",
                b"\r\nNPS> ",
                b"IPS> ",
                b" Plug | Name             | Status | Boot Delay | Default |\r\n",
                b"  1   | node1            |   ON   |   0.5 Secs |   ON    |\r\n",
                b"\r\n Sure? (Y/N): ",
                b"Processing - please wait ...",
                b"Invalid Plug",
                b"Enter: ",
            ]
        ),
        max_size=14,
    )
)
def test_driver_meets_arbitrary_output_with_typed_errors_only(chunks):
    from stonith.drivers.wti_nps import PROMPT

    driver = WtiNps({"ipaddr": "127.0.0.1", "password": "pw-fuzz"})
    stream, switched = suite.meet_arbitrary_output(driver, chunks, suite.log_in_then_off_outlet_1)
    # Judged by the command log: /OFF only at the switch's prompt, the password only to its
    # prompt, and a success only when the command's answer ended at a prompt of its own.
    assert stream.sent_after(b"/OFF", PROMPT), stream.log
    assert stream.sent_after(b"pw-fuzz", b"Password:"), stream.log
    assert not switched or len(PROMPT.findall(stream.shown)) >= 2, stream.log


def test_required_parameters():
    suite.check_required_parameter(WTI, ["ipaddr=127.0.0.1"], "password")


# ---------------------------------------------------------------------------------------------
# Our driver through our CLI: the conformance scenarios of every driver


@pytest.mark.parametrize("confirm", [True, False])
@pytest.mark.parametrize("model", MODELS)
def test_cli_list_status_off_on_reset(model, confirm):
    with mock_for(model, confirm=confirm) as mock:
        # exactly the named plugs: unnamed "(undefined)" plugs are not hosts
        suite.check_list_status_off_on_reset(WTI, mock, names_for(model), "node2", only_these=True)


def test_no_16_character_prefix_matching():
    # cluster-glue compares the first 16 characters, so a longer host name matches a plug named
    # after its prefix; we compare the whole name and refuse.
    suite.check_off_is_badhost(WTI, "nps", "web-server-number-1", names=["web-server-numbe", "node2"])


def test_unknown_host_is_badhost():
    suite.check_off_is_badhost(WTI, "nps", "nosuchnode")


def test_wrong_password_is_s_access_and_not_retried():
    suite.check_wrong_password_is_one_line_s_access(WTI, "ips")


def test_unreachable_device_fails_fast():
    suite.check_unreachable_device_fails_fast(WTI)


FAULTS = [
    ("nps", "silent", (6,)),
    ("nps", "silent=300", (6,)),
    ("ips", "silent=1200", (6,)),
    ("nps", "drop-after=20", (8,)),
    ("nps", "drop-after=600", (8,)),
    ("ips", "drop-after=1500", (8,)),
    ("nps", "garble", (8,)),
    ("ips", "garble=300", (8,)),
    ("nps", "refuse-login", (2,)),
    ("nps", "stuck=1", (5, 6)),
    ("ips", "lie=4", (5, 6)),
]


@pytest.mark.parametrize(("model", "fault", "codes"), FAULTS)
def test_every_fault_fails_within_the_deadline(model, fault, codes):
    suite.check_fault_fails_within_the_deadline(WTI, model, fault, codes)


def test_second_session_is_busy_not_success():
    suite.check_second_session_is_busy_not_success(WTI, "nps")


# ---------------------------------------------------------------------------------------------
# Peer 1: Debian's cluster-glue wti_nps plugin, unmodified, on 127.0.0.N:23


@pytest.mark.peer
@pytest.mark.parametrize("model", ["nps", "ips"])
def test_cluster_glue_plugin_against_mock(model):
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    names = ["node1", "node2", "web server 1234567", "node2"]
    with WTI.mock_on_port_23(model, names=names) as mock:
        listed = ["node1", "node2", "web server 12345", "node2"]
        suite.check_glue_plugin_lists_and_resets(
            WTI, stonith, mock, listed, "node2", [2, 4], [1, 3], only_these=True
        )
        suite.check_glue_plugin_switches(WTI, stonith, mock, "off", "node1", 1)
        suite.check_glue_plugin_switches(WTI, stonith, mock, "on", "node1", 1)


# ---------------------------------------------------------------------------------------------
# Peer 2: fence-agents' fence_wti (telnet mode, /usr/bin/telnet), unmodified


def fence_wti(mock, *args):
    return WTI.run_fence_agent("fence_wti", mock, *args)


@pytest.mark.peer
def test_fence_wti_against_ips():
    with mock_for("ips") as mock:
        suite.check_fence_agent_list_status_off_on_reboot(fence_wti, mock, relays_follow=True)


@pytest.mark.peer
def test_fence_wti_cannot_read_the_nps_table():
    # fence_wti finds the table by a header line that *starts* with "Plug"; the NPS v3.02 header
    # starts with a blank (" Plug | Name ..."), so fence_wti reports no plug status and switches
    # nothing: its limitation (it names IPS, RSM and MPC units as tested), documented here.
    with mock_for("nps") as mock:
        status = fence_wti(mock, "-o", "status", "-n", "1")
        assert status.returncode == 1 and "Unable to obtain correct plug status" in status.stderr
        assert fence_wti(mock, "-o", "off", "-n", "1").returncode == 1
        assert mock.events() == []


# ---------------------------------------------------------------------------------------------
# Peer 3: PowerMan's powermand with the shipped wti.dev, unmodified (password wti, no confirmation)


@pytest.mark.peer
def test_powermand_with_wti_script(tmp_path):
    with mock_for("nps", names=[], password="wti", confirm=False) as mock:
        config = [
            'include "/etc/powerman/wti.dev"',
            f'device "w" "wti" "{mock.address}"',
            'node "w[1-8]" "w"',
        ]
        with suite.powermand(tmp_path, config, devices=1) as (pm_bin, port):
            off = {"w2": (mock, 2), "w7": (mock, 7)}
            suite.check_powerman_off_on_cycle(pm_bin, port, 8, off, {"w5": (mock, 5)}, still_on="w1")

"""The wti_nps driver against the WTI mock, through our CLI and independent peers.

Peers: Debian's cluster-glue ``wti_nps`` C plugin (port 23 only: a mock on 127.0.0.N:23, root),
fence-agents' ``fence_wti`` (telnet mode, through /usr/bin/telnet) and PowerMan's powermand with the
shipped ``wti.dev`` script, all unmodified.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stonith.drivers.wti_nps import WtiNps, parse_status
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN, Outlet
from stonith.contract.errors import StonithError
from tests.conftest import require_peer, require_root, run_stonith
from tests.drivers.test_baytech import FakeStream, changes, eventually, free_port, pm, pm_states

MODELS = ("nps", "ips", "tps")
NAMES = ["node1", "node2", "web server", "node1"]  # node1 has two supplies
PASSWORD = "s3cret"
FAST = {"relay_delay": 0.05, "reboot_delay": 0.2}


def mock_for(model, **options):
    names = NAMES if model != "tps" else NAMES[:2]
    settings_ = {"model": model, "names": names, "password": PASSWORD, **FAST}
    settings_.update(options)
    return start_mock("wti_nps", **settings_)


def glue(mock, *args, timeout="10", password=PASSWORD):
    result = run_stonith(
        "-t",
        "wti_nps",
        "--timeout",
        timeout,
        f"ipaddr={mock.address}",
        f"password={password}",
        *args,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    return result


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
    stream = FakeStream(chunks)
    switched = False
    try:
        driver._login(stream, Deadline(1))
        driver._stream = stream
        driver.off(Outlet("1", "node1"), Deadline(1))
        switched = True
    except StonithError as exc:
        assert 1 <= exc.exit_code <= 8, exc
    finally:
        driver.disconnect()
    # Judged by the command log: /OFF only at the switch's prompt, the password only to its
    # prompt, and a success only when the command's answer ended at a prompt of its own.
    assert stream.sent_after(b"/OFF", PROMPT), stream.log
    assert stream.sent_after(b"pw-fuzz", b"Password:"), stream.log
    assert not switched or len(PROMPT.findall(stream.shown)) >= 2, stream.log


def test_required_parameters():
    result = run_stonith("-t", "wti_nps", "ipaddr=127.0.0.1", "-l")
    assert result.returncode == 3 and "password" in result.stderr


# ---------------------------------------------------------------------------------------------
# Our driver through our CLI: the conformance scenarios of every driver


@pytest.mark.parametrize("confirm", [True, False])
@pytest.mark.parametrize("model", MODELS)
def test_cli_list_status_off_on_reset(model, confirm):
    with mock_for(model, confirm=confirm) as mock:
        listed = glue(mock, "-l")
        assert listed.returncode == 0, listed.stderr
        expected = NAMES if model != "tps" else NAMES[:2]
        assert listed.stdout.splitlines() == expected  # unnamed "(undefined)" plugs are not hosts
        status = glue(mock, "-S")
        assert status.returncode == 0 and "device OK" in status.stderr

        off = glue(mock, "-T", "off", "NODE1")
        assert off.returncode == 0, off.stderr
        assert mock.state(1) == OFF and mock.state(2) == ON
        on = glue(mock, "-T", "on", "node1")
        assert on.returncode == 0, on.stderr
        assert mock.state(1) == ON
        if model != "tps":
            assert changes(mock, 4) == [OFF, ON]  # every plug of the node

        reset = glue(mock, "-T", "reset", "node2")
        assert reset.returncode == 0, reset.stderr
        assert changes(mock, 2) == [OFF, ON]


def test_no_16_character_prefix_matching():
    # cluster-glue compares the first 16 characters, so a longer host name matches a plug named
    # after its prefix; we compare the whole name and refuse.
    with mock_for("nps", names=["web-server-numbe", "node2"]) as mock:
        result = glue(mock, "-T", "off", "web-server-number-1")
        assert result.returncode == 4
        assert mock.events() == []


def test_unknown_host_is_badhost():
    with mock_for("nps") as mock:
        result = glue(mock, "-T", "off", "nosuchnode")
        assert result.returncode == 4
        assert mock.events() == []


def test_wrong_password_is_s_access_and_not_retried():
    with mock_for("ips") as mock:
        start = time.monotonic()
        result = glue(mock, "-T", "off", "node1", password="wrong")
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "wrong" not in result.stderr
        assert time.monotonic() - start < 3
        assert mock.events() == []


def test_unreachable_device_fails_fast():
    port = free_port()
    result = run_stonith("-t", "wti_nps", "--timeout", "5", f"ipaddr=127.0.0.1:{port}", "password=b", "-S")
    assert result.returncode == 8 and "refused" in result.stderr and "Traceback" not in result.stderr


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
    with mock_for(model, faults=[fault]) as mock:
        start = time.monotonic()
        result = glue(mock, "-T", "off", "node1", timeout="2")
        took = time.monotonic() - start
        assert result.returncode in codes, (result.returncode, result.stderr)
        assert "ERROR" in result.stderr
        assert took < 2 + 1.5
        if fault.startswith(("stuck", "lie")):
            outlet = fault.partition("=")[2]
            assert mock.state(outlet) == ON and changes(mock, outlet) == []


def test_second_session_is_busy_not_success():
    with mock_for("nps") as mock:
        holder = socket.create_connection((mock.host, mock.port))
        try:
            time.sleep(0.2)
            result = glue(mock, "-S", timeout="3")
            assert result.returncode == 2 and "another session" in result.stderr
        finally:
            holder.close()


# ---------------------------------------------------------------------------------------------
# Peer 1: Debian's cluster-glue wti_nps plugin, unmodified, on 127.0.0.N:23


def run_glue_plugin(stonith, mock, *args):
    return subprocess.run(
        [stonith, "-t", "wti_nps", f"ipaddr={mock.host}", f"password={PASSWORD}", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextlib.contextmanager
def mock_on_port_23(model, **options):
    """A mock on a free 127.0.0.N:23: cluster-glue has no port parameter."""
    require_root("cluster-glue's wti_nps plugin only connects to port 23")
    for n in random.sample(range(2, 255), 30):
        context = mock_for(model, listen=f"127.0.0.{n}:23", **options)
        try:
            mock = context.__enter__()
        except (OSError, SystemExit):
            continue  # address in use
        try:
            yield mock
        finally:
            context.__exit__(None, None, None)
        return
    pytest.fail("no free 127.0.0.N:23")


@pytest.mark.peer
@pytest.mark.parametrize("model", ["nps", "ips"])
def test_cluster_glue_plugin_against_mock(model):
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    names = ["node1", "node2", "web server 1234567", "node2"]
    with mock_on_port_23(model, names=names) as mock:
        listed = run_glue_plugin(stonith, mock, "-l")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines() == ["node1", "node2", "web server 12345", "node2"]
        assert run_glue_plugin(stonith, mock, "-S").returncode == 0
        reset = run_glue_plugin(stonith, mock, "-T", "reset", "node2")
        assert reset.returncode == 0, reset.stderr
        eventually(lambda: changes(mock, 2) == [OFF, ON] and changes(mock, 4) == [OFF, ON])
        assert changes(mock, 1) == [] and changes(mock, 3) == []
        off = run_glue_plugin(stonith, mock, "-T", "off", "node1")
        assert off.returncode == 0, off.stderr
        eventually(lambda: mock.state(1) == OFF)
        on = run_glue_plugin(stonith, mock, "-T", "on", "node1")
        assert on.returncode == 0, on.stderr
        eventually(lambda: mock.state(1) == ON)


# ---------------------------------------------------------------------------------------------
# Peer 2: fence-agents' fence_wti (telnet mode, /usr/bin/telnet), unmodified


def fence_wti(mock, *args):
    agent = require_peer("fence_wti", "fence-agents")
    require_peer("telnet", "telnet")
    return subprocess.run(
        [agent, "-a", mock.host, "-u", str(mock.port), "-p", PASSWORD, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.peer
def test_fence_wti_against_ips():
    with mock_for("ips") as mock:
        listed = fence_wti(mock, "-o", "list")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:4] == ["1,node1", "2,node2", "3,web server", "4,node1"]
        status = fence_wti(mock, "-o", "status", "-n", "2")
        assert status.returncode == 0 and "Status: ON" in status.stdout
        off = fence_wti(mock, "-o", "off", "-n", "2")
        assert off.returncode == 0, off.stderr
        assert mock.state(2) == OFF
        status = fence_wti(mock, "-o", "status", "-n", "2")
        assert status.returncode == 2 and "Status: OFF" in status.stdout
        on = fence_wti(mock, "-o", "on", "-n", "2")
        assert on.returncode == 0, on.stderr
        assert mock.state(2) == ON
        reboot = fence_wti(mock, "-o", "reboot", "-n", "3")
        assert reboot.returncode == 0, reboot.stderr
        eventually(lambda: changes(mock, 3) == [OFF, ON])
        assert changes(mock, 1) == []


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
    powermand = require_peer("powermand", "powerman")
    pm_bin = require_peer("pm", "powerman")
    with mock_for("nps", names=[], password="wti", confirm=False) as mock:
        port = free_port()
        conf = tmp_path / "powerman.conf"
        conf.write_text(
            f'listen "127.0.0.1:{port}"\n'
            'include "/etc/powerman/wti.dev"\n'
            f'device "w" "wti" "{mock.address}"\n'
            'node "w[1-8]" "w"\n'
        )
        daemon = subprocess.Popen(
            [powermand, "-f", "-Y", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 15
            while "state=connected" not in pm(pm_bin, port, "-d").stdout:
                assert time.monotonic() < deadline, "powermand did not connect to the mock"
                assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
                time.sleep(0.1)
            states = pm_states(pm_bin, port)
            assert len(states) == 8 and set(states.values()) == {"on"}, states

            assert pm(pm_bin, port, "-0", "w2,w7").returncode == 0
            eventually(lambda: mock.state(2) == OFF and mock.state(7) == OFF)
            states = pm_states(pm_bin, port)
            assert states["w2"] == "off" and states["w7"] == "off" and states["w1"] == "on"

            assert pm(pm_bin, port, "-1", "w2,w7").returncode == 0
            eventually(lambda: mock.state(2) == ON and mock.state(7) == ON)

            assert pm(pm_bin, port, "-c", "w5").returncode == 0
            eventually(lambda: changes(mock, 5) == [OFF, ON])
            assert set(pm_states(pm_bin, port).values()) == {"on"}
        finally:
            # powermand 2.3.27 aborts on SIGTERM when TCP devices exist (fixed in 2.4.0, #118).
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()

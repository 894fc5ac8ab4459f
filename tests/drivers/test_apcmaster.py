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

import contextlib
import random
import signal
import socket
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stonith.drivers.apcmaster import ApcMaster, parse_outlets
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN
from stonith.contract.errors import StonithError
from tests.conftest import require_peer, require_root, run_stonith
from tests.drivers.test_baytech import FakeStream, changes, eventually, free_port, pm, pm_states

MODELS = ("ap9211", "msp")
NAMES = ["node1", "node2", "web server", "node1"]  # node1 has two supplies
USER, PASSWORD = "apc", "s3cret"
FAST = {"relay_delay": 0.05, "reboot_delay": 0.2}


def mock_for(model, **options):
    settings_ = {"model": model, "names": NAMES, "username": USER, "password": PASSWORD, **FAST}
    settings_.update(options)
    return start_mock("apcmaster", **settings_)


def glue(mock, *args, timeout="10", password=PASSWORD):
    result = run_stonith(
        "-t",
        "apcmaster",
        "--timeout",
        timeout,
        f"ipaddr={mock.address}",
        f"login={USER}",
        f"password={password}",
        *args,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    return result


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

    from stonith.contract.driver import Outlet

    driver = ApcMaster({"ipaddr": "127.0.0.1", "login": "a", "password": "pw-fuzz"})
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
    # Judged by the command log: the switch is confirmed (YES) only at the device's question, the
    # password goes only to its prompt, and a success is only claimed when the device said so.
    assert stream.sent_after(b"YES", CONFIRM), stream.log
    assert stream.sent_after(b"pw-fuzz", b"Password  :"), stream.log
    assert not switched or SUCCESS.search(stream.shown), stream.log


def test_required_parameters():
    result = run_stonith("-t", "apcmaster", "ipaddr=127.0.0.1", "-l")
    assert result.returncode == 3 and "login" in result.stderr


# ---------------------------------------------------------------------------------------------
# Our driver through our CLI: the conformance scenarios of every driver


@pytest.mark.parametrize("model", MODELS)
def test_cli_list_status_off_on_reset(model):
    with mock_for(model) as mock:
        listed = glue(mock, "-l")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:4] == ["node1", "node2", "web server", "node1"]
        status = glue(mock, "-S")
        assert status.returncode == 0 and "device OK" in status.stderr

        off = glue(mock, "-T", "off", "NODE1")
        assert off.returncode == 0, off.stderr
        # Every outlet of the node (cluster-glue's apcmaster switches only the last match).
        assert mock.state(1) == OFF and mock.state(4) == OFF and mock.state(2) == ON
        on = glue(mock, "-T", "on", "node1")
        assert on.returncode == 0, on.stderr
        assert mock.state(1) == ON and mock.state(4) == ON

        reset = glue(mock, "-T", "reset", "web server")
        assert reset.returncode == 0, reset.stderr
        assert changes(mock, 3) == [OFF, ON]
        assert changes(mock, 1) == [OFF, ON] and changes(mock, 2) == []


def test_one_session_per_operation_even_for_on_and_off():
    # cluster-glue opens a second session for on/off; a one-session MasterSwitch refuses it.
    with mock_for("ap9211", sessions=1) as mock:
        assert glue(mock, "-T", "off", "node2").returncode == 0
        assert mock.state(2) == OFF


def test_unknown_host_is_badhost():
    with mock_for("ap9211") as mock:
        result = glue(mock, "-T", "off", "nosuchnode")
        assert result.returncode == 4
        assert mock.events() == []


def test_wrong_password_is_s_access_and_not_retried():
    with mock_for("msp") as mock:
        start = time.monotonic()
        result = glue(mock, "-T", "off", "node1", password="wrong")
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "wrong" not in result.stderr
        assert time.monotonic() - start < 3
        assert mock.events() == []


def test_unreachable_device_fails_fast():
    port = free_port()
    result = run_stonith(
        "-t", "apcmaster", "--timeout", "5", f"ipaddr=127.0.0.1:{port}", "login=a", "password=b", "-S"
    )
    assert result.returncode == 8 and "refused" in result.stderr and "Traceback" not in result.stderr


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
    with mock_for("ap9211") as mock:
        holder = socket.create_connection((mock.host, mock.port))
        try:
            time.sleep(0.2)
            result = glue(mock, "-S", timeout="3")
            assert result.returncode == 2 and "another session" in result.stderr
        finally:
            holder.close()


# ---------------------------------------------------------------------------------------------
# Peer 1: Debian's cluster-glue apcmaster plugin, unmodified, on 127.0.0.N:23


def run_glue_plugin(stonith, mock, *args):
    return subprocess.run(
        [stonith, "-t", "apcmaster", f"ipaddr={mock.host}", f"login={USER}", f"password={PASSWORD}", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextlib.contextmanager
def mock_on_port_23(model, **options):
    """A mock on a free 127.0.0.N:23: cluster-glue has no port parameter."""
    require_root("cluster-glue's apcmaster plugin only connects to port 23")
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
@pytest.mark.slow
def test_cluster_glue_cannot_log_in_to_a_faithful_masterswitch():
    # cluster-glue's bug, not the mock's: the plugin waits 10 s for "Escape character is '^]'.",
    # which only a telnet client prints, then retries; its first socket leaks, so the one-session
    # device refuses every retry.  The run fails with exit 1 and never touches an outlet.
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    with mock_on_port_23("ap9211") as mock:
        start = time.monotonic()
        result = run_glue_plugin(stonith, mock, "-S")
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
    with mock_on_port_23("ap9211", names=names, client_banner=True, sessions=2) as mock:
        listed = run_glue_plugin(stonith, mock, "-l")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:4] == names
        assert run_glue_plugin(stonith, mock, "-S").returncode == 0
        reset = run_glue_plugin(stonith, mock, "-T", "reset", "web server")
        assert reset.returncode == 0, reset.stderr
        eventually(lambda: changes(mock, 3) == [OFF, ON])
        reset = run_glue_plugin(stonith, mock, "-T", "reset", "node2")
        assert reset.returncode == 0, reset.stderr
        eventually(lambda: changes(mock, 4) == [OFF, ON])
        assert changes(mock, 2) == []  # cluster-glue's last-match-only bug; ours switches both
        off = run_glue_plugin(stonith, mock, "-T", "off", "node1")
        assert off.returncode == 0, off.stderr
        eventually(lambda: mock.state(1) == OFF)


# ---------------------------------------------------------------------------------------------
# Peer 2: fence-agents' fence_apc (telnet mode, /usr/bin/telnet), unmodified


def fence_apc(mock, *args):
    agent = require_peer("fence_apc", "fence-agents")
    require_peer("telnet", "telnet")
    return subprocess.run(
        [agent, "-a", mock.host, "-u", str(mock.port), "-l", USER, "-p", PASSWORD, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.peer
@pytest.mark.slow
def test_fence_apc_against_masterswitch_plus():
    with mock_for("msp") as mock:
        listed = fence_apc(mock, "-o", "list")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:4] == ["1,node1", "2,node2", "3,web server", "4,node1"]
        status = fence_apc(mock, "-o", "status", "-n", "2")
        assert status.returncode == 0 and "Status: ON" in status.stdout
        off = fence_apc(mock, "-o", "off", "-n", "2")
        assert off.returncode == 0, off.stderr
        assert mock.state(2) == OFF
        status = fence_apc(mock, "-o", "status", "-n", "2")
        assert status.returncode == 2 and "Status: OFF" in status.stdout
        on = fence_apc(mock, "-o", "on", "-n", "2")
        assert on.returncode == 0, on.stderr
        assert mock.state(2) == ON
        reboot = fence_apc(mock, "-o", "reboot", "-n", "3")
        assert reboot.returncode == 0, reboot.stderr
        assert changes(mock, 3) == [OFF, ON] and changes(mock, 1) == []


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
    powermand = require_peer("powermand", "powerman")
    pm_bin = require_peer("pm", "powerman")
    # The scripts' ``expect "> "`` after the Enter at "Press <ENTER> to continue..." matches the
    # "<ENTER> " of that very line, so each script ends one screen ahead of the device and the
    # next status reads the outlet list drawn right after the command (as on a real unit).  With
    # relays that follow at once that list already shows the new state.
    new = mock_for("ap9211", names=[], password="apc", relay_delay=0)
    old = mock_for("msp", names=[], password="apc", relay_delay=0)
    with new as m_new, old as m_old:
        port = free_port()
        conf = tmp_path / "powerman.conf"
        conf.write_text(
            f'listen "127.0.0.1:{port}"\n'
            'include "/etc/powerman/apcnew.dev"\n'
            'include "/etc/powerman/apc.dev"\n'
            f'device "anew" "apcnew" "{m_new.address}"\n'
            f'device "aold" "apc" "{m_old.address}"\n'
            'node "a[1-8]" "anew"\n'
            'node "b[1-8]" "aold"\n'
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
            while pm(pm_bin, port, "-d").stdout.count("state=connected") < 2:
                assert time.monotonic() < deadline, "powermand did not connect to both mocks"
                assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
                time.sleep(0.1)
            states = pm_states(pm_bin, port)
            assert len(states) == 16 and set(states.values()) == {"on"}, states

            assert pm(pm_bin, port, "-0", "a2,b3").returncode == 0
            eventually(lambda: m_new.state(2) == OFF and m_old.state(3) == OFF)
            states = pm_states(pm_bin, port)
            assert states["a2"] == "off" and states["b3"] == "off" and states["a1"] == "on"

            assert pm(pm_bin, port, "-1", "a2,b3").returncode == 0
            eventually(lambda: m_new.state(2) == ON and m_old.state(3) == ON)

            assert pm(pm_bin, port, "-c", "a5,b6").returncode == 0
            eventually(lambda: changes(m_new, 5) == [OFF, ON] and changes(m_old, 6) == [OFF, ON])
            assert set(pm_states(pm_bin, port).values()) == {"on"}
        finally:
            # powermand 2.3.27 aborts on SIGTERM when TCP devices exist (fixed in 2.4.0, #118).
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()

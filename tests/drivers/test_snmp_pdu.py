"""The SNMP PDU drivers against the SNMP mock, net-snmp's snmpd, and fence-agents' fence_apc_snmp.

Peers (``require_peer``): fence-agents' ``fence_apc_snmp`` runs unmodified against our mock (so
the mock's APC tables are checked by a third party), and our drivers run against net-snmp's
``snmpd`` serving an APC rPDU table through tests/drivers/snmpd_apc_pass.py (an agent that shares
no code with ours).  Secrets reach our CLI through the environment (``-E``), never argv.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stonith.drivers import snmp_pdu
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN, Outlet
from stonith.contract.errors import BadConfig, Timeout
from stonith.fencing.device import construct
from tests.conftest import require_peer, run_stonith

FAMILIES = [cls.INFO.name for cls in snmp_pdu.FAMILIES]
NAMES = ["node1", "node2", "web", "node1"]  # node1 has two supplies
COMMUNITY = "s3cret-rw-community"
AUTH_PASS, PRIV_PASS = "auth-pass-123", "priv-pass-456"
USER = f"fencer:SHA:{AUTH_PASS}:AES:{PRIV_PASS}"
HERE = Path(__file__).parent


def mock_for(family, **options):
    settings = {
        "outlets": 4,
        "names": NAMES,
        "community": [COMMUNITY],
        "v3_user": [USER],
        "relay_delay": 0.05,
    }
    settings.update(options)
    return start_mock(family, **settings)


def cli(type_name, address, *args, version="2c", timeout="10", **params):
    """``stonith -t TYPE -E ...`` with every parameter in the environment."""
    env = {"ipaddr": address, "snmp_version": version, "snmp_timeout": "0.5", "snmp_retries": "1"}
    if version == "3":
        env.update(login="fencer", password=AUTH_PASS, snmp_priv_passwd=PRIV_PASS)
    else:
        env["community"] = COMMUNITY
    env.update(params)
    result = run_stonith("-t", type_name, "--timeout", timeout, "-E", *args, env=env)
    assert "Traceback" not in result.stderr
    for secret in (COMMUNITY, AUTH_PASS, PRIV_PASS):
        assert secret not in result.stdout + result.stderr
    return result


def changes(truth, outlet):
    return [e["state"] for e in truth["events"] if e["outlet"] == str(outlet)]


# ---------------------------------------------------------------------------------------------
# Every family through our CLI


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_lists_and_resets_with_ground_truth(family):
    with mock_for(family) as mock:
        listed = cli(family, mock.address, "-l")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == ["node1", "node2", "web", "node1"]
        reset = cli(family, mock.address, "-T", "reset", "node1")
        assert reset.returncode == 0, reset.stderr
        truth = mock.truth()
        assert changes(truth, 1) == ["off", "on"] and changes(truth, 4) == ["off", "on"]
        offs = [e["t"] for e in truth["events"] if e["state"] == "off"]
        ons = [e["t"] for e in truth["events"] if e["state"] == "on"]
        assert max(offs) < min(ons)  # both supplies off before either comes back
        assert changes(truth, 2) == [] and changes(truth, 3) == []
        # snmp_pdu finds the same family from sysObjectID, over v3 authPriv
        off = cli("snmp_pdu", mock.address, "-T", "off", "web", version="3")
        assert off.returncode == 0, off.stderr
        assert mock.state(3) == OFF


@pytest.mark.parametrize("family", ["apcmastersnmp", "apc_rpdu", "sentry3"])
def test_snmp_v1(family):
    with mock_for(family) as mock:
        result = cli(family, mock.address, "-T", "off", "node2", version="1")
        assert result.returncode == 0, result.stderr
        assert mock.state(2) == OFF


def test_apcmastersnmp_keeps_cluster_glue_parameters_and_honours_the_port():
    names = run_stonith("-t", "apcmastersnmp", "-n").stdout.split()
    assert names[:3] == ["ipaddr", "port", "community"]
    with mock_for("apcmastersnmp") as mock:
        result = run_stonith(
            "-t",
            "apcmastersnmp",
            "-E",
            "-l",
            env={"ipaddr": mock.host, "port": str(mock.port), "community": COMMUNITY},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["node1", "node2", "web", "node1"]
        with pytest.raises(BadConfig, match="community"):
            construct("apcmastersnmp", {"ipaddr": mock.host})


def test_autodetect_checks_the_table_not_only_sys_object_id():
    # candidates: the sysObjectID's family first, then the vendor's others, never other vendors
    assert snmp_pdu.candidates((1, 3, 6, 1, 4, 1, 318, 1, 3, 4, 6))[0] is snmp_pdu.ApcRpdu2
    assert set(snmp_pdu.candidates((1, 3, 6, 1, 4, 1, 318, 1, 3, 4, 4))) == {
        snmp_pdu.ApcRpdu,
        snmp_pdu.ApcRpdu2,
        snmp_pdu.ApcMasterSnmp,
    }
    assert snmp_pdu.candidates((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)) == []
    device = construct("snmp_pdu", {"ipaddr": "127.0.0.1", "community": "x"})
    with mock_for("apc_rpdu2") as mock:
        device.driver.config["ipaddr"] = mock.address
        device.driver.host, device.driver.port = mock.host, mock.port
        device.driver.credentials = device.driver._credentials("2c")
        device.driver.credentials.community = COMMUNITY
        device.driver.connect(Deadline(5))
        try:
            assert device.driver.family is snmp_pdu.ApcRpdu2
        finally:
            device.driver.disconnect()


def _driver(mock, family="apc_rpdu", **config):
    device = construct(family, {"ipaddr": mock.address, "community": COMMUNITY, **config})
    return device.driver


def test_24_outlet_status_read_is_one_getbulk():
    with mock_for("apc_rpdu", outlets=24, names=[f"n{i}" for i in range(1, 25)]) as mock:
        driver = _driver(mock)
        driver.connect(Deadline(5))
        try:
            outlets = driver.outlets(Deadline(5))
            assert len(outlets) == 24
            before = mock.truth()["requests"]
            states = driver.status_many(outlets, Deadline(5))
            after = mock.truth()["requests"]
        finally:
            driver.disconnect()
        assert set(states.values()) == {ON} and len(states) == 24
        assert after["getbulk"] - before["getbulk"] == 1
        assert after["requests"] - before["requests"] == 1


def test_several_outlets_switch_in_one_set():
    with mock_for("eaton_epdu", outlets=8) as mock:
        driver = _driver(mock, "eaton_epdu")
        driver.connect(Deadline(5))
        try:
            outlets = driver.outlets(Deadline(5))
            before = mock.truth()["requests"]["set"]
            driver.off_many(outlets[:5], Deadline(5))
            assert mock.truth()["requests"]["set"] - before == 1
        finally:
            driver.disconnect()
        time.sleep(0.2)
        assert [mock.state(n) for n in range(1, 9)] == [OFF] * 5 + [ON] * 3


def test_pending_and_unknown_states_are_never_off():
    with mock_for("sentry3", relay_delay=0.5) as mock:
        driver = _driver(mock, "sentry3")
        driver.connect(Deadline(5))
        try:
            driver.off(Outlet("2"), Deadline(5))
            assert driver.status(Outlet("2"), Deadline(5)) == UNKNOWN  # offWait
            assert driver.status(Outlet("77"), Deadline(5)) == UNKNOWN  # no such outlet
        finally:
            driver.disconnect()


@pytest.mark.parametrize(("fault", "code"), [("stuck=2", 5), ("lie=2", 5)])
def test_a_relay_that_does_not_follow_fails_the_operation(fault, code):
    with mock_for("apc_rpdu", faults=[fault]) as mock:
        start = time.monotonic()
        result = cli("apc_rpdu", mock.address, "-T", "off", "node2", timeout="2")
        assert result.returncode == code, result.stderr
        assert time.monotonic() - start < 4
        assert mock.state(2) == ON


def test_dropped_requests_are_retried():
    with mock_for("apc_rpdu", drop=0.3, seed=3) as mock:  # a seed that drops some of the ~6 requests
        result = cli("apc_rpdu", mock.address, "-T", "reset", "web", snmp_retries="8", snmp_timeout="0.2")
        assert result.returncode == 0, result.stderr
        assert changes(mock.truth(), 3) == ["off", "on"]
        assert mock.truth()["requests"]["dropped"] > 0


@pytest.mark.parametrize("fault", ["refuse-login", "silent=0"])
def test_silent_agent_or_wrong_community_fails_within_the_deadline(fault):
    with mock_for("apc_rpdu", faults=[fault]) as mock:
        start = time.monotonic()
        result = cli("apc_rpdu", mock.address, "-S", snmp_timeout="5", snmp_retries="5", timeout="1.5")
        elapsed = time.monotonic() - start
        assert result.returncode != 0
        assert elapsed < 1.5 + 1.0, elapsed  # the deadline plus our start-up


def test_unreachable_agent_fails_within_timeout_times_tries():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        start = time.monotonic()
        result = cli("apcmastersnmp", f"127.0.0.1:{sock.getsockname()[1]}", "-S", snmp_timeout="0.3")
        elapsed = time.monotonic() - start
    finally:
        sock.close()
    assert result.returncode == 8, result.stderr  # S_OOPS: unreachable
    assert "no answer" in result.stderr
    # timeout x tries, once: the engine does not try a silent agent again (NoAnswer)
    assert elapsed < 0.6 + 1.0, elapsed


def test_driver_operation_respects_its_deadline():
    with mock_for("apc_rpdu", faults=["silent=3"]) as mock:
        driver = _driver(mock, snmp_timeout=5, snmp_retries=5)
        driver.connect(Deadline(5))
        try:
            driver.outlets(Deadline(5))
            driver.status(Outlet("1"), Deadline(5))
            driver.status(Outlet("1"), Deadline(5))
            start = time.monotonic()
            with pytest.raises(Timeout):
                driver.status_many([Outlet("1"), Outlet("2")], Deadline(0.5))
            assert time.monotonic() - start < 0.6
        finally:
            driver.disconnect()


def test_secrets_are_redacted_and_never_in_messages():
    device = construct("apc_rpdu", {"ipaddr": "192.0.2.1", "community": COMMUNITY})
    assert device.current_config()["community"] == "********"
    v3 = construct(
        "sentry4",
        {
            "ipaddr": "192.0.2.1",
            "snmp_version": "3",
            "login": "fencer",
            "password": AUTH_PASS,
            "snmp_priv_passwd": PRIV_PASS,
        },
    )
    assert AUTH_PASS not in repr(v3.driver.credentials) and PRIV_PASS not in str(v3.current_config())
    with pytest.raises(BadConfig) as info:
        construct("sentry4", {"ipaddr": "192.0.2.1", "snmp_version": "3", "login": "u", "password": "short"})
    assert "short" not in str(info.value)
    result = run_stonith(
        "-t",
        "apc_rpdu",
        "-E",
        "-v",
        "-S",
        env={"ipaddr": "127.0.0.1:9", "community": COMMUNITY, "snmp_timeout": "0.1", "snmp_retries": "0"},
    )
    assert COMMUNITY not in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# fence-agents' fence_apc_snmp against our mock


def fence_apc_snmp(mock, action, plug="", version="1"):
    agent = require_peer("/usr/sbin/fence_apc_snmp", "fence-agents")
    lines = [f"action={action}", f"ip={mock.host}", f"ipport={mock.port}", f"snmp_version={version}"]
    if version == "3":
        lines += [
            "username=fencer",
            f"password={AUTH_PASS}",
            "snmp_auth_prot=SHA",
            "snmp_priv_prot=AES",
            f"snmp_priv_passwd={PRIV_PASS}",
            "snmp_sec_level=authPriv",
        ]
    else:
        lines.append(f"community={COMMUNITY}")
    if plug:
        lines.append(f"plug={plug}")
    return subprocess.run(
        [agent], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.peer
@pytest.mark.parametrize(
    ("family", "version"), [("apcmastersnmp", "1"), ("apc_rpdu", "2c"), ("apc_rpdu", "3")]
)
def test_fence_apc_snmp_drives_our_mock(family, version):
    with mock_for(family) as mock:
        listed = fence_apc_snmp(mock, "list", version=version)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == ["1,node1", "2,node2", "3,web", "4,node1"]
        assert fence_apc_snmp(mock, "status", "2", version).returncode == 0
        off = fence_apc_snmp(mock, "off", "node2", version)
        assert off.returncode == 0, off.stderr
        assert mock.state(2) == OFF
        assert fence_apc_snmp(mock, "status", "node2", version).returncode == 2
        on = fence_apc_snmp(mock, "on", "2", version)
        assert on.returncode == 0, on.stderr
        assert mock.state(2) == ON
        reboot = fence_apc_snmp(mock, "reboot", "web", version)
        assert reboot.returncode == 0, reboot.stderr
        truth = mock.truth()
        assert changes(truth, 2) == ["off", "on"] and changes(truth, 3) == ["off", "on"]
        assert mock.state(3) == ON


# ---------------------------------------------------------------------------------------------
# Our drivers against net-snmp's snmpd (an independent agent)


@pytest.fixture
def snmpd(tmp_path):
    exe = require_peer("/usr/sbin/snmpd", "snmpd")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = tmp_path / "state.json"
    conf = tmp_path / "snmpd.conf"
    conf.write_text(
        f"agentAddress udp:127.0.0.1:{port}\n"
        "rocommunity public 127.0.0.1\n"
        f"rwcommunity {COMMUNITY} 127.0.0.1\n"
        f'createUser fencer SHA "{AUTH_PASS}" AES "{PRIV_PASS}"\n'
        "rwuser fencer priv\n"
        "sysObjectID .1.3.6.1.4.1.318.1.3.4.5\n"
        f"pass_persist .1.3.6.1.4.1.318.1.1.12 {shutil.which('python3') or sys.executable} "
        f"{HERE / 'snmpd_apc_pass.py'} {state} 8\n"
    )
    conf.chmod(0o600)
    proc = subprocess.Popen(
        [
            exe,
            "-f",
            "-C",
            "-c",
            str(conf),
            "-Lf",
            str(tmp_path / "snmpd.log"),
            f"--persistentDir={tmp_path / 'persist'}",
            "-p",
            str(tmp_path / "pid"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:
        # Ready once net-snmp's own snmpget reads the pass_persist table: asked through our driver,
        # a fault of the driver would hide here as "did not come up" instead of failing its test.
        snmpget = require_peer("snmpget", "snmp")
        outlet_state = ".1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.1"  # rPDUOutletStatusOutletState.1
        deadline = time.monotonic() + 10
        while True:
            ready = subprocess.run(
                [snmpget, "-v2c", "-c", COMMUNITY, "-t", "0.3", "-r", "0", "-On", address, outlet_state],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "MIBS": ""},
            )
            if ready.returncode == 0 and "No Such" not in ready.stdout:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                log = (tmp_path / "snmpd.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"snmpd did not come up: {ready.stderr.strip()} {ready.stdout.strip()}\n{log}")
            time.sleep(0.2)
        yield address, state
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.peer
@pytest.mark.parametrize("version", ["2c", "3"])
@pytest.mark.parametrize("type_name", ["apc_rpdu", "snmp_pdu"])
def test_our_drivers_against_net_snmp_snmpd(snmpd, type_name, version):
    address, state = snmpd
    listed = cli(type_name, address, "-l", version=version)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [f"node{n}" for n in range(1, 9)]
    reset = cli(type_name, address, "-T", "reset", "node3", version=version)
    assert reset.returncode == 0, reset.stderr
    off = cli(type_name, address, "-T", "off", "node5", version=version)
    assert off.returncode == 0, off.stderr
    truth = json.loads(state.read_text())
    assert changes(truth, 3) == ["off", "on"] and changes(truth, 5) == ["off"]
    assert truth["outlets"]["5"]["state"] == "off"
    status = cli(type_name, address, "-S", version=version)
    assert status.returncode == 0, status.stderr
    assert os.path.exists(state)

"""The ipmilan driver: against our IPMI mock (suites 3/17, IPMI 1.5, faults) and OpenIPMI's ipmi_sim.

ipmi_sim (Debian package openipmi) is the independent BMC: its chassis power runs through the
``chassis_control`` program of fixtures_ipmi_sim/ (a file holding 1 or 0, and an event log), so
the ground truth of a reset is what that program was told.  ipmi_sim offers no cipher suite 17:
``cipher=auto`` must fall back to 3, ``cipher=17`` must fail cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stonith.drivers.ipmi import IpmiLan, answered, pace
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, Outlet
from stonith.contract.errors import AuthFailed, DeviceError, Timeout
from stonith.transport.ipmi import Session
from tests.conftest import require_peer, run_stonith

USER, PASSWORD = "admin", "s3cret"
FIXTURES = Path(__file__).parent / "fixtures_ipmi_sim"


def bmc(**options):
    settings = {"names": ["node1"], "username": USER, "password": PASSWORD, "relay_delay": 0.05}
    settings.update(options)
    return start_mock("ipmilan", **settings)


def args(mock, *extra, password=PASSWORD):
    return [
        "hostname=node1",
        f"ipaddr={mock.address}",
        f"login={USER}",
        f"password={password}",
        "min_interval=0",
        *extra,
    ]


def glue(*argv, timeout="10"):
    result = run_stonith("-t", "ipmilan", "--timeout", timeout, *argv, timeout=60)
    assert "Traceback" not in result.stderr
    return result


def changes(mock):
    return [e["state"] for e in mock.events()]


# ---------------------------------------------------------------------------------------------
# Against our mock


@pytest.mark.parametrize(
    "extra",
    [
        ["cipher=3"],
        ["cipher=17"],
        ["cipher=auto"],
        ["interface=lan"],
        ["interface=lan", "auth=straight"],
        ["priv=operator"],
    ],
)
def test_verified_reset_follows_ground_truth(extra):
    with bmc() as mock:
        result = glue(*args(mock, *extra), "-T", "reset", "node1")
        assert result.returncode == 0, result.stderr
        assert changes(mock) == ["off", "on"]
        assert mock.state(1) == ON


def test_list_status_off_on():
    with bmc() as mock:
        listed = glue(*args(mock), "-l")
        assert listed.stdout.split() == ["node1"]
        assert glue(*args(mock), "-S").returncode == 0
        assert glue(*args(mock), "-T", "off", "node1").returncode == 0
        assert mock.state(1) == OFF
        assert glue(*args(mock), "-T", "on", "node1").returncode == 0
        assert mock.state(1) == ON


def test_cluster_glue_positional_parameters():
    with bmc() as mock:
        host, port = mock.address.rsplit(":", 1)
        result = glue(
            "-p", f"node1 {host} {port} md5 admin {USER} {PASSWORD} power_cycle", "-T", "off", "node1"
        )
        assert result.returncode == 0, result.stderr
        assert mock.state(1) == OFF


def test_kg_key():
    kg = "0123456789abcdef0123456789abcdef01234567"
    with bmc(kg=kg) as mock:
        assert glue(*args(mock, f"kg={kg}"), "-S").returncode == 0
        wrong = glue(*args(mock, "kg=" + "11" * 20), "-S")
        assert wrong.returncode == 2
        assert "Kg" in wrong.stderr


def test_wrong_password_is_s_access_with_one_line():
    with bmc() as mock:
        for extra in ([], ["interface=lan"]):
            result = glue(*args(mock, *extra, password="wrong"), "-S", timeout="5")
            assert result.returncode == 2, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
            assert "credentials" in result.stderr


def test_unknown_user_and_refused_login_are_s_access():
    with bmc(faults=["refuse-login"]) as mock:
        result = glue(*args(mock), "-S", timeout="5")
        assert result.returncode == 2
        assert "unauthorized name" in result.stderr


def test_silent_bmc_fails_within_the_deadline():
    with bmc(faults=["silent"]) as mock:
        started = time.monotonic()
        result = glue(*args(mock), "-S", timeout="2")
        assert time.monotonic() - started < 5
        assert result.returncode == 6
        assert "did not answer" in result.stderr


def test_nothing_listening_fails_within_the_deadline():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    started = time.monotonic()
    result = glue("hostname=node1", f"ipaddr=127.0.0.1:{port}", "login=a", "password=b", "-S", timeout="2")
    assert time.monotonic() - started < 5
    assert result.returncode == 6


def test_slow_bmc_is_still_served():
    with bmc(slow=0.3) as mock:
        assert glue(*args(mock), "-T", "off", "node1").returncode == 0
        assert mock.state(1) == OFF


def test_a_bmc_slower_than_retransmit_is_no_refused_login():
    # The BMC answers after 0.4 s, we send again after 0.3 s: it answers the second RAKP 1 with a
    # fresh Rc and then finds RAKP 3 (built from the first answer) invalid.  The password was proven
    # at RAKP 2: not "access denied" (exit 2, never retried) but a device error, retried until the
    # deadline (6 or 8, whichever attempt the deadline cut); with a retransmit longer than its
    # answers the same BMC is served.
    with bmc(slow=0.4) as mock:
        session = Session(mock.host, mock.port, username=USER, password=PASSWORD, retransmit=0.3)
        try:
            with pytest.raises(DeviceError, match="raise retransmit"):
                session.open(Deadline(5))
        finally:
            session.close()
        crossed = glue(*args(mock, "retransmit=0.3"), "-S", timeout="4")
        assert crossed.returncode in (6, 8), crossed.stderr
        assert glue(*args(mock, "retransmit=1"), "-S", timeout="8").returncode == 0


def test_lie_status_is_undetectable_here_but_ground_truth_shows_it():
    with bmc(faults=["lie-status=1"]) as mock:
        result = glue(*args(mock), "-T", "off", "node1")
        assert result.returncode == 0  # the BMC reports off: no client of this BMC alone can know
        assert mock.state(1) == ON  # ... the chassis never lost power


def test_stuck_off_is_a_reset_failure():
    with bmc(faults=["stuck=1"]) as mock:
        result = glue(*args(mock), "-T", "off", "node1", timeout="2")
        assert result.returncode == 5
        assert mock.state(1) == ON


def test_native_cycle_of_an_off_chassis_is_refused():
    with bmc(states=["off"]) as mock:
        driver = IpmiLan(
            {
                "hostname": "node1",
                "ipaddr": mock.address,
                "login": USER,
                "password": PASSWORD,
                "min_interval": 0,
            }
        )
        deadline = Deadline(5)
        driver.connect(deadline)
        try:
            from stonith.contract.errors import AlreadyOff

            with pytest.raises(AlreadyOff):
                driver.cycle(Outlet("1", "node1"), deadline)
            assert "IPMI 2.0 BMC" in driver.probe(deadline)
        finally:
            driver.disconnect()


def test_rate_limit_spaces_commands_to_one_bmc():
    key = ("192.0.2.1", 623)
    deadline = Deadline(5)
    pace(key, 0.2, deadline)
    started = time.monotonic()
    pace(key, 0.2, deadline)
    pace(key, 0.2, deadline)
    assert time.monotonic() - started >= 0.39
    with pytest.raises(Timeout):
        pace(key, 3.0, Deadline(0.2))


def test_the_quiet_interval_counts_from_the_bmc_answer():
    # A busy BMC that took 0.3 s to answer still gets its full interval before the next command
    # (and a status read after a power command comes a full interval after the BMC took it).
    key = ("192.0.2.2", 623)
    deadline = Deadline(5)
    pace(key, 0.2, deadline)
    time.sleep(0.3)  # the command's round trip
    answered(key)
    answered_at = time.monotonic()
    pace(key, 0.2, deadline)
    assert time.monotonic() - answered_at >= 0.19


def test_rate_limit_applies_to_the_driver():
    with bmc() as mock:
        driver = IpmiLan(
            {
                "hostname": "node1",
                "ipaddr": mock.address,
                "login": USER,
                "password": PASSWORD,
                "min_interval": 0.25,
            }
        )
        deadline = Deadline(10)
        driver.connect(deadline)
        try:
            started = time.monotonic()
            for _ in range(3):
                driver.status(Outlet("1", "node1"), deadline)
            assert time.monotonic() - started >= 0.45
        finally:
            driver.disconnect()


def test_session_reports_errors_as_stonith_errors():
    with bmc() as mock:
        session = Session(mock.host, mock.port, username="nobody", password=PASSWORD, cipher=3)
        with pytest.raises(AuthFailed):
            session.open(Deadline(5))
        session.close()


def test_the_cluster_layer_drives_many_bmcs_from_one_thread(tmp_path, monkeypatch):
    # 40 BMC nodes and a PDU with 2: every session shares one Loop (NONBLOCKING: the BMCs, and the
    # BayTech over telnet since the console kit yields its waits), run in the calling thread, so no
    # thread is started at all; every BMC is read back off before it is switched on again.
    from stonith.contract import steps
    from stonith.fencing.engine import OK, Fencer
    from stonith.fencing.inventory import load_dir

    hosts = [f"srv{i:02d}" for i in range(40)]
    monkeypatch.setenv("LAB_PW", PASSWORD)
    monkeypatch.setenv("STONITH_LOCK_DIR", str(tmp_path / "locks"))
    devices = tmp_path / "devices.d"
    devices.mkdir()
    secret = '[secrets]\npassword = { env = "LAB_PW" }\n'
    with (
        bmc(count=len(hosts), hosts=",".join(hosts), relay_delay=0.05) as lab,
        start_mock("baytech", names=["pdu1", "pdu2"], password=PASSWORD, relay_delay=0.05) as pdu,
    ):
        for host, address in zip(hosts, lab.info["addresses"], strict=True):
            (devices / f"{host}.toml").write_text(
                f'type = "ipmilan"\nsettle = 0.1\ntimeout = 10\n[parameters]\nhostname = "{host}"\n'
                f'ipaddr = "{address}"\nlogin = "{USER}"\nmin_interval = 0.05\n' + secret
            )
        (devices / "pdu.toml").write_text(
            f'type = "baytech"\nsettle = 0.1\ntimeout = 10\n[parameters]\nipaddr = "{pdu.address}"\n'
            f'login = "admin"\n{secret}[hosts]\npdu1 = "1"\npdu2 = "2"\n'
        )
        threads: list[object] = []
        real_start = steps._thread.start_new_thread

        def counting_start(fn, args):
            threads.append(fn)
            return real_start(fn, args)

        monkeypatch.setattr(steps._thread, "start_new_thread", counting_start)
        fencer = Fencer(load_dir(str(devices)), timeout=20)
        results = fencer.run("reset", [*hosts, "pdu1", "pdu2"])
        assert [r.result for r in results] == [OK] * (len(hosts) + 2), [r.message for r in results]
        assert threads == []  # not one per BMC, nor one for the PDU
        truth = lab.truth()["devices"]
        assert len(truth) == len(hosts)
        for address in lab.info["addresses"]:
            assert [e["state"] for e in truth[address]["events"]] == ["off", "on"], address
        threads.clear()
        assert [r.state for r in fencer.status(hosts)] == [ON] * len(hosts)
        assert threads == []  # status of BMCs alone: the Loop runs in the calling thread


# ---------------------------------------------------------------------------------------------
# Against OpenIPMI's ipmi_sim


def _free_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# IPMI v1.5 "Get Channel Authentication Capabilities" outside any session, as ipmitool sends it
# first: RMCP header (version 6, class IPMI), session header (auth none, sequence 0, session 0,
# length 9), then rsSA 0x20, netFn App, checksum, rqSA 0x81, rqSeq, command 0x38, channel 0x8e
# (current channel, IPMI v2.0 data), privilege 4 (administrator), checksum.
AUTH_CAPABILITIES = bytes.fromhex("0600ff07000000000000000000092018c88100388e04b5")


def _answers_auth_capabilities(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        try:
            sock.sendto(AUTH_CAPABILITIES, ("127.0.0.1", port))
            answer = sock.recv(512)
        except OSError:
            return False
    # The answer's message starts after 14 header bytes: rqSA, netFn, checksum, rsSA, rqSeq, command.
    return answer[:4] == b"\x06\x00\xff\x07" and len(answer) > 20 and answer[19] == 0x38


@pytest.fixture
def ipmi_sim(tmp_path):
    program = require_peer("ipmi_sim", "openipmi")
    port = _free_udp_port()
    chassis = tmp_path / "chassis.sh"
    shutil.copy(FIXTURES / "chassis.sh", chassis)
    chassis.chmod(0o755)
    conf = (FIXTURES / "lan.conf.in").read_text()
    conf = (
        conf.replace("@PORT@", str(port)).replace("@CHASSIS@", str(chassis)).replace("@PASSWORD@", PASSWORD)
    )
    (tmp_path / "lan.conf").write_text(conf)
    state = tmp_path / "state"
    state.mkdir()
    process = subprocess.Popen(
        [program, "-c", str(tmp_path / "lan.conf"), "-f", str(FIXTURES / "emu.cmd"), "-n", "-s", str(state)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Ready when it answers Get Channel Authentication Capabilities, asked with bytes of our
        # own rather than through our transport: a fault of our client must fail the test that
        # meets it, with its own message, not hide here as "did not come up".
        deadline = time.monotonic() + 10
        while not _answers_auth_capabilities(port):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"ipmi_sim did not come up (exit status {process.poll()})")
        yield port, tmp_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _sim_events(directory):
    path = directory / "events"
    return path.read_text().split("\n")[:-1] if path.exists() else []


@pytest.mark.peer
@pytest.mark.parametrize(
    "extra", [["cipher=auto"], ["cipher=3"], ["interface=lan"], ["interface=lan", "auth=straight"]]
)
def test_against_ipmi_sim(ipmi_sim, extra):
    port, directory = ipmi_sim
    base = ["hostname=node1", f"ipaddr=127.0.0.1:{port}", f"login={USER}", f"password={PASSWORD}", *extra]
    assert glue(*base, "-S").returncode == 0
    result = glue(*base, "-T", "reset", "node1")
    assert result.returncode == 0, result.stderr
    assert _sim_events(directory) == ["power 0", "power 1"]
    assert glue(*base, "-T", "off", "node1").returncode == 0
    assert (directory / "power").read_text().strip() == "0"
    assert glue(*base, "-T", "on", "node1").returncode == 0
    assert (directory / "power").read_text().strip() == "1"


@pytest.mark.peer
def test_ipmi_sim_without_suite_17_and_wrong_password(ipmi_sim):
    port, _ = ipmi_sim
    base = ["hostname=node1", f"ipaddr=127.0.0.1:{port}", f"login={USER}"]
    no17 = glue(*base, f"password={PASSWORD}", "cipher=17", "-S", timeout="5")
    assert no17.returncode == 8
    assert "cipher suite" in no17.stderr
    wrong = glue(*base, "password=wrong", "-S", timeout="5")
    assert wrong.returncode == 2
    assert len(wrong.stderr.strip().splitlines()) == 1
    wrong15 = glue(*base, "password=wrong", "interface=lan", "-S", timeout="5")
    assert wrong15.returncode == 2


def test_fence_agent_wrapper_reboots(tmp_path):
    """Our fence agent over the driver: Pacemaker's view (stdin name=value, exit codes)."""
    with bmc() as mock:
        stdin = "\n".join(
            [
                "action=reboot",
                "plug=node1",
                "hostname=node1",
                f"ip={mock.host}",
                f"ipport={mock.port}",
                f"username={USER}",
                f"password={PASSWORD}",
                "min_interval=0",
                "",
            ]
        )
        env = dict(os.environ)
        result = subprocess.run(
            [sys.executable, "-m", "stonith.cli.fence_agent", "ipmilan"],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,  # not the checkout's stonith/
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert changes(mock) == ["off", "on"]

"""The IPMI BMC mock against independent clients: ipmitool (lanplus suites 3 and 17, lan),
FreeIPMI's ipmipower (LAN_2_0 suites 3 and 17, LAN; many BMCs on their own addresses) and
fence-agents' fence_ipmilan; ground truth must follow.  Also: many BMCs from one process."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.transport import ipmi_wire as wire
from stonith.transport.ipmi import Session
from tests.conftest import require_peer

USER, PASSWORD = "admin", "s3cret"


def bmc(**options):
    settings = {"names": ["node1"], "username": USER, "password": PASSWORD, "relay_delay": 0.05}
    settings.update(options)
    return start_mock("ipmilan", **settings)


def ipmitool(mock, *command, interface="lanplus", cipher=None, password=PASSWORD):
    program = require_peer("ipmitool", "ipmitool")
    argv = [
        program,
        "-I",
        interface,
        "-H",
        mock.host,
        "-p",
        str(mock.port),
        "-U",
        USER,
        "-E",
        "-N",
        "1",
        "-R",
        "2",
    ]
    if cipher is not None:
        argv += ["-C", str(cipher)]
    env = dict(os.environ, IPMI_PASSWORD=password)  # -E: never the password on argv (-P)
    return subprocess.run([*argv, *command], capture_output=True, text=True, env=env, timeout=60, check=False)


def assert_cycle_kept_off(events):
    """IPMI v2.0 section 28.3: chassis control power cycle keeps the power off at least 1 s."""
    (off, on) = events
    assert (off["state"], on["state"]) == ("off", "on")
    assert on["t"] - off["t"] >= 1.0, f"power was off {on['t'] - off['t']:.3f} s"


def eventually(check, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "ground truth never reached the expected state"
        time.sleep(0.02)


@pytest.mark.peer
@pytest.mark.parametrize(
    ("interface", "cipher"), [("lanplus", 3), ("lanplus", 17), ("lanplus", None), ("lan", None)]
)
def test_ipmitool_power_commands(interface, cipher):
    with bmc() as mock:

        def run(*command):
            result = ipmitool(mock, "chassis", "power", *command, interface=interface, cipher=cipher)
            assert result.returncode == 0, result.stderr
            return result.stdout

        assert "Chassis Power is on" in run("status")
        assert "Down/Off" in run("off")
        eventually(lambda: mock.state(1) == "off")
        assert "Chassis Power is off" in run("status")
        assert "Up/On" in run("on")
        eventually(lambda: mock.state(1) == "on")
        assert "Cycle" in run("cycle")
        eventually(lambda: [e["state"] for e in mock.events()] == ["off", "on", "off", "on"])
        assert_cycle_kept_off(mock.events()[-2:])
        assert "Reset" in run("reset")
        eventually(lambda: mock.events()[-1]["state"] == "reset")
        assert mock.state(1) == "on"


@pytest.mark.peer
def test_ipmitool_cycle_of_off_chassis_and_wrong_password():
    with bmc(states=["off"]) as mock:
        result = ipmitool(mock, "chassis", "power", "cycle", cipher=3)
        assert result.returncode != 0
        assert "not supported in present state" in result.stderr
        assert mock.events() == []
        wrong = ipmitool(mock, "chassis", "power", "status", cipher=17, password="nope")
        assert wrong.returncode != 0


@pytest.mark.peer
def test_ipmitool_suite_not_offered_is_a_clean_error():
    with bmc(cipher_suites="3") as mock:
        result = ipmitool(mock, "chassis", "power", "status", cipher=17)
        assert result.returncode != 0
        assert "invalid authentication algorithm" in result.stderr.lower()
        assert ipmitool(mock, "chassis", "power", "status", cipher=3).returncode == 0


def fence_ipmilan(mock, action, *extra):
    program = require_peer("/usr/sbin/fence_ipmilan", "fence-agents")
    stdin = "\n".join(
        [
            f"ip={mock.host}",
            f"ipport={mock.port}",
            f"username={USER}",
            f"password={PASSWORD}",
            f"action={action}",
            *extra,
            "",
        ]
    )
    return subprocess.run([program], input=stdin, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.peer
@pytest.mark.parametrize("extra", [[], ["lanplus=1"], ["lanplus=1", "cipher=17"], ["lanplus=1", "cipher=3"]])
def test_fence_ipmilan_reboot_off_on_status(extra):
    with bmc() as mock:
        status = fence_ipmilan(mock, "status", *extra)
        assert status.returncode == 0 and "Status: ON" in status.stdout, status.stderr
        result = fence_ipmilan(mock, "reboot", *extra)
        assert result.returncode == 0, result.stderr
        assert [e["state"] for e in mock.events()] == ["off", "on"]
        assert fence_ipmilan(mock, "off", *extra).returncode == 0
        assert mock.state(1) == "off"
        assert fence_ipmilan(mock, "status", *extra).returncode == 2
        assert fence_ipmilan(mock, "on", *extra).returncode == 0
        assert mock.state(1) == "on"


def test_many_bmcs_from_one_process(tmp_path):
    state = tmp_path / "state.json"
    with bmc(count=200, state_file=str(state), relay_delay=0) as mock:
        addresses = mock.info["addresses"]
        assert len(addresses) == 200 and len(set(addresses)) == 200
        for index in (0, 57, 199):
            host, port = wire.split_host(addresses[index])
            session = Session(host, port, username=USER, password=PASSWORD, cipher=17)
            session.open(Deadline(5))
            try:
                assert session.command(0, 2, b"\x00", Deadline(5))[0] == 0
            finally:
                session.close()
        time.sleep(0.5)  # state-file writes are coalesced
        data = json.loads(state.read_text())
        devices = data["devices"]
        assert len(devices) == 200
        assert devices[addresses[57]]["outlets"]["1"] == {"name": "node58", "state": "off"}
        assert devices[addresses[1]]["outlets"]["1"]["state"] == "on"


def test_consecutive_ports_and_host_names():
    with bmc(count=3, hosts="a,b,c", listen="127.0.0.1:0") as mock:
        truth = mock.truth()
        assert [d["outlets"]["1"]["name"] for d in truth["devices"].values()] == ["a", "b", "c"]


def test_silent_fault_answers_nothing():
    with bmc(faults=["silent"]) as mock:
        session = Session(mock.host, mock.port, username=USER, password=PASSWORD, retransmit=0.2)
        from stonith.contract.errors import Timeout

        with pytest.raises(Timeout):
            session.open(Deadline(0.6))
        session.close()


def test_channel_authentication_capabilities_say_named_users_are_enabled():
    """What FreeIPMI checks before logging in with a user name (IPMI v2.0 table 22-15, byte 3)."""
    import socket

    with bmc(kg="0102") as mock:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.settimeout(5)
            for v2 in (True, False):
                request = wire.ipmi_request(
                    wire.NETFN_APP, wire.GET_AUTH_CAPS, bytes([0x8E if v2 else 0x0E, 4]), 1
                )
                sock.sendto(wire.v15_packet(0, 0, 0, request), (mock.host, mock.port))
                reply = wire.parse_message(wire.parse_v15(sock.recv(512))[4])[3]
                completion, status = reply[0], reply[3]
                assert completion == 0
                assert status & 0x04, "non-null user names enabled"
                assert not status & 0x03, "no null user, no anonymous login"
                assert not status & 0x18, "per-message and user-level authentication enabled"
                assert bool(status & 0x20) == v2, "KG non-zero (RMCP+ only)"
        finally:
            sock.close()


def ipmipower(mock, *action, driver="LAN_2_0", cipher=None, tmp_path, password=PASSWORD):
    """FreeIPMI's ipmipower against every BMC of ``mock``; {host: answer}.  The credentials go in
    a 0600 --config-file, never on argv (-p would show the password in ps)."""
    program = require_peer("ipmipower", "freeipmi-tools")
    config = tmp_path / "freeipmi.conf"
    config.write_text(f"username {USER}\npassword {password}\n")
    config.chmod(0o600)
    hosts = ",".join(mock.info.get("addresses", [mock.address]))
    argv = [program, "-D", driver, "-h", hosts, "--config-file", str(config), "--session-timeout=5000"]
    if cipher is not None:
        argv += ["-I", str(cipher)]
    result = subprocess.run([*argv, *action], capture_output=True, text=True, timeout=60, check=False)
    answers = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    return result, answers


def ips_mock(count=3, **options):
    """BMCs on consecutive loopback addresses, as ipmipower sees a rack of real BMCs (random
    ports: port 623 needs root; ipmipower's HOST:PORT addresses them)."""
    return bmc(count=count, spread="ips", listen="127.1.0.1:0", **options)


@pytest.mark.peer
@pytest.mark.parametrize(("driver", "cipher"), [("LAN_2_0", 3), ("LAN_2_0", 17), ("LAN", None)])
def test_ipmipower_status_off_on(driver, cipher, tmp_path):
    with ips_mock() as mock:
        hosts = ["127.1.0.1", "127.1.0.2", "127.1.0.3"]

        def run(action):
            result, answers = ipmipower(mock, action, driver=driver, cipher=cipher, tmp_path=tmp_path)
            assert result.returncode == 0, result.stdout + result.stderr
            return answers

        def truth():
            return [d["outlets"]["1"]["state"] for d in mock.truth()["devices"].values()]

        assert run("--stat") == dict.fromkeys(hosts, "on")
        assert run("--off") == dict.fromkeys(hosts, "ok")
        eventually(lambda: truth() == ["off"] * 3)
        assert run("--stat") == dict.fromkeys(hosts, "off")
        assert run("--on") == dict.fromkeys(hosts, "ok")
        eventually(lambda: truth() == ["on"] * 3)


@pytest.mark.peer
def test_ipmipower_cycle_keeps_power_off_one_second(tmp_path):
    with ips_mock(count=2) as mock:
        result, answers = ipmipower(mock, "--cycle", tmp_path=tmp_path)
        assert result.returncode == 0 and set(answers.values()) == {"ok"}, result.stdout + result.stderr
        for address in mock.info["addresses"]:

            def cycled(address=address):
                return len(mock.truth()["devices"][address]["events"]) == 2

            eventually(cycled)
            assert_cycle_kept_off(mock.truth()["devices"][address]["events"])


@pytest.mark.peer
def test_ipmipower_refusals(tmp_path):
    # A wrong password is caught in RAKP 2 ("password invalid"); a BMC with KG set, when the
    # console has none, fails the same check and FreeIPMI says "k_g invalid".
    with ips_mock(count=1) as mock:
        result, answers = ipmipower(mock, "--stat", tmp_path=tmp_path, password="nope")
        assert answers == {"127.1.0.1": "password invalid"}, result.stdout + result.stderr
    with ips_mock(count=1, kg="0102") as mock:
        result, answers = ipmipower(mock, "--stat", tmp_path=tmp_path)
        assert answers == {"127.1.0.1": "k_g invalid"}, result.stdout + result.stderr

"""redfish_pdu (issue 23 item 3): rack PDU outlets through the DMTF PowerDistribution model.

Judged by the Redfish PDU mock's relays (ground truth) and its log; the cluster layer fences a
dual-PSU node fed by a Redfish PDU and an SNMP PDU (apc_rpdu mock), both supplies off before either
comes back.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from stonith.drivers.redfish_pdu import RedfishPdu
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, Outlet
from stonith.contract.errors import UnknownOutlet
from tests.conftest import run_stonith

USER, PASSWORD = "admin", "pdu-secret"
COMMUNITY = "feed-b-community"
NAMES = ["web1-psu1", "db1-psu1", "spare-3", "spare-4"]


def pdu(**options: Any) -> Any:
    settings: dict[str, Any] = {
        "outlets": 4,
        "names": NAMES,
        "username": USER,
        "password": PASSWORD,
        "relay_delay": 0.05,
    }
    settings.update(options)
    return start_mock("redfish_pdu", **settings)


def tls(mock: Any) -> list[str]:
    return [f"ca_bundle={mock.info['ca']}"] if "ca" in mock.info else ["ssl=no"]


def glue(mock: Any, *argv: str, timeout: str = "10") -> Any:
    base = ["-t", "redfish_pdu", "--timeout", timeout, f"ipaddr={mock.address}", f"login={USER}"]
    result = run_stonith(*base, f"password={PASSWORD}", *tls(mock), *argv, timeout=60)
    assert "Traceback" not in result.stderr
    return result


def driver(mock: Any, **extra: Any) -> RedfishPdu:
    config: dict[str, Any] = {"ipaddr": mock.address, "login": USER, "password": PASSWORD, "ssl": False}
    config.update(extra)
    return RedfishPdu(config)


def changes(mock: Any) -> list[tuple[str, str]]:
    return [(e["outlet"], e["state"]) for e in mock.events()]


# ---------------------------------------------------------------------------------------------
# Outlets on the mock


@pytest.mark.parametrize("options", [{}, {"tls": False}, {"sessions_enabled": False}])
def test_status_off_on_reset_follow_ground_truth(options: dict[str, Any]) -> None:
    with pdu(**options) as mock:
        # Names come from the outlets' UserLabels, found by walking PowerEquipment/RackPDUs.
        listing = glue(mock, "-l")
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.split() == NAMES
        assert glue(mock, "-T", "off", "db1-psu1").returncode == 0
        assert mock.state(2) == OFF
        assert glue(mock, "-T", "on", "db1-psu1").returncode == 0
        assert mock.state(2) == ON
        result = glue(mock, "-T", "reset", "web1-psu1")
        assert result.returncode == 0, result.stderr
        assert changes(mock) == [("2", "off"), ("2", "on"), ("1", "off"), ("1", "on")]
        assert [mock.state(n) for n in (3, 4)] == [ON, ON]


def test_the_driver_detects_outlets_and_reads_them_back() -> None:
    with pdu(tls=False, states=["on", "off"]) as mock:
        device = driver(mock)
        device.connect(Deadline(5))
        try:
            outlets = device.outlets(Deadline(5))
            assert [(o.id, o.name) for o in outlets] == list(
                zip(["A1", "A2", "A3", "A4"], NAMES, strict=True)
            )
            assert device.status_many(outlets[:2], Deadline(5)) == {"A1": ON, "A2": OFF}
            device.off(Outlet("A1"), Deadline(5))
            with pytest.raises(UnknownOutlet, match="A1, A2, A3, A4"):
                device.status(Outlet("B7"), Deadline(5))
            assert "4 outlets" in device.probe(Deadline(5))
        finally:
            device.disconnect()
        time.sleep(0.2)
        assert mock.state(1) == OFF
        # auth auto: one session for all of it, deleted at the end
        sessions = [e["what"] for e in mock.truth()["log"] if e["what"].startswith("session")]
        assert sessions == ["session-create", "session-delete"]


def test_numbered_outlets_and_a_chain_of_pdus() -> None:
    with pdu(tls=False, model="numbered", pdus=2) as mock:
        device = driver(mock)
        device.connect(Deadline(5))
        try:
            assert [o.id for o in device.outlets(Deadline(5))] == ["1/1", "1/2", "2/1", "2/2"]
            device.off(Outlet("2/1"), Deadline(5))
        finally:
            device.disconnect()
        chosen = driver(mock, rack_pdu="2")
        chosen.connect(Deadline(5))
        try:
            assert [o.name for o in chosen.outlets(Deadline(5))] == NAMES[2:]
            time.sleep(0.2)
            assert chosen.status(Outlet("1"), Deadline(5)) == OFF
        finally:
            chosen.disconnect()
        assert [mock.state(n) for n in (1, 2, 3, 4)] == [ON, ON, OFF, ON]


def test_a_202_task_is_followed_for_an_outlet_too() -> None:
    with pdu(tls=False, async_tasks=True, task_seconds=0.4, relay_delay=0) as mock:
        device = driver(mock)
        device.connect(Deadline(5))
        try:
            device.off(Outlet("A3"), Deadline(5))
            assert mock.state(3) == OFF  # off returned once the task had switched the relay
        finally:
            device.disconnect()
        assert [e["state"] for e in mock.truth()["log"] if e["what"] == "task-end"] == ["Completed"]


@pytest.mark.parametrize("fault", ["stuck=2", "lie=2"])
def test_an_outlet_that_stays_on_is_never_a_success(fault: str) -> None:
    with pdu(tls=False, faults=[fault]) as mock:
        result = glue(mock, "-T", "off", "db1-psu1", timeout="3")
        assert result.returncode != 0
        assert mock.state(2) == ON


def test_wrong_password_and_not_a_pdu() -> None:
    with pdu(tls=False) as mock:
        base = ["-t", "redfish_pdu", f"ipaddr={mock.address}", f"login={USER}", "password=nope", "ssl=no"]
        result = run_stonith(*base, "-S")
        assert result.returncode == 2 and "refused the credentials" in result.stderr
    with start_mock("redfish", names=["n1"], username=USER, password=PASSWORD, tls=False) as bmc:
        base = [
            "-t",
            "redfish_pdu",
            f"ipaddr={bmc.address}",
            f"login={USER}",
            f"password={PASSWORD}",
            "ssl=no",
        ]
        result = run_stonith(*base, "-S")
        assert result.returncode != 0 and "no PowerEquipment" in result.stderr


# ---------------------------------------------------------------------------------------------
# The cluster layer: one node, two supplies, two protocols


def write_devices(directory: Path, redfish: Any, snmp: Any) -> None:
    directory.mkdir(exist_ok=True)
    os.chmod(directory, 0o700)
    (directory / "feed-a.toml").write_text(
        'type = "redfish_pdu"\ntimeout = 6\nsettle = 0.2\n[parameters]\n'
        f'ipaddr = "{redfish.address}"\nlogin = "{USER}"\nssl = false\n'
        '[secrets]\npassword = { env = "PDU_PW" }\n'
        '[hosts]\nweb1 = "A1"\ndb1 = "A2"\n'
    )
    host, port = snmp.address.rsplit(":", 1)
    (directory / "feed-b.toml").write_text(
        'type = "apc_rpdu"\ntimeout = 6\nsettle = 0.2\n[parameters]\n'
        f'ipaddr = "{host}"\nport = {port}\nsnmp_timeout = 0.3\nsnmp_retries = 1\n'
        '[secrets]\ncommunity = { env = "PDU_COMMUNITY" }\n'
        '[hosts]\ndb1 = "2"\n'
    )


def test_a_dual_psu_node_across_a_redfish_pdu_and_an_snmp_pdu(tmp_path: Path) -> None:
    with (
        pdu(tls=False) as feed_a,
        start_mock(
            "apc_rpdu",
            outlets=4,
            names=["x1", "db1-psu2", "x3", "x4"],
            community=[COMMUNITY],
            relay_delay=0.05,
        ) as feed_b,
    ):
        devices = tmp_path / "devices.d"
        write_devices(devices, feed_a, feed_b)
        env = {
            "PDU_PW": PASSWORD,
            "PDU_COMMUNITY": COMMUNITY,
            "STONITH_LOCK_DIR": str(tmp_path / "locks"),
            "STONITH_AUDIT": "none",
        }
        result = run_stonith("reset", "db1", "--devices", str(devices), "--json", env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["result"] == "ok"
        time.sleep(0.2)
        timeline = sorted(
            [(e["t"], "redfish", e["state"]) for e in feed_a.events() if e["outlet"] == "2"]
            + [(e["t"], "snmp", e["state"]) for e in feed_b.events() if e["outlet"] == "2"]
        )
        assert [s for _, _, s in timeline] == ["off", "off", "on", "on"], timeline
        assert max(t for t, _, s in timeline if s == "off") < min(t for t, _, s in timeline if s == "on")
        # Only db1's supplies moved: web1 (A1) and the SNMP PDU's other outlets untouched.
        assert {e["outlet"] for e in feed_a.events()} == {"2"}
        assert {e["outlet"] for e in feed_b.events()} == {"2"}
        off = run_stonith("off", "db1", "--devices", str(devices), "--json", env=env)
        assert off.returncode == 0, off.stderr
        assert feed_a.state(2) == OFF and feed_b.state(2) == OFF
        status = run_stonith("status", "--devices", str(devices), "--json", env=env)
        states = {row["node"]: row["state"] for row in json.loads(status.stdout)}
        assert states == {"db1": "off", "web1": "on"}

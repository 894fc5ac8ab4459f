"""ifmib: fabric fencing through a switch's IF-MIB (issue 23 item 4), judged by the switch mock's ports.

Independent client: fence-agents' fence_ifmib (net-snmp's tools underneath) against the same mock.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from stonith.mocks.harness import start_mock

from tests.conftest import require_peer, run_stonith
from tests.stonith.test_cluster_with_mocks import PASSWORD, device_file

COMMUNITY = "fabric-rw-community"
PORTS = ["Gi1/0/1", "Gi1/0/2", "Gi1/0/3", "Gi1/0/4"]


def switch(**options: Any) -> Any:
    settings: dict[str, Any] = {"outlets": 4, "names": PORTS, "community": [COMMUNITY], "relay_delay": 0.05}
    settings.update(options)
    return start_mock("ifmib", **settings)


def switch_file(directory: Path, address: str, hosts: dict[str, list[str]], level: int = 1) -> None:
    host, port = address.rsplit(":", 1)
    lines = ['type = "ifmib"', f"level = {level}", "settle = 0.1", "timeout = 4", "[parameters]"]
    lines += [f'ipaddr = "{host}"', f"port = {port}", "snmp_timeout = 1.0", "snmp_retries = 1"]
    lines += ["[secrets]", 'community = { env = "FABRIC_COMMUNITY" }', "[hosts]"]
    lines += [f"{node} = {json.dumps(ports)}" for node, ports in hosts.items()]
    (directory / "switch.toml").write_text("\n".join(lines) + "\n")


def env(tmp_path: Path) -> dict[str, str]:
    return {
        "FABRIC_COMMUNITY": COMMUNITY,
        "LAB_PW": PASSWORD,
        "STONITH_LOCK_DIR": str(tmp_path / "locks"),
        "STONITH_AUDIT": "none",
    }


def port_events(mock: Any) -> list[tuple[str, str]]:
    return [(e["outlet"], e["state"]) for e in mock.events()]


def test_fence_ifmib_against_the_switch_mock() -> None:
    """fence-agents' own agent lists, switches and reads the mock's ports (by name and by ifIndex)."""
    agent = require_peer("fence_ifmib", "fence-agents")
    with switch() as mock:
        host, port = mock.address.rsplit(":", 1)
        base = [agent, "--ip", host, "--ipport", port, "--community", COMMUNITY, "--snmp-version", "2c"]

        def run(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*base, *extra], capture_output=True, text=True, timeout=30, check=False)

        listing = run("-o", "list")
        assert listing.returncode == 0, listing.stderr
        assert [line.split(",")[0] for line in listing.stdout.splitlines()[:4]] == PORTS
        assert run("-n", "Gi1/0/2", "-o", "off").returncode == 0
        assert mock.state(2) == "off"
        assert run("-n", "2", "-o", "status").returncode == 2  # off, by ifIndex
        assert run("-n", "Gi1/0/2", "-o", "on").returncode == 0
        assert mock.state(2) == "on"
        assert port_events(mock) == [("2", "off"), ("2", "on")]


def test_our_driver_sets_ports_down_and_reads_them_back(tmp_path: Path) -> None:
    """A node on two ports (bonded NICs), one named by ifName and one by ifIndex: both go down."""
    with switch() as mock:
        switch_file(tmp_path, mock.address, {"db1": ["Gi1/0/2", "3"], "web1": ["Gi1/0/4"]})
        result = run_stonith("off", "db1", "--devices", str(tmp_path), "--json", env=env(tmp_path))
        assert result.returncode == 0, result.stderr
        node = json.loads(result.stdout)[0]
        assert node["result"] == "ok" and node["state"] == "off"
        assert sorted(port_events(mock)) == [("2", "off"), ("3", "off")]  # web1's port untouched
        status = run_stonith("status", "--devices", str(tmp_path), "--json", env=env(tmp_path))
        assert status.returncode == 0, (status.stdout, status.stderr)
        states = {r["node"]: r["state"] for r in json.loads(status.stdout)}
        assert states == {"db1": "off", "web1": "on"}


def test_the_glue_syntax_and_probe(tmp_path: Path) -> None:
    with switch() as mock:
        host, port = mock.address.rsplit(":", 1)
        params = {"ipaddr": host, "port": port, "community": COMMUNITY}
        probe = run_stonith("-t", "ifmib", "-E", "-S", env={**params, "STONITH_LOCK_DIR": str(tmp_path)})
        assert probe.returncode == 0, probe.stderr
        listing = run_stonith("-t", "ifmib", "-E", "-l", env={**params, "STONITH_LOCK_DIR": str(tmp_path)})
        assert listing.stdout.split() == [p.lower() for p in PORTS]
        off = run_stonith(
            "-t", "ifmib", "-E", "-T", "off", "gi1/0/1", env={**params, "STONITH_LOCK_DIR": str(tmp_path)}
        )
        assert off.returncode == 0, off.stderr
        assert mock.state(1) == "off"


def test_fabric_at_level_1_power_at_level_2(tmp_path: Path) -> None:
    """A node fenced by the fabric first; when the switch does not answer, by its power."""
    with switch() as fabric, start_mock("baytech", model="rpc3", password=PASSWORD, relay_delay=0.05) as pdu:
        switch_file(tmp_path, fabric.address, {"db1": ["Gi1/0/1"]}, level=1)
        device_file(tmp_path, "pdu", pdu.address, level=2, hosts={"db1": "1"})
        result = run_stonith("off", "db1", "--devices", str(tmp_path), "--json", env=env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["level"] == 1
        assert port_events(fabric) == [("1", "off")] and pdu.events() == []
    with switch(faults=["silent"]) as fabric, start_mock("baytech", model="rpc3", password=PASSWORD) as pdu:
        switch_file(tmp_path, fabric.address, {"db1": ["Gi1/0/1"]}, level=1)
        device_file(tmp_path, "pdu", pdu.address, level=2, hosts={"db1": "1"})
        result = run_stonith("off", "db1", "--devices", str(tmp_path), "--json", env=env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["level"] == 2
        assert pdu.state(1) == "off"

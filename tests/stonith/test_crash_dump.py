"""Issue 23 item 5: a crash dump before the fence (``crash_dump = S`` on IPMI and Redfish BMCs).

Judged by the BMC mocks' own record: the NMI (``diag`` event: IPMI Chassis Control 04h, Redfish
ResetType Nmi), then the real off, then the on, with the configured wait between the NMI and the off.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from stonith.mocks.harness import start_mock

from tests.conftest import run_stonith

USER, PASSWORD = "admin", "dump-secret"


def _device(tmp_path: Path, kind: str, address: str, **params: Any) -> Path:
    devices = tmp_path / "devices.d"
    devices.mkdir(exist_ok=True)
    lines = [f'type = "{kind}"', f"timeout = {params.pop('timeout', 8)}", "settle = 0.2", "[parameters]"]
    base = {"hostname": "node1", "ipaddr": address, "login": USER, **params}
    if kind == "redfish":
        base["ssl"] = False
    if kind == "ipmilan":
        base.update(retransmit=0.2, min_interval=0.0)
    lines += [f"{k} = {json.dumps(v)}" for k, v in base.items()]
    lines += ["[secrets]", 'password = { env = "DUMP_PW" }']
    path = devices / f"{kind}.toml"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(devices, 0o700)
    return devices


def _env(tmp_path: Path) -> dict[str, str]:
    return {"DUMP_PW": PASSWORD, "STONITH_LOCK_DIR": str(tmp_path / "locks"), "STONITH_AUDIT": "none"}


def _mock(kind: str, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "names": ["node1"],
        "username": USER,
        "password": PASSWORD,
        "relay_delay": 0.05,
    }
    if kind == "redfish":
        settings["tls"] = False
    settings.update(options)
    return start_mock(kind, **settings)


@pytest.mark.parametrize("kind", ["ipmilan", "redfish"])
def test_nmi_then_the_wait_then_a_verified_fence(tmp_path: Path, kind: str) -> None:
    with _mock(kind) as mock:
        devices = _device(tmp_path, kind, mock.address, crash_dump=1.5)
        result = run_stonith("reset", "node1", "--devices", str(devices), "--json", env=_env(tmp_path))
        assert result.returncode == 0, result.stderr
        events = mock.events()
    node = json.loads(result.stdout)[0]
    assert node["result"] == "ok"
    assert any("NMI sent" in note and "waited 1.5 s" in note for note in node["notes"]), node
    assert [e["state"] for e in events] == ["diag", "off", "on"]
    nmi, off = events[0]["t"], events[1]["t"]
    assert off - nmi >= 1.5  # the kernel had its time to write the dump before the power went


def test_no_nmi_without_the_parameter(tmp_path: Path) -> None:
    with _mock("ipmilan") as mock:
        devices = _device(tmp_path, "ipmilan", mock.address)
        result = run_stonith("reset", "node1", "--devices", str(devices), "--json", env=_env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert [e["state"] for e in mock.events()] == ["off", "on"]
    assert "notes" not in json.loads(result.stdout)[0]


def test_a_node_that_is_off_gets_no_nmi(tmp_path: Path) -> None:
    with _mock("ipmilan", states=["off"]) as mock:
        devices = _device(tmp_path, "ipmilan", mock.address, crash_dump=5)
        result = run_stonith("off", "node1", "--devices", str(devices), "--json", env=_env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert mock.events() == []
    assert "not running" in json.loads(result.stdout)[0]["message"]


def test_a_bmc_refusing_the_nmi_is_still_fenced(tmp_path: Path) -> None:
    """The dump is a courtesy: a Redfish system that allows no Nmi is fenced at once, and told why."""
    with _mock("redfish", reset_types=["On", "ForceOff"]) as mock:
        devices = _device(tmp_path, "redfish", mock.address, crash_dump=30)
        result = run_stonith("off", "node1", "--devices", str(devices), "--json", env=_env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert [e["state"] for e in mock.events()] == ["off"]
    node = json.loads(result.stdout)[0]
    assert "no NMI" in node["message"] and "allowed: On, ForceOff" in node["message"]
    assert node["duration"] < 5


def test_the_wait_leaves_half_the_timeout_for_the_fence(tmp_path: Path) -> None:
    with _mock("ipmilan") as mock:
        devices = _device(tmp_path, "ipmilan", mock.address, crash_dump=600, timeout=4)
        result = run_stonith("off", "node1", "--devices", str(devices), "--json", env=_env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert [e["state"] for e in mock.events()] == ["diag", "off"]
    node = json.loads(result.stdout)[0]
    assert "cut from 600 s by the deadline" in node["message"]
    assert node["duration"] < 4

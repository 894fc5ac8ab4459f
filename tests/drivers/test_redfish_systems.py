"""Redfish done right (issue 23 item 2), judged by the BMC mock's ground truth and its log.

Every ComputerSystem of a BMC is an outlet (a multi-node chassis); a session per operation, deleted
afterwards; ForceOff or a clear refusal naming the allowed types; 202 Accepted followed to the end of
its task; the vendor personalities (idrac, ilo, xcc, openbmc).  The two-system case also runs against
sushy-tools' emulator (its fake driver, two systems from a config file).
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
from typing import Any

import pytest
from stonith.drivers.redfish import Redfish
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, Outlet
from stonith.contract.errors import DeviceError
from tests.conftest import REQUIRE_PEERS, run_stonith

USER, PASSWORD = "admin", "rf-secret"


def bmc(**options: Any) -> Any:
    settings: dict[str, Any] = {"username": USER, "password": PASSWORD, "relay_delay": 0.05, "tls": False}
    settings.update(options)
    return start_mock("redfish", **settings)


def device_file(
    tmp_path: Path, address: str, hosts: dict[str, str] | None = None, name: str = "bmc", **params: Any
) -> Path:
    devices = tmp_path / "devices.d"
    devices.mkdir(exist_ok=True)
    os.chmod(devices, 0o700)
    lines = [f'type = "redfish"\ntimeout = {params.pop("timeout", 8)}\nsettle = 0.2\n[parameters]']
    settings = {"ipaddr": address, "login": USER, "ssl": False, **params}
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    lines += ["[secrets]", 'password = { env = "RF_PW" }']
    if hosts:
        lines += ["[hosts]", *(f"{node} = {json.dumps(outlet)}" for node, outlet in hosts.items())]
    (devices / f"{name}.toml").write_text("\n".join(lines) + "\n")
    return devices


def env(tmp_path: Path) -> dict[str, str]:
    return {"RF_PW": PASSWORD, "STONITH_LOCK_DIR": str(tmp_path / "locks"), "STONITH_AUDIT": "none"}


def stonith(tmp_path: Path, devices: Path, *argv: str) -> Any:
    result = run_stonith(*argv, "--devices", str(devices), "--json", env=env(tmp_path))
    assert "Traceback" not in result.stderr
    return result


def log(mock: Any, *kinds: str) -> list[dict[str, Any]]:
    return [entry for entry in mock.truth()["log"] if not kinds or entry["what"] in kinds]


def changes(mock: Any) -> list[tuple[str, str]]:
    return [(e["outlet"], e["state"]) for e in mock.events()]


# ---------------------------------------------------------------------------------------------
# Every system an outlet


@pytest.mark.parametrize("by", ["id", "name"])
def test_a_two_system_bmc_fences_one_system_and_leaves_the_other(tmp_path: Path, by: str) -> None:
    with bmc(model="idrac", outlets=2, hosts=["blade-a", "blade-b"]) as mock:
        if by == "id":  # [hosts] maps nodes to system Ids
            hosts = {"node-a": "System.Embedded.1", "node-b": "System.Embedded.2"}
            devices = device_file(tmp_path, mock.address, hosts)
            node = "node-b"
        else:  # no [hosts]: the systems' HostNames are the node names
            devices = device_file(tmp_path, mock.address)
            node = "blade-b"
        result = stonith(tmp_path, devices, "off", node)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[0]["state"] == "off"
        assert mock.state(2) == OFF and mock.state(1) == ON
        assert changes(mock) == [("2", "off")]
        status = stonith(tmp_path, devices, "status")
        states = {row["node"]: row["state"] for row in json.loads(status.stdout)}
        assert sorted(states.values()) == ["off", "on"]
        result = stonith(tmp_path, devices, "reset", node)
        assert result.returncode == 0, result.stderr
        assert changes(mock) == [("2", "off"), ("2", "on")]
        assert mock.state(1) == ON and [e for e in mock.events() if e["outlet"] == "1"] == []


def test_glue_lists_every_system_without_hostname() -> None:
    with bmc(outlets=3, hosts=["n1", "n2", "n3"]) as mock:
        base = ["-t", "redfish", f"ipaddr={mock.address}", f"login={USER}", f"password={PASSWORD}", "ssl=no"]
        listing = run_stonith(*base, "-l")
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.split() == ["n1", "n2", "n3"]
        assert run_stonith(*base, "-T", "off", "n3").returncode == 0
        assert [mock.state(i) for i in (1, 2, 3)] == [ON, ON, OFF]


def test_one_host_mode_chooses_its_system_by_id_or_name() -> None:
    """Today's configurations (hostname + one system) still work; ``system`` picks one of several."""
    with bmc(model="openbmc", outlets=2, hosts=["h1", "h2"]) as mock:
        base = ["-t", "redfish", f"ipaddr={mock.address}", f"login={USER}", f"password={PASSWORD}", "ssl=no"]
        assert run_stonith(*base, "hostname=node9", "system=system2", "-T", "off", "node9").returncode == 0
        assert (mock.state(1), mock.state(2)) == (ON, OFF)
        # No system given: the one whose HostName is hostname.
        assert run_stonith(*base, "hostname=h1", "-T", "off", "h1").returncode == 0
        assert mock.state(1) == OFF
        # Neither: a clear error naming the systems, never a guess.
        wrong = run_stonith(*base, "hostname=other", "-S")
        assert wrong.returncode != 0
        assert "system, system2" in wrong.stderr and "OpenBMC documents system" in wrong.stderr


# ---------------------------------------------------------------------------------------------
# Sessions


@pytest.mark.parametrize("model", ["generic", "idrac", "ilo", "xcc", "openbmc"])
def test_one_session_per_operation_deleted_afterwards(tmp_path: Path, model: str) -> None:
    with bmc(model=model, names=["node1"]) as mock:
        devices = device_file(tmp_path, mock.address, hostname="node1")  # auth_method auto
        result = stonith(tmp_path, devices, "reset", "node1")
        assert result.returncode == 0, result.stderr
        assert [e["state"] for e in mock.events()] == ["off", "on"]
        sessions = log(mock, "session-create", "session-delete")
        # The engine's operation: one session (status, off, read back, on, read back), then gone.
        assert [e["what"] for e in sessions] == ["session-create", "session-delete"]
        assert sessions[0]["session"] == sessions[1]["session"]
        resets = log(mock, "reset")
        assert [e["reset_type"] for e in resets] == ["ForceOff", "On"]
        assert sessions[0]["t"] <= resets[0]["t"] and resets[-1]["t"] <= sessions[1]["t"]


def test_a_failed_operation_deletes_its_session_too(tmp_path: Path) -> None:
    with bmc(names=["node1"], reset_types="On,GracefulShutdown") as mock:
        devices = device_file(tmp_path, mock.address, hostname="node1", auth_method="session")
        assert stonith(tmp_path, devices, "off", "node1").returncode != 0
        creates, deletes = log(mock, "session-create"), log(mock, "session-delete")
        assert creates and len(deletes) == len(creates)


def test_basic_auth_where_the_service_has_no_sessions(tmp_path: Path) -> None:
    with bmc(names=["node1"], sessions_enabled=False) as mock:
        devices = device_file(tmp_path, mock.address, hostname="node1")  # auto: basic here
        assert stonith(tmp_path, devices, "off", "node1").returncode == 0
        assert mock.state(1) == OFF and log(mock, "session-create") == []


# ---------------------------------------------------------------------------------------------
# Reset types


def test_a_bmc_without_forceoff_is_refused_naming_the_allowed_types(tmp_path: Path) -> None:
    with bmc(names=["node1"], reset_types="On,GracefulShutdown,PushPowerButton,Nmi") as mock:
        devices = device_file(tmp_path, mock.address, hostname="node1")
        result = stonith(tmp_path, devices, "off", "node1")
        assert result.returncode != 0
        assert "allowed: On, GracefulShutdown, PushPowerButton, Nmi" in result.stderr + result.stdout
        assert "ForceOff" in result.stderr + result.stdout
        assert mock.state(1) == ON and log(mock, "reset") == []  # nothing graceful was tried


def test_push_power_button_turns_an_off_system_on_and_never_a_running_one_off() -> None:
    with bmc(names=["node1"], reset_types="ForceOff,PushPowerButton") as mock:
        base = ["-t", "redfish", "hostname=node1", f"ipaddr={mock.address}", f"login={USER}"]
        base += [f"password={PASSWORD}", "ssl=no"]
        assert run_stonith(*base, "-T", "reset", "node1").returncode == 0
        assert [e["state"] for e in mock.events()] == ["off", "on"]
        assert [e["reset_type"] for e in log(mock, "reset")] == ["ForceOff", "PushPowerButton"]
        assert run_stonith(*base, "-T", "on", "node1").returncode == 0  # already on: no press
        assert len(log(mock, "reset")) == 2 and mock.state(1) == ON


# ---------------------------------------------------------------------------------------------
# 202 Accepted and its task


def driver(mock: Any, **extra: Any) -> Redfish:
    config = {"hostname": "node1", "ipaddr": mock.address, "login": USER, "password": PASSWORD, "ssl": False}
    config.update(extra)
    return Redfish(config)


def test_a_202_task_is_followed_to_its_end() -> None:
    with bmc(names=["node1"], async_tasks=True, task_seconds=0.6, relay_delay=0) as mock:
        device = driver(mock)
        device.connect(Deadline(10))
        try:
            started = time.monotonic()
            device.off(Outlet("1", "node1"), Deadline(10))
            took = time.monotonic() - started
            # off returned once the task had completed: the change is made, not merely accepted.
            assert [e["state"] for e in log(mock, "task-end")] == ["Completed"]
            assert mock.state(1) == OFF and took >= 0.5
        finally:
            device.disconnect()


def test_a_202_task_through_the_command_and_every_personality(tmp_path: Path) -> None:
    for model in ("generic", "ilo"):
        with bmc(model=model, names=["node1"], async_tasks=True, task_seconds=0.3) as mock:
            devices = device_file(tmp_path, mock.address, hostname="node1", name=model)
            result = stonith(tmp_path, devices, "reset", "node1")
            assert result.returncode == 0, result.stderr
            assert [e["state"] for e in log(mock, "task-end")] == ["Completed", "Completed"]
            assert [e["state"] for e in mock.events()] == ["off", "on"]
        (devices / f"{model}.toml").unlink()


def test_a_failed_task_is_a_clear_error_at_once() -> None:
    with bmc(names=["node1"], async_tasks=True, task_seconds=0.2, task_fail=True) as mock:
        device = driver(mock)
        device.connect(Deadline(10))
        try:
            started = time.monotonic()
            with pytest.raises(DeviceError, match="ResetType ForceOff failed"):
                device.off(Outlet("1", "node1"), Deadline(10))
            assert time.monotonic() - started < 3  # not a wait for a read-back that never comes
        finally:
            device.disconnect()
        assert mock.state(1) == ON


def test_a_task_running_past_the_deadline_is_a_timeout() -> None:
    from stonith.contract.errors import Timeout

    with bmc(names=["node1"], async_tasks=True, task_seconds=30) as mock:
        device = driver(mock)
        device.connect(Deadline(10))
        try:
            started = time.monotonic()
            with pytest.raises(Timeout, match="still running"):
                device.off(Outlet("1", "node1"), Deadline(1.5))
            assert time.monotonic() - started < 2.0
        finally:
            device.disconnect()


# ---------------------------------------------------------------------------------------------
# sushy-tools: two fake systems


@pytest.fixture
def sushy_two(tmp_path: Path) -> Any:
    program = shutil.which("sushy-emulator", path=str(Path(sys.executable).parent)) or shutil.which(
        "sushy-emulator"
    )
    if not program:
        reason = "sushy-tools not installed (pip install sushy-tools)"
        if REQUIRE_PEERS:
            pytest.fail(reason)
        pytest.skip(reason)
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "sushy.conf"
    systems = [
        {"uuid": "5e5f4c2a-0000-4000-8000-00000000000a", "name": "blade-a", "power_state": "On", "nics": []},
        {"uuid": "5e5f4c2a-0000-4000-8000-00000000000b", "name": "blade-b", "power_state": "On", "nics": []},
    ]
    # The state directory is a configuration key, not an environment variable: without it the fake
    # systems persist in $TMPDIR/sushy-emulator and leak from one run (and test) into the next.
    config.write_text(
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}\nSUSHY_EMULATOR_STATE_DIR = {str(state)!r}\n"
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [program, "--fake", "-i", "127.0.0.1", "-p", str(port)],
        env=dict(os.environ, SUSHY_EMULATOR_CONFIG=str(config)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("sushy-emulator did not come up")
                time.sleep(0.1)
        yield port, systems
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.peer
@pytest.mark.slow
def test_sushy_tools_two_systems_one_fenced(sushy_two: Any) -> None:
    import requests

    port, systems = sushy_two
    base = ["-t", "redfish", f"ipaddr=127.0.0.1:{port}", "ssl=no"]
    # sushy names each system's outlet by Name (it reports no HostName); ids are the uuids.
    listing = run_stonith(*base, "-l")
    assert listing.returncode == 0, listing.stderr
    assert sorted(listing.stdout.split()) == ["blade-a", "blade-b"]
    # Its fake systems apply a change 1-11 s late: a deadline to match.
    result = run_stonith(*base, "--timeout", "30", "-T", "off", "blade-b", timeout=60)
    assert result.returncode == 0, result.stderr

    def power(system: dict[str, Any]) -> str:
        url = f"http://127.0.0.1:{port}/redfish/v1/Systems/{system['uuid']}"
        return str(requests.get(url, timeout=5).json()["PowerState"])

    assert power(systems[1]) == "Off"
    assert power(systems[0]) == "On"

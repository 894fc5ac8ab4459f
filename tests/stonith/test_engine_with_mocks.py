"""Issue 17's acceptance on real mocks: per-outlet verdicts, one lock for every front end, a hung device
costing only its own nodes, our own faults (audit, signals, SIGKILL), and names the configuration owns.

Judged by the mocks' ground truth (what the relays really did), never by our own output alone.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stonith.mocks.harness import start_mock

from tests.conftest import REPO, run_stonith, stonith_cmd
from tests.stonith.test_cluster_with_mocks import device_file

PASSWORD = "lab-secret"


# The device files of test_cluster_with_mocks, with a longer default deadline.
baytech_file = functools.partial(device_file, timeout=10)


def lab_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"LAB_PW": PASSWORD, "STONITH_LOCK_DIR": str(tmp_path / "locks"), "STONITH_AUDIT": "none", **extra}


def nodes_json(result: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    return {r["node"]: r for r in json.loads(result.stdout)}


def outlet_events(mock, outlet: str) -> list[str]:
    return [e["state"] for e in mock.events() if e["outlet"] == outlet]


# -- a stuck outlet fails only its own node ---------------------------------------------------------


def _reset_24(tmp_path: Path, faults: list[str]) -> tuple[subprocess.CompletedProcess[str], object]:
    hosts = {f"cn{24 + n}": str(n) for n in range(1, 25)}
    mock = start_mock("baytech", model="rpc3", outlets=24, password=PASSWORD, relay_delay=0.1, faults=faults)
    handle = mock.__enter__()
    for old in tmp_path.glob("*.toml"):
        old.unlink()
    baytech_file(tmp_path, "pdu2", handle.address, hosts=hosts, timeout=4)
    result = run_stonith("reset", "cn[25-48]", "--devices", str(tmp_path), "--json", env=lab_env(tmp_path))
    return result, (mock, handle)


def test_a_stuck_outlet_of_24_fails_only_its_node(tmp_path: Path) -> None:
    clean, (mock, _) = _reset_24(tmp_path, [])
    mock.__exit__(None, None, None)
    assert clean.returncode == 0, clean.stderr
    normal = max(r["duration"] for r in nodes_json(clean).values())

    started = time.monotonic()
    faulty, (mock, handle) = _reset_24(tmp_path, ["stuck=5"])
    try:
        assert time.monotonic() - started < 4 + 3  # the deadline, plus start-up and the mock
        assert faulty.returncode == 5, faulty.stderr
        results = nodes_json(faulty)
        stuck = results.pop("cn29")
        assert stuck["result"] == "failed" and stuck["state"] == "on"
        assert "pdu2: outlet 5" in stuck["message"] and "still on after" in stuck["message"]
        assert all(r["result"] == "ok" for r in results.values())
        slowest = max(r["duration"] for r in results.values())
        assert slowest <= 1.2 * normal + 0.25, (slowest, normal)
        # ground truth: 23 outlets off then on, outlet 5 never went off and was never switched on
        for outlet in range(1, 25):
            expected = [] if outlet == 5 else ["off", "on"]
            assert outlet_events(handle, str(outlet)) == expected, outlet
    finally:
        mock.__exit__(None, None, None)


# -- one lock for every front end -------------------------------------------------------------------


def test_two_agents_and_a_cluster_reset_share_a_one_session_device(tmp_path: Path) -> None:
    with start_mock("baytech", model="rpc3", password=PASSWORD, relay_delay=0.1) as mock:
        baytech_file(tmp_path, "pdu", mock.address, hosts={"n3": "3"}, timeout=20, settle=0.3)
        env = {**os.environ, **lab_env(tmp_path)}
        common = f"ip={mock.address}\nusername=admin\npassword={PASSWORD}\npower_timeout=10\n"
        agents = [
            subprocess.Popen(
                [sys.executable, "-P", "-m", "stonith.cli.fence_agent", "baytech"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        for plug, agent in zip(("1", "2"), agents, strict=True):
            assert agent.stdin is not None
            agent.stdin.write(common + f"action=reboot\nplug={plug}\n")
            agent.stdin.flush()
        cluster = subprocess.Popen(
            [*stonith_cmd(), "reset", "n3", "--devices", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for process in [*agents, cluster]:
            out, err = process.communicate(input="" if process in agents else None, timeout=60)
            assert process.returncode == 0, (out, err)
        # Serialized: each operation's off and on are next to each other in the relays' history.
        events = sorted(mock.events(), key=lambda e: e["t"])
        outlets = [e["outlet"] for e in events]
        assert sorted(outlets) == ["1", "1", "2", "2", "3", "3"]
        assert all(outlets[i] == outlets[i + 1] for i in range(0, 6, 2)), events
        assert [e["state"] for e in events] == ["off", "on"] * 3


# -- a hung device costs only its own nodes ---------------------------------------------------------


@pytest.mark.slow
def test_a_frozen_pdu_costs_only_its_own_nodes(tmp_path: Path) -> None:
    from stonith.fencing.inventory import load_dir
    from stonith.fencing.lab import Lab

    env = lab_env(tmp_path, STONITH_LAB_PASSWORD=PASSWORD)
    os.environ["STONITH_LAB_PASSWORD"] = PASSWORD
    try:
        inventory = load_dir(str(REPO / "devices.d"))
    finally:
        del os.environ["STONITH_LAB_PASSWORD"]
    devices = ["--devices", str(REPO / "devices.d"), "--json", "--timeout", "4"]
    with Lab(inventory) as lab:
        normal_status = nodes_json(run_stonith("status", *devices, env=env))
        before = time.monotonic()
        assert run_stonith("reset", "node7", *devices, env=env).returncode == 0
        normal_reset = time.monotonic() - before
        frozen = lab.mocks["pdu-a"].process
        os.kill(frozen.pid, signal.SIGSTOP)
        try:
            result = run_stonith("status", *devices, env=env)
            status = nodes_json(result)
            before = time.monotonic()
            reset = run_stonith("reset", "node7", *devices, env=env)
            reset_time = time.monotonic() - before
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
    pdu_a_nodes = {f"node{i}" for i in range(1, 7)} | {"spare-a"}
    for node, row in normal_status.items():
        if node in pdu_a_nodes or node == "db1":
            continue
        assert status[node]["result"] == "ok", status[node]
        assert status[node]["duration"] <= 1.5 * row["duration"] + 0.3, (node, status[node], row)
    for node in pdu_a_nodes:
        assert status[node]["result"] in ("unknown-node", "failed"), status[node]
        assert "pdu-a" in status[node]["message"]
    assert reset.returncode == 0, reset.stderr
    assert reset_time <= 1.5 * normal_reset + 0.5, (reset_time, normal_reset)


# -- our own faults ---------------------------------------------------------------------------------


def test_an_audit_log_that_cannot_be_written_refuses_before_switching(tmp_path: Path) -> None:
    with start_mock("baytech", model="rpc3", password=PASSWORD) as mock:
        baytech_file(tmp_path, "pdu", mock.address, hosts={"n1": "1"})
        env = lab_env(tmp_path)
        result = run_stonith(
            "reset", "n1", "--devices", str(tmp_path), "--audit", "/nonexistent-dir/x.log", env=env
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "audit: cannot write /nonexistent-dir/x.log" in result.stderr
        missing_syslog = run_stonith("reset", "n1", "--devices", str(tmp_path), "--audit", "syslog", env=env)
        if not os.path.exists("/dev/log"):
            assert missing_syslog.returncode == 1 and "syslog" in missing_syslog.stderr
        assert mock.events() == [] or os.path.exists("/dev/log")


def test_an_audit_log_failing_mid_run_lets_the_fence_finish_and_says_so(tmp_path: Path) -> None:
    with start_mock("baytech", model="rpc3", password=PASSWORD) as mock:
        baytech_file(tmp_path, "pdu", mock.address, hosts={"n1": "1"})
        # /dev/full opens, and every write to it fails with ENOSPC: a disk that filled up.
        result = run_stonith(
            "reset", "n1", "--devices", str(tmp_path), "--audit", "/dev/full", "--json", env=lab_env(tmp_path)
        )
        assert result.returncode == 8, result.stderr
        row = nodes_json(result)["n1"]
        assert row["result"] == "ok" and "audit record" in row["audit_error"]
        assert "audit record of the off phase not written" in result.stderr
        assert outlet_events(mock, "1") == ["off", "on"]


def _start_reset(tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*stonith_cmd(), "reset", "n1", "--devices", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **lab_env(tmp_path)},
    )


def _wait_for(condition, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


def test_sigint_stops_at_a_safe_point_and_prints_the_state(tmp_path: Path) -> None:
    with start_mock("baytech", model="rpc3", password=PASSWORD) as mock:
        baytech_file(tmp_path, "pdu", mock.address, hosts={"n1": "1"}, settle=3)
        process = _start_reset(tmp_path)
        _wait_for(lambda: outlet_events(mock, "1") == ["off"])
        time.sleep(0.3)  # read back off: now in the settle
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
        assert process.returncode == 130, err
        assert "Traceback" not in err and "interrupted" in err
        line = next(line for line in out.splitlines() if line.startswith("n1"))
        # fenced (read back off), not powered on again: left off, as read back
        assert line.split()[1:3] == ["ON-FAILED", "off"], out
        time.sleep(0.3)
        assert outlet_events(mock, "1") == ["off"]


def test_a_second_sigint_quits_at_once_with_one_line(tmp_path: Path) -> None:
    with start_mock("baytech", model="rpc3", password=PASSWORD, relay_delay=5) as mock:
        baytech_file(tmp_path, "pdu", mock.address, hosts={"n1": "1"}, timeout=20)
        process = _start_reset(tmp_path)
        time.sleep(1.5)  # logged in, off given, the relay takes 5 s: reading back
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=5)
        assert time.monotonic() - started < 2
        assert process.returncode == 130 and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("ERROR: interrupted again")


def test_after_a_sigkill_the_next_reset_does_not_wait_for_a_stale_lock(tmp_path: Path) -> None:
    with start_mock("baytech", model="rpc3", password=PASSWORD) as mock:
        baytech_file(tmp_path, "pdu", mock.address, hosts={"n1": "1"}, settle=3)
        process = _start_reset(tmp_path)
        _wait_for(lambda: outlet_events(mock, "1") == ["off"])
        process.kill()
        process.communicate(timeout=5)
        started = time.monotonic()
        again = run_stonith("reset", "n1", "--devices", str(tmp_path), env=lab_env(tmp_path))
        assert again.returncode == 0, again.stderr
        assert time.monotonic() - started < 3 + 3  # its own settle, no stale lock to wait for
        assert outlet_events(mock, "1")[-1] == "on"


# -- the configuration says which outlets feed a node -----------------------------------------------


def test_a_device_named_outlet_never_takes_a_node_a_map_owns(tmp_path: Path) -> None:
    # Level 1 names its outlets; someone renamed its outlet 2 "db1".  Level 2 maps db1 and feeds it.
    with (
        start_mock("baytech", model="rpc3", password=PASSWORD, names=["web1", "db1"]) as level1,
        start_mock("baytech", model="rpc5", password=PASSWORD) as level2,
    ):
        baytech_file(tmp_path, "pdu-a", level1.address, level=1)
        baytech_file(tmp_path, "pdu-c", level2.address, hosts={"db1": "1"}, level=2)
        env = lab_env(tmp_path)
        check = run_stonith("check", "--devices", str(tmp_path), env=env)
        assert check.returncode == 1
        assert "CONFLICT: pdu-a reports an outlet named db1, which [hosts] of pdu-c maps" in check.stdout
        assert "WARNING: node names come from the device's outlet names" in check.stdout
        reset = run_stonith("reset", "db1", "--devices", str(tmp_path), "--json", env=env)
        assert reset.returncode == 0, reset.stderr
        assert nodes_json(reset)["db1"]["level"] == 2
        assert level1.events() == [] and outlet_events(level2, "1") == ["off", "on"]

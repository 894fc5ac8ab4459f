"""stonith-slurm-suspend / stonith-slurm-resume (stonith/cli/slurm.py) without Slurm: as slurmctld runs
them (host list only, stdio closed, no PATH), detached, logged, failed nodes set DOWN.  The real
slurmctld drives them in tests/integration/test_slurm.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from stonith.mocks.harness import start_mock

from tests.conftest import run_stonith

PASSWORD = "slurm-unit-pw"


def program(action: str) -> str:
    return str(Path(sys.executable).with_name(f"stonith-slurm-{action}"))


def devices(tmp_path: Path, address: str) -> Path:
    directory = tmp_path / "devices.d"
    directory.mkdir(mode=0o700)
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)
    (directory / "pdu.toml").write_text(
        f'type = "baytech"\ntimeout = 10\nsettle = 0.1\n[parameters]\nipaddr = "{address}"\nlogin = "admin"\n'
        f'[secrets]\npassword = {{ file = "{secret}" }}\n[hosts]\nn1 = "1"\nn2 = "2"\nn3 = "3"\n'
    )
    (tmp_path / "locks").mkdir(mode=0o700, exist_ok=True)
    return directory


def as_slurmctld(tmp_path: Path, action: str, hostlist: str, *extra: str, path: str = "") -> int:
    """Run the program as slurmctld does: the host list, a bare environment, stdio closed."""
    env = {"STONITH_LOCK_DIR": str(tmp_path / "locks"), "STONITH_AUDIT": "none"}
    if path:
        env["PATH"] = path
    argv = [program(action), "--devices", str(tmp_path / "devices.d"), "--log", str(tmp_path / "power.log")]
    return subprocess.run(
        [*argv, *extra, hostlist],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
        # closing 0-2 in the child, as slurmctld does (close_fds keeps only 0-2: close them too)
        preexec_fn=_close_stdio,
    ).returncode


def _close_stdio() -> None:
    import os

    for fd in (0, 1, 2):
        os.close(fd)


def log_lines(tmp_path: Path) -> list[str]:
    path = tmp_path / "power.log"
    return path.read_text().splitlines() if path.exists() else []


def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


def test_resume_returns_before_the_power_is_on_then_switches_and_logs(tmp_path: Path) -> None:
    # The relay takes 1.5 s: the program must have returned while the outlets still read off.
    with start_mock(
        "baytech",
        model="rpc3",
        names=["n1", "n2", "n3"],
        states=["off", "off", "off"],
        password=PASSWORD,
        relay_delay=1.5,
    ) as mock:
        devices(tmp_path, mock.address)
        assert as_slurmctld(tmp_path, "resume", "n[1-2]") == 0
        assert (mock.state(1), mock.state(2)) == ("off", "off")
        assert any("n[1-2]: on: 2 nodes accepted, worker pid" in line for line in log_lines(tmp_path))
        wait_for(lambda: any("n[1-2]: on: 2 ok, 0 failed" in line for line in log_lines(tmp_path)))
        assert (mock.state(1), mock.state(2), mock.state(3)) == ("on", "on", "off")
        text = "\n".join(log_lines(tmp_path))
        assert "n1: on ok, state on" in text and "n2: on ok, state on" in text
        assert "stonith-slurm-resume[" in text


def test_suspend_failure_sets_the_node_down_with_the_reason(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "scontrol.calls"
    scontrol = fake / "scontrol"
    scontrol.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {calls}\n')
    scontrol.chmod(0o755)
    with start_mock(
        "baytech", model="rpc3", names=["n1", "n2", "n3"], password=PASSWORD, relay_delay=0.05
    ) as mock:
        devices(tmp_path, mock.address)
        code = as_slurmctld(tmp_path, "suspend", "n[3,9]", "--foreground", path=str(fake))
        assert code == 4  # unknown node: the worst per-node code, in the foreground
        assert mock.state(3) == "off"
        argv = calls.read_text().splitlines()
        assert argv[:3] == ["update", "NodeName=n9", "State=DOWN"]
        assert argv[3].startswith("Reason=stonith: power off unknown-node: no device in devices.d")
        text = "\n".join(log_lines(tmp_path))
        assert "n3: off ok" in text and "n[3,9]: off: 1 ok, 1 failed" in text
        assert "n9: set DOWN in Slurm" in text


def test_bad_input_is_refused_at_once_and_logged(tmp_path: Path) -> None:
    with start_mock("baytech", model="rpc3", names=["n1"], password=PASSWORD) as mock:
        devices(tmp_path, mock.address)
        assert as_slurmctld(tmp_path, "suspend", "n[1-") == 1
        assert as_slurmctld(tmp_path, "suspend", "n1", "--timeout", "0") == 1
        assert as_slurmctld(tmp_path, "suspend", "n1", "--devices", str(tmp_path / "missing")) == 1
        assert mock.events() == []
    refused = [line for line in log_lines(tmp_path) if "refused, nothing switched" in line]
    assert len(refused) == 3, log_lines(tmp_path)


def test_a_broken_device_file_fails_only_the_nodes_it_may_map(tmp_path: Path) -> None:
    # As for stonith off (stonith.fencing.prepare): n1 is named in a file that does not load, so it is not
    # switched (another feed might be in that file) and is set DOWN; n2 is switched.
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "scontrol.calls"
    (fake / "scontrol").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {calls}\n')
    (fake / "scontrol").chmod(0o755)
    with start_mock(
        "baytech",
        model="rpc3",
        names=["n1", "n2"],
        states=["off", "off"],
        password=PASSWORD,
        relay_delay=0.05,
    ) as mock:
        directory = devices(tmp_path, mock.address)
        (directory / "feed-b.toml").write_text('type = "baytech"\n[hosts]\nn1 = \n')
        assert as_slurmctld(tmp_path, "resume", "n[1-2]", "--foreground", path=str(fake)) == 1
        assert (mock.state(1), mock.state(2)) == ("off", "on")
    text = "\n".join(log_lines(tmp_path))
    assert "feed-b.toml" in text and "n2: on ok" in text
    assert "n1: on failed" in text and "broken device file" in text
    argv = calls.read_text().splitlines()
    assert argv[:3] == ["update", "NodeName=n1", "State=DOWN"] and "broken device file" in argv[3]


def test_stonith_subcommand_in_the_foreground(tmp_path: Path) -> None:
    with start_mock(
        "baytech", model="rpc3", names=["n1", "n2"], states=["on", "on"], password=PASSWORD, relay_delay=0.05
    ) as mock:
        devices(tmp_path, mock.address)
        result = run_stonith(
            "slurm-suspend",
            "n[1-2]",
            "--devices",
            str(tmp_path / "devices.d"),
            "--log",
            "none",
            "--foreground",
            env={"STONITH_LOCK_DIR": str(tmp_path / "locks"), "STONITH_AUDIT": str(tmp_path / "audit.log")},
        )
        assert result.returncode == 0, result.stderr
        assert "n1: off ok" in result.stderr and "n2: off ok" in result.stderr  # echoed in the foreground
        assert (mock.state(1), mock.state(2)) == ("off", "off")
        audit = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
        assert {(a["node"], a["verb"]) for a in audit} == {("n1", "off"), ("n2", "off")}

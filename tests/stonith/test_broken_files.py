"""A broken device file beside healthy ones, and secrets fetched on demand (issue 20 item 5).

Judged by the null driver's ground truth where it matters: nothing may be reported fenced through
a device while a broken file could hold another feed of the node, and nothing is switched for a
node that fails.  The secret tests time the whole command: four unrelated 3-second secret
commands and a FIFO secret file must not push ``status --timeout 5`` past its deadline.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import run_stonith

NULL_A = 'type = "null"\n[parameters]\nhostlist = ["n1", "n2", "db1"]\n[hosts]\nn1 = "n1"\ndb1 = "db1"\n'


def write(directory: Path, name: str, text: str | bytes, mode: int = 0o600) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def devices(tmp_path: Path) -> Path:
    directory = tmp_path / "devices.d"
    directory.mkdir(mode=0o700)
    write(directory, "a.toml", NULL_A)
    return directory


def operate(directory: Path, *argv: str) -> tuple[int, dict[str, dict], str]:
    result = run_stonith(*argv, "--json", "--devices", str(directory), "--audit", "none")
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    rows = {row["node"]: row for row in json.loads(result.stdout)} if result.stdout.strip() else {}
    return result.returncode, rows, result.stderr


BROKEN = {
    # valid TOML, invalid content: what it maps is known
    "bad parameter": (
        'type = "null"\n[parameters]\nhostlist = ["db1", "x1"]\noops = 1\n[hosts]\ndb1 = "db1"\n'
    ),
    "unknown type": 'type = "nosuch"\n[hosts]\ndb1 = "7"\n',
    # not TOML: only the words it holds are known
    "malformed TOML": 'type = "null"\n[hosts\ndb1 = "2"\n',
    "non-UTF-8": b'type = "null"\n# caf\xe9\n[hosts]\ndb1 = "2"\n',
}


@pytest.mark.parametrize("content", BROKEN.values(), ids=list(BROKEN))
def test_broken_file_fails_only_its_nodes(devices: Path, content: str | bytes) -> None:
    write(devices, "b.toml", content)
    code, rows, stderr = operate(devices, "reset", "n1,db1")
    assert "b.toml" in stderr  # reported loudly, every run
    assert rows["n1"]["result"] == "ok", rows  # depends on a.toml only: fenced
    # db1 is fed by a.toml and (per the broken file) maybe by b.toml too: fenced through a.toml
    # alone it could be reported off while b.toml's feed still powers it.
    assert rows["db1"]["result"] == "failed" and rows["db1"]["exit_code"] == 1, rows
    assert "b.toml" in rows["db1"]["message"] and rows["db1"]["devices"] == []
    assert code == 1


def test_unreadable_file_blocks_every_node(devices: Path) -> None:
    """A dangling symbolic link (or a file we cannot read): it could map any node."""
    (devices / "b.toml").symlink_to(devices.parent / "gone.toml")
    code, rows, stderr = operate(devices, "off", "n1,db1")
    assert "b.toml" in stderr and "symbolic link" in stderr
    assert all(r["result"] == "failed" and "b.toml" in r["message"] for r in rows.values()), rows
    assert code == 1
    check = run_stonith("check", "--devices", str(devices))
    assert check.returncode == 1 and "b.toml" in check.stdout + check.stderr


def test_unclaimed_node_never_goes_through_device_names(devices: Path, tmp_path: Path) -> None:
    """A node no loaded [hosts] places, while some file is broken: the broken file might have mapped
    it elsewhere (a [hosts] entry wins over a reported name), so it is not fenced through the outlet
    name another device reports.  Judged by the mock's ground truth: web1's outlet never switched."""
    from stonith.mocks.harness import start_mock

    with start_mock("baytech", model="rpc3", names=["web1", "web2"], password="pw") as mock:
        write(
            devices,
            "c.toml",
            f'type = "baytech"\ntimeout = 3\nsettle = 0\n[parameters]\nipaddr = "{mock.address}"\n'
            'login = "admin"\n[secrets]\npassword = { env = "BROKEN_TEST_PW" }\n',
        )
        os.environ["BROKEN_TEST_PW"] = "pw"
        env_devices = devices
        code, rows, _ = operate(env_devices, "off", "web1")
        assert rows["web1"]["result"] == "ok" and mock.state(1) == "off", rows  # sanity: it works
        mock_events = len(mock.events())
        write(devices, "b.toml", 'type = "nosuch"\n')  # names no node at all
        code, rows, _ = operate(devices, "on", "web1,n1")
        assert rows["n1"]["result"] == "ok", rows  # mapped by a.toml: fenced
        assert rows["web1"]["result"] == "failed" and "b.toml" in rows["web1"]["message"], rows
        assert mock.state(1) == "off" and len(mock.events()) == mock_events  # nothing switched
        assert code == 1


def test_status_of_every_node_lists_the_broken_files_nodes(devices: Path) -> None:
    write(devices, "b.toml", BROKEN["bad parameter"])
    code, rows, _ = operate(devices, "status")
    assert rows["n1"]["result"] == "ok"
    assert rows["db1"]["result"] == "failed" and "b.toml" in rows["db1"]["message"]
    assert rows["x1"]["result"] == "failed" if "x1" in rows else True
    assert code == 1


def test_check_fails_for_a_broken_file(devices: Path) -> None:
    write(devices, "b.toml", BROKEN["malformed TOML"])
    result = run_stonith("check", "--devices", str(devices))
    assert result.returncode == 1 and "b.toml" in result.stdout + result.stderr


# -- secrets on demand ---------------------------------------------------------------------------


def slow_secret(directory: Path, name: str, seconds: float, log: Path) -> Path:
    program = directory / f"{name}.sh"
    program.write_text(f"#!/bin/sh\necho start {name} >> {log}\nsleep {seconds}\necho '{name}-hosts'\n")
    program.chmod(0o700)
    return program


def test_slow_secret_commands_run_side_by_side_within_the_deadline(tmp_path: Path) -> None:
    directory = tmp_path / "devices.d"
    directory.mkdir(mode=0o700)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(mode=0o700)
    log = tmp_path / "started.log"
    for index in range(4):
        program = slow_secret(bin_dir, f"s{index}", 3, log)
        write(
            directory,
            f"d{index}.toml",
            f'type = "null"\n[secrets]\nhostlist = {{ command = ["{program}"] }}\n'
            f'[hosts]\nm{index} = "s{index}-hosts"\n',
        )
    started = time.monotonic()
    result = run_stonith("status", "--devices", str(directory), "--timeout", "5", "--json")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert {row["node"] for row in json.loads(result.stdout)} == {"m0", "m1", "m2", "m3"}
    assert took < 5 + 1, took  # one after another they took 12 s
    # Only the devices an operation needs run their secret commands.
    log.write_text("")
    result = run_stonith("status", "m2", "--devices", str(directory), "--timeout", "5")
    assert result.returncode == 0, result.stderr
    assert log.read_text().split() == ["start", "s2"]


def test_secret_command_bounded_by_the_deadline(tmp_path: Path) -> None:
    directory = tmp_path / "devices.d"
    directory.mkdir(mode=0o700)
    program = slow_secret(tmp_path, "hung", 60, tmp_path / "log")
    write(directory, "a.toml", NULL_A)
    write(
        directory,
        "b.toml",
        f'type = "null"\n[secrets]\nhostlist = {{ command = ["{program}"] }}\n[hosts]\nz1 = "z"\n',
    )
    started = time.monotonic()
    code, rows, stderr = operate(directory, "reset", "n1,z1", "--timeout", "2")
    took = time.monotonic() - started
    assert took < 2 + 1, took
    # The secret took the operation's time: z1 fails naming its file (n1, asked together with it,
    # shares what is left: the whole command keeps its deadline).
    assert rows["z1"]["result"] == "failed" and "b.toml" in rows["z1"]["message"], rows
    assert "did not finish" in stderr and code != 0
    # A node whose devices need no secret command does not wait for b.toml's.
    started = time.monotonic()
    code, rows, stderr = operate(directory, "reset", "n1", "--timeout", "2")
    assert time.monotonic() - started < 2 and rows["n1"]["result"] == "ok" and code == 0, rows


def test_fifo_secret_file(tmp_path: Path) -> None:
    directory = tmp_path / "devices.d"
    directory.mkdir(mode=0o700)
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    os.mkfifo(secrets / "pw", 0o600)
    write(directory, "a.toml", NULL_A)
    write(
        directory,
        "b.toml",
        f'type = "null"\n[secrets]\nhostlist = {{ file = "{secrets / "pw"}" }}\n[hosts]\nz1 = "z"\n',
    )
    started = time.monotonic()
    code, rows, stderr = operate(directory, "status", "n1,z1", "--timeout", "3")
    assert time.monotonic() - started < 3 + 1
    assert "not a regular file" in stderr
    assert rows["n1"]["result"] == "ok" and rows["z1"]["result"] == "failed", rows
    assert code == 1

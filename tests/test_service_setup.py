"""Running stonith as a service (issue 22 item 4): `stonith init`, `stonith install-units`, the units
themselves (systemd-analyze verify, systemd-tmpfiles), and `stonith check --log` against a fake
journal socket."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stonith.cli import init
from tests.conftest import REPO, require_peer
from tests.stonith.fakejournal import FakeJournal

STONITH = str(Path(sys.executable).parent / "stonith")


def _stonith(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STONITH, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
        env=dict(os.environ, **(env or {})),
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_init_creates_the_layout_idempotently(tmp_path: Path) -> None:
    first = _stonith("init", "--root", str(tmp_path))
    assert first.returncode == 0, first.stderr
    etc = tmp_path / "etc" / "stonith"
    assert _mode(etc) == 0o755 and _mode(etc / "devices.d") == 0o700
    example = etc / "devices.d" / "example.toml.example"
    assert _mode(example) == 0o600 and _mode(etc / "server.toml.example") == 0o600
    assert first.stdout.count("created ") == 4
    # a second run keeps everything, the administrator's edits included
    example.write_text("# mine\n")
    second = _stonith("init", "--root", str(tmp_path))
    assert second.returncode == 0 and "created" not in second.stdout
    assert second.stdout.count("kept ") == 4
    assert example.read_text() == "# mine\n"


def test_init_reports_a_lax_devices_d_and_refuses_a_link(tmp_path: Path) -> None:
    (tmp_path / "etc" / "stonith" / "devices.d").mkdir(parents=True)
    (tmp_path / "etc" / "stonith" / "devices.d").chmod(0o755)
    lax = _stonith("init", "--root", str(tmp_path))
    assert lax.returncode == 0 and "WARNING: mode 0755" in lax.stdout
    assert _mode(tmp_path / "etc" / "stonith" / "devices.d") == 0o755  # reported, not changed
    other = tmp_path / "other"
    (other / "etc").mkdir(parents=True)
    (other / "etc" / "stonith").symlink_to(tmp_path / "elsewhere")
    linked = _stonith("init", "--root", str(other))
    assert linked.returncode == 1 and "not a directory" in linked.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_the_example_device_file_is_a_valid_device(tmp_path: Path) -> None:
    """Copied to a *.toml name with its secret file in place, `stonith devices` loads it."""
    import tomllib

    text = init.example_device()
    data = tomllib.loads(text)
    secret = data["secrets"]["password"]["file"]
    devices = tmp_path / "devices.d"
    devices.mkdir(mode=0o700)
    password = tmp_path / "pdu-a.password"
    password.write_text("secret\n")
    password.chmod(0o600)
    (devices / "pdu-a.toml").write_text(text.replace(secret, str(password)))
    (devices / "pdu-a.toml").chmod(0o600)
    listed = _stonith("devices", "--devices", str(devices))
    assert listed.returncode == 0, listed.stderr
    assert "pdu-a" in listed.stdout and "baytech" in listed.stdout


def test_install_units_points_at_this_stonith_and_keeps_foreign_files(tmp_path: Path) -> None:
    units, tmpfiles = tmp_path / "system", tmp_path / "tmpfiles.d"
    units.mkdir()
    tmpfiles.mkdir()
    args = ("install-units", "--dir", str(units), "--tmpfiles-dir", str(tmpfiles))
    done = _stonith(*args)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in units.iterdir())
    assert names == ["stonith-check.service", "stonith-check.timer", "stonith.service"]
    check = (units / "stonith-check.service").read_text()
    assert f"ExecStart={STONITH} check " in check and "--log" in check
    assert f"ExecStart={STONITH} serve " in (units / "stonith.service").read_text()
    assert "d /run/stonith 0700 root root" in (tmpfiles / "stonith.conf").read_text()
    assert _mode(units / "stonith.service") == 0o644
    assert _stonith(*args).returncode == 0  # ours: replaced
    (units / "stonith.service").write_text("[Service]\nExecStart=/bin/true\n")
    refused = _stonith(*args)
    assert refused.returncode == 1 and "did not install" in refused.stderr
    assert (units / "stonith.service").read_text() == "[Service]\nExecStart=/bin/true\n"
    removed = _stonith(*args, "--remove")
    assert removed.returncode == 0
    assert [p.name for p in units.iterdir()] == ["stonith.service"] and not list(tmpfiles.iterdir())


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = require_peer("systemd-analyze", "systemd")
    units = tmp_path / "system"
    units.mkdir()
    init.install_units(str(units), str(tmp_path), program=STONITH)
    # verify runs `man` for each Documentation=man: entry: our shipped pages must answer
    proc = subprocess.run(
        [analyze, "verify", *(str(p) for p in sorted(units.iterdir()))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ, MANPATH=str(REPO / "share" / "man"), SYSTEMD_LOG_LEVEL="warning"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    timer = (units / "stonith-check.timer").read_text()
    assert "OnUnitActiveSec=" in timer and "WantedBy=timers.target" in timer


def test_tmpfiles_entry_makes_a_private_run_stonith(tmp_path: Path) -> None:
    tmpfiles = require_peer("systemd-tmpfiles", "systemd")
    if os.geteuid() != 0:
        from tests.conftest import require_root

        require_root("systemd-tmpfiles chowns /run/stonith to root")
    conf = tmp_path / "stonith.conf"
    conf.write_text(init.shipped("stonith.conf"))
    proc = subprocess.run(
        [tmpfiles, f"--root={tmp_path}", "--create", str(conf)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run" / "stonith"
    assert run.is_dir() and _mode(run) == 0o700 and run.stat().st_uid == 0


def _devices(tmp_path: Path) -> Path:
    devices = tmp_path / "devices.d"
    devices.mkdir(mode=0o700)
    (devices / "good.toml").write_text('type = "null"\n[parameters]\nhostlist = "n1"\n[hosts]\nn1 = "n1"\n')
    (devices / "bad.toml").write_text('type = "null"\nbogus = 1\n')
    for path in devices.iterdir():
        path.chmod(0o600)
    return devices


def test_check_log_sends_a_structured_record_per_device(tmp_path: Path) -> None:
    journal = FakeJournal(tmp_path)
    try:
        proc = _stonith(
            "check",
            "--log",
            "--devices",
            str(_devices(tmp_path)),
            env={"STONITH_JOURNAL_SOCKET": journal.path},
        )
        assert proc.returncode == 1, proc.stderr  # the bad file
        records = {r["STONITH_DEVICE"]: r for r in journal.pending()}
    finally:
        journal.close()
    assert records["good"]["STONITH_RESULT"] == "ok" and records["good"]["PRIORITY"] == "6"
    assert records["bad.toml"]["STONITH_RESULT"] == "failed" and records["bad.toml"]["PRIORITY"] == "3"
    assert records["bad.toml"]["MESSAGE"].startswith("bad.toml: ERROR: ")
    assert records["good"]["SYSLOG_IDENTIFIER"] == "stonith-check"
    assert len(records["good"]["MESSAGE_ID"]) == 32


def test_check_log_without_a_journal_refuses_before_contacting_devices(tmp_path: Path) -> None:
    dead = tmp_path / "dead.socket"
    dead.write_text("")  # exists, nobody listens
    proc = _stonith(
        "check", "--log", "--devices", str(_devices(tmp_path)), env={"STONITH_JOURNAL_SOCKET": str(dead)}
    )
    assert proc.returncode == 1 and "check --log: cannot reach journal" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("name", ["stonith-check.service", "stonith-check.timer", "stonith.conf"])
def test_units_are_package_data(name: str) -> None:
    import stonith

    assert (Path(stonith.__file__).parent / "systemd" / name).is_file()

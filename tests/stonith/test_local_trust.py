"""Issue 21's local attacks, each performed for real and shown refused or harmless.

Planted symbolic links, files owned by another user (uid 65534, made with os.chown: the tests run as
root), group- or world-writable files and directories, a PATH naming the working directory, and a
neighbour device's ``{ env = ... }`` secret that must not reach any child process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stonith.mocks.harness import start_mock

from stonith.cli import agents_install, catalogs
from stonith.contract.deadline import Deadline
from stonith.contract.errors import BadConfig, DeviceBusy, StonithError
from stonith.fencing import engine, locks
from stonith.fencing.audit import Audit, AuditError, Entry
from stonith.fencing.inventory import UnsafeFile, load_dir, load_file, scan_dir
from stonith.render import i18n
from tests.conftest import run_stonith, stonith_cmd
from tests.stonith.test_locks import file_slot

NOBODY = 65534
MARKER = "neighbour-secret-4711"
# Making files of another user needs root; a skip that CI forbids (tests/conftest.py's require_root).
root_only = pytest.mark.usefixtures("root_required")

NULL = 'type = "null"\n[parameters]\nhostlist = ["n1", "n2"]\n'


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def victim(tmp_path: Path) -> Path:
    """A private root file that no fence may read, follow into, change or chmod."""
    return write(tmp_path / "victim", "root's own data\n", 0o600)


def assert_untouched(path: Path) -> None:
    assert path.read_text() == "root's own data\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def unsafe_problems(directory: Path) -> list[str]:
    _, problems = scan_dir(str(directory))
    return [str(p) for p in problems if isinstance(p, UnsafeFile)]


# -- item 4: devices.d files, their directory, secret files and secret commands -----------------------


def test_a_symlinked_device_file_is_refused_not_followed(tmp_path: Path) -> None:
    devices = private_dir(tmp_path / "devices.d")
    real = write(tmp_path / "elsewhere.toml", NULL)
    (devices / "a.toml").symlink_to(real)
    with pytest.raises(BadConfig):
        load_dir(str(devices))
    assert any("a.toml is a symbolic link" in p for p in unsafe_problems(devices))


@root_only
def test_a_device_file_of_another_user_is_refused(tmp_path: Path) -> None:
    devices = private_dir(tmp_path / "devices.d")
    os.chown(write(devices / "a.toml", NULL), NOBODY, -1)
    assert any(f"owned by uid {NOBODY}" in p for p in unsafe_problems(devices))


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_device_file_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    devices = private_dir(tmp_path / "devices.d")
    write(devices / "a.toml", NULL, mode)
    assert any("writable by group or others" in p for p in unsafe_problems(devices))


@root_only
def test_a_devices_directory_others_can_write_or_own_is_refused(tmp_path: Path) -> None:
    devices = private_dir(tmp_path / "devices.d")
    write(devices / "a.toml", NULL)
    devices.chmod(0o777)
    assert any("writable by group or others" in p for p in unsafe_problems(devices))
    devices.chmod(0o755)
    os.chown(devices, NOBODY, -1)
    assert any(f"owned by uid {NOBODY}" in p for p in unsafe_problems(devices))
    os.chown(devices, 0, -1)
    assert [d.name for d in load_dir(str(devices)).devices] == ["a"]


SECRET_DEVICE = 'type = "baytech"\n[parameters]\nipaddr = "127.0.0.1:1"\nlogin = "admin"\n'


def secret_file_device(tmp_path: Path, secret: Path) -> Path:
    return write(tmp_path / "pdu.toml", SECRET_DEVICE + f'[secrets]\npassword = {{ file = "{secret}" }}\n')


def test_a_symlinked_secret_file_is_refused_even_to_a_private_target(tmp_path: Path) -> None:
    target = victim(tmp_path)
    link = private_dir(tmp_path / "secrets") / "pw"
    link.symlink_to(target)
    entry, problems = load_file(str(secret_file_device(tmp_path, link)))
    assert entry is None
    assert any(isinstance(p, UnsafeFile) and "symbolic link" in p.message for p in problems)
    assert not any("root's own data" in str(p) for p in problems)


@root_only
def test_a_secret_file_of_another_user_or_in_a_writable_directory_is_refused(tmp_path: Path) -> None:
    secrets = private_dir(tmp_path / "secrets")
    secret = write(secrets / "pw", "s3cret\n", 0o600)
    device = secret_file_device(tmp_path, secret)
    entry, _ = load_file(str(device))
    assert entry is not None and entry.driver.config["password"] == "s3cret"
    os.chown(secret, NOBODY, -1)  # 0600 but another user's: that user chose the password
    _, problems = load_file(str(device))
    assert any(f"owned by uid {NOBODY}" in str(p) for p in problems)
    os.chown(secret, 0, -1)
    secrets.chmod(0o777)  # anyone could replace the file between two fences
    _, problems = load_file(str(device))
    assert any("secrets is writable by group or others" in str(p) for p in problems)


@root_only
def test_a_secret_command_others_can_change_is_refused(tmp_path: Path) -> None:
    bin_dir = private_dir(tmp_path / "bin")
    program = write(bin_dir / "getpw", "#!/bin/sh\necho pw\n", 0o755)
    device = write(
        tmp_path / "pdu.toml", SECRET_DEVICE + f'[secrets]\npassword = {{ command = ["{program}"] }}\n'
    )
    entry, problems = load_file(str(device))
    assert entry is not None, problems
    program.chmod(0o775)
    _, problems = load_file(str(device))
    assert any("getpw is writable by group or others" in str(p) for p in problems)
    program.chmod(0o755)
    os.chown(bin_dir, NOBODY, -1)  # its owner could swap the program
    _, problems = load_file(str(device))
    assert any(f"bin is owned by uid {NOBODY}" in str(p) for p in problems)


def test_secret_commands_run_only_for_verbs_that_log_in_and_see_no_neighbour_secret(tmp_path: Path) -> None:
    devices = private_dir(tmp_path / "devices.d")
    ran, seen_env = tmp_path / "ran", tmp_path / "env"
    program = write(
        private_dir(tmp_path / "bin") / "getpw",
        f"#!/bin/sh\ntouch {ran}\nenv > {seen_env}\necho pw\n",
        0o700,
    )
    write(devices / "pdu.toml", SECRET_DEVICE + f'[secrets]\npassword = {{ command = ["{program}"] }}\n')
    # The neighbour's password comes from our environment: it must never reach another device's child.
    write(
        devices / "other.toml",
        'type = "baytech"\n[parameters]\nipaddr = "127.0.0.1:2"\nlogin = "admin"\n'
        '[secrets]\npassword = { env = "NEIGHBOUR_PW" }\n',
    )
    env = {"NEIGHBOUR_PW": MARKER, "PATH": ".:" + os.environ["PATH"], "STONITH_LOCK_DIR": str(tmp_path / "l")}
    listing = run_stonith("devices", "--devices", str(devices), env=env)
    assert listing.returncode == 0, listing.stderr
    assert "127.0.0.1:1" in listing.stdout and not ran.exists()  # listing needs no secret
    check = run_stonith("check", "--devices", str(devices), "--timeout", "3", "--json", env=env)
    assert ran.exists()  # logging in does
    assert {row["device"] for row in json.loads(check.stdout)} >= {"pdu", "other"}
    child = dict(line.split("=", 1) for line in seen_env.read_text().splitlines() if "=" in line)
    assert MARKER not in seen_env.read_text()
    assert all(part.startswith("/") for part in child["PATH"].split(":"))


# -- stonith check: one line per unsafe file and per weak channel ---------------------------------------


def test_check_lists_each_unsafe_file_and_each_weak_channel_on_a_line_of_its_own(tmp_path: Path) -> None:
    devices = private_dir(tmp_path / "devices.d")
    write(devices / "good.toml", NULL)
    write(devices / "open.toml", NULL.replace("n1", "n5").replace("n2", "n6"), 0o666)
    (devices / "link.toml").symlink_to(write(tmp_path / "x.toml", NULL))
    with start_mock("baytech", model="rpc3", password="pw") as mock:
        write(
            devices / "pdu.toml",
            f'type = "baytech"\n[parameters]\nipaddr = "{mock.address}"\nlogin = "admin"\n'
            '[secrets]\npassword = { env = "PDU_PW" }\n[hosts]\nweb1 = "1"\n',
        )
        env = {"PDU_PW": "pw", "STONITH_LOCK_DIR": str(tmp_path / "locks")}
        result = run_stonith("check", "--devices", str(devices), "--json", env=env)
        table = run_stonith("check", "--devices", str(devices), env=env)
    rows = json.loads(result.stdout)
    assert result.returncode == 1 and all(
        {"device", "result", "message", "exit_code"} <= set(r) for r in rows
    )
    unsafe = [r for r in rows if r["result"] == "unsafe-file"]
    assert sorted(r["device"] for r in unsafe) == ["link.toml", "open.toml"]
    weak = [r for r in rows if r["result"] == "weak-channel"]
    assert [(r["device"], r["exit_code"]) for r in weak] == [("pdu", 0)]
    assert "telnet" in weak[0]["message"]
    good = [r for r in rows if r["device"] == "good" and r["result"] == "ok"]
    assert len(good) == 1 and isinstance(good[0]["outlets"], int) and good[0]["identity"]
    assert table.stdout.count("UNSAFE FILE") == 2 and table.stdout.count("weak channel") == 1


# -- item 5: install-agents ----------------------------------------------------------------------------


def test_install_agents_never_follows_a_planted_link(tmp_path: Path) -> None:
    sbin = private_dir(tmp_path / "sbin")
    target = victim(tmp_path)
    (sbin / "fence_stonith_null.stonith-tmp").symlink_to(target)  # the old predictable name
    installed = agents_install.install(str(sbin), ["null"])
    agent = sbin / "fence_stonith_null"
    assert installed == [str(agent)]
    assert not agent.is_symlink() and stat.S_IMODE(agent.stat().st_mode) == 0o755
    assert_untouched(target)
    agent.unlink()
    agent.symlink_to(target)  # a link under the agent's own name is not ours: refused, not written through
    with pytest.raises(StonithError, match="refusing to overwrite"):
        agents_install.install(str(sbin), ["null"])
    assert_untouched(target)
    assert agents_install.remove(str(sbin)) == [] and agent.is_symlink()


@root_only
def test_install_agents_refuses_an_interpreter_or_target_others_can_change(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    python = write(venv / "bin" / "python", "#!/bin/sh\n", 0o755)
    os.chown(venv / "bin", NOBODY, -1)  # that user could swap the interpreter Pacemaker runs as root
    sbin = private_dir(tmp_path / "sbin")
    with pytest.raises(StonithError, match=f"refusing to install.*bin is owned by uid {NOBODY}"):
        agents_install.install(str(sbin), ["null"], python=str(python))
    assert list(sbin.iterdir()) == []
    os.chown(venv / "bin", 0, -1)
    python.chmod(0o777)
    with pytest.raises(StonithError, match="python is writable by others"):
        agents_install.install(str(sbin), ["null"], python=str(python))
    python.chmod(0o755)
    sbin.chmod(0o777)
    with pytest.raises(StonithError, match="writable by group or others"):
        agents_install.install(str(sbin), ["null"], python=str(python))
    assert list(sbin.iterdir()) == []


# -- item 6: the lock directory and what is written in it ----------------------------------------------


@root_only
def test_a_lock_directory_of_another_user_is_never_used(tmp_path: Path, monkeypatch) -> None:
    planted = tmp_path / "locks"
    planted.mkdir(mode=0o700)
    os.chown(planted, NOBODY, -1)  # prepared by someone else under the name we would use
    monkeypatch.setenv("STONITH_LOCK_DIR", str(planted))
    with pytest.raises(DeviceBusy, match=f"owned by uid {NOBODY}"), file_slot("pdu", 1, Deadline(1)):
        pass
    assert list(planted.iterdir()) == []


@pytest.mark.parametrize("kind", ["world-writable", "symlink"])
def test_an_open_or_linked_lock_directory_is_refused(tmp_path: Path, monkeypatch, kind: str) -> None:
    if kind == "world-writable":
        configured = tmp_path / "locks"
        configured.mkdir(mode=0o777)
        configured.chmod(0o777)
    else:
        configured = tmp_path / "link"
        configured.symlink_to(private_dir(tmp_path / "real"))
    monkeypatch.setenv("STONITH_LOCK_DIR", str(configured))
    with pytest.raises(DeviceBusy, match="lock directory refused"), file_slot("pdu", 1, Deadline(1)):
        pass


@root_only
def test_default_lock_directories_are_private(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("STONITH_LOCK_DIR", raising=False)
    monkeypatch.setattr(locks, "RUN_DIR", str(tmp_path / "run-stonith"))
    assert locks.lock_dir() == str(tmp_path / "run-stonith")
    assert stat.S_IMODE(os.lstat(locks.lock_dir()).st_mode) == 0o700
    os.chown(tmp_path / "run-stonith", NOBODY, -1)
    with pytest.raises(DeviceBusy, match="owned by uid"):
        locks.lock_dir()
    # Another user: $XDG_RUNTIME_DIR/stonith, never a shared /tmp directory.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(private_dir(tmp_path / "xdg")))
    assert locks.lock_dir() == str(tmp_path / "xdg" / "stonith")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    with pytest.raises(DeviceBusy, match="XDG_RUNTIME_DIR"):
        locks.lock_dir()


@root_only
def test_planted_lock_files_are_neither_followed_nor_waited_for(tmp_path: Path, monkeypatch) -> None:
    directory = private_dir(tmp_path / "locks")
    monkeypatch.setenv("STONITH_LOCK_DIR", str(directory))
    target = victim(tmp_path)
    (directory / "pdu.0.lock").symlink_to(target)
    with pytest.raises(DeviceBusy, match="symbolic link"), file_slot("pdu", 1, Deadline(5)):
        pass
    assert_untouched(target)
    (directory / "pdu.0.lock").unlink()
    os.chown(write(directory / "pdu.0.lock", ""), NOBODY, -1)  # another user's file: it could hold it
    started = time.monotonic()
    with pytest.raises(DeviceBusy, match=f"owned by uid {NOBODY}"), file_slot("pdu", 1, Deadline(5)):
        pass
    assert time.monotonic() - started < 1


class _Device:
    """What engine._remember and _recall use of a DeviceEntry."""

    def lock_key(self) -> str:
        return "baytech@10.0.0.5"


@root_only
def test_remembered_names_never_follow_a_link_nor_trust_another_users_file(
    tmp_path: Path, monkeypatch
) -> None:
    directory = private_dir(tmp_path / "locks")
    monkeypatch.setenv("STONITH_LOCK_DIR", str(directory))
    names = directory / (locks.safe_name(_Device().lock_key()) + ".names")
    target = victim(tmp_path)
    names.symlink_to(target)
    assert engine._recall(_Device()) == []  # type: ignore[arg-type]
    engine._remember(_Device(), ["db1"])  # type: ignore[arg-type]
    assert_untouched(target)
    assert not names.is_symlink() and engine._recall(_Device()) == ["db1"]  # type: ignore[arg-type]
    os.chown(names, NOBODY, -1)
    assert engine._recall(_Device()) == []  # type: ignore[arg-type]


# -- item 7: children get a built environment ------------------------------------------------------------


def test_an_external_script_sees_only_its_own_parameters_and_a_safe_path(tmp_path: Path) -> None:
    plugins = private_dir(tmp_path / "plugins")
    seen_env, hijacked = tmp_path / "env", tmp_path / "hijacked"
    write(
        plugins / "dump",
        "#!/bin/sh\n"
        f"env > {seen_env}\n"
        "id >/dev/null\n"  # found through PATH: a fake ./id in the working directory must not run
        "case $1 in\n"
        "  getconfignames) echo hostlist;;\n"
        "  gethosts) echo n1;;\n"
        "  status) exit 0;;\n"
        "esac\n",
        0o755,
    )
    workdir = private_dir(tmp_path / "work")
    write(workdir / "id", f"#!/bin/sh\ntouch {hijacked}\n", 0o755)
    env = dict(os.environ, NEIGHBOUR_PW=MARKER, PATH=".::" + os.environ["PATH"])
    env["STONITH_EXTERNAL_DIRS"] = str(plugins)
    result = subprocess.run(
        [*stonith_cmd(), "-t", "external/dump", "hostlist=n1", "-l"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == "n1\n", result.stderr
    child = dict(line.split("=", 1) for line in seen_env.read_text().splitlines() if "=" in line)
    assert MARKER not in seen_env.read_text() and not hijacked.exists()
    assert child["hostlist"] == "n1"
    assert all(part.startswith("/") for part in child["PATH"].split(":"))


def test_a_mock_process_gets_its_own_secret_and_nothing_else(monkeypatch) -> None:
    monkeypatch.setenv("NEIGHBOUR_PW", MARKER)
    monkeypatch.setenv("PATH", ".:" + os.environ["PATH"])
    with start_mock("baytech", subprocess_=True, password="mock-pw") as mock:
        assert mock.process is not None
        environ = Path(f"/proc/{mock.process.pid}/environ").read_bytes().decode().split("\0")
    child = dict(item.split("=", 1) for item in environ if "=" in item)
    assert MARKER not in "".join(environ)
    assert child["STONITH_MOCK_PASSWORD"] == "mock-pw"
    assert all(part.startswith("/") for part in child["PATH"].split(":"))


# -- item 8: the channel's strength in the audit record -------------------------------------------------


def test_the_audit_record_carries_the_devices_channel(tmp_path: Path) -> None:
    devices = private_dir(tmp_path / "devices.d")
    audit = tmp_path / "audit.jsonl"
    with start_mock("baytech", model="rpc3", password="pw") as mock:
        write(
            devices / "pdu.toml",
            f'type = "baytech"\nsettle = 0\n[parameters]\nipaddr = "{mock.address}"\nlogin = "admin"\n'
            '[secrets]\npassword = { env = "PDU_PW" }\n[hosts]\nweb1 = "1"\n',
        )
        env = {"PDU_PW": "pw", "STONITH_LOCK_DIR": str(tmp_path / "locks")}
        result = run_stonith("off", "web1", "--devices", str(devices), "--audit", str(audit), env=env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert records and all(r["channel"].startswith("weak: telnet") for r in records)


# -- item 9 (local part) --------------------------------------------------------------------------------


def test_a_language_code_cannot_reach_a_catalog_outside_ours(tmp_path: Path) -> None:
    evil = tmp_path / "evil" / "LC_MESSAGES"
    evil.mkdir(parents=True)
    catalogs.write_mo(
        {"": "Content-Type: text/plain; charset=UTF-8\n", "Parameters:": "PWNED"}, str(evil / "stonith.mo")
    )
    traversal = os.path.relpath(tmp_path / "evil", i18n.LOCALEDIR)
    assert i18n.requested_language(traversal) == "en"
    assert i18n._("Parameters:", traversal) == "Parameters:"
    by_option = run_stonith("metadata", "null", "--format", "help", "--lang", traversal)
    by_env = run_stonith("metadata", "null", "--format", "help", env={"LANG": traversal, "LC_ALL": ""})
    assert "PWNED" not in by_option.stdout + by_env.stdout
    assert i18n.requested_language("de_DE.UTF-8") == "de_DE"


def test_the_usb_backend_variable_never_imports_a_module(tmp_path: Path, monkeypatch) -> None:
    from stonith.transport import usb

    imported = tmp_path / "imported"
    write(
        tmp_path / "evil_usb_backend.py",
        f"open({str(imported)!r}, 'w').close()\nget_backend = lambda: None\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("STONITH_USB_BACKEND", "evil_usb_backend:get_backend")
    with pytest.raises(BadConfig, match="unix:/PATH"):
        usb.load_backend()
    assert not imported.exists() and "evil_usb_backend" not in sys.modules


@root_only
def test_the_audit_file_is_never_a_link_nor_another_users_file(tmp_path: Path) -> None:
    target = victim(tmp_path)
    link = tmp_path / "audit.jsonl"
    link.symlink_to(target)
    with pytest.raises(AuditError, match="symbolic link"):
        Audit(str(link)).open()
    opened = Audit(str(tmp_path / "swapped.jsonl"))
    opened.open()  # then swapped for a link before the first record
    (tmp_path / "swapped.jsonl").unlink(missing_ok=True)
    (tmp_path / "swapped.jsonl").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        opened.record([Entry("n1", "pdu", ["1"], "off", "ok", 0.1)])
    assert_untouched(target)
    foreign = write(tmp_path / "foreign.jsonl", "")
    os.chown(foreign, NOBODY, -1)
    with pytest.raises(AuditError, match=f"owned by uid {NOBODY}"):
        Audit(str(foreign)).open()


def test_parse_errors_never_echo_the_string_holding_the_secret(tmp_path: Path) -> None:
    from tests.stonith.test_glue_cli import run_inproc

    # ipmilan's -p order starts "hostname ipaddr": a password given alone lands in hostname.
    code, _, err = run_inproc(["-t", "ipmilan", "-p", "hunter2-secret", "-l"])
    assert code == 1 and "Invalid STONITH -p parameter" in err and "hunter2" not in err
    config = write(tmp_path / "glue.cfg", "hunter2-secret\n")
    code, _, err = run_inproc(["-t", "ipmilan", "-F", str(config), "-l"])
    assert code == 1 and "hunter2" not in err
    code, _, err = run_inproc(["-t", "ipmilan", "--password=hunter2-secret", "-l"])
    assert code == 1 and "unrecognized option '--password'" in err and "hunter2" not in err


# -- item 10: mocks as a product ---------------------------------------------------------------------


def test_a_mock_warns_when_exposed_and_when_using_default_credentials() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STONITH_MOCK_")}
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "stonith.mocks", "baytech", "--listen", "0.0.0.0:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None and json.loads(process.stdout.readline())["type"] == "baytech"
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "--listen 0.0.0.0:0 is not a loopback address" in err
    assert "default password" in err
    from stonith.mocks.__main__ import start

    warnings: list[str] = []
    start(["baytech", "--listen", "127.0.0.1:0", "--password", "own"], warnings).close()
    assert warnings == []  # loopback and a password of its own: nothing to warn about


@pytest.mark.parametrize(
    ("parameters", "mock_args", "why"),
    [
        ('ipaddr = "10.0.0.5"', ["--listen", "127.0.0.1:0"], "10.0.0.5 is not a loopback address"),
        ('ipaddr = "127.0.0.1:17001"', ["--listen", "0.0.0.0:17001"], "beyond this host"),
        ('ttydev = "/dev/ttyS0"', ["--serial-link", "{tmp}/tty"], "not the serial link its mock serves"),
    ],
)
def test_lab_refuses_to_hand_production_secrets_to_mocks(
    tmp_path: Path, parameters: str, mock_args: list[str], why: str
) -> None:
    devices = private_dir(tmp_path / "devices.d")
    write(
        devices / "pdu.toml",
        f'type = "baytech"\n[parameters]\n{parameters}\nlogin = "admin"\n'
        f'[secrets]\npassword = {{ env = "PDU_PW" }}\n[mock]\n'
        f"args = {json.dumps([a.format(tmp=tmp_path) for a in mock_args])}\n",
    )
    started = time.monotonic()
    result = run_stonith("lab", "--devices", str(devices), env={"PDU_PW": "production-pw"}, timeout=20)
    assert result.returncode != 0 and time.monotonic() - started < 10
    assert "refusing to hand" in result.stderr and "pdu: " in result.stderr
    assert why in result.stderr and "production-pw" not in result.stderr + result.stdout

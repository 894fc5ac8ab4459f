"""devices.d validation: every problem as file:field, documented exit code, nothing switched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stonith.contract.driver import Driver
from stonith.contract.errors import BadConfig
from stonith.fencing import registry
from stonith.fencing.inventory import load_dir, load_file
from tests.conftest import run_stonith
from tests.stonith.test_glue_cli import Recorder


def write(directory: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = directory / name
    path.write_text(text)
    path.chmod(mode)
    return path


NULL = 'type = "null"\n[parameters]\nhostlist = ["n1", "n2", "n3"]\n'


@pytest.fixture
def recorder_type(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.load

    def load(name: str) -> type[Driver]:
        return Recorder if name == "recorder" else real(name)

    monkeypatch.setattr(registry, "load", load)


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(BadConfig) as info:
        load_dir(str(directory))
    return [str(p) for p in info.value.problems]


def test_good_directory(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", NULL + '[hosts]\nn1 = "n1"\nn2 = ["n2", "n3"]\n')
    inventory = load_dir(str(tmp_path))
    assert [d.name for d in inventory.devices] == ["a"]
    assert inventory.devices[0].hosts == {"n1": ["n1"], "n2": ["n2", "n3"]}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('type = "null"\n[parameters\n', "malformed TOML"),
        ('[parameters]\nhostlist = ["a"]\n', "a.toml:type: required"),
        ('type = "nosuch"\n', "a.toml:type: Invalid device type: 'nosuch'"),
        ('type = "null"\n', "a.toml:parameters.hostlist: required parameter is missing"),
        (
            'type = "null"\n[parameters]\nhostlist = ["a"]\nbogus = 1\n',
            "a.toml:parameters.bogus: unknown parameter",
        ),
        ("level = 0\n" + NULL, "a.toml:level"),
        ('colour = "red"\n' + NULL, "a.toml:colour: unknown key"),
        (
            NULL + '[hosts]\nn1 = "1"\nn2 = "1"\n',
            "a.toml:hosts.n2: outlet '1' is already claimed by node 'n1'",
        ),
        (NULL + '[hosts]\n"bad node" = "1"\n', "not a valid node name"),
        (NULL + '[hosts]\nn1 = "a\\u0007b"\n', "bad outlet"),
        (NULL + "[hosts]\nn1 = []\n", "needs at least one outlet"),
        (NULL + '[secrets]\nhostlist = { env = "NO_SUCH_VARIABLE_X" }\n', "secrets.hostlist"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, needle: str) -> None:
    write(tmp_path, "a.toml", text)
    assert any(needle in p for p in problems_of(tmp_path)), problems_of(tmp_path)


def test_duplicate_device_names(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'name = "pdu"\n' + NULL)
    write(tmp_path, "b.toml", 'name = "pdu"\n' + NULL)
    assert any("b.toml:name: device name 'pdu' is also used by" in p for p in problems_of(tmp_path))


def test_every_file_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'type = "nosuch"\n')
    write(tmp_path, "b.toml", 'type = "null"\n')
    problems = problems_of(tmp_path)
    assert any(p.startswith(str(tmp_path / "a.toml")) for p in problems)
    assert any(p.startswith(str(tmp_path / "b.toml")) for p in problems)


SECRET_DEVICE = 'type = "recorder"\n[parameters]\nipaddr = "10.0.0.1"\nlogin = "admin"\n'


def test_inline_secret_needs_a_private_file(tmp_path: Path, recorder_type: None) -> None:
    path = write(tmp_path, "r.toml", SECRET_DEVICE + 'password = "pw"\n', mode=0o644)
    entry, problems = load_file(str(path))
    assert entry is None
    assert any("parameters.password" in str(p) and "chmod 600" in str(p) for p in problems)
    path.chmod(0o600)
    entry, problems = load_file(str(path))
    assert problems == [] and entry is not None


def test_secret_by_file_env_and_command(tmp_path: Path, recorder_type: None, monkeypatch) -> None:
    secret = write(tmp_path, "pw", "from-file\n", mode=0o600)
    path = write(
        tmp_path, "r.toml", SECRET_DEVICE + f'[secrets]\npassword = {{ file = "{secret}" }}\n', 0o644
    )
    entry, problems = load_file(str(path))
    assert problems == [] and entry is not None and entry.driver.config["password"] == "from-file"
    secret.chmod(0o644)
    _, problems = load_file(str(path))
    assert any("readable by group or others" in str(p) for p in problems)
    monkeypatch.setenv("PDU_PW", "from-env")
    path = write(tmp_path, "r.toml", SECRET_DEVICE + '[secrets]\npassword = { env = "PDU_PW" }\n', 0o644)
    entry, _ = load_file(str(path))
    assert entry is not None and entry.driver.config["password"] == "from-env"
    echo = '[secrets]\npassword = { command = ["/bin/echo", "cmd"] }\n'
    path = write(tmp_path, "r.toml", SECRET_DEVICE + echo)
    entry, _ = load_file(str(path))
    assert entry is not None and entry.driver.config["password"] == "cmd"
    path = write(tmp_path, "r.toml", SECRET_DEVICE + '[secrets]\npassword = { command = ["echo", "cmd"] }\n')
    _, problems = load_file(str(path))
    assert any("not an absolute path" in str(p) for p in problems)
    path = write(
        tmp_path, "r.toml", SECRET_DEVICE + '[secrets]\npassword = { command = "echo x; rm -rf /" }\n'
    )
    _, problems = load_file(str(path))
    assert any("list of strings" in str(p) for p in problems)


def test_cli_bad_devices_dir_exit_code_and_nothing_switched(tmp_path: Path) -> None:
    """A broken file fails the nodes it names (exit 1, naming it) and switches nothing for them;
    tests/stonith/test_broken_files.py has the rest (nodes beside it are fenced)."""
    write(tmp_path, "a.toml", NULL)
    write(tmp_path, "b.toml", 'type = "null"\n[parameters]\nhostlist = ["x"]\noops = 1\n')
    result = run_stonith("reset", "x", "--devices", str(tmp_path), "--audit", str(tmp_path / "audit"))
    assert result.returncode == 1
    assert "b.toml:parameters.oops" in result.stderr
    assert "b.toml" in result.stdout
    assert "Traceback" not in result.stderr
    assert (tmp_path / "audit").read_text() == ""


def test_cli_status_reset_devices_json_and_audit(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", NULL)
    audit = tmp_path / "audit.log"
    result = run_stonith("devices", "--devices", str(tmp_path))
    assert result.returncode == 0 and "null" in result.stdout
    result = run_stonith("status", "--devices", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "n1" in result.stdout and "n3" in result.stdout
    result = run_stonith("reset", "n[1-2]", "--devices", str(tmp_path), "--json", "--audit", str(audit))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["node"] for d in data] == ["n1", "n2"] and all(d["result"] == "ok" for d in data)
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert {(e["node"], e["verb"], e["result"]) for e in lines} == {
        ("n1", "off", "ok"),
        ("n1", "on", "ok"),
        ("n2", "off", "ok"),
        ("n2", "on", "ok"),
    }
    assert oct(os.stat(audit).st_mode & 0o777) == "0o600"
    result = run_stonith("reset", "zz", "--devices", str(tmp_path), "--audit", "none")
    assert result.returncode == 4
    result = run_stonith("check", "--devices", str(tmp_path))
    assert result.returncode == 0 and "ok" in result.stdout

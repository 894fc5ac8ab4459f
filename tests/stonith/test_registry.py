"""Discovery through the ``stonith.drivers`` entry-point group, with fake distributions (as pluggy tests)."""

from __future__ import annotations

import importlib.metadata
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from stonith.contract.errors import UnknownType
from stonith.fencing import registry
from tests.conftest import run_stonith


def _fake_dist(root: Path, name: str, lines: str) -> None:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(lines, encoding="utf-8")


def test_fake_distribution_is_found(tmp_path: Path) -> None:
    _fake_dist(
        tmp_path, "acme_pdu", "[console_scripts]\nx = y:z\n\n[stonith.drivers]\nacme = acme_pdu.driver:Acme\n"
    )
    found = registry.entry_points([str(tmp_path)])
    assert list(found) == ["acme"]
    assert found["acme"].value == "acme_pdu.driver:Acme"
    assert found["acme"].distribution == "acme_pdu"


def test_first_distribution_on_the_path_wins(tmp_path: Path) -> None:
    _fake_dist(tmp_path / "a", "first", "[stonith.drivers]\ndup = first:D\n")
    _fake_dist(tmp_path / "b", "second", "[stonith.drivers]\ndup = second:D\n")
    found = registry.entry_points([str(tmp_path / "a"), str(tmp_path / "b")])
    assert found["dup"].distribution == "first"


def test_third_party_driver_loads_like_a_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "acme_pdu"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "driver.py").write_text("from stonith.drivers.null import Null as Acme\n")
    _fake_dist(tmp_path, "acme_pdu", "[stonith.drivers]\nacme = acme_pdu.driver:Acme\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "acme" in registry.types()
    assert registry.load("acme").INFO.name == "null"
    assert registry.provenance("acme") == "acme_pdu"


def test_broken_third_party_driver_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dist(tmp_path, "broken", "[stonith.drivers]\nbroken = no_such_module:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnknownType, match="Cannot load device type 'broken'"):
        registry.load("broken")


def test_agrees_with_importlib_metadata() -> None:
    ours = {name: ep.value for name, ep in registry.entry_points().items()}
    theirs = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="stonith.drivers")}
    assert ours == theirs


def test_builtins_are_registered_through_entry_points() -> None:
    eps = registry.entry_points()
    for name in ("null", "meatware", "ssh", "suicide"):
        assert eps[name].value.startswith("stonith.drivers.")
        assert eps[name].distribution == "stonith"


def test_block_list_hides_a_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STONITH_BLOCK", "ssh, suicide")
    assert "ssh" not in registry.types()
    with pytest.raises(UnknownType):
        registry.load("ssh")


def _script(path: Path, mode: int) -> None:
    path.write_text("#!/bin/sh\necho hostlist\n")
    path.chmod(mode)


def test_external_scripts_are_accepted_like_cluster_glue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(tmp_path / "good", 0o755)
    _script(tmp_path / "groupwritable", 0o775)
    _script(tmp_path / "notexec", 0o644)
    (tmp_path / "adir").mkdir()
    monkeypatch.setenv("STONITH_EXTERNAL_DIRS", str(tmp_path))
    assert registry.external_plugins() == {"external/good": str(tmp_path / "good")}
    assert "external/good" in registry.types()


def test_external_protocol(tmp_path: Path) -> None:
    script = tmp_path / "demo"
    log = tmp_path / "calls"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$1 $2 pw=${{password:+set}}" >> {log}\n'
        "case $1 in\n"
        '  getconfignames) echo "hostlist password";;\n'
        '  getinfo-devid) echo "Demo device";;\n'
        '  getinfo-devdescr) echo "A demo external plugin";;\n'
        '  getinfo-devurl) echo "http://example.invalid/";;\n'
        '  getinfo-xml) echo "<parameters>'
        '<parameter name=\\"hostlist\\" required=\\"1\\"><shortdesc>Hosts</shortdesc>'
        '</parameter><parameter name=\\"password\\" required=\\"0\\"><shortdesc>Pass</shortdesc></parameter>'
        '</parameters>";;\n'
        "  gethosts) for h in $hostlist; do echo $h; done;;\n"
        "  status|reset|on|off) exit 0;;\n"
        "  *) exit 1;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    env = {"STONITH_EXTERNAL_DIRS": str(tmp_path)}
    result = run_stonith("-t", "external/demo", "-n", env=env)
    assert result.stdout == "hostlist  password  \n"
    result = run_stonith("-t", "external/demo", "hostlist=n1 n2", "password=s3cret", "-l", "-S", env=env)
    assert (result.returncode, result.stdout) == (0, "n1\nn2\n")
    result = run_stonith(
        "-t", "external/demo", "hostlist=n1 n2", "password=s3cret", "-T", "reset", "n1", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "NOT verified" in result.stderr
    calls = log.read_text()
    assert "reset n1 pw=set" in calls  # the secret travels in the environment, not argv
    assert "s3cret" not in calls
    result = run_stonith("-t", "external/demo", "hostlist=n1", "-T", "reset", "zz", env=env)
    assert result.returncode == 4  # S_BADHOST: not in gethosts


def _imports(argv: list[str]) -> set[str]:
    import subprocess

    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}


def test_listing_imports_no_driver_and_no_heavy_library() -> None:
    baseline = _imports([sys.executable, "-c", "pass"])  # site hooks (e.g. an editable install)
    imported = _imports([str(Path(sys.executable).with_name("stonith")), "-L"]) - baseline
    for heavy in (
        "pysnmp",
        "pyghmi",
        "requests",
        "usb",
        "serial",
        "importlib.metadata",
        "typing",
        "enum",
        "stonith.drivers.null",
        "argparse",
        "re",
    ):
        assert heavy not in imported, heavy


def test_executable_bit_is_required() -> None:
    assert stat.S_IXUSR  # documentation anchor for the rule tested above


def test_external_device_name_runs_no_script(tmp_path: Path) -> None:
    """The lock key of an external device comes from its configuration: a plugin whose
    getinfo-devname hangs held every session of the device 10 s outside any deadline."""
    script = tmp_path / "hung"
    script.write_text(
        "#!/bin/sh\n"
        "case $1 in\n"
        '  getconfignames) echo "ipaddr password";;\n'
        "  getinfo-devname) sleep 30;;\n"
        "  gethosts) echo n1;;\n"
        "  status|reset|on|off) exit 0;;\n"
        "  *) exit 1;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    env = {"STONITH_EXTERNAL_DIRS": str(tmp_path)}
    started = time.monotonic()
    result = run_stonith(
        "-t", "external/hung", "ipaddr=10.0.0.9", "password=x", "-S", "--timeout", "3", env=env
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 3

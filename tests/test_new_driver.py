"""``stonith new-driver``: each kit scaffolded into a scratch copy of the checkout's edited parts.

The generated files must pass the repository's ruff and mypy settings, their metadata must render,
the console driver must stay within the issue's size (a telnet switch driver of at most 150 lines,
at most 6 new files with its mock and tests), and the generated test must pass against the
generated mock: the scratch modules are loaded by path under their installed names
(``stonith.drivers.NAME``, ``stonith.mocks.NAME``), so no install is needed.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stonith.cli import new_driver
from stonith.contract.validation import validate
from stonith.render.metadata import fence_xml, glue_xml
from tests.conftest import REPO, run_stonith, stonith_cmd

KITS = new_driver.KITS
# What the scaffolder reads or extends, copied into the scratch checkout.
COPIED = ("pyproject.toml", "README.md", "tests/__init__.py")
# The shared files a new type adds a line to: the entry points (the one list) and the README table.
EDITED = ("pyproject.toml", "README.md")
VENV_BIN = Path(sys.executable).parent


def name_of(kit: str) -> str:
    return f"demo_{kit}"


def scratch_checkout(root: Path) -> Path:
    for part in COPIED:
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / part, root / part)
    shutil.copytree(REPO / "hwtests" / "every-mock.d", root / "hwtests" / "every-mock.d")
    shutil.copy(REPO / "tests" / "conftest.py", root / "tests" / "conftest.py")
    (root / "mocks").mkdir()
    (root / "drivers").mkdir()
    return root


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch checkout with every kit scaffolded into it through the ``stonith`` command."""
    root = scratch_checkout(tmp_path_factory.mktemp("checkout"))
    for kit in KITS:
        result = run_stonith("new-driver", name_of(kit), "--kit", kit, "--repo", str(root))
        assert result.returncode == 0, result.stderr
        assert f"wrote drivers/{name_of(kit)}.py" in result.stdout
        assert "./run install" in result.stdout
    return root


def load(monkeypatch: pytest.MonkeyPatch, module: str, path: Path) -> object:
    spec = importlib.util.spec_from_file_location(module, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module, loaded)
    spec.loader.exec_module(loaded)
    return loaded


def driver_class(monkeypatch: pytest.MonkeyPatch, checkout: Path, kit: str) -> type:
    """The scaffolded driver class of ``kit``, loaded from the scratch checkout."""
    name = name_of(kit)
    module = load(monkeypatch, f"stonith.drivers.{name}", checkout / "drivers" / f"{name}.py")
    return getattr(module, new_driver.class_name(name))


# ---------------------------------------------------------------------------------------------
# What is written


@pytest.mark.parametrize("kit", KITS)
def test_every_file_and_registration_line(checkout: Path, kit: str) -> None:
    name = name_of(kit)
    for path in (f"drivers/{name}.py", f"mocks/{name}.py", f"tests/drivers/test_{name}.py"):
        ast.parse((checkout / path).read_text(encoding="utf-8"), path)
    for kind in ("glue", "fence"):
        assert (checkout / "tests" / "metadata" / f"{name}.{kind}.xml").read_text() == ""
    project = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
    entry_points = project["project"]["entry-points"]["stonith.drivers"]
    assert entry_points[name] == f"stonith.drivers.{name}:{new_driver.class_name(name)}"
    assert "summary=" in (checkout / f"drivers/{name}.py").read_text()  # how `stonith types` lists it
    row = tomllib.loads(
        (checkout / "hwtests" / "every-mock.d" / f"{name.replace('_', '-')}.toml").read_text()
    )
    assert row["type"] == name
    assert f"| `{name}` |" in (checkout / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("kit", KITS)
def test_the_campaign_and_the_fuzzer_read_the_new_type_from_its_row(
    checkout: Path, kit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No line in hwtests/mocktypes.py or hwtests/fuzzing.py: the every-mock.d row says it."""
    import hwtests  # noqa: F401  (the installed stonith first)
    from hwtests import fuzzing, mocktypes

    name = name_of(kit)
    cls = driver_class(monkeypatch, checkout, kit)
    rows = checkout / "hwtests" / "every-mock.d"
    kind = mocktypes.row_kind(str(rows / f"{name.replace('_', '-')}.toml"), cls)
    if kit == "snmp":
        assert kind is None  # SNMP families are sampled: one agent serves them all
        return
    assert kind is not None and (kind.mock_type, kind.driver) == (name, name)
    expected = {"console": mocktypes._MENU, "bmc": mocktypes._BMC, "http": mocktypes._REDFISH}[kit]
    assert kind.faults == expected
    params = kind.parameters("127.0.0.1:1", "secret", {"node-a": ["1"]})
    assert params["ipaddr"] == "127.0.0.1:1" and params["password"] == "secret"
    assert validate(cls.INFO.fields, params)[1] == []  # the campaign's parameters are the driver's own
    if kit == "console":  # a stream driver: fuzzed with the case its row gives
        case = fuzzing.stream_case(name, str(rows))
        assert case == ({"ipaddr": "fake:23", "password": "pw"}, "telnet", fuzzing.SWITCHING_LINE)
        assert re.search(fuzzing.SWITCHING_LINE, b"status\ron 3\r")  # the template's switching line
        assert not re.search(fuzzing.SWITCHING_LINE, b"logout\rstatus\r")


def test_only_lines_are_added_to_the_edited_files(checkout: Path) -> None:
    for part in EDITED:
        before = (REPO / part).read_text(encoding="utf-8").splitlines()
        after = (checkout / part).read_text(encoding="utf-8").splitlines()
        changes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
        assert {op for op, *_ in changes} == {"equal", "insert"}, part


def test_the_console_driver_is_a_small_driver(checkout: Path) -> None:
    name = name_of("console")
    assert len((checkout / "drivers" / f"{name}.py").read_text().splitlines()) <= 150
    new = {*checkout.rglob(f"*{name}*"), *checkout.rglob(f"*{name.replace('_', '-')}*")}
    assert len(new) <= 6, sorted(map(str, new))


def test_generated_code_is_ruff_and_mypy_clean(checkout: Path, tmp_path: Path) -> None:
    files = [
        path
        for kit in KITS
        for path in (
            f"drivers/{name_of(kit)}.py",
            f"mocks/{name_of(kit)}.py",
            f"tests/drivers/test_{name_of(kit)}.py",
        )
    ]
    mypy = [str(VENV_BIN / "mypy"), "--config-file", str(REPO / "pyproject.toml")]
    mypy += ["--cache-dir", str(tmp_path / "mypy")]
    for part in ("drivers", "mocks"):  # one run each: drivers/X.py and mocks/X.py share module names
        sources = [str(checkout / part / f"{name_of(kit)}.py") for kit in KITS]
        result = subprocess.run([*mypy, *sources], capture_output=True, text=True, cwd=tmp_path, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    # ruff sorts imports by what is first party: the checkout's own stonith/ beside the new files.
    (checkout / "stonith").symlink_to(REPO / "stonith")
    try:
        ruff = str(VENV_BIN / "ruff")
        for args in (["check"], ["format", "--check"]):
            result = subprocess.run(
                [ruff, *args, *files],
                capture_output=True,
                text=True,
                cwd=checkout,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
    finally:
        (checkout / "stonith").unlink()


@pytest.mark.parametrize("kit", KITS)
def test_the_metadata_renders_and_validates(
    checkout: Path, kit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = name_of(kit)
    info = driver_class(monkeypatch, checkout, kit).INFO
    assert info.name == name
    ET.fromstring(glue_xml(info).split("\n", 2)[2])
    ET.fromstring(fence_xml(info).split("\n", 1)[1])
    assert [f.fieldname for f in info.fields].count("ipaddr") == 1


# ---------------------------------------------------------------------------------------------
# The generated test, run against the generated mock


@pytest.mark.parametrize("kit", KITS)
def test_the_generated_test_passes_against_the_generated_mock(
    checkout: Path, kit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stonith.mocks import __main__ as mocks_main

    name = name_of(kit)
    load(monkeypatch, f"stonith.drivers.{name}", checkout / "drivers" / f"{name}.py")
    load(monkeypatch, f"stonith.mocks.{name}", checkout / "mocks" / f"{name}.py")
    monkeypatch.setitem(mocks_main.MOCKS, name, f"stonith.mocks.{name}")
    test = load(monkeypatch, f"tests.drivers.test_{name}", checkout / "tests" / "drivers" / f"test_{name}.py")
    ran = [getattr(test, t) for t in dir(test) if t.startswith("test_")]
    assert ran
    for function in ran:
        function()


# ---------------------------------------------------------------------------------------------
# Refusals: a clear line and an exit code, never a traceback, nothing written


@pytest.mark.parametrize("bad", ["Acme", "1acme", "acme-ps", "_acme", "class", "acme ps", "a" * 41, ""])
def test_a_name_that_is_no_lowercase_identifier_is_refused(tmp_path: Path, bad: str) -> None:
    root = scratch_checkout(tmp_path)
    result = run_stonith("new-driver", bad, "--kit", "console", "--repo", str(root))
    assert result.returncode == new_driver.BAD_NAME == 1, result.stderr
    assert "not a driver name" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((root / "mocks").iterdir())


@pytest.mark.parametrize("taken", ["wti_nps", "demo_console"])
def test_an_existing_name_is_refused_and_nothing_is_overwritten(checkout: Path, taken: str) -> None:
    before = {p: p.read_bytes() for p in checkout.rglob("*") if p.is_file()}
    result = run_stonith("new-driver", taken, "--kit", "console", "--repo", str(checkout))
    assert result.returncode == 1, result.stderr
    assert "already" in result.stderr or "exists already" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in checkout.rglob("*") if p.is_file()} == before


def test_outside_a_checkout_it_refuses(tmp_path: Path) -> None:
    result = subprocess.run(
        [*stonith_cmd(), "new-driver", "acme", "--kit", "snmp"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == new_driver.NOT_A_CHECKOUT == 3, result.stderr
    assert "not a source checkout of stonith" in result.stderr
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    (tmp_path / "drivers").mkdir()
    (tmp_path / "mocks").mkdir()
    result = run_stonith("new-driver", "acme", "--kit", "snmp", "--repo", str(tmp_path))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drivers", "mocks", "pyproject.toml"]


def test_an_unknown_kit_is_a_usage_error(tmp_path: Path) -> None:
    result = run_stonith("new-driver", "acme", "--kit", "modbus", "--repo", str(tmp_path))
    assert result.returncode == 1
    assert "invalid choice" in result.stderr


# ---------------------------------------------------------------------------------------------
# The golden test fills an empty golden file, and still fails on a changed one


def test_an_empty_golden_file_is_filled_once(tmp_path: Path) -> None:
    from tests.metadata.test_golden import _golden

    path = tmp_path / "x.glue.xml"
    path.write_text("")
    with pytest.warns(UserWarning, match="was empty: wrote it"):
        _golden(path, "<text/>\n")
    assert path.read_text() == "<text/>\n"
    with pytest.raises(AssertionError, match="changed"):
        _golden(path, "<other/>\n")

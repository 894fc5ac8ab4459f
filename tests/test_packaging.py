"""Packaging: stonith.drivers and stonith.mocks map the top-level drivers/ and mocks/ folders."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def _pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def test_every_package_directory_is_listed() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("stonith", "stonith"), ("drivers", "stonith.drivers"), ("mocks", "stonith.mocks")):
        for init in (REPO / top).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(REPO / top)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert found <= listed, f"packages missing from pyproject: {sorted(found - listed)}"


def test_no_shadowing_directories() -> None:
    assert not (REPO / "stonith" / "drivers").exists()
    assert not (REPO / "stonith" / "mocks").exists()


def test_builtin_drivers_are_entry_points() -> None:
    eps = _pyproject()["project"]["entry-points"]["stonith.drivers"]
    for module in (REPO / "drivers").glob("*.py"):
        if module.name.startswith("_"):
            continue
        assert any(v.startswith(f"stonith.drivers.{module.stem}:") for v in eps.values()), module.name


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)


@pytest.mark.slow
def test_wheel_contents(tmp_path: Path) -> None:
    proc = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("stonith-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "stonith/cli.py",
        "stonith/drivers/null.py",
        "stonith/drivers/baytech.py",
        "stonith/mocks/baytech.py",
        "stonith/locale/de/LC_MESSAGES/stonith.mo",
        "stonith/py.typed",
    ):
        assert expected in names, expected
    assert any(n.endswith(".data/scripts/stonith") for n in names)
    assert not any(n.startswith(("drivers/", "mocks/", "tests/", "hwtests/", "bench/")) for n in names)


@pytest.mark.slow
def test_editable_install_imports_the_mapped_packages(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    # With build isolation: pip fetches a current setuptools (PEP 660 editable wheels) from PyPI.
    proc = _run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)],
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    assert proc.returncode == 0, proc.stderr
    check = _run(
        [
            str(python),
            "-c",
            "import stonith.drivers.null, stonith.mocks.baytech, stonith.cli; "
            "print(stonith.drivers.null.__file__)",
        ],
        cwd="/",
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(REPO / "drivers"))
    listed = _run([str(venv / "bin" / "stonith"), "-L"], cwd="/")
    assert "null" in listed.stdout.split()

"""Man pages (issue 22 item 3): the shipped share/man pages are what stonith.cli.manpages generates from
the installed package, and name every subcommand, option, glue option, exit code, environment
variable, devices.d key, mock type, driver type and parameter; they render; `pip install .` into a
fresh venv puts them where `man -M <venv>/share/man stonith` finds them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stonith.cli import glue_cli, manpages
from stonith.cli import main as cli
from stonith.contract.errors import NAMES
from stonith.fencing import inventory
from tests.conftest import REPO, require_peer

SHARE = REPO / "share"
REGENERATE = "regenerate them: ./run install && .venv/bin/python -P -m stonith.cli.manpages --write share"


def _plain(roff: str) -> str:
    """The page's words without roff escapes (enough to search for names and options)."""
    text = re.sub(r"\\f[BIRP]", "", roff)
    return text.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


def _page(rel: str) -> str:
    return _plain((SHARE / rel).read_text(encoding="utf-8"))


def _section(text: str, name: str) -> str:
    return text.split(f".SH {name}\n", 1)[1].split("\n.SH ", 1)[0]


@pytest.mark.parametrize("rel", sorted(manpages.shipped()))
def test_shipped_files_are_the_generated_ones(rel: str) -> None:
    shipped = SHARE / rel
    assert shipped.exists(), f"{shipped} missing; {REGENERATE}"
    assert shipped.read_text(encoding="utf-8") == manpages.shipped()[rel], f"{shipped} is stale; {REGENERATE}"


def test_every_subcommand_and_option_is_in_stonith_8() -> None:
    page = _page("man/man8/stonith.8")
    commands = _section(page, "COMMANDS")
    for name in (*cli.CLUSTER_COMMANDS, *cli.SUBCOMMANDS, *cli.SERVER_COMMANDS):
        assert re.search(rf"^\.SS stonith {re.escape(name)}\b", commands, re.M), (
            f"stonith {name}; {REGENERATE}"
        )
    for words, _summary, parser in manpages.command_parsers():
        section = commands.split(f".SS stonith {words}\n", 1)[1].split("\n.SS ", 1)[0]
        options = set(re.findall(r"--?[\w-]+", section))
        for action in manpages._visible(parser):
            for option in action.option_strings:
                assert option in options, f"stonith {words} {option}; {REGENERATE}"


def test_glue_options_exit_codes_and_environment_are_in_stonith_8() -> None:
    page = _page("man/man8/stonith.8")
    glue = _section(page, "CLUSTER-GLUE OPTIONS").split()
    for letter in glue_cli.SHORT_WITH_ARG + glue_cli.SHORT_FLAGS:
        assert f"-{letter}" in glue, letter
    for long in (*glue_cli.LONG_WITH_ARG, *glue_cli.LONG_FLAGS):
        assert f"--{long}" in glue, long
    codes = _section(page, "EXIT STATUS")
    for code, name in NAMES.items():
        assert f"\n{code} ({name})" in codes, name
    # every STONITH_* variable the code reads (the mocks' own are in stonith-mock(8))
    environment = _section(page, "ENVIRONMENT") + _section(_page("man/man8/stonith-mock.8"), "ENVIRONMENT")
    read = set()
    for top in ("stonith", "drivers", "mocks"):
        for path in (REPO / top).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            read |= set(
                re.findall(r"(?:environ(?:\.get)?\(|environ\[|getenv\()\s*\"(STONITH_[A-Z0-9_]+)\"", source)
            )
            read |= set(re.findall(r"\"(STONITH_[A-Z0-9_]+)\" in os\.environ", source))
    assert read, "the scan found the variables"
    missing = sorted(v for v in read if v not in environment)
    assert not missing, f"undocumented environment variables: {missing}"


def test_devices_d_5_names_every_key_and_its_example_is_valid_toml() -> None:
    import tomllib

    page = (SHARE / "man/man5/stonith.devices.d.5").read_text(encoding="utf-8")
    keys = _section(_plain(page), "KEYS")
    for key in inventory.TOP_KEYS:
        assert f"\n{key}\n" in keys, key
    example = _plain(_section(page, "EXAMPLE")).replace(".nf\n", "").replace("\n.fi", "")
    data = tomllib.loads(example)
    assert set(data) <= inventory.TOP_KEYS and data["type"]


def test_stonith_mock_8_names_every_mock_type() -> None:
    from stonith.mocks.__main__ import MOCKS

    types = _section(_page("man/man8/stonith-mock.8"), "TYPES").replace(",", " ").split()
    for name in MOCKS:
        assert name in types, name


def _entry_point_types() -> list[str]:
    """The built-in types from pyproject.toml: a source independent of the installed registry."""
    import tomllib

    with open(REPO / "pyproject.toml", "rb") as handle:
        return sorted(tomllib.load(handle)["project"]["entry-points"]["stonith.drivers"])


def test_stonith_drivers_7_has_every_type_and_every_parameter() -> None:
    from stonith.fencing import registry

    page = _page("man/man7/stonith-drivers.7")
    assert manpages.builtin_types() == _entry_point_types()
    for name in _entry_point_types():
        assert f"\n.SS {name} - " in page, f"type {name}; {REGENERATE}"
        section = page.split(f"\n.SS {name} - ", 1)[1].split("\n.SS ", 1)[0]
        for field in registry.load(name).INFO.fields:
            assert f"\n{field.fieldname} (" in section, f"{name}.{field.fieldname}; {REGENERATE}"


@pytest.mark.parametrize("rel", sorted(manpages.pages()))
def test_pages_render_without_errors(rel: str) -> None:
    groff = require_peer("groff", "groff-base")
    proc = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", str(SHARE / rel)],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, LC_ALL="C.UTF-8"),
    )
    assert proc.returncode == 0, proc.stderr
    # "cannot adjust line" (a long URL) is layout; anything else is a mistake in the page
    problems = [line for line in proc.stderr.splitlines() if "cannot adjust" not in line]
    assert not problems, problems


def test_agent_man_pages_are_installed_and_removed(tmp_path: Path) -> None:
    from stonith.cli import agents_install

    written = agents_install.install_man_pages(str(tmp_path), ["baytech", "ipmilan"])
    assert sorted(Path(p).name for p in written) == ["fence_stonith_baytech.8", "fence_stonith_ipmilan.8"]
    page = _plain((tmp_path / "fence_stonith_ipmilan.8").read_text())
    assert ".TH FENCE_STONITH_IPMILAN 8" in page
    for section in ("PARAMETERS", "ACTIONS", "STDIN PARAMETERS"):
        assert f".SH {section}\n" in page
    assert "--ip=[ip]" in page and "\nreboot\n" in page
    (tmp_path / "fence_stonith_apcmaster.8").write_text("the administrator's own page\n")
    with pytest.raises(Exception, match="did not create"):
        agents_install.install_man_pages(str(tmp_path), ["apcmaster"])
    removed = agents_install.remove_man_pages(str(tmp_path))
    assert len(removed) == 2 and [p.name for p in tmp_path.iterdir()] == ["fence_stonith_apcmaster.8"]


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_gives_man_stonith(tmp_path: Path) -> None:
    """The acceptance: `pip install .` into a fresh venv, then `man -M <venv>/share/man stonith`."""
    from tests.test_packaging import _source_copy

    venv = tmp_path / "venv"
    assert (
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=False).returncode
        == 0
    )
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    wheels = tmp_path / "wheels"
    # Built with this venv's setuptools (the fresh venv has none); pip installs it into the fresh venv.
    python = str(venv / "bin" / "python")
    for argv in (
        ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(_source_copy(tmp_path))],
        ["--python", python, "install", "-q", "--no-deps", "--no-index", "-f", str(wheels), "stonith"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", *argv], capture_output=True, text=True, check=False, env=env
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    share = venv / "share"
    for rel in manpages.shipped():
        assert (share / rel).is_file(), rel
    man = require_peer("man", "man-db")
    shown = subprocess.run(
        [man, "-M", str(share / "man"), "stonith"],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100", LC_ALL="C.UTF-8"),
    )
    assert shown.returncode == 0, shown.stderr
    assert "stonith - verified power control of cluster nodes" in shown.stdout
    assert "stonith reset" in shown.stdout and "CLUSTER-GLUE OPTIONS" in shown.stdout
    drivers = subprocess.run(
        [man, "-M", str(share / "man"), "7", "stonith-drivers"],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8"),
    )
    assert drivers.returncode == 0 and "baytech - BayTech" in drivers.stdout

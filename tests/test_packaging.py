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
        "stonith/cli/main.py",
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
            "import stonith.drivers.null, stonith.mocks.baytech, stonith.cli.main; "
            "print(stonith.drivers.null.__file__)",
        ],
        cwd="/",
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(REPO / "drivers"))
    listed = _run([str(venv / "bin" / "stonith"), "-L"], cwd="/")
    assert "null" in listed.stdout.split()


# -- issue 22 item 1: license, builds with Debian's and current setuptools, extras -----------------


def test_license_is_the_gpl_v2_text() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 2, June 1991" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "any later version" in text  # the "or later" the metadata claims is the GPL's own option
    assert "dynamic" in _pyproject()["project"] and "license" in _pyproject()["project"]["dynamic"]


def _source_copy(tmp_path: Path) -> Path:
    """The checkout without venv, build output or caches: builds never write into the shared checkout."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "build",
            "*.egg-info",
            "__pycache__",
            ".mypy_cache",
            ".pytest_cache",
            ".ruff_cache",
        ),
    )
    return src


def _build_offline(python: str, src: Path, out: Path) -> dict[str, str]:
    """Build a wheel of ``src`` with ``python`` offline and without isolation; its METADATA as fields."""
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore")
    env.pop("PIP_INDEX_URL", None)
    proc = _run(
        [python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        env=env,
        cwd=str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("stonith-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert "stonith/drivers/baytech.py" in names and "stonith/mocks/baytech.py" in names
    assert any(n.endswith(".data/scripts/stonith") for n in names)
    # share/ as data files (setup.py data_files): the man pages and completions land in <prefix>/share
    for shared in ("man/man8/stonith.8", "man/man7/stonith-drivers.7", "bash-completion/completions/stonith"):
        assert any(n.endswith(".data/data/share/" + shared) for n in names), shared
    assert "stonith/systemd/stonith-check.timer" in names
    licenses = [n for n in names if ".dist-info/" in n and n.endswith("/LICENSE")]
    assert licenses, names
    assert b"GNU GENERAL PUBLIC LICENSE" in archive.read(licenses[0])
    (meta_name,) = (n for n in names if n.endswith(".dist-info/METADATA"))
    fields: dict[str, str] = {}
    for line in archive.read(meta_name).decode().split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(": ")
        fields.setdefault(name, value)
    return fields


def _setuptools_version(python: str) -> tuple[int, ...] | None:
    proc = _run([python, "-c", "import setuptools, wheel, pip; print(setuptools.__version__)"])
    if proc.returncode != 0:
        return None
    return tuple(int(p) for p in proc.stdout.strip().split(".")[:2] if p.isdigit())


DEBIAN_BUILD_PACKAGES = "python3-setuptools python3-wheel python3-pip python3-venv"


@pytest.mark.slow
def test_wheel_builds_with_debian_setuptools(tmp_path: Path) -> None:
    """Debian 12's python3-setuptools (66.1: no PEP 639) builds the wheel offline, as a distribution
    package build would: a venv that sees only the system's site-packages, no build isolation."""
    from tests.conftest import require_peer

    python3 = require_peer("/usr/bin/python3", "python3")
    if not os.path.isdir("/usr/lib/python3/dist-packages/setuptools"):
        require_peer("/usr/lib/python3/dist-packages/setuptools", DEBIAN_BUILD_PACKAGES)
    venv = tmp_path / "debian-venv"
    made = _run([python3, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    if made.returncode != 0:
        require_peer(str(venv / "bin" / "python"), DEBIAN_BUILD_PACKAGES)
    python = str(venv / "bin" / "python")
    version = _setuptools_version(python)
    if version is None:  # pip or wheel missing from the system
        require_peer("/usr/lib/python3/dist-packages/wheel", DEBIAN_BUILD_PACKAGES)
        require_peer("/usr/lib/python3/dist-packages/pip", DEBIAN_BUILD_PACKAGES)
    assert version is not None
    where = _run([python, "-c", "import setuptools; print(setuptools.__file__)"]).stdout
    assert where.startswith("/usr/lib/python3/dist-packages/"), where
    out = tmp_path / "out"
    out.mkdir()
    fields = _build_offline(python, _source_copy(tmp_path), out)
    if version < (77,):
        assert fields.get("License") == "GPL-2.0-or-later", fields
    else:
        assert fields.get("License-Expression") == "GPL-2.0-or-later", fields


@pytest.mark.slow
def test_wheel_builds_with_current_setuptools(tmp_path: Path) -> None:
    """The .venv's setuptools (./run install upgrades it to the current release) gives a PEP 639
    License-Expression and no deprecation warning about the license."""
    version = _setuptools_version(sys.executable)
    assert version is not None, "the venv has setuptools, wheel and pip (./run install)"
    out = tmp_path / "out"
    out.mkdir()
    src = _source_copy(tmp_path)
    fields = _build_offline(sys.executable, src, out)
    assert fields.get("License-Expression" if version >= (77,) else "License") == "GPL-2.0-or-later", fields
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    verbose = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],
        env=env,
        cwd=str(out),
    )
    assert verbose.returncode == 0
    assert (
        "license"
        not in "".join(
            line for line in verbose.stdout.splitlines() + verbose.stderr.splitlines() if "Deprecat" in line
        ).lower()
    )


# pyproject requirement name -> the top-level module it provides
DISTRIBUTION_MODULES = {
    "pyserial": "serial",
    "pysnmp": "pysnmp",
    "cryptography": "cryptography",
    "requests": "requests",
    "pyusb": "usb",
    "clustershell": "ClusterShell",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "prometheus-client": "prometheus_client",
    "tomli-w": "tomli_w",
    "pexpect": "pexpect",
    "asyncssh": "asyncssh",
}


def _requirement_name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def _imported_modules() -> set[str]:
    import ast

    found: set[str] = set()
    for top in ("stonith", "drivers", "mocks"):
        for path in (REPO / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found


def test_extras_match_imports() -> None:
    from stonith.fencing import registry

    extras = dict(_pyproject()["project"]["optional-dependencies"])
    extras.pop("test")
    everything = extras.pop("all")
    assert all(extras.values()), "no empty extra"
    union = {_requirement_name(r) for reqs in extras.values() for r in reqs}
    assert {_requirement_name(r) for r in everything} == union, "[all] is every runtime extra, nothing else"
    imported = _imported_modules()
    for extra, requirements in extras.items():
        modules = {DISTRIBUTION_MODULES[_requirement_name(r)] for r in requirements}
        assert modules <= imported, f"[{extra}] installs {sorted(modules - imported)} that nothing imports"
        assert set(registry.EXTRA_MODULES[extra]) == modules, extra
    assert set(registry.EXTRA_MODULES) == set(extras)
    for name in registry.entry_points():
        needs = registry.type_extra(name)
        assert needs is None or needs[0] in extras, name


HIDE_OPTIONAL = (
    "import sys\n"
    "for name in ('pysnmp', 'cryptography', 'requests', 'serial', 'usb', 'ClusterShell'):\n"
    "    sys.modules[name] = None\n"
    "from stonith.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)

# A configuration per type that uses an optional library (nothing listens on 127.0.0.1:9).
EXTRA_CONFIGS = {
    "ipmilan": ["hostname=node1", "ipaddr=127.0.0.1:9", "login=a", "password=b"],
    "redfish": ["hostname=node1", "ipaddr=127.0.0.1:9", "login=a", "password=b"],
    "redfish_pdu": ["ipaddr=127.0.0.1:9", "login=a", "password=b"],
    "apcsmart": ["ttydev=/dev/null", "hostlist=node1"],
    "nw_rpc100s": ["ttydev=/dev/null", "hostlist=node1"],
    "rcd_serial": ["hostlist=node1", "ttydev=/dev/null", "dtr_rts=dtr", "msduration=100"],
    "rps10": ["serial_to_targets=/dev/null node1 0"],
    "sispm": ["hostlist=node1"],
}


def _hidden(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-c", HIDE_OPTIONAL, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
        env=dict(os.environ, LANG="C.UTF-8", **(env or {})),
    )


def _extra_types() -> list[str]:
    from stonith.fencing import registry

    return sorted(name for name in registry.entry_points() if registry.type_extra(name) is not None)


@pytest.mark.parametrize("type_name", _extra_types())
def test_missing_extra_is_named_for_every_driver(type_name: str) -> None:
    from stonith.fencing import registry

    needs = registry.type_extra(type_name)
    assert needs is not None
    extra, modules = needs
    config = EXTRA_CONFIGS.get(type_name, ["ipaddr=127.0.0.1:9", "community=private"])
    for action in (["-S"], ["-T", "reset", "node1"]):
        proc = _hidden("-t", type_name, *config, *action)
        assert proc.returncode == 8, (action, proc.stderr)
        assert f"{type_name} needs the {extra} extra: pip install 'stonith[{extra}]'" in proc.stderr
        assert f"missing module {modules[0]}" in proc.stderr
        assert "internal error" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr
    # metadata needs no library
    names = _hidden("-t", type_name, "-n")
    assert names.returncode == 0 and names.stdout.strip(), names.stderr


def test_missing_extra_in_devices_d_fails_that_device_only(tmp_path: Path) -> None:
    devices = tmp_path / "devices.d"
    devices.mkdir(mode=0o700)
    (devices / "pdu1.toml").write_text(
        'type = "apc_rpdu"\n[parameters]\nipaddr = "127.0.0.1:9"\ncommunity = "private"\n[hosts]\nnode1 = 1\n'
    )
    (devices / "null1.toml").write_text(
        'type = "null"\n[parameters]\nhostlist = "node2"\n[hosts]\nnode2 = "node2"\n'
    )
    for path in devices.iterdir():
        path.chmod(0o600)
    listed = _hidden("devices", "--devices", str(devices))
    assert listed.returncode == 0, listed.stderr  # listing needs no session
    check = _hidden("check", "--devices", str(devices), "--timeout", "5")
    assert (
        "pdu1" in check.stdout
        and "apc_rpdu needs the snmp extra: pip install 'stonith[snmp]'" in check.stdout
    )
    assert next(line for line in check.stdout.splitlines() if line.startswith("null1")).split()[1] == "ok:"
    assert "internal error" not in check.stdout + check.stderr
    status = _hidden("status", "--devices", str(devices), "--timeout", "5", "--json")
    assert "apc_rpdu needs the snmp extra" in status.stdout, status.stdout + status.stderr


def test_unknown_missing_module_names_the_extra() -> None:
    """The last line of defence in stonith.cli.main names the extra of any module it knows."""
    proc = subprocess.run(
        [
            sys.executable,
            "-P",
            "-c",
            "import sys\n"
            "import stonith.cli.commands\n"
            "def boom(args):\n"
            "    raise ModuleNotFoundError(\"No module named 'pysnmp'\", name='pysnmp')\n"
            "stonith.cli.commands.cmd_types = boom\n"
            "from stonith.cli.main import main\n"
            "sys.exit(main(['types']))\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    assert proc.returncode == 8
    assert "needs the snmp extra: pip install 'stonith[snmp]'" in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr

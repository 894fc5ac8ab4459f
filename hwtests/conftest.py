"""pytest plumbing of the conformance suite: options, the devices.d under test, the lab, reports.

Options (``python -m pytest hwtests --help`` lists them under "hwtests"):

    --devices DIR        the devices.d under test (default: the repository's devices.d)
    --real-hardware      allow devices without a [mock] table (real hardware); without it they skip
    --dry-run            print what would be switched; no device is contacted, nothing is switched
    --test-nodes GLOBS   comma-separated node globs that may be switched (adds to hwtests.conf)
    --test-config FILE   which nodes may be switched (default: DIR/hwtests.conf, TOML syntax)
    --json-report FILE   one JSON object per test: test, device, node, outcome, duration, message
    --hw-timeout S       per-operation deadline (default: each device's ``timeout``)

JUnit XML is pytest's own ``--junitxml FILE``.  A terminal table (device/node x test) ends the run.
"""

from __future__ import annotations

import fnmatch
import json
import os
import secrets
import tempfile
import tomllib
from pathlib import Path

import pytest

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests import REPO

DEFAULT_DEVICES = REPO / "devices.d"
CONFIG_NAME = "hwtests.conf"
USB_BACKEND = "STONITH_USB_BACKEND"  # stonith/transport/usb.py


class Target:
    """The devices.d under test and what hwtests may do with it."""

    def __init__(self, config: pytest.Config) -> None:
        from stonith.fencing.inventory import load_dir

        self.directory = Path(config.getoption("hw_devices") or DEFAULT_DEVICES)
        self.real_hardware = bool(config.getoption("hw_real_hardware"))
        self.dry_run = bool(config.getoption("hw_dry_run"))
        self.timeout = config.getoption("hw_timeout")
        if self.directory.resolve() == DEFAULT_DEVICES.resolve() or _has_mock_files(self.directory):
            os.environ.setdefault("STONITH_LAB_PASSWORD", "lab-" + secrets.token_hex(6))
        self.inventory = load_dir(str(self.directory))
        path = config.getoption("hw_test_config") or str(self.directory / CONFIG_NAME)
        self.globs: list[str] = [g for g in (config.getoption("hw_test_nodes") or "").split(",") if g]
        self.device_globs: dict[str, list[str]] = {}
        self.wrong_credentials: set[str] = set()
        if os.path.exists(path):
            self._read_config(path)
        self.plan: list[str] = []  # what a dry run would switch

    def _read_config(self, path: str) -> None:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise pytest.UsageError(f"{path}: {exc}") from None
        nodes = data.get("test_nodes", [])
        if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
            raise pytest.UsageError(f"{path}: test_nodes must be a list of node globs")
        self.globs += nodes
        devices = data.get("devices", {})
        if not isinstance(devices, dict):
            raise pytest.UsageError(f"{path}: [devices.NAME] tables expected")
        for name, table in devices.items():
            if not isinstance(table, dict):
                raise pytest.UsageError(f"{path}: devices.{name} must be a table")
            globs = table.get("test_nodes", [])
            if not isinstance(globs, list) or not all(isinstance(n, str) for n in globs):
                raise pytest.UsageError(f"{path}: devices.{name}.test_nodes must be a list of node globs")
            self.device_globs[name] = globs
            if table.get("wrong_credentials") is True:
                self.wrong_credentials.add(name)
        unknown = set(data) - {"test_nodes", "devices"}
        if unknown:
            raise pytest.UsageError(f"{path}: unknown keys {sorted(unknown)} (test_nodes, devices)")

    # -- what may be done ------------------------------------------------------------------------
    def is_mock(self, device: str) -> bool:
        return self.inventory.by_name(device).mock is not None

    def devices(self) -> list[str]:
        return [d.name for d in self.inventory.devices]

    def nodes_of(self, device: str) -> list[str]:
        """Nodes of ``device``: its [hosts] table, else (outlet names are node names) the names its
        [mock] is started with, or the literal (glob-free) test nodes its [devices.NAME] table in
        hwtests.conf names."""
        entry = self.inventory.by_name(device)
        if entry.hosts is not None:
            return sorted(entry.hosts)
        names: list[str] = []
        if entry.mock is not None:
            args = [str(a) for a in entry.mock.get("args", [])]
            if "--names" in args[:-1]:
                names = [n.lower() for n in args[args.index("--names") + 1].split(",") if n]
        literal = [g for g in self.device_globs.get(device, []) if not set(g) & set("*?[")]
        return sorted(set(names) | {n.lower() for n in literal})

    def devices_of(self, node: str, level: int | None = None) -> list[str]:
        """The devices feeding ``node`` (on one topology level only, if given)."""
        found = [d for d in self.devices() if node in self.nodes_of(d)]
        return [d for d in found if level is None or self.inventory.by_name(d).level == level]

    def is_multi_supply(self, node: str) -> bool:
        """Several devices on one topology level (a BMC on level 1 and a PDU on level 2 is not)."""
        levels = [self.inventory.by_name(d).level for d in self.devices_of(node)]
        return len(levels) > len(set(levels))

    def all_nodes(self) -> list[str]:
        return sorted({n for d in self.devices() for n in self.nodes_of(d)})

    def may_switch(self, node: str) -> bool:
        """Nodes matched by --test-nodes or hwtests.conf; without either, every node of a mock lab."""
        devices = self.devices_of(node)
        if not devices:
            return False
        if any(fnmatch.fnmatchcase(node, g) for g in self.globs):
            return True
        if any(fnmatch.fnmatchcase(node, g) for d in devices for g in self.device_globs.get(d, [])):
            return True
        return not self.globs and not self.device_globs and all(self.is_mock(d) for d in devices)

    def require_device(self, device: str) -> None:
        """Skip unless ``device`` may be contacted at all."""
        if self.dry_run:
            pytest.skip("dry run: no device is contacted")
        if not self.is_mock(device) and not self.real_hardware:
            pytest.skip(f"{device} is real hardware (no [mock] table): pass --real-hardware")

    def require_switch(self, node: str, verb: str) -> None:
        devices = self.devices_of(node)
        if not self.may_switch(node):
            pytest.skip(f"{node} is not a test node (see hwtests/README.md: hwtests.conf, --test-nodes)")
        outlets = "; ".join(
            f"{d}: outlets {', '.join((self.inventory.by_name(d).hosts or {}).get(node, [node]))}"
            for d in devices
        )
        if self.dry_run:
            line = f"would {verb} {node} ({outlets})"
            self.plan.append(line)
            print(f"DRY-RUN: {line}")
            pytest.skip(f"dry run: {line}")
        for device in devices:
            self.require_device(device)


def _has_mock_files(directory: Path) -> bool:
    try:
        return any(b"[mock]" in p.read_bytes() for p in directory.glob("*.toml"))
    except OSError:
        return False


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hwtests", "hardware-in-the-loop conformance suite")
    group.addoption("--devices", dest="hw_devices", metavar="DIR", help="devices.d under test")
    group.addoption(
        "--real-hardware", dest="hw_real_hardware", action="store_true", help="allow real devices"
    )
    group.addoption("--dry-run", dest="hw_dry_run", action="store_true", help="print, switch nothing")
    group.addoption("--test-nodes", dest="hw_test_nodes", metavar="GLOBS", help="nodes that may be switched")
    group.addoption("--test-config", dest="hw_test_config", metavar="FILE", help="hwtests.conf to use")
    group.addoption("--json-report", dest="hw_json_report", metavar="FILE", help="JSON report")
    group.addoption("--hw-timeout", dest="hw_timeout", type=float, default=None, metavar="S")


_TARGET: Target | None = None
_ROWS: list[dict[str, object]] = []


def target_for(config: pytest.Config) -> Target:
    global _TARGET
    if _TARGET is None:
        os.environ.setdefault("STONITH_LOCK_DIR", tempfile.mkdtemp(prefix="hwtests-locks-"))
        try:
            _TARGET = Target(config)
        except Exception as exc:  # a bad devices.d is a usage error, not a traceback
            from stonith.contract.errors import StonithError

            if isinstance(exc, StonithError):
                raise pytest.UsageError(f"hwtests: {exc}") from None
            raise
    return _TARGET


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = set(metafunc.fixturenames)
    if not names & {"device", "node", "dual_node"}:
        return
    target = target_for(metafunc.config)
    if "device" in names:
        metafunc.parametrize("device", target.devices())
    if "node" in names:
        metafunc.parametrize("node", target.all_nodes())
    if "dual_node" in names:
        duals = [n for n in target.all_nodes() if target.is_multi_supply(n)]
        metafunc.parametrize(
            "dual_node", duals or [pytest.param(None, marks=pytest.mark.skip("no dual-PSU node"))]
        )


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    return target_for(request.config)


@pytest.fixture(scope="session")
def lab(target: Target):
    """The mocks of the devices.d, running for the session (none in a dry run)."""
    from stonith.fencing.lab import Lab

    if target.dry_run or not any(d.mock is not None for d in target.inventory.devices):
        yield None
        return
    # The mocks run as ``python -m stonith.mocks``: from the repository root the checkout's bare
    # stonith/ would shadow the installed package, so the children must not put the cwd first.
    saved = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        running = Lab(target.inventory).__enter__()
    finally:
        if saved is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = saved
    # A USB strip's mock picks its own socket; its driver finds it through the environment.
    backends = [str(m.info["usb_backend"]) for m in running.mocks.values() if "usb_backend" in m.info]
    if len(backends) > 1:
        running.stop()
        raise pytest.UsageError(f"hwtests: {USB_BACKEND} is process-wide: at most one USB mock per lab")
    saved_backend = os.environ.get(USB_BACKEND)
    if backends:
        os.environ[USB_BACKEND] = backends[0]
    try:
        yield running
    finally:
        running.stop()
        if saved_backend is None:
            os.environ.pop(USB_BACKEND, None)
        else:
            os.environ[USB_BACKEND] = saved_backend


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    params = getattr(report, "hw_params", {})
    _ROWS.append(
        {
            "test": report.nodeid.split("::")[-1].split("[")[0],
            "nodeid": report.nodeid,
            "subject": params.get("subject", ""),
            "outcome": report.outcome,
            "duration": round(report.duration, 3),
            "message": _message(report),
        }
    )


def _message(report: pytest.TestReport) -> str:
    if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed:
        return str(getattr(report.longrepr, "reprcrash", None) and report.longrepr.reprcrash.message)  # type: ignore[union-attr]
    return ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    callspec = getattr(item, "callspec", None)
    subject = ""
    if callspec is not None:
        subject = ",".join(str(v) for k, v in callspec.params.items() if k in ("device", "node", "dual_node"))
    report.hw_params = {"subject": subject}


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _ROWS or _TARGET is None:
        return
    tests = sorted({str(r["test"]).removeprefix("test_") for r in _ROWS})
    subjects = sorted({str(r["subject"]) for r in _ROWS})
    cell = {(str(r["subject"]), str(r["test"]).removeprefix("test_")): str(r["outcome"]) for r in _ROWS}
    short = {"passed": "ok", "failed": "FAIL", "skipped": "skip"}
    width = max(len(s) for s in [*subjects, "device/node"]) + 2
    cols = [max(len(t), 4) + 2 for t in tests]
    terminalreporter.section(f"hwtests: {_TARGET.directory}")
    terminalreporter.write_line(
        f"{'device/node':<{width}}" + "".join(f"{t:>{c}}" for t, c in zip(tests, cols, strict=True))
    )
    for subject in subjects:
        row = "".join(
            f"{short.get(cell.get((subject, t), ''), '-'):>{c}}" for t, c in zip(tests, cols, strict=True)
        )
        terminalreporter.write_line(f"{subject or '(all)':<{width}}" + row)
    if _TARGET.dry_run:
        terminalreporter.write_line("")
        terminalreporter.write_line(f"dry run: nothing was switched; {len(_TARGET.plan)} operations planned:")
        for line in _TARGET.plan:
            terminalreporter.write_line(f"  {line}")
    path = config.getoption("hw_json_report")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "devices": str(_TARGET.directory),
                    "dry_run": _TARGET.dry_run,
                    "planned": _TARGET.plan,
                    "tests": _ROWS,
                },
                handle,
                indent=1,
            )
        terminalreporter.write_line(f"JSON report: {path}")

"""Driver discovery: the ``stonith.drivers`` entry-point group and cluster-glue external plugins.

Built-in drivers are registered through the entry-point group exactly like a third-party driver.
Listing reads the installed distributions' ``entry_points.txt`` directly instead of going through
``importlib.metadata`` (whose import alone costs several times Python's start-up), and never imports
a driver module; a driver is imported only when a command needs it.

Cluster-glue ``external/NAME`` plugins are executable scripts in the directories of
``STONITH_EXTERNAL_DIRS`` (colon-separated), by default Debian's /usr/lib/stonith/plugins/external.
``STONITH_BLOCK`` (comma-separated type names) hides types, like pytest's ``-p no:NAME``.

A built-in type whose optional libraries are missing (an extra not installed) still loads: its
metadata needs no library.  Its devices refuse every session with ``MissingExtra`` ("apc_rpdu needs
the snmp extra: pip install 'stonith[snmp]'"), never with a ModuleNotFoundError from deep inside.
"""

from __future__ import annotations

import os
import sys

from stonith.contract.errors import MissingExtra, UnknownType, missing_extra_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.contract.deadline import Deadline
    from stonith.contract.driver import Driver
    from stonith.contract.steps import Steps

GROUP = "stonith.drivers"

# pyproject.toml [project.optional-dependencies]: the modules each extra provides.
EXTRA_MODULES = {
    "serial": ("serial",),
    "snmp": ("pysnmp", "cryptography"),
    "ipmi": ("cryptography",),
    "redfish": ("requests",),
    "usb": ("usb",),
    "hostlist": ("ClusterShell",),
    "server": ("starlette", "uvicorn", "prometheus_client", "tomli_w", "cryptography"),
    "remote": ("requests",),
    "ssh": ("pexpect",),
    "mocks": ("asyncssh",),
}
# A driver that cannot open any session without an extra says so (``Driver.EXTRA``, inherited: a
# new SNMP family needs no line here).  baytech needs pyserial only for a ttydev:
# stonith.transport.serial names the extra when it opens one; apcmaster and wti_nps need pexpect
# only with ssh = true: stonith.transport.ssh raises MissingExtra.


def type_extra(name: str) -> tuple[str, tuple[str, ...]] | None:
    """The extra a type cannot work without, and the modules it provides (None: none)."""
    return load(name).EXTRA


def extra_for(module: str) -> list[str]:
    """The extras that provide ``module`` (a top-level name such as ``pysnmp``)."""
    top = module.partition(".")[0]
    return [extra for extra, modules in EXTRA_MODULES.items() if top in modules]


_found: set[str] = set()  # modules a finder has found: a devices.d of 5,000 BMCs asks 5,000 times


def importable(module: str) -> bool:
    """Whether ``module`` could be imported, without importing it (a None in sys.modules hides it)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    if module in _found:
        return True
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is not None and find_spec(module, None) is not None:
            _found.add(module)
            return True
    return False


_refusing: dict[type[Driver], type[Driver]] = {}


def _needs_extra(driver: type[Driver], name: str, extra: str, missing: list[str]) -> type[Driver]:
    """``driver`` whose sessions all refuse with MissingExtra (its metadata stays usable)."""
    if driver in _refusing:
        return _refusing[driver]
    message = missing_extra_message(name, extra, missing)

    def connect(self: Any, deadline: Deadline) -> None:
        raise MissingExtra(message)

    def connect_steps(self: Any, deadline: Deadline) -> Steps[None]:
        yield from ()
        raise MissingExtra(message)

    namespace = {"connect": connect, "connect_steps": connect_steps, "__module__": driver.__module__}
    _refusing[driver] = type(driver.__name__, (driver,), namespace)
    return _refusing[driver]


DEFAULT_EXTERNAL_DIRS = ("/usr/lib/stonith/plugins/external", "/usr/local/lib/stonith/plugins/external")


class EntryPoint:
    """One ``name = module:attr`` line of the group, with the distribution that supplied it."""

    __slots__ = ("distribution", "name", "value")

    def __init__(self, name: str, value: str, distribution: str) -> None:
        self.name = name
        self.value = value
        self.distribution = distribution

    def load(self) -> type[Driver]:
        module_name, _, attr = self.value.partition(":")
        module_name = module_name.strip()
        # __import__ rather than importlib.import_module: importing importlib costs start-up time.
        __import__(module_name)
        obj: object = sys.modules[module_name]
        for part in attr.strip().split("."):
            obj = getattr(obj, part)
        return obj  # type: ignore[return-value]


def _parse_entry_points(text: str, distribution: str) -> list[EntryPoint]:
    found: list[EntryPoint] = []
    in_group = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            in_group = line[1:-1].strip() == GROUP
            continue
        if in_group and "=" in line:
            name, _, value = line.partition("=")
            found.append(EntryPoint(name.strip(), value.strip(), distribution))
    return found


_scanned: dict[tuple[str, ...], dict[str, EntryPoint]] = {}


def entry_points(path: list[str] | None = None) -> dict[str, EntryPoint]:
    """The ``stonith.drivers`` entry points of every distribution on ``path`` (first one wins).

    The scan is remembered per search path for the life of the process.
    """
    key = tuple(sys.path if path is None else path)
    if key not in _scanned:
        _scanned[key] = _scan(key)
    return _scanned[key]


def _scan(path: tuple[str, ...]) -> dict[str, EntryPoint]:
    result: dict[str, EntryPoint] = {}
    for directory in path:
        try:
            entries = sorted(os.scandir(directory or "."), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry.path, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            if GROUP not in text:
                continue
            distribution = entry.name.rsplit(".", 1)[0].split("-")[0]
            for ep in _parse_entry_points(text, distribution):
                result.setdefault(ep.name, ep)
    return result


def external_dirs() -> list[str]:
    configured = os.environ.get("STONITH_EXTERNAL_DIRS")
    if configured is not None:
        return [d for d in configured.split(":") if d]
    return list(DEFAULT_EXTERNAL_DIRS)


def external_plugins() -> dict[str, str]:
    """``external/NAME`` -> script path, for every acceptable script (as cluster-glue accepts them).

    cluster-glue refuses scripts that are not regular executable files, or that are writable by
    group or others; so do we.
    """
    import stat

    found: dict[str, str] = {}
    for directory in external_dirs():
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111 or st.st_mode & 0o022:
                continue
            found.setdefault("external/" + name, path)
    return found


def _blocked() -> set[str]:
    return {n.strip() for n in os.environ.get("STONITH_BLOCK", "").split(",") if n.strip()}


def types() -> list[str]:
    """Every installed device type, sorted like cluster-glue's ``stonith -L``."""
    blocked = _blocked()
    names = set(entry_points()) | set(external_plugins())
    return sorted(n for n in names if n not in blocked)


def describe(name: str) -> str:
    """The line a type is listed with (``DriverInfo.summary``): imports its driver."""
    return load(name).INFO.summary


def provenance(name: str) -> str:
    """Which distribution (or which script) supplies a type."""
    ep = entry_points().get(name)
    if ep is not None:
        return ep.distribution
    script = external_plugins().get(name)
    if script is not None:
        return script
    raise UnknownType(f"Invalid device type: '{name}'")


def load(name: str) -> type[Driver]:
    """The driver class for a type; imports only that driver."""
    if name in _blocked():
        raise UnknownType(f"Invalid device type: '{name}'")
    if name.startswith("external/"):
        script = external_plugins().get(name)
        if script is None:
            raise UnknownType(f"Invalid device type: '{name}'")
        from stonith.fencing.external import external_driver

        return external_driver(name, script)
    ep = entry_points().get(name)
    if ep is None:
        raise UnknownType(f"Invalid device type: '{name}'")
    try:
        driver = ep.load()
    except ModuleNotFoundError as exc:  # a third-party driver importing its library at import time
        extras = extra_for(exc.name or "")
        hint = f": pip install 'stonith[{extras[0]}]'" if extras else ""
        raise UnknownType(f"Cannot load device type '{name}' from {ep.value}: {exc}{hint}") from None
    except Exception as exc:  # a broken third-party driver must not crash the CLI
        raise UnknownType(f"Cannot load device type '{name}' from {ep.value}: {exc}") from None
    if driver.EXTRA is not None:
        extra, modules = driver.EXTRA
        missing = [m for m in modules if not importable(m)]
        if missing:
            return _needs_extra(driver, name, extra, missing)
    return driver

"""devices.d: one TOML file per device instance, validated into an inventory of nodes and outlets.

File format (``devices.d/<name>.toml``)::

    name = "pdu-a"            # optional; defaults to the file name without .toml
    type = "baytech"          # a driver type (``stonith -L``)
    level = 1                 # optional topology level (1 is tried first)
    settle = 1.0              # optional seconds between the off and the on of a reset
    timeout = 30              # optional per-operation deadline for this device, seconds
    max_sessions = 1          # optional concurrent sessions (default: what the driver declares)

    [parameters]              # the driver's fields, validated through its metadata
    ipaddr = "10.0.0.5"
    login = "admin"

    [secrets]                 # secret fields by reference; inline only in a file only root can read
    password = { file = "/etc/stonith/pdu-a.password" }
    # ... or { env = "VAR" }, or { command = ["pass", "pdu-a"] } (run without a shell)

    [hosts]                   # node -> one outlet or a list (dual supplies); outlet ids or names
    node1 = "1"
    db1 = ["5", "6"]
    # no [hosts] table: the node names are the outlet names the device reports
    # (or a [hosts] table and ``device_names = true``: both)

Which outlets feed a node is the configuration's word.  A node named in any ``[hosts]`` table is
switched through its ``[hosts]`` entries only (several devices of one level: a dual feed; several
levels: a topology).  Outlet names a device reports place only nodes no ``[hosts]`` table names,
and a node that way gets one device: two devices reporting one name, or a reported name that another
device's ``[hosts]`` maps, is a conflict that ``stonith check`` reports and a fence of that node
refuses.  Device-reported names are a risk (anyone who can rename an outlet on the PDU can move a
node's fence to another outlet): prefer ``[hosts]`` for anything that matters.

    [mock]                    # optional: how to start the mock that stands in for this device
    type = "baytech"          # default: the device type
    args = ["--model", "rpc3", "--listen", "127.0.0.1:17023"]

Every problem is reported as ``file:field: message``; nothing is switched when any file is bad.
"""

from __future__ import annotations

import os
import stat
import subprocess

from stonith import registry
from stonith.errors import BadConfig, FieldProblem, StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from stonith.driver import Driver, DriverInfo

DEFAULT_DIR = "/etc/stonith/devices.d"
TOP_KEYS = {
    "name",
    "type",
    "level",
    "settle",
    "timeout",
    "max_sessions",
    "parameters",
    "secrets",
    "hosts",
    "mock",
    "description",
    "device_names",
}
DEFAULT_TIMEOUT = 60.0
DEFAULT_SETTLE = 1.0
SECRET_COMMAND_TIMEOUT = 10.0


class DeviceEntry:
    """One configured device of the inventory."""

    def __init__(
        self,
        name: str,
        type_name: str,
        path: str,
        driver: Driver,
        hosts: dict[str, list[str]] | None,
        level: int,
        settle: float,
        timeout: float,
        max_sessions: int,
        mock: dict[str, Any] | None,
        description: str = "",
        device_names: bool = False,
    ) -> None:
        self.name = name
        self.type = type_name
        self.path = path
        self.driver = driver
        self.hosts = hosts  # None: node names are the device's outlet names
        self.level = level
        self.settle = settle
        self.timeout = timeout
        self.max_sessions = max_sessions
        self.mock = mock
        self.description = description
        # With [hosts]: the outlet names the device reports place other nodes too.
        self.device_names = device_names

    @property
    def info(self) -> DriverInfo:
        return self.driver.INFO

    def lock_key(self) -> str:
        """Identifies the physical device: two files naming one address share one lock."""
        return f"{self.type}@{self.driver.device_name()}"


class Inventory:
    def __init__(self, devices: list[DeviceEntry], directory: str) -> None:
        self.devices = devices
        self.directory = directory

    def by_name(self, name: str) -> DeviceEntry:
        for device in self.devices:
            if device.name == name:
                return device
        raise KeyError(name)

    def static_nodes(self) -> list[str]:
        nodes: dict[str, None] = {}
        for device in self.devices:
            for node in device.hosts or {}:
                nodes.setdefault(node, None)
        return list(nodes)

    def levels(self) -> list[int]:
        return sorted({d.level for d in self.devices})


class InventoryError(BadConfig):
    """devices.d problems, each as file:field."""


def _problem(path: str, field: str, message: str) -> FieldProblem:
    return FieldProblem(f"{path}:{field}" if field else path, message)


def _resolve_secret(path: str, name: str, ref: Any, problems: list[FieldProblem]) -> str | None:
    where = f"secrets.{name}"
    if not isinstance(ref, dict) or len(ref) != 1:
        problems.append(
            _problem(
                path,
                where,
                'must be one of { file = "..." }, { env = "..." }, { command = ["prog", "arg", ...] }',
            )
        )
        return None
    ((kind, value),) = ref.items()
    if kind == "file":
        if not isinstance(value, str) or not value.startswith("/"):
            problems.append(_problem(path, where, "file must be an absolute path"))
            return None
        try:
            st = os.stat(value)
            if st.st_mode & 0o044:
                problems.append(
                    _problem(path, where, f"{value} is readable by group or others; chmod 600 it")
                )
                return None
            with open(value, encoding="utf-8") as handle:
                return handle.read().rstrip("\r\n")
        except OSError as exc:
            problems.append(_problem(path, where, f"cannot read {value}: {exc.strerror}"))
            return None
    if kind == "env":
        if not isinstance(value, str) or value not in os.environ:
            problems.append(_problem(path, where, f"environment variable {value!r} is not set"))
            return None
        return os.environ[value]
    if kind == "command":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            problems.append(_problem(path, where, "command must be a list of strings (run without a shell)"))
            return None
        try:
            proc = subprocess.run(
                value,
                capture_output=True,
                text=True,
                timeout=SECRET_COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(_problem(path, where, f"command failed: {exc}"))
            return None
        if proc.returncode != 0:
            problems.append(_problem(path, where, f"command exited {proc.returncode}"))
            return None
        return proc.stdout.rstrip("\r\n")
    problems.append(_problem(path, where, f"unknown secret source {kind!r} (file, env or command)"))
    return None


def _number(
    data: Mapping[str, Any],
    key: str,
    default: float,
    lo: float,
    hi: float,
    path: str,
    problems: list[FieldProblem],
    integer: bool = False,
) -> float:
    value = data.get(key, default)
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not lo <= value <= hi:
        problems.append(
            _problem(path, key, f"must be {'an integer' if integer else 'a number'} in {lo}..{hi}")
        )
        return default
    return float(value)


def load_file(path: str) -> tuple[DeviceEntry | None, list[FieldProblem]]:
    import tomllib

    problems: list[FieldProblem] = []
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = tomllib.load(handle)
    except OSError as exc:
        return None, [_problem(path, "", f"cannot read: {exc.strerror}")]
    except tomllib.TOMLDecodeError as exc:
        return None, [_problem(path, "", f"malformed TOML: {exc}")]
    stem = os.path.basename(path)[: -len(".toml")]
    for key in data:
        if key not in TOP_KEYS:
            problems.append(_problem(path, key, "unknown key (valid: " + ", ".join(sorted(TOP_KEYS)) + ")"))
    name = data.get("name", stem)
    if not isinstance(name, str) or not name or any(c in name for c in "/\\ \t") or not name.isprintable():
        problems.append(_problem(path, "name", "must be a non-empty name without blanks or slashes"))
        name = stem
    type_name = data.get("type")
    if not isinstance(type_name, str):
        problems.append(_problem(path, "type", "required: the driver type (see stonith -L)"))
        return None, problems
    try:
        driver_cls = registry.load(type_name)
    except StonithError as exc:
        problems.append(_problem(path, "type", str(exc)))
        return None, problems
    info = driver_cls.INFO
    level = int(_number(data, "level", 1, 1, 99, path, problems, integer=True))
    settle = _number(data, "settle", DEFAULT_SETTLE, 0, 600, path, problems)
    timeout = _number(data, "timeout", DEFAULT_TIMEOUT, 0.1, 3600, path, problems)
    sessions_default = info.capabilities.sessions or 64
    max_sessions = int(_number(data, "max_sessions", sessions_default, 1, 1024, path, problems, integer=True))

    params = data.get("parameters", {})
    if not isinstance(params, dict):
        problems.append(_problem(path, "parameters", "must be a table"))
        params = {}
    config: dict[str, Any] = dict(params)
    inline_secrets = [k for k in params if (f := info.field(k)) is not None and f.secret and params[k]]
    if inline_secrets and mode & 0o044:
        for key in inline_secrets:
            problems.append(
                _problem(
                    path,
                    f"parameters.{key}",
                    "secret inline in a file readable by group or others: chmod 600 the file, "
                    "or move it to [secrets] as { file = ... }, { env = ... } or "
                    "{ command = [...] }",
                )
            )
    secrets = data.get("secrets", {})
    if not isinstance(secrets, dict):
        problems.append(_problem(path, "secrets", "must be a table"))
        secrets = {}
    for key, ref in secrets.items():
        field = info.field(key)
        if field is None:
            problems.append(_problem(path, f"secrets.{key}", f"{type_name} has no parameter {key!r}"))
            continue
        value = _resolve_secret(path, key, ref, problems)
        if value is not None:
            config[field.fieldname] = value

    from stonith.device import check

    typed: dict[str, Any] = {}
    try:
        typed = check(info, config)
    except BadConfig as exc:
        for problem in exc.problems:
            section = "secrets" if problem.field in secrets else "parameters"
            problems.append(_problem(path, f"{section}.{problem.field}", problem.message))

    hosts = _load_hosts(path, data.get("hosts"), problems)
    device_names = data.get("device_names", False)
    if not isinstance(device_names, bool):
        problems.append(_problem(path, "device_names", "must be true or false"))
        device_names = False
    mock = data.get("mock")
    if mock is not None and (not isinstance(mock, dict) or not isinstance(mock.get("args", []), list)):
        problems.append(_problem(path, "mock", 'must be a table with type = "..." and args = [...]'))
        mock = None
    if problems:
        return None, problems
    try:
        driver = driver_cls(typed)
    except BadConfig as exc:
        return None, [_problem(path, f"parameters.{p.field}", p.message) for p in exc.problems]
    description = data.get("description", "")
    return (
        DeviceEntry(
            name,
            type_name,
            path,
            driver,
            hosts,
            level,
            settle,
            timeout,
            max_sessions,
            mock,
            description if isinstance(description, str) else "",
            device_names,
        ),
        [],
    )


def _load_hosts(path: str, hosts: Any, problems: list[FieldProblem]) -> dict[str, list[str]] | None:
    if hosts is None:
        return None
    if not isinstance(hosts, dict):
        problems.append(_problem(path, "hosts", "must be a table: node = outlet or node = [outlet, ...]"))
        return None
    from stonith.fields import HOSTNAME, check_special, has_control_chars

    result: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for node, outlets in hosts.items():
        if check_special(HOSTNAME, node) is not None:
            problems.append(_problem(path, f"hosts.{node}", "is not a valid node name"))
            continue
        items = outlets if isinstance(outlets, list) else [outlets]
        clean: list[str] = []
        for item in items:
            if (
                isinstance(item, bool)
                or not isinstance(item, (str, int))
                or has_control_chars(str(item))
                or not str(item).strip()
            ):
                problems.append(_problem(path, f"hosts.{node}", f"bad outlet {item!r}"))
                continue
            outlet = str(item).strip()
            key = outlet.casefold()
            if key in owner and owner[key] != node.lower():
                problems.append(
                    _problem(
                        path, f"hosts.{node}", f"outlet {outlet!r} is already claimed by node {owner[key]!r}"
                    )
                )
                continue
            owner[key] = node.lower()
            clean.append(outlet)
        if not items:
            problems.append(_problem(path, f"hosts.{node}", "needs at least one outlet"))
        if node.lower() in result:
            problems.append(_problem(path, f"hosts.{node}", "node listed twice (names are case-insensitive)"))
        result[node.lower()] = clean
    return result


def load_dir(directory: str = DEFAULT_DIR) -> Inventory:
    """Every ``*.toml`` of ``directory``; InventoryError listing every problem of every file."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".toml"))
    except OSError as exc:
        raise InventoryError(
            [FieldProblem(directory, f"cannot read the devices directory: {exc.strerror}")]
        ) from None
    devices: list[DeviceEntry] = []
    problems: list[FieldProblem] = []
    seen: dict[str, str] = {}
    for filename in names:
        path = os.path.join(directory, filename)
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue
        except OSError:
            continue
        entry, file_problems = load_file(path)
        problems.extend(file_problems)
        if entry is None:
            continue
        if entry.name in seen:
            problems.append(
                _problem(path, "name", f"device name {entry.name!r} is also used by {seen[entry.name]}")
            )
            continue
        seen[entry.name] = path
        devices.append(entry)
    if not names:
        problems.append(FieldProblem(directory, "no *.toml device files"))
    if problems:
        raise InventoryError(problems)
    return Inventory(devices, directory)

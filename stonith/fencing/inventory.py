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
    # ... or { env = "VAR" }, or { command = ["/usr/bin/pass", "pdu-a"] } (absolute program path,
    # run without a shell, from /, with a fixed environment, and only by verbs that log in)

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

Every problem is reported as ``file:field: message``.  ``load_dir`` refuses a directory with any bad
file; an operation (stonith.fencing.prepare) fences the nodes that depend on no bad file.

Local trust (as sshd's StrictModes): the directory, every device file, a secret file and the
directory holding it, and a secret command's program must be owned by root or by the user running
stonith and not be writable by group or others; a secret file must not be readable by them either.
Device and secret files are opened without following symbolic links and checked on the open
descriptor.  A file failing this is an ``UnsafeFile`` problem (``stonith check`` lists each).
"""

from __future__ import annotations

import os
import stat

from stonith.contract import local_trust
from stonith.contract.errors import BadConfig, FieldProblem, StonithError
from stonith.fencing import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from stonith.contract.driver import Driver, DriverInfo

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
    "fleet",
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
        pending_secrets: tuple[str, ...] = (),
        secret_commands: dict[str, list[str]] | None = None,
        fleet: str | None = None,
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
        # Secrets whose commands were not run (load_file(run_secret_commands=False)): list only.
        self.pending_secrets = pending_secrets
        # field -> argv of each pending secret: run later, for an operation that needs this device
        # (stonith.fencing.prepare), in parallel with the others and within the operation's deadline.
        self.secret_commands = secret_commands or {}
        # The fleet this device is a member of (stonith.fencing.fleet): its name; None for a file of
        # its own.  Members share ``path`` (the fleet file) and their secrets are resolved once.
        self.fleet = fleet

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


class UnsafeFile(FieldProblem):
    """A devices.d file, its directory or a secret file that someone else could have written."""

    __slots__ = ()


def _unsafe(path: str, field: str, message: str) -> UnsafeFile:
    return UnsafeFile(f"{path}:{field}" if field else path, message)


PENDING = object()  # a { command = [...] } secret whose command was not run (see load_file)
# What a driver holds instead of a secret whose command was not run: a listing needs a driver object,
# and a login with this fails (S_ACCESS) rather than going anywhere with a real secret.
PENDING_PLACEHOLDER = "unresolved"


def _resolve_secret(
    path: str, name: str, ref: Any, problems: list[FieldProblem], run_commands: bool = True
) -> str | object | None:
    """The secret's value; PENDING for a command not run; None after adding a problem."""
    where = f"secrets.{name}"
    if not isinstance(ref, dict) or len(ref) != 1:
        problems.append(
            _problem(
                path,
                where,
                'must be one of { file = "..." }, { env = "..." }, { command = ["/abs/prog", "arg", ...] }',
            )
        )
        return None
    ((kind, value),) = ref.items()
    if kind == "file":
        if not isinstance(value, str) or not value.startswith("/"):
            problems.append(_problem(path, where, "file must be an absolute path"))
            return None
        try:
            return local_trust.read_secret_file(value)
        except local_trust.UnsafePath as exc:
            problems.append(_unsafe(path, where, str(exc)))
        except OSError as exc:
            problems.append(_problem(path, where, f"cannot read {value}: {exc.strerror}"))
        except UnicodeDecodeError:
            problems.append(_problem(path, where, f"{value} is not UTF-8 text"))
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
            local_trust.check_program(value[0])
        except local_trust.UnsafePath as exc:
            problems.append(_unsafe(path, where, str(exc)))
            return None
        except OSError as exc:
            problems.append(_problem(path, where, f"cannot run {value[0]}: {exc.strerror}"))
            return None
        if not run_commands:
            return PENDING
        return _run_secret_command(path, where, value, problems)
    problems.append(_problem(path, where, f"unknown secret source {kind!r} (file, env or command)"))
    return None


def _run_secret_command(
    path: str,
    where: str,
    argv: list[str],
    problems: list[FieldProblem],
    timeout: float = SECRET_COMMAND_TIMEOUT,
) -> str | None:
    """Run a secret command as root: no shell, from /, with a fixed environment
    (stonith.contract.local_trust).

    Our own environment may hold other devices' ``{ env = ... }`` secrets; the command gets none.
    ``timeout``: what is left of the operation's deadline (never more than SECRET_COMMAND_TIMEOUT).
    """
    import subprocess  # here, not at the top: only a { command = ... } secret needs it

    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=max(0.01, min(timeout, SECRET_COMMAND_TIMEOUT)),
            stdin=subprocess.DEVNULL,
            env=local_trust.child_env(),
            cwd="/",
            check=False,
        )
    except subprocess.TimeoutExpired:
        problems.append(_problem(path, where, f"command {argv[0]} did not finish within {timeout:.1f} s"))
        return None
    except OSError as exc:
        problems.append(_problem(path, where, f"command {argv[0]} failed: {exc.strerror or exc}"))
        return None
    except UnicodeDecodeError:
        problems.append(_problem(path, where, "command printed something that is not UTF-8 text"))
        return None
    if proc.returncode != 0:
        problems.append(_problem(path, where, f"command exited {proc.returncode}"))
        return None
    return proc.stdout.rstrip("\r\n")


def resolve_device_secrets(device: DeviceEntry, seconds: float) -> list[FieldProblem]:
    """Run ``device``'s pending secret commands side by side, each within ``seconds``; on success
    give the entry a driver built with them.  The problems found (the entry is then unusable)."""
    import threading

    from stonith.contract.validation import validate

    problems: list[FieldProblem] = []
    values: dict[str, str] = {}
    lock = threading.Lock()

    def one(field: str, argv: list[str]) -> None:
        found: list[FieldProblem] = []
        value = _run_secret_command(device.path, f"secrets.{field}", argv, found, seconds)
        with lock:
            problems.extend(found)
            if value is not None:
                values[field] = value

    threads = [
        threading.Thread(target=one, args=item, daemon=True) for item in device.secret_commands.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if problems:
        return problems
    typed, field_problems = validate(device.info.fields, {**device.driver.config, **values})
    problems = [_problem(device.path, f"secrets.{name}", message) for name, message, _ in field_problems]
    if problems:
        return problems
    try:
        device.driver = type(device.driver)(typed)
    except BadConfig as exc:
        return [_problem(device.path, f"parameters.{p.field}", p.message) for p in exc.problems]
    device.pending_secrets, device.secret_commands = (), {}
    return []


def share_secrets(source: DeviceEntry, members: list[DeviceEntry]) -> None:
    """Give fleet ``members`` the secrets resolved for ``source``, a member of the same fleet file
    (resolve_device_secrets ran its commands once for the file; they were validated there)."""
    values = {field: source.driver.config[field] for field in members[0].secret_commands} if members else {}
    for member in members:
        member.driver = type(member.driver)({**member.driver.config, **values})
        member.pending_secrets, member.secret_commands = (), {}


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


def load_file(
    path: str, *, run_secret_commands: bool = True, dir_fd: int | None = None
) -> tuple[DeviceEntry | None, list[FieldProblem]]:
    """One device file: its entry, or every problem found (as ``file:field``).

    The file and its directory must be safe (stonith.contract.local_trust): owned by root or the caller,
    not writable by group or others, no symbolic link; the file is read from the descriptor that
    was checked.  ``dir_fd``: the already checked directory the file is in.

    ``run_secret_commands=False`` (``stonith devices``, the validation pass of ``stonith check``):
    a ``{ command = [...] }`` secret is checked (absolute path, safe program) but not run; the entry
    names it in ``pending_secrets`` and holds a placeholder, so it can be listed but never logs in.

    A fleet file (stonith.fencing.fleet) is several devices: a problem here, see load_entries.
    """
    entries, problems = load_entries(path, run_secret_commands=run_secret_commands, dir_fd=dir_fd)
    if problems:
        return None, problems
    if len(entries) != 1 or entries[0].fleet is not None:
        return None, [_problem(path, "fleet", "a fleet file describes several devices, not one")]
    return entries[0], []


def load_entries(
    path: str, *, run_secret_commands: bool = True, dir_fd: int | None = None
) -> tuple[list[DeviceEntry], list[FieldProblem]]:
    """The devices of one file: one, or every member of a fleet (stonith.fencing.fleet); or no
    device and every problem found.  Otherwise as load_file."""
    import tomllib

    own_dir_fd: int | None = None
    try:
        if dir_fd is None:
            own_dir_fd = dir_fd = local_trust.open_directory(os.path.dirname(path) or ".")
        fd = local_trust.open_file(os.path.basename(path), dir_fd=dir_fd, shown=path)
    except local_trust.UnsafePath as exc:
        return [], [_unsafe(path, "", str(exc))]
    except OSError as exc:
        return [], [_problem(path, "", f"cannot read: {exc.strerror}")]
    finally:
        if own_dir_fd is not None:
            os.close(own_dir_fd)
    try:
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = tomllib.load(handle)
    except OSError as exc:
        return [], [_problem(path, "", f"cannot read: {exc.strerror}")]
    except tomllib.TOMLDecodeError as exc:
        return [], [_problem(path, "", f"malformed TOML: {exc}")]
    except UnicodeDecodeError as exc:
        # TOML is UTF-8 throughout, comments included (tomllib decodes the whole file first).
        return [], [
            _problem(path, "", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})")
        ]
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively; no device file nests deeply.
        return [], [_problem(path, "", "malformed TOML: nested too deeply")]
    return _entries(path, data, mode, run_secret_commands)


def _entries(
    path: str, data: dict[str, Any], mode: int, run_secret_commands: bool
) -> tuple[list[DeviceEntry], list[FieldProblem]]:
    """The devices of a parsed file, or every problem (see load_entries)."""
    from stonith.fencing import fleet
    from stonith.fencing.fleet import ADDRESS_FIELD, NODE_FIELD

    problems: list[FieldProblem] = []
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
        return [], problems
    try:
        driver_cls = registry.load(type_name)
    except StonithError as exc:
        problems.append(_problem(path, "type", str(exc)))
        return [], problems
    info = driver_cls.INFO
    fleet_table = data.get("fleet")
    pairs: list[tuple[str, str]] = []
    if fleet_table is not None:
        why = fleet.fleet_type_problem(info)
        if why is not None:
            problems.append(_problem(path, "type", why))
            return [], problems
        if fleet.SEPARATOR in name:
            problems.append(
                _problem(
                    path, "name", f"a fleet's name has no {fleet.SEPARATOR!r} (its members are NAME:NODE)"
                )
            )
        for key in fleet.NOT_IN_FLEET:
            if key in data:
                problems.append(_problem(path, key, "has no meaning in a fleet file (see [fleet])"))
        pairs = fleet.members(path, fleet_table, problems)
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
    if fleet_table is not None:
        for key in params:
            field = info.field(key)
            if field is not None and field.fieldname in (NODE_FIELD, ADDRESS_FIELD):
                problems.append(
                    _problem(path, f"parameters.{key}", "set by [fleet] for each member, not here")
                )
        # Validated once, with the first member's node and address (each member's own are
        # checked below): what the members share is checked once for the file.
        config.pop(NODE_FIELD, None)
        config.pop(ADDRESS_FIELD, None)
        if pairs:
            config[NODE_FIELD], config[ADDRESS_FIELD] = pairs[0]
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
    pending: list[str] = []
    commands: dict[str, list[str]] = {}
    for key, ref in secrets.items():
        field = info.field(key)
        if field is None:
            problems.append(_problem(path, f"secrets.{key}", f"{type_name} has no parameter {key!r}"))
            continue
        value = _resolve_secret(path, key, ref, problems, run_secret_commands)
        if value is PENDING:
            pending.append(field.fieldname)
            commands[field.fieldname] = list(ref["command"])
        elif isinstance(value, str):
            config[field.fieldname] = value

    from stonith.contract.validation import validate

    typed, field_problems = validate(info.fields, config)
    for field_name, message, missing in field_problems:
        if missing and field_name in pending:
            continue  # its command was not run: nothing to check yet
        if fleet_table is not None and field_name in (NODE_FIELD, ADDRESS_FIELD):
            continue  # each member's, checked below
        section = "secrets" if field_name in secrets else "parameters"
        problems.append(_problem(path, f"{section}.{field_name}", message))
    if fleet_table is not None:
        if pairs:
            fleet.check_members(path, info, pairs, problems)
        description = data.get("description", "")
        if problems:
            return [], problems
        return _members(
            path,
            name,
            type_name,
            driver_cls,
            {**typed, **dict.fromkeys(pending, PENDING_PLACEHOLDER)},
            pairs,
            (level, settle, timeout, max_sessions),
            description if isinstance(description, str) else "",
            tuple(pending),
            commands,
        )

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
        return [], problems
    try:
        driver = driver_cls({**typed, **dict.fromkeys(pending, PENDING_PLACEHOLDER)})
    except BadConfig as exc:
        return [], [_problem(path, f"parameters.{p.field}", p.message) for p in exc.problems]
    description = data.get("description", "")
    return (
        [
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
                tuple(pending),
                commands,
            )
        ],
        [],
    )


def _members(
    path: str,
    fleet_name: str,
    type_name: str,
    driver_cls: type[Driver],
    typed: dict[str, Any],
    pairs: list[tuple[str, str]],
    numbers: tuple[int, float, float, int],
    description: str,
    pending: tuple[str, ...],
    commands: dict[str, list[str]],
) -> tuple[list[DeviceEntry], list[FieldProblem]]:
    """The devices of a fleet whose shared configuration ``typed`` was validated: one per (node,
    address), each a driver built with its own two parameters (stonith.fencing.fleet)."""
    from stonith.fencing.fleet import ADDRESS_FIELD, NODE_FIELD, member_name

    level, settle, timeout, max_sessions = numbers
    entries: list[DeviceEntry] = []
    for node, address in pairs:
        try:
            driver = driver_cls({**typed, NODE_FIELD: node, ADDRESS_FIELD: address})
        except BadConfig as exc:
            where = {NODE_FIELD: "fleet.nodes", ADDRESS_FIELD: f"fleet.{ADDRESS_FIELD}"}
            return [], [
                _problem(path, where.get(p.field, f"parameters.{p.field}"), f"{node}: {p.message}")
                for p in exc.problems
            ]
        if not entries:  # the type's word that the member is its node, as a single file's
            static = driver.static_outlets()
            if static is None or [o.name for o in static] != [node]:
                why = f"{type_name} with {NODE_FIELD} does not fence that one node: it cannot be a fleet"
                return [], [_problem(path, "type", why)]
        entries.append(
            DeviceEntry(
                member_name(fleet_name, node),
                type_name,
                path,
                driver,
                None,
                level,
                settle,
                timeout,
                max_sessions,
                None,
                description,
                False,
                pending,
                commands,
                fleet=fleet_name,
            )
        )
    return entries, []


def _load_hosts(path: str, hosts: Any, problems: list[FieldProblem]) -> dict[str, list[str]] | None:
    if hosts is None:
        return None
    if not isinstance(hosts, dict):
        problems.append(_problem(path, "hosts", "must be a table: node = outlet or node = [outlet, ...]"))
        return None
    from stonith.contract.fields import HOSTNAME
    from stonith.contract.validation import check_special, has_control_chars

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


def scan_dir(
    directory: str = DEFAULT_DIR, *, run_secret_commands: bool = True
) -> tuple[list[DeviceEntry], list[FieldProblem]]:
    """Every ``*.toml`` of ``directory`` that loads, and every problem of the others (never raises).

    The directory itself must be safe (owner root or the caller, not writable by group or others);
    its files are opened relative to the checked directory, never by a name that could be swapped.
    """
    devices, broken, problems = scan_files(directory, run_secret_commands=run_secret_commands)
    return devices, problems + [p for file_problems in broken.values() for p in file_problems]


def scan_files(
    directory: str = DEFAULT_DIR, *, run_secret_commands: bool = True
) -> tuple[list[DeviceEntry], dict[str, list[FieldProblem]], list[FieldProblem]]:
    """As scan_dir, with the problems of each file kept apart (path -> problems) from those of the
    directory itself: an operation fences the nodes that depend on no broken file
    (stonith.fencing.prepare)."""
    try:
        dir_fd = local_trust.open_directory(directory)
    except local_trust.UnsafePath as exc:
        return [], {}, [UnsafeFile(directory, f"devices directory: {exc}")]
    except OSError as exc:
        return [], {}, [FieldProblem(directory, f"cannot read the devices directory: {exc.strerror}")]
    devices: list[DeviceEntry] = []
    broken: dict[str, list[FieldProblem]] = {}
    seen: dict[str, str] = {}  # device name -> its file
    # (lock key, outlet id) of a device its configuration names (a BMC) -> (file, node, fleet)
    bmcs: dict[tuple[str, str], tuple[str, str, str | None]] = {}
    try:
        try:
            names = sorted(n for n in os.listdir(dir_fd) if n.endswith(".toml"))
        except OSError as exc:
            return [], {}, [FieldProblem(directory, f"cannot read the devices directory: {exc.strerror}")]
        for filename in names:
            path = os.path.join(directory, filename)
            try:
                if stat.S_ISDIR(os.stat(filename, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    continue
            except OSError as exc:
                broken[path] = [_problem(path, "", f"cannot read: {exc.strerror}")]
                continue
            entries, file_problems = load_entries(
                path, run_secret_commands=run_secret_commands, dir_fd=dir_fd
            )
            if not entries:
                broken[path] = file_problems
                continue
            clashes = _clashes(path, entries, seen, bmcs)
            if clashes:
                broken[path] = clashes
                continue
            for entry in entries:
                seen[entry.name] = path
                if entry.hosts is None and (static := entry.driver.static_outlets()) is not None:
                    for outlet in static:
                        bmcs.setdefault((entry.lock_key(), outlet.id), (path, outlet.name, entry.fleet))
            devices.extend(entries)
    finally:
        os.close(dir_fd)
    if not names:
        return devices, broken, [FieldProblem(directory, "no *.toml device files")]
    return devices, broken, []


def _clashes(
    path: str,
    entries: list[DeviceEntry],
    seen: dict[str, str],
    bmcs: dict[tuple[str, str], tuple[str, str, str | None]],
) -> list[FieldProblem]:
    """Why the devices of ``path`` clash with those of the files read before (empty: they do not).

    A device name used twice; and, where a fleet takes part (stonith.fencing.fleet), one BMC
    configured by two files (a leftover single file of a fleet member, or another node's).
    """
    names: list[str] = []
    twice: list[str] = []
    for entry in entries:
        if entry.name in seen:
            names.append(f"{entry.name!r} is also used by {seen[entry.name]}")
        if entry.hosts is None and (static := entry.driver.static_outlets()) is not None:
            for outlet in static:
                other = bmcs.get((entry.lock_key(), outlet.id))
                if other is not None and other[0] != path and (entry.fleet or other[2]):
                    twice.append(
                        f"{entry.lock_key()} (node {outlet.name}) is also configured by {other[0]} "
                        f"(node {other[1]})"
                    )
    from stonith.fencing.fleet import ADDRESS_FIELD, some

    problems: list[FieldProblem] = []
    fleet = entries[0].fleet is not None
    if names:
        problems.append(_problem(path, "fleet.nodes" if fleet else "name", "device name " + some(names)))
    if twice:
        field = f"fleet.{ADDRESS_FIELD}" if fleet else f"parameters.{ADDRESS_FIELD}"
        problems.append(_problem(path, field, "one BMC, one device file: " + some(twice)))
    return problems


def load_dir(directory: str = DEFAULT_DIR, *, run_secret_commands: bool = True) -> Inventory:
    """Every ``*.toml`` of ``directory``; InventoryError listing every problem of every file.

    ``run_secret_commands=False``: for listing only (see load_file); such an inventory never fences.
    """
    devices, problems = scan_dir(directory, run_secret_commands=run_secret_commands)
    if problems:
        raise InventoryError(problems)
    return Inventory(devices, directory)

"""``stonith export pcs``: the pcs commands that reproduce devices.d in a Pacemaker cluster.

One stonith resource per device, with our agent ``fence_stonith_<type>`` (``stonith install-agents``
puts it in /usr/sbin on every node) and the parameters under the names fence-agents use
(stonith.render.fence_options: ``ip``, ``username``, ...).  Which nodes a device fences comes from the
configuration, never from a guess:

- ``[hosts]`` becomes ``pcmk_host_map`` (``node:outlet[,outlet]``: Pacemaker hands the outlets to
  the agent as its plug);
- a device named by its configuration (a BMC's ``hostname``, a host list) becomes ``pcmk_host_list``;
- each member of a fleet file (stonith.fencing.fleet) is a resource of its own, ``<fleet>-<node>``
  (a Pacemaker id takes no ``:``), with its own address and the file's shared parameters;
- nodes named by the outlet names a device reports (no ``[hosts]``, or ``device_names = true``) are
  not static: they are left out with a warning, unless ``--query`` asks the devices now and freezes
  the names they report into ``pcmk_host_map``;
- a node fed by several devices (dual power supplies) or by several topology levels gets
  ``pcs stonith level add LEVEL NODE DEVICE [DEVICE]`` for each of its levels: Pacemaker switches every
  device of a level off before switching any on, as we do.

Secrets are never written inline: a ``[secrets]`` reference becomes fence-agents'
``password_script`` (or ``snmp_priv_passwd_script``), a command the agent runs (through the shell,
as fence-agents does) and whose output is the secret: ``cat -- FILE`` for ``{ file = FILE }``,
``printenv NAME`` for ``{ env = NAME }`` (the variable must then be in pacemaker-fenced's environment,
e.g. /etc/default/pacemaker) and the command itself for ``{ command = [...] }``.  A secret that
fence-agents can only take inline (an SNMP community, an IPMI Kg key) is left out with a warning.

Device ``timeout`` and ``settle`` become the agent's ``power_timeout`` and ``power_wait``, and
``pcmk_reboot_timeout``/``pcmk_off_timeout`` when the agent may need longer than Pacemaker's 60 s.
"""

from __future__ import annotations

import math
import os
import shlex
import sys

from stonith.contract.errors import BadConfig, StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.fencing.inventory import DeviceEntry, Inventory
    from stonith.render.fence_options import AgentOptions

# Secret fields fence-agents can read from a script, and the script option's name.
SECRET_SCRIPTS = {"password": "password_script", "snmp_priv_passwd": "snmp_priv_passwd_script"}
# The agent's fixed waits besides power_timeout (fence_agent: login 5 s + shell 3 s) and Pacemaker's
# default action timeout.
AGENT_OVERHEAD = 8.0
PACEMAKER_TIMEOUT = 60.0
# A Pacemaker resource id is an XML ID.
ID_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
ID_REST = ID_FIRST + "0123456789.-"
MAP_SEPARATORS = ";:, \t"


class Export:
    """The pcs commands of one inventory, with what could not be exported."""

    def __init__(self, pcs: list[str]) -> None:
        self.pcs = pcs
        self.lines: list[str] = []
        self.warnings: list[str] = []
        self.agents: set[str] = set()

    def command(self, *words: str) -> None:
        self.lines.append(shlex.join([*self.pcs, *words]))

    def warn(self, device: str, message: str) -> None:
        text = f"{device}: {message}" if device else message
        self.warnings.append(text)
        self.lines.append(f"# WARNING: {text}")


def pcs_commands(
    inventory: Inventory,
    *,
    cib: str | None = None,
    reported: dict[str, dict[str, list[str]]] | None = None,
) -> Export:
    """The commands for ``inventory``.  ``reported``: device name -> node -> outlets, the nodes
    device-named devices reported (``--query``); without it such nodes are not exported."""
    from stonith.fencing import engine
    from stonith.render.fence_options import agent_options
    from stonith.render.metadata import fence_agent_name

    out = Export(["pcs", *(["-f", cib] if cib else [])])
    # node (folded) -> its spelling, and level -> devices feeding it at that level
    spelling: dict[str, str] = {}
    feeds: dict[str, dict[int, list[str]]] = {}
    taken: set[str] = set()
    for device in inventory.devices:
        # A fleet member (rack:cn1) as an XML ID: rack-cn1.
        name = device.name.replace(":", "-") if device.fleet is not None else device.name
        if name in taken:
            out.warn(device.name, f"resource id {name} is taken by another device: not exported")
            continue
        taken.add(name)
        if not name or name[0] not in ID_FIRST or any(c not in ID_REST for c in name):
            out.warn(name, "not a valid Pacemaker resource id (a letter or _, then letters, digits, . - _)")
            continue
        options = agent_options(device.info)
        params, ok = _parameters(device, options, out)
        if not ok:
            continue
        host_map: dict[str, list[str]] = {}
        host_list: list[str] = []
        if device.hosts is not None:
            host_map.update(device.hosts)
        else:
            static = device.driver.static_outlets()
            if static is not None:
                host_list = [o.name for o in static]
        if engine.names_from_device(device):
            named = (reported or {}).get(name)
            if named is None:
                out.warn(
                    name,
                    "the nodes it names by its outlet names cannot be exported statically: run "
                    "`stonith export pcs --query` to freeze the names it reports now, or map them in [hosts]",
                )
            else:
                for node, outlets in named.items():
                    host_map.setdefault(node, outlets)
        bad = [
            f"{n}:{'+'.join(o)}"
            for n, o in host_map.items()
            if any(c in MAP_SEPARATORS for c in n + "".join(o))
        ]
        if bad:
            out.warn(
                name, f"node or outlet names pcmk_host_map cannot carry (; : , or blanks): {', '.join(bad)}"
            )
            continue
        if not host_map and not host_list:
            out.warn(
                name, "no node to fence: not exported (a device without nodes would be asked for every node)"
            )
            continue
        if host_map:
            params.append(("pcmk_host_map", ";".join(f"{n}:{','.join(o)}" for n, o in host_map.items())))
        if host_list:
            params.append(("pcmk_host_list", " ".join(host_list)))
        agent = fence_agent_name(device.type)
        out.agents.add(device.type)
        out.command("stonith", "create", name, agent, *(f"{k}={v}" for k, v in params))
        for node in [*host_map, *host_list]:
            key = node.lower()
            spelling.setdefault(key, node)
            levels = feeds.setdefault(key, {})
            if name not in levels.setdefault(device.level, []):
                levels[device.level].append(name)
    for key in sorted(feeds, key=_natural):
        levels = feeds[key]
        if len(levels) == 1 and len(next(iter(levels.values()))) == 1:
            continue  # one device: Pacemaker finds it without a topology
        for level in sorted(levels):
            # DEVICE DEVICE: pcs 0.11 deprecates the older DEVICE,DEVICE (0.10 takes both)
            out.command("stonith", "level", "add", str(level), spelling[key], *levels[level])
    return out


def _natural(text: str) -> Any:
    from stonith.fencing.nodeset import natural_key

    return natural_key(text)


def _raw(device: DeviceEntry) -> dict[str, Any]:
    """The device file as written (which parameters it sets, its secret references)."""
    import tomllib

    fd = os.open(device.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        return tomllib.load(handle)


def _option_for(options: AgentOptions, fieldname: str, value: str) -> tuple[str, str] | None:
    """The fence-agents name and value the agent takes for our field ``fieldname``."""
    from stonith.render.fence_options import FIELD

    if options.native(fieldname):
        return fieldname, value
    for option in options.options:
        if option.does != FIELD or option.field != fieldname or not option.advertised:
            continue
        if not option.values:
            return option.name, value
        for theirs, ours in option.values.items():
            if ours == value:
                return option.name, theirs
    return None


def _parameters(
    device: DeviceEntry, options: AgentOptions, out: Export
) -> tuple[list[tuple[str, str]], bool]:
    from stonith.contract.fields import to_text

    raw = _raw(device)
    info = device.info
    params: list[tuple[str, str]] = []
    keys = list(raw.get("parameters", {}))
    if device.fleet is not None:  # the members' own parameter; their node is the host list
        from stonith.fencing.fleet import ADDRESS_FIELD

        keys.append(ADDRESS_FIELD)
    for key in keys:
        field = info.field(key)
        if field is None or field.fieldname not in device.driver.config:
            continue
        value = to_text(field, device.driver.config[field.fieldname])
        if field.secret:
            out.warn(
                device.name, f"{field.fieldname} is inline in {device.path}: not exported; use [secrets]"
            )
            continue
        found = _option_for(options, field.fieldname, value)
        if found is None:
            out.warn(device.name, f"fence_stonith_{device.type} has no option for {field.fieldname}")
            return [], False
        params.append(found)
    for key, ref in raw.get("secrets", {}).items():
        field = info.field(key)
        if field is None:
            continue
        script = SECRET_SCRIPTS.get(field.fieldname)
        if script is None or options.lookup(script) is None:
            out.warn(
                device.name,
                f"{field.fieldname} cannot be passed by reference (fence-agents has no script option "
                f"for it): set it in the cluster yourself "
                f"(pcs stonith update {device.name} {field.fieldname}=...)",
            )
            continue
        params.append((script, _script(ref)))
    if "timeout" in raw:
        params.append(("power_timeout", _seconds(device.timeout)))
        total = AGENT_OVERHEAD + 2 * device.timeout + device.settle
        if total > PACEMAKER_TIMEOUT:
            needed = f"{math.ceil(total + 5)}s"
            params += [("pcmk_reboot_timeout", needed), ("pcmk_off_timeout", needed)]
    if "settle" in raw:
        params.append(("power_wait", _seconds(device.settle)))
    return params, True


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _script(ref: dict[str, Any]) -> str:
    """The shell command that prints the secret a [secrets] reference names (checked by inventory)."""
    ((kind, value),) = ref.items()
    if kind == "file":
        return f"cat -- {shlex.quote(value)}"
    if kind == "env":
        return f"printenv {shlex.quote(value)}"
    return shlex.join(value)


def query(inventory: Inventory, timeout: float | None) -> dict[str, dict[str, list[str]]]:
    """Ask every device that names its nodes by its outlet names; node -> outlet ids per device.

    Names another device's [hosts] maps, or that two devices report, are left out (``stonith check``
    reports them as conflicts).
    """
    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import fan_out
    from stonith.fencing import engine

    plan = engine.Plan(inventory)
    plan.list_devices(
        lambda d: Deadline(timeout or d.timeout, "export"), lambda fn, items: fan_out(fn, items, 64)
    )
    if plan.unlisted:
        name, why = next(iter(plan.unlisted.items()))
        raise StonithError(f"{name}: cannot list its outlets: {why}")
    found: dict[str, dict[str, list[str]]] = {}
    for key, hits in plan.by_name().items():
        devices = {d.name for d, _ in hits}
        if plan.claimed(key) or len(devices) != 1:
            continue
        device = hits[0][0]
        node = next((o.name for _, o in hits), key)
        found.setdefault(device.name, {})[node] = [o.id for _, o in hits]
    return found


def main(directory: str, *, cib: str | None, ask: bool, timeout: float | None) -> int:
    from stonith.fencing.inventory import load_dir

    inventory = load_dir(directory, run_secret_commands=ask)
    if not inventory.devices:
        raise BadConfig(f"{directory}: no device to export")
    reported = query(inventory, timeout) if ask else None
    export = pcs_commands(inventory, cib=cib, reported=reported)
    types = sorted(export.agents)
    head = [
        f"# Generated by `stonith export pcs` from {os.path.abspath(directory)}.",
        "# Every cluster node needs the agents: stonith install-agents "
        + " ".join(f"--type {t}" for t in types),
        "# Secrets are passed by reference (password_script: the agent runs it and reads the secret).",
    ]
    sys.stdout.write("\n".join([*head, *export.lines]) + "\n")
    for warning in export.warnings:
        sys.stderr.write(f"WARNING: {warning}\n")
    return 0

"""devices.d fleet files: one file for a range of identical BMCs that differ only in address and node.

A site with 5,000 BMCs of one kind need not write 5,000 device files (and read them on every
command): a file with a ``[fleet]`` table describes one device per node::

    # devices.d/rack-bmcs.toml
    type = "ipmilan"                   # a type whose "hostname" is the one node it fences
    level = 1                          # settle, timeout, max_sessions, description: every member
    [fleet]
    nodes = "cn[0001-5000]"            # a node set; one device per node
    ipaddr = "{node}-bmc"              # a template with {node} and/or {index} (1-based) ...
    # ipaddr = "10.1.[0-19].[1-250]"   # ... or a node set of exactly as many addresses
    [parameters]                       # shared by every member, validated once
    login = "admin"
    [secrets]                          # resolved once for the file, not per member
    password = { file = "/etc/stonith/bmc.password" }

Rules:

- **Members.**  Member ``i`` is the device a single file with ``hostname = <node i>`` and
  ``ipaddr = <address i>`` (and the file's other keys) would be, without ``[hosts]``: it fences
  its node through the chassis (outlet "1"), as a single BMC file does, so every verdict is the
  one N single files give.  Its name is ``<fleet>:<node>`` (``rack-bmcs:cn0001``; the fleet's
  name is ``name``, else the file name without ``.toml``, and has no ``:``): ``stonith devices``, ``--json``,
  audit lines and ``stonith check`` show that name, and the device lock is the BMC's
  (``ipmilan@<address>``), as for a single file.
- **Order.**  Both node sets are taken in natural order (``cn2`` before ``cn10``; ClusterShell
  sorts them the same way), and the i-th node gets the i-th address: ``nodes = "cn[1-3]"`` with
  ``ipaddr = "10.0.0.[11-13]"`` gives cn1 -> 10.0.0.11, cn2 -> .12, cn3 -> .13.  ``{index}`` is
  the node's position in that order, from 1.  ``stonith devices`` lists every pair: check it.
- **Types.**  A fleet is for a type that fences one node per device, named by its ``hostname``
  parameter (a host-name field) and reached at its ``ipaddr`` parameter: ipmilan and redfish
  (with ``hostname``, one ComputerSystem).  Any other type is refused (``file:type``).  The fleet
  sets those two parameters: ``[parameters]`` must not, and ``[hosts]``, ``device_names`` and
  ``[mock]`` have no meaning in a fleet file (refused).
- **Errors** are ``file:field: message`` like any device file: ``fleet.nodes`` (a bad node set,
  a bad node name), ``fleet.ipaddr`` (a bad node set or template, a template without ``{node}``
  or ``{index}``, a count that differs from the nodes', an address two members share, an
  address the type refuses).  A fleet loads whole or not at all: a broken fleet file fails the
  nodes it names (stonith.fencing.prepare reads its node set), every other node is fenced.
- **Clashes.**  A member's name must be unique in the directory, and a member's BMC (type and
  address) must not be configured by another file too (a leftover single file of the same BMC,
  or another node's): as for two files of one device name, the file read later (in file-name
  order) is broken and names the other one; ``stonith check`` reports it.  A node of a fleet may
  also be in another file's ``[hosts]`` (a PDU as the next level): that is a topology, not a clash.
- **Cost.**  The shared parameters and secrets are validated once per file; a ``{ command }``
  secret runs once per file, for the operations that need any of its members.  Each member only
  gets its node and address checked and its driver built.
- **Remote service.**  A member is listed like any device; changing one member through the API is
  refused (the fleet file is the one place to change them all).
"""

from __future__ import annotations

import re

from stonith.contract.errors import FieldProblem, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.contract.driver import DriverInfo

NODE_FIELD = "hostname"  # the parameter a member's node goes into
ADDRESS_FIELD = "ipaddr"  # the parameter a member's address goes into
FLEET_KEYS = ("nodes", ADDRESS_FIELD)
SEPARATOR = ":"  # member name: <fleet>:<node>
NOT_IN_FLEET = ("hosts", "device_names", "mock")
MAX_SHOWN = 5  # per-member problems listed before "... and N more"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def member_name(fleet: str, node: str) -> str:
    return f"{fleet}{SEPARATOR}{node}"


def fleet_type_problem(info: DriverInfo) -> str | None:
    """Why a type cannot be a fleet, or None when it can (see the module's text)."""
    from stonith.contract.fields import HOSTNAME

    node = info.field(NODE_FIELD)
    if node is None or node.specialtype != HOSTNAME or info.field(ADDRESS_FIELD) is None:
        return (
            f"{info.name} cannot be a fleet: a fleet is for types that fence one node per device, "
            f"named by their {NODE_FIELD} parameter and reached at their {ADDRESS_FIELD} (ipmilan, redfish); "
            "write one file per device"
        )
    return None


def _problem(path: str, field: str, message: str) -> FieldProblem:
    return FieldProblem(f"{path}:{field}", message)


def _node_set(text: str) -> list[str]:
    """The names of a node set in natural order (UsageError when it is not one)."""
    from stonith.fencing.nodeset import expand_sorted

    return expand_sorted(text, keep_case=True)


def members(path: str, table: Any, problems: list[FieldProblem]) -> list[tuple[str, str]]:
    """(node, address) of every member of a ``[fleet]`` table; empty after adding problems."""
    if not isinstance(table, dict):
        problems.append(_problem(path, "fleet", 'must be a table: nodes = "...", ipaddr = "..."'))
        return []
    before = len(problems)
    for key in table:
        if key not in FLEET_KEYS:
            problems.append(_problem(path, f"fleet.{key}", "unknown key (valid: nodes, ipaddr)"))
    nodes_text = table.get("nodes")
    nodes: list[str] = []
    if not isinstance(nodes_text, str) or not nodes_text.strip():
        problems.append(_problem(path, "fleet.nodes", 'required: a node set, e.g. "cn[0001-0500]"'))
    else:
        try:
            nodes = _node_set(nodes_text)
        except UsageError as exc:
            problems.append(_problem(path, "fleet.nodes", str(exc)))
        if not nodes and len(problems) == before:
            problems.append(_problem(path, "fleet.nodes", "names no node"))
    address_text = table.get(ADDRESS_FIELD)
    addresses: list[str] = []
    if not isinstance(address_text, str) or not address_text.strip():
        problems.append(
            _problem(
                path,
                f"fleet.{ADDRESS_FIELD}",
                'required: a template such as "{node}-bmc", or a node set of addresses such as '
                '"10.0.0.[1-100]"',
            )
        )
    elif "{" in address_text or "}" in address_text:
        addresses = _from_template(path, address_text, nodes, problems)
    else:
        try:
            addresses = _node_set(address_text)
        except UsageError as exc:
            problems.append(_problem(path, f"fleet.{ADDRESS_FIELD}", str(exc)))
        else:
            if nodes and len(addresses) != len(nodes):
                problems.append(
                    _problem(
                        path,
                        f"fleet.{ADDRESS_FIELD}",
                        f"names {len(addresses)} addresses for {len(nodes)} nodes: "
                        "a node set of addresses must give exactly one per node",
                    )
                )
    if len(problems) != before:
        return []
    pairs = list(zip(nodes, addresses, strict=True))
    owner: dict[str, str] = {}
    shared: list[str] = []
    for node, address in pairs:
        first = owner.setdefault(address.lower(), node)
        if first != node:
            shared.append(f"{address!r} ({first} and {node})")
    if shared:
        problems.append(
            _problem(
                path,
                f"fleet.{ADDRESS_FIELD}",
                "one BMC per node: address " + some(shared) + " given to two members",
            )
        )
        return []
    return pairs


def _from_template(path: str, template: str, nodes: list[str], problems: list[FieldProblem]) -> list[str]:
    where = f"fleet.{ADDRESS_FIELD}"
    names = _PLACEHOLDER.findall(template)
    unknown = sorted({n for n in names if n not in ("node", "index")})
    if unknown:
        problems.append(
            _problem(
                path, where, f"unknown placeholder {{{unknown[0]}}} (a template takes {{node}} and {{index}})"
            )
        )
        return []
    rest = _PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        problems.append(_problem(path, where, "unbalanced { or } in the template"))
        return []
    if not names:
        problems.append(
            _problem(
                path, where, "a template needs {node} or {index}: else every member has the same address"
            )
        )
        return []
    return [
        template.replace("{node}", node).replace("{index}", str(index))
        for index, node in enumerate(nodes, start=1)
    ]


def some(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_SHOWN])
    return shown + (f" and {len(items) - MAX_SHOWN} more" if len(items) > MAX_SHOWN else "")


def check_members(
    path: str, info: DriverInfo, pairs: list[tuple[str, str]], problems: list[FieldProblem]
) -> None:
    """Check each member's node and address as the type's fields take them (the rest of the
    configuration was validated once); add problems naming the members."""
    from stonith.contract.validation import ValueProblem, check_special, check_value, parse_value

    address_field = info.field(ADDRESS_FIELD)
    node_field = info.field(NODE_FIELD)
    assert address_field is not None and node_field is not None  # fleet_type_problem said so
    bad_nodes: list[str] = []
    bad_addresses: list[str] = []
    for node, address in pairs:
        if node_field.specialtype and (why := check_special(node_field.specialtype, node)) is not None:
            bad_nodes.append(f"{node!r} {why}")
        try:
            messages = check_value(address_field, parse_value(address_field, address))
        except ValueProblem as exc:
            messages = [str(exc)]
        if messages:
            bad_addresses.append(f"{address!r} (node {node}) {messages[0]}")
    if bad_nodes:
        problems.append(_problem(path, "fleet.nodes", "node " + some(bad_nodes)))
    if bad_addresses:
        problems.append(_problem(path, f"fleet.{ADDRESS_FIELD}", "address " + some(bad_addresses)))


def nodes_of_file(data: Any, keep_case: bool = False) -> list[str] | None:
    """The nodes a parsed device file's ``[fleet]`` names (lowercase unless ``keep_case``); [] when
    it is no fleet; None when it is one whose node set cannot be read (it could name any node)."""
    table = data.get("fleet") if isinstance(data, dict) else None
    if table is None:
        return []
    text = table.get("nodes") if isinstance(table, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return [n if keep_case else n.lower() for n in _node_set(text)]
    except UsageError:
        return None

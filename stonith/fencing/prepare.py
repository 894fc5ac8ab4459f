"""What an operation needs from devices.d: its devices, their secrets, and the broken files it must
not fence around.

**Secrets on demand.**  A ``{ command = [...] }`` secret is run only for a device the operation
needs (the devices that map the requested nodes; every device for a status of all nodes), all of
them at once, each bounded by what is left of the operation's time: four unrelated 3-second secret
commands used to run one after another before the deadline even started.  A secret that cannot be
fetched breaks its own device only.

**A broken file costs only the nodes that may depend on it.**  One unreadable or invalid device
file used to stop every fence of the cluster.  Now every broken file is reported, and a node fails
(exit 1, naming the file) when the file could take part in its fence:

- a node the file names anywhere: a ``[hosts]`` key, or any word of any value (a BMC's
  ``hostname``, a host list) when the file is TOML; any whole-word mention when it is not; a node
  of a fleet's node set (stonith.fencing.fleet; of any bracketed node set when the file is not
  TOML), and every node when the file is TOML with a ``[fleet]`` whose node set cannot be read;
- every node, when nothing of the file can be read (a dangling symbolic link, no permission): it
  could map any node, as a second feed of a dual-supply node or as another level, and fencing
  through the other devices alone could report a node off while that feed still powers it;
- every node that no loaded file's ``[hosts]`` (or BMC host name) claims: such a node would be
  placed by an outlet name a device reports, and the broken file might have mapped it elsewhere
  (a ``[hosts]`` entry wins over a reported name), so its fence could switch the wrong outlet.

Any other node is fenced as usual.  ``stonith check`` still fails (exit 1) for every broken file.
"""

from __future__ import annotations

import threading
import time

from stonith.contract.errors import ExitCode, FieldProblem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.fencing.inventory import DeviceEntry, Inventory

MAX_SCAN_BYTES = 1024 * 1024  # more than any device file; a larger one is read this far for names
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class Broken:
    """A device file that did not load, and which nodes it may take part in fencing."""

    def __init__(
        self, path: str, problems: list[FieldProblem], names: frozenset[str] | None, hosts: list[str]
    ) -> None:
        self.path = path
        self.problems = problems
        # Every word the file holds, lowercased; None: nothing of it could be read.
        self.names = names
        self.hosts = hosts  # its [hosts] keys, when they could be read

    def may_map(self, node: str) -> bool:
        return self.names is None or node.lower() in self.names

    def reason(self) -> str:
        return "; ".join(p.message for p in self.problems) or "cannot be loaded"


def names_in_file(path: str) -> frozenset[str] | None:
    """Every word of the file that could name a node, or None when it cannot be read at all.

    Read without the trust checks of loading (a symbolic link is followed, any owner): the file
    is not used, only searched, and finding more names only fails more nodes.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SCAN_BYTES)
    except OSError:
        return None
    text = data.decode("utf-8", "replace")
    words = _words(text.lower())
    # A fleet file (stonith.fencing.fleet) names its nodes as a node set: its nodes, or None when
    # that set cannot be read (it could name any node); from the text's node sets when it is not TOML.
    import tomllib

    from stonith.fencing.fleet import nodes_of_file

    try:
        nodes = nodes_of_file(tomllib.loads(text))
    except (ValueError, RecursionError):
        nodes = _node_sets(text)
    if nodes is None:
        return None
    return frozenset(words.union(nodes))


def _node_sets(text: str) -> list[str]:
    """The names of every bracketed node set of a text (``cn[0001-0500]``) that expands."""
    import re

    from stonith.contract.errors import UsageError
    from stonith.fencing.nodeset import expand

    names: list[str] = []
    for found in re.finditer(r"[A-Za-z0-9._-]*(?:\[[0-9,/ -]+\][A-Za-z0-9._-]*)+", text):
        try:
            names.extend(expand(found.group(0)))
        except UsageError:
            continue
    return names


def _words(text: str) -> set[str]:
    """Runs of host-name characters: a TOML key, a quoted or bare value, a word of a comment."""
    words: set[str] = set()
    current: list[str] = []
    for ch in text + " ":
        if ch in _NAME_CHARS:
            current.append(ch)
        elif current:
            words.add("".join(current))
            current = []
    return words


class Prepared:
    """The loaded devices an operation may use, and the broken files with the nodes they block."""

    def __init__(self, inventory: Inventory, broken: list[Broken], spent: float) -> None:
        self.inventory = inventory
        self.broken = broken
        self.spent = spent  # seconds the secret commands took, out of the operation's time
        self._claimed = _claimed_nodes(inventory.devices)

    def blocking(self, node: str) -> list[Broken]:
        """The broken files that may take part in ``node``'s fence (empty: fence it)."""
        if not self.broken:
            return []
        if node.lower() not in self._claimed:
            return list(self.broken)
        return [b for b in self.broken if b.may_map(node)]

    def known_names(self) -> list[str]:
        """Nodes the broken files' maps name, when they could be read as TOML (for ``status``)."""
        nodes: dict[str, None] = {}
        for broken in self.broken:
            for node in broken.hosts:
                nodes.setdefault(node, None)
        return list(nodes)

    def refused(self, node: str, verb: str) -> Any:
        """The failed result of a node a broken file blocks: nothing was switched or read."""
        from stonith.fencing.engine import NodeResult

        blocking = self.blocking(node)
        files = ", ".join(f"{b.path} ({b.reason()})" for b in blocking)
        return NodeResult(
            node,
            verb,
            message=f"not {_doing(verb)}: its fence may depend on a broken device file: {files}",
            exit_code=ExitCode.S_BADCONFIG,
        )


def _doing(verb: str) -> str:
    return {"status": "read", "on": "switched on", "off": "switched off"}.get(verb, "reset")


def _claimed_nodes(devices: list[DeviceEntry]) -> set[str]:
    """Nodes the configuration places ([hosts], or a BMC's own host name), as the engine's Plan."""
    claimed: set[str] = set()
    for device in devices:
        if device.hosts is not None:
            claimed.update(n.lower() for n in device.hosts)
        else:
            claimed.update(o.name.lower() for o in device.driver.static_outlets() or [])
    return claimed


def prepare(directory: str, nodes: list[str] | None, seconds: float | None) -> Prepared:
    """Load ``directory`` for an operation on ``nodes`` (None: every node).

    InventoryError only when the directory itself is unusable.  ``seconds``: the operation's
    --timeout; None gives each device's secrets that device's own timeout.
    """
    from stonith.fencing.inventory import Inventory, InventoryError, scan_files

    devices, broken_files, problems = scan_files(directory, run_secret_commands=False)
    if problems:
        raise InventoryError(problems)
    broken = [
        Broken(path, found, names_in_file(path), _hosts_of(path)) for path, found in broken_files.items()
    ]
    needed = _needed(devices, nodes)
    started = time.monotonic()
    failed = resolve_secrets([d for d in devices if d.name in needed and d.secret_commands], seconds)
    spent = time.monotonic() - started
    usable: list[DeviceEntry] = []
    unfetched: dict[str, list[DeviceEntry]] = {}  # file -> its devices whose secrets failed
    for device in devices:
        if device.name in failed:
            unfetched.setdefault(device.path, []).append(device)
        elif not device.secret_commands:
            usable.append(device)
    for path, group in unfetched.items():  # a fleet's members: one broken file, not one per member
        hosts = sorted(_claimed_nodes(group))
        names = names_in_file(path) or frozenset()
        broken.append(Broken(path, failed[group[0].name], names | frozenset(hosts), hosts))
    if seconds is None:
        for device in usable:
            device.timeout = max(0.1, device.timeout - spent)
    return Prepared(Inventory(usable, directory), broken, spent)


def _hosts_of(path: str) -> list[str]:
    """The [hosts] keys of a broken file that is valid TOML (listed by a status of every node)."""
    import tomllib

    from stonith.fencing.fleet import nodes_of_file

    try:
        with open(path, "rb") as handle:
            data = tomllib.loads(handle.read(MAX_SCAN_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    hosts = data.get("hosts")
    return [str(n).lower() for n in hosts] if isinstance(hosts, dict) else nodes_of_file(data) or []


def _needed(devices: list[DeviceEntry], nodes: list[str] | None) -> set[str]:
    """Devices an operation on ``nodes`` may use: those mapping them, and for a node no map names,
    every device that names nodes by its outlets (the engine lists them to find it)."""
    if nodes is None:
        return {d.name for d in devices}
    from stonith.fencing.engine import names_from_device

    wanted = {n.lower() for n in nodes}
    needed: set[str] = set()
    claimed: set[str] = set()
    for device in devices:
        mapped = {n.lower() for n in device.hosts or {}}
        if device.hosts is None:
            mapped = {o.name.lower() for o in device.driver.static_outlets() or []}
        claimed |= mapped
        if mapped & wanted:
            needed.add(device.name)
    if wanted - claimed:
        needed.update(d.name for d in devices if names_from_device(d))
    return needed


def resolve_secrets(devices: list[DeviceEntry], seconds: float | None) -> dict[str, list[FieldProblem]]:
    """Run the pending secret commands of ``devices``, all at once, each within ``seconds`` (or its
    device's timeout); give each device a driver built with its secrets.  Device name -> problems
    of the devices whose secrets could not be fetched."""
    from stonith.fencing.inventory import resolve_device_secrets, share_secrets

    failed: dict[str, list[FieldProblem]] = {}
    lock = threading.Lock()
    # A fleet's members share their file's secrets: its commands run once, for the first member.
    groups: dict[str, list[DeviceEntry]] = {}
    for device in devices:
        groups.setdefault(device.path, []).append(device)

    def one(group: list[DeviceEntry]) -> None:
        first = group[0]
        problems = resolve_device_secrets(first, first.timeout if seconds is None else seconds)
        if problems:
            with lock:
                failed.update((d.name, problems) for d in group)
        else:
            share_secrets(first, group[1:])

    threads = [threading.Thread(target=one, args=(g,), daemon=True) for g in groups.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failed

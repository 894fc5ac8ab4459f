"""The fencing engine: the one verified high layer under every front end.

``stonith status|on|off|reset`` (stonith.cli.cluster_cli), the cluster-glue syntax ``-l -S -T``
(stonith.cli.glue_cli), every fence-agent action (stonith.cli.fence_agent) and ``stonith check`` call this
module; none of them opens a device session, switches or reads back on its own.

**Sessions** (``session``): a cross-process device slot (stonith.fencing.locks), connect, the body, logout.
Transient failures (refused or dropped connections, busy, garbled answers) are retried with back-off
inside the deadline; a refused login is not.

**Switching** (``Fencer.run``), for each topology level in order, for the nodes not yet done: every
device of the level holding an outlet of those nodes runs one task in one session:

1. it re-reads the device's outlets and resolves each node's outlets (a name that moved since the
   plan is an error), switches them off (one multi-outlet command where the driver has one) and
   reads them back until each reads OFF.  Every outlet gets its own verdict: an outlet still on at
   the deadline ("pdu2 outlet 5: still on after 30.0 s") fails only the nodes that use it;
2. a node is fenced when every one of its outlets on every device of the level read back OFF; a node
   with any outlet not read back OFF (device failed, stuck relay, lying status, unknown) is not
   fenced at this level: its outlets that did go off stay off and the next level is tried;
3. ``reset``: once a node is fenced, after its settle time (counted from its last OFF read), its
   outlets are switched on, in the same sessions, and read back ON.  A failed on is ``on-failed``:
   fenced, but not back.

**Crash dump** (a BMC with ``crash_dump = S``): before the off, the outlets of the node that read ON
get an NMI, and the node's off waits S seconds for its kdump (cut short so that half of the device's
timeout is left for the fence); a refused NMI is noted and the fence goes on without it.

Nodes advance one by one: a stuck outlet keeps being polled until the deadline while every other
node of its device goes through off, settle and on in its normal time.  A dual-PSU node links its
devices; devices no node links run independently.  Blocking drivers (telnet, SNMP, serial, HTTPS)
get a thread per device; every ``NONBLOCKING`` device (IPMI BMCs) runs on one thread
(stonith.contract.steps).

**Which outlets feed a node** is decided by the configuration.  A ``[hosts]`` map is authoritative for
every node it names: such a node is fenced through its maps only, and no device is asked to find it.
Outlet names a device reports (devices without ``[hosts]``, or with ``device_names = true``) only
fill nodes no ``[hosts]`` map names anywhere, match ASCII-only, case-insensitively, under the
host-name rule, and give a node one device only: a name reported by two devices, or reported by one
and mapped by another, is a conflict (``stonith check`` reports it, a fence of that node refuses).
Anyone who can rename an outlet can move such a node: see ``conflicts``.

**Status**: every device asked reads its outlets in one session with its own deadline; ON if any
outlet reads ON, OFF only if every outlet reads OFF, otherwise UNKNOWN.  A device that cannot be
asked makes its nodes unknown, naming it; it never delays or hides another device's nodes.

Every wait is bounded by the operation's deadline.  UNKNOWN is never OFF.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
import time
from enum import StrEnum

from stonith.contract import redact, steps
from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN, Outlet
from stonith.contract.errors import (
    AuthFailed,
    BadConfig,
    DeviceBusy,
    DeviceError,
    ExitCode,
    NoAnswer,
    StateMismatch,
    StonithError,
    Timeout,
    UnknownOutlet,
    Unreachable,
)
from stonith.contract.steps import fan_out
from stonith.fencing import locks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import TypeVar

    from stonith.contract.driver import Driver
    from stonith.contract.steps import Steps
    from stonith.fencing.audit import Audit, Entry
    from stonith.fencing.inventory import DeviceEntry, Inventory

    _T = TypeVar("_T")
    Held = dict[str, tuple[contextlib.ExitStack, Driver]]  # device name -> kept session, its driver
    Reader = Callable[[DeviceEntry, Deadline], list[tuple[Outlet, str]]]
    PhaseReport = Callable[[str, str, int, bool, list["DeviceResult"]], None]

# A refused or dropped session, a busy device, a garbled answer: another session may well work.  Not
# a timeout: the transport has already waited and retried (SNMP, IPMI and telnet each have their own
# retries within the deadline); another attempt at a silent device would only repeat the wait
# (``stonith -S`` of a dead SNMP agent took 2.4x fence_apc_snmp's time with it).
RETRYABLE = (Unreachable, DeviceBusy, DeviceError)
RETRY_BACKOFF = (0.2, 0.5, 1.0, 2.0)
# The read-back schedule after a switch (issue 25 item 6): a relay is seen at most LATE_SHARE of the
# time it took late (a 0.5 s relay: 25 ms; doubling up to 0.25 s saw it up to 0.25 s late, twice
# per reset: 1.16-1.21x the minimum), never more often than every POLL_FLOOR, never less often than
# every POLL_MAX (a stuck relay), and a device spends at most one part in READ_SHARE + 1 of its time
# answering read-backs: a read's wall time grows with a slow console or a loaded engine and spaces
# the next one out.  A paced driver (IPMI's min_interval) holds each read itself.
POLL_FIRST = 0.05  # the first read-back after a switch
POLL_FLOOR = 0.02
POLL_MAX = 0.25  # a read-back sees a relay move at most this late (was 1 s: 1.25-1.39x the minimum)
LATE_SHARE = 0.05
READ_SHARE = 8
IDLE = 0.1  # how often a device with nothing to read looks for work another device made due: a
# node advanced by another device is due after its settle anyway (20 ms cost 2 ms CPU a PDU a second of
# settle: bench.powerman)
IDLE_ALONE = 0.5  # the same for a device alone in its group (no other device can make its work due:
# it wakes at its own due times): only how soon it sees an interrupt while it waits out a settle
# Descriptors: every device session holds its connection (a socket; an ssh child's pipes) and its
# lock file.  Sessions beyond what the open-file limit leaves wait their turn (never EMFILE halfway
# through a fence), and the user is told how to raise the limit.
FDS_PER_SESSION = 3
FDS_RESERVED = 64  # stdio, the audit log or journal, the lock directory, modules still to import


def session_budget() -> tuple[int | None, int]:
    """How many device sessions may be open at once (None: no limit), and the soft open-file limit."""
    import os
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None, soft
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        used = 16
    return max(1, (soft - used - FDS_RESERVED) // FDS_PER_SESSION), soft


class Verb(StrEnum):
    """What a front end asks for a node."""

    ON = "on"
    OFF = "off"
    RESET = "reset"  # off, read back off, settle, on, read back on
    STATUS = "status"


FENCING = (Verb.OFF, Verb.RESET)  # a tuple: `in` compares by equality, so a plain "off" matches too


class Phase(StrEnum):
    """Where a node is in its operation; a device result says which phase it belongs to."""

    OFF = "off"
    ON = "on"  # reset, after the settle; the only phase of an on
    STATUS = "status"
    DONE = "done"


class Verdict(StrEnum):
    """A node's result."""

    OK = "ok"
    FAILED = "failed"
    ON_FAILED = "on-failed"  # fenced (all outlets read back off) but power-on was not read back
    UNKNOWN_NODE = "unknown-node"


OK, FAILED, ON_FAILED, UNKNOWN_NODE = Verdict.OK, Verdict.FAILED, Verdict.ON_FAILED, Verdict.UNKNOWN_NODE


# -- results --------------------------------------------------------------------------------------
#
# Records with __slots__ and a written __init__ rather than dataclasses: importing dataclasses
# imports inspect, ast and dis (5 ms of every command's start-up, issue 25).


def _fields_repr(record: object) -> str:
    fields = ", ".join(f"{name}={getattr(record, name)!r}" for name in record.__slots__)  # type: ignore[attr-defined]
    return f"{type(record).__name__}({fields})"


class OutletState:
    __slots__ = ("id", "name", "state")

    __repr__ = _fields_repr

    def __init__(
        self,
        id: str,
        name: str,
        state: str,
    ) -> None:
        self.id = id
        self.name = name
        self.state = state

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "state": str(self.state)}


class DeviceResult:
    """What one device did for one node in one phase."""

    __slots__ = (
        "device",
        "error",
        "exit_code",
        "finished",
        "level",
        "outlets",
        "phase",
        "read_at",
        "started",
    )

    __repr__ = _fields_repr

    def __init__(
        self,
        device: str,
        phase: str,
        level: int,
        outlets: list[OutletState],
        error: str | None = None,
        exit_code: int = 0,
        read_at: float = 0.0,
        started: float = 0.0,
        finished: float = 0.0,
    ) -> None:
        self.device = device
        self.phase = phase
        self.level = level
        self.outlets = outlets
        self.error = error
        self.exit_code = exit_code
        self.read_at = read_at  # time.monotonic() when the outlets were read as they are
        # Wall clock (time.time()) of the phase's start on this device and of its verdict: what a
        # history timeline places next to other devices and other operations.
        self.started = started
        self.finished = finished

    def reached(self, state: str) -> bool:
        return self.error is None and bool(self.outlets) and all(o.state == state for o in self.outlets)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "device": self.device,
            "phase": str(self.phase),
            "level": self.level,
            "outlets": [o.as_dict() for o in self.outlets],
        }
        if self.finished:
            out["started"] = round(self.started, 3)
            out["finished"] = round(self.finished, 3)
        if self.error:
            out["error"] = self.error
            out["exit_code"] = self.exit_code
        return out


class NodeResult:
    __slots__ = (
        "audit_error",
        "devices",
        "duration",
        "exit_code",
        "level",
        "message",
        "node",
        "notes",
        "result",
        "state",
        "verb",
    )

    __repr__ = _fields_repr

    def __init__(
        self,
        node: str,
        verb: str,
        result: str = FAILED,
        state: str = UNKNOWN,
        level: int | None = None,
        devices: list[DeviceResult] | None = None,
        message: str = "",
        exit_code: int = ExitCode.S_OOPS,
        duration: float = 0.0,
        audit_error: str | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.node = node
        self.verb = verb
        self.result = result
        self.state = state
        self.level = level
        self.devices = [] if devices is None else devices
        self.message = message
        self.exit_code = exit_code
        self.duration = duration
        self.audit_error = audit_error  # the audit record of this node could not be written
        self.notes = [] if notes is None else notes  # what was done besides switching (an NMI)

    @property
    def ok(self) -> bool:
        return self.result == OK

    @property
    def fenced(self) -> bool:
        """True when every outlet of the node was read back off (even if the on phase then failed)."""
        return self.result in (OK, ON_FAILED) and self.verb in FENCING

    def as_dict(self) -> dict[str, object]:
        return {
            "node": self.node,
            "verb": str(self.verb),
            "result": str(self.result),
            "state": str(self.state),
            "level": self.level,
            "message": self.message,
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
            "devices": [d.as_dict() for d in self.devices],
            **({"audit_error": self.audit_error} if self.audit_error else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def worst_exit_code(results: Sequence[NodeResult]) -> int:
    return max((r.exit_code for r in results), default=0)


# -- names ----------------------------------------------------------------------------------------


def fold(name: str, any_name: bool = False) -> str | None:
    """The key a device-reported outlet name matches a node by; None if it may match no node.

    ASCII only, case-insensitive, and the host-name rule: Unicode case folding would let ``ǅb1`` or
    ``db１`` match db1.  ``any_name``: any printable ASCII name (the one-device front ends, where
    cluster-glue's users name outlets "web server"; they name the device too).
    """
    from stonith.contract.fields import HOSTNAME
    from stonith.contract.validation import check_special, has_control_chars

    if not name.isascii() or has_control_chars(name):
        return None
    if not any_name and check_special(HOSTNAME, name) is not None:
        return None
    return name.lower()


# -- sessions -------------------------------------------------------------------------------------


def session(
    device: DeviceEntry,
    deadline: Deadline,
    body: Callable[[Driver, Deadline], Steps[_T]],
    *,
    held: Held | None = None,
    keep: bool = False,
    retry: bool = True,
) -> Steps[_T]:
    """Run ``body`` in a session of ``device``: the device's slot, connect, body, logout.

    ``held``: sessions kept open by an earlier step of this operation (device name -> its
    ExitStack and driver); one found there is used first.  ``keep``: leave this session there afterwards.
    Transient failures are retried with back-off within the deadline (unless ``retry`` is off:
    the body cannot be run twice); a refused login never is.
    """
    kept = held.pop(device.name, None) if held is not None else None
    if kept is not None:
        stack, driver = kept
        try:
            result = yield from body(driver, deadline)
        except RETRYABLE:
            stack.close()  # the kept session died (idle timeout, device restarted): a new one
        except BaseException:
            stack.close()
            raise
        else:
            _park(device, stack, driver, held, keep)
            return result
    attempt = 0
    while True:
        # A driver object of its own: a driver holds one connection, and the service runs operations
        # on a device that accepts several sessions side by side (two BMC sessions on one object
        # replaced each other's session, found by bench.service).  Copied, not rebuilt: instance
        # attributes a test or the lab set (a USB backend) come along.
        driver = copy.copy(device.driver)
        stack = contextlib.ExitStack()
        try:
            release = yield from locks.slot_steps(device.lock_key(), device.max_sessions, deadline)
            stack.callback(release)
            driver.session_deadline = deadline
            yield from driver.connect_steps(deadline)
            logout = _Logout(driver)
            stack.callback(logout)
            result = yield from body(driver, deadline)
        except (AuthFailed, NoAnswer):
            stack.close()
            raise
        except RETRYABLE:
            stack.close()
            if not retry or attempt >= len(RETRY_BACKOFF) or deadline.remaining() <= RETRY_BACKOFF[attempt]:
                raise
            yield from steps.sleep(deadline, RETRY_BACKOFF[attempt])
            attempt += 1
        except BaseException:
            stack.close()
            raise
        else:
            if not (keep and held is not None):
                # The logout as steps (a console's polite logout waits for its answer): a slow one
                # then holds no other session of the Loop.
                logout.done = True
                with contextlib.suppress(Exception):
                    yield from driver.disconnect_steps()
            _park(device, stack, driver, held, keep)
            return result


class _Logout:
    """A session's ``disconnect``, called once: by the stack when the session ends otherwise."""

    __slots__ = ("done", "driver")

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self.driver.disconnect()


def _park(
    device: DeviceEntry, stack: contextlib.ExitStack, driver: Driver, held: Held | None, keep: bool
) -> None:
    if keep and held is not None:
        held[device.name] = (stack, driver)
    else:
        stack.close()


def call(device: DeviceEntry, deadline: Deadline, body: Callable[[Driver, Deadline], _T]) -> _T:
    """A blocking ``body`` (list, probe, read) in a session of ``device``, with lock and retries."""

    def steps_body(driver: Driver, dl: Deadline) -> Steps[_T]:
        yield from ()
        return body(driver, dl)

    return steps.run(session(device, deadline, steps_body))


def read_all(device: DeviceEntry, deadline: Deadline) -> list[tuple[Outlet, str]]:
    """Every outlet of ``device`` with its state, in one session."""
    return steps.run(session(device, deadline, _read_all))


def _read_all(driver: Driver, deadline: Deadline) -> Steps[list[tuple[Outlet, str]]]:
    outlets = yield from driver.outlets_steps(deadline)
    seen = yield from driver.status_many_steps(outlets, deadline)
    return [(o, seen.get(o.id, UNKNOWN)) for o in outlets]


def one_device(
    driver: Driver, *, hosts: dict[str, list[str]] | None = None, settle: float = 1.0, timeout: float = 60.0
) -> Inventory:
    """An inventory of one device, for front ends that are given one device (cluster-glue, agents)."""
    from stonith.fencing.inventory import DeviceEntry, Inventory

    sessions = driver.INFO.capabilities.sessions or 64
    name = driver.INFO.name
    entry = DeviceEntry(name, name, "", driver, hosts, 1, settle, timeout, sessions, None)
    return Inventory([entry], "")


def verifiable(driver: Driver) -> bool:
    """The device can switch each outlet off and on and read it back: the engine can verify it."""
    caps = driver.INFO.capabilities
    return caps.status and caps.power_off and caps.power_on


def unverified(device: DeviceEntry, node: str, verb: str, deadline: Deadline) -> list[Outlet]:
    """Switch ``node`` on the device's word alone: for the cluster-glue syntax and devices that cannot
    be verified (no read-back, or only a native cycle).  The caller says NOT verified; the cluster
    layer and the fence agents refuse such devices instead.  Run once, never retried: a native cycle
    given twice is two power cycles."""

    def body(driver: Driver, dl: Deadline) -> Steps[list[Outlet]]:
        yield from ()
        caps = driver.INFO.capabilities
        outlets = driver.static_outlets() or driver.outlets(dl)
        found = [o for o in outlets if o.name.lower() == node.lower()]
        if not found and caps.any_host:
            found = [Outlet(node)]
        if not found:
            raise UnknownOutlet(f"host '{node}' is not controlled by this {driver.INFO.name} device")
        if verb == Verb.RESET and caps.cycle and len(found) == 1:
            driver.cycle(found[0], dl)
        elif (verb in FENCING and not caps.power_off) or (verb == Verb.ON and not caps.power_on):
            from stonith.contract.errors import Unsupported

            raise Unsupported(f"{driver.INFO.name} cannot power {'on' if verb == Verb.ON else 'off'}")
        else:
            if verb in FENCING:
                driver.off_many(found, dl)
            if verb == Verb.RESET:
                dl.sleep(device.settle)
            if verb in (Verb.ON, Verb.RESET):
                driver.on_many(found, dl)
        return found

    return steps.run(session(device, deadline, body, retry=False))


# -- planning -------------------------------------------------------------------------------------


class Target:
    """The outlets of one node on one device: configured refs, or named by the device (ids seen)."""

    __slots__ = ("device", "ids", "node", "refs")

    __repr__ = _fields_repr

    def __init__(
        self,
        device: DeviceEntry,
        node: str,
        refs: list[str] | None,
        ids: list[str] | None = None,
    ) -> None:
        self.device = device
        self.node = node
        self.refs = refs  # None: the outlets the device names like the node
        self.ids = ids  # for refs None: the outlet ids that carried the name in the plan


def names_from_device(device: DeviceEntry) -> bool:
    """Whether the outlet names ``device`` reports place nodes (no [hosts], or device_names = true)."""
    if device.hosts is None:
        return device.driver.static_outlets() is None
    return device.device_names


class Plan:
    """Where every node's outlets are: configuration first (``[hosts]``, a BMC's own host name),
    then the names devices report."""

    def __init__(self, inventory: Inventory, any_name: bool = False) -> None:
        self.inventory = inventory
        self.any_name = any_name
        self.claims: dict[str, list[tuple[int, DeviceEntry, list[str]]]] = {}
        for position, device in enumerate(inventory.devices):
            hosts = device.hosts
            if hosts is None:
                static = device.driver.static_outlets()  # named by its configuration
                hosts = {o.name.lower(): [o.id] for o in static or []}
            for node, refs in hosts.items():
                self.claims.setdefault(node.lower(), []).append((position, device, refs))
        self.named = [d for d in inventory.devices if names_from_device(d)]
        self.listed: dict[str, list[Outlet]] = {}  # device name -> its outlets
        self.unlisted: dict[str, StonithError] = {}  # device name -> why it could not be listed
        self._by_name: dict[str, list[tuple[DeviceEntry, Outlet]]] | None = None

    def claimed(self, node: str) -> bool:
        return node.lower() in self.claims

    def list_devices(
        self,
        deadline_for: Callable[[DeviceEntry], Deadline],
        parallel: Callable[[Callable[[DeviceEntry], None], Sequence[DeviceEntry]], None],
        held: Held | None = None,
    ) -> None:
        """Ask every device that names its own outlets for them, in parallel, each with its deadline.

        A device whose configuration names its outlets (a BMC) is not contacted.  ``held``: keep each
        session for the operation that follows.
        """
        todo = [d for d in self.named if d.name not in self.listed and d.name not in self.unlisted]

        def list_one(device: DeviceEntry) -> None:
            try:
                outlets = steps.run(
                    session(
                        device,
                        deadline_for(device),
                        lambda d, dl: d.outlets_steps(dl),
                        held=held,
                        keep=held is not None,
                    )
                )
            except StonithError as exc:
                self.failed(device, exc)
            except Exception as exc:  # a driver bug fails that device, not the plan
                self.failed(device, DeviceError(_bug(exc)))
            else:
                self.learned(device, outlets)

        parallel(list_one, todo)

    def learned(self, device: DeviceEntry, outlets: list[Outlet]) -> None:
        """``device`` reported these outlets (remembered to name its nodes when it cannot be asked)."""
        self.listed[device.name] = outlets
        self._by_name = None
        _remember(device, [o.name for o in outlets])

    def failed(self, device: DeviceEntry, why: StonithError) -> None:
        self.unlisted[device.name] = why
        self._by_name = None

    def last_known(self) -> dict[str, list[str]]:
        """Node names devices that could not be asked reported the last time they could (for reports)."""
        out: dict[str, list[str]] = {}
        for device in self.named:
            if device.name in self.unlisted:
                for name in _recall(device):
                    key = fold(name)
                    if key is not None and key not in self.claims:
                        out.setdefault(key, []).append(device.name)
        return out

    def by_name(self) -> dict[str, list[tuple[DeviceEntry, Outlet]]]:
        """Folded outlet name -> (device, outlet) for every listed device that names its outlets."""
        if self._by_name is None:
            index: dict[str, list[tuple[DeviceEntry, Outlet]]] = {}
            for device in self.named:
                for outlet in self.listed.get(device.name, []):
                    key = fold(outlet.name, self.any_name)
                    if key is not None:
                        index.setdefault(key, []).append((device, outlet))
            self._by_name = index
        return self._by_name

    def targets(self, node: str) -> list[Target]:
        """The node's targets in inventory order.  Raise BadConfig for a conflict (see ``conflicts``)."""
        key = node.lower()
        claims = self.claims.get(key)
        if claims is not None:
            return [Target(device, key, refs) for _, device, refs in sorted(claims, key=lambda c: c[0])]
        found = self.by_name().get(key, [])
        devices = list(dict.fromkeys(d.name for d, _ in found))
        if len(devices) > 1:
            raise BadConfig(
                f"{node} is named by outlets of several devices ({', '.join(devices)}): "
                "map it in [hosts] to say which feed it"
            )
        if not found:
            return []
        device = found[0][0]
        return [Target(device, key, None, [o.id for _, o in found])]

    def nodes(self) -> list[str]:
        """Every node the configuration maps and every listed device names, in natural order."""
        from stonith.fencing.nodeset import natural_key

        nodes = dict.fromkeys(self.claims)
        nodes.update(dict.fromkeys(self.by_name()))
        return sorted(nodes, key=natural_key)

    def conflicts(self) -> list[str]:
        """Device-reported names that collide with a map or with another device (as ``check`` says)."""
        problems = []
        for key, found in sorted(self.by_name().items()):
            devices = list(dict.fromkeys(d.name for d, _ in found))
            claims = self.claims.get(key)
            if claims is not None:
                own = {d.name for _, d, _ in claims}
                others = [d for d in devices if d not in own]
                if others:
                    problems.append(
                        f"{', '.join(others)} reports an outlet named {key}, which [hosts] of "
                        f"{', '.join(sorted(own))} maps: the reported name is ignored; if that outlet "
                        f"feeds {key}, map it in [hosts] of its device too"
                    )
            elif len(devices) > 1:
                problems.append(
                    f"{key} is named by outlets of {', '.join(devices)}: a fence of {key} refuses "
                    "until [hosts] says which devices feed it"
                )
        return problems


def _names_file(device: DeviceEntry) -> str:
    import os

    return os.path.join(locks.lock_dir(), locks.safe_name(device.lock_key()) + ".names")


def _remember(device: DeviceEntry, names: list[str]) -> None:
    """Keep the names a device reported, in the lock directory (checked by locks.lock_dir).

    Written through a fresh mkstemp file renamed into place, read with O_NOFOLLOW: a link planted
    under the name is never followed, nor another user's file believed.
    """
    import json
    import os
    import tempfile

    text = json.dumps(names)
    with contextlib.suppress(OSError, StonithError):
        path = _names_file(device)
        if _read_names_file(path) == text:
            return
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".names-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _read_names_file(path: str) -> str | None:
    import os

    from stonith.contract.local_trust import UnsafePath, open_file

    try:
        with os.fdopen(open_file(path), encoding="utf-8") as handle:
            return handle.read(1 << 20)
    except (OSError, UnsafePath, ValueError):
        return None


def _recall(device: DeviceEntry) -> list[str]:
    import json

    try:
        text = _read_names_file(_names_file(device))
        names = json.loads(text) if text is not None else []
    except (ValueError, StonithError):
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


# -- switching ------------------------------------------------------------------------------------


class _Job:
    """One outlet of one node on one device: the state it must read back, and what it read."""

    __slots__ = ("error", "exit_code", "last", "outlet", "part", "sent", "sent_at", "want")

    def __init__(
        self,
        outlet: Outlet,
        part: _Part,
        want: str | None = None,
        sent: bool = False,
        sent_at: float = 0.0,
        last: str = UNKNOWN,
        error: str | None = None,
        exit_code: int = 0,
    ) -> None:
        self.outlet = outlet
        self.part = part
        self.want = want  # the state to reach; None: nothing pending on this outlet
        self.sent = sent  # the command for ``want`` was given
        self.sent_at = sent_at
        self.last = last  # the state read last
        self.error = error
        self.exit_code = exit_code


class _Part:
    """One node on one device at one level: its target and, once resolved in the session, its jobs."""

    __slots__ = ("error", "exit_code", "gone", "jobs", "nmi_done", "node", "read_at", "target")

    def __init__(
        self,
        node: _Node,
        target: Target,
        jobs: list[_Job] | None = None,
        error: str | None = None,
        exit_code: int = 0,
        gone: tuple[str, int] | None = None,
        read_at: float = 0.0,
        nmi_done: bool = False,
    ) -> None:
        self.node = node
        self.target = target
        self.jobs = jobs  # None until the device's session resolved them
        self.error = error  # the device failed this node before its outlets were resolved
        self.exit_code = exit_code
        self.gone = gone  # the device's session is over (why, exit code)
        self.read_at = read_at  # when this part's outlets last all read the wanted state
        self.nmi_done = nmi_done  # the crash-dump NMI was sent (or refused): never twice


class _Node:
    __slots__ = ("due", "name", "parts", "phase", "phase_started", "result")

    def __init__(
        self,
        name: str,
        result: NodeResult,
        parts: list[_Part] | None = None,
        phase: Phase = Phase.OFF,
        phase_started: float | None = None,
        due: float = 0.0,
    ) -> None:
        self.name = name
        self.result = result
        self.parts = [] if parts is None else parts
        self.phase = phase  # then ON (reset), then DONE
        self.phase_started = time.monotonic() if phase_started is None else phase_started
        self.due = due  # the on phase may not start before this (settle)


class _Group:
    """The nodes of a level that share devices, and the rules by which each advances.

    Device tasks call in under ``lock`` whenever they learn something (a read, a failure); a node
    moves to its next phase the moment its last outlet reads back, whichever device read it.
    """

    def __init__(
        self,
        verb: str,
        level: int,
        nodes: list[_Node],
        fencer: Fencer,
        finish: Callable[[list[str]], None],
    ) -> None:
        self.verb = verb
        self.level = level
        self.nodes = nodes
        self.fencer = fencer
        self.finish = finish
        self.lock = threading.Lock()
        # What a locked call decided, done as it ends: the audit records of the phases that ended,
        # in one write, then the reports of those phases and nodes (in the order they happened).
        self._records: list[tuple[_Node, str, list[Entry]]] = []
        self._reports: list[Callable[[], None]] = []
        self.parts_of: dict[str, list[_Part]] = {}
        for node in nodes:
            if verb == Verb.ON:
                node.phase = Phase.ON
            for part in node.parts:
                self.parts_of.setdefault(part.target.device.name, []).append(part)

    # -- called by device tasks
    def resolved(self, part: _Part, outlets: list[Outlet]) -> None:
        with self._locked():
            part.jobs = [_Job(o, part) for o in outlets]
            if part.node.phase != Phase.DONE:
                for job in part.jobs:
                    job.want = OFF if part.node.phase == Phase.OFF else ON
            self._advance(part.node)

    def read(self, jobs: list[_Job], seen: dict[str, str], read_at: float) -> None:
        with self._locked():
            touched: dict[int, _Node] = {}
            for job in jobs:
                if job.want is None:
                    continue
                job.last = seen.get(job.outlet.id, UNKNOWN)
                if job.last == job.want:
                    job.want = None
                    job.part.read_at = max(job.part.read_at, read_at)
                    # Only a node with an outlet that reached its state can have reached its phase
                    # (a read sets no error): the others have nothing to advance.
                    touched[id(job.part.node)] = job.part.node
            for node in touched.values():
                self._advance(node)

    def fail(self, parts: Iterable[_Part], error: str, exit_code: int) -> None:
        """The device failed these parts: what is pending fails, and later phases cannot use it."""
        with self._locked():
            for part in parts:
                part.gone = (error, exit_code)
                if part.node.phase == Phase.DONE:
                    continue
                if part.jobs is None:
                    part.error, part.exit_code = error, exit_code
                for job in part.jobs or []:
                    if job.want is not None:
                        job.error, job.exit_code, job.want = error, exit_code, None
                self._advance(part.node)

    def expire(self, parts: Iterable[_Part]) -> None:
        """The session is over: every outlet still short of its state fails, named with what it read."""
        now = time.monotonic()
        with self._locked():
            for part in parts:
                if part.gone is None:
                    part.gone = ("the deadline passed", ExitCode.S_TIMEOUT)
                if part.node.phase == Phase.DONE:
                    continue
                if part.jobs is None and part.error is None:
                    part.error = "deadline passed before the device answered"
                    part.exit_code = ExitCode.S_TIMEOUT
                for job in part.jobs or []:
                    if job.want is None:
                        continue
                    waited = now - (job.sent_at or part.node.phase_started)
                    job.error = (
                        f"outlet {_label(job.outlet)}: still {job.last} after {waited:.1f} s"
                        if job.sent
                        else f"outlet {_label(job.outlet)}: deadline passed before it was switched {job.want}"
                    )
                    job.exit_code = ExitCode.S_RESETFAIL if job.sent else ExitCode.S_TIMEOUT
                    job.want = None
                self._advance(part.node)

    def interrupt(self, parts: Iterable[_Part]) -> None:
        """SIGINT/SIGTERM: nothing more is switched; what was switched is still read back."""
        with self._locked():
            for part in parts:
                if part.node.phase == Phase.DONE:
                    continue
                if part.jobs is None and part.error is None:
                    part.error, part.exit_code = "interrupted before the device was asked", ExitCode.S_OOPS
                for job in part.jobs or []:
                    if job.want is not None and not job.sent:
                        job.error = (
                            "interrupted before it was switched off"
                            if job.want == OFF
                            else "interrupted after the verified off: left off"
                        )
                        job.exit_code, job.want = ExitCode.S_OOPS, None
                self._advance(part.node)

    def crash_dump(self, parts: Iterable[_Part], until: float, note: str) -> None:
        """An NMI went to these parts' running outlets: their nodes' off waits ``until``."""
        with self.lock:
            for part in parts:
                part.nmi_done = True
                part.node.due = max(part.node.due, until)
                part.node.result.notes.append(note)

    def done_with(self, device: DeviceEntry) -> bool:
        with self.lock:
            return all(p.node.phase == Phase.DONE for p in self.parts_of.get(device.name, []))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The group's lock, for a call that may end phases: their audit records are written in
        one write (a PDU's 24 nodes end their phase on one read) before they are reported.  On the
        Loop that is done when it would wait for its devices (``steps.later``), not between one
        device's answer and the next device's request: 484 writes at 1,200 nodes, each of them
        masking, encoding and opening the audit file, held up the sessions still logging in."""
        with self.lock:
            try:
                yield
            finally:
                records, reports = self._records, self._reports
                self._records, self._reports = [], []
                if records or reports:
                    self.fencer.record_later(records, reports)

    # -- the rules
    def _advance(self, node: _Node) -> None:
        if node.phase == Phase.DONE:
            return
        wanted = OFF if node.phase == Phase.OFF else ON
        failed = any(p.error for p in node.parts) or any(j.error for p in node.parts for j in p.jobs or [])
        reached = not failed and all(
            p.jobs is not None and p.jobs and all(j.want is None and j.last == wanted for j in p.jobs)
            for p in node.parts
        )
        if not failed and not reached:
            return
        result = node.result
        phase_results = self._device_results(node, node.phase)
        result.devices.extend(phase_results)
        entries = self.fencer.audit_entries(node, node.phase, reached)
        if entries:
            self._records.append((node, node.phase, entries))
        phases = self.fencer.phases
        if phases is not None:
            self._reports.append(
                functools.partial(phases, node.name, node.phase, self.level, reached, phase_results)
            )
        if node.phase == Phase.OFF and reached and self.verb == Verb.RESET:
            settle = max(p.target.device.settle for p in node.parts)
            node.due = max(p.read_at for p in node.parts) + settle
            node.phase = Phase.ON
            node.phase_started = time.monotonic()
            for part in node.parts:
                for job in part.jobs or []:
                    job.want, job.sent = ON, False  # ``last`` stays OFF until it reads otherwise
                    if part.gone is not None:  # that device's session is over: no on through it
                        job.error, job.exit_code = part.gone
                        job.want = None
            self._advance(node)
            return
        if reached:
            _success(result, self.level, wanted)
        elif node.phase == Phase.ON and self.verb == Verb.RESET:
            result.result = ON_FAILED
            result.level = self.level
            bad = [d for d in result.devices if d.phase == Phase.ON and not d.reached(ON)]
            # As status judges it, over every feed of the node: one outlet on is power on.
            states = [o.state for d in result.devices if d.phase == Phase.ON for o in d.outlets]
            result.state = (
                ON if ON in states else OFF if states and all(s == OFF for s in states) else UNKNOWN
            )
            result.exit_code = max((d.exit_code or ExitCode.S_RESETFAIL for d in bad), default=5)
            result.message = (
                f"fenced at level {self.level} (every outlet read back off), but power-on was not "
                "read back: " + _describe(bad, ON)
            )
        node.phase = Phase.DONE
        for part in node.parts:  # nothing more is switched or read for this node at this level
            for job in part.jobs or []:
                job.want = None
        if result.result in (OK, ON_FAILED):
            self._reports.append(functools.partial(self.finish, [node.name]))

    def _device_results(self, node: _Node, phase: str) -> list[DeviceResult]:
        out = []
        now, wall = time.monotonic(), time.time()
        for part in node.parts:
            name = part.target.device.name
            jobs = part.jobs or []
            errors = [j for j in jobs if j.error]
            error = part.error or "; ".join(j.error or "" for j in errors) or None
            code = part.exit_code or max((j.exit_code for j in errors), default=0)
            states = [OutletState(j.outlet.id, j.outlet.name, j.last) for j in jobs]
            # Read as wanted: when it was read; else the verdict is now (failure, deadline).
            done = part.read_at if part.read_at >= node.phase_started and not error else now
            result = DeviceResult(name, phase, self.level, states, error, code, part.read_at)
            # The on phase is asked once the settle is over: the gap before it is the settle.
            began = max(node.phase_started, node.due) if phase == Phase.ON else node.phase_started
            result.started = wall - (now - min(began, done))
            result.finished = wall - (now - done)
            out.append(result)
        return out


def _device_task(
    fencer: Fencer, group: _Group, device: DeviceEntry, parts: list[_Part], deadline: Deadline
) -> Steps[None]:
    """One device's share of a level: one session, every node's outlets switched and read back."""
    caps = device.driver.INFO.capabilities
    if not caps.status:
        # Refused before any session: switching first and refusing afterwards (no read-back)
        # would leave a half-done action behind.
        refusal = StateMismatch(
            f"{device.driver.INFO.name} cannot read outlet state back; refusing an unverified {group.verb}"
        )
        group.fail(parts, str(refusal), refusal.exit_code)
        return
    if fencer.interrupted:
        group.interrupt(parts)
        return

    def body(driver: Driver, dl: Deadline) -> Steps[None]:
        outlets = yield from driver.outlets_steps(dl)
        for part in parts:
            if part.jobs is None and part.error is None:
                try:
                    group.resolved(part, _resolve(driver, outlets, part.target, fencer.plan.any_name))
                except StonithError as exc:
                    group.fail([part], f"{device.name}: {exc}", exc.exit_code)
            else:
                for job in part.jobs or []:
                    job.sent = False  # a new session after a failed one: give the command again
        if group.verb in FENCING and driver.crash_dump_wait() > 0:
            yield from _crash_dump(group, device, driver, parts, dl)
        yield from _serve(group, device, driver, parts, dl)

    try:
        yield from session(device, deadline, body, held=fencer.held)
    except StonithError as exc:
        group.fail(parts, str(exc), exc.exit_code)
    except Exception as exc:  # a driver bug must fail its nodes, not the whole run
        group.fail(parts, _bug(exc), ExitCode.S_OOPS)
    group.expire(parts)  # whatever is still pending when the session is over has failed


def _crash_dump(
    group: _Group, device: DeviceEntry, driver: Driver, parts: list[_Part], dl: Deadline
) -> Steps[None]:
    """NMI to the running outlets of the nodes about to be fenced; their off waits for the dump."""
    todo = [p for p in parts if p.jobs and not p.nmi_done and p.node.phase == Phase.OFF]
    outlets = [j.outlet for p in todo for j in p.jobs or []]
    if not outlets:
        return
    wanted = driver.crash_dump_wait()
    try:
        seen = yield from driver.status_many_steps(outlets, dl)
        running = [o for o in outlets if seen.get(o.id) == ON]
        if running:
            yield from driver.nmi_steps(running, dl)
    except StonithError as exc:  # the dump is a courtesy; the fence is not
        group.crash_dump(todo, 0.0, f"{device.name}: no NMI ({exc}); fenced without a crash dump")
        return
    if not running:
        group.crash_dump(todo, 0.0, f"{device.name}: no NMI (the node was not running)")
        return
    # Half the device's timeout stays for the fence itself, whatever the wait was set to.
    wait = max(0.0, min(wanted, dl.remaining() - device.timeout / 2))
    cut = f" (cut from {wanted:g} s by the deadline)" if wait < wanted else ""
    ids = ", ".join(_label(o) for o in running)
    note = f"{device.name}: NMI sent to {ids}; waited {wait:.1f} s for a crash dump before the off{cut}"
    group.crash_dump(todo, time.monotonic() + wait, note)


def _serve(
    group: _Group, device: DeviceEntry, driver: Driver, parts: list[_Part], dl: Deadline
) -> Steps[None]:
    next_read = 0.0
    bad_reads = 0
    paced = driver.INFO.capabilities.paced
    idle = IDLE_ALONE if len(group.parts_of) == 1 else IDLE
    while not group.done_with(device):
        if group.fencer.interrupted:
            group.interrupt(parts)
        now = time.monotonic()
        jobs = [j for p in parts if p.jobs for j in p.jobs if j.want is not None]
        for state in (OFF, ON):
            due = [j for j in jobs if j.want == state and not j.sent and j.part.node.due <= now]
            if due:
                yield from (driver.off_many_steps if state == OFF else driver.on_many_steps)(
                    [j.outlet for j in due], dl
                )
                sent_at = time.monotonic()
                for job in due:
                    job.sent, job.sent_at = True, sent_at
                next_read = sent_at + POLL_FIRST
        pending = [j for j in jobs if j.sent and j.want is not None]
        now = time.monotonic()
        if pending and now >= next_read:
            read_at = now
            try:
                seen = yield from driver.status_many_steps([j.outlet for j in pending], dl)
                bad_reads = 0
            except (Timeout, DeviceError):
                # A garbled or lost read is read again; twice in a row, the session is opened again
                # (it may have died); at the deadline what is pending fails with what it read last.
                bad_reads += 1
                if dl.expired():
                    return
                if bad_reads > 1:
                    raise
                seen = {}
            read_end = time.monotonic()
            group.read(pending, seen, read_end)
            since_switch = read_end - max(j.sent_at for j in pending)
            next_read = read_end + _read_interval(since_switch, read_end - read_at, paced)
            continue
        if dl.expired():
            return
        if pending and group.fencer.waiting is not None:  # say what the pause is for (a stuck relay: long)
            oldest = min(pending, key=lambda j: j.sent_at)
            group.fencer.waiting(device.name, _label(oldest.outlet), oldest.want or "", now - oldest.sent_at)
        waiting = [j.part.node.due for j in jobs if not j.sent]
        wake = next_read if pending else time.monotonic() + idle
        if waiting:
            wake = min(wake, max(min(waiting), now))
        yield from steps.sleep(dl, max(wake - time.monotonic(), 0.001))


def _read_interval(since_switch: float, read_took: float, paced: bool) -> float:
    """Seconds from the end of a read-back to the next one (see POLL_FLOOR)."""
    spacing = max(POLL_FLOOR, LATE_SHARE * since_switch, 0.0 if paced else READ_SHARE * read_took)
    return min(spacing, POLL_MAX)


def _bug(exc: Exception) -> str:
    """A driver bug's exception as a message: device text in it is shown, never acted on."""
    return f"internal error: {type(exc).__name__}: {redact.shown(str(exc))}"


def _label(outlet: Outlet) -> str:
    return outlet.id if outlet.name == outlet.id else f"{outlet.id} ({outlet.name})"


def _resolve(
    driver: Driver, outlets: Sequence[Outlet], target: Target, any_name: bool = False
) -> list[Outlet]:
    """The target's outlets in this session's listing; a device-named outlet that moved is an error."""
    if target.refs is None:
        found = [o for o in outlets if fold(o.name, any_name) == target.node]
        if not found:
            raise UnknownOutlet(f"no outlet named {target.node!r} any more")
        if target.ids is not None and sorted(o.id for o in found) != sorted(target.ids):
            raise UnknownOutlet(
                f"the outlets named {target.node!r} moved from {', '.join(target.ids)} to "
                f"{', '.join(o.id for o in found)} while the operation ran"
            )
        return found
    resolved: list[Outlet] = []
    for ref in target.refs:
        match = [o for o in outlets if o.id == ref] or [
            o for o in outlets if o.name.lower() == ref.lower() and o.name.isascii()
        ]
        if not match and driver.INFO.capabilities.any_host:
            match = [Outlet(ref)]
        if not match:
            raise UnknownOutlet(f"device has no outlet {ref!r} (configured for {target.node})")
        resolved.extend(m for m in match if m not in resolved)
    return resolved


class Fencer:
    """Verified operations on nodes of an inventory (see the module's text)."""

    def __init__(
        self,
        inventory: Inventory,
        *,
        timeout: float | None = None,
        audit: Audit | None = None,
        progress: Callable[[NodeResult], None] | None = None,
        max_workers: int = 512,
        any_name: bool = False,
        phases: PhaseReport | None = None,
    ) -> None:
        self.inventory = inventory
        self.timeout = timeout
        self.audit = audit
        self.progress = progress
        # Called while a device's outlets are awaited, between reads (device, outlet, wanted state,
        # seconds since it was switched): the CLI's progress line says what it waits for.
        self.waiting: Callable[[str, str, str, float], None] | None = None
        # Every node's phase as it ends (node, phase, level, read back as asked, per device):
        # called from device tasks, under their group's lock, so it must be quick.
        self.phases = phases
        self.max_workers = max_workers
        self.plan = Plan(inventory, any_name)
        self.held: Held = {}  # device name -> session kept for a next step
        self.audit_errors: list[str] = []
        self._channels: dict[str, str] = {}  # device name -> its channel's trust, as audited
        # Per thread, the phases ended but not yet audited and reported (record_later).
        self._pending = threading.local()
        self._started = time.monotonic()
        self._interrupted = threading.Event()
        self._said_budget = False

    def _at_once(self, sessions: int) -> int | None:
        """How many of ``sessions`` device sessions may be open together (None: all); says once
        when the open-file limit makes some wait."""
        budget, soft = session_budget()
        if budget is None or sessions <= budget:
            return None
        if not self._said_budget:
            self._said_budget = True
            from stonith.contract import log

            wanted = FDS_RESERVED + FDS_PER_SESSION * sessions + 64
            log.warn(
                f"the open-file limit ({soft}) allows {budget} of {sessions} device sessions at "
                f"once: the others wait their turn; raise it for full parallelism (ulimit -n "
                f"{wanted} in the shell, LimitNOFILE={wanted} in a systemd unit, nofile in "
                "/etc/security/limits.conf)"
            )
        return budget

    def interrupt(self) -> None:
        """Stop at the next safe point: nothing more is switched, what was switched is read back."""
        self._interrupted.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    # -- deadlines
    def _overall(self, verb: str) -> Deadline:
        """Without --timeout, every topology level may use its devices' full timeout in turn."""
        if self.timeout is not None:
            return Deadline(self.timeout, verb)
        by_level: dict[int, float] = {}
        for d in self.inventory.devices:
            by_level[d.level] = max(by_level.get(d.level, 0.0), d.timeout)
        return Deadline(sum(by_level.values()) or 60.0, verb)

    def _own(self, device: DeviceEntry, what: str, within: Deadline | None = None) -> Deadline:
        """A device's own deadline: --timeout or its timeout, never past ``within``."""
        seconds = self.timeout if self.timeout is not None else device.timeout
        return within.sub(seconds, what) if within is not None else Deadline(seconds, what)

    def _parallel(self, fn: Callable[[_T], object], items: Sequence[_T]) -> None:
        if len(items) == 1:
            fn(items[0])
        elif items:
            fan_out(fn, items, min(self.max_workers, self._at_once(len(items)) or len(items)))

    def _release_held(self, keep: set[str] | None = None) -> None:
        """Log out of sessions kept for a next step that will not use them (all but ``keep``)."""
        names = [n for n in list(self.held) if keep is None or n not in keep]
        self._parallel(contextlib.ExitStack.close, [self.held.pop(n)[0] for n in names])

    # -- planning
    def known_nodes(self) -> list[str]:
        self.plan.list_devices(lambda d: self._own(d, "list"), self._parallel)
        return self.plan.nodes()

    def _targets(self, result: NodeResult) -> list[Target] | None:
        """The node's targets, or None after filling ``result`` with why there are none."""
        try:
            targets = self.plan.targets(result.node)
        except BadConfig as exc:
            result.result, result.exit_code, result.message = FAILED, ExitCode.S_BADCONFIG, str(exc)
            return None
        if not targets or (not self.plan.claimed(result.node) and self.plan.unlisted):
            unlisted = self.plan.unlisted
            if result.node.endswith(":?"):  # a device that could not be asked, its names unknown
                unlisted = {k: v for k, v in unlisted.items() if k == result.node[:-2]}
            _unknown_node(result, unlisted, bool(targets))
            return None
        return targets

    # -- operations
    def status(self, nodes: Sequence[str] | None = None, reader: Reader | None = None) -> list[NodeResult]:
        """Read every outlet of ``nodes`` (None: every node known): each device in one session, with
        its own deadline, all devices at once.  ``reader(device, deadline)``: how to read a device
        instead (the service shares one read of a device among the requests that want it)."""
        if nodes is None:
            devices = list(self.inventory.devices)
        else:
            wanted: dict[str, DeviceEntry] = {}
            for node in nodes:
                for _, device, _ in self.plan.claims.get(node.lower(), []):
                    wanted[device.name] = device
            if any(not self.plan.claimed(n) for n in nodes):
                wanted.update((d.name, d) for d in self.plan.named)
            devices = list(wanted.values())
        read: dict[str, list[tuple[Outlet, str]]] = {}
        failed: dict[str, StonithError] = {}
        finished_at: dict[str, float] = {}

        def one(device: DeviceEntry) -> Steps[None]:
            deadline = self._own(device, f"status of {device.name}")
            try:
                if reader is not None:  # blocking: run in a thread of its own (see below)
                    read[device.name] = reader(device, deadline)
                else:
                    read[device.name] = yield from session(device, deadline, _read_all)
            except StonithError as exc:
                failed[device.name] = exc
            except Exception as exc:  # a driver bug fails its device's nodes only
                failed[device.name] = DeviceError(_bug(exc))
            finished_at[device.name] = time.monotonic()

        # Blocking devices a thread each, every NONBLOCKING one (BMCs) together on one thread; a
        # ``reader`` blocks, so with one every device gets a thread.
        steps.run(
            steps.gather(
                [(one(d), reader is None and d.driver.NONBLOCKING) for d in devices],
                self.max_workers,
                self._at_once(len(devices)),
            )
        )
        for device in devices:
            if names_from_device(device):
                if device.name in read:
                    self.plan.learned(device, [o for o, _ in read[device.name]])
                else:
                    self.plan.failed(device, failed[device.name])
        if nodes is None:
            nodes = self.plan.nodes()
            nodes += [n for n in self.plan.last_known() if n not in nodes]
            nodes += [f"{d}:?" for d in self.plan.unlisted if not _recall(self.inventory.by_name(d))]
        results = [NodeResult(n, Verb.STATUS) for n in nodes]
        for result in results:
            targets = self._targets(result)
            if targets is not None:
                for target in targets:
                    result.devices.append(self._status_of(target, read, failed, self.plan.any_name))
                _judge_status(result)
                ends = [finished_at.get(t.device.name, time.monotonic()) for t in targets]
                result.duration = max(ends) - self._started
            else:
                result.duration = time.monotonic() - self._started
            self._report(result)
        return results

    @staticmethod
    def _status_of(
        target: Target,
        read: dict[str, list[tuple[Outlet, str]]],
        failed: dict[str, StonithError],
        any_name: bool,
    ) -> DeviceResult:
        name = target.device.name
        try:
            if name in failed:
                raise failed[name]
            outlets = _resolve(target.device.driver, [o for o, _ in read[name]], target, any_name)
        except StonithError as exc:
            return DeviceResult(name, Phase.STATUS, 0, [], str(exc), exc.exit_code)
        states = dict((o.id, s) for o, s in read[name])
        return DeviceResult(
            name, Phase.STATUS, 0, [OutletState(o.id, o.name, states.get(o.id, UNKNOWN)) for o in outlets]
        )

    def run(self, verb: str, nodes: Sequence[str]) -> list[NodeResult]:
        """``on``, ``off`` or ``reset`` of ``nodes``, verified (see the module's text)."""
        if verb not in (Verb.ON, Verb.OFF, Verb.RESET):
            raise BadConfig(f"unknown verb {verb!r}")
        deadline = self._overall(verb)
        results = {n: NodeResult(n, verb) for n in nodes}
        claimed = [n for n in nodes if self.plan.claimed(n)]
        unclaimed = [n for n in nodes if not self.plan.claimed(n)]
        try:
            if not unclaimed:
                self._run(verb, claimed, results, deadline)
            elif not claimed:
                # Sessions opened to list are kept: a device's listing and switching are one login
                # (unless the open-file limit cannot hold them all).
                keep = self.held if self._at_once(len(self.plan.named)) is None else None
                self.plan.list_devices(lambda d: self._own(d, "list", deadline), self._parallel, keep)
                self._run(verb, unclaimed, results, deadline)
            else:
                self._run_mixed(verb, claimed, unclaimed, results, deadline)
        finally:
            self._release_held()
        return [results[n] for n in nodes]

    def _run_mixed(
        self,
        verb: str,
        claimed: list[str],
        unclaimed: list[str],
        results: dict[str, NodeResult],
        deadline: Deadline,
    ) -> None:
        """Nodes the maps place do not wait for devices to be listed; the others run once their
        devices are known, at the same time as the mapped ones unless they share a device (two runs
        holding one device each and waiting for the other's would wait until the deadline)."""
        mapped_devices = {t.device.name for n in claimed for t in self.plan.targets(n)}
        mapped_done = threading.Event()

        def mapped() -> None:
            try:
                self._run(verb, claimed, results, deadline)
            finally:
                mapped_done.set()

        def named() -> None:
            self.plan.list_devices(lambda d: self._own(d, "list", deadline), self._parallel)
            needed: set[str] = set()
            for node in unclaimed:
                with contextlib.suppress(BadConfig):
                    needed.update(t.device.name for t in self.plan.targets(node))
            if needed & mapped_devices:
                mapped_done.wait()
            self._run(verb, unclaimed, results, deadline)

        jobs: list[Callable[[], None]] = [mapped, named]
        fan_out(lambda job: job(), jobs, 2)

    def _run(self, verb: str, nodes: list[str], results: dict[str, NodeResult], deadline: Deadline) -> None:
        plan: dict[str, list[Target]] = {}
        for node in nodes:
            targets = self._targets(results[node])
            if targets is None:
                self._finish_node(results[node])
            else:
                plan[node] = targets
        pending = list(plan)
        for level in sorted({t.device.level for n in pending for t in plan[n]}):
            at_level = {n: [t for t in plan[n] if t.device.level == level] for n in pending}
            at_level = {n: t for n, t in at_level.items() if t}
            if not at_level or self.interrupted:
                continue
            self._release_held({t.device.name for ts in at_level.values() for t in ts})
            # A level may not eat the time of the levels after it: it gets its devices' timeout.
            seconds = max(t.device.timeout for ts in at_level.values() for t in ts)
            level_deadline = deadline.sub(seconds, deadline.what)
            done = self._run_level(verb, level, at_level, results, level_deadline)
            pending = [n for n in pending if n not in done]
        for node in pending:
            result = results[node]
            result.result = FAILED
            result.state = _last_read(result)
            if self.interrupted and not result.devices:
                result.message = "interrupted before anything was switched"
            # The devices that failed say why (refused, timed out, ...); else an outlet did not read back.
            errors = [d.exit_code for d in result.devices if d.error and d.exit_code]
            result.exit_code = max(errors, default=ExitCode.S_RESETFAIL)
            if not result.message:
                result.message = _failure_message(result, verb)
            self._finish_node(result)

    def _run_level(
        self,
        verb: str,
        level: int,
        at_level: dict[str, list[Target]],
        results: dict[str, NodeResult],
        deadline: Deadline,
    ) -> set[str]:
        """Run one topology level; the nodes it finished (successfully or with on-failed)."""
        finished: set[str] = set()
        guard = threading.Lock()

        def finish(names: list[str]) -> None:
            with guard:
                finished.update(names)
            for name in names:
                self._finish_node(results[name])

        groups = _largest_first(_linked_groups(at_level))
        looped: list[dict[str, list[Target]]] = []
        threaded: list[dict[str, list[Target]]] = []
        for group in groups:
            nonblocking = all(t.device.driver.NONBLOCKING for ts in group.values() for t in ts)
            (looped if nonblocking else threaded).append(group)
        threads = self.max_workers - (1 if looped else 0)  # the Loop's thread counts too
        if len(threaded) > threads:  # more groups than threads: a few bigger batches
            buckets: list[dict[str, list[Target]]] = [{} for _ in range(max(1, threads))]
            for index, group in enumerate(threaded):
                buckets[index % len(buckets)].update(group)
            threaded = buckets

        def one(members: dict[str, list[Target]]) -> Steps[None]:
            nodes = []
            for name, targets in members.items():
                node = _Node(name, results[name])
                node.parts = [_Part(node, t) for t in targets]
                nodes.append(node)
            group = _Group(verb, level, nodes, self, finish)
            devices: dict[str, DeviceEntry] = {}
            for node in nodes:
                for part in node.parts:
                    devices[part.target.device.name] = part.target.device
            # Biggest share first: a PDU with 24 nodes is the critical path, a BMC with one is not.
            order = sorted(devices.values(), key=lambda d: -len(group.parts_of[d.name]))
            yield from steps.gather(
                [
                    (_device_task(self, group, d, group.parts_of[d.name], deadline), d.driver.NONBLOCKING)
                    for d in order
                ],
                self.max_workers,
            )

        # A group opens a session on each of its devices: the open-file limit bounds groups at once.
        per_group = [len({t.device.name for ts in g.values() for t in ts}) for g in groups]
        sessions, widest = sum(per_group), max(per_group, default=1)
        at_once = self._at_once(sessions)
        steps.run(
            steps.gather(
                [(one(g), False) for g in threaded] + [(one(g), True) for g in looped],
                self.max_workers,
                None if at_once is None else max(1, at_once // widest),
            )
        )
        return finished

    # -- reporting
    def audit_entries(self, node: _Node, phase: str, reached: bool) -> list[Entry]:
        """The audit records of ``node``'s ``phase`` as it ends (written by ``audit_phases``)."""
        if self.audit is None:
            return []
        from stonith.fencing.audit import Entry
        from stonith.fencing.channels import describe as describe_channel

        entries: list[Entry] = []
        for part in node.parts:
            jobs = part.jobs or []
            error = part.error or "; ".join(j.error for j in jobs if j.error) or None
            device = part.target.device
            channel = self._channels.get(device.name)
            if channel is None:  # from the device's configuration: once per device, not per node
                channel = self._channels[device.name] = describe_channel(device.driver)
            entries.append(
                Entry(
                    node.name,
                    device.name,
                    [j.outlet.id for j in jobs],
                    phase,
                    OK if reached else FAILED,
                    time.monotonic() - node.phase_started,
                    error,
                    channel,
                )
            )
        return entries

    def record_later(
        self, records: list[tuple[_Node, str, list[Entry]]], reports: list[Callable[[], None]]
    ) -> None:
        """Audit ``records``, then make ``reports``, when this thread's Loop would wait
        (``steps.later``; at once off a Loop): the phases that ended until then are written in one
        write, not one per device phase (484 at 1,200 nodes, each an open, a check and a write),
        and reported in the order they ended.  Per thread: a Loop's phases are done by that Loop
        before it returns its level's result (another thread's could be done too late for it)."""
        queue: list[tuple[list[tuple[_Node, str, list[Entry]]], list[Callable[[], None]]]] | None
        queue = getattr(self._pending, "queue", None)
        if queue:  # a flush is due already on this thread, and takes these too
            queue.append((records, reports))
            return
        self._pending.queue = [(records, reports)]
        steps.later(self._flush_pending)

    def _flush_pending(self) -> None:
        queue, self._pending.queue = self._pending.queue, []
        self.audit_phases([record for records, _ in queue for record in records])
        # Every node is reported: one failed report must not leave the others unfinished.
        steps.run_all([report for _, reports in queue for report in reports])

    def audit_phases(self, records: Sequence[tuple[_Node, str, list[Entry]]]) -> None:
        """Write the records of phases that ended together (one write); a failure is reported with
        each of their nodes' results, and the fence goes on."""
        if self.audit is None:
            return
        try:
            self.audit.record([entry for _, _, entries in records for entry in entries])
        except OSError as exc:
            for node, phase, _ in records:
                why = f"audit record of the {phase} phase not written: {exc.strerror or exc}"
                node.result.audit_error = why
                self.audit_errors.append(f"{node.name}: {why}")

    def _finish_node(self, result: NodeResult) -> None:
        result.duration = time.monotonic() - self._started
        if result.notes:
            result.message += "; " + "; ".join(result.notes)
        self._report(result)

    def _report(self, result: NodeResult) -> None:
        if self.progress is not None:
            self.progress(result)


def connected(links: dict[str, list[str]]) -> list[list[str]]:
    """The keys of ``links`` in groups that share no linked name (connected components): each group
    in the keys' order, the groups in the order of their first key; a key linked to nothing is a
    group of its own."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for names in links.values():
        for name in names[1:]:
            parent[root(name)] = root(names[0])
    groups: dict[object, list[str]] = {}
    for key, names in links.items():
        groups.setdefault(root(names[0]) if names else (key,), []).append(key)
    return list(groups.values())


def _linked_groups(by_node: dict[str, list[Target]]) -> list[dict[str, list[Target]]]:
    """Split nodes into groups that share no device (connected components of node-device links)."""
    devices = {node: [target.device.name for target in targets] for node, targets in by_node.items()}
    return [{node: by_node[node] for node in group} for group in connected(devices)]


def _largest_first(groups: list[dict[str, list[Target]]]) -> list[dict[str, list[Target]]]:
    """Groups with the most node-device targets first (longest job first: the makespan of many
    parallel groups on a few cores is set by the big ones, which must not queue behind small ones)."""
    return sorted(groups, key=lambda group: -sum(len(targets) for targets in group.values()))


def _last_read(result: NodeResult) -> str:
    """The node's state as its outlets last read back: OFF only if every outlet of the last phase did."""
    if not result.devices:
        return UNKNOWN
    last = [
        d
        for d in result.devices
        if d.phase == result.devices[-1].phase and d.level == result.devices[-1].level
    ]
    states = [o.state for d in last for o in d.outlets]
    if any(s == ON for s in states):
        return ON
    if states and all(s == OFF for s in states) and not any(d.error and not d.outlets for d in last):
        return OFF
    return UNKNOWN


def _success(result: NodeResult, level: int, state: str) -> None:
    result.result = OK
    result.level = level
    result.state = state
    result.exit_code = ExitCode.S_OK
    result.message = (
        f"{'fenced and powered on' if result.verb == 'reset' else 'powered ' + state} at level {level}"
    )


def _describe(devices: Sequence[DeviceResult], wanted: str) -> str:
    parts = []
    for d in devices:
        if d.error:
            parts.append(f"{d.device}: {d.error}")
        else:
            bad = [f"{o.name or o.id}={o.state}" for o in d.outlets if o.state != wanted]
            parts.append(f"{d.device}: {', '.join(bad) or 'no outlets'}")
    return "; ".join(parts)


def _failure_message(result: NodeResult, verb: str) -> str:
    wanted = ON if verb == Verb.ON else OFF
    bad = [d for d in result.devices if not d.reached(wanted)]
    levels = sorted({d.level for d in result.devices})
    what = "fenced" if verb != Verb.ON else "powered on"
    text = f"NOT {what} (levels tried: {levels}): {_describe(bad, wanted)}"
    if verb != Verb.ON:
        text += "; outlets that did read back off were left off"
    return text


def _unknown_node(result: NodeResult, unlisted: dict[str, StonithError], named: bool) -> None:
    result.result = UNKNOWN_NODE
    result.exit_code = ExitCode.S_BADHOST
    result.message = "no device in devices.d controls this node"
    if unlisted:
        result.exit_code = max(ExitCode.S_ACCESS, *(e.exit_code for e in unlisted.values()))
        why = "; ".join(f"{k}: {v}" for k, v in unlisted.items())
        result.message = (
            f"unknown: could not ask {why}; that device may feed this node too"
            if named
            else f"unknown: no device that answered controls this node; could not ask {why}"
        )


def _judge_status(result: NodeResult) -> None:
    states = [o.state for d in result.devices for o in d.outlets]
    errors = [d for d in result.devices if d.error]
    if any(s == ON for s in states):
        result.state = ON
    elif states and not errors and all(s == OFF for s in states):
        result.state = OFF
    else:
        result.state = UNKNOWN
    if result.state == UNKNOWN:
        result.result = FAILED
        result.exit_code = max((d.exit_code for d in errors), default=ExitCode.S_OOPS)
        result.message = _describe(result.devices, "on or off")
    else:
        result.result = OK
        result.exit_code = ExitCode.S_OK
        result.message = ", ".join(
            f"{d.device}:{o.name}={o.state}" for d in result.devices for o in d.outlets
        )

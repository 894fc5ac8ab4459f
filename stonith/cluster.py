"""The cluster layer: nodes, not outlets.  Written once for every driver.

``Fencer(inventory).run("reset", nodes)``, for each topology level in order, for the nodes not yet
done:

1. **off** — every device of the level holding an outlet of those nodes, in parallel, one session
   per device (all its outlets in one multi-outlet command where the driver offers one): off, then
   read back until every outlet reads OFF or the deadline passes;
2. a node whose outlets *all* read back OFF on *every* device of the level is fenced; a node with any
   outlet not read back OFF (device failed, stuck relay, lying status, unknown) is **not** fenced at
   this level: its outlets that did go off are left off (never switched back on by us) and the next
   level is tried;
3. **settle** (the longest settle of the devices involved), then **on** for the fenced nodes, read
   back ON, in the session the off phase opened (one login per device per reset).  A failed on
   phase is reported (``on-failed``): the node was fenced but did not come back.

Nodes are grouped by the devices they share (a dual-PSU node links its two PDUs); each group runs
steps 1-3 at its own pace, so one slow device holds back only the nodes that need it.

``off`` stops after step 2, ``on`` does only step 3.  ``status``: ON if any outlet reads ON, OFF only
if every outlet reads OFF, otherwise UNKNOWN.

The logic above is written once, as step generators (``stonith.steps``): a device phase of a
blocking driver (telnet, SNMP, serial) runs in a thread of its own; groups whose devices are all
``NONBLOCKING`` (IPMI BMCs) run together on one thread that multiplexes their sockets, so 200
BMCs cost one thread, not 200.

Devices are locked per session (in-process and across processes, see ``stonith.locks``), so
one-session devices serialize instead of failing.  Transient failures (unreachable, busy, garbled,
timeout of one attempt) are retried with back-off inside the deadline; authentication failures are
not.  Every wait is bounded by the operation's deadline.
"""

from __future__ import annotations

import contextlib
import threading
import time

from stonith import locks, steps
from stonith.deadline import Deadline
from stonith.driver import OFF, ON, UNKNOWN, Outlet
from stonith.errors import (
    AuthFailed,
    BadConfig,
    DeviceBusy,
    DeviceError,
    ExitCode,
    StateMismatch,
    StonithError,
    Timeout,
    UnknownOutlet,
    Unreachable,
)
from stonith.reset import POLL_FIRST, POLL_MAX
from stonith.steps import fan_out

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TypeVar

    from stonith.audit import Audit
    from stonith.driver import Driver
    from stonith.inventory import DeviceEntry, Inventory
    from stonith.steps import Steps

    _T = TypeVar("_T")

RETRYABLE = (Unreachable, DeviceBusy, DeviceError, Timeout)
RETRY_BACKOFF = (0.2, 0.5, 1.0, 2.0)

# Node results
OK = "ok"
FAILED = "failed"
ON_FAILED = "on-failed"  # fenced (all outlets read back off) but power-on was not read back
UNKNOWN_NODE = "unknown-node"


class OutletState:
    __slots__ = ("id", "name", "state")

    def __init__(self, id: str, name: str, state: str) -> None:
        self.id = id
        self.name = name
        self.state = state

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "state": self.state}


class DeviceResult:
    """What one device did for one node in one phase."""

    __slots__ = ("device", "error", "exit_code", "level", "outlets", "phase", "read_at")

    def __init__(
        self,
        device: str,
        phase: str,
        level: int,
        outlets: list[OutletState],
        error: str | None = None,
        exit_code: int = 0,
        read_at: float = 0.0,
    ) -> None:
        self.device = device
        self.phase = phase
        self.level = level
        self.outlets = outlets
        self.error = error
        self.exit_code = exit_code
        self.read_at = read_at  # time.monotonic() when the outlets were read as they are

    def reached(self, state: str) -> bool:
        return self.error is None and bool(self.outlets) and all(o.state == state for o in self.outlets)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "device": self.device,
            "phase": self.phase,
            "level": self.level,
            "outlets": [o.as_dict() for o in self.outlets],
        }
        if self.error:
            out["error"] = self.error
            out["exit_code"] = self.exit_code
        return out


class NodeResult:
    __slots__ = ("devices", "duration", "exit_code", "level", "message", "node", "result", "state", "verb")

    def __init__(self, node: str, verb: str) -> None:
        self.node = node
        self.verb = verb
        self.result = FAILED
        self.state = UNKNOWN
        self.level: int | None = None
        self.devices: list[DeviceResult] = []
        self.message = ""
        self.exit_code: int = ExitCode.S_OOPS
        self.duration = 0.0

    @property
    def ok(self) -> bool:
        return self.result == OK

    @property
    def fenced(self) -> bool:
        """True when every outlet of the node was read back off (even if the on phase then failed)."""
        return self.result in (OK, ON_FAILED) and self.verb in ("off", "reset")

    def as_dict(self) -> dict[str, object]:
        return {
            "node": self.node,
            "verb": self.verb,
            "result": self.result,
            "state": self.state,
            "level": self.level,
            "message": self.message,
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
            "devices": [d.as_dict() for d in self.devices],
        }


def worst_exit_code(results: Sequence[NodeResult]) -> int:
    return max((r.exit_code for r in results), default=0)


class _Target:
    """The outlets of one node on one device, as configured (refs) and as resolved."""

    __slots__ = ("device", "node", "refs")

    def __init__(self, device: DeviceEntry, node: str, refs: list[str] | None) -> None:
        self.device = device
        self.node = node
        self.refs = refs  # None: outlets named like the node


class Fencer:
    def __init__(
        self,
        inventory: Inventory,
        *,
        timeout: float | None = None,
        audit: Audit | None = None,
        progress: Callable[[NodeResult], None] | None = None,
        max_workers: int = 512,
    ) -> None:
        self.inventory = inventory
        self.timeout = timeout
        self.audit = audit
        self.progress = progress
        self.max_workers = max_workers
        self._dynamic: dict[str, list[Outlet]] = {}
        self._index: dict[str, list[tuple[int, DeviceEntry, list[str] | None]]] | None = None
        self._held: dict[str, contextlib.ExitStack] = {}  # device name -> session kept open
        self._held_lock = threading.Lock()
        self._indexed = 0

    # -- planning ----------------------------------------------------------------------------
    def _deadline(self, devices: Sequence[DeviceEntry], what: str) -> Deadline:
        if self.timeout is not None:
            return Deadline(self.timeout, what)
        return Deadline(max((d.timeout for d in devices), default=60.0), what)

    def _overall(self, verb: str) -> Deadline:
        """Without --timeout, every topology level may use its devices' full timeout in turn."""
        if self.timeout is not None:
            return Deadline(self.timeout, verb)
        by_level: dict[int, float] = {}
        for d in self.inventory.devices:
            by_level[d.level] = max(by_level.get(d.level, 0.0), d.timeout)
        return Deadline(sum(by_level.values()) or 60.0, verb)

    def _level_deadline(self, overall: Deadline, devices: Sequence[DeviceEntry]) -> Deadline:
        return overall.sub(max((d.timeout for d in devices), default=overall.remaining()), overall.what)

    def _list_dynamic(self, deadline: Deadline) -> dict[str, str]:
        """Outlet lists of devices without a [hosts] table (node names = outlet names)."""
        dynamic = [d for d in self.inventory.devices if d.hosts is None and d.name not in self._dynamic]
        for device in dynamic:
            static = device.driver.static_outlets()
            if static is not None:  # no session needed (and none opened to every BMC of a cluster)
                self._dynamic[device.name] = static
        dynamic = [d for d in dynamic if d.name not in self._dynamic]
        errors: dict[str, str] = {}

        def list_one(device: DeviceEntry) -> None:
            try:
                self._dynamic[device.name] = steps.run(
                    self._with_session(device, deadline, lambda d, dl: d.outlets_steps(dl))
                )
            except StonithError as exc:
                errors[device.name] = str(exc)

        self._parallel(list_one, dynamic)
        return errors

    def targets(self, node: str) -> list[_Target]:
        """Where ``node``'s outlets are, in inventory order (an index: clusters have thousands)."""
        if self._index is None or self._indexed != len(self._dynamic):
            index: dict[str, list[tuple[int, DeviceEntry, list[str] | None]]] = {}
            for position, device in enumerate(self.inventory.devices):
                if device.hosts is not None:
                    for name, refs in device.hosts.items():
                        index.setdefault(name, []).append((position, device, refs))
                else:  # outlets named like the node: matched without regard to case
                    names = dict.fromkeys(o.name.casefold() for o in self._dynamic.get(device.name, []))
                    for folded in names:
                        index.setdefault("\0" + folded, []).append((position, device, None))
            self._index, self._indexed = index, len(self._dynamic)
        found = self._index.get(node, []) + self._index.get("\0" + node.casefold(), [])
        return [_Target(device, node, refs) for _, device, refs in sorted(found, key=lambda f: f[0])]

    def known_nodes(self, deadline: Deadline | None = None) -> list[str]:
        self._list_dynamic(deadline or self._deadline(self.inventory.devices, "list"))
        nodes: dict[str, None] = dict.fromkeys(self.inventory.static_nodes())
        for outlets in self._dynamic.values():
            for outlet in outlets:
                nodes.setdefault(outlet.name.lower(), None)
        from stonith.nodeset import natural_key

        return sorted(nodes, key=natural_key)

    # -- device sessions ---------------------------------------------------------------------
    def _parallel(self, fn: Callable[[_T], object], items: Sequence[_T]) -> None:
        if not items:
            return
        if len(items) == 1:
            fn(items[0])
            return
        fan_out(fn, items, self.max_workers)

    def _with_session(
        self,
        device: DeviceEntry,
        deadline: Deadline,
        body: Callable[[Driver, Deadline], Steps[list[Outlet]]],
        *,
        keep: bool = False,
    ) -> Steps[list[Outlet]]:
        """Run ``body`` in a session of ``device``: one kept from the phase before, else a new one.

        ``keep``: leave the session (and the device's slot) open for the next phase of this
        operation (a reset's on phase follows its off phase on the same devices: one login, not two).
        """
        with self._held_lock:
            held = self._held.pop(device.name, None)
        if held is not None:
            try:
                return self._finish(device, held, (yield from body(device.driver, deadline)), keep)
            except RETRYABLE:
                held.close()  # the kept session died (idle timeout, device restarted): a new one
            except BaseException:
                held.close()
                raise
        attempt = 0
        driver = device.driver
        while True:
            stack = contextlib.ExitStack()
            try:
                release = yield from locks.slot_steps(device.lock_key(), device.max_sessions, deadline)
                stack.callback(release)
                driver.session_deadline = deadline
                yield from driver.connect_steps(deadline)
                stack.callback(driver.disconnect)
                return self._finish(device, stack, (yield from body(driver, deadline)), keep)
            except AuthFailed:
                stack.close()
                raise
            except RETRYABLE:
                stack.close()
                if attempt >= len(RETRY_BACKOFF) or deadline.remaining() <= RETRY_BACKOFF[attempt]:
                    raise
                yield from steps.sleep(deadline, RETRY_BACKOFF[attempt])
                attempt += 1
            except BaseException:
                stack.close()
                raise

    def _finish(
        self, device: DeviceEntry, session: contextlib.ExitStack, result: list[Outlet], keep: bool
    ) -> list[Outlet]:
        if keep:
            with self._held_lock:
                self._held[device.name] = session
        else:
            session.close()
        return result

    def _release_held(self, devices: set[str], nonblocking: bool = False) -> None:
        """Log out of the sessions of ``devices`` kept for a next phase that did not come.

        ``nonblocking``: the devices are all NONBLOCKING (their logouts do not block): in place.
        """
        with self._held_lock:
            held = [self._held.pop(name) for name in list(self._held) if name in devices]
        if nonblocking:
            for stack in held:
                stack.close()
        else:
            self._parallel(contextlib.ExitStack.close, held)

    def _device_phase(
        self,
        device: DeviceEntry,
        targets: list[_Target],
        phase: str,
        level: int,
        deadline: Deadline,
        keep: bool = False,
    ) -> Steps[dict[str, DeviceResult]]:
        """One session on one device for every target node: read, or switch and read back."""
        started = time.monotonic()
        results: dict[str, DeviceResult] = {}
        resolved: dict[str, list[Outlet]] = {}

        def body(driver: Driver, dl: Deadline) -> Steps[list[Outlet]]:
            results.clear()
            resolved.clear()
            outlets = yield from driver.outlets_steps(dl)
            for target in targets:
                try:
                    resolved[target.node] = _resolve(outlets, target)
                except UnknownOutlet as exc:
                    results[target.node] = DeviceResult(
                        device.name, phase, level, [], str(exc), ExitCode.S_BADHOST
                    )
            wanted = [o for t in targets if t.node in resolved for o in resolved[t.node]]
            if not wanted:
                return []
            if phase == "status":
                seen = yield from driver.status_many_steps(wanted, dl)
            else:
                state = OFF if phase == "off" else ON
                yield from (driver.off_many_steps if state == OFF else driver.on_many_steps)(wanted, dl)
                seen = yield from _read_back(driver, wanted, state, dl)
            read_at = time.monotonic()
            for target in targets:
                if target.node in resolved:
                    states = [
                        OutletState(o.id, o.name, seen.get(o.id, UNKNOWN)) for o in resolved[target.node]
                    ]
                    results[target.node] = DeviceResult(device.name, phase, level, states, read_at=read_at)
            return wanted

        if phase != "status" and not device.driver.INFO.capabilities.status:
            # Refused before any session: switching first and refusing afterwards (no read-back)
            # would leave a half-done action behind.
            refusal = StateMismatch(
                f"{device.driver.INFO.name} cannot read outlet state back; refusing an unverified {phase}"
            )
            return {
                t.node: DeviceResult(device.name, phase, level, [], str(refusal), refusal.exit_code)
                for t in targets
            }
        try:
            yield from self._with_session(device, deadline, body, keep=keep)
        except StonithError as exc:
            for target in targets:
                if target.node not in results or results[target.node].error is None:
                    outlets = results[target.node].outlets if target.node in results else []
                    results[target.node] = DeviceResult(
                        device.name, phase, level, outlets, str(exc), exc.exit_code
                    )
        except Exception as exc:  # a driver bug must fail its nodes, not the whole run
            for target in targets:
                results[target.node] = DeviceResult(
                    device.name,
                    phase,
                    level,
                    [],
                    f"internal error: {type(exc).__name__}: {exc}",
                    ExitCode.S_OOPS,
                )
        duration = time.monotonic() - started
        if self.audit is not None and phase != "status":
            from stonith.audit import Entry

            wanted_state = OFF if phase == "off" else ON
            self.audit.record(
                [
                    Entry(
                        node,
                        device.name,
                        [o.id for o in result.outlets],
                        phase,
                        OK if result.reached(wanted_state) else FAILED,
                        duration,
                        result.error,
                    )
                    for node, result in results.items()
                ]
            )
        return results

    def _run_phase(
        self,
        phase: str,
        level: int,
        by_node: dict[str, list[_Target]],
        deadline: Deadline,
        keep: bool = False,
    ) -> Steps[dict[str, list[DeviceResult]]]:
        by_device: dict[str, list[_Target]] = {}
        devices: dict[str, DeviceEntry] = {}
        for targets in by_node.values():
            for target in targets:
                by_device.setdefault(target.device.name, []).append(target)
                devices[target.device.name] = target.device
        out: dict[str, list[DeviceResult]] = {node: [] for node in by_node}
        # Largest share first: a PDU with 24 nodes to switch is the critical path of the phase, a BMC
        # with one is not; started last (behind 200 BMC handshakes) it would finish last.
        order = sorted(devices.values(), key=lambda d: -len(by_device[d.name]))
        done = yield from steps.gather(
            [
                (
                    self._device_phase(device, by_device[device.name], phase, level, deadline, keep),
                    device.driver.NONBLOCKING,
                )
                for device in order
            ],
            self.max_workers,
        )
        for results in done:
            for node, result in results.items():
                out[node].append(result)
        return out

    # -- operations --------------------------------------------------------------------------
    def status(self, nodes: Sequence[str]) -> list[NodeResult]:
        started = time.monotonic()
        deadline = self._deadline(self.inventory.devices, "status")
        list_errors = self._list_dynamic(deadline)
        results = {n: NodeResult(n, "status") for n in nodes}
        by_node = {n: self.targets(n) for n in nodes}
        phase = steps.run(self._run_phase("status", 0, {n: t for n, t in by_node.items() if t}, deadline))
        for node, result in results.items():
            if not by_node[node]:
                _unknown_node(result, list_errors)
            else:
                result.devices = phase[node]
                _judge_status(result)
            result.duration = time.monotonic() - started
            self._report(result)
        return list(results.values())

    def run(self, verb: str, nodes: Sequence[str]) -> list[NodeResult]:
        if verb not in ("on", "off", "reset"):
            raise BadConfig(f"unknown verb {verb!r}")
        started = time.monotonic()
        deadline = self._overall(verb)
        list_errors = self._list_dynamic(self._level_deadline(deadline, self.inventory.devices))
        results = {n: NodeResult(n, verb) for n in nodes}
        plan = {n: self.targets(n) for n in nodes}
        pending = []
        for node, result in results.items():
            if plan[node]:
                pending.append(node)
            else:
                _unknown_node(result, list_errors)
                result.duration = time.monotonic() - started
                self._report(result)
        for level in sorted({t.device.level for n in pending for t in plan[n]}):
            at_level = {n: [t for t in plan[n] if t.device.level == level] for n in pending}
            at_level = {n: t for n, t in at_level.items() if t}
            if not at_level:
                continue
            # A level may not eat the time of the levels after it: it gets its devices' timeout.
            level_deadline = self._level_deadline(
                deadline, [t.device for ts in at_level.values() for t in ts]
            )

            def finish(nodes: list[str]) -> None:
                for node in nodes:
                    results[node].duration = time.monotonic() - started
                    self._report(results[node])

            done = set(steps.run(self._run_level(verb, level, at_level, results, level_deadline, finish)))
            pending = [n for n in pending if n not in done]
        for node in pending:
            result = results[node]
            result.result = FAILED
            failures = [d for d in result.devices if d.error or not d.reached(OFF if verb != "on" else ON)]
            result.exit_code = max(
                (d.exit_code or ExitCode.S_RESETFAIL for d in failures), default=ExitCode.S_RESETFAIL
            )
            if not result.message:
                result.message = _failure_message(result, verb)
            result.duration = time.monotonic() - started
            self._report(result)
        return list(results.values())

    def _run_level(
        self,
        verb: str,
        level: int,
        at_level: dict[str, list[_Target]],
        results: dict[str, NodeResult],
        deadline: Deadline,
        finish: Callable[[list[str]], None],
    ) -> Steps[list[str]]:
        """Run one topology level; the nodes it finished (successfully or with on-failed).

        ``finish`` is called with each batch of finished nodes as soon as it is known.
        """
        if verb == "on":
            done: list[str] = []
            phase = yield from self._run_phase("on", level, at_level, deadline)
            for node, device_results in phase.items():
                results[node].devices.extend(device_results)
                if all(d.reached(ON) for d in device_results) and len(device_results) == len(at_level[node]):
                    _success(results[node], level, ON)
                    done.append(node)
            finish(done)
            return done
        # Nodes that share no device do not wait for each other: each group of devices linked by
        # a node (a dual-PSU node links its two PDUs) runs off -> settle -> on at its own pace.
        # Groups of NONBLOCKING devices share one thread; the others get a thread each.
        groups = _largest_first(_linked_groups(at_level))
        looped: list[dict[str, list[_Target]]] = []
        threaded: list[dict[str, list[_Target]]] = []
        for group in groups:
            nonblocking = all(t.device.driver.NONBLOCKING for ts in group.values() for t in ts)
            (looped if nonblocking else threaded).append(group)
        threads = self.max_workers - (1 if looped else 0)  # the Loop's thread counts too
        if len(threaded) > threads:  # more groups than threads: a few bigger batches
            buckets: list[dict[str, list[_Target]]] = [{} for _ in range(max(1, threads))]
            for index, group in enumerate(threaded):
                buckets[index % len(buckets)].update(group)
            threaded = buckets
        finished: set[str] = set()
        guard = threading.Lock()

        def one(group: dict[str, list[_Target]], nonblocking: bool) -> Steps[None]:
            try:
                fenced = yield from self._off_then_on(verb, level, group, results, deadline)
            finally:
                self._release_held({t.device.name for ts in group.values() for t in ts}, nonblocking)
            with guard:
                finished.update(fenced)
                finish(fenced)

        yield from steps.gather(
            [(one(g, False), False) for g in threaded] + [(one(g, True), True) for g in looped],
            self.max_workers,
        )
        return [n for n in at_level if n in finished]

    def _off_then_on(
        self,
        verb: str,
        level: int,
        at_level: dict[str, list[_Target]],
        results: dict[str, NodeResult],
        deadline: Deadline,
    ) -> Steps[list[str]]:
        phase = yield from self._run_phase("off", level, at_level, deadline, keep=verb == "reset")
        fenced: list[str] = []
        for node, device_results in phase.items():
            results[node].devices.extend(device_results)
            if len(device_results) == len(at_level[node]) and all(d.reached(OFF) for d in device_results):
                fenced.append(node)
        if verb == "off":
            for node in fenced:
                _success(results[node], level, OFF)
            return fenced
        needed = {t.device.name for n in fenced for t in at_level[n]}
        everyone = {t.device for ts in at_level.values() for t in ts}
        self._release_held({d.name for d in everyone} - needed, all(d.driver.NONBLOCKING for d in everyone))
        if fenced:
            # The settle runs from the moment the last outlet was read back off, not from the end of
            # this thread's bookkeeping (audit lines, closing sessions no fenced node needs).
            settle = max(t.device.settle for n in fenced for t in at_level[n])
            off_since = max(d.read_at for n in fenced for d in phase[n])
            yield from steps.sleep(deadline, off_since + settle - time.monotonic())
            on_phase = yield from self._run_phase("on", level, {n: at_level[n] for n in fenced}, deadline)
            for node in fenced:
                results[node].devices.extend(on_phase[node])
                if len(on_phase[node]) == len(at_level[node]) and all(d.reached(ON) for d in on_phase[node]):
                    _success(results[node], level, ON)
                else:
                    result = results[node]
                    result.result = ON_FAILED
                    result.level = level
                    result.state = OFF if all(not d.reached(ON) for d in on_phase[node]) else UNKNOWN
                    bad = [d for d in on_phase[node] if not d.reached(ON)]
                    result.exit_code = max(
                        (d.exit_code or ExitCode.S_RESETFAIL for d in bad), default=ExitCode.S_RESETFAIL
                    )
                    result.message = (
                        f"fenced at level {level} (every outlet read back off), but power-on "
                        f"was not read back: " + _describe(bad, ON)
                    )
        return fenced

    def _report(self, result: NodeResult) -> None:
        if self.progress is not None:
            self.progress(result)


def _linked_groups(by_node: dict[str, list[_Target]]) -> list[dict[str, list[_Target]]]:
    """Split nodes into groups that share no device (connected components of node-device links)."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for targets in by_node.values():
        for target in targets[1:]:
            parent[root(target.device.name)] = root(targets[0].device.name)
    groups: dict[str, dict[str, list[_Target]]] = {}
    for node, targets in by_node.items():
        groups.setdefault(root(targets[0].device.name), {})[node] = targets
    return list(groups.values())


def _largest_first(groups: list[dict[str, list[_Target]]]) -> list[dict[str, list[_Target]]]:
    """Groups with the most node-device targets first (longest job first: the makespan of many
    parallel groups on a few cores is set by the big ones, which must not queue behind small ones)."""
    return sorted(groups, key=lambda group: -sum(len(targets) for targets in group.values()))


def _resolve(outlets: Sequence[Outlet], target: _Target) -> list[Outlet]:
    if target.refs is None:
        found = [o for o in outlets if o.name.casefold() == target.node.casefold()]
        if not found:
            raise UnknownOutlet(f"device has no outlet named {target.node!r}")
        return found
    resolved: list[Outlet] = []
    for ref in target.refs:
        match = [o for o in outlets if o.id == ref] or [
            o for o in outlets if o.name.casefold() == ref.casefold()
        ]
        if not match:
            raise UnknownOutlet(f"device has no outlet {ref!r} (configured for {target.node})")
        resolved.extend(m for m in match if m not in resolved)
    return resolved


def _read_back(
    driver: Driver, outlets: list[Outlet], state: str, deadline: Deadline
) -> Steps[dict[str, str]]:
    """Poll until every outlet reads ``state`` or the deadline passes; the last states seen."""
    if not driver.INFO.capabilities.status:
        raise StateMismatch(
            f"{driver.INFO.name} cannot read outlet state back; refusing an unverified result"
        )
    delay = POLL_FIRST
    seen: dict[str, str] = {}
    while True:
        try:
            seen = yield from driver.status_many_steps(outlets, deadline)
        except (Timeout, DeviceError):
            if deadline.expired():
                raise
        if all(seen.get(o.id) == state for o in outlets) or deadline.remaining() <= 0:
            return seen
        yield from steps.sleep(deadline, delay)
        delay = min(delay * 2, POLL_MAX)


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
    wanted = ON if verb == "on" else OFF
    bad = [d for d in result.devices if not d.reached(wanted)]
    levels = sorted({d.level for d in result.devices})
    text = (
        f"NOT {'fenced' if verb != 'on' else 'powered on'} (levels tried: {levels}): {_describe(bad, wanted)}"
    )
    if verb != "on":
        text += "; outlets that did read back off were left off"
    return text


def _unknown_node(result: NodeResult, list_errors: dict[str, str]) -> None:
    result.result = UNKNOWN_NODE
    result.exit_code = ExitCode.S_BADHOST
    result.message = "no device in devices.d controls this node"
    if list_errors:
        result.exit_code = ExitCode.S_OOPS
        result.message += (
            " (devices that could not be listed: "
            + "; ".join(f"{k}: {v}" for k, v in list_errors.items())
            + ")"
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

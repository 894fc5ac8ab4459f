"""The service's operations, framework-free: what the JSON API, XML-RPC and the GUI ask for.

Every power operation goes through stonith.fencing.engine (the same device locks, retries and per-outlet
read-back as ``stonith reset``), so the service and the CLI give the same verdict for the same
device behaviour and serialize on one-session devices.  Around the engine this module keeps:

- the inventory, reloaded when a file of devices.d changes (``stonith`` CLI edits show at once);
- the history: one JSON line when an operation starts, one per node as it finishes, one at the
  end (who, from where, what was asked, what was read back).  An operation that has a start but no
  end when the service starts again (it was killed) is closed as ``interrupted``, with the nodes'
  states as read back then: never as a success;
- device changes: validated by the driver's metadata, written atomically (staging file, fsync,
  rename) with mode 0600, the previous version kept in ``devices.d/.previous/``; a change based on
  an older version of the file is refused (Conflict), so two admins cannot tear or lose an edit;
- events (node progress, outlet state changes, device health) for server-sent events;
- health: a background check of every device at its interval (log in, read every outlet, as
  Pacemaker's monitor does), sharing the CLI's device locks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid

from stonith.contract.errors import BadConfig, StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    from stonith.contract.deadline import Deadline
    from stonith.contract.driver import Outlet
    from stonith.fencing.engine import DeviceResult, NodeResult
    from stonith.fencing.inventory import DeviceEntry, Inventory
    from stonith.fencing.prepare import Prepared

VERBS = ("on", "off", "reset")
# A device file name: plain, so it is safe as a path component, in TOML and in a URL.
DEVICE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


class NotFound(StonithError):
    """No such device, type or node."""

    status = 404


class Conflict(StonithError):
    """The device file changed since the version the change was based on."""

    status = 409


class Actor:
    """Who asks, from where (for the history and the audit)."""

    __slots__ = ("source", "user")

    def __init__(self, user: str, source: str) -> None:
        self.user = user
        self.source = source


# -- history --------------------------------------------------------------------------------------


class History:
    """Append-only JSON lines (mode 0600); the last ``keep`` operations are served."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        record = {"time": _stamp(), **record}
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)  # a record that the kernel lost with the machine proves nothing later
            finally:
                os.close(fd)

    def records(self) -> Iterator[dict[str, Any]]:
        try:
            handle = open(self.path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict):
                        yield record

    def operations(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` operations, each with its nodes' results, newest first."""
        ops: dict[str, dict[str, Any]] = {}
        for record in self.records():
            op_id = str(record.get("id", ""))
            kind = record.get("event")
            if kind == "start":
                ops[op_id] = {**record, "nodes": {}, "state": "running"}
                ops[op_id].pop("event", None)
            elif op_id in ops and kind == "node":
                ops[op_id]["nodes"][record.get("node")] = record.get("result")
            elif op_id in ops and kind == "end":
                ops[op_id]["state"] = record.get("state", "done")
                ops[op_id]["ended"] = record.get("time")
                if "read_back" in record:
                    ops[op_id]["read_back"] = record["read_back"]
        return list(reversed(list(ops.values())))[:limit]

    def unfinished(self) -> list[dict[str, Any]]:
        return [op for op in self.operations(limit=1_000_000) if op["state"] == "running"]


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


# -- events ---------------------------------------------------------------------------------------


class Events:
    """Fan-out of events to subscribers (each a callable; the app turns them into SSE streams)."""

    def __init__(self) -> None:
        self._subscribers: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._lock = threading.Lock()
        self._next = 0

    def subscribe(self, deliver: Callable[[dict[str, Any]], None]) -> int:
        with self._lock:
            self._next += 1
            self._subscribers[self._next] = deliver
            return self._next

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subscribers.pop(token, None)

    def publish(self, kind: str, **data: Any) -> None:
        event = {"type": kind, "time": _stamp(), **data}
        with self._lock:
            subscribers = list(self._subscribers.values())
        for deliver in subscribers:
            with contextlib.suppress(Exception):  # a slow or gone client never stops a fence
                deliver(event)


# -- health ---------------------------------------------------------------------------------------


class Health:
    """The last health check of one device."""

    __slots__ = ("checked", "error", "latency", "ok", "outlets")

    def __init__(self) -> None:
        self.ok: bool | None = None  # None: not checked yet
        self.latency = 0.0
        self.error = ""
        self.checked = ""
        self.outlets: dict[str, tuple[str, str]] = {}  # id -> (name, state)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "latency": round(self.latency, 3),
            "error": self.error,
            "checked": self.checked,
            "outlets": [{"id": i, "name": n, "state": s} for i, (n, s) in self.outlets.items()],
        }


# -- shared device reads --------------------------------------------------------------------------


class Reads:
    """One read of a device at a time, shared by every request that wants it.

    A one-session PDU answers a few logins a second; 200 clients polling status each opening their
    own session starved each other and the fences (bench.service: status p50 70 s, resets failing
    with "stayed busy").  A request joins the read in flight, or takes one that finished less than
    ``max_age`` seconds ago; only then is a new session opened.  Fences never use this: they read
    back in their own session.
    """

    def __init__(self, max_age: float = 1.0) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._inflight: dict[str, Any] = {}  # device name -> concurrent.futures.Future
        self._last: dict[str, tuple[float, Any]] = {}  # device name -> (monotonic, Future done)
        self._epoch: dict[str, int] = {}  # device name -> bumped by forget(): older reads are stale

    def forget(self, names: Iterable[str]) -> None:
        """These devices were just switched: no read that began before now is handed out again
        (a status right after a fence read the outlet as it was before it, found by a test)."""
        with self._lock:
            for name in names:
                self._epoch[name] = self._epoch.get(name, 0) + 1
                self._last.pop(name, None)
                self._inflight.pop(name, None)

    def read(self, device: DeviceEntry, deadline: Deadline) -> list[tuple[Outlet, str]]:
        from concurrent.futures import Future

        from stonith.fencing import engine

        now = time.monotonic()
        with self._lock:
            last = self._last.get(device.name)
            if last is not None and now - last[0] <= self.max_age:
                future = last[1]
                leader = False
            else:
                future = self._inflight.get(device.name)
                leader = future is None
                if leader:
                    future = self._inflight[device.name] = Future()
            epoch = self._epoch.get(device.name, 0)
        if leader:
            try:
                future.set_result(engine.read_all(device, deadline))
            except BaseException as exc:
                future.set_exception(exc)
            finally:
                with self._lock:
                    if self._epoch.get(device.name, 0) == epoch:  # not switched while it read
                        self._inflight.pop(device.name, None)
                        self._last[device.name] = (time.monotonic(), future)
        try:
            result: list[tuple[Outlet, str]] = future.result(timeout=max(0.0, deadline.remaining()))
        except TimeoutError:
            raise StonithError(f"{device.name}: no read finished before the deadline") from None
        return result


# -- the service ----------------------------------------------------------------------------------


class Service:
    def __init__(
        self,
        devices_dir: str,
        history_file: str,
        *,
        audit: str | None = None,
        health_interval: float = 60.0,
        timeout: float | None = None,
    ) -> None:
        self.devices_dir = devices_dir
        self.history = History(history_file)
        self.events = Events()
        self.audit_destination = audit
        self.health_interval = health_interval
        self.timeout = timeout
        self.health: dict[str, Health] = {}
        self.operations_done: dict[tuple[str, str], int] = {}  # (verb, result) -> count
        self.last_fenced: dict[str, float] = {}  # node -> unix time of its last verified fence
        self._prepared: Prepared | None = None
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self._lock = threading.Lock()
        self._modify_lock = threading.Lock()
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self.reads = Reads()

    # -- inventory
    def inventory(self) -> Inventory:
        """devices.d as it is now (the devices that load): reloaded whenever a file in it changed."""
        return self.prepared().inventory

    def prepared(self) -> Prepared:
        """devices.d as the CLI prepares it (stonith.fencing.prepare): a broken file fails only the nodes
        that may depend on it, every other node is fenced; reloaded whenever a file changed."""
        from stonith.fencing.prepare import prepare

        signature = self._dir_signature()
        with self._lock:
            if self._prepared is None or signature != self._signature:
                self._prepared = prepare(self.devices_dir, None, None)
                self._signature = signature
            return self._prepared

    def _dir_signature(self) -> tuple[tuple[str, int, int], ...]:
        entries = []
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(self.devices_dir)):
                if name.endswith(".toml"):
                    st = os.stat(os.path.join(self.devices_dir, name))
                    entries.append((name, st.st_mtime_ns, st.st_size))
        return tuple(entries)

    def device(self, name: str) -> DeviceEntry:
        try:
            return self.inventory().by_name(name)
        except KeyError:
            raise NotFound(f"no device {name!r} in {self.devices_dir}") from None

    # -- metadata (no device contact)
    def types(self) -> list[dict[str, str]]:
        from stonith.fencing import registry

        out = []
        for name in registry.types():
            try:
                out.append({"type": name, "description": registry.describe(name)})
            except StonithError as exc:
                out.append({"type": name, "description": f"(cannot load: {exc})"})
        return out

    def metadata(self, type_name: str, lang: str | None = None) -> dict[str, Any]:
        from stonith.fencing import device
        from stonith.render import marshal

        return marshal.info_to_dict(device.metadata(type_name, lang))

    def defaults(self, type_name: str) -> dict[str, Any]:
        from stonith.fencing import device
        from stonith.render import marshal

        return marshal.config_to_wire(device.metadata(type_name), device.defaults(type_name))

    def validate(self, type_name: str, config: dict[str, Any]) -> dict[str, Any]:
        """A configuration checked against the driver's metadata: its redacted form, or every problem."""
        from stonith.fencing import device
        from stonith.render import marshal

        info = device.metadata(type_name)
        try:
            built = device.construct(type_name, marshal.config_from_wire(info, config))
        except BadConfig as exc:
            return {"ok": False, "problems": [{"field": p.field, "message": p.message} for p in exc.problems]}
        return {"ok": True, "config": marshal.config_to_wire(info, built.current_config())}

    # -- devices
    def devices(self) -> list[dict[str, Any]]:
        return [self._describe(d) for d in self.inventory().devices]

    def _describe(self, d: DeviceEntry) -> dict[str, Any]:
        health = self.health.get(d.name)
        return {
            "name": d.name,
            "type": d.type,
            "level": d.level,
            "address": d.driver.device_name(),
            "hosts": d.hosts,
            "device_names": d.device_names,
            "description": d.description,
            "fleet": d.fleet,
            "health": health.as_dict() if health is not None else None,
        }

    def device_config(self, name: str) -> dict[str, Any]:
        """A device's configuration in force, secrets redacted, with the version a change must name."""
        from stonith.fencing import device as device_api
        from stonith.render import marshal

        entry = self.device(name)
        built = device_api.Device(type(entry.driver), entry.driver.config)
        return {
            **self._describe(entry),
            "version": _version(entry.path),
            "settle": entry.settle,
            "timeout": entry.timeout,
            "parameters": marshal.config_to_wire(entry.info, built.current_config()),
        }

    def modify_device(self, name: str, changes: dict[str, Any], version: str, actor: Actor) -> dict[str, Any]:
        """Change a device's parameters: validated, atomic, 0600, previous version kept; Conflict if
        the file is no longer ``version``."""
        import tomllib

        import tomli_w

        from stonith.fencing.device import REDACTED
        from stonith.fencing.inventory import load_file

        entry = self.device(name)
        if entry.fleet is not None:
            raise Conflict(
                f"{name} is a member of the fleet {entry.fleet} ({entry.path}): its members are changed "
                "together, in that file, not one by one"
            )
        with self._modify_lock:
            with open(entry.path, "rb") as handle:
                old = handle.read()
            if hashlib.sha256(old).hexdigest() != version:
                raise Conflict(f"{name} changed since version {version[:12]}: reload and apply again")
            data = tomllib.loads(old.decode())
            params = dict(data.get("parameters", {}))
            secrets = dict(data.get("secrets", {}))
            for key, value in changes.items():
                field = entry.info.field(key)
                if field is None:
                    raise BadConfig(f"{entry.type} has no parameter {key!r}")
                key = field.fieldname
                if field.secret and value == REDACTED:
                    continue  # what the form showed: unchanged
                if value is None:
                    params.pop(key, None)
                    continue
                params[key] = value
                secrets.pop(key, None)  # an inline value replaces a reference (the file is 0600)
            data["parameters"] = params
            if secrets:
                data["secrets"] = secrets
            else:
                data.pop("secrets", None)
            staging = os.path.join(self.devices_dir, ".staging")
            os.makedirs(staging, mode=0o700, exist_ok=True)
            new_path = os.path.join(staging, os.path.basename(entry.path))
            _write_private(new_path, tomli_w.dumps(data).encode())
            new_entry, problems = load_file(new_path)
            if new_entry is None:
                os.unlink(new_path)
                raise BadConfig(problems)
            previous = os.path.join(self.devices_dir, ".previous")
            os.makedirs(previous, mode=0o700, exist_ok=True)
            keep = os.path.join(previous, f"{os.path.basename(entry.path)}.{time.strftime('%Y%m%dT%H%M%S')}")
            _write_private(keep, old)
            os.replace(new_path, entry.path)
        self.history.write(
            {
                "id": uuid.uuid4().hex,
                "event": "modify",
                "user": actor.user,
                "source": actor.source,
                "device": name,
                "fields": sorted(changes),
            }
        )
        self.events.publish("device-changed", device=name, user=actor.user)
        return self.device_config(name)

    def create_device(self, name: str, spec: dict[str, Any], actor: Actor) -> dict[str, Any]:
        """A new devices.d file ``<name>.toml``: validated as ``stonith check`` loads it, written
        atomically with mode 0600 (it may hold secrets inline); Conflict if the name is taken.

        ``spec``: ``type``, ``parameters`` (wire form), and optionally ``level``, ``settle``,
        ``timeout``, ``description`` and ``hosts`` (node -> outlet or list of outlets).
        """
        import re

        import tomli_w

        from stonith.contract.errors import FieldProblem
        from stonith.fencing import device as device_api
        from stonith.fencing.inventory import load_file
        from stonith.render import marshal

        if not isinstance(name, str) or not re.fullmatch(DEVICE_NAME, name):
            raise BadConfig([FieldProblem("name", "must be 1-64 letters, digits, '.', '_' or '-'")])
        type_name = spec.get("type")
        if not isinstance(type_name, str):
            raise BadConfig([FieldProblem("type", "required: the driver type")])
        params = spec.get("parameters", {})
        if not isinstance(params, dict):
            raise BadConfig([FieldProblem("parameters", "must be an object")])
        info = device_api.metadata(type_name)
        typed = marshal.config_from_wire(info, params)  # BadConfig by field name, before any file
        data: dict[str, Any] = {"type": type_name}
        for key in ("description", "level", "settle", "timeout", "hosts"):
            if spec.get(key) not in (None, "", {}):
                data[key] = spec[key]
        # What was given, typed, secrets inline: the file is 0600, as modify_device writes it.
        data["parameters"] = {k: v for k, v in typed.items() if k in params and params[k] is not None}
        path = os.path.join(self.devices_dir, f"{name}.toml")
        with self._modify_lock:
            staging = os.path.join(self.devices_dir, ".staging")
            os.makedirs(staging, mode=0o700, exist_ok=True)
            new_path = os.path.join(staging, f"{name}.toml")
            try:
                text = tomli_w.dumps(data).encode()
            except (TypeError, ValueError):
                raise BadConfig("the device description cannot be written as TOML") from None
            _write_private(new_path, text)
            try:
                entry, problems = load_file(new_path)
                if entry is None:
                    raise BadConfig([_unprefixed(p, new_path) for p in problems])
                try:
                    os.link(new_path, path)  # never replaces: a name taken meanwhile is a Conflict
                except FileExistsError:
                    raise Conflict(f"a device file {name}.toml exists already") from None
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(new_path)
        self.history.write(
            {
                "id": uuid.uuid4().hex,
                "event": "create",
                "user": actor.user,
                "source": actor.source,
                "device": name,
                "fields": sorted(data["parameters"]),
            }
        )
        self.events.publish("device-changed", device=name, user=actor.user)
        return self.device_config(name)

    def probe_config(
        self, type_name: str, config: dict[str, Any], based_on: str | None = None
    ) -> dict[str, Any]:
        """Test connection: log in with a configuration that is not saved and read every outlet.

        The same engine session as the CLI (device lock by address, connect, logout).  ``based_on``:
        the saved device the form edits; a secret the form left empty or redacted is taken from it,
        since secrets are never sent to the browser.
        """
        from stonith.contract.deadline import Deadline
        from stonith.fencing import device as device_api
        from stonith.fencing import engine, registry
        from stonith.fencing.device import REDACTED
        from stonith.fencing.inventory import DEFAULT_TIMEOUT
        from stonith.fencing.inventory import DeviceEntry as Entry
        from stonith.render import marshal

        info = device_api.metadata(type_name)
        given = dict(config)
        saved: DeviceEntry | None = None
        if based_on is not None:
            saved = self.device(based_on)
            if saved.type != type_name:
                raise BadConfig(f"{based_on} is a {saved.type} device, not {type_name}")
            for field in info.fields:
                kept = field.secret and given.get(field.fieldname) in (None, "", REDACTED)
                if kept and field.fieldname in saved.driver.config:
                    given[field.fieldname] = saved.driver.config[field.fieldname]
        typed = marshal.config_from_wire(info, given)
        driver = registry.load(type_name)(typed)
        timeout = self.timeout or (saved.timeout if saved is not None else DEFAULT_TIMEOUT)
        entry = Entry(
            f"test of {based_on or type_name}",
            type_name,
            "",
            driver,
            None,
            1,
            0.0,
            timeout,
            info.capabilities.sessions or 64,
            None,
        )

        def body(drv: Any, deadline: Deadline) -> tuple[str, list[tuple[Any, str]]]:
            identity = drv.probe(deadline)
            outlets = drv.outlets(deadline)
            seen = drv.status_many(outlets, deadline)
            return identity, [(o, seen.get(o.id, "unknown")) for o in outlets]

        started = time.monotonic()
        try:
            identity, read = engine.call(entry, Deadline(timeout, "test connection"), body)
        except StonithError as exc:
            return {
                "ok": False,
                "error": str(exc),
                "exit_code": int(exc.exit_code),
                "latency": round(time.monotonic() - started, 3),
            }
        except Exception as exc:  # a driver bug is this test's failure, not the service's
            return {"ok": False, "error": f"internal error: {type(exc).__name__}", "exit_code": 1}
        return {
            "ok": True,
            "identity": identity,
            "latency": round(time.monotonic() - started, 3),
            "outlets": [{"id": o.id, "name": o.name, "state": s} for o, s in read],
        }

    def check_device(self, name: str) -> dict[str, Any]:
        """Log in and read every outlet now (what the health check does), and remember the result."""
        return self._check(self.device(name)).as_dict()

    def _check(self, entry: DeviceEntry) -> Health:
        from stonith.contract.deadline import Deadline

        health = Health()
        started = time.monotonic()
        try:
            read = self.reads.read(entry, Deadline(self.timeout or entry.timeout, f"check {entry.name}"))
        except StonithError as exc:
            health.ok, health.error = False, str(exc)
        except Exception as exc:  # a driver bug fails that device's check only
            health.ok, health.error = False, f"internal error: {type(exc).__name__}: {exc}"
        else:
            health.ok = True
            health.outlets = {o.id: (o.name, state) for o, state in read}
        health.latency = time.monotonic() - started
        health.checked = _stamp()
        before = self.health.get(entry.name)
        self.health[entry.name] = health
        if before is None or before.ok != health.ok:
            self.events.publish("device-health", device=entry.name, ok=health.ok, error=health.error)
        for outlet, (name, state) in health.outlets.items():
            if before is not None and before.outlets.get(outlet, (name, state))[1] != state:
                self.events.publish("outlet", device=entry.name, outlet=outlet, name=name, state=state)
        return health

    # -- health monitor
    def start_monitor(self) -> None:
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._monitor_loop, name="health", daemon=True)
            self._monitor.start()

    def stop(self) -> None:
        self._stop.set()

    def _monitor_loop(self) -> None:
        from stonith.contract.steps import fan_out

        while not self._stop.is_set():
            started = time.monotonic()
            with contextlib.suppress(StonithError):
                devices = self.inventory().devices
                fan_out(self._check, devices, 64)
            self._stop.wait(max(1.0, self.health_interval - (time.monotonic() - started)))

    # -- power
    def status(self, nodeset: str | None, actor: Actor) -> list[dict[str, Any]]:
        from stonith.fencing.engine import Fencer

        nodes = _expand(nodeset)
        prepared = self.prepared()
        fencer = Fencer(prepared.inventory, timeout=self.timeout)
        if nodes is None:
            results = fencer.status(None, reader=self.reads.read)
            seen = {r.node for r in results}
            results = [
                prepared.refused(r.node, "status") if prepared.blocking(r.node) else r for r in results
            ]
            results += [prepared.refused(n, "status") for n in prepared.known_names() if n not in seen]
        else:
            refused = {n: prepared.refused(n, "status") for n in nodes if prepared.blocking(n)}
            allowed = [n for n in nodes if n not in refused]
            found = fencer.status(allowed, reader=self.reads.read) if allowed else []
            by_node = {r.node: r for r in found} | refused
            results = [by_node[n] for n in nodes]
        return [r.as_dict() for r in results]

    def power(self, verb: str, nodeset: str, actor: Actor) -> dict[str, Any]:
        """on/off/reset of a node set through the engine; recorded in the history as it goes."""
        from stonith.fencing.audit import Audit
        from stonith.fencing.engine import Fencer, worst_exit_code

        if verb not in VERBS:
            raise NotFound(f"no operation {verb!r} (one of {', '.join(VERBS)})")
        nodes = _expand(nodeset)
        if not nodes:
            raise BadConfig("a node set is required")
        audit = Audit(self.audit_destination)
        audit.open()  # before anything is switched, as the CLI does
        op_id = uuid.uuid4().hex
        self.history.write(
            {
                "id": op_id,
                "event": "start",
                "user": actor.user,
                "source": actor.source,
                "verb": verb,
                "nodeset": nodeset,
            }
        )
        self.events.publish("operation", id=op_id, verb=verb, nodeset=nodeset, user=actor.user)

        def progress(result: NodeResult) -> None:
            data = result.as_dict()
            self.history.write({"id": op_id, "event": "node", "node": result.node, "result": data})
            self.events.publish("node", id=op_id, node=result.node, result=result.result, state=result.state)

        def phase(node: str, name: str, level: int, reached: bool, devices: list[DeviceResult]) -> None:
            # Live progress: each node's off (then on) as its outlets read back, on every device.
            self.events.publish(
                "phase",
                id=op_id,
                node=node,
                phase=name,
                level=level,
                reached=reached,
                devices=[d.as_dict() for d in devices],
            )

        prepared = self.prepared()
        fencer = Fencer(
            prepared.inventory, timeout=self.timeout, audit=audit, progress=progress, phases=phase
        )
        # A node a broken device file may take part in fencing fails naming the file, untouched.
        refused = {n: prepared.refused(n, verb) for n in nodes if prepared.blocking(n)}
        for result in refused.values():
            progress(result)
        allowed = [n for n in nodes if n not in refused]
        try:
            by_node = {r.node: r for r in (fencer.run(verb, allowed) if allowed else [])} | refused
        finally:
            self.reads.forget(d.name for d in prepared.inventory.devices)
        results = [by_node[n] for n in nodes]
        for result in results:
            key = (verb, result.result)
            self.operations_done[key] = self.operations_done.get(key, 0) + 1
            if result.fenced:
                self.last_fenced[result.node] = time.time()
        code = worst_exit_code(results)
        self.history.write({"id": op_id, "event": "end", "state": "done", "exit_code": code})
        self.events.publish("operation-end", id=op_id, exit_code=code)
        return {
            "id": op_id,
            "exit_code": code,
            "audit_errors": fencer.audit_errors,
            "results": [r.as_dict() for r in results],
        }

    def recover(self) -> list[str]:
        """Close operations a killed service left open as interrupted, with the states read back now."""
        closed = []
        for op in self.history.unfinished():
            read_back: list[dict[str, Any]] = []
            with contextlib.suppress(StonithError):
                read_back = self.status(op.get("nodeset"), Actor("service", "recovery"))
            self.history.write(
                {
                    "id": op["id"],
                    "event": "end",
                    "state": "interrupted",
                    "read_back": [{"node": r["node"], "state": r["state"]} for r in read_back],
                }
            )
            closed.append(str(op["id"]))
        return closed


def _expand(nodeset: str | None) -> list[str] | None:
    if nodeset is None or not nodeset.strip():
        return None
    from stonith.fencing.nodeset import expand

    return expand(nodeset)


def _unprefixed(problem: Any, path: str) -> Any:
    """A load_file problem ``<staging path>:parameters.x`` as ``parameters.x`` (the staging path is ours)."""
    from stonith.contract.errors import FieldProblem

    field = problem.field[len(path) + 1 :] if problem.field.startswith(path + ":") else problem.field
    return FieldProblem(field if field != path else "", problem.message, problem.missing)


def _version(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _write_private(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600, flushed to disk) through a temporary file and a rename."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

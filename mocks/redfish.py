"""Redfish BMC mock: service root, ComputerSystems (one or several per BMC), Reset action, sessions,
tasks, over HTTPS (a self-signed certificate generated at start) or HTTP; many BMCs from one process.

    stonith-mock redfish [--model generic|idrac|ilo|xcc|openbmc] [--listen 127.0.0.1:0] [--count N]
                 [--outlets SYSTEMS] [--hosts a,b,...] [--tls | --no-tls] [--system-id ID]
                 [--system-ids A,B,...] [--reset-types On,ForceOff,...] [--action-info]
                 [--no-sessions-enabled] [--async-tasks [--task-seconds S] [--task-fail]]
                 [--username U] [--password P | STONITH_MOCK_PASSWORD] [--relay-delay S]
                 [--off-delay S] [--on-delay S] [--slow S] [--fault ...] [--state-file F]

The ready line adds ``"url"`` (the first BMC's base URL) and, with TLS, ``"ca"``: the PEM file of
the self-signed certificate (its subject alternative names are 127.0.0.1, ::1 and localhost), to
give clients as their CA bundle.

Resources: ``/redfish/v1/`` (no authentication), ``/redfish/v1/Systems``, one
``/redfish/v1/Systems/<id>`` per system (``--outlets N`` systems per BMC: a multi-node chassis;
ground-truth outlets 1..N, named by ``--hosts``/``--names``) with ``PowerState`` (``On``, ``Off``,
``PoweringOn``, ``PoweringOff`` while the chassis follows a command) and the
``#ComputerSystem.Reset`` action, whose allowed values are listed inline
(``ResetType@Redfish.AllowableValues``) or behind ``@Redfish.ActionInfo`` (``--action-info``);
``/redfish/v1/SessionService/Sessions`` (POST -> 201 with X-Auth-Token and Location; DELETE).
Basic authentication and session tokens are both accepted; anything else gets 401 with a Redfish
error body.  A ResetType not allowed gets 400 ``Base.1.8.ActionParameterNotSupported``.

``--async-tasks``: an accepted action answers 202 with a task monitor in ``Location`` and the Task
in the body (DSP0266 "Asynchronous operations"); the power changes when the task completes,
``--task-seconds`` later (default 0.5).  The monitor answers 202 while the task runs, then the
action's own answer (204), then 404; ``/redfish/v1/TaskService/Tasks/<n>`` keeps the Task
(``TaskState`` Running -> Completed, or Exception with ``--task-fail``, the power untouched).

Personalities (``--model``): each vendor's system ids, allowed reset types, where they are listed and
how a reset is answered, as their public documentation shows (``PERSONALITIES``).

The log (``truth()["log"]``, per BMC under ``devices``): ``session-create`` / ``session-delete``
(with the session id), ``reset`` (system and ResetType), ``task-start`` / ``task-end`` (with the
task's final state).

Reset semantics: On/ForceOn -> on; ForceOff/GracefulShutdown -> off; PushPowerButton toggles;
PowerCycle -> off then on (only from on; from off 409); ForceRestart/GracefulRestart -> a reset
(power stays on; 409 from off); Nmi -> recorded.  Ground truth, delays and faults: stonith.mocks._bmc.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import secrets
import selectors
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from stonith.mocks import _bmc
from stonith.mocks._bmc import OFF, ON, Chassis

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import ssl
    from collections.abc import Callable, Sequence
    from typing import Any

    from stonith.mocks._common import MockConfig

    # (status, body or None, extra headers)
    Reply = tuple[int, Any, dict[str, str]]

ALL_RESET_TYPES = (
    "On",
    "ForceOff",
    "GracefulShutdown",
    "GracefulRestart",
    "ForceRestart",
    "Nmi",
    "ForceOn",
    "PushPowerButton",
    "PowerCycle",
)
DEFAULT_RESET_TYPES = (
    "On",
    "ForceOff",
    "GracefulShutdown",
    "GracefulRestart",
    "ForceRestart",
    "Nmi",
    "PowerCycle",
)
SUCCESS = {
    "@Message.ExtendedInfo": [
        {"MessageId": "Base.1.8.Success", "Message": "Successfully Completed Request", "Severity": "OK"}
    ]
}
TASK_RUNNING = "Running"


@dataclass(frozen=True)
class Personality:
    """How one vendor's BMC looks from the wire (the device end: the driver must cope with each)."""

    description: str
    first_id: str  # the system id of a one-system BMC
    more_ids: str  # the ids of a multi-node BMC's further systems, "{n}" counting from 2
    reset_types: tuple[str, ...]
    action_info: bool = False  # allowed values behind @Redfish.ActionInfo, not inline
    reset_status: int = 204  # 204 (no body) or 200 (with a Base.Success message)
    trailing_slash: bool = False  # @odata.id values end in "/"
    absolute_location: bool = False  # Location headers as absolute URLs
    system_name: str = "System"
    vendor: str = ""


PERSONALITIES = {
    "generic": Personality(
        "Redfish 1.x BMC (ComputerSystem.Reset, sessions)", "1", "{n}", DEFAULT_RESET_TYPES
    ),
    # iDRAC9 Redfish API Guide (firmware 4.20), "Supported Action - Reset": ResetType On, ForceOff,
    # ForceRestart, GracefulShutdown, PushPowerButton, Nmi; 204 on success.  System.Embedded.1.
    "idrac": Personality(
        "Dell iDRAC9 (System.Embedded.1)",
        "System.Embedded.1",
        "System.Embedded.{n}",
        ("On", "ForceOff", "ForceRestart", "GracefulShutdown", "PushPowerButton", "Nmi"),
        vendor="Dell",
    ),
    # HPE iLO 5 (iLO RESTful API docs): Systems/1, @odata.id with a trailing slash, reset answered
    # 200 with a Base.Success message; ResetType On, ForceOff, GracefulShutdown, ForceRestart, Nmi,
    # PushPowerButton, GracefulRestart.
    "ilo": Personality(
        "HPE iLO 5 (Systems/1/, trailing slashes)",
        "1",
        "{n}",
        ("On", "ForceOff", "GracefulShutdown", "ForceRestart", "Nmi", "PushPowerButton", "GracefulRestart"),
        reset_status=200,
        trailing_slash=True,
        absolute_location=True,
        system_name="Computer System",
        vendor="HPE",
    ),
    # Lenovo XCC2 REST API, "POST - Server reset operations": Systems/1; ResetType
    # On/ForceOff/GracefulShutdown/GracefulRestart/ForceRestart/Nmi/ForceOn.
    "xcc": Personality(
        "Lenovo XClarity Controller (Systems/1)",
        "1",
        "{n}",
        ("On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "ForceOn"),
        vendor="Lenovo",
    ),
    # OpenBMC bmcweb: Systems/system, the allowed values behind ResetActionInfo, 200 with a
    # Base.Success message (an OpenBMC-based BMC's manual: DM-SV01 "Force Power Off Host").
    "openbmc": Personality(
        "OpenBMC bmcweb (Systems/system, ActionInfo)",
        "system",
        "system{n}",
        (
            "On",
            "ForceOff",
            "ForceOn",
            "ForceRestart",
            "GracefulRestart",
            "GracefulShutdown",
            "PowerCycle",
            "Nmi",
        ),
        action_info=True,
        reset_status=200,
        system_name="system",
        vendor="OpenBMC",
    ),
}
MODELS = {name: p.description for name, p in PERSONALITIES.items()}
DEFAULT_MODEL = "generic"
default_outlets = _bmc.default_outlets
default_names = _bmc.default_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    import argparse

    _bmc.add_common_arguments(parser)
    add_service_arguments(parser)
    parser.add_argument(
        "--system-id",
        default=None,
        metavar="ID",
        help="the (first) ComputerSystem's Id (default: the model's)",
    )
    parser.add_argument(
        "--system-ids", default="", metavar="A,B,...", help="the ComputerSystems' Ids (default: the model's)"
    )
    parser.add_argument(
        "--reset-types",
        default=None,
        metavar="LIST",
        help="ResetType values the systems allow (default: the model's)",
    )
    parser.add_argument(
        "--action-info",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="list allowed values behind @Redfish.ActionInfo instead of inline (default: the model's)",
    )


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every Redfish service mock has (BMC and PDU)."""
    import argparse

    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve HTTPS with a self-signed certificate (default) or plain HTTP",
    )
    parser.add_argument(
        "--sessions-enabled",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="offer the SessionService (default yes)",
    )
    parser.add_argument(
        "--async-tasks",
        action="store_true",
        help="answer actions 202 Accepted with a task monitor; the change happens when the task ends",
    )
    parser.add_argument(
        "--task-seconds", type=float, default=0.5, metavar="S", help="how long a task runs (default 0.5)"
    )
    parser.add_argument("--task-fail", action="store_true", help="tasks end in Exception, nothing changed")


def error_body(message_id: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": message_id,
            "message": message,
            "@Message.ExtendedInfo": [{"MessageId": message_id, "Message": message}],
        }
    }


def missing(path: str) -> tuple[int, Any]:
    return 404, error_body("Base.1.8.ResourceMissingAtURI", f"{path} not found")


class Task:
    """One asynchronous action: runs ``seconds``, then applies ``action`` (unless it is to fail)."""

    def __init__(
        self,
        number: int,
        what: str,
        action: Callable[[], None],
        seconds: float,
        fail: bool,
        ended: Callable[[Task], None],
    ) -> None:
        self.number = number
        self.what = what
        self.state = TASK_RUNNING
        self.monitor_read = False  # the monitor answered the final result once: gone afterwards
        self._action = action
        self._fail = fail
        self._ended = ended
        self._timer = threading.Timer(max(0.0, seconds), self._end)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def _end(self) -> None:
        if self._fail:
            self.state = "Exception"
        else:
            self._action()
            self.state = "Completed"
        self._ended(self)

    def resource(self, path: str) -> dict[str, Any]:
        done = self.state != TASK_RUNNING
        body: dict[str, Any] = {
            "@odata.id": path,
            "@odata.type": "#Task.v1_4_3.Task",
            "Id": str(self.number),
            "Name": f"Task {self.number}",
            "TaskState": self.state,
            "TaskStatus": "Critical" if self.state == "Exception" else "OK",
            "TaskMonitor": f"/redfish/v1/TaskService/TaskMonitors/{self.number}",
            "PercentComplete": 100 if done else 50,
        }
        if self.state == "Exception":
            body["Messages"] = [
                {"MessageId": "Base.1.8.InternalError", "Message": f"{self.what} failed in the BMC"}
            ]
        return body


class ServiceBase:
    """What every Redfish service mock shares: credentials, sessions, tasks and the log.

    A subclass answers ``resource(path)`` (GET of its own resources), ``action(path, body)`` (POST)
    and ``root_links()`` (what the service root links to).
    """

    def __init__(self, config: MockConfig, base_url: str) -> None:
        self.config = config
        self.faults = config.faults
        options = config.options
        self.sessions_enabled = bool(options.get("sessions_enabled", True))
        self.async_tasks = bool(options.get("async_tasks"))
        self.task_seconds = float(options.get("task_seconds") or 0.0)
        self.task_fail = bool(options.get("task_fail"))
        self.slow = float(options.get("slow") or 0.0)
        self.base_url = base_url
        self.trailing_slash = False
        self.absolute_location = False
        self.tokens: dict[str, str] = {}  # token -> session id
        self.tasks: dict[str, Task] = {}
        self._lock = threading.Lock()
        self._next_session = 1
        self._next_task = 1

    # -- to be supplied ------------------------------------------------------------------------
    def note(self, what: str, **details: Any) -> None:
        """Record a protocol event in the device's log."""

    def root_links(self) -> dict[str, Any]:
        return {}

    def resource(self, path: str) -> tuple[int, Any]:
        return missing(path)

    def action(self, path: str, body: Any) -> Reply:
        return 405, error_body("Base.1.8.ActionNotSupported", f"POST {path} not supported"), {}

    def close(self) -> None:
        with self._lock:
            for task in self.tasks.values():
                task.cancel()

    # -- paths as this service writes them -----------------------------------------------------
    def odata(self, path: str) -> str:
        return path + "/" if self.trailing_slash and not path.endswith("/") else path

    def location(self, path: str) -> str:
        return self.base_url + path if self.absolute_location else path

    # -- authentication --------------------------------------------------------------------------
    def authorized(self, headers: Any) -> bool:
        if self.faults.refuse_login:
            return False
        token = headers.get("X-Auth-Token")
        if token:
            with self._lock:
                return token in self.tokens
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), self.config.username.encode()) and hmac.compare_digest(
            password.encode(), self.config.password.encode()
        )

    def login(self, body: Any) -> Reply:
        if not self.sessions_enabled:
            return 404, error_body("Base.1.8.ResourceMissingAtURI", "no SessionService"), {}
        if (
            not isinstance(body, dict)
            or self.faults.refuse_login
            or not hmac.compare_digest(str(body.get("UserName", "")).encode(), self.config.username.encode())
            or not hmac.compare_digest(str(body.get("Password", "")).encode(), self.config.password.encode())
        ):
            return 401, error_body("Base.1.8.NoValidSession", "invalid user name or password"), {}
        token = secrets.token_hex(16)
        with self._lock:
            sid = str(self._next_session)
            self._next_session += 1
            self.tokens[token] = sid
        self.note("session-create", session=sid)
        location = self.odata(f"/redfish/v1/SessionService/Sessions/{sid}")
        return (
            201,
            {"@odata.id": location, "Id": sid, "UserName": self.config.username},
            {"X-Auth-Token": token, "Location": self.location(location)},
        )

    def logout(self, path: str) -> int:
        sid = path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            for token, value in list(self.tokens.items()):
                if value == sid:
                    del self.tokens[token]
                    break
            else:
                return 404
        self.note("session-delete", session=sid)
        return 204

    # -- tasks -----------------------------------------------------------------------------------
    def accept(self, what: str, apply: Callable[[], None], done: Reply) -> Reply:
        """Run an accepted action now (answer ``done``), or as a task (202 + its monitor)."""
        if not self.async_tasks:
            apply()
            return done
        with self._lock:
            number = self._next_task
            self._next_task += 1
            task = Task(number, what, apply, self.task_seconds, self.task_fail, self._task_ended)
            self.tasks[str(number)] = task
        self.note("task-start", task=str(number), action=what)
        task.start()
        monitor = f"/redfish/v1/TaskService/TaskMonitors/{number}"
        return (
            202,
            task.resource(self.odata(f"/redfish/v1/TaskService/Tasks/{number}")),
            {"Location": self.location(monitor), "Retry-After": "1"},
        )

    def _task_ended(self, task: Task) -> None:
        self.note("task-end", task=str(task.number), state=task.state)

    def task_resource(self, path: str) -> tuple[int, Any, dict[str, str]] | None:
        """GET of a task or task monitor; None if ``path`` is neither."""
        for prefix in ("/redfish/v1/TaskService/Tasks/", "/redfish/v1/TaskService/TaskMonitors/"):
            if path.startswith(prefix):
                number = path[len(prefix) :]
                with self._lock:
                    task = self.tasks.get(number)
                if task is None:
                    return (*missing(path), {})
                task_path = self.odata(f"/redfish/v1/TaskService/Tasks/{number}")
                if prefix.endswith("Tasks/"):
                    return 200, task.resource(task_path), {}
                if task.state == TASK_RUNNING:
                    return 202, task.resource(task_path), {"Retry-After": "1"}
                if task.monitor_read:
                    return (*missing(path), {})
                task.monitor_read = True
                if task.state == "Completed":
                    return 204, None, {}
                return 500, error_body("Base.1.8.InternalError", f"{task.what} failed"), {}
        return None

    # -- dispatch ----------------------------------------------------------------------------------
    def get(self, path: str) -> tuple[int, Any]:
        status, body, _ = self.get_with_headers(path)
        return status, body

    def get_with_headers(self, path: str) -> Reply:
        path = path.rstrip("/") or "/"
        if path == "/redfish/v1":
            body = {
                "@odata.id": self.odata("/redfish/v1"),
                "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
                "Id": "RootService",
                "Name": "Root Service",
                "RedfishVersion": "1.8.0",
                **self.root_links(),
            }
            if self.sessions_enabled:
                body["SessionService"] = {"@odata.id": self.odata("/redfish/v1/SessionService")}
                body["Links"] = {"Sessions": {"@odata.id": self.odata("/redfish/v1/SessionService/Sessions")}}
            return 200, body, {}
        if path == "/redfish":
            return 200, {"v1": "/redfish/v1/"}, {}
        if path == "/redfish/v1/SessionService/Sessions" and self.sessions_enabled:
            with self._lock:
                members = [
                    {"@odata.id": self.odata(f"/redfish/v1/SessionService/Sessions/{s}")}
                    for s in self.tokens.values()
                ]
            return 200, {"@odata.id": path, "Members": members, "Members@odata.count": len(members)}, {}
        task = self.task_resource(path)
        if task is not None:
            return task
        return (*self.resource(path), {})

    def post(self, path: str, body: Any) -> Reply:
        return self.action(path.rstrip("/"), body)


@dataclass
class System:
    id: str
    chassis: Chassis


class Service(ServiceBase):
    """One BMC's Redfish service: its ComputerSystems (``chassis``: one, or a multi-node list)."""

    def __init__(self, chassis: Chassis | Sequence[Chassis], config: MockConfig, base_url: str) -> None:
        super().__init__(config, base_url)
        options = config.options
        personality = PERSONALITIES.get(config.model, PERSONALITIES[DEFAULT_MODEL])
        self.personality = personality
        machines = [chassis] if isinstance(chassis, Chassis) else list(chassis)
        ids = [i for i in str(options.get("system_ids") or "").split(",") if i]
        if options.get("system_id"):
            ids[:1] = [str(options["system_id"])]
        ids = ids or [personality.first_id]
        ids += [personality.more_ids.format(n=n) for n in range(len(ids) + 1, len(machines) + 1)]
        self.systems = [System(i, c) for i, c in zip(ids, machines, strict=False)]
        self.chassis = machines[0]  # the first system (single-system callers)
        given = options.get("reset_types")
        self.reset_types = [t for t in str(given or "").split(",") if t] or list(personality.reset_types)
        info = options.get("action_info")
        self.action_info = personality.action_info if info is None else bool(info)
        self.trailing_slash = personality.trailing_slash
        self.absolute_location = personality.absolute_location
        self.address = base_url.split("://", 1)[-1]

    def note(self, what: str, **details: Any) -> None:
        self.chassis.lab.note(self.address, what, **details)

    @property
    def system_id(self) -> str:
        return self.systems[0].id

    @property
    def system_path(self) -> str:
        return f"/redfish/v1/Systems/{self.system_id}"

    def _system(self, path: str) -> System | None:
        for system in self.systems:
            if path == f"/redfish/v1/Systems/{system.id}":
                return system
        return None

    def root_links(self) -> dict[str, Any]:
        links: dict[str, Any] = {"Systems": {"@odata.id": self.odata("/redfish/v1/Systems")}}
        if self.personality.vendor:
            links["Vendor"] = self.personality.vendor
        return links

    @staticmethod
    def power_state(chassis: Chassis) -> str:
        reported = chassis.reported()
        pending = chassis.pending()
        if pending is not None and pending != reported:
            return "PoweringOff" if pending == OFF else "PoweringOn"
        return "On" if reported == ON else "Off"

    def resource(self, path: str) -> tuple[int, Any]:
        if path == "/redfish/v1/Systems":
            return 200, {
                "@odata.id": self.odata(path),
                "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
                "Name": "Computer System Collection",
                "Members@odata.count": len(self.systems),
                "Members": [{"@odata.id": self.odata(f"{path}/{s.id}")} for s in self.systems],
            }
        system = self._system(path)
        if system is not None:
            action: dict[str, Any] = {"target": self.odata(f"{path}/Actions/ComputerSystem.Reset")}
            if self.action_info:
                action["@Redfish.ActionInfo"] = self.odata(f"{path}/ResetActionInfo")
            else:
                action["ResetType@Redfish.AllowableValues"] = list(self.reset_types)
            return 200, {
                "@odata.id": self.odata(path),
                "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
                "Id": system.id,
                "Name": self.personality.system_name,
                "HostName": system.chassis.name,
                "SystemType": "Physical",
                "PowerState": self.power_state(system.chassis),
                "Status": {"State": "Enabled", "Health": "OK"},
                "Actions": {"#ComputerSystem.Reset": action},
            }
        owner = self._system(path.removesuffix("/ResetActionInfo"))
        if owner is not None and path.endswith("/ResetActionInfo") and self.action_info:
            return 200, {
                "@odata.id": self.odata(path),
                "@odata.type": "#ActionInfo.v1_1_2.ActionInfo",
                "Id": "ResetActionInfo",
                "Parameters": [
                    {
                        "Name": "ResetType",
                        "Required": True,
                        "DataType": "String",
                        "AllowableValues": list(self.reset_types),
                    }
                ],
            }
        return missing(path)

    def action(self, path: str, body: Any) -> Reply:
        system = self._system(path.removesuffix("/Actions/ComputerSystem.Reset"))
        if system is None or not path.endswith("/Actions/ComputerSystem.Reset"):
            return super().action(path, body)
        return self.reset(body, system)

    def reset(self, body: Any, system: System | None = None) -> Reply:
        system = system or self.systems[0]
        reset_type = body.get("ResetType") if isinstance(body, dict) else None
        if reset_type not in self.reset_types:
            return (
                400,
                error_body(
                    "Base.1.8.ActionParameterNotSupported",
                    f"ResetType {reset_type!r} is not supported by this system",
                ),
                {},
            )
        chassis = system.chassis
        if reset_type in ("PowerCycle", "ForceRestart", "GracefulRestart") and chassis.reported() == OFF:
            return 409, error_body("Base.1.8.ActionNotSupported", f"{reset_type} needs the system on"), {}
        self.note("reset", system=system.id, reset_type=str(reset_type))

        def apply() -> None:
            if reset_type in ("On", "ForceOn"):
                chassis.power(ON)
            elif reset_type in ("ForceOff", "GracefulShutdown"):
                chassis.power(OFF)
            elif reset_type == "PushPowerButton":
                chassis.power(OFF if chassis.reported() == ON else ON)
            elif reset_type == "PowerCycle":
                chassis.cycle()
            elif reset_type in ("ForceRestart", "GracefulRestart"):
                chassis.reset()
            elif reset_type == "Nmi":
                chassis.record("diag")

        done: Reply = (200, SUCCESS, {}) if self.personality.reset_status == 200 else (204, None, {})
        return self.accept(f"ResetType {reset_type} of {system.id}", apply, done)


class Handler(BaseHTTPRequestHandler):
    """HTTP for any ServiceBase: authentication first, then the service answers."""

    server: Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server_version = "stonith-mock-redfish/2"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(30)

    def _hang(self) -> bool:
        if self.server.service.faults.silent_after is None:
            return False
        # Accept, read, never answer: what fence_redfish hangs on.
        self.server.stop.wait()
        self.close_connection = True
        return True

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        service = self.server.service
        if service.slow > 0:
            self.server.stop.wait(service.slow)
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("OData-Version", "4.0")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Redfish"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def do_GET(self) -> None:
        if self._hang():
            return
        service = self.server.service
        path = self.path.split("?", 1)[0]
        if path.rstrip("/") not in ("/redfish", "/redfish/v1") and not service.authorized(self.headers):
            self._send(401, error_body("Base.1.8.NoValidSession", "authentication required"))
            return
        self._send(*service.get_with_headers(path))

    def do_POST(self) -> None:
        if self._hang():
            return
        service = self.server.service
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self._body()
        if path == "/redfish/v1/SessionService/Sessions":
            self._send(*service.login(body))
            return
        if not service.authorized(self.headers):
            self._send(401, error_body("Base.1.8.NoValidSession", "authentication required"))
            return
        self._send(*service.post(path, body))

    def do_DELETE(self) -> None:
        if self._hang():
            return
        service = self.server.service
        path = self.path.split("?", 1)[0]
        if not service.authorized(self.headers):
            self._send(401, error_body("Base.1.8.NoValidSession", "authentication required"))
            return
        if path.rstrip("/").startswith("/redfish/v1/SessionService/Sessions/"):
            status = service.logout(path)
            self._send(status, None if status == 204 else error_body("Base.1.8.ResourceMissingAtURI", path))
            return
        self._send(405, error_body("Base.1.8.ActionNotSupported", f"DELETE {path} not supported"))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # A BMC that restarts binds its port again at once, connections of its previous life in
    # TIME_WAIT or not (hwtests.netcampaign restarts mocks on their address).  Linux still refuses a
    # second listener on the port.
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None, stop: threading.Event) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        self.tls = tls
        self.stop = stop
        self.service: ServiceBase

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, peer = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, peer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a deadline, a killed fence agent, a cut network) is
        # how devices live; socketserver would print a traceback for each.  Anything else is a bug
        # of the mock and keeps its traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            try:
                request.settimeout(10)
                request.do_handshake()
            except OSError:
                return
        super().finish_request(request, client_address)


def self_signed(directory: str) -> tuple[str, str]:
    """A fresh self-signed certificate for 127.0.0.1/::1/localhost: (cert PEM path, key PEM path)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stonith-mock-redfish")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "redfish-mock.crt")
    key_path = os.path.join(directory, "redfish-mock.key")
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def _accept(servers: list[Server], stop: threading.Event) -> None:
    with selectors.DefaultSelector() as selector:
        for server in servers:
            selector.register(server.socket, selectors.EVENT_READ, server)
        while not stop.is_set():
            for key, _ in selector.select(0.2):
                key.data._handle_request_noblock()


class Listeners:
    """The HTTP(S) servers of a mock process (one per device) and their shared acceptor thread."""

    def __init__(self, config: MockConfig, listen: str | None, serial_link: str | None, count: int) -> None:
        import ssl

        from stonith.mocks._common import split_listen

        from stonith.contract.validation import join_hostport

        if serial_link:
            raise ValueError("a Redfish service has no serial link (use --listen)")
        host, port = split_listen(listen or "127.0.0.1:0")
        self.tmpdir = tempfile.mkdtemp(prefix="stonith-redfish-")
        tls_context: ssl.SSLContext | None = None
        self.cert = ""
        if config.options.get("tls", True):
            self.cert, key = self_signed(self.tmpdir)
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(self.cert, key)
        self.stop = threading.Event()
        self.servers: list[Server] = []
        try:
            for index in range(count):
                self.servers.append(Server((host, port + index if port else 0), tls_context, self.stop))
        except BaseException:
            self.close()
            raise
        self.scheme = "https" if tls_context is not None else "http"
        self.addresses = [join_hostport(host, s.server_address[1]) for s in self.servers]
        # One acceptor thread for every device (200 serve_forever loops would cost 200 threads and a
        # slow shutdown); each request is then handled in a thread of its own (ThreadingHTTPServer).
        self._acceptor = threading.Thread(
            target=_accept, args=(self.servers, self.stop), daemon=True, name="redfish-accept"
        )

    def url(self, address: str) -> str:
        return f"{self.scheme}://{address}"

    def start(self, services: Sequence[ServiceBase]) -> None:
        for server, service in zip(self.servers, services, strict=True):
            server.service = service
        self._acceptor.start()

    def info(self, config: MockConfig) -> dict[str, Any]:
        info: dict[str, Any] = {
            "type": config.type,
            "model": config.model,
            "address": self.addresses[0],
            "url": self.url(self.addresses[0]),
        }
        if self.cert:
            info["ca"] = self.cert
        if len(self.addresses) > 1:
            info["addresses"] = list(self.addresses)
        return info

    def close(self) -> None:
        self.stop.set()
        if self._acceptor_started():
            self._acceptor.join(2.0)
        for server in self.servers:
            with contextlib.suppress(AttributeError):
                server.service.close()
            server.server_close()
        with contextlib.suppress(OSError):
            for name in os.listdir(self.tmpdir):
                os.unlink(os.path.join(self.tmpdir, name))
            os.rmdir(self.tmpdir)

    def _acceptor_started(self) -> bool:
        return hasattr(self, "_acceptor") and self._acceptor.ident is not None


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> _bmc.RunningBmcs:
    options = config.options
    bad = [t for t in str(options.get("reset_types") or "").split(",") if t and t not in ALL_RESET_TYPES]
    if bad:
        raise ValueError(f"--reset-types: unknown {', '.join(bad)} (known: {', '.join(ALL_RESET_TYPES)})")
    systems = len(config.names)  # --outlets: ComputerSystems per BMC
    if not 1 <= systems <= 64:
        raise ValueError("--outlets (systems per BMC) must be within 1-64")
    ids = [i for i in str(options.get("system_ids") or "").split(",") if i]
    if len(set(ids)) != len(ids):
        raise ValueError("--system-ids: every system needs an Id of its own")
    listeners = Listeners(config, listen, serial_link, int(options.get("count") or 1))
    lab = _bmc.build_lab(config, listeners.addresses, systems)
    listeners.start([Service(lab.systems[a], config, listeners.url(a)) for a in listeners.addresses])
    lab.start()
    return _bmc.RunningBmcs(listeners.info(config), lab, [listeners.close])

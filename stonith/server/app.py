"""The HTTP application: JSON API (``/api/v1``, described at ``/openapi.json``), XML-RPC at ``/RPC2``,
Prometheus metrics at ``/metrics``, server-sent events at ``/api/v1/events``, ``/health``.

Starlette: a small, widely used ASGI toolkit (no ORM, no templating we do not need) served by uvicorn.
The engine blocks (device sessions, threads), so every operation runs in the thread pool; the event
loop only parses requests and streams events.

Every request but ``/health`` and ``/openapi.json`` is authenticated (HTTP basic or a bearer token,
stonith.server.auth, or the GUI's session cookie with its CSRF token on every change,
stonith.server.gui.sessions) and authorized by role: ``monitor`` reads, ``operator`` switches, ``admin``
changes devices.d.  A refused login is audited with the user and the source address; so is every
change.  No secret (device password, token, hash) is ever part of a response or an error.
"""

from __future__ import annotations

import asyncio
import json
import xmlrpc.client

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from stonith.contract.errors import BadConfig, StonithError, UnknownType
from stonith.render import marshal
from stonith.server.auth import AuthError, Principal
from stonith.server.gui.sessions import (
    COOKIE,
    CSRF_HEADER,
    SAFE_METHODS,
    CsrfRefused,
    SessionExpired,
    Sessions,
)
from stonith.server.service import VERBS, Actor, Conflict, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from typing import Any

    from stonith.server.auth import Authenticator
    from stonith.server.service import Service

MAX_BODY = 1024 * 1024  # a request larger than this is refused before it is parsed
# Worker threads per lane: fencing (on/off/reset, device changes, and their logins) never queues
# behind monitoring (status polls, health, metadata): with one shared pool of 40 threads, 200 status
# pollers made a reset wait 50 s (bench.service), Pacemaker's whole fence timeout.
LANES = {"fence": 64, "read": 16}
API = "/api/v1"


def create_app(service: Service, auth: Authenticator, *, sessions: Sessions | None = None) -> Starlette:
    """The application over ``service``, authenticating with ``auth``; the GUI (``/ui``) keeps its
    browser sessions in ``sessions``."""

    limiters: dict[str, Any] = {}
    sessions = sessions if sessions is not None else Sessions()

    async def in_thread(lane: str, fn: Callable[..., Any], *args: Any) -> Any:
        import functools

        import anyio.to_thread

        if lane not in limiters:  # made in the running loop, once
            limiters[lane] = anyio.CapacityLimiter(LANES[lane])
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiters[lane])

    async def principal(request: Request, needed: str) -> Principal:
        source = request.client.host if request.client else "?"
        header = request.headers.get("authorization")
        lane = "read" if needed == "monitor" else "fence"
        try:
            if header is None and COOKIE in request.cookies:
                who: Principal = await in_thread(lane, session_principal, request, source)
            else:
                who = await in_thread(lane, auth.authenticate, header, source)
            auth.require(who, needed)
        except AuthError as exc:
            raise _Refused(exc) from None
        return who

    def session_principal(request: Request, source: str) -> Principal:
        web = sessions.get(request.cookies.get(COOKIE))
        if web is None:
            raise SessionExpired("no live GUI session", source=source)
        role = dict(auth.users()).get(web.user)  # the users file as it is now: a deleted user is out
        if role is None:
            sessions.end_user(web.user)
            raise SessionExpired(f"GUI session of {web.user}, who is no user any more", source=source)
        if request.method not in SAFE_METHODS and not sessions.csrf_ok(web, request.headers.get(CSRF_HEADER)):
            raise CsrfRefused(
                "changing request without the session's CSRF token", user=web.user, source=source
            )
        return Principal(web.user, role, "session")

    def actor(request: Request, who: Principal) -> Actor:
        return Actor(who.user, request.client.host if request.client else "?")

    def endpoint(
        needed: str, body: Callable[[Request, Principal], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                who = await principal(request, needed)
                return JSONResponse(await body(request, who))
            except _Refused as refused:
                return _refusal(refused.error)
            except StonithError as exc:
                return _error(exc)

        return handle

    async def payload(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise BadConfig("request body too large")
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise BadConfig("request body is not JSON") from None
        if not isinstance(data, dict):
            raise BadConfig("request body must be a JSON object")
        return data

    async def types(request: Request, who: Principal) -> Any:
        return await in_thread("read", service.types)

    async def metadata(request: Request, who: Principal) -> Any:
        lang = request.query_params.get("lang")
        return await in_thread("read", service.metadata, request.path_params["type"], lang)

    async def defaults(request: Request, who: Principal) -> Any:
        return await in_thread("read", service.defaults, request.path_params["type"])

    async def validate(request: Request, who: Principal) -> Any:
        data = await payload(request)
        config = data.get("config", {})
        if not isinstance(config, dict):
            raise BadConfig("config must be an object")
        return await in_thread("read", service.validate, request.path_params["type"], config)

    async def devices(request: Request, who: Principal) -> Any:
        return await in_thread("read", service.devices)

    async def device(request: Request, who: Principal) -> Any:
        return await in_thread("read", service.device_config, request.path_params["name"])

    async def modify(request: Request, who: Principal) -> Any:
        data = await payload(request)
        changes, version = data.get("changes"), data.get("version")
        if not isinstance(changes, dict) or not isinstance(version, str):
            raise BadConfig('body must be {"changes": {...}, "version": "..."} (version from GET)')
        name = request.path_params["name"]
        return await in_thread("fence", service.modify_device, name, changes, version, actor(request, who))

    async def create(request: Request, who: Principal) -> Any:
        data = await payload(request)
        name = data.pop("name", None)
        if not isinstance(name, str):
            raise BadConfig('body must be {"name": "...", "type": "...", "parameters": {...}}')
        return await in_thread("fence", service.create_device, name, data, actor(request, who))

    async def probe(request: Request, who: Principal) -> Any:
        data = await payload(request)
        config, based_on = data.get("config", {}), data.get("device")
        if not isinstance(config, dict) or not isinstance(based_on, (str, type(None))):
            raise BadConfig('body must be {"config": {...}} (and "device": name when editing one)')
        return await in_thread("fence", service.probe_config, request.path_params["type"], config, based_on)

    async def check(request: Request, who: Principal) -> Any:
        return await in_thread("read", service.check_device, request.path_params["name"])

    async def status(request: Request, who: Principal) -> Any:
        nodeset = request.query_params.get("nodeset")
        return await in_thread("read", service.status, nodeset, actor(request, who))

    async def power(request: Request, who: Principal) -> Any:
        data = await payload(request)
        nodeset = data.get("nodeset")
        if not isinstance(nodeset, str):
            raise BadConfig('body must be {"nodeset": "node[1-4]"}')
        verb = request.path_params["verb"]
        return await in_thread("fence", service.power, verb, nodeset, actor(request, who))

    async def history(request: Request, who: Principal) -> Any:
        try:
            limit = max(1, min(10_000, int(request.query_params.get("limit", "100"))))
        except ValueError:
            raise BadConfig("limit must be an integer") from None
        return await in_thread("read", service.history.operations, limit)

    async def events(request: Request) -> Response:
        try:
            await principal(request, "monitor")
        except _Refused as refused:
            return _refusal(refused.error)
        return StreamingResponse(_event_stream(service, request), media_type="text/event-stream")

    async def metrics(request: Request) -> Response:
        try:
            await principal(request, "monitor")
        except _Refused as refused:
            return _refusal(refused.error)
        from prometheus_client import CONTENT_TYPE_LATEST

        text = await in_thread("read", _metrics_text, service)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def rpc(request: Request) -> Response:
        return await _xmlrpc(request, service, principal, actor, in_thread)

    routes = [
        Route("/health", health),
        Route("/openapi.json", openapi),
        Route("/metrics", metrics),
        Route("/RPC2", rpc, methods=["POST"]),
        Route(f"{API}/types", endpoint("monitor", types)),
        Route(f"{API}/types/{{type}}", endpoint("monitor", metadata)),
        Route(f"{API}/types/{{type}}/defaults", endpoint("monitor", defaults)),
        Route(f"{API}/types/{{type}}/validate", endpoint("monitor", validate), methods=["POST"]),
        Route(f"{API}/types/{{type}}/probe", endpoint("admin", probe), methods=["POST"]),
        Route(f"{API}/devices", endpoint("monitor", devices)),
        Route(f"{API}/devices", endpoint("admin", create), methods=["POST"]),
        Route(f"{API}/devices/{{name}}", endpoint("monitor", device)),
        Route(f"{API}/devices/{{name}}", endpoint("admin", modify), methods=["PATCH"]),
        Route(f"{API}/devices/{{name}}/check", endpoint("monitor", check), methods=["POST"]),
        Route(f"{API}/status", endpoint("monitor", status)),
        Route(f"{API}/power/{{verb}}", endpoint("operator", power), methods=["POST"]),
        Route(f"{API}/history", endpoint("monitor", history)),
        Route(f"{API}/events", events),
    ]
    from stonith.server.gui.routes import gui_routes

    routes += gui_routes(service, auth, sessions, in_thread)
    return Starlette(routes=routes)


class _Refused(Exception):
    def __init__(self, error: AuthError) -> None:
        self.error = error


def _refusal(error: AuthError) -> Response:
    # ``public`` never says whether the user exists; ``reason`` (for the audit) stays on our side.
    return JSONResponse({"error": error.public}, status_code=error.status, headers=error.headers())


def _error(exc: StonithError) -> Response:
    if isinstance(exc, BadConfig):
        problems = [{"field": p.field, "message": p.message} for p in exc.problems]
        return JSONResponse({"error": str(exc), "problems": problems}, status_code=400)
    status = 404 if isinstance(exc, (NotFound, UnknownType)) else 409 if isinstance(exc, Conflict) else 502
    return JSONResponse({"error": str(exc), "exit_code": int(exc.exit_code)}, status_code=status)


async def _event_stream(service: Service, request: Request) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

    def deliver(event: dict[str, Any]) -> None:
        # From engine threads: hand over to the loop; a client too slow to keep up loses events.
        loop.call_soon_threadsafe(lambda: None if queue.full() else queue.put_nowait(event))

    token = service.events.subscribe(deliver)
    try:
        yield ": stonith events\n\n"
        while not await request.is_disconnected():
            try:
                event = await asyncio.wait_for(queue.get(), timeout=15.0)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield f"event: {event['type']}\ndata: {json.dumps(event, sort_keys=True)}\n\n"
    finally:
        service.events.unsubscribe(token)


def _metrics_text(service: Service) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    class Collector:
        def collect(self) -> Any:
            up = GaugeMetricFamily(
                "stonith_device_up", "1 if the last health check passed", labels=["device"]
            )
            latency = GaugeMetricFamily(
                "stonith_device_check_seconds", "duration of the last health check", labels=["device"]
            )
            outlets = GaugeMetricFamily(
                "stonith_outlet_on",
                "1 on, 0 off, -1 unknown (last check)",
                labels=["device", "outlet", "name"],
            )
            for name, health in sorted(service.health.items()):
                up.add_metric([name], 1.0 if health.ok else 0.0)
                latency.add_metric([name], health.latency)
                for outlet, (label, state) in health.outlets.items():
                    value = 1.0 if state == "on" else 0.0 if state == "off" else -1.0
                    outlets.add_metric([name, outlet, label], value)
            ops = CounterMetricFamily(
                "stonith_operations", "node operations by verb and result", labels=["verb", "result"]
            )
            for (verb, result), count in sorted(service.operations_done.items()):
                ops.add_metric([verb, result], count)
            fenced = GaugeMetricFamily(
                "stonith_last_fence_timestamp_seconds", "last verified fence of a node", labels=["node"]
            )
            for node, when in sorted(service.last_fenced.items()):
                fenced.add_metric([node], when)
            yield from (up, latency, outlets, ops, fenced)

    registry = CollectorRegistry()
    registry.register(Collector())
    text: bytes = generate_latest(registry)
    return text


# -- XML-RPC --------------------------------------------------------------------------------------

# method -> (role, help, call(service, actor, *params))
_RPC: dict[str, tuple[str, str, Callable[..., Any]]] = {
    "stonith.types": ("monitor", "Installed device types: [{type, description}].", lambda s, a: s.types()),
    "stonith.metadata": (
        "monitor",
        "metadata(type[, lang]): a driver's self-configuration description.",
        lambda s, a, t, lang=None: s.metadata(t, lang),
    ),
    "stonith.defaults": (
        "monitor",
        "defaults(type): the configuration used when nothing is given.",
        lambda s, a, t: s.defaults(t),
    ),
    "stonith.validate": (
        "monitor",
        "validate(type, config): {ok, config (redacted)} or {ok: false, problems}.",
        lambda s, a, t, c: s.validate(t, c),
    ),
    "stonith.devices": ("monitor", "The devices of devices.d, with their health.", lambda s, a: s.devices()),
    "stonith.device": (
        "monitor",
        "device(name): its configuration (secrets redacted) and version.",
        lambda s, a, n: s.device_config(n),
    ),
    "stonith.modify": (
        "admin",
        "modify(name, changes, version): change parameters (validated, atomic; 409 if the file changed).",
        lambda s, a, n, c, v: s.modify_device(n, c, v, a),
    ),
    "stonith.check": (
        "monitor",
        "check(name): log in and read every outlet now.",
        lambda s, a, n: s.check_device(n),
    ),
    "stonith.status": (
        "monitor",
        "status([nodeset]): every node's state as read from its devices.",
        lambda s, a, n="": s.status(n, a),
    ),
    "stonith.history": (
        "monitor",
        "history([limit]): the newest operations.",
        lambda s, a, limit=100: s.history.operations(limit),
    ),
}
for _verb in VERBS:
    _RPC[f"stonith.{_verb}"] = (
        "operator",
        f"{_verb}(nodeset): verified {_verb} through the engine; per-node, per-outlet results.",
        lambda s, a, n, _v=_verb: s.power(_v, n, a),
    )


async def _xmlrpc(
    request: Request,
    service: Service,
    principal: Callable[[Request, str], Awaitable[Principal]],
    actor: Callable[[Request, Principal], Actor],
    in_thread: Callable[..., Awaitable[Any]],
) -> Response:
    def reply(value: Any) -> Response:
        body = xmlrpc.client.dumps((marshal.plain(value),), methodresponse=True, allow_none=True)
        return Response(body, media_type="text/xml")

    def fault(code: int, text: str) -> Response:
        return Response(
            xmlrpc.client.dumps(xmlrpc.client.Fault(code, text), allow_none=True), media_type="text/xml"
        )

    raw = await request.body()
    if len(raw) > MAX_BODY:
        return fault(400, "request too large")
    try:
        params, method = xmlrpc.client.loads(raw.decode("utf-8", "replace"))
    except Exception:  # expat and xmlrpc raise several kinds; all mean a bad request
        return fault(400, "not an XML-RPC request")
    if method in ("system.listMethods", "system.methodHelp", "system.methodSignature"):
        if method == "system.listMethods":
            return reply(sorted([*_RPC, "system.listMethods", "system.methodHelp", "system.methodSignature"]))
        name = str(params[0]) if params else ""
        if method == "system.methodHelp":
            return reply(_RPC[name][1] if name in _RPC else "")
        return reply("signatures not supported")
    if method not in _RPC:
        return fault(404, f"no method {method!r}")
    role, _, call = _RPC[method]
    try:
        who = await principal(request, role)
    except _Refused as refused:
        return fault(refused.error.status, refused.error.public)
    try:
        lane = "read" if role == "monitor" else "fence"
        result = await in_thread(lane, call, service, actor(request, who), *params)
    except BadConfig as exc:
        return fault(400, str(exc))
    except StonithError as exc:
        return fault(
            404 if isinstance(exc, (NotFound, UnknownType)) else 409 if isinstance(exc, Conflict) else 502,
            str(exc),
        )
    except TypeError:
        return fault(400, f"wrong arguments for {method}; see system.methodHelp")
    return reply(result)


# -- OpenAPI --------------------------------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.0 description of the JSON API."""
    obj = {"type": "object"}
    arr = {"type": "array", "items": obj}
    err = {"description": "error", "content": {"application/json": {"schema": obj}}}

    def op(
        summary: str,
        role: str,
        schema: dict[str, Any],
        body: dict[str, Any] | None = None,
        params: list[Any] | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": f"{summary} (role: {role})",
            "security": [{"basic": []}, {"bearer": []}],
            "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": schema}}},
                "400": err,
                "401": err,
                "403": err,
                "429": err,
            },
        }
        if body is not None:
            out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        if params:
            out["parameters"] = params
        return out

    def path(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    def query(name: str, kind: str = "string") -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": {"type": kind}}

    modify_body = {
        "type": "object",
        "required": ["changes", "version"],
        "properties": {"changes": obj, "version": {"type": "string"}},
    }
    nodeset_body = {"type": "object", "required": ["nodeset"], "properties": {"nodeset": {"type": "string"}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "stonith",
            "version": "0.1.0",
            "description": "Remote administration of fencing devices",
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            }
        },
        "paths": {
            f"{API}/types": {"get": op("installed types", "monitor", arr)},
            f"{API}/types/{{type}}": {
                "get": op("metadata of a type", "monitor", obj, params=[path("type"), query("lang")])
            },
            f"{API}/types/{{type}}/defaults": {
                "get": op("defaults of a type", "monitor", obj, params=[path("type")])
            },
            f"{API}/types/{{type}}/validate": {
                "post": op(
                    "validate a configuration",
                    "monitor",
                    obj,
                    {"type": "object", "properties": {"config": obj}},
                    [path("type")],
                )
            },
            f"{API}/types/{{type}}/probe": {
                "post": op(
                    "test connection: log in with an unsaved configuration and read every outlet",
                    "admin",
                    obj,
                    {"type": "object", "properties": {"config": obj, "device": {"type": "string"}}},
                    [path("type")],
                )
            },
            f"{API}/devices": {
                "get": op("devices with health", "monitor", arr),
                "post": op(
                    "create a device file in devices.d (validated, atomic, 0600)",
                    "admin",
                    obj,
                    {
                        "type": "object",
                        "required": ["name", "type", "parameters"],
                        "properties": {
                            "name": {"type": "string"},
                            "type": {"type": "string"},
                            "parameters": obj,
                            "hosts": obj,
                            "level": {"type": "integer"},
                            "settle": {"type": "number"},
                            "timeout": {"type": "number"},
                            "description": {"type": "string"},
                        },
                    },
                ),
            },
            f"{API}/devices/{{name}}": {
                "get": op(
                    "a device's configuration, secrets redacted", "monitor", obj, params=[path("name")]
                ),
                "patch": op("change a device's parameters", "admin", obj, modify_body, [path("name")]),
            },
            f"{API}/devices/{{name}}/check": {
                "post": op("check a device now", "monitor", obj, params=[path("name")])
            },
            f"{API}/status": {"get": op("node states", "monitor", arr, params=[query("nodeset")])},
            f"{API}/power/{{verb}}": {
                "post": op(
                    "on, off or reset a node set (verified)", "operator", obj, nodeset_body, [path("verb")]
                )
            },
            f"{API}/history": {
                "get": op("operations, newest first", "monitor", arr, params=[query("limit", "integer")])
            },
            f"{API}/events": {
                "get": {
                    "summary": "server-sent events: node progress, outlet states, device health "
                    "(role: monitor)",
                    "security": [{"basic": []}, {"bearer": []}],
                    "responses": {"200": {"description": "text/event-stream"}},
                }
            },
        },
    }

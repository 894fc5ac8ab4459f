"""The GUI's routes under ``/ui``: login and logout, the pages, the static files.

Pages need a live session (else: the login page, then back); they only read.  Changes are made by
the page's script through ``/api/v1`` with the session cookie and the CSRF token, where the role
is checked: a page never switches or writes anything itself.
"""

from __future__ import annotations

import base64
import os
import urllib.parse

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from stonith.contract.errors import StonithError
from stonith.server.auth import AuthError
from stonith.server.gui import pages
from stonith.server.gui.sessions import COOKIE, Sessions, WebSession

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from stonith.server.auth import Authenticator
    from stonith.server.service import Service

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
LANG_COOKIE = "stonith_lang"
# Everything the pages load comes from here; nothing inline is executed (data travels in
# non-executed JSON script elements and data-* attributes).
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_FORM = 16 * 1024


def language(request: Request) -> tuple[str, bool]:
    """The page language: ``?lang=``, else the language cookie, else Accept-Language; (code, chosen now)."""
    asked = request.query_params.get("lang")
    if asked in pages.LANGUAGE_NAMES:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in pages.LANGUAGE_NAMES:
        return cookie, False
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in pages.LANGUAGE_NAMES:
            return code, False
    return "en", False


def gui_routes(
    service: Service,
    auth: Authenticator,
    sessions: Sessions,
    in_thread: Callable[..., Awaitable[Any]],
) -> list[Route]:
    from stonith.render.i18n import translator

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def respond(request: Request, html: str, status: int = 200) -> Response:
        response = HTMLResponse(html, status_code=status, headers=_HEADERS)
        lang, chosen = language(request)
        if chosen:
            response.set_cookie(
                LANG_COOKIE, lang, max_age=365 * 86400, path="/ui", secure=secure(request), samesite="strict"
            )
        return response

    def context(request: Request, web: WebSession | None = None, role: str = "") -> pages.Context:
        lang, _ = language(request)
        if web is None:
            return pages.Context(translator(lang), lang)
        return pages.Context(translator(lang), lang, web.user, role, web.csrf)

    def current(request: Request) -> tuple[WebSession, str] | None:
        web = sessions.get(request.cookies.get(COOKIE))
        if web is None:
            return None
        try:
            role = dict(auth.users()).get(web.user)
        except AuthError:
            return None
        if role is None:
            sessions.end_user(web.user)
            return None
        return web, role

    def to_login(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?next={urllib.parse.quote(target, safe='')}", status_code=303)

    def page(
        active: str, render: Callable[[Request, pages.Context], Awaitable[str]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            found = current(request)
            if found is None:
                return to_login(request)
            ctx = context(request, *found)
            try:
                return respond(request, await render(request, ctx))
            except StonithError as exc:
                status = int(getattr(exc, "status", 0) or 502)
                status = status if 400 <= status < 600 else 502
                return respond(request, pages.message(ctx, ctx.tr("Error"), str(exc), active), status)

        return handle

    # -- login / logout
    async def login_page(request: Request) -> Response:
        if current(request) is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        ctx = context(request)
        return respond(request, pages.login(ctx, next_path=_safe_next(request.query_params.get("next"))))

    async def login(request: Request) -> Response:
        ctx = context(request)
        if not _same_origin(request):
            return respond(
                request, pages.login(ctx, ctx.tr("Login refused: the form came from another site.")), 403
            )
        form = await _form(request)
        user, password = form.get("user", ""), form.get("password", "")
        next_path = _safe_next(form.get("next"))
        source = request.client.host if request.client else "?"
        header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        try:
            who = await in_thread("fence", auth.authenticate, header, source)
        except AuthError as exc:
            text = (
                ctx.tr("Too many failed logins; try again later.")
                if exc.status == 429
                else ctx.tr("Wrong user name or password.")
            )
            return respond(
                request, pages.login(ctx, text, next_path, user), 429 if exc.status == 429 else 401
            )
        token, _ = sessions.create(who.user)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(COOKIE, token, path="/", httponly=True, secure=secure(request), samesite="strict")
        return response

    async def logout(request: Request) -> Response:
        web = sessions.get(request.cookies.get(COOKIE))
        form = await _form(request)
        if web is not None and sessions.csrf_ok(web, form.get("csrf")):
            sessions.end(request.cookies.get(COOKIE))
        elif web is not None:
            return Response("CSRF token missing or wrong", status_code=403, headers=_HEADERS)
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, secure=secure(request), samesite="strict")
        return response

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/nodes", status_code=303)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        suffix = os.path.splitext(name)[1]
        if "/" in name or name.startswith(".") or suffix not in _STATIC_TYPES:
            return Response("not found", status_code=404)
        try:
            with open(os.path.join(STATIC, name), "rb") as handle:
                data = handle.read()
        except OSError:
            return Response("not found", status_code=404)
        headers = {**_HEADERS, "Cache-Control": "no-cache"}
        return Response(data, media_type=_STATIC_TYPES[suffix], headers=headers)

    # -- pages
    async def devices_page(request: Request, ctx: pages.Context) -> str:
        rows = await in_thread("read", service.devices)
        types = await in_thread("read", service.types) if ctx.can_configure else []
        return pages.devices(ctx, rows, types)

    async def new_device_page(request: Request, ctx: pages.Context) -> str:
        type_name = request.query_params.get("type", "")
        info = await in_thread("read", service.metadata, type_name, ctx.lang)
        values = await in_thread("read", service.defaults, type_name)
        return pages.device_form(ctx, info, values=values, device=None, special_regex=_special())

    async def device_page(request: Request, ctx: pages.Context) -> str:
        config = await in_thread("read", service.device_config, request.path_params["name"])
        info = await in_thread("read", service.metadata, config["type"], ctx.lang)
        values = dict(config["parameters"])
        for field in info["fields"]:  # a secret's value never goes to the browser, not even redacted
            if field.get("specialtype") == "secret":
                values.pop(field["fieldname"], None)
        return pages.device_form(ctx, info, values=values, device=config, special_regex=_special())

    async def status(request: Request, nodeset: str | None) -> list[dict[str, Any]]:
        from stonith.server.service import Actor

        found = current(request)
        user = found[0].user if found else "?"
        source = request.client.host if request.client else "?"
        result: list[dict[str, Any]] = await in_thread("read", service.status, nodeset, Actor(user, source))
        # A status read tries no level, so the engine reports none: show each device's configured one.
        levels = {d.name: d.level for d in service.inventory().devices}
        for node in result:
            for device in node.get("devices") or []:
                device["level"] = device.get("level") or levels.get(str(device.get("device")))
        return result

    async def nodes_page(request: Request, ctx: pages.Context) -> str:
        nodeset = request.query_params.get("nodeset", "")
        return pages.nodes(ctx, await status(request, nodeset or None), nodeset)

    async def node_rows(request: Request, ctx: pages.Context) -> str:
        return pages.node_rows(ctx, await status(request, request.query_params.get("nodeset") or None))

    async def node_page(request: Request, ctx: pages.Context) -> str:
        node = request.path_params["node"]
        results = await status(request, node)
        result = next((r for r in results if str(r.get("node")).lower() == node.lower()), None)
        configured = [
            {"device": d.name, "level": d.level, "outlets": outlets}
            for d in service.inventory().devices
            for n, outlets in (d.hosts or {}).items()
            if n.lower() == node.lower()
        ]
        return pages.node_topology(ctx, node, result, configured)

    async def history_page(request: Request, ctx: pages.Context) -> str:
        return pages.history(ctx, await in_thread("read", service.history.operations, 50))

    async def fragment(request: Request) -> Response:
        found = current(request)
        if found is None:
            return Response("session expired", status_code=401, headers=_HEADERS)
        try:
            html = await node_rows(request, context(request, *found))
        except StonithError as exc:
            return Response(str(exc), status_code=502, headers=_HEADERS)
        return HTMLResponse(html, headers=_HEADERS)

    return [
        Route("/ui", root),
        Route("/ui/", root),
        Route("/ui/login", login_page),
        Route("/ui/login", login, methods=["POST"]),
        Route("/ui/logout", logout, methods=["POST"]),
        Route("/ui/static/{name}", static),
        Route("/ui/devices", page("devices", devices_page)),
        Route("/ui/devices/new", page("devices", new_device_page)),
        Route("/ui/devices/{name}", page("devices", device_page)),
        Route("/ui/nodes", page("nodes", nodes_page)),
        Route("/ui/fragments/nodes", fragment),
        Route("/ui/nodes/{node}", page("nodes", node_page)),
        Route("/ui/history", page("history", history_page)),
    ]


def _special() -> dict[str, Any]:
    """What the page's script needs to check specialtypes as stonith.contract.validation does: its regexes and
    the pyserial URL schemes a tty accepts (the one table, sent, not copied into the script)."""
    from stonith.contract.fields import SERIAL_URL_SCHEMES, SPECIAL_REGEX

    return {"regex": SPECIAL_REGEX, "serial_schemes": list(SERIAL_URL_SCHEMES)}


def _safe_next(value: str | None) -> str:
    """Only a path of this GUI: a login must never redirect to another site."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/nodes"


def _same_origin(request: Request) -> bool:
    """A login posted from another site is refused (login CSRF); browsers send Origin on POST."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # no Origin: not a browser form post from elsewhere (curl, old agents)
    host = request.headers.get("host", "")
    return urllib.parse.urlsplit(origin).netloc == host


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))

"""The redfish driver against hostile services (issue 21 item 3): deadlines hold, credentials stay home.

``Service`` is a small local HTTP server that plays just enough of a Redfish service (root,
Systems, one system reporting Off) and can be told to misbehave per path: drip its answer a byte
at a time, send an endless body, point to another origin or redirect there.  ``Thief`` is that
other origin: it records every request, and none may reach it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from stonith.drivers.redfish import Redfish

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, Outlet
from stonith.contract.errors import DeviceError, StonithError, Timeout
from stonith.transport import http
from tests.conftest import run_stonith

USER, PASSWORD = "admin", "s3cret"

Behaviour = Callable[[BaseHTTPRequestHandler], None]


def send_json(handler: BaseHTTPRequestHandler, data: object, status: int = 200, **headers: str) -> None:
    body = json.dumps(data).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


class Server:
    """A threaded HTTP server on 127.0.0.1 answering from ``routes`` (path -> behaviour)."""

    def __init__(self, routes: dict[str, Behaviour]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests.append((self.command, self.path, dict(self.headers)))
                behaviour = server.routes.get(self.path.rstrip("/") or "/")
                if behaviour is None:
                    send_json(self, {"error": {"code": "NotFound"}}, 404)
                else:
                    behaviour(self)

            do_GET = do_POST = do_DELETE = do_PATCH = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def redfish_routes(**override: Behaviour) -> dict[str, Behaviour]:
    routes: dict[str, Behaviour] = {
        "/redfish/v1": lambda h: send_json(
            h,
            {
                "RedfishVersion": "1.6.0",
                "Systems": {"@odata.id": "/redfish/v1/Systems"},
                "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}},
            },
        ),
        "/redfish/v1/Systems": lambda h: send_json(h, {"Members": [{"@odata.id": "/redfish/v1/Systems/1"}]}),
        "/redfish/v1/Systems/1": lambda h: send_json(h, {"PowerState": "Off", "HostName": "node1"}),
        "/redfish/v1/SessionService/Sessions": lambda h: send_json(
            h, {}, 201, X_Auth_Token="t0ken", Location="/redfish/v1/SessionService/Sessions/1"
        ),
        "/redfish/v1/SessionService/Sessions/1": lambda h: send_json(h, {}),
    }
    routes.update(override)
    return routes


def driver(service: Server, **extra: object) -> Redfish:
    config: dict[str, object] = {
        "hostname": "node1",
        "ipaddr": f"127.0.0.1:{service.port}",
        "ssl": False,
        "login": USER,
        "password": PASSWORD,
    }
    config.update(extra)
    return Redfish(config)


def drip(body: bytes, every: float = 0.5) -> Behaviour:
    """Headers at once, then the body one byte every ``every`` seconds."""

    def behaviour(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(every)
        except OSError:
            pass  # the client gave up, as it should

    return behaviour


def drip_headers(every: float = 0.5) -> Behaviour:
    """The status line and headers one byte every ``every`` seconds."""

    def behaviour(handler: BaseHTTPRequestHandler) -> None:
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 200:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(every)
        except OSError:
            pass

    return behaviour


def endless(handler: BaseHTTPRequestHandler) -> None:
    """A chunked body that never ends, as fast as the client reads."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"[" * 65536
    try:
        for _ in range(4096):  # 256 MiB at most: the client must have stopped long before
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Deadlines and sizes


@pytest.mark.parametrize("behaviour", [drip(b'{"RedfishVersion": "1.6.0"}' * 4), drip_headers()])
def test_a_dripping_service_does_not_stretch_the_deadline(behaviour: Behaviour) -> None:
    with Server(redfish_routes(**{"/redfish/v1": behaviour})) as service:
        device = driver(service)
        started = time.monotonic()
        with pytest.raises(Timeout):
            device.connect(Deadline(2))
        elapsed = time.monotonic() - started
        device.disconnect()
    assert elapsed < 2.5, f"{elapsed:.2f} s for a 2 s deadline"


def test_a_dripping_service_through_the_command() -> None:
    with Server(redfish_routes(**{"/redfish/v1/Systems/1": drip(b'{"PowerState": "Off"}' * 8)})) as service:
        started = time.monotonic()
        run_stonith("-t", "redfish", "-n")
        start_up = time.monotonic() - started
        started = time.monotonic()
        result = run_stonith(
            "-t",
            "redfish",
            "--timeout",
            "2",
            "hostname=node1",
            f"ipaddr=127.0.0.1:{service.port}",
            "ssl=no",
            f"login={USER}",
            f"password={PASSWORD}",
            "-T",
            "off",
            "node1",
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 6, (result.returncode, result.stderr)  # S_TIMEOUT, never verified
    assert "Traceback" not in result.stderr
    assert elapsed - start_up < 2.5, f"took {elapsed:.1f} s ({start_up:.1f} s of it to start)"


def test_an_endless_body_is_refused_at_the_size_cap() -> None:
    with Server(redfish_routes(**{"/redfish/v1/Systems/1": endless})) as service:
        device = driver(service)
        started = time.monotonic()
        with pytest.raises(DeviceError, match="more than"):
            device.connect(Deadline(10))
        device.disconnect()
    assert time.monotonic() - started < 5


def test_a_declared_huge_body_is_refused_before_reading_it() -> None:
    def huge(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(1 << 40))
        handler.end_headers()

    with Server(redfish_routes(**{"/redfish/v1": huge})) as service:
        device = driver(service)
        with pytest.raises(DeviceError, match="bytes"):
            device.connect(Deadline(5))
        device.disconnect()


# ---------------------------------------------------------------------------------------------
# Credentials only to the configured origin


@pytest.mark.parametrize("auth_method", ["basic", "session"])
@pytest.mark.parametrize("trick", ["absolute member", "redirect", "absolute session link", "userinfo"])
def test_credentials_never_leave_the_configured_origin(auth_method: str, trick: str) -> None:
    with Server(redfish_routes()) as thief:
        elsewhere = f"{thief.origin}/redfish/v1/Systems/1"
        override: dict[str, Behaviour] = {}
        if trick == "absolute member":
            override["/redfish/v1/Systems"] = lambda h: send_json(h, {"Members": [{"@odata.id": elsewhere}]})
        elif trick == "redirect":
            override["/redfish/v1/Systems/1"] = lambda h: send_json(h, {}, 302, Location=elsewhere)
        elif trick == "absolute session link":
            override["/redfish/v1"] = lambda h: send_json(
                h,
                {
                    "Systems": {"@odata.id": "/redfish/v1/Systems"},
                    "Links": {
                        "Sessions": {"@odata.id": f"{thief.origin}/redfish/v1/SessionService/Sessions"}
                    },
                },
            )
        else:  # a reference that a naive base + path concatenation turns into a URL with userinfo
            override["/redfish/v1/Systems"] = lambda h: send_json(
                h, {"Members": [{"@odata.id": f"@127.0.0.1:{thief.port}/redfish/v1/Systems/1"}]}
            )
        with Server(redfish_routes(**override)) as service:
            device = driver(service, auth_method=auth_method)
            try:
                device.connect(Deadline(5))
                device.status(Outlet("1", "node1"), Deadline(5))
            except StonithError:
                pass  # refusing is the point; what matters is who heard from us
            finally:
                device.disconnect()
        assert thief.requests == [], f"sent to another origin: {thief.requests}"
        if trick != "userinfo":
            assert any(path.startswith("/redfish/v1") for _, path, _ in service.requests)


def test_the_session_location_elsewhere_gets_no_token() -> None:
    with Server(redfish_routes()) as thief:
        override: dict[str, Behaviour] = {
            "/redfish/v1/SessionService/Sessions": lambda h: send_json(
                h,
                {},
                201,
                X_Auth_Token="t0ken",
                Location=f"{thief.origin}/redfish/v1/SessionService/Sessions/1",
            )
        }
        with Server(redfish_routes(**override)) as service:
            device = driver(service, auth_method="session")
            device.connect(Deadline(5))
            assert device.status(Outlet("1", "node1"), Deadline(5)) == OFF
            device.disconnect()  # DELETE of the session: its path, at our own origin only
        assert thief.requests == []


def test_same_origin_redirects_are_still_followed() -> None:
    override: dict[str, Behaviour] = {
        "/redfish/v1/Systems": lambda h: send_json(h, {}, 301, Location="/redfish/v1/Systems/Index"),
        "/redfish/v1/Systems/Index": lambda h: send_json(
            h, {"Members": [{"@odata.id": "/redfish/v1/Systems/1"}]}
        ),
    }
    with Server(redfish_routes(**override)) as service:
        device = driver(service, auth_method="basic")  # the default, auto, would open a session
        device.connect(Deadline(5))
        try:
            assert device.status(Outlet("1", "node1"), Deadline(5)) == OFF
        finally:
            device.disconnect()
        assert all(
            headers.get("Authorization") for _, path, headers in service.requests if path != "/redfish/v1/"
        )


@pytest.mark.parametrize(
    ("reference", "allowed"),
    [
        ("/redfish/v1/Systems/1", True),
        ("http://127.0.0.1:8000/redfish/v1", True),
        ("HTTP://127.0.0.1:8000/x", True),
        ("Systems/1", True),
        ("http://127.0.0.1:8001/redfish/v1", False),
        ("https://127.0.0.1:8000/redfish/v1", False),
        ("//evil.example/redfish/v1", False),
        ("http://user@127.0.0.1:8000/x", False),
        ("http://127.0.0.1:8000@evil.example/x", False),
        ("/redfish/v1/\r\nX-Injected: 1", False),
        ("javascript:alert(1)", False),
    ],
)
def test_resolve_keeps_to_the_origin(reference: str, allowed: bool) -> None:
    base = "http://127.0.0.1:8000"
    if allowed:
        assert http.origin(http.resolve(base, reference)) == http.origin(base)
    else:
        with pytest.raises(http.OriginRefused):
            http.resolve(base, reference)

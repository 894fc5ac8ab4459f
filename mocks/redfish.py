"""Redfish BMC mock: service root, one ComputerSystem per BMC, Reset action, sessions, over HTTPS
(a self-signed certificate generated at start) or HTTP; many BMCs from one process.

    stonith-mock redfish [--listen 127.0.0.1:0] [--count N] [--hosts a,b,...] [--tls | --no-tls]
                 [--system-id 1] [--reset-types On,ForceOff,...] [--action-info] [--no-sessions]
                 [--username U] [--password P | STONITH_MOCK_PASSWORD] [--relay-delay S]
                 [--off-delay S] [--on-delay S] [--slow S] [--fault ...] [--state-file F]

The ready line adds ``"url"`` (the first BMC's base URL) and, with TLS, ``"ca"``: the PEM file of
the self-signed certificate (its subject alternative names are 127.0.0.1, ::1 and localhost), to
give clients as their CA bundle.

Resources: ``/redfish/v1/`` (no authentication), ``/redfish/v1/Systems``, ``/redfish/v1/Systems/<id>``
with ``PowerState`` (``On``, ``Off``, ``PoweringOn``, ``PoweringOff`` while the chassis follows a
command) and the ``#ComputerSystem.Reset`` action, whose allowed values are listed inline
(``ResetType@Redfish.AllowableValues``) or behind ``@Redfish.ActionInfo`` (``--action-info``);
``/redfish/v1/SessionService/Sessions`` (POST -> 201 with X-Auth-Token and Location; DELETE).
Basic authentication and session tokens are both accepted; anything else gets 401 with a Redfish
error body.  A ResetType not allowed gets 400 ``Base.1.8.ActionParameterNotSupported``.

Reset semantics: On/ForceOn -> on; ForceOff/GracefulShutdown -> off; PowerCycle -> off then on
(only from on; from off 409); ForceRestart/GracefulRestart -> a reset (power stays on; 409 from
off); Nmi -> recorded.  Ground truth, delays and faults: stonith.mocks._bmc.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from stonith.mocks import _bmc
from stonith.mocks._bmc import OFF, ON, Chassis

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import ssl
    from typing import Any

    from stonith.mocks._common import MockConfig

MODELS = {"generic": "Redfish 1.x BMC (ComputerSystem.Reset, sessions)"}
DEFAULT_MODEL = "generic"
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
default_outlets = _bmc.default_outlets
default_names = _bmc.default_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    import argparse

    _bmc.add_common_arguments(parser)
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve HTTPS with a self-signed certificate (default) or plain HTTP",
    )
    parser.add_argument("--system-id", default="1", metavar="ID", help="the ComputerSystem's Id (default 1)")
    parser.add_argument(
        "--reset-types",
        default=",".join(DEFAULT_RESET_TYPES),
        metavar="LIST",
        help="ResetType values the system allows",
    )
    parser.add_argument(
        "--action-info",
        action="store_true",
        help="list allowed values behind @Redfish.ActionInfo instead of inline",
    )
    parser.add_argument(
        "--sessions-enabled",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="offer the SessionService (default yes)",
    )


def error_body(message_id: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": message_id,
            "message": message,
            "@Message.ExtendedInfo": [{"MessageId": message_id, "Message": message}],
        }
    }


class Service:
    """One BMC's Redfish service."""

    def __init__(self, chassis: Chassis, config: MockConfig, base_url: str) -> None:
        self.chassis = chassis
        self.config = config
        self.faults = config.faults
        options = config.options
        self.system_id = str(options.get("system_id") or "1")
        self.reset_types = [t for t in str(options.get("reset_types") or "").split(",") if t] or list(
            DEFAULT_RESET_TYPES
        )
        self.action_info = bool(options.get("action_info"))
        self.sessions_enabled = bool(options.get("sessions_enabled", True))
        self.slow = float(options.get("slow") or 0.0)
        self.base_url = base_url
        self.tokens: dict[str, str] = {}  # token -> session id
        self._lock = threading.Lock()
        self._next_session = 1

    @property
    def system_path(self) -> str:
        return f"/redfish/v1/Systems/{self.system_id}"

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

    def power_state(self) -> str:
        reported = self.chassis.reported()
        pending = self.chassis.pending()
        if pending is not None and pending != reported:
            return "PoweringOff" if pending == OFF else "PoweringOn"
        return "On" if reported == ON else "Off"

    def get(self, path: str) -> tuple[int, Any]:
        path = path.rstrip("/") or "/"
        if path == "/redfish/v1":
            body = {
                "@odata.id": "/redfish/v1/",
                "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
                "Id": "RootService",
                "Name": "Root Service",
                "RedfishVersion": "1.8.0",
                "Systems": {"@odata.id": "/redfish/v1/Systems"},
            }
            if self.sessions_enabled:
                body["SessionService"] = {"@odata.id": "/redfish/v1/SessionService"}
                body["Links"] = {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}
            return 200, body
        if path == "/redfish":
            return 200, {"v1": "/redfish/v1/"}
        if path == "/redfish/v1/Systems":
            return 200, {
                "@odata.id": "/redfish/v1/Systems",
                "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
                "Name": "Computer System Collection",
                "Members@odata.count": 1,
                "Members": [{"@odata.id": self.system_path}],
            }
        if path == self.system_path:
            action: dict[str, Any] = {"target": f"{self.system_path}/Actions/ComputerSystem.Reset"}
            if self.action_info:
                action["@Redfish.ActionInfo"] = f"{self.system_path}/ResetActionInfo"
            else:
                action["ResetType@Redfish.AllowableValues"] = list(self.reset_types)
            return 200, {
                "@odata.id": self.system_path,
                "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
                "Id": self.system_id,
                "Name": "System",
                "HostName": self.chassis.name,
                "SystemType": "Physical",
                "PowerState": self.power_state(),
                "Status": {"State": "Enabled", "Health": "OK"},
                "Actions": {"#ComputerSystem.Reset": action},
            }
        if path == f"{self.system_path}/ResetActionInfo" and self.action_info:
            return 200, {
                "@odata.id": path,
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
        if path == "/redfish/v1/SessionService/Sessions" and self.sessions_enabled:
            with self._lock:
                members = [
                    {"@odata.id": f"/redfish/v1/SessionService/Sessions/{s}"} for s in self.tokens.values()
                ]
            return 200, {"@odata.id": path, "Members": members, "Members@odata.count": len(members)}
        return 404, error_body("Base.1.8.ResourceMissingAtURI", f"{path} not found")

    def reset(self, body: Any) -> tuple[int, Any]:
        reset_type = body.get("ResetType") if isinstance(body, dict) else None
        if reset_type not in self.reset_types:
            return 400, error_body(
                "Base.1.8.ActionParameterNotSupported",
                f"ResetType {reset_type!r} is not supported by this system",
            )
        chassis = self.chassis
        if reset_type in ("On", "ForceOn"):
            chassis.power(ON)
        elif reset_type in ("ForceOff", "GracefulShutdown"):
            chassis.power(OFF)
        elif reset_type == "PushPowerButton":
            chassis.power(OFF if chassis.reported() == ON else ON)
        elif reset_type in ("PowerCycle", "ForceRestart", "GracefulRestart"):
            if chassis.reported() == OFF:
                return 409, error_body("Base.1.8.ActionNotSupported", f"{reset_type} needs the system on")
            chassis.cycle() if reset_type == "PowerCycle" else chassis.reset()
        elif reset_type == "Nmi":
            chassis.record("diag")
        return 204, None

    def login(self, body: Any) -> tuple[int, Any, dict[str, str]]:
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
        location = f"/redfish/v1/SessionService/Sessions/{sid}"
        return (
            201,
            {"@odata.id": location, "Id": sid, "UserName": self.config.username},
            {"X-Auth-Token": token, "Location": location},
        )

    def logout(self, path: str) -> int:
        sid = path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            for token, value in list(self.tokens.items()):
                if value == sid:
                    del self.tokens[token]
                    return 204
        return 404


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server_version = "stonith-mock-redfish/1"

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
        self._send(*service.get(path))

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
        if path == f"{service.system_path}/Actions/ComputerSystem.Reset":
            self._send(*service.reset(body))
            return
        self._send(
            405 if path.startswith("/redfish/v1") else 404,
            error_body("Base.1.8.ActionNotSupported", f"POST {path} not supported"),
        )

    def do_DELETE(self) -> None:
        if self._hang():
            return
        service = self.server.service
        path = self.path.split("?", 1)[0]
        if not service.authorized(self.headers):
            self._send(401, error_body("Base.1.8.NoValidSession", "authentication required"))
            return
        if path.startswith("/redfish/v1/SessionService/Sessions/"):
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
        self.service: Service

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


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> _bmc.RunningBmcs:
    import ssl

    from stonith.mocks._common import split_listen

    if serial_link:
        raise ValueError("a Redfish BMC has no serial link (use --listen)")
    options = config.options
    bad = [t for t in str(options.get("reset_types") or "").split(",") if t and t not in ALL_RESET_TYPES]
    if bad:
        raise ValueError(f"--reset-types: unknown {', '.join(bad)} (known: {', '.join(ALL_RESET_TYPES)})")
    count = int(options.get("count") or 1)
    host, port = split_listen(listen or "127.0.0.1:0")
    tmpdir = tempfile.mkdtemp(prefix="stonith-redfish-")
    tls_context: ssl.SSLContext | None = None
    cert = ""
    if options.get("tls", True):
        cert, key = self_signed(tmpdir)
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(cert, key)
    stop = threading.Event()
    servers: list[Server] = []
    try:
        for index in range(count):
            servers.append(Server((host, port + index if port else 0), tls_context, stop))
    except BaseException:
        for server in servers:
            server.server_close()
        raise
    scheme = "https" if tls_context is not None else "http"
    addresses = [_bmc.format_address(host, s.server_address[1]) for s in servers]
    lab = _bmc.build_lab(config, addresses)
    for server, address in zip(servers, addresses, strict=True):
        server.service = Service(lab.chassis[address], config, f"{scheme}://{address}")
    # One acceptor thread for every BMC (200 serve_forever loops would cost 200 threads and a slow
    # shutdown); each request is then handled in a thread of its own (ThreadingHTTPServer).
    acceptor = threading.Thread(target=_accept, args=(servers, stop), daemon=True, name="redfish-accept")
    lab.start()
    acceptor.start()

    def close() -> None:
        stop.set()
        acceptor.join(2.0)
        for server in servers:
            server.server_close()
        with contextlib.suppress(OSError):
            for name in os.listdir(tmpdir):
                os.unlink(os.path.join(tmpdir, name))
            os.rmdir(tmpdir)

    info: dict[str, Any] = {
        "type": config.type,
        "model": config.model,
        "address": addresses[0],
        "url": f"{scheme}://{addresses[0]}",
    }
    if cert:
        info["ca"] = cert
    if count > 1:
        info["addresses"] = addresses
    return _bmc.RunningBmcs(info, lab, [close])

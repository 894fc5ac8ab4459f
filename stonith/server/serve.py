"""``stonith serve``: run the service; ``stonith serve --self-signed DIR``: make a lab certificate.

Configuration (``--config``, default /etc/stonith/server.toml)::

    listen = ["127.0.0.1:8443"]          # host:port, several allowed; default loopback only
    tls = true                           # the default; plain HTTP only on loopback addresses
    certificate = "/etc/stonith/tls/cert.pem"
    key = "/etc/stonith/tls/key.pem"     # mode 0600
    devices = "/etc/stonith/devices.d"
    users = "/etc/stonith/users.json"     # stonith user add|del|list|passwd
    tokens = "/etc/stonith/tokens.json"   # stonith token create|list|revoke
    history = "/var/lib/stonith/history.jsonl"
    audit = "syslog"                     # or a file, or "none"
    health_interval = 60                 # seconds between health checks of every device
    timeout = 0                          # overall deadline of an operation; 0: the devices' own
    gui_idle_timeout = 900               # seconds a GUI session (https://HOST:PORT/ui) may idle

TLS 1.2 is the oldest version accepted.  Exit codes: 0 stopped cleanly, 1 bad configuration.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

from stonith.contract.errors import USAGE, BadConfig, ExitCode, StonithError
from stonith.contract.validation import split_hostport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CONFIG = "/etc/stonith/server.toml"
DEFAULT_USERS_FILE = "/etc/stonith/users.json"  # as stonith.server.auth (not imported: it is not needed here)
DEFAULT_TOKENS_FILE = "/etc/stonith/tokens.json"
KEYS = {
    "listen",
    "tls",
    "certificate",
    "key",
    "devices",
    "users",
    "tokens",
    "history",
    "audit",
    "health_interval",
    "timeout",
    "gui_idle_timeout",
}


class ServerConfig:
    def __init__(self, data: dict[str, Any], path: str) -> None:
        problems = [
            f"{path}: unknown key {k!r} (valid: {', '.join(sorted(KEYS))})" for k in data if k not in KEYS
        ]
        self.listen = [str(a) for a in data.get("listen", ["127.0.0.1:8443"])]
        self.tls = bool(data.get("tls", True))
        self.certificate = str(data.get("certificate", "/etc/stonith/tls/cert.pem"))
        self.key = str(data.get("key", "/etc/stonith/tls/key.pem"))
        self.devices = str(data.get("devices", "/etc/stonith/devices.d"))
        self.users = str(data.get("users", DEFAULT_USERS_FILE))
        self.tokens = str(data.get("tokens", DEFAULT_TOKENS_FILE))
        self.history = str(data.get("history", "/var/lib/stonith/history.jsonl"))
        self.audit = str(data.get("audit", "syslog"))
        self.health_interval = float(data.get("health_interval", 60))
        timeout = float(data.get("timeout", 0))
        self.timeout = timeout if timeout > 0 else None
        self.gui_idle_timeout = float(data.get("gui_idle_timeout", 900))
        self.addresses: list[tuple[str, int]] = []
        for item in self.listen:
            try:
                host, port = split_hostport(item)
            except ValueError:
                problems.append(f"{path}: listen {item!r} is not host:port")
                continue
            if not self.tls and not _loopback(host):
                problems.append(
                    f"{path}: listen {item!r}: plain HTTP is refused beyond loopback; set tls = true"
                )
            self.addresses.append((host, port))
        if not 1 <= self.health_interval <= 86400:
            problems.append(f"{path}: health_interval must be 1..86400 seconds")
        if not 10 <= self.gui_idle_timeout <= 86400:
            problems.append(f"{path}: gui_idle_timeout must be 10..86400 seconds")
        if problems:
            raise BadConfig("; ".join(problems))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(path: str) -> ServerConfig:
    import tomllib

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise BadConfig(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadConfig(f"{path}: malformed TOML: {exc}") from None
    return ServerConfig(data, path)


def self_signed(directory: str, names: list[str]) -> str:
    """Write key.pem (0600) and cert.pem for ``names`` into ``directory``; the SHA-256 fingerprint."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        # Its own trust anchor (clients pin it with --cacert): strict verifiers (urllib3, OpenSSL's
        # X509_STRICT) want a self-signed anchor to say it may sign, and whose key it carries.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(directory, "key.pem")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(os.path.join(directory, "cert.pem"), "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def build(config: ServerConfig) -> Any:
    """The ASGI application for ``config`` (service started, unfinished operations recovered)."""
    from stonith.server.app import create_app
    from stonith.server.auth import Authenticator, LoginFailure
    from stonith.server.gui.sessions import Sessions
    from stonith.server.service import Service

    os.makedirs(os.path.dirname(config.history) or ".", mode=0o700, exist_ok=True)
    service = Service(
        config.devices,
        config.history,
        audit=config.audit,
        health_interval=config.health_interval,
        timeout=config.timeout,
    )
    service.inventory()  # a bad devices.d is a start-up error, not a 500 later
    service.recover()
    service.start_monitor()

    def refused(failure: LoginFailure) -> None:  # every refused login leaves a line: user, source, why
        service.history.write(
            {
                "event": "login-failed",
                "user": failure.user,
                "source": failure.source,
                "reason": failure.reason,
                "status": failure.status,
            }
        )

    authenticator = Authenticator(config.users, config.tokens, on_failure=refused)
    return create_app(service, authenticator, sessions=Sessions(config.gui_idle_timeout))


def _sockets(config: ServerConfig) -> list[socket.socket]:
    sockets = []
    for host, port in config.addresses:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise BadConfig(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        sock.listen(128)
        sockets.append(sock)
    return sockets


def serve(config: ServerConfig) -> int:
    import ssl

    import uvicorn

    app = build(config)
    # Idle keep-alive clients must not hold a stop for uvicorn's default (forever; 30 s seen).
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "timeout_graceful_shutdown": 5,
    }
    if config.tls:
        for path in (config.certificate, config.key):
            if not os.path.exists(path):
                raise BadConfig(
                    f"TLS file {path} is missing (stonith serve --self-signed DIR makes a lab pair)"
                )
        options.update(ssl_certfile=config.certificate, ssl_keyfile=config.key)
    server_config = uvicorn.Config(app, **options)
    server_config.load()
    if server_config.ssl is not None:
        server_config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    server = uvicorn.Server(server_config)
    sockets = _sockets(config)
    scheme = "https" if config.tls else "http"
    for host, port in config.addresses:
        sys.stderr.write(f"stonith serve: listening on {scheme}://{host}:{port}\n")
    sys.stderr.flush()
    server.run(sockets=sockets)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="stonith serve", description="the remote administration service")
    parser.add_argument("--config", default=os.environ.get("STONITH_SERVER_CONFIG", DEFAULT_CONFIG))
    parser.add_argument(
        "--self-signed", metavar="DIR", help="write a lab certificate and key into DIR and exit"
    )
    parser.add_argument("--name", action="append", default=[], help="host names/addresses of the certificate")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(USAGE) if exc.code else 0
    try:
        if args.self_signed:
            fingerprint = self_signed(args.self_signed, args.name or ["localhost", "127.0.0.1", "::1"])
            sys.stdout.write(
                f"certificate {os.path.join(args.self_signed, 'cert.pem')}\nSHA-256 {fingerprint}\n"
            )
            return 0
        return serve(load_config(args.config))
    except BadConfig as exc:
        sys.stderr.write(f"ERROR: {exc}\n")
        return int(ExitCode.S_BADCONFIG)
    except StonithError as exc:
        sys.stderr.write(f"ERROR: {exc}\n")
        return int(exc.exit_code)

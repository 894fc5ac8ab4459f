"""HTTP(S) for JSON services (Redfish): one origin, a deadline for the whole request, bounded bodies.

URL format / options
    ``base``: ``https://host[:port]`` or ``http://host[:port]`` (the configured origin).  Paths a
    device supplies (``@odata.id``, action targets, ``Location``) are resolved against it with
    ``resolve``; an absolute URL, or a redirect, to any other scheme, host or port is refused, so
    credentials (HTTP Basic on every request, or a session token) only ever go to the configured
    origin.  ``fetch`` options: ``end`` (monotonic time by which the request, body included, is
    over), ``read_timeout`` (the longest wait for one read), ``max_body`` (bytes).

Why a watchdog: ``requests``' timeouts bound each socket operation, not the request, so a device
answering one byte every half second kept a 2 s request alive for as long as it liked (issue 21
item 3).  ``session()`` mounts connection classes that hand their socket to the ``Watchdog`` of
the request running in this thread (at connect, before the TLS handshake, and when a response
is awaited on a reused connection); the watchdog shuts the socket down at ``end``, which ends any
read blocked on it.  Bodies are streamed and refused beyond ``max_body`` and past ``end``.

``requests`` and ``urllib3`` are imported when a session is made, never at import time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from stonith.contract.errors import DeviceError, Timeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import requests

MAX_BODY = 2 * 1024 * 1024  # a Redfish resource is a few kilobytes; a collection rarely 100 KiB
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024


class OriginRefused(DeviceError):
    """A device-supplied URL or redirect points to another scheme, host or port than configured."""


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL; ValueError if it is not one."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme]


def resolve(base: str, reference: str) -> str:
    """``reference`` (a path or URL a device sent) as a URL on ``base``'s origin; OriginRefused if not."""
    from urllib.parse import urljoin, urlsplit

    if any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F for c in reference):
        raise OriginRefused(f"{base}: refused the URL {reference!r} (control characters or blanks)")
    url = urljoin(base, reference)
    try:
        same = origin(url) == origin(base) and not urlsplit(url).username and "@" not in urlsplit(url).netloc
    except ValueError:
        same = False
    if not same:
        raise OriginRefused(
            f"{base} pointed to {reference!r}, outside its own origin: refused "
            f"(credentials go only to {base})"
        )
    return url


class Answer:
    """A response read in full: status, headers and a bounded body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        """The body as JSON; ValueError if it is not."""
        import json

        return json.loads(self.body)


# -- the watchdog -------------------------------------------------------------------------------

_ACTIVE = threading.local()


class Watchdog:
    """Shuts down every socket of this thread's request when ``end`` passes (a context manager)."""

    def __init__(self, end: float) -> None:
        self.end = end
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._outer: Watchdog | None = None

    def __enter__(self) -> Watchdog:
        self._outer = getattr(_ACTIVE, "watchdog", None)
        _ACTIVE.watchdog = self
        self._timer = threading.Timer(max(0.0, self.end - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        _ACTIVE.watchdog = self._outer
        with self._lock:
            self._sockets.clear()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.fired:
                _shut(sock)
            else:
                self._sockets.append(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: it wakes a read blocked in another thread
    # (the kernel reports end of file) without tearing the TLS object out from under it.
    with contextlib.suppress(OSError):  # already closed, or never connected
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(sock: socket.socket | None) -> None:
    watchdog: Watchdog | None = getattr(_ACTIVE, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(sock)


def _resolve_first(conn: Any) -> None:
    """Look the host name up inside the running request's deadline (stonith.transport.resolve) and
    have urllib3 connect to the address found; ``host`` stays the name, for TLS (SNI and the
    certificate check) and the Host header.  urllib3 2.x connects to ``_dns_host``; without it
    (another urllib3) the lookup stays urllib3's own."""
    from stonith.contract.deadline import Deadline
    from stonith.transport.resolve import addresses

    watchdog: Watchdog | None = getattr(_ACTIVE, "watchdog", None)
    host = getattr(conn, "_dns_host", None)
    if watchdog is None or not isinstance(host, str) or not host:
        return
    deadline = Deadline.at_time(watchdog.end, f"a request to {host}")
    conn._dns_host = str(addresses(host.strip("[]"), int(conn.port), deadline)[0][4][0])


_ADAPTER_CLASS: Any = None


def _adapter_class() -> Any:
    """A requests adapter whose connections report their sockets to the running Watchdog."""
    global _ADAPTER_CLASS
    if _ADAPTER_CLASS is not None:
        return _ADAPTER_CLASS
    import requests.adapters
    from urllib3 import connection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    # Named like urllib3's own: error messages show the class name ("HTTPConnection(host=...)").
    class HTTPConnection(connection.HTTPConnection):
        def _new_conn(self) -> socket.socket:
            _resolve_first(self)
            sock = super()._new_conn()
            _watch(sock)  # before TLS: a handshake can be dripped too
            return sock

        def getresponse(self) -> Any:
            _watch(self.sock)  # a kept-alive connection was connected under another watchdog
            return super().getresponse()

    class HTTPSConnection(connection.HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            _resolve_first(self)
            sock = super()._new_conn()
            _watch(sock)
            return sock

        def getresponse(self) -> Any:
            _watch(self.sock)
            return super().getresponse()

    class WatchedHTTPPool(HTTPConnectionPool):
        ConnectionCls = HTTPConnection

    class WatchedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = HTTPSConnection

    class WatchedAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}

    _ADAPTER_CLASS = WatchedAdapter
    return WatchedAdapter


def session() -> requests.Session:
    """A requests session for one device: watched connections, no proxies or .netrc from the environment."""
    import requests

    http = requests.Session()
    http.trust_env = False  # no proxies or .netrc credentials between us and a device
    adapter = _adapter_class()()
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    # A compressed body could expand far beyond what was received: ask for none.
    http.headers["Accept-Encoding"] = "identity"
    return http


def fetch(
    http: requests.Session,
    method: str,
    url: str,
    *,
    end: float,
    read_timeout: float,
    json_body: Any = None,
    max_body: int = MAX_BODY,
    what: str = "",
) -> Answer:
    """One request to ``url`` (on the session's origin), body read in full by monotonic time ``end``.

    Redirects are followed only within ``url``'s origin (OriginRefused otherwise).  Raises
    ``Timeout`` when ``end`` passes (connect, TLS, headers or body), DeviceError for a body over
    ``max_body``; requests' own exceptions for everything else (the caller names them).
    """
    base = url
    for _ in range(MAX_REDIRECTS + 1):
        answer = _fetch_once(http, method, url, end, read_timeout, json_body, max_body, what)
        if answer.status not in REDIRECTS or "Location" not in answer.headers:
            return answer
        url = resolve(base, answer.headers["Location"])
        if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
            method, json_body = "GET", None  # what browsers and requests do
    raise DeviceError(f"{what or base}: more than {MAX_REDIRECTS} redirects")


def _fetch_once(
    http: requests.Session,
    method: str,
    url: str,
    end: float,
    read_timeout: float,
    json_body: Any,
    max_body: int,
    what: str,
) -> Answer:
    remaining = end - time.monotonic()
    if remaining <= 0:
        raise Timeout(f"{what or url}: no time left for {method}")
    timeout = min(read_timeout, remaining)
    with Watchdog(end) as watchdog:
        try:
            response = http.request(
                method, url, json=json_body, timeout=(timeout, timeout), allow_redirects=False, stream=True
            )
            try:
                body = _read_body(response, end, max_body, what or url)
            finally:
                response.close()
        except Exception:
            if watchdog.fired or time.monotonic() >= end:
                raise Timeout(f"{what or url}: {method} not answered in full within the deadline") from None
            raise
    return Answer(response.status_code, response.headers, body)


def _read_body(response: requests.Response, end: float, max_body: int, what: str) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise DeviceError(f"{what}: a body of {declared} bytes (more than {max_body}): refused")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):
        size += len(chunk)
        if size > max_body:
            raise DeviceError(f"{what}: a body of more than {max_body} bytes: refused")
        if time.monotonic() >= end:
            raise Timeout(f"{what}: the body did not arrive within the deadline")
        chunks.append(chunk)
    return b"".join(chunks)

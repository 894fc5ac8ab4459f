"""Browser sessions of the GUI: an opaque cookie, a CSRF token per session, an idle timeout.

The GUI logs in once with the user's password (through ``Authenticator.authenticate``, so rate
limits and the audit of refused logins apply as for the API); from then on the browser presents
the ``stonith_session`` cookie (HttpOnly, SameSite=Strict, Secure over TLS).  A request that
changes anything must also carry the session's CSRF token in the ``X-CSRF-Token`` header (or the
``csrf`` form field): SameSite=Strict already keeps other sites' requests cookie-less in current
browsers, the token keeps it so in the others too.

Sessions live in memory only: a restart of the service logs everybody out, which is the safe
direction.  Only the SHA-256 of a session id is kept, so a memory dump does not hand out sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stonith.server.auth import AuthError, Forbidden

COOKIE = "stonith_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_IDLE_TIMEOUT = 900.0  # seconds without a request before a session ends
MAX_LIFETIME = 12 * 3600.0  # a session ends after this however busy it is (a shift)
MAX_SESSIONS = 10_000  # the oldest session goes first beyond this (memory bound under abuse)


class SessionExpired(AuthError):
    """The cookie names no live session.  No ``WWW-Authenticate``: the browser must not pop up its
    own password dialog for a script's request; the page sends the user to the login form."""

    default_public = "session expired: log in again"

    def headers(self) -> dict[str, str]:
        return {}


class CsrfRefused(Forbidden):
    """A changing request of a session without its CSRF token."""

    default_public = "CSRF token missing or wrong"


@dataclass
class WebSession:
    user: str
    csrf: str
    created: float
    last_seen: float


class Sessions:
    """Thread-safe session table."""

    def __init__(
        self,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        *,
        lifetime: float = MAX_LIFETIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._table: OrderedDict[bytes, WebSession] = OrderedDict()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "replace")).digest()

    def create(self, user: str) -> tuple[str, WebSession]:
        """A new session for ``user``: (cookie value, session)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = WebSession(user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._table[self._key(token)] = session
            while len(self._table) > MAX_SESSIONS:
                self._table.popitem(last=False)
        return token, session

    def get(self, token: str | None) -> WebSession | None:
        """The live session of a cookie value (its idle clock restarted), or None."""
        if not token or len(token) > 128:
            return None
        key = self._key(token)
        now = self._clock()
        with self._lock:
            session = self._table.get(key)
            if session is None:
                return None
            if now - session.last_seen > self.idle_timeout or now - session.created > self.lifetime:
                del self._table[key]
                return None
            session.last_seen = now
            self._table.move_to_end(key)
            return session

    def end(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._table.pop(self._key(token), None)

    def end_user(self, user: str) -> None:
        """End every session of ``user`` (deleted, or no longer known to the users file)."""
        with self._lock:
            for key in [k for k, s in self._table.items() if s.user == user]:
                del self._table[key]

    @staticmethod
    def csrf_ok(session: WebSession, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())

"""Authentication and authorization of ``stonith serve``: users, roles, bearer tokens, rate limiting.

Framework-free (stdlib only): the HTTP app hands in the ``Authorization`` header, the client's
address and, for a verified TLS client certificate, the user it maps to; it gets a ``Principal``
or an ``AuthError`` whose ``status`` is the HTTP status to answer with.

Roles are ordered: ``monitor`` (read) < ``operator`` (on/off/reset) < ``admin`` (devices.d, users);
each includes the ones before it.

Files (both JSON, mode 0600, rewritten atomically by ``stonith user`` / ``stonith token``):

- users file (default ``/etc/stonith/users.json``)::

    {"version": 1,
     "users": {"alice": {"role": "admin", "created": "2026-01-01T10:00:00Z",
                         "password": "$scrypt$ln=14,r=8,p=1$<salt b64>$<key b64>"},
               "scanner": {"role": "monitor", "created": "...", "password": null}}}

  ``password`` is a PHC-style string carrying its own scrypt parameters, so they can be raised
  later without breaking stored hashes; ``null`` means no password login (certificate or token only).

- tokens file (default ``/etc/stonith/tokens.json``)::

    {"version": 1,
     "tokens": [{"id": "3f9c2a1b7d4e", "user": "alice", "role": "operator", "sha256": "<hex>",
                 "created": "...", "expires": "..." | null, "revoked": "..." | null}]}

  Only the SHA-256 of a token is stored: tokens are 256 random bits, so a fast hash is enough (a
  slow hash protects guessable passwords, not random keys).  A token reads ``stt_<id>_<secret>``:
  the id finds its record without a scan and names it in audit lines without revealing it.

JSON rather than TOML because these files are written by commands, not by hand: the stdlib both
reads and writes JSON, while ``tomllib`` only reads (a TOML writer of our own would be one more
parser surface to get right for files holding password hashes).

The running service sees changes without a restart: every ``authenticate`` stats both files and
re-reads one whose device, inode, mode, size, mtime or ctime changed.  A file that cannot be loaded
(malformed, readable by group or others) makes every login fail with ``AuthUnavailable`` (503)
until it is fixed: failing closed, since serving a stale copy would ignore a revocation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import stat
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

ROLES = ("monitor", "operator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

DEFAULT_USERS_FILE = "/etc/stonith/users.json"
DEFAULT_TOKENS_FILE = "/etc/stonith/tokens.json"
FILE_VERSION = 1

# scrypt cost: N=2**14, r=8, p=1 is the RFC 7914 interactive-login setting (16 MiB, ~50 ms).
SCRYPT_LN = 14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# Bounds on parameters read back from a file: a tampered hash must not make one login cost gigabytes.
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024

# A user name goes into Basic credentials (no ':'), audit lines and file keys: keep it plain.
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

TOKEN_PREFIX = "stt"
_TOKEN = re.compile(r"stt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})\Z")
_TOKEN_ID = re.compile(r"[0-9a-f]{12}\Z")

# HTTP headers are bounded by the server too; this bounds the work of parsing one here.
_MAX_HEADER = 8192

# Successful password checks are remembered this long so that a client sending Basic credentials
# with every request (browsers, polling scripts) costs one scrypt per minute, not one per request.
_VERIFIED_TTL = 60.0
_VERIFIED_MAX = 4096
# Failure counters kept at most for this many sources / user names (oldest dropped first).
_FAILURE_KEYS_MAX = 65536


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what needs ``needed``; an unknown role is allowed nothing."""
    if needed not in _RANK:
        raise ValueError(f"unknown role {needed!r} (one of {', '.join(ROLES)})")
    return role in _RANK and _RANK[role] >= _RANK[needed]


@dataclass(frozen=True)
class Principal:
    """Who a request runs as.  ``role`` is the effective one (a token's, capped by its user's)."""

    user: str
    role: str
    via: str  # "password" | "token" | "certificate"
    token_id: str | None = None


class AuthError(Exception):
    """A refused request.  ``reason`` is for the audit log, ``public`` for the client; neither holds a
    secret.  ``public`` of a 401 never says whether the user exists (no account enumeration)."""

    status = 401
    default_public = "authentication failed"

    def __init__(
        self,
        reason: str,
        *,
        user: str | None = None,
        source: str | None = None,
        public: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user = user
        self.source = source
        self.public = public or self.default_public

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer should carry (RFC 7235 challenge, RFC 6585 Retry-After)."""
        return {"WWW-Authenticate": 'Basic realm="stonith", charset="UTF-8", Bearer realm="stonith"'}


class Forbidden(AuthError):
    """Authenticated, but the role does not allow the action."""

    status = 403
    default_public = "forbidden"

    def headers(self) -> dict[str, str]:
        return {}


class TooManyAttempts(AuthError):
    """Too many failed logins from this source or for this user name within the window."""

    status = 429
    default_public = "too many failed logins"

    def __init__(self, reason: str, retry_after: float, **kwargs: Any) -> None:
        super().__init__(reason, **kwargs)
        self.retry_after = max(0.0, retry_after)
        self.public = f"too many failed logins; retry in {int(-(-self.retry_after // 1))} s"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, int(-(-self.retry_after // 1))))}


class AuthUnavailable(AuthError):
    """The users or tokens file cannot be loaded: nobody can log in until it is fixed."""

    status = 503
    default_public = "authentication unavailable"

    def headers(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class LoginFailure:
    """One refused login, for the audit log: ``user`` as claimed (None if none could be read)."""

    user: str | None
    source: str
    reason: str
    status: int
    via: str  # "password" | "token" | "certificate" | "unknown"


# ---------------------------------------------------------------------------------------------
# Records and their files


class StoreError(Exception):
    """A users/tokens file or an edit of one is wrong; the message names the file, never a secret."""

    exit_code = 1  # cluster-glue's S_BADCONFIG


class UnknownName(StoreError):
    """No such user (or token id)."""

    exit_code = 3  # cluster-glue's S_INVAL


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password: str | None  # encoded scrypt hash, or None: no password login
    created: float


@dataclass(frozen=True)
class Token:
    id: str
    user: str
    role: str
    sha256: str
    created: float
    expires: float | None
    revoked: float | None

    def state(self, now: float) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(int(ts), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: Any, where: str) -> float:
    if not isinstance(value, str):
        raise StoreError(f"{where}: not a time stamp (YYYY-MM-DDTHH:MM:SSZ)")
    try:
        parsed = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise StoreError(f"{where}: not a time stamp (YYYY-MM-DDTHH:MM:SSZ)") from None
    return parsed.replace(tzinfo=datetime.UTC).timestamp()


def check_user_name(name: str) -> None:
    if not USER_NAME.match(name):
        raise StoreError(
            f"bad user name {_shown(name)}: 1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit"
        )


def check_role(role: str) -> None:
    if role not in _RANK:
        raise StoreError(f"unknown role {_shown(role)} (one of {', '.join(ROLES)})")


def _shown(text: str) -> str:
    """A name from outside (a header, a file) made safe for one log line: quoted, escaped, bounded."""
    return ascii(text[:64])


# Password hashing -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _scrypt(password: str, salt: bytes, ln: int, r: int, p: int, length: int) -> bytes:
    n = 1 << ln
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=length,
        maxmem=128 * r * (n + p + 2) + 1024 * 1024,  # OpenSSL's default cap (32 MiB) is below some bounds
    )


def hash_password(password: str) -> str:
    """A salted scrypt hash as ``$scrypt$ln=14,r=8,p=1$<salt>$<key>`` (base64 without padding)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_LN, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"$scrypt$ln={SCRYPT_LN},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(key)}"


_HASH = re.compile(r"\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)\Z")


def _decode_hash(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    match = _HASH.match(encoded)
    if not match:
        return None
    ln, r, p = (int(match.group(i)) for i in (1, 2, 3))
    try:
        salt, key = _unb64(match.group(4)), _unb64(match.group(5))
    except (binascii.Error, ValueError):
        return None
    if not (1 <= ln <= 20 and 1 <= r <= 32 and 1 <= p <= 16) or 128 * r * (1 << ln) > _MAX_SCRYPT_MEMORY:
        return None
    if not (8 <= len(salt) <= 64 and 16 <= len(key) <= 64):
        return None
    return ln, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of ``password`` against a stored hash (False for an unusable hash)."""
    decoded = _decode_hash(encoded)
    if decoded is None:
        return False
    ln, r, p, salt, key = decoded
    return hmac.compare_digest(_scrypt(password, salt, ln, r, p, len(key)), key)


def _burn_password_time(password: str) -> None:
    """Spend what a real check costs, so a login for an unknown user is not faster than a wrong
    password (the time would tell an attacker which user names exist)."""
    _scrypt(password, b"\0" * SALT_BYTES, SCRYPT_LN, SCRYPT_R, SCRYPT_P, KEY_BYTES)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StoreError(f"password too short (at least {MIN_PASSWORD} characters)")
    if len(password) > MAX_PASSWORD:
        raise StoreError(f"password too long (at most {MAX_PASSWORD} characters)")
    if "\n" in password or "\r" in password or "\0" in password:
        raise StoreError("password contains a line break or NUL")


# Tokens ---------------------------------------------------------------------------------------


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_token(user: str, role: str, expires: float | None, now: float) -> tuple[str, Token]:
    """A new token (shown once, never stored) and its record (only its hash)."""
    token_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    record = Token(token_id, user, role, token_digest(token), float(int(now)), expires, None)
    return token, record


_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhdw])\Z")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float | None:
    """``30d``, ``12h``, ``90m``, ``2w``, ``3600s`` -> seconds; ``never`` -> None."""
    if text == "never":
        return None
    match = _DURATION.match(text)
    if not match:
        raise StoreError(f"bad duration {_shown(text)}: a number and s, m, h, d or w (30d, 12h) or never")
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    if seconds > 10 * 366 * 86400:
        raise StoreError(f"duration {text} too long (at most 10 years; or never)")
    return float(seconds)


# Files ----------------------------------------------------------------------------------------

_Signature = tuple[int, int, int, int, int, int]


def _signature(st: os.stat_result) -> _Signature:
    # The mode too: a chmod must be seen even within one tick of a coarse ctime clock.
    return (st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_private(path: str) -> tuple[Any, _Signature] | None:
    """The JSON of a file only its owner may read or write, and its signature; None if missing."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; fstat needs the open descriptor
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        # fstat of the open file, not stat of the name: the checked file is the file read.
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{path}: not a regular file")
        if st.st_mode & 0o066:
            raise StoreError(
                f"{path}: readable or writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"run: chmod 600 {path}"
            )
        raw = handle.read(16 * 1024 * 1024 + 1)
    if len(raw) > 16 * 1024 * 1024:
        raise StoreError(f"{path}: larger than 16 MiB")
    try:
        return json.loads(raw), _signature(st)
    except (ValueError, UnicodeDecodeError) as exc:
        # json's message gives a position, never the text around it: no hash leaks into a log.
        where = (
            f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "encoding"
        )
        raise StoreError(f"{path}: malformed JSON ({where})") from None


def write_private(path: str, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600: readers see the old or the new file,
    never a torn one, and never a moment where the file is readable by others."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        # mkstemp makes 0600 already; explicit so that no umask or platform can loosen it.
        os.fchmod(fd, 0o600)
        if old is not None and os.geteuid() == 0:
            # root editing for a service that runs as its own user: keep the file readable by it.
            os.fchown(fd, old.st_uid, old.st_gid)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the directory is on disk too.
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def edit_lock(path: str) -> Iterator[None]:
    """Serialize read-modify-write of ``path`` between commands (two admins adding users at once
    must not lose one): flock on a hidden sidecar, released by the kernel if we die."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    lock_path = os.path.join(directory, f".{os.path.basename(path)}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _check_version(data: Any, path: str, key: str) -> Any:
    if not isinstance(data, dict) or data.get("version") != FILE_VERSION or key not in data:
        raise StoreError(
            f'{path}: not a stonith {key} file (expected {{"version": {FILE_VERSION}, "{key}": ...}})'
        )
    return data[key]


def parse_users(data: Any, path: str) -> dict[str, User]:
    entries = _check_version(data, path, "users")
    if not isinstance(entries, dict):
        raise StoreError(f'{path}: "users" must be an object of user name -> record')
    users: dict[str, User] = {}
    for name, entry in entries.items():
        where = f"{path}: user {_shown(name)}"
        if not USER_NAME.match(name):
            raise StoreError(f"{where}: bad user name")
        if not isinstance(entry, dict):
            raise StoreError(f"{where}: must be an object")
        role, password = entry.get("role"), entry.get("password")
        if not isinstance(role, str) or role not in _RANK:
            raise StoreError(f"{where}: role must be one of {', '.join(ROLES)}")
        if password is not None and (not isinstance(password, str) or _decode_hash(password) is None):
            raise StoreError(f"{where}: password is not a usable $scrypt$ hash")
        users[name] = User(name, role, password, _parse_iso(entry.get("created"), f"{where}: created"))
    return users


def parse_tokens(data: Any, path: str) -> dict[str, Token]:
    entries = _check_version(data, path, "tokens")
    if not isinstance(entries, list):
        raise StoreError(f'{path}: "tokens" must be a list of records')
    tokens: dict[str, Token] = {}
    for index, entry in enumerate(entries):
        where = f"{path}: token {index + 1}"
        if not isinstance(entry, dict):
            raise StoreError(f"{where}: must be an object")
        token_id, user, role, digest = (entry.get(k) for k in ("id", "user", "role", "sha256"))
        if not isinstance(token_id, str) or not _TOKEN_ID.match(token_id) or token_id in tokens:
            raise StoreError(f"{where}: id must be 12 hex digits, unique")
        if not isinstance(user, str) or not USER_NAME.match(user):
            raise StoreError(f"{where}: bad user name")
        if not isinstance(role, str) or role not in _RANK:
            raise StoreError(f"{where}: role must be one of {', '.join(ROLES)}")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise StoreError(f"{where}: sha256 must be 64 hex digits")
        expires = entry.get("expires")
        revoked = entry.get("revoked")
        tokens[token_id] = Token(
            token_id,
            user,
            role,
            digest,
            _parse_iso(entry.get("created"), f"{where}: created"),
            None if expires is None else _parse_iso(expires, f"{where}: expires"),
            None if revoked is None else _parse_iso(revoked, f"{where}: revoked"),
        )
    return tokens


def load_users(path: str) -> dict[str, User]:
    """The users of ``path`` ({} if it does not exist); StoreError if it is unsafe or malformed."""
    loaded = read_private(path)
    return {} if loaded is None else parse_users(loaded[0], path)


def load_tokens(path: str) -> dict[str, Token]:
    loaded = read_private(path)
    return {} if loaded is None else parse_tokens(loaded[0], path)


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8")


def save_users(path: str, users: dict[str, User]) -> None:
    entries = {
        u.name: {"role": u.role, "created": iso(u.created), "password": u.password}
        for u in sorted(users.values(), key=lambda u: u.name)
    }
    write_private(path, _dump({"version": FILE_VERSION, "users": entries}))


def save_tokens(path: str, tokens: dict[str, Token]) -> None:
    entries = [
        {
            "id": t.id,
            "user": t.user,
            "role": t.role,
            "sha256": t.sha256,
            "created": iso(t.created),
            "expires": None if t.expires is None else iso(t.expires),
            "revoked": None if t.revoked is None else iso(t.revoked),
        }
        for t in sorted(tokens.values(), key=lambda t: (t.created, t.id))
    ]
    write_private(path, _dump({"version": FILE_VERSION, "tokens": entries}))


# Edits (used by ``stonith user`` / ``stonith token``; an admin API can use them too) -----------


def add_user(users_file: str, name: str, role: str, password: str | None, now: float | None = None) -> User:
    check_user_name(name)
    check_role(role)
    if password is not None:
        check_new_password(password)
    encoded = None if password is None else hash_password(password)
    with edit_lock(users_file):
        users = load_users(users_file)
        if name in users:
            raise StoreError(f"user {name} exists (change it with: stonith user passwd|role)")
        user = User(name, role, encoded, float(int(time.time() if now is None else now)))
        users[name] = user
        save_users(users_file, users)
    return user


def _distinct(users_file: str, tokens_file: str) -> None:
    # Both are locked in turn: one file under two flocks would wait for itself.
    if os.path.abspath(users_file) == os.path.abspath(tokens_file):
        raise StoreError(f"users and tokens must be two files, not both {users_file}")


def _existing(users: dict[str, User], name: str, users_file: str) -> User:
    if name not in users:
        raise UnknownName(f"no user {_shown(name)} in {users_file}")
    return users[name]


def delete_user(users_file: str, tokens_file: str, name: str, now: float | None = None) -> int:
    """Delete a user and revoke their tokens (a user added later under the same name must not
    inherit them); returns how many tokens were revoked."""
    _distinct(users_file, tokens_file)
    with edit_lock(users_file):
        users = load_users(users_file)
        _existing(users, name, users_file)
        revoked = revoke_user_tokens(tokens_file, name, now)
        del users[name]
        save_users(users_file, users)
    return revoked


def set_password(users_file: str, name: str, password: str | None) -> None:
    if password is not None:
        check_new_password(password)
    encoded = None if password is None else hash_password(password)
    with edit_lock(users_file):
        users = load_users(users_file)
        user = _existing(users, name, users_file)
        users[name] = replace(user, password=encoded)
        save_users(users_file, users)


def set_role(users_file: str, name: str, role: str) -> None:
    """Change a user's role; their tokens are capped by it at once (checked at every login)."""
    check_role(role)
    with edit_lock(users_file):
        users = load_users(users_file)
        user = _existing(users, name, users_file)
        users[name] = replace(user, role=role)
        save_users(users_file, users)


def create_token(
    users_file: str,
    tokens_file: str,
    user: str,
    role: str | None,
    lifetime: float | None,
    now: float | None = None,
) -> tuple[str, Token]:
    """A new token for ``user`` with ``role`` (default and at most the user's); lifetime None: never
    expires.  Returns the token (to show once) and its record."""
    now = time.time() if now is None else now
    # Under the users lock (order: users, then tokens, as in delete_user): a user deleted meanwhile
    # cannot end up with a fresh token.
    _distinct(users_file, tokens_file)
    with edit_lock(users_file), edit_lock(tokens_file):
        owner = _existing(load_users(users_file), user, users_file)
        role = owner.role if role is None else role
        check_role(role)
        if not allows(owner.role, role):
            raise StoreError(f"role {role} exceeds user {user}'s role {owner.role}")
        expires = None if lifetime is None else float(int(now + lifetime))
        tokens = load_tokens(tokens_file)
        token, record = issue_token(user, role, expires, now)
        while record.id in tokens:  # 48-bit ids: a clash is a curiosity, not an error
            token, record = issue_token(user, role, expires, now)
        tokens[record.id] = record
        save_tokens(tokens_file, tokens)
    return token, record


def revoke_token(tokens_file: str, token_id: str, now: float | None = None) -> Token:
    with edit_lock(tokens_file):
        tokens = load_tokens(tokens_file)
        if token_id not in tokens:
            raise UnknownName(f"no token {_shown(token_id)} in {tokens_file}")
        record = tokens[token_id]
        if record.revoked is None:
            stamp = float(int(time.time() if now is None else now))
            record = replace(record, revoked=stamp)
            tokens[token_id] = record
            save_tokens(tokens_file, tokens)
    return record


def revoke_user_tokens(tokens_file: str, user: str, now: float | None = None) -> int:
    stamp = float(int(time.time() if now is None else now))
    with edit_lock(tokens_file):
        tokens = load_tokens(tokens_file)
        hits = [t for t in tokens.values() if t.user == user and t.revoked is None]
        for t in hits:
            tokens[t.id] = replace(t, revoked=stamp)
        if hits:
            save_tokens(tokens_file, tokens)
    return len(hits)


# ---------------------------------------------------------------------------------------------
# Parsing the Authorization header


def parse_authorization(header: str) -> tuple[str, str, str]:
    """``("basic", user, password)`` or ``("bearer", token, "")``; AuthError for anything else.

    Basic per RFC 7617 (UTF-8, the user name ends at the first colon); schemes are case-insensitive
    (RFC 7235).  No message repeats any part of the header: it may hold a password.
    """
    if len(header) > _MAX_HEADER:
        raise AuthError("authorization header too long")
    scheme, _, rest = header.strip().partition(" ")
    rest = rest.strip()
    if scheme.lower() == "basic":
        if not rest:
            raise AuthError("malformed basic credentials (empty)")
        try:
            decoded = base64.b64decode(rest.encode("ascii"), validate=True).decode("utf-8")
        except (UnicodeError, ValueError):
            raise AuthError("malformed basic credentials (not base64 of UTF-8)") from None
        user, colon, password = decoded.partition(":")
        if not colon:
            raise AuthError("malformed basic credentials (no colon)")
        if not user:
            raise AuthError("malformed basic credentials (empty user name)")
        return "basic", user, password
    if scheme.lower() == "bearer":
        if not rest:
            raise AuthError("malformed bearer credentials (empty)")
        return "bearer", rest, ""
    raise AuthError("unsupported authorization scheme (use Basic or Bearer)")


def source_key(source: str) -> str:
    """The rate-limit key of a client address: an IPv6 client owns a whole /64 (one host can pick
    any of 2**64 addresses), an IPv4-mapped address counts as its IPv4 address."""
    try:
        address = ipaddress.ip_address(source.strip("[]"))
    except ValueError:
        return source[:128]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


# ---------------------------------------------------------------------------------------------
# Rate limiting


class _Failures:
    """Failure times per key within a sliding window, plus verifications in flight.

    In-flight password checks count against the limit, so a burst of parallel guesses cannot
    overshoot it while scrypt runs.  Keys are kept in order of last failure: stale ones are
    pruned from the front, and at most ``_FAILURE_KEYS_MAX`` are kept.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._pending: dict[str, int] = {}

    def _recent(self, key: str, now: float) -> int:
        times = self._times.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._times[key]
            return 0
        return len(times)

    def retry_after(self, key: str, now: float, pending: bool = False) -> float | None:
        """Seconds until ``key`` may try again, or None if it may now."""
        count = self._recent(key, now) + (self._pending.get(key, 0) if pending else 0)
        if count < self.limit:
            return None
        times = self._times.get(key)
        # Full only because of checks in flight: they finish within a second or so.
        return times[0] + self.window - now if times and len(times) >= self.limit else 1.0

    def reserve(self, key: str) -> None:
        self._pending[key] = self._pending.get(key, 0) + 1

    def release(self, key: str) -> None:
        left = self._pending.get(key, 0) - 1
        if left > 0:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)

    def record(self, key: str, now: float) -> None:
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque(maxlen=self.limit)
        times.append(now)
        self._times.move_to_end(key)
        while self._times:
            oldest_key, oldest = next(iter(self._times.items()))
            if len(self._times) <= _FAILURE_KEYS_MAX and oldest[-1] > now - self.window:
                break
            del self._times[oldest_key]


# ---------------------------------------------------------------------------------------------
# The authenticator


class _Watched:
    """One file, re-parsed when its signature changes; a load error is kept until it changes."""

    def __init__(self, path: str, parse: Callable[[Any, str], Any], empty: Any) -> None:
        self.path = path
        self._parse = parse
        self._empty = empty
        self._signature: _Signature | str | None = "unloaded"
        self._value: Any = None
        self._error: str | None = None

    def get(self) -> Any:
        try:
            signature: _Signature | None = _signature(os.stat(self.path))
        except FileNotFoundError:
            signature = None
        except OSError as exc:
            raise AuthUnavailable(f"{self.path}: cannot stat: {exc.strerror}") from None
        if signature != self._signature:
            try:
                loaded = read_private(self.path)
                if loaded is None:  # no file yet: nobody, until `stonith user add` writes one
                    self._value, self._signature = self._empty, None
                else:
                    self._value, self._signature = self._parse(loaded[0], self.path), loaded[1]
                self._error = None
            except StoreError as exc:
                self._error, self._signature = str(exc), signature
        if self._error is not None:
            raise AuthUnavailable(self._error)
        return self._value


class Authenticator:
    """Checks credentials against the users and tokens files; thread-safe.

    ``authenticate`` runs scrypt (~50 ms of CPU) for a password not seen in the last minute: an
    asyncio app should call it in a worker thread (Starlette: ``run_in_threadpool``).

    Rate limiting: a source (IP address; IPv6 per /64) or a user name with ``max_failures`` failed
    logins within ``window`` seconds gets ``TooManyAttempts`` until the oldest failure leaves the
    window, even with the right password (otherwise the limit would not limit guessing).  Refused
    attempts are not counted as failures, so the window slides even under a steady attack.  The
    per-user limit guards passwords only: tokens (256 random bits) and certificates cannot be
    guessed, so an attacker locking a user name out does not lock out that user's token or cert.
    Successful logins reset no counter (the same source may be a NAT with an attacker behind it).
    """

    def __init__(
        self,
        users_file: str,
        tokens_file: str,
        *,
        max_failures: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_failure: Callable[[LoginFailure], None] | None = None,
    ) -> None:
        if max_failures < 1 or window <= 0:
            raise ValueError("max_failures must be >= 1 and window > 0")
        self.users_file = users_file
        self.tokens_file = tokens_file
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._wall_clock = wall_clock
        # Called once per refused login (401, 429, 503 — not for a request without credentials,
        # which is no login attempt); the app writes its audit line here.  Must not raise.
        self.on_failure = on_failure
        self._lock = threading.Lock()
        self._turns = tuple(threading.Lock() for _ in range(64))
        self._users = _Watched(users_file, parse_users, {})
        self._tokens = _Watched(tokens_file, parse_tokens, {})
        self._by_source = _Failures(max_failures, window)
        self._by_user = _Failures(max_failures, window)
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        self._cache_key = secrets.token_bytes(32)
        self._current()  # a broken file fails `stonith serve` at start, with the file's problem

    # -- public ----------------------------------------------------------------------------

    def authenticate(
        self, authorization: str | None, source: str, client_cert_user: str | None = None
    ) -> Principal:
        """The principal of a request, or AuthError / TooManyAttempts / AuthUnavailable.

        Credentials in the Authorization header win over a client certificate (a script holding a
        monitor certificate can still act with an operator token); a wrong header never falls back
        to the certificate.
        """
        has_header = authorization is not None and authorization.strip() != ""
        if not has_header and client_cert_user is None:
            raise AuthError("no credentials", source=source, public="authentication required")
        try:
            users, tokens = self._current()
        except AuthUnavailable as exc:
            exc.source = source
            self._report(exc, "unknown")
            raise
        src = source_key(source)
        with self._lock:
            wait = self._by_source.retry_after(src, self._clock())
        if wait is not None:
            raise self._refuse_limited(f"too many failed logins from {src}", wait, None, source, "unknown")
        if not has_header:
            assert client_cert_user is not None
            return self._certificate(users, client_cert_user, source, src)
        assert authorization is not None
        try:
            kind, first, second = parse_authorization(authorization)
        except AuthError as exc:
            raise self._failed(exc.reason, None, source, src, "unknown", count_user=False) from None
        if kind == "basic":
            return self._password(users, first, second, source, src)
        return self._token(users, tokens, first, source, src)

    def require(self, principal: Principal, needed: str) -> None:
        """Forbidden unless the principal's role includes ``needed``."""
        if not allows(principal.role, needed):
            reason = f"user {principal.user} has role {principal.role}; {needed} needed"
            raise Forbidden(reason, user=principal.user, public=f"role {needed} needed")

    def users(self) -> list[tuple[str, str]]:
        """(name, role) of every user as the running service sees them."""
        return sorted((u.name, u.role) for u in self._current()[0].values())

    # -- the three ways in -----------------------------------------------------------------

    def _certificate(self, users: dict[str, User], name: str, source: str, src: str) -> Principal:
        user = users.get(name)
        if user is None:
            raise self._failed(
                f"certificate user {_shown(name)} unknown", name, source, src, "certificate", count_user=False
            )
        return Principal(user.name, user.role, "certificate")

    def _password(self, users: dict[str, User], name: str, password: str, source: str, src: str) -> Principal:
        # Checks for one user name take turns (striped locks): twenty clients of one user starting
        # together cost one scrypt, the others find it in the cache, and none of them is counted as
        # a check in flight against the source's limit (they got 429 "too many login attempts in
        # progress" from bench.service).  Guesses at one name are serialized as well, which is fine.
        with self._turns[hash(name) % len(self._turns)]:
            return self._password_turn(users, name, password, source, src)

    def _password_turn(
        self, users: dict[str, User], name: str, password: str, source: str, src: str
    ) -> Principal:
        now = self._clock()
        user = users.get(name)
        with self._lock:
            wait = self._by_user.retry_after(name, now)
            if wait is not None:
                limited: tuple[str, float] | None = (f"too many failed logins for user {_shown(name)}", wait)
            elif (
                user is not None
                and user.password is not None
                and self._cached(name, password, user.password, now)
            ):
                return Principal(user.name, user.role, "password")
            else:
                # Room for one more check from this source and for this name, counting those in flight.
                wait = self._by_source.retry_after(src, now, pending=True)
                if wait is None:
                    wait = self._by_user.retry_after(name, now, pending=True)
                limited = None if wait is None else ("too many login attempts in progress", wait)
                if limited is None:
                    self._by_source.reserve(src)
                    self._by_user.reserve(name)
        if limited is not None:
            raise self._refuse_limited(limited[0], limited[1], name, source, "password")
        try:
            if user is None or user.password is None:
                _burn_password_time(password)
                ok = False
            else:
                ok = verify_password(password, user.password)
        finally:
            with self._lock:
                self._by_source.release(src)
                self._by_user.release(name)
        if not ok:
            if user is None:
                reason = f"unknown user {_shown(name)}"
            elif user.password is None:
                reason = f"user {name} has no password (token or certificate only)"
            else:
                reason = f"wrong password for user {name}"
            raise self._failed(reason, name, source, src, "password", count_user=True)
        assert user is not None and user.password is not None
        with self._lock:
            self._remember(name, password, user.password, self._clock())
        return Principal(user.name, user.role, "password")

    def _token(
        self, users: dict[str, User], tokens: dict[str, Token], token: str, source: str, src: str
    ) -> Principal:
        def fail(reason: str, user: str | None = None) -> AuthError:
            return self._failed(reason, user, source, src, "token", count_user=False)

        match = _TOKEN.match(token)
        if not match:
            raise fail("malformed bearer token")
        record = tokens.get(match.group(1))
        if record is None:
            raise fail(f"unknown token {match.group(1)}")
        if not hmac.compare_digest(token_digest(token), record.sha256):
            raise fail(f"token {record.id}: wrong secret", record.user)
        state = record.state(self._wall_clock())
        if state != "active":
            raise fail(f"token {record.id} {state}", record.user)
        user = users.get(record.user)
        if user is None:
            raise fail(f"token {record.id}: user {record.user} no longer exists", record.user)
        if record.created < user.created:
            raise fail(f"token {record.id} predates user {record.user}", record.user)
        # A token never outranks its user as the user is now (demotions take effect at once).
        role = record.role if _RANK[record.role] <= _RANK[user.role] else user.role
        return Principal(user.name, role, "token", token_id=record.id)

    # -- helpers ---------------------------------------------------------------------------

    def _current(self) -> tuple[dict[str, User], dict[str, Token]]:
        with self._lock:
            users: dict[str, User] = self._users.get()
            tokens: dict[str, Token] = self._tokens.get()
        return users, tokens

    def _cache_id(self, name: str, password: str, encoded: str) -> bytes:
        # Keyed with a per-process secret: the cache holds no hash an attacker could test offline.
        message = "\0".join((name, password, encoded)).encode("utf-8", "surrogatepass")
        return hmac.new(self._cache_key, message, hashlib.sha256).digest()

    def _cached(self, name: str, password: str, encoded: str, now: float) -> bool:
        key = self._cache_id(name, password, encoded)
        expires = self._verified.get(key)
        if expires is None:
            return False
        if expires <= now:
            del self._verified[key]
            return False
        return True

    def _remember(self, name: str, password: str, encoded: str, now: float) -> None:
        # The stored hash is part of the key: after `stonith user passwd` the old password misses.
        self._verified[self._cache_id(name, password, encoded)] = now + _VERIFIED_TTL
        while len(self._verified) > _VERIFIED_MAX:
            self._verified.popitem(last=False)

    def _failed(
        self, reason: str, user: str | None, source: str, src: str, via: str, *, count_user: bool
    ) -> AuthError:
        with self._lock:
            now = self._clock()
            self._by_source.record(src, now)
            if count_user and user is not None:
                self._by_user.record(user, now)
        shown = None if user is None else (user if USER_NAME.match(user) else _shown(user))
        exc = AuthError(reason, user=shown, source=source)
        self._report(exc, via)
        return exc

    def _refuse_limited(
        self, reason: str, wait: float, user: str | None, source: str, via: str
    ) -> TooManyAttempts:
        shown = None if user is None else (user if USER_NAME.match(user) else _shown(user))
        exc = TooManyAttempts(reason, wait, user=shown, source=source)
        self._report(exc, via)
        return exc

    def _report(self, exc: AuthError, via: str) -> None:
        if self.on_failure is not None:
            self.on_failure(LoginFailure(exc.user, exc.source or "", exc.reason, exc.status, via))

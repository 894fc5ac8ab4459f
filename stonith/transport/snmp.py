"""SNMP client for drivers: get, set (several var-binds), walk (GETBULK), v1/v2c/v3, deadlines.

URL format / options: an agent is ``host`` or ``host:port`` (``[v6addr]:port``; default port 161)
plus ``Credentials``:

    Credentials("2c", community="private")
    Credentials("1", community="private")
    Credentials("3", user="fencer", auth_protocol="SHA", auth_password="...",
                priv_protocol="AES", priv_password="...")

auth_protocol: MD5, SHA, SHA224, SHA256, SHA384, SHA512 (none without a password);
priv_protocol: DES, AES (= AES-128), AES192, AES256 (Blumenthal key extension, as net-snmp's
``AES-192``/``AES-256``), AES192C, AES256C (Reeder/Cisco key extension).  Both protocols are
always passed to pysnmp explicitly (its defaults, MD5 and DES, fail against SHA/AES agents).

Every operation takes a ``Deadline`` and never blocks past it: each attempt waits at most
``timeout`` seconds (and never past the deadline), and is retried ``retries`` times.  An agent
that never answered is ``Unreachable`` (a v1/v2c agent is also silent to a wrong community); one
that answered before and goes silent is ``Timeout``; v3 USM refusals are ``AuthFailed``.

This is the only module that imports pysnmp, and only when the first request is made.  The
sessions of a process share one asyncio event loop, run by a thread of its own, and one
``SnmpEngine`` per kind of credentials (every v1/v2c community: one engine; each distinct SNMPv3
user and keys: an engine of its own, since pysnmp keys its user table by user name alone): pysnmp
is built to serve many agents from one engine, and a new engine costs tens of milliseconds of CPU,
loading its MIB modules (wire-protocols.md section 3.2) -- 42 PDUs read at once took 5 CPU-s
with an engine each.  A session's requests run on that loop; the session's thread waits for them
until its deadline.  Secrets are held in memory only: ``repr`` redacts them and no message
carries them.
"""

from __future__ import annotations

import os
import threading

from stonith.contract.errors import AuthFailed, DeviceError, NoAnswer, StonithError, Timeout, Unreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from stonith.contract.deadline import Deadline

    Oid = tuple[int, ...]

V1, V2C, V3 = "1", "2c", "3"
VERSIONS = (V1, V2C, V3)
AUTH_PROTOCOLS = ("MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512")
PRIV_PROTOCOLS = ("DES", "AES", "AES192", "AES256", "AES192C", "AES256C")
DEFAULT_PORT = 161
MAX_REPETITIONS = 32  # rows per GETBULK when the table size is not known
TIMER_RESOLUTION = 0.01  # seconds
MAX_WALK = 10000  # var-binds; a table longer than this is a looping agent

# USM refusals (pysnmp.proto.errind class names) that mean "these credentials are wrong".
_AUTH_ERRORS = {
    "UnknownUserName": "unknown SNMPv3 user",
    "UnknownSecurityName": "unknown SNMPv3 user",
    "WrongDigest": "SNMPv3 authentication failed (wrong auth protocol or password)",
    "AuthenticationFailure": "SNMPv3 authentication failed",
    "DecryptionError": "SNMPv3 decryption failed (wrong privacy protocol or password)",
    "UnsupportedSecurityLevel": "the agent does not accept this SNMPv3 security level for the user",
}
# error-status values that mean "this community/user may not write".
_ACCESS_STATUS = {"noAccess", "authorizationError", "readOnly"}


class Missing:
    """The agent has no such object/instance (v2c/v3 exception values, v1 noSuchName)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"Missing({self.kind!r})"


NO_SUCH = Missing("noSuchObject")
END_OF_MIB = Missing("endOfMibView")


class Credentials:
    """Who we are to the agent.  ``repr`` never shows a community, key or password."""

    __slots__ = (
        "auth_password",
        "auth_protocol",
        "community",
        "priv_password",
        "priv_protocol",
        "user",
        "version",
    )

    def __init__(
        self,
        version: str = V2C,
        *,
        community: str = "",
        user: str = "",
        auth_protocol: str = "",
        auth_password: str = "",
        priv_protocol: str = "",
        priv_password: str = "",
    ) -> None:
        version = {"v1": V1, "v2c": V2C, "2": V2C, "v3": V3}.get(version.lower(), version.lower())
        if version not in VERSIONS:
            raise ValueError(f"SNMP version must be one of {', '.join(VERSIONS)}")
        auth_protocol = auth_protocol.upper().replace("-", "") if auth_protocol else ""
        priv_protocol = priv_protocol.upper().replace("-", "") if priv_protocol else ""
        priv_protocol = {"AES128": "AES"}.get(priv_protocol, priv_protocol)
        if version == V3:
            if not user:
                raise ValueError("SNMPv3 needs a user name")
            if auth_password and not auth_protocol:
                auth_protocol = "SHA"
            if priv_password and not priv_protocol:
                priv_protocol = "AES"
            if auth_protocol and auth_protocol not in AUTH_PROTOCOLS:
                raise ValueError(f"unknown SNMPv3 auth protocol (one of {', '.join(AUTH_PROTOCOLS)})")
            if priv_protocol and priv_protocol not in PRIV_PROTOCOLS:
                raise ValueError(f"unknown SNMPv3 privacy protocol (one of {', '.join(PRIV_PROTOCOLS)})")
            if auth_protocol and len(auth_password) < 8:
                raise ValueError("the SNMPv3 auth password needs at least 8 characters")
            if priv_protocol and (not auth_protocol or len(priv_password) < 8):
                raise ValueError(
                    "SNMPv3 privacy needs authentication and a password of at least 8 characters"
                )
        elif not community:
            raise ValueError(f"SNMP v{version} needs a community")
        self.version = version
        self.community = community
        self.user = user
        self.auth_protocol = auth_protocol
        self.auth_password = auth_password
        self.priv_protocol = priv_protocol
        self.priv_password = priv_password

    @property
    def level(self) -> str:
        if self.version != V3:
            return "community"
        return "authPriv" if self.priv_protocol else "authNoPriv" if self.auth_protocol else "noAuthNoPriv"

    def __repr__(self) -> str:
        if self.version == V3:
            protocols = f"{self.auth_protocol or '-'}/{self.priv_protocol or '-'}"
            return f"Credentials(v3, user={self.user!r}, {self.level}, {protocols})"
        return f"Credentials(v{self.version}, community=********)"


class Session:
    """A client of one agent.  Not thread-safe by design; a lock guards against misuse."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        credentials: Credentials | None = None,
        *,
        timeout: float = 1.0,
        retries: int = 1,
    ) -> None:
        self.host = host
        self.port = port
        self.credentials = credentials or Credentials(V2C, community="public")
        self.timeout = max(0.01, float(timeout))
        self.retries = max(0, int(retries))
        self.requests = 0  # requests sent, retries included (round trips attempted)
        self.answered = False  # the agent answered at least once
        self._lock = threading.Lock()
        self._loop: Any = None  # the shared loop, once this session is set up
        self._engine: Any = None
        self._auth: Any = None
        self._target: Any = None
        self._api: Any = None

    @property
    def where(self) -> str:
        from stonith.contract.validation import join_hostport

        return join_hostport(self.host, self.port)

    # -- public API ------------------------------------------------------------------------
    def get(self, oids: Sequence[Oid], deadline: Deadline) -> list[tuple[Oid, Any]]:
        """Values of ``oids`` in one request; an absent object's value is ``NO_SUCH``."""
        if not oids:
            return []
        if self.credentials.version == V1:
            answer = self._get_v1(list(oids), deadline)
        else:
            answer = self._request("get", [(oid, None) for oid in oids], deadline)
        if len(answer) != len(oids):
            raise DeviceError(
                f"SNMP agent {self.where} answered {len(answer)} values to a GET of {len(oids)}"
            )
        return answer

    def set(self, varbinds: Sequence[tuple[Oid, int | str | bytes]], deadline: Deadline) -> None:
        """Write every var-bind in one request (the agent applies all or none)."""
        if varbinds:
            self._request("set", list(varbinds), deadline)

    def walk(
        self, base: Oid, deadline: Deadline, *, max_repetitions: int = MAX_REPETITIONS, limit: int = MAX_WALK
    ) -> list[tuple[Oid, Any]]:
        """Every instance under ``base`` (the first ``limit``), in OID order, by GETBULK (GETNEXT in v1)."""
        base = tuple(base)
        found: list[tuple[Oid, Any]] = []
        cursor = base
        while len(found) < min(limit, MAX_WALK):
            if self.credentials.version == V1:
                page = self._request("next", [(cursor, None)], deadline, missing_ok=True)
            else:
                page = self._request("bulk", [(cursor, None)], deadline, repetitions=max(1, max_repetitions))
            if not page:
                return found
            for oid, value in page:
                if oid[: len(base)] != base or value is END_OF_MIB or value is NO_SUCH:
                    return found
                if oid <= cursor:
                    raise DeviceError(f"SNMP agent {self.where} returned OIDs out of order while walking")
                found.append((oid, value))
                cursor = oid
                if len(found) >= limit:
                    return found
        raise DeviceError(f"SNMP agent {self.where}: table under {format_oid(base)} does not end")

    def close(self) -> None:
        """Forget the engine (shared: it stays for the process's other sessions, and its table of
        agents holds one entry per agent and timeout, reused by the next session to it)."""
        with self._lock:
            self._loop = self._engine = self._target = None

    # -- internals -------------------------------------------------------------------------
    def _get_v1(self, oids: list[Oid], deadline: Deadline) -> list[tuple[Oid, Any]]:
        """v1 fails a whole GET on the first missing name: ask again without it."""
        values: dict[Oid, Any] = {}
        remaining = list(oids)
        while remaining:
            try:
                for oid, value in self._request("get", [(o, None) for o in remaining], deadline):
                    values[oid] = value
                break
            except _NoSuchName as exc:
                values[remaining[exc.index]] = NO_SUCH
                del remaining[exc.index]
        return [(oid, values.get(oid, NO_SUCH)) for oid in oids]

    def _setup(self, deadline: Deadline) -> None:
        """The process's SNMP engine for these credentials and this agent's target, within the
        deadline (the first session of a process imports pysnmp and builds the engine: tens of
        milliseconds on an idle machine, seconds on a saturated one; what is late goes on being
        built for the next session)."""
        engines = _engines()
        api, engine = engines.engine(self.credentials, deadline, self.where)
        auth = _auth_data(api, self.credentials)
        target_cls = api.Udp6TransportTarget if ":" in self.host else api.UdpTransportTarget

        async def make() -> Any:
            return await target_cls.create((self.host, self.port), timeout=self.timeout, retries=0)

        try:
            target = engines.call(make(), deadline, f"SNMP agent {self.where}: resolving its address")
        except TimeoutError:
            raise Timeout(f"SNMP agent {self.where}: the deadline passed while setting up") from None
        except Exception as exc:
            raise Unreachable(f"SNMP agent {self.where}: {exc}") from None
        self._loop, self._api, self._engine = engines.loop, api, engine
        self._auth, self._target = auth, target

    def _request(
        self,
        kind: str,
        varbinds: list[tuple[Oid, Any]],
        deadline: Deadline,
        *,
        repetitions: int = 0,
        missing_ok: bool = False,
    ) -> list[tuple[Oid, Any]]:
        with self._lock:
            if self._loop is None:
                if deadline.remaining() <= 0.005:  # no time for a request: skip the engine set-up too
                    raise Timeout(f"SNMP agent {self.where}: deadline passed before {kind}")
                self._setup(deadline)
            attempts = self.retries + 1
            for _attempt in range(attempts):
                wait = min(self.timeout, deadline.remaining())
                if wait <= 0.005:
                    break
                self.requests += 1
                result = self._once(kind, varbinds, wait, repetitions)
                if result is None:
                    continue  # no answer within ``wait``
                self.answered = True
                return self._unpack(kind, varbinds, result, missing_ok)
            # One code per situation, not per timing: an agent that answered earlier in this session
            # and is silent now is S_TIMEOUT; one that never answered any request is NoAnswer
            # (S_OOPS, unreachable) whether the retries or the deadline ran out first.
            if self.answered:
                raise Timeout(f"SNMP agent {self.where} did not answer {kind} before the deadline")
            if self.requests == 0:
                raise Timeout(f"SNMP agent {self.where}: deadline passed before {kind}")
            raise NoAnswer(
                f"no answer from SNMP agent {self.where} ({attempts} attempt(s) of {self.timeout:g} s); "
                "unreachable, or it does not accept our credentials"
                + (" (v1/v2c agents ignore a wrong community)" if self.credentials.version != V3 else "")
            )

    def _once(self, kind: str, varbinds: list[tuple[Oid, Any]], wait: float, repetitions: int) -> Any:
        """One request; (errorIndication, errorStatus, errorIndex, varBinds) or None on timeout.

        pysnmp's own timer ends the request after the session's ``timeout``; ``wait`` (shorter near
        the deadline) is ours: at its end the request is cancelled.  The target keeps its timeout
        (the engine's table of agents has an entry per agent and timeout)."""
        encoded = [(oid, value, _encode(value)) for oid, value in varbinds]  # a bad value fails here
        coro = _command(self._api, kind, self._engine, self._auth, self._target, encoded, repetitions)
        try:
            result = _engines().call(coro, wait, f"SNMP {kind} to {self.where}")
        except TimeoutError:
            return None
        except StonithError:
            raise
        except Exception as exc:  # pysnmp raises for unresolvable addresses, bad values, ...
            raise DeviceError(f"SNMP {kind} to {self.where} failed: {type(exc).__name__}: {exc}") from None
        indication = result[0]
        if indication is not None and type(indication).__name__ == "RequestTimedOut":
            return None
        return result

    def _unpack(
        self, kind: str, varbinds: list[tuple[Oid, Any]], result: Any, missing_ok: bool
    ) -> list[tuple[Oid, Any]]:
        indication, status, index, answer = result
        if indication is not None:
            name = type(indication).__name__
            if name in _AUTH_ERRORS:
                raise AuthFailed(f"SNMP agent {self.where}: {_AUTH_ERRORS[name]}")
            raise DeviceError(f"SNMP agent {self.where}: {indication}")
        if int(status):
            text = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
            position = int(index)
            if text == "noSuchName":
                if missing_ok:
                    return []
                if kind == "get" and 0 < position <= len(varbinds):
                    raise _NoSuchName(position - 1)
            where = f" at {format_oid(varbinds[position - 1][0])}" if 0 < position <= len(varbinds) else ""
            if kind == "set" and text in _ACCESS_STATUS:
                raise AuthFailed(
                    f"SNMP agent {self.where} refused the write ({text}{where}): "
                    "the community or user may only read"
                )
            raise DeviceError(f"SNMP agent {self.where} answered {kind} with {text}{where}")
        rows = []
        for item in answer:
            for vb in item if isinstance(item, (list, tuple)) and item and not _is_varbind(item) else [item]:
                rows.append((_oid_of(vb[0]), _decode(vb[1])))
        return rows


class _NoSuchName(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class _Engines:
    """The process's SNMP engines, on one asyncio loop in a thread of its own (see the module
    docstring).  Built on first use; rebuilt in a forked child, which has no such thread."""

    def __init__(self) -> None:
        import asyncio

        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_quiet_late_replies)
        self._engines: dict[tuple[str, ...], Any] = {}  # credentials key -> a future of (api, engine)
        self._guard = threading.Lock()
        threading.Thread(target=self.loop.run_forever, name="snmp-engines", daemon=True).start()

    def call(self, coro: Any, limit: Deadline | float, doing: str) -> Any:
        """Run ``coro`` on the loop; its result, waited for at most ``limit`` (a Deadline, or
        seconds).  TimeoutError (the coroutine cancelled) when it is not done by then."""
        import asyncio
        import concurrent.futures

        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        wait = limit.remaining() if not isinstance(limit, (int, float)) else limit
        try:
            # pysnmp checks its request timers every TIMER_RESOLUTION: a little more than ``wait``.
            return future.result(max(0.0, wait) + 2 * TIMER_RESOLUTION)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(doing) from None

    def engine(self, credentials: Credentials, deadline: Deadline, where: str) -> tuple[Any, Any]:
        """(pysnmp's hlapi module, the engine for ``credentials``), built once per kind."""
        import concurrent.futures

        key: tuple[str, ...] = ("community",)
        if credentials.version == V3:
            c = credentials
            key = (V3, c.user, c.auth_protocol, c.auth_password, c.priv_protocol, c.priv_password)
        with self._guard:
            built = self._engines.get(key)
            if built is None or (built.done() and built.exception() is not None):
                built = self._engines[key] = concurrent.futures.Future()
                threading.Thread(target=self._build, args=(built,), name="snmp-engine", daemon=True).start()
        try:
            result: tuple[Any, Any] = built.result(max(0.0, deadline.remaining()))
        except concurrent.futures.TimeoutError:
            raise Timeout(
                f"SNMP agent {where}: the deadline passed while setting up the SNMP engine"
            ) from None
        except Exception as exc:
            raise Unreachable(f"SNMP agent {where}: {exc}") from None
        return result

    def _build(self, built: Any) -> None:
        """Import pysnmp and make an engine on the loop (a thread of its own: the import is slow
        and must not hold the loop's other requests)."""
        try:
            from pysnmp.hlapi.v3arch import asyncio as api

            async def make() -> Any:
                return api.SnmpEngine()

            engine = self.call(make(), 60.0, "building the SNMP engine")
            built.set_result((api, engine))
        except BaseException as exc:  # handed to every waiting session
            built.set_exception(exc)


async def _command(
    api: Any,
    kind: str,
    engine: Any,
    auth: Any,
    target: Any,
    encoded: list[tuple[Oid, Any, Any]],
    repetitions: int,
) -> Any:
    """One request on the engines' loop: (errorIndication, errorStatus, errorIndex, varBinds)."""
    objects = [_resolved(api, engine, oid, value, asn1) for oid, value, asn1 in encoded]
    common = (engine, auth, target, api.ContextData())
    try:
        if kind == "get":
            return await api.get_cmd(*common, *objects, lookupMib=False)
        if kind == "set":
            return await api.set_cmd(*common, *objects, lookupMib=False)
        if kind == "next":
            return await api.next_cmd(*common, *objects, lookupMib=False, lexicographicMode=True)
        return await api.bulk_cmd(*common, 0, repetitions, *objects, lookupMib=False)
    finally:
        # pysnmp checks its request timers every 0.1 s: every TIMER_RESOLUTION once its dispatcher
        # exists (a first request configured a transport).
        dispatcher = getattr(engine, "transport_dispatcher", None)
        if dispatcher is not None and dispatcher.get_timer_resolution() > TIMER_RESOLUTION:
            dispatcher.set_timer_resolution(TIMER_RESOLUTION)


RESOLVED_MAX = 4096  # var-binds kept resolved per engine (a PDU's columns and commands: a few each)


def _resolved(api: Any, engine: Any, oid: Oid, value: Any, asn1: Any) -> Any:
    """The var-bind as pysnmp sends it, resolved against the engine's MIB view once and then kept:
    pysnmp resolves every var-bind of every request (about 0.2 ms of CPU each, most of a SET of
    eight outlets), and a fence asks for the same columns and commands again and again.  Runs on
    the engines' loop, which is the only user of the cache."""
    from pysnmp.hlapi.varbinds import CommandGeneratorVarBinds

    cache: dict[tuple[Any, ...], Any] = engine.cache.setdefault("stonith_varbinds", {})
    key = (oid, type(value), value)
    found = cache.get(key)
    if found is None:
        if len(cache) >= RESOLVED_MAX:
            cache.clear()
        varbind = api.ObjectType(api.ObjectIdentity(oid), asn1)
        found = cache[key] = CommandGeneratorVarBinds().make_varbinds(engine.cache, (varbind,))[0]
    return found


_ENGINES: _Engines | None = None
_ENGINES_GUARD = threading.Lock()


def _engines() -> _Engines:
    global _ENGINES
    with _ENGINES_GUARD:
        if _ENGINES is None or _ENGINES.pid != os.getpid():
            _ENGINES = _Engines()
        return _ENGINES


def _auth_data(api: Any, creds: Credentials) -> Any:
    """pysnmp's authentication object for ``creds``."""
    if creds.version != V3:
        return api.CommunityData(creds.community, mpModel=0 if creds.version == V1 else 1)
    auth = {
        "": api.USM_AUTH_NONE,
        "MD5": api.USM_AUTH_HMAC96_MD5,
        "SHA": api.USM_AUTH_HMAC96_SHA,
        "SHA224": api.USM_AUTH_HMAC128_SHA224,
        "SHA256": api.USM_AUTH_HMAC192_SHA256,
        "SHA384": api.USM_AUTH_HMAC256_SHA384,
        "SHA512": api.USM_AUTH_HMAC384_SHA512,
    }[creds.auth_protocol]
    priv = {
        "": api.USM_PRIV_NONE,
        "DES": api.USM_PRIV_CBC56_DES,
        "AES": api.USM_PRIV_CFB128_AES,
        "AES192": api.USM_PRIV_CFB192_AES_BLUMENTHAL,
        "AES256": api.USM_PRIV_CFB256_AES_BLUMENTHAL,
        "AES192C": api.USM_PRIV_CFB192_AES,
        "AES256C": api.USM_PRIV_CFB256_AES,
    }[creds.priv_protocol]
    return api.UsmUserData(
        creds.user,
        authKey=creds.auth_password or None,
        privKey=creds.priv_password or None,
        authProtocol=auth,
        privProtocol=priv,
    )


def _is_varbind(item: Any) -> bool:
    """An ObjectType, or the plain (ObjectName, value) pair pysnmp gives with lookupMib=False."""
    if type(item).__name__ == "ObjectType":
        return True
    return isinstance(item, tuple) and len(item) == 2 and hasattr(item[0], "asTuple")


def _oid_of(name: Any) -> Oid:
    if hasattr(name, "get_oid"):
        try:
            return tuple(int(x) for x in name.get_oid())
        except Exception:
            args: Any = getattr(name, "_ObjectIdentity__args", ())
            return tuple(int(x) for x in args[0])
    return tuple(int(x) for x in name)


def _encode(value: Any) -> Any:
    from pysnmp.proto import rfc1902

    if value is None:
        return rfc1902.Null("")
    if isinstance(value, bool) or not isinstance(value, (int, str, bytes)):
        raise TypeError(f"cannot send {type(value).__name__} over SNMP")
    if isinstance(value, int):
        return rfc1902.Integer32(value)
    return rfc1902.OctetString(value.encode("utf-8") if isinstance(value, str) else value)


def _decode(value: Any) -> Any:
    """int, bytes, an OID tuple, or NO_SUCH / END_OF_MIB."""
    from pysnmp.proto import rfc1902, rfc1905

    univ = rfc1902.univ  # pyasn1's base types, as pysnmp uses them

    if isinstance(value, rfc1905.EndOfMibView):
        return END_OF_MIB
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance)):
        return NO_SUCH
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.ObjectIdentifier):
        return tuple(int(x) for x in value)
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets())
    if isinstance(value, univ.Null):
        return NO_SUCH
    return value.prettyPrint() if hasattr(value, "prettyPrint") else str(value)


def parse_oid(text: str) -> Oid:
    parts = text.strip().strip(".").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a numeric OID: {text!r}")
    return tuple(int(p) for p in parts)


def format_oid(oid: Sequence[int]) -> str:
    return "." + ".".join(str(x) for x in oid)


def _quiet_late_replies(loop: Any, context: dict[str, Any]) -> None:
    """An answer that arrives after its request timed out is not an error of ours.

    pysnmp hands such a datagram to a transport we already gave up on and asyncio would print the
    resulting CarrierError with a traceback on stderr; the request itself has already failed with
    our typed Timeout.  Anything else goes to asyncio's default handler.
    """
    exception = context.get("exception")
    if exception is not None and type(exception).__name__ == "CarrierError":
        return
    loop.default_exception_handler(context)

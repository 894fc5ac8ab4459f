"""redfish: power control of one server through its BMC's Redfish service (HTTPS, JSON).

Family: Redfish 1.x BMCs (iDRAC 8+, iLO 5+, XCC, OpenBMC bmcweb, Supermicro X11+, ...).
Protocol: HTTPS (``requests``): the service root (``/redfish/v1``), the Systems collection, one
ComputerSystem (discovered, or ``systems_uri``), its ``PowerState`` and its
``#ComputerSystem.Reset`` action.  ResetType values are chosen from what the system allows
(``ResetType@Redfish.AllowableValues`` inline, or the ``@Redfish.ActionInfo`` resource): on =
``On`` (else ``ForceOn``), off = ``ForceOff``; a native cycle (``PowerCycle``) exists but is not
declared verifiable, so resets are off -> read back Off -> on -> read back On (stonith.engine).

Tested on: our mock (mocks/redfish.py; fence-agents' fence_redfish accepts it unmodified) and
sushy-tools' emulator with its fake driver (tests/drivers/test_redfish.py).  Not yet on hardware.

Unlike fence_redfish: every request, body included, ends by the operation's deadline (a port that
accepts and never answers, or a service dripping its answer a byte at a time, fails in time instead
of hanging; stonith.transport.http), bodies are capped (``MAX_BODY``), every response's HTTP status
is checked (a refused reset is a failure), a collection of several systems is not silently reduced
to its last member (the one whose HostName is ``hostname`` is taken, else ``systems_uri`` is
required), TLS certificates are verified unless told otherwise (``ca_bundle`` for a private CA),
credentials (Basic or the session token) go only to the configured origin (a device-supplied
absolute URL or a redirect elsewhere is refused), and a session (``auth_method=session``) is
always deleted, also after errors.

Assumes:
- one BMC controls one node (``hostname``): one outlet, id "1";
- PowerState ``Off`` is the only off; ``On``, ``PoweringOff`` and ``Paused`` still have power (on);
  ``PoweringOn`` and anything unknown are UNKNOWN (never off, and not yet a verified on).
"""

from __future__ import annotations

import time

from stonith.driver import OFF, ON, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.errors import (
    AuthFailed,
    DeviceError,
    StonithError,
    Timeout,
    UnknownOutlet,
    Unreachable,
    Unsupported,
)
from stonith.fields import BOOLEAN, ENUMERATION, HOSTNAME, HOSTPORT, PATH, SECONDS, SECRET, Field, crash_dump

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    import requests

    from stonith.deadline import Deadline
    from stonith.steps import Steps
    from stonith.transport.http import Answer

CHASSIS = "1"
POWER_STATES = {"On": ON, "Off": OFF, "PoweringOff": ON, "Paused": ON}
ON_TYPES = ("On", "ForceOn")
OFF_TYPES = ("ForceOff",)
CYCLE_TYPES = ("PowerCycle",)
OK_STATUS = (200, 201, 202, 204)
LOGOUT_STEP = 5.0

HOSTNAME_FIELD = Field(
    "hostname",
    "Host name",
    specialtype=HOSTNAME,
    length=253,
    required=True,
    short_text="Node this BMC resets",
    long_text="The name of the cluster node whose system this BMC controls (the only host it lists).",
)
IPADDR = Field(
    "ipaddr",
    "BMC address",
    specialtype=HOSTPORT,
    required=True,
    short_text="BMC address (host or host:port)",
    long_text="The IP address or host name of the BMC's Redfish service, optionally with :port "
    "(default 443 with ssl, 80 without).",
)
LOGIN = Field("login", "Login", short_text="BMC user name", long_text="The Redfish user name.")
PASSWORD = Field(
    "password", "Password", specialtype=SECRET, short_text="BMC password", long_text="The Redfish password."
)
SSL = Field(
    "ssl",
    "Use HTTPS",
    basictype=BOOLEAN,
    default=True,
    short_text="Use HTTPS (default yes)",
    long_text="Talk HTTPS (yes, as Redfish requires) or plain HTTP (no; test services only).",
)
SSL_INSECURE = Field(
    "ssl_insecure",
    "Skip certificate verification",
    basictype=BOOLEAN,
    default=False,
    short_text="Do not verify the BMC's TLS certificate",
    long_text="Accept any TLS certificate (self-signed BMC certificates). Prefer ca_bundle.",
)
CA_BUNDLE = Field(
    "ca_bundle",
    "CA bundle",
    specialtype=PATH,
    short_text="CA certificates (PEM file) to verify the BMC with",
    long_text="A PEM file of CA certificates that the BMC's certificate must chain to (a private CA, "
    "or the BMC's own self-signed certificate).",
)
SYSTEMS_URI = Field(
    "systems_uri",
    "System path",
    regex=r"/redfish/v1/Systems/[^\s]+",
    short_text="ComputerSystem path (default: discovered)",
    long_text="The path of the ComputerSystem to control, e.g. /redfish/v1/Systems/System.Embedded.1. "
    "Without it the Systems collection is read: its only member, or the one whose HostName is hostname.",
)
REDFISH_URI = Field(
    "redfish_uri",
    "Service root",
    regex=r"/[^\s]*",
    default="/redfish/v1",
    short_text="Service root path (/redfish/v1)",
    long_text="The path of the Redfish service root.",
)
AUTH_METHOD = Field(
    "auth_method",
    "Authentication",
    basictype=ENUMERATION,
    enumset=("basic", "session"),
    default="basic",
    short_text="basic (every request) or session (X-Auth-Token)",
    long_text="basic: HTTP Basic authentication on every request (stateless: nothing is left on the "
    "BMC). session: log in once through the SessionService and delete the session at the end.",
)
REQUEST_TIMEOUT = Field(
    "request_timeout",
    "Request timeout",
    basictype=SECONDS,
    default=10.0,
    minval=0.5,
    maxval=300,
    short_text="Seconds one HTTP request may take",
    long_text="The longest one HTTP request may take, from connecting to the last byte of the answer; "
    "never longer than what is left of the operation's deadline.",
)

INFO = DriverInfo(
    "redfish",
    shortdesc="Redfish BMC (ComputerSystem reset)",
    description="Power control of a server through its BMC's Redfish service over HTTPS.\nThe one "
    "host is the configured hostname; a reset is ForceOff, read back Off, On, read back On.",
    fields=(
        HOSTNAME_FIELD,
        IPADDR,
        LOGIN,
        PASSWORD,
        SSL,
        SSL_INSECURE,
        CA_BUNDLE,
        SYSTEMS_URI,
        REDFISH_URI,
        AUTH_METHOD,
        REQUEST_TIMEOUT,
        crash_dump(),
    ),
    family="Redfish BMC",
    models=("Redfish 1.x ComputerSystem",),
    url="https://www.dmtf.org/standards/redfish",
    capabilities=Capabilities(cycle=False, sessions=4),
)


class Redfish(Driver):
    INFO = INFO

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        scheme = "https" if self.config.get("ssl", True) else "http"
        self.base = f"{scheme}://{self.config['ipaddr']}"
        self._http: requests.Session | None = None
        self._session_uri = ""
        self._system = ""
        self._root: dict[str, Any] = {}
        self._reset_target = ""
        self._allowed: list[str] | None = None

    def device_name(self) -> str:
        return str(self.config["ipaddr"])

    # -- HTTP ----------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        """``path`` (configured, or sent by the device) as a URL on the configured origin only."""
        from stonith.transport import http

        return http.resolve(self.base, str(path))

    def _request(
        self, method: str, path: str, deadline: Deadline, body: Any = None, step: float | None = None
    ) -> Answer:
        import requests

        from stonith.transport import http

        if self._http is None:
            raise DeviceError(f"no connection to Redfish service {self.base} (connect first)")
        limit = min(
            float(self.config.get("request_timeout", 10.0)),
            step or deadline.remaining(),
            deadline.remaining(),
        )
        what = f"{method} {path}"
        if limit <= 0:
            raise Timeout(f"deadline of {deadline.what} passed before {what} at {self.base}")
        url = self._url(path)
        try:
            response = http.fetch(
                self._http,
                method,
                url,
                end=time.monotonic() + limit,
                read_timeout=limit,
                json_body=body,
                what=f"Redfish service {self.base}",
            )
        except Timeout:
            raise Timeout(f"Redfish service {self.base} did not answer {what} within {limit:.3g} s") from None
        except requests.exceptions.SSLError as exc:
            raise Unreachable(
                f"TLS with {self.base} failed ({_reason(exc)}); give ca_bundle (or ssl_insecure=yes)"
            ) from None
        except requests.exceptions.Timeout:
            raise Timeout(f"Redfish service {self.base} did not answer {what} within {limit:.3g} s") from None
        except requests.exceptions.RequestException as exc:
            raise Unreachable(f"Redfish service {self.base}: {_reason(exc)} ({what})") from None
        except (UnicodeError, ValueError) as exc:  # e.g. a redirect Location that is not UTF-8
            raise DeviceError(
                f"Redfish service {self.base}: malformed HTTP answer to {what} ({exc})"
            ) from None
        if response.status in (401, 403):
            user = self.config.get("login") or ""
            raise AuthFailed(
                f"Redfish service {self.base} refused the credentials of user {user!r} "
                f"(HTTP {response.status} on {what})"
            )
        return response

    def _get(self, path: str, deadline: Deadline) -> dict[str, Any]:
        response = self._request("GET", path, deadline)
        if response.status != 200:
            raise DeviceError(
                f"Redfish service {self.base}: GET {path} -> HTTP {response.status}{_message(response)}"
            )
        try:
            data = response.json()
        except ValueError:
            raise DeviceError(f"Redfish service {self.base}: GET {path} did not return JSON") from None
        if not isinstance(data, dict):
            raise DeviceError(f"Redfish service {self.base}: GET {path} did not return an object")
        return data

    # -- session -------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        from stonith.transport.http import session

        self.disconnect()
        http = session()  # no proxies from the environment; every request watched by its deadline
        http.headers.update(
            {"OData-Version": "4.0", "Accept": "application/json", "Content-Type": "application/json"}
        )
        if self.config.get("ssl", True):
            http.verify = False if self.config.get("ssl_insecure") else (self.config.get("ca_bundle") or True)
        self._http = http
        try:
            root_path = str(self.config.get("redfish_uri") or "/redfish/v1").rstrip("/")
            self._root = self._get(root_path + "/", deadline)
            user, password = str(self.config.get("login") or ""), str(self.config.get("password") or "")
            if self.config.get("auth_method") == "session":
                self._login(root_path, user, password, deadline)
            else:
                # UTF-8 (RFC 7617): requests would encode str as Latin-1, and its error for any other
                # character names the character and its position in the password.
                from requests.auth import HTTPBasicAuth

                http.auth = HTTPBasicAuth(user.encode("utf-8"), password.encode("utf-8"))
            self._system = str(self.config.get("systems_uri") or "") or self._discover(deadline)
            self._read_actions(self._get(self._system, deadline), deadline)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # A member of the wrong JSON type (a string where a link object belongs, ...).
            self.disconnect()
            raise DeviceError(f"Redfish service {self.base} answered with malformed JSON ({exc})") from None
        except BaseException:
            self.disconnect()
            raise

    def _login(self, root_path: str, user: str, password: str, deadline: Deadline) -> None:
        link = (self._root.get("Links") or {}).get("Sessions") or {}
        path = link.get("@odata.id") or root_path + "/SessionService/Sessions"
        response = self._request("POST", path, deadline, {"UserName": user, "Password": password})
        token = response.headers.get("X-Auth-Token")
        if response.status not in (200, 201) or not token:
            raise DeviceError(
                f"Redfish service {self.base} did not open a session (HTTP "
                f"{response.status}{_message(response)})"
            )
        self._session_uri = response.headers.get("Location") or ""
        assert self._http is not None
        self._http.headers["X-Auth-Token"] = token

    def _discover(self, deadline: Deadline) -> str:
        from stonith.drivers._text import printable

        systems = (self._root.get("Systems") or {}).get("@odata.id")
        if not systems:
            raise DeviceError(f"Redfish service {self.base} lists no Systems collection")
        members = [
            str(m["@odata.id"])
            for m in self._get(systems, deadline).get("Members") or []
            if isinstance(m, dict) and m.get("@odata.id")
        ]
        if len(members) == 1:
            return str(members[0])
        if not members:
            raise DeviceError(f"Redfish service {self.base} has no ComputerSystem")
        wanted = str(self.config["hostname"]).casefold()
        for member in members:
            if str(self._get(member, deadline).get("HostName") or "").casefold() == wanted:
                return str(member)
        raise DeviceError(
            f"Redfish service {self.base} has {len(members)} systems and none has HostName "
            f"{self.config['hostname']!r}; set systems_uri (one of {printable(', '.join(members))})"
        )

    def _read_actions(self, system: dict[str, Any], deadline: Deadline) -> None:
        action = (system.get("Actions") or {}).get("#ComputerSystem.Reset") or {}
        self._reset_target = str(action.get("target") or f"{self._system}/Actions/ComputerSystem.Reset")
        allowed = action.get("ResetType@Redfish.AllowableValues")
        if allowed is None and action.get("@Redfish.ActionInfo"):
            info = self._get(str(action["@Redfish.ActionInfo"]), deadline)
            for parameter in info.get("Parameters") or []:
                if isinstance(parameter, dict) and parameter.get("Name") == "ResetType":
                    allowed = parameter.get("AllowableValues")
        # No list at all: the POST's status will tell (never assumed to have worked).
        self._allowed = [str(v) for v in allowed] if isinstance(allowed, list) else None

    def disconnect(self) -> None:
        http, self._http = self._http, None
        if http is None:
            return
        if self._session_uri:
            from stonith.deadline import Deadline

            self._http = http
            try:
                self._request("DELETE", self._session_uri, Deadline(LOGOUT_STEP, "logout"))
            except StonithError:
                pass  # the BMC will expire it; nothing else can be done
            finally:
                self._http = None
                self._session_uri = ""
        http.close()

    def probe(self, deadline: Deadline) -> str:
        system = self._get(self._system, deadline)
        from stonith.drivers._text import printable

        version = printable(str(self._root.get("RedfishVersion", "?")), 20)
        state = printable(str(system.get("PowerState", "?")), 20)
        return f"Redfish {version} service {self.base}, system {printable(self._system)} ({state})"

    # -- verbs ---------------------------------------------------------------------------------
    def static_outlets(self) -> list[Outlet]:
        return [Outlet(CHASSIS, str(self.config["hostname"]))]

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return self.static_outlets()

    @staticmethod
    def _check(outlet: Outlet) -> None:
        if outlet.id != CHASSIS:
            raise UnknownOutlet(f'a Redfish BMC has one outlet (the system, "1"), not {outlet.id!r}')

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        self._check(outlet)
        state = self._get(self._system, deadline).get("PowerState")
        return POWER_STATES.get(str(state), UNKNOWN)

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        return {o.id: self.status(o, deadline) for o in outlets}

    def _choose(self, candidates: Sequence[str], verb: str) -> str:
        if self._allowed is None:
            return candidates[0]
        for candidate in candidates:
            if candidate in self._allowed:
                return candidate
        from stonith.drivers._text import printable

        raise Unsupported(
            f"Redfish system {printable(self._system)} allows no ResetType for {verb} "
            f"(wanted {' or '.join(candidates)}; allowed: {printable(', '.join(self._allowed)) or 'none'})"
        )

    def reset_action(self, reset_type: str, deadline: Deadline) -> None:
        """POST the Reset action; accepted only on HTTP 200/202/204."""
        response = self._request("POST", self._reset_target, deadline, {"ResetType": reset_type})
        if response.status not in OK_STATUS:
            try:
                detail = _message(response)
            except (AttributeError, TypeError, KeyError, IndexError, ValueError):
                detail = ""  # an error body of the wrong shape: the status code says enough
            raise DeviceError(
                f"Redfish service {self.base} refused ResetType {reset_type} (HTTP {response.status}{detail})"
            )

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._check(outlet)
        self.reset_action(self._choose(ON_TYPES, "on"), deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._check(outlet)
        self.reset_action(self._choose(OFF_TYPES, "off"), deadline)

    def nmi_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        """ResetType Nmi (where the system allows it): a diagnostic interrupt, power untouched."""
        yield from ()
        for outlet in outlets:
            self._check(outlet)
            self.reset_action(self._choose(("Nmi",), "a crash dump"), deadline)

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        """PowerCycle where allowed; not used by verified resets (its acceptance proves nothing)."""
        self._check(outlet)
        self.reset_action(self._choose(CYCLE_TYPES, "cycle"), deadline)


def _reason(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if reason is not None:
        text = str(reason)
    return " ".join(text.split())[:200]


def _message(response: Answer) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return ""
    infos = error.get("@Message.ExtendedInfo") or []
    ids = [str(i.get("MessageId")) for i in infos if isinstance(i, dict) and i.get("MessageId")]
    from stonith.drivers._text import printable

    return f": {printable(', '.join(ids) or str(error.get('code') or ''))}"

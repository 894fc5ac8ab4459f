"""What every Redfish driver shares: one service's HTTP(S), authentication, tasks and its fields.

Used by ``redfish`` (ComputerSystems of a BMC) and ``redfish_pdu`` (outlets of a DMTF
PowerDistribution service).  HTTP goes through stonith.transport.http (a deadline for each whole
request, bounded bodies, credentials only to the configured origin).

Authentication (``auth_method``), per operation (the engine connects once, disconnects once):

- ``auto`` (default): a session when the service root links one (``Links.Sessions`` or
  ``SessionService``), else HTTP Basic; a service that then answers the login with 404, 405 or
  501 (no SessionService after all) gets Basic too.  Wrong credentials are never retried as Basic.
- ``session``: POST ``SessionService/Sessions`` once (201, ``X-Auth-Token``, ``Location``), the
  token on every request, ``DELETE Location`` at the end, also after errors: BMCs cap concurrent
  sessions (Supermicro 16; HPE's advisory on iLO session exhaustion), so a leaked session can lock
  the next fence out.
- ``basic``: ``Authorization: Basic`` on every request (stateless; nothing to leak).

Asynchronous actions (DSP0266 "Asynchronous operations"): an action answered 202 Accepted with a
task monitor in ``Location`` is followed until the task ends, within the deadline: the monitor
answers 202 while the task runs, then the action's own answer (2xx: done; 4xx/5xx: failed); a body
that is a Task is judged by ``TaskState`` (``Completed`` and a ``TaskStatus`` other than
``Critical``: done; ``Exception``, ``Killed``, ``Cancelled``: failed); a monitor gone (404) is
replaced by the Task itself when its URI is known.  A 202 without a monitor is taken as accepted:
the engine's read-back decides, as for every action.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from stonith.contract import params
from stonith.contract.driver import Driver
from stonith.contract.errors import AuthFailed, DeviceError, StonithError, Timeout, Unreachable
from stonith.contract.fields import ENUMERATION, Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import requests

    from stonith.contract.deadline import Deadline
    from stonith.transport.http import Answer

OK_STATUS = (200, 201, 202, 204)
LOGOUT_STEP = 5.0
# No SessionService after all: Basic instead (``auto``).
NO_SESSIONS = (404, 405, 501)
TASK_RUNNING = frozenset({"New", "Starting", "Running", "Suspended", "Pending", "Stopping", "Service"})
TASK_FAILED = frozenset({"Exception", "Killed", "Cancelled", "Cancelling", "Interrupted"})
# Seconds between task monitor reads, growing: a reset task takes a second or two on a BMC, and a
# fence has no time to lose to a long Retry-After (polling sooner is allowed: the header advises).
TASK_POLL = (0.1, 0.2, 0.5, 1.0)

LOGIN = params.LOGIN
PASSWORD = params.PASSWORD
SSL = params.SSL
SSL_INSECURE = params.SSL_INSECURE
CA_BUNDLE = params.CA_BUNDLE
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
    enumset=("auto", "session", "basic"),
    default="auto",
    short_text="auto, session (X-Auth-Token) or basic",
    long_text="session: log in once per operation through the SessionService (X-Auth-Token) and "
    "delete the session at its end, also after errors. basic: HTTP Basic authentication on every "
    "request (stateless). auto: a session where the service offers one, else basic.",
)
REQUEST_TIMEOUT = params.REQUEST_TIMEOUT
# The connection fields after each driver's own address field, in this order.
SERVICE_FIELDS = (LOGIN, PASSWORD, *params.HTTP_FIELDS)
CLIENT_FIELDS = (REDFISH_URI, AUTH_METHOD, REQUEST_TIMEOUT)


class RedfishClient(Driver):
    """A Driver talking to one Redfish service; subclasses add their resources in ``discover``."""

    # Used in messages: "Redfish service https://..." is the default.
    WHAT = "Redfish service"
    EXTRA = ("redfish", ("requests",))

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        scheme = "https" if self.params.ssl else "http"
        self.base = f"{scheme}://{self.params.ipaddr}"
        self._http: requests.Session | None = None
        self._session_uri = ""
        self.auth_used = ""  # "session" or "basic", once connected
        self.root: dict[str, Any] = {}

    def device_name(self) -> str:
        return str(self.params.ipaddr)

    @property
    def service(self) -> str:
        return f"{self.WHAT} {self.base}"

    # -- HTTP ----------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """``path`` (configured, or sent by the device) as a URL on the configured origin only."""
        from stonith.transport import http

        return http.resolve(self.base, str(path))

    def request(
        self, method: str, path: str, deadline: Deadline, body: Any = None, step: float | None = None
    ) -> Answer:
        import requests

        from stonith.transport import http

        if self._http is None:
            raise DeviceError(f"no connection to {self.service} (connect first)")
        limit = min(
            self.params.request_timeout,
            step or deadline.remaining(),
            deadline.remaining(),
        )
        what = f"{method} {path}"
        if limit <= 0:
            raise Timeout(f"deadline of {deadline.what} passed before {what} at {self.base}")
        url = self.url(path)
        try:
            response = http.fetch(
                self._http,
                method,
                url,
                end=time.monotonic() + limit,
                read_timeout=limit,
                json_body=body,
                what=self.service,
            )
        except Timeout:
            raise Timeout(f"{self.service} did not answer {what} within {limit:.3g} s") from None
        except requests.exceptions.SSLError as exc:
            raise Unreachable(
                f"TLS with {self.base} failed ({reason(exc)}); give ca_bundle (or ssl_insecure=yes)"
            ) from None
        except requests.exceptions.Timeout:
            raise Timeout(f"{self.service} did not answer {what} within {limit:.3g} s") from None
        except requests.exceptions.RequestException as exc:
            raise Unreachable(f"{self.service}: {reason(exc)} ({what})") from None
        except (UnicodeError, ValueError) as exc:  # e.g. a redirect Location that is not UTF-8
            raise DeviceError(f"{self.service}: malformed HTTP answer to {what} ({exc})") from None
        if response.status in (401, 403):
            user = self.params.login
            raise AuthFailed(
                f"{self.service} refused the credentials of user {user!r} (HTTP {response.status} on {what})"
            )
        return response

    def get(self, path: str, deadline: Deadline) -> dict[str, Any]:
        """GET a resource: a JSON object, or DeviceError."""
        response = self.request("GET", path, deadline)
        if response.status != 200:
            raise DeviceError(f"{self.service}: GET {path} -> HTTP {response.status}{message(response)}")
        try:
            data = response.json()
        except ValueError:
            raise DeviceError(f"{self.service}: GET {path} did not return JSON") from None
        if not isinstance(data, dict):
            raise DeviceError(f"{self.service}: GET {path} did not return an object")
        return data

    def members(self, collection: str, deadline: Deadline) -> list[str]:
        """The member paths of a resource collection."""
        return [
            str(m["@odata.id"])
            for m in self.get(collection, deadline).get("Members") or []
            if isinstance(m, dict) and m.get("@odata.id")
        ]

    def link(self, document: Mapping[str, Any], name: str) -> str:
        """The ``@odata.id`` of the link ``name`` in ``document``; "" if there is none."""
        value = document.get(name)
        return str(value.get("@odata.id") or "") if isinstance(value, dict) else ""

    # -- session -------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        from stonith.transport.http import session

        self.disconnect()
        http = session()  # no proxies from the environment; every request watched by its deadline
        http.headers.update(
            {"OData-Version": "4.0", "Accept": "application/json", "Content-Type": "application/json"}
        )
        if self.params.ssl:
            http.verify = False if self.params.ssl_insecure else (self.params.ca_bundle or True)
        self._http = http
        try:
            root_path = (self.params.redfish_uri or "/redfish/v1").rstrip("/")
            self.root = self.get(root_path + "/", deadline)
            self._authenticate(root_path, deadline)
            self.discover(deadline)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # A member of the wrong JSON type (a string where a link object belongs, ...).
            self.disconnect()
            raise DeviceError(f"{self.service} answered with malformed JSON ({exc})") from None
        except BaseException:
            self.disconnect()
            raise

    def discover(self, deadline: Deadline) -> None:
        """Read what the driver needs once per session (after the service root and the login)."""

    def _authenticate(self, root_path: str, deadline: Deadline) -> None:
        method = self.params.auth_method
        links = self.root.get("Links")
        sessions = self.link(links, "Sessions") if isinstance(links, dict) else ""
        offered = bool(sessions or self.link(self.root, "SessionService"))
        wanted = method == "session" or (method == "auto" and offered)
        if wanted and self._login(
            sessions or root_path + "/SessionService/Sessions", deadline, method == "auto"
        ):
            self.auth_used = "session"
            return
        # UTF-8 (RFC 7617): requests would encode str as Latin-1, and its error for any other
        # character names the character and its position in the password.
        from requests.auth import HTTPBasicAuth

        user, password = self.params.login, self.params.password
        assert self._http is not None
        self._http.auth = HTTPBasicAuth(user.encode("utf-8"), password.encode("utf-8"))
        self.auth_used = "basic"

    def _login(self, path: str, deadline: Deadline, fallback: bool) -> bool:
        """Open a session; False if the service has none and ``fallback`` allows Basic instead."""
        user, password = self.params.login, self.params.password
        response = self.request("POST", path, deadline, {"UserName": user, "Password": password})
        if fallback and response.status in NO_SESSIONS:
            return False
        token = response.headers.get("X-Auth-Token")
        if response.status not in (200, 201) or not token:
            raise DeviceError(
                f"{self.service} did not open a session (HTTP {response.status}{message(response)})"
            )
        self._session_uri = own_path(response.headers.get("Location") or "")
        assert self._http is not None
        self._http.headers["X-Auth-Token"] = token
        return True

    def disconnect(self) -> None:
        http, self._http = self._http, None
        if http is None:
            return
        if self._session_uri:
            self._http = http
            try:
                self.request("DELETE", self._session_uri, self.logout_deadline(LOGOUT_STEP))
            except StonithError:
                pass  # the BMC will expire it; nothing else can be done
            finally:
                self._http = None
                self._session_uri = ""
        http.close()

    # -- actions -------------------------------------------------------------------------------
    def post_action(self, target: str, body: dict[str, Any], what: str, deadline: Deadline) -> None:
        """POST an action; accepted on 200/201/204, or 202 once its task has completed."""
        response = self.request("POST", target, deadline, body)
        if response.status not in OK_STATUS:
            raise DeviceError(
                f"{self.service} refused {what} (HTTP {response.status}{safe_message(response)})"
            )
        if response.status == 202:
            self.follow_task(response, what, deadline)

    def follow_task(self, accepted: Answer, what: str, deadline: Deadline) -> None:
        """Wait for the task of a 202 Accepted to end; DeviceError if it failed, Timeout if it runs on.

        The waits are the task's, not a power state's: the engine still reads the result back.
        """
        monitor = own_path(accepted.headers.get("Location") or "")
        task_uri = _task_uri(accepted)
        if not monitor and not task_uri:
            return  # nothing to follow: the read-back decides
        path = monitor or task_uri
        polls = 0
        while True:
            wait = TASK_POLL[min(polls, len(TASK_POLL) - 1)]
            if deadline.remaining() <= wait:
                raise Timeout(
                    f"{self.service}: the task of {what} ({path}) was still running when the deadline came"
                )
            deadline.sleep(wait)
            polls += 1
            answer = self.request("GET", path, deadline)
            if answer.status == 404 and task_uri and path != task_uri:
                path = task_uri  # the monitor is gone once read to its end: the Task remains
                continue
            if answer.status == 202:
                continue
            if answer.status not in (200, 201, 204):
                raise DeviceError(
                    f"{self.service}: {what} failed (task {path}: HTTP {answer.status}{safe_message(answer)})"
                )
            state, detail = _task_state(answer)
            if state in TASK_RUNNING:
                continue
            if state in TASK_FAILED or detail == "Critical":
                raise DeviceError(f"{self.service}: {what} failed (task {path} ended {state or detail})")
            return


def own_path(location: str) -> str:
    """The path (and query) of a ``Location`` header, to be sent to the configured origin only.

    A Location may be absolute and name the service by another spelling than the configuration
    (an IP address where a name was configured, as some BMCs answer); its path is ours to use: the
    token and credentials still go nowhere but to the configured origin.
    """
    if "://" not in location:
        return location
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _task_uri(answer: Answer) -> str:
    try:
        body = answer.json()
    except ValueError:
        return ""
    return (
        own_path(str(body.get("@odata.id") or "")) if isinstance(body, dict) and "TaskState" in body else ""
    )


def _task_state(answer: Answer) -> tuple[str, str]:
    """(TaskState, TaskStatus) of a Task body; ("", "") for anything else (the action's own answer)."""
    try:
        body = answer.json() if answer.body else None
    except ValueError:
        return "", ""
    if not isinstance(body, dict) or "TaskState" not in body:
        return "", ""
    return str(body.get("TaskState") or ""), str(body.get("TaskStatus") or "")


def reason(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    cause = getattr(exc.args[0], "reason", None) if exc.args else None
    if cause is not None:
        text = str(cause)
    return " ".join(text.split())[:200]


def message(response: Answer) -> str:
    """``: MessageId, ...`` of a Redfish error body; "" without one."""
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


def safe_message(response: Answer) -> str:
    """``message``, or "" for an error body of the wrong shape (the status code says enough)."""
    try:
        return message(response)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        return ""

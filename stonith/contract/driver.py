"""The device layer contract: a driver knows outlets, nothing about nodes or reset order.

A driver module reads top to bottom: docstring (family, protocol, tested models, assumptions),
model data as frozen tables, ``INFO = DriverInfo(...)`` with the field metadata, then one small
class with the per-outlet verbs.  Drivers never sleep or poll for semantics (the cluster layer,
``stonith.fencing.engine``, verifies every change by reading it back), never print, never exit, and never
import optional libraries at module import time.

Every verb takes a ``Deadline``; a driver must not block past it.

The cluster layer calls the verbs as step generators (``connect_steps``, ``outlets_steps``,
``status_many_steps``, ``on_many_steps``, ``off_many_steps``; see stonith.contract.steps).  By default they
call the blocking verbs, in a thread of their own.  A driver that sets ``NONBLOCKING`` implements
them to yield every wait instead (and keeps ``disconnect`` from blocking): the cluster layer then
drives any number of such devices from one thread.
"""

from __future__ import annotations

import abc
from enum import StrEnum

from stonith.contract import redact
from stonith.contract.errors import Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, ClassVar

    from stonith.contract.deadline import Deadline
    from stonith.contract.fields import Field
    from stonith.contract.steps import Steps


class State(StrEnum):
    """A power state as read back from a device.  Anything a driver cannot read with certainty is
    UNKNOWN, and UNKNOWN is never taken for OFF.  A StrEnum: equal to (and hashed as) its text, so
    drivers, mocks and JSON keep speaking "on"/"off"/"unknown"."""

    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


ON, OFF, UNKNOWN = State.ON, State.OFF, State.UNKNOWN


class Proven(StrEnum):
    """The status ladder (NUT's): how far a driver has been proven."""

    EXPERIMENTAL = "experimental"
    BETA = "beta"
    STABLE = "stable"
    TESTING_ONLY = "testing-only"


EXPERIMENTAL, BETA, STABLE = Proven.EXPERIMENTAL, Proven.BETA, Proven.STABLE
TESTING_ONLY = Proven.TESTING_ONLY


class Outlet:
    """One power outlet (or BMC, or host for host-list drivers): a device-local id and its name."""

    __slots__ = ("id", "name")

    def __init__(self, id: str, name: str = "") -> None:
        self.id = id
        self.name = name or id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outlet) and (self.id, self.name) == (other.id, other.name)

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Outlet({self.id!r}, {self.name!r})"


class Capabilities:
    """What a driver can do beyond the four mandatory verbs."""

    __slots__ = ("any_host", "cycle", "multi", "paced", "power_off", "power_on", "sessions", "status")

    def __init__(
        self,
        *,
        cycle: bool = False,
        multi: bool = False,
        any_host: bool = False,
        power_on: bool = True,
        power_off: bool = True,
        status: bool = True,
        sessions: int = 1,
        paced: bool = False,
    ) -> None:
        # cycle: the device has a native power cycle whose completion can be verified.
        self.cycle = cycle
        # multi: on_many/off_many/status_many switch or read several outlets in one device command.
        self.multi = multi
        # any_host: outlets are host names given by configuration; any name may be asked for.
        self.any_host = any_host
        self.power_on = power_on
        self.power_off = power_off
        # status: outlet state can be read back (without it no verified operation is possible).
        self.status = status
        # sessions: how many concurrent sessions the device accepts (BayTech, APC: 1).
        self.sessions = sessions
        # paced: the driver spaces its own commands to the device (IPMI's min_interval), so the
        # engine's read-back schedule need not space them by what a read costs.
        self.paced = paced


class DriverInfo:
    """Everything the framework needs to know about a driver type, as data."""

    __slots__ = (
        "capabilities",
        "description",
        "family",
        "fields",
        "models",
        "name",
        "shortdesc",
        "status",
        "summary",
        "url",
    )

    def __init__(
        self,
        name: str,
        *,
        shortdesc: str,
        description: str,
        fields: Sequence[Field],
        family: str = "",
        models: Iterable[str] = (),
        url: str | None = None,
        status: str = EXPERIMENTAL,
        capabilities: Capabilities | None = None,
        summary: str = "",
    ) -> None:
        self.name = name
        self.shortdesc = shortdesc  # cluster-glue ST_DEVICEID
        # The one line ``stonith types`` and the service list the type with (shortdesc if empty).
        self.summary = summary or shortdesc
        self.description = description  # cluster-glue ST_DEVICEDESCR
        self.fields = tuple(fields)
        self.family = family
        self.models = tuple(models)
        self.url = url
        self.status = status
        self.capabilities = capabilities or Capabilities()

    def field(self, name: str) -> Field | None:
        for field in self.fields:
            if field.fieldname == name or name in field.aliases:
                return field
        return None


class Settings:
    """A driver's configuration as attributes: ``self.params.port``, not ``int(config.get("port", 623))``.

    Every field of ``INFO.fields`` is an attribute: the value given, typed by stonith.contract.validation (an
    integer is an int, seconds a float, a flag a bool, a list a list), else the field's default; a
    field given no value and without default is ``""`` for text and None otherwise.  The framework
    validated the configuration before the driver saw it; values are parsed again here so that a
    driver built by hand (a test, a lab) gets the same types, and one the parser refuses stays as
    given (the driver's own checks name it).  A name that is no field is an AttributeError.
    """

    __slots__ = ("_values",)

    def __init__(self, fields: Iterable[Field], config: Mapping[str, Any]) -> None:
        from stonith.contract.fields import ENUMERATION, PYTHON_TYPE, SIMPLE, STRING
        from stonith.contract.validation import ValueProblem, parse_value

        values: dict[str, Any] = {}
        for field in fields:
            given = config.get(field.fieldname)
            if given is None and field.aliases:
                given = next((config[n] for n in field.aliases if config.get(n) is not None), None)
            if given is None:
                empty = "" if field.basictype == STRING and not field.isarray else None
                values[field.fieldname] = field.default if field.default is not None else empty
            elif (
                (
                    type(given) is PYTHON_TYPE.get(field.basictype)
                    or (field.basictype == ENUMERATION and type(given) is str and given in field.enumset)
                )
                and field.field_class == SIMPLE
                and not field.isarray
            ):
                # Validated already (the usual case): parsing again would give the same value.
                values[field.fieldname] = given
            else:
                try:
                    values[field.fieldname] = parse_value(field, given)
                except ValueProblem:
                    values[field.fieldname] = given
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}") from None

    def __repr__(self) -> str:  # secrets are masked wherever the config is shown; never here
        return f"Settings({sorted(self._values)})"


class Driver(abc.ABC):
    """A configured device.  Subclasses implement the per-outlet verbs for one family.

    ``config`` is already validated and typed against ``INFO.fields`` (see stonith.fencing.device).
    The framework calls ``connect`` before and ``disconnect`` after a group of verbs, so a
    whole operation runs in one device session.
    """

    INFO: ClassVar[DriverInfo]
    # cluster-glue's C plugins lowercase the hosts ``-l`` prints; its external scripts do not.
    LOWERCASE_HOSTS: ClassVar[bool] = True
    # Seconds a clean logout may take beyond the operation's deadline.
    LOGOUT_GRACE: ClassVar[float] = 0.3
    # The *_steps verbs yield every wait and ``disconnect`` does not block (see the module's text).
    NONBLOCKING: ClassVar[bool] = False
    # The pip extra without which no session can open, and the modules it provides: (extra,
    # modules).  Subclasses inherit it (a new SNMP family needs no line anywhere else); the
    # registry checks the modules when it loads the type, so the metadata stays usable without
    # them and every session refuses naming the extra (stonith.fencing.registry).
    EXTRA: ClassVar[tuple[str, tuple[str, ...]] | None] = None

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        # The same configuration as typed attributes with defaults applied: what drivers read.
        self.params = Settings(self.INFO.fields, self.config)
        # Whatever quotes device output or writes an error out masks these (a device may echo them).
        redact.remember_config(self.INFO.fields, self.config)
        # The deadline of the operation the current session belongs to (set by
        # stonith.fencing.engine.session).
        self.session_deadline: Deadline | None = None

    def logout_deadline(self, step: float) -> Deadline:
        """The deadline for logging out: ``step`` seconds, but never much past the operation's deadline."""
        from stonith.contract.deadline import Deadline

        remaining = self.session_deadline.remaining() if self.session_deadline is not None else step
        return Deadline(min(step, remaining + self.LOGOUT_GRACE), "logout")

    # -- session -----------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:  # noqa: B027 - optional hook
        """Open the session (connect, log in).  Raise AuthFailed/Unreachable/Timeout."""

    def disconnect(self) -> None:  # noqa: B027 - optional hook
        """Close the session cleanly (log out).  Must not raise."""

    def device_name(self) -> str:
        """Which individual device this is (cluster-glue ST_DEVICENAME), e.g. its address."""
        return self.INFO.name

    def probe(self, deadline: Deadline) -> str:
        """Check the device is reachable and usable; return its model/firmware identity."""
        self.outlets(deadline)
        return self.INFO.shortdesc

    # -- outlets -----------------------------------------------------------------------------
    def static_outlets(self) -> list[Outlet] | None:
        """The outlets, when the configuration alone names them (a BMC, a host list); else None.

        Lets the cluster layer find a node's device without opening a session to every device.
        """
        return None

    @abc.abstractmethod
    def outlets(self, deadline: Deadline) -> list[Outlet]:
        """Every outlet of the device, with its name."""

    @abc.abstractmethod
    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        """ON, OFF or UNKNOWN, read from the device now."""

    @abc.abstractmethod
    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        """Ask the device to switch the outlet on.  Returns once the command was accepted."""

    @abc.abstractmethod
    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        """Ask the device to switch the outlet off.  Returns once the command was accepted."""

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        """Native power cycle; only where ``INFO.capabilities.cycle`` says it can be verified."""
        raise Unsupported(f"{self.INFO.name} has no native power cycle")

    # -- crash dump before a fence (drivers with a ``crash_dump`` field: stonith.contract.fields.crash_dump)
    def crash_dump_wait(self) -> float:
        """Seconds the engine waits between an NMI and the off; 0: send no NMI."""
        return float(self.config.get("crash_dump") or 0.0)

    def nmi_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        """Send a diagnostic interrupt (NMI) to the hosts behind ``outlets``; accepted = returns."""
        yield from ()
        raise Unsupported(f"{self.INFO.name} cannot send an NMI")

    # -- several outlets at once (override where the device has a multi-outlet command) ------
    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        return {o.id: self.status(o, deadline) for o in outlets}

    def on_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        for outlet in outlets:
            self.on(outlet, deadline)

    def off_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        for outlet in outlets:
            self.off(outlet, deadline)

    # -- as step generators (stonith.contract.steps): blocking unless a NONBLOCKING driver overrides them
    def connect_steps(self, deadline: Deadline) -> Steps[None]:
        yield from ()  # a generator that runs the blocking verb
        self.connect(deadline)

    def disconnect_steps(self) -> Steps[None]:
        """``disconnect`` as steps: a NONBLOCKING driver whose logout waits for the device yields
        those waits here, so a slow logout holds no other session of the engine's selector thread."""
        yield from ()
        self.disconnect()

    def outlets_steps(self, deadline: Deadline) -> Steps[list[Outlet]]:
        yield from ()
        return self.outlets(deadline)

    def status_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[dict[str, str]]:
        yield from ()
        return self.status_many(outlets, deadline)

    def on_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        yield from ()
        self.on_many(outlets, deadline)

    def off_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        yield from ()
        self.off_many(outlets, deadline)

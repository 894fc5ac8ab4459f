"""redfish: power control of servers through their BMC's Redfish service (HTTPS, JSON).

Family: Redfish 1.x BMCs (iDRAC 8+, iLO 5+, XCC, OpenBMC bmcweb, Supermicro X11+, AMI MegaRAC, ...),
including multi-node chassis whose one service lists several ComputerSystems.
Protocol: HTTPS (stonith.drivers._redfish: sessions or Basic, tasks, deadlines): the service root
(``/redfish/v1``), the Systems collection, each ComputerSystem's ``PowerState`` and its
``#ComputerSystem.Reset`` action.

Two ways to configure it:

- ``hostname`` given (one node per BMC, today's configurations): one outlet, id "1", named
  ``hostname``: the system ``systems_uri`` names, else the one whose Id or Name is ``system``, else
  the collection's only member, else the one whose ``HostName`` is ``hostname``.
- no ``hostname``: every ComputerSystem is an outlet (a multi-node chassis), id = its ``Id``, name =
  its ``HostName``, else its ``Name`` (a name several systems share is replaced by their Ids); a
  node is mapped to a system by Id or name in devices.d ``[hosts]``.

Reset types are chosen from what each system allows (``ResetType@Redfish.AllowableValues`` inline,
or the ``@Redfish.ActionInfo`` resource): off = ``ForceOff`` only: GracefulShutdown and
PushPowerButton ask the operating system (ACPI), which a node to be fenced may ignore, so a system
without ForceOff is refused with the types it allows.  On = ``On``, else ``ForceOn``, else
``PushPowerButton``, pressed only when the system reads Off (a press of a running system is a
shutdown request).  A native cycle (``PowerCycle``) exists but is not declared verifiable: resets are
off -> read back Off -> on -> read back On (stonith.fencing.engine).  An action answered 202 Accepted is
followed to the end of its task.

Vendor differences (``VENDORS``, from public documentation) are data: the driver needs none of them
to work, it names them in probe output and in the hint for a collection it cannot choose from.

Tested on: our mock (mocks/redfish.py, personalities generic, idrac, ilo, xcc, openbmc;
fence-agents' fence_redfish accepts it unmodified) and sushy-tools' emulator with its fake driver,
one and two systems (tests/drivers/test_redfish*.py).  Not yet on hardware.

Unlike fence_redfish: every request, body included, ends by the operation's deadline (a port that
accepts and never answers, or a service dripping its answer a byte at a time, fails in time instead
of hanging; stonith.transport.http), bodies are capped (``MAX_BODY``), every response's HTTP status
is checked (a refused reset is a failure), a collection of several systems is not silently reduced
to its last member, TLS certificates are verified unless told otherwise (``ca_bundle`` for a private
CA), credentials (Basic or the session token) go only to the configured origin (a device-supplied
absolute URL or a redirect elsewhere is refused), and a session is always deleted, also after errors.

Assumes:
- PowerState ``Off`` is the only off; ``On``, ``PoweringOff`` and ``Paused`` still have power (on);
  ``PoweringOn`` and anything unknown are UNKNOWN (never off, and not yet a verified on).
"""

from __future__ import annotations

from dataclasses import dataclass

from stonith.drivers._redfish import CLIENT_FIELDS, SERVICE_FIELDS, RedfishClient

from stonith.contract import params
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import DeviceError, UnknownOutlet, Unsupported
from stonith.contract.fields import HOSTNAME, Field, crash_dump

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps

CHASSIS = "1"
POWER_STATES = {"On": ON, "Off": OFF, "PoweringOff": ON, "Paused": ON}
ON_TYPES = ("On", "ForceOn", "PushPowerButton")
# ForceOff alone: GracefulShutdown and PushPowerButton ask the OS (ACPI), which may never act.
OFF_TYPES = ("ForceOff",)
CYCLE_TYPES = ("PowerCycle",)
BUTTON = "PushPowerButton"


@dataclass(frozen=True)
class Vendor:
    """What one vendor's Redfish service is publicly documented to look like."""

    name: str
    keys: tuple[str, ...]  # the service root's ``Vendor`` value or ``Oem`` key that identifies it
    system_ids: tuple[str, ...]  # the host system's documented Id(s)
    notes: str  # what differs, and where it is documented


VENDORS = (
    Vendor(
        "Dell iDRAC",
        ("Dell",),
        ("System.Embedded.1",),
        "iDRAC9 Redfish API Guide (4.20), Supported Action - Reset: On, ForceOff, ForceRestart, "
        "GracefulShutdown, PushPowerButton, Nmi; 204 on success; iDRAC 7/8 link sessions at "
        "/redfish/v1/Sessions (Links.Sessions is followed)",
    ),
    Vendor(
        "HPE iLO",
        ("HPE", "Hpe", "Hp"),
        ("1",),
        "iLO RESTful API (iLO 4 2.30+, iLO 5): Systems/1/ with trailing slashes, reset answered 200 "
        "with a Base.Success message; a limited number of sessions (HPE's advisory on iLO "
        "session exhaustion)",
    ),
    Vendor(
        "Lenovo XCC",
        ("Lenovo",),
        ("1",),
        "XCC2 REST API, POST - Server reset operations: Systems/1; On, ForceOff, GracefulShutdown, "
        "GracefulRestart, ForceRestart, Nmi, ForceOn",
    ),
    Vendor(
        "OpenBMC",
        ("OpenBMC",),
        ("system",),
        "bmcweb: Systems/system, allowed values behind ResetActionInfo, 200 with a Base.Success "
        "message (e.g. the DM-SV01 BMC manual, Force Power Off Host)",
    ),
    Vendor("AMI MegaRAC", ("AMI", "Ami"), ("Self",), "MegaRAC SP-X: Systems/Self"),
)

HOSTNAME_FIELD = Field(
    "hostname",
    "Host name",
    specialtype=HOSTNAME,
    length=253,
    short_text="Node this BMC resets (empty: every system is an outlet)",
    long_text='The cluster node whose system this BMC controls: the BMC is one outlet, "1", named '
    "after it. Leave it empty for a BMC of several systems (a multi-node chassis): each "
    "ComputerSystem is then an outlet, by its Id or its HostName (else its Name).",
)
IPADDR = params.HTTP_ADDRESS
SYSTEM = Field(
    "system",
    "System",
    length=253,
    short_text="ComputerSystem Id or Name (with hostname)",
    long_text="With hostname: the ComputerSystem to control, by its Id (e.g. System.Embedded.1, 1, "
    "system, Self) or its Name, for a BMC of several systems.",
)
SYSTEMS_URI = Field(
    "systems_uri",
    "System path",
    regex=r"/redfish/v1/Systems/[^\s]+",
    short_text="ComputerSystem path (default: discovered)",
    long_text="With hostname: the path of the ComputerSystem to control, e.g. "
    "/redfish/v1/Systems/System.Embedded.1. Without it (and without system) the Systems collection "
    "is read: its only member, or the one whose HostName is hostname.",
)

INFO = DriverInfo(
    "redfish",
    shortdesc="Redfish BMC (ComputerSystem reset)",
    description="Power control of servers through their BMC's Redfish service over HTTPS.\nWith "
    "hostname the BMC is that one host; without it every ComputerSystem of the BMC is an outlet "
    "(multi-node chassis). A reset is ForceOff, read back Off, On, read back On.",
    fields=(
        HOSTNAME_FIELD,
        IPADDR,
        *SERVICE_FIELDS,
        SYSTEM,
        SYSTEMS_URI,
        *CLIENT_FIELDS,
        crash_dump(),
    ),
    family="Redfish BMC",
    models=("Redfish 1.x ComputerSystem", *(v.name for v in VENDORS)),
    url="https://www.dmtf.org/standards/redfish",
    capabilities=Capabilities(cycle=False, sessions=4),
    summary="Redfish BMC (ComputerSystem reset) over HTTPS",
)


@dataclass
class System:
    """One ComputerSystem as this session knows it."""

    path: str
    id: str
    name: str
    target: str = ""  # the Reset action's target
    allowed: list[str] | None = None  # allowed ResetTypes; None: not listed (the POST will tell)
    action_info: str = ""  # where the allowed values are, not yet read


class Redfish(RedfishClient):
    INFO = INFO
    WHAT = "Redfish service"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.hostname = self.params.hostname
        self._systems: dict[str, System] | None = None  # outlet id -> system, read once a session

    # -- discovery -------------------------------------------------------------------------------
    def discover(self, deadline: Deadline) -> None:
        self._systems = None
        if self.hostname:
            self._systems = {CHASSIS: self._the_system(deadline)}

    def _collection(self) -> str:
        systems = self.link(self.root, "Systems")
        if not systems:
            raise DeviceError(f"{self.service} lists no Systems collection")
        return systems

    def _read(self, path: str, deadline: Deadline, document: dict[str, Any] | None = None) -> System:
        data = self.get(path, deadline) if document is None else document
        action = (data.get("Actions") or {}).get("#ComputerSystem.Reset") or {}
        allowed = action.get("ResetType@Redfish.AllowableValues")
        system = System(
            path,
            str(data.get("Id") or path.rstrip("/").rsplit("/", 1)[-1]),
            str(data.get("HostName") or data.get("Name") or ""),
            str(action.get("target") or f"{path.rstrip('/')}/Actions/ComputerSystem.Reset"),
            [str(v) for v in allowed] if isinstance(allowed, list) else None,
            str(action.get("@Redfish.ActionInfo") or "") if allowed is None else "",
        )
        return system

    def _the_system(self, deadline: Deadline) -> System:
        """One-system mode: the system ``hostname`` names (see the module's text)."""
        from stonith.drivers._text import printable

        if self.params.systems_uri:
            return self._read(self.params.systems_uri, deadline)
        members = self.members(self._collection(), deadline)
        wanted = self.params.system
        if not wanted and len(members) == 1:
            return self._read(members[0], deadline)
        if not members:
            raise DeviceError(f"{self.service} has no ComputerSystem")
        for member in members:  # by the path's last segment first: no GET needed
            if wanted and member.rstrip("/").rsplit("/", 1)[-1] == wanted:
                return self._read(member, deadline)
        for member in members:
            data = self.get(member, deadline)
            if wanted:
                if wanted in (str(data.get("Id") or ""), str(data.get("Name") or "")):
                    return self._read(member, deadline, data)
            elif str(data.get("HostName") or "").casefold() == self.hostname.casefold():
                return self._read(member, deadline, data)
        ids = printable(", ".join(m.rstrip("/").rsplit("/", 1)[-1] for m in members))
        if wanted:
            raise DeviceError(f"{self.service} has no system {printable(wanted)!r} (its systems: {ids})")
        raise DeviceError(
            f"{self.service} has {len(members)} systems and none has HostName {printable(self.hostname)!r}; "
            f"set system (one of {ids}){self._vendor_hint()}, or leave hostname empty to make every "
            "system an outlet"
        )

    def vendor(self) -> Vendor | None:
        """The vendor the service root names (``Vendor``, or an ``Oem`` key), if known."""
        oem = self.root.get("Oem")
        keys = {str(self.root.get("Vendor") or "")} | (set(map(str, oem)) if isinstance(oem, dict) else set())
        return next((v for v in VENDORS if keys & set(v.keys)), None)

    def _vendor_hint(self) -> str:
        vendor = self.vendor()
        return f"; {vendor.name} documents {' or '.join(vendor.system_ids)}" if vendor else ""

    def _all(self, deadline: Deadline) -> dict[str, System]:
        """Every system of the service by outlet id (read once a session)."""
        if self._systems is None:
            found: dict[str, System] = {}
            for member in self.members(self._collection(), deadline):
                system = self._read(member, deadline)
                found.setdefault(system.id, system)
            names = [s.name.casefold() for s in found.values()]
            for system in found.values():
                if not system.name or names.count(system.name.casefold()) > 1:
                    system.name = system.id  # "System" on every node names none of them
            self._systems = found
        return self._systems

    def _system(self, outlet: Outlet, deadline: Deadline) -> System:
        from stonith.drivers._text import printable

        systems = self._all(deadline)
        system = systems.get(outlet.id)
        if system is None:
            if self.hostname:
                raise UnknownOutlet(f'a Redfish BMC for one host has one outlet ("1"), not {outlet.id!r}')
            raise UnknownOutlet(
                f"{self.service} has no system {printable(outlet.id)!r} "
                f"(its systems: {printable(', '.join(systems))})"
            )
        return system

    def _allowed(self, system: System, deadline: Deadline) -> list[str] | None:
        if system.action_info:
            info = self.get(system.action_info, deadline)
            for parameter in info.get("Parameters") or []:
                if isinstance(parameter, dict) and parameter.get("Name") == "ResetType":
                    values = parameter.get("AllowableValues")
                    system.allowed = [str(v) for v in values] if isinstance(values, list) else None
            system.action_info = ""
        return system.allowed

    def probe(self, deadline: Deadline) -> str:
        from stonith.drivers._text import printable

        version = printable(str(self.root.get("RedfishVersion", "?")), 20)
        vendor = self.vendor()
        made = f" ({vendor.name})" if vendor else ""
        systems = self._all(deadline)
        states = ", ".join(
            f"{printable(s.id, 40)}: {printable(str(self.get(s.path, deadline).get('PowerState', '?')), 20)}"
            for s in systems.values()
        )
        return f"Redfish {version} service {self.base}{made}, {self.auth_used} auth, systems {states}"

    # -- verbs ---------------------------------------------------------------------------------
    def static_outlets(self) -> list[Outlet] | None:
        return [Outlet(CHASSIS, self.hostname)] if self.hostname else None

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        if self.hostname:
            return [Outlet(CHASSIS, self.hostname)]
        return [Outlet(i, s.name) for i, s in self._all(deadline).items()]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        state = self.get(self._system(outlet, deadline).path, deadline).get("PowerState")
        return POWER_STATES.get(str(state), UNKNOWN)

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        return {o.id: self.status(o, deadline) for o in outlets}

    def _choose(self, system: System, candidates: Sequence[str], verb: str, deadline: Deadline) -> str:
        allowed = self._allowed(system, deadline)
        if allowed is None:
            return candidates[0]
        for candidate in candidates:
            if candidate in allowed:
                return candidate
        from stonith.drivers._text import printable

        why = (
            " (a graceful shutdown or a button press asks the OS, which is no fence)" if verb == "off" else ""
        )
        raise Unsupported(
            f"Redfish system {printable(system.path)} allows no ResetType for {verb}: wanted "
            f"{' or '.join(candidates)}{why}; allowed: {printable(', '.join(allowed)) or 'none'}"
        )

    def reset_action(self, system: System, reset_type: str, deadline: Deadline) -> None:
        """POST the Reset action; accepted on HTTP 200/201/204, or 202 once its task completed."""
        self.post_action(system.target, {"ResetType": reset_type}, f"ResetType {reset_type}", deadline)

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        system = self._system(outlet, deadline)
        reset_type = self._choose(system, ON_TYPES, "on", deadline)
        if reset_type == BUTTON:
            # The button toggles: pressed on a running system it asks the OS to shut down.
            state = str(self.get(system.path, deadline).get("PowerState"))
            if state == "On":
                return
            if state != "Off":
                raise DeviceError(
                    f"Redfish system {system.path} is {state}: its power button (the only way on it "
                    "allows) is pressed only when it is Off"
                )
        self.reset_action(system, reset_type, deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        system = self._system(outlet, deadline)
        self.reset_action(system, self._choose(system, OFF_TYPES, "off", deadline), deadline)

    def nmi_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        """ResetType Nmi (where the system allows it): a diagnostic interrupt, power untouched."""
        yield from ()
        for outlet in outlets:
            system = self._system(outlet, deadline)
            self.reset_action(system, self._choose(system, ("Nmi",), "a crash dump", deadline), deadline)

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        """PowerCycle where allowed; not used by verified resets (its acceptance proves nothing)."""
        system = self._system(outlet, deadline)
        self.reset_action(system, self._choose(system, CYCLE_TYPES, "cycle", deadline), deadline)

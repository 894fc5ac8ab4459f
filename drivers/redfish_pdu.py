"""redfish_pdu: outlets of a rack PDU through its Redfish service (DMTF PowerDistribution, HTTPS).

Family: rack PDUs serving the DMTF PowerDistribution model (Redfish 2020.4 and later; Raritan PX3/PX4,
ServerTech PRO3X/PRO4X, Vertiv Geist, Eaton G4 firmware that offers Redfish).
Protocol: HTTPS (stonith.drivers._redfish: sessions or Basic, tasks, deadlines): the service root
links ``PowerEquipment``, which links ``RackPDUs``; each PowerDistribution (a RackPDU) links its
``Outlets`` collection; an Outlet has ``PowerState`` and the ``#Outlet.PowerControl`` action, POSTed
``{"PowerState": "On" | "Off"}`` (DSP0268, Outlet schema; the DMTF rack PDU mockup's paths are
``/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/A1``).

Outlets are detected by walking that tree: id = the Outlet's ``Id`` (``A1``, ``1``, ...), or
``PDU/OUTLET`` (``2/A1``) when the service has several RackPDUs (a chain) and ``rack_pdu`` does not
pick one; name = its ``UserLabel``, else its ``Name`` (a name several outlets share is replaced by
their ids).  ``PowerControl`` values are chosen from ``PowerState@Redfish.AllowableValues`` where the
outlet lists them; ``PowerCycle`` is not used (a reset is off, read back Off, on, read back On:
stonith.fencing.engine).

Tested on: our mock (mocks/redfish_pdu.py), and with an SNMP PDU feeding the other supply of a node
(tests/drivers/test_redfish_pdu.py).  Not yet on hardware.

Assumes:
- PowerState ``Off`` is the only off; ``On`` and ``PoweringOff`` have power; ``PoweringOn`` and
  anything unknown are UNKNOWN (never off).
- The outlet tree does not change during an operation (it is read once a session).
"""

from __future__ import annotations

from dataclasses import dataclass

from stonith.drivers._redfish import CLIENT_FIELDS, SERVICE_FIELDS, RedfishClient

from stonith.contract import params
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import DeviceError, UnknownOutlet, Unsupported
from stonith.contract.fields import Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from stonith.contract.deadline import Deadline

POWER_STATES = {"On": ON, "Off": OFF, "PoweringOff": ON}
ACTION = "#Outlet.PowerControl"

IPADDR = params.HTTP_ADDRESS
RACK_PDU = Field(
    "rack_pdu",
    "Rack PDU",
    length=64,
    short_text="RackPDU Id (default: every RackPDU)",
    long_text="The Id of the RackPDU to control, for a service of several (a chain of PDUs). Without "
    "it every RackPDU's outlets are outlets: by their own Id with one RackPDU, as PDU/OUTLET with "
    "several.",
)

INFO = DriverInfo(
    "redfish_pdu",
    shortdesc="Redfish PDU (PowerDistribution outlets)",
    description="Outlets of rack PDUs through their Redfish service (DMTF PowerDistribution) over "
    "HTTPS.\nOutlets are found by walking PowerEquipment/RackPDUs; names are the outlets' user "
    "labels. Off and on are Outlet.PowerControl, each read back.",
    fields=(IPADDR, *SERVICE_FIELDS, RACK_PDU, *CLIENT_FIELDS),
    family="Redfish PDU",
    models=("DMTF PowerDistribution (RackPDUs)", "Raritan PX3/PX4", "ServerTech PRO3X/PRO4X", "Vertiv Geist"),
    url="https://www.dmtf.org/standards/redfish",
    capabilities=Capabilities(cycle=False, sessions=4),
    summary="Redfish rack PDU outlets (DMTF PowerDistribution) over HTTPS",
)


@dataclass
class OutletRef:
    """One outlet as this session knows it."""

    path: str
    id: str
    name: str = ""  # set when the outlets are listed
    target: str = ""
    allowed: list[str] | None = None  # PowerControl values listed; None: not listed (the POST tells)


class RedfishPdu(RedfishClient):
    INFO = INFO
    WHAT = "Redfish PDU service"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        # Read once a session: PDU id -> its Outlets member paths; outlet id -> what is known of it.
        self._pdus: dict[str, list[str]] | None = None
        self._refs: dict[str, OutletRef] = {}

    def discover(self, deadline: Deadline) -> None:
        self._pdus, self._refs = None, {}

    # -- the outlet tree ---------------------------------------------------------------------------
    def _chain(self, deadline: Deadline) -> dict[str, list[str]]:
        """RackPDU id -> the member paths of its Outlets collection (read once a session)."""
        if self._pdus is not None:
            return self._pdus
        equipment = self.link(self.root, "PowerEquipment")
        if not equipment:
            raise DeviceError(f"{self.service} lists no PowerEquipment (not a Redfish PDU service?)")
        rack_pdus = self.link(self.get(equipment, deadline), "RackPDUs")
        if not rack_pdus:
            raise DeviceError(f"{self.service} lists no RackPDUs under {equipment}")
        wanted = self.params.rack_pdu
        chain: dict[str, list[str]] = {}
        for member in self.members(rack_pdus, deadline):
            pdu_id = member.rstrip("/").rsplit("/", 1)[-1]
            if wanted and pdu_id != wanted:
                continue
            outlets = self.link(self.get(member, deadline), "Outlets")
            chain[pdu_id] = self.members(outlets, deadline) if outlets else []
        if wanted and not chain:
            raise DeviceError(f"{self.service} has no RackPDU {wanted!r}")
        self._pdus = chain
        return chain

    def _members(self, deadline: Deadline) -> list[tuple[str, str]]:
        """(outlet id, path) of every outlet: its own Id, or PDU/OUTLET in a chain of several."""
        chain = self._chain(deadline)
        found = []
        for pdu_id, members in chain.items():
            for member in members:
                own = member.rstrip("/").rsplit("/", 1)[-1]
                found.append((own if len(chain) == 1 else f"{pdu_id}/{own}", member))
        return found

    def _read(self, ref: OutletRef, deadline: Deadline) -> dict[str, Any]:
        """GET the outlet; its action target, allowed values and name are kept."""
        data = self.get(ref.path, deadline)
        action = (data.get("Actions") or {}).get(ACTION) or {}
        ref.target = str(action.get("target") or f"{ref.path.rstrip('/')}/Actions/Outlet.PowerControl")
        allowed = action.get("PowerState@Redfish.AllowableValues")
        ref.allowed = [str(v) for v in allowed] if isinstance(allowed, list) else None
        return data

    def _ref(self, outlet: Outlet, deadline: Deadline) -> OutletRef:
        """The outlet ``outlet.id`` names, found by its path without reading every outlet."""
        if outlet.id in self._refs:
            return self._refs[outlet.id]
        members = self._members(deadline)
        for key, path in members:
            if key == outlet.id:
                return self._refs.setdefault(key, OutletRef(path, key))
        from stonith.drivers._text import printable

        known = printable(", ".join(key for key, _ in members))
        raise UnknownOutlet(f"{self.service} has no outlet {printable(outlet.id)!r} (its outlets: {known})")

    # -- verbs ---------------------------------------------------------------------------------
    def probe(self, deadline: Deadline) -> str:
        from stonith.drivers._text import printable

        chain = self._chain(deadline)
        version = printable(str(self.root.get("RedfishVersion", "?")), 20)
        count = len(self._members(deadline))
        return (
            f"Redfish {version} PDU service {self.base}, {self.auth_used} auth, "
            f"{len(chain)} RackPDU(s), {count} outlets"
        )

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        refs: list[OutletRef] = []
        for key, path in self._members(deadline):
            ref = self._refs.setdefault(key, OutletRef(path, key))
            data = self._read(ref, deadline)
            ref.name = str(data.get("UserLabel") or data.get("Name") or ref.id)
            refs.append(ref)
        names = [r.name.casefold() for r in refs]
        for ref in refs:
            if names.count(ref.name.casefold()) > 1:
                ref.name = ref.id  # "Outlet" on every outlet names none of them
        return [Outlet(r.id, r.name) for r in refs]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        state = self.get(self._ref(outlet, deadline).path, deadline).get("PowerState")
        return POWER_STATES.get(str(state), UNKNOWN)

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        return {o.id: self.status(o, deadline) for o in outlets}

    def _control(self, outlet: Outlet, state: str, deadline: Deadline) -> None:
        ref = self._ref(outlet, deadline)
        if not ref.target:
            self._read(ref, deadline)
        if ref.allowed is not None and state not in ref.allowed:
            from stonith.drivers._text import printable

            raise Unsupported(
                f"outlet {printable(ref.path)} does not allow PowerState {state} "
                f"(allowed: {printable(', '.join(ref.allowed)) or 'none'})"
            )
        self.post_action(
            ref.target, {"PowerState": state}, f"PowerState {state} of outlet {ref.id}", deadline
        )

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._control(outlet, "On", deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._control(outlet, "Off", deadline)

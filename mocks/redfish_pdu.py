"""Redfish PDU mock: the DMTF PowerDistribution model of a rack PDU, over HTTPS or HTTP.

    stonith-mock redfish_pdu [--model generic|numbered] [--listen 127.0.0.1:0] [--outlets N]
                 [--names a,b,...] [--states on,off,...] [--pdus N] [--tls | --no-tls]
                 [--no-sessions-enabled] [--async-tasks [--task-seconds S] [--task-fail]]
                 [--username U] [--password P | STONITH_MOCK_PASSWORD] [--relay-delay S]
                 [--fault ...] [--state-file F]

Resources (Redfish PowerDistribution, DSP0268 / the DMTF rack PDU mockup): ``/redfish/v1`` links
``PowerEquipment``; ``/redfish/v1/PowerEquipment`` links ``RackPDUs``; each
``/redfish/v1/PowerEquipment/RackPDUs/<n>`` (``--pdus N``: a chain of N, the outlets shared out in
order) links its ``Outlets`` collection; each Outlet has ``Id``, ``Name`` (``Outlet A1``),
``UserLabel`` (the ground-truth name), ``PowerState`` (On/Off, as the relay reports it) and the
``#Outlet.PowerControl`` action (``PowerState`` On, Off or PowerCycle; anything else 400
``ActionParameterNotSupported``).  Models: ``generic`` names outlets A1, A2, ... (as the DMTF
mockup does), ``numbered`` 1, 2, ...

Sessions, Basic authentication, tasks (``--async-tasks``), TLS and the log (``truth()["log"]``:
sessions, ``power-control`` with outlet and state, tasks) are those of the Redfish BMC mock
(stonith.mocks.redfish).  The ground truth is the relays (stonith.mocks._common.Outlets: outlets
1..N in order across the chain, delays and relay faults as for every PDU mock).
"""

from __future__ import annotations

import threading
import time

from stonith.mocks._common import OFF, ON, Outlets
from stonith.mocks.redfish import Listeners, ServiceBase, add_service_arguments, error_body, missing

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from stonith.mocks._common import MockConfig
    from stonith.mocks.redfish import Reply

MODELS = {
    "generic": "Redfish rack PDU (PowerDistribution, outlets A1, A2, ...)",
    "numbered": "Redfish rack PDU (PowerDistribution, outlets 1, 2, ...)",
}
DEFAULT_MODEL = "generic"
EQUIPMENT = "/redfish/v1/PowerEquipment"
RACK_PDUS = f"{EQUIPMENT}/RackPDUs"
CONTROL_STATES = ("On", "Off", "PowerCycle")


def default_outlets(model: str) -> int:
    return 8


def default_names(model: str, count: int) -> list[str]:
    return [f"Outlet {n}" for n in range(1, count + 1)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_service_arguments(parser)
    parser.add_argument(
        "--pdus", type=int, default=1, metavar="N", help="RackPDUs in the service (a chain; default 1)"
    )


class PduService(ServiceBase):
    """A rack PDU's Redfish service: RackPDUs, their Outlets, PowerControl on the relays."""

    def __init__(self, outlets: Outlets, config: MockConfig, base_url: str) -> None:
        super().__init__(config, base_url)
        self.outlets = outlets
        count = len(outlets)
        pdus = int(config.options.get("pdus") or 1)
        if not 1 <= pdus <= count:
            raise ValueError("--pdus must be within 1 and the number of outlets")
        # Outlet numbers 1..N shared out in order: PDU k holds a run of them.
        size = -(-count // pdus)
        self.chain = [list(range(1 + k * size, min(count, (k + 1) * size) + 1)) for k in range(pdus)]
        self.numbered = config.model == "numbered"
        self.log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()

    def note(self, what: str, **details: Any) -> None:
        with self._log_lock:
            self.log.append({"t": time.time(), "what": what, **details})

    def outlet_id(self, number: int) -> str:
        """The outlet's Id within its PDU (counted from 1 in each PDU)."""
        local = next(chain.index(number) for chain in self.chain if number in chain) + 1
        return str(local) if self.numbered else f"A{local}"

    def _find(self, path: str) -> tuple[int, int] | None:
        """(PDU number, outlet number) of an Outlet path; None if it is not one."""
        for pdu, numbers in enumerate(self.chain, 1):
            prefix = f"{RACK_PDUS}/{pdu}/Outlets/"
            if path.startswith(prefix):
                for number in numbers:
                    if path[len(prefix) :] == self.outlet_id(number):
                        return pdu, number
        return None

    def root_links(self) -> dict[str, Any]:
        return {"PowerEquipment": {"@odata.id": EQUIPMENT}}

    def resource(self, path: str) -> tuple[int, Any]:
        if path == EQUIPMENT:
            return 200, {
                "@odata.id": path,
                "@odata.type": "#PowerEquipment.v1_2_0.PowerEquipment",
                "Id": "PowerEquipment",
                "Name": "Power Equipment",
                "RackPDUs": {"@odata.id": RACK_PDUS},
            }
        if path == RACK_PDUS:
            return 200, self._collection(path, [f"{path}/{n}" for n in range(1, len(self.chain) + 1)])
        for pdu in range(1, len(self.chain) + 1):
            base = f"{RACK_PDUS}/{pdu}"
            if path == base:
                return 200, {
                    "@odata.id": path,
                    "@odata.type": "#PowerDistribution.v1_3_0.PowerDistribution",
                    "Id": str(pdu),
                    "Name": f"RackPDU {pdu}",
                    "EquipmentType": "RackPDU",
                    "Manufacturer": "stonith-mock",
                    "Model": MODELS[self.config.model],
                    "Outlets": {"@odata.id": f"{base}/Outlets"},
                }
            if path == f"{base}/Outlets":
                ids = [self.outlet_id(n) for n in self.chain[pdu - 1]]
                return 200, self._collection(path, [f"{path}/{i}" for i in ids])
        found = self._find(path)
        if found is None:
            return missing(path)
        _, number = found
        outlet_id = self.outlet_id(number)
        return 200, {
            "@odata.id": path,
            "@odata.type": "#Outlet.v1_4_0.Outlet",
            "Id": outlet_id,
            "Name": f"Outlet {outlet_id}",
            "UserLabel": self.outlets.names[number - 1],
            "PowerState": "On" if self.outlets.shown(number) == ON else "Off",
            "PowerEnabled": True,
            "Status": {"State": "Enabled", "Health": "OK"},
            "Actions": {
                "#Outlet.PowerControl": {
                    "target": f"{path}/Actions/Outlet.PowerControl",
                    "PowerState@Redfish.AllowableValues": list(CONTROL_STATES),
                }
            },
        }

    @staticmethod
    def _collection(path: str, members: list[str]) -> dict[str, Any]:
        return {
            "@odata.id": path,
            "Members@odata.count": len(members),
            "Members": [{"@odata.id": m} for m in members],
        }

    def action(self, path: str, body: Any) -> Reply:
        suffix = "/Actions/Outlet.PowerControl"
        found = self._find(path.removesuffix(suffix)) if path.endswith(suffix) else None
        if found is None:
            return super().action(path, body)
        _, number = found
        state = body.get("PowerState") if isinstance(body, dict) else None
        if state not in CONTROL_STATES:
            message = f"PowerState {state!r} is not one of {', '.join(CONTROL_STATES)}"
            return 400, error_body("Base.1.8.ActionParameterNotSupported", message), {}
        self.note("power-control", outlet=str(number), state=str(state))

        def apply() -> None:
            if state == "PowerCycle":
                self.outlets.switch(number, OFF)  # the relay controller keeps the order: off, then on
                self.outlets.switch(number, ON)
            else:
                self.outlets.switch(number, ON if state == "On" else OFF)

        return self.accept(f"PowerState {state} of outlet {self.outlet_id(number)}", apply, (204, None, {}))


class RunningPdu:
    """What ``run`` returns to stonith-mock: ``info``, ``truth()`` (relays and the log), ``close()``."""

    def __init__(self, info: dict[str, Any], service: PduService, listeners: Listeners) -> None:
        self.info = info
        self.service = service
        self._listeners = listeners

    def truth(self) -> dict[str, Any]:
        truth = self.service.outlets.snapshot()
        with self.service._log_lock:
            truth["log"] = [dict(e) for e in self.service.log]
        return truth

    def close(self) -> None:
        self._listeners.close()
        self.service.outlets.close()


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> RunningPdu:
    listeners = Listeners(config, listen, serial_link, 1)
    outlets = Outlets(
        config.names,
        config.states,
        relay_delay=config.relay_delay,
        faults=config.faults,
        state_file=config.state_file,
    )
    try:
        service = PduService(outlets, config, listeners.url(listeners.addresses[0]))
    except BaseException:
        listeners.close()
        outlets.close()
        raise
    listeners.start([service])
    return RunningPdu(listeners.info(config), service, listeners)

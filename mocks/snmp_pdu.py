"""Switched PDUs over SNMP, device end: one UDP agent serving the tables of each PDU family.

``stonith-mock TYPE`` with TYPE one of the SNMP driver types serves that family's tables
(``stonith-mock snmp_pdu --model FAMILY`` any of them):

    apcmastersnmp   APC MasterSwitch (PowerNet-MIB sPDUOutletControl/Config tables), sysObjectID
                    masterSwitchV2 .318.1.3.4.2, model AP9212
    apc_rpdu        APC rack PDU (PowerNet-MIB rPDUIdent/rPDUOutlet tables), masterSwitchrPDU
                    .318.1.3.4.5, model AP7920 (what cluster-glue's apcmastersnmp reads)
    apc_rpdu2       APC rack PDU 2 (PowerNet-MIB rPDU2OutletSwitched tables), masterSwitchrPDU2
                    .318.1.3.4.6, model AP8959; states 1 off / 2 on; also the legacy sPDUOutletControl
                    and rPDUOutletControl tables its firmware keeps (fence_apc_snmp reads them)
    eaton_epdu      Eaton ePDU G3 (EATON-EPDU-MIB), .534.6.6.7, strapping index 0; separate
                    outletControlOffCmd / OnCmd / RebootCmd objects (write 0 = now)
    raritan_pdu2    Raritan PX2 (PDU2-MIB), .13742.6, pdu id 1; states 7 on / 8 off
    sentry3         ServerTech Sentry3 (Sentry3-MIB), .1718.3, tower 1 infeed 1
    sentry4         ServerTech Sentry4 (Sentry4-MIB), .1718.4, unit 1 input cord 1
    cyberpower_pdu  CyberPower switched ePDU (CPS-MIB), .3808.1.1.3
    baytech_mrp     BayTech MRP (Baytech-MIB-403-1), .4779.1.3, module 1; one object for
                    state and control (0 off, 1 on, 2 reboot)
    ifmib           an Ethernet switch's IF-MIB (RFC 2863): ports by ifIndex, ifDescr/ifName/ifAlias
                    the port's name, ifAdminStatus 1 up / 2 down (set, and read back as the port
                    is), ifOperStatus following it; sysObjectID net-snmp's Linux .8072.3.2.10

The OIDs and values follow the vendor MIBs; where public client code disagrees with the MIB, the
driver's family docstring says so and this agent follows the MIB.  tests/mocks/test_snmp_pdu_vendor_mibs.py
holds what this agent serves to the vendors' MIBs as net-snmp reads them (tests/mibs/: excerpts
citing each MIB's revision): every object named, readable, of its syntax and range, read-only where
the MIB says so, and switched by the MIB's labels.

Protocol: SNMP v1, v2c and v3 (USM: auth MD5, SHA, SHA-224/256/384/512; privacy DES, AES-128,
AES-192/256 with Blumenthal key extension as net-snmp's ``AES192``/``AES256`` and Reeder's as
``AES192C``/``AES256C``), GET, GETNEXT, GETBULK and SET, with a BER codec of its own (no SNMP
library), so net-snmp's tools and pysnmp check it independently.  Communities: ``--community``
(read-write, default ``private``) and ``--ro-community`` (read-only, default ``public``), or
``STONITH_MOCK_COMMUNITY``; v3 users ``--v3-user NAME:AUTH:AUTHPASS:PRIV:PRIVPASS`` (AUTH
``none``/MD5/SHA/SHA224/SHA256/SHA384/SHA512, PRIV ``none``/DES/AES/AES192/AES256/AES192C/AES256C),
or ``STONITH_MOCK_V3_USERS`` (specs separated by ``;``) to keep the keys out of ``ps``.

Behaviour (choices where the MIBs are silent):
    - A SET is checked whole before anything is applied (wrongType, wrongValue, noCreation,
      notWritable, noAccess for a read-only community; v1 maps them to noSuchName / badValue).
    - A control object read back gives the outlet's present state in the command's encoding
      (APC rPDU/rPDU2, CyberPower, Raritan), ``none`` (Sentry) or -1 (Eaton: nothing pending).
    - While a relay has not yet followed (``--relay-delay``), families with pending states show
      them (Eaton pendingOff/pendingOn, Sentry offWait/onWait, APC command-pending columns).
    - reboot = off now, on ``--reboot-delay`` seconds later.
    - A wrong community gets no answer (as real agents); a v3 request gets the USM report.
    - GETBULK answers are cut to ``--max-size`` bytes (default 1472, one Ethernet frame).

Faults (``--fault``; N counts requests, not bytes, on this datagram protocol): ``silent[=N]`` and
``drop-after=N`` stop answering after N requests; ``garble[=N]`` flips every answer's bits from
request N on; ``refuse-login`` refuses every community and user (a wrong community); ``stuck=N``,
``lie=N``, ``lie-status=N`` as for every mock.  ``--drop FRACTION`` drops that share of requests
at random (``--seed`` makes it repeatable).

Every request is counted by PDU type; ``truth()["requests"]`` holds the counts, so tests can check
round trips.
"""

from __future__ import annotations

from stonith.mocks._common import OFF, ON
from stonith.mocks._snmp_agent import Column, Family, SnmpMock
from stonith.mocks._snmp_wire import INTEGER, OCTETS

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from stonith.mocks._common import MockConfig

    Oid = tuple[int, ...]
    Value = tuple[int, Any]  # (BER tag, int | bytes | Oid | None)

APC = (1, 3, 6, 1, 4, 1, 318)


def _o(text: str) -> Oid:
    return tuple(int(p) for p in text.strip(".").split("."))


def _apc_rpdu_scalars(count: int, model: str) -> dict[Oid, Value]:
    base = (*APC, 1, 1, 12, 1)  # rPDUIdent
    return {
        (*base, 1, 0): (OCTETS, b"rack-pdu"),
        (*base, 2, 0): (OCTETS, b"HW rev B2"),
        (*base, 3, 0): (OCTETS, b"v3.9.2"),
        (*base, 5, 0): (OCTETS, model.encode()),
        (*base, 6, 0): (OCTETS, b"ZA0912003456"),
        (*base, 8, 0): (INTEGER, count),
    }


def _apc_spdu_scalars(count: int, model: str) -> dict[Oid, Value]:
    base = (*APC, 1, 1, 4)
    return {
        (*base, 1, 1, 0): (OCTETS, b"B2"),
        (*base, 1, 2, 0): (OCTETS, b"v2.2.0"),
        (*base, 1, 3, 0): (OCTETS, b"05/14/1999"),
        (*base, 1, 4, 0): (OCTETS, model.encode()),
        (*base, 1, 5, 0): (OCTETS, b"WA9920123456"),
        (*base, 4, 1, 0): (INTEGER, count),
    }


def _rpdu2_scalars(count: int, model: str) -> dict[Oid, Value]:
    base = (*APC, 1, 1, 26)
    return {
        (*base, 2, 1, 1, 1): (INTEGER, 1),
        (*base, 2, 1, 8, 1): (OCTETS, model.encode()),
        (*base, 9, 1, 1, 0): (INTEGER, count),
    }  # rPDU2Ident module 1, rPDU2OutletSwitchedTableSize


ON_OFF = {ON: 1, OFF: 2}
APC_COMMANDS = {1: ON, 2: OFF, 3: "reboot", 4: ON, 5: OFF, 6: "reboot"}
# The older outlet tables an AP89xx (rPDU2, firmware 6.x) still serves beside rPDU2Outlet, for the
# clients written against them.  fence-agents' fence_apc_snmp, seeing sysObjectID .318.1.3.4.6
# (masterSwitchrPDU2), reads an outlet's state from sPDUOutletCtl, its name from
# sPDUOutletCtlName and switches through rPDUOutletControlOutletCommand (its class ApcMS6);
# without these tables it read noSuchObject as "off" and printed "Already OFF" for an outlet
# that was on.  PowerNet-MIB (APC powernet369.mib):
#   sPDUOutletControlTable   .1.3.6.1.4.1.318.1.1.4.4.2.1  (masterSwitch sPDUOutletControl)
#     .1 sPDUOutletCtlIndex, .2 sPDUOutletPending (1 commandPending, 2 noCommandPending),
#     .3 sPDUOutletCtl (read 1 outletOn, 2 outletOff, 4 outletUnknown; write 1 outletOn,
#        2 outletOff, 3 outletReboot, 5 outletOnWithDelay, 6 outletOffWithDelay,
#        7 outletRebootWithDelay), .4 sPDUOutletCtlName
#   rPDUOutletControlTable   .1.3.6.1.4.1.318.1.1.12.3.3.1  (rPDU rPDUOutletControl)
#     .1 rPDUOutletControlIndex, .2 rPDUOutletControlOutletName,
#     .4 rPDUOutletControlOutletCommand (write 1 immediateOn, 2 immediateOff, 3 immediateReboot,
#        4-6 the delayed ones; read back 1/2 as the outlet's present state)
LEGACY_APC_TABLES = (
    Column((*APC, 1, 1, 4, 4, 2, 1, 1), "number"),  # sPDUOutletCtlIndex
    Column((*APC, 1, 1, 4, 4, 2, 1, 2), "pending", codes={"yes": 1, "no": 2}),  # sPDUOutletPending
    Column(
        (*APC, 1, 1, 4, 4, 2, 1, 3),  # sPDUOutletCtl
        "control",
        codes={ON: 1, OFF: 2, "unknown": 4},
        actions={1: ON, 2: OFF, 3: "reboot", 5: ON, 6: OFF, 7: "reboot"},
    ),
    Column((*APC, 1, 1, 4, 4, 2, 1, 4), "name"),  # sPDUOutletCtlName
    Column((*APC, 1, 1, 12, 3, 3, 1, 1, 1), "number"),  # rPDUOutletControlIndex
    Column((*APC, 1, 1, 12, 3, 3, 1, 1, 2), "name"),  # rPDUOutletControlOutletName
    Column(
        (*APC, 1, 1, 12, 3, 3, 1, 1, 4), "control", codes=ON_OFF, actions=APC_COMMANDS
    ),  # rPDUOutletControlOutletCommand
)
FAMILIES: dict[str, Family] = {
    f.key: f
    for f in (
        Family(
            "apcmastersnmp",
            "AP9212",
            (*APC, 1, 3, 4, 2),
            "APC MasterSwitch AP9212 (PowerNet sPDU)",
            (),
            (
                Column((*APC, 1, 1, 4, 4, 2, 1, 1), "number"),  # sPDUOutletCtlIndex
                Column(
                    (*APC, 1, 1, 4, 4, 2, 1, 2), "pending", codes={"yes": 1, "no": 2}
                ),  # sPDUOutletPending
                # sPDUOutletCtl: read 1 outletOn / 2 outletOff / 4 outletUnknown; write 1 on, 2 off,
                # 3 reboot, 5/6/7 the same after the outlet's configured delays
                Column(
                    (*APC, 1, 1, 4, 4, 2, 1, 3),
                    "control",
                    codes={ON: 1, OFF: 2, "unknown": 4},
                    actions={1: ON, 2: OFF, 3: "reboot", 5: ON, 6: OFF, 7: "reboot"},
                ),
                Column((*APC, 1, 1, 4, 4, 2, 1, 4), "name"),  # sPDUOutletCtlName (read-only)
                Column((*APC, 1, 1, 4, 5, 2, 1, 1), "number"),  # sPDUOutletConfigIndex
                Column((*APC, 1, 1, 4, 5, 2, 1, 3), "name", writable=True),  # sPDUOutletName
                Column((*APC, 1, 1, 4, 5, 2, 1, 5), "const", idle=5),  # sPDUOutletRebootDuration
            ),
            _apc_spdu_scalars,
            max_name=20,
        ),
        Family(
            "apc_rpdu",
            "AP7920",
            (*APC, 1, 3, 4, 5),
            "APC Switched Rack PDU (PowerNet rPDU)",
            (),
            (
                # rPDUOutletControlOutletCommand: write 1 immediateOn, 2 immediateOff, 3 immediateReboot,
                # 4-6 delayed; read back 1/2 = the present state (cluster-glue and Ironic read it so)
                Column((*APC, 1, 1, 12, 3, 3, 1, 1, 1), "number"),
                Column((*APC, 1, 1, 12, 3, 3, 1, 1, 2), "name"),
                Column((*APC, 1, 1, 12, 3, 3, 1, 1, 4), "control", codes=ON_OFF, actions=APC_COMMANDS),
                Column((*APC, 1, 1, 12, 3, 4, 1, 1, 1), "number"),
                Column((*APC, 1, 1, 12, 3, 4, 1, 1, 2), "name", writable=True),  # rPDUOutletConfigOutletName
                Column((*APC, 1, 1, 12, 3, 4, 1, 1, 6), "const", idle=5),  # rPDUOutletConfigRebootDuration
                Column((*APC, 1, 1, 12, 3, 5, 1, 1, 1), "number"),
                Column((*APC, 1, 1, 12, 3, 5, 1, 1, 2), "name"),  # rPDUOutletStatusOutletName
                Column((*APC, 1, 1, 12, 3, 5, 1, 1, 4), "state", codes=ON_OFF),  # rPDUOutletStatusOutletState
                Column((*APC, 1, 1, 12, 3, 5, 1, 1, 5), "pending", codes={"yes": 1, "no": 2}),
            ),
            _apc_rpdu_scalars,
            max_name=20,
        ),
        Family(
            "apc_rpdu2",
            "AP8959",
            (*APC, 1, 3, 4, 6),
            "APC Switched Rack PDU 2 (PowerNet rPDU2)",
            (),
            (
                Column((*APC, 1, 1, 26, 9, 2, 1, 1, 1), "number"),
                Column(
                    (*APC, 1, 1, 26, 9, 2, 1, 1, 3), "name", writable=True
                ),  # rPDU2OutletSwitchedConfigName
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 1), "number"),
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 2), "const", idle=1),  # ...StatusModule
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 3), "name"),  # rPDU2OutletSwitchedStatusName
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 4), "number"),  # ...StatusNumber
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 5), "state", codes={OFF: 1, ON: 2}),  # 1 off, 2 on
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 6), "pending", codes={"yes": 1, "no": 2}),
                Column((*APC, 1, 1, 26, 9, 2, 4, 1, 1), "number"),
                # rPDU2OutletSwitchedControlCommand: 1 immediateOn, 2 immediateOff, 3 immediateReboot,
                # 4 outletUnknown, 5-7 delayed, 8 cancelPendingCommand
                Column(
                    (*APC, 1, 1, 26, 9, 2, 4, 1, 5),
                    "control",
                    codes=ON_OFF,
                    actions={1: ON, 2: OFF, 3: "reboot", 5: ON, 6: OFF, 7: "reboot", 8: "none"},
                ),
                *LEGACY_APC_TABLES,
            ),
            _rpdu2_scalars,
        ),
        Family(
            "eaton_epdu",
            "EMA107-10",
            (1, 3, 6, 1, 4, 1, 534, 6, 6, 7),
            "Eaton ePDU MA 0U (EATON-EPDU-MIB)",
            (0,),
            (
                Column(_o("1.3.6.1.4.1.534.6.6.7.6.1.1.2"), "label", label="A{n}"),  # outletID (2-4 chars)
                Column(_o("1.3.6.1.4.1.534.6.6.7.6.1.1.3"), "name", writable=True),  # outletName
                # outletControlStatus: 0 off, 1 on, 2 pendingOff, 3 pendingOn
                Column(
                    _o("1.3.6.1.4.1.534.6.6.7.6.6.1.2"),
                    "state",
                    codes={OFF: 0, ON: 1, "pending_off": 2, "pending_on": 3},
                ),
                # outletControlOffCmd / OnCmd / RebootCmd: write 0 = now (n > 0: in n s, -1: cancel)
                Column(_o("1.3.6.1.4.1.534.6.6.7.6.6.1.3"), "control", actions={0: OFF, -1: "none"}, idle=-1),
                Column(_o("1.3.6.1.4.1.534.6.6.7.6.6.1.4"), "control", actions={0: ON, -1: "none"}, idle=-1),
                Column(
                    _o("1.3.6.1.4.1.534.6.6.7.6.6.1.5"), "control", actions={0: "reboot", -1: "none"}, idle=-1
                ),
            ),
        ),
        Family(
            "raritan_pdu2",
            "PX2-5260R",
            (1, 3, 6, 1, 4, 1, 13742, 6),
            "Raritan PX2 (PDU2-MIB)",
            (1,),
            (
                Column(_o("1.3.6.1.4.1.13742.6.3.5.3.1.2"), "label", label="{n}"),  # outletLabel
                Column(_o("1.3.6.1.4.1.13742.6.3.5.3.1.3"), "name", writable=True),  # outletName
                # switchingOperation: write 0 off, 1 on, 2 cycle
                Column(
                    _o("1.3.6.1.4.1.13742.6.4.1.2.1.2"),
                    "control",
                    codes={OFF: 0, ON: 1},
                    actions={0: OFF, 1: ON, 2: "reboot"},
                ),
                # outletSwitchingState: 7 on, 8 off, -1 unavailable
                Column(_o("1.3.6.1.4.1.13742.6.4.1.2.1.3"), "state", codes={ON: 7, OFF: 8, "unknown": -1}),
            ),
        ),
        Family(
            "sentry3",
            "CW-24V2",
            (1, 3, 6, 1, 4, 1, 1718, 3),
            "Sentry Switched CDU (Sentry3-MIB)",
            (1, 1),
            (
                Column(_o("1.3.6.1.4.1.1718.3.2.3.1.2"), "label", label="AA{n}"),  # outletID, 2-4 characters
                Column(_o("1.3.6.1.4.1.1718.3.2.3.1.3"), "name", writable=True),  # outletName
                # outletStatus: 0 off, 1 on, 2 offWait, 3 onWait, 4 offError, 5 onError, 6 noComm ...
                Column(
                    _o("1.3.6.1.4.1.1718.3.2.3.1.5"),
                    "state",
                    codes={OFF: 0, ON: 1, "pending_off": 2, "pending_on": 3, "unknown": 6},
                ),
                # outletControlAction: 0 none, 1 on, 2 off, 3 reboot
                Column(
                    _o("1.3.6.1.4.1.1718.3.2.3.1.11"),
                    "control",
                    actions={0: "none", 1: ON, 2: OFF, 3: "reboot"},
                    idle=0,
                ),
            ),
        ),
        Family(
            "sentry4",
            "C2S24TE",
            (1, 3, 6, 1, 4, 1, 1718, 4),
            "Sentry Switched PDU (Sentry4-MIB)",
            (1, 1),
            (
                Column(_o("1.3.6.1.4.1.1718.4.1.8.2.1.2"), "label", label="AA{n}"),  # st4OutletID (3-5)
                Column(_o("1.3.6.1.4.1.1718.4.1.8.2.1.3"), "name", writable=True),  # st4OutletName
                Column(_o("1.3.6.1.4.1.1718.4.1.8.3.1.1"), "state", codes={ON: 1, OFF: 2, "unknown": 0}),
                # st4OutletControlState: 10 off, 11 on, 9 pendOff, 8 pendOn
                Column(
                    _o("1.3.6.1.4.1.1718.4.1.8.5.1.1"),
                    "state",
                    codes={OFF: 10, ON: 11, "pending_off": 9, "pending_on": 8},
                ),
                # st4OutletControlAction: 0 none, 1 on, 2 off, 3 reboot, 4-6 queued
                Column(
                    _o("1.3.6.1.4.1.1718.4.1.8.5.1.2"),
                    "control",
                    actions={0: "none", 1: ON, 2: OFF, 3: "reboot", 4: ON, 5: OFF, 6: "reboot"},
                    idle=0,
                ),
            ),
        ),
        Family(
            "cyberpower_pdu",
            "PDU41004",
            (1, 3, 6, 1, 4, 1, 3808, 1, 1, 3),
            "CyberPower ePDU (CPS-MIB)",
            (),
            (
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.1"), "number"),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.2"), "name"),  # ePDUOutletControlOutletName
                # ePDUOutletControlOutletCommand: 1 immediateOn, 2 immediateOff, 3 immediateReboot,
                # 4-6 delayed, 7 cancelPendingCommand; reads the present state as 1/2
                Column(
                    _o("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.4"),
                    "control",
                    codes=ON_OFF,
                    actions={1: ON, 2: OFF, 3: "reboot", 4: ON, 5: OFF, 6: "reboot", 7: "none"},
                ),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.4.1.1.1"), "number"),
                # ePDUOutletConfigOutletName: the one writable name (the control and status ones are not)
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.4.1.1.2"), "name", writable=True),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.1"), "number"),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.2"), "name"),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.4"), "state", codes=ON_OFF),
            ),
        ),
        Family(
            "baytech_mrp",
            "MRP-27",
            (1, 3, 6, 1, 4, 1, 4779, 1, 3),
            "BayTech MRP (Baytech-MIB-403-1)",
            (1,),
            (
                Column(
                    _o("1.3.6.1.4.1.4779.1.3.5.3.1.1"), "const", idle=1
                ),  # sBTAModulesRPCOutletModuleIndex
                Column(_o("1.3.6.1.4.1.4779.1.3.5.3.1.2"), "number"),  # ...OutletIndex
                # sBTAModulesRPCOutletState: 0 off, 1 on, 2 reboot, 3 lockon, 4 lockoff, 5 unlock, 6 unknown
                Column(
                    _o("1.3.6.1.4.1.4779.1.3.5.3.1.3"),
                    "control",
                    codes={OFF: 0, ON: 1, "unknown": 6},
                    actions={0: OFF, 1: ON, 2: "reboot"},
                ),
                Column(_o("1.3.6.1.4.1.4779.1.3.5.3.1.4"), "name", writable=True),
            ),
            max_name=16,
        ),
    )
}


def _ifmib_scalars(count: int, model: str) -> dict[Oid, Value]:
    return {(1, 3, 6, 1, 2, 1, 2, 1, 0): (INTEGER, count)}  # ifNumber


# IF-MIB (RFC 2863): a switch port is an "outlet" that fabric fencing sets down (fence_ifmib).
FAMILIES["ifmib"] = Family(
    "ifmib",
    "SW-24G",
    (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
    "24-port Ethernet switch (IF-MIB)",
    (),
    (
        Column(_o("1.3.6.1.2.1.2.2.1.1"), "number"),  # ifIndex
        Column(_o("1.3.6.1.2.1.2.2.1.2"), "name"),  # ifDescr
        # ifAdminStatus: write 1 up / 2 down (3 testing is refused); reads the port as it is
        Column(_o("1.3.6.1.2.1.2.2.1.7"), "control", codes=ON_OFF, actions={1: ON, 2: OFF}),
        # ifOperStatus: up 1 / down 2 as the port is (a port going down is still up until it is)
        Column(
            _o("1.3.6.1.2.1.2.2.1.8"),
            "state",
            codes={ON: 1, OFF: 2, "pending_off": 1, "pending_on": 2, "unknown": 4},
        ),
        Column(_o("1.3.6.1.2.1.31.1.1.1.1"), "name"),  # ifName
        Column(_o("1.3.6.1.2.1.31.1.1.1.18"), "name", writable=True),  # ifAlias
    ),
    scalars=_ifmib_scalars,
    max_name=64,
)
MODELS: dict[str, Family | None] = {"auto": None, **FAMILIES}
DEFAULT_MODEL = "auto"
SNMP_PDU_DEFAULT = "apc_rpdu"


def family_for(type_name: str, model: str) -> Family:
    if model == "auto":
        return FAMILIES[type_name if type_name in FAMILIES else SNMP_PDU_DEFAULT]
    if type_name not in (model, "snmp_pdu"):
        raise ValueError(f"--model {model}: a {type_name} mock serves the {type_name} family only")
    return FAMILIES[model]


# ---------------------------------------------------------------------------------------------
# stonith-mock module interface


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--community",
        action="append",
        default=None,
        metavar="C",
        help="read-write community (repeatable; default private; or STONITH_MOCK_COMMUNITY)",
    )
    parser.add_argument(
        "--ro-community",
        action="append",
        default=None,
        metavar="C",
        help="read-only community (repeatable; default public)",
    )
    parser.add_argument(
        "--v3-user",
        action="append",
        default=[],
        metavar="NAME:AUTH:AUTHPASS:PRIV:PRIVPASS",
        help="an SNMPv3 user (repeatable; or STONITH_MOCK_V3_USERS, ';'-separated)",
    )
    parser.add_argument(
        "--engine-id", default="80001f8804737469746820", metavar="HEX", help="snmpEngineID in hex"
    )
    parser.add_argument(
        "--reboot-delay",
        type=float,
        default=1.0,
        metavar="S",
        help="off time of a reboot command (default 1)",
    )
    parser.add_argument(
        "--drop", type=float, default=0.0, metavar="FRACTION", help="drop this fraction of requests at random"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of --drop")
    parser.add_argument(
        "--max-size",
        type=int,
        default=1472,
        metavar="BYTES",
        help="largest answer to a v1/v2c request (default 1472)",
    )


def default_outlets(model: str) -> int:
    return 8


def default_names(model: str, count: int) -> list[str]:
    return [f"Outlet {n}" for n in range(1, count + 1)]


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> SnmpMock:
    if serial_link:
        raise ValueError("an SNMP agent serves UDP only (no --serial-link)")
    return SnmpMock(config, listen or "127.0.0.1:0", family_for(config.type, config.model))

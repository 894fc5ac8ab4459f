"""snmp_pdu: switched PDUs over SNMP, one base driver and one data-only class per PDU family.

Family: switched (per-outlet) rack PDUs with an SNMP agent: APC MasterSwitch (sPDU), APC rack PDU
(rPDU) and rack PDU 2 (rPDU2), Eaton ePDU G2/G3, Raritan PX2/PX3, ServerTech Sentry3 and Sentry4,
CyberPower switched ePDU, BayTech MRP.
Protocol: SNMP v1, v2c or v3 (USM) through stonith.transport.snmp.  An outlet is a row of the
family's outlet table: its name is read from the name column, its state from the state column,
and it is switched by writing the control object.  ``snmp_pdu`` reads sysObjectID and checks the
candidate family's state column before trusting it (sources disagree on APC product ids).

Tested on: the agent of mocks/snmp_pdu.py for every family (which net-snmp's tools and fence-agents'
fence_apc_snmp accept as well), and net-snmp's snmpd serving an APC rPDU outlet table through a
pass_persist script (tests/drivers/snmpd_apc_pass.py), v2c and v3.  Not yet on hardware.

Assumes:
- SNMP is enabled with a read-write community (v1/v2c) or a v3 user with write access;
- outlets are addressed by their number (the last index of the table row); on daisy-chained or
  multi-unit PDUs the other units' outlets are addressed by their full index (``2.1.5``);
- a pending state (command pending, Eaton pendingOff, Sentry offWait, ...) reads as unknown: the
  reset layer reads again until the outlet shows on or off;
- the device's own reboot command is never used: a reset is off, read back, on (stonith.fencing.engine).

Sources: wire-protocols.md section 3.1 (MIB-checked table), fence-agent-api.md section 9,
device-dialogues.md section 9 (cluster-glue apcmastersnmp).
"""

from __future__ import annotations

from stonith.contract import params
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import BadConfig, DeviceError, FieldProblem, UnknownOutlet
from stonith.contract.fields import ENUMERATION, INTEGER, SECONDS, SECRET, Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, ClassVar

    from stonith.contract.deadline import Deadline
    from stonith.transport.snmp import Session

    Oid = tuple[int, ...]

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SET_BATCH = 16  # var-binds per SET when several outlets switch at once


def _codes(values: dict[int, str]) -> Mapping[int, str]:
    """A family's value table, read-only."""
    from types import MappingProxyType

    return MappingProxyType(values)


def _oid(text: str) -> Oid:
    return tuple(int(part) for part in text.strip(".").split("."))


# ---------------------------------------------------------------------------------------------
# Configuration fields (cluster-glue apcmastersnmp: ipaddr port community, in that order)

IPADDR = params.SNMP_ADDRESS
PORT = params.SNMP_PORT
COMMUNITY = Field(
    "community",
    "Community",
    specialtype=SECRET,
    length=255,
    short_text="SNMP community (v1, v2c)",
    long_text="The read-write community (SNMP v1 and v2c). It is a password: it never appears on a "
    "command line or in a log.",
)
VERSION = Field(
    "snmp_version",
    "SNMP version",
    basictype=ENUMERATION,
    enumset=("1", "2c", "3"),
    default="2c",
    short_text="SNMP version (1, 2c or 3)",
    long_text="The SNMP version: 1, 2c (community) or 3 (user-based security).",
)
LOGIN = params.SNMP_USER
PASSWORD = params.SNMP_AUTH_PASSPHRASE
AUTH_PROT = Field(
    "snmp_auth_prot",
    "SNMPv3 auth protocol",
    basictype=ENUMERATION,
    enumset=("MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"),
    default="SHA",
    short_text="SNMPv3 authentication protocol",
    long_text="The SNMPv3 authentication protocol: MD5, SHA (SHA-1), SHA224, SHA256, SHA384 or SHA512.",
)
PRIV_PROT = Field(
    "snmp_priv_prot",
    "SNMPv3 privacy protocol",
    basictype=ENUMERATION,
    enumset=("DES", "AES", "AES192", "AES256", "AES192C", "AES256C"),
    default="AES",
    short_text="SNMPv3 privacy protocol",
    long_text="The SNMPv3 privacy protocol: DES, AES (128 bit), AES192 or AES256 (key extension as "
    "net-snmp), AES192C or AES256C (Cisco-style key extension).",
)
PRIV_PASSWD = Field(
    "snmp_priv_passwd",
    "SNMPv3 privacy passphrase",
    specialtype=SECRET,
    short_text="SNMPv3 privacy passphrase",
    long_text="The SNMPv3 privacy passphrase (at least 8 characters); empty for no encryption.",
)
TIMEOUT = Field(
    "snmp_timeout",
    "SNMP timeout",
    basictype=SECONDS,
    default=1.0,
    minval=0.05,
    maxval=60,
    short_text="Seconds to wait for each SNMP answer",
    long_text="How long to wait for the answer to one SNMP request before sending it again.",
)
RETRIES = Field(
    "snmp_retries",
    "SNMP retries",
    basictype=INTEGER,
    default=1,
    minval=0,
    maxval=10,
    short_text="How often to resend an unanswered SNMP request",
    long_text="How often an unanswered SNMP request is sent again. An unreachable PDU fails after "
    "snmp_timeout x (snmp_retries + 1) seconds, or at the operation's deadline if that comes first.",
)
FIELDS = (
    IPADDR,
    PORT,
    COMMUNITY,
    VERSION,
    LOGIN,
    PASSWORD,
    AUTH_PROT,
    PRIV_PROT,
    PRIV_PASSWD,
    TIMEOUT,
    RETRIES,
)


def _info(
    name: str,
    shortdesc: str,
    description: str,
    family: str,
    models: Sequence[str],
    url: str,
    *,
    summary: str,
    version: str = "2c",
) -> DriverInfo:
    fields = tuple(f.replace(default=version) if f is VERSION else f for f in FIELDS)
    return DriverInfo(
        name,
        shortdesc=shortdesc,
        description=description,
        fields=fields,
        family=family,
        models=models,
        url=url,
        capabilities=Capabilities(multi=True, sessions=0),
        summary=summary,
    )


# ---------------------------------------------------------------------------------------------
# The base driver


class SnmpPdu(Driver):
    """A PDU family is data: the class attributes below; the verbs are written once, here."""

    # pysnmp itself; cryptography only for SNMPv3 privacy, which pysnmp reports when it is missing.
    EXTRA = ("snmp", ("pysnmp",))
    #: Outlet name column (walked); the outlet index follows.
    NAMES: ClassVar[Oid] = ()
    #: State column and its values; any other value is UNKNOWN.
    STATE: ClassVar[Oid] = ()
    STATES: ClassVar[Mapping[int, str]] = {}
    #: (column, value) written to switch on and off.
    ON_CMD: ClassVar[tuple[Oid, int]] = ((), 0)
    OFF_CMD: ClassVar[tuple[Oid, int]] = ((), 0)
    #: Index prefix of this unit's outlets (strapping index, tower.infeed, pdu id, module).
    INDEX: ClassVar[Oid] = ()
    #: sysObjectID prefixes of the family (for snmp_pdu), most specific first.
    SYS_OBJECT_IDS: ClassVar[tuple[Oid, ...]] = ()
    LABEL: ClassVar[str] = ""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        from stonith.contract.validation import split_hostport

        self.family: type[SnmpPdu] = type(self)
        problems = []
        try:
            self.host, self.port = split_hostport(self.params.ipaddr, self.params.port)
        except ValueError:
            problems.append(
                FieldProblem("ipaddr", "is not a host or host:port", missing=not self.params.ipaddr)
            )
        version = self.params.snmp_version
        if version in ("1", "2c") and not self.params.community:
            problems.append(FieldProblem("community", f"required for SNMP v{version}", missing=True))
        if version == "3" and not self.params.login:
            problems.append(FieldProblem("login", "the SNMPv3 user is required for SNMP v3", missing=True))
        if problems:
            raise BadConfig(problems, self.INFO.name)
        try:
            self.credentials = self._credentials(version)
        except ValueError as exc:
            raise BadConfig([FieldProblem("snmp_version", str(exc))], self.INFO.name) from None
        self._session: Session | None = None
        self._count = 0  # outlets seen by the last outlets(): sizes the GETBULK of a status read

    def _credentials(self, version: str) -> Any:
        from stonith.transport.snmp import Credentials

        if version != "3":
            return Credentials(version, community=self.params.community)
        password, priv = self.params.password, self.params.snmp_priv_passwd
        return Credentials(
            "3",
            user=self.params.login,
            auth_protocol=self.params.snmp_auth_prot if password else "",
            auth_password=password,
            priv_protocol=self.params.snmp_priv_prot if priv else "",
            priv_password=priv,
        )

    def device_name(self) -> str:
        return str(self.params.ipaddr)

    # -- session -------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        """SNMP has no connection: this only prepares the client (nothing is sent)."""
        from stonith.transport.snmp import Session

        self.disconnect()
        self._session = Session(
            self.host,
            self.port,
            self.credentials,
            timeout=self.params.snmp_timeout,
            retries=self.params.snmp_retries,
        )

    def disconnect(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    @property
    def session(self) -> Session:
        if self._session is None:
            raise DeviceError("no SNMP session (connect first)")
        return self._session

    def probe(self, deadline: Deadline) -> str:
        (_, descr), (_, object_id) = self.session.get([SYS_DESCR, SYS_OBJECT_ID], deadline)
        self.outlets(deadline)
        text = descr.decode("utf-8", "replace").strip() if isinstance(descr, bytes) else ""
        oid = ".".join(str(x) for x in object_id) if isinstance(object_id, tuple) else "?"
        return f"{self.family.LABEL or self.INFO.shortdesc}: {text or 'no sysDescr'} (sysObjectID .{oid})"

    # -- verbs ---------------------------------------------------------------------------------
    def outlets(self, deadline: Deadline) -> list[Outlet]:
        family = self.family
        rows = self.session.walk(family.NAMES, deadline)
        found = [Outlet(self._outlet_id(oid[len(family.NAMES) :]), _text(value)) for oid, value in rows]
        if not found:  # no names exposed: the state column still lists the outlets
            rows = self.session.walk(family.STATE, deadline)
            found = [Outlet(self._outlet_id(oid[len(family.STATE) :])) for oid, _ in rows]
        if not found:
            raise DeviceError(f"the PDU at {self.device_name()} lists no outlets in its {family.LABEL} table")
        for outlet in found:
            if not outlet.name.strip():
                outlet.name = f"Outlet {outlet.id}"
        self._count = len(found)
        return found

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        ((_, value),) = self.session.get([(*self.family.STATE, *self._index(outlet))], deadline)
        return self._state(value)

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        if len(outlets) == 1 or self.credentials.version == "1":
            oids = [(*self.family.STATE, *self._index(o)) for o in outlets]
            values = self.session.get(oids, deadline)
            return {o.id: self._state(v) for o, (_, v) in zip(outlets, values, strict=True)}
        # One GETBULK for the whole column: one row more than the table has shows where it ends.
        state = self.family.STATE
        reps = self._count + 1 if self._count else 0
        rows = self.session.walk(state, deadline, **({"max_repetitions": reps} if reps else {}))
        table = {oid[len(state) :]: value for oid, value in rows}
        return {o.id: self._state(table.get(self._index(o))) for o in outlets}

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self.on_many([outlet], deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self.off_many([outlet], deadline)

    def on_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        self._switch(self.family.ON_CMD, outlets, deadline)

    def off_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        self._switch(self.family.OFF_CMD, outlets, deadline)

    # -- internals -----------------------------------------------------------------------------
    def _switch(self, command: tuple[Oid, int], outlets: Sequence[Outlet], deadline: Deadline) -> None:
        column, value = command
        varbinds: list[tuple[Oid, int | str | bytes]] = [((*column, *self._index(o)), value) for o in outlets]
        for start in range(0, len(varbinds), SET_BATCH):  # the agent applies a SET whole or not at all
            self.session.set(varbinds[start : start + SET_BATCH], deadline)

    def _index(self, outlet: Outlet) -> Oid:
        text = outlet.id.strip()
        parts = text.split(".")
        if not text or not all(p.isdigit() for p in parts) or len(parts) > 8:
            raise UnknownOutlet(f"{outlet.id!r} is not an outlet number of this PDU")
        if len(parts) == 1:
            if int(text) == 0:
                raise UnknownOutlet("outlet 0 is not an outlet")
            return (*self.family.INDEX, int(text))
        return tuple(int(p) for p in parts)

    def _outlet_id(self, index: Oid) -> str:
        prefix = self.family.INDEX
        if len(index) == len(prefix) + 1 and index[: len(prefix)] == prefix:
            return str(index[-1])
        return ".".join(str(x) for x in index)

    def _state(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return self.family.STATES.get(value, UNKNOWN)
        return UNKNOWN  # missing object, wrong type: never taken for off


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip().strip("\x00")
    return str(value).strip()


# ---------------------------------------------------------------------------------------------
# The families (data only)

APC = "1.3.6.1.4.1.318"


class ApcRpdu(SnmpPdu):
    """APC switched rack PDU (AP79xx, AP7900/AP7920/AP7921), PowerNet-MIB rPDUOutlet tables.

    State rPDUOutletStatusOutletState (.318.1.1.12.3.5.1.1.4.N: 1 on, 2 off); control
    rPDUOutletControlOutletCommand (…12.3.3.1.1.4.N: 1 immediateOn, 2 immediateOff); names
    rPDUOutletStatusOutletName (…12.3.5.1.1.2.N).  sysObjectID masterSwitchrPDU .318.1.3.4.5.

    Sources disagree: fence-agents maps .318.1.3.4.5 to this table and .4.4 to MasterSwitch Plus,
    NUT maps .4.4 to rPDU and .4.5 to rPDU2; cluster-glue and Ironic read the state from the
    control object (which the MIB also defines as readable).  We follow PowerNet-MIB and read the
    status table.
    """

    INFO = _info(
        "apc_rpdu",
        "APC rack PDU (SNMP)",
        "APC switched rack PDUs (AP79xx) over SNMP (PowerNet-MIB rPDU outlet tables).",
        "APC rPDU",
        ("AP7900", "AP7901", "AP7902", "AP7920", "AP7921", "AP7930", "AP7940", "AP7941"),
        "https://www.apc.com/",
        summary="APC rack PDU (rPDU) over SNMP",
    )
    LABEL = "APC rPDU"
    NAMES = _oid(f"{APC}.1.1.12.3.5.1.1.2")  # rPDUOutletStatusOutletName
    STATE = _oid(f"{APC}.1.1.12.3.5.1.1.4")  # rPDUOutletStatusOutletState
    STATES = _codes({1: ON, 2: OFF})
    ON_CMD = (_oid(f"{APC}.1.1.12.3.3.1.1.4"), 1)  # rPDUOutletControlOutletCommand immediateOn
    OFF_CMD = (_oid(f"{APC}.1.1.12.3.3.1.1.4"), 2)  # immediateOff
    SYS_OBJECT_IDS = (_oid(f"{APC}.1.3.4.5"),)


class ApcRpdu2(SnmpPdu):
    """APC switched rack PDU 2 (AP86xx/AP89xx), PowerNet-MIB rPDU2OutletSwitched tables.

    State rPDU2OutletSwitchedStatusState (.318.1.1.26.9.2.3.1.5.I: **1 off, 2 on**, the reverse of
    rPDU); control rPDU2OutletSwitchedControlCommand (…26.9.2.4.1.5.I: 1 immediateOn, 2
    immediateOff); names rPDU2OutletSwitchedStatusName (…26.9.2.3.1.3.I).  I is a flat index
    across chained PDUs.  sysObjectID masterSwitchrPDU2 .318.1.3.4.6.

    Sources disagree: a monitoring document (Splunk) shows 1 = on; fence-agents treats .4.6 as a
    "MasterSwitch firmware v6" with sPDU states and rPDU commands.  We follow PowerNet-MIB.
    """

    INFO = _info(
        "apc_rpdu2",
        "APC rack PDU 2 (SNMP)",
        "APC switched rack PDUs of the second generation (AP84xx/86xx/89xx) over SNMP "
        "(PowerNet-MIB rPDU2 outlet tables).",
        "APC rPDU2",
        ("AP8641", "AP8659", "AP8853", "AP8941", "AP8959"),
        "https://www.apc.com/",
        summary="APC rack PDU 2 (rPDU2) over SNMP",
    )
    LABEL = "APC rPDU2"
    NAMES = _oid(f"{APC}.1.1.26.9.2.3.1.3")  # rPDU2OutletSwitchedStatusName
    STATE = _oid(f"{APC}.1.1.26.9.2.3.1.5")  # rPDU2OutletSwitchedStatusState
    STATES = _codes({1: OFF, 2: ON})
    ON_CMD = (_oid(f"{APC}.1.1.26.9.2.4.1.5"), 1)  # immediateOn
    OFF_CMD = (_oid(f"{APC}.1.1.26.9.2.4.1.5"), 2)  # immediateOff
    SYS_OBJECT_IDS = (_oid(f"{APC}.1.3.4.6"),)


class ApcMasterSnmp(SnmpPdu):
    """APC MasterSwitch (AP9211/AP9212 and compatibles), PowerNet-MIB sPDUOutletControlTable.

    sPDUOutletCtl (.318.1.1.4.4.2.1.3.N) is read for the state (1 outletOn, 2 outletOff, 4 unknown)
    and written to switch (1 on, 2 off; 3 reboot unused); names are sPDUOutletCtlName (…2.1.4.N).
    This is fence_apc_snmp's fallback table, used for any sysObjectID it does not know.

    Sources disagree: cluster-glue's C plugin of the same name, whose parameter names (ipaddr, port,
    community) and SNMPv1 default are kept here, does not read this table but the rPDU one (see
    ``ApcRpdu``: rPDUIdent, rPDUOutletControlOutletCommand) and ignores ``port``; this driver uses the
    MasterSwitch table the type is named after and honours ``port``.  Use ``apc_rpdu`` (or
    ``snmp_pdu``) for the rack PDUs cluster-glue's plugin was tested with (AP7900/AP7920/AP7921).
    """

    INFO = _info(
        "apcmastersnmp",
        "APC MasterSwitch (SNMP)",
        "The APC MasterSwitch and compatible switched PDUs over SNMP (PowerNet-MIB sPDU outlet table).\n"
        "Parameters as cluster-glue's apcmastersnmp (ipaddr, port, community; SNMP v1 by default); "
        "the port is honoured, and SNMP v2c and v3 are available.",
        "APC MasterSwitch",
        ("AP9211", "AP9212", "AP9224"),
        "https://www.apc.com/",
        version="1",
        summary="APC MasterSwitch / switched rack PDU over SNMP (cluster-glue apcmastersnmp)",
    )
    LABEL = "APC MasterSwitch"
    NAMES = _oid(f"{APC}.1.1.4.4.2.1.4")  # sPDUOutletCtlName
    STATE = _oid(f"{APC}.1.1.4.4.2.1.3")  # sPDUOutletCtl
    STATES = _codes({1: ON, 2: OFF})  # 4 = outletUnknown
    ON_CMD = (STATE, 1)  # outletOn
    OFF_CMD = (STATE, 2)  # outletOff
    SYS_OBJECT_IDS = (_oid(f"{APC}.1.3.4.1"), _oid(f"{APC}.1.3.4.2"), _oid(f"{APC}.1.3.4.3"))


class EatonEpdu(SnmpPdu):
    """Eaton ePDU G2/G3 (EATON-EPDU-MIB, .534.6.6.7), strapping index S = 0 (stand-alone unit).

    State outletControlStatus (.534.6.6.7.6.6.1.2.S.N: 0 off, 1 on, 2 pendingOff, 3 pendingOn);
    switching writes 0 (= now) to outletControlOnCmd (…6.6.1.4.S.N) or outletControlOffCmd
    (…6.6.1.3.S.N); names outletName (…6.1.1.3.S.N).

    Sources disagree: OpenStack Ironic's EatonPower class writes "on" to …6.6.1.3 (OffCmd in the
    MIB) and "off" to …6.6.1.4 (OnCmd), contradicting its own docstring, and omits S.  We follow
    the MIB.  The older Managed ePDU (.534.6.6.6) that fence_eaton_snmp drives is not this family.
    """

    INFO = _info(
        "eaton_epdu",
        "Eaton ePDU (SNMP)",
        "Eaton switched/managed ePDUs G2 and G3 over SNMP (EATON-EPDU-MIB).",
        "Eaton ePDU",
        ("EMA", "EMAB", "ePDU G3 Switched", "ePDU G3 Managed"),
        "https://www.eaton.com/",
        summary="Eaton ePDU over SNMP",
    )
    LABEL = "Eaton ePDU"
    INDEX = (0,)
    NAMES = _oid("1.3.6.1.4.1.534.6.6.7.6.1.1.3")  # outletName
    STATE = _oid("1.3.6.1.4.1.534.6.6.7.6.6.1.2")  # outletControlStatus
    STATES = _codes({0: OFF, 1: ON})  # 2 pendingOff, 3 pendingOn
    ON_CMD = (_oid("1.3.6.1.4.1.534.6.6.7.6.6.1.4"), 0)  # outletControlOnCmd, 0 = now
    OFF_CMD = (_oid("1.3.6.1.4.1.534.6.6.7.6.6.1.3"), 0)  # outletControlOffCmd, 0 = now
    SYS_OBJECT_IDS = (_oid("1.3.6.1.4.1.534.6.6.7"),)


class RaritanPdu2(SnmpPdu):
    """Raritan PX2/PX3 (PDU2-MIB, .13742.6), PDU id P = 1.

    State outletSwitchingState (.13742.6.4.1.2.1.3.P.N: 7 on, 8 off, -1 unavailable); control
    switchingOperation (…4.1.2.1.2.P.N: 0 off, 1 on; 2 cycle unused); names outletName
    (…3.5.3.1.3.P.N).  fence-agents' fence_raritan and fence_raritan_px3 use the CLI, not SNMP.
    """

    INFO = _info(
        "raritan_pdu2",
        "Raritan PX2/PX3 (SNMP)",
        "Raritan PX2 and PX3 intelligent PDUs over SNMP (PDU2-MIB).",
        "Raritan PX2/PX3",
        ("PX2", "PX3"),
        "https://www.raritan.com/",
        summary="Raritan PX2/PX3 (PDU2-MIB) over SNMP",
    )
    LABEL = "Raritan PDU2"
    INDEX = (1,)
    NAMES = _oid("1.3.6.1.4.1.13742.6.3.5.3.1.3")  # outletName
    STATE = _oid("1.3.6.1.4.1.13742.6.4.1.2.1.3")  # outletSwitchingState
    STATES = _codes({7: ON, 8: OFF})
    ON_CMD = (_oid("1.3.6.1.4.1.13742.6.4.1.2.1.2"), 1)  # switchingOperation on
    OFF_CMD = (_oid("1.3.6.1.4.1.13742.6.4.1.2.1.2"), 0)  # switchingOperation off
    SYS_OBJECT_IDS = (_oid("1.3.6.1.4.1.13742.6"),)


class Sentry3(SnmpPdu):
    """ServerTech Sentry3 Switched CDU (Sentry3-MIB, .1718.3), tower 1 infeed 1 (index T.I.N).

    State outletStatus (.1718.3.2.3.1.5.T.I.N: 0 off, 1 on, 2 offWait, 3 onWait, 4 offError,
    5 onError, ...); control outletControlAction (…3.2.3.1.11.T.I.N: 1 on, 2 off); names
    outletName (…3.2.3.1.3.T.I.N).

    Sources disagree: a survey of public code reads outletControlState (…1.10) with 5 on and 4 off;
    Ironic reads outletStatus as we do.  The MIB's outletStatus encoding is used.
    """

    INFO = _info(
        "sentry3",
        "ServerTech Sentry3 (SNMP)",
        "Server Technology Sentry Switched CDUs (Sentry3-MIB) over SNMP.",
        "ServerTech Sentry3",
        ("CW-8H1", "CW-24V2", "CS-16V1"),
        "https://www.servertech.com/",
        summary="ServerTech Sentry3 over SNMP",
    )
    LABEL = "ServerTech Sentry3"
    INDEX = (1, 1)
    NAMES = _oid("1.3.6.1.4.1.1718.3.2.3.1.3")  # outletName
    STATE = _oid("1.3.6.1.4.1.1718.3.2.3.1.5")  # outletStatus
    STATES = _codes({0: OFF, 1: ON})  # 2 offWait, 3 onWait, 4-9 errors: unknown
    ON_CMD = (_oid("1.3.6.1.4.1.1718.3.2.3.1.11"), 1)  # outletControlAction on
    OFF_CMD = (_oid("1.3.6.1.4.1.1718.3.2.3.1.11"), 2)  # outletControlAction off
    SYS_OBJECT_IDS = (_oid("1.3.6.1.4.1.1718.3"),)


class Sentry4(SnmpPdu):
    """ServerTech Sentry4 Switched PDU (Sentry4-MIB, .1718.4), unit 1 input cord 1 (U.C.N).

    State st4OutletState (.1718.4.1.8.3.1.1.U.C.N: 0 unknown, 1 on, 2 off); control
    st4OutletControlAction (…8.5.1.2.U.C.N: 1 on, 2 off); names st4OutletName (…8.2.1.3.U.C.N).

    Sources disagree: Ironic reads st4OutletControlState (…8.5.1.1: 10 off, 11 on, with pending and
    locked states) instead of st4OutletState; both are in the MIB and the mock serves both.
    """

    INFO = _info(
        "sentry4",
        "ServerTech Sentry4 (SNMP)",
        "Server Technology Sentry Switched PDUs, fourth generation (Sentry4-MIB), over SNMP.",
        "ServerTech Sentry4",
        ("C2S24TE", "C2W36TE", "PRO2"),
        "https://www.servertech.com/",
        summary="ServerTech Sentry4 over SNMP",
    )
    LABEL = "ServerTech Sentry4"
    INDEX = (1, 1)
    NAMES = _oid("1.3.6.1.4.1.1718.4.1.8.2.1.3")  # st4OutletName
    STATE = _oid("1.3.6.1.4.1.1718.4.1.8.3.1.1")  # st4OutletState
    STATES = _codes({1: ON, 2: OFF})
    ON_CMD = (_oid("1.3.6.1.4.1.1718.4.1.8.5.1.2"), 1)  # st4OutletControlAction on
    OFF_CMD = (_oid("1.3.6.1.4.1.1718.4.1.8.5.1.2"), 2)  # st4OutletControlAction off
    SYS_OBJECT_IDS = (_oid("1.3.6.1.4.1.1718.4"),)


class CyberPowerPdu(SnmpPdu):
    """CyberPower switched ePDU (CPS-MIB, .3808.1.1.3).

    State ePDUOutletStatusOutletState (.3808.1.1.3.3.5.1.1.4.N: 1 on, 2 off); control
    ePDUOutletControlOutletCommand (…3.3.3.1.1.4.N: 1 immediateOn, 2 immediateOff); names
    ePDUOutletStatusOutletName (…3.3.5.1.1.2.N).

    Sources disagree: Ironic reads the state from the control object; we read the status table.
    """

    INFO = _info(
        "cyberpower_pdu",
        "CyberPower PDU (SNMP)",
        "CyberPower switched metered-by-outlet ePDUs over SNMP (CPS-MIB).",
        "CyberPower ePDU",
        ("PDU41004", "PDU81005", "PDU15SWHVIEC8FNET"),
        "https://www.cyberpowersystems.com/",
        summary="CyberPower switched PDU over SNMP",
    )
    LABEL = "CyberPower ePDU"
    NAMES = _oid("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.2")  # ePDUOutletStatusOutletName
    STATE = _oid("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.4")  # ePDUOutletStatusOutletState
    STATES = _codes({1: ON, 2: OFF})
    ON_CMD = (_oid("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.4"), 1)  # immediateOn
    OFF_CMD = (_oid("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.4"), 2)  # immediateOff
    SYS_OBJECT_IDS = (_oid("1.3.6.1.4.1.3808.1.1.3"), _oid("1.3.6.1.4.1.3808"))


class BaytechMrp(SnmpPdu):
    """BayTech MRP/RPC over SNMP (Baytech-MIB-403-1, .4779), module M = 1.

    sBTAModulesRPCOutletState (.4779.1.3.5.3.1.3.M.N) is read for the state (0 off, 1 on; 2 reboot,
    3-5 lock states, 6 unknown) and written to switch (0 off, 1 on); names
    sBTAModulesRPCOutletName (…3.1.4.M.N).  PowerMan's baytech-snmp.dev uses the same object.
    """

    INFO = _info(
        "baytech_mrp",
        "BayTech MRP (SNMP)",
        "BayTech MRP and RPC remote power controllers with an SNMP module (Baytech-MIB-403-1).",
        "BayTech MRP",
        ("MRP-27", "RPC-14", "RPC-22"),
        "https://www.baytech.net/",
        summary="BayTech MRP over SNMP",
    )
    LABEL = "BayTech MRP"
    INDEX = (1,)
    NAMES = _oid("1.3.6.1.4.1.4779.1.3.5.3.1.4")  # sBTAModulesRPCOutletName
    STATE = _oid("1.3.6.1.4.1.4779.1.3.5.3.1.3")  # sBTAModulesRPCOutletState
    STATES = _codes({0: OFF, 1: ON})
    ON_CMD = (STATE, 1)
    OFF_CMD = (STATE, 0)
    SYS_OBJECT_IDS = (_oid("1.3.6.1.4.1.4779"),)


IF_MIB = "1.3.6.1.2.1"


class IfMib(SnmpPdu):
    """Fabric fencing: a node's "outlets" are switch ports, switched by IF-MIB (RFC 2863) as
    fence-agents' fence_ifmib does.

    State and control ifAdminStatus (.2.1.2.2.1.7.I: 1 up = ON, 2 down = OFF, 3 testing = unknown),
    read back after every change; a port is its ifIndex I, named by ifName (ifXTable .2.1.31.1.1.1.1;
    ifDescr .2.1.2.2.1.2 where the agent has no ifXTable), so ``[hosts]`` may name ports either way.
    ``probe`` also reports how many ports are operationally up (ifOperStatus .2.1.2.2.1.8): a port set
    down is down for the node whatever its link does.

    Fencing a port cuts the node off the fabric (storage, cluster network), not its power: the node
    keeps running until it is powered off or rebooted by someone else, and ``on`` lets it back in.
    Use ``off`` (pcmk_reboot_action=off) and a power device at another topology level for a reset.
    Never autodetected (every switch and many PDUs serve IF-MIB).
    """

    INFO = _info(
        "ifmib",
        "Switch ports (SNMP IF-MIB)",
        "Fabric fencing: the switch ports of a node are set administratively down (off) or up (on) "
        "over SNMP (IF-MIB ifAdminStatus, read back), like fence_ifmib. Ports by ifIndex or ifName.",
        "IF-MIB switch",
        ("any SNMP-managed Ethernet or Fibre Channel switch with IF-MIB",),
        "https://www.rfc-editor.org/rfc/rfc2863",
        summary="Switch ports (fabric fencing) over SNMP IF-MIB, like fence_ifmib",
    )
    LABEL = "IF-MIB switch"
    NAMES = _oid(f"{IF_MIB}.31.1.1.1.1")  # ifName
    DESCRIPTIONS = _oid(f"{IF_MIB}.2.2.1.2")  # ifDescr
    OPER = _oid(f"{IF_MIB}.2.2.1.8")  # ifOperStatus: 1 up, 2 down, 3 testing, 5 dormant, 7 lowerLayerDown
    STATE = _oid(f"{IF_MIB}.2.2.1.7")  # ifAdminStatus
    STATES = _codes({1: ON, 2: OFF})
    ON_CMD = (STATE, 1)  # up
    OFF_CMD = (STATE, 2)  # down

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        found = super().outlets(deadline)
        if all(o.name == f"Outlet {o.id}" for o in found):  # no ifXTable: ifDescr names the ports
            rows = self.session.walk(self.DESCRIPTIONS, deadline)
            names = {self._outlet_id(oid[len(self.DESCRIPTIONS) :]): _text(v) for oid, v in rows}
            for outlet in found:
                outlet.name = names.get(outlet.id) or outlet.name
        return found

    def probe(self, deadline: Deadline) -> str:
        identity = super().probe(deadline)
        oper = [v for _, v in self.session.walk(self.OPER, deadline)]
        return f"{identity}; {self._count} ports, {oper.count(1)} operationally up"


# The families autodetection tries: every class above that names the sysObjectIDs of its agents (in
# the order they are written: for an unknown sysObjectID of a known vendor, the first written is
# tried first).  A new family is its class; IfMib switches switch ports, not PDU outlets.
FAMILIES: tuple[type[SnmpPdu], ...] = tuple(
    value
    for value in list(globals().values())
    if isinstance(value, type)
    and issubclass(value, SnmpPdu)
    and value.__module__ == __name__
    and value.SYS_OBJECT_IDS
)


class AutoPdu(SnmpPdu):
    """Any family above, picked from sysObjectID and confirmed by reading its state column."""

    INFO = _info(
        "snmp_pdu",
        "Switched PDU (SNMP, autodetected)",
        "A switched PDU over SNMP whose family (one of the models listed) is detected from its "
        "sysObjectID and confirmed by reading the family's outlet table.",
        "SNMP PDUs",
        tuple(f.LABEL for f in FAMILIES),
        "https://www.rfc-editor.org/rfc/rfc3416",
        summary="Switched PDU over SNMP, family detected from sysObjectID",
    )
    LABEL = "SNMP PDU"

    def connect(self, deadline: Deadline) -> None:
        super().connect(deadline)
        if self.family is AutoPdu:
            self.family = detect(self.session, deadline)


def candidates(object_id: Oid) -> list[type[SnmpPdu]]:
    """Families to try for a sysObjectID: matching prefixes first (longest first), then the same
    vendor's other families; an unknown vendor gets none."""

    def best(family: type[SnmpPdu]) -> int:
        return max((len(p) for p in family.SYS_OBJECT_IDS if object_id[: len(p)] == p), default=0)

    matched = sorted((f for f in FAMILIES if best(f)), key=best, reverse=True)
    vendor = object_id[:7]
    same_vendor = [f for f in FAMILIES if f not in matched and any(p[:7] == vendor for p in f.SYS_OBJECT_IDS)]
    return matched + same_vendor


def detect(session: Session, deadline: Deadline) -> type[SnmpPdu]:
    """The family whose state column the agent really has, tried in ``candidates`` order."""
    ((_, object_id),) = session.get([SYS_OBJECT_ID], deadline)
    if not isinstance(object_id, tuple):
        raise DeviceError(f"the agent at {session.where} has no sysObjectID")
    for family in candidates(object_id):
        if session.walk(family.STATE, deadline, max_repetitions=1, limit=1):
            return family
    shown = "." + ".".join(str(x) for x in object_id)
    raise DeviceError(f"no known PDU family answers at {session.where} (sysObjectID {shown})")

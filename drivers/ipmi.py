"""ipmilan: chassis power control of one server through its BMC, IPMI 2.0 (lanplus) or 1.5 (lan).

Family: any IPMI v2.0 / v1.5 BMC (iDRAC, iLO 3+, XCC/IMM, OpenBMC, Supermicro, ...).
Protocol: RMCP+ over UDP 623 with cipher suite 3 (SHA1 / HMAC-SHA1-96 / AES-128) or 17 (SHA256 /
HMAC-SHA256-128 / AES-128), or IPMI 1.5 sessions with MD5 or straight-password authentication;
our own implementation (stonith.transport.ipmi), so neither ipmitool nor pyghmi is needed at run
time; only ``cryptography`` (AES) for encrypted sessions.

The type keeps cluster-glue's name and parameters (``hostname ipaddr port auth priv login password
reset_method``, in that ``-p`` order) and adds ``interface``, ``cipher``, ``kg``, ``retransmit``
and ``min_interval``.  Unlike cluster-glue's plugin: status is read with Get Chassis Status
(cluster-glue only pinged Get Device ID), a reset is off -> read back off -> on -> read back on
(stonith.fencing.engine) rather than a trusted cycle completion code, ``reset_method`` labels mean what they
say (``power_cycle`` = control 0x02, ``hard_reset`` = 0x03; used only by ``cycle()``), completion
codes other than 0x00 are failures, a wrong password is S_ACCESS, and a silent BMC fails within the
deadline.

IPMI 1.5 (``interface=lan``) is weaker than lanplus: nothing is encrypted, an MD5 auth code can be
brute-forced offline from one captured packet, and ``auth=straight`` sends the password in clear
(whoever reads one request can sign answers).  Every BMC answer is still checked, unlike
cluster-glue's plugin: the auth type (NONE is refused inside a session), the auth code, the
session id and a sequence number newer than the last (windowed); an answer failing a check is
dropped, and a BMC that sends only such answers (a device that does not know the password
reporting the chassis off) fails with S_ACCESS.  Use lanplus wherever the BMC has it.

Tested on: our mock (mocks/ipmi.py; which ipmitool 1.8.19 ``-I lanplus -C 3|17`` and ``-I lan``,
and fence-agents' fence_ipmilan accept unmodified) and OpenIPMI's ``ipmi_sim`` 2.0.x (suite 3 and
IPMI 1.5 MD5; it offers no suite 17) in tests/drivers/test_ipmi.py.  Not yet on hardware.

Assumes:
- one BMC controls one node (``hostname``): one outlet, id "1";
- the BMC's power state bit (Get Chassis Status byte 1, bit 0) is the truth about the chassis;
- BMCs fall over when hammered: at least ``min_interval`` seconds pass between the BMC's answer
  to one command and the next command to the same BMC from this process (Ironic waits 5 s by
  default between commands of its periodic tasks; a fence must be quicker, and a few commands a
  second is what BMCs are built for).  Counting from the answer, not from our send, gives a busy
  BMC its full quiet interval, and a status read after a power command comes a full interval
  after the BMC took the command.

The verbs are step generators (``*_steps``, stonith.contract.steps) that yield every wait: the cluster
layer drives the sessions of hundreds of BMCs from one thread (``NONBLOCKING``); the plain verbs
run them blocking.
"""

from __future__ import annotations

import threading
import time

from stonith.contract import params
from stonith.contract.driver import OFF, ON, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import AlreadyOff, BadConfig, DeviceError, FieldProblem, UnknownOutlet
from stonith.contract.fields import ENUMERATION, HOSTNAME, SECONDS, SECRET, Field, crash_dump

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps
    from stonith.transport.ipmi import Session

CHASSIS = "1"
CIPHER_SUITES: dict[str, int | None] = {"auto": None, "3": 3, "17": 17}  # the cipher field's choices
AUTH_ALIASES = {"password": "straight", "key": "straight"}  # ipmitool's names for the same type

HOSTNAME_FIELD = Field(
    "hostname",
    "Host name",
    specialtype=HOSTNAME,
    length=253,
    required=True,
    short_text="Node this BMC resets",
    long_text="The name of the cluster node whose chassis this BMC controls (the only host it lists).",
)
IPADDR = params.IPMI_ADDRESS
PORT = params.IPMI_PORT
AUTH = Field(
    "auth",
    "Authentication (IPMI 1.5)",
    basictype=ENUMERATION,
    enumset=("md5", "straight", "password", "key", "md2", "none"),
    default="md5",
    short_text="IPMI 1.5 authentication type (interface=lan only)",
    long_text="How IPMI 1.5 (interface=lan) messages are authenticated: md5, or straight (also "
    "password/key: the clear password, readable by anyone on the path, who can then forge answers). "
    "md2 and none are refused, and so are BMC answers that are not signed this way. Ignored with "
    "lanplus, whose cipher suite decides.",
)
PRIV = Field(
    "priv",
    "Privilege level",
    basictype=ENUMERATION,
    enumset=("operator", "admin", "administrator", "user"),
    default="admin",
    short_text="Privilege level of the session",
    long_text="The privilege level requested for the session: operator is enough for chassis power "
    "control; admin (administrator) is the fence-agents default.",
)
LOGIN = params.IPMI_LOGIN
PASSWORD = params.IPMI_PASSWORD
RESET_METHOD = Field(
    "reset_method",
    "Native reset method",
    basictype=ENUMERATION,
    enumset=("power_cycle", "hard_reset"),
    default="power_cycle",
    short_text="Chassis control used by a native cycle",
    long_text="What a native cycle sends: power_cycle (chassis control 2) or hard_reset (3). A "
    "verified reset never uses it: it is off, read back off, on, read back on.",
)
INTERFACE = Field(
    "interface",
    "Interface",
    basictype=ENUMERATION,
    enumset=("lanplus", "lan"),
    default="lanplus",
    short_text="lanplus (IPMI 2.0, RMCP+) or lan (IPMI 1.5)",
    long_text="lanplus: IPMI 2.0 RMCP+ sessions, authenticated and encrypted (use it). lan: IPMI 1.5 "
    "sessions, for old BMCs only: weaker than lanplus. Nothing is encrypted, the MD5 auth code of a short "
    "password can be cracked offline from one captured packet, and with auth=straight the password "
    "travels in clear, so whoever sees one request can forge the BMC's answers (a chassis reported off). "
    "Every answer's auth type, auth code, session id and sequence number are checked; a BMC with "
    "per-message authentication disabled is refused.",
)
CIPHER = Field(
    "cipher",
    "Cipher suite",
    basictype=ENUMERATION,
    enumset=("auto", "3", "17"),
    default="auto",
    short_text="RMCP+ cipher suite: 17, 3 or auto (17, else 3)",
    long_text="The RMCP+ cipher suite: 17 (SHA256, HMAC-SHA256-128, AES-128), 3 (SHA1, HMAC-SHA1-96, "
    "AES-128) or auto, which proposes 17 and falls back to 3 if the BMC rejects it. Suite 0 is never used.",
)
KG = Field(
    "kg",
    "BMC key (Kg)",
    specialtype=SECRET,
    regex=r"(?:[0-9A-Fa-f]{2}){0,20}",
    short_text="BMC key Kg in hex (lanplus; empty: none)",
    long_text="The BMC key Kg as up to 40 hex digits, when the BMC has one set (two-key login). "
    "Without it the password is used, as the specification says.",
)
RETRANSMIT = Field(
    "retransmit",
    "Retransmit interval",
    basictype=SECONDS,
    default=1.0,
    minval=0.1,
    maxval=10,
    short_text="Seconds before a request is sent again",
    long_text="UDP has no delivery guarantee: an unanswered request is sent again after this many "
    "seconds, until the operation's deadline passes.",
)
MIN_INTERVAL = Field(
    "min_interval",
    "Minimum command interval",
    basictype=SECONDS,
    default=0.2,
    minval=0,
    maxval=60,
    short_text="Minimum seconds between two commands to this BMC",
    long_text="Rate limit per BMC: at least this many seconds pass between the BMC's answer to one "
    "command and the next command sent to the same BMC from this process (BMCs crash when "
    "hammered; Ironic uses 5 s for its periodic tasks).",
)

INFO = DriverInfo(
    "ipmilan",
    shortdesc="IPMI BMC (chassis power)",
    description="Chassis power control of a server through its BMC over IPMI 2.0 (RMCP+, cipher "
    "suites 3 and 17) or IPMI 1.5 (MD5).\nThe one host is the configured hostname; a reset is "
    "off, read back off, on, read back on.",
    fields=(
        HOSTNAME_FIELD,
        IPADDR,
        PORT,
        AUTH,
        PRIV,
        LOGIN,
        PASSWORD,
        RESET_METHOD,
        INTERFACE,
        CIPHER,
        KG,
        RETRANSMIT,
        MIN_INTERVAL,
        crash_dump(),
    ),
    family="IPMI BMC",
    models=("IPMI 2.0 (lanplus)", "IPMI 1.5 (lan)"),
    url="https://www.intel.com/content/www/us/en/products/docs/servers/ipmi/ipmi-home.html",
    capabilities=Capabilities(cycle=False, sessions=4, paced=True),
    summary="IPMI 2.0 (lanplus) BMC chassis power control",
)

# Per-BMC rate limiting, shared by every driver instance of this process.
_LAST_COMMAND: dict[tuple[str, int], float] = {}
_RATE_LOCK = threading.Lock()


def answered(key: tuple[str, int]) -> None:
    """The BMC has answered (or we gave up on) the last command: its quiet interval starts now."""
    with _RATE_LOCK:
        _LAST_COMMAND[key] = max(_LAST_COMMAND.get(key, 0.0), time.monotonic())


def pace(key: tuple[str, int], interval: float, deadline: Deadline) -> None:
    """Wait until ``interval`` seconds have passed since the last command to ``key``; claim the slot."""
    from stonith.contract.steps import run

    run(pace_steps(key, interval, deadline))


def pace_steps(key: tuple[str, int], interval: float, deadline: Deadline) -> Steps[None]:
    """``pace`` as a step generator."""
    from stonith.contract.steps import Wait

    while True:
        with _RATE_LOCK:
            now = time.monotonic()
            due = _LAST_COMMAND.get(key, 0.0) + interval
            if now >= due:
                _LAST_COMMAND[key] = now
                return
        if due > deadline.at:
            yield Wait(deadline.at)
            deadline.check(f"waiting {interval:g} s between commands to BMC {key[0]}")
        yield Wait(due)


class IpmiLan(Driver):
    INFO = INFO
    NONBLOCKING = True
    EXTRA = ("ipmi", ("cryptography",))

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        from stonith.transport.ipmi_wire import split_host

        self._host, self._port = split_host(self.params.ipaddr, self.params.port)
        problems = []
        if self.params.interface == "lan" and self.params.auth in ("md2", "none"):
            problems.append(FieldProblem("auth", f"{self.params.auth} is not supported (use md5)"))
        if len(self.params.password.encode("utf-8")) > 20:
            problems.append(FieldProblem("password", "is longer than 20 bytes"))
        if problems:
            raise BadConfig(problems, "ipmilan")
        self._session: Session | None = None
        self._identity = ""

    def device_name(self) -> str:
        return str(self.params.ipaddr)

    # -- session -------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        from stonith.contract.steps import run

        run(self.connect_steps(deadline))

    def connect_steps(self, deadline: Deadline) -> Steps[None]:
        from stonith.transport.ipmi import Session

        self.disconnect()
        cipher = self.params.cipher
        session = Session(
            self._host,
            self._port,
            username=self.params.login,
            password=self.params.password,
            interface=self.params.interface,
            cipher=CIPHER_SUITES[cipher],
            privilege=self.params.priv,
            kg=bytes.fromhex(self.params.kg),
            auth=AUTH_ALIASES.get(self.params.auth, self.params.auth),
            retransmit=self.params.retransmit,
        )
        yield from session.open_steps(deadline)
        self._session = session

    def disconnect(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def _command(
        self, netfn: int, cmd: int, data: bytes, deadline: Deadline, doing: str
    ) -> Steps[tuple[int, bytes]]:
        if self._session is None:
            raise DeviceError(f"no session with BMC {self.device_name()} (connect first)")
        key = (self._host, self._port)
        yield from pace_steps(key, self.params.min_interval, deadline)
        try:
            return (yield from self._session.command_steps(netfn, cmd, data, deadline, doing))
        finally:
            answered(key)

    def probe(self, deadline: Deadline) -> str:
        from stonith.contract.steps import run
        from stonith.transport import ipmi_wire as wire

        cc, data = run(self._command(wire.NETFN_APP, wire.GET_DEVICE_ID, b"", deadline, "Get Device ID"))
        if cc != 0 or len(data) < 6:
            raise DeviceError(f"BMC {self.device_name()} refused Get Device ID ({wire.cc_text(cc)})")
        version = f"{data[4] & 0x0F}.{data[4] >> 4}"
        suite = self._session.suite_used if self._session else None
        how = f"cipher suite {suite}" if suite is not None else "IPMI 1.5 session"
        maker = int.from_bytes(data[6:9], "little") if len(data) >= 9 else 0
        return (
            f"IPMI {version} BMC {self.device_name()} (firmware {data[2] & 0x7F}.{data[3]:02x}, "
            f"manufacturer {maker}, {how})"
        )

    # -- verbs ---------------------------------------------------------------------------------
    def static_outlets(self) -> list[Outlet]:
        return [Outlet(CHASSIS, self.params.hostname)]

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return self.static_outlets()

    @staticmethod
    def _check(outlet: Outlet) -> None:
        if outlet.id != CHASSIS:
            raise UnknownOutlet(f'an IPMI BMC has one outlet (the chassis, "1"), not {outlet.id!r}')

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        from stonith.contract.steps import run

        return run(self.status_steps(outlet, deadline))

    def status_steps(self, outlet: Outlet, deadline: Deadline) -> Steps[str]:
        from stonith.transport import ipmi_wire as wire

        self._check(outlet)
        cc, data = yield from self._command(
            wire.NETFN_CHASSIS, wire.CHASSIS_STATUS, b"", deadline, "Get Chassis Status"
        )
        if cc != 0 or not data:
            raise DeviceError(f"BMC {self.device_name()} refused Get Chassis Status ({wire.cc_text(cc)})")
        return ON if data[0] & 0x01 else OFF

    def control(self, outlet: Outlet, verb: str, deadline: Deadline) -> None:
        """Chassis Control: off, on, cycle, reset, diag or soft (accepted = completion code 0)."""
        from stonith.contract.steps import run

        run(self.control_steps(outlet, verb, deadline))

    def control_steps(self, outlet: Outlet, verb: str, deadline: Deadline) -> Steps[None]:
        from stonith.transport import ipmi_wire as wire

        self._check(outlet)
        cc, _ = yield from self._command(
            wire.NETFN_CHASSIS,
            wire.CHASSIS_CONTROL,
            bytes([wire.CONTROL[verb]]),
            deadline,
            f"Chassis Control {verb}",
        )
        if cc == 0xD5 and verb in ("cycle", "reset"):
            raise AlreadyOff(f"BMC {self.device_name()} refused power {verb}: the chassis is off")
        if cc != 0:
            raise DeviceError(f"BMC {self.device_name()} refused chassis power {verb} ({wire.cc_text(cc)})")

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self.control(outlet, "on", deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self.control(outlet, "off", deadline)

    def status_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[dict[str, str]]:
        seen: dict[str, str] = {}
        for outlet in outlets:
            seen[outlet.id] = yield from self.status_steps(outlet, deadline)
        return seen

    def on_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        for outlet in outlets:
            yield from self.control_steps(outlet, "on", deadline)

    def off_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        for outlet in outlets:
            yield from self.control_steps(outlet, "off", deadline)

    def nmi_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        """Chassis Control 04h, pulse Diagnostic Interrupt (IPMI v2.0 table 28-4): an NMI."""
        for outlet in outlets:
            yield from self.control_steps(outlet, "diag", deadline)

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        """Native cycle per ``reset_method``; not used by verified resets (its completion proves nothing)."""
        self.control(outlet, "cycle" if self.params.reset_method != "hard_reset" else "reset", deadline)

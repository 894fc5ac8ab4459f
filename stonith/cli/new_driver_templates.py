"""The templates ``stonith new-driver`` writes (stonith.cli.new_driver), one set per kit.

Each text is a complete file once its placeholders are replaced: ``__NAME__`` (the type and module
name), ``__CLASS__`` (the driver class, CapWords), ``__TITLE__`` (a human name, "NAME device") and
``__UPPER__`` (NAME in capitals).  The generated files pass the repository's ruff and mypy settings
as they are (tests/test_new_driver.py); what a device makes different is marked ``TODO``.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# console: a telnet (or SSH) command line, on the console kit (drivers/_console.py, wti_nps.py)

CONSOLE_DRIVER = '''\
"""__NAME__: __TITLE__ switches, over their telnet or SSH command line.

Family: TODO the vendor and the product line (a telnet switch with a command line).
Transport: telnet (TCP, default port 23), or SSH (``ssh = true``, default port 22, user ``login``;
stonith.transport.ssh).  Over telnet the driver is NONBLOCKING (its verbs are steps:
drivers/_console.py).
Protocol: TODO cite the manual.  ``Password:`` (absent when none is set), then the ``SWITCH>``
prompt; ``status`` prints the outlet table (`` Outlet | Name | State``), ``on N`` / ``off N`` switch
one outlet (``Error: ...`` when refused), ``logout`` ends the session (``Bye.``).

Tested on: the mock (mocks/__NAME__.py, tests/drivers/test___NAME__.py).  Not yet on hardware.

Assumes: outlet names are the node names; one session at a time.
"""

from __future__ import annotations

from stonith.drivers import _console

from stonith.contract import params
from stonith.contract.driver import ON, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import UnknownOutlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps
    from stonith.transport.stream import Token

# Device text (TODO: the manual's section).
ASK_PASSWORD = b"Password:"
BAD_PASSWORD = b"Access denied"
PROMPT = b"SWITCH> "
REFUSED = b"Error:"  # a refused command: "Error: no such outlet"
BYE = b"Bye."
EOL = b"\\r"
COLUMNS = ("outlet", "name", "state")  # the status table's headers (number, name, state)

LOGIN_STEP = 10.0
COMMAND_STEP = 10.0
SWITCH_STEP = 30.0  # the prompt returns when the relay command is accepted

PASSWORD = params.PASSWORD.replace(required=True)
LOGIN = _console.Dialogue(
    [
        _console.Ask(
            ASK_PASSWORD,
            _console.PASSWORD,
            within=LOGIN_STEP,
            optional=True,
            refused="the __TITLE__ refused the password",
        )
    ],
    [PROMPT],
    refusals=[BAD_PASSWORD],
    first="the password prompt",
    first_within=LOGIN_STEP,
)

INFO = DriverInfo(
    "__NAME__",
    shortdesc="__TITLE__",
    description="TODO __TITLE__ power switches, through their command line over telnet or SSH.\\n"
    "Outlet names are the node names; one session at a time.",
    fields=(params.CONSOLE_ADDRESS, PASSWORD, params.SSH_LOGIN, *_console.FIELDS),
    family="__TITLE__",
    models=("TODO-8",),
    url="https://example.com/TODO",
    capabilities=Capabilities(sessions=1),
    summary="__SUMMARY__",
)


class __CLASS__(_console.ConsoleDriver):
    INFO = INFO
    DIALOGUE = LOGIN
    STEPS = True  # over telnet, sessions run on the engine's selector thread
    DEVICE = "the __TITLE__"
    EMPTY = "the __TITLE__'s status table lists no outlets"

    def _logout(self) -> Sequence[tuple[bytes, Token | None]]:
        return ((b"logout" + EOL, BYE),)

    def _switch_steps(self, state: str, outlet: Outlet, deadline: Deadline) -> Steps[None]:
        if not outlet.id.isdigit():
            raise UnknownOutlet(f"__TITLE__ outlet {outlet.id!r} is not an outlet number")
        verb = "on" if state == ON else "off"
        yield from self._command_steps(f"{verb} {outlet.id}", deadline, SWITCH_STEP)

    def _table_steps(self, deadline: Deadline) -> Steps[dict[str, tuple[str, str]]]:
        return parse_status((yield from self._command_steps("status", deadline, COMMAND_STEP)))

    def _command_steps(self, command: str, deadline: Deadline, step: float) -> Steps[bytes]:
        """Send one command; everything the device printed before its next prompt."""
        line = command.encode("latin-1") + EOL
        return (yield from self._round_trip_steps(line, deadline, step, prompt=PROMPT, refusals=(REFUSED,)))


def parse_status(text: bytes) -> dict[str, tuple[str, str]]:
    """Outlet number -> (name, ON/OFF/UNKNOWN) from the ``status`` table; columns found by header."""
    return _console.header_table(text, COLUMNS)
'''

CONSOLE_MOCK = '''\
"""__TITLE__, device end: the telnet command line (``status``, ``on N``, ``off N``, ``logout``).

Personalities (``--model``):

    default   TODO-8, 8 outlets, ``SWITCH>`` prompt

Login: ``Password: `` (no prompt when the mock's password is empty); a wrong one prints ``Access
denied`` and asks again, the third failure disconnects.  ``status`` prints the outlet table,
``on N`` / ``off N`` switch outlet N (``OK``; ``Error: no such outlet``), ``logout`` prints
``Bye.``; anything else is ``Error: unknown command``.  Over SSH with ``--ssh`` (stonith.mocks._ssh).

Choices where the documents are silent (TODO: the manual's text, byte for byte):
    - Telnet negotiation and line ends as in the APC mock (stonith.mocks.apcmaster.Console).
"""

from __future__ import annotations

from stonith.mocks import _ssh
from stonith.mocks._common import OFF, ON, Channel, MockConfig, MockDevice
from stonith.mocks.apcmaster import Console, serve

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

MODELS = {"default": "TODO-8, 8 outlets"}
DEFAULT_MODEL = "default"
MAX_LOGIN_FAILURES = 3

BANNER = "\\r\\n__TITLE__ v1.0\\r\\n"
ASK_PASSWORD = "\\r\\nPassword: "
BAD_PASSWORD = "\\r\\nAccess denied\\r\\n"
PROMPT = "\\r\\nSWITCH> "
HEADER = " Outlet | Name             | State\\r\\n--------+------------------+------\\r\\n"
ROW = " {n:<6} | {name:<16.16} | {state}\\r\\n"
OK = "OK\\r\\n"
NO_OUTLET = "Error: no such outlet\\r\\n"
UNKNOWN_COMMAND = "Error: unknown command\\r\\n"
BYE = "Bye.\\r\\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _ssh.add_arguments(parser.add_argument_group("__NAME__"))


def run(config: MockConfig, *, listen: str | None, serial_link: str | None) -> Any:
    """Serve over telnet or a pty, or over SSH with ``--ssh`` (stonith.mocks._ssh)."""
    return _ssh.run(create(config), listen=listen, serial_link=serial_link)


def default_names(model: str, count: int) -> list[str]:
    return [f"outlet{n}" for n in range(1, count + 1)]


def default_outlets(model: str) -> int:
    return 8


def create(config: MockConfig) -> MockDevice:
    return __CLASS__(config)


class __CLASS__(MockDevice):
    def session(self, channel: Channel) -> None:
        console = Console(channel, negotiate=True)
        serve(channel, console, lambda: self._session(channel, console))

    def _session(self, channel: Channel, console: Console) -> None:
        if not self._login(channel, console):
            return
        channel.write(BANNER + PROMPT)
        while True:
            verb, _, rest = console.line().strip().lower().partition(" ")
            if verb == "logout":
                channel.write(BYE)
                return
            if verb == "status":
                out = self._table()
            elif verb in ("on", "off"):
                out = self._switch(ON if verb == "on" else OFF, rest.strip())
            else:
                out = UNKNOWN_COMMAND if verb else ""
            channel.write("\\r\\n" + out + PROMPT)

    def _login(self, channel: Channel, console: Console) -> bool:
        config = self.config
        if channel.login is not None or not (config.password or config.faults.refuse_login):
            return True  # logged in by SSH, or no password set
        for _ in range(MAX_LOGIN_FAILURES):
            channel.write(ASK_PASSWORD)
            if console.line() == config.password and not config.faults.refuse_login:
                return True
            channel.write(BAD_PASSWORD)
        return False

    def _switch(self, state: str, outlet: str) -> str:
        if not outlet.isdigit() or not 1 <= int(outlet) <= len(self.outlets):
            return NO_OUTLET
        self.outlets.switch(int(outlet), state)
        return OK

    def _table(self) -> str:
        rows = (
            ROW.format(n=n, name=name, state="ON" if self.outlets.shown(n) == ON else "OFF")
            for n, name in enumerate(self.outlets.names, 1)
        )
        return HEADER + "".join(rows)
'''

CONSOLE_TEST_SETUP = """\
NAMES = ["node1", "node2", "web server", "node4"]
MOCK: dict[str, Any] = {"password": "s3cret"}


def config(mock: Any) -> dict[str, Any]:
    return {"ipaddr": mock.address, "password": "s3cret"}
"""

# ---------------------------------------------------------------------------------------------
# snmp: an outlet table over SNMP, a family of the SNMP kit (drivers/snmp_pdu.py)

SNMP_DRIVER = '''\
"""__NAME__: __TITLE__ switched PDUs over SNMP, one family of the SNMP table kit (drivers/snmp_pdu.py).

Family: TODO the vendor and the product line.
Protocol: SNMP v1/v2c/v3 (stonith.transport.snmp), the vendor MIB's outlet table: names walked
from the name column, states read from the state column, on and off written to the control column
(TODO: the MIB file and its object names, next to each OID below).
Tested on: the mock (mocks/__NAME__.py, tests/drivers/test___NAME__.py).  Not yet on hardware.
Assumes: outlet names are the node names; the read-write community (or v3 user) may set the control
column.

To let ``snmp_pdu`` (autodetect) pick this family, add the class to drivers/snmp_pdu.py ``FAMILIES``.
"""

from __future__ import annotations

from stonith.drivers.snmp_pdu import SnmpPdu, _codes, _info, _oid

from stonith.contract.driver import OFF, ON

# TODO: the vendor's enterprise number and the MIB's objects (the mock serves the same numbers).
ENTERPRISE = "1.3.6.1.4.1.99999"


class __CLASS__(SnmpPdu):
    """__TITLE__ (TODO-MIB).  State TODOOutletState (1 on, 2 off); control TODOOutletCommand
    (1 on, 2 off); names TODOOutletName."""

    INFO = _info(
        "__NAME__",
        "__TITLE__ (SNMP)",
        "TODO __TITLE__ switched PDUs over SNMP.",
        "__TITLE__",
        ("TODO-8",),
        "https://example.com/TODO",
        summary="__SUMMARY__",
    )
    LABEL = "__TITLE__"
    NAMES = _oid(ENTERPRISE + ".1.2.1.2")  # TODOOutletName
    STATE = _oid(ENTERPRISE + ".1.2.1.3")  # TODOOutletState
    STATES = _codes({1: ON, 2: OFF})
    ON_CMD = (_oid(ENTERPRISE + ".1.2.1.4"), 1)  # TODOOutletCommand: on
    OFF_CMD = (_oid(ENTERPRISE + ".1.2.1.4"), 2)  # TODOOutletCommand: off
    SYS_OBJECT_IDS = (_oid(ENTERPRISE),)
'''

SNMP_MOCK = '''\
"""__TITLE__, device end: the vendor MIB's outlet table served by the shared SNMP agent.

The family as the agent serves it, from the MIB (not from our driver): TODO-MIB's outlet table
(TODO: cite each object).  The agent (stonith.mocks._snmp_agent), the wire and the options
(communities, v3 users, --drop ...) are those of stonith.mocks.snmp_pdu.
"""

from __future__ import annotations

from stonith.mocks._common import OFF, ON
from stonith.mocks._snmp_agent import Column, Family, SnmpMock
from stonith.mocks.snmp_pdu import add_arguments, default_names, default_outlets

TYPE_CHECKING = False
if TYPE_CHECKING:
    from stonith.mocks._common import MockConfig

__all__ = ["DEFAULT_MODEL", "MODELS", "add_arguments", "default_names", "default_outlets", "run"]

ENTERPRISE = (1, 3, 6, 1, 4, 1, 99999)  # TODO: the vendor's enterprise number
TABLE = (*ENTERPRISE, 1, 2, 1)  # TODOOutletEntry
FAMILY = Family(
    "__NAME__",
    "TODO-8",
    ENTERPRISE,
    "__TITLE__",
    (),
    (
        Column((*TABLE, 1), "number"),  # TODOOutletIndex
        Column((*TABLE, 2), "name", writable=True),  # TODOOutletName
        Column((*TABLE, 3), "state", codes={ON: 1, OFF: 2}),  # TODOOutletState
        Column((*TABLE, 4), "control", codes={ON: 1, OFF: 2}, actions={1: ON, 2: OFF}),  # TODOOutletCommand
    ),
)
MODELS = {"__NAME__": FAMILY}
DEFAULT_MODEL = "__NAME__"


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> SnmpMock:
    if serial_link:
        raise ValueError("an SNMP agent serves UDP only (no --serial-link)")
    return SnmpMock(config, listen or "127.0.0.1:0", FAMILY)
'''

SNMP_TEST_SETUP = """\
NAMES = ["node1", "node2", "web server", "node4"]
MOCK: dict[str, Any] = {"community": ["s3cret-rw"]}


def config(mock: Any) -> dict[str, Any]:
    return {"ipaddr": mock.address, "community": "s3cret-rw", "snmp_version": "2c"}
"""

# ---------------------------------------------------------------------------------------------
# bmc: chassis power through a BMC over IPMI (drivers/ipmi.py, stonith/transport/ipmi.py)

BMC_DRIVER = '''\
"""__NAME__: chassis power of __TITLE__ servers through their BMC over IPMI 2.0 (drivers/ipmi.py).

Family: TODO the vendor's BMC (and what sets it apart from a plain IPMI 2.0 BMC).
Protocol: IPMI 2.0 RMCP+ (stonith.transport.ipmi): Chassis Control and Get Chassis Status, as the
ipmilan driver sends them; this type keeps the session, pacing and verbs of stonith.drivers.ipmi
and states what is its own as data (TODO: the OEM commands or defaults, with their manual section).
Tested on: the mock (mocks/__NAME__.py, tests/drivers/test___NAME__.py).  Not yet on hardware.
Assumes: one chassis per BMC, named by ``hostname``.
"""

from __future__ import annotations

from stonith.drivers import ipmi

from stonith.contract.driver import Capabilities, DriverInfo

INFO = DriverInfo(
    "__NAME__",
    shortdesc="__TITLE__ BMC (chassis power)",
    description="TODO Chassis power control of __TITLE__ servers through their BMC over IPMI 2.0.\\n"
    "The one host is the configured hostname; a reset is off, read back off, on, read back on.",
    fields=ipmi.INFO.fields,
    family="__TITLE__ BMC",
    models=("TODO",),
    url="https://example.com/TODO",
    capabilities=Capabilities(cycle=False, sessions=4, paced=True),
    summary="__SUMMARY__",
)


class __CLASS__(ipmi.IpmiLan):
    INFO = INFO
'''

BMC_MOCK = '''\
"""__TITLE__ BMC, device end: an IPMI 2.0 BMC (RMCP+) serving chassis power (stonith.mocks.ipmi).

TODO: what this BMC answers differently from the generic IPMI mock (OEM commands, quirks), as a
personality of its own.
"""

from __future__ import annotations

from stonith.mocks.ipmi import DEFAULT_MODEL, MODELS, add_arguments, default_names, default_outlets, run

__all__ = ["DEFAULT_MODEL", "MODELS", "add_arguments", "default_names", "default_outlets", "run"]
'''

BMC_TEST_SETUP = """\
NAMES = ["node1"]
MOCK: dict[str, Any] = {"username": "admin", "password": "s3cret"}


def config(mock: Any) -> dict[str, Any]:
    return {
        "hostname": "node1",
        "ipaddr": mock.address,
        "login": "admin",
        "password": "s3cret",
        "min_interval": 0,
    }
"""

# ---------------------------------------------------------------------------------------------
# http: a Redfish / HTTPS JSON service (drivers/_redfish.py, drivers/redfish_pdu.py)

HTTP_DRIVER = '''\
"""__NAME__: outlets of __TITLE__ PDUs through their Redfish service (HTTPS, drivers/redfish_pdu.py).

Family: TODO the vendor and the product line.
Protocol: HTTPS JSON (stonith.drivers._redfish: sessions or Basic, tasks, deadlines): outlets found
under PowerEquipment/RackPDUs, ``PowerState`` read, ``#Outlet.PowerControl`` posted, as the
redfish_pdu driver does; this type keeps those verbs and states what is its own as data (TODO: the
resources and values of the vendor's service, with the documents they come from).
Tested on: the mock (mocks/__NAME__.py, tests/drivers/test___NAME__.py).  Not yet on hardware.
Assumes: outlet user labels are the node names.
"""

from __future__ import annotations

from stonith.drivers import redfish_pdu

from stonith.contract.driver import Capabilities, DriverInfo

INFO = DriverInfo(
    "__NAME__",
    shortdesc="__TITLE__ PDU (Redfish)",
    description="TODO Outlets of __TITLE__ PDUs through their Redfish service over HTTPS.\\n"
    "Names are the outlets' user labels. Off and on are Outlet.PowerControl, each read back.",
    fields=redfish_pdu.INFO.fields,
    family="__TITLE__ PDU",
    models=("TODO",),
    url="https://example.com/TODO",
    capabilities=Capabilities(cycle=False, sessions=4),
    summary="__SUMMARY__",
)


class __CLASS__(redfish_pdu.RedfishPdu):
    INFO = INFO
    WHAT = "__TITLE__ Redfish service"
'''

HTTP_MOCK = '''\
"""__TITLE__ PDU, device end: a Redfish service with PowerDistribution outlets (stonith.mocks.redfish_pdu).

TODO: what this service answers differently from the generic Redfish PDU mock (resources, values,
quirks), as a personality of its own.
"""

from __future__ import annotations

from stonith.mocks.redfish_pdu import (
    DEFAULT_MODEL,
    MODELS,
    add_arguments,
    default_names,
    default_outlets,
    run,
)

__all__ = ["DEFAULT_MODEL", "MODELS", "add_arguments", "default_names", "default_outlets", "run"]
'''

HTTP_TEST_SETUP = """\
NAMES = ["node1", "node2", "web server", "node4"]
MOCK: dict[str, Any] = {"username": "admin", "password": "s3cret", "tls": False}


def config(mock: Any) -> dict[str, Any]:
    return {"ipaddr": mock.address, "login": "admin", "password": "s3cret", "ssl": False}
"""

# ---------------------------------------------------------------------------------------------
# Shared by every kit: the test, the every-mock.d row

TEST = '''\
"""The __NAME__ driver against its mock (mocks/__NAME__.py), judged by the mock's ground truth.

Written by ``stonith new-driver``; add the common faults, the refused login and the independent
peers as the driver grows (docs/writing-a-driver.md, section 6).
"""

from __future__ import annotations

from typing import Any

from stonith.drivers.__NAME__ import __CLASS__
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON
from stonith.fencing import engine
from tests.conftest import node_operation

__SETUP__

def states(driver: __CLASS__) -> dict[str, str]:
    """Node name -> state, as the driver reads them (one session, through the engine)."""
    device = engine.one_device(driver, timeout=20).devices[0]
    return {outlet.name: state for outlet, state in engine.read_all(device, Deadline(20))}


def test_status_off_on_reset_follow_ground_truth() -> None:
    with start_mock("__NAME__", outlets=len(NAMES), names=NAMES, relay_delay=0.05, **MOCK) as mock:
        driver = __CLASS__(config(mock))
        assert states(driver) == dict.fromkeys(NAMES, ON)
        node = NAMES[-1]
        number = str(len(NAMES))  # the node's outlet in the ground truth
        node_operation(driver, node, "off", Deadline(20))
        assert mock.state(number) == OFF
        assert states(driver)[node] == OFF
        node_operation(driver, node, "on", Deadline(20))
        assert mock.state(number) == ON
        node_operation(driver, node, "reset", Deadline(30))
        assert [e["state"] for e in mock.events() if e["outlet"] == number][-2:] == [OFF, ON]
        assert mock.state(number) == ON
        assert all(mock.state(n) == ON for n in range(1, len(NAMES)))  # no other outlet touched
'''

SETUPS = {
    "console": CONSOLE_TEST_SETUP,
    "snmp": SNMP_TEST_SETUP,
    "bmc": BMC_TEST_SETUP,
    "http": HTTP_TEST_SETUP,
}
DRIVERS = {"console": CONSOLE_DRIVER, "snmp": SNMP_DRIVER, "bmc": BMC_DRIVER, "http": HTTP_DRIVER}
MOCKS = {"console": CONSOLE_MOCK, "snmp": SNMP_MOCK, "bmc": BMC_MOCK, "http": HTTP_MOCK}

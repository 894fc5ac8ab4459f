"""Every SNMP family held to its vendor's MIB, read by net-snmp: no number here comes from us.

The other SNMP tests take their OIDs and values from drivers/snmp_pdu.py, so a wrong arc or a
reversed enumeration there would be served by the mock and read by the driver alike, and pass.
Here the expectations are *names* (``PowerNet-MIB::rPDU2OutletSwitchedStatusState``, the label
``off``); net-snmp turns them into numbers from the MIB files:

- ``tests/mibs/``: excerpts of the vendor MIBs (names, OID arcs, enumerations, access and indexes
  transcribed from the vendors' files without looking at our code; each file's header cites the
  MIB revision it was read from). ``STONITH_VENDOR_MIBS=DIR`` puts a directory of the vendors' own
  full MIB files in front of them, for whoever has them.
- IF-MIB and the IETF modules the excerpts import come from Debian's snmp-mibs-downloader
  (non-free: the IETF's licence), which CI installs.

Per family: (1) the driver's columns, commands and state codes are what the MIB names say;
(2) everything the mock serves under the vendor's subtree is an object of the MIB, readable, of
its syntax, with an enumeration label where the MIB enumerates, and every object the MIB makes
read-only refuses a write; (3) net-snmp switches an outlet off and on by the MIB's labels and the
mock's ground truth follows, the state column reading the MIB's label for it.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from stonith.drivers import snmp_pdu
from stonith.mocks.harness import start_mock

from tests.conftest import require_peer, skip_or_fail
from tests.mocks.test_snmp_pdu import NetSnmp

MIBS = Path(__file__).resolve().parents[1] / "mibs"
SYSTEM_MIB_DIRS = ("/usr/share/snmp/mibs", "/usr/share/snmp/mibs/iana", "/usr/share/snmp/mibs/ietf")
DRIVERS: dict[str, type[snmp_pdu.SnmpPdu]] = {
    cls.INFO.name: cls for cls in (*snmp_pdu.FAMILIES, snmp_pdu.IfMib)
}


@dataclass(frozen=True)
class Spec:
    """A family in the MIB's own words."""

    module: str
    product: str  # what sysObjectID.0 translates to (MODULE::name)
    names: str  # the column the driver reads outlet names from
    state: str  # the column the driver reads the state from
    on: str  # the state column's label for on
    off: str  # ... and for off
    on_cmd: tuple[str, str]  # (column, label or number) the driver writes to switch on
    off_cmd: tuple[str, str]
    subtrees: tuple[str, ...]  # what the mock serves of the vendor, walked whole


APC_WALK = ("PowerNet-MIB::apc",)
SPECS = {
    "apcmastersnmp": Spec(
        "PowerNet-MIB",
        "PowerNet-MIB::masterSwitchV2",
        "sPDUOutletCtlName",
        "sPDUOutletCtl",
        "outletOn",
        "outletOff",
        ("sPDUOutletCtl", "outletOn"),
        ("sPDUOutletCtl", "outletOff"),
        APC_WALK,
    ),
    "apc_rpdu": Spec(
        "PowerNet-MIB",
        "PowerNet-MIB::masterSwitchrPDU",
        "rPDUOutletStatusOutletName",
        "rPDUOutletStatusOutletState",
        "outletStatusOn",
        "outletStatusOff",
        ("rPDUOutletControlOutletCommand", "immediateOn"),
        ("rPDUOutletControlOutletCommand", "immediateOff"),
        APC_WALK,
    ),
    "apc_rpdu2": Spec(
        "PowerNet-MIB",
        "PowerNet-MIB::masterSwitchrPDU2",
        "rPDU2OutletSwitchedStatusName",
        "rPDU2OutletSwitchedStatusState",
        "on",
        "off",
        ("rPDU2OutletSwitchedControlCommand", "immediateOn"),
        ("rPDU2OutletSwitchedControlCommand", "immediateOff"),
        APC_WALK,
    ),
    "eaton_epdu": Spec(
        "EATON-EPDU-MIB",
        "EATON-EPDU-MIB::eatonEpdu",
        "outletName",
        "outletControlStatus",
        "on",
        "off",
        ("outletControlOnCmd", "0"),  # seconds from now
        ("outletControlOffCmd", "0"),
        ("EATON-EPDU-MIB::eatonEpdu",),
    ),
    "raritan_pdu2": Spec(
        "PDU2-MIB",
        "PDU2-MIB::pdu2",
        "outletName",
        "outletSwitchingState",
        "on",
        "off",
        ("switchingOperation", "on"),
        ("switchingOperation", "off"),
        ("PDU2-MIB::pdu2",),
    ),
    "sentry3": Spec(
        "Sentry3-MIB",
        "Sentry3-MIB::sentry3",
        "outletName",
        "outletStatus",
        "on",
        "off",
        ("outletControlAction", "on"),
        ("outletControlAction", "off"),
        ("Sentry3-MIB::sentry3",),
    ),
    "sentry4": Spec(
        "Sentry4-MIB",
        "Sentry4-MIB::sentry4",
        "st4OutletName",
        "st4OutletState",
        "on",
        "off",
        ("st4OutletControlAction", "on"),
        ("st4OutletControlAction", "off"),
        ("Sentry4-MIB::sentry4",),
    ),
    "cyberpower_pdu": Spec(
        "CPS-MIB",
        "CPS-MIB::ePDU",
        "ePDUOutletStatusOutletName",
        "ePDUOutletStatusOutletState",
        "outletStatusOn",
        "outletStatusOff",
        ("ePDUOutletControlOutletCommand", "immediateOn"),
        ("ePDUOutletControlOutletCommand", "immediateOff"),
        ("CPS-MIB::cps",),
    ),
    "baytech_mrp": Spec(
        "Baytech-MIB-403-1",
        "Baytech-MIB-403-1::sBTAModules",  # the MIB names no product; the mock reports this node
        "sBTAModulesRPCOutletName",
        "sBTAModulesRPCOutletState",
        "on",
        "off",
        ("sBTAModulesRPCOutletState", "on"),
        ("sBTAModulesRPCOutletState", "off"),
        ("Baytech-MIB-403-1::baytech",),
    ),
    "ifmib": Spec(
        "IF-MIB",
        "NET-SNMP-TC::linux",
        "ifName",
        "ifAdminStatus",
        "up",
        "down",
        ("ifAdminStatus", "up"),
        ("ifAdminStatus", "down"),
        ("IF-MIB::interfaces", "IF-MIB::ifMIB"),
    ),
}

# ---------------------------------------------------------------------------------------------
# net-snmp with the MIBs loaded


def mib_dirs() -> str:
    dirs = [os.environ.get("STONITH_VENDOR_MIBS", ""), str(MIBS), *SYSTEM_MIB_DIRS]
    return ":".join(d for d in dirs if d)


@functools.cache
def _translate(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = require_peer("snmptranslate", "snmp")
    env = {**os.environ, "SNMPCONFPATH": "/nonexistent", "MIBDIRS": mib_dirs(), "MIBS": ""}
    return subprocess.run(
        [exe, "-m", f"+{module}", *args], capture_output=True, text=True, env=env, timeout=30, check=False
    )


def translate(module: str, *args: str) -> str:
    proc = _translate(module, *args)
    assert proc.returncode == 0 and not proc.stderr.strip(), f"snmptranslate {args}: {proc.stderr}"
    return proc.stdout.strip()


def require_ietf_mibs() -> None:
    """The IETF modules every vendor MIB imports: skip (fail in CI) naming the package."""
    proc = _translate("SNMPv2-SMI", "-On", "SNMPv2-SMI::enterprises")
    if proc.returncode == 0 and proc.stdout.strip() == ".1.3.6.1.4.1" and not proc.stderr.strip():
        return
    skip_or_fail("net-snmp has no IETF MIB modules (Debian package snmp-mibs-downloader, non-free)")


def oid(module: str, name: str) -> tuple[int, ...]:
    text = translate(module, "-On", name if "::" in name else f"{module}::{name}")
    return tuple(int(arc) for arc in text.strip(".").split("."))


@dataclass(frozen=True)
class Definition:
    syntax: str
    enums: dict[str, int]
    access: str
    index: tuple[str, ...]


def define(module: str, name: str) -> Definition:
    """The object's definition as net-snmp parsed it (``snmptranslate -Td``)."""
    text = translate(module, "-Td", name if "::" in name else f"{module}::{name}")
    syntax = re.search(r"^\s*SYNTAX\s+(.*)$", text, re.M)
    access = re.search(r"^\s*(?:MAX-)?ACCESS\s+(\S+)", text, re.M)
    index = re.search(r"^\s*INDEX\s+\{(.*?)\}", text, re.M | re.S)
    enums = dict(re.findall(r"([A-Za-z][\w-]*)\((-?\d+)\)", syntax.group(1))) if syntax else {}
    return Definition(
        syntax.group(1).strip() if syntax else "",
        {label: int(value) for label, value in enums.items()},
        access.group(1) if access else "",
        tuple(i.strip() for i in index.group(1).split(",")) if index else (),
    )


def value_of(module: str, column: str, text: str) -> int:
    """A label of the column's enumeration, or a number the column's syntax takes."""
    enums = define(module, column).enums
    return enums[text] if text in enums else int(text)


def within(definition: Definition, value: str) -> bool:
    """Whether a walked value keeps its syntax's size or range (``OCTET STRING (2..4)``, ``(0..64)``)."""
    found = re.search(r"\(((?:-?\d+(?:\.\.-?\d+)?\s*\|?\s*)+)\)\s*$", definition.syntax)
    if not found:
        return True
    ranges = []
    for part in found.group(1).split("|"):
        low, _, high = part.strip().partition("..")
        ranges.append((int(low), int(high or low)))
    kind, _, text = value.partition(": ")
    if kind == "STRING":
        measure = len(unquoted(text))
    elif kind == "Hex-STRING":
        measure = len(text.split())
    else:
        number = re.search(r"(-?\d+)\)?$", text)
        if number is None:
            return False
        measure = int(number.group(1))
    return any(low <= measure <= high for low, high in ranges)


def written_back(value: str) -> tuple[str, str]:
    """snmpset's type and value for writing a walked value back unchanged."""
    kind, _, text = value.partition(": ")
    if kind == "INTEGER":
        return "i", re.search(r"(-?\d+)\)?$", text).group(1)  # type: ignore[union-attr]
    return "s", unquoted(text)


def unquoted(text: str) -> str:
    """A walked string's text (net-snmp quotes a string it has no DISPLAY-HINT for)."""
    return text[1:-1] if text.startswith('"') and text.endswith('"') else text


class Tools(NetSnmp):
    """snmpget/walk/set against one mock, with the family's MIB loaded (v2c, community in a file)."""

    def __init__(self, tmp: Path, address: str, spec: Spec) -> None:
        super().__init__(tmp, address, defVersion="2c", defCommunity="private")
        self.env.update(MIBDIRS=mib_dirs(), MIBS="")
        modules = dict.fromkeys((spec.module, "SNMPv2-MIB", spec.product.partition("::")[0]))
        self.OUTPUT = ("-m", ":".join(modules))  # names, as the MIB gives them

    def run(
        self, tool: str, *args: str, check: bool = True, retries: int = 1, options: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        proc: subprocess.CompletedProcess[str] = super().run(
            tool, *args, check=False, retries=retries, options=options
        )
        if check:
            assert proc.returncode == 0 and not proc.stderr.strip(), f"{tool} {args}: {proc.stderr}"
        return proc

    def walk(self, subtree: str) -> list[tuple[str, str, str]]:
        """(MODULE::object, index, value text) of every line of the walk."""
        rows = []
        for line in self.run("snmpwalk", subtree).stdout.splitlines():
            name, _, value = line.partition(" = ")
            obj, _, index = name.partition(".")
            rows.append((obj, index, value))
        return rows


# ---------------------------------------------------------------------------------------------
# (1) The driver says what the MIB says


@pytest.mark.peer
@pytest.mark.parametrize("family", sorted(SPECS))
def test_the_drivers_columns_commands_and_codes_are_the_mibs(family: str) -> None:
    require_ietf_mibs()
    spec, cls = SPECS[family], DRIVERS[family]
    assert oid(spec.module, spec.names) == cls.NAMES, f"NAMES is not {spec.module}::{spec.names}"
    assert oid(spec.module, spec.state) == cls.STATE, f"STATE is not {spec.module}::{spec.state}"
    states = define(spec.module, spec.state).enums
    assert {code: meaning for code, meaning in cls.STATES.items()} == {
        states[spec.on]: "on",
        states[spec.off]: "off",
    }, f"{spec.state} in {spec.module}: {states}"
    for (column, value), (driver_column, driver_value) in (
        (spec.on_cmd, cls.ON_CMD),
        (spec.off_cmd, cls.OFF_CMD),
    ):
        assert driver_column == oid(spec.module, column), f"the driver writes another column than {column}"
        assert driver_value == value_of(spec.module, column, value), (
            f"{column} = {value} is not {driver_value}"
        )
        assert define(spec.module, column).access == "read-write", f"{column} is not writable"
    # The index: the driver's unit prefix and the outlet number fill the state entry's INDEX clause.
    entry = translate(spec.module, "-Os", "." + ".".join(str(arc) for arc in cls.STATE[:-1]))
    assert len(define(spec.module, entry).index) == len(cls.INDEX) + 1, entry
    # sysObjectID: the driver's prefixes cover the product identifier the MIB gives the family.
    product = oid(spec.product.partition("::")[0], spec.product)
    assert any(product[: len(prefix)] == prefix for prefix in cls.SYS_OBJECT_IDS) or not cls.SYS_OBJECT_IDS


# ---------------------------------------------------------------------------------------------
# (2) The mock serves the MIB's objects, of the MIB's syntax, read-only where the MIB says so


@pytest.mark.peer
@pytest.mark.parametrize("family", sorted(SPECS))
def test_everything_the_mock_serves_is_the_mibs(family: str, tmp_path: Path) -> None:
    require_ietf_mibs()
    spec = SPECS[family]
    with start_mock(family, outlets=3) as mock:
        tools = Tools(tmp_path, mock.address, spec)
        product = tools.run("snmpget", "SNMPv2-MIB::sysObjectID.0").stdout
        assert product.strip().endswith(f"OID: {spec.product}"), product
        rows = [row for subtree in spec.subtrees for row in tools.walk(subtree)]
        assert rows, f"the mock serves nothing under {spec.subtrees}"
        probed: set[str] = set()
        for obj, index, value in rows:
            module, _, name = obj.partition("::")
            assert module in (spec.module, "IF-MIB", "SNMPv2-MIB") and name and "." not in name, (
                f"{obj}.{index} is no object of {spec.module}"
            )
            assert "Wrong Type" not in value, f"{obj}.{index} = {value}"
            definition = define(module, obj)
            assert definition.access in ("read-only", "read-write", "read-create"), (
                f"{obj} is {definition.access} in the MIB but served"
            )
            if definition.enums:
                assert re.search(r"\w\(-?\d+\)$", value), (
                    f"{obj}.{index} = {value}: not one of {definition.syntax}"
                )
            assert within(definition, value), f"{obj}.{index} = {value}: outside {definition.syntax}"
            if obj in probed or definition.access != "read-only":
                continue
            probed.add(obj)  # one write per column: a read-only object refuses it, whatever the value
            refused = tools.run(
                "snmpset", f"{obj}.{index}", *written_back(value), check=False, options=("-Ir",)
            )
            assert refused.returncode != 0 and "notWritable" in refused.stderr, (
                f"{obj} is read-only in the MIB, the mock took a write: {refused.stdout}{refused.stderr}"
            )
        assert not mock.events(), "a refused write switched something"


# ---------------------------------------------------------------------------------------------
# (3) Switched by the MIB's labels, followed by the ground truth


@pytest.mark.peer
@pytest.mark.parametrize("family", sorted(SPECS))
def test_netsnmp_switches_by_the_mibs_labels(family: str, tmp_path: Path) -> None:
    require_ietf_mibs()
    spec = SPECS[family]
    with start_mock(family, outlets=3, relay_delay=0) as mock:
        tools = Tools(tmp_path, mock.address, spec)
        states = [(index, value) for _, index, value in tools.walk(f"{spec.module}::{spec.state}")]
        assert [value.rpartition(" ")[2] for _, value in states] == [
            f"{spec.on}({define(spec.module, spec.state).enums[spec.on]})"
        ] * 3
        index = states[1][0]  # the second outlet's row, whatever the unit prefix
        outlet = int(index.rpartition(".")[2])
        for (column, value), expected in ((spec.off_cmd, spec.off), (spec.on_cmd, spec.on)):
            tools.run("snmpset", f"{spec.module}::{column}.{index}", "i", value)
            assert mock.state(outlet) == ("on" if expected == spec.on else "off"), f"{column} = {value}"
            now = tools.run("snmpget", f"{spec.module}::{spec.state}.{index}").stdout
            assert now.strip().endswith(f"{expected}({define(spec.module, spec.state).enums[expected]})"), now
        assert [(e["outlet"], e["state"]) for e in mock.events()] == [
            (str(outlet), "off"),
            (str(outlet), "on"),
        ]

"""The mock personalities hwtests knows: a table entry per personality, or read from a row.

A mock type needs no line here: ``kinds()`` reads a ``Kind`` from the every-mock.d row of every type
the table does not draw (``row_kind``).  A personality of its own is a ``Kind`` in ``TABLE``: which
``stonith-mock`` TYPE and model to start, which driver talks to it and with which parameters, which
campaign faults it supports, and how the mock's ground-truth outlet numbers (``truth()["outlets"]``
keys, 1-based) map to the driver's outlet ids.  ``available()`` drops entries whose mock or driver
cannot be loaded yet, so the table may name types other engineers are still writing.

Campaign fault kinds (hwtests/campaign.py draws them per device):

    drop          the device closes the session after N bytes        (mock fault drop-after=N)
    stall         the device hangs after N bytes                     (silent=N)
    garble        garbage bytes from byte N on                       (garble=N)
    stuck         a relay ignores off                                (stuck=OUTLET)
    lie           off acknowledged, relay stays on, read-back shows on  (lie=OUTLET)
    lie-status    reports off while on: undetectable, counted apart  (lie-status=OUTLET)
    slow-relay    relays follow 0.1-2 s after the command            (--relay-delay)
    packet-loss   segments delayed by retransmission timeouts        (proxy in front of the mock)
    reboot        the device restarts mid-operation, sessions cut    (mock closed and restarted)
    auth-flap     the device refuses logins, then accepts, then ...  (restarts with refuse-login)
    wrong-password  the driver's password is wrong
    unreachable   nothing answers at the device's address
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

OUTPUT_FAULTS = frozenset({"drop", "stall", "garble"})
RELAY_FAULTS = frozenset({"stuck", "lie", "lie-status", "slow-relay"})
NETWORK_FAULTS = frozenset({"packet-loss", "reboot", "unreachable"})
LOGIN_FAULTS = frozenset({"auth-flap", "wrong-password"})
ALL_FAULTS = OUTPUT_FAULTS | RELAY_FAULTS | NETWORK_FAULTS | LOGIN_FAULTS


@dataclass(frozen=True)
class Kind:
    """One mock personality and the driver configuration that talks to it."""

    name: str  # label in reports, e.g. "baytech-rpc3"
    mock_type: str  # stonith-mock TYPE
    model: str  # stonith-mock --model
    driver: str  # driver type (devices.d ``type``)
    outlets: int  # outlets the mock is started with
    faults: frozenset[str]  # campaign fault kinds it supports
    # (mock address, password, {node: [driver outlet id]}) -> driver parameters
    parameters: Callable[[str, str, dict[str, list[str]]], dict[str, Any]]
    outlet_id: Callable[[int], str] = str  # truth outlet number (1-based) -> driver outlet id
    mock_options: dict[str, Any] = field(default_factory=dict)  # extra stonith-mock options
    multi_outlet: bool = True  # a node may have several outlets on one device
    verifiable: bool = True  # the driver reads outlet states back (else nothing can succeed)
    weight: float = 1.0  # share of campaign devices
    network: bool = True  # served on a TCP/UDP address (else the mock picks its own endpoint)
    fault_units: int = 3000  # the N of drop/stall/garble faults: bytes, or transfers for USB
    # (driver, mock endpoint) -> None: hands an in-process driver what its config cannot say
    prepare: Callable[[Any, str], None] | None = None

    def mock_argv(
        self,
        *,
        names: list[str],
        states: list[str],
        password: str | None,  # None: the caller hands it over in the environment
        faults: list[str],
        relay_delay: float,
        listen: str = "127.0.0.1:0",
    ) -> list[str]:
        """The ``stonith-mock`` command line (without the program name)."""
        from stonith.mocks.harness import argv_for

        options: dict[str, Any] = {
            "model": self.model or None,
            "listen": listen if self.network else None,
            "outlets": len(names),
            "names": names,
            "states": states,
            "password": password,
            "faults": faults,
            "relay_delay": relay_delay,
            **self.mock_options,
        }
        return argv_for(self.mock_type, options)


def _baytech_login(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    return {"ipaddr": address, "login": "admin", "password": password}


def _baytech_nc(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    return {"ipaddr": address}


def _wti_nps(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    return {"ipaddr": address, "password": password}


def _snmp(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    from stonith.contract.validation import split_hostport

    host, port = split_hostport(address)
    # The mock's read-write community is its default ("private"); a wrong community is the
    # refuse-login fault (auth-flap), not a wrong driver password.
    return {"ipaddr": host, "port": port, "community": "private", "snmp_version": "2c"}


def _ipmi(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    # One BMC, one chassis: the node is the BMC's host name.
    return {
        "hostname": next(iter(hosts), "node"),
        "ipaddr": address,
        "login": "admin",
        "password": password,
        "retransmit": 0.2,
        "min_interval": 0.0,
    }


def _redfish(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    # One BMC, one system: the node is its hostname.  Plain HTTP (the mock's --no-tls): no
    # certificate set-up, and the campaign's TCP proxy can sit in front of it.
    return {
        "hostname": next(iter(hosts), "node"),
        "ipaddr": address,
        "login": "admin",
        "password": password,
        "ssl": False,
    }


def _redfish_pdu(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    # Outlets by their Ids (A1, A2, ...: the mock's generic model), found by walking the service.
    return {"ipaddr": address, "login": "admin", "password": password, "ssl": False}


def _apcsmart(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    return {"ttydev": f"socket://{address}", "hostlist": list(hosts)}


def _rps10(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    pairs = " ".join(f"{node} {outlet}" for node, outlets in hosts.items() for outlet in outlets)
    return {"serial_to_targets": f"socket://{address} {pairs}"}


def _nw_rpc100s(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    return {"ttydev": f"socket://{address}", "hostlist": list(hosts)}


def _rcd_serial(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    return {"ttydev": f"rfc2217://{address}", "hostlist": list(hosts), "dtr_rts": "rts", "msduration": 200}


def _sispm(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
    return {}


def _sispm_backend(driver: Any, endpoint: str) -> None:
    # Sispm.backend is process-wide; the campaign runs many strips at once, so per instance, and
    # each simulated strip sits on a USB bus of its own (its own device lock).
    from stonith.mocks.usb_socket import socket_backend

    driver.backend = socket_backend(endpoint.removeprefix("unix:"))
    driver.device_name = lambda: f"sispm@{endpoint}"


_MENU = ALL_FAULTS
# The campaign's proxy (packet loss, reboot, auth flaps) is TCP-only; SNMP has its own --drop.
_BMC = frozenset({"stall", "stuck", "lie", "lie-status", "slow-relay", "unreachable", "wrong-password"})
_SNMP = ALL_FAULTS - {"packet-loss", "reboot", "auth-flap", "wrong-password"}
_NO_LOGIN = ALL_FAULTS - LOGIN_FAULTS
# Redfish over plain HTTP: the BMC faults (silent, refuse-login as a wrong password, stuck, lie,
# lie-status, --slow / relay delays).  The HTTP mock applies no drop/garble.  The campaign's proxy
# is byte-level and does carry HTTP (packet loss, reboots and auth flaps then work, and judge
# clean), but each connection it cuts makes the mock's http.server print a BrokenPipeError
# traceback on stderr, so those faults are left out until the mock keeps quiet about it.
_REDFISH = _BMC

# The hand-kept kinds: a personality of its own (a model, a fault set, a parameter mapping).  A
# type without one here is drawn through its every-mock.d row instead (``row_kinds``).
TABLE: tuple[Kind, ...] = (
    Kind("baytech-rpc3", "baytech", "rpc3", "baytech", 4, _MENU, _baytech_login),
    Kind("baytech-rpc3a", "baytech", "rpc3a", "baytech", 4, _MENU, _baytech_login, weight=0.5),
    Kind("baytech-rpc5", "baytech", "rpc5", "baytech", 4, _MENU, _baytech_login),
    Kind("baytech-rpc3-nc", "baytech", "rpc3-nc", "baytech", 4, _NO_LOGIN, _baytech_nc),
    Kind("baytech-rpc28-nc", "baytech", "rpc28-nc", "baytech", 20, _NO_LOGIN, _baytech_nc, weight=0.5),
    # WTI RPS-10: module addresses 0-9 are truth outlets 1-10.
    Kind(
        "rps10",
        "rps10",
        "rps10m",
        "rps10",
        4,
        _NO_LOGIN,
        _rps10,
        outlet_id=lambda n: str(n - 1),
        mock_options={"toggle_delay": 0.2},
    ),
    # Night/Ware RPC100S: one outlet and no read-back; every fence must be reported failed.
    Kind(
        "nw_rpc100s",
        "nw_rpc100s",
        "rpc100s",
        "nw_rpc100s",
        1,
        _NO_LOGIN - {"stuck", "lie", "lie-status"},
        _nw_rpc100s,
        multi_outlet=False,
        verifiable=False,
        weight=0.3,
        mock_options={"time_scale": 0.05},
    ),
    # APC MasterSwitch telnet menus (AOS 3 AP9211 and MasterSwitch Plus) and WTI NPS/IPS.
    Kind("apcmaster-ap9211", "apcmaster", "ap9211", "apcmaster", 8, _MENU, _baytech_login),
    Kind("apcmaster-msp", "apcmaster", "msp", "apcmaster", 8, _MENU, _baytech_login, weight=0.5),
    Kind("wti-nps", "wti_nps", "nps", "wti_nps", 8, _MENU, _wti_nps),
    Kind("wti-ips", "wti_nps", "ips", "wti_nps", 8, _MENU, _wti_nps, weight=0.5),
    # SNMP PDUs (UDP): output faults count requests; packet loss is the mock's own --drop.
    Kind("snmp-apc-rpdu", "apc_rpdu", "apc_rpdu", "apc_rpdu", 8, _SNMP, _snmp, weight=0.7),
    Kind(
        "snmp-apcmastersnmp", "apcmastersnmp", "apcmastersnmp", "apcmastersnmp", 8, _SNMP, _snmp, weight=0.4
    ),
    Kind("snmp-eaton-epdu", "eaton_epdu", "eaton_epdu", "eaton_epdu", 8, _SNMP, _snmp, weight=0.4),
    Kind("snmp-sentry4", "sentry4", "sentry4", "sentry4", 8, _SNMP, _snmp, weight=0.4),
    # IPMI 2.0 BMC (UDP, RMCP+): one chassis per BMC.
    Kind(
        "ipmi-lanplus",
        "ipmilan",
        "generic",
        "ipmilan",
        1,
        _BMC,
        _ipmi,
        multi_outlet=False,
        weight=0.7,
    ),
    # Redfish (HTTP, JSON): one ComputerSystem per BMC, served without TLS.
    Kind(
        "redfish",
        "redfish",
        "generic",
        "redfish",
        1,
        _REDFISH,
        _redfish,
        mock_options={"tls": False},
        multi_outlet=False,
        weight=0.7,
    ),
    # Redfish rack PDU (DMTF PowerDistribution over plain HTTP): outlets A1.., the BMC faults.
    Kind(
        "redfish-pdu",
        "redfish_pdu",
        "generic",
        "redfish_pdu",
        4,
        _REDFISH,
        _redfish_pdu,
        outlet_id=lambda number: f"A{number}",
        mock_options={"tls": False},
        weight=0.5,
    ),
    # APC Smart-UPS (serial protocol, served on TCP for socket://): one output, id "ups".  Off and
    # on are a command sent twice >= 1.5 s apart (the driver waits 2 s): with the campaign's
    # default 1.5 s deadline only status can succeed; every fence must fail, never falsely succeed.
    Kind(
        "apcsmart",
        "apcsmart",
        "smart-ups",
        "apcsmart",
        1,
        _NO_LOGIN,
        _apcsmart,
        outlet_id=lambda n: "ups",
        multi_outlet=False,
        weight=0.3,
    ),
    # RC reset circuit on a serial line's modem lines, reached over RFC 2217: no data, no
    # read-back; every fence must be reported failed (the network faults act on the TCP link).
    Kind(
        "rcd_serial",
        "rcd_serial",
        "rc",
        "rcd_serial",
        1,
        frozenset({"packet-loss", "reboot", "unreachable"}),
        _rcd_serial,
        outlet_id=lambda n: "reset",
        mock_options={"tau": 0.05},
        multi_outlet=False,
        verifiable=False,
        weight=0.3,
    ),
    # Gembird SIS-PM USB strip: the mock's fake pyusb backend on a Unix socket.  Output faults
    # count control transfers (stall: transfers time out; garble: wrong report ids; drop: unplug).
    Kind(
        "sispm",
        "sispm",
        "sis-pm",
        "sispm",
        4,
        frozenset({"drop", "stall", "garble", "stuck", "lie", "lie-status", "slow-relay"}),
        _sispm,
        network=False,
        fault_units=40,
        prepare=_sispm_backend,
        weight=0.5,
    ),
)


# -- kinds derived from every-mock.d ---------------------------------------------------------------
#
# A type `stonith new-driver` scaffolds gets an every-mock.d row (the conformance suite's device file)
# and no line here: the row already says how its driver talks to its mock (parameters, secrets, mock
# arguments), and the driver's kit says which faults the campaign may inject.  So the row is read
# back into a Kind.

EVERY_MOCK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "every-mock.d")
# The kit's class (module:Class) -> the campaign faults its devices take (first match wins).  The
# SNMP families are not here: one agent serves them all, and the table samples them (a new family
# needs no Kind).
KIT_FAULTS = (
    ("stonith.drivers.ipmi:IpmiLan", _BMC),
    ("stonith.drivers._redfish:RedfishClient", _REDFISH),
    ("stonith.drivers._console:StreamDriver", _MENU),
)
# stonith-mock options the campaign sets itself for every device (Kind.mock_argv).
_CAMPAIGN_OPTIONS = frozenset({"listen", "outlets", "names", "states", "password", "fault", "relay_delay"})


def _kit_faults(cls: type) -> frozenset[str] | None:
    """The campaign faults of the kit driver class ``cls`` is built on (None: none the campaign knows)."""
    for target, faults in KIT_FAULTS:
        module, _, name = target.partition(":")
        if issubclass(cls, getattr(importlib.import_module(module), name)):
            return faults
    return None


def mock_options(args: list[str]) -> dict[str, Any]:
    """``stonith-mock`` argv options (``--flag value``, ``--flag``, ``--no-flag``) as keywords."""
    options: dict[str, Any] = {}
    i = 0
    while i < len(args):
        key = args[i].removeprefix("--").replace("-", "_")
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            options[key] = args[i + 1]
            i += 2
        else:
            options[key.removeprefix("no_")] = not key.startswith("no_")
            i += 1
    return options


def _row_parameters(row: dict[str, Any]) -> Callable[[str, str, dict[str, list[str]]], dict[str, Any]]:
    """The row's parameters with the campaign's address, password (every secret) and node."""
    fixed = dict(row.get("parameters", {}))
    secrets = list(row.get("secrets", {}))

    def parameters(address: str, password: str, hosts: dict[str, list[str]]) -> dict[str, Any]:
        values = {**fixed, "ipaddr": address, **dict.fromkeys(secrets, password)}
        if "hostname" in fixed:  # one chassis per device: the node is its hostname
            values["hostname"] = next(iter(hosts), "node")
        return values

    return parameters


def every_mock_rows(directory: str = EVERY_MOCK) -> list[tuple[str, dict[str, Any]]]:
    """(name, parsed row) of every every-mock.d file, in name order."""
    import tomllib

    rows = []
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".toml"):
            with open(os.path.join(directory, entry), "rb") as handle:
                rows.append((entry.removesuffix(".toml"), tomllib.load(handle)))
    return rows


def row_kind(path: str, driver_class: type | None = None) -> Kind | None:
    """The Kind of the every-mock.d row in file ``path`` (see ``kind_of``)."""
    import tomllib

    with open(path, "rb") as handle:
        row = tomllib.load(handle)
    return kind_of(os.path.basename(path).removesuffix(".toml"), row, driver_class)


def kind_of(name: str, row: dict[str, Any], driver_class: type | None = None) -> Kind | None:
    """The Kind an every-mock.d row describes (None: the row's driver has no kit the campaign knows,
    or its mock is not a network device).  The driver class is the registered one unless given."""
    from stonith.fencing import registry

    driver = row["type"]
    faults = _kit_faults(driver_class or registry.load(driver))
    mock = row.get("mock", {})
    options = mock_options([str(a) for a in mock.get("args", [])])
    if faults is None or "listen" not in options:
        return None
    if faults is _MENU and not row.get("secrets"):
        faults = _NO_LOGIN  # a console without a password: no login to refuse
    outlets = int(options.get("outlets", 1))
    return Kind(
        name,
        str(mock.get("type", driver)),
        str(options.pop("model", "")),
        driver,
        outlets,
        faults,
        _row_parameters(row),
        mock_options={k: v for k, v in options.items() if k not in _CAMPAIGN_OPTIONS},
        multi_outlet=outlets > 1,
        weight=0.5,
    )


def row_kinds(drawn: set[str]) -> tuple[Kind, ...]:
    """Kinds for the every-mock.d rows whose type no kind in ``drawn`` (mock types) draws."""
    from stonith.contract.errors import StonithError

    found = []
    for name, row in every_mock_rows():
        try:
            kind = kind_of(name, row)
        except (StonithError, KeyError, ValueError):
            continue  # a row whose driver cannot load here: available() would drop it anyway
        if kind is not None and kind.mock_type not in drawn:
            found.append(kind)
            drawn.add(kind.mock_type)
    return tuple(found)


_KINDS: list[Kind] = []


def kinds() -> tuple[Kind, ...]:
    """Every kind the campaign may draw: the table, then the rows of the types it lacks."""
    if not _KINDS:
        _KINDS.extend(TABLE)
        _KINDS.extend(row_kinds({k.mock_type for k in TABLE}))
    return tuple(_KINDS)


def _loads(kind: Kind) -> str | None:
    """None if the mock and the driver of ``kind`` load, else why not."""
    from stonith.mocks.__main__ import MOCKS

    from stonith.fencing import registry

    module = MOCKS.get(kind.mock_type)
    if module is None:
        return f"no mock type {kind.mock_type!r}"
    try:
        importlib.import_module(module)
        registry.load(kind.driver)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def available(names: list[str] | None = None) -> list[Kind]:
    """The kinds whose mock and driver load (optionally only those named)."""
    wanted = [k for k in kinds() if names is None or k.name in names or k.mock_type in names]
    return [k for k in wanted if _loads(k) is None]


def unavailable() -> dict[str, str]:
    """Kinds of the table that cannot run here, and why."""
    return {k.name: why for k in kinds() if (why := _loads(k)) is not None}

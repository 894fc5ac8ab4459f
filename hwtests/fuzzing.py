"""What the fuzzers of hwtests share: budgets, the read every reply fuzzer makes, and their targets.

The fuzzers, one file per thing fuzzed (``python -m pytest hwtests/test_fuzz_*.py``):

- test_fuzz_front_ends.py: cluster subcommands with random arguments, and fence-agent stdin, against
  an in-process BayTech mock;
- test_fuzz_config.py: devices.d TOML (random tables and random text);
- test_fuzz_streams.py: replies of the byte-stream drivers (telnet, serial);
- test_fuzz_snmp.py, test_fuzz_ipmi.py, test_fuzz_redfish.py: datagrams and HTTP responses;
- test_fuzz_usb.py: SIS-PM's USB control transfers; test_fuzz_modem_lines.py: rcd_serial's port.

Which driver types the reply fuzzers cover comes from the driver entry points: every stream driver
(a ``StreamDriver`` of stonith.drivers._console) is fuzzed with its case in STREAM_CASES or, where
it has none (a type ``stonith new-driver`` wrote), the case its every-mock.d row gives; the
SNMP families share one driver module and are sampled by SNMP_CASES; the others have a fuzzer of
their own (DEDICATED).  tests/test_manifest.py fails, naming the type, when a type with a mock is
fuzzed nowhere or a table names a type the entry points do not have (``disagreements``).

Device replies, for every driver: only StonithError subclasses escape (any other exception fails the
test); reading a device (connect, outlets, status_many, probe) never sends a switching command; every
read ends within its deadline: DEADLINE, plus GRACE (the logout included).  The fakes answer fast
(a script that runs out closes the stream, or hands over to an honest mock), so the default budget
stays cheap; the cases that must wait for a deadline run fewer examples (``fewer``).

Budgets: ``HWTESTS_FUZZ_EXAMPLES`` (default 120 per property; CI uses the default).
"""

from __future__ import annotations

import contextlib
import os
import time

from hypothesis import HealthCheck, settings

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests.mocktypes import EVERY_MOCK, every_mock_rows
from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN, Outlet
from stonith.contract.errors import StonithError

EXAMPLES = int(os.environ.get("HWTESTS_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
DEADLINE = 0.5  # seconds for each fuzzed read
GRACE = 0.5  # a read may end at most this long after its deadline (logout included)

# -- targets --------------------------------------------------------------------------------------

# Stream driver type -> (configuration, transport module whose ``connect`` is replaced, what a read
# must never send: a regex over everything the driver wrote).  Every stream driver needs its case.
STREAM_CASES = {
    "baytech": (
        {"ipaddr": "fake:23", "login": "admin", "password": "pw"},
        "telnet",
        rb"(?i)(^|\r)(on|off|reboot) ",
    ),
    "rps10": (
        {"serial_to_targets": "socket://fake:1 n1 0 n2 1"},
        "serial",
        rb"\x02\x18\x18\x02\x18\x18[0-9*][01T]",
    ),
    "nw_rpc100s": ({"ttydev": "socket://fake:1", "hostlist": ["n1"]}, "serial", rb"//0,\d+,(\d+|\*)"),
    # Immediate On/Off is confirmed with YES: a read never types it.
    "apcmaster": ({"ipaddr": "fake:23", "login": "apc", "password": "pw"}, "telnet", rb"YES"),
    "wti_nps": ({"ipaddr": "fake:23", "password": "pw"}, "telnet", rb"(?i)/(on|off|boot|reboot)\b"),
    # A read sends only Y (smart mode), ^A (model), ~ and 8 (registers): nothing else, ever.
    "apcsmart": ({"ttydev": "socket://fake:1", "hostlist": ["n1"]}, "serial", rb"[^Y\x01~8]"),
}

# What a read of a console switch without its own case must never send: a line that switches (the
# command line ``stonith new-driver`` writes says ``on N`` / ``off N``).
SWITCHING_LINE = rb"(?i)(^|[\r\n])(on|off|reboot|cycle) "


def stream_case(driver_type: str, rows: str = EVERY_MOCK) -> tuple[dict, str, bytes] | None:
    """The fuzz case of a stream driver: its STREAM_CASES entry, else one read from the first
    every-mock.d row of that type (its parameters against the fake device: the address replaced
    by the fake's, every secret by ``pw``); None when there is neither."""
    if driver_type in STREAM_CASES:
        return STREAM_CASES[driver_type]
    for _, row in every_mock_rows(rows):
        if row.get("type") != driver_type:
            continue
        config = dict(row.get("parameters", {}))
        network = "ipaddr" in config
        if not network and "ttydev" not in config:
            return None  # a serial address inside another parameter: the type needs its own case
        config.update({"ipaddr": "fake:23"} if network else {"ttydev": "socket://fake:1"})
        config.update(dict.fromkeys(row.get("secrets", {}), "pw"))
        return config, "telnet" if network else "serial", SWITCHING_LINE
    return None


# SNMP family -> (mock type, SNMP version): a sample of the families, one per way of talking (the
# real SNMP stack costs about 0.2 s an example); every family's value handling is fuzzed apart.
SNMP_CASES = {
    "apc_rpdu": ("apc_rpdu", "2c"),
    "apcmastersnmp": ("apcmastersnmp", "1"),  # v1: GETNEXT walks, noSuchName retries
    "snmp_pdu": ("eaton_epdu", "2c"),  # family detection from sysObjectID first
    "sentry4": ("sentry4", "3"),
}

# Types with a fuzzer of their own -> its file.
DEDICATED = {
    "ipmilan": "test_fuzz_ipmi.py",
    "redfish": "test_fuzz_redfish.py",
    "redfish_pdu": "test_fuzz_redfish.py",
    "sispm": "test_fuzz_usb.py",
    "rcd_serial": "test_fuzz_modem_lines.py",
}
# A type built on one of these kits runs the kit's code, which that file fuzzes (through the type
# it names): a new BMC or Redfish type (``stonith new-driver --kit bmc|http``) needs no line here.
KIT_FUZZERS = {
    "stonith.drivers.ipmi:IpmiLan": "test_fuzz_ipmi.py",
    "stonith.drivers._redfish:RedfishClient": "test_fuzz_redfish.py",
}

# Types with a mock whose replies no fuzzer reads yet, and why (tests/test_manifest.py holds the
# fuzzers to every other type with a mock).
NOT_FUZZED: dict[str, str] = {}


def builtin_types() -> dict[str, str]:
    """Built-in driver type -> its entry point's target (``module:Class``), as registered."""
    from stonith.fencing import registry

    return {
        n: ep.value for n, ep in registry.entry_points().items() if ep.value.startswith("stonith.drivers.")
    }


def _types_of(base_path: str) -> list[str]:
    """Built-in types (that load) whose driver class is a subclass of ``module:Class``."""
    import importlib

    from stonith.fencing import registry

    module, _, name = base_path.partition(":")
    base = getattr(importlib.import_module(module), name)
    found = []
    for type_name in builtin_types():
        try:
            cls = registry.load(type_name)
        except StonithError:
            continue
        if issubclass(cls, base):
            found.append(type_name)
    return found


def stream_types() -> list[str]:
    """The byte-stream driver types (telnet, serial), from the entry points."""
    return _types_of("stonith.drivers._console:StreamDriver")


def snmp_types() -> list[str]:
    """The SNMP PDU families, from the entry points."""
    return _types_of("stonith.drivers.snmp_pdu:SnmpPdu")


def fuzz_targets() -> dict[str, str]:
    """Built-in type -> the file that fuzzes its replies."""
    targets = dict.fromkeys(stream_types(), "test_fuzz_streams.py")
    targets.update(dict.fromkeys(snmp_types(), "test_fuzz_snmp.py"))  # one driver module, sampled
    for kit, fuzzer in KIT_FUZZERS.items():
        targets.update(dict.fromkeys(_types_of(kit), fuzzer))
    targets.update(DEDICATED)
    return targets


def disagreements() -> list[str]:
    """How the fuzz targets disagree with the entry points and the mocks: one message per entry."""
    from stonith.mocks.__main__ import MOCKS

    types, streams, snmp = set(builtin_types()), set(stream_types()), set(snmp_types())
    problems = [
        f"{t}: a stream driver without a STREAM_CASES entry or an every-mock.d row"
        for t in sorted(streams)
        if stream_case(t) is None
    ]
    problems += [
        f"STREAM_CASES[{t!r}]: not a stream driver type" for t in sorted(set(STREAM_CASES) - streams)
    ]
    problems += [f"SNMP_CASES[{t!r}]: not an SNMP family" for t in sorted(set(SNMP_CASES) - snmp)]
    problems += [
        f"SNMP_CASES[{t!r}]: no mock type {mock!r}"
        for t, (mock, _) in SNMP_CASES.items()
        if mock not in MOCKS
    ]
    problems += [f"DEDICATED[{t!r}]: no such type" for t in sorted(set(DEDICATED) - types)]
    problems += [f"NOT_FUZZED[{t!r}]: no mock of that type" for t in sorted(set(NOT_FUZZED) - set(MOCKS))]
    targets = fuzz_targets()
    problems += [f"NOT_FUZZED[{t!r}]: fuzzed by {targets[t]}" for t in sorted(set(NOT_FUZZED) & set(targets))]
    missing = set(MOCKS) - set(targets) - set(NOT_FUZZED)
    problems += [
        f"{t}: a type with a mock that no fuzzer reads (hwtests/fuzzing.py)" for t in sorted(missing)
    ]
    return problems


# -- the read every reply fuzzer makes -------------------------------------------------------------


def fewer(divisor: int, floor: int = 10):
    """Settings for a slow property: EXAMPLES // divisor examples (at least ``floor``)."""
    return settings(FUZZ, max_examples=max(floor, EXAMPLES // divisor))


def read_device(driver, hint: list[Outlet], deadline_s: float = DEADLINE) -> dict[str, str]:
    """Connect, list outlets, read their states and probe, as a reader does; the states read.

    Only StonithError may escape a step (it ends the read); the whole read, logout included, must
    end within ``deadline_s`` + GRACE.
    """
    deadline = Deadline(deadline_s)
    driver.session_deadline = deadline  # as stonith.fencing.engine.session sets it: bounds the logout
    started = time.monotonic()
    states: dict[str, str] = {}
    try:
        driver.connect(deadline)
        outlets = driver.outlets(deadline)
        assert all(isinstance(o, Outlet) and isinstance(o.id, str) for o in outlets), outlets
        states = driver.status_many(outlets or hint, deadline)
        assert set(states.values()) <= {ON, OFF, UNKNOWN}, states
        assert isinstance(driver.probe(deadline), str)
    except StonithError:
        pass
    finally:
        with contextlib.suppress(StonithError):
            driver.disconnect()
    took = time.monotonic() - started
    assert took < deadline_s + GRACE, f"the read took {took:.3f} s with a {deadline_s:g} s deadline"
    return states


def make_driver(driver_type: str, config: dict):
    from stonith.fencing import registry
    from stonith.fencing.device import check

    driver_cls = registry.load(driver_type)
    return driver_cls(check(driver_cls.INFO, config))


def loads(name: str) -> bool:
    from stonith.fencing import registry

    try:
        registry.load(name)
    except StonithError:
        return False
    return True


def needs(*modules: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)


# -- datagram mutations the UDP fakes share ---------------------------------------------------------


def mutate(action: tuple, honest: bytes | None, junk_prefix: bytes = b"") -> list[bytes] | None:
    """What a fake sends back for one request under ``action``, from the honest answer: nothing
    (``drop``, or no honest answer), raw bytes, the honest answer cut, flipped, doubled or after a
    junk datagram (``junk_prefix`` + the junk: a header the protocol's parser gets past).  None: the
    action is the fake's own (``pass``, or one that needs the protocol's framing, such as a forged
    answer)."""
    kind = action[0]
    if kind == "drop":
        return []
    if kind == "raw":
        return [action[1]]
    if honest is None:
        return []
    if kind == "cut":
        return [honest[: action[1] % (len(honest) + 1)]]
    if kind == "flip":
        out = bytearray(honest)
        out[action[1] % len(out)] ^= action[2]
        return [bytes(out)]
    if kind == "junk-first":
        return [junk_prefix + action[1], honest]
    if kind == "twice":
        return [honest, honest]
    return None

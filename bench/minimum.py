"""One node's verified reset next to its physical minimum, per protocol (issue 25 item 6).

    python -m bench.minimum [--runs 5] [--delays 0.5,2]

For each protocol a mock device (a subprocess) whose relays follow a command after ``delay`` seconds,
and a reset through the engine (``Fencer.run("reset")``, in this process: no interpreter start-up in
the figure) with a settle of 1 s.  The physical minimum of a verified reset is what no client can
save: the relay going off, the settle, the relay going on (``2 x delay + 1``); everything above it
is ours or the protocol's: logging in, the commands, and how soon a read-back sees the relay move.
Printed: the minimum, our median, the ratio, and the median of the device's own round trip (one
status read in an open session), so what is left can be told apart from the protocol's cost.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

SETTLE = 1.0
QUIET = 0.5  # seconds between runs, untimed
PASSWORD = "bench-minimum"
COMMUNITY = "bench-minimum-rw"


@dataclass(frozen=True)
class Protocol:
    name: str
    mock: str
    options: dict[str, Any]
    parameters: Callable[[str], dict[str, Any]]
    hosts: dict[str, list[str]] | None = None


def _host_port(address: str) -> dict[str, Any]:
    from stonith.contract.validation import split_hostport

    host, port = split_hostport(address)
    return {"ipaddr": host, "port": port}


PROTOCOLS = (
    Protocol(
        "telnet (BayTech RPC-3)",
        "baytech",
        {"model": "rpc3", "outlets": 8, "names": ["node1"], "password": PASSWORD},
        lambda a: {"ipaddr": a, "login": "admin", "password": PASSWORD},
        {"node1": ["1"]},
    ),
    Protocol(
        "SNMP v2c (APC rPDU)",
        "apc_rpdu",
        {"outlets": 8, "names": ["node1"], "community": [COMMUNITY]},
        lambda a: {**_host_port(a), "community": COMMUNITY},
        {"node1": ["1"]},
    ),
    Protocol(
        "IPMI lanplus",
        "ipmilan",
        {"names": ["node1"], "username": "admin", "password": PASSWORD},
        lambda a: {"hostname": "node1", "ipaddr": a, "login": "admin", "password": PASSWORD},
    ),
    Protocol(
        "Redfish (HTTP)",
        "redfish",
        {"names": ["node1"], "username": "admin", "password": PASSWORD, "tls": False},
        lambda a: {"hostname": "node1", "ipaddr": a, "login": "admin", "password": PASSWORD, "ssl": False},
    ),
)


@contextlib.contextmanager
def _device(protocol: Protocol, delay: float) -> Iterator[Any]:
    import importlib

    from stonith.fencing import registry
    from stonith.fencing.device import check
    from stonith.fencing.inventory import DeviceEntry, Inventory

    harness = importlib.import_module("stonith.mocks.harness")  # installed only (not in the checkout)
    with harness.start_mock(protocol.mock, subprocess_=True, relay_delay=delay, **protocol.options) as mock:
        cls = registry.load(protocol.mock)
        driver = cls(check(cls.INFO, protocol.parameters(mock.address)))
        sessions = cls.INFO.capabilities.sessions or 64
        entry = DeviceEntry("dev", protocol.mock, "", driver, protocol.hosts, 1, SETTLE, 30, sessions, None)
        yield Inventory([entry], "")


def _round_trip(inventory: Any) -> float:
    """One status read in an open session: the protocol's own cost of a read-back."""
    from stonith.contract.deadline import Deadline
    from stonith.contract.driver import Outlet
    from stonith.fencing import engine

    device = inventory.devices[0]
    outlets = device.driver.static_outlets() or [Outlet("1")]

    def body(driver: Any, deadline: Deadline) -> float:
        driver.status_many(outlets, deadline)  # the first read may fill caches
        started = time.monotonic()
        driver.status_many(outlets, deadline)
        return time.monotonic() - started

    return float(engine.call(device, Deadline(10), body))


def measure(protocol: Protocol, delay: float, runs: int) -> tuple[float, float]:
    """(median reset seconds, median round trip seconds)."""
    from stonith.fencing.engine import Fencer

    resets, trips = [], []
    with _device(protocol, delay) as inventory:
        for _ in range(runs):
            # A fence does not follow another command to its device within moments: let a BMC's
            # min_interval (0.2 s from its last answer, drivers/ipmi.py) pass outside the figure.
            time.sleep(QUIET)
            started = time.monotonic()
            result = Fencer(inventory, timeout=30).run("reset", ["node1"])[0]
            resets.append(time.monotonic() - started)
            if not result.ok:
                raise SystemExit(f"{protocol.name}: reset failed: {result.message}")
            trips.append(_round_trip(inventory))
    return statistics.median(resets), statistics.median(trips)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.minimum", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--delays", default="0.5,2", help="relay delays to try, seconds (default 0.5,2)")
    args = parser.parse_args(argv)
    os.environ.setdefault("STONITH_LOCK_DIR", tempfile.mkdtemp(prefix="bench-minimum-"))
    delays = [float(d) for d in args.delays.split(",")]
    with contextlib.suppress(OSError), open("/proc/loadavg", encoding="ascii") as loadavg:
        sys.stdout.write(f"load average: {' '.join(loadavg.read().split()[:3])}\n")
    sys.stdout.write(f"{'protocol':<24}{'delay':>7}{'minimum':>9}{'ours':>8}{'ratio':>8}{'read RTT':>10}\n")
    for protocol in PROTOCOLS:
        for delay in delays:
            ours, trip = measure(protocol, delay, args.runs)
            minimum = 2 * delay + SETTLE
            sys.stdout.write(
                f"{protocol.name:<24}{delay:>6g}s{minimum:>8.2f}s{ours:>7.2f}s{ours / minimum:>7.2f}x"
                f"{trip * 1000:>8.1f}ms\n"
            )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

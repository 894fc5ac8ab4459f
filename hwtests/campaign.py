"""Seeded fault campaigns: random fault schedules against every mock, judged by the ground truth.

    python -m hwtests.campaign --runs 10000 --seed 1 [--workers 12] [--processes 2] [--timeout 1.5]
                               [--kinds baytech-rpc3,rps10] [--only INDEX] [--json FILE] [--verbose]

Run ``i`` of seed ``S`` is drawn from ``random.Random(f"{S}:{i}")`` alone, so its schedule (devices,
personalities, node layout, verb, faults and their byte counts and instants) is the same whatever
the worker count; ``--only i`` re-runs it.  (Outcomes of timing faults can differ between two runs
of one schedule; the invariants may not.)

A run builds one to three fresh in-process mocks, each with its own faults, behind a chaos proxy
where the fault needs one, an inventory for them (one node with outlets on one device, on two
devices (dual PSU) or on two topology levels), and runs ``Fencer(...).run(verb, [node])`` (or
``.status``) with a small timeout.  Invariants, checked against the mocks' ground truth:

- false success: a fence claimed (result ok, or on-failed after a verified off) although the truth
  shows no instant at which every outlet of the node was off during the run (reset, off), or the
  outlets not all off when the result came back (off); an ``on`` claimed while an outlet is off;
  a status of OFF while an outlet is on.  Explained by a ``lie-status`` outlet it is counted as
  "undetectable lie" instead (no client reading only that device can tell);
- overrun: the operation took longer than its timeout + 1 s;
- traceback: the Fencer raised (any exception is a campaign failure);
- collateral: an outlet that is not the node's changed state.

Exit status 1 if any false success, overrun, traceback or collateral switching, else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from stonith.mocks.recording import Proxy

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests.mocktypes import Kind, available

GRACE = 1.0  # an operation may end at most this long after its deadline
NODE = "node"
PASSWORD = "campaign-pw"
VERBS = (("reset", 0.5), ("off", 0.3), ("on", 0.1), ("status", 0.1))
FAULT_WEIGHTS = {
    "drop": 1.0,
    "stall": 1.0,
    "garble": 1.0,
    "stuck": 1.0,
    "lie": 1.0,
    "lie-status": 0.15,
    "slow-relay": 1.0,
    "packet-loss": 1.0,
    "reboot": 1.0,
    "auth-flap": 0.7,
    "wrong-password": 0.4,
    "unreachable": 0.4,
}
PROXY_FAULTS = {"packet-loss", "reboot", "auth-flap"}


# ---------------------------------------------------------------------------------------------
# Schedules


@dataclass
class DevicePlan:
    name: str
    kind: str
    level: int
    outlets: int
    node_outlets: list[int]  # truth outlet numbers of the node
    states: list[str]  # initial relay states
    faults: list[str] = field(default_factory=list)  # campaign fault kinds
    mock_faults: list[str] = field(default_factory=list)  # stonith-mock --fault specs
    relay_delay: float = 0.0
    loss: float = 0.0  # packet loss probability per segment
    reboots: list[tuple[float, float]] = field(default_factory=list)  # (at, down for)
    flaps: list[float] = field(default_factory=list)  # instants the login refusal toggles
    refuse_first: bool = False


@dataclass
class Plan:
    index: int
    verb: str
    timeout: float
    shape: str
    devices: list[DevicePlan]


def _weighted(rng: random.Random, items: list[tuple[str, float]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def plan_run(seed: int, index: int, kinds: list[Kind], timeout: float) -> Plan:
    """The schedule of run ``index``: from the seed and the index alone."""
    rng = random.Random(f"{seed}:{index}")
    verb = _weighted(rng, list(VERBS))
    shape = _weighted(rng, [("single", 0.55), ("dual", 0.3), ("levels", 0.15)])
    count = 1 if shape == "single" else 2
    by_name = {k.name: k for k in kinds}
    devices: list[DevicePlan] = []
    for d in range(count):
        kind = by_name[_weighted(rng, [(k.name, k.weight) for k in kinds])]
        outlets = kind.outlets
        wanted = 2 if kind.multi_outlet and shape == "single" and rng.random() < 0.3 else 1
        node_outlets = sorted(rng.sample(range(1, outlets + 1), wanted))
        states = ["off" if rng.random() < 0.15 else "on" for _ in range(outlets)]
        if verb == "on":
            for n in node_outlets:
                states[n - 1] = "off" if rng.random() < 0.7 else states[n - 1]
        plan = DevicePlan(
            name=f"dev{d}",
            kind=kind.name,
            level=2 if shape == "levels" and d == 1 else 1,
            outlets=outlets,
            node_outlets=node_outlets,
            states=states,
            relay_delay=round(rng.uniform(0.0, 0.1), 3),
        )
        if rng.random() < 0.6:
            choices = [(f, w) for f, w in FAULT_WEIGHTS.items() if f in kind.faults]
            for fault in {_weighted(rng, choices) for _ in range(1 if rng.random() < 0.8 else 2)}:
                _add_fault(rng, plan, fault, timeout, kind.fault_units)
        devices.append(plan)
    return Plan(index, verb, timeout, shape, devices)


def _add_fault(rng: random.Random, plan: DevicePlan, fault: str, timeout: float, units: int) -> None:
    plan.faults.append(fault)
    outlet = rng.choice(plan.node_outlets) if rng.random() < 0.8 else rng.randint(1, plan.outlets)
    if fault == "drop":
        plan.mock_faults.append(f"drop-after={rng.randint(0, units)}")
    elif fault == "stall":
        plan.mock_faults.append(f"silent={rng.randint(0, units)}")
    elif fault == "garble":
        plan.mock_faults.append(f"garble={rng.randint(0, units)}")
    elif fault in ("stuck", "lie", "lie-status"):
        plan.mock_faults.append(f"{fault}={outlet}")
    elif fault == "slow-relay":
        plan.relay_delay = round(rng.uniform(0.1, 2.0), 3)
    elif fault == "packet-loss":
        plan.loss = round(rng.uniform(0.02, 0.4), 3)
    elif fault == "reboot":
        at = rng.uniform(0.0, timeout)
        plan.reboots.append((round(at, 3), round(rng.uniform(0.05, 0.6), 3)))
    elif fault == "auth-flap":
        plan.refuse_first = rng.random() < 0.5
        plan.flaps = sorted(round(rng.uniform(0.0, timeout), 3) for _ in range(rng.randint(1, 3)))


# ---------------------------------------------------------------------------------------------
# Devices under faults


class ChaosProxy(Proxy):
    """Packet loss as TCP shows it: a lost segment arrives after a retransmission timeout."""

    def __init__(self, target: Callable[[], str | None], loss: float, rng: random.Random) -> None:
        super().__init__("127.0.0.1:0", target)
        self.loss = loss
        self._rng = rng
        self._rng_lock = threading.Lock()

    def on_data(self, conn: int, side: str, data: bytes) -> bytes:
        if self.loss:
            rto = 0.2
            while True:
                with self._rng_lock:
                    lost = self._rng.random() < self.loss
                if not lost or self.stop.is_set():
                    break
                time.sleep(rto)
                rto = min(rto * 2, 1.6)
        return data


class SimDevice:
    """A mock that may be rebooted (restarted with its relays as they were) behind a proxy."""

    def __init__(self, kind: Kind, plan: DevicePlan, rng: random.Random) -> None:
        self.kind = kind
        self.plan = plan
        self.names = [f"o{n}" for n in range(1, plan.outlets + 1)]
        self._lock = threading.Lock()
        self._mock: Any = None
        self._events: list[dict[str, Any]] = []  # of instances already stopped
        self._states = list(plan.states)
        self._refusing = plan.refuse_first
        self._hold: socket.socket | None = None
        self.proxy: ChaosProxy | None = None
        self.timers: list[threading.Timer] = []
        self.started = time.time()
        if "unreachable" in plan.faults:
            # A bound socket that never listens: connections are refused, and the port stays ours.
            self._hold = socket.socket()
            self._hold.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self._hold.getsockname()[1]}"
            return
        self._start()
        if PROXY_FAULTS & set(plan.faults):
            self.proxy = ChaosProxy(self._target, plan.loss, random.Random(rng.random()))
            self.proxy.start()
            self.address = self.proxy.address
        else:
            self.address = self._target() or ""

    def _target(self) -> str | None:
        mock = self._mock
        if mock is None:
            return None
        return str(mock.info.get("address") or mock.info["usb_backend"])

    def _start(self) -> None:
        from stonith.mocks.__main__ import start

        faults = list(self.plan.mock_faults)
        if self._refusing:
            faults.append("refuse-login")
        argv = self.kind.mock_argv(
            names=self.names,
            states=self._states,
            password=PASSWORD,
            faults=faults,
            relay_delay=self.plan.relay_delay,
        )
        self._mock = start(argv)

    def _restart(self, down: float, toggle_login: bool) -> None:
        with self._lock:
            mock, self._mock = self._mock, None
            if mock is None:
                return
            if self.proxy is not None:
                self.proxy.drop_connections()
            mock.close()
            truth = mock.truth()
            self._events += truth["events"]
            self._states = [truth["outlets"][str(n)]["state"] for n in range(1, self.plan.outlets + 1)]
            if toggle_login:
                self._refusing = not self._refusing
        time.sleep(down)
        with self._lock:
            if self.proxy is not None and not self.proxy.stop.is_set():
                self._start()

    def arm(self) -> None:
        """Start the reboot and auth-flap timers (at the start of the operation)."""
        for at, down in self.plan.reboots:
            self.timers.append(threading.Timer(at, self._restart, (down, False)))
        for at in self.plan.flaps:
            self.timers.append(threading.Timer(at, self._restart, (0.02, True)))
        for timer in self.timers:
            timer.daemon = True
            timer.start()

    def truth(self) -> dict[str, Any]:
        """Initial states, every relay change of every instance, and the current states."""
        with self._lock:
            events = list(self._events)
            states = list(self._states)
            if self._mock is not None:
                current = self._mock.truth()
                events += current["events"]
                states = [current["outlets"][str(n)]["state"] for n in range(1, self.plan.outlets + 1)]
        return {"initial": list(self.plan.states), "events": events, "states": states}

    def close(self) -> None:
        for timer in self.timers:
            timer.cancel()
        if self.proxy is not None:
            self.proxy.close()
        for timer in self.timers:
            if timer.is_alive():
                timer.join(3.0)
        with self._lock:
            if self._mock is not None:
                self._mock.close()
                self._mock = None
        if self._hold is not None:
            self._hold.close()


# ---------------------------------------------------------------------------------------------
# One run


@dataclass
class Outcome:
    index: int
    verb: str
    shape: str
    kinds: list[str]
    faults: list[list[str]]
    verdict: str  # success | failure | false-success | undetectable-lie | traceback
    result: str = ""
    duration: float = 0.0
    overrun: bool = False
    collateral: bool = False
    message: str = ""


def _inventory(plan: Plan, sims: list[SimDevice]) -> Any:
    from stonith.fencing import registry
    from stonith.fencing.device import check
    from stonith.fencing.inventory import DeviceEntry, Inventory

    entries = []
    for sim in sims:
        kind = sim.kind
        hosts = {NODE: [kind.outlet_id(n) for n in sim.plan.node_outlets]}
        for n in range(1, sim.plan.outlets + 1):
            if n not in sim.plan.node_outlets:
                hosts[f"other{n}"] = [kind.outlet_id(n)]
        password = "wrong-" + PASSWORD if "wrong-password" in sim.plan.faults else PASSWORD
        driver_cls = registry.load(kind.driver)
        config = check(driver_cls.INFO, kind.parameters(sim.address, password, {NODE: hosts[NODE]}))
        driver = driver_cls(config)
        if kind.prepare is not None:
            kind.prepare(driver, sim.address)
        entries.append(
            DeviceEntry(
                sim.plan.name,
                kind.driver,
                f"<campaign run {plan.index}>",
                driver,
                hosts,
                sim.plan.level,
                0.05,
                plan.timeout,
                driver_cls.INFO.capabilities.sessions or 64,
                None,
            )
        )
    return Inventory(entries, "<campaign>")


def _all_off_instant(truths: list[tuple[dict[str, Any], list[int]]], since: float, until: float) -> bool:
    """Whether the truth shows an instant in [since, until] with every node outlet off."""
    timeline: list[tuple[float, int, str, str]] = []
    state: dict[tuple[int, str], str] = {}
    for d, (truth, outlets) in enumerate(truths):
        for n in outlets:
            state[(d, str(n))] = truth["initial"][n - 1]
        for event in truth["events"]:
            if int(event["outlet"]) in outlets:
                timeline.append((float(event["t"]), d, str(event["outlet"]), str(event["state"])))
    timeline.sort()
    if all(s == "off" for s in state.values()):
        return True
    for t, d, outlet, new in timeline:
        state[(d, outlet)] = new
        if since - 0.05 <= t <= until + 0.05 and all(s == "off" for s in state.values()):
            return True
    return False


def _offs_before_ons(truths: list[tuple[dict[str, Any], list[int]]]) -> bool:
    offs = [
        e["t"]
        for truth, o in truths
        for e in truth["events"]
        if int(e["outlet"]) in o and e["state"] == "off"
    ]
    ons = [
        e["t"] for truth, o in truths for e in truth["events"] if int(e["outlet"]) in o and e["state"] == "on"
    ]
    return not offs or not ons or max(offs) <= min(ons)


def execute(plan: Plan, kinds: dict[str, Kind]) -> Outcome:
    """Run one schedule and judge it; never raises."""
    from stonith.fencing.engine import Fencer

    outcome = Outcome(
        plan.index,
        plan.verb,
        plan.shape,
        [d.kind for d in plan.devices],
        [[*d.faults] for d in plan.devices],
        "failure",
    )
    sims: list[SimDevice] = []
    rng = random.Random(f"proxy:{plan.index}")
    try:
        for device in plan.devices:
            sims.append(SimDevice(kinds[device.kind], device, rng))
        inventory = _inventory(plan, sims)
    except Exception as exc:
        for sim in sims:
            sim.close()
        outcome.verdict = "setup-error"
        outcome.message = f"{type(exc).__name__}: {exc}"
        return outcome
    try:
        fencer = Fencer(inventory, timeout=plan.timeout)
        for sim in sims:
            sim.arm()
        wall_start = time.time()
        started = time.monotonic()
        try:
            results = fencer.status([NODE]) if plan.verb == "status" else fencer.run(plan.verb, [NODE])
        except Exception:
            outcome.verdict = "traceback"
            outcome.message = traceback.format_exc()
            outcome.duration = time.monotonic() - started
            outcome.overrun = outcome.duration > plan.timeout + GRACE
            return outcome
        outcome.duration = round(time.monotonic() - started, 3)
        wall_end = time.time()
        outcome.overrun = outcome.duration > plan.timeout + GRACE
        result = results[0]
        # Topology levels are alternative ways to cut the node's power: a fence at level L is judged
        # by the devices of level L (a status or an unfinished run by every device).
        level = result.level if plan.verb != "status" and result.level is not None else None
        truths = [
            (sim.truth(), sim.plan.node_outlets) for sim in sims if level is None or sim.plan.level == level
        ]
        outcome.result = result.result
        outcome.message = result.message
        outcome.verdict, why = _judge(plan, result, truths, wall_start, wall_end)
        if why:
            outcome.message = f"{why}; fencer said: {result.message}"
        if outcome.verdict == "false-success" and any(
            f.startswith("lie-status=") and int(f.split("=")[1]) in d.node_outlets
            for d in plan.devices
            for f in d.mock_faults
        ):
            outcome.verdict = "undetectable-lie"
        for sim in sims:
            if any(int(e["outlet"]) not in sim.plan.node_outlets for e in sim.truth()["events"]):
                outcome.collateral = True
                outcome.message += f"; collateral switching on {sim.plan.name}"
        return outcome
    except Exception:
        outcome.verdict = "traceback"
        outcome.message = "campaign: " + traceback.format_exc()
        return outcome
    finally:
        for sim in sims:
            sim.close()


def _judge(
    plan: Plan, result: Any, truths: list[tuple[dict[str, Any], list[int]]], since: float, until: float
) -> tuple[str, str]:
    """(verdict, why) for one result against the ground truth."""
    now_states = [truth["states"][n - 1] for truth, outlets in truths for n in outlets]
    if plan.verb == "status":
        if result.result != "ok":
            return "failure", ""
        if result.state == "off" and any(s != "off" for s in now_states):
            return "false-success", "status OFF while an outlet is on"
        if result.state == "on" and all(s == "off" for s in now_states):
            return "false-success", "status ON while every outlet is off"
        return "success", ""
    if plan.verb == "on":
        if result.result != "ok":
            return "failure", ""
        if any(s != "on" for s in now_states):
            return "false-success", f"on reported but the truth shows {now_states}"
        return "success", ""
    if not result.fenced:
        return "failure", ""
    if plan.verb == "off" and any(s != "off" for s in now_states):
        return "false-success", f"off reported but the truth shows {now_states}"
    if not _all_off_instant(truths, since, until):
        return "false-success", "fence reported but no instant had every outlet of the node off"
    if plan.verb == "reset" and not _offs_before_ons(truths):
        return "false-success", "an outlet of the node went on before another went off"
    return ("success" if result.ok else "failure"), ""


# ---------------------------------------------------------------------------------------------
# Many runs


def _worker_init(lock_dir: str) -> None:
    os.environ["STONITH_LOCK_DIR"] = lock_dir
    os.environ.setdefault("STONITH_AUDIT", "none")


# Libraries the drivers import on first use.  A command pays that once, at its start; a campaign
# process would pay it inside its first runs of each kind, with 24 runs competing for 2 cores, and
# an import is not something a deadline can interrupt.  So each campaign process imports them first.
WARM_UP = (
    "pysnmp.hlapi.v3arch.asyncio",
    "requests",
    "cryptography.hazmat.primitives.ciphers",
    "serial",
    "usb.core",
)


def _warm_up() -> None:
    import importlib

    for module in WARM_UP:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def run_batch(
    seed: int, indices: list[int], kind_names: list[str], timeout: float, workers: int, lock_dir: str
) -> list[dict[str, Any]]:
    """Runs ``indices`` with ``workers`` threads (one process's share of a campaign)."""
    _worker_init(lock_dir)
    kinds = {k.name: k for k in available(kind_names)}
    listed = [kinds[n] for n in kind_names if n in kinds]
    _warm_up()

    def one(index: int) -> dict[str, Any]:
        try:
            plan = plan_run(seed, index, listed, timeout)
            return asdict(execute(plan, kinds))
        except Exception:  # the campaign's own bug: still a result, never a lost run
            return asdict(Outcome(index, "?", "?", [], [], "traceback", message=traceback.format_exc()))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, indices))


@dataclass
class Summary:
    runs: int = 0
    successes: int = 0
    failures: int = 0
    false_successes: int = 0
    overruns: int = 0
    tracebacks: int = 0
    collateral: int = 0
    undetectable_lies: int = 0
    setup_errors: int = 0
    wall_time: float = 0.0
    max_overshoot: float = 0.0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    by_fault: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (
            self.false_successes or self.overruns or self.tracebacks or self.collateral or self.setup_errors
        )

    def add(self, outcome: dict[str, Any], timeout: float) -> None:
        self.runs += 1
        verdict = outcome["verdict"]
        if verdict == "success":
            self.successes += 1
        elif verdict == "failure":
            self.failures += 1
        elif verdict == "false-success":
            self.false_successes += 1
        elif verdict == "undetectable-lie":
            self.undetectable_lies += 1
        elif verdict == "setup-error":
            self.setup_errors += 1
        else:
            self.tracebacks += 1
        self.overruns += bool(outcome["overrun"])
        self.collateral += bool(outcome["collateral"])
        self.max_overshoot = max(self.max_overshoot, outcome["duration"] - timeout)
        for kind in set(outcome["kinds"]):
            row = self.by_kind.setdefault(kind, {})
            row[verdict] = row.get(verdict, 0) + 1
        for fault in {f for fs in outcome["faults"] for f in fs} or {"none"}:
            row = self.by_fault.setdefault(fault, {})
            row[verdict] = row.get(verdict, 0) + 1

    def text(self) -> str:
        lines = [
            f"runs: {self.runs}",
            f"successes: {self.successes}",
            f"failures: {self.failures}",
            f"false successes: {self.false_successes}",
            f"deadline overruns: {self.overruns}",
            f"tracebacks: {self.tracebacks}",
            f"collateral switching: {self.collateral}",
            f"device lies about state (undetectable, lie-status): {self.undetectable_lies}",
        ]
        if self.setup_errors:
            lines.append(f"setup errors: {self.setup_errors}")
        lines.append(f"latest end after deadline: {self.max_overshoot:+.3f} s (limit +{GRACE:g} s)")
        lines.append(f"wall time: {self.wall_time:.1f} s")
        lines.append("")
        lines.append(verdict_table("kind", self.by_kind))
        lines.append(verdict_table("fault", self.by_fault))
        return "\n".join(lines)


COLUMNS = ("success", "failure", "false-success", "undetectable-lie", "traceback")


def verdict_table(
    title: str, rows: dict[str, dict[str, int]], columns: tuple[str, ...] = COLUMNS, cell: int = 18
) -> str:
    """A count per verdict (``columns``) for each row, rows sorted by name (also hwtests.netcampaign's)."""
    width = max([len(title), *map(len, rows)]) + 2
    out = [f"{title:<{width}}" + "".join(f"{c:>{cell}}" for c in columns)]
    for name in sorted(rows):
        out.append(f"{name:<{width}}" + "".join(f"{rows[name].get(c, 0):>{cell}}" for c in columns))
    return "\n".join(out) + "\n"


def campaign(
    runs: int,
    seed: int,
    *,
    workers: int = 12,
    processes: int | None = None,
    timeout: float = 1.5,
    kinds: list[str] | None = None,
    only: list[int] | None = None,
) -> tuple[Summary, list[dict[str, Any]]]:
    """Run a campaign; the summary and every run's outcome."""
    names = [k.name for k in available(kinds)]
    if not names:
        raise SystemExit("campaign: no mock personality available" + (f" among {kinds}" if kinds else ""))
    indices = only if only is not None else list(range(runs))
    processes = processes or min(os.cpu_count() or 1, 4)
    processes = max(1, min(processes, len(indices) or 1))
    started = time.monotonic()
    outcomes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="stonith-campaign-") as lock_dir:
        if processes == 1:
            outcomes = run_batch(seed, indices, names, timeout, workers, lock_dir)
        else:
            shares = [indices[p::processes] for p in range(processes)]
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
                futures = [
                    pool.submit(run_batch, seed, share, names, timeout, workers, lock_dir) for share in shares
                ]
                for future in futures:
                    outcomes += future.result()
    summary = Summary()
    for outcome in sorted(outcomes, key=lambda o: o["index"]):
        summary.add(outcome, timeout)
    summary.wall_time = time.monotonic() - started
    return summary, sorted(outcomes, key=lambda o: o["index"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwtests.campaign",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=500, help="number of runs (default 500)")
    parser.add_argument("--seed", type=int, default=1, help="campaign seed (default 1)")
    parser.add_argument("--workers", type=int, default=12, help="concurrent runs per process (default 12)")
    parser.add_argument("--processes", type=int, default=None, help="processes (default: CPUs, max 4)")
    parser.add_argument("--timeout", type=float, default=1.5, help="per-operation deadline, s (default 1.5)")
    parser.add_argument("--kinds", default="", help="comma-separated personalities (default: all available)")
    parser.add_argument("--only", default="", metavar="I,J,...", help="re-run only these run indices")
    parser.add_argument("--json", metavar="FILE", help="write the summary and every run's outcome")
    parser.add_argument("--verbose", action="store_true", help="print every run that was not a success")
    args = parser.parse_args(argv)
    if args.runs < 0 or args.workers < 1 or (args.processes is not None and args.processes < 1):
        parser.error("--runs must be >= 0, --workers and --processes >= 1")
    if not 0.2 <= args.timeout <= 60:
        parser.error("--timeout must be within 0.2..60 seconds")
    try:
        only = [int(i) for i in args.only.split(",") if i.strip()] if args.only else None
    except ValueError:
        parser.error("--only takes run indices: 3,17,42")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] or None
    summary, outcomes = campaign(
        args.runs,
        args.seed,
        workers=args.workers,
        processes=args.processes,
        timeout=args.timeout,
        kinds=kinds,
        only=only,
    )
    bad = [
        o
        for o in outcomes
        if o["verdict"] in ("false-success", "traceback", "setup-error") or o["overrun"] or o["collateral"]
    ]
    for o in outcomes if args.verbose else bad[:20]:
        if args.verbose and o["verdict"] == "success":
            continue
        sys.stdout.write(
            f"run {o['index']}: {o['verdict']}{' OVERRUN' if o['overrun'] else ''} {o['verb']} "
            f"{o['shape']} {o['kinds']} {o['faults']} {o['duration']:.2f}s: {o['message'][:300]}\n"
        )
    sys.stdout.write(f"seed {args.seed}, timeout {args.timeout:g} s\n" + summary.text())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            data = {k: v for k, v in asdict(summary).items()}
            json.dump({"seed": args.seed, "summary": data, "runs": outcomes}, handle, indent=1)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

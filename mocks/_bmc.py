"""What BMC mocks (IPMI, Redfish) share: chassis ground truth, faults, many BMCs per process.

A BMC controls one chassis, seen by the device layer as one outlet ("1", named after the node); a
multi-node BMC (a Redfish service listing several ComputerSystems) controls several, outlets "1",
"2", ... in the ground truth.
A power command is acknowledged at once; the chassis follows ``off_delay`` / ``on_delay`` seconds
later (``--relay-delay`` sets both; ``--off-delay``/``--on-delay`` override), so a client that
does not read back sees the old state for a while, as on real servers.

Faults (``--fault``, the common syntax; outlet number 1 is the chassis):

    silent          the BMC never answers (IPMI: drops every datagram; Redfish: accepts the TCP
                    connection and never answers)
    refuse-login    every login fails (IPMI: RAKP 2 "unauthorized name" / no session; Redfish: 401)
    stuck=1         "off" is acknowledged, the chassis stays on, and status says on
    lie=1           the same (the acknowledgement lies; the status read back does not)
    lie-status=1    after "off" the BMC *reports* off while the chassis stays on (undetectable by a
                    client of this BMC alone; ground truth shows it)
    --slow S        (device flag) every answer is delayed S seconds

The state file (``--state-file``) is keyed by device first::

    {"devices": {"127.0.0.1:40001": {"outlets": {"1": {"name": "node1", "state": "on"}},
                                      "events": [{"t": ..., "outlet": "1", "state": "off"}, ...]},
                 ...},
     "outlets": ..., "events": ...}     # the first device's, for single-BMC tools and tests

Events record real chassis changes (``on``/``off``) and resets (``reset``: power stayed on).  The state
file is written at most every 50 ms (200 BMCs switching at once); ``STONITH_MOCK_SYNC_STATE=1`` writes it
at every change, for a harness that reads it the moment its client exits or kills the mock.  A
device's ``log`` (``Lab.note``) records protocol events a test asserts on (Redfish: sessions created
and deleted, resets posted, tasks started and finished), each ``{"t": ..., "what": ..., ...}``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time

from stonith.mocks._common import write_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from stonith.mocks._common import Faults, MockConfig

ON = "on"
OFF = "off"
SAVE_EVERY = 0.05  # seconds: state-file writes are coalesced (200 BMCs switching at once)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--count",
        type=int,
        default=1,
        metavar="N",
        help="serve N BMCs from this process (consecutive ports; default 1)",
    )
    parser.add_argument(
        "--hosts",
        default="",
        metavar="a,b,...",
        help="node name of each BMC (default: --names, then node1..nodeN)",
    )
    parser.add_argument(
        "--off-delay",
        type=float,
        default=None,
        metavar="S",
        help="seconds from an accepted off to the chassis being off (default --relay-delay)",
    )
    parser.add_argument(
        "--on-delay",
        type=float,
        default=None,
        metavar="S",
        help="seconds from an accepted on to the chassis being on (default --relay-delay)",
    )
    parser.add_argument(
        "--slow", type=float, default=0.0, metavar="S", help="delay every answer by S seconds"
    )


def default_outlets(model: str) -> int:
    return 1


def default_names(model: str, count: int) -> list[str]:
    return [f"node{i + 1}" for i in range(count)]


def host_names(config: MockConfig, systems: int = 1) -> list[str]:
    """The node name of every chassis, BMC by BMC (``systems`` chassis per BMC)."""
    count = int(config.options.get("count") or 1)
    if not 1 <= count <= 5000:
        raise ValueError("--count must be within 1-5000")
    total = count * systems
    given = [h for h in str(config.options.get("hosts") or "").split(",") if h]
    if not given and count == 1:
        given = list(config.names[:systems])
    return [*given[:total], *[f"node{i + 1}" for i in range(len(given), total)]]


class Chassis:
    """One server's power: the truth, what the BMC reports, and every real change."""

    def __init__(
        self,
        lab: Lab,
        name: str,
        state: str,
        *,
        faults: Faults,
        off_delay: float,
        on_delay: float,
        number: int = 1,
    ) -> None:
        self.lab = lab
        self.name = name
        self.number = number  # the outlet number in the ground truth (faults name it too)
        self._truth = state
        self._shown: str | None = None  # lie-status: what the BMC reports instead of the truth
        self._pending: str | None = None  # where the chassis is going (Redfish PoweringOn/Off)
        self.faults = faults
        self.off_delay = off_delay
        self.on_delay = on_delay
        self.events: list[dict[str, Any]] = []
        self._generation = 0  # bumped by every command: a change scheduled before it is void
        # Reentrant: with STONITH_MOCK_SYNC_STATE the state file is written while it is held (the
        # lab's snapshot takes it again), so no client reads a state the file does not show yet.
        self._lock = threading.RLock()

    @property
    def truth(self) -> str:
        return self._truth

    def reported(self) -> str:
        """The power state the BMC reports."""
        with self._lock:
            return self._shown or self._truth

    def pending(self) -> str | None:
        with self._lock:
            return self._pending if self._shown is None else None

    def power(self, state: str) -> None:
        """An accepted on/off; the chassis follows after its delay."""
        if state == OFF and (self.number in self.faults.stuck or self.number in self.faults.lie):
            return
        with self._lock:
            if self.number in self.faults.lie_status:
                if state == OFF:
                    self._shown = OFF
                    return
                self._shown = None
        self._schedule([(self.off_delay if state == OFF else self.on_delay, state)])

    def cycle(self, off_for: float = 0.0) -> None:
        """Power cycle: off, then on (IPMI semantics: only from on).  The chassis stays off for
        ``off_for`` seconds before the BMC turns it on again, then on after ``on_delay``: IPMI
        requires at least 1 s (the IPMI mock passes it), a client's read-back sees the off."""
        if self.number in self.faults.stuck or self.number in self.faults.lie:
            return
        self._schedule([(self.off_delay, OFF), (off_for + self.on_delay, ON)])

    def reset(self) -> None:
        """Hard reset: the power stays on; recorded as a ``reset`` event."""
        self.record("reset")

    def _schedule(self, steps: list[tuple[float, str]]) -> None:
        with self._lock:
            self._generation += 1
            if not steps:
                return
            delay, state = steps[0]
            self._pending = state
            generation = self._generation
        if delay > 0:
            self.lab.at(time.monotonic() + delay, self, generation, state, steps[1:])
            return
        self.apply(generation, state, steps[1:])

    def apply(self, generation: int, state: str, rest: list[tuple[float, str]]) -> None:
        """A scheduled change comes due; void if a later command has come in since."""
        with self.lab.writing(), self._lock:
            if self.lab.closed or generation != self._generation:
                return
            self._pending = None
            changed = self._truth != state
            self._truth = state
            if changed:
                self._record_locked(state)
        if rest:
            self._schedule(rest)

    def record(self, state: str) -> None:
        with self.lab.writing(), self._lock:
            self._record_locked(state)

    def _record_locked(self, what: str) -> None:
        # Called with the lab's write lock (sync mode) and our own lock held: in sync mode the
        # file shows the change before any client can read it from the BMC.
        self.events.append({"t": time.time(), "outlet": str(self.number), "state": what})
        self.lab.changed_locked()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "outlets": {str(self.number): {"name": self.name, "state": self._truth}},
                "events": [dict(e) for e in self.events],
            }

    def cancel(self) -> None:
        with self._lock:
            self._generation += 1


class Lab:
    """Every chassis of one mock process, and the state file they share."""

    def __init__(self, state_file: str | None) -> None:
        self.state_file = state_file
        self.chassis: dict[str, Chassis] = {}  # address -> its (first) chassis
        self.systems: dict[str, list[Chassis]] = {}  # address -> every chassis of that BMC
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self._log_lock = threading.Lock()
        self.closed = False
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        # Due chassis changes, applied in time order by one clock thread (not a timer thread per
        # command: 200 BMCs switching at once would start 200 threads, and timers due a few ms
        # apart fire in any order under load).
        self._due: list[tuple[float, int, Chassis, int, str, list[tuple[float, str]]]] = []
        self._due_changed = threading.Condition()
        self._order = itertools.count()
        self._clock: threading.Thread | None = None
        # Every change written at once, not coalesced: for a harness that reads the file the moment
        # its client exits, or kills the mock (hwtests.netcampaign).  Costs a write per change.
        self._sync = os.environ.get("STONITH_MOCK_SYNC_STATE") == "1"
        self._save_lock = threading.Lock()

    def add(self, address: str, chassis: Chassis) -> None:
        self.chassis.setdefault(address, chassis)
        self.systems.setdefault(address, []).append(chassis)

    def note(self, address: str, what: str, **details: Any) -> None:
        """Record a protocol event of the BMC at ``address`` in its log."""
        with self._log_lock:
            self.logs.setdefault(address, []).append({"t": time.time(), "what": what, **details})
        self.changed()

    def start(self) -> None:
        self._save()
        if self.state_file:
            self._saver = threading.Thread(target=self._save_loop, name="bmc-state", daemon=True)
            self._saver.start()

    def changed(self) -> None:
        with self.writing():
            self.changed_locked()

    def writing(self) -> contextlib.AbstractContextManager[object]:
        """Held around a change in sync mode: the change and its write are one step."""
        return self._save_lock if self._sync else contextlib.nullcontext()

    def changed_locked(self) -> None:
        """A change was made under ``writing()``: write it now (sync) or soon (coalesced)."""
        if self._sync:
            if self.state_file:
                write_state(self.state_file, self.snapshot())
        else:
            self._dirty.set()

    def at(
        self, when: float, chassis: Chassis, generation: int, state: str, rest: list[tuple[float, str]]
    ) -> None:
        """Apply ``state`` to ``chassis`` at monotonic time ``when``."""
        with self._due_changed:
            heapq.heappush(self._due, (when, next(self._order), chassis, generation, state, rest))
            if self._clock is None:
                self._clock = threading.Thread(target=self._tick, name="bmc-clock", daemon=True)
                self._clock.start()
            self._due_changed.notify()

    def _tick(self) -> None:
        while not self.closed:
            with self._due_changed:
                now = time.monotonic()
                if not self._due or self._due[0][0] > now:
                    self._due_changed.wait(self._due[0][0] - now if self._due else None)
                    continue
                _, _, chassis, generation, state, rest = heapq.heappop(self._due)
            chassis.apply(generation, state, rest)

    def snapshot(self) -> dict[str, Any]:
        devices: dict[str, Any] = {}
        for address, systems in self.systems.items():
            outlets: dict[str, Any] = {}
            events: list[dict[str, Any]] = []
            for chassis in systems:
                part = chassis.snapshot()
                outlets.update(part["outlets"])
                events += part["events"]
            with self._log_lock:
                log = [dict(e) for e in self.logs.get(address, ())]
            devices[address] = {
                "outlets": outlets,
                "events": sorted(events, key=lambda e: e["t"]),
                "log": log,
            }
        first: dict[str, Any] = next(iter(devices.values()), {"outlets": {}, "events": [], "log": []})
        return {
            "devices": devices,
            "outlets": first["outlets"],
            "events": first["events"],
            "log": first["log"],
        }

    def _save_loop(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(0.2):
                self._dirty.clear()
                self._save()
                self._stop.wait(SAVE_EVERY)

    def _save(self) -> None:
        if not self.state_file:
            return
        with self._save_lock:  # the snapshot and its rename together: the last written is the newest
            write_state(self.state_file, self.snapshot())

    def close(self) -> None:
        self.closed = True
        for systems in self.systems.values():
            for chassis in systems:
                chassis.cancel()
        with self._due_changed:
            self._due_changed.notify()
        if self._clock is not None:
            self._clock.join(2.0)
        self._stop.set()
        if self._saver is not None:
            self._saver.join(2.0)
        self._save()


def delays(config: MockConfig) -> tuple[float, float]:
    off = config.options.get("off_delay")
    on = config.options.get("on_delay")
    return (
        config.relay_delay if off is None else float(off),
        config.relay_delay if on is None else float(on),
    )


def build_lab(config: MockConfig, addresses: list[str], systems: int = 1) -> Lab:
    """A lab of one BMC per address, each controlling ``systems`` chassis (outlets 1..systems)."""
    lab = Lab(config.state_file)
    names = host_names(config, systems)
    off_delay, on_delay = delays(config)
    for index, address in enumerate(addresses):
        for number in range(1, systems + 1):
            # --states sets the first BMC's chassis (the others start on).
            first = index == 0 and number <= len(config.states)
            lab.add(
                address,
                Chassis(
                    lab,
                    names[index * systems + number - 1],
                    config.states[number - 1] if first else ON,
                    faults=config.faults,
                    off_delay=off_delay,
                    on_delay=on_delay,
                    number=number,
                ),
            )
    return lab


class RunningBmcs:
    """What ``run`` returns to stonith-mock: ``info``, ``truth()``, ``close()``."""

    def __init__(self, info: dict[str, Any], lab: Lab, closers: list[Any]) -> None:
        self.info = info
        self.lab = lab
        self._closers = closers

    def truth(self) -> dict[str, Any]:
        return self.lab.snapshot()

    def close(self) -> None:
        for close in self._closers:
            with contextlib.suppress(Exception):
                close()
        self.lab.close()

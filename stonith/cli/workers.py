"""``stonith status|on|off|reset NODESET --workers N``: one command over N processes.

One Python process drives every device session of a run from one thread (stonith.contract.steps);
at thousands of BMCs that thread is the limit, one core's worth of Python, while an admin node has
many.  With ``--workers N`` the command splits its nodes into N shares and runs each share as a
``stonith`` process of its own (as pdsh fans out), then prints one table (or one JSON list) in the
order the nodes were asked for, with the worst exit code.

What keeps this safe is that each worker *is* a whole ``stonith`` command: it loads devices.d, takes
the device locks, writes the journal and the audit, reads every outlet back and keeps the deadline
like any other; a node is reported done only from its worker's own verdict, read from its JSON.
A worker that dies, is killed, prints no verdict for a node or outlives the deadline fails those
nodes (unknown is failure).  Shares follow the devices: the nodes a device is known to feed
(``[hosts]``, a BMC's node) stay in one share with every other node of that device and of the
devices linked to it through a node (dual feeds, topology levels), so a PDU still switches its
outlets in one command; nodes no device file names (found by listing a device's outlets) share one
worker.  Two workers never switch the same node; if both reach one device (a device found by
listing), its lock serialises them.

Interrupts: the workers run in their own session, so a terminal's Ctrl-C reaches this process only,
which passes each SIGINT/SIGTERM on once: the first makes every worker stop switching and read back
what it switched, a second makes them quit (as for one process).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from stonith.fencing.inventory import Inventory

# Beyond the operation's deadline: the workers' logout grace, their exit and their output.
GRACE = 5.0
# What links the nodes no device file names (found by listing outlets at run time): one worker
# lists for them all.  No device file can be named so.
FOREIGN = "\0a node no device file names"


def shares(inventory: Inventory, nodes: Sequence[str], count: int) -> list[list[str]]:
    """``nodes`` in at most ``count`` shares: linked nodes together, biggest groups spread first."""
    from stonith.fencing.engine import connected

    feeds: dict[str, list[str]] = {node: [] for node in nodes}  # node -> the devices known to feed it
    for device in inventory.devices:
        if device.hosts is not None:
            fed = list(device.hosts)
        else:
            static = device.driver.static_outlets()
            fed = [o.name.lower() for o in static if o.name] if static is not None else []
        for node in fed:
            if node in feeds:
                feeds[node].append(device.name)
    groups = connected({node: names or [FOREIGN] for node, names in feeds.items()})
    bins: list[list[str]] = [[] for _ in range(max(1, min(count, len(groups))))]
    for group in sorted(groups, key=len, reverse=True):
        min(bins, key=len).extend(group)
    return [b for b in bins if b]


def longest(inventory: Inventory) -> float:
    """How long a run without ``--timeout`` may take (every device keeps its own): each topology
    level's slowest device, and a settle and the logout on top (the engine's own bounds, level
    after level)."""
    levels: dict[int, float] = {}
    for device in inventory.devices:
        levels[device.level] = max(levels.get(device.level, 0.0), device.timeout + 2 * device.settle)
    return sum(levels.values())


def run(
    verb: str,
    shares_: list[list[str]],
    *,
    devices: str,
    timeout: float | None,
    wait: float,
    audit: str | None,
) -> tuple[list[dict[str, Any]], list[int | None]]:
    """Run one worker per share: every node's result as its worker reported it (or a failure), and
    the workers' exit statuses."""
    from stonith.fencing.nodeset import fold

    procs: list[subprocess.Popen[bytes]] = []
    outputs: list[bytes] = []
    started: list[list[str]] = []
    unstarted: list[dict[str, Any]] = []  # a worker that cannot start fails its share, not the rest
    for share in shares_:
        argv = [sys.executable, "-P", "-m", "stonith.cli.main", verb, fold(share), "--devices", devices]
        argv += ["--json", "--quiet", "--workers", "1"]
        if timeout is not None:
            argv += ["--timeout", f"{timeout:.3f}"]
        if audit is not None:
            argv += ["--audit", audit]
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True
            )
        except OSError as exc:
            unstarted += _verdicts(share, None, b"", False, f"it could not start: {exc.strerror or exc}")
            continue
        procs.append(proc)
        started.append(share)
        outputs.append(b"")
    readers = [threading.Thread(target=_read, args=(p, outputs, i), daemon=True) for i, p in enumerate(procs)]
    for reader in readers:
        reader.start()
    previous = _pass_signals_on(procs)
    try:
        end = time.monotonic() + wait
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, end - time.monotonic()))
        late = [p for p in procs if p.poll() is None]
        for proc in late:  # past the deadline: as an interrupt would, then for good
            _signal(proc, signal.SIGTERM)
        for proc in late:
            try:
                proc.wait(2.0)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for reader in readers:
        reader.join(5.0)
    results = unstarted
    for share, proc, output in zip(started, procs, outputs, strict=True):
        results += _verdicts(share, proc.returncode, output, proc in late)
    return results, [p.returncode for p in procs]


def _read(proc: subprocess.Popen[bytes], outputs: list[bytes], index: int) -> None:
    assert proc.stdout is not None
    outputs[index] = proc.stdout.read()


def _signal(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def _pass_signals_on(procs: list[subprocess.Popen[bytes]]) -> dict[int, Any]:
    """SIGINT and SIGTERM passed on to every worker's process group, once per signal received."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def forward(signum: int, frame: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                _signal(proc, signum)

    return {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}


def _verdicts(
    share: list[str], code: int | None, output: bytes, late: bool, why: str = ""
) -> list[dict[str, Any]]:
    """The worker's verdict for each node of its share; a node it gave none for has failed."""
    from stonith.contract.errors import ExitCode

    reported: dict[str, dict[str, Any]] = {}
    try:
        parsed = json.loads(output.decode("utf-8")) if output.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        parsed, why = None, "its output was not the JSON it writes"
    if isinstance(parsed, list):
        for item in parsed:
            if isinstance(item, dict) and isinstance(item.get("node"), str):
                reported[item["node"].lower()] = item
    elif isinstance(parsed, dict) and "error" in parsed:
        why = str(parsed["error"])
    if late:
        why = "it outlived the deadline and was stopped"
    elif code is not None and code < 0:
        why = f"it was killed by signal {-code}"
    results = []
    for node in share:
        if node in reported:
            results.append(reported[node])
            continue
        exit_code = int(parsed["exit_code"]) if isinstance(parsed, dict) and "exit_code" in parsed else None
        results.append(
            {
                "node": node,
                "verb": "",
                "result": "failed",
                "state": "unknown",
                "level": None,
                "message": f"no verdict from its worker process (exit {code}"
                + (f"; {why}" if why else "")
                + ")",
                "exit_code": exit_code or int(ExitCode.S_OOPS),
                "duration": 0.0,
                "devices": [],
            }
        )
    return results

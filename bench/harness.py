"""Times whole commands over repeated runs; medians and ratios against peers timed in the same run.

A :class:`Row` is one of our commands plus the peer commands it is compared with.  The runner
runs them interleaved (ours, peer 1, peer 2, ..., ours, peer 1, ...) so that machine noise falls
on all of them alike, after a few warm-up rounds that are run the same way but not recorded.
Each run is timed with :func:`time.perf_counter` around :func:`subprocess.run`, with standard
input, output and error on ``/dev/null``: what is measured is start-up plus work plus exit, as a
user (or Pacemaker) sees it.

A command that is not installed is reported as missing; one that exits with an unexpected status
is reported as failed, with its status, and is not timed further.  Neither stops the other
commands of the row.  Not a unit test and not tied to any tool: ``hyperfine`` is not needed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from string import Template
from typing import Any, Literal

#: How one command is run once: ``(argv, env) -> (exit status, seconds)``.  Replaceable in tests.
Executor = Callable[[Sequence[str], Mapping[str, str]], tuple[int, float]]

Status = Literal["ok", "missing", "failed"]
Verdict = Literal["ok", "FAIL", "unchecked"]


@dataclass(frozen=True)
class Command:
    """One command line, with the label it is reported under."""

    label: str
    argv: tuple[str, ...]
    #: Exit statuses that count as success (``stonith -S`` of a powered-off host exits 1, say).
    ok_returncodes: frozenset[int] = frozenset({0})

    def __init__(self, label: str, argv: Sequence[str], ok_returncodes: Sequence[int] = (0,)) -> None:
        if not argv:
            raise ValueError(f"command {label!r} has an empty argv")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "argv", tuple(argv))
        object.__setattr__(self, "ok_returncodes", frozenset(ok_returncodes))


@dataclass(frozen=True)
class Row:
    """One benchmark row: our command, the peers it is compared with, and optional limits.

    ``limits`` maps a peer's label to the largest allowed ratio ours/peer of the medians (checked
    by ``--check``).  ``setup`` runs once before the row (start a mock, say) and may return
    substitutions for ``$name`` / ``${name}`` placeholders in every argv item and ``env`` value
    (a port picked at run time); ``teardown`` runs once after it, even when the row failed.
    """

    name: str
    argv: Sequence[str]
    peers: Sequence[Command] = ()
    limits: Mapping[str, float] = field(default_factory=dict)
    setup: Callable[[], Mapping[str, str] | None] | None = None
    teardown: Callable[[], None] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ok_returncodes: Sequence[int] = (0,)
    #: Overrides ``--runs`` / ``--warmup`` for a row that is slow by nature.
    runs: int | None = None
    warmup: int | None = None

    def __post_init__(self) -> None:
        labels = [self.name, *(p.label for p in self.peers)]
        if len(set(labels)) != len(labels):
            raise ValueError(f"row {self.name!r}: command labels must be unique: {labels}")
        unknown = set(self.limits) - {p.label for p in self.peers}
        if unknown:
            raise ValueError(f"row {self.name!r}: limits name unknown peers {sorted(unknown)}")

    @property
    def ours(self) -> Command:
        return Command(self.name, self.argv, self.ok_returncodes)

    def commands(self) -> list[Command]:
        """Ours first, then the peers in their declared order: the order of every round."""
        return [self.ours, *self.peers]


@dataclass
class Measurement:
    """What became of one command of a row."""

    command: Command
    argv: tuple[str, ...]  # after placeholder substitution
    status: Status = "ok"
    returncode: int | None = None
    samples: list[float] = field(default_factory=list)  # seconds, timed runs only

    @property
    def timed(self) -> bool:
        return self.status == "ok" and bool(self.samples)

    def median_ms(self) -> float | None:
        return statistics.median(self.samples) * 1000 if self.timed else None

    def p10_ms(self) -> float | None:
        return percentile(self.samples, 10) * 1000 if self.timed else None

    def p90_ms(self) -> float | None:
        return percentile(self.samples, 90) * 1000 if self.timed else None

    def describe(self) -> str:
        """The status in words, for the table."""
        if self.status == "missing":
            return "missing"
        if self.status == "failed":
            return f"failed (exit {self.returncode})"
        return "ok"


@dataclass(frozen=True)
class LimitCheck:
    peer: str
    limit: float
    ratio: float | None
    verdict: Verdict
    reason: str = ""


@dataclass
class RowResult:
    row: Row
    runs: int
    warmup: int
    ours: Measurement
    peers: list[Measurement]
    error: str = ""  # setup raised, for instance

    def ratio(self, peer_label: str) -> float | None:
        """Median of ours over the median of that peer, or None if either was not timed."""
        peer = next((p for p in self.peers if p.command.label == peer_label), None)
        if peer is None:
            return None
        return ratio(self.ours.median_ms(), peer.median_ms())

    def limit_checks(self, require_peers: bool = False) -> list[LimitCheck]:
        checks = []
        for peer_label, limit in self.row.limits.items():
            peer = next(p for p in self.peers if p.command.label == peer_label)
            r = self.ratio(peer_label)
            if self.error or not self.ours.timed:
                checks.append(LimitCheck(peer_label, limit, None, "FAIL", f"ours {self.ours.describe()}"))
            elif r is None:
                verdict: Verdict = "FAIL" if require_peers else "unchecked"
                checks.append(LimitCheck(peer_label, limit, None, verdict, f"peer {peer.describe()}"))
            else:
                checks.append(LimitCheck(peer_label, limit, r, "ok" if r <= limit else "FAIL"))
        return checks

    def passed(self, require_peers: bool = False) -> bool:
        """No declared limit failed, and our own command ran (whether or not limits are declared)."""
        if self.error or not self.ours.timed:
            return False
        return all(c.verdict != "FAIL" for c in self.limit_checks(require_peers))


# --------------------------------------------------------------------------------------------
# arithmetic


def percentile(samples: Sequence[float], pct: float) -> float:
    """Linear-interpolation percentile (numpy's default, ``statistics.quantiles`` "inclusive")."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * pct / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio(ours: float | None, peer: float | None) -> float | None:
    if ours is None or peer is None or peer <= 0:
        return None
    return ours / peer


# --------------------------------------------------------------------------------------------
# running


def run_once(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, float]:
    """Run one command to completion; its exit status and wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(env),
        check=False,
    )
    return proc.returncode, time.perf_counter() - start


def resolve(program: str, env: Mapping[str, str]) -> str | None:
    """Absolute path of an executable, or None if it is not installed."""
    if os.sep in program:
        return program if os.path.isfile(program) and os.access(program, os.X_OK) else None
    return shutil.which(program, path=env.get("PATH", os.defpath))


def _substitute(values: Sequence[str], subs: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(Template(v).safe_substitute(subs) for v in values) if subs else tuple(values)


def run_row(
    row: Row,
    runs: int,
    warmup: int,
    executor: Executor = run_once,
    progress: Callable[[str], None] | None = None,
) -> RowResult:
    """Set the row up, run warm-up rounds then ``runs`` timed rounds, tear it down."""
    runs = row.runs if row.runs is not None else runs
    warmup = row.warmup if row.warmup is not None else warmup
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, not {runs} and {warmup}")
    commands = row.commands()
    measurements = [Measurement(c, c.argv) for c in commands]
    result = RowResult(row, runs, warmup, measurements[0], measurements[1:])
    try:
        subs = dict(row.setup() or {}) if row.setup is not None else {}
    except Exception as exc:  # a broken mock must not stop the other rows
        result.error = f"setup failed: {exc!r}"
        _teardown(row, result)
        return result
    try:
        env = {**os.environ, **{k: Template(v).safe_substitute(subs) for k, v in row.env.items()}}
        for m in measurements:
            m.argv = _substitute(m.command.argv, subs)
            if resolve(m.argv[0], env) is None:
                m.status = "missing"
        for i in range(warmup + runs):
            if progress is not None:
                progress(f"{row.name}: {'warm-up' if i < warmup else 'run'} {i + 1}/{warmup + runs}")
            for m in measurements:  # interleaved: every command once per round, in a fixed order
                if m.status != "ok":
                    continue
                code, seconds = executor(m.argv, env)
                m.returncode = code
                if code not in m.command.ok_returncodes:
                    m.status = "failed"
                    m.samples.clear()
                elif i >= warmup:
                    m.samples.append(seconds)
    finally:
        _teardown(row, result)
    return result


def _teardown(row: Row, result: RowResult) -> None:
    if row.teardown is None:
        return
    try:
        row.teardown()
    except Exception as exc:
        result.error = (result.error + "; " if result.error else "") + f"teardown failed: {exc!r}"


# --------------------------------------------------------------------------------------------
# reporting


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_row(result: RowResult, require_peers: bool = False) -> str:
    checks = {c.peer: c for c in result.limit_checks(require_peers)}
    head = f"{result.row.name}   ({result.runs} runs after {result.warmup} warm-up, interleaved)"
    lines = [head]
    if result.error:
        lines.append(f"  ERROR: {result.error}")
    width = max(len(m.command.label) for m in [result.ours, *result.peers]) + 2
    lines.append(
        f"  {'command':<{width}}{'median':>9}{'p10':>9}{'p90':>9}{'ours/peer':>11}  {'limit':<16} status"
    )
    for m in [result.ours, *result.peers]:
        is_ours = m is result.ours
        r = None if is_ours else result.ratio(m.command.label)
        check = checks.get(m.command.label)
        limit = f"<={check.limit:g}x {check.verdict}" if check else ""
        status = ("ours " if is_ours else "peer " if m.status == "missing" else "") + m.describe()
        lines.append(
            f"  {m.command.label:<{width}}{_ms(m.median_ms()):>9}{_ms(m.p10_ms()):>9}{_ms(m.p90_ms()):>9}"
            f"{'' if r is None else f'{r:.2f}x':>11}  {limit:<16} {status}".rstrip()
        )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    load: list[float] | None
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "python": sys.executable,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": load,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def to_json(results: Sequence[RowResult], require_peers: bool = False) -> dict[str, Any]:
    def command(m: Measurement, r: float | None) -> dict[str, Any]:
        return {
            "label": m.command.label,
            "argv": list(m.argv),
            "status": m.status,
            "returncode": m.returncode,
            "median_ms": m.median_ms(),
            "p10_ms": m.p10_ms(),
            "p90_ms": m.p90_ms(),
            "ratio": r,  # ours/peer of medians; None for ours itself
            "samples_ms": [s * 1000 for s in m.samples],
        }

    return {
        "environment": environment(),
        "rows": [
            {
                "name": res.row.name,
                "runs": res.runs,
                "warmup": res.warmup,
                "error": res.error or None,
                "ours": command(res.ours, None),
                "peers": [command(p, res.ratio(p.command.label)) for p in res.peers],
                "limits": [
                    {
                        "peer": c.peer,
                        "limit": c.limit,
                        "ratio": c.ratio,
                        "verdict": c.verdict,
                        "reason": c.reason or None,
                    }
                    for c in res.limit_checks(require_peers)
                ],
                "passed": res.passed(require_peers),
            }
            for res in results
        ],
    }


# --------------------------------------------------------------------------------------------
# command line


def select(rows: Sequence[Row], filters: Sequence[str]) -> list[Row]:
    """Rows whose name contains any of the substrings (all rows if there are none)."""
    return [r for r in rows if not filters or any(f in r.name for f in filters)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time whole commands, interleaved with peer commands; print medians and ratios.",
    )
    p.add_argument("--runs", type=int, default=30, metavar="N", help="timed runs per command (30)")
    p.add_argument("--warmup", type=int, default=5, metavar="N", help="untimed runs first (5)")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="SUBSTR",
        help="only rows whose name contains SUBSTR (repeatable: any of them)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a row's declared limit fails or our command does not run",
    )
    p.add_argument(
        "--require-peers",
        action="store_true",
        default=os.environ.get("STONITH_REQUIRE_PEERS") == "1",
        help="with --check, a missing or failing peer with a limit fails too "
        "(default when STONITH_REQUIRE_PEERS=1)",
    )
    p.add_argument("--list", action="store_true", help="list the rows and exit")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def main(rows: Sequence[Row], argv: Sequence[str] | None = None, executor: Executor = run_once) -> int:
    args = parser().parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        print("bench: --runs must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    chosen = select(rows, args.filter)
    if args.list:
        for row in chosen:
            print(f"{row.name}: {' '.join(row.argv)}  vs  " + "; ".join(p.label for p in row.peers))
        return 0
    if not chosen:
        print(f"bench: no row matches {args.filter}", file=sys.stderr)
        return 2

    def progress(msg: str) -> None:
        if not args.quiet and sys.stderr.isatty():
            print(f"\r\033[K{msg}", end="", file=sys.stderr, flush=True)

    results = []
    for row in chosen:
        res = run_row(row, args.runs, args.warmup, executor, progress)
        if not args.quiet and sys.stderr.isatty():
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        print(format_row(res, args.require_peers) + "\n", flush=True)
        results.append(res)
    print("times in ms of wall clock; ours/peer is the ratio of medians (below 1: ours is faster)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(to_json(results, args.require_peers), f, indent=2)
            f.write("\n")
    failed = [r.row.name for r in results if not r.passed(args.require_peers)]
    if failed:
        print(f"{'FAILED' if args.check else 'not passing'}: {', '.join(failed)}")
    return 1 if args.check and failed else 0

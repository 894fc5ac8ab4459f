"""Mutation testing of the engine's verification code (issue 17): ``python -m bench.mutation``.

    .venv/bin/pip install 'cosmic-ray>=8.7'     # once (the ``test`` extra names it)
    .venv/bin/python -m bench.mutation          # about 15 min on 2 cores; exit 1: a survivor unexplained
    .venv/bin/python -m bench.mutation --report # the summary of the last run again
    .venv/bin/python -m bench.mutation --only _serve --only _Group._advance --workers 2

Not part of ``./run test`` or CI (too slow).  The tool is cosmic-ray: it mutates a file in place,
runs any command as the test, and puts the file back, which is what a package that only works
installed needs (mutmut 3 instead runs the tests in-process from a ``mutants/`` tree of its own,
which the installed ``stonith.drivers``/``stonith.mocks`` mapping and hwtests' import guard defeat).

What it does:

1. **Layout** (``build/mutation``): ``stonith/`` with ``drivers/`` and ``mocks/`` copied in as
   ``stonith/drivers`` and ``stonith/mocks``, as installed (like ``./run typecheck``); one more copy
   per extra worker (``build/mutation/work/N``); a snapshot of the engine's tests and their helpers
   (``build/mutation/suite``: tests/conftest.py, tests/stonith/fakes.py, the test files, hwtests),
   so edits in the checkout during a run change nothing.  Each test run has its worker's copy first
   on ``sys.path`` (``PYTHONPATH`` and the working directory; hwtests only takes the suite's own
   directory off ``sys.path``), its own ``STONITH_LOCK_DIR``, and no bytecode written.
2. **Self-check**: a deliberate mutant (``_success`` raising) must fail the tests, and the unmutated
   copy must pass them in every worker at once (the baseline, which also sets the per-mutant timeout).
3. **Session**: ``cosmic-ray init`` over ``stonith/fencing/engine.py``; every mutant outside the verification
   code (``TARGETS``) or inside an annotation (never evaluated: ``from __future__ import
   annotations``) is marked skipped.
4. **Run**: ``cosmic-ray exec`` with the http distributor, one worker per copy, listening on
   127.0.0.1 only; the tests are ``pytest -x`` over ``SUITE`` (see there why the rules alone).
5. **Summary**: killed / timeout / survived, and every survivor with its function, line and diff,
   marked with the reason when ``EQUIVALENT`` explains it (matched by function, line text,
   operator and place in the line).  Exit 1 if a survivor is not explained, 2 if the set-up failed.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import contextlib
import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO / "build" / "mutation"
MODULE = "stonith/fencing/engine.py"  # relative to each worker copy: cosmic-ray mutates it in place there

# The verification code: what decides whether a node is reported fenced.
TARGETS = (
    "fold",
    "Plan.targets",
    "Plan.conflicts",
    "_Group.resolved",
    "_Group.read",
    "_Group.fail",
    "_Group.expire",
    "_Group.interrupt",
    "_Group._advance",
    "_Group._device_results",
    "_device_task",
    "_serve",
    "_resolve",
    "session",
    "_judge_status",
    "_last_read",
    "_unknown_node",
    "_success",
    "Fencer._run",
    "Fencer._targets",
    "Fencer.status",
    "Fencer._status_of",
)

# The engine's rule tests over the in-memory fakes: -x stops at the first failure, so a mutant they
# kill costs a second or two, a survivor about 25 s.  They are meant to be sufficient on their own:
# in a full run with tests/stonith/test_cluster.py after them (``--tests`` twice, 32 minutes with 5
# workers) the cluster tests killed 4 mutants the rules did not (a name two devices report, a state
# compared by identity, a read during the settle time), which the rules now kill too; every other
# survivor survived both.  The cluster tests would add 35 s to every survivor.
SUITE = ("tests/stonith/test_engine_rules.py",)
SUITE_HELPERS = (
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/stonith/__init__.py",
    "tests/stonith/fakes.py",
)
PER_TEST_TIMEOUT = 30  # pytest-timeout: a mutant that hangs one test fails it instead of the whole run


@dataclass(frozen=True)
class Equivalent:
    """Survivors no test can or should kill: function, the mutated line's text, operators, where, why."""

    function: str
    line: str  # the stripped source line the mutant starts on
    operators: tuple[str, ...]  # cosmic-ray operator names without "core/"; () for any
    at: str  # the line from the mutated spot on starts with this ("": anywhere on the line)
    reason: str

    def matches(self, mutant: Mutant) -> bool:
        return (
            self.function == mutant.function
            and self.line == mutant.text
            and (not self.operators or mutant.operator in self.operators)
            and mutant.tail.startswith(self.at)
        )


# Why a survivor is equivalent (no behaviour differs) or harmless (only timing differs, no verdict).
_IS = "the values compared are the engine's own interned literals or constants: `is` is `==` for them"
_ORDER = (
    "over the values that reach it (phases 'done' < 'off' < 'on', states 'off' < 'on' < 'unknown', "
    "verbs 'off' < 'on' < 'reset') this order comparison is true exactly when the original is"
)
_DONE = "a finished node's jobs want nothing and _advance returns at once for it: visiting it changes nothing"
_CLOCK_EQ = "differs only when two float clock readings are exactly equal"
_CLOCK_MOD = "a % b is a - b while b <= a < 2b: both are monotonic clock readings seconds apart, far from 0"
_WANT = (
    "a job's want is cleared only when it reads the wanted state, or with an error that fails the "
    "node first: here want None and last == wanted coincide"
)
_LAST_PHASE = (
    "_last_read only judges nodes still pending after every level: they never reached the on "
    "phase, so all their results have one phase"
)
_TIMING = (
    "timing only (how soon an idle device wakes up, 1 ms floor): every read and command is judged the same"
)

# Known equivalent or harmless mutants (see tests/stonith/test_engine_rules.py for the killed ones).
EQUIVALENT: tuple[Equivalent, ...] = (
    Equivalent(
        "session",
        "*,",
        ("ReplaceBinaryOperator_Mul_Div",),
        "",
        "`*,` becomes `/,`: callers pass those by keyword",
    ),
    Equivalent(
        "session",
        "if not retry or attempt >= len(RETRY_BACKOFF) or deadline.remaining() <= RETRY_BACKOFF[attempt]:",
        ("ReplaceComparisonOperator_GtE_Eq", "ReplaceComparisonOperator_GtE_Is"),
        ">=",
        "attempt counts up by 1 from 0: it reaches len(RETRY_BACKOFF), a small cached int, before passing it",
    ),
    Equivalent(
        "session",
        "if not retry or attempt >= len(RETRY_BACKOFF) or deadline.remaining() <= RETRY_BACKOFF[attempt]:",
        ("ReplaceComparisonOperator_LtE_Lt",),
        "<=",
        _CLOCK_EQ,
    ),
    Equivalent(
        "Plan.targets",
        "device = found[0][0]",
        ("NumberReplacer",),
        "",
        "found holds one device's outlets only (several devices raised BadConfig above)",
    ),
    Equivalent(
        "Plan.conflicts",
        "elif len(devices) > 1:",
        ("ReplaceComparisonOperator_Gt_NotEq",),
        "",
        "by_name() holds only names a device reported: every name has at least one device",
    ),
    Equivalent(
        "_Group.resolved",
        'if part.node.phase != "done":',
        ("ReplaceComparisonOperator_NotEq_IsNot",),
        "",
        _IS,
    ),
    Equivalent(
        "_Group.resolved",
        'if part.node.phase != "done":',
        ("ReplaceComparisonOperator_NotEq_Gt",),
        "",
        _ORDER,
    ),
    Equivalent(
        "_Group.resolved",
        'job.want = OFF if part.node.phase == "off" else ON',
        ("ReplaceComparisonOperator_Eq_Is",),
        "",
        _IS,
    ),
    Equivalent(
        "_Group.resolved",
        'job.want = OFF if part.node.phase == "off" else ON',
        ("ReplaceComparisonOperator_Eq_LtE",),
        "",
        _ORDER,
    ),
    Equivalent(
        "_Group.read",
        "continue",
        ("ReplaceContinueWithBreak",),
        "",
        "the jobs after one whose node finished meanwhile miss this read and are read at the next poll",
    ),
    *(
        Equivalent(
            function, 'if part.node.phase == "done":', (f"ReplaceComparisonOperator_Eq_{op}",), "", why
        )
        for function in ("_Group.fail", "_Group.expire", "_Group.interrupt")
        for op, why in (("Is", _IS), ("Lt", _DONE), ("LtE", _ORDER))
    ),
    Equivalent(
        "_Group.expire",
        "if part.jobs is None and part.error is None:",
        ("ReplaceComparisonOperator_Is_IsNot",),
        "is None:",
        "dead branch: every way out of a device's session resolved or failed each of its parts first",
    ),
    Equivalent(
        "_Group.expire",
        "waited = now - (job.sent_at or part.node.phase_started)",
        ("ReplaceBinaryOperator_Sub_Mod",),
        "",
        _CLOCK_MOD,
    ),
    Equivalent("_Group.interrupt", "if job.want == OFF", ("ReplaceComparisonOperator_Eq_Is",), "", _IS),
    Equivalent("_Group.interrupt", "if job.want == OFF", ("ReplaceComparisonOperator_Eq_LtE",), "", _ORDER),
    Equivalent("_Group._advance", 'if node.phase == "done":', ("ReplaceComparisonOperator_Eq_Is",), "", _IS),
    Equivalent(
        "_Group._advance", 'if node.phase == "done":', ("ReplaceComparisonOperator_Eq_LtE",), "", _ORDER
    ),
    Equivalent(
        "_Group._advance",
        'wanted = OFF if node.phase == "off" else ON',
        ("ReplaceComparisonOperator_Eq_Is",),
        "",
        _IS,
    ),
    Equivalent(
        "_Group._advance",
        'wanted = OFF if node.phase == "off" else ON',
        ("ReplaceComparisonOperator_Eq_LtE",),
        "",
        _ORDER,
    ),
    Equivalent(
        "_Group._advance",
        "p.jobs is not None and p.jobs and all(j.want is None and j.last == wanted for j in p.jobs)",
        ("ReplaceAndWithOr", "ReplaceComparisonOperator_Eq_GtE", "ReplaceComparisonOperator_Eq_LtE"),
        "",
        _WANT,
    ),
    Equivalent(
        "_Group._advance",
        'if node.phase == "off" and reached and self.verb == "reset":',
        ("ReplaceComparisonOperator_Eq_Is",),
        '== "off"',
        _IS,
    ),
    Equivalent(
        "_Group._advance",
        'if node.phase == "off" and reached and self.verb == "reset":',
        ("ReplaceComparisonOperator_Eq_LtE", "ReplaceComparisonOperator_Eq_GtE"),
        "",
        _ORDER,
    ),
    Equivalent(
        "_Group._advance",
        'elif node.phase == "on" and self.verb == "reset":',
        ("ReplaceComparisonOperator_Eq_Is",),
        '== "on"',
        _IS,
    ),
    Equivalent(
        "_Group._advance",
        'elif node.phase == "on" and self.verb == "reset":',
        ("ReplaceComparisonOperator_Eq_GtE",),
        "",
        _ORDER,
    ),
    Equivalent(
        "_Group._advance",
        'bad = [d for d in result.devices if d.phase == "on" and not d.reached(ON)]',
        ("ReplaceComparisonOperator_Eq_Is",),
        "",
        _IS,
    ),
    Equivalent(
        "_Group._advance",
        'bad = [d for d in result.devices if d.phase == "on" and not d.reached(ON)]',
        ("ReplaceComparisonOperator_Eq_GtE",),
        "",
        _ORDER,
    ),
    Equivalent(
        "_Group._advance",
        "result.state = OFF if all(o.state == OFF for d in bad for o in d.outlets) else UNKNOWN",
        ("ReplaceComparisonOperator_Eq_LtE",),
        "",
        _ORDER,
    ),
    Equivalent(
        "_Group._advance",
        'states = [o.state for d in result.devices if d.phase == "on" for o in d.outlets]',
        ("ReplaceComparisonOperator_Eq_Is",),
        "",
        _IS,
    ),
    Equivalent(
        "_Group._advance",
        'states = [o.state for d in result.devices if d.phase == "on" for o in d.outlets]',
        ("ReplaceComparisonOperator_Eq_GtE", "ReplaceComparisonOperator_Eq_LtE"),
        "",
        _ORDER + "; with <= the off phase adds only OFF states, which change no verdict of this rule",
    ),
    Equivalent(
        "_Group._advance",
        "ON if ON in states else OFF if states and all(s == OFF for s in states) else UNKNOWN",
        ("ReplaceComparisonOperator_Eq_LtE",),
        "",
        _ORDER + " ('on' was taken first)",
    ),
    Equivalent(
        "_Group._advance",
        "result.exit_code = max((d.exit_code or ExitCode.S_RESETFAIL for d in bad), default=5)",
        ("NumberReplacer",),
        "5)",
        "bad is never empty here: an on-phase failure has a device result with an error",
    ),
    Equivalent(
        "_device_task",
        "if part.jobs is None and part.error is None:",
        ("ReplaceAndWithOr",),
        "",
        "a part resolved in an earlier session is resolved again in the new one: the same outlets and "
        "wanted state (or a refusal if its name moved); `last` restarts at unknown until the next read",
    ),
    Equivalent(
        "_serve",
        "next_read = 0.0",
        ("NumberReplacer",),
        "",
        "read only once a job was sent in this session, and sending sets it",
    ),
    Equivalent(
        "_serve",
        "due = [j for j in jobs if j.want == state and not j.sent and j.part.node.due <= now]",
        ("ReplaceComparisonOperator_Eq_Is",),
        "",
        _IS,
    ),
    Equivalent(
        "_serve",
        "due = [j for j in jobs if j.want == state and not j.sent and j.part.node.due <= now]",
        ("ReplaceComparisonOperator_Eq_LtE",),
        "",
        _ORDER + "; an off job is always due and sent in the off pass first",
    ),
    Equivalent(
        "_serve",
        "due = [j for j in jobs if j.want == state and not j.sent and j.part.node.due <= now]",
        ("ReplaceComparisonOperator_LtE_Lt",),
        "",
        _CLOCK_EQ,
    ),
    Equivalent(
        "_serve",
        "yield from (driver.off_many_steps if state == OFF else driver.on_many_steps)(",
        ("ReplaceComparisonOperator_Eq_Is",),
        "",
        _IS,
    ),
    Equivalent(
        "_serve",
        "yield from (driver.off_many_steps if state == OFF else driver.on_many_steps)(",
        ("ReplaceComparisonOperator_Eq_LtE",),
        "",
        _ORDER,
    ),
    Equivalent(
        "_serve", "if pending and now >= next_read:", ("ReplaceComparisonOperator_GtE_Gt",), "", _CLOCK_EQ
    ),
    Equivalent(
        "_serve",
        "if bad_reads > 1:",
        ("ReplaceComparisonOperator_Gt_NotEq",),
        "",
        "bad_reads is at least 1 right after its increment: != 1 is > 1",
    ),
    Equivalent(
        "_serve",
        "poll = min(poll * 2, POLL_MAX)",
        ("NumberReplacer",),
        "",
        "how fast polling backs off (x3 for x2, the same POLL_MAX) is tuning: reads are judged alike, "
        "the deadline bounds the wait",
    ),
    Equivalent(
        "_serve",
        "waiting = [j.part.node.due for j in jobs if not j.sent]",
        ("ReplaceUnaryOperator_Delete_Not",),
        "",
        "an on command waiting for its settle is found by the IDLE wake-up instead, 20 ms late at most",
    ),
    Equivalent(
        "_serve",
        "wake = min([next_read] if pending else [time.monotonic() + IDLE], default=0.0)",
        (),
        "",
        _TIMING + "; the default of min() is never used (its list has one item)",
    ),
    Equivalent(
        "_serve",
        "yield from steps.sleep(dl, max(wake - time.monotonic(), 0.001))",
        ("NumberReplacer",),
        "",
        _TIMING,
    ),
    Equivalent(
        "_serve",
        "yield from steps.sleep(dl, max(wake - time.monotonic(), 0.001))",
        ("ReplaceBinaryOperator_Sub_Mod",),
        "",
        _CLOCK_MOD + " (a wake already past, a microsecond race between device threads, would sleep "
        "to the deadline: not reproducible in a test)",
    ),
    Equivalent(
        "_resolve",
        "driver: Driver, outlets: Sequence[Outlet], target: Target, any_name: bool = False",
        ("ReplaceFalseWithTrue",),
        "",
        "every caller passes any_name",
    ),
    Equivalent(
        "Fencer.status",
        "result.duration = max(ends) - self._started",
        ("ReplaceBinaryOperator_Sub_Mod",),
        "",
        _CLOCK_MOD,
    ),
    Equivalent(
        "Fencer.status",
        "result.duration = time.monotonic() - self._started",
        ("ReplaceBinaryOperator_Sub_Mod",),
        "",
        _CLOCK_MOD,
    ),
    Equivalent(
        "Fencer._run",
        "errors = [d.exit_code for d in result.devices if d.error and d.exit_code]",
        ("ReplaceAndWithOr",),
        "",
        "a device result carries an exit code exactly when it carries an error",
    ),
    *(
        Equivalent(
            "_last_read",
            "if d.phase == result.devices[-1].phase and d.level == result.devices[-1].level",
            operators,
            at,
            _LAST_PHASE,
        )
        for operators, at in (
            (
                (
                    "ReplaceComparisonOperator_Eq_Is",
                    "ReplaceComparisonOperator_Eq_GtE",
                    "ReplaceComparisonOperator_Eq_LtE",
                ),
                "== result.devices[-1].phase",
            ),
            (("NumberReplacer",), "1].phase"),
            (("ReplaceUnaryOperator_USub_Not",), "-1].phase"),
        )
    ),
    Equivalent(
        "_last_read",
        "if d.phase == result.devices[-1].phase and d.level == result.devices[-1].level",
        ("ReplaceComparisonOperator_Eq_GtE", "ReplaceComparisonOperator_Eq_Is"),
        "== result.devices[-1].level",
        "results are appended level by level, ascending, and every result of a level carries the same "
        "int object: none is above the last one's level",
    ),
    Equivalent(
        "_last_read",
        "if states and all(s == OFF for s in states) and not any(d.error and not d.outlets for d in last):",
        ("ReplaceComparisonOperator_Eq_LtE",),
        "",
        _ORDER + " ('on' was returned above)",
    ),
    Equivalent(
        "_success",
        "f\"{'fenced and powered on' if result.verb == 'reset' else 'powered ' + state} at level {level}\"",
        ("ReplaceComparisonOperator_Eq_GtE",),
        "",
        _ORDER,
    ),
    Equivalent(
        "_judge_status",
        "elif states and not errors and all(s == OFF for s in states):",
        ("ReplaceComparisonOperator_Eq_LtE",),
        "",
        _ORDER + " ('on' was taken above)",
    ),
    Equivalent(
        "_judge_status",
        "if result.state == UNKNOWN:",
        ("ReplaceComparisonOperator_Eq_Is", "ReplaceComparisonOperator_Eq_GtE"),
        "",
        "result.state was just set to one of the constants ON, OFF, UNKNOWN: " + _ORDER,
    ),
)


@dataclass
class Mutant:
    job_id: str
    function: str
    line: int
    text: str
    operator: str
    occurrence: int
    column: int
    tail: str  # the source line from the mutated spot on
    outcome: str = "pending"  # killed, timeout, survived, incompetent, skipped, pending
    diff: str = ""
    output: str = ""
    explained: str = ""


@dataclass
class Layout:
    root: Path
    workers: list[Path] = field(default_factory=list)

    @property
    def suite(self) -> Path:
        return self.root / "suite"

    @property
    def original(self) -> Path:
        """The unmutated module, for reports (worker copies are mutated in place during a run)."""
        return self.root / "engine.original.py"


# -- layout ---------------------------------------------------------------------------------------


def _die(message: str) -> NoReturn:
    """A set-up failure: exit 2 (1 is kept for unexplained survivors)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def _copy_package(dest: Path) -> None:
    """``stonith`` as installed: the checkout's stonith/ with drivers/ and mocks/ inside."""
    package = dest / "stonith"
    shutil.copytree(REPO / "stonith", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "drivers", package / "drivers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "mocks", package / "mocks", ignore=shutil.ignore_patterns("__pycache__"))
    # Bytecode for everything but the module under mutation (cosmic-ray's test runs write none).
    compileall.compile_dir(package, quiet=1, rx=re.compile(re.escape(os.sep + "engine.py") + "$"))
    (dest / "locks").mkdir()


def build_layout(root: Path, workers: int, tests: Sequence[str]) -> Layout:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    layout = Layout(root)
    for index in range(workers):
        dest = root if index == 0 else root / "work" / str(index)
        dest.mkdir(parents=True, exist_ok=True)
        _copy_package(dest)
        layout.workers.append(dest)
    suite = layout.suite
    for name in (*SUITE_HELPERS, *tests):
        (suite / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, suite / name)
    shutil.copytree(REPO / "hwtests", suite / "hwtests", ignore=shutil.ignore_patterns("__pycache__"))
    # The suite's own ini makes it the rootdir: the checkout's pyproject.toml is not read.
    (suite / "pytest.ini").write_text(f"[pytest]\ntimeout = {PER_TEST_TIMEOUT}\n", encoding="utf-8")
    compileall.compile_dir(suite, quiet=1)
    shutil.copy2(root / MODULE, layout.original)
    return layout


def _version() -> str:
    """The commit the checkout is at, and whether the module differs from it."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD").stdout.strip() or "an unknown commit"
    dirty = git("diff", "--quiet", "HEAD", "--", MODULE).returncode != 0
    return head + (" with uncommitted changes" if dirty else "")


def test_command(layout: Layout, tests: Sequence[str]) -> list[str]:
    files = [str(layout.suite / t) for t in tests]
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-x",
        "-q",
        "--rootdir",
        str(layout.suite),
        *files,
    ]


def worker_env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(copy), STONITH_LOCK_DIR=str(copy / "locks"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("STONITH_REQUIRE_PEERS", None)
    return env


# -- what is mutated --------------------------------------------------------------------------------


def function_ranges(source: str) -> dict[str, tuple[int, int]]:
    """Qualified name (``Class.method`` or ``function``) -> first and last line, for ``TARGETS``."""
    out: dict[str, tuple[int, int]] = {}
    for node in ast.parse(source).body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        prefix = node.name + "." if isinstance(node, ast.ClassDef) else ""
        for member in members:
            if isinstance(member, ast.FunctionDef) and prefix + member.name in TARGETS:
                out[prefix + member.name] = (member.lineno, member.end_lineno or member.lineno)
    missing = set(TARGETS) - set(out)
    if missing:
        _die(f"bench.mutation: not found in {MODULE}: {', '.join(sorted(missing))}")
    return out


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where annotations are: never evaluated (``from __future__ import annotations``)."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            found += [node.returns, *(a.annotation for a in every if a is not None)]
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        for expr in found:
            if expr is not None:
                end = (expr.end_lineno or expr.lineno, expr.end_col_offset or 0)
                spans.append(((expr.lineno, expr.col_offset), end))
    return spans


def _cosmic(module: str) -> Any:
    """A cosmic-ray module (imported here so the rest runs, and type-checks, without it)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        _die("bench.mutation: cosmic-ray is missing: .venv/bin/pip install 'cosmic-ray>=8.7'")


def _classify(result: Any) -> str:
    if result.worker_outcome.value == "skipped":
        return "skipped"
    outcome = result.test_outcome.value if result.test_outcome is not None else "incompetent"
    if outcome == "killed" and (result.output or "").strip() == "timeout":
        return "timeout"
    return str(outcome)


def read_session(session: Path, source: str, only: Sequence[str]) -> list[Mutant]:
    """Every mutant of the session in the verification code, with its result so far."""
    work_db = _cosmic("cosmic_ray.work_db")
    ranges = {name: span for name, span in function_ranges(source).items() if not only or name in only}
    lines = source.splitlines()
    mutants = []
    with work_db.use_db(str(session), work_db.WorkDB.Mode.open) as db:
        results = dict(db.results)
        for item in db.work_items:
            (spec,) = item.mutations
            line = spec.start_pos[0]
            function = next((n for n, (a, b) in ranges.items() if a <= line <= b), "")
            mutant = Mutant(
                item.job_id,
                function,
                line,
                lines[line - 1].strip(),
                spec.operator_name.removeprefix("core/"),
                spec.occurrence,
                spec.start_pos[1],
                lines[line - 1][spec.start_pos[1] :],
            )
            result = results.get(item.job_id)
            if result is not None:
                mutant.outcome = _classify(result)
                mutant.diff, mutant.output = result.diff or "", result.output or ""
            if mutant.outcome == "skipped" or not function:
                continue
            mutants.append(mutant)
    for mutant in mutants:
        mutant.explained = next((e.reason for e in EQUIVALENT if e.matches(mutant)), "")
    return sorted(mutants, key=lambda m: (m.line, m.operator, m.occurrence))


def init_session(
    layout: Layout,
    config: Path,
    session: Path,
    source: str,
    only: Sequence[str],
    rerun: set[tuple[str, str, int]] | None = None,
) -> int:
    """``cosmic-ray init``, then skip what is not verification code (or not in ``rerun``: operator,
    line text, column); the number left to run."""
    cosmic_ray = str(Path(sys.executable).with_name("cosmic-ray"))
    subprocess.run([cosmic_ray, "init", str(config), str(session)], cwd=layout.root, check=True)
    work_db = _cosmic("cosmic_ray.work_db")
    work_item = _cosmic("cosmic_ray.work_item")
    ranges = [span for name, span in function_ranges(source).items() if not only or name in only]
    annotations = annotation_spans(source)
    lines = source.splitlines()
    skip: dict[str, list[str]] = {
        "outside the verification code": [],
        "in an annotation": [],
        "not a survivor of the run rerun": [],
    }
    left = 0
    with work_db.use_db(str(session), work_db.WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            (spec,) = item.mutations
            start, end = tuple(spec.start_pos), tuple(spec.end_pos)
            if not any(a <= start[0] <= b for a, b in ranges):
                skip["outside the verification code"].append(item.job_id)
            elif any(a0 <= start and end <= a1 for a0, a1 in annotations):
                skip["in an annotation"].append(item.job_id)
            elif rerun is not None and (
                (spec.operator_name.removeprefix("core/"), lines[start[0] - 1].strip(), start[1]) not in rerun
            ):
                skip["not a survivor of the run rerun"].append(item.job_id)
            else:
                left += 1
        for why, jobs in skip.items():
            if jobs:
                skipped = work_item.WorkResult(worker_outcome=work_item.WorkerOutcome.SKIPPED, output=why)
                db.set_multiple_results(jobs, skipped)
    return left


# -- running ----------------------------------------------------------------------------------------


def _run_tests(copy: Path, command: list[str], timeout: float) -> tuple[int, float, str]:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            cwd=copy,
            env=worker_env(copy),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, time.monotonic() - started, "timeout"
    return proc.returncode, time.monotonic() - started, proc.stdout + proc.stderr


def self_check(layout: Layout, command: list[str]) -> float:
    """A deliberate mutant must fail the tests, the unmutated copies must pass (all workers at once).

    Returns the slowest baseline run in seconds."""
    engine = layout.root / MODULE
    original = engine.read_text(encoding="utf-8")
    tree = ast.parse(original)
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_success").body[0]
    lines = original.splitlines(keepends=True)
    marker = "bench.mutation deliberate mutant"
    lines.insert(body.lineno - 1, " " * body.col_offset + f"raise AssertionError({marker!r})\n")
    engine.write_text("".join(lines), encoding="utf-8")
    try:
        code, _, output = _run_tests(layout.root, command, 300)
    finally:
        engine.write_text(original, encoding="utf-8")
    if code == 0 or marker not in output:
        _die(
            "bench.mutation: the deliberate mutant was not caught: the tests do not import the mutated "
            f"copy ({engine}).\n" + output[-3000:]
        )
    print(f"self-check: a deliberate mutant in {engine.relative_to(REPO)} fails the tests", flush=True)
    outcomes: list[tuple[int, float, str]] = [(0, 0.0, "")] * len(layout.workers)

    def one(index: int) -> None:
        outcomes[index] = _run_tests(layout.workers[index], command, 600)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(layout.workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for copy, (code, _, output) in zip(layout.workers, outcomes, strict=True):
        if code != 0:
            _die(f"bench.mutation: the unmutated tests fail in {copy}:\n{output[-3000:]}")
    slowest = max(seconds for _, seconds, _ in outcomes)
    print(
        f"baseline: the unmutated tests pass in {len(outcomes)} copies at once, slowest {slowest:.1f} s",
        flush=True,
    )
    return slowest


# An http worker of cosmic-ray's http distributor on the loopback address only (its own
# ``http-worker`` command listens on every interface).
_WORKER = """\
import sys
from aiohttp import web
from cosmic_ray.distribution.http import handle_mutate_and_test
app = web.Application()
app.add_routes([web.post("/", handle_mutate_and_test)])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def http_workers(layout: Layout) -> Iterator[list[str]]:
    """Start one worker per copy (its working directory), yield their URLs, stop them."""
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for copy in layout.workers:
            port = _free_port()
            log = open(copy / "worker.log", "wb")  # noqa: SIM115  (closed with the process below)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _WORKER, str(port)],
                    cwd=copy,
                    env=worker_env(copy),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
            urls.append(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                if procs[-1].poll() is not None or time.monotonic() > deadline:
                    _die(f"bench.mutation: worker in {copy} did not start (see worker.log)")
                time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def write_config(path: Path, command: list[str], timeout: float, urls: list[str]) -> None:
    def quote(text: str) -> str:
        return json.dumps(text)  # a TOML basic string

    import shlex

    path.write_text(
        "[cosmic-ray]\n"
        f"module-path = {quote(MODULE)}\n"
        f"timeout = {timeout:.1f}\n"
        "excluded-modules = []\n"
        f"test-command = {quote(shlex.join(command))}\n\n"
        "[cosmic-ray.distributor]\n"
        'name = "http"\n\n'
        "[cosmic-ray.distributor.http]\n"
        f"worker-urls = [{', '.join(quote(u) for u in urls)}]\n",
        encoding="utf-8",
    )


def execute(config: Path, session: Path, layout: Layout, total: int) -> None:
    """``cosmic-ray exec``, with a progress line every minute."""
    cosmic_ray = str(Path(sys.executable).with_name("cosmic-ray"))
    work_db = _cosmic("cosmic_ray.work_db")
    started = time.monotonic()
    with work_db.use_db(str(session), work_db.WorkDB.Mode.open) as db:
        skipped = db.num_results
    proc = subprocess.Popen([cosmic_ray, "exec", str(config), str(session)], cwd=layout.root)
    while True:
        try:
            proc.wait(60)
            break
        except subprocess.TimeoutExpired:
            with work_db.use_db(str(session), work_db.WorkDB.Mode.open) as db:
                done = db.num_results - skipped
            print(f"  {done}/{total} mutants after {time.monotonic() - started:.0f} s", flush=True)
    if proc.returncode != 0:
        _die(f"bench.mutation: cosmic-ray exec failed (exit {proc.returncode})")


# -- report ---------------------------------------------------------------------------------------


def _short_diff(diff: str) -> str:
    keep = [
        line
        for line in diff.splitlines()
        if (line.startswith(("-", "+")) and not line.startswith(("---", "+++"))) or line.startswith("@@")
    ]
    return "\n".join("      " + line for line in keep)


def summarize(mutants: list[Mutant], verbose: bool) -> int:
    counts: dict[str, int] = {}
    for mutant in mutants:
        counts[mutant.outcome] = counts.get(mutant.outcome, 0) + 1
    order = ("killed", "timeout", "survived", "incompetent", "pending")
    print(
        f"\n{len(mutants)} mutants of the verification code: "
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in order if counts.get(k) or k in order[:3])
    )
    survivors = [m for m in mutants if m.outcome in ("survived", "incompetent", "pending")]
    explained = [m for m in survivors if m.explained and m.outcome == "survived"]
    unexplained = [m for m in survivors if m not in explained]
    by_function: dict[str, list[int]] = {}
    for mutant in mutants:
        tally = by_function.setdefault(mutant.function, [0, 0])
        tally[0] += 1
        tally[1] += mutant in survivors
    print("\n  function                   mutants  survived")
    for name in TARGETS:
        if name in by_function:
            print(f"  {name:<26} {by_function[name][0]:>7}  {by_function[name][1]:>8}")
    if explained:
        print(f"\n{len(explained)} survivors explained (equivalent or harmless):")
        for mutant in explained:
            print(f"  {mutant.function}:{mutant.line} {mutant.operator}: {mutant.explained}")
            if verbose:
                print(_short_diff(mutant.diff))
    if unexplained:
        print(
            f"\n{len(unexplained)} survivors NOT explained: kill each with a test or explain it in EQUIVALENT"
        )
        for mutant in unexplained:
            print(
                f"  {mutant.function}:{mutant.line} {mutant.operator} #{mutant.occurrence} ({mutant.outcome})"
            )
            print(_short_diff(mutant.diff) or f"      {mutant.text}")
    else:
        print("\nevery survivor is explained")
    return 1 if unexplained else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.mutation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workers", type=int, default=5, help="parallel test runs (default 5: they mostly sleep)"
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds per mutant (default: 3x the baseline, at least 60)"
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="FUNCTION", help="only this one of TARGETS"
    )
    parser.add_argument(
        "--tests", action="append", metavar="FILE", help=f"test files (default: {' '.join(SUITE)})"
    )
    parser.add_argument("--report", action="store_true", help="summarize the last run's session, run nothing")
    parser.add_argument("--json", metavar="FILE", help="also write every mutant and its outcome as JSON")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the diff of explained survivors too"
    )
    parser.add_argument(
        "--rerun", metavar="FILE", help="only the mutants a --json FILE of an earlier run lists as survived"
    )
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help=f"where to build (default {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(TARGETS)
    if unknown:
        parser.error(f"not in TARGETS: {', '.join(sorted(unknown))}")
    tests = args.tests or list(SUITE)
    root = Path(args.dir).resolve()
    session = root / "session.sqlite"
    started = time.monotonic()
    if not args.report:
        _cosmic("cosmic_ray.work_db")
        rerun = None
        if args.rerun:
            earlier = json.loads(Path(args.rerun).read_text(encoding="utf-8"))
            rerun = {(m["operator"], m["text"], m["column"]) for m in earlier if m["outcome"] == "survived"}
        layout = build_layout(root, max(1, args.workers), tests)
        print(f"mutating {MODULE} of {_version()}", flush=True)
        command = test_command(layout, tests)
        source = layout.original.read_text(encoding="utf-8")
        baseline = self_check(layout, command)
        timeout = args.timeout or max(60.0, 3 * baseline)
        config = root / "cosmic-ray.toml"
        write_config(config, command, timeout, [])
        total = init_session(layout, config, session, source, args.only, rerun)
        print(
            f"{total} mutants to run, {len(layout.workers)} workers, {timeout:.0f} s per mutant at most",
            flush=True,
        )
        with http_workers(layout) as urls:
            write_config(config, command, timeout, urls)
            execute(config, session, layout, total)
        print(f"run time: {time.monotonic() - started:.0f} s")
    elif not session.exists():
        parser.error(f"no session at {session}: run without --report first")
    source = Layout(root).original.read_text(encoding="utf-8")
    mutants = read_session(session, source, args.only)
    if args.json:
        Path(args.json).write_text(
            json.dumps([m.__dict__ for m in mutants], indent=1) + "\n", encoding="utf-8"
        )
    return summarize(mutants, args.verbose)


if __name__ == "__main__":
    sys.exit(main())

"""``stonith status|on|off|reset|devices|check``: the cluster layer on the command line.

    stonith status [NODESET]        read every outlet of the nodes (all known nodes by default)
    stonith on|off|reset NODESET    verified power operations (see stonith.fencing.engine)
    stonith devices                 the devices of devices.d
    stonith check                   validate devices.d and log in to every device
    stonith lab                     start the mocks devices.d declares, until interrupted

Options: ``--devices DIR`` (default /etc/stonith/devices.d, or STONITH_DEVICES), ``--json``,
``--timeout SECONDS`` (overall deadline), ``--audit FILE|syslog|none``.  The exit code is the worst
of the per-node results (0 ok, 1 a node's outlets conflict in devices.d, 2 access denied, 4 unknown
node, 5 not verified, 6 timeout, 8 device unreachable or state unknown); 1 for a bad devices.d or an
audit log that cannot be opened (nothing is switched then); at least 8 when an audit record could
not be written after switching (every result shown is still right); 130 when interrupted (SIGINT or
SIGTERM: nothing more is switched, what was switched is read back, the table shows each node's
state as last read; a second interrupt quits at once).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

from stonith.contract import redact
from stonith.contract.errors import USAGE, BadConfig, ExitCode, StonithError
from stonith.render.cli_text import CHECK_TEXT, error, headers, result_line, word
from stonith.render.i18n import choose_from_argv, pinned, tr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from stonith.fencing.engine import NodeResult
    from stonith.fencing.inventory import Inventory

VERBS = ("status", "on", "off", "reset", "devices", "check", "lab")


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` reads it (COLUMNS, else the terminal of
    stdout, else 80), without importing shutil, and zlib, bz2 and lzma with it, into every command."""
    with contextlib.suppress(KeyError, ValueError):
        if int(os.environ["COLUMNS"]) > 0:
            return int(os.environ["COLUMNS"])
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
        return 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse makes a formatter for every option it adds; this one asks for the width itself."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ) -> None:
        width = _columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        if _json_wanted:  # --json: a script reads stdout; the usage error is JSON there too
            fail_json(f"{self.prog}: {message}", int(USAGE))
            raise SystemExit(int(USAGE))
        self.print_usage(sys.stderr)
        sys.stderr.write(tr("{prog}: error: {message}", prog=self.prog, message=message) + "\n")
        raise SystemExit(int(USAGE))


# Set from the raw argv before parsing: a usage error must already know whether to answer in JSON.
_json_wanted = False


def fail_json(message: str, code: int) -> int:
    """A failure as ``--json`` callers read it: one object on stdout, the exit code unchanged."""
    sys.stdout.write(json.dumps({"error": redact.text(message), "exit_code": code}) + "\n")
    return code


def _say_error(message: str, code: int) -> int:
    """An error line: JSON on stdout with --json, else ``ERROR: ...`` on stderr (translated)."""
    if _json_wanted:
        return fail_json(message, code)
    sys.stderr.write(error(redact.text(message)) + "\n")
    return code


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """``stonith VERB ...``: one sub-parser per verb, each with its own description and examples;
    every verb accepts the same options (only the ones that matter to it are shown in its help).

    ``only``: build that verb's sub-parser alone (a command names its verb first: the other six
    are never used, and building them took 1.5 ms of CPU, and shutil's import 2 ms more, of a
    one-node command's 90); usage lines and errors read the same."""
    # verb -> (summary, description, example, options shown in its help)
    verbs = {
        "status": (
            "read back every outlet of the nodes",
            "Read every outlet of each node (all nodes devices.d knows, by default) on every device, in\n"
            "parallel, and show one line per node: on, off, or unknown with the reason.  Exit 0 when\n"
            "every node could be read, else the worst per-node code.",
            "stonith status 'node[01-40],gpu[1-4]' --devices /etc/stonith/devices.d",
            ("json", "timeout", "quiet", "remote", "fold", "workers"),
        ),
        "on": (
            "switch the nodes on, verified",
            "Switch every outlet of each node on (every feed of a dual-PSU node) and read each one back\n"
            "on before reporting success.  Nodes that share no device run in parallel.",
            "stonith on node7 --timeout 60",
            ("json", "timeout", "audit", "quiet", "remote", "workers"),
        ),
        "off": (
            "switch the nodes off, verified (fence)",
            "Switch every outlet of each node off on every device that feeds it and read each one back\n"
            "off; a level that fails hands over to the node's next topology level.  A node is reported\n"
            "fenced only when all its outlets read back off.",
            "stonith off db1 --audit /var/log/stonith-audit.log",
            ("json", "timeout", "audit", "quiet", "remote", "workers"),
        ),
        "reset": (
            "power-cycle the nodes, verified (fence)",
            "Off on every feed, read back off on every feed, settle, on on every feed, read back on.\n"
            "Outlets that read back off stay off when a node fails; the next topology level is tried for\n"
            "that node only.  Exit code: the worst per-node result (see stonith --help).",
            "stonith reset 'node[1-4]' --json --timeout 120",
            ("json", "timeout", "audit", "quiet", "remote", "workers"),
        ),
        "devices": (
            "list the devices of devices.d",
            "One line per device file: name, type, topology level, address, node -> outlet map.  No\n"
            "device is contacted and no secret command is run.",
            "stonith devices --devices /etc/stonith/devices.d --json",
            ("json",),
        ),
        "check": (
            "validate devices.d and log in to every device",
            "Validate every device file, log in to every device and list its outlets (in parallel), and\n"
            "report unsafe files, weak channels and node names two devices claim.  Exit 0 when clean.\n"
            "--log also sends each row to the journal (syslog without journald) with STONITH_DEVICE and\n"
            "STONITH_RESULT fields, failures at priority err (stonith-check.timer runs it so).",
            "stonith check --timeout 10",
            ("json", "timeout", "log"),
        ),
        "lab": (
            "start the mock devices devices.d declares",
            "Start a mock (stonith-mock) for every device file with a [mock] table, on loopback, until\n"
            "interrupted; the lab's secrets come from the environment (STONITH_LAB_PASSWORD for the\n"
            "shipped devices.d).  For demos and tests: no real device is touched.",
            "STONITH_LAB_PASSWORD=lab stonith lab --devices devices.d",
            (),
        ),
    }
    root = _Parser(
        prog="stonith",
        description="Verified power control of cluster nodes (devices.d)",
        formatter_class=_Formatter,
    )
    sub = root.add_subparsers(
        dest="verb", required=True, parser_class=_Parser, metavar="{" + ",".join(verbs) + "}"
    )
    for verb, (summary, description, example, shown) in verbs.items():
        if only is not None and verb != only:
            continue
        p = sub.add_parser(
            verb,
            help=summary,
            description=description,
            epilog=f"example:\n  {example}",
            formatter_class=_Formatter,
        )

        def visible(option: str, text: str, shown: tuple[str, ...] = shown) -> str:
            return text if option in shown else argparse.SUPPRESS

        if verb in ("status", "on", "off", "reset"):
            required = verb != "status"  # on/off/reset without one: _run says so (exit 1)
            p.add_argument(
                "nodeset",
                nargs="?",
                metavar="NODESET",
                help="ClusterShell node set, e.g. node[01-40],gpu[1-4]"
                + ("" if required else " (default: all)"),
            )
        else:
            p.set_defaults(nodeset=None)
        p.add_argument(
            "--devices",
            metavar="DIR",
            default=os.environ.get("STONITH_DEVICES", "/etc/stonith/devices.d"),
            help="directory of device files (default %(default)s; environment STONITH_DEVICES)",
        )
        p.add_argument(
            "--json", action="store_true", help=visible("json", "machine-readable results on stdout")
        )
        p.add_argument(
            "--timeout",
            type=_seconds,
            metavar="SECONDS",
            help=visible(
                "timeout", "overall deadline in seconds, in (0, 86400] (default: the devices' timeout)"
            ),
        )
        p.add_argument(
            "--audit",
            metavar="FILE|journal|syslog|none",
            help=visible(
                "audit",
                "audit log: a file, 'journal', 'syslog' or 'none' (default: journal where journald runs, "
                "else syslog; or STONITH_AUDIT)",
            ),
        )
        p.add_argument(
            "--lang",
            metavar="LANG",
            help="language of tables and messages (en, de; default: LANG, LC_MESSAGES)",
        )
        p.add_argument(
            "--fold",
            action="store_true",
            help=visible("fold", "one line per state with a folded node set (on: node[1-5,7]), as PowerMan"),
        )
        p.add_argument("--quiet", "-q", action="store_true", help=visible("quiet", "no progress display"))
        p.add_argument(
            "--workers",
            type=_workers,
            default=1,
            metavar="N",
            help=visible(
                "workers",
                "split the nodes over N stonith processes (linked nodes together; default 1): for "
                "thousands of devices on a many-core host",
            ),
        )
        p.add_argument(
            "--log", action="store_true", help=visible("log", "each result also to the journal (or syslog)")
        )
        p.add_argument(
            "--remote",
            action="append",
            metavar="URL",
            help=visible(
                "remote",
                "run through the stonith service at URL (repeatable: every service is asked; token from "
                "--token-file or STONITH_TOKEN)",
            ),
        )
        p.add_argument(
            "--token-file",
            metavar="FILE",
            help=visible("remote", "bearer token for --remote (never on the command line)"),
        )
        p.add_argument(
            "--cacert",
            metavar="FILE",
            help=visible("remote", "CA certificate that signed the services' certificates"),
        )
    return root


def _workers(text: str) -> int:
    """``--workers``: 1 to 64 processes."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 64, not {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    """``--timeout``: seconds in (0, 86400]; argparse reports the ValueError's message."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 86400 seconds, not {text}")
    return value


class Progress:
    """A one-line progress display on a terminal (stderr): nodes done, and what is being waited for.

    The count is shown for multi-node work; the wait ("waiting for pdu2 outlet 5 to read back off:
    12 s") for any, since a stuck relay holds even one node for up to the whole deadline.  The engine
    reports waits from its device tasks (threads), so drawing is locked and at most every 0.5 s.
    """

    def __init__(self, total: int, enabled: bool) -> None:
        import threading

        self.total = total
        self.done = 0
        self.failed = 0
        self.enabled = enabled
        self.started = time.monotonic()
        self.wait_text = ""
        self.drawn = 0.0  # when the line was drawn last (0: never)
        self.lock = threading.Lock()

    def __call__(self, result: NodeResult) -> None:
        with self.lock:
            self.done += 1
            if not result.ok:
                self.failed += 1
            self.wait_text = ""
            self._draw()

    def waiting(self, device: str, outlet: str, state: str, seconds: float) -> None:
        # Called at every wait of every device (thousands in a big run): the text is only made for
        # a line that is drawn, at most every 0.5 s, and never when nothing is shown.
        if not self.enabled or time.monotonic() - self.drawn < 0.5:
            return
        with self.lock:
            self.wait_text = tr(
                "waiting for {device} outlet {outlet} to read back {state}: {seconds:.0f} s",
                device=device,
                outlet=outlet,
                state=word(state),
                seconds=seconds,
            )
            self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        parts = []
        if self.total > 1:
            parts.append(
                tr(
                    "{done}/{total} nodes done, {failed} failed, {seconds:.1f}s",
                    done=self.done,
                    total=self.total,
                    failed=self.failed,
                    seconds=time.monotonic() - self.started,
                )
            )
        if self.wait_text:
            parts.append(self.wait_text)
        if parts:
            # \x1b[K clears what a longer previous line left; control characters of names are escaped.
            sys.stderr.write("\r" + "; ".join(parts).translate(_CONTROLS) + "\x1b[K")
            sys.stderr.flush()
            self.drawn = time.monotonic()

    def finish(self) -> None:
        if self.enabled and self.drawn:
            sys.stderr.write("\n")


# C0 controls, DEL and C1 controls shown as \xNN: cells carry device-reported names and messages,
# and an escape sequence in one must not reach the terminal (nor a newline break the table).
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def _table(rows: list[list[str]], headers: list[str]) -> str:
    rows = [[cell.translate(_CONTROLS) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _print_results(results: list[NodeResult], as_json: bool, folded: bool = False) -> None:
    if as_json:
        sys.stdout.write(json.dumps(redact.deep([r.as_dict() for r in results]), indent=1) + "\n")
        return
    if folded:
        sys.stdout.write(redact.text(_folded(results)))
        return
    with pinned():  # the language looked up once for the table, not for each of its words
        rows = [
            [
                r.node,
                word(r.result.upper() if not r.ok else "ok"),
                word(r.state),
                str(r.level or "-"),
                f"{r.duration:.2f}s",
                result_line(r.message),
            ]
            for r in results
        ]
        table = _table(rows, headers("NODE", "RESULT", "STATE", "LEVEL", "TIME", "DETAIL"))
    sys.stdout.write(redact.text(table))


def _folded(results: list[NodeResult]) -> str:
    """PowerMan's ``pm -q`` form: one line per state, its nodes as one folded node set."""
    from stonith.fencing.nodeset import fold

    by_state: dict[str, list[str]] = {}
    for r in results:
        by_state.setdefault(r.state, []).append(r.node)
    order = ["on", "off", *sorted(s for s in by_state if s not in ("on", "off"))]
    with pinned():
        lines = [f"{word(state)}: {fold(by_state[state])}" for state in order if by_state.get(state)]
    return "".join(line.translate(_CONTROLS) + "\n" for line in lines)


def _devices(inventory: Inventory, as_json: bool) -> int:
    rows = []
    data = []
    from_device = tr("from device")  # once: a fleet lists thousands of devices
    for d in inventory.devices:
        hosts = (
            from_device if d.hosts is None else ", ".join(f"{n}:{'+'.join(o)}" for n, o in d.hosts.items())
        )
        rows.append([d.name, d.type, str(d.level), d.driver.device_name(), hosts, os.path.basename(d.path)])
        data.append(
            {
                "name": d.name,
                "type": d.type,
                "level": d.level,
                "address": d.driver.device_name(),
                "hosts": d.hosts,
                "file": d.path,
                "fleet": d.fleet,
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
    else:
        sys.stdout.write(_table(rows, headers("DEVICE", "TYPE", "LEVEL", "ADDRESS", "NODES:OUTLETS", "FILE")))
    return 0


def _check(directory: str, timeout: float | None, as_json: bool, log: bool = False) -> int:
    """Validate every file, log in to every valid device (through the engine, in parallel), report
    conflicts of node names; one row per unsafe file, bad file and weak channel too.

    The files are validated first without running any ``{ command = [...] }`` secret; only the
    devices whose files pass get their secrets resolved, since logging in needs them.
    """
    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import fan_out
    from stonith.fencing import engine
    from stonith.fencing.channels import WEAK, channel_strength
    from stonith.fencing.inventory import Inventory, UnsafeFile, scan_dir
    from stonith.fencing.prepare import resolve_secrets

    sink = None
    if log:  # opened before any device is contacted: a log that cannot be written refuses the check
        from stonith.fencing.journal import open_check_log

        sink = open_check_log()
    outcome: dict[str, dict[str, Any]] = {}
    listed, problems = scan_dir(directory, run_secret_commands=False)
    # Every device's secret commands at once, each within --timeout (or the device's own timeout).
    failed = resolve_secrets([d for d in listed if d.secret_commands], timeout)
    for secret_problems in failed.values():
        problems += secret_problems
    inventory = Inventory([d for d in listed if d.name not in failed], directory)
    file_rows = [
        _row(
            os.path.basename(problem.field.split(":", 1)[0]) or problem.field,
            "unsafe-file" if isinstance(problem, UnsafeFile) else "error",
            problem.message if isinstance(problem, UnsafeFile) else str(problem),
            int(ExitCode.S_BADCONFIG),
        )
        for problem in problems
    ]

    def probe(device: Any) -> None:
        def body(driver: Any, deadline: Deadline) -> tuple[str, list[Any]]:
            return driver.probe(deadline), driver.outlets(deadline)

        try:
            identity, outlets = engine.call(device, Deadline(timeout or device.timeout, "check"), body)
        except StonithError as exc:
            outcome[device.name] = _row(device.name, "failed", str(exc), int(exc.exit_code))
            return
        except Exception as exc:  # a driver bug fails its device's line, not the check
            outcome[device.name] = _row(
                device.name, "failed", f"internal error: {type(exc).__name__}: {exc}", 8
            )
            return
        if engine.names_from_device(device):
            plan.learned(device, outlets)
        outcome[device.name] = _row(device.name, "ok", f"{identity}, {len(outlets)} outlets", 0)
        outcome[device.name].update(identity=identity, outlets=len(outlets))

    plan = engine.Plan(inventory)
    fan_out(probe, inventory.devices, 64)
    rows = [outcome[d.name] for d in inventory.devices]
    rows += file_rows
    for device in inventory.devices:
        level, reason = channel_strength(device.driver)
        if level == WEAK:
            rows.append(_row(device.name, "weak-channel", reason, 0))
    for device in plan.named:
        if device.name in plan.listed:
            rows.append(_row(device.name, "names-from-device", _NAMES_FROM_DEVICE, 0))
    rows += [
        _row("(nodes)", "conflict", str(problem), int(ExitCode.S_BADCONFIG)) for problem in plan.conflicts()
    ]
    lines = [
        (r["device"], CHECK_TEXT[r["result"]].format(message=r["message"]), int(r["exit_code"])) for r in rows
    ]
    if as_json:  # structured: what happened is "result", the words are "message"
        sys.stdout.write(json.dumps(redact.deep(rows), indent=1) + "\n")
    else:  # the journal keeps English (lines); the table is for the reader
        shown = [[r["device"], tr(CHECK_TEXT[r["result"]], message=r["message"])] for r in rows]
        sys.stdout.write(_table(shown, headers("DEVICE", "CHECK")))
    worst = max((c for _, _, c in lines), default=0)
    if sink is not None:
        from stonith.fencing.journal import log_check

        worst = max(worst, log_check(sink, directory, lines))
    return worst


_NAMES_FROM_DEVICE = (
    "node names come from the device's outlet names: whoever can rename an outlet can move a node's fence; "
    "prefer [hosts]"
)


def _row(device: str, result: str, message: str, exit_code: int) -> dict[str, Any]:
    return {"device": device, "result": result, "message": message, "exit_code": exit_code}


def _lab(inventory: Inventory) -> int:
    import signal
    import threading

    from stonith.fencing.lab import Lab

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Lab(inventory) as lab:
        rows = [
            [
                name,
                m.info.get("type", ""),
                m.info.get("model", ""),
                str(m.info.get("address") or m.info.get("serial") or ""),
                m.state_file,
            ]
            for name, m in lab.mocks.items()
        ]
        sys.stdout.write(_table(rows, headers("DEVICE", "MOCK", "MODEL", "ADDRESS", "GROUND TRUTH")))
        sys.stdout.write("mocks running; interrupt (Ctrl-C) to stop\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


def main(argv: list[str]) -> int:
    global _json_wanted
    _json_wanted = "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
    choose_from_argv(argv)  # before parsing: argparse's own errors then come in that language
    try:
        args = parser(argv[0] if argv and argv[0] in VERBS else None).parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return _run(args)
    except StonithError as exc:
        return report(exc)


def report(exc: StonithError) -> int:
    """An expected failure on stderr (a bad devices.d: one line per file:field problem); its exit code.

    With --json, one JSON object on stdout instead (the problems joined), the exit code the same.
    """
    if isinstance(exc, BadConfig):
        if _json_wanted:
            return fail_json("; ".join(str(p) for p in exc.problems), int(ExitCode.S_BADCONFIG))
        for problem in exc.problems:
            sys.stderr.write(error(str(problem)) + "\n")
        return int(ExitCode.S_BADCONFIG)
    return _say_error(str(exc), int(exc.exit_code))


def _run(args: argparse.Namespace) -> int:
    from stonith.fencing.inventory import load_dir
    from stonith.fencing.nodeset import expand

    if args.timeout is not None and not 0 < args.timeout <= 86400:
        raise BadConfig("--timeout must be in (0, 86400]")
    # The engine matches names case-insensitively and works in lower case (devices.d's [hosts] keys
    # are lower-cased by Plan); the user's spelling comes back in the output (_operate).
    spelled = expand(args.nodeset, keep_case=True) if args.nodeset else None
    nodes = [n.lower() for n in spelled] if spelled is not None else None
    if args.verb in ("on", "off", "reset") and not nodes:
        return _say_error(tr("stonith {verb} needs a NODESET", verb=args.verb), int(USAGE))
    if args.remote:
        if args.verb not in ("status", "on", "off", "reset"):
            return _say_error(tr("--remote works with status, on, off and reset"), int(USAGE))
        from stonith.server import client

        return client.run(
            args.remote,
            args.verb,
            args.nodeset,
            token_file=args.token_file,
            cacert=args.cacert,
            timeout=args.timeout,
            as_json=args.json,
        )
    if args.verb == "check":
        return _check(args.devices, args.timeout, args.json, args.log)
    if args.verb in ("devices", "lab"):
        # Listing needs no secret: a { command = [...] } secret is not run for it.
        inventory = load_dir(args.devices, run_secret_commands=args.verb != "devices")
        return _devices(inventory, args.json) if args.verb == "devices" else _lab(inventory)
    return _operate(args, nodes, spelled)


def _operate_in_workers(args: argparse.Namespace, nodes: list[str], spelled: list[str]) -> int | None:
    """status, on, off, reset over ``--workers`` processes (stonith.cli.workers); None: the nodes
    make one share, so this process runs them itself."""
    from stonith.cli import workers
    from stonith.contract.deadline import budget
    from stonith.fencing.engine import NodeResult
    from stonith.fencing.inventory import Inventory, scan_dir

    listed, _ = scan_dir(args.devices, run_secret_commands=False)  # each worker reports the problems
    inventory = Inventory(listed, args.devices)
    shares = workers.shares(inventory, nodes, args.workers)
    if len(shares) < 2:
        return None
    timeout = budget(args.timeout) if args.timeout is not None else None
    wait = (timeout if timeout is not None else workers.longest(inventory)) + workers.GRACE
    found, codes = workers.run(
        args.verb, shares, devices=args.devices, timeout=timeout, wait=wait, audit=args.audit
    )
    by_node = {str(r["node"]).lower(): r for r in found}
    ordered = [{**by_node[node], "node": name} for node, name in zip(nodes, spelled, strict=True)]
    if args.json:
        sys.stdout.write(json.dumps(ordered, indent=1) + "\n")  # masked by the workers
    else:
        fields = ("verb", "result", "state", "level", "message", "exit_code", "duration")
        results = [NodeResult(r["node"], **{k: r[k] for k in fields if k in r}) for r in ordered]
        _print_results(results, False, args.fold)
    code = max(int(r.get("exit_code", 0)) for r in ordered)
    return INTERRUPTED if INTERRUPTED in codes else code


def _operate(args: argparse.Namespace, nodes: list[str] | None, spelled: list[str] | None = None) -> int:
    """status, on, off, reset: over the devices that loaded; a node that may depend on a broken
    device file fails naming it, every other node is fenced (stonith.fencing.prepare)."""
    if nodes and getattr(args, "workers", 1) > 1:
        code = _operate_in_workers(args, nodes, spelled or nodes)
        if code is not None:
            return code
    from stonith.contract.deadline import budget
    from stonith.fencing.audit import Audit
    from stonith.fencing.engine import Fencer, worst_exit_code
    from stonith.fencing.prepare import prepare

    # --timeout counts from the command's start: interpreter start-up under load counts too.
    if args.timeout is not None:
        args.timeout = budget(args.timeout)
    prepared = prepare(args.devices, nodes, args.timeout)
    for broken in prepared.broken:
        for file_problem in broken.problems:
            sys.stderr.write(error(str(file_problem)) + "\n")
    inventory = prepared.inventory
    timeout = args.timeout
    if timeout is not None:  # the secret commands ran inside the operation's time
        timeout = max(0.1, timeout - prepared.spent)
    audit = None
    if args.verb != "status":
        audit = Audit(args.audit)
        audit.open()  # before anything is switched: an audit that cannot be written refuses (exit 1)
        if audit.defaulted_to_none:
            message = tr("no audit log (no /dev/log); use --audit FILE to keep one")
            sys.stderr.write(tr("WARNING: {message}", message=message) + "\n")
    fencer = Fencer(inventory, timeout=timeout, audit=audit)
    progress = Progress(len(nodes or ()), sys.stderr.isatty() and not args.quiet and not args.json)
    fencer.progress = progress
    fencer.waiting = progress.waiting
    refused = {n: prepared.refused(n, args.verb) for n in nodes or () if prepared.blocking(n)}
    allowed = [n for n in nodes or () if n not in refused]
    with interruptible(fencer):
        if args.verb == "status" and nodes is None:
            results = fencer.status(None)
        elif args.verb == "status":
            results = fencer.status(allowed) if allowed else []
        else:
            results = fencer.run(args.verb, allowed) if allowed else []
    progress.finish()
    if nodes is None:  # every node: those the broken files map too, and none read through them
        seen = {r.node for r in results}
        results = [prepared.refused(r.node, "status") if prepared.blocking(r.node) else r for r in results]
        results += [prepared.refused(n, "status") for n in prepared.known_names() if n not in seen]
    else:
        by_node = {r.node: r for r in results} | refused
        results = [by_node[n] for n in nodes]
        for result, name in zip(results, spelled or nodes, strict=True):
            result.node = name  # as the user wrote it (ClusterShell and PowerMan keep case too)
    _print_results(results, args.json, args.fold)
    code = worst_exit_code(results)
    if nodes is None and prepared.broken:  # every node was asked for: a broken file's are not known
        code = max(code, int(ExitCode.S_BADCONFIG))
    for problem in fencer.audit_errors:
        sys.stderr.write(error(str(problem)) + "\n")
    if fencer.audit_errors:
        code = max(code, int(ExitCode.S_OOPS))
    if fencer.interrupted:
        sys.stderr.write(
            error(tr("interrupted; the table above shows every node's state as last read back")) + "\n"
        )
        code = INTERRUPTED
    return code


INTERRUPTED = 130  # 128 + SIGINT, as shells report an interrupted command


@contextlib.contextmanager
def interruptible(fencer: Any) -> Iterator[None]:
    """SIGINT/SIGTERM: the engine stops at its next safe point; a second one quits at once."""
    import signal

    def stop(signum: int, frame: object) -> None:
        if fencer.interrupted:
            sys.stderr.write("\nERROR: interrupted again: quitting now; node states unknown\n")
            sys.stderr.flush()
            os._exit(INTERRUPTED)
        sys.stderr.write(
            "\ninterrupted: nothing more is switched; reading back what was (interrupt again to quit now)\n"
        )
        fencer.interrupt()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""``stonith slurm-suspend|slurm-resume HOSTLIST``: Slurm's SuspendProgram and ResumeProgram.

    SuspendProgram=/usr/bin/stonith-slurm-suspend      (slurm.conf; README.md has the recipe)
    ResumeProgram=/usr/bin/stonith-slurm-resume

slurmctld runs the program as SlurmUser with one argument, the nodes in Slurm's hostlist syntax
(``n[1-3,5]``, read with stonith.fencing.nodeset), and an environment of ``SLURM_CONF`` alone (plus
``SLURM_RESUME_FILE`` for a resume): no PATH, no STONITH_* variables.  So the defaults are the
production ones (``/etc/stonith/devices.d``) and nothing else is needed on the command line.

**Return fast, switch detached.** The program checks what it can at once (the host list, the
devices.d directory, the log file, the audit log), logs ``accepted`` and exits 0 within a Python
start-up; a detached child (its own session, no longer slurmctld's) does what ``stonith off|on``
does: loads devices.d (stonith.fencing.prepare: secret commands run for the devices these nodes need, a
broken device file fails only the nodes it may map) and runs the verified ``off`` (suspend) or
``on`` (resume) through the cluster engine (stonith.fencing.engine.Fencer) under one overall deadline
(``--timeout``, counted from the program's start; default: the devices' own timeouts). Why not run
in the foreground: slurmctld tracks the program as a child for as long as it runs, and a verified
operation on many nodes waits for relays and read-backs; Slurm itself judges the outcome (a resumed
node must register within ResumeTimeout), so the program owes it only a quick start and honest
logs. Keep ``--timeout`` below ResumeTimeout (and SuspendTimeout) so a stuck device is reported
before Slurm gives up on the node. ``--foreground`` runs the work in the calling process and exits
with the engine's worst per-node code (an admin at a shell, or a site that prefers it).

**Logs, where Slurm admins look.**  Every line goes to syslog (facility daemon, identifier
``stonith-slurm-suspend`` / ``stonith-slurm-resume``: ``journalctl -t stonith-slurm-resume``) and to
a log file (``--log FILE``; default ``/var/log/slurm/stonith-power.log`` where /var/log/slurm
exists, beside slurmctld.log; ``--log none`` for syslog alone): ``accepted``, one line per node
(result, state, time, why), a summary.  The detached child's stderr goes to the log file too, so
nothing it prints is lost.  The audit log (stonith.fencing.audit, ``--audit``) records every switching as
for ``stonith on|off``.  A node whose power could not be switched and verified is set DOWN with
the reason (``scontrol update NodeName=... State=DOWN Reason="stonith: ..."``), as slurm.conf(5)
asks of a ResumeProgram that cannot restore a node (``sinfo -R`` shows why); ``--no-down`` leaves
it to Slurm's ResumeTimeout.

Exit codes (of the program slurmctld runs): 0 accepted (or, with ``--foreground``, every node
switched and verified); 1 a bad host list, a missing devices.d directory, a log file or audit log
that cannot be written (nothing switched; slurmctld logs "program exit status of 1" and the reason
is in syslog and the log file).  A broken device file, a secret that cannot be fetched or an
unknown node fails those nodes in the worker: logged, and the nodes set DOWN with the reason.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from stonith.contract.errors import USAGE, StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from stonith.fencing.audit import Audit
    from stonith.fencing.engine import NodeResult

# Which engine verb each Slurm action is: power saving is power, not a fence's reset.
VERBS = {"suspend": "off", "resume": "on"}
LOG_DIR = "/var/log/slurm"  # Debian's and the Slurm docs' directory for slurmctld.log
LOG_NAME = "stonith-power.log"
REASON_MAX = 120  # characters of a DOWN reason (sinfo -R shows one line)
SCONTROL_TIMEOUT = 10.0

# (summary, description, example) per command, shared by ``stonith --help`` and the scripts.
HELP: dict[str, tuple[str, str, str]] = {
    "suspend": (
        "Slurm SuspendProgram: power the nodes off (verified), detached",
        "Slurm's SuspendProgram (slurm.conf: SuspendProgram=/usr/bin/stonith-slurm-suspend).  Checks\n"
        "the host list and devices.d, logs 'accepted' and returns at once; a detached process switches\n"
        "every outlet of the nodes off and reads each one back.  Logs to syslog (journalctl -t\n"
        "stonith-slurm-suspend) and --log; a node that fails is set DOWN with the reason (sinfo -R).",
        "stonith slurm-suspend 'node[01-40],gpu[1-4]'\n"
        "  stonith-slurm-suspend 'n[1-3,5]'    (what slurmctld runs)",
    ),
    "resume": (
        "Slurm ResumeProgram: power the nodes on (verified), detached",
        "Slurm's ResumeProgram (slurm.conf: ResumeProgram=/usr/bin/stonith-slurm-resume).  Checks the\n"
        "host list and devices.d, logs 'accepted' and returns at once; a detached process switches every\n"
        "outlet of the nodes on and reads each one back.  Logs to syslog (journalctl -t\n"
        "stonith-slurm-resume) and --log; a node that fails is set DOWN with the reason (sinfo -R).",
        "stonith slurm-resume 'n[1-3,5]' --foreground --log none\n"
        "  stonith-slurm-resume 'n[1-3,5]'     (what slurmctld runs)",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hostlist", metavar="HOSTLIST", help="the nodes, in Slurm's syntax: n[1-3,5],gpu7")
    parser.add_argument(
        "--devices",
        metavar="DIR",
        default=os.environ.get("STONITH_DEVICES", "/etc/stonith/devices.d"),
        help="directory of device files (default %(default)s; environment STONITH_DEVICES)",
    )
    parser.add_argument(
        "--log",
        metavar="FILE|none",
        help=f"log file, appended (default {LOG_DIR}/{LOG_NAME} where {LOG_DIR} exists, else none)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="overall deadline of the detached work, in (0, 86400] (default: the devices' timeouts); "
        "keep it below ResumeTimeout and SuspendTimeout",
    )
    parser.add_argument(
        "--audit", metavar="FILE|syslog|none", help="audit log (default syslog, or STONITH_AUDIT)"
    )
    parser.add_argument(
        "--foreground",
        action="store_true",
        help="switch in this process and exit with the worst per-node code (not detached)",
    )
    parser.add_argument(
        "--no-down",
        dest="mark_down",
        action="store_false",
        help="do not set a failed node DOWN in Slurm (scontrol); Slurm's ResumeTimeout will",
    )


class PowerLog:
    """One line per event to syslog, the log file and (in the foreground) stderr."""

    def __init__(self, ident: str, path: str | None, echo: bool) -> None:
        import syslog

        self.ident = ident
        self.path = path
        self.echo = echo
        self._syslog = syslog
        syslog.openlog(ident, syslog.LOG_PID, syslog.LOG_DAEMON)

    def check(self) -> None:
        """Open the log file once (StonithError if it cannot be written): before anything is done."""
        if self.path:
            os.close(self._open())

    def _open(self) -> int:
        from stonith.contract.local_trust import UnsafePath, open_file

        assert self.path is not None
        try:
            # 0640: slurm's own logs are readable by the adm group on Debian; never writable by others
            return open_file(self.path, flags=os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode=0o640)
        except (UnsafePath, OSError) as exc:
            raise StonithError(f"log file {self.path}: {getattr(exc, 'strerror', None) or exc}") from None

    def __call__(self, text: str, error: bool = False) -> None:
        # One line per event: a device's message must not forge extra lines.
        clean = "".join(ch if ch >= " " else "?" for ch in text.replace("\n", " | "))
        self._syslog.syslog(self._syslog.LOG_ERR if error else self._syslog.LOG_NOTICE, clean)
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        line = f"[{stamp}] {self.ident}[{os.getpid()}]: {clean}\n"
        if self.path:
            with contextlib.suppress(StonithError, OSError):
                fd = self._open()
                try:
                    os.write(fd, line.encode("utf-8", "replace"))
                finally:
                    os.close(fd)
        if self.echo:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(line)
                sys.stderr.flush()

    def stderr_to_file(self) -> None:
        """The detached child: stdin and stdout on /dev/null, stderr appended to the log file."""
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        err = null
        if self.path:
            with contextlib.suppress(StonithError):
                err = self._open()
        os.dup2(err, 2)
        for fd in {null, err}:
            os.close(fd)


def default_log() -> str | None:
    return os.path.join(LOG_DIR, LOG_NAME) if os.path.isdir(LOG_DIR) else None


def main(action: str, argv: list[str] | None = None) -> int:
    """The ``stonith-slurm-suspend`` / ``stonith-slurm-resume`` scripts."""
    import argparse

    from stonith.cli.main import start_clock
    from stonith.contract import deadline

    # --timeout counts from the program's start, interpreter start-up included (as for stonith);
    # worked out now, before the work is detached: a forked child's /proc start time is the fork's.
    start_clock()
    deadline.command_started()
    _standard_streams()  # before argparse may have something to say
    _summary, description, example = HELP[action]
    parser = argparse.ArgumentParser(
        prog=f"stonith-slurm-{action}",
        description=description,
        epilog="example:\n  " + example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(USAGE) if exc.code not in (0, None) else 0
    return run(action, args)


def run(action: str, args: argparse.Namespace) -> int:
    from stonith.contract.deadline import budget
    from stonith.fencing.audit import Audit
    from stonith.fencing.nodeset import expand

    _standard_streams()
    log = PowerLog(f"stonith-slurm-{action}", _log_path(args.log), echo=args.foreground or _tty())
    verb = VERBS[action]
    try:
        if args.timeout is not None and not 0 < args.timeout <= 86400:
            raise StonithError("--timeout must be in (0, 86400]")
        nodes = expand(args.hostlist)
        if not nodes:
            raise StonithError("empty host list")
        if not os.path.isdir(args.devices):
            raise StonithError(f"{args.devices} is not a directory of device files")
        log.check()
        _default_lock_dir()
        audit = Audit(args.audit)
        audit.open()  # before anything is switched, as for stonith off
    except StonithError as exc:
        log(f"{args.hostlist}: refused, nothing switched: {_one_line(exc)}", error=True)
        if not log.echo:  # slurmctld shows nothing of it, a shell does
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"ERROR: {_one_line(exc)}\n")
        return int(USAGE)
    if args.timeout is not None:  # counted from the program's start, as stonith off counts it
        args.timeout = budget(args.timeout)
    jobs = _resume_jobs() if action == "resume" else ""
    if args.foreground:
        log(f"{args.hostlist}: {verb}{jobs}: {len(nodes)} nodes, in the foreground")
        return work(log, audit, verb, nodes, args)
    try:
        pid = _detach(log)
    except OSError as exc:
        log(f"{args.hostlist}: cannot start the worker, nothing switched: {exc}", error=True)
        return 8
    if pid is not None:
        log(f"{args.hostlist}: {verb}{jobs}: {len(nodes)} nodes accepted, worker pid {pid}")
        return 0
    code = 8
    try:
        code = work(log, audit, verb, nodes, args)
    except BaseException as exc:  # the last line of defence of a process nobody waits for
        log(f"{args.hostlist}: internal error: {type(exc).__name__}: {_one_line(exc)}", error=True)
    finally:
        os._exit(code)  # never return into the caller's stack (a test runner, the CLI's cleanup)


def work(log: PowerLog, audit: Audit, verb: str, nodes: list[str], args: argparse.Namespace) -> int:
    """The verified operation as ``stonith off|on`` runs it (stonith.fencing.prepare: secrets fetched for the
    devices these nodes need, a broken device file fails only the nodes it may map; then the engine);
    one log line per node, a summary, DOWN for every node that failed."""
    from stonith.cli.cluster_cli import interruptible
    from stonith.fencing.engine import Fencer, NodeResult, worst_exit_code
    from stonith.fencing.prepare import prepare

    started = time.monotonic()
    try:
        prepared = prepare(args.devices, nodes, args.timeout)
    except StonithError as exc:  # the directory itself is unusable: every node fails
        message = f"devices.d {args.devices}: {_one_line(exc)}"
        results = [NodeResult(n, verb, message=message, exit_code=exc.exit_code) for n in nodes]
        fencer = None
    else:
        for broken in prepared.broken:
            for problem in broken.problems:
                log(f"devices.d: {problem}", error=True)
        timeout = args.timeout
        if timeout is not None:  # secret commands ran inside the operation's time
            timeout = max(0.1, timeout - prepared.spent)
        fencer = Fencer(prepared.inventory, timeout=timeout, audit=audit)
        refused = {n: prepared.refused(n, verb) for n in nodes if prepared.blocking(n)}
        allowed = [n for n in nodes if n not in refused]
        with interruptible(fencer):  # SIGTERM: nothing more is switched, what was is read back
            done = fencer.run(verb, allowed) if allowed else []
        by_node = {r.node: r for r in done} | refused
        results = [by_node[n] for n in nodes]
    for result in results:
        detail = f": {result.message}" if result.message and not result.ok else ""
        log(
            f"{result.node}: {verb} {result.result}, state {result.state}, {result.duration:.2f} s{detail}",
            error=not result.ok,
        )
    for audit_problem in fencer.audit_errors if fencer else []:
        log(f"audit: {audit_problem}", error=True)
    failed = [r for r in results if not r.ok]
    log(
        f"{args.hostlist}: {verb}: {len(results) - len(failed)} ok, {len(failed)} failed "
        f"in {time.monotonic() - started:.2f} s",
        error=bool(failed),
    )
    if failed and args.mark_down:
        mark_down(log, failed, args.hostlist, verb)
    return worst_exit_code(results)


def mark_down(log: PowerLog, failed: Sequence[NodeResult], hostlist: str, verb: str) -> None:
    """``scontrol update NodeName=... State=DOWN Reason=...``: one call per distinct reason."""
    import shutil
    import subprocess

    # Slurm gives the program no PATH: look where Debian and source builds install scontrol.
    scontrol = shutil.which("scontrol", path=os.environ.get("PATH") or "/usr/bin:/usr/local/bin:/bin")
    if not scontrol:
        log("cannot set failed nodes DOWN: scontrol not found", error=True)
        return
    names = _original_names(hostlist)
    by_reason: dict[str, list[str]] = {}
    for result in failed:
        reason = f"stonith: power {verb} {result.result}: {_one_line(result.message) or result.state}"
        by_reason.setdefault(reason[:REASON_MAX], []).append(names.get(result.node, result.node))
    for reason, nodes in by_reason.items():
        argv = [scontrol, "update", f"NodeName={','.join(nodes)}", "State=DOWN", f"Reason={reason}"]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=SCONTROL_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log(f"scontrol update {','.join(nodes)} State=DOWN: {exc}", error=True)
            continue
        if done.returncode:
            log(f"scontrol update {','.join(nodes)} State=DOWN: {_one_line(done.stderr)}", error=True)
        else:
            log(f"{','.join(nodes)}: set DOWN in Slurm ({reason})", error=True)


def _detach(log: PowerLog) -> int | None:
    """Fork twice: None in the detached grandchild, its pid in the caller (OSError if it failed).

    The grandchild has its own session (no terminal, no signal meant for slurmctld's process
    group) and is not slurmctld's child, so slurmctld neither waits for it nor kills it."""
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    child = os.fork()
    if child:
        os.close(write_end)
        os.waitpid(child, 0)
        with os.fdopen(read_end, "rb") as pipe:
            text = pipe.read().decode()
        if not text.isdigit():
            raise OSError("the detached worker did not start")
        return int(text)
    try:
        os.close(read_end)
        os.setsid()
        grandchild = os.fork()
        if grandchild:
            os.write(write_end, str(grandchild).encode())
            os._exit(0)
        os.close(write_end)
        log.stderr_to_file()
    except BaseException:
        os._exit(8)
    return None


def _standard_streams() -> None:
    """slurmctld starts the program with stdin, stdout and stderr closed: put /dev/null there, or
    the first file opened would become fd 1 or 2, and Python has None for sys.stdout/stderr."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 - lives as long as the process


def _log_path(option: str | None) -> str | None:
    if option == "none":
        return None
    return option or default_log()


def _tty() -> bool:
    with contextlib.suppress(OSError, ValueError):
        return sys.stderr.isatty()
    return False


def _default_lock_dir() -> None:
    """Slurm passes no XDG_RUNTIME_DIR: a SlurmUser other than root uses /run/user/UID when systemd
    made it (``loginctl enable-linger slurm``); stonith.fencing.locks checks it and says what is missing."""
    if os.geteuid() == 0 or os.environ.get("STONITH_LOCK_DIR") or os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = f"/run/user/{os.geteuid()}"
    if os.path.isdir(runtime):
        os.environ["XDG_RUNTIME_DIR"] = runtime


def _resume_jobs() -> str:
    """`` for job(s) 12,13`` from SLURM_RESUME_FILE (JSON; readable only while slurmctld waits)."""
    path = os.environ.get("SLURM_RESUME_FILE")
    if not path:
        return ""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        ids = [str(int(job["job_id"])) for job in data.get("jobs", [])]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return ""
    return f" for job(s) {','.join(ids[:20])}{',...' if len(ids) > 20 else ''}" if ids else ""


def _original_names(hostlist: str) -> dict[str, str]:
    """The engine folds node names to lower case; scontrol wants Slurm's own spelling."""
    try:
        from ClusterShell.NodeSet import NodeSet

        return {name.lower(): name for name in NodeSet(hostlist)}
    except Exception:  # no ClusterShell, or a set only our parser reads: names as the engine has them
        return {}


def _one_line(value: object) -> str:
    return " ".join(str(value).split())

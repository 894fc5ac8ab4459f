"""HPC head to head: FreeIPMI's ``ipmipower`` and ``stonith`` on the same IPMI mock BMCs.

    python -m bench.hpc [--bmcs 200,1000] [--suites 3,17] [--runs 5] [--per-mock 200]
                        [--relay-delay 0] [--verbs status,off,on,reset]

For each count of BMCs, starts the IPMI mocks (``stonith-mock ipmilan --spread ips``, ``--per-mock``
BMCs per process as each real BMC has its own processor), each BMC on its own loopback address
(127.1.K.1, 127.1.K.2, ...) and, as root, on port 623, so that unmodified ipmipower addresses them
as real BMCs (otherwise on random ports, named HOST:PORT).  It writes a devices.d (one ipmilan file
per BMC, the cipher suite of the row) and a FreeIPMI config file (mode 0600: the password is never
on argv), then times, interleaved (ours, peer 1, peer 2, ours, ...), with the peers:

    status   stonith status NODES        ipmipower --stat
    off      stonith off NODES           ipmipower --off     and  ipmipower --off --wait-until-off
    on       stonith on NODES            ipmipower --on      and  ipmipower --on --wait-until-on
    reset    stonith reset NODES         ipmipower --reset (a hard reset: chassis control 3)

Before every timed off (on) run every BMC is switched on (off) by an untimed ipmipower, so each
run really switches.  Wall seconds and CPU seconds (user + system of the process, from wait4) are
medians over the runs; the ratios are ours / ipmipower.  What each side verifies:

- ``stonith off|on`` switches every BMC and reads the power state back (Get Chassis Status) until it
  is the one asked for; ``reset`` is off, read back off, settle (``--settle``), on, read back on.
- ``ipmipower --off|--on|--reset`` reports ``ok`` when the BMC acknowledged the Chassis Control
  command (completion code 0); the IPMI spec lets the power change come later, and nothing is read
  back.  ``--wait-until-off|on`` then polls the power state until it changed: the like-for-like
  peer of ours.  ``--stat`` and ``stonith status`` both read Get Chassis Status once per BMC.

ipmipower (FreeIPMI 1.6.10) loses output lines at thousands of hosts when its stdout is a pipe or a
file (5,000 BMCs: 2,248-4,532 of 5,000 ``--stat`` lines, exit 0; all 5,000 on a terminal), though
every BMC was switched (read back afterwards): such runs are timed, and the lines lost are shown.

The mocks switch after ``--relay-delay`` (default 0: the protocol's cost alone).  Goal (issue 25):
ours <= 1.0x ipmipower's wall at 1,000 BMCs for status and off.  Not a timed unit test: it reports,
it asserts nothing.  ``stonith`` opens a UDP socket per BMC: with 5,000 BMCs the open-file limit
must allow it (``ulimit -n 20000`` before running; this bench says so and does not raise it).
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

STONITH = str(Path(sys.executable).with_name("stonith"))
USER, PASSWORD = "admin", "hpc-bench-pw"
BASE = ipaddress.ip_address("127.1.0.1")  # chunk K of BMCs: 127.1.K.1 upward (no .0 or .255)


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float
    code: int
    bad: int  # hosts whose answer was not the expected one
    lost: int = 0  # ipmipower: hosts with no output line at all (see main's note)


@dataclass
class Command:
    label: str
    argv: list[str]
    expect: str  # ipmipower: the answer every host must give ("" for ours: exit 0)
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float:
        """Over the runs that succeeded: a failed run is counted as an error, never timed."""
        good = [getattr(s, attr) for s in self.samples if not s.code and not s.bad]
        return statistics.median(good) if good else float("nan")


def run(argv: list[str], env: dict[str, str], expect: str, hosts: int) -> Sample:
    """One command: wall clock, its own CPU seconds and peak RSS (wait4: RUSAGE_CHILDREN's ru_maxrss
    is the largest of every child so far, not this one's), and its answers."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except OSError as exc:  # e.g. the shared venv being reinstalled meanwhile: an error, not a crash
            sys.stderr.write(f"bench.hpc: {argv[0]}: {exc}\n")
            return Sample(float("nan"), float("nan"), float("nan"), 127, 0)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, problems = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    bad = lost = 0
    why = ""
    if expect or argv[0] != STONITH:  # ipmipower: one "host: answer" line per host
        answers = collections.Counter(line.rpartition(": ")[2] for line in text.splitlines() if ": " in line)
        lost = hosts - sum(answers.values())
        bad = sum(n for a, n in answers.items() if expect and a != expect)
        why = ", ".join(f"{n} {a!r}" for a, n in answers.most_common() if expect and a != expect)
    elif code:  # ours: the table's failed rows (NODE RESULT STATE LEVEL TIME DETAIL)
        failed = [row.split(None, 5) for row in text.splitlines()[1:] if row.split()[1:2] != ["ok"]]
        reasons = collections.Counter(f"{r[1]}: {r[5] if len(r) > 5 else ''}" for r in failed)
        why = f"{len(failed)} nodes failed: " + "; ".join(f"{n} x {r}" for r, n in reasons.most_common(3))
    if code or bad:
        sys.stderr.write(f"bench.hpc: {' '.join(argv[:2])}: exit {code}, {bad} unexpected answers {why}\n")
        sys.stderr.write(problems[-1500:])
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code, bad, lost)


class Lab:
    """The mock BMCs of one size, a devices.d per cipher suite, the ipmipower host list."""

    def __init__(self, stack: ExitStack, tmp: Path, count: int, per_mock: int, relay_delay: float) -> None:
        from stonith.mocks.harness import start_mock

        self.count = count
        self.width = len(str(count))
        self.names = [f"bmc{i:0{self.width}d}" for i in range(1, count + 1)]
        port = 623 if os.geteuid() == 0 and _free_udp(str(BASE), 623) else 0
        self.addresses: list[str] = []
        ranges: list[str] = []
        for chunk_index, first in enumerate(range(0, count, per_mock)):
            chunk = self.names[first : first + per_mock]
            start = BASE + 256 * chunk_index
            mock = stack.enter_context(
                start_mock(
                    "ipmilan",
                    subprocess_=True,
                    count=len(chunk),
                    spread="ips",
                    listen=f"{start}:{port}",
                    hosts=chunk,
                    username=USER,
                    password=PASSWORD,
                    relay_delay=relay_delay,
                    state_file=None,  # no ground-truth file: instrumentation real BMCs do not pay
                )
            )
            self.addresses += mock.info.get("addresses", [mock.address])
            prefix = str(start).rpartition(".")[0]
            ranges.append(f"{prefix}.[1-{len(chunk)}]")
        # FreeIPMI's host ranges when every BMC is on 623, else every HOST:PORT
        self.hosts = ",".join(ranges) if port == 623 else ",".join(self.addresses)
        self.port = port
        self.nodeset = f"bmc[{1:0{self.width}d}-{count:0{self.width}d}]"
        self.tmp = tmp
        self.config = tmp / "freeipmi.conf"
        self.config.write_text(f"username {USER}\npassword {PASSWORD}\n")
        self.config.chmod(0o600)

    def devices(self, suite: int, settle: float, min_interval: float | None, fleet: bool = False) -> Path:
        directory = self.tmp / f"devices.d-{suite}-{min_interval}-{'fleet' if fleet else 'files'}"
        # min_interval: the driver's pause between two commands to one BMC (default 0.2 s)
        pacing = "" if min_interval is None else f"min_interval = {min_interval}\n"
        if fleet and not directory.exists():
            # One fleet file (stonith.fencing.fleet), as ipmipower takes one host range: the node set
            # of the BMCs' names and the node set of their addresses, member i at address i.
            directory.mkdir()
            (directory / "bmcs.toml").write_text(
                f'type = "ipmilan"\nsettle = {settle}\ntimeout = 60\n[fleet]\nnodes = "{self.nodeset}"\n'
                f'ipaddr = "{self.hosts}"\n[parameters]\nlogin = "{USER}"\ncipher = "{suite}"\n{pacing}'
                '[secrets]\npassword = { env = "HPC_BENCH_PW" }\n'
            )
        if not directory.exists():
            directory.mkdir()
            for name, address in zip(self.names, self.addresses, strict=True):
                (directory / f"{name}.toml").write_text(
                    f'type = "ipmilan"\nsettle = {settle}\ntimeout = 60\n[parameters]\nhostname = "{name}"\n'
                    f'ipaddr = "{address}"\nlogin = "{USER}"\ncipher = "{suite}"\n{pacing}'
                    '[secrets]\npassword = { env = "HPC_BENCH_PW" }\n'
                )
        return directory


def _free_udp(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ipmipower(lab: Lab, suite: int, *action: str) -> list[str]:
    program = _which("ipmipower")
    return [
        program,
        "-D",
        "LAN_2_0",
        "-I",
        str(suite),
        "-h",
        lab.hosts,
        "--config-file",
        str(lab.config),
        *action,
    ]


def _which(program: str) -> str:
    import shutil

    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if not found:
        sys.exit(f"bench.hpc: {program} not found (Debian package freeipmi-tools)")
    return found


def row(lab: Lab, suite: int, verb: str, env: dict[str, str], args: argparse.Namespace) -> list[Command]:
    runs, warmup = args.runs, args.warmup
    devices = lab.devices(suite, args.settle, args.min_interval, args.fleet)
    spread = ["--workers", str(args.workers)] if args.workers > 1 else []
    label = f"stonith {verb}" + (f" --workers {args.workers}" if spread else "")
    ours = Command(label, [STONITH, verb, lab.nodeset, "--devices", str(devices), "--quiet", *spread], "")
    if verb == "status":
        peers = [Command("ipmipower --stat", ipmipower(lab, suite, "--stat"), "")]
    elif verb in ("off", "on"):
        peers = [
            Command(f"ipmipower --{verb}", ipmipower(lab, suite, f"--{verb}"), "ok"),
            Command(
                f"ipmipower --{verb} --wait-until-{verb}",
                ipmipower(lab, suite, f"--{verb}", f"--wait-until-{verb}"),
                "ok",
            ),
        ]
    else:
        peers = [Command("ipmipower --reset", ipmipower(lab, suite, "--reset"), "ok")]
    # the opposite state before each timed switching run, untimed
    prepare = {"off": "--on", "on": "--off", "reset": "--on"}.get(verb)
    commands = [ours, *peers]
    for round_index in range(warmup + runs):
        for command in commands:
            if prepare:
                run(ipmipower(lab, suite, prepare), env, "ok", lab.count)
            sample = run(command.argv, env, command.expect, lab.count)
            if round_index >= warmup:
                command.samples.append(sample)
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hpc", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bmcs", default="200,1000", help="BMC counts, comma-separated (default %(default)s)"
    )
    parser.add_argument("--suites", default="3,17", help="RMCP+ cipher suites (default %(default)s)")
    parser.add_argument("--verbs", default="status,off,on,reset", help="default %(default)s")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default %(default)s)")
    parser.add_argument(
        "--per-mock", type=int, default=200, help="BMCs per mock process (default %(default)s)"
    )
    parser.add_argument("--relay-delay", type=float, default=0.0, help="mock power delay, s (default 0)")
    parser.add_argument("--settle", type=float, default=0.0, help="devices' settle for reset, s (default 0)")
    parser.add_argument(
        "--min-interval",
        type=float,
        default=None,
        help="ipmilan's min_interval between two commands to one BMC (default: the driver's, 0.2 s)",
    )
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="ours reads the BMCs from one fleet file (a node set of names and one of addresses, as "
        "ipmipower takes a host range) instead of one device file per BMC",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="ours with --workers N (N stonith processes; default 1)",
    )
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.bmcs.split(",") if n]
    suites = [int(s) for s in args.suites.split(",") if s]
    verbs = [v for v in args.verbs.split(",") if v]
    _which("ipmipower")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * max(sizes) + 200:
        sys.exit(
            f"bench.hpc: the open-file limit is {soft}, too low for {max(sizes)} BMCs (a socket each): "
            f"run 'ulimit -n {2 * max(sizes) + 200}' (or raise LimitNOFILE / nofile in limits.conf) first"
        )
    load_before = os.getloadavg()
    print(
        f"bench.hpc: {os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"open-file limit {soft}, {'one fleet file' if args.fleet else 'one device file per BMC'}, "
        f"{args.workers} stonith worker(s), "
        f"relay delay {args.relay_delay} s, settle {args.settle} s, min_interval "
        f"{'driver default' if args.min_interval is None else args.min_interval}, "
        f"{args.runs} runs after {args.warmup} warm-up (medians), {time.strftime('%Y-%m-%d %H:%M')}"
    )
    results: list[tuple[int, int, str, list[Command]]] = []
    for size in sizes:
        with ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stonith-hpc-")))
            env = dict(
                os.environ,
                HPC_BENCH_PW=PASSWORD,
                STONITH_AUDIT=str(tmp / "audit.jsonl"),  # on, as in production
                STONITH_LOCK_DIR=str(tmp / "locks"),
            )
            started = time.monotonic()
            lab = Lab(stack, tmp, size, args.per_mock, args.relay_delay)
            where = "port 623" if lab.port == 623 else "random ports"
            print(
                f"\n{size} BMCs in {len(range(0, size, args.per_mock))} mock processes on {where} "
                f"(started in {time.monotonic() - started:.1f} s)"
            )
            # what ours pays before talking to any BMC: start-up and reading N device files
            listing = [
                STONITH,
                "devices",
                "--devices",
                str(lab.devices(suites[0], args.settle, args.min_interval, args.fleet)),
            ]
            loads = [run(listing, env, "", size).wall for _ in range(3)]
            print(
                f"  stonith devices (start-up + {size} device files, no BMC asked): "
                f"{statistics.median(loads):.3f} s"
            )
            for suite in suites:
                print(f"  cipher suite {suite}")
                print(
                    f"    {'command':40} {'wall s':>8} {'CPU s':>7} {'RSS MB':>7}  {'ours/peer wall':>14} "
                    f"{'CPU':>6}  errors"
                )
                for verb in verbs:
                    commands = row(lab, suite, verb, env, args)
                    results.append((size, suite, verb, commands))
                    _print_row(commands)
    _print_goals(results)
    load_after = os.getloadavg()
    print(f"\nload after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    return 0


def _print_row(commands: list[Command]) -> None:
    ours = commands[0]
    for command in commands:
        ratio = cpu_ratio = ""
        if command is not ours:
            ratio = f"{ours.median('wall') / command.median('wall'):.2f}x"
            cpu_ratio = f"{ours.median('cpu') / command.median('cpu'):.2f}x"
        errors = sum(1 for s in command.samples if s.code or s.bad)
        lost = max((s.lost for s in command.samples), default=0)
        note = (f"{errors} " if errors else "") + (f"(up to {lost} lines lost)" if lost else "")
        print(
            f"    {command.label:40} {command.median('wall'):8.3f} {command.median('cpu'):7.3f} "
            f"{command.median('rss_mb'):7.1f}  {ratio:>14} {cpu_ratio:>6}  {note}"
        )


def _print_goals(results: list[tuple[int, int, str, list[Command]]]) -> None:
    print("\nGoal: ours <= 1.0x ipmipower's wall at 1,000 BMCs for status and off")
    for size, suite, verb, commands in results:
        if size != 1000 or verb not in ("status", "off"):
            continue
        ours, peer = commands[0], commands[1]
        ratio = ours.median("wall") / peer.median("wall")
        print(
            f"  {verb:6} suite {suite:2}: {ratio:.2f}x {peer.label}: {'met' if ratio <= 1.0 else 'NOT met'}"
        )


if __name__ == "__main__":
    sys.exit(main())

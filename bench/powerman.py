"""PowerMan head to head: ``powermand``/``pm`` and ``stonith`` on the same BayTech mocks.

    python -m bench.powerman [--pdus 42] [--outlets 24] [--nodes 1000] [--runs 3]
                             [--relay-delay 0.2] [--settle 0.5] [--verbs status,cycle,cycle-full]

Issue 25 item 2.  Starts ``--pdus`` BayTech mocks in the RPC3-NC personality (``stonith-mock baytech
--model rpc3-nc``: no login, no confirmation, as PowerMan's ``baytech-rpc3-nc.dev`` assumes), one
process each, two sessions each (powermand keeps one open for its whole life; ours opens its own),
and puts nodes n1..nN on their outlets in order.  Then, interleaved (ours, PowerMan, ours, ...):

    status       stonith status --fold n[1-N]   pm -q
    cycle        stonith reset n[1-N]           pm -c n[1-N]
    cycle-full   stonith reset n[1-F]           pm -c n[1-F]   (F: the nodes on full PDUs only)

powermand (Debian 2.3.27) runs in the foreground on a private port with a powerman.conf in a temp
dir, with its script delays as shipped (no ``-Y``).  The shipped ``baytech-rpc3-nc.dev`` names
plugs 1-8 (the RPC3-20NC has 8 outlets): with more outlets per unit, the spec is read from
/etc/powerman at run time and only its plug-name list is widened to the unit's outlets; every
send, expect, delay and the timeout stay PowerMan's.  The mocks' outlets keep their default-style
names ``Outlet  N`` (two blanks), which that script's status regex requires.

What each side verifies, for the cycle:

- ``stonith reset``: per device, ``off`` (``off 0`` when every outlet is wanted), the status table
  read back until every wanted outlet shows Off, ``--settle`` seconds, ``on``, read back until On.
- PowerMan's ``cycle`` / ``cycle_all`` script: ``off N`` (``off 0``), expect the prompt,
  ``delay 4``, ``on N`` (``on 0``), expect the prompt.  Nothing is read back: success is the
  device's prompt after each command.  ``cycle_all`` runs only when every plug the spec names is
  targeted (a partly used PDU never gets it); otherwise one ``cycle`` per plug, one after another.

Correctness is judged from the mocks' ground truth (their state files): every node's outlet must
have gone off and then on during the run, and be on afterwards; no other outlet may have moved.
Wall seconds and CPU seconds (user + system of the client process from its rusage; powermand's
own CPU from /proc/PID/stat) are medians; ratios are ours / PowerMan.  Goal (issue 25): the cycle
of all nodes <= 0.5x PowerMan's wall with our verification on.  Not a timed unit test: it reports,
it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stonith.mocks.harness import MockHandle

STONITH = str(Path(sys.executable).with_name("stonith"))
SHIPPED_SPEC = Path("/etc/powerman/baytech-rpc3-nc.dev")
SPEC_NAME = "baytech-rpc3-nc"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    wall: float
    cpu: float  # the client process (stonith, or pm)
    daemon_cpu: float  # powermand during the run (0 for ours: it has no daemon)
    code: int
    ok: bool  # the ground truth (cycle) or the output (status) agrees
    note: str = ""


@dataclass
class Row:
    label: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(float(getattr(s, attr)) for s in self.samples)


def node_name(index: int) -> str:
    return f"n{index}"


def shares(nodes: int, outlets: int) -> list[list[int]]:
    """Node numbers per PDU, in order: the last PDU may be only partly used."""
    numbers = list(range(1, nodes + 1))
    return [numbers[i : i + outlets] for i in range(0, nodes, outlets)]


def spec_text(outlets: int) -> str:
    """PowerMan's shipped RPC3-NC spec, its plug list widened to ``outlets`` when the unit has more
    than the 8 it names (read from the installed file at run time, nothing of it kept here)."""
    text = SHIPPED_SPEC.read_text(encoding="utf-8")
    if outlets <= 8:
        return text
    plugs = " ".join(f'"{n}"' for n in range(1, outlets + 1))
    widened, count = re.subn(r"plug name \{[^}]*\}", f"plug name {{ {plugs} }}", text)
    if count != 1:
        raise SystemExit(f"{SHIPPED_SPEC}: no single plug-name list to widen")
    return widened


def powerman_conf(port: int, spec: Path, mocks: list[MockHandle], groups: list[list[int]]) -> str:
    lines = [f'listen "127.0.0.1:{port}"', f'include "{spec}"']
    for index, (mock, group) in enumerate(zip(mocks, groups, strict=True)):
        lines.append(f'device "pdu{index:02d}" "{SPEC_NAME}" "{mock.address}"')
        lines.append(f'node "n[{group[0]}-{group[-1]}]" "pdu{index:02d}" "[1-{len(group)}]"')
    return "\n".join(lines) + "\n"


def device_file(mock: MockHandle, group: list[int], settle: float) -> str:
    hosts = "".join(f'{node_name(n)} = "{outlet}"\n' for outlet, n in enumerate(group, start=1))
    return (
        f'type = "baytech"\nsettle = {settle}\ntimeout = 60\n[parameters]\n'
        f'ipaddr = "{mock.address}"\n[hosts]\n{hosts}'
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def run(argv: list[str], env: dict[str, str], daemon: int | None) -> tuple[float, float, float, int, str]:
    """Wall, client CPU, daemon CPU, exit code and stdout of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    daemon_before = proc_cpu(daemon) if daemon else 0.0
    started = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=600
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    daemon_cpu = proc_cpu(daemon) - daemon_before if daemon else 0.0
    if proc.returncode != 0:
        sys.stderr.write(f"{argv[0]} exit {proc.returncode}: {(proc.stdout + proc.stderr)[-1000:]}\n")
    return wall, cpu, daemon_cpu, proc.returncode, proc.stdout


def event_counts(mocks: list[MockHandle]) -> list[int]:
    return [len(mock.events()) for mock in mocks]


def cycled(
    mocks: list[MockHandle], groups: list[list[int]], before: list[int], wanted: int, relay_delay: float
) -> tuple[bool, str]:
    """Did the outlet of every node n1..n{wanted} go off, then on, since ``before``, and is it on
    now?  Every other outlet (other nodes', unmapped ones) must be untouched."""
    time.sleep(relay_delay + 0.3)  # relays follow the acknowledgement after the relay delay
    bad: list[str] = []
    stray = 0
    for mock, group, start in zip(mocks, groups, before, strict=True):
        truth: dict[str, Any] = mock.truth()
        seen: dict[int, list[str]] = {}
        for event in truth["events"][start:]:
            seen.setdefault(int(event["outlet"]), []).append(event["state"])
        for outlet, node in enumerate(group, start=1):
            if node > wanted:
                continue
            states = seen.get(outlet, [])
            if states != ["off", "on"] or truth["outlets"][str(outlet)]["state"] != "on":
                bad.append(f"{node_name(node)}:{','.join(states) or 'untouched'}")
        stray += sum(1 for outlet in seen if outlet > len(group) or group[outlet - 1] > wanted)
    note = f"{len(bad)} nodes not cycled ({', '.join(bad[:5])})" if bad else ""
    if stray:
        note += f"{'; ' if note else ''}{stray} other outlets switched"
    return not bad and not stray, note


def status_ok(out: str, nodes: int) -> bool:
    """Both print PowerMan's folded form (ours with --fold): every node on, in one range."""
    return bool(re.search(rf"^on:\s+n\[1-{nodes}\]\s*$", out, re.M))


def wait_connected(pm: str, port: int, devices: int, daemon: subprocess.Popen[str]) -> None:
    """2.3.27's pm has no --retry-connect: poll ``pm -d`` until every device is connected."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise SystemExit(f"powermand exited {daemon.returncode}")
        proc = subprocess.run(
            [pm, "-h", f"127.0.0.1:{port}", "-d"], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0 and proc.stdout.count("state=connected") == devices:
            return
        time.sleep(0.2)
    raise SystemExit("powermand did not connect to every mock within 60 s")


def stop_daemon(daemon: subprocess.Popen[str]) -> None:
    # 2.3.27 aborts on SIGTERM when TCP devices exist (fixed in 2.4.0, #118): its status is ignored.
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(10)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.powerman",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pdus", type=int, default=42)
    parser.add_argument("--outlets", type=int, default=24)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--relay-delay", type=float, default=0.2)
    parser.add_argument("--settle", type=float, default=0.5, help="ours: seconds off before on")
    parser.add_argument("--verbs", default="status,cycle,cycle-full")
    args = parser.parse_args(argv)
    if args.nodes > args.pdus * args.outlets:
        parser.error("more nodes than outlets")
    powermand, pm = shutil.which("powermand"), shutil.which("pm")
    if not powermand or not pm:
        raise SystemExit("needs PowerMan's powermand and pm (Debian package powerman)")
    from stonith.mocks.harness import start_mock

    groups = shares(args.nodes, args.outlets)
    target = f"n[1-{args.nodes}]"
    verbs = args.verbs.split(",")
    if args.nodes < args.outlets and "cycle-full" in verbs:
        verbs.remove("cycle-full")  # no PDU is full
    tmp = Path(tempfile.mkdtemp(prefix="stonith-powerman-"))
    devices = tmp / "devices.d"
    devices.mkdir()
    env = dict(
        os.environ,
        STONITH_AUDIT=str(tmp / "audit.jsonl"),  # on, as in production
        STONITH_LOCK_DIR=str(tmp / "locks"),
    )
    rows: dict[str, Row] = {}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        mocks = [
            stack.enter_context(
                start_mock(
                    "baytech",
                    subprocess_=True,
                    model="rpc3-nc",
                    outlets=args.outlets,
                    # PowerMan's status regex is 'Outlet  ([0-9]+)': two blanks, also for 10-24.
                    names=[f"Outlet  {n}" for n in range(1, args.outlets + 1)],
                    sessions=2,
                    password="powerman-bench",  # NC firmware asks for none; this only quiets a warning
                    relay_delay=args.relay_delay,
                )
            )
            for _ in groups
        ]
        for index, (mock, group) in enumerate(zip(mocks, groups, strict=True)):
            (devices / f"pdu{index:02d}.toml").write_text(device_file(mock, group, args.settle))
        spec = tmp / f"{SPEC_NAME}.dev"
        spec.write_text(spec_text(args.outlets))
        port = free_port()
        conf = tmp / "powerman.conf"
        conf.write_text(powerman_conf(port, spec, mocks, groups))
        daemon = subprocess.Popen(
            [powermand, "-f", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        stack.callback(stop_daemon, daemon)
        wait_connected(pm, port, len(groups), daemon)
        pm_base = [pm, "-h", f"127.0.0.1:{port}"]
        ours_base = ["--devices", str(devices)]
        # The cycle of every node, and of the nodes on full PDUs only: where every plug of the spec
        # is targeted PowerMan runs cycle_all (off 0, delay 4, on 0); on a partly used PDU it
        # cycles plug after plug, each with its 4 s delay.
        full = args.nodes // args.outlets * args.outlets
        plan: dict[str, list[tuple[str, list[str], bool, int]]] = {
            "status": [
                (
                    "stonith status",
                    [STONITH, "status", target, *ours_base, "--fold", "--quiet"],
                    False,
                    args.nodes,
                ),
                ("pm -q", [*pm_base, "-q"], True, args.nodes),
            ],
            "cycle": [
                ("stonith reset", [STONITH, "reset", target, *ours_base, "--quiet"], False, args.nodes),
                ("pm -c", [*pm_base, "-c", target], True, args.nodes),
            ],
            "cycle-full": [
                (
                    f"stonith reset n[1-{full}]",
                    [STONITH, "reset", f"n[1-{full}]", *ours_base, "--quiet"],
                    False,
                    full,
                ),
                (f"pm -c n[1-{full}]", [*pm_base, "-c", f"n[1-{full}]"], True, full),
            ],
        }
        for _ in range(args.runs):
            for verb in verbs:
                for label, command, peer, wanted in plan[verb]:
                    before = event_counts(mocks)
                    wall, cpu, dcpu, code, out = run(command, env, daemon.pid if peer else None)
                    if verb == "status":
                        ok, note = status_ok(out, args.nodes), ""
                        if not ok:
                            note = out.strip().replace("\n", " / ")[:200]
                    else:
                        ok, note = cycled(mocks, groups, before, wanted, args.relay_delay)
                    rows.setdefault(label, Row(label)).samples.append(Sample(wall, cpu, dcpu, code, ok, note))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"{len(groups)} BayTech RPC3-NC mocks x {args.outlets} outlets, {args.nodes} nodes, relay delay "
        f"{args.relay_delay} s, our settle {args.settle} s, {args.runs} runs interleaved (median); "
        f"load {' '.join(load)}"
    )
    print(f"{'command':24} {'wall s':>8} {'CPU s':>7} {'daemon':>7}  exit  ground truth")
    for row in rows.values():
        notes = sorted({s.note for s in row.samples if s.note})
        verdict = f"{sum(s.ok for s in row.samples)}/{len(row.samples)} ok"
        print(
            f"{row.label:24} {row.median('wall'):8.3f} {row.median('cpu'):7.3f} "
            f"{row.median('daemon_cpu'):7.3f}  {sorted({s.code for s in row.samples})}  "
            f"{verdict}{'  ' + ' | '.join(notes) if notes else ''}"
        )
    labels = list(rows)  # ours, PowerMan, ours, ...: as they ran
    for ours, theirs in zip(labels[::2], labels[1::2], strict=True):
        wall = rows[ours].median("wall") / rows[theirs].median("wall")
        peer_cpu = rows[theirs].median("cpu") + rows[theirs].median("daemon_cpu")
        cpu = rows[ours].median("cpu") / peer_cpu if peer_cpu else float("inf")
        goal = f" (goal <= 0.5x: {'met' if wall <= 0.5 else 'NOT met'})" if ours == "stonith reset" else ""
        print(f"{ours} / {theirs}: wall {wall:.2f}x, CPU {cpu:.2f}x (pm + powermand){goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

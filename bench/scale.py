"""Scale benchmark of the cluster layer: 1,000 nodes on 42 mock PDUs with 24 outlets each.

    python -m bench.scale [--pdus 42] [--outlets 24] [--nodes 1000] [--relay-delay 0.2] [--runs 3]
    python -m bench.scale --pdus 208 --nodes 4992 --bmcs 5000    # 10,000 nodes (issue 25)
    python -m bench.scale --pdus 0 --nodes 0 --bmcs 5000 --compare-fleet   # one file per BMC vs a fleet
    python -m bench.scale --pdu-type apc_rpdu --bmcs 0   # the PDUs are APC rPDUs over SNMP v2c

Starts the BayTech mocks (one process each, one session each, like the hardware; or APC rPDU
SNMP agents with ``--pdu-type apc_rpdu``), writes a devices.d for them, and times with the
installed ``stonith``:

- ``stonith status`` of every node, and ``stonith reset`` of every node;
- the same commands for the share of one device alone, the device's own minimum, for each kind of
  share: a full PDU (every outlet wanted), the last PDU when the nodes do not fill it (its outlets
  are switched one by one), one BMC;

then prints wall times, the ratio all-nodes / slowest single-device share, and the peak RSS of the
``stonith`` process.  Goals (issue: cluster layer): status <= 2 s, reset <= 1.2x the single-device
minimum; at 10,000 nodes also peak RSS <= 500 MB.  When a goal is missed it prints where the time
goes: start-up and loading devices.d (``stonith devices``), and, from one more ``--json`` run, when
the first device began and the last one finished.  Not a timed unit test: it reports, it does not
assert.

Every device session holds a socket and a lock file: with thousands of devices ``stonith`` needs a
higher open-file limit than many shells give.  The bench does not raise it: it says what to run
(``ulimit -n N``) and stops, as ``stonith`` itself would tell a user (it would run, but with the
sessions waiting their turn).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

STONITH = str(Path(sys.executable).with_name("stonith"))
PASSWORD = "scale-bench"


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, int, int, float]:
    """Wall seconds, exit code, peak RSS (KiB) and CPU seconds (user + system) of one command."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-2000:])
    return wall, proc.returncode, max(usage.ru_maxrss, before), usage.ru_utime + usage.ru_stime - cpu_before


def start_lab(
    stack: ExitStack,
    devices: Path,
    *,
    outlets: int,
    nodes: int,
    bmcs: int,
    bmcs_per_mock: int,
    relay_delay: float,
    fleet: bool = False,
    also: Path | None = None,
    pdu_type: str = "baytech",
) -> tuple[str, list[list[str]]]:
    """Start the scale lab's mocks (stopped when ``stack`` closes) and write their devices.d into
    ``devices`` (passwords from $SCALE_PW): the node set of every node, and the nodes of each PDU.

    ``fleet``: the BMCs as one fleet file (stonith.fencing.fleet) instead of one file each; they
    then listen on consecutive addresses 127.1.0.1... at one port, so that their addresses are a
    node set.  ``also``: a second devices.d with the BMCs the other way (same mocks): for paired
    comparisons.  ``pdu_type``: baytech (telnet, one session each) or apc_rpdu (SNMP v2c, the
    community from $SCALE_PW through the mock's environment)."""
    from stonith.mocks.harness import argv_for, start_mock, start_process, stop

    width = len(str(nodes))
    names = [f"node{i:0{width}d}" for i in range(1, nodes + 1)]
    shares = [names[i : i + outlets] for i in range(0, len(names), outlets)]
    for index, share in enumerate(shares):
        host_lines = "".join(f'{node} = "{n}"\n' for n, node in enumerate(share, start=1))
        if pdu_type == "apc_rpdu":
            options = {"listen": "127.0.0.1:0", "outlets": outlets, "names": share}
            argv = argv_for("apc_rpdu", {**options, "relay_delay": relay_delay})
            agent = start_process(argv, {"STONITH_MOCK_COMMUNITY": PASSWORD}, None)
            stack.callback(stop, [agent.process])
            (devices / f"pdu{index:02d}.toml").write_text(
                f'type = "apc_rpdu"\nsettle = 0.5\ntimeout = 60\n[parameters]\nipaddr = "{agent.address}"\n'
                f'[secrets]\ncommunity = {{ env = "SCALE_PW" }}\n[hosts]\n{host_lines}'
            )
            continue
        mock = stack.enter_context(
            start_mock(
                "baytech",
                subprocess_=True,
                model="rpc3",
                outlets=outlets,
                names=share,
                password=PASSWORD,
                relay_delay=relay_delay,
                state_file=None,  # no ground-truth file: instrumentation real hardware does not pay
            )
        )
        (devices / f"pdu{index:02d}.toml").write_text(
            f'type = "baytech"\nsettle = 0.5\ntimeout = 60\n[parameters]\nipaddr = "{mock.address}"\n'
            f'login = "admin"\n[secrets]\npassword = {{ env = "SCALE_PW" }}\n[hosts]\n{host_lines}'
        )
    nodeset = f"node[{1:0{width}d}-{nodes:0{width}d}]" if nodes else ""
    if bmcs:
        # Servers fenced through their BMC (IPMI 2.0): each mock process serves a few BMCs, as
        # each real BMC has its own processor.
        digits = max(3, len(str(bmcs)))
        hosts = [f"bmc{i:0{digits}d}" for i in range(1, bmcs + 1)]
        addresses: list[str] = []
        port = _free_udp_port() if fleet or also else None
        for first in range(0, bmcs, bmcs_per_mock):
            chunk = hosts[first : first + bmcs_per_mock]
            spread = {} if port is None else {"listen": f"{FLEET_BASE + first}:{port}", "spread": "ips"}
            mock = stack.enter_context(
                start_mock(
                    "ipmilan",
                    subprocess_=True,
                    count=len(chunk),
                    hosts=chunk,
                    password=PASSWORD,
                    relay_delay=relay_delay,
                    state_file=None,
                    **spread,
                )
            )
            addresses += mock.info["addresses"]
        bmc_set = f"bmc[{1:0{digits}d}-{bmcs:0{digits}d}]"
        for directory, as_fleet in ((devices, fleet), (also, not fleet)):
            if directory is not None:
                _write_bmcs(directory, hosts, addresses, bmc_set if as_fleet else None, port)
        nodeset = f"{nodeset},{bmc_set}" if nodeset else bmc_set
    return nodeset, shares


FLEET_BASE = ipaddress.ip_address("127.1.0.1")  # the first BMC's address with --fleet


def _free_udp_port() -> int:
    """A UDP port free on the loopback now (the BMC mocks bind it on every 127.1.x.y)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_bmcs(
    directory: Path, hosts: list[str], addresses: list[str], fleet: str | None, port: int | None
) -> None:
    """The BMCs' device files: one per BMC, or (``fleet``: their node set) one fleet file whose
    addresses are a node set (per /24: 127.1.C.[lo-hi]:PORT)."""
    if fleet is None:
        for host, address in zip(hosts, addresses, strict=True):
            (directory / f"{host}.toml").write_text(
                f'type = "ipmilan"\nsettle = 0.5\ntimeout = 60\n[parameters]\nhostname = "{host}"\n'
                f'ipaddr = "{address}"\nlogin = "admin"\n[secrets]\npassword = {{ env = "SCALE_PW" }}\n'
            )
        return
    octets: dict[str, list[int]] = {}
    for address in addresses:
        net, _, last = address.rpartition(":")[0].rpartition(".")
        octets.setdefault(net, []).append(int(last))
    ranges = ",".join(f"{net}.[{min(last)}-{max(last)}]:{port}" for net, last in octets.items())
    (directory / "bmcs.toml").write_text(
        f'type = "ipmilan"\nsettle = 0.5\ntimeout = 60\n[fleet]\nnodes = "{fleet}"\nipaddr = "{ranges}"\n'
        '[parameters]\nlogin = "admin"\n[secrets]\npassword = { env = "SCALE_PW" }\n'
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pdus", type=int, default=42)
    parser.add_argument("--outlets", type=int, default=24)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--relay-delay", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bmcs", type=int, default=200, help="BMC-fenced nodes (IPMI mocks; 0: none)")
    parser.add_argument("--bmcs-per-mock", type=int, default=200, help="BMCs served by one mock process")
    parser.add_argument(
        "--pdu-type",
        choices=("baytech", "apc_rpdu"),
        default="baytech",
        help="the PDUs: BayTech RPC over telnet (default) or APC rPDU over SNMP v2c",
    )
    parser.add_argument(
        "--fleet", action="store_true", help="the BMCs as one fleet file instead of one file each"
    )
    parser.add_argument(
        "--compare-fleet",
        action="store_true",
        help="time status (all nodes, 24 BMCs, one BMC) with one file per BMC and with one fleet file, "
        "alternating, against the same mocks; print CPU and the paired ratios, nothing else",
    )
    args = parser.parse_args(argv)
    if args.nodes > args.pdus * args.outlets:
        parser.error("more nodes than outlets")
    devices_count = -(-args.nodes // args.outlets) + args.bmcs
    needed = 3 * devices_count + 200  # stonith.fencing.engine: 3 a session, and a reserve
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        sys.stderr.write(
            f"{devices_count} devices need about {needed} open files in the stonith process; the limit "
            f"is {soft}. Raise it first: ulimit -n {needed} (hard limit: ulimit -Hn)\n"
        )
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="stonith-scale-"))
    devices = tmp / "devices.d"
    devices.mkdir()
    env = dict(
        os.environ,
        SCALE_PW=PASSWORD,
        STONITH_AUDIT=str(tmp / "audit.jsonl"),  # on, as in production: its writes are part of the cost
        STONITH_LOCK_DIR=str(tmp / "locks"),
        PYTHONUNBUFFERED="1",
    )
    fleet_devices = tmp / "devices-fleet.d" if args.compare_fleet else None
    if fleet_devices is not None:
        fleet_devices.mkdir()
    with ExitStack() as stack:
        nodeset, shares = start_lab(
            stack,
            devices,
            outlets=args.outlets,
            nodes=args.nodes,
            bmcs=args.bmcs,
            bmcs_per_mock=args.bmcs_per_mock,
            relay_delay=args.relay_delay,
            fleet=args.fleet,
            also=fleet_devices,
            pdu_type=args.pdu_type,
        )
        if fleet_devices is not None:
            return _compare_fleet(nodeset, devices, fleet_devices, env, args.runs, args.bmcs)
        # One share of each kind: what differs between devices is how much one session has to do.
        alone = {f"a full PDU ({len(shares[0])} nodes)": ",".join(shares[0])} if shares else {}
        if shares and len(shares[-1]) != len(shares[0]):
            alone[f"the last PDU ({len(shares[-1])} nodes)"] = ",".join(shares[-1])
        if args.bmcs:
            alone["one BMC"] = f"bmc{1:0{max(3, len(str(args.bmcs)))}d}"
        plan = [("status, all nodes", "status", nodeset)]
        plan += [(f"status, {what}", "status", target) for what, target in alone.items()]
        plan += [("reset, all nodes", "reset", nodeset)]
        plan += [(f"reset, {what}", "reset", target) for what, target in alone.items()]
        rows = []
        loading = statistics.median(
            _run([STONITH, "devices", "--devices", str(devices)], env)[0] for _ in range(args.runs)
        )
        # The mocks are processes on this machine: their CPU competes with ours (real devices bring
        # their own processors).  CPU seconds of the stonith process show our share.
        split = _where(nodeset, devices, env)
        for label, verb, target in plan:
            samples = [
                _run([STONITH, verb, target, "--devices", str(devices), "--quiet"], env)
                for _ in range(args.runs)
            ]
            rows.append(
                (
                    label,
                    statistics.median(s[0] for s in samples),
                    max(s[2] for s in samples),
                    sorted({s[1] for s in samples}),
                    statistics.median(s[3] for s in samples),
                )
            )
    kind = "BayTech" if args.pdu_type == "baytech" else "APC rPDU (SNMP)"
    print(
        f"{len(shares)} {kind} mocks x {args.outlets} outlets, {args.nodes} nodes, {args.bmcs} IPMI BMCs, "
        f"relay delay {args.relay_delay}s, {args.runs} runs (median)"
    )
    print(f"{'command':34} {'wall':>8} {'CPU':>8} {'peak RSS':>10}  exit")
    for label, wall, rss, codes, cpu in rows:
        print(f"{label:34} {wall:7.2f}s {cpu:7.2f}s {rss / 1024:8.1f}MB  {codes}")
    peak = max(row[2] for row in rows) / 1024
    verdict = "met" if peak <= 500 else "NOT met"
    print(f"peak RSS of stonith: {peak:.0f} MB (goal at 10,000 nodes: <= 500 MB: {verdict})")
    print(
        f"where the time goes (reset, all nodes, one --json run): start-up and loading devices.d "
        f"{loading:.2f}s (stonith devices); first device session began at {split[0]:.2f}s, the last "
        f"device finished at {split[1]:.2f}s, exit at {split[2]:.2f}s"
    )
    for verb in ("status", "reset"):
        everything = next(row[1] for row in rows if row[0] == f"{verb}, all nodes")
        alone_rows = [(row[0], row[1]) for row in rows if row[0].startswith(f"{verb}, ")]
        slowest, baseline = max(
            (row for row in alone_rows if row[0] != f"{verb}, all nodes"), key=lambda row: row[1]
        )
        verdict = (
            f"all nodes <= 2 s: {'met' if everything <= 2 else 'NOT met'}"
            if verb == "status"
            else f"<= 1.2x: {'met' if everything / baseline <= 1.2 else 'NOT met'}"
        )
        print(
            f"{verb:6} all / slowest single device ({slowest.split(', ', 1)[1]}): "
            f"{everything / baseline:.2f}x (goal: {verdict})"
        )
    return 0


def _compare_fleet(nodeset: str, files: Path, fleet: Path, env: dict[str, str], runs: int, bmcs: int) -> int:
    """``stonith status`` over one file per BMC and over one fleet file, in alternating pairs (the
    machine's speed drifts; a pair shares its minute): medians and the median paired CPU ratio."""
    digits = max(3, len(str(bmcs)))
    plan = [
        ("status, all nodes", nodeset),
        ("status, 24 BMCs", f"bmc[{1:0{digits}d}-{24:0{digits}d}]"),
        ("status, one BMC", f"bmc{1:0{digits}d}"),
        ("devices (load only)", None),
    ]
    print(f"{bmcs} BMCs: one file each vs one fleet file, {runs} pairs (median)")
    print(
        f"{'command':22} {'files wall':>10} {'CPU':>7} {'fleet wall':>10} {'CPU':>7} {'CPU ratio':>9}  exit"
    )
    for label, target in plan:
        pairs = []
        for _ in range(runs):
            pair = []
            for directory in (files, fleet):
                argv = [STONITH, "status", target] if target else [STONITH, "devices"]
                pair.append(_run([*argv, "--devices", str(directory), *(["--quiet"] if target else [])], env))
            pairs.append(pair)
        wall = [statistics.median(p[i][0] for p in pairs) for i in (0, 1)]
        cpu = [statistics.median(p[i][3] for p in pairs) for i in (0, 1)]
        ratio = statistics.median(p[1][3] / p[0][3] for p in pairs if p[0][3] > 0)
        codes = sorted({p[i][1] for p in pairs for i in (0, 1)})
        print(
            f"{label:22} {wall[0]:9.2f}s {cpu[0]:6.2f}s {wall[1]:9.2f}s {cpu[1]:6.2f}s {ratio:8.2f}x  {codes}"
        )
    return 0


def _where(nodeset: str, devices: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """One ``stonith reset --json`` of every node: seconds from the start of the process to the first
    device phase's start, to the last device verdict, and to the exit."""
    started = time.time()
    proc = subprocess.run(
        [STONITH, "reset", nodeset, "--devices", str(devices), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    ended = time.time()
    try:
        results = json.loads(proc.stdout)
    except ValueError:
        return (0.0, 0.0, ended - started)
    phases = [d for r in results for d in r.get("devices", []) if d.get("finished")]
    if not phases:
        return (0.0, 0.0, ended - started)
    first = min(d["started"] for d in phases) - started
    last = max(d["finished"] for d in phases) - started
    return (first, last, ended - started)


if __name__ == "__main__":
    sys.exit(main())

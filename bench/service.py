"""``stonith serve`` under load, and at scale through its API (issue 18; run by hand, outside CI).

    .venv/bin/python -m bench.service [--part load|scale|both] [--seconds 60] [--pollers 200]
                                      [--resetters 20] [--scale-runs 10]

**load**: the shipped demo lab (devices.d/, its mocks started by stonith.fencing.lab.Lab on free loopback
ports instead of the shipped 1710x, so that a demo or a test running at the same time is neither
disturbed nor disturbing) behind a real ``stonith serve`` over TLS (self-signed certificate, users
from stonith.server.auth.add_user, its own lock directory, history and audit file).  For
``--seconds``, ``--pollers`` clients poll ``GET /api/v1/status`` (every node) and ``--resetters``
clients ``POST /api/v1/power/reset`` one node each in a loop (the lab has 16 nodes: with more
clients than nodes, two clients take turns on a node, never resetting it at the same time).  Every
client is one thread with its own keep-alive HTTPS session (requests): blocking clients like 200
independent scripts, each measuring its own requests, and cheap here because a client spends nearly
all its time waiting for the service (about 1 CPU-second per minute for all 220); asyncio + httpx
would save the threads but time every client on one shared event loop.  Printed: requests per kind,
errors, p50/p99 latency, the service's RSS over the run, the CPU of each party, and false
successes: a reset answered ``ok`` whose node's outlets (at the level the answer names, as the CLI's
status maps them) do not each show an ``off`` and then an ``on`` in the mocks' ground truth within
the request's time.

**scale**: bench.scale's lab (42 BayTech mocks x 24 outlets + 200 IPMI BMCs, 1,200 nodes) behind a
``stonith serve``; ``stonith status`` of every node through the CLI and through ``GET
/api/v1/status`` (no node set; a new HTTPS connection each time), interleaved, medians and ratio.

It reports; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

STONITH = str(Path(sys.executable).with_name("stonith"))
DEMO_DEVICES = Path(__file__).resolve().parent.parent / "devices.d"
ROLES = {"mona": "monitor", "otto": "operator"}
REQUEST_TIMEOUT = 120.0  # a request still unanswered after this counts as an error (a hang)
SLACK = 0.1  # seconds after an answer in which its relay changes may still be stamped
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes and ports --------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` loopback ports free for both TCP and UDP (the lab's IPMI and SNMP mocks use UDP)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.bind(("127.0.0.1", 0))
            held.append(tcp)
            port = int(tcp.getsockname()[1])
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(udp)
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def threads_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (threads included) so far."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every core."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK, sum(values[:8]) / CLK_TCK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the service ----------------------------------------------------------------------------------


class Service:
    """A ``stonith serve`` process over TLS on a free loopback port, configured in ``root``."""

    def __init__(
        self, root: Path, devices: Path, env: dict[str, str], health_interval: float, auth: str = "basic"
    ) -> None:
        from stonith.server.auth import add_user, create_token
        from stonith.server.serve import self_signed

        root.mkdir(parents=True)
        self.root = root
        self.cafile = str(root / "tls" / "cert.pem")
        self_signed(str(root / "tls"), ["127.0.0.1"])
        self.passwords = {user: secrets.token_urlsafe(18) for user in ROLES}
        for user, role in ROLES.items():
            add_user(str(root / "users.json"), user, role, self.passwords[user])
        self.tokens = {
            user: create_token(str(root / "users.json"), str(root / "tokens.json"), user, None, None)[0]
            for user in ROLES
        }
        self.auth = auth
        (self.port,) = free_ports(1)
        self.url = f"https://127.0.0.1:{self.port}"
        self.config = root / "server.toml"
        self.config.write_text(
            f'listen = ["127.0.0.1:{self.port}"]\ncertificate = "{root}/tls/cert.pem"\n'
            f'key = "{root}/tls/key.pem"\ndevices = "{devices}"\nusers = "{root}/users.json"\n'
            f'tokens = "{root}/tokens.json"\nhistory = "{root}/history.jsonl"\n'
            f'audit = "{root}/audit.log"\nhealth_interval = {health_interval}\n'
        )
        self.env = {**env, "STONITH_LOCK_DIR": str(root / "locks")}
        self.log = root / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [STONITH, "serve", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health", verify=self.cafile, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"stonith serve exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("stonith serve did not answer /health within 60 s")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def session(self, user: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxy or CA bundle from the environment
        session.verify = self.cafile
        if self.auth == "token":
            session.headers["Authorization"] = f"Bearer {self.tokens[user]}"
        else:
            session.auth = (user, self.passwords[user])
        return session

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 45 s.  Close every client session first: an idle keep-alive TLS
        connection holds uvicorn's shutdown for asyncio's ssl_shutdown_timeout (30 s)."""
        if self.process is not None and self.process.poll() is None:
            began = time.monotonic()
            self.process.terminate()
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            print(f"stonith serve stopped {time.monotonic() - began:.1f} s after SIGTERM", flush=True)


# -- load -----------------------------------------------------------------------------------------


class Kind:
    """What the clients of one kind did."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.bad_rows: Counter[str] = Counter()  # node rows of 200 answers that are not ok
        self.when: dict[str, list[float]] = {}  # error or row problem -> seconds into the run
        self.started = time.monotonic()

    def done(self, latency: float, error: str | None = None) -> None:
        with self.lock:
            self.latencies.append(latency)
            if error is not None:
                self.errors[error] += 1
                self.when.setdefault(error, []).append(time.monotonic() - self.started)

    def bad(self, why: str) -> None:
        with self.lock:
            self.bad_rows[why] += 1
            self.when.setdefault(why, []).append(time.monotonic() - self.started)

    def report(self) -> None:
        lat = self.latencies
        p50, p99, top = (_pct(lat, 0.5) * 1000, _pct(lat, 0.99) * 1000, max(lat, default=0) * 1000)
        errors, bad = sum(self.errors.values()), sum(self.bad_rows.values())
        print(f"{self.name:8} {len(lat):9d} {errors:7d} {bad:11d} {p50:7.0f}ms {p99:7.0f}ms {top:7.0f}ms")
        for label, counter in (("error", self.errors), ("row not ok", self.bad_rows)):
            for why, count in counter.most_common(6):
                when = self.when[why]
                print(f"  {label} x{count} (answered {min(when):.0f}..{max(when):.0f} s): {why}")


class Reset:
    __slots__ = ("answered", "level", "node", "ok", "sent")

    def __init__(self, node: str, sent: float, answered: float, ok: bool, level: int | None) -> None:
        self.node = node
        self.sent = sent  # time.time(), the clock the mocks stamp their relay changes with
        self.answered = answered
        self.ok = ok
        self.level = level


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:100]}"


def poll_status(service: Service, stop_at: float, interval: float, kind: Kind, nodes: int) -> None:
    with service.session("mona") as session:
        _poll_status(session, f"{service.url}/api/v1/status", stop_at, interval, kind, nodes)


def _poll_status(
    session: requests.Session, url: str, stop_at: float, interval: float, kind: Kind, nodes: int
) -> None:
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            answer = session.get(url, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            kind.done(time.perf_counter() - started, _short(exc))
            continue
        latency = time.perf_counter() - started
        if answer.status_code != 200:
            kind.done(latency, f"HTTP {answer.status_code}: {answer.text[:100]}")
            continue
        kind.done(latency)
        try:
            rows = answer.json()
            if len(rows) != nodes:
                kind.bad(f"{len(rows)} rows instead of {nodes}")
            for row in rows:
                if row.get("result") != "ok":
                    kind.bad(f"{row.get('result')}: {str(row.get('message'))[:200]}")
        except (ValueError, TypeError, AttributeError) as exc:
            kind.bad(f"malformed answer: {_short(exc)}")
        if interval:
            time.sleep(interval)


def reset_loop(
    service: Service,
    node: str,
    turn: threading.Lock,
    stop_at: float,
    kind: Kind,
    resets: list[Reset],
) -> None:
    with service.session("otto") as session:
        _reset_loop(session, f"{service.url}/api/v1/power/reset", node, turn, stop_at, kind, resets)


def _reset_loop(
    session: requests.Session,
    url: str,
    node: str,
    turn: threading.Lock,
    stop_at: float,
    kind: Kind,
    resets: list[Reset],
) -> None:
    while time.monotonic() < stop_at:
        with turn:  # the node's other client, if any, waits: one reset of a node at a time
            if time.monotonic() >= stop_at:
                return
            sent = time.time()
            started = time.perf_counter()
            level: int | None = None
            ok = False
            try:
                answer = session.post(url, json={"nodeset": node}, timeout=REQUEST_TIMEOUT)
            except requests.RequestException as exc:
                kind.done(time.perf_counter() - started, _short(exc))
            else:
                latency = time.perf_counter() - started
                if answer.status_code != 200:
                    kind.done(latency, f"HTTP {answer.status_code}: {answer.text[:100]}")
                else:
                    kind.done(latency)
                    try:
                        (result,) = answer.json()["results"]
                        ok = result["result"] == "ok"
                        if ok:
                            level = result.get("level")
                        else:
                            kind.bad(f"{result['result']}: {str(result.get('message'))[:200]}")
                    except (ValueError, TypeError, KeyError, AttributeError) as exc:
                        kind.bad(f"malformed answer: {_short(exc)}")
            resets.append(Reset(node, sent, time.time(), ok, level))


def expected_outlets(
    devices: Path, env: dict[str, str]
) -> tuple[dict[str, dict[int, set[tuple[str, str]]]], dict[tuple[str, str], str]]:
    """node -> level -> {(device, outlet)} as the CLI's status maps them before any load, and the
    state it read of each (device, outlet)."""
    import json

    from stonith.fencing.inventory import load_dir

    levels = {d.name: d.level for d in load_dir(str(devices)).devices}
    out = subprocess.run(
        [STONITH, "status", "--devices", str(devices), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    mapped: dict[str, dict[int, set[tuple[str, str]]]] = {}
    states: dict[tuple[str, str], str] = {}
    for row in json.loads(out.stdout):
        for device in row["devices"]:
            for outlet in device["outlets"]:
                key = (device["device"], str(outlet["id"]))
                mapped.setdefault(row["node"], {}).setdefault(levels[device["device"]], set()).add(key)
                states[key] = outlet["state"]
    return mapped, states


def judge(
    resets: list[Reset],
    mapped: dict[str, dict[int, set[tuple[str, str]]]],
    initial: dict[tuple[str, str], str],
    truth: dict[str, Any],
) -> tuple[list[str], int, int]:
    """False successes (why, for each); ok resets that found an outlet already off (an earlier
    reset's power-on failed: nothing to switch off, the mock records no change); relay changes
    that no reset's time explains."""
    events: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for device, data in truth.items():
        for event in data["events"]:
            events.setdefault((device, str(event["outlet"])), []).append((event["t"], event["state"]))
    for changes in events.values():
        changes.sort()
    false = []
    already_off = 0
    explained: set[tuple[str, str, float]] = set()
    for reset in resets:
        by_level = mapped[reset.node]
        wanted = by_level.get(reset.level or min(by_level), set()) if reset.ok else set()
        for level_outlets in by_level.values():
            for key in level_outlets:
                for t, _ in events.get(key, []):
                    if reset.sent <= t <= reset.answered + SLACK:
                        explained.add((*key, t))
        for key in sorted(wanted):
            before = [s for t, s in events.get(key, []) if t < reset.sent]
            state = before[-1] if before else initial.get(key, "on")
            seen = [state] + [s for t, s in events.get(key, []) if reset.sent <= t <= reset.answered + SLACK]
            if "off" not in seen or "on" not in seen[seen.index("off") :]:
                false.append(
                    f"{reset.node} ok at level {reset.level} ({reset.sent:.3f}..{reset.answered:.3f}): "
                    f"{key[0]} outlet {key[1]} was {state}, then did {seen[1:] or 'nothing'}"
                )
            elif state == "off":
                already_off += 1
    unexplained = sum(1 for key, changes in events.items() for t, _ in changes if (*key, t) not in explained)
    return false, already_off, unexplained


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load(args: argparse.Namespace, root: Path) -> None:
    from stonith.fencing.inventory import load_dir
    from stonith.fencing.lab import Lab

    devices = root / "demo-devices.d"
    devices.mkdir()
    texts = {p.name: p.read_text() for p in sorted(DEMO_DEVICES.glob("*.toml"))}
    shipped = sorted({int(p) for t in texts.values() for p in re.findall(r"127\.0\.0\.1:(\d+)", t)})
    moved = dict(zip(shipped, free_ports(len(shipped)), strict=True))
    for name, text in texts.items():
        path = devices / name
        path.write_text(re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{moved[int(m[1])]}", text))
        path.chmod(0o600)
    password = secrets.token_urlsafe(12)  # 16 characters: IPMI passwords have at most 20
    os.environ["STONITH_LAB_PASSWORD"] = password  # the Lab reads the inventory as the CLI does
    env = dict(
        os.environ,
        STONITH_LAB_PASSWORD=password,
        STONITH_AUDIT=str(root / "cli-audit.log"),
        STONITH_LOCK_DIR=str(root / "demo-locks"),
    )
    with ExitStack() as stack:
        lab = stack.enter_context(Lab(load_dir(str(devices))))
        mapped, initial = expected_outlets(devices, env)
        nodes = sorted(mapped)
        service = Service(root / "demo-service", devices, env, args.health_interval, args.auth)
        stack.callback(service.stop)
        service.start()
        pollers, resetters = Kind("status"), Kind("reset")
        resets: list[Reset] = []
        turns = {node: threading.Lock() for node in nodes}
        rss: list[tuple[float, int]] = []
        fds: list[tuple[int, int]] = []  # open files and threads of the service, as rss is sampled
        mock_pids = [m.process.pid for m in lab.mocks.values() if m.process is not None]
        started = pollers.started = resetters.started = time.monotonic()
        stop_at = started + args.seconds
        threads = [
            threading.Thread(
                target=poll_status,
                args=(service, stop_at, args.poll_interval, pollers, len(nodes)),
                name=f"poller{i}",
                daemon=True,
            )
            for i in range(args.pollers)
        ] + [
            threading.Thread(
                target=reset_loop,
                args=(service, node, turns[node], stop_at, resetters, resets),
                name=f"resetter{i}",
                daemon=True,
            )
            for i, node in enumerate(nodes[k % len(nodes)] for k in range(args.resetters))
        ]
        rss.append((0.0, rss_kib(service.pid)))
        fds.append((open_fds(service.pid), threads_of(service.pid)))
        cpu0 = (own_cpu(), cpu_seconds(service.pid), sum(map(cpu_seconds, mock_pids)), *machine_busy())
        load0 = os.getloadavg()
        print(
            f"load: {args.pollers} status pollers + {args.resetters} reset clients over {len(nodes)} demo "
            f"nodes for {args.seconds:.0f} s, {args.auth} auth (health checks every "
            f"{args.health_interval:g} s); load average before {load0[0]:.2f}",
            flush=True,
        )
        for thread in threads:
            thread.start()
        while time.monotonic() < stop_at:
            time.sleep(1.0)
            rss.append((time.monotonic() - started, rss_kib(service.pid)))
            fds.append((open_fds(service.pid), threads_of(service.pid)))
        cpu1 = (own_cpu(), cpu_seconds(service.pid), sum(map(cpu_seconds, mock_pids)), *machine_busy())
        load1 = os.getloadavg()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 10)
        drained = time.monotonic() - stop_at
        hung = sum(t.is_alive() for t in threads)
        rss.append((time.monotonic() - started, rss_kib(service.pid)))
        fds.append((open_fds(service.pid), threads_of(service.pid)))
        history_lines = sum(1 for _ in open(service.root / "history.jsonl", "rb"))  # noqa: SIM115
        truth = {name: lab.truth(name) for name in lab.mocks}
    false, already_off, unexplained = judge(resets, mapped, initial, truth)

    print(f"{'kind':8} {'requests':>9} {'errors':>7} {'rows not ok':>11} {'p50':>8} {'p99':>8} {'max':>8}")
    pollers.report()
    resetters.report()
    ok_resets = sum(r.ok for r in resets)
    print(
        f"resets answered ok: {ok_resets}; false successes: {len(false)}; ok resets that found an outlet "
        f"already off: {already_off}; relay changes outside any reset's time: {unexplained}"
    )
    for why in false[:10]:
        print(f"  FALSE SUCCESS {why}")
    middle = min(rss, key=lambda sample: abs(sample[0] - args.seconds / 2))
    end = min(rss[:-1], key=lambda sample: abs(sample[0] - args.seconds))
    mb = {label: kib / 1024 for label, kib in (("start", rss[0][1]), ("middle", middle[1]), ("end", end[1]))}
    print(
        f"service RSS: start {mb['start']:.1f} MB, middle ({middle[0]:.0f} s) {mb['middle']:.1f} MB, "
        f"end ({end[0]:.0f} s) {mb['end']:.1f} MB ({(end[1] / middle[1] - 1) * 100:+.1f} % of middle), "
        f"max {max(s[1] for s in rss) / 1024:.1f} MB, after drain {rss[-1][1] / 1024:.1f} MB"
    )
    step = max(1, len(rss) // 12)
    print(
        "  over time (s: RSS MB / open files / threads): "
        + ", ".join(
            f"{t:.0f}: {kib / 1024:.0f}/{files}/{tasks}"
            for (t, kib), (files, tasks) in list(zip(rss, fds, strict=True))[::step]
        )
    )
    window = args.seconds
    ours = [after - before for before, after in zip(cpu0, cpu1, strict=True)]
    busy, total = ours.pop(3), ours.pop(3)
    print(
        f"CPU over the {window:.0f} s (core-seconds; {os.cpu_count()} cores): clients (this process) "
        f"{ours[0]:.1f}, "
        f"service {ours[1]:.1f}, mocks {ours[2]:.1f}, everything else {max(0.0, busy - sum(ours)):.1f}; "
        f"machine {busy / total * 100:.0f} % busy; load average {load0[0]:.2f} -> {load1[0]:.2f}"
    )
    print(
        f"drain after the deadline: {drained:.1f} s, threads still hanging: {hung}; history lines: "
        f"{history_lines}"
    )
    errors = sum(sum(k.errors.values()) for k in (pollers, resetters))
    not_ok = sum(sum(k.bad_rows.values()) for k in (pollers, resetters))
    growth = end[1] / middle[1] - 1
    print(
        f"goals: 0 errors {'met' if errors == 0 else f'NOT met ({errors})'}; 0 false successes "
        f"{'met' if not false else f'NOT met ({len(false)})'}; RSS end within 20 % of middle "
        f"{'met' if abs(growth) <= 0.2 else 'NOT met'} ({growth * 100:+.1f} %); node rows not ok: "
        f"{not_ok}"
    )


# -- scale through the API ------------------------------------------------------------------------


def scale(args: argparse.Namespace, root: Path) -> None:
    import json

    from bench.scale import PASSWORD, start_lab

    devices = root / "scale-devices.d"
    devices.mkdir()
    env = dict(
        os.environ,
        SCALE_PW=PASSWORD,
        STONITH_AUDIT=str(root / "scale-audit.jsonl"),
        STONITH_LOCK_DIR=str(root / "scale-locks"),
        PYTHONUNBUFFERED="1",
    )
    with ExitStack() as stack:
        began = time.monotonic()
        start_lab(
            stack,
            devices,
            outlets=args.outlets,
            nodes=args.nodes,
            bmcs=args.bmcs,
            bmcs_per_mock=args.bmcs,
            relay_delay=0.2,
        )
        service = Service(root / "scale-service", devices, env, health_interval=86400)
        stack.callback(service.stop)
        service.start()
        # The first health round checks every device at start: wait for it, it takes the PDUs' locks.
        with service.session("mona") as monitor:
            while True:
                listed = monitor.get(f"{service.url}/api/v1/devices", timeout=REQUEST_TIMEOUT).json()
                if all(d["health"] is not None for d in listed):
                    break
                time.sleep(0.5)
        print(
            f"scale: {len(listed)} devices ({args.nodes} PDU nodes, {args.bmcs} BMCs) and the service "
            f"ready in {time.monotonic() - began:.1f} s",
            flush=True,
        )
        cli = [STONITH, "status", "--devices", str(devices), "--json"]
        url = f"{service.url}/api/v1/status"

        def via_cli(out: int) -> tuple[float, float, bytes]:
            cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            proc = subprocess.run(cli, env=env, stdout=out, stderr=subprocess.PIPE, check=False)
            wall = time.perf_counter() - began
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise RuntimeError(f"stonith status exited {proc.returncode}: {proc.stderr[-500:]!r}")
            return wall, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, proc.stdout or b""

        kept = stack.enter_context(service.session("mona"))

        def via_api(fresh: bool = True) -> tuple[float, float, bytes]:
            # fresh: a new connection and TLS handshake, as a script run from cron makes
            session = service.session("mona") if fresh else kept
            cpu = cpu_seconds(service.pid)
            began = time.perf_counter()
            answer = session.get(url, timeout=REQUEST_TIMEOUT)
            wall = time.perf_counter() - began
            if fresh:
                session.close()
            if answer.status_code != 200:
                raise RuntimeError(f"GET /api/v1/status: {answer.status_code} {answer.text[:300]}")
            return wall, cpu_seconds(service.pid) - cpu, answer.content

        # Warm-up (untimed): both answer the same nodes, every one ok.
        cli_rows = {r["node"]: r["result"] for r in json.loads(via_cli(subprocess.PIPE)[2])}
        api_rows = {r["node"]: r["result"] for r in json.loads(via_api(False)[2])}
        if set(cli_rows) != set(api_rows) or {*cli_rows.values(), *api_rows.values()} != {"ok"}:
            print(f"  WARNING: CLI and API disagree or fail: {len(cli_rows)} vs {len(api_rows)} rows")
        cli_s: list[tuple[float, float]] = []
        api_s: list[tuple[float, float]] = []
        kept_s: list[tuple[float, float]] = []
        for _ in range(args.scale_runs):
            cli_s.append(via_cli(subprocess.DEVNULL)[:2])
            api_s.append(via_api()[:2])
            kept_s.append(via_api(False)[:2])
        rss = rss_kib(service.pid)
        spent = time.monotonic() - began
    cli_wall = statistics.median(s[0] for s in cli_s)
    api_wall = statistics.median(s[0] for s in api_s)
    print(f"status of all {len(api_rows)} nodes, {args.scale_runs} runs interleaved (median; min..max):")
    rows = (
        ("CLI  stonith status", cli_s),
        ("API  GET /api/v1/status", api_s),
        ("API  the same, keep-alive", kept_s),
    )
    for label, samples in rows:
        walls = [s[0] for s in samples]
        print(
            f"  {label:27} {statistics.median(walls):6.3f} s  ({min(walls):.3f}..{max(walls):.3f}); "
            f"CPU {statistics.median(s[1] for s in samples):.3f} s per run"
        )
    ratio = api_wall / cli_wall
    kept_ratio = statistics.median(s[0] for s in kept_s) / cli_wall
    print(
        f"  API / CLI: {ratio:.2f}x new connection, {kept_ratio:.2f}x keep-alive (goal <= 1.2x: "
        f"{'met' if ratio <= 1.2 else 'NOT met'}); service RSS "
        f"{rss / 1024:.1f} MB; load average {os.getloadavg()[0]:.2f}; part took {spent:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--part", choices=("load", "scale", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (default 60)")
    parser.add_argument("--pollers", type=int, default=200, help="clients polling status (default 200)")
    parser.add_argument("--resetters", type=int, default=20, help="clients resetting nodes (default 20)")
    parser.add_argument(
        "--poll-interval", type=float, default=0.0, help="pause of a poller between requests (default 0)"
    )
    parser.add_argument(
        "--health-interval", type=float, default=10.0, help="the service's health checks (default 10 s)"
    )
    parser.add_argument(
        "--auth",
        choices=("basic", "token"),
        default="basic",
        help="clients log in with HTTP basic (user and password, the default) or a bearer token",
    )
    parser.add_argument("--scale-runs", type=int, default=10, help="timed runs of each (default 10)")
    parser.add_argument("--outlets", type=int, default=24)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--bmcs", type=int, default=200)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="stonith-bench-service-"))
    try:
        for part, run in (("load", load), ("scale", scale)):
            if args.part in (part, "both"):
                began = time.monotonic()
                run(args, root)
                print(f"{part} part: {time.monotonic() - began:.0f} s wall in all\n", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

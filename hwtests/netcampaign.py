"""Network fault campaign: faults the kernel and the operating system make, not our mocks (issue 20).

    python -m hwtests.netcampaign --runs 1000 --seed 1 [--workers 6] [--timeout 3]
                                  [--only baytech-rpc3,ipmi-lanplus] [--index 17,42] [--json FILE]

Every run starts one mock *process* (telnet, serial over TCP, SNMP v2c and v3, IPMI, Redfish) and one
front end *process* (the cluster CLI ``stonith VERB``, the cluster-glue syntax ``stonith -t TYPE -E
-T VERB``, or the fence agent ``fence_stonith_TYPE`` reading stdin), both in the worker's private
network namespace (hwtests.netlab), and during the operation one fault from outside our code:

    loss            nftables drops N % of the packets to the device, from it, or both
    partition       every packet to (or from) the device dropped, for the whole run
    partition-heal  the same, lifted after T seconds
    tcp-reset       TCP segments to the device answered with a reset (TCP devices)
    port-unreach    packets to the device answered with ICMP port unreachable
    host-unreach    packets to the device answered with ICMP host unreachable
    rate-limit      the device's packets beyond 5 or 20 a second dropped
    lo-down         the namespace's loopback down for T seconds, then up again
    device-stop     the mock SIGSTOPped for T seconds (a hung controller), then SIGCONT
    device-reboot   the mock SIGKILLed and restarted after T s with its relays as they were
    device-other    the mock SIGKILLed and restarted with other relay states
    client-kill     the front end SIGKILLed mid-operation; a second run of it must then work
    none            no fault (the control)

Run ``i`` of seed ``S`` is drawn from ``random.Random(f"net:{S}:{i}")`` alone (kind, front end,
verb, the node's outlets, the relays at the start, the fault, its instant and length), so ``--index
i`` replays it.  A run is judged by the mock's ground truth (its relay events, across restarts):

- false success: a fence claimed without an instant, between the start and the claim, at which
  every outlet of the node was off; for ``off``, an outlet on when the claim was made (unless a
  restart switched it after the fence: counted apart as ``changed-after-fence``, nothing a client
  can prevent); for ``reset``, an on before every off; an ``on`` claimed while an outlet is off; a
  status that disagrees with the relays;
- overrun: the front end process (its start-up included) outlived its deadline by more than 1 s;
- traceback: ``Traceback`` in anything the front end printed;
- collateral: a relay that is not the node's was switched.

Each fault records that it happened (the nftables rule's packet counter, the mock's process state
``T`` after SIGSTOP, its new PID after a restart, the loopback's flags, the front end's SIGKILL
status), and the summary counts runs whose fault did not happen: a campaign cannot pass by injecting
nothing.  Exit 1 on any false success, overrun, traceback or collateral switch; 2 when the lab
cannot run here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import hwtests  # the installed stonith first
from hwtests import netlab
from hwtests.campaign import GRACE, _all_off_instant, _offs_before_ons, verdict_table
from hwtests.mocktypes import Kind, available

NODE = "node"
PASSWORD = "netlab-pw-7"
V3_AUTH, V3_PRIV = "netlab-auth-7", "netlab-priv-7"
COMMUNITY = "netlab-rw-7"
SETTLE = 0.2
VERBS = (("reset", 0.5), ("off", 0.25), ("on", 0.1), ("status", 0.15))
FRONT_ENDS = ("cluster", "glue", "agent")
PROCESS_FAULTS = ("device-stop", "device-reboot", "device-other", "client-kill")
NFT_FAULTS = (
    "loss",
    "partition",
    "partition-heal",
    "tcp-reset",
    "port-unreach",
    "host-unreach",
    "rate-limit",
)
FAULTS: dict[str, float] = {
    **dict.fromkeys(NFT_FAULTS, 1.0),
    "lo-down": 0.7,
    **dict.fromkeys(PROCESS_FAULTS, 1.0),
    "none": 0.5,
}


@dataclass(frozen=True)
class NetKind:
    """A protocol family of the campaign: a hwtests kind, its transport, and what it needs more."""

    kind: str  # hwtests.mocktypes name
    proto: str  # tcp or udp
    v3: bool = False  # SNMP v3 (USM authPriv) instead of the kind's v2c


NET_KINDS = (
    NetKind("baytech-rpc3", "tcp"),  # telnet menus
    NetKind("wti-nps", "tcp"),  # telnet, password only
    NetKind("rps10", "tcp"),  # serial protocol on TCP (pyserial socket://)
    NetKind("snmp-apc-rpdu", "udp"),  # SNMP v2c
    NetKind("snmp-sentry4", "udp", v3=True),  # SNMP v3 authPriv
    NetKind("ipmi-lanplus", "udp"),  # RMCP+
    NetKind("redfish", "tcp"),  # HTTP + JSON
)


@dataclass
class RunPlan:
    index: int
    kind: str
    front: str
    verb: str
    outlets: int
    node_outlets: list[int]
    states: list[str]
    fault: str
    at: float  # seconds after the front end's start
    span: float  # how long the fault lasts (partition-heal, lo-down, device-stop, restarts' down time)
    detail: str = ""  # loss percentage and direction, rate, ...
    timeout: float = 3.0


def plan_run(seed: int, index: int, kinds: list[NetKind], timeout: float) -> RunPlan:
    rng = random.Random(f"net:{seed}:{index}")
    net = kinds[rng.randrange(len(kinds))]
    kind = _kinds()[net.kind]
    verb = rng.choices([v for v, _ in VERBS], [w for _, w in VERBS])[0]
    front = rng.choice([f for f in FRONT_ENDS if not (f == "glue" and verb == "status")])
    outlets = min(kind.outlets, 4)
    if kind.multi_outlet:
        node_outlets = sorted(rng.sample(range(1, outlets + 1), rng.choice((1, 1, 2))))
    else:
        node_outlets = [1]
    states = ["on" if rng.random() < 0.8 else "off" for _ in range(outlets)]
    faults = [f for f in FAULTS if f != "tcp-reset" or net.proto == "tcp"]
    fault = rng.choices(faults, [FAULTS[f] for f in faults])[0]
    # Most operations take 0.3-1.5 s, process start-up (0.1-0.3 s) included: faults land in there.
    at = round(rng.uniform(0.1, 0.7), 3)
    span = round(rng.uniform(0.2, 0.8 * timeout), 3)
    detail = ""
    if fault == "loss":
        detail = f"{rng.choice((10, 25, 50, 80))}%:{rng.choice(('to', 'from', 'both'))}"
    elif fault in ("partition", "partition-heal"):
        detail = rng.choice(("to", "from"))
    elif fault == "rate-limit":
        detail = f"{rng.choice((5, 20))}/second"
    if fault in ("loss", "partition", "rate-limit", "tcp-reset", "port-unreach", "host-unreach"):
        at = 0.0 if rng.random() < 0.4 else at  # some from the first packet on
    return RunPlan(
        index, net.kind, front, verb, outlets, node_outlets, states, fault, at, span, detail, timeout
    )


_KINDS: dict[str, Kind] = {}


def _kinds() -> dict[str, Kind]:
    if not _KINDS:
        _KINDS.update((k.name, k) for k in available([n.kind for n in NET_KINDS]))
    return _KINDS


def _net(name: str) -> NetKind:
    return next(n for n in NET_KINDS if n.kind == name)


# ---------------------------------------------------------------------------------------------
# The device: a mock process that can be stopped, killed and restarted on the same address


class Device:
    def __init__(self, plan: RunPlan, workdir: str) -> None:
        self.plan = plan
        self.kind = _kinds()[plan.kind]
        self.net = _net(plan.kind)
        self.names = [NODE if n in plan.node_outlets else f"other{n}" for n in range(1, plan.outlets + 1)]
        self.state_file = os.path.join(workdir, "truth.json")
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []  # of instances already killed, and restarts
        self.pids: list[int] = []
        self.process: subprocess.Popen[str] | None = None
        self.address = ""
        self._start(list(plan.states), "127.0.0.1:0")

    def _secrets(self) -> dict[str, str]:
        secrets = {"STONITH_MOCK_PASSWORD": PASSWORD, "STONITH_MOCK_COMMUNITY": COMMUNITY}
        # The truth is read the moment the front end exits, and a killed mock's last changes count:
        # BMC mocks write their state file at every change, not 50 ms later.
        secrets["STONITH_MOCK_SYNC_STATE"] = "1"
        if self.net.v3:
            secrets["STONITH_MOCK_V3_USERS"] = f"fencer:SHA:{V3_AUTH}:AES:{V3_PRIV}"
        return secrets

    def _start(self, states: list[str], listen: str) -> None:
        from stonith.mocks.harness import MockNotReady, spawn

        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.state_file)
        argv = self.kind.mock_argv(
            names=self.names,
            states=states,
            password=None,
            faults=[],
            relay_delay=0.05,
            listen=listen,
        )
        argv += ["--state-file", self.state_file]
        give_up = time.monotonic() + 3.0
        while True:
            try:
                self.process, info = spawn(argv, self._secrets())
                break
            except MockNotReady:
                # The old instance's port may take a moment to be free again after a SIGKILL.
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.1)
        self.pids.append(self.process.pid)
        self.address = str(info["address"])
        self.states_now = list(states)

    @property
    def port(self) -> int:
        from stonith.contract.validation import split_hostport

        return split_hostport(self.address)[1]

    def _current(self) -> dict[str, Any]:
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
            return data
        except (OSError, ValueError):
            return {"events": [], "outlets": {}}

    def stopped(self) -> bool:
        """The mock's process state is T (stopped): proof that a SIGSTOP took."""
        process = self.process
        if process is None:
            return False
        try:
            with open(f"/proc/{process.pid}/stat", encoding="ascii") as handle:
                return handle.read().rsplit(")", 1)[1].split()[0] == "T"
        except OSError:
            return False

    def signal(self, signum: int) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)

    def restart(self, down: float, states: list[str] | None) -> None:
        """SIGKILL (a controller losing power), ``down`` s, back with ``states`` (None: as they were)."""
        with self.lock:
            process = self.process
            if process is None:
                return
            self.signal(signal.SIGKILL)
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
            self.process = None
            current = self._current()
            self.events += current.get("events", [])
            last = self._states_of(current)
            time.sleep(down)
            back = last if states is None else states
            now = time.time()
            for n, (old, new) in enumerate(zip(last, back, strict=True), start=1):
                if old != new:  # the restart itself switched the relay: the truth records it
                    self.events.append({"t": now, "outlet": str(n), "state": new, "restart": True})
            self._start(back, self.address)

    def _states_of(self, current: dict[str, Any]) -> list[str]:
        outlets = current.get("outlets") or {}
        if not outlets:
            return list(self.states_now)
        return [str(outlets[str(n)]["state"]) for n in range(1, self.plan.outlets + 1)]

    def truth(self) -> dict[str, Any]:
        with self.lock:
            current = self._current()
            events = self.events + list(current.get("events", []))
            return {"initial": list(self.plan.states), "events": events, "states": self._states_of(current)}

    def close(self) -> None:
        from stonith.mocks.harness import stop

        with self.lock:
            if self.process is not None:
                self.signal(signal.SIGCONT)
                stop([self.process], grace=2.0)
                self.process = None


# ---------------------------------------------------------------------------------------------
# The front ends


def _stonith() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "stonith")
    return [exe] if os.path.exists(exe) else [sys.executable, "-P", "-m", "stonith"]


def _parameters(device: Device, password: str) -> dict[str, Any]:
    kind, plan = device.kind, device.plan
    hosts = {NODE: [kind.outlet_id(n) for n in plan.node_outlets]}
    params = kind.parameters(device.address, password, hosts)
    if "community" in params:
        params["community"] = COMMUNITY
    if device.net.v3:
        params.pop("community", None)
        params.update(snmp_version="3", login="fencer", password=V3_AUTH, snmp_priv_passwd=V3_PRIV)
    if "snmp_version" in params:
        params.update(snmp_timeout=0.4, snmp_retries=1)
    return params


def command(device: Device, workdir: str) -> tuple[list[str], str | None, dict[str, str]]:
    """argv, stdin and extra environment of the run's front end."""
    plan, kind = device.plan, device.kind
    params = _parameters(device, PASSWORD)
    timeout = plan.timeout
    if plan.front == "cluster":
        devices = os.path.join(workdir, "devices.d")
        os.makedirs(devices, mode=0o700, exist_ok=True)
        lines = [f'type = "{kind.driver}"', f"settle = {SETTLE}", f"timeout = {timeout}", "[parameters]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in params.items()]
        if kind.multi_outlet and kind.driver != "rps10":
            lines.append("[hosts]")
            for n in range(1, plan.outlets + 1):
                name = NODE if n in plan.node_outlets else f"other{n}"
                if name == NODE and n != plan.node_outlets[0]:
                    continue
                ids = [kind.outlet_id(m) for m in plan.node_outlets] if name == NODE else [kind.outlet_id(n)]
                lines.append(f"{name} = {json.dumps(ids)}")
        path = os.path.join(devices, "device.toml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # inline secrets: 0600
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        argv = [*_stonith(), plan.verb, NODE, "--devices", devices, "--json"]
        return [*argv, "--timeout", str(timeout), "--audit", "none"], None, {}
    if plan.front == "glue":
        env = {k: str(v) for k, v in params.items()}
        return (
            [*_stonith(), "-t", kind.driver, "--timeout", str(timeout), "-E", "-T", plan.verb, NODE],
            None,
            env,
        )
    if "port" in params:  # to fence-agents, ``port`` is the plug: the network port is ``ipport``
        params["ipport"] = params.pop("port")
    action = {"reset": "reboot"}.get(plan.verb, plan.verb)
    login = 1.0
    power = (timeout - login) / (2 if action == "reboot" else 1)
    plug = NODE if not kind.multi_outlet else ",".join(kind.outlet_id(n) for n in plan.node_outlets)
    lines = [f"action={action}", *(f"{k}={v}" for k, v in params.items()), f"plug={plug}"]
    lines += [f"login_timeout={login}", "shell_timeout=0", f"power_timeout={power}"]
    return [sys.executable, "-P", "-m", "stonith.cli.fence_agent", kind.driver], "\n".join(lines) + "\n", {}


@dataclass
class Said:
    """What the front end said, in the engine's terms."""

    verb: str
    result: str  # ok | failed | on-failed
    state: str = "unknown"
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.result == "ok"

    @property
    def fenced(self) -> bool:
        return self.result in ("ok", "on-failed") and self.verb in ("off", "reset")


def said(plan: RunPlan, rc: int, stdout: str, stderr: str) -> Said:
    tail = (stderr.strip().splitlines() or [""])[-1][:300]
    if plan.front == "cluster":
        try:
            result = json.loads(stdout)[0]
        except (ValueError, IndexError, KeyError, TypeError):
            return Said(plan.verb, "failed", message=f"no result (exit {rc}): {tail}")
        return Said(plan.verb, str(result["result"]), str(result["state"]), str(result["message"])[:300])
    if plan.front == "glue":
        if rc == 0:
            return Said(plan.verb, "ok", "off" if plan.verb == "off" else "on")
        on_failed = "but power-on was not read back" in stderr
        return Said(plan.verb, "on-failed" if on_failed else "failed", message=tail)
    if plan.verb == "status":
        state = {0: "on", 2: "off"}.get(rc, "unknown")
        return Said(plan.verb, "ok" if rc in (0, 2) else "failed", state, tail)
    if rc == 0:
        return Said(plan.verb, "on-failed" if "power ON FAILED" in stdout + stderr else "ok", message=tail)
    return Said(plan.verb, "failed", message=tail)


# ---------------------------------------------------------------------------------------------
# One run


@dataclass
class Outcome:
    index: int
    kind: str
    front: str
    verb: str
    fault: str
    detail: str
    verdict: str  # success | failure | false-success | changed-after-fence | traceback | setup-error
    result: str = ""
    duration: float = 0.0
    overrun: bool = False
    collateral: bool = False
    happened: bool = True  # the fault was seen to take effect
    evidence: str = ""
    message: str = ""
    second: str = ""  # client-kill: the verdict of the run after the kill


class Faults:
    """Applies the run's fault at its instant, lifts it, and keeps the evidence that it happened."""

    def __init__(self, plan: RunPlan, device: Device, firewall: netlab.Firewall) -> None:
        self.plan = plan
        self.device = device
        self.firewall = firewall
        self.handles: list[int] = []
        self.evidence: list[str] = []
        self.happened = plan.fault == "none"
        self.client: subprocess.Popen[str] | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lo_down = False
        self._stopped = False

    def start(self, client: subprocess.Popen[str]) -> None:
        self.client = client
        self._thread.start()

    def _wait(self, seconds: float) -> bool:
        """Sleep; False if the run ended meanwhile."""
        return not self._cancel.wait(max(0.0, seconds))

    def _rules(self) -> list[tuple[str, str]]:
        plan, port, proto = self.plan, self.device.port, self.device.net.proto
        to, frm = f"{proto} dport {port}", f"{proto} sport {port}"
        if plan.fault == "loss":
            percent, direction = plan.detail.split("%:")
            sides = {"to": [to], "from": [frm], "both": [to, frm]}[direction]
            return [(f"{side} numgen random mod 100 < {percent}", "drop") for side in sides]
        if plan.fault in ("partition", "partition-heal"):
            return [(to if plan.detail == "to" else frm, "drop")]
        if plan.fault == "tcp-reset":
            return [(to, "reject with tcp reset")]
        if plan.fault == "port-unreach":
            return [(to, "reject with icmpx type port-unreachable")]
        if plan.fault == "host-unreach":
            return [(to, "reject with icmpx type host-unreachable")]
        if plan.fault == "rate-limit":
            return [(f"{to} limit rate over {plan.detail}", "drop")]
        return []

    def _run(self) -> None:
        plan = self.plan
        try:
            if not self._wait(plan.at):
                return
            if plan.fault in NFT_FAULTS:
                for match, verdict in self._rules():
                    self.handles.append(self.firewall.add(match, verdict, plan.fault))
                if plan.fault == "partition-heal" and self._wait(plan.span):
                    self.lift_rules()
            elif plan.fault == "lo-down":
                netlab.set_loopback(False)
                self._lo_down = True
                self.evidence.append(f"loopback up: {netlab.loopback_up()}")
                self.happened = not netlab.loopback_up()
                self._wait(plan.span)
                netlab.set_loopback(True)
                self._lo_down = False
            elif plan.fault == "device-stop":
                self.device.signal(signal.SIGSTOP)
                self._stopped = True
                deadline = time.monotonic() + 0.5
                while not self.device.stopped() and time.monotonic() < deadline:
                    time.sleep(0.01)
                self.happened = self.device.stopped()
                self.evidence.append(f"mock state T: {self.happened}")
                self._wait(plan.span)
                self.device.signal(signal.SIGCONT)
                self._stopped = False
            elif plan.fault in ("device-reboot", "device-other"):
                rng = random.Random(f"states:{plan.index}")
                states = None
                if plan.fault == "device-other":
                    states = [rng.choice(("on", "off")) for _ in range(plan.outlets)]
                before = self.device.pids[-1]
                self.device.restart(min(plan.span, 1.0), states)
                self.happened = self.device.pids[-1] != before
                self.evidence.append(f"mock pid {before} -> {self.device.pids[-1]}")
            elif plan.fault == "client-kill":
                client = self.client
                if client is not None and client.poll() is None:
                    os.killpg(client.pid, signal.SIGKILL)
        except Exception as exc:  # the lab's own trouble is reported, never a silent pass
            self.evidence.append(f"fault not applied: {type(exc).__name__}: {exc}")
            self.happened = False

    def lift_rules(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(OSError):
                self.firewall.delete(handle)
        self.handles.clear()

    def end(self) -> None:
        """The run is over: lift whatever is still in force, collect the rule counters."""
        self._cancel.set()
        self._thread.join(10.0)
        self.lift_rules()
        if self._lo_down:
            netlab.set_loopback(True)
        if self._stopped:
            self.device.signal(signal.SIGCONT)
        if self.plan.fault in NFT_FAULTS:
            hits = self.firewall.hits().get(self.plan.fault, 0)
            self.evidence.append(f"rule matched {hits} packets")
            self.happened = hits > 0
        self.firewall.reset_counts()


def _run_front_end(
    argv: list[str], stdin: str | None, env: dict[str, str], plan: RunPlan, faults: Faults | None
) -> tuple[int, str, str, float, float]:
    """(exit status, stdout, stderr, duration, wall clock at exit)."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    if faults is not None:
        faults.start(process)
    try:
        out, err = process.communicate(stdin, timeout=plan.timeout + GRACE + 10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        err += "\n[netcampaign: killed after the deadline + 10 s]"
    return process.returncode, out, err, time.monotonic() - started, time.time()


def _environment(workdir: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": workdir,
        "STONITH_LOCK_DIR": os.path.join(workdir, "locks"),
        "STONITH_AUDIT": "none",
    }
    return {**env, **extra}


def execute(plan: RunPlan, firewall: netlab.Firewall) -> Outcome:
    outcome = Outcome(plan.index, plan.kind, plan.front, plan.verb, plan.fault, plan.detail, "failure")
    with tempfile.TemporaryDirectory(prefix="netrun-") as workdir:
        os.makedirs(os.path.join(workdir, "locks"), mode=0o700)
        try:
            device = Device(plan, workdir)
        except Exception as exc:
            outcome.verdict, outcome.message = "setup-error", f"{type(exc).__name__}: {exc}"
            return outcome
        try:
            argv, stdin, extra = command(device, workdir)
            env = _environment(workdir, extra)
            faults = Faults(plan, device, firewall)
            wall_start = time.time()
            try:
                rc, out, err, duration, wall_end = _run_front_end(argv, stdin, env, plan, faults)
            finally:
                faults.end()
            outcome.happened, outcome.evidence = faults.happened, "; ".join(faults.evidence)
            if plan.fault == "client-kill":
                outcome.happened = rc == -signal.SIGKILL
                outcome.evidence = f"front end exit status {rc}"
                if outcome.happened:
                    # The killed run said nothing; the next one must work (locks freed by the kernel).
                    # Commands the killed run gave may still be moving relays (relay delay 0.05 s): the
                    # next run starts once they are done, or its truth would hold the killed run's deeds.
                    time.sleep(0.5)
                    wall_start = time.time()
                    rc, out, err, duration, wall_end = _run_front_end(argv, stdin, env, plan, None)
                    outcome.second = "ran"
            outcome.duration = round(duration, 3)
            outcome.overrun = duration > plan.timeout + GRACE
            if "Traceback" in out + err:
                outcome.verdict, outcome.message = "traceback", (out + err)[-2000:]
                return outcome
            words = said(plan, rc, out, err)
            outcome.result = words.result
            outcome.message = words.message
            truth = since(device.truth(), wall_start)
            outcome.verdict, why = judge(plan, words, truth, wall_start, wall_end)
            if why:
                outcome.message = f"{why}; front end said: {words.message}"
            others = [n for n in range(1, plan.outlets + 1) if n not in plan.node_outlets]
            if any(int(e["outlet"]) in others and not e.get("restart") for e in truth["events"]):
                outcome.collateral = True
                outcome.message += "; collateral switching"
            return outcome
        except Exception:
            import traceback

            outcome.verdict, outcome.message = "traceback", "netcampaign: " + traceback.format_exc()
            return outcome
        finally:
            device.close()


def since(truth: dict[str, Any], start: float) -> dict[str, Any]:
    """The truth as the run that started at ``start`` found it: later events, the states then.

    After a client-kill the judged run is the second one; the relays the killed one switched are
    where that run starts from, not its doing.
    """
    initial = list(truth["initial"])
    later = []
    for event in sorted(truth["events"], key=lambda e: float(e["t"])):
        if float(event["t"]) < start:
            initial[int(event["outlet"]) - 1] = event["state"]
        else:
            later.append(event)
    return {**truth, "initial": initial, "events": later}


def judge(plan: RunPlan, words: Said, truth: dict[str, Any], since: float, until: float) -> tuple[str, str]:
    """(verdict, why) for what the front end said against the ground truth."""
    outlets = plan.node_outlets
    truths = [(truth, outlets)]
    now = [truth["states"][n - 1] for n in outlets]
    restarts = [e for e in truth["events"] if e.get("restart") and int(e["outlet"]) in outlets]
    if plan.verb == "status":
        if words.result != "ok":
            return "failure", ""
        if restarts:  # the relays changed under the read: either answer may have been true
            return "success", ""
        if words.state == "off" and any(s != "off" for s in now):
            return "false-success", f"status OFF while the truth shows {now}"
        if words.state == "on" and all(s == "off" for s in now):
            return "false-success", f"status ON while the truth shows {now}"
        return "success", ""
    if plan.verb == "on":
        if words.result != "ok":
            return "failure", ""
        if any(s != "on" for s in now):
            if restarts:
                return "changed-after-fence", f"a restart switched the relays: {now}"
            return "false-success", f"on reported but the truth shows {now}"
        return "success", ""
    if not words.fenced:
        return "failure", ""
    if not _all_off_instant(truths, since, until):
        return "false-success", "fence reported but no instant had every outlet of the node off"
    if plan.verb == "off" and any(s != "off" for s in now):
        if restarts:
            return "changed-after-fence", f"a restart switched relays on after the fence: {now}"
        return "false-success", f"off reported but the truth shows {now}"
    if plan.verb == "reset" and not _offs_before_ons(
        [({**truth, "events": [e for e in truth["events"] if not e.get("restart")]}, outlets)]
    ):
        return "false-success", "an outlet of the node went on before another went off"
    return ("success" if words.ok else "failure"), ""


# ---------------------------------------------------------------------------------------------
# Workers (one per private namespace) and the campaign


def worker(seed: int, indices: list[int], kinds: list[NetKind], timeout: float) -> None:
    """Inside a netlab namespace: run ``indices`` one after another, a JSON line each."""
    firewall = netlab.Firewall()
    for index in indices:
        try:
            plan = plan_run(seed, index, kinds, timeout)
            outcome = execute(plan, firewall)
        except Exception as exc:  # the campaign's own bug: still a result
            outcome = Outcome(
                index, "?", "?", "?", "?", "", "traceback", message=f"{type(exc).__name__}: {exc}"
            )
        sys.stdout.write(json.dumps(asdict(outcome)) + "\n")
        sys.stdout.flush()


@dataclass
class Summary:
    runs: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    overruns: int = 0
    collateral: int = 0
    not_happened: int = 0
    worst_overrun: float = 0.0
    wall_time: float = 0.0
    load: str = ""
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    by_front: dict[str, dict[str, int]] = field(default_factory=dict)
    by_fault: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, o: dict[str, Any], timeout: float) -> None:
        self.runs += 1
        verdict = o["verdict"]
        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
        self.overruns += bool(o["overrun"])
        self.collateral += bool(o["collateral"])
        self.not_happened += not o["happened"]
        self.worst_overrun = max(self.worst_overrun, o["duration"] - timeout)
        for table, key in (
            (self.by_kind, o["kind"]),
            (self.by_front, o["front"]),
            (self.by_fault, o["fault"]),
        ):
            row = table.setdefault(key, {})
            row[verdict] = row.get(verdict, 0) + 1
            if not o["happened"]:
                row["not happened"] = row.get("not happened", 0) + 1

    @property
    def ok(self) -> bool:
        bad = sum(self.verdicts.get(v, 0) for v in ("false-success", "traceback", "setup-error"))
        return not (bad or self.overruns or self.collateral)

    def text(self) -> str:
        v = self.verdicts
        lines = [
            f"runs: {self.runs}",
            f"successes: {v.get('success', 0)}",
            f"failures (reported as failures): {v.get('failure', 0)}",
            f"false successes: {v.get('false-success', 0)}",
            f"deadline overruns (> deadline + {GRACE:g} s): {self.overruns}",
            f"tracebacks: {v.get('traceback', 0)}",
            f"collateral switching: {self.collateral}",
            f"relays changed by a device restart after the fence: {v.get('changed-after-fence', 0)}",
            f"set-up errors: {v.get('setup-error', 0)}",
            f"faults that did not take effect: {self.not_happened}",
            f"worst end after the deadline: {self.worst_overrun:+.3f} s",
            f"wall time: {self.wall_time:.1f} s{'; load ' + self.load if self.load else ''}",
            "",
        ]
        for title, table in (("kind", self.by_kind), ("front end", self.by_front), ("fault", self.by_fault)):
            lines.append(_table(title, table))
        return "\n".join(lines)


COLUMNS = ("success", "failure", "false-success", "changed-after-fence", "traceback", "not happened")


def _table(title: str, rows: dict[str, dict[str, int]]) -> str:
    return verdict_table(title, rows, COLUMNS, cell=21)


def campaign(
    runs: int,
    seed: int,
    *,
    workers: int,
    timeout: float,
    kinds: list[NetKind],
    indices: list[int] | None = None,
) -> tuple[Summary, list[dict[str, Any]]]:
    chosen = indices if indices is not None else list(range(runs))
    workers = max(1, min(workers, len(chosen) or 1))
    started = time.monotonic()
    names = ",".join(k.kind for k in kinds)
    processes = []
    for w in range(workers):
        share = chosen[w::workers]
        argv = [sys.executable, "-m", "hwtests.netcampaign", "--worker", "--seed", str(seed)]
        argv += ["--timeout", str(timeout), "--only", names, "--index", ",".join(map(str, share))]
        processes.append(
            subprocess.Popen(
                netlab.isolated(argv),
                stdout=subprocess.PIPE,
                text=True,
                cwd=str(hwtests.REPO),
                start_new_session=True,
            )
        )
    outcomes: list[dict[str, Any]] = []
    lock = threading.Lock()

    def collect(process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                with lock:
                    outcomes.append(item)
        process.wait()

    readers = [threading.Thread(target=collect, args=(p,)) for p in processes]
    for reader in readers:
        reader.start()
    try:
        for reader in readers:
            reader.join()
    finally:
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
    seen = {o["index"] for o in outcomes}
    for index in chosen:
        if index not in seen:  # a worker died: its runs are failures of the campaign
            outcomes.append(
                asdict(Outcome(index, "?", "?", "?", "?", "", "setup-error", message="worker died"))
            )
    summary = Summary()
    outcomes.sort(key=lambda o: o["index"])
    for outcome in outcomes:
        summary.add(outcome, timeout)
    summary.wall_time = time.monotonic() - started
    with contextlib.suppress(OSError), open("/proc/loadavg", encoding="ascii") as loadavg:
        summary.load = " ".join(loadavg.read().split()[:3])
    return summary, outcomes


def merge(paths: list[str], timeout: float) -> int:
    """One summary of several ``--json`` files (each seed's runs are its own; seeds must differ)."""
    summary = Summary()
    seeds: list[int] = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data["seed"] in seeds:
            sys.stderr.write(f"netcampaign: seed {data['seed']} twice ({path}): its runs would count twice\n")
            return 2
        seeds.append(data["seed"])
        for outcome in data["runs"]:
            summary.add(outcome, timeout)
        summary.wall_time += data["summary"]["wall_time"]
    sys.stdout.write(f"seeds {', '.join(map(str, seeds))}, timeout {timeout:g} s\n" + summary.text())
    return 0 if summary.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwtests.netcampaign",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=200, help="number of runs (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workers", type=int, default=6, help="private namespaces running at once (default 6)"
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="each operation's deadline, s (default 3)")
    parser.add_argument(
        "--only",
        default="",
        metavar="KIND,...",
        help="kinds (default: " + ",".join(k.kind for k in NET_KINDS) + ")",
    )
    parser.add_argument("--index", default="", metavar="I,J,...", help="replay only these runs")
    parser.add_argument("--json", metavar="FILE", help="write the summary and every run")
    parser.add_argument("--verbose", action="store_true", help="print every run that was not a success")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="FILE",
        help="sum the --json files of several runs (chunks of a long campaign) into one summary",
    )
    args = parser.parse_args(argv)
    if args.runs < 0 or args.workers < 1 or not 1.0 <= args.timeout <= 60:
        parser.error("--runs >= 0, --workers >= 1, --timeout within 1..60 s")
    wanted = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in {n.kind for n in NET_KINDS}]
    if unknown:
        parser.error(f"unknown kind {unknown[0]!r}")
    kinds = [n for n in NET_KINDS if (not wanted or n.kind in wanted) and n.kind in _kinds()]
    try:
        indices = [int(i) for i in args.index.split(",") if i.strip()] if args.index else None
    except ValueError:
        parser.error("--index takes run numbers: 3,17,42")
    if args.worker:
        worker(args.seed, indices or [], kinds, args.timeout)
        return 0
    if args.merge:
        return merge(args.merge, args.timeout)
    why = netlab.unavailable()
    if why is not None:
        sys.stderr.write(f"netcampaign: {why}\n")
        return 2
    missing = [n.kind for n in NET_KINDS if n.kind not in _kinds()]
    if missing:
        sys.stderr.write(f"netcampaign: kinds that cannot load here, left out: {', '.join(missing)}\n")
    summary, outcomes = campaign(
        args.runs, args.seed, workers=args.workers, timeout=args.timeout, kinds=kinds, indices=indices
    )
    bad = [
        o
        for o in outcomes
        if o["verdict"] in ("false-success", "traceback", "setup-error") or o["overrun"] or o["collateral"]
    ]
    for o in outcomes if args.verbose else bad[:30]:
        if args.verbose and o["verdict"] == "success" and o["happened"]:
            continue
        sys.stdout.write(
            f"run {o['index']}: {o['verdict']}{' OVERRUN' if o['overrun'] else ''} {o['kind']} {o['front']} "
            f"{o['verb']} {o['fault']} {o['detail']} {o['duration']:.2f}s [{o['evidence']}]: "
            f"{o['message'][:400]}\n  replay: python -m hwtests.netcampaign --seed {args.seed} "
            f"--timeout {args.timeout:g} --index {o['index']}\n"
        )
    sys.stdout.write(
        f"seed {args.seed}, timeout {args.timeout:g} s, {args.workers} namespaces\n" + summary.text()
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"seed": args.seed, "summary": asdict(summary), "runs": outcomes}, handle, indent=1)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

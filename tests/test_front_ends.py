"""Issue 17 acceptance: one fencing engine under every front end, judged by the devices' ground truth.

One table of device behaviours (SCENARIOS), each run through the three front ends against a fresh
mock: a BayTech RPC-3 (telnet) and, for two rows, an IPMI BMC (UDP, RMCP+):

- ``cluster``: ``stonith reset|off|status n2 --devices DIR --json --timeout 3 --audit none``;
- ``glue``: ``stonith -t TYPE name=value ... --timeout 3 -T reset|off n2``;
- ``agent``: ``python -m stonith.cli.fence_agent TYPE`` with ``action=reboot|off|status`` on stdin and
  timeouts adding up to the same 3 s (login_timeout + shell_timeout + power_timeout, twice
  power_timeout for reboot).

On the BayTech, node ``n2`` is fed by outlets 2 and 3 (a dual supply on one PDU); its neighbours
``n1`` (outlet 1) and ``n4`` (outlet 4) must never be touched.  On the BMC, n2 is the chassis.  For
every run the test asserts: the verdict (the scenario's, so the same for every front end), the exit
code (cluster-glue codes for ``cluster`` and ``glue``; 0/1, 2 = off, for ``agent``), the deadline
(+ MARGIN), and the mock's ground truth: every command it accepted (a log kept by wrapping its relay
controller) and every real relay change:

- no ``on`` command for an outlet of the node before *every* outlet of the node really went off;
- a success of ``reset``: each outlet really went off, then on, every off before every on;
  a success of ``off``: every outlet of the node really off;
- a failure: no ``on`` command at all for the node (outlets that went off are left off), and the
  relays as the scenario says (a stuck or lying outlet: still on).

Two regressions demanded by the issue get their own tests over the same runs: a read-back that
answers "unknown" is never taken for the wanted state, and a reset through a stuck relay never
switches anything on.  One more test shows that the ground-truth check is not vacuous: a device
that reports an outlet off while its relay stays on (``lie-status``) fools every front end, as it
must, and the check catches it.

The runs are independent (a mock, a lock directory and a devices.d each), so a module fixture runs
every selected case at once, WORKERS at a time, before the first test judges its own: most runs
wait for a deadline, and one after the other they would take about three minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from stonith.mocks.harness import MockHandle, argv_for

from tests.conftest import stonith_cmd

PASSWORD = "lab-secret"
NODE = "n2"
DEADLINE = 3.0  # every front end's overall deadline, seconds
MARGIN = 1.0  # process start, logout and the mock's teardown on top of the deadline
SETTLE = 0.5  # cluster devices.d; the agent's is max(power_wait, 0.5); glue's is the engine's 1.0
WORKERS = 8  # concurrent runs: most of a run is waiting for a relay or a deadline
FRONT_ENDS = ("cluster", "glue", "agent")


@dataclass(frozen=True)
class Rig:
    """The device under test: its driver type, and the outlets of the node and of its neighbours."""

    type: str
    node_outlets: tuple[str, ...]
    neighbours: tuple[str, ...]


BAYTECH = Rig("baytech", ("2", "3"), ("1", "4"))  # outlets named n1, n2, n2, n4 (RPC-3: 8 outlets)
BMC = Rig("ipmilan", ("1",), ())  # one chassis, host name n2

# Byte offsets of one RPC-3 session as the engine drives it (the mock's texts, mocks/baytech.py):
# login 379 bytes, the Outlet Control screen after "1" 578 (the listing: no "status" of its own),
# then per outlet switched a "(Y/N)" confirmation of 17 and the screen answering it, 578; the first
# read-back starts at 2147.  glue lists once more in its first session (its node is found by outlet
# name), a screen later; its later sessions run as everyone's do.
SCREEN = 578
DROP_IN_SECOND_OFF = 1557  # inside "Off 3? (Y/N)>" (cluster, agent) or the answer to off 2 (glue,
# then its retries as the others): outlet 2 is switched off, outlet 3 never: the node half fenced
GARBLE_FROM_READ_BACK = 2147  # from the first read-back on (glue's first session: from the answer
# to off 3 on; its later sessions: from the read-back on)
HANG_AT_READ_BACK = 2147  # the device stops answering once both offs are answered (glue: + SCREEN)


@dataclass(frozen=True)
class Expect:
    verdict: str  # reset/off: "ok", "failed" or "on-failed" (fenced, not back on); status: on/off/unknown
    code: int  # the cluster-glue exit code of the cluster CLI and of glue

    @property
    def agent_code(self) -> int:
        # FenceAgentAPI: a reboot whose off was verified is a fence (0) even if the on failed
        return {"ok": 0, "on": 0, "off": 2, "on-failed": 0}.get(self.verdict, 1)


@dataclass(frozen=True)
class Scenario:
    name: str
    verbs: Mapping[str, Expect]
    rig: Rig = BAYTECH
    faults: tuple[str, ...] = ()
    glue_faults: tuple[str, ...] | None = None  # the same device behaviour for glue's first session
    relay_delay: float = 0.05
    hold: float = 0.0  # seconds the device's one session is taken when the front end starts,
    holder: str = "client"  # by a telnet client connected by hand ("client"), or by another stonith
    # process holding the device's session slot ("lock": the cross-process lock every front end takes)
    unknown: int | None = None  # this outlet's status column reads "???" (UNKNOWN to the driver)
    no_on: int | None = None  # this outlet's relay ignores "on" (acknowledged, stays off)
    states: tuple[str, ...] = ()  # the relays at the start (default: every outlet on)
    left: Mapping[str, str] = field(default_factory=dict)  # the node's relays after a failure


OK = Expect("ok", 0)
BOTH_ON = {"2": "on", "3": "on"}
HALF_OFF = {"2": "off", "3": "on"}
SCENARIOS = [
    Scenario("healthy", {"reset": OK, "off": OK}),
    # off is acknowledged, the relay ignores it, the status shows it on
    Scenario(
        "stuck",
        {"reset": Expect("failed", 5), "off": Expect("failed", 5)},
        faults=("stuck=3",),
        left=HALF_OFF,
    ),
    # the device says the off is done; the relay stays on and its status says so
    Scenario(
        "lying", {"reset": Expect("failed", 5), "off": Expect("failed", 5)}, faults=("lie=3",), left=HALF_OFF
    ),
    Scenario(
        "dropped",
        {"reset": Expect("failed", 8), "off": Expect("failed", 8)},
        faults=(f"drop-after={DROP_IN_SECOND_OFF}",),
        left=HALF_OFF,
    ),
    # connects, then never says a word (a hung console): the deadline decides
    Scenario("silent", {"reset": Expect("failed", 6)}, faults=("silent",), left=BOTH_ON),
    # hangs after both offs were answered: nothing can be read back
    Scenario(
        "hangs-mid-fence",
        {"reset": Expect("failed", 5), "off": Expect("failed", 5)},
        faults=(f"silent={HANG_AT_READ_BACK}",),
        glue_faults=(f"silent={HANG_AT_READ_BACK + SCREEN}",),
        left={"2": "off", "3": "off"},
    ),
    Scenario("refused-login", {"reset": Expect("failed", 2)}, faults=("refuse-login",), left=BOTH_ON),
    # the device's one session is taken by another client for 1 s: wait for it, then fence
    Scenario("busy", {"reset": OK}, hold=1.0),
    # another stonith process holds the device's session slot for 1 s: wait for it, then fence
    Scenario("locked", {"reset": OK}, hold=1.0, holder="lock"),
    # relays follow 0.3 s after the command: several read-backs still see the old state
    Scenario("slow-relay", {"reset": OK, "off": OK}, relay_delay=0.3),
    Scenario(
        "garbled",
        {"reset": Expect("failed", 8), "off": Expect("failed", 8)},
        faults=(f"garble={GARBLE_FROM_READ_BACK}",),
        left={"2": "off", "3": "off"},
    ),
    # outlet 2 is off already; outlet 3's relay is stuck on and its status column reads "???":
    # unknown is never off (status of the node: unknown, not off; a fence: failed)
    Scenario(
        "unknown-read-back",
        {"reset": Expect("failed", 5), "off": Expect("failed", 5), "status": Expect("unknown", 8)},
        faults=("stuck=3",),
        unknown=3,
        states=("on", "off", "on", "on"),
        left=HALF_OFF,
    ),
    # outlet 3's relay does not come back on: fenced (every outlet read back off), not powered on
    Scenario("stays-off", {"reset": Expect("on-failed", 5)}, no_on=3),
    Scenario("bmc-healthy", {"reset": OK}, rig=BMC),
    Scenario(
        "bmc-stuck",
        {"reset": Expect("failed", 5), "off": Expect("failed", 5)},
        rig=BMC,
        faults=("stuck=1",),
        left={"1": "on"},
    ),
]
# Not in the table: no client reading only this device can tell (see the last test).
STATUS_LIE = Scenario("status-lie", {"off": OK}, faults=("lie-status=3",))


@dataclass(frozen=True)
class Case:
    scenario: Scenario
    verb: str  # reset, off, status
    front: str  # cluster, glue, agent

    @property
    def id(self) -> str:
        return f"{self.scenario.name}-{self.verb}-{self.front}"

    @property
    def expect(self) -> Expect:
        return self.scenario.verbs[self.verb]


# Product bugs found by this table: case id -> reason (the case is xfail(strict=True) until fixed).
KNOWN_BUGS: dict[str, str] = {}


def cases_of(scenarios: list[Scenario]) -> list[Case]:
    cases = []
    for scenario in scenarios:
        for verb in scenario.verbs:
            for front in FRONT_ENDS:
                if front == "glue" and verb == "status":
                    continue  # cluster-glue has no per-node status (-S is the device's)
                cases.append(Case(scenario, verb, front))
    return cases


def params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c.id])] if c.id in KNOWN_BUGS else [],
        )
        for c in cases
    ]


CASES = cases_of(SCENARIOS)


# -- running one case --------------------------------------------------------------------------


Log = list[tuple[float, str, str]]  # (time.time(), outlet, state)


@dataclass
class Outcome:
    argv: list[str]
    stdin: str | None
    rc: int
    stdout: str
    stderr: str
    elapsed: float
    verdict: str
    commands: Log  # every command the device accepted
    events: Log  # every real relay change
    truth: dict[str, str]  # outlet -> state at the end

    def describe(self) -> str:
        stdin = f" <<< {self.stdin!r}" if self.stdin else ""
        return (
            f"\n$ {' '.join(self.argv)}{stdin}\nexit {self.rc} after {self.elapsed:.2f} s, verdict "
            f"{self.verdict}\nstdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-1500:]}\n"
            f"commands: {[(o, s) for _, o, s in self.commands]}\n"
            f"relays: {[(o, s) for _, o, s in self.events]}\ntruth: {self.truth}"
        )


@contextlib.contextmanager
def started_mock(scenario: Scenario, front: str) -> Iterator[tuple[MockHandle, Log]]:
    """A fresh mock in this process, with its command log (and the scenario's relay quirks)."""
    from stonith.mocks.__main__ import start

    faults = scenario.glue_faults if front == "glue" and scenario.glue_faults is not None else scenario.faults
    options: dict[str, Any] = {
        "names": ["n1", NODE, NODE, "n4"] if scenario.rig is BAYTECH else [NODE],
        "password": PASSWORD,
        "relay_delay": scenario.relay_delay,
        "faults": list(faults),
        "states": list(scenario.states) or None,
    }
    if scenario.rig is BAYTECH:
        options["model"] = "rpc3"
    running: Any = start(argv_for(scenario.rig.type, options))
    commands: Log = []
    try:
        if scenario.rig is BAYTECH:
            _log_baytech(running.device, scenario, commands)
        else:
            (chassis,) = running.lab.chassis.values()
            power = chassis.power

            def logged_power(state: str) -> None:
                commands.append((time.time(), "1", state))
                power(state)

            chassis.power = logged_power
        yield MockHandle(running.info, running), commands
    finally:
        running.close()


def _log_baytech(device: Any, scenario: Scenario, commands: Log) -> None:
    from stonith.mocks import baytech

    switch = device.outlets.switch

    def logged_switch(number: int, state: str) -> None:
        commands.append((time.time(), str(number), state))
        if not (state == "on" and number == scenario.no_on):
            switch(number, state)

    device.outlets.switch = logged_switch
    if scenario.unknown is not None:
        n, screen = scenario.unknown, device._screen
        width, name = device.personality.name_width, device.outlets.names[n - 1]
        rows = [baytech.ROW.format(n=n, name=name, w=width, state=s) for s in ("On", "Off")]
        unknown = baytech.ROW.format(n=n, name=name, w=width, state="???")

        def unknown_screen() -> str:
            text: str = screen()
            for row in rows:
                text = text.replace(row, unknown)
            assert unknown in text
            return text

        device._screen = unknown_screen


def command(case: Case, address: str, tmp: Path) -> tuple[list[str], str | None]:
    """The front end's command line (and stdin) for the case."""
    rig, verb = case.scenario.rig, case.verb
    # the device's own parameters: a BMC is told its host name; a PDU names its outlets
    config = {"ipaddr": address, "login": "admin"} | ({"hostname": NODE} if rig is BMC else {})
    if case.front == "cluster":
        devices = tmp / "devices.d"
        devices.mkdir()
        text = f'type = "{rig.type}"\nsettle = {SETTLE}\ntimeout = {DEADLINE}\n[parameters]\n'
        text += "".join(f'{k} = "{v}"\n' for k, v in config.items())
        text += '[secrets]\npassword = { env = "LAB_PW" }\n'
        if rig is BAYTECH:
            text += f"[hosts]\n{NODE} = {json.dumps(list(rig.node_outlets))}\n"
        (devices / "device.toml").write_text(text)
        argv = [*stonith_cmd(), verb, NODE, "--devices", str(devices), "--json"]
        return [*argv, "--timeout", str(DEADLINE), "--audit", "none"], None
    if case.front == "glue":
        nvpairs = [f"{k}={v}" for k, v in config.items()] + [f"password={PASSWORD}"]
        return [*stonith_cmd(), "-t", rig.type, *nvpairs, "--timeout", str(DEADLINE), "-T", verb, NODE], None
    action = {"reset": "reboot"}.get(verb, verb)
    login, shell = 1.0, 0.0
    power = (DEADLINE - login - shell) / (2 if action == "reboot" else 1)
    plug = ",".join(rig.node_outlets) if rig is BAYTECH else NODE
    stdin = f"action={action}\nip={address}\nusername=admin\npassword={PASSWORD}\nplug={plug}\n"
    stdin += f"hostname={NODE}\n" if rig is BMC else ""
    stdin += f"login_timeout={login}\nshell_timeout={shell}\npower_timeout={power}\n"
    return [sys.executable, "-P", "-m", "stonith.cli.fence_agent", rig.type], stdin


def verdict_of(case: Case, rc: int, stdout: str, stderr: str) -> str:
    """What the front end said, in the table's terms."""
    if case.front == "cluster":
        try:
            result = json.loads(stdout)[0]
        except (ValueError, IndexError, KeyError):
            return f"no result (exit {rc})"
        return str(result["state"] if case.verb == "status" else result["result"])
    if case.front == "glue":
        if rc == 0:
            return "ok"
        return "on-failed" if "but power-on was not read back" in stderr else "failed"
    if case.verb == "status":
        return {0: "on", 2: "off", 1: "unknown"}.get(rc, f"exit {rc}")
    if rc == 0:
        return "on-failed" if "power ON FAILED" in stdout else "ok"
    return "failed"


def hold_session(address: str) -> socket.socket:
    """Another client connects by hand: the device's one session is taken once its banner shows."""
    host, _, port = address.rpartition(":")
    holder = socket.create_connection((host, int(port)), timeout=5)
    seen = b""
    while b"username>" not in seen:
        chunk = holder.recv(4096)
        assert chunk, "the mock closed the holder's connection"
        seen += chunk
    return holder


def release(holder: socket.socket) -> None:
    with contextlib.suppress(OSError):
        holder.shutdown(socket.SHUT_RDWR)
    holder.close()


# Another stonith process: takes the device's session slot (the key as every front end derives it)
# and holds it for argv[3] seconds.
HOLD_SLOT = """
import sys, time
from stonith.fencing import engine, locks, registry
from stonith.contract.deadline import Deadline
from stonith.fencing.device import Device
type_name, address, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
device = Device(registry.load(type_name), {"ipaddr": address, "login": "admin", "password": "-"})
entry = engine.one_device(device.driver).devices[0]
with locks.device_slot(entry.lock_key(), entry.max_sessions, Deadline(10, "hold")):
    print("held", flush=True)
    time.sleep(hold)
"""


@contextlib.contextmanager
def holding(scenario: Scenario, address: str, env: dict[str, str]) -> Iterator[None]:
    """The device's one session is taken when the block starts, for ``scenario.hold`` seconds."""
    if not scenario.hold:
        yield
        return
    if scenario.holder == "client":
        timer = threading.Timer(scenario.hold, release, [hold_session(address)])
        timer.start()
        try:
            yield
        finally:
            timer.join()
        return
    argv = [sys.executable, "-P", "-c", HOLD_SLOT, scenario.rig.type, address, str(scenario.hold)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        try:
            yield
        finally:
            proc.wait(10)


def run_case(case: Case) -> Outcome:
    scenario = case.scenario
    with (
        tempfile.TemporaryDirectory(prefix="stonith-fe-") as tmp,
        started_mock(scenario, case.front) as (mock, commands),
    ):
        argv, stdin = command(case, mock.address, Path(tmp))
        env = dict(os.environ, LANG="C.UTF-8", LAB_PW=PASSWORD, STONITH_AUDIT="none")
        env["STONITH_LOCK_DIR"] = os.path.join(tmp, "locks")
        env.pop("LANGUAGE", None)
        with holding(scenario, mock.address, env):
            started = time.monotonic()
            proc = subprocess.run(
                argv, input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
            )
            elapsed = time.monotonic() - started
        time.sleep(scenario.relay_delay + 0.1)  # relays still in flight land
        truth = mock.truth()
        return Outcome(
            argv=argv,
            stdin=stdin,
            rc=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            elapsed=elapsed,
            verdict=verdict_of(case, proc.returncode, proc.stdout, proc.stderr),
            commands=list(commands),
            events=[(e["t"], e["outlet"], e["state"]) for e in truth["events"]],
            truth={n: o["state"] for n, o in truth["outlets"].items()},
        )


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest) -> dict[str, Outcome]:
    """Every case selected in this module, run at once (WORKERS at a time): case id -> outcome."""
    module = sys.modules[__name__]
    selected: dict[str, Case] = {}
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is module and callspec is not None and "case" in callspec.params:
            case = callspec.params["case"]
            selected[case.id] = case
    # the runs that wait for their deadline first: the others fill the gaps
    order = sorted(selected.values(), key=lambda c: c.expect.verdict in ("ok", "on", "off"))
    with ThreadPoolExecutor(WORKERS) as pool:
        return {c.id: outcome for c, outcome in zip(order, pool.map(run_case, order), strict=True)}


# -- judging -----------------------------------------------------------------------------------


def first_off(outcome: Outcome) -> dict[str, float]:
    """Outlet -> when its relay really went off first."""
    found: dict[str, float] = {}
    for t, outlet, state in outcome.events:
        if state == "off":
            found.setdefault(outlet, t)
    return found


def on_commands(case: Case, outcome: Outcome) -> list[tuple[float, str, str]]:
    return [c for c in outcome.commands if c[1] in case.scenario.rig.node_outlets and c[2] == "on"]


def judge(case: Case, outcome: Outcome) -> None:
    why = outcome.describe()
    expect, rig = case.expect, case.scenario.rig
    # the same verdict from every front end: the scenario's
    assert outcome.verdict == expect.verdict, why
    assert outcome.rc == (expect.agent_code if case.front == "agent" else expect.code), why
    assert "Traceback" not in outcome.stderr, why
    # within the deadline; and a busy device was waited for, not barged into
    assert outcome.elapsed <= DEADLINE + MARGIN, why
    assert outcome.elapsed >= case.scenario.hold - 0.1, why
    # the neighbours were never touched
    assert not [c for c in outcome.commands if c[1] in rig.neighbours], why
    if case.verb == "status":
        assert outcome.commands == [], why
        return
    # never an on before every outlet of the node really went off
    offs = first_off(outcome)
    for t, outlet, _ in on_commands(case, outcome):
        late = [o for o in rig.node_outlets if o not in offs or offs[o] > t]
        assert not late, f"outlet {outlet} switched on while {late} had not gone off" + why
    if expect.verdict == "ok":
        for outlet in rig.node_outlets:
            states = [s for _, o, s in outcome.events if o == outlet]
            assert states == (["off", "on"] if case.verb == "reset" else ["off"]), why
            assert outcome.truth[outlet] == ("on" if case.verb == "reset" else "off"), why
        if case.verb == "reset":
            ons = [t for t, o, s in outcome.events if o in rig.node_outlets and s == "on"]
            assert max(offs.values()) < min(ons), why
    elif expect.verdict == "on-failed":
        # fenced for real: every outlet went off; the one that ignores on is off still, the others on
        assert set(offs) >= set(rig.node_outlets), why
        back = {o: "off" if o == str(case.scenario.no_on) else "on" for o in rig.node_outlets}
        assert {o: outcome.truth[o] for o in rig.node_outlets} == back, why
    else:
        # a node not fenced is never switched on; what did go off stays off
        assert on_commands(case, outcome) == [], why
        assert {o: outcome.truth[o] for o in rig.node_outlets} == dict(case.scenario.left), why


@pytest.mark.parametrize("case", params(CASES))
def test_scenario(case: Case, outcomes: dict[str, Outcome]) -> None:
    judge(case, outcomes[case.id])


@pytest.mark.parametrize("case", params([c for c in CASES if c.scenario.name == "unknown-read-back"]))
def test_unknown_read_back_is_never_the_wanted_state(case: Case, outcomes: dict[str, Outcome]) -> None:
    """Outlet 3 reads "???" and its relay is really on (outlet 2 is off): the node is neither off,
    nor fenced, nor switched on."""
    outcome = outcomes[case.id]
    why = outcome.describe()
    assert outcome.truth["3"] == "on", why  # the ground truth: a success would be a false one
    if case.verb == "status":
        assert outcome.verdict == "unknown", why  # neither OFF (agent: exit 2) nor ON
        assert (outcome.rc == 1) if case.front == "agent" else (outcome.rc != 0), why
        return
    assert outcome.verdict == "failed" and outcome.rc != 0, why
    assert on_commands(case, outcome) == [], why
    if case.front == "cluster":
        off = [d for d in json.loads(outcome.stdout)[0]["devices"] if d["phase"] == "off"]
        assert {o["id"]: o["state"] for d in off for o in d["outlets"]} == {"2": "off", "3": "unknown"}, why
    else:
        assert "outlet 3 (n2): still unknown after" in outcome.stderr, why


@pytest.mark.parametrize(
    "case", params([c for c in CASES if c.scenario.name == "stuck" and c.verb == "reset"])
)
def test_reset_through_a_stuck_relay_never_switches_on(case: Case, outcomes: dict[str, Outcome]) -> None:
    """The relay of outlet 3 ignores off: no on command, for it or its twin outlet 2; failure."""
    outcome = outcomes[case.id]
    why = outcome.describe()
    assert outcome.verdict == "failed" and outcome.rc != 0, why
    assert [(o, s) for _, o, s in outcome.commands] == [("2", "off"), ("3", "off")], why
    assert outcome.truth["3"] == "on" and outcome.truth["2"] == "off", why
    assert "outlet 3 (n2): still on after" in outcome.stdout + outcome.stderr, why


@pytest.mark.parametrize("case", params(cases_of([STATUS_LIE])))
def test_the_ground_truth_check_catches_what_no_front_end_can(
    case: Case, outcomes: dict[str, Outcome]
) -> None:
    """``lie-status=3``: the device reports outlet 3 off while its relay stays on.  Every front end
    believes it (nothing on the wire says otherwise); the ground-truth check of this table does not."""
    outcome = outcomes[case.id]
    assert outcome.verdict == "ok", outcome.describe()
    assert outcome.truth["3"] == "on", outcome.describe()
    with pytest.raises(AssertionError):
        judge(case, outcome)

"""Issue 17: a ``reset`` against a stuck relay, for every driver and every front end.

The gap this closes: a ``reset`` that switched on *without* reading back off first went unnoticed,
because every driver fault test used ``-T off``.  Here every mock type of ``hwtests/every-mock.d``
(one device file per shipped mock) is started afresh, in this process, with the node's outlet stuck
(``--fault stuck=1``: the device acknowledges off, the relay stays on), and a reset of that node is
run through each of the three front ends (all on one engine, stonith/fencing/engine.py):

- ``cli``: ``stonith reset NODE --devices DIR --json --timeout S --audit none`` over a devices.d
  holding the every-mock.d file, its address replaced by the mock's;
- ``glue``: ``stonith -t TYPE name=value ... --timeout S -T reset NODE`` with the same parameters;
- ``agent``: ``python -m stonith.cli.fence_agent TYPE`` with ``action=reboot``, ``plug=``, the driver's
  parameters by name and ``login_timeout + 2 * power_timeout`` = S (shell_timeout and power_wait 0).

Every run must (a) not succeed: exit 5 or 6 (cluster-glue's S_RESETFAIL / S_TIMEOUT) from ``cli``
and ``glue``, exit 1 from ``agent``; (b) leave the mock's ground truth untouched: the device
accepted nothing but ``off`` for the stuck outlet (a command log kept by wrapping the mock's relay
controller: an ``on`` for a relay that is on leaves no relay event, so the events alone could not
show it), no relay changed at all, every outlet still on; (c) end within S + MARGIN.

Every node of every file is its mock's outlet 1 (the first ``--names`` entry): that is the outlet
made stuck.  The runs are independent (a mock, a lock directory, a devices.d each), so a module
fixture runs every selected case at once, WORKERS at a time, before the first test judges its own.

What is covered: every driver type once, in the personality its every-mock.d file
starts (baytech rpc3-nc without a login, apcmaster msp, wti_nps nps, ipmilan lanplus, redfish over
plain HTTP, the serial protocols over ``socket://``, sispm through its fake USB backend, snmp_pdu
autodetecting a Raritan), a node of one outlet (no dual feed), and one fault (stuck; lying
acknowledgements, hangs and the rest are hwtests/campaign.py's).
A control replays the issue-17 bug itself (off, then on, no read-back) on every driver and shows
that the ground-truth check fails it.

Exempt types (EXEMPT, checked against ``stonith.fencing.engine.verifiable``) cannot read outlets back, so
no front end can verify anything through them: the cluster CLI and the agent must refuse them
(never exit 0) without switching anything; the cluster-glue syntax switches them unverified and
must say "NOT verified" when it exits 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, stonith_cmd

EVERY_MOCK = REPO / "hwtests" / "every-mock.d"
PASSWORD = "stuck-relay-pw"  # every secret: password or community (IPMI: at most 20 bytes)
STUCK = 1  # the node's outlet in the mock's ground truth (its first --names entry)
DEADLINE = 3.0  # seconds: every front end's deadline ...
DEADLINES = {"apcsmart": 4.0}  # ... except where one off takes longer (a command sent twice 1.5 s apart)
MARGIN = 2.0  # process start-up and logout on top of the deadline
SETTLE = 0.5
WORKERS = 6  # concurrent runs: most of a run is waiting for the deadline
FRONT_ENDS = ("cli", "glue", "agent")

# Types that cannot verify a reset, and why (must equal the types verifiable() refuses).
EXEMPT: dict[str, str] = {
    "nw_rpc100s": "Night/Ware RPC100S: no status command (capabilities.status false), nothing reads back",
    "rcd_serial": "RC reset circuit on a modem line: pulses reset only, no status and no off/on",
}

# Product bugs found here: case id -> reason (the case is xfail(strict=True) until fixed).
KNOWN_BUGS: dict[str, str] = {}


# -- the devices: every-mock.d ----------------------------------------------------------------


@dataclass(frozen=True)
class Rig:
    """One every-mock.d device file, ready to be pointed at a fresh mock."""

    file: str
    type: str  # driver type
    mock_type: str
    mock_args: tuple[str, ...]  # stonith-mock argv without TYPE, --listen taken out
    listen: str | None  # the file's fixed mock address (replaced by the fresh mock's)
    parameters: dict[str, Any]
    secrets: tuple[str, ...]  # secret field names (all get PASSWORD)
    hosts: dict[str, Any]
    node: str

    @property
    def name(self) -> str:
        return self.file.removesuffix(".toml")

    @property
    def deadline(self) -> float:
        return DEADLINES.get(self.type, DEADLINE)

    @property
    def relay_delay(self) -> float:
        for flag in ("--relay-delay", "--toggle-delay"):
            if flag in self.mock_args:
                return float(self.mock_args[self.mock_args.index(flag) + 1])
        return 0.0

    def config(self, address: str | None) -> dict[str, Any]:
        """The driver's parameters with the file's mock address replaced by ``address``."""
        if self.listen is None or address is None:
            return dict(self.parameters)
        return {
            k: v.replace(self.listen, address) if isinstance(v, str) else v
            for k, v in self.parameters.items()
        }

    @property
    def plug(self) -> str:
        """What the agent is given as plug: the node's outlet id where the file maps it, else the
        node (a BMC's hostname, or an outlet the device names after the node)."""
        mapped = self.hosts.get(self.node)
        return self.node if mapped is None else ",".join([mapped] if isinstance(mapped, str) else mapped)


def load_rig(path: Path) -> Rig:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    mock = data["mock"]
    args = list(mock["args"])
    listen = None
    if "--listen" in args:
        i = args.index("--listen")
        listen = args[i + 1]
        del args[i : i + 2]
    names = args[args.index("--names") + 1].split(",")
    return Rig(
        file=path.name,
        type=data["type"],
        mock_type=mock.get("type", data["type"]),
        mock_args=tuple(args),
        listen=listen,
        parameters=dict(data.get("parameters", {})),
        secrets=tuple(data.get("secrets", {})),
        hosts=dict(data.get("hosts", {})),
        node=names[STUCK - 1],
    )


# By file: a type may have several (apcmaster over telnet menus and over SSH).
RIGS: dict[str, Rig] = {r.name: r for r in map(load_rig, sorted(EVERY_MOCK.glob("*.toml")))}


@dataclass(frozen=True)
class Case:
    rig: Rig
    front: str

    @property
    def id(self) -> str:
        return f"{self.rig.name}-{self.front}"

    @property
    def exempt(self) -> bool:
        return self.rig.type in EXEMPT


CASES = [Case(rig, front) for rig in RIGS.values() for front in FRONT_ENDS]
# Controls: the issue-17 bug itself, off then on without read-back, to show the check catches it.
CONTROLS = [Case(rig, "naive") for rig in RIGS.values() if rig.type not in EXEMPT]


def params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c.id])] if c.id in KNOWN_BUGS else [],
        )
        for c in cases
    ]


# -- running one case ---------------------------------------------------------------------------

Log = list[tuple[str, str]]  # (outlet, command): every switching command the device accepted


@dataclass
class Outcome:
    argv: list[str]
    stdin: str | None
    rc: int
    stdout: str
    stderr: str
    elapsed: float
    commands: Log
    events: list[tuple[str, str]]  # every real relay change: (outlet, state)
    truth: dict[str, str]  # outlet -> state at the end

    def describe(self) -> str:
        stdin = f"\nstdin: {self.stdin!r}" if self.stdin else ""
        return (
            f"\n$ {' '.join(self.argv)}{stdin}\nexit {self.rc} after {self.elapsed:.2f} s\n"
            f"stdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-1500:]}\n"
            f"commands: {self.commands}\nrelays: {self.events}\ntruth: {self.truth}"
        )


def tap(running: Any) -> Log:
    """Log every switching command the running mock accepts (before any fault ignores it)."""
    log: Log = []
    lab = getattr(running, "lab", None)
    if lab is not None:  # BMCs (ipmilan, redfish): one chassis each, outlet "1"
        for chassis in lab.chassis.values():
            for verb in ("power", "cycle", "reset"):
                method = getattr(chassis, verb)

                def logged(*args: Any, _verb: str = verb, _method: Any = method) -> None:
                    log.append(("1", args[0] if _verb == "power" else _verb))
                    _method(*args)

                setattr(chassis, verb, logged)
        return log
    # SNMP agent, Redfish PDU service, or a line/USB device: whichever holds the relays
    holder = getattr(running, "agent", None) or getattr(running, "service", None) or running.device
    outlets = holder.outlets
    switch = outlets.switch

    def logged_switch(number: int, state: str) -> None:
        log.append((str(number), state))
        switch(number, state)

    outlets.switch = logged_switch
    return log


@contextlib.contextmanager
def started_mock(rig: Rig) -> Iterator[tuple[Any, Log]]:
    """A fresh mock of the rig's type in this process, the node's outlet stuck, with its command log."""
    from stonith.mocks.__main__ import start

    argv = [rig.mock_type, *rig.mock_args, "--fault", f"stuck={STUCK}", "--password", PASSWORD]
    if rig.listen is not None:
        argv += ["--listen", "127.0.0.1:0"]
    if "community" in rig.secrets:
        argv += ["--community", PASSWORD]
    running: Any = start(argv)
    try:
        yield running, tap(running)
    finally:
        running.close()


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def glue_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def command(case: Case, address: str | None, tmp: Path) -> tuple[list[str], str | None]:
    """The front end's command line (and stdin) for a reset of the rig's node."""
    rig = case.rig
    config = rig.config(address)
    deadline = rig.deadline
    if case.front == "cli":
        devices = tmp / "devices.d"
        devices.mkdir()
        lines = [f'type = "{rig.type}"', f"settle = {SETTLE}", f"timeout = {deadline}", "[parameters]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in config.items()]
        if rig.secrets:
            lines += ["[secrets]", *(f'{k} = {{ env = "STUCK_RELAY_SECRET" }}' for k in rig.secrets)]
        if rig.hosts:
            lines += ["[hosts]", *(f"{json.dumps(k)} = {toml_value(v)}" for k, v in rig.hosts.items())]
        (devices / rig.file).write_text("\n".join(lines) + "\n", encoding="utf-8")
        argv = [*stonith_cmd(), "reset", rig.node, "--devices", str(devices), "--json"]
        return [*argv, "--timeout", str(deadline), "--audit", "none"], None
    if case.front == "glue":
        nvpairs = [f"{k}={glue_value(v)}" for k, v in config.items()]
        nvpairs += [f"{k}={PASSWORD}" for k in rig.secrets]
        argv = [*stonith_cmd(), "-t", rig.type, *nvpairs, "--timeout", str(deadline)]
        return [*argv, "-T", "reset", rig.node], None
    if case.front == "naive":
        secrets = {k: PASSWORD for k in rig.secrets}
        # a generous deadline: it must get as far as its on (apcsmart: about 2.5 s a verb)
        stdin = json.dumps({"config": config | secrets, "node": rig.node, "deadline": 20.0})
        return [sys.executable, "-P", "-c", NAIVE_RESET, rig.type], stdin
    login = 1.0
    power = (deadline - login) / 2
    lines = ["action=reboot", f"plug={rig.plug}"]
    lines += [f"{k}={glue_value(v)}" for k, v in config.items()]
    lines += [f"{k}={PASSWORD}" for k in rig.secrets]
    lines += [f"login_timeout={login}", f"power_timeout={power}", "shell_timeout=0", "power_wait=0"]
    return [sys.executable, "-P", "-m", "stonith.cli.fence_agent", rig.type], "\n".join(lines) + "\n"


# The control: what issue 17 found, a reset switching on without reading back off first.
NAIVE_RESET = """
import json, sys
from stonith.fencing import engine
from stonith.contract.deadline import Deadline
from stonith.fencing.device import construct
args = json.load(sys.stdin)
driver = construct(sys.argv[1], args["config"]).driver
entry = engine.one_device(driver).devices[0]
engine.unverified(entry, args["node"], "reset", Deadline(args["deadline"], "reset"))
print("switched without read-back")
"""


def run_case(case: Case) -> Outcome:
    rig = case.rig
    with (
        tempfile.TemporaryDirectory(prefix="stonith-stuck-") as tmp,
        started_mock(rig) as (mock, commands),
    ):
        argv, stdin = command(case, mock.info.get("address"), Path(tmp))
        env = dict(os.environ, LANG="C.UTF-8", STUCK_RELAY_SECRET=PASSWORD, STONITH_AUDIT="none")
        env["STONITH_LOCK_DIR"] = os.path.join(tmp, "locks")
        env.pop("LANGUAGE", None)
        if "usb_backend" in mock.info:  # sispm: the fake USB backend this mock serves
            env["STONITH_USB_BACKEND"] = mock.info["usb_backend"]
        started = time.monotonic()
        proc = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
        )
        elapsed = time.monotonic() - started
        time.sleep(rig.relay_delay + 0.1)  # relays still in flight land
        truth = mock.truth()
        return Outcome(
            argv=argv,
            stdin=stdin,
            rc=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            elapsed=elapsed,
            commands=list(commands),
            events=[(e["outlet"], e["state"]) for e in truth["events"]],
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
    order = sorted(selected.values(), key=lambda c: (c.exempt, -c.rig.deadline))  # longest first
    with ThreadPoolExecutor(WORKERS) as pool:
        return {c.id: outcome for c, outcome in zip(order, pool.map(run_case, order), strict=True)}


# -- the tests ----------------------------------------------------------------------------------


def test_every_mock_type_is_covered() -> None:
    """Every shipped mock type has an every-mock.d file, and so a row here; the exemption table is
    exactly the types the engine cannot verify."""
    from stonith.mocks.__main__ import MOCKS

    from stonith.fencing import engine, registry

    types = {r.mock_type for r in RIGS.values()}
    assert set(MOCKS) <= types, f"mock types without an every-mock.d file: {set(MOCKS) - types}"
    unverifiable = {r.type for r in RIGS.values() if not engine.verifiable(registry.load(r.type))}
    assert unverifiable == set(EXEMPT)
    for rig in RIGS.values():  # the node is the stuck outlet: its first name, mapped to that outlet
        assert rig.node.endswith("-n1"), rig
        assert rig.hosts.get(rig.node, "1") == "1", rig


def judge(case: Case, outcome: Outcome) -> None:
    """(a) not a success, (b) the ground truth untouched but for the stuck outlet's off, (c) in time."""
    why = outcome.describe()
    # (a) not a success
    if case.front == "agent":
        assert outcome.rc == 1, why
    else:
        assert outcome.rc in (5, 6), why
    assert "Traceback" not in outcome.stderr, why
    if case.front == "cli":
        (result,) = json.loads(outcome.stdout)
        assert result["node"] == case.rig.node and result["result"] == "failed", why
    # (b) the ground truth
    judge_truth(outcome)
    # (c) within the deadline
    assert outcome.elapsed <= case.rig.deadline + MARGIN, why


def judge_truth(outcome: Outcome) -> None:
    """The device was told off for the stuck outlet (so the case is not vacuous) and nothing else:
    above all no "on", for it or any other outlet; and no relay moved."""
    why = outcome.describe()
    assert (str(STUCK), "off") in outcome.commands, why
    assert set(outcome.commands) == {(str(STUCK), "off")}, why
    assert outcome.events == [], why
    assert set(outcome.truth.values()) == {"on"}, why


@pytest.mark.parametrize("case", params([c for c in CASES if not c.exempt]))
def test_reset_against_a_stuck_relay(case: Case, outcomes: dict[str, Outcome]) -> None:
    """Off acknowledged, the relay stays on: the reset fails in time and nothing is switched on."""
    judge(case, outcomes[case.id])


@pytest.mark.parametrize("case", params(CONTROLS))
def test_the_check_catches_a_reset_without_read_back(case: Case, outcomes: dict[str, Outcome]) -> None:
    """The issue-17 bug replayed on every driver (off, then on, no read-back: ``engine.unverified``)
    fails the ground-truth check whatever its exit code.  Its ``on`` finds the stuck relay on and
    changes nothing, so the relay events are as empty as a correct run's: the command log shows it."""
    outcome = outcomes[case.id]
    why = outcome.describe()
    assert outcome.rc == 0 and outcome.stdout == "switched without read-back\n", why
    assert outcome.commands == [(str(STUCK), "off"), (str(STUCK), "on")], why
    assert outcome.events == [] and set(outcome.truth.values()) == {"on"}, why
    with pytest.raises(AssertionError, match=r"\('1', 'on'\)"):
        judge_truth(outcome)


@pytest.mark.parametrize("case", params([c for c in CASES if c.exempt]))
def test_unverifiable_device_is_never_a_fence(case: Case, outcomes: dict[str, Outcome]) -> None:
    """The cluster CLI and the agent refuse a device that cannot read back, before switching
    anything; the cluster-glue syntax may switch it but then says it is NOT verified."""
    outcome = outcomes[case.id]
    why = outcome.describe()
    assert "Traceback" not in outcome.stderr, why
    assert outcome.elapsed <= case.rig.deadline + MARGIN, why
    if case.front == "glue":
        assert outcome.rc != 0 or "NOT verified" in outcome.stdout + outcome.stderr, why
        return
    assert outcome.rc != 0, why
    if case.front == "agent":
        assert outcome.rc == 1, why
    assert outcome.commands == [] and outcome.events == [], why

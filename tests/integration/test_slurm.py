"""Issue 25 item 5: stonith as Slurm's SuspendProgram/ResumeProgram under a real slurmctld.

A private munged (own key and socket) and slurmctld run on loopback from a temporary directory;
three nodes n1-n3 are fed by one BayTech mock (outlets 1-3, mapped in a devices.d).  n1 and n2 are
power-saving cloud nodes that start powered down (mock outlets off); n3 starts on with its slurmd.
The test plays the hardware: whenever a node's outlet is on in the mock's ground truth, a slurmd
for it runs (``slurmd -N n1 -b``: several slurmd on one host by NodeName/Port, "-b" reports the
boot as slurm.conf(5) advises when the node is not really rebooted); when the outlet goes off,
that slurmd is killed, as power loss would.

Checked from the mock's ground truth: a job submitted to the powered-down n1 makes slurmctld call
stonith-slurm-resume, which switches outlet 1 on; the idle n3 is switched off after SuspendTime;
the job then runs on n1 (Slurm accepted the resumed node).  n2 is never touched.  Each program
call returns at once (the work is detached) and is logged to the log file.

Needs munge, slurmctld, slurmd and slurm-client (Debian packages); slurmd runs as root.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stonith.mocks.harness import start_mock

from tests.conftest import require_peer, skip_or_fail

pytestmark = [pytest.mark.peer, pytest.mark.slow]

PASSWORD = "slurm-test-pw"
NODES = ("n1", "n2", "n3")
SUSPEND_TIME = 4  # seconds idle before slurmctld calls SuspendProgram
STEP = 0.1


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait(check, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tail}")
        time.sleep(STEP)


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)  # slurmctld refuses a program that group or others may write


class Stack:
    """munged + slurmctld + one slurmd per powered node, all in ``root``; stopped by ``close``."""

    def __init__(self, root: Path, mock, programs: dict[str, str]) -> None:
        self.root = root
        self.mock = mock
        self.programs = programs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.slurmd: dict[str, subprocess.Popen[bytes]] = {}
        self.env = dict(os.environ, SLURM_CONF=str(root / "slurm.conf"))
        self._stop = threading.Event()
        self._hardware = threading.Thread(target=self._power_follows_outlets, daemon=True)

    def _start(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        out = open(self.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.root)
        out.close()
        self.processes.append(proc)
        return proc

    def start(self, conf: str) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        self.socket = munge / "sock"
        self._start(
            [
                self.programs["munged"],
                "-F",
                "--force",
                f"--socket={self.socket}",
                f"--key-file={key}",
                f"--pid-file={munge / 'pid'}",
                f"--seed-file={munge / 'seed'}",
                f"--log-file={munge / 'log'}",
            ],
            "munged",
        )
        _wait(self.socket.exists, 10, "munged's socket")
        (self.root / "slurm.conf").write_text(conf.replace("@MUNGE@", str(self.socket)))
        self._start(
            [self.programs["slurmctld"], "-D", "-i", "-f", str(self.root / "slurm.conf")], "slurmctld"
        )
        _wait(self.controller_up, 20, "slurmctld to answer", self.root / "log" / "slurmctld.log")
        self._hardware.start()

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), capture_output=True, text=True, env=self.env, timeout=20, check=False, cwd=self.root
        )

    def controller_up(self) -> bool:
        return self.run(self.programs["scontrol"], "ping").stdout.count("UP") >= 1

    def outlets(self) -> dict[str, str]:
        truth = self.mock.truth()["outlets"]
        return {node: truth[str(i + 1)]["state"] for i, node in enumerate(NODES)}

    def _power_follows_outlets(self) -> None:
        """The hardware: a node whose outlet is on runs its slurmd; power off kills it."""
        while not self._stop.wait(STEP):
            for node, state in self.outlets().items():
                running = self.slurmd.get(node)
                if state == "on" and (running is None or running.poll() is not None):
                    spool = self.root / "spool" / node
                    spool.mkdir(parents=True, exist_ok=True)
                    argv = [
                        self.programs["slurmd"],
                        "-D",
                        "-b",
                        "-N",
                        node,
                        "-f",
                        str(self.root / "slurm.conf"),
                    ]
                    self.slurmd[node] = self._start(argv, f"slurmd-{node}")
                elif state == "off" and running is not None and running.poll() is None:
                    running.kill()  # power loss: no orderly shutdown
                    running.wait(5)

    def node_state(self, node: str) -> str:
        out = self.run(self.programs["scontrol"], "show", "node", node).stdout
        for word in out.split():
            if word.startswith("State="):
                return word[len("State=") :]
        return ""

    def job_state(self, job: str) -> str:
        out = self.run(self.programs["scontrol"], "show", "job", job).stdout
        for word in out.split():
            if word.startswith("JobState="):
                return word[len("JobState=") :]
        return ""

    def close(self) -> None:
        self._stop.set()
        if self._hardware.is_alive():
            self._hardware.join(5)
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _slurm_conf(root: Path, ports: list[int], suspend: Path, resume: Path, user: str) -> str:
    ctld_port, slurmd_port, *node_ports = ports
    nodes = "\n".join(
        f"NodeName={node} NodeHostname=localhost NodeAddr=127.0.0.1 Port={port} CPUs=1 RealMemory=100"
        + (" State=CLOUD" if node != "n3" else "")
        for node, port in zip(NODES, node_ports, strict=True)
    )
    return f"""\
ClusterName=stonithtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=@MUNGE@
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.%n.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.%n.log
SlurmctldDebug=info
DebugFlags=Power
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
PrivateData=cloud
# Power saving: stonith switches the nodes' outlets.
SuspendProgram={suspend}
ResumeProgram={resume}
SuspendTime={SUSPEND_TIME}
SuspendTimeout=10
ResumeTimeout=40
# power_save_interval: check every second (default 10) to keep the test short.
SlurmctldParameters=idle_on_node_suspend,power_save_interval=1,power_save_min_interval=0
{nodes}
PartitionName=batch Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Stack, Path]]:
    programs = {
        "munged": require_peer("munged", "munge"),
        "slurmctld": require_peer("slurmctld", "slurmctld"),
        "slurmd": require_peer("slurmd", "slurmd"),
        "scontrol": require_peer("scontrol", "slurm-client"),
        "sbatch": require_peer("sbatch", "slurm-client"),
    }
    if os.geteuid() != 0:
        skip_or_fail("slurmd must run as root (it starts job steps as their user)")
    # Short paths: munged's socket path must fit a sockaddr_un (108 bytes).
    root = tmp_path
    for sub in ("log", "state", "spool", "locks", "devices.d"):
        (root / sub).mkdir(mode=0o700)
    with start_mock(
        "baytech",
        model="rpc3",
        names=list(NODES),
        states=["off", "off", "on"],
        password=PASSWORD,
        relay_delay=0.05,
    ) as mock:
        secret = root / "pdu.password"
        secret.write_text(PASSWORD)
        secret.chmod(0o600)
        (root / "devices.d" / "pdu.toml").write_text(
            'type = "baytech"\ntimeout = 10\nsettle = 0.1\n'
            f'[parameters]\nipaddr = "{mock.address}"\nlogin = "admin"\n'
            f'[secrets]\npassword = {{ file = "{secret}" }}\n'
            "[hosts]\n" + "".join(f'{node} = "{i + 1}"\n' for i, node in enumerate(NODES))
        )
        # slurmctld runs the program with only SLURM_CONF in its environment: a site's devices.d is
        # /etc/stonith/devices.d; the test's is named by a wrapper, as a site with another would do.
        bindir = Path(sys.executable).parent
        wrappers = {}
        for action in ("suspend", "resume"):
            wrappers[action] = root / f"{action}.sh"
            _script(
                wrappers[action],
                "#!/bin/sh\n"
                f"STONITH_LOCK_DIR={root / 'locks'} exec {bindir / f'stonith-slurm-{action}'} "
                f"--devices {root / 'devices.d'} --log {root / 'log' / 'power.log'} "
                f'--audit {root / "log" / "audit.log"} --timeout 15 "$@"\n',
            )
        stack = Stack(root, mock, programs)
        try:
            stack.start(
                _slurm_conf(
                    root,
                    _free_ports(2 + len(NODES)),
                    wrappers["suspend"],
                    wrappers["resume"],
                    getpass.getuser(),
                )
            )
            yield stack, root
        finally:
            stack.close()


def _events(stack: Stack, outlet: int) -> list[str]:
    return [e["state"] for e in stack.mock.events() if e["outlet"] == str(outlet)]


def _log_lines(root: Path) -> list[str]:
    path = root / "log" / "power.log"
    return path.read_text().splitlines() if path.exists() else []


def test_slurm_resumes_a_node_for_a_job_and_suspends_an_idle_one(stack: tuple[Stack, Path]) -> None:
    slurm, root = stack
    started = time.monotonic()
    ctld_log = root / "log" / "slurmctld.log"
    assert slurm.outlets() == {"n1": "off", "n2": "off", "n3": "on"}
    job = slurm.run(slurm.programs["sbatch"], "--parsable", "-w", "n1", "-o", "/dev/null", "--wrap", "true")
    assert job.returncode == 0, job.stderr
    job_id = job.stdout.strip().split(";")[0]

    # slurmctld asks us to resume n1: outlet 1 goes on (read back), logged; the call returned at once
    _wait(lambda: _events(slurm, 1) == ["on"], 20, "outlet 1 (n1) switched on", ctld_log)
    _wait(lambda: any("n1: on ok" in line for line in _log_lines(root)), 10, "n1 logged", ctld_log)
    accepted = [line for line in _log_lines(root) if "accepted" in line and "stonith-slurm-resume" in line]
    assert accepted and "n1" in accepted[0] and "job(s) " + job_id in accepted[0], _log_lines(root)
    # the idle n3 is powered off after SuspendTime
    _wait(lambda: _events(slurm, 3) == ["off"], SUSPEND_TIME + 20, "outlet 3 (n3) switched off", ctld_log)
    _wait(lambda: any("n3: off ok" in line for line in _log_lines(root)), 10, "n3 logged", ctld_log)
    # Slurm accepts the resumed node: its slurmd registered and the job ran there.  (Slurm starts a
    # job on a resumed node at its next periodic check, up to 30 s later.)
    _wait(lambda: slurm.job_state(job_id) == "COMPLETED", 50, f"job {job_id} to complete on n1", ctld_log)
    # ... and, idle again, n1 goes back to power saving
    _wait(lambda: _events(slurm, 1) == ["on", "off"], SUSPEND_TIME + 20, "outlet 1 off again", ctld_log)
    assert _events(slurm, 2) == []  # n2 was never asked for
    audit = [json.loads(line) for line in (root / "log" / "audit.log").read_text().splitlines()]
    assert {(a["node"], a["verb"], a["result"]) for a in audit} >= {("n1", "on", "ok"), ("n3", "off", "ok")}
    assert "program exit status" not in ctld_log.read_text()  # every call slurmctld made exited 0
    assert time.monotonic() - started < 85

"""Issue 5: our fence agents under Pacemaker's real fencer, checked against the mocks' ground truth.

A one-node Corosync 3 + Pacemaker 2.1 stack comes up once for the module (tests/integration/
pacemaker.py), ``stonith install-agents`` puts fence_stonith_baytech and fence_stonith_null into
/usr/sbin, and stonith devices on BayTech mocks (loopback) are registered through the CIB.  Every
device claims phantom nodes only, never the local node (fencing it would take the stack down).

It takes over the machine's corosync configuration and Pacemaker state (backed up and restored),
so it runs only with STONITH_PACEMAKER_TESTS=1, as root, one stack per machine (lock file).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require_peer, run_stonith
from tests.integration.pacemaker import PROGRAMS, Pacemaker, StackError

ENABLED = os.environ.get("STONITH_PACEMAKER_TESTS") == "1"
pytestmark = [
    pytest.mark.peer,
    pytest.mark.slow,
    pytest.mark.skipif(
        not ENABLED,
        reason="takes over this machine's corosync/Pacemaker configuration; "
        "run as root with STONITH_PACEMAKER_TESTS=1 to enable",
    ),
]

AGENT_DIR = Path("/usr/sbin")
BAYTECH = "fence_stonith_baytech"
NULL = "fence_stonith_null"
USERNAME = "admin"
PASSWORD = "pcmk-test-pw"
ADMIN_TIMEOUT = "30"  # stonith_admin --timeout; the client itself is killed after 60 s
# Small but not flaky: the mocks answer in milliseconds on loopback.
TIMEOUTS = {"login_timeout": "3", "shell_timeout": "2", "power_timeout": "3"}
# The stuck-relay device fails by timing out: keep its deadline (login + shell + 2 x power) short.
STUCK_TIMEOUTS = {"login_timeout": "2", "shell_timeout": "1", "power_timeout": "1"}

MAIN_MAP = "phantom1:1;phantom2:2;nodeX:3,4;phantom3:web3"


@dataclass
class Cluster:
    stack: Pacemaker
    mocks: dict[str, object]
    dead_port: int
    fenced: set[str] = field(default_factory=set)

    def mock(self, name: str):  # -> MockHandle
        return self.mocks[name]

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.stack.admin(*args)

    def fence(self, verb: str, target: str) -> subprocess.CompletedProcess[str]:
        proc = self.stack.admin(verb, target, "--timeout", ADMIN_TIMEOUT)
        if proc.returncode == 0:
            self.fenced.add(target)
        return proc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _existing_agents() -> dict[Path, bytes]:
    """fence_stonith_* already in /usr/sbin: ``--remove`` at the end would delete them too."""
    return {p: p.read_bytes() for p in AGENT_DIR.glob("fence_stonith_*") if p.is_file()}


def _restore_agents(saved: dict[Path, bytes]) -> None:
    for path, data in saved.items():
        if not path.exists():
            path.write_bytes(data)
            path.chmod(0o755)


def _hacluster_can_run(agent: Path) -> bool:
    """The controller runs ``metadata`` as hacluster; an interpreter it cannot reach fails that."""
    runuser = shutil.which("runuser")
    if runuser is None:
        return True
    proc = subprocess.run(
        [runuser, "-u", "hacluster", "--", str(agent)],
        input="action=metadata\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return proc.returncode == 0 and "<resource-agent" in proc.stdout


@pytest.fixture(scope="module")
def cluster(request):
    for program, package in PROGRAMS.items():
        require_peer(program, package)
    if os.geteuid() != 0:
        pytest.fail("STONITH_PACEMAKER_TESTS=1 but not root: the stack must run as root")
    from stonith.mocks.harness import start_mock

    # The agents' interpreter (this venv's python) must be reachable by hacluster: see _grant_traverse.
    stack = Pacemaker(reachable=[sys.executable])
    saved_agents = _existing_agents()
    with contextlib.ExitStack() as cleanup:
        # Undone in reverse: mocks stop last, after the stack (no agent may be left talking to them).
        mocks: dict[str, object] = {}

        def mock(name: str, names: list[str], faults: tuple[str, ...] = ()) -> str:
            # `python -m stonith.mocks` must not find the checkout's stonith/ (no mocks in it) first.
            with contextlib.chdir("/"):
                handle = cleanup.enter_context(
                    start_mock(
                        "baytech",
                        subprocess_=True,
                        model="rpc3",
                        listen="127.0.0.1:0",
                        names=names,
                        username=USERNAME,
                        password=PASSWORD,
                        relay_delay=0.01,
                        faults=list(faults) or None,
                    )
                )
            mocks[name] = handle
            return handle.address

        main = mock("main", ["phantom1", "phantom2", "nodeX-a", "nodeX-b", "web3"])
        refuse = mock("refuse", ["topo1", "lonely"], ("refuse-login",))
        backup = mock("backup", ["topo1", "topo2"])
        stuck = mock("stuck", ["broken-a", "broken-b"], ("stuck=2",))
        ghost = mock("ghost", ["ghost"])
        dead_port = _free_port()

        cleanup.callback(_restore_agents, saved_agents)
        cleanup.callback(run_stonith, "install-agents", "--dir", str(AGENT_DIR), "--remove")
        cleanup.callback(_finish, stack, request)
        try:
            stack.start()
        except StackError as exc:
            pytest.fail(f"Pacemaker stack did not start: {exc}")
        installed = run_stonith(
            "install-agents", "--dir", str(AGENT_DIR), "--type", "baytech", "--type", "null"
        )
        assert installed.returncode == 0, installed.stderr
        if not _hacluster_can_run(AGENT_DIR / BAYTECH):
            warnings.warn(
                f"user hacluster cannot run {AGENT_DIR / BAYTECH} (its interpreter is not reachable, "
                "e.g. a venv under /root): pacemaker-controld's metadata calls fail and every "
                "resource operation of our devices is delayed by ~1 s of retries (shutdown may stall)",
                stacklevel=1,
            )
        stack.set_property("stonith-enabled", "true")
        stack.set_property("startup-fencing", "true")
        stack.set_property("stonith-timeout", "30s")

        def device(device_id: str, address: str, host_map: str, **extra: str) -> None:
            params = {"ip": address, "username": USERNAME, "password": PASSWORD, **TIMEOUTS, **extra}
            params["pcmk_host_map"] = host_map
            # Registration is all fencing needs; the resource start (monitor) proceeds in the
            # background, serialised with our requests by the fencer's per-device queue.
            stack.add_device(device_id, BAYTECH, params, started=False)

        device("fence-main", main, MAIN_MAP)
        device("fence-refuse", refuse, "topo1:1;lonely:2")
        device("fence-dead", f"127.0.0.1:{dead_port}", "topo2:1")
        device("fence-backup", backup, "topo1:1;topo2:2")
        device("fence-stuck", stuck, "broken:1,2", **STUCK_TIMEOUTS, pcmk_reboot_retries="1")
        device("fence-ghost", ghost, "ghost:1")
        stack.add_device(
            "fence-null", NULL, {"hostlist": "nullnode", "pcmk_host_list": "nullnode"}, started=False
        )
        stack.add_levels(
            [
                ("topo1", 1, ["fence-refuse"]),
                ("topo1", 2, ["fence-backup"]),
                ("topo2", 1, ["fence-dead"]),
                ("topo2", 2, ["fence-backup"]),
            ]
        )
        yield Cluster(stack, mocks, dead_port)


def _finish(stack: Pacemaker, request) -> None:
    stack.stop()
    if stack.workdir is None:
        return
    if request.session.testsfailed or os.environ.get("STONITH_PACEMAKER_KEEP_LOGS") == "1":
        print(f"\nPacemaker logs kept in {stack.logdir}")
    else:
        stack.remove_workdir()


# ---------------------------------------------------------------------------------------------
# Ground-truth helpers


def _events(mock) -> list[dict]:
    return list(mock.truth()["events"])


def _wait(predicate, timeout: float = 20.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def _history(cluster: Cluster, target: str) -> list[dict[str, str]]:
    return [e for e in cluster.stack.history(target) if e.get("target") == target]


def _assert_history(cluster: Cluster, target: str, action: str, status: str = "success") -> dict[str, str]:
    events = _history(cluster, target)
    matching = [e for e in events if e.get("action") == action and e.get("status") == status]
    assert matching, f"no {action}/{status} of {target} in the fence history: {events}"
    return matching[0]


def _cycled(events: list[dict], outlets: set[str]) -> None:
    """Every outlet went off then on, and none came on before all of them were off."""
    mine = [e for e in events if e["outlet"] in outlets]
    assert {e["outlet"] for e in mine if e["state"] == "off"} == outlets, mine
    assert {e["outlet"] for e in mine if e["state"] == "on"} == outlets, mine
    first_on = next(i for i, e in enumerate(mine) if e["state"] == "on")
    off_before = {e["outlet"] for e in mine[:first_on] if e["state"] == "off"}
    assert off_before == outlets, f"an outlet came on before all of {sorted(outlets)} were off: {mine}"
    last_off = max(e["t"] for e in mine if e["state"] == "off")
    assert all(e["t"] >= last_off for e in mine if e["state"] == "on"), mine


# ---------------------------------------------------------------------------------------------
# Client commands that do not fence


def test_agents_visible_to_pacemaker(cluster):
    out = cluster.admin("--list-installed").stdout.split()
    assert BAYTECH in out
    assert NULL in out
    assert {"fence-main", "fence-ghost", "fence-null"} <= set(cluster.stack.registered())


@pytest.mark.parametrize("agent", [BAYTECH, NULL])
def test_metadata(cluster, agent):
    proc = cluster.admin("--metadata", "--agent", agent)
    assert proc.returncode == 0, proc.stderr
    root = ET.fromstring(proc.stdout)
    assert root.tag == "resource-agent"
    assert root.get("name") == agent
    params = {p.get("name") for p in root.iter("parameter")}
    assert {"plug", "port"} <= params
    actions = {a.get("name") for a in root.iter("action")}
    assert {"on", "off", "reboot", "status", "list", "monitor", "metadata", "validate-all"} <= actions


def test_validate(cluster):
    good = cluster.admin(
        "--validate",
        "--agent",
        BAYTECH,
        "--option",
        f"ip={cluster.mock('main').address}",
        "--option",
        f"username={USERNAME}",
        "--option",
        f"password={PASSWORD}",
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "succeeded" in good.stdout
    bad = cluster.admin(
        "--validate", "--agent", BAYTECH, "--option", "ip=127.0.0.1:23", "--option", "speed=fast"
    )
    assert bad.returncode != 0, bad.stdout
    assert "failed" in bad.stdout + bad.stderr
    assert "speed" in bad.stdout + bad.stderr


def test_query(cluster):
    before = _events(cluster.mock("main"))
    ok = cluster.admin("--query", "fence-main", "--timeout", ADMIN_TIMEOUT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    refused = cluster.admin("--query", "fence-refuse", "--timeout", ADMIN_TIMEOUT)
    assert refused.returncode != 0
    dead = cluster.admin("--query", "fence-dead", "--timeout", ADMIN_TIMEOUT)
    assert dead.returncode != 0
    assert _events(cluster.mock("main")) == before  # monitoring never switches a relay


def test_list_targets(cluster):
    proc = cluster.admin("--list-targets", "fence-main", "--timeout", ADMIN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    tokens = set(proc.stdout.split())
    assert {"1", "phantom1", "2", "phantom2", "3", "nodeX-a", "4", "nodeX-b", "5", "web3"} <= tokens
    assert cluster.stack.node not in tokens


def test_list_devices_for_host(cluster):
    proc = cluster.admin("--list", "phantom1", "--timeout", ADMIN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "fence-main" in proc.stdout.split()
    both = cluster.admin("--list", "topo1", "--timeout", ADMIN_TIMEOUT).stdout.split()
    assert {"fence-refuse", "fence-backup"} <= set(both)
    local = cluster.admin("--list", cluster.stack.node, "--timeout", ADMIN_TIMEOUT)
    assert "0 fence devices found" in local.stdout, "a device claims the local node"


# ---------------------------------------------------------------------------------------------
# Fencing through stonith_admin


def test_reboot(cluster):
    mock = cluster.mock("main")
    mark = len(_events(mock))
    proc = cluster.fence("--reboot", "phantom1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = _events(mock)[mark:]
    assert [(e["outlet"], e["state"]) for e in events] == [("1", "off"), ("1", "on")]
    assert mock.state(1) == "on"
    _assert_history(cluster, "phantom1", "reboot")


def test_reboot_by_outlet_name(cluster):
    mock = cluster.mock("main")
    mark = len(_events(mock))
    proc = cluster.fence("--reboot", "phantom3")  # pcmk_host_map phantom3:web3 -> outlet 5
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = _events(mock)[mark:]
    assert [(e["outlet"], e["state"]) for e in events] == [("5", "off"), ("5", "on")]


def test_fence_then_unfence(cluster):
    mock = cluster.mock("main")
    mark = len(_events(mock))
    off = cluster.fence("--fence", "phantom2")
    assert off.returncode == 0, off.stdout + off.stderr
    assert [(e["outlet"], e["state"]) for e in _events(mock)[mark:]] == [("2", "off")]
    assert mock.state(2) == "off"
    _assert_history(cluster, "phantom2", "off")
    on = cluster.fence("--unfence", "phantom2")
    assert on.returncode == 0, on.stdout + on.stderr
    assert [(e["outlet"], e["state"]) for e in _events(mock)[mark:]] == [("2", "off"), ("2", "on")]
    assert mock.state(2) == "on"
    _assert_history(cluster, "phantom2", "on")


def test_dual_outlet_node(cluster):
    mock = cluster.mock("main")
    mark = len(_events(mock))
    proc = cluster.fence("--reboot", "nodeX")  # pcmk_host_map nodeX:3,4
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = _events(mock)[mark:]
    assert {e["outlet"] for e in events} == {"3", "4"}, events
    _cycled(events, {"3", "4"})
    assert mock.state(3) == mock.state(4) == "on"
    _assert_history(cluster, "nodeX", "reboot")


def test_null_device(cluster):
    proc = cluster.fence("--reboot", "nullnode")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_history(cluster, "nullnode", "reboot")


@pytest.mark.parametrize(("target", "first"), [("topo1", "fence-refuse"), ("topo2", "fence-dead")])
def test_topology_falls_through_to_level_2(cluster, target, first):
    """Level 1 cannot log in / is a dead port; level 2 fences; level 1's relays never moved."""
    backup, refuse = cluster.mock("backup"), cluster.mock("refuse")
    outlet = {"topo1": "1", "topo2": "2"}[target]
    mark = len(_events(backup))
    refused_before = _events(refuse)
    proc = cluster.fence("--reboot", target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _cycled(_events(backup)[mark:], {outlet})
    assert {e["outlet"] for e in _events(backup)[mark:]} == {outlet}
    assert _events(refuse) == refused_before == []
    assert all(o["state"] == "on" for o in refuse.truth()["outlets"].values())
    # The fencer really tried level 1 first (its log names the device and the agent's result).
    log = cluster.stack.log_tail(400, grep=f"targeting {target} using")
    assert re.search(rf"targeting {target} using {first} returned [1-9]", log), log
    assert re.search(rf"targeting {target} using fence-backup returned 0", log), log
    _assert_history(cluster, target, "reboot")


def test_failing_device_login_refused(cluster):
    """The only device for ``lonely`` cannot log in: Pacemaker reports failure, nothing switched."""
    refuse = cluster.mock("refuse")
    before = _events(refuse)
    proc = cluster.fence("--reboot", "lonely")
    assert proc.returncode != 0, proc.stdout
    assert _events(refuse) == before
    assert refuse.state(2) == "on"
    assert _history(cluster, "lonely")[0]["status"] != "success"


def test_failing_device_stuck_relay(cluster):
    """Outlet 2 of ``broken`` ignores off: the fence fails and no outlet is switched back on."""
    stuck = cluster.mock("stuck")
    mark = len(_events(stuck))
    proc = cluster.fence("--reboot", "broken")
    assert proc.returncode != 0, proc.stdout
    events = _events(stuck)[mark:]
    assert [e for e in events if e["state"] == "on"] == [], events
    assert stuck.state(1) == "off"  # the healthy supply was cut and left off
    assert stuck.state(2) == "on"  # the stuck relay never moved
    assert _history(cluster, "broken")[0]["status"] != "success"


# ---------------------------------------------------------------------------------------------
# Fencing started by the cluster


def test_cluster_fences_unseen_node(cluster):
    """A node in the CIB that never joins is unclean (startup-fencing): the scheduler fences it."""
    stack, ghost = cluster.stack, cluster.mock("ghost")
    mark = len(_events(ghost))
    stack.cib_create("nodes", "<node id='2' uname='ghost'/>")
    _wait(lambda: {e["state"] for e in _events(ghost)[mark:]} >= {"off", "on"}, 30, "ghost's outlet to cycle")
    _cycled(_events(ghost)[mark:], {"1"})
    done = _wait(
        lambda: [e for e in _history(cluster, "ghost") if e.get("status") == "success"],
        30,
        "the cluster's fence of ghost in the history",
    )
    assert done[0]["action"] == "reboot"
    assert done[0]["client"].startswith("pacemaker-controld"), done
    cluster.fenced.add("ghost")

    def clean() -> dict[str, str] | None:
        state = stack.node_states().get("ghost")
        return state if state and state.get("unclean") == "false" else None

    state = _wait(clean, 30, "ghost to be clean")
    assert state["online"] == "false"
    assert stack.node_states()[stack.node]["online"] == "true"


def test_history_shows_our_fences(cluster):
    if not cluster.fenced:
        assert cluster.fence("--reboot", "phantom1").returncode == 0
    # Without --verbose, 2.1.5 prints a single event for '*' (the latest success), so ask per node.
    for target in sorted(cluster.fenced):
        proc = cluster.admin("--history", target, "--timeout", ADMIN_TIMEOUT)
        assert proc.returncode == 0, proc.stderr
        assert re.search(rf"\bof {re.escape(target)} successful\b", proc.stdout), (target, proc.stdout)
    every = cluster.admin("--history", "*", "--verbose", "--timeout", ADMIN_TIMEOUT).stdout
    for target in cluster.fenced:
        assert re.search(rf"\bof {re.escape(target)} successful\b", every), (target, every)
    assert re.search(r"\bof lonely failed\b", every), every
    recorded = {e["target"] for e in cluster.stack.history() if e.get("status") == "success"}
    assert cluster.fenced <= recorded

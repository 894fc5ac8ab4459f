"""Issue 20: faults made by the kernel and the operating system, judged by the mocks' ground truth.

The campaign itself is hwtests/netcampaign.py (``python -m hwtests.netcampaign``); here CI runs a
seeded share of it over every protocol family and front end (STONITH_NETLAB_RUNS, default 1,000),
and checks that the lab leaves nothing behind and that every fault kind really happened.
Needs root, unshare and nftables: skipped with the reason elsewhere, a failure in CI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwtests import netlab
from hwtests.netcampaign import FAULTS, FRONT_ENDS, NET_KINDS
from tests.conftest import REQUIRE_PEERS

# The campaign runs in the first test's set-up: about 5-6 minutes on 2 cores for 1,000 runs, 4 namespaces
# at a time (more load the machine enough to stretch process start-up past the 1 s grace).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("STONITH_NETLAB_RUNS", "1000"))
SEED = int(os.environ.get("STONITH_NETLAB_SEED", "20"))


def _lab_or_skip() -> None:
    why = netlab.unavailable()
    if why is not None:
        if REQUIRE_PEERS:
            pytest.fail(f"{why}; STONITH_REQUIRE_PEERS=1 forbids skipping")
        pytest.skip(why)


def _namespaces() -> set[str]:
    """Every network namespace of the machine (by inode), whoever holds it."""
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found.add(os.readlink(f"/proc/{pid}/ns/net"))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    _lab_or_skip()
    before = _namespaces()
    report = tmp_path_factory.mktemp("netcampaign") / "campaign.json"
    argv = [sys.executable, "-m", "hwtests.netcampaign", "--runs", str(RUNS), "--seed", str(SEED)]
    argv += ["--workers", "4", "--json", str(report)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=RUNS * 2 + 120, check=False)
    sys.stdout.write(done.stdout[-6000:])
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    data: dict[str, object] = json.loads(report.read_text())
    data["stdout"] = done.stdout
    data["left"] = _namespaces() - before
    return data


def test_network_campaign_has_no_false_success_overrun_or_traceback(campaign: dict[str, object]) -> None:
    summary = campaign["summary"]
    assert isinstance(summary, dict)
    verdicts = summary["verdicts"]
    bad = {v: verdicts.get(v, 0) for v in ("false-success", "traceback", "setup-error")}
    assert bad == dict.fromkeys(bad, 0), campaign["stdout"]
    assert summary["overruns"] == 0 and summary["collateral"] == 0, campaign["stdout"]
    assert summary["runs"] == RUNS


def test_every_fault_kind_really_happened(campaign: dict[str, object]) -> None:
    """A campaign cannot pass by injecting nothing: each fault took effect in some run (a rule's packet
    counter, a stopped process, a new mock PID, the loopback's flags, a SIGKILL exit status)."""
    runs = campaign["runs"]
    assert isinstance(runs, list)
    happened = {o["fault"] for o in runs if o["happened"] and o["fault"] != "none"}
    assert happened == set(FAULTS) - {"none"}


def test_every_kind_and_front_end_took_part(campaign: dict[str, object]) -> None:
    runs = campaign["runs"]
    assert isinstance(runs, list)
    assert {o["kind"] for o in runs} == {k.kind for k in NET_KINDS}
    assert {o["front"] for o in runs} == set(FRONT_ENDS)
    # Faults cut both ways: some runs succeed despite them, some are reported failed.
    assert {o["verdict"] for o in runs} >= {"success", "failure"}


def test_the_lab_leaves_no_namespace_behind(campaign: dict[str, object]) -> None:
    assert campaign["left"] == set()


def test_a_killed_worker_takes_its_namespace_and_processes_with_it() -> None:
    """SIGKILL of the lab's outer process: the kernel ends every process in it and frees the namespace
    (the worker is PID 1 of its PID namespace; unshare --kill-child passes the kill on)."""
    _lab_or_skip()
    before = _namespaces()
    script = (
        "import subprocess, time; subprocess.Popen(['sleep', '60']); print('up', flush=True); time.sleep(60)"
    )
    lab = subprocess.Popen(
        netlab.isolated([sys.executable, "-c", script]),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert lab.stdout is not None and lab.stdout.readline().strip() == "up"
    inside = _namespaces() - before
    assert len(inside) == 1, "the lab runs in a network namespace of its own"
    lab.send_signal(signal.SIGKILL)
    lab.wait(10)
    give_up = time.monotonic() + 10
    while _namespaces() & inside and time.monotonic() < give_up:
        time.sleep(0.05)
    assert not _namespaces() & inside, "a process of the lab outlived it"

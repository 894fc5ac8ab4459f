"""``--workers N``: one command over N stonith processes, judged by the mocks' ground truth.

The shares keep linked nodes together; every node's verdict is its worker's own; a worker that is
killed fails exactly its share's nodes (never a success it did not report); an interrupt reaches
every worker once (they read back what they switched) and the command exits 130.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest

from stonith.cli import workers
from tests.conftest import run_stonith, stonith_cmd
from tests.stonith.test_cluster_with_mocks import device_file, env, mock

NODES_PER_PDU = 4


def _lab(stack: ExitStack, tmp_path: Path, pdus: int, relay_delay: float = 0.05) -> list:
    mocks = []
    for p in range(pdus):
        names = [f"p{p}n{i}" for i in range(1, NODES_PER_PDU + 1)]
        m = stack.enter_context(mock(model="rpc3", names=names, relay_delay=relay_delay))
        hosts = {name: str(i) for i, name in enumerate(names, 1)}
        device_file(tmp_path, f"pdu{p}", m.address, hosts=hosts, timeout=10)
        mocks.append(m)
    return mocks


def _device(name: str, hosts: dict[str, str] | None, static: list[str] | None = None) -> SimpleNamespace:
    outlets = None if static is None else [SimpleNamespace(name=n) for n in static]
    driver = SimpleNamespace(static_outlets=lambda: outlets)
    return SimpleNamespace(name=name, hosts=hosts, driver=driver)


def test_shares_keep_linked_nodes_together_and_spread_the_rest() -> None:
    inventory = SimpleNamespace(
        devices=[
            _device("a", {"n1": "1", "n2": "2", "db1": "3"}),
            _device("b", {"n3": "1", "db1": "2"}),  # db1's second feed links a and b
            _device("c", {"n4": "1", "n5": "2"}),
            _device("bmc6", None, ["n6"]),  # a BMC: its node is its hostname
            _device("listed", None, None),  # outlet names found at run time
        ]
    )
    nodes = ["n1", "n2", "n3", "db1", "n4", "n5", "n6", "x1", "x2"]
    shares = workers.shares(inventory, nodes, 3)  # type: ignore[arg-type]
    assert sorted(n for share in shares for n in share) == sorted(nodes)
    where = {n: i for i, share in enumerate(shares) for n in share}
    assert where["n1"] == where["n2"] == where["n3"] == where["db1"]
    assert where["n4"] == where["n5"]
    assert where["x1"] == where["x2"]  # nodes no file names: one worker lists for them all
    assert len(shares) == 3
    assert workers.shares(inventory, ["n1", "db1"], 4) == [["n1", "db1"]]  # one group: one share


def test_a_reset_over_workers_is_the_reset_of_one_process(tmp_path: Path) -> None:
    with ExitStack() as stack:
        mocks = _lab(stack, tmp_path, 3)
        nodes = "p[0-2]n[1-4]"
        one = run_stonith("reset", nodes, "--devices", str(tmp_path), "--json", env=env(tmp_path))
        many = run_stonith(
            "reset", nodes, "--devices", str(tmp_path), "--json", "--workers", "3", env=env(tmp_path)
        )
        assert one.returncode == many.returncode == 0, many.stderr
        first, second = json.loads(one.stdout), json.loads(many.stdout)
        assert [(r["node"], r["result"], r["state"]) for r in first] == [
            (r["node"], r["result"], r["state"]) for r in second
        ]
        time.sleep(0.3)
        for m in mocks:  # ground truth: every outlet off then on, twice (two resets)
            for outlet in map(str, range(1, NODES_PER_PDU + 1)):
                states = [e["state"] for e in m.events() if e["outlet"] == outlet]
                assert states == ["off", "on", "off", "on"], (outlet, states)


def test_a_killed_worker_fails_its_share_and_only_it(tmp_path: Path) -> None:
    with ExitStack() as stack:
        mocks = _lab(stack, tmp_path, 2, relay_delay=1.5)
        parent = _start("off", tmp_path)
        time.sleep(1.0)  # the workers are waiting for the relays
        children = _children(parent.pid)
        assert len(children) == 2, children
        victim_nodes = _nodes_of(children[0])
        os.kill(children[0], signal.SIGKILL)
        out, _ = parent.communicate(timeout=30)
        results = {r["node"]: r for r in json.loads(out)}
        assert parent.returncode != 0
        for node, result in results.items():
            if node in victim_nodes:
                assert result["result"] == "failed", result
                assert "no verdict from its worker" in result["message"], result
                assert "signal 9" in result["message"], result
            else:
                assert result["result"] == "ok", result
        # the other worker's nodes really are off (its verdict was read back)
        time.sleep(0.2)
        for m in mocks:
            truth = m.truth()["outlets"]
            names = [f"p{mocks.index(m)}n{i}" for i in range(1, NODES_PER_PDU + 1)]
            if not set(names) & victim_nodes:
                assert all(truth[str(i)]["state"] == "off" for i in range(1, NODES_PER_PDU + 1)), truth


def test_an_interrupt_reaches_every_worker_once(tmp_path: Path) -> None:
    with ExitStack() as stack:
        mocks = _lab(stack, tmp_path, 2, relay_delay=1.0)
        parent = _start("reset", tmp_path, STONITH_AUDIT=str(tmp_path / "audit"))
        time.sleep(0.8)
        parent.send_signal(signal.SIGINT)
        out, err = parent.communicate(timeout=30)
        assert parent.returncode == 130, err
        assert "interrupted again" not in err  # once, not twice
        results = json.loads(out)
        assert {r["node"] for r in results} == {f"p{p}n{i}" for p in range(2) for i in range(1, 5)}
        time.sleep(0.2)
        for m in mocks:  # never a success the ground truth denies
            truth = m.truth()["outlets"]
            for r in results:
                if r["node"].startswith(f"p{mocks.index(m)}") and r["result"] == "ok":
                    assert truth[r["node"][-1]]["state"] == "on", (r, truth)


@pytest.mark.parametrize("bad", ["0", "65", "two", "-1"])
def test_a_bad_worker_count_is_a_usage_error(bad: str, tmp_path: Path) -> None:
    result = run_stonith("status", "n1", "--devices", str(tmp_path), "--workers", bad)
    assert result.returncode == 1, result.stderr  # USAGE, as every argument error
    assert "--workers" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_without_output_fails_its_nodes() -> None:
    found = workers._verdicts(["a", "b"], -9, b'[{"node": "a", "result": "ok", "exit_code": 0}]', False)
    assert found[0]["result"] == "ok"
    assert found[1]["result"] == "failed" and "signal 9" in found[1]["message"]
    late = workers._verdicts(["a"], -15, b"", True)
    assert late[0]["result"] == "failed" and "outlived the deadline" in late[0]["message"]
    garbled = workers._verdicts(["a"], 0, b"not json", False)
    assert garbled[0]["result"] == "failed" and garbled[0]["exit_code"] != 0


def _start(verb: str, tmp_path: Path, **extra_env: str) -> subprocess.Popen[str]:
    """``stonith VERB`` of both PDUs' nodes over two workers, running."""
    command = [*stonith_cmd(), verb, "p[0-1]n[1-4]", "--devices", str(tmp_path), "--json", "--workers", "2"]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env(tmp_path), **extra_env},
    )


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def _nodes_of(pid: int) -> set[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        argv = handle.read().decode().split("\0")
    from stonith.fencing.nodeset import expand

    return set(expand(argv[argv.index("--devices") - 1]))


def test_a_worker_that_cannot_start_fails_its_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers.sys, "executable", "/nonexistent/python")
    found, codes = workers.run("status", [["a"], ["b", "c"]], devices="/x", timeout=1.0, wait=2.0, audit=None)
    assert [r["node"] for r in found] == ["a", "b", "c"]
    assert all(r["result"] == "failed" and "could not start" in r["message"] for r in found)
    assert codes == []

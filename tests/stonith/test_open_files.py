"""The open-file limit: more devices than descriptors wait their turn, never EMFILE mid-fence.

Every device session holds a socket and a lock file.  Before, 400 BMCs under ``ulimit -n 200``
ended ``stonith off`` in "internal error: OSError: [Errno 24] Too many open files" after some BMCs
were already switched: a half-done fence without a verdict.  Now the engine opens at most what the
limit leaves (stonith.fencing.engine.session_budget), says so once with how to raise it, and every node
gets its verified verdict, judged by the mocks' ground truth.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from stonith.mocks.harness import start_mock

from stonith.contract import steps
from stonith.contract.steps import Loop, Wait

STONITH = str(Path(sys.executable).with_name("stonith"))
PASSWORD = "open-files-pw"


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


@pytest.mark.parametrize("verb", ["off", "reset"])
def test_more_bmcs_than_the_open_file_limit_all_fenced_and_the_user_told(tmp_path: Path, verb: str) -> None:
    hosts = [f"bmc{i:03d}" for i in range(1, 151)]
    devices = tmp_path / "devices.d"
    devices.mkdir()
    with start_mock("ipmilan", subprocess_=True, count=len(hosts), hosts=hosts, password=PASSWORD) as mock:
        for host, address in zip(hosts, mock.info["addresses"], strict=True):
            (devices / f"{host}.toml").write_text(
                f'type = "ipmilan"\nsettle = 0.1\ntimeout = 20\n[parameters]\nhostname = "{host}"\n'
                f'ipaddr = "{address}"\nlogin = "admin"\n[secrets]\npassword = {{ env = "BMC_PW" }}\n'
            )
        env = dict(
            os.environ, BMC_PW=PASSWORD, STONITH_AUDIT="none", STONITH_LOCK_DIR=str(tmp_path / "locks")
        )
        proc = subprocess.run(
            [STONITH, verb, "bmc[001-150]", "--devices", str(devices), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: _limited(150),
            check=False,
        )
        truth = mock.truth()["devices"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "open-file limit (150)" in proc.stderr and "ulimit -n" in proc.stderr
    assert proc.stderr.count("open-file limit") == 1  # said once, not per phase
    import json

    results = json.loads(proc.stdout)
    assert [r["result"] for r in results] == ["ok"] * len(hosts)
    for bmc in truth.values():
        events = [e["state"] for e in bmc["events"]]
        assert events == (["off"] if verb == "off" else ["off", "on"]), bmc


def test_a_loop_runs_at_most_at_once_of_its_generators_and_all_of_them() -> None:
    running = [0]
    most = [0]

    def task(value: int) -> steps.Steps[int]:
        running[0] += 1
        most[0] = max(most[0], running[0])
        yield Wait(0)  # let the others start if they may
        running[0] -= 1
        return value

    assert Loop().run([task(i) for i in range(20)], at_once=3) == list(range(20))
    assert most[0] == 3
    most[0] = 0
    assert Loop().run([task(i) for i in range(20)]) == list(range(20))
    assert most[0] == 20


def test_shares_keep_threads_and_loop_within_at_once() -> None:
    from stonith.contract.steps import _shares

    assert _shares(10, 0, 512, None) == (10, None)
    assert _shares(10, 5, 512, None) == (10, None)
    assert _shares(10, 0, 512, 4) == (4, None)
    assert _shares(0, 100, 512, 10) == (1, 10)
    threads, on_loop = _shares(30, 90, 512, 40)
    assert on_loop is not None and threads + on_loop <= 40 and (threads, on_loop) == (10, 30)
    assert _shares(600, 0, 512, None) == (512, None)

"""The nw_rpc100s driver against the RPC100S mock on a pty, and Debian's cluster-glue plugin.

The device cannot report its outlet: every result is NOT verified, and says so.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from stonith.mocks.harness import start_mock

from stonith.contract.driver import OFF, ON
from tests.conftest import require_peer, run_stonith

FAST = {"time_scale": 0.05}


def mock_for(tmp_path, **options):
    return start_mock("nw_rpc100s", serial_link=str(tmp_path / "rpc100s"), **{**FAST, **options})


def glue(mock, *args, timeout="10", hosts="node1,node2", extra=()):
    result = run_stonith(
        "-t", "nw_rpc100s", "--timeout", timeout, f"ttydev={mock.serial}", f"hostlist={hosts}", *extra, *args
    )
    assert "Traceback" not in result.stderr
    return result


def eventually(check, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "ground truth never reached the expected state"
        time.sleep(0.02)


def states(mock):
    return [e["state"] for e in mock.events()]


def test_cli_list_status_off_on_reset_not_verified(tmp_path):
    with mock_for(tmp_path) as mock:
        listed = glue(mock, "-l")
        assert listed.returncode == 0 and listed.stdout.split() == ["node1", "node2"]
        assert glue(mock, "-S").returncode == 0

        # hostlist is split (cluster-glue compared the whole string, so node2 never matched)
        off = glue(mock, "-T", "off", "node2", "--json")
        assert off.returncode == 0 and '"verified": false' in off.stdout
        eventually(lambda: mock.state(1) == OFF)
        on = glue(mock, "-T", "on", "node1")
        assert on.returncode == 0 and "NOT verified" in on.stderr
        eventually(lambda: mock.state(1) == ON)

        reset = glue(mock, "-T", "reset", "node1", extra=("offtime=5",))
        assert reset.returncode == 0 and "NOT verified" in reset.stderr
        eventually(lambda: states(mock)[-2:] == [OFF, ON] and len(states(mock)) == 4)


def test_unknown_host_is_badhost(tmp_path):
    with mock_for(tmp_path) as mock:
        assert glue(mock, "-T", "reset", "node3").returncode == 4
        time.sleep(0.2)
        assert mock.events() == []


@pytest.mark.parametrize(("fault", "codes"), [("silent", (6,)), ("garble", (8,)), ("drop-after=5", (6, 8))])
def test_faults_fail_within_the_deadline(tmp_path, fault, codes):
    with mock_for(tmp_path, faults=[fault]) as mock:
        start = time.monotonic()
        result = glue(mock, "-T", "off", "node1", timeout="2")
        assert result.returncode in codes, (result.returncode, result.stderr)
        assert time.monotonic() - start < 3.5


def test_not_an_rpc100s_is_oops(tmp_path):
    with start_mock("rps10", serial_link=str(tmp_path / "rps10")) as other:  # answers nothing we know
        result = run_stonith(
            "-t", "nw_rpc100s", "--timeout", "2", f"ttydev={other.serial}", "hostlist=n1", "-S"
        )
        assert result.returncode in (6, 8)


@pytest.mark.peer
def test_cluster_glue_plugin_against_mock(tmp_path):
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    with mock_for(tmp_path) as mock:

        def run(*args):
            return subprocess.run(
                [stonith, "-t", "nw_rpc100s", f"ttydev={mock.serial}", "hostlist=node1", *args],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip

        listed = run("-l")
        assert listed.returncode == 0 and listed.stdout.split() == ["node1"]
        assert run("-S").returncode == 0
        reset = run("-T", "reset", "node1")
        assert reset.returncode == 0, reset.stderr
        eventually(lambda: states(mock) == [OFF, ON])  # 10 s off, scaled by 0.05
        assert run("-T", "off", "node1").returncode == 0
        eventually(lambda: mock.state(1) == OFF)
        assert run("-T", "on", "node1").returncode == 0
        eventually(lambda: mock.state(1) == ON)

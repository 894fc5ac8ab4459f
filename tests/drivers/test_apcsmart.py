"""The apcsmart driver against the Smart-UPS mock on a pty, and Debian's cluster-glue plugin."""

from __future__ import annotations

import subprocess
import time

import pytest
from stonith.mocks.harness import start_mock

from stonith.contract.driver import OFF, ON
from tests.conftest import require_peer, run_stonith

FAST = {"time_scale": 0.05, "sleep": 3.0}


def mock_for(tmp_path, **options):
    return start_mock("apcsmart", serial_link=str(tmp_path / "ups"), **{**FAST, **options})


def glue(mock, *args, timeout="15"):
    result = run_stonith(
        "-t", "apcsmart", "--timeout", timeout, f"ttydev={mock.serial}", "hostlist=node1 node2", *args
    )
    assert "Traceback" not in result.stderr
    return result


def eventually(check, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "ground truth never reached the expected state"
        time.sleep(0.05)


def states(mock):
    return [e["state"] for e in mock.events()]


def test_cli_list_status_off_on_reset_verified(tmp_path):
    with mock_for(tmp_path) as mock:
        listed = glue(mock, "-l")
        assert listed.returncode == 0 and listed.stdout.split() == ["node1", "node2"]
        status = glue(mock, "-S")
        assert status.returncode == 0
        off = glue(mock, "-T", "off", "node2")
        assert off.returncode == 0 and "(node2; verified)" in off.stderr
        assert mock.state(1) == OFF
        on = glue(mock, "-T", "on", "node1")
        assert on.returncode == 0 and mock.state(1) == ON
        reset = glue(mock, "-T", "reset", "node1")
        assert reset.returncode == 0, reset.stderr
        assert states(mock) == [OFF, ON, OFF, ON]


def test_unknown_host_is_badhost(tmp_path):
    with mock_for(tmp_path) as mock:
        assert glue(mock, "-T", "off", "node9").returncode == 4
        assert mock.events() == []


@pytest.mark.parametrize(
    ("fault", "codes"),
    [("silent", (6,)), ("garble", (8,)), ("stuck=1", (5, 6)), ("lie=1", (5, 6)), ("drop-after=3", (6, 8))],
)
def test_faults_fail_within_the_deadline(tmp_path, fault, codes):
    with mock_for(tmp_path, faults=[fault]) as mock:
        start = time.monotonic()
        result = glue(mock, "-T", "off", "node1", timeout="4")
        assert result.returncode in codes, (result.returncode, result.stderr)
        assert time.monotonic() - start < 5.5
        assert mock.state(1) == ON


@pytest.mark.peer
def test_cluster_glue_plugin_against_mock(tmp_path):
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    with mock_for(tmp_path) as mock:

        def run(*args):
            return subprocess.run(
                [stonith, "-t", "apcsmart", f"ttydev={mock.serial}", "hostlist=node1 node2", *args],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip

        listed = run("-l")
        assert listed.returncode == 0 and listed.stdout.split() == ["node1", "node2"]
        assert run("-S").returncode == 0
        # On line: S answers NA, then @000 shuts down after the (smallest) grace delay and the
        # UPS comes back after its sleep; cluster-glue polls the "asleep from @" bit.
        reset = run("-T", "reset", "node2")
        assert reset.returncode == 0, reset.stderr
        eventually(lambda: states(mock) == [OFF, ON], timeout=10)
        # cluster-glue's off and on (Z Z / ^N ^N), read back by our driver
        assert run("-T", "off", "node1").returncode == 0
        assert glue(mock, "-T", "off", "node1").returncode == 0 and mock.state(1) == OFF
        assert run("-T", "on", "node1").returncode == 0
        assert mock.state(1) == ON

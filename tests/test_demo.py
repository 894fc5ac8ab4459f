"""The README's first command, ``./run demo``: it must work from the checkout as a person types it.

It ran from the repository root, where ``python -m`` put the checkout's stonith/ (no drivers/
inside) before the installed package, and failed on loading the first driver; no test ran it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    # VENV: the run script uses the environment these tests run in (it reinstalls the checkout
    # there without dependencies, as `./run demo` does every time).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSAFEPATH", "STONITH_DEVICES")}
    env["VENV"] = sys.prefix
    return subprocess.run(
        ["sh", str(REPO / "run"), "demo", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )


@pytest.mark.slow
def test_run_demo_from_the_checkout() -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("tests run outside a virtual environment: ./run demo would install into the system")
    result = run_demo()
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
    assert "Traceback" not in out + result.stderr
    assert "demo finished" in out
    assert "both supplies were off before either came back on" in out
    assert "gpu1    ok   level 2" in out  # the topology fallback names the level that fenced
    assert "level 1 bmc-gpu1 off  FAILED" in out
    assert out.count("-> exit 0") >= 8


@pytest.mark.slow
def test_run_demo_with_a_broken_devices_dir_says_file_and_field(tmp_path: Path) -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("tests run outside a virtual environment: ./run demo would install into the system")
    devices = tmp_path / "devices.d"
    shutil.copytree(REPO / "devices.d", devices)
    (devices / "pdu-a.toml").write_text('type = "no-such-type"\n')
    result = run_demo(str(devices))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "pdu-a.toml:type" in result.stderr
    assert "mock" not in result.stdout  # nothing was started

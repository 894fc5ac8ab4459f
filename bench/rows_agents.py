"""Fence-agent rows (issue: Pacemaker integration): our generated agent against fence-agents'."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping

from bench.harness import Row
from bench.rows import FENCE_AGENT, PYTHON_FLOOR, STONITH

_dirs: list[str] = []


def _install_agents() -> Mapping[str, str]:
    directory = tempfile.mkdtemp(prefix="stonith-bench-agents-")
    _dirs.append(directory)
    subprocess.run(
        [STONITH, "install-agents", "--dir", directory, "--type", "baytech"], check=True, capture_output=True
    )
    return {"agents": directory}


def _remove_agents() -> None:
    while _dirs:
        shutil.rmtree(_dirs.pop(), ignore_errors=True)


ROWS: list[Row] = [
    Row(
        name="fence_stonith_baytech -o metadata",
        argv=["${agents}/fence_stonith_baytech", "-o", "metadata"],
        peers=[FENCE_AGENT, PYTHON_FLOOR],
        limits={FENCE_AGENT.label: 0.5},
        setup=_install_agents,
        teardown=_remove_agents,
    ),
]

"""The benchmark rows.  A later issue adds its rows to ``ROWS`` (see bench/README.md).

"Ours" is the ``stonith`` installed next to the running interpreter (``./run install`` puts it in
.venv/bin), never the checkout, so the bench times what a user gets.  The peers:

- ``python -I -c pass`` on the same interpreter: the floor for any Python command;
- Debian fence-agents' ``fence_apc_snmp -o metadata``: what a Python fence agent costs;
- Debian cluster-glue's ``/usr/sbin/stonith`` running the same arguments: like for like.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from bench.harness import Command, Row

#: The installed ``stonith`` of this interpreter's environment.
STONITH = str(Path(sys.executable).with_name("stonith"))
#: cluster-glue's C implementation (Debian package cluster-glue).
GLUE_STONITH = "/usr/sbin/stonith"


def _first_installed(*paths: str) -> str:
    """The first of ``paths`` that is installed, else the first (the row then says "peer missing")."""
    return next((p for p in paths if os.access(p, os.X_OK)), paths[0])


#: fence-agents' SNMP APC agent (Debian package fence-agents; /usr/sbin on Debian 12).
FENCE_APC_SNMP = _first_installed("/usr/sbin/fence_apc_snmp", "/usr/bin/fence_apc_snmp")

PYTHON_FLOOR = Command("python -I -c pass", [sys.executable, "-I", "-c", "pass"])
FENCE_AGENT = Command("fence_apc_snmp -o metadata", [FENCE_APC_SNMP, "-o", "metadata"])

#: Start-up budget of the cheap commands (issue: bench harness): within 1.5x of a bare
#: interpreter, and at most half of what a fence-agents agent takes to print its metadata.
STARTUP_LIMITS = {PYTHON_FLOOR.label: 1.5, FENCE_AGENT.label: 0.5}


def startup_row(*args: str) -> Row:
    """``stonith ARGS`` against the interpreter floor, a fence agent and cluster-glue's stonith."""
    return Row(
        name=" ".join(["stonith", *args]),
        argv=[STONITH, *args],
        peers=[PYTHON_FLOOR, FENCE_AGENT, Command(" ".join([GLUE_STONITH, *args]), [GLUE_STONITH, *args])],
        limits=STARTUP_LIMITS,
    )


def warnings() -> list[str]:
    """What makes this interpreter's numbers unrepresentative, printed before the table."""
    out = []
    if not os.access(STONITH, os.X_OK):
        out.append(f"{STONITH} is not installed: run `./run install` (or `./run bench`) first")
    editable = sorted(
        p.name for d in site.getsitepackages() for p in Path(d).glob("__editable__*stonith*.pth")
    )
    if editable:
        out.append(
            f"stonith is an editable install here ({', '.join(editable)}): its import hook runs at every"
            " start-up of this interpreter, `python -I -c pass` included, so the times and ratios are"
            " not a user's. `./run install` replaces it with a real install."
        )
    return out


ROWS: list[Row] = [
    startup_row("-L"),
    startup_row("-t", "null", "-n"),
    startup_row("-t", "null", "-m"),
]


def _more_rows() -> list[Row]:
    """Rows of later issues live in ``bench/rows_<topic>.py`` modules, each with its own ``ROWS``."""
    import importlib

    more: list[Row] = []
    for path in sorted(Path(__file__).parent.glob("rows_*.py")):
        module = importlib.import_module(f"bench.{path.stem}")
        more.extend(module.ROWS)
    return more


ROWS.extend(_more_rows())

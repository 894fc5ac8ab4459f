"""Fuzzing the front ends with fixed budgets: never a traceback, never an action on bad input.

- cluster subcommands (``stonith status|on|off|reset|devices|check``) with random arguments against a
  devices.d pointing at an in-process mock: bad arguments switch nothing;
- fence-agent stdin (``name=value`` lines): exit 0/1/2, no traceback; input rejected as bad
  switches nothing.

Budgets and the other fuzzers: hwtests/fuzzing.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests.fuzzing import FUZZ

PASSWORD = "fuzz-secret"


@pytest.fixture(scope="module")
def pdu():
    """One in-process BayTech mock and a devices.d for it (nodes n1, n2, n3)."""
    from stonith.mocks.harness import start_mock

    os.environ["STONITH_FUZZ_PW"] = PASSWORD
    os.environ.setdefault("STONITH_LOCK_DIR", tempfile.mkdtemp(prefix="hwtests-fuzz-locks-"))
    with (
        start_mock("baytech", model="rpc3", names=["n1", "n2", "n3"], password=PASSWORD) as mock,
        tempfile.TemporaryDirectory(prefix="hwtests-fuzz-") as tmp,
    ):
        (Path(tmp) / "pdu.toml").write_text(
            'type = "baytech"\ntimeout = 2\nsettle = 0\n'
            f'[parameters]\nipaddr = "{mock.address}"\nlogin = "admin"\n'
            '[secrets]\npassword = { env = "STONITH_FUZZ_PW" }\n'
        )
        yield mock, tmp


@contextlib.contextmanager
def captured(stdin: str = ""):
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out, err
    finally:
        sys.stdin = saved


# -- cluster subcommands ------------------------------------------------------------------------

DOCUMENTED_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 130}  # README's exit code table

TOKENS = [
    "status",
    "on",
    "off",
    "reset",
    "devices",
    "check",
    "n1",
    "n9",
    "n[1-2]",
    "n[2-1]",
    "n[",
    "",
    "--json",
    "--timeout",
    "0",
    "-1",
    "1e9",
    "nan",
    "0.5",
    "--audit",
    "none",
    "--devices",
    "/nonexistent",
    "--bogus",
    "-q",
    "\x00",
    "é",
]


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=5)), min_size=1, max_size=6))
def test_fuzz_cluster_cli(pdu, argv):
    mock, directory = pdu
    from stonith.cli.cluster_cli import main

    before = len(mock.events())
    full = [*argv]
    if "--devices" not in full:
        full += ["--devices", directory]
    with captured() as (out, err):
        code = main(full)
    assert code in DOCUMENTED_CODES, (full, code, err.getvalue())
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue(), err.getvalue()
    if code in (1, 3, 4) or full[0] not in ("on", "off", "reset"):
        # usage errors, bad devices.d, bad node sets and read-only verbs switch nothing
        assert len(mock.events()) == before, (full, err.getvalue())
    if code == 0 and full[0] in ("on", "off") and "--json" in full:
        # A success is the mock's truth: every node reported done has its outlet in that state.
        import json

        for row in json.loads(out.getvalue()):
            assert row["result"] == "ok", row
            outlet = {"n1": 1, "n2": 2, "n3": 3}[row["node"]]
            assert mock.state(outlet) == full[0], (full, row, mock.truth())


# -- fence-agent stdin --------------------------------------------------------------------------

AGENT_NAMES = ["action", "ip", "ipaddr", "username", "login", "password", "plug", "port", "n", "delay"]
AGENT_NAMES += ["power_timeout", "verbose", "nodename", "bogus", "ipport", "shell_timeout", ""]
AGENT_VALUES = ["off", "on", "reboot", "status", "list", "monitor", "validate-all", "metadata", "bogus"]
AGENT_VALUES += ["1", "n1", "n9", "0", "-1", "x", "", PASSWORD, "admin", "1.5", "\x01"]


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(AGENT_NAMES), st.sampled_from(AGENT_VALUES)).map(
                lambda p: f"{p[0]}={p[1]}"
            ),
            st.text(max_size=12),
        ),
        max_size=8,
    )
)
def test_fuzz_fence_agent_stdin(pdu, lines):
    mock, _ = pdu
    from stonith.cli.fence_agent import main

    text = "\n".join(line.replace("ADDR", mock.address) for line in lines)
    if "ip=" in text or "ipaddr=" in text:
        text = re.sub(r"(?m)^(\s*(?:ip|ipaddr)\s*)=.*$", rf"\1={mock.address}", text)
    text = re.sub(r"(?m)^\s*delay\s*=.*$", "delay=0", text)
    before = len(mock.events())
    os.environ["STONITH_TRACEBACK"] = "1"  # an internal error must fail the test, not be swallowed
    try:
        with captured(text) as (_, err):
            code = main("baytech", [])
    finally:
        del os.environ["STONITH_TRACEBACK"]
    assert code in (0, 1, 2)
    message = err.getvalue()
    assert "Traceback" not in message and "internal error" not in message, message
    if code == 1 and any(
        s in message for s in ("parameter", "Unrecognised action", "Unable to find plug", "required")
    ):
        assert len(mock.events()) == before, (text, message)
    # What the agent was asked, as its own parser reads it: input it refuses and actions that only
    # read switch nothing (judged by the mock's event log).
    from stonith.drivers.baytech import Baytech

    from stonith.cli.fence_agent import Failure, Request, parse_stdin

    with captured():
        try:
            action = Request(Baytech.INFO, parse_stdin(text)).action
        except Failure:
            action = None
    if action not in ("on", "off", "reboot"):
        assert len(mock.events()) == before, (text, action, message)
    elif code == 0 and action == "off":
        assert any(e["state"] == "off" for e in mock.events()[before:]), (text, message)

"""Fuzzing with fixed budgets: never a traceback, never an action on bad input.

- cluster subcommands (``stonith status|on|off|reset|devices|check``) with random arguments against a
  devices.d pointing at an in-process mock: bad arguments switch nothing;
- devices.d TOML (random tables and random text): loads or is rejected with file:field problems;
- fence-agent stdin (``name=value`` lines): exit 0/1/2, no traceback; input rejected as bad
  switches nothing;
- device replies for every driver's parser (BayTech, RPS-10, RPC100S; the others as their drivers
  appear): arbitrary bytes through a fake transport raise only StonithError, and reading a device
  never sends a switching command.

Budgets: ``HWTESTS_FUZZ_EXAMPLES`` (default 120 per property; CI uses the default).
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwtests  # noqa: F401
from stonith.deadline import Deadline
from stonith.driver import OFF, ON, UNKNOWN, Outlet
from stonith.errors import StonithError
from stonith.transport.stream import Closed, Stream

EXAMPLES = int(os.environ.get("HWTESTS_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
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
    from stonith.cluster_cli import main

    before = len(mock.events())
    full = [*argv]
    if "--devices" not in full:
        full += ["--devices", directory]
    with captured() as (_, err):
        code = main(full)
    assert isinstance(code, int)
    assert "Traceback" not in err.getvalue()
    if code in (1, 3, 4) or full[0] not in ("on", "off", "reset"):
        # usage errors, bad devices.d, bad node sets and read-only verbs switch nothing
        assert len(mock.events()) == before, (full, err.getvalue())


# -- devices.d TOML -----------------------------------------------------------------------------

KEYS = [
    "name",
    "type",
    "level",
    "settle",
    "timeout",
    "max_sessions",
    "parameters",
    "secrets",
    "hosts",
    "mock",
]
KEYS += ["description", "bogus"]
VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=False),
        st.sampled_from(["baytech", "rps10", "null", "nosuchtype", "127.0.0.1:1", "", "n1", "\x7f"]),
        st.text(max_size=8),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["ipaddr", "login", "password", "n1", "env", "file", "x"]), children),
    ),
    max_leaves=8,
)


def toml_value(value) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if value == value and abs(value) != float("inf") else "0"
    if isinstance(value, str):
        return (
            '"'
            + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value)
            + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"


@FUZZ
@given(
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
    st.one_of(st.none(), st.text(max_size=60)),
)
def test_fuzz_devices_toml(tmp_path_factory, table, raw):
    from stonith.inventory import InventoryError, load_dir

    directory = tmp_path_factory.mktemp("devd")
    text = "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()) if raw is None else raw
    path = directory / "dev.toml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    path.chmod(0o600)
    try:
        inventory = load_dir(str(directory))
    except InventoryError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
        return
    assert len(inventory.devices) == 1


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
    from stonith.fence_agent import main

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
    assert "Traceback" not in message
    if code == 1 and any(
        s in message for s in ("parameter", "Unrecognised action", "Unable to find plug", "required")
    ):
        assert len(mock.events()) == before, (text, message)


# -- device replies -----------------------------------------------------------------------------


class FakeStream(Stream):
    """A transport that answers with a script of byte chunks and records what the driver wrote."""

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__("fake")
        self.chunks = list(chunks)
        self.sent = b""

    def _recv(self, timeout: float) -> bytes:
        if not self.chunks:
            raise Closed("fake: script exhausted")
        return self.chunks.pop(0)

    def _send(self, data: bytes, timeout: float) -> None:
        self.sent += data

    def _close(self) -> None:
        pass


# driver type -> (configuration, transport module whose ``connect`` is replaced, switching commands)
DRIVERS = {
    "baytech": (
        {"ipaddr": "fake:23", "login": "admin", "password": "pw"},
        "telnet",
        rb"(?i)(^|\r)(on|off|reboot) ",
    ),
    "rps10": (
        {"serial_to_targets": "socket://fake:1 n1 0 n2 1"},
        "serial",
        rb"\x02\x18\x18\x02\x18\x18[0-9*][01T]",
    ),
    "nw_rpc100s": ({"ttydev": "socket://fake:1", "hostlist": ["n1"]}, "serial", rb"//0,\d+,(\d+|\*)"),
}
REPLY_PIECES = [
    b"RPC-3 Telnet Host\r\n",
    b"RPC3-NC Series\r\n",
    b"Enter username>",
    b"Enter password>",
    b"Invalid password",
    b"Enter Selection>",
    b"  RPC-3>",
    b"RPC3-NC>",
    b"(Y/N)>",
    b"Input error",
    b"      1       n1          1       Off \r\n",
    b"      2       n2          2       On  \r\n",
    b" 1)...n1              : Off         \r\n",
    b"Plug 0 Off\r\n",
    b"Plug 1 On\r\n",
    b"Complete\r\n",
    b"RPS-10 Ready\r\n",
    b"OK\r\n",
    b"Invalid Entry\r\n",
    b"\xff\xfd\x01",
]


def loaded_drivers():
    from stonith import registry

    found = []
    for name in DRIVERS:
        try:
            registry.load(name)
        except StonithError:
            continue
        found.append(name)
    return found


@pytest.mark.parametrize("driver_type", loaded_drivers())
@FUZZ
@given(data=st.lists(st.one_of(st.sampled_from(REPLY_PIECES), st.binary(max_size=40)), max_size=12))
def test_fuzz_device_replies(monkeypatch, driver_type, data):
    import importlib

    from stonith import registry

    config, transport, switching = DRIVERS[driver_type]
    stream = FakeStream(data)
    module = importlib.import_module(f"stonith.transport.{transport}")
    monkeypatch.setattr(module, "connect", lambda *a, **k: stream)
    driver_cls = registry.load(driver_type)
    from stonith.device import check

    driver = driver_cls(check(driver_cls.INFO, config))
    deadline = Deadline(0.5)
    try:
        driver.connect(deadline)
        outlets = driver.outlets(deadline)
        states = driver.status_many(outlets or [Outlet("1", "n1")], deadline)
        assert set(states.values()) <= {ON, OFF, UNKNOWN}
    except StonithError:
        pass
    finally:
        with contextlib.suppress(StonithError):
            driver.disconnect()
    assert not re.search(switching, stream.sent), stream.sent  # reading a device never switches it


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_baytech_status_parser(data):
    from stonith.drivers.baytech import MODELS, parse_status

    for model in MODELS.values():
        table = parse_status(data, model)
        assert all(state in (ON, OFF, UNKNOWN) for _, state in table.values())
        for number, (_, state) in table.items():
            if state == OFF:
                assert b"Off" in data  # OFF only from a row that says so
            assert number.isdigit()

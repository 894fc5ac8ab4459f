"""Bad input to the cluster-glue compatible command line: one clear line, the documented exit code,
never a traceback, never an action."""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stonith.cli import glue_cli
from stonith.contract.driver import ON, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import StonithError
from stonith.contract.fields import ENUMERATION, INTEGER, SECRET, Field
from stonith.fencing import registry
from tests.conftest import run_stonith, stonith_cmd


class Recorder(Driver):
    """A driver with every kind of constraint that records each device action."""

    INFO = DriverInfo(
        "recorder",
        shortdesc="Recording test device",
        description="Records what it is asked to do",
        fields=(
            Field("ipaddr", "IP address", specialtype="hostport", required=True),
            Field("login", "Login", regex=r"[a-z]+", length=8, required=True),
            Field("password", "Password", specialtype=SECRET, required=True),
            Field("outlets", "Outlet count", basictype=INTEGER, minval=1, maxval=48, default=8),
            Field("model", "Model", basictype=ENUMERATION, enumset=("rpc3", "rpc5"), default="rpc3"),
        ),
        capabilities=Capabilities(),
    )
    actions: ClassVar[list[str]] = []

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)

    def connect(self, deadline: Any) -> None:
        Recorder.actions.append("connect")

    def outlets(self, deadline: Any) -> list[Outlet]:
        Recorder.actions.append("outlets")
        return [Outlet("1", "node1")]

    def status(self, outlet: Outlet, deadline: Any) -> str:
        Recorder.actions.append("status")
        return ON

    def on(self, outlet: Outlet, deadline: Any) -> None:
        Recorder.actions.append("on")

    def off(self, outlet: Outlet, deadline: Any) -> None:
        Recorder.actions.append("off")


@pytest.fixture(autouse=True)
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[Recorder]:
    real_load = registry.load

    def load(name: str) -> type[Driver]:
        return Recorder if name == "recorder" else real_load(name)

    monkeypatch.setattr(registry, "load", load)
    Recorder.actions = []
    return Recorder


def run_inproc(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = glue_cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


GOOD = ["-t", "recorder", "ipaddr=10.0.0.1", "login=admin", "password=pw"]


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["-t", "nosuch", "-l"], 8, "Invalid device type: 'nosuch'"),
        ([*GOOD, "bogus=1", "-l"], 1, "bogus"),
        (["-t", "recorder", "ipaddr=10.0.0.1", "login=Admin", "password=pw", "-l"], 1, "login"),
        (["-t", "recorder", "ipaddr=10.0.0.1", "login=abcdefghij", "password=pw", "-l"], 1, "longer than 8"),
        ([*GOOD, "outlets=0", "-l"], 1, "outlets"),
        ([*GOOD, "outlets=49", "-l"], 1, "above the maximum 48"),
        ([*GOOD, "outlets=x", "-l"], 1, "outlets"),
        ([*GOOD, "model=rpc9", "-l"], 1, "model"),
        ([*GOOD, "ipaddr=bad host:99999", "-l"], 1, "ipaddr"),
        (["-t", "recorder", "ipaddr=10.0.0.1", "-l"], 3, "login"),
        (["-t", "recorder", "-p", "10.0.0.1 admin", "-l"], 1, "Invalid STONITH -p parameter"),
        (["-t", "recorder", "-l"], 1, "Must specify either"),
        (["-t", "recorder", "-p", "a b c", "-E", "-l"], 1, "just one of"),
        ([*GOOD, "-p", "a b c", "-l"], 1, "Cannot mix"),
        ([*GOOD, "-T", "bogus", "node1"], 1, "bad reset type [bogus]"),
        ([*GOOD, "-c", "0", "-l"], 1, "bad count [0]"),
        ([*GOOD, "-T", "on"], 1, "usage"),
        ([*GOOD, "node1", "node2"], 1, "usage"),
        ([*GOOD, "-T", "off", "node\x1b[2Jx"], 3, "nodename"),
        ([*GOOD, "-q"], 1, "invalid option"),
        (["-l"], 1, "Must specify device type"),
    ],
)
def test_bad_input(argv: list[str], code: int, needle: str) -> None:
    rc, out, err = run_inproc(argv)
    assert rc == code, err
    assert needle in err
    assert out == ""
    assert "Traceback" not in err
    assert Recorder.actions == []


def test_every_problem_named_once_per_line() -> None:
    rc, _, err = run_inproc(["-t", "recorder", "login=UPPER", "outlets=100", "-l"])
    assert rc == 1
    lines = err.strip().splitlines()
    assert any("ipaddr" in line and "missing" in line for line in lines)
    assert any("password" in line for line in lines)
    assert any("login" in line for line in lines)
    assert any("outlets" in line for line in lines)
    assert Recorder.actions == []


def test_secret_never_echoed() -> None:
    rc, out, err = run_inproc(
        ["-t", "recorder", "ipaddr=10.0.0.1", "login=admin", "password=top\x01secret", "-l"]
    )
    assert rc == 1
    assert "secret" not in (out + err).replace("password", "")


def test_malformed_config_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.cfg"
    empty.write_text("# only a comment\n\n")
    rc, _, err = run_inproc(["-t", "recorder", "-F", str(empty), "-l"])
    assert rc == 1 and "no configuration line" in err
    rc, _, err = run_inproc(["-t", "recorder", "-F", str(tmp_path / "missing"), "-l"])
    assert rc == 1 and "Cannot open" in err
    assert Recorder.actions == []


def test_config_file_with_secret_must_not_be_readable_by_others(tmp_path: Path) -> None:
    cfg = tmp_path / "rec.cfg"
    cfg.write_text("10.0.0.1 admin pw\n")
    cfg.chmod(0o644)
    rc, _, err = run_inproc(["-t", "recorder", "-F", str(cfg), "-l"])
    assert rc == 1 and "chmod 600" in err
    assert Recorder.actions == []
    cfg.chmod(0o600)
    rc, out, _ = run_inproc(["-t", "recorder", "-F", str(cfg), "-l"])
    assert (rc, out) == (0, "node1\n")


def test_positional_last_name_takes_the_rest() -> None:
    config = glue_cli.positional_config(Recorder.INFO, "10.0.0.1 admin  pass word with blanks ")
    assert config["password"] == "pass"
    info = DriverInfo("x", shortdesc="x", description="x", fields=(Field("a", "A"), Field("b", "B")))
    assert glue_cli.positional_config(info, "  1   two words ") == {"a": "1", "b": "two words "}


def test_env_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("ipaddr", "10.0.0.1"), ("login", "admin"), ("password", "pw")):
        monkeypatch.setenv(name, value)
    rc, out, _ = run_inproc(["-t", "recorder", "-E", "-l"])
    assert (rc, out) == (0, "node1\n")


def test_verified_reset_runs_in_one_session() -> None:
    started = time.monotonic()
    rc, _, _ = run_inproc([*GOOD, "--timeout", "1", "-T", "off", "NODE1"])
    assert time.monotonic() - started < 2.5  # the deadline holds
    assert rc == 5  # Recorder's status always reads ON: the off is never verified
    assert "off" in Recorder.actions
    assert Recorder.actions.count("connect") == 1


def test_json_output() -> None:
    rc, out, _ = run_inproc([*GOOD, "--json", "-l"])
    assert rc == 0 and '"hosts": ["node1"]' in out


ALPHABET = [
    "-t",
    "recorder",
    "null",
    "-l",
    "-S",
    "-T",
    "reset",
    "on",
    "off",
    "-p",
    "-F",
    "-E",
    "-c",
    "0",
    "3",
    "-n",
    "-m",
    "-s",
    "-v",
    "-d",
    "node1",
    "ipaddr=10.0.0.1",
    "login=admin",
    "password=pw",
    "outlets=99",
    "model=x",
    "=",
    "-",
    "--",
    "--json",
    "--lang",
    "de",
    "--timeout",
    "-1",
    "hostlist=a b",
    "/nonexistent",
    "\x00",
    "-Tx",
    "-tnull",
    "-c5",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(ALPHABET), st.text(max_size=6)), max_size=8))
def test_fuzz_argument_parser_never_tracebacks_never_acts_on_bad_input(argv: list[str]) -> None:
    Recorder.actions = []
    bad_input = False
    try:
        opts = glue_cli.parse(argv)
        if opts.type and not (opts.help or opts.version or opts.list_types or opts.names or opts.meta):
            info = registry.load(opts.type).INFO
            raw = glue_cli.gather_config(opts, info)
            from stonith.fencing.device import check

            check(info, raw)
            if len(opts.nodes) > 1:
                bad_input = True
            elif opts.nodes:
                glue_cli._check_node(opts.nodes[0])
    except StonithError:
        bad_input = True
    rc, _, err = run_inproc(argv)  # must not raise
    assert 0 <= rc <= 8
    assert "Traceback" not in err
    if bad_input:
        assert Recorder.actions == []
        assert rc != 0 or "--help" in argv or "-h" in "".join(argv)


def test_version_and_help() -> None:
    assert run_inproc(["-V"])[0] == 0
    rc, out, _ = run_inproc(["-h", "-t", "null"])
    assert rc == 0 and "STONITH Device: null" in out
    rc, _, err = run_inproc(["-h", "-t", "nosuch"])
    assert rc == 0 and "Invalid device type" in err


def test_installed_command_never_prints_a_traceback() -> None:
    result = run_stonith("-t", "null", "hostlist=a", "-T", "reset", "a\x07b")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr


def test_lang_option_localizes_help() -> None:
    result = run_stonith("-t", "null", "-m", "--lang", "de")
    assert 'lang="de"' in result.stdout and "Hostliste" in result.stdout
    result = run_stonith("-t", "null", "-m", env={"LANG": "de_DE.UTF-8"})
    assert "Hostliste" in result.stdout


def test_no_tty_dependence() -> None:
    """Diagnostics and results are the same whether stdin is a terminal or not (cluster-glue wrote
    its diagnostics only when stdin was a tty, so scripts never saw them)."""
    import pty

    argv = [
        ["-t", "null", "hostlist=a b", "-S", "-v"],
        ["-t", "null", "hostlist=a b", "-l"],
        ["-t", "null", "hostlist=a b", "-T", "reset", "nosuch"],
        ["-t", "null", "hostlist=a", "-T", "reset", "a", "-d"],
    ]
    for args in argv:
        outputs = []
        for use_tty in (True, False):
            controller, terminal = pty.openpty()
            try:
                stdin = terminal if use_tty else subprocess.DEVNULL
                assert not use_tty or os.isatty(terminal)
                result = subprocess.run(
                    [*stonith_cmd(), *args], stdin=stdin, capture_output=True, text=True, timeout=60
                )
            finally:
                os.close(controller)
                os.close(terminal)
            outputs.append((result.returncode, result.stdout, result.stderr))
        assert outputs[0] == outputs[1], (args, outputs)
        assert outputs[0][1] or outputs[0][2], args  # each run says something

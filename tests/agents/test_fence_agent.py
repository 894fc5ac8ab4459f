"""The fence-agents API of ``fence_stonith_<type>``: stdin and getopt input, actions, exit codes."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import fence_rng, require_peer


def agent(
    type_name: str, stdin: str = "", *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-m", "stonith.cli.fence_agent", type_name, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_metadata_from_stdin_and_argv() -> None:
    via_stdin = agent("null", "action=metadata\n")
    assert via_stdin.returncode == 0
    assert via_stdin.stdout.startswith('<?xml version="1.0" ?>\n<resource-agent name="fence_stonith_null"')
    assert agent("null", "", "-o", "metadata").stdout == via_stdin.stdout
    assert agent("null", "action=meta-data\n").stdout == via_stdin.stdout


def test_status_exit_codes() -> None:
    on = agent("null", "action=status\nhostlist=a b\nport=a\n")
    assert (on.returncode, on.stdout) == (0, "Status: ON\n")


def test_aliases_and_unknown_options_warn() -> None:
    result = agent("null", "option=status\nhostlist=a b\nplug=b\nnodename=b\nnodeid=2\nfrobnicate=yes\n")
    assert result.returncode == 0, result.stderr
    assert "Ignoring unknown option 'frobnicate=" in result.stderr
    assert "yes" not in result.stderr.split("frobnicate")[1][:5]  # values are not echoed


def test_reboot_on_off_list() -> None:
    assert agent("null", "action=reboot\nhostlist=a\nport=a\n").stdout == "Success: Rebooted\n"
    assert agent("null", "action=off\nhostlist=a\nport=a\n").stdout == "Success: Powered OFF\n"
    assert agent("null", "action=on\nhostlist=a\nport=a\n").stdout == "Success: Powered ON\n"
    listed = agent("null", "", "-o", "list", "--hostlist", "a b", "-C", ";")
    assert listed.stdout == "a;\nb;\n"
    assert agent("null", "action=monitor\nhostlist=a\n").returncode == 0


@pytest.mark.parametrize(
    "stdin",
    [
        "action=bogus\nhostlist=a\n",
        "action=reboot\nhostlist=a\n",  # no plug
        "action=off\nhostlist=a\nport=a\x1b[2J\n",
        "action=off\nhostlist=\n",
        "garbage\n\x00\x01\x02\nport=a\n",
        "action=off\nhostlist=a\nport=a\npower_timeout=soon\n",
    ],
)
def test_bad_stdin_fails_cleanly(stdin: str) -> None:
    result = agent("null", stdin)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "ERROR" in result.stderr
    assert result.stdout == ""


def test_unrecognised_action_message_for_pacemaker() -> None:
    result = agent("null", "action=frob\nhostlist=a\n")
    assert "Failed: Unrecognised action 'frob'" in result.stderr


def test_huge_input() -> None:
    result = agent("null", "x=" + "a" * 400_000 + "\n")
    assert result.returncode == 1 and "larger than" in result.stderr


def test_delay_before_first_contact() -> None:
    started = time.monotonic()
    result = agent("null", "action=off\nhostlist=a\nport=a\ndelay=1\n")
    assert result.returncode == 0
    assert time.monotonic() - started >= 1.0


def test_validate_all() -> None:
    assert agent("null", "action=validate-all\nhostlist=a\n").returncode == 0
    result = agent("ssh", "action=validate-all\nhostlist=a\nssh_port=0\n")
    assert result.returncode == 1 and "ssh_port" in result.stderr


STDIN_LINES = [
    "action=status",
    "action=monitor",
    "action=list",
    "action=off",
    "action=on",
    "action=reboot",
    "action=frobnicate",
    "action=",
    "ip=10.0.0.1",
    "ip=",
    "ip=not an address",
    "username=admin",
    "username=Bad User",
    "password=pw",
    "password=",
    "plug=1",
    "plug=1\x07",
    "port=node1",
    "plug=",
    "power_wait=0",
    "power_timeout=x",
    "nodename=node1",
    "login_timeout=-1",
    "frobnicate=yes",
    "no equals sign",
    "# comment",
    "",
]
SWITCHING = {"on", "off"}


@pytest.fixture
def recorder_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """Type "recorder": a driver that logs every device action (tests/stonith/test_glue_cli.py's
    Recorder) and whose outlets read back what was last switched, so a verified fence can pass."""
    from stonith.contract.driver import Outlet
    from stonith.fencing import registry
    from tests.stonith.test_glue_cli import Recorder

    states: dict[str, str] = {}

    class Switch(Recorder):
        def status(self, outlet: Outlet, deadline: object) -> str:
            Recorder.actions.append("status")
            return states.get(outlet.id, "on")

        def on(self, outlet: Outlet, deadline: object) -> None:
            Recorder.actions.append("on")
            states[outlet.id] = "on"

        def off(self, outlet: Outlet, deadline: object) -> None:
            Recorder.actions.append("off")
            states[outlet.id] = "off"

    real = registry.load
    monkeypatch.setattr(registry, "load", lambda name: Switch if name == "recorder" else real(name))


def agent_in_process(stdin: str) -> tuple[int, str, str]:
    from stonith.cli import fence_agent

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = fence_agent.main("recorder", [])
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.booleans(),
    st.lists(st.one_of(st.sampled_from(STDIN_LINES), st.text(max_size=40)), max_size=10),
)
def test_fuzz_stdin_judged_by_what_was_switched(recorder_type: None, base: bool, lines: list[str]) -> None:
    """Random stdin: fence-agents' exit codes only (0, 1, 2), never a traceback, nothing switched
    on input the parser rejects or for an action that does not switch, and a switching action that
    exits 0 really switched (the recording driver's log is the ground truth)."""
    from stonith.cli.fence_agent import Failure, Request, parse_stdin
    from tests.stonith.test_glue_cli import Recorder

    # Half the examples start from a complete request, so the random lines also reach switching.
    complete = ["ip=10.0.0.1", "username=admin", "password=pw", "plug=1", "power_wait=0"]
    stdin = "\n".join((complete if base else []) + lines) + "\n"
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            action: str | None = Request(Recorder.INFO, parse_stdin(stdin)).action
        except Failure:
            action = None  # refused before any device is touched
    Recorder.actions = []
    code, out, err = agent_in_process(stdin)
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    switched = SWITCHING & set(Recorder.actions)
    if action is None:
        assert code == 1 and Recorder.actions == [], (code, Recorder.actions, err)
    elif action not in ("on", "off", "reboot"):
        assert not switched, (action, Recorder.actions)
    elif code == 0:
        wanted = {"on": {"on"}, "off": {"off"}, "reboot": {"off", "on"}}[action]
        assert wanted <= switched, (action, Recorder.actions, out)
    else:
        assert "Failed" in err or "ERROR" in err, err


def test_stdin_switching_really_switches(recorder_type: None) -> None:
    """The property above reaches its switching branch: valid input switches and exits 0."""
    from tests.stonith.test_glue_cli import Recorder

    for action, wanted in (("off", ["off"]), ("on", ["on"]), ("reboot", ["off", "on"])):
        Recorder.actions = []
        code, _, err = agent_in_process(
            f"action={action}\nip=10.0.0.1\nusername=admin\npassword=pw\nplug=1\npower_wait=0\n"
        )
        assert code == 0, err
        assert [a for a in Recorder.actions if a in SWITCHING] == wanted


def test_installed_agent_metadata_validates(tmp_path: Path) -> None:
    xmllint = require_peer("xmllint", "libxml2-utils")
    rng = fence_rng()
    stonith = Path(sys.executable).with_name("stonith")
    subprocess.run(
        [str(stonith), "install-agents", "--dir", str(tmp_path), "--type", "null", "--type", "meatware"],
        check=True,
        capture_output=True,
    )
    for script in sorted(tmp_path.iterdir()):
        out = subprocess.run(
            [str(script)], input="action=metadata\n", capture_output=True, text=True, check=True
        )
        doc = tmp_path / (script.name + ".xml")
        doc.write_text(out.stdout)
        check = subprocess.run(
            [xmllint, "--noout", "--relaxng", str(rng), str(doc)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stderr
    removed = subprocess.run(
        [str(stonith), "install-agents", "--dir", str(tmp_path), "--remove"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert removed.stdout.count("removed") == 2
    # Only the metadata documents this test wrote are left: both agents are gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fence_stonith_meatware.xml",
        "fence_stonith_null.xml",
    ]


def test_install_refuses_foreign_files(tmp_path: Path) -> None:
    foreign = tmp_path / "fence_stonith_null"
    foreign.write_text("#!/bin/sh\necho mine\n")
    stonith = Path(sys.executable).with_name("stonith")
    result = subprocess.run(
        [str(stonith), "install-agents", "--dir", str(tmp_path), "--type", "null"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "refusing to overwrite" in result.stderr
    assert foreign.read_text() == "#!/bin/sh\necho mine\n"
    subprocess.run(
        [str(stonith), "install-agents", "--dir", str(tmp_path), "--remove"], check=True, capture_output=True
    )
    assert foreign.exists()


def test_device_without_read_back_never_reports_a_fence() -> None:
    # nw_rpc100s cannot report its outlet: on/off/reboot fail before any contact (no tty is opened).
    for action in ("reboot", "off", "on"):
        result = agent("nw_rpc100s", f"action={action}\nttydev=/nonexistent/tty\nhostlist=a\nport=a\n")
        assert result.returncode == 1, result.stdout
        assert "cannot be verified" in result.stderr
        assert result.stdout == ""

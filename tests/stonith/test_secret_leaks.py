"""A marker password never appears in any output, log or audit line (issue 20 item 5).

The paths the attack found: a device that echoes what we type and then hangs (its echo of the
password ended up in the timeout's "last output: '...'", hence in ``--json``, the audit log and
the fence agent's stderr), a fence-agent stdin line without ``=`` (echoed in a warning), and a
``-F`` file missing its last field (printed whole).  Each front end runs against an echoing device,
and every byte it writes (stdout, stderr, the audit file) is searched for the marker and for any
piece of it a cut could leave.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_stonith

MARKER = "Zq8-marker-PW-4417"


def pieces(marker: str = MARKER, size: int = 6) -> list[str]:
    """Every run of ``size`` characters of the marker: a cut secret must not leak either."""
    return [marker[i : i + size] for i in range(len(marker) - size + 1)]


def assert_clean(*outputs: str) -> None:
    for output in outputs:
        leaked = [p for p in pieces() if p in output]
        assert not leaked, (leaked, output)


@contextlib.contextmanager
def echoing_console(echo: int | None = None) -> Iterator[str]:
    """A BayTech-like login that echoes the password (``echo`` bytes of it, or all) and then hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        conn.settimeout(0.2)
        conn.sendall(b"\r\nRPC-3 Telnet Host\r\nEnter username>")
        state, typed = "user", b""
        while not stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if state == "user":
                typed += data
                if b"\r" in typed or b"\n" in typed:
                    conn.sendall(b"\r\nEnter password>")
                    state, typed = "password", b""
            elif state == "password":
                # Echo as a careless console would, then hang: nothing more, whatever comes.
                typed += data
                if echo is None:
                    conn.sendall(data)
                elif len(typed) - len(data) < echo:
                    conn.sendall(data[: echo - (len(typed) - len(data))])
        conn.close()

    def accept() -> None:
        workers = []
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=serve, args=(conn,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(2)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(3)
        server.close()


def devices_dir(tmp_path: Path, address: str) -> Path:
    directory = tmp_path / "devices.d"
    directory.mkdir(mode=0o700)
    path = directory / "pdu.toml"
    path.write_text(
        'type = "baytech"\ntimeout = 2\nsettle = 0\n'
        f'[parameters]\nipaddr = "{address}"\nlogin = "admin"\n'
        '[secrets]\npassword = { env = "LEAK_TEST_PW" }\n[hosts]\nn1 = "1"\n'
    )
    path.chmod(0o600)
    return directory


@pytest.mark.parametrize("echo", [None, 9], ids=["whole echo", "hangs mid-echo"])
def test_cluster_cli_json_table_and_audit(tmp_path: Path, echo: int | None) -> None:
    with echoing_console(echo) as address:
        directory = devices_dir(tmp_path, address)
        audit = tmp_path / "audit.log"
        env = {"LEAK_TEST_PW": MARKER, "STONITH_LOCK_DIR": str(tmp_path)}
        outputs = []
        for argv in (
            ["status", "--json", "n1"],
            ["off", "--audit", str(audit), "n1"],
            ["check"],
        ):
            result = run_stonith(*argv, "--devices", str(directory), "--timeout", "2", env=env)
            assert result.returncode != 0, result
            outputs += [result.stdout, result.stderr]
        # The device's echo did reach the messages: the test would see a leak if there were one.
        assert any("last output" in o for o in outputs), outputs
        assert audit.read_text().strip()
        assert_clean(*outputs, audit.read_text())


def test_glue_cli(tmp_path: Path) -> None:
    with echoing_console() as address:
        outputs = []
        for verb in (["-S"], ["-T", "reset", "n1"]):
            result = run_stonith(
                "-t", "baytech", f"ipaddr={address}", "login=admin", f"password={MARKER}", *verb,
                "--timeout", "2", env={"STONITH_LOCK_DIR": str(tmp_path)},
            )  # fmt: skip
            assert result.returncode != 0
            outputs += [result.stdout, result.stderr]
        assert any("last output" in o for o in outputs), outputs
        assert_clean(*outputs)


def agent(type_name: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-m", "stonith.cli.fence_agent", type_name, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fence_agent_echoing_device(tmp_path: Path) -> None:
    with echoing_console() as address:
        host, port = address.split(":")
        outputs = []
        for action in ("status", "reboot"):
            result = agent(
                "baytech",
                f"action={action}\nip={host}\nipport={port}\nusername=admin\npassword={MARKER}\n"
                "plug=1\npower_timeout=2\nshell_timeout=2\nlogin_timeout=2\n",
            )
            assert result.returncode != 0, result
            outputs += [result.stdout, result.stderr]
        assert any("last output" in o for o in outputs), outputs
        assert_clean(*outputs)


@pytest.mark.parametrize(
    "stdin",
    [
        f"action=status\nhostlist=a\nport=a\n{MARKER}\n",
        f"action=status\nhostlist=a\nport=a\npassword\n{MARKER} trailing\n",
        f"action=status\nhostlist=a\nport=a\n  {MARKER}  \n",
    ],
)
def test_fence_agent_line_without_equals(stdin: str) -> None:
    result = agent("null", stdin)
    assert "Parse error" in result.stderr  # the line was warned about, without its text
    assert_clean(result.stdout, result.stderr)


@pytest.mark.parametrize(
    "line",
    [
        f"h1 10.0.0.1 admin {MARKER}",  # external/ibmrsa without its last field (type)
        f"h1 10.0.0.1 admin {MARKER}\n",
        f"# comment\n\nh1 10.0.0.1 admin {MARKER}",
    ],
)
def test_glue_config_file_missing_a_field(tmp_path: Path, line: str) -> None:
    types = run_stonith("-L").stdout.split()
    type_name = "external/ibmrsa" if "external/ibmrsa" in types else "baytech"
    config = tmp_path / "device.cfg"
    config.write_text(line if type_name == "external/ibmrsa" else line.replace("h1 10.0.0.1 ", ""))
    config.chmod(0o600)
    outputs = []
    for verb in (["-S"], ["-l"], ["-T", "reset", "h1"]):
        result = run_stonith("-t", type_name, "-F", str(config), *verb)
        outputs += [result.stdout, result.stderr]
        if type_name == "external/ibmrsa":
            assert result.returncode != 0 and "missing" in result.stderr, result
    result = run_stonith("-t", type_name, "-p", line.splitlines()[-1], "-S")
    outputs += [result.stdout, result.stderr]
    assert_clean(*outputs)


def test_redaction_rules() -> None:
    from stonith.contract import redact

    redact.remember("Kx7-unit-secret")
    redact.remember("x")  # too short to mask without garbling every message
    assert redact.text("external/demo: x failed") == "external/demo: x failed"
    assert redact.text("echo 'Kx7-unit-secret' then") == "echo '********' then"
    assert redact.text("the last bytes: Kx7-un") == "the last bytes: ********"  # hung mid-echo
    assert redact.text("nit-secret and more") == "******** and more"  # a cut at the start
    # The secret is masked whole before the tail is cut: no fragment of it survives the cut.
    assert redact.tail(b"......Kx7-unit-secret\r\n", 8) == "******\r\n"
    assert redact.deep({"a": ["Kx7-unit-secret"], "b": 1}) == {"a": ["********"], "b": 1}
    # A secret learnt later (text() keeps its secrets longest first and their fragments at hand)
    # is masked from then on, inside a longer one's text too, and cut at either end.
    assert redact.text("late-Qz9-pass here") == "late-Qz9-pass here"
    redact.remember("late-Qz9-pass")
    redact.remember("late-Qz9-pass")  # again: nothing changes
    assert redact.text("late-Qz9-pass here") == "******** here"
    assert redact.text("cut: late-Q") == "cut: ********" and redact.text("9-pass end") == "******** end"
    redact.remember("Kx7-unit-secret-and-more")  # contains the first: masked whole, not in parts
    assert redact.text("[Kx7-unit-secret-and-more]") == "[********]"

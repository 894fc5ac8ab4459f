"""The BayTech mock on its own: exact bytes, personalities, faults, ground truth, the CLI contract."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from stonith.mocks._common import Faults, parse_faults
from stonith.mocks.harness import argv_for, start_mock


class Client:
    """A raw TCP client that reads whatever the device sends."""

    def __init__(self, mock):
        self.sock = socket.create_connection((mock.host, mock.port))

    def read(self, until=None, timeout=2.0):
        self.sock.settimeout(0.1)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                if until is None and data:
                    break
                continue
            if not chunk:
                data += b"<EOF>"
                break
            data += chunk
            if until is not None and data.endswith(until):
                break
        return data

    def send(self, line, until=None):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.read(until)

    def close(self):
        self.sock.close()


def test_parse_faults():
    faults = parse_faults(
        ["drop-after=10", "garble", "silent=5", "refuse-login", "stuck=2", "lie=3", "stuck=4", "lie-status=5"]
    )
    assert faults == Faults(10, 0, 5, True, frozenset({2, 4}), frozenset({3}), frozenset({5}))
    for bad in ("drop-after", "stuck=x", "lie=0", "refuse-login=1", "explode", "garble=-1"):
        with pytest.raises(ValueError):
            parse_faults([bad])


def test_rpc3_dialogue_is_byte_exact():
    with start_mock(
        "baytech",
        model="rpc3",
        names=["node1", "a long name here"],
        outlets=2,
        states=["on", "off"],
        username="admin",
        password="pw",
    ) as mock:
        client = Client(mock)
        assert client.read(b"username>") == (
            b"\r\n\r\n        RPC-3 Telnet Host\r\n    Revision F 5.01, (C) 2001 \r\n"
            b"    Bay Technical Associates\r\n    Unit ID: BT-LAB-1\r\n\r\n\r\n    Enter username>"
        )
        assert client.send("admin", b"password>") == b"\r\n    Enter password>"
        menu = client.send("pw", b"Selection>")
        assert menu.startswith(
            b"\r\n  Option(s) installed:\r\n  True RMS Current\r\n\r\n\r\n  RPC-3 Menu:\r\n"
        )
        screen = client.send("1", b"RPC-3>")
        assert b"    Number     Name      Number   Status\r\n" in screen
        assert (
            b"      1       node1       1       On  \r\n      2       a long nam  2       Off \r\n\r\n"
            in screen
        )
        assert b"Circuit Breaker: On \r\n" in screen and screen.endswith(b"\r\n\r\n  RPC-3>")
        assert client.send("off 1", b"(Y/N)>") == b"\r\n  Off 1? (Y/N)>"
        assert b"      1       node1       1       Off \r\n" in client.send("y", b"RPC-3>")
        assert client.send("REBOOT 2", b"(Y/N)>") == b"\r\n  Reboot 2? (Y/N)>"
        assert client.send("Y", b"RPC-3>") == b"\r\n  Outlet 2 is already off.\r\n  RPC-3>"
        assert client.send("menu", b"Selection>").startswith(b"\r\n  RPC-3 Menu:")
        assert client.send("6").endswith(b"<EOF>")
        client.close()
        assert mock.truth()["outlets"]["2"] == {"name": "a long nam", "state": "off"}


def test_rpc5_table_follows_the_temperature_line():
    with start_mock(
        "baytech", model="rpc5", names=["a-node-with-18-ch"], confirm=False, password_only=True, password="pw"
    ) as mock:
        client = Client(mock)
        client.read(b"password>")
        client.send("pw", b"Selection>")
        screen = client.send("1", b"RPC-5>")
        assert re.search(rb"emperature: 32\.0 C\r\n  Selection {3}Outlet {12}Outlet", screen)
        assert b"      1       a-node-with-18-ch   1       On  \r\n" in screen
        client.close()


def test_reboot_countdown_and_alternating_prompts_on_rpc28():
    with start_mock("baytech", model="rpc28-nc", reboot_delay=0.2) as mock:
        client = Client(mock)
        banner = client.read(b"RPC-28A>")
        assert banner.startswith(b"\r\n\r\nRPC-28 Series\r\n(C) 2000 by BayTech\r\nF3.01\r\n")
        assert client.send("", b">") == b"RPC-28>"
        status = client.send("status", b">")
        # Columns as PowerMan's simulator prints them: state padded to 3, then 11 blanks before "2)".
        assert (
            b" 1)...Outlet  1       : On " + b" " * 11 + b"2)...Outlet  2       : On " + b" " * 10 + b"\r\n"
            in status
        )
        assert b" 9)...Outlet  9       : On " + b" " * 10 + b"10)...Outlet 10       : On " in status
        assert status.endswith(b'\r\nType "Help" for a list of commands\r\n\r\nRPC-28A>')
        assert client.send("reboot 3", b">") == b"\r\nRebooting...  9876543210\r\nRPC-28>"
        assert [e["state"] for e in mock.events()] == ["off", "on"]
        assert client.send("bogus", b">") == b"Input error\r\n\r\nRPC-28A>"
        assert client.send("exit").endswith(b"<EOF>")
        client.close()


def test_login_failures_and_refuse_login():
    with start_mock("baytech", model="rpc3a", username="admin", password="pw") as mock:
        client = Client(mock)
        client.read(b"username>")
        assert client.send("root", b"username>") == b"\r\n    Enter username>"
        client.send("admin", b"password>")
        assert client.send("nope", b"username>") == b"\r\n    Invalid password.\r\n\r\n    Enter username>"
        client.send("admin", b"password>")
        assert client.send("nope").endswith(b"Invalid password.\r\n<EOF>")
        client.close()
    with start_mock(
        "baytech", model="rpc3", password_only=True, password="pw", faults=["refuse-login"]
    ) as mock:
        client = Client(mock)
        client.read(b"password>")
        assert b"Invalid password" in client.send("pw", b"password>")
        client.close()


def test_one_session_at_a_time():
    with start_mock("baytech", model="rpc3-nc") as mock:
        first = Client(mock)
        assert first.read(b"RPC3-NC>").endswith(b"RPC3-NC>")
        second = Client(mock)
        assert second.read(timeout=2.0) == b"<EOF>"
        second.close()
        first.close()
        time.sleep(0.1)
        third = Client(mock)
        assert third.read(b"RPC3-NC>").endswith(b"RPC3-NC>")
        third.close()
    with start_mock("baytech", model="rpc3-nc", sessions=2) as mock:
        clients = [Client(mock), Client(mock)]
        assert all(c.read(b"RPC3-NC>").endswith(b"RPC3-NC>") for c in clients)
        for c in clients:
            c.close()


def test_relay_delay_stuck_and_lie_in_the_ground_truth(tmp_path):
    state_file = tmp_path / "truth.json"
    with start_mock(
        "baytech",
        model="rpc3-nc",
        relay_delay=0.3,
        faults=["stuck=1", "lie-status=2"],
        state_file=str(state_file),
    ) as mock:
        client = Client(mock)
        client.read(b">")
        for command in ("off 1", "off 2", "off 3"):
            client.send(command, b">")
        status = client.send("status", b">")
        assert b"Outlet  1       : On " in status  # stuck: ignores off
        assert b"Outlet  2       : Off" in status  # lie-status: reports off at once
        assert b"Outlet  3       : On " in status  # relay not yet moved
        assert mock.state(3) == "on"
        time.sleep(0.5)
        truth = json.loads(state_file.read_text())
        assert {k: v["state"] for k, v in truth["outlets"].items() if k in "123"} == {
            "1": "on",
            "2": "on",
            "3": "off",
        }
        assert [(e["outlet"], e["state"]) for e in truth["events"]] == [("3", "off")]
        assert isinstance(truth["events"][0]["t"], float)
        assert os.listdir(tmp_path) == ["truth.json"]  # temp files were renamed, none left over
        client.close()


def test_drop_garble_and_silent_faults():
    with start_mock("baytech", model="rpc3-nc", faults=["drop-after=20"]) as mock:
        client = Client(mock)
        data = client.read(b"<EOF>")
        assert data == b"\r\n\r\nRPC3-NC Series\r\n<EOF>"  # exactly 20 bytes
        client.close()
    with start_mock("baytech", model="rpc3-nc", faults=["garble=4"]) as mock:
        client = Client(mock)
        data = client.read(timeout=0.5)
        assert data[:4] == b"\r\n\r\n" and all(b & 0x80 for b in data[4:])
        client.close()
    with start_mock("baytech", model="rpc3-nc", faults=["silent=10"]) as mock:
        client = Client(mock)
        assert client.read(timeout=0.5) == b"\r\n\r\nRPC3-N"
        assert client.send("off 1", b">") == b""
        assert mock.events() == []
        client.close()


def test_serial_link_wakes_on_input_and_idles_after_logout(tmp_path):
    link = tmp_path / "ttyBT"
    with start_mock("baytech", model="rpc3-nc", serial_link=str(link)) as mock:
        assert os.path.islink(link) and mock.serial == str(link)
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"\r")
            time.sleep(0.3)
            assert os.read(fd, 4096).endswith(b"RPC3-NC>")
            os.write(fd, b"logout\r")
        finally:
            os.close(fd)
    assert not os.path.lexists(link)


def test_argv_for_maps_keywords():
    argv = argv_for(
        "baytech",
        {
            "model": "rpc5",
            "names": ["a", "b"],
            "faults": ["garble"],
            "confirm": False,
            "password_only": True,
            "relay_delay": 0.5,
            "outlets": None,
        },
    )
    assert argv == [
        "baytech",
        "--model",
        "rpc5",
        "--names",
        "a,b",
        "--fault",
        "garble",
        "--no-confirm",
        "--password-only",
        "--relay-delay",
        "0.5",
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_line_contract(tmp_path, signum):
    state_file = tmp_path / "s.json"
    env = dict(os.environ, STONITH_MOCK_PASSWORD="from-env")
    process = subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-m",
            "stonith.mocks",
            "baytech",
            "--model",
            "rpc3",
            "--listen",
            "127.0.0.1:0",
            "--outlets",
            "3",
            "--names",
            "n1,n2",
            "--password-only",
            "--state-file",
            str(state_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        info = json.loads(process.stdout.readline())
        assert (
            info["type"] == "baytech"
            and info["model"] == "rpc3"
            and re.fullmatch(r"127\.0\.0\.1:\d+", info["address"])
        )
        truth = json.loads(state_file.read_text())
        assert truth == {
            "outlets": {
                "1": {"name": "n1", "state": "on"},
                "2": {"name": "n2", "state": "on"},
                "3": {"name": "Outlet 3", "state": "on"},
            },
            "events": [],
        }
        host, _, port = info["address"].rpartition(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.settimeout(2)
            time.sleep(0.2)
            sock.recv(4096)
            sock.sendall(b"from-env\r")
            time.sleep(0.2)
            assert b"Enter Selection>" in sock.recv(4096)
    finally:
        process.send_signal(signum)
        assert process.wait(10) == 0
        assert "Traceback" not in process.stderr.read()


def test_command_line_errors():
    result = subprocess.run(
        [sys.executable, "-P", "-m", "stonith.mocks", "nosuchtype"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "no mock for type" in result.stderr
    result = subprocess.run(
        [sys.executable, "-P", "-m", "stonith.mocks", "baytech", "--fault", "bogus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "bad fault" in result.stderr and "Traceback" not in result.stderr


def test_subprocess_harness_reads_truth_from_the_state_file():
    with start_mock("baytech", model="rpc3-nc", subprocess_=True) as mock:
        client = Client(mock)
        client.read(b">")
        client.send("off 2", b">")
        client.close()
        time.sleep(0.2)
        assert mock.state(2) == "off" and mock.events()[0]["outlet"] == "2"


def test_subprocess_harness_hands_the_password_over_outside_argv():
    from stonith.contract.deadline import Deadline
    from stonith.fencing.device import construct

    with start_mock("baytech", model="rpc3", password="hush-4711", subprocess_=True) as mock:
        assert mock.process is not None
        with open(f"/proc/{mock.process.pid}/cmdline", "rb") as cmdline:
            assert b"hush-4711" not in cmdline.read()  # what ps shows
        config = {"ipaddr": mock.address, "login": "admin", "password": "hush-4711"}
        driver = construct("baytech", config).driver
        driver.connect(Deadline(5))  # the mock took it from its environment (a wrong one: AuthFailed)
        try:
            assert driver.outlets(Deadline(5))
        finally:
            driver.disconnect()

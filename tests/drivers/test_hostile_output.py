"""Smaller device-side leaks of issue 21 item 9, each performed against a fake or a mock.

- a WTI switch paging (or asking to confirm) forever: the answer is capped, not collected until
  the deadline;
- a password with characters a console cannot take: the error names the field, never a character
  of the password or its position (``UnicodeEncodeError`` did both);
- escape sequences in device-reported outlet names: ``stonith -l`` does not list such names (C0,
  DEL and C1 controls) and the cluster tables show controls as ``\\xNN``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
from stonith.drivers.wti_nps import MAX_OUTPUT, MAX_PROMPTS, WtiNps
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import DeviceError
from stonith.contract.fields import Field
from tests.conftest import run_stonith

# ---------------------------------------------------------------------------------------------
# A WTI switch that pages forever


class PagingWti:
    """Answers ``/S`` with page after page of ``page`` bytes, each ending in the pager prompt."""

    def __init__(self, page: bytes) -> None:
        self.page = page
        self.pages_sent = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> PagingWti:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self._thread.join(3)

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                conn.sendall(b"\r\nNetwork Power Switch v4.02\r\n\r\nNPS> ")  # no system password set
                while conn.recv(4096):
                    conn.sendall(b" Plug | Name             | Status\r\n" + self.page + b"\r\nPress Enter: ")
                    self.pages_sent += 1
            except OSError:
                pass


@pytest.mark.parametrize("page_size", [100, 200 * 1024])
def test_a_wti_switch_paging_forever_is_cut_short(page_size: int) -> None:
    with PagingWti(b"x" * page_size) as device:
        driver = WtiNps({"ipaddr": device.address, "password": "pw"})
        started = time.monotonic()
        driver.connect(Deadline(10))
        try:
            with pytest.raises(DeviceError, match="pages or"):
                driver.outlets(Deadline(20))
        finally:
            driver.disconnect()
        elapsed = time.monotonic() - started
    assert device.pages_sent <= MAX_PROMPTS + 3  # a command may arrive in two reads
    assert device.pages_sent * page_size <= MAX_OUTPUT + 2 * page_size
    assert elapsed < 5  # not the 20 s deadline


# ---------------------------------------------------------------------------------------------
# Passwords no console can take

PASSWORD = "€ΩЖ☃ä€"  # none of it ASCII; € Ω Ж ☃ are not Latin-1, ä is (a position would show)


def _leaks(text: str) -> list[str]:
    found = [ch for ch in set(PASSWORD) if ch in text]
    found += [word for word in ("position", "\\u20ac", "\\u03a9", "\\xe4", "codec") if word in text]
    return found


@pytest.mark.parametrize(
    ("kind", "argv"),
    [
        ("apcmaster", lambda m: ["login=apc", f"ipaddr={m.address}"]),
        ("wti_nps", lambda m: [f"ipaddr={m.address}"]),
        ("baytech", lambda m: ["login=admin", f"ipaddr={m.address}"]),
    ],
)
def test_a_password_a_console_cannot_take_leaks_nothing_of_it(kind: str, argv: Any) -> None:
    with start_mock(kind, names=["node1"], password="right") as mock:
        result = run_stonith("-t", kind, "--timeout", "5", *argv(mock), f"password={PASSWORD}", "-S")
    assert result.returncode == 1, result.stderr  # S_BADCONFIG: the password, not the device
    assert "password" in result.stderr
    assert _leaks(result.stdout + result.stderr) == []


@pytest.mark.parametrize("auth_method", ["basic", "session"])
def test_a_redfish_password_outside_latin1_is_sent_as_utf8_and_leaks_nothing(auth_method: str) -> None:
    with start_mock("redfish", names=["node1"], username="admin", password="right", tls=False) as mock:
        result = run_stonith(
            "-t",
            "redfish",
            "--timeout",
            "5",
            "hostname=node1",
            f"ipaddr={mock.address}",
            "ssl=no",
            "login=admin",
            f"password={PASSWORD}",
            f"auth_method={auth_method}",
            "-S",
        )
    assert result.returncode == 2, result.stderr  # a wrong password, refused by the service
    assert _leaks(result.stdout + result.stderr) == []


# ---------------------------------------------------------------------------------------------
# Escape sequences in device-reported names


class NamesDevice(Driver):
    """A device reporting the outlet names it is given (controls and all)."""

    INFO = DriverInfo(
        "namesdevice",
        shortdesc="Names device",
        description="Reports given outlet names",
        fields=(Field("unused", "Unused"),),
        capabilities=Capabilities(multi=True, sessions=1),
    )
    NAMES: tuple[str, ...] = ()

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)

    def connect(self, deadline: Deadline) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return [Outlet(str(i), name) for i, name in enumerate(self.NAMES, 1)]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return "on"

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        pass

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        pass


EVIL_NAMES = (
    "node1",
    "clear\x1b[2Jscreen",
    "csi\x9b31mred",
    "osc\x9d0;title\x9c",
    "del\x7f",
    "bell\x07",
    "node2",
)


def test_list_hosts_drops_names_with_c0_c1_and_esc(capsys: pytest.CaptureFixture[str]) -> None:
    from stonith.cli import glue_cli

    NamesDevice.NAMES = EVIL_NAMES
    opts = glue_cli.Options()
    opts.timeout = 5
    assert glue_cli._listhosts(NamesDevice({"unused": ""}), opts) == 0
    assert capsys.readouterr().out.split("\n") == ["node1", "node2", ""]


def test_list_hosts_through_the_command_against_a_console() -> None:
    # A BayTech console reporting an outlet name with ESC (C1 bytes are refused as line noise by
    # the stream transport already): the name is not listed, nothing of it reaches the terminal.
    with start_mock(
        "baytech", model="rpc3-nc", names=["node1", "ev\x1b[2Jil", "node3"], password="pw"
    ) as mock:
        result = run_stonith("-t", "baytech", "--timeout", "5", f"ipaddr={mock.address}", "-l")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "node1" in result.stdout.split() and "node3" in result.stdout.split()


def test_cluster_tables_show_controls_escaped() -> None:
    from stonith.cli.cluster_cli import _table

    text = _table([[name, "ok", "multi\nline"] for name in EVIL_NAMES], ["NODE", "RESULT", "DETAIL"])
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in text)
    assert text.count("\n") == len(EVIL_NAMES) + 1  # one line per row: no newline from a cell
    assert "clear\\x1b[2Jscreen" in text and "csi\\x9b31mred" in text

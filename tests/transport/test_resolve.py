"""Host-name look-ups inside the deadline (issue 21 item 9): a dead name server never stretches a fence.

``socket.getaddrinfo`` is replaced by one that hangs for a name of a dead zone, as the C library does
while it waits for unanswering name servers; every transport must still end at its deadline.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from stonith.contract import steps
from stonith.contract.deadline import Deadline
from stonith.contract.errors import Timeout, Unreachable
from stonith.transport import resolve

SLOW = "pdu.dead-dns.example"
HANG = 5.0  # how long the fake resolver takes for SLOW: far beyond every deadline below


@pytest.fixture(autouse=True)
def dead_name_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:  # no name server asked: never hangs
            return real(host, *args, **kwargs)
        asked.append(str(host))
        if host == SLOW:
            time.sleep(HANG)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield asked


def _within(seconds: float, started: float) -> None:
    assert time.monotonic() - started < seconds


def test_a_hanging_lookup_ends_at_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(Timeout, match="host name not resolved within the deadline"):
        resolve.addresses(SLOW, 23, Deadline(0.3, "reset"))
    _within(0.8, started)


def test_an_unknown_name_is_unreachable_at_once() -> None:
    with pytest.raises(Unreachable, match="cannot resolve host name"):
        resolve.addresses("pdu.invalid", 23, Deadline(2))


def test_a_literal_address_starts_no_thread(dead_name_server: list[str]) -> None:
    before = threading.active_count()
    assert resolve.addresses("127.0.0.1", 23, Deadline(1))[0][4] == ("127.0.0.1", 23)
    assert resolve.addresses("::1", 23, Deadline(1))[0][4][:2] == ("::1", 23)
    assert threading.active_count() == before


def test_a_literal_address_needs_no_idna_codec() -> None:
    # The codec's import (stringprep, unicodedata) fell in the middle of a run's first connections.
    code = (
        "import sys; from stonith.transport import resolve; from stonith.contract.deadline import Deadline; "
        "resolve.addresses('127.0.0.1', 623, Deadline(1)); print('encodings.idna' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
    assert resolve._literal("bmc\u00e7", 623, socket.SOCK_DGRAM) is None  # a name: looked up in a thread


def test_the_loop_goes_on_while_a_name_is_looked_up() -> None:
    """A BMC given by a dead name never stalls the other BMCs of the Loop."""
    other_done: list[float] = []

    def other() -> steps.Steps[None]:
        yield from steps.sleep(Deadline(1), 0.1)
        other_done.append(time.monotonic())

    def lookup() -> steps.Steps[None]:
        with pytest.raises(Timeout):
            yield from resolve.addresses_steps(SLOW, 623, Deadline(0.5))

    started = time.monotonic()
    steps.run(steps.gather([(lookup(), True), (other(), True)]))
    assert other_done and other_done[0] - started < 0.4
    _within(1.0, started)


def test_telnet_connect_keeps_its_deadline() -> None:
    from stonith.transport.telnet import TelnetStream

    started = time.monotonic()
    with pytest.raises(Timeout):
        TelnetStream.connect(f"{SLOW}:23", Deadline(0.4, "status"))
    _within(0.9, started)


def test_ipmi_session_keeps_its_deadline() -> None:
    from stonith.transport.ipmi import Session

    started = time.monotonic()
    with pytest.raises(Timeout):
        Session(SLOW, 623, username="admin", password="x").open(Deadline(0.4, "status"))
    _within(0.9, started)


def test_http_request_keeps_its_deadline() -> None:
    from stonith.transport import http

    started = time.monotonic()
    with pytest.raises(Timeout):
        http.fetch(
            http.session(),
            "GET",
            f"http://{SLOW}:8000/redfish/v1/",
            end=time.monotonic() + 0.4,
            read_timeout=0.4,
        )
    _within(0.9, started)

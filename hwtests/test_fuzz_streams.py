"""Fuzzing the replies of the byte-stream drivers (telnet, serial) through a fake of their transport.

Every stream driver of the entry points (stonith.drivers._console.StreamDriver) runs, with its case
in hwtests/fuzzing.py STREAM_CASES; a stream driver without one fails here, by name.  Properties and
budgets: hwtests/fuzzing.py.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests.fuzzing import FUZZ, fewer, loads, make_driver, read_device, stream_case, stream_types
from stonith.contract.driver import OFF, ON, UNKNOWN, Outlet
from stonith.transport.stream import Closed, Stream

# -- byte streams: telnet and serial drivers ------------------------------------------------------


class FakeStream(Stream):
    """A transport that answers with a script of byte chunks and records what the driver wrote.

    When the script runs out the device closes the connection, or (``silent``) says nothing more.
    """

    def __init__(self, chunks: list[bytes], silent: bool = False) -> None:
        super().__init__("fake")
        self.chunks = list(chunks)
        self.silent = silent
        self.sent = b""

    def _recv(self, timeout: float) -> bytes:
        if not self.chunks:
            if self.silent:
                time.sleep(min(timeout, 0.05))
                return b""
            raise Closed("fake: script exhausted")
        return self.chunks.pop(0)

    def _send(self, data: bytes, timeout: float) -> None:
        self.sent += data

    def _close(self) -> None:
        pass


REPLY_PIECES = [
    # BayTech RPC
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
    # RPS-10, RPC100S
    b"Plug 0 Off\r\n",
    b"Plug 1 On\r\n",
    b"Complete\r\n",
    b"RPS-10 Ready\r\n",
    b"OK\r\n",
    b"Invalid Entry\r\n",
    b"\xff\xfd\x01",
    # APC MasterSwitch
    b"User Name : ",
    b"Password  : ",
    b"American Power Conversion               Network Management Card AOS      v3.3.4\r\n",
    b"MasterSwitch plus APP v2.0.0\r\n",
    b"\r\n------- Control Console -------------------------------------------------------\r\n\r\n",
    b"\r\n------- Device Manager ---------------------------------------------------------\r\n\r\n",
    b"     1- n1                      ON\r\n",
    b"     2- n2                      OFF\r\n",
    b"     9- Master Control/Configuration\r\n",
    b"     1- MasterSwitch plus 1\r\n",
    b"\r\n     <ESC>- Back, <ENTER>- Refresh\r\n> ",
    b"\r\n> ",
    b"Enter 'YES' to continue or <ENTER> to cancel :",
    b"Press <ENTER> to continue...",
    # WTI NPS/IPS
    b"Enter Password: ",
    b"Password:",
    b"    Network Power Switch v3.02         Site ID: (undefined)\r\n",
    b" Plug | Name             | Status | Boot Delay | Default |\r\n",
    b"------+------------------+--------+------------+---------+\r\n",
    b"  1   | n1               |   ON   |   0.5 Secs |   ON    |\r\n",
    b"  2   | (undefined)      |  OFF   |   0.5 Secs |   ON    |\r\n",
    b"NPS> ",
    b"IPS> ",
    b"(Y/N):",
    b"Press Enter: to continue",
    # APC Smart-UPS
    b"SM\r\n",
    b"Smart-UPS 1000\r\n",
    b"08\r\n",
    b"40\r\n",
    b"NA\r\n",
    b"*",
    b"|",
]
STREAM_REPLIES = st.lists(st.one_of(st.sampled_from(REPLY_PIECES), st.binary(max_size=40)), max_size=12)


def _case(driver_type: str) -> tuple[dict, str, bytes]:
    case = stream_case(driver_type)
    if case is None:
        pytest.fail(f"{driver_type}: no case in hwtests/fuzzing.py STREAM_CASES, no every-mock.d row")
    return case


def _stream_driver(monkeypatch, driver_type: str, stream: FakeStream):
    import importlib

    config, transport, _ = _case(driver_type)
    module = importlib.import_module(f"stonith.transport.{transport}")
    monkeypatch.setattr(module, "connect", lambda *a, **k: stream)
    return make_driver(driver_type, config)


@pytest.mark.parametrize("driver_type", stream_types())
@FUZZ
@given(data=STREAM_REPLIES)
def test_fuzz_device_replies(monkeypatch, driver_type, data):
    stream = FakeStream(data)
    read_device(_stream_driver(monkeypatch, driver_type, stream), [Outlet("1", "n1")])
    switching = _case(driver_type)[2]
    assert not re.search(switching, stream.sent), stream.sent  # reading a device never switches it


# A device that stops talking after some (arbitrary) output: every read must still end at its
# deadline.  Each example waits for the deadline, so these run EXAMPLES // 10 examples with a
# 0.25 s deadline (about 3 s per driver).
SILENT_DEADLINE = 0.25


@pytest.mark.parametrize("driver_type", stream_types())
@fewer(10)
@given(data=STREAM_REPLIES)
def test_fuzz_silent_device(monkeypatch, driver_type, data):
    stream = FakeStream(data, silent=True)
    read_device(_stream_driver(monkeypatch, driver_type, stream), [Outlet("1", "n1")], SILENT_DEADLINE)
    assert not re.search(_case(driver_type)[2], stream.sent), stream.sent


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


@pytest.mark.skipif(not loads("apcmaster") or not loads("wti_nps"), reason="driver not installed")
@FUZZ
@given(st.lists(st.one_of(st.sampled_from(REPLY_PIECES), st.binary(max_size=40)), max_size=16))
def test_fuzz_menu_table_parsers(pieces):
    from stonith.drivers import apcmaster, wti_nps

    from stonith.transport.stream import _TEXT_BYTES

    # Only what the telnet stream delivers (it fails fast on other bytes).  Unfiltered, a Latin-1
    # digit such as 0xB2 in WTI's plug column would pass str.isdigit() and fail int(): ValueError
    # from wti_nps.parse_status, unreachable through the driver.
    text = bytes(b for b in b"".join(pieces) if b in _TEXT_BYTES)
    for table in (apcmaster.parse_outlets(text), wti_nps.parse_status(text)):
        for number, (_, state) in table.items():
            assert state in (ON, OFF, UNKNOWN)
            assert number.isdigit()
            if state == OFF:
                assert b"OFF" in text.upper()  # OFF only from a row that says so

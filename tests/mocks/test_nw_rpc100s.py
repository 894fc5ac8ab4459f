"""The RPC100S mock's answers on its pty (device-dialogues.md section 6)."""

from __future__ import annotations

import os
import time

from stonith.mocks.harness import start_mock

from tests.mocks.test_rps10 import read_until


def test_commands_and_timed_off(tmp_path):
    with start_mock("nw_rpc100s", serial_link=str(tmp_path / "tty"), time_scale=0.02) as mock:
        fd = os.open(mock.serial, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            os.write(fd, b"//0,0,BOGUS;\r\n\r")
            assert read_until(fd, b"\r\nInvalid Entry\r\n")
            os.write(fd, b"//0,0,*;\r\n\r")
            assert read_until(fd, b"\r\nOK\r\n")
            os.write(fd, b"//0,0,0;\r\n\r")
            read_until(fd, b"\r\nOK\r\n")
            os.write(fd, b"//0,0,10;\r\n\r")  # off for 10 s x 0.02, then on by itself
            read_until(fd, b"\r\nOK\r\n")
            time.sleep(0.5)
        finally:
            os.close(fd)
        assert [e["state"] for e in mock.events()] == ["off", "on", "off", "on"]

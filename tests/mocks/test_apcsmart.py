"""The Smart-UPS mock's single-character protocol on its pty (device-dialogues.md section 7)."""

from __future__ import annotations

import os
import time

from stonith.mocks.harness import start_mock

from tests.mocks.test_rps10 import read_until


def ask(fd, command):
    os.write(fd, command)
    return read_until(fd, b"\n").decode()


def test_registers_parameters_and_double_commands(tmp_path):
    with start_mock("apcsmart", serial_link=str(tmp_path / "tty"), grace=180) as mock:
        fd = os.open(mock.serial, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            assert ask(fd, b"Y") == "SM\r\n"
            assert ask(fd, b"Q") == "08\r\n"
            assert ask(fd, b"S") == "NA\r\n"  # on line
            assert ask(fd, b"p") == "180\r\n"
            assert ask(fd, b"-") == "OK\r\n"
            assert ask(fd, b"p") == "300\r\n"
            assert ask(fd, b"r") == "000\r\n"
            assert ask(fd, b"~") == "00\r\n"
            os.write(fd, b"Z")
            os.write(fd, b"Z")  # too soon: ignored
            time.sleep(1.6)
            os.write(fd, b"Z")
            time.sleep(0.1)
            assert ask(fd, b"~") == "40\r\n"
            assert mock.state(1) == "off"
        finally:
            os.close(fd)

"""The RPS-10 mock's bytes on its pty, as device-dialogues.md section 5 has them."""

from __future__ import annotations

import os
import termios
import time

from stonith.mocks.harness import start_mock

FRAME = b"\x02\x18\x18\x02\x18\x18"


def read_until(fd, token, timeout=3.0):
    data = b""
    deadline = time.monotonic() + timeout
    while token not in data:
        assert time.monotonic() < deadline, data
        try:
            data += os.read(fd, 100)
        except BlockingIOError:
            time.sleep(0.01)
    return data


def test_ready_is_requeued_after_a_flush_and_frames_are_answered(tmp_path):
    with start_mock("rps10", serial_link=str(tmp_path / "tty"), outlets=2, toggle_delay=0.1) as mock:
        fd = os.open(mock.serial, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            assert read_until(fd, b"RPS-10 Ready\r\n")
            termios.tcflush(fd, termios.TCIOFLUSH)
            assert read_until(fd, b"RPS-10 Ready\r\n")  # a fresh one after the flush
            os.write(fd, FRAME + b"1T\r")
            assert b"Plug 1 Off\r\nPlug 1 On\r\nComplete\r\n" in read_until(fd, b"Complete\r\n")
            os.write(fd, FRAME + b"*?\r")
            assert b"Plug 0 On\r\nPlug 1 On\r\nComplete\r\n" in read_until(fd, b"Complete\r\n")
            os.write(fd, b"\x02\x18\x18\x02\x18\x19" + b"10\r")  # wrong password: no answer
            os.write(fd, FRAME + b"00\r")
            assert b"Plug 1" not in read_until(fd, b"Plug 0 Off\r\nComplete\r\n")
        finally:
            os.close(fd)
        assert [(e["outlet"], e["state"]) for e in mock.events()] == [("2", "off"), ("2", "on"), ("1", "off")]

"""The serial transport over pyserial URLs (loop://, socket://) and a real pty."""

from __future__ import annotations

import os
import socket
import threading
import time
import tty

import pytest

from stonith.contract.deadline import Deadline
from stonith.contract.errors import DeviceError, Timeout, Unreachable
from stonith.transport import serial

pytest.importorskip("serial")


def test_loop_url_echoes_through_expect():
    stream = serial.connect("loop://", Deadline(2), speed=9600)
    stream.write(b"RPC3-NC>", Deadline(2))
    got = stream.expect([b"NC>"], Deadline(2), 1.0)
    assert got.before == b"RPC3-"
    with pytest.raises(Timeout):
        stream.expect([b"never"], Deadline(5), 0.2)
    stream.close()
    stream.close()  # idempotent


def test_pty_path_and_garble_detection():
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        stream = serial.connect(os.ttyname(slave), Deadline(2), speed=19200)
        os.write(master, b"Enter password>")
        assert stream.expect([b"password>"], Deadline(2)).before == b"Enter "
        stream.write(b"secret\r", Deadline(2))
        assert os.read(master, 100) == b"secret\r"
        os.write(master, b"\xf0\x8d")
        with pytest.raises(DeviceError, match="garbled"):
            stream.expect([b">"], Deadline(2))
        stream.close()
    finally:
        os.close(master)
        os.close(slave)


def test_socket_url_eof_is_device_error():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        time.sleep(0.2)  # pyserial's socket:// discards what arrives while it opens
        conn.sendall(b"RPC-28>")
        time.sleep(0.2)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    stream = serial.connect(f"socket://127.0.0.1:{port}", Deadline(2))
    assert stream.expect([b"RPC-28>"], Deadline(2)).index == 0
    with pytest.raises(DeviceError):
        stream.expect([b">"], Deadline(3))
    stream.close()
    thread.join()
    listener.close()


def test_missing_tty_is_unreachable():
    with pytest.raises(Unreachable):
        serial.connect("/dev/does-not-exist-stonith", Deadline(2))


def test_url_open_is_bounded_by_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyserial's socket:// and rfc2217:// connect with a fixed 5 s timeout: we wait until the deadline
    only, and a connection that comes later is closed, not leaked (hwtests.netcampaign found a 3 s
    fence through a partitioned terminal server taking 5.1 s)."""
    import serial as pyserial
    from serial.urlhandler import protocol_socket

    opened = threading.Event()
    closed = threading.Event()

    def slow_open(self: pyserial.SerialBase) -> None:
        time.sleep(1.0)  # a SYN nobody answers, for longer than our deadline
        opened.set()

    monkeypatch.setattr(protocol_socket.Serial, "open", slow_open)
    monkeypatch.setattr(protocol_socket.Serial, "close", lambda self: closed.set())
    started = time.monotonic()
    with pytest.raises(Timeout, match="no connection within the deadline"):
        serial.connect("socket://127.0.0.1:9", Deadline(0.3, "reset"))
    assert time.monotonic() - started < 0.6
    assert opened.wait(3.0) and closed.wait(3.0)

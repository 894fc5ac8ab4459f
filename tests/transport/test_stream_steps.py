"""The byte streams as step generators (issue 25 item 3): telnet's connect and expect yield their
waits, so a selector thread (stonith.contract.steps.Loop) can drive many console sessions at once."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from stonith.contract import steps
from stonith.contract.deadline import Deadline
from stonith.contract.errors import Timeout, Unreachable
from stonith.transport import telnet


class Console:
    """A listener that, once connected, sends ``chunks`` (bytes, or a float: pause) and then waits."""

    def __init__(self, chunks: list[bytes | float]) -> None:
        self.chunks = chunks
        self.received = b""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            for chunk in self.chunks:
                if isinstance(chunk, float):
                    time.sleep(chunk)
                else:
                    conn.sendall(chunk)
            conn.settimeout(2)
            try:
                while data := conn.recv(100):
                    self.received += data
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def session(address: str, deadline: Deadline) -> steps.Steps[bytes]:
    stream = yield from telnet.TelnetStream.connect_steps(address, deadline)
    try:
        got = yield from stream.expect_steps([b"login:"], deadline, 2.0, "the login prompt")
        yield from stream.write_steps(b"me\r", deadline)
        prompt = yield from stream.expect_steps([b"> "], deadline, 2.0, "the prompt")
        return got.before + prompt.before
    finally:
        stream.close()


def test_many_sessions_on_one_loop_thread():
    consoles = [Console([0.2, b"banner\r\n", b"login: ", 0.1, b"motd\r\n> "]) for _ in range(20)]
    try:
        started = time.monotonic()
        results = steps.Loop().run([session(c.address, Deadline(5)) for c in consoles])
        took = time.monotonic() - started
    finally:
        for console in consoles:
            console.close()
    assert results == [b"banner\r\n motd\r\n"] * 20  # the blank after "login:" opens the next answer
    assert took < 1.5  # together, not 20 x 0.3 s one after the other
    for console in consoles:
        console.thread.join(3)
        assert console.received == b"me\r"


def test_a_silent_console_times_out_at_its_step():
    console = Console([b"banner\r\n"])
    try:
        started = time.monotonic()
        with pytest.raises(Timeout, match=r"no the login prompt within 2 s \(last output: 'banner"):
            steps.run(session(console.address, Deadline(5)))
        assert 1.9 < time.monotonic() - started < 2.5
    finally:
        console.close()


def test_the_deadline_bounds_every_wait():
    console = Console([])
    try:
        started = time.monotonic()
        with pytest.raises(Timeout):
            steps.run(session(console.address, Deadline(0.3)))
        assert time.monotonic() - started < 0.6
    finally:
        console.close()


def test_a_refused_connection_is_unreachable_at_once():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(Unreachable, match="cannot connect"):
        steps.run(session(address, Deadline(5)))
    assert time.monotonic() - started < 0.5


def test_a_stream_without_a_descriptor_blocks_as_expect():
    from tests.drivers.test_baytech import FakeStream

    stream = FakeStream([b"a", b"b> "])
    assert stream.fileno() is None
    got = steps.run(stream.expect_steps([b"> "], Deadline(1)))
    assert got.before == b"ab"

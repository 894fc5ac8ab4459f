"""The telnet transport: option refusal, IAC stripping, expect with deadlines, error mapping."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stonith.contract.deadline import Deadline
from stonith.contract.errors import DeviceError, Timeout, Unreachable
from stonith.transport import telnet
from stonith.transport.stream import Closed
from stonith.transport.telnet import DO, DONT, IAC, SB, SE, WILL, WONT, TelnetDecoder


class Peer:
    """A one-connection TCP server running ``script(conn)`` in a thread."""

    def __init__(self, script):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = bytearray()
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script):
        conn, _ = self.listener.accept()
        with conn:
            script(conn, self)

    def read(self, conn, count, timeout=2.0):
        conn.settimeout(timeout)
        while len(self.received) < count:
            data = conn.recv(4096)
            if not data:
                break
            self.received += data

    def close(self):
        self.thread.join(3)
        self.listener.close()


def test_decoder_refuses_options_and_strips_iac():
    decoder = TelnetDecoder()
    data = bytes([IAC, DO, 1]) + b"ab" + bytes([IAC, WILL, 3, IAC, DONT, 5, IAC, WONT, 6]) + b"c"
    assert decoder.feed(data) == b"abc"
    assert bytes(decoder.replies) == bytes([IAC, WONT, 1, IAC, DONT, 3])


def test_decoder_unescapes_and_skips_subnegotiation():
    decoder = TelnetDecoder()
    data = b"x" + bytes([IAC, IAC]) + bytes([IAC, SB, 24, 1, IAC, IAC, 7, IAC, SE]) + bytes([IAC, 241]) + b"y"
    assert decoder.feed(data) == b"x\xffy"
    assert not decoder.replies


@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_decoder_is_split_invariant(data, cuts):
    whole = TelnetDecoder()
    expected = whole.feed(data)
    pieces = TelnetDecoder()
    assert feed_in_pieces(pieces, data, cuts) == expected
    assert pieces.replies == whole.replies


def feed_in_pieces(decoder: TelnetDecoder, data: bytes, cuts: list[int]) -> bytes:
    out = b""
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        out += decoder.feed(data[start:cut])
        start = max(start, cut)
    return out


# One token of a telnet stream: (bytes on the wire, data it carries, refusal it asks for).
_TOKENS = st.one_of(
    st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\xff", b"")).map(lambda b: (b, b, b"")),
    st.just((bytes([IAC, IAC]), b"\xff", b"")),
    st.integers(0, 254).map(lambda o: (bytes([IAC, DO, o]), b"", bytes([IAC, WONT, o]))),
    st.integers(0, 254).map(lambda o: (bytes([IAC, WILL, o]), b"", bytes([IAC, DONT, o]))),
    st.integers(0, 254).map(lambda o: (bytes([IAC, WONT, o]), b"", b"")),
    st.integers(0, 254).map(lambda o: (bytes([IAC, DONT, o]), b"", b"")),
    st.sampled_from([241, 246, 249]).map(lambda c: (bytes([IAC, c]), b"", b"")),  # NOP, AYT, GA
    st.binary(max_size=20).map(
        lambda b: (bytes([IAC, SB]) + b.replace(b"\xff", b"\xff\xff") + bytes([IAC, SE]), b"", b"")
    ),
)


@given(st.lists(_TOKENS, max_size=30), st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_decoder_yields_exactly_the_data_of_a_token_stream(tokens, cuts):
    decoder = TelnetDecoder()
    out = feed_in_pieces(decoder, b"".join(t[0] for t in tokens), cuts)
    assert out == b"".join(t[1] for t in tokens)
    assert bytes(decoder.replies) == b"".join(t[2] for t in tokens)


def test_expect_negotiation_tokens_and_write_escape():
    def script(conn, peer):
        conn.sendall(bytes([IAC, DO, 24]) + b"Enter pass" + bytes([IAC, WILL, 1]) + b"word>")
        peer.read(conn, 6 + 4)

    peer = Peer(script)
    stream = telnet.connect(peer.address, Deadline(5))
    got = stream.expect([b"username>", re.compile(rb"pass\w+>")], Deadline(5), 2.0)
    assert got.index == 1 and got.before == b"Enter "
    stream.write(b"a\xffb\r", Deadline(5))
    peer.close()
    stream.close()
    assert bytes(peer.received) == bytes([IAC, WONT, 24, IAC, DONT, 1]) + b"a\xff\xffb\r"


def test_earliest_match_wins_and_rest_stays():
    def script(conn, peer):
        conn.sendall(b"one RPC-3> two Menu: three")
        time.sleep(0.3)

    peer = Peer(script)
    stream = telnet.connect(peer.address, Deadline(5))
    assert stream.expect([b"Menu:", b"RPC-3>"], Deadline(5)).index == 1
    assert stream.expect([b"Menu:"], Deadline(5)).before == b" two "
    assert stream.expect([b"three"], Deadline(5)).index == 0
    stream.close()
    peer.close()


def test_silence_times_out_at_the_step_and_never_after_the_deadline():
    def script(conn, peer):
        time.sleep(1.5)

    peer = Peer(script)
    stream = telnet.connect(peer.address, Deadline(5))
    start = time.monotonic()
    with pytest.raises(Timeout, match=r"0\.3 s"):
        stream.expect([b">"], Deadline(10), step=0.3)
    assert 0.25 < time.monotonic() - start < 0.8
    start = time.monotonic()
    with pytest.raises(Timeout, match="deadline"):
        stream.expect([b">"], Deadline(0.3), step=10)
    assert time.monotonic() - start < 0.8
    stream.close()
    peer.close()


def test_eof_is_closed_and_garbage_is_device_error():
    def script(conn, peer):
        conn.sendall(b"hello")

    peer = Peer(script)
    stream = telnet.connect(peer.address, Deadline(5))
    with pytest.raises(Closed):
        stream.expect([b">"], Deadline(2))
    assert stream.received == 5
    stream.close()
    peer.close()

    def noisy(conn, peer):
        conn.sendall(b"ok\xe9\x80\x81")
        time.sleep(0.3)

    peer = Peer(noisy)
    stream = telnet.connect(peer.address, Deadline(5))
    with pytest.raises(DeviceError, match="garbled"):
        stream.expect([b">"], Deadline(2))
    stream.close()
    peer.close()


def test_refused_and_unresolvable_are_unreachable():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(Unreachable, match="refused"):
        telnet.connect(f"127.0.0.1:{port}", Deadline(2))
    with pytest.raises(Unreachable):
        telnet.connect("no-such-host.invalid", Deadline(2))


def test_expired_deadline_never_connects():
    with pytest.raises(Timeout):
        telnet.connect("127.0.0.1:1", Deadline(0))

"""The expect engine (stonith.transport.stream): incremental search, same answers as a full search.

After each received chunk ``expect`` searches only the new bytes plus ``SEARCH_OVERLAP`` bytes
before them (issue 21 item 2).  These tests check that this finds exactly what a search of the
whole buffer finds (tokens split across chunks, anchors at chunk boundaries, the earliest-ending
token winning, leftovers searched again with the next expect's tokens) and that a device
trickling a quarter megabyte costs linear CPU time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stonith.contract.deadline import Deadline
from stonith.contract.errors import DeviceError
from stonith.transport.stream import MAX_BUFFER, SEARCH_OVERLAP, Closed, Expected, Stream


class ScriptedStream(Stream):
    """A stream whose device sends ``chunks`` one per receive, then nothing (or closes: ``hang_up``)."""

    def __init__(self, chunks: Sequence[bytes], *, hang_up: bool = False) -> None:
        super().__init__("scripted device")
        self._chunks = list(chunks)
        self._hang_up = hang_up

    def _recv(self, timeout: float) -> bytes:
        if self._chunks:
            return self._chunks.pop(0)
        if self._hang_up:
            raise Closed("scripted device: no more chunks")
        time.sleep(min(timeout, 0.005))
        return b""

    def _send(self, data: bytes, timeout: float) -> None:
        pass

    def _close(self) -> None:
        pass


def reference(
    tokens: Sequence[bytes | re.Pattern[bytes]], chunks: Sequence[bytes]
) -> tuple[int, bytes, bytes] | None:
    """What the engine answered before: the whole buffer searched again after every chunk."""
    data = b""
    for chunk in chunks:
        data += chunk
        best: tuple[int, int, int] | None = None
        for index, token in enumerate(tokens):
            if isinstance(token, bytes):
                start = data.find(token)
                if start >= 0 and (best is None or (start + len(token), index) < best[:2]):
                    best = (start + len(token), index, start)
            else:
                match = token.search(data)
                if match is not None and (best is None or (match.end(), index) < best[:2]):
                    best = (match.end(), index, match.start())
        if best is not None:
            end, index, start = best
            return index, data[:start], data[start:end]
    return None


def expect_all(tokens: Sequence[bytes | re.Pattern[bytes]], chunks: Sequence[bytes]) -> Expected | None:
    try:
        return ScriptedStream(chunks, hang_up=True).expect(tokens, Deadline(5))
    except Closed:
        return None


TOKENS: list[bytes | re.Pattern[bytes]] = [
    b"\n> ",
    b"RPC-3>",
    re.compile(rb"(?m)^[ \t]{0,16}(\d{1,3})- MasterSwitch plus 1\b"),
    re.compile(rb"(RPC[-\w]{0,16})>"),
    re.compile(rb"(?m)(?:^|(?<=\r))([^\r\n]{0,40})\r?\n|\*"),
]
ALPHABET = [b"\n", b"\r", b" ", b"1", b"-", b"> ", b"RPC", b"-3>", b"x", b"1- MasterSwitch plus 1", b"*"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=60),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
    st.lists(st.integers(min_value=0, max_value=len(TOKENS) - 1), min_size=1, max_size=3, unique=True),
)
def test_incremental_search_answers_like_a_full_search(pieces, sizes, chosen):
    data = b"".join(pieces)
    chunks, pos = [], 0
    for size in sizes * (len(data) // max(1, sum(sizes)) + 1):
        if pos >= len(data):
            break
        chunks.append(data[pos : pos + size])
        pos += size
    tokens = [TOKENS[i] for i in chosen]
    want = reference(tokens, chunks)
    got = expect_all(tokens, chunks)
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert (got.index, got.before, got.text) == want


def test_a_token_split_across_many_chunks_is_found():
    prompt = re.compile(rb"(RPC[-\w]{0,16})>")
    filler = b"x" * (3 * SEARCH_OVERLAP)
    got = ScriptedStream([filler, b"R", b"PC-", b"28", b"A", b">", b"rest"]).expect((prompt,), Deadline(2))
    assert got.before == filler
    assert got.match is not None and got.match.group(1) == b"RPC-28A"


def test_anchors_see_the_byte_before_the_window():
    # ``^`` must not match at a chunk boundary that is not a line start, and must at one that is.
    item = re.compile(rb"(?m)^(\d)- Item")
    stream = ScriptedStream([b"x" * (2 * SEARCH_OVERLAP) + b"a", b"1- Item", b"\n2- Item"])
    got = stream.expect((item,), Deadline(2))
    assert got.match is not None and got.match.group(1) == b"2"


def test_leftover_bytes_are_searched_again_with_the_next_tokens():
    stream = ScriptedStream([b"User Name : " + b"." * (2 * SEARCH_OVERLAP) + b"Password  : "])
    assert stream.expect((b"User Name :",), Deadline(2)).before == b""
    # The whole leftover (longer than the overlap) was never searched for this token.
    got = stream.expect((b"Password  :",), Deadline(2))
    assert got.before == b" " + b"." * (2 * SEARCH_OVERLAP)


def test_literal_tokens_longer_than_the_overlap_still_match_across_chunks():
    token = b"A" * (SEARCH_OVERLAP + 100) + b"!"
    chunks = [b"." * 50, token[:10], token[10:700], token[700:], b"tail"]
    got = ScriptedStream(chunks).expect((token,), Deadline(2))
    assert got.text == token and got.before == b"." * 50


def _cpu_to_fill_the_buffer(tokens: Sequence[bytes | re.Pattern[bytes]], unit: bytes, chunk: int) -> float:
    flood = unit * (MAX_BUFFER // len(unit) + 2)
    stream = ScriptedStream([flood[i : i + chunk] for i in range(0, len(flood), chunk)])
    started = time.process_time()
    with pytest.raises(DeviceError, match="bytes of output without"):
        stream.expect(tokens, Deadline(30), doing="the prompt")
    return time.process_time() - started


@pytest.mark.parametrize(
    ("unit", "tokens"),
    [
        (b"\n", TOKENS[:4]),  # 48 KiB of newlines stalled the MasterSwitch driver for 20 s of CPU
        (b"RPC", [b"username>", b"password>", TOKENS[3]]),
        (b" ", TOKENS),
        (b"x", TOKENS),
    ],
)
def test_a_trickled_flood_costs_linear_cpu(unit, tokens):
    # A quarter megabyte in 64-byte chunks: 4096 searches.  Re-scanning the whole buffer each
    # time read 512 MiB (and copied as much); now each search reads 64 bytes plus the overlap.
    cpu = _cpu_to_fill_the_buffer(tokens, unit, 64)
    print(f"CPU to fill the buffer with {unit!r}: {cpu:.3f} s")
    assert cpu < 1.0

"""The RMCP+ codec's per-session keys against a plain construction from the specification.

``Keys`` keeps one HMAC and two AES block contexts per session and chains CBC itself (for speed,
bench/README.md, HPC); these tests hold its bytes to the straightforward construction: a fresh
``cryptography`` CBC context per datagram and ``hmac.new`` per integrity code (IPMI v2.0 sections
13.28-13.29).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import struct
from unittest import mock

import pytest

from stonith.transport import ipmi_wire as wire

pytest.importorskip("cryptography")


def reference_packet(
    ptype: int, sid: int, seq: int, payload: bytes, suite: int, sik: bytes, iv: bytes
) -> bytes:
    """An RMCP+ datagram built step by step as the specification says."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    auth, integ, conf = wire.CIPHER_SUITES[suite]
    hash_fn = {1: hashlib.sha1, 3: hashlib.sha256}[auth]
    k1 = hmac.new(sik, b"\x01" * 20, hash_fn).digest()
    k2 = hmac.new(sik, b"\x02" * 20, hash_fn).digest()
    body = payload
    if conf:
        pad = (16 - (len(payload) + 1) % 16) % 16
        plain = payload + bytes(range(1, pad + 1)) + bytes([pad])
        encryptor = Cipher(algorithms.AES(k2[:16]), modes.CBC(iv)).encryptor()
        body = iv + encryptor.update(plain) + encryptor.finalize()
        ptype |= 0x80
    if integ:
        ptype |= 0x40
    msg = struct.pack("<BBIIH", 0x06, ptype, sid, seq, len(body)) + body
    if integ:
        pad = (4 - (len(msg) + 2) % 4) % 4
        msg += b"\xff" * pad + bytes([pad, 0x07])
        integrity_fn, length = {1: (hashlib.sha1, 12), 4: (hashlib.sha256, 16)}[integ]
        msg += hmac.new(k1, msg, integrity_fn).digest()[:length]
    return b"\x06\x00\xff\x07" + msg


@pytest.mark.parametrize("suite", [1, 2, 3, 17])
def test_packets_are_the_reference_bytes_and_parse_back(suite: int) -> None:
    rng = random.Random(suite)
    for _ in range(200):
        sik = os.urandom(rng.choice([20, 32]))
        keys = wire.Keys(wire.CIPHER_SUITES[suite], sik)
        for _ in range(3):  # one Keys object for several datagrams, as in a session
            payload = os.urandom(rng.randrange(0, 80))
            iv = os.urandom(16)
            ptype, sid, seq = rng.randrange(64), rng.getrandbits(32), rng.getrandbits(32)
            with mock.patch.object(wire.os, "urandom", return_value=iv):
                packet = wire.v20_packet(ptype, sid, seq, payload, keys)
            assert packet == reference_packet(ptype, sid, seq, payload, suite, sik, iv)
            assert wire.parse_v20(packet, keys) == (ptype, sid, seq, payload)


@pytest.mark.parametrize("suite", [2, 3, 17])
def test_a_changed_byte_is_refused(suite: int) -> None:
    keys = wire.Keys(wire.CIPHER_SUITES[suite], b"k" * 20)
    packet = wire.v20_packet(wire.PAYLOAD_IPMI, 7, 9, b"\x20\x18\xc8\x81\x04\x01\x7a", keys)
    for index in range(5, len(packet)):
        changed = bytearray(packet)
        changed[index] ^= 0x01
        with pytest.raises((ValueError, struct.error)):
            wire.parse_v20(bytes(changed), keys)


def test_cipher_text_that_is_not_whole_blocks_leaves_the_session_keys_intact() -> None:
    keys = wire.Keys(wire.CIPHER_SUITES[3], b"k" * 20)
    with pytest.raises(ValueError):
        keys.decrypt(os.urandom(16 + 20))
    with pytest.raises(ValueError):
        keys.encrypt(os.urandom(16), b"x" * 15)
    payload = b"after a bad datagram"
    packet = wire.v20_packet(wire.PAYLOAD_IPMI, 1, 2, payload, keys)
    assert wire.parse_v20(packet, keys)[3] == payload

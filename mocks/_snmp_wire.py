"""The SNMP wire of the SNMP mocks: BER (X.690) for the SNMP subset, and SNMPv3's USM (RFC 3414,
RFC 3826, RFC 7860: key localization, authentication, privacy).

Written here, without an SNMP library, so that net-snmp's tools and pysnmp check the mocks
independently (stonith.mocks.snmp_pdu says what the agents serve; stonith.mocks._snmp_agent answers).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Oid = tuple[int, ...]
    Value = tuple[int, Any]  # (BER tag, int | bytes | Oid | None)

# ---------------------------------------------------------------------------------------------
# BER (X.690) for the SNMP subset

INTEGER, OCTETS, NULL, OID_TAG, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IPADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
GET, GETNEXT, RESPONSE, SET, GETBULK, REPORT = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA8
PDU_NAMES = {GET: "get", GETNEXT: "getnext", SET: "set", GETBULK: "getbulk"}
UNSIGNED = (COUNTER32, GAUGE32, TIMETICKS, COUNTER64)

# error-status (RFC 3416) and the v1 codes they map to (RFC 2576 section 4.3)
NO_ERROR, TOO_BIG, NO_SUCH_NAME, BAD_VALUE, GEN_ERR = 0, 1, 2, 3, 5
NO_ACCESS, WRONG_TYPE, WRONG_LENGTH, WRONG_VALUE, NO_CREATION, NOT_WRITABLE = 6, 7, 8, 10, 11, 17
V1_ERROR = {
    NO_ACCESS: NO_SUCH_NAME,
    NO_CREATION: NO_SUCH_NAME,
    NOT_WRITABLE: NO_SUCH_NAME,
    WRONG_TYPE: BAD_VALUE,
    WRONG_LENGTH: BAD_VALUE,
    WRONG_VALUE: BAD_VALUE,
}


class BerError(ValueError):
    """Not a message this agent can parse."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def enc_int(value: int, tag: int = INTEGER) -> bytes:
    size = ((value if value >= 0 else ~value).bit_length() + 8) // 8
    return tlv(tag, value.to_bytes(size, "big", signed=True))


def enc_oid(oid: Oid) -> bytes:
    arcs = [oid[0] * 40 + oid[1], *oid[2:]] if len(oid) >= 2 else [0]
    out = bytearray()
    for arc in arcs:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID_TAG, bytes(out))


def enc_value(value: Value) -> bytes:
    tag, data = value
    if tag in (INTEGER, *UNSIGNED):
        return enc_int(int(data), tag)
    if tag == OID_TAG:
        return enc_oid(data)
    if tag in (NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW):
        return bytes([tag, 0])
    return tlv(tag, bytes(data))


def enc_varbind(oid: Oid, value: Value) -> bytes:
    return tlv(SEQUENCE, enc_oid(oid) + enc_value(value))


def read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the TLV at ``pos``."""
    if pos + 2 > len(data):
        raise BerError("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if not 0 < count <= 4 or pos + count > len(data):
            raise BerError("bad length")
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        size = first
    if pos + size > len(data):
        raise BerError("truncated content")
    return tag, pos, pos + size


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        item = read_tlv(data, start)
        if item[2] > end:
            raise BerError("child overruns its parent")
        out.append(item)
        start = item[2]
    return out


def dec_int(data: bytes, start: int, end: int, signed: bool = True) -> int:
    if start == end:
        raise BerError("empty integer")
    return int.from_bytes(data[start:end], "big", signed=signed)


def dec_oid(data: bytes, start: int, end: int) -> Oid:
    arcs: list[int] = []
    value = 0
    for byte in data[start:end]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise BerError("empty OID")
    first = min(arcs[0] // 40, 2)
    return (first, arcs[0] - 40 * first, *arcs[1:])


def dec_value(data: bytes, item: tuple[int, int, int]) -> Value:
    tag, start, end = item
    if tag in (INTEGER, *UNSIGNED):
        return tag, dec_int(data, start, end, signed=tag == INTEGER)
    if tag == OID_TAG:
        return tag, dec_oid(data, start, end)
    return tag, data[start:end]


def _expect(item: tuple[int, int, int], tag: int) -> tuple[int, int, int]:
    if item[0] != tag:
        raise BerError(f"expected tag {tag:#x}, got {item[0]:#x}")
    return item


# ---------------------------------------------------------------------------------------------
# SNMPv3 USM (RFC 3414, RFC 3826, RFC 7860)

AUTH_HASHES = {
    "MD5": ("md5", 12),
    "SHA": ("sha1", 12),
    "SHA224": ("sha224", 16),
    "SHA256": ("sha256", 24),
    "SHA384": ("sha384", 32),
    "SHA512": ("sha512", 48),
}
PRIV_KEYS = {"DES": 16, "AES": 16, "AES128": 16, "AES192": 24, "AES256": 32, "AES192C": 24, "AES256C": 32}
USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)  # usmStats: .1 unsupportedSecLevels .2 notInTimeWindows
UNSUPPORTED_SEC_LEVEL, NOT_IN_TIME_WINDOW, UNKNOWN_USER, UNKNOWN_ENGINE_ID, WRONG_DIGEST, DECRYPTION_ERROR = (
    1,
    2,
    3,
    4,
    5,
    6,
)
TIME_WINDOW = 150


def password_to_key(password: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: hash a megabyte of the repeated password."""
    if not password:
        raise ValueError("an SNMPv3 passphrase must not be empty")
    digest = hashlib.new(hash_name)
    digest.update((password * (1048576 // len(password) + 1))[:1048576])
    return digest.digest()


def localize(master: bytes, engine_id: bytes, hash_name: str) -> bytes:
    return hashlib.new(hash_name, master + engine_id + master).digest()


def privacy_key(protocol: str, password: bytes, engine_id: bytes, hash_name: str) -> bytes:
    key = localize(password_to_key(password, hash_name), engine_id, hash_name)
    size = PRIV_KEYS[protocol]
    while len(key) < size:
        if protocol.endswith("C"):  # Reeder (Cisco): repeat password-to-key on the key itself
            key += localize(password_to_key(key, hash_name), engine_id, hash_name)
        else:  # Blumenthal (net-snmp AES192/AES256): append the hash of the key so far
            key += hashlib.new(hash_name, key).digest()
    return key[:size]


@dataclass
class User:
    name: bytes
    auth: str  # "" or a key of AUTH_HASHES
    priv: str  # "" or a key of PRIV_KEYS
    auth_key: bytes = b""
    priv_key: bytes = b""

    @property
    def level(self) -> int:
        return (1 if self.auth else 0) | (2 if self.priv else 0)


def parse_user(spec: str, engine_id: bytes) -> User:
    """``NAME:AUTH:AUTHPASS:PRIV:PRIVPASS`` -> a User with keys localized to ``engine_id``."""
    parts = spec.split(":")
    if len(parts) != 5 or not parts[0]:
        raise ValueError("--v3-user: expected NAME:AUTH:AUTHPASS:PRIV:PRIVPASS")
    name, auth, auth_pass, priv, priv_pass = parts
    auth = "" if auth.lower() in ("", "none") else auth.upper()
    priv = "" if priv.lower() in ("", "none") else priv.upper()
    if auth and auth not in AUTH_HASHES:
        raise ValueError(f"--v3-user: unknown auth protocol {auth!r} ({', '.join(AUTH_HASHES)})")
    if priv and priv not in PRIV_KEYS:
        raise ValueError(f"--v3-user: unknown privacy protocol {priv!r} ({', '.join(PRIV_KEYS)})")
    if priv and not auth:
        raise ValueError("--v3-user: privacy needs authentication")
    if (auth and len(auth_pass) < 8) or (priv and len(priv_pass) < 8):
        raise ValueError("--v3-user: passphrases must have at least 8 characters (RFC 3414)")
    user = User(name.encode(), auth, priv)
    if auth:
        hash_name = AUTH_HASHES[auth][0]
        user.auth_key = localize(password_to_key(auth_pass.encode(), hash_name), engine_id, hash_name)
        if priv:
            user.priv_key = privacy_key(priv, priv_pass.encode(), engine_id, hash_name)
    return user


def _cipher(user: User, iv: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise BerError("SNMPv3 privacy needs the cryptography package") from None
    decrepit: Any
    if user.priv == "DES":
        try:
            from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit
        except ImportError:  # cryptography < 43
            decrepit = algorithms
        return Cipher(decrepit.TripleDES(user.priv_key[:8] * 3), modes.CBC(iv))  # DES = 3DES, K1=K2=K3
    try:
        from cryptography.hazmat.decrepit.ciphers import modes as decrepit
    except ImportError:  # cryptography < 47
        decrepit = modes
    return Cipher(algorithms.AES(user.priv_key), decrepit.CFB(iv))


def _priv_iv(user: User, salt: bytes, boots: int, engine_time: int) -> bytes:
    if user.priv == "DES":
        return bytes(a ^ b for a, b in zip(user.priv_key[8:16], salt, strict=True))
    return struct.pack(">II", boots, engine_time) + salt


def decrypt(user: User, data: bytes, salt: bytes, boots: int, engine_time: int) -> bytes:
    if len(salt) != 8 or (user.priv == "DES" and len(data) % 8):
        raise BerError("bad privacy parameters")
    decryptor = _cipher(user, _priv_iv(user, salt, boots, engine_time)).decryptor()
    return bytes(decryptor.update(data) + decryptor.finalize())


def encrypt(user: User, data: bytes, salt: bytes, boots: int, engine_time: int) -> bytes:
    if user.priv == "DES":
        data += b"\0" * (-len(data) % 8)
    encryptor = _cipher(user, _priv_iv(user, salt, boots, engine_time)).encryptor()
    return bytes(encryptor.update(data) + encryptor.finalize())


def digest(user: User, message: bytes) -> bytes:
    hash_name, size = AUTH_HASHES[user.auth]
    return hmac.new(user.auth_key, message, hash_name).digest()[:size]

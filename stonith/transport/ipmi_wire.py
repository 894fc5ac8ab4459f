"""IPMI over LAN, the wire: RMCP, IPMI 1.5 and RMCP+ packets, IPMI messages, the RAKP key exchange.

Written once for both ends: the console session (stonith.transport.ipmi) and the BMC mock
(stonith.mocks.ipmi) use this codec, and third parties check it from either side (ipmitool,
FreeIPMI's ipmipower and fence_ipmilan against our mock; our client against OpenIPMI's ``ipmi_sim``).

Facts (IPMI v2.0 rev 1.1, sections 13 and 22; shared/reference/wire-protocols.md section 1):

- UDP 623; every datagram starts with the RMCP header ``06 00 FF 07``;
- IPMI 1.5 session header: auth type, sequence (LE32), session id (LE32), [16-byte auth code],
  message length; auth types 0 none, 2 MD5 (MD5 of password, session id, message, sequence,
  password), 4 straight password; MD2 is not offered (not in hashlib);
- RMCP+ header: auth type 06, payload type (bit 7 encrypted, bit 6 authenticated), session id,
  sequence, payload length; open session (0x10/0x11), RAKP 1-4 (0x12-0x15);
- cipher suite 3 = RAKP-HMAC-SHA1 / HMAC-SHA1-96 / AES-CBC-128; 17 = RAKP-HMAC-SHA256 /
  HMAC-SHA256-128 / AES-CBC-128.  Suite 0 (no authentication) is refused;
- SIK = HMAC_Kg(Rm | Rc | role | name length | name), Kg defaulting to the password;
  K1 = HMAC_SIK(20 x 01), K2 = HMAC_SIK(20 x 02), AES key = K2[:16].

AES needs the ``cryptography`` package (the ``ipmi`` extra); it is imported only when a packet is
encrypted or decrypted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEFAULT_PORT = 623
RMCP_HEADER = b"\x06\x00\xff\x07"
ASF_PING = b"\x06\x00\xff\x06"

# Network functions and commands we use.
NETFN_CHASSIS = 0x00
NETFN_APP = 0x06
CHASSIS_STATUS = 0x01
CHASSIS_CONTROL = 0x02
GET_DEVICE_ID = 0x01
GET_AUTH_CAPS = 0x38
GET_SESSION_CHALLENGE = 0x39
ACTIVATE_SESSION = 0x3A
SET_SESSION_PRIV = 0x3B
CLOSE_SESSION = 0x3C
GET_CIPHER_SUITES = 0x54

# Chassis Control data byte (ipmitool: chassis power off|on|cycle|reset|diag|soft).
CONTROL = {"off": 0x00, "on": 0x01, "cycle": 0x02, "reset": 0x03, "diag": 0x04, "soft": 0x05}

# Privilege levels.
PRIVILEGES = {"callback": 1, "user": 2, "operator": 3, "admin": 4, "administrator": 4}

# IPMI 1.5 authentication types.
AUTH_NONE, AUTH_MD2, AUTH_MD5, AUTH_STRAIGHT = 0, 1, 2, 4
AUTH_TYPES = {
    "none": AUTH_NONE,
    "md2": AUTH_MD2,
    "md5": AUTH_MD5,
    "straight": AUTH_STRAIGHT,
    "password": AUTH_STRAIGHT,
    "key": AUTH_STRAIGHT,
}

# RMCP+ payload types.
PAYLOAD_IPMI = 0x00
OPEN_REQUEST, OPEN_RESPONSE, RAKP1, RAKP2, RAKP3, RAKP4 = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15

# RMCP+ algorithms: authentication (hash), integrity (hash, truncated length), confidentiality.
AUTH_ALGORITHMS: dict[int, Callable[..., Any]] = {1: hashlib.sha1, 3: hashlib.sha256}
INTEGRITY_ALGORITHMS: dict[int, tuple[Callable[..., Any], int]] = {
    1: (hashlib.sha1, 12),
    4: (hashlib.sha256, 16),
}
CONF_NONE, CONF_AES = 0, 1
# Cipher suite -> (authentication, integrity, confidentiality).
CIPHER_SUITES = {1: (1, 0, 0), 2: (1, 1, 0), 3: (1, 1, 1), 17: (3, 4, 1)}

# RMCP+ status codes (section 13.24) worth naming.
RMCP_STATUS = {
    0x01: "insufficient resources to create a session",
    0x02: "invalid session ID",
    0x04: "invalid authentication algorithm",
    0x05: "invalid integrity algorithm",
    0x09: "invalid role",
    0x0A: "unauthorized role or privilege level requested",
    0x0C: "invalid name length",
    0x0D: "unauthorized name",
    0x0F: "invalid integrity check value",
    0x10: "invalid confidentiality algorithm",
    0x11: "no cipher suite match with proposed security algorithms",
    0x12: "illegal or unrecognized parameter",
}
# Statuses that mean "try another cipher suite".
SUITE_REJECTED = (0x04, 0x05, 0x10, 0x11)
# Statuses that mean "these credentials are not accepted".
AUTH_REJECTED = (0x09, 0x0A, 0x0C, 0x0D, 0x0F)
RAKP3_CHECK_FAILED = 0x0F  # RAKP 4's status when the BMC finds RAKP 3's check value invalid

COMPLETION = {
    0xC0: "node busy",
    0xC1: "invalid command",
    0xC3: "timeout",
    0xC7: "request data length invalid",
    0xCC: "invalid data field in request",
    0xD4: "insufficient privilege level",
    0xD5: "command not supported in present state",
    0xFF: "unspecified error",
}
CONST_1 = b"\x01" * 20
CONST_2 = b"\x02" * 20


# ---------------------------------------------------------------------------------------------
# Codec shared by console and BMC


def checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def ipmi_request(netfn: int, cmd: int, data: bytes, seq: int, *, rs: int = 0x20, rq: int = 0x81) -> bytes:
    """An IPMI LAN message, console -> BMC."""
    head = bytes([rs, (netfn << 2) & 0xFC])
    body = bytes([rq, (seq << 2) & 0xFC, cmd]) + data
    return head + bytes([checksum(head)]) + body + bytes([checksum(body)])


def ipmi_response(request: bytes, cc: int, data: bytes = b"") -> bytes:
    """The BMC's answer to ``request`` (an IPMI LAN message)."""
    rs, netfn_lun, _, rq, seq_lun, cmd = request[:6]
    head = bytes([rq, (((netfn_lun >> 2) | 1) << 2) | (seq_lun & 3)])
    body = bytes([rs, (seq_lun & 0xFC) | (netfn_lun & 3), cmd, cc]) + data
    return head + bytes([checksum(head)]) + body + bytes([checksum(body)])


def parse_message(msg: bytes) -> tuple[int, int, int, bytes]:
    """(netfn, seq, cmd, data after cmd) of an IPMI LAN message; ValueError if malformed."""
    if len(msg) < 7 or checksum(msg[:2]) != msg[2] or checksum(msg[3:-1]) != msg[-1]:
        raise ValueError("bad IPMI message checksum or length")
    return msg[1] >> 2, msg[4] >> 2, msg[5], msg[6:-1]


def hmac_digest(hash_fn: Callable[..., Any], key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, hash_fn)  # one call into OpenSSL, no HMAC object


def md5_authcode(password: bytes, session_id: int, message: bytes, seq: int) -> bytes:
    pw = password.ljust(16, b"\0")[:16]
    return hashlib.md5(pw + struct.pack("<I", session_id) + message + struct.pack("<I", seq) + pw).digest()


def v15_authcode(auth: int, password: bytes, session_id: int, message: bytes, seq: int) -> bytes:
    """The 16-byte auth code of an IPMI 1.5 packet signed with ``auth`` (b"" for NONE and MD2)."""
    if auth == AUTH_MD5:
        return md5_authcode(password, session_id, message, seq)
    if auth == AUTH_STRAIGHT:
        return password.ljust(16, b"\0")[:16]
    return b""


def v15_packet(auth: int, seq: int, session_id: int, message: bytes, password: bytes = b"") -> bytes:
    """An IPMI 1.5 datagram (RMCP header included)."""
    code = v15_authcode(auth, password, session_id, message, seq) if session_id else b""
    if not code:
        auth = AUTH_NONE if not session_id else auth
    head = struct.pack("<BII", auth, seq, session_id) + code + bytes([len(message)])
    return RMCP_HEADER + head + message


def parse_v15(packet: bytes) -> tuple[int, int, int, bytes, bytes]:
    """(auth type, seq, session id, auth code, message) of an IPMI 1.5 datagram."""
    auth, seq, sid = struct.unpack_from("<BII", packet, 4)
    pos = 13
    code = b""
    if auth != AUTH_NONE:
        code = packet[pos : pos + 16]
        pos += 16
    length = packet[pos]
    message = packet[pos + 1 : pos + 1 + length]
    if len(message) != length:
        raise ValueError("truncated IPMI 1.5 packet")
    return auth, seq, sid, code, message


class Keys:
    """The integrity and confidentiality keys of one RMCP+ session, ready to use per datagram.

    Built once per session, used for every datagram of it: the integrity HMAC keyed with K1 (each
    datagram signs a copy), and AES-128 block contexts from which ``encrypt`` and ``decrypt`` make
    CBC with the datagram's own IV (CBC is C_i = AES(P_i xor C_i-1), C_0 = IV; the ``cryptography``
    contexts take no new IV, and a CBC context per datagram cost more than the rest of the packet).
    """

    __slots__ = ("_decryptor", "_encryptor", "_mac", "aes", "code_len", "conf", "integ", "k1")

    def __init__(self, suite: tuple[int, int, int], sik: bytes) -> None:
        auth, self.integ, self.conf = suite
        hash_fn = AUTH_ALGORITHMS[auth]
        self.k1 = hmac_digest(hash_fn, sik, CONST_1)
        self.aes = hmac_digest(hash_fn, sik, CONST_2)[:16]
        self._mac: Any = None
        self.code_len = 0
        if self.integ:
            integrity_fn, self.code_len = INTEGRITY_ALGORITHMS[self.integ]
            self._mac = hmac.new(self.k1, None, integrity_fn)
        self._encryptor: Any = None
        self._decryptor: Any = None

    def sign(self, data: bytes) -> bytes:
        """The integrity code (AuthCode) of ``data``: HMAC with K1, truncated as the algorithm says."""
        mac = self._mac.copy()
        mac.update(data)
        code: bytes = mac.digest()[: self.code_len]
        return code

    def _blocks(self) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        # Single blocks only (every input is checked to be whole blocks): no state carries over.
        block = Cipher(algorithms.AES(self.aes), modes.ECB())  # CBC is chained in encrypt/decrypt
        self._encryptor = block.encryptor()
        self._decryptor = block.decryptor()

    def encrypt(self, iv: bytes, plain: bytes) -> bytes:
        """AES-CBC-128 of ``plain`` (whole 16-byte blocks) with ``iv``: the cipher text, without the IV."""
        if len(iv) != 16 or len(plain) % 16:
            raise ValueError("AES-CBC takes a 16-byte IV and whole blocks")
        if self._encryptor is None:
            self._blocks()
        update = self._encryptor.update
        chained = iv
        out = []
        for start in range(0, len(plain), 16):
            mixed = int.from_bytes(plain[start : start + 16], "big") ^ int.from_bytes(chained, "big")
            chained = update(mixed.to_bytes(16, "big"))
            out.append(chained)
        return b"".join(out)

    def decrypt(self, body: bytes) -> bytes:
        """The plain text of ``body`` (a 16-byte IV, then whole blocks of AES-CBC-128 cipher text)."""
        if len(body) < 32 or len(body) % 16:
            raise ValueError("AES-CBC takes a 16-byte IV and whole blocks")
        if self._decryptor is None:
            self._blocks()
        size = len(body) - 16
        decrypted = self._decryptor.update(body[16:])
        # P_i = AES^-1(C_i) xor C_i-1: the whole message at once against the IV and C_1..C_n-1.
        plain = int.from_bytes(decrypted, "big") ^ int.from_bytes(body[:size], "big")
        return plain.to_bytes(size, "big")


# The RMCP+ session header after the RMCP header: auth type 06, payload type, session id,
# sequence, payload length (IPMI v2.0 table 13-8).
_V20_HEADER = struct.Struct("<BBIIH")
_V20_FIELDS = struct.Struct("<BIIH")  # what parse_v20 reads from offset 5
# Integrity pad (0xFF to a multiple of 4 with the two bytes that follow), pad length, next header 07.
_INTEGRITY_TRAILER = tuple(b"\xff" * pad + bytes([pad, 0x07]) for pad in range(4))
# Confidentiality trailer: pad bytes 1, 2, 3, ... and the pad length (IPMI v2.0 section 13.29).
_CONF_TRAILER = tuple(bytes(range(1, pad + 1)) + bytes([pad]) for pad in range(16))


def v20_packet(
    payload_type: int, session_id: int, seq: int, payload: bytes, keys: Keys | None = None
) -> bytes:
    """An RMCP+ datagram; encrypted and signed as ``keys`` say (None: in the clear)."""
    if keys is None:
        return RMCP_HEADER + _V20_HEADER.pack(0x06, payload_type, session_id, seq, len(payload)) + payload
    body = payload
    ptype = payload_type
    if keys.conf == CONF_AES:
        iv = os.urandom(16)
        pad = (16 - (len(payload) + 1) % 16) % 16
        body = iv + keys.encrypt(iv, payload + _CONF_TRAILER[pad])
        ptype |= 0x80
    if keys.integ:
        ptype |= 0x40
    msg = _V20_HEADER.pack(0x06, ptype, session_id, seq, len(body)) + body
    if keys.integ:
        msg += _INTEGRITY_TRAILER[(4 - (len(msg) + 2) % 4) % 4]
        msg += keys.sign(msg)
    return RMCP_HEADER + msg


def parse_v20(packet: bytes, keys: Keys | None = None) -> tuple[int, int, int, bytes]:
    """(payload type, session id, seq, payload) of an RMCP+ datagram, checked and decrypted.

    ValueError if it is malformed or its integrity code does not match ``keys``.
    """
    ptype, sid, seq, length = _V20_FIELDS.unpack_from(packet, 5)
    body = packet[16 : 16 + length]
    if len(body) != length:
        raise ValueError("truncated RMCP+ packet")
    if ptype & 0x40:
        if keys is None or not keys.integ:
            raise ValueError("signed packet outside a signed session")
        code_len = keys.code_len
        if not hmac.compare_digest(keys.sign(packet[4:-code_len]), packet[-code_len:]):
            raise ValueError("integrity check failed")
    elif keys is not None and keys.integ:
        raise ValueError("unsigned packet in a signed session")
    if ptype & 0x80:
        if keys is None or keys.conf != CONF_AES or len(body) < 32 or len(body) % 16:
            raise ValueError("cannot decrypt")
        plain = keys.decrypt(body)
        pad = plain[-1]
        if pad > 15:
            raise ValueError("bad confidentiality pad")
        body = plain[: -1 - pad]
    return ptype & 0x3F, sid, seq, body


def open_session_request(tag: int, priv: int, console_sid: int, suite: tuple[int, int, int]) -> bytes:
    auth, integ, conf = suite
    return struct.pack("<BBHI", tag, priv, 0, console_sid) + bytes(
        [0, 0, 0, 8, auth, 0, 0, 0, 1, 0, 0, 8, integ, 0, 0, 0, 2, 0, 0, 8, conf, 0, 0, 0]
    )


def rakp2_code(
    hash_fn: Callable[..., Any],
    kuid: bytes,
    sid_m: int,
    sid_c: int,
    rm: bytes,
    rc: bytes,
    guid: bytes,
    role: int,
    name: bytes,
) -> bytes:
    data = struct.pack("<II", sid_m, sid_c) + rm + rc + guid + bytes([role, len(name)]) + name
    return hmac_digest(hash_fn, kuid, data)


def rakp3_code(
    hash_fn: Callable[..., Any], kuid: bytes, rc: bytes, sid_m: int, role: int, name: bytes
) -> bytes:
    return hmac_digest(hash_fn, kuid, rc + struct.pack("<I", sid_m) + bytes([role, len(name)]) + name)


def session_key(
    hash_fn: Callable[..., Any], kg: bytes, rm: bytes, rc: bytes, role: int, name: bytes
) -> bytes:
    return hmac_digest(hash_fn, kg, rm + rc + bytes([role, len(name)]) + name)


def rakp4_code(suite: tuple[int, int, int], sik: bytes, rm: bytes, sid_c: int, guid: bytes) -> bytes:
    hash_fn = AUTH_ALGORITHMS[suite[0]]
    length = INTEGRITY_ALGORITHMS[suite[1]][1] if suite[1] else 12
    return hmac_digest(hash_fn, sik, rm + struct.pack("<I", sid_c) + guid)[:length]


def split_host(address: str, port: int = DEFAULT_PORT) -> tuple[str, int]:
    """stonith.contract.validation.split_hostport with the IPMI port (623) as the default."""
    from stonith.contract.validation import split_hostport

    return split_hostport(address, port)


def cc_text(cc: int) -> str:
    return f"completion code 0x{cc:02x}" + (f": {COMPLETION[cc]}" if cc in COMPLETION else "")


def privilege_name(level: int) -> str:
    return {1: "callback", 2: "user", 3: "operator", 4: "administrator"}.get(level, str(level))

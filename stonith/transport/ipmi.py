"""IPMI over LAN: RMCP, IPMI 1.5 sessions ("lan") and IPMI 2.0 RMCP+ sessions ("lanplus").

A small, dependency-light implementation of the console side (``Session``) plus the wire codec
that the BMC mock (stonith.mocks.ipmi) shares, so that both ends are written once and checked by
third parties: ipmitool and fence_ipmilan against our mock, our client against OpenIPMI's
``ipmi_sim``.  Why not pyghmi: it cannot pick a cipher suite (it proposes 17, then 3), keeps a
process-global I/O thread and session cache, retries on its own clock rather than our deadline,
and sends an extra Get Device ID before every high-level call.

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

IPMI 1.5 replies are checked before they are believed (a BMC that does not know the password must
not be able to report a chassis off): Activate Session's answer must carry the auth type we asked
for, the temporary session id and a valid auth code; every answer inside the session must carry
the negotiated auth type (never NONE), our session id, a valid auth code (MD5 over password,
session id, message, sequence and password; or the straight password) and a session sequence
number newer than the last one accepted, at most ``V15_SEQ_WINDOW`` ahead (IPMI v1.5 section
6.12.13).  Answers failing a check are dropped and counted; when only such answers came, the
request fails as ``AuthFailed``.  IPMI 1.5 stays weaker than RMCP+ even so: nothing is
encrypted, MD5 of a short password can be brute-forced from one captured packet, and with
``auth=straight`` the password travels in clear (whoever sees one request can sign answers).

Every wait is bounded by a ``Deadline``: a request is sent again every ``retransmit`` seconds and
given up when the deadline passes, also while unrelated datagrams keep arriving.  The session is
written as step generators (``open_steps``, ``command_steps``; see stonith.steps) that yield their
waits for the socket, so that one thread can drive hundreds of BMC sessions; ``open`` and
``command`` run them blocking.  AES needs the ``cryptography`` package (pulled in by the ``ipmi``
extra); it is imported only when an encrypted session is opened.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct

from stonith.errors import AuthFailed, DeviceError, StonithError, Timeout, Unreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from stonith.deadline import Deadline
    from stonith.steps import Steps

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
# How far ahead of the last accepted one an IPMI 1.5 session sequence number may be: every
# retransmission of a request earns its own answer with the next number, so a few may be lost.
V15_SEQ_WINDOW = 16
# Datagrams read in one go before the receive loop lets the other sessions of a Loop run.
RECEIVE_BATCH = 64


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
    return hmac.new(key, data, hash_fn).digest()


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
    """The integrity and confidentiality keys of one RMCP+ session."""

    __slots__ = ("_cipher", "aes", "conf", "integ", "k1")

    def __init__(self, suite: tuple[int, int, int], sik: bytes) -> None:
        auth, self.integ, self.conf = suite
        hash_fn = AUTH_ALGORITHMS[auth]
        self.k1 = hmac_digest(hash_fn, sik, CONST_1)
        self.aes = hmac_digest(hash_fn, sik, CONST_2)[:16]
        self._cipher: Any = None

    def cipher(self, iv: bytes) -> Any:
        """AES-CBC-128 with this session's key and ``iv`` (the key object is built once per session)."""
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if self._cipher is None:
            self._cipher = algorithms.AES(self.aes)
        return Cipher(self._cipher, modes.CBC(iv))


def v20_packet(
    payload_type: int, session_id: int, seq: int, payload: bytes, keys: Keys | None = None
) -> bytes:
    """An RMCP+ datagram; encrypted and signed as ``keys`` say (None: in the clear)."""
    body = payload
    ptype = payload_type
    if keys is not None and keys.conf == CONF_AES:
        iv = os.urandom(16)
        pad = (16 - (len(payload) + 1) % 16) % 16
        plain = payload + bytes(range(1, pad + 1)) + bytes([pad])
        enc = keys.cipher(iv).encryptor()
        body = iv + enc.update(plain) + enc.finalize()
        ptype |= 0x80
    if keys is not None and keys.integ:
        ptype |= 0x40
    msg = struct.pack("<BBIIH", 0x06, ptype, session_id, seq, len(body)) + body
    if keys is not None and keys.integ:
        pad = (4 - (len(msg) + 2) % 4) % 4
        msg += b"\xff" * pad + bytes([pad, 0x07])
        hash_fn, length = INTEGRITY_ALGORITHMS[keys.integ]
        msg += hmac_digest(hash_fn, keys.k1, msg)[:length]
    return RMCP_HEADER + msg


def parse_v20(packet: bytes, keys: Keys | None = None) -> tuple[int, int, int, bytes]:
    """(payload type, session id, seq, payload) of an RMCP+ datagram, checked and decrypted.

    ValueError if it is malformed or its integrity code does not match ``keys``.
    """
    ptype, sid, seq, length = struct.unpack_from("<BIIH", packet, 5)
    body = packet[16 : 16 + length]
    if len(body) != length:
        raise ValueError("truncated RMCP+ packet")
    if ptype & 0x40:
        if keys is None or not keys.integ:
            raise ValueError("signed packet outside a signed session")
        hash_fn, code_len = INTEGRITY_ALGORITHMS[keys.integ]
        signed, code = packet[4:-code_len], packet[-code_len:]
        if not hmac.compare_digest(hmac_digest(hash_fn, keys.k1, signed)[:code_len], code):
            raise ValueError("integrity check failed")
    elif keys is not None and keys.integ:
        raise ValueError("unsigned packet in a signed session")
    if ptype & 0x80:
        if keys is None or keys.conf != CONF_AES or len(body) < 32 or len(body) % 16:
            raise ValueError("cannot decrypt")
        dec = keys.cipher(body[:16]).decryptor()
        plain = dec.update(body[16:]) + dec.finalize()
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
    """stonith.fields.split_hostport with the IPMI port (623) as the default."""
    from stonith.fields import split_hostport

    return split_hostport(address, port)


# ---------------------------------------------------------------------------------------------
# Console side


class Session:
    """One console session with a BMC over UDP.

    ``open`` negotiates (lanplus: RMCP+ with ``cipher`` 3, 17 or None = 17 then 3; lan: IPMI 1.5
    with ``auth``), ``command`` runs one IPMI request, ``close`` ends the session (never raises).
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        username: str = "",
        password: str = "",
        interface: str = "lanplus",
        cipher: int | None = None,
        privilege: str = "admin",
        kg: bytes = b"",
        auth: str = "md5",
        retransmit: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.what = f"BMC {host}:{port}" if port != DEFAULT_PORT else f"BMC {host}"
        self.username = username.encode("utf-8")
        self.password = password.encode("utf-8")
        if len(self.username) > 16 or len(self.password) > 20:
            raise AuthFailed("IPMI user names are at most 16 bytes and passwords at most 20")
        self.interface = interface
        self.cipher = cipher
        self.privilege = PRIVILEGES[privilege]
        self.kg = kg
        self.auth = AUTH_TYPES[auth]
        self.retransmit = retransmit
        self.suite_used: int | None = None
        self._sock: socket.socket | None = None
        self._keys: Keys | None = None
        self._bmc_sid = 0
        self._seq = 0  # our outbound session sequence number
        self._inbound = 0  # IPMI 1.5: the BMC's last accepted session sequence number
        self._rq_seq = 0  # IPMI message sequence (6 bits)
        self._answered = False  # the BMC has answered anything at all
        self._address: list[Any] = []  # getaddrinfo of host, port: looked up when the session opens

    # -- plumbing ------------------------------------------------------------------------------
    def _socket(self) -> socket.socket:
        if self._sock is None:
            if not self._address:
                raise Unreachable(f"{self.what}: the session was not opened (no address)")
            family, _, _, _, sockaddr = self._address[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)  # waits are yielded (stonith.steps), never spent in recv
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                raise Unreachable(f"{self.what}: {exc}") from None
            self._sock = sock
        return self._sock

    def _exchange(
        self, packet: bytes, accept: Callable[[bytes], Any], deadline: Deadline, doing: str
    ) -> Steps[Any]:
        """Send ``packet`` (again every ``retransmit`` s) until ``accept`` returns non-None.

        ``accept`` raises ``Unauthentic`` for an answer to this request that failed the
        session's checks: it is dropped like garbage, but if nothing else comes by the deadline
        the request fails as ``AuthFailed`` (a device that cannot prove it knows the password),
        not as a silent BMC.
        """
        import time

        from stonith.steps import Wait

        sock = self._socket()
        forged = 0
        why = ""
        while True:
            deadline.check(f"waiting for {self.what} ({doing})")
            try:
                sock.send(packet)
            except BlockingIOError:
                pass  # the send buffer is full: as good as a lost datagram, sent again in a moment
            except OSError as exc:
                raise Unreachable(f"{self.what}: {exc} ({doing})") from None
            resend_at = min(time.monotonic() + self.retransmit, deadline.at)
            batch = 0
            # A flood of datagrams (ours answered twice, a confused BMC, an attacker) must not keep
            # this loop from its resend time and deadline, nor a Loop from its other sessions.
            while time.monotonic() < resend_at:
                if batch >= RECEIVE_BATCH:
                    batch = 0
                    yield Wait(time.monotonic())
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    yield Wait(resend_at, sock.fileno())
                    continue
                except ConnectionRefusedError:
                    # ICMP port unreachable: nothing listens there (yet); keep trying to the deadline.
                    yield Wait(min(time.monotonic() + 0.1, resend_at))
                    continue
                except OSError as exc:
                    raise Unreachable(f"{self.what}: {exc} ({doing})") from None
                batch += 1
                if len(data) < 9 or data[:4] != RMCP_HEADER:
                    continue
                try:
                    result = accept(data)
                except Unauthentic as exc:
                    forged += 1
                    why = str(exc)
                    continue
                except (ValueError, struct.error, IndexError):
                    continue  # not ours, or garbled: wait for the real answer
                if result is not None:
                    self._answered = True
                    return result
            if deadline.expired():
                if forged:
                    raise AuthFailed(
                        f"{self.what}: {forged} answer(s) to {doing} failed authentication ({why}); "
                        "the device does not prove it knows the password: not believed"
                    )
                silent = "" if self._answered else " (no answer at all: wrong address or port, or BMC down?)"
                raise Timeout(f"{self.what} did not answer {doing} before the deadline{silent}")

    def _next_rq(self) -> int:
        self._rq_seq = (self._rq_seq + 1) & 0x3F
        return self._rq_seq

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    @staticmethod
    def _match(netfn: int, cmd: int, rq: int) -> Callable[[bytes], tuple[int, bytes] | None]:
        def check(msg: bytes) -> tuple[int, bytes] | None:
            rnetfn, rseq, rcmd, data = parse_message(msg)
            if rnetfn != netfn | 1 or rseq != rq or rcmd != cmd or not data:
                return None
            return data[0], data[1:]

        return check

    def _v15_answer(
        self, packet: bytes, session_id: int, match: Callable[[bytes], Any], *, in_session: bool = True
    ) -> Any:
        """``match`` of an IPMI 1.5 answer that proves it comes from a BMC knowing the password.

        Checked: the negotiated auth type (NONE is refused), ``session_id``, the auth code and,
        ``in_session``, a sequence number in the window after the last accepted one.  An answer to
        the pending request failing a check raises ``Unauthentic``; anything else failing one is
        ignored.  An authentic newer answer moves the window on even when it answers an earlier
        request (a retransmission's), so a replayed old one never fits again.
        """
        auth, seq, sid, code, message = parse_v15(packet)
        problem = ""
        if auth == AUTH_NONE:
            problem = "auth type NONE inside a session"
        elif auth != self.auth:
            problem = f"auth type {auth}, not the negotiated {self.auth}"
        elif sid != session_id:
            problem = "another session id"
        elif not hmac.compare_digest(code, v15_authcode(auth, self.password, sid, message, seq)):
            problem = "wrong auth code"
        elif in_session:
            ahead = (seq - self._inbound) & 0xFFFFFFFF
            if 0 < ahead <= V15_SEQ_WINDOW:
                self._inbound = seq
            else:
                problem = f"sequence number {seq} is not within {V15_SEQ_WINDOW} after {self._inbound}"
        result = match(message)
        if problem and result is not None:
            raise Unauthentic(problem)
        return None if problem else result

    # -- pre-session ---------------------------------------------------------------------------
    def _sessionless_v15(
        self, netfn: int, cmd: int, data: bytes, deadline: Deadline, doing: str
    ) -> Steps[tuple[int, bytes]]:
        rq = self._next_rq()
        match = self._match(netfn, cmd, rq)

        def accept(packet: bytes) -> tuple[int, bytes] | None:
            if packet[4] == 0x06:
                return None
            return match(parse_v15(packet)[4])

        result: tuple[int, bytes] = yield from self._exchange(
            v15_packet(AUTH_NONE, 0, 0, ipmi_request(netfn, cmd, data, rq)), accept, deadline, doing
        )
        return result

    def open(self, deadline: Deadline) -> None:
        from stonith.steps import run

        run(self.open_steps(deadline))

    def open_steps(self, deadline: Deadline) -> Steps[None]:
        from stonith.transport.resolve import addresses_steps

        if not self._address:  # a host name: looked up inside the deadline, the Loop never blocked
            self._address = yield from addresses_steps(self.host, self.port, deadline, socket.SOCK_DGRAM)
        try:
            if self.interface == "lan":
                yield from self._open_v15(deadline)
            else:
                yield from self._open_v20(deadline)
        except (IndexError, struct.error) as exc:
            # A set-up answer shorter than the specification says (Open Session, RAKP, Activate).
            self._drop()
            raise DeviceError(f"{self.what} sent a malformed session set-up answer ({exc})") from None
        except BaseException:
            self._drop()
            raise

    def _auth_caps(self, deadline: Deadline, v2: bool) -> Steps[bytes]:
        channel = 0x8E if v2 else 0x0E
        cc, data = yield from self._sessionless_v15(
            NETFN_APP,
            GET_AUTH_CAPS,
            bytes([channel, self.privilege]),
            deadline,
            "Get Channel Authentication Capabilities",
        )
        if cc != 0 or len(data) < 8:
            raise DeviceError(f"{self.what} refused Get Channel Authentication Capabilities ({_cc(cc)})")
        if v2 and not (data[1] & 0x80 and data[3] & 0x02):
            raise DeviceError(f"{self.what} does not support IPMI 2.0 (RMCP+); try interface=lan")
        return data

    def _open_v20(self, deadline: Deadline) -> Steps[None]:
        yield from self._auth_caps(deadline, True)
        suites = [self.cipher] if self.cipher is not None else [17, 3]
        last = ""
        for number in suites:
            suite = CIPHER_SUITES[number]
            try:
                yield from self._rakp(suite, deadline)
            except _SuiteRejected as exc:
                last = str(exc)
                continue
            self.suite_used = number
            break
        else:
            raise DeviceError(f"{self.what} accepted no cipher suite of {suites}: {last}")
        cc, _ = yield from self.command_steps(NETFN_APP, SET_SESSION_PRIV, bytes([self.privilege]), deadline)
        if cc != 0:
            raise AuthFailed(
                f"{self.what} refused privilege level {_priv_name(self.privilege)} for user "
                f"{self.username.decode('utf-8', 'replace')!r} ({_cc(cc)})"
            )

    def _rakp(self, suite: tuple[int, int, int], deadline: Deadline) -> Steps[None]:
        hash_fn = AUTH_ALGORITHMS[suite[0]]
        console_sid = int.from_bytes(os.urandom(4), "little") or 1
        tag = self._next_rq()

        def open_reply(packet: bytes) -> bytes | None:
            if packet[4] != 0x06:
                return None
            ptype, _, _, payload = parse_v20(packet)
            return payload if ptype == OPEN_RESPONSE and payload[0] == tag else None

        payload = yield from self._exchange(
            v20_packet(OPEN_REQUEST, 0, 0, open_session_request(tag, self.privilege, console_sid, suite)),
            open_reply,
            deadline,
            "RMCP+ Open Session",
        )
        status = payload[1]
        if status in SUITE_REJECTED:
            raise _SuiteRejected(RMCP_STATUS.get(status, f"status 0x{status:02x}"))
        if status:
            raise _rmcp_error(self, status, "Open Session")
        if struct.unpack_from("<I", payload, 4)[0] != console_sid:
            raise DeviceError(f"{self.what} answered Open Session for another session")
        bmc_sid = struct.unpack_from("<I", payload, 8)[0]
        if (payload[16], payload[24], payload[32]) != suite:
            raise _SuiteRejected("the BMC chose other algorithms than proposed")
        rm = os.urandom(16)
        role = self.privilege | 0x10  # name-only lookup
        name = self.username
        tag = self._next_rq()
        rakp1 = struct.pack("<B3xI", tag, bmc_sid) + rm + bytes([role, 0, 0, len(name)]) + name

        def rakp2_reply(packet: bytes) -> bytes | None:
            if packet[4] != 0x06:
                return None
            ptype, _, _, body = parse_v20(packet)
            return body if ptype == RAKP2 and body[0] == tag else None

        body = yield from self._exchange(v20_packet(RAKP1, 0, 0, rakp1), rakp2_reply, deadline, "RAKP 1")
        if body[1]:
            raise _rmcp_error(self, body[1], "RAKP 2")
        rc, guid, code = body[8:24], body[24:40], body[40:]
        kuid = self.password
        if not hmac.compare_digest(
            rakp2_code(hash_fn, kuid, console_sid, bmc_sid, rm, rc, guid, role, name), code
        ):
            raise AuthFailed(
                f"{self.what} refused the credentials of user {name.decode('utf-8', 'replace')!r} "
                "(RAKP 2 check failed: wrong password)"
            )
        sik = session_key(hash_fn, self.kg or kuid, rm, rc, role, name)
        tag = self._next_rq()
        rakp3 = struct.pack("<BB2xI", tag, 0, bmc_sid) + rakp3_code(
            hash_fn, kuid, rc, console_sid, role, name
        )

        def rakp4_reply(packet: bytes) -> bytes | None:
            if packet[4] != 0x06:
                return None
            ptype, _, _, body = parse_v20(packet)
            return body if ptype == RAKP4 and body[0] == tag else None

        body = yield from self._exchange(v20_packet(RAKP3, 0, 0, rakp3), rakp4_reply, deadline, "RAKP 3")
        if body[1] == RAKP3_CHECK_FAILED:
            # RAKP 2's check value proved the password (and user name), so the BMC holds another
            # random number Rc than the one RAKP 3 was built from: it answered a RAKP 1 sent again
            # (its answers slower than ``retransmit``) with a fresh Rc.  A session set-up that
            # crossed itself, not a refused login (exit 2, never retried): seen at 5,000 BMCs under
            # load (bench/README.md, HPC).
            raise DeviceError(
                f"{self.what} found RAKP 3's integrity check value invalid after RAKP 2 proved the "
                f"password: its answers are slower than retransmit ({self.retransmit:g} s) and a RAKP 1 "
                "sent again crossed them; raise retransmit"
            )
        if body[1]:
            raise _rmcp_error(self, body[1], "RAKP 4")
        if not hmac.compare_digest(rakp4_code(suite, sik, rm, bmc_sid, guid), body[8:]):
            raise AuthFailed(f"{self.what}: RAKP 4 check failed (wrong Kg key?)")
        self._keys = Keys(suite, sik)
        self._bmc_sid = bmc_sid
        self._seq = 0

    def _open_v15(self, deadline: Deadline) -> Steps[None]:
        data = yield from self._auth_caps(deadline, False)
        if self.auth == AUTH_MD2:
            raise DeviceError("IPMI 1.5 MD2 authentication is not supported; use auth=md5")
        if not data[1] & (1 << self.auth):
            raise DeviceError(
                f"{self.what} does not offer authentication type "
                f"{ {v: k for k, v in AUTH_TYPES.items()}[self.auth] } (offered mask 0x{data[1] & 0x3F:02x})"
            )
        name = self.username.ljust(16, b"\0")
        cc, data = yield from self._sessionless_v15(
            NETFN_APP, GET_SESSION_CHALLENGE, bytes([self.auth]) + name, deadline, "Get Session Challenge"
        )
        if cc in (0x81, 0x82):
            raise AuthFailed(
                f"{self.what} refused user {self.username.decode('utf-8', 'replace')!r} ({_cc(cc)})"
            )
        if cc != 0 or len(data) < 20:
            raise DeviceError(f"{self.what} refused Get Session Challenge ({_cc(cc)})")
        temp_sid = struct.unpack_from("<I", data)[0]
        challenge = data[4:20]
        outbound = int.from_bytes(os.urandom(4), "little") or 1
        rq = self._next_rq()
        request = ipmi_request(
            NETFN_APP,
            ACTIVATE_SESSION,
            bytes([self.auth, self.privilege]) + challenge + struct.pack("<I", outbound),
            rq,
        )
        match = self._match(NETFN_APP, ACTIVATE_SESSION, rq)

        def accept(packet: bytes) -> tuple[int, bytes] | None:
            # Signed like the request, in the temporary session; its sequence number is the BMC's
            # choice (0, or our initial outbound one), so only the session's answers are windowed.
            if packet[4] == 0x06:
                return None
            answer: tuple[int, bytes] | None = self._v15_answer(packet, temp_sid, match, in_session=False)
            return answer

        try:
            cc, data = yield from self._exchange(
                v15_packet(self.auth, 0, temp_sid, request, self.password),
                accept,
                deadline,
                "Activate Session",
            )
        except Timeout:
            # It answered the challenge a moment ago: silence now means it dropped our auth code.
            raise AuthFailed(
                f"{self.what} did not accept the credentials of user "
                f"{self.username.decode('utf-8', 'replace')!r} (Activate Session unanswered: wrong password?)"
            ) from None
        if cc in (0x81, 0x82, 0x83, 0x86) or cc != 0:
            raise AuthFailed(f"{self.what} refused Activate Session ({_cc(cc)})")
        if data[0] & 0x0F != self.auth:
            # Auth type NONE for the rest of the session (per-message authentication disabled)
            # would leave every later answer unauthenticated: refused, not downgraded.
            raise AuthFailed(
                f"{self.what} wants auth type {data[0] & 0x0F} for the session instead of {self.auth} "
                "(per-message authentication disabled on the BMC?): refused, its answers could be forged"
            )
        bmc_sid = struct.unpack_from("<I", data, 1)[0]
        if not bmc_sid:
            raise DeviceError(f"{self.what} activated a session with id 0")
        self._bmc_sid = bmc_sid
        self._seq = (struct.unpack_from("<I", data, 5)[0] - 1) & 0xFFFFFFFF
        self._inbound = (outbound - 1) & 0xFFFFFFFF  # its first answer may carry ``outbound`` itself
        self._keys = None
        self.suite_used = None
        cc, data = yield from self.command_steps(
            NETFN_APP, SET_SESSION_PRIV, bytes([self.privilege]), deadline
        )
        if cc != 0:
            raise AuthFailed(f"{self.what} refused privilege level {_priv_name(self.privilege)} ({_cc(cc)})")

    # -- in session ----------------------------------------------------------------------------
    def command(
        self, netfn: int, cmd: int, data: bytes, deadline: Deadline, doing: str = ""
    ) -> tuple[int, bytes]:
        """One request in the session: (completion code, response data)."""
        from stonith.steps import run

        return run(self.command_steps(netfn, cmd, data, deadline, doing))

    def command_steps(
        self, netfn: int, cmd: int, data: bytes, deadline: Deadline, doing: str = ""
    ) -> Steps[tuple[int, bytes]]:
        """``command`` as a step generator."""
        if not self._bmc_sid:
            raise DeviceError(f"no session with {self.what} (open it first)")
        rq = self._next_rq()
        match = self._match(netfn, cmd, rq)
        message = ipmi_request(netfn, cmd, data, rq)
        doing = doing or f"command 0x{netfn:02x}/0x{cmd:02x}"
        if self.interface == "lan":
            session_id = self._bmc_sid
            packet = v15_packet(self.auth, self._next_seq(), session_id, message, self.password)

            def accept(reply: bytes) -> tuple[int, bytes] | None:
                if reply[4] == 0x06:
                    return None
                answer: tuple[int, bytes] | None = self._v15_answer(reply, session_id, match)
                return answer
        else:
            keys = self._keys
            packet = v20_packet(PAYLOAD_IPMI, self._bmc_sid, self._next_seq(), message, keys)

            def accept(reply: bytes) -> tuple[int, bytes] | None:
                if reply[4] != 0x06:
                    return None
                ptype, _, _, payload = parse_v20(reply, keys)
                return match(payload) if ptype == PAYLOAD_IPMI else None

        result: tuple[int, bytes] = yield from self._exchange(packet, accept, deadline, doing)
        return result

    def close(self) -> None:
        """Close Session, best effort (one datagram, no wait), then the socket."""
        if self._bmc_sid and self._sock is not None:
            try:
                rq = self._next_rq()
                message = ipmi_request(NETFN_APP, CLOSE_SESSION, struct.pack("<I", self._bmc_sid), rq)
                if self.interface == "lan":
                    packet = v15_packet(self.auth, self._next_seq(), self._bmc_sid, message, self.password)
                else:
                    packet = v20_packet(PAYLOAD_IPMI, self._bmc_sid, self._next_seq(), message, self._keys)
                self._sock.send(packet)
            except (OSError, StonithError, ValueError):
                pass
        self._drop()

    def _drop(self) -> None:
        self._bmc_sid = 0
        self._keys = None
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


class _SuiteRejected(Exception):
    pass


class Unauthentic(ValueError):
    """An answer to the pending request that failed the session's authentication checks."""


def _cc(cc: int) -> str:
    return f"completion code 0x{cc:02x}" + (f": {COMPLETION[cc]}" if cc in COMPLETION else "")


def _priv_name(level: int) -> str:
    return {1: "callback", 2: "user", 3: "operator", 4: "administrator"}.get(level, str(level))


def _rmcp_error(session: Session, status: int, step: str) -> StonithError:
    text = RMCP_STATUS.get(status, f"status 0x{status:02x}")
    user = session.username.decode("utf-8", "replace")
    if status in AUTH_REJECTED:
        return AuthFailed(f"{session.what} refused user {user!r} at {step}: {text}")
    return DeviceError(f"{session.what} refused {step}: {text}")

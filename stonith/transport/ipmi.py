"""IPMI over LAN: RMCP, IPMI 1.5 sessions ("lan") and IPMI 2.0 RMCP+ sessions ("lanplus").

A small, dependency-light implementation of the console side (``Session``), over the wire codec
that the BMC mock (stonith.mocks.ipmi) shares (stonith.transport.ipmi_wire), so that both ends are
written once and checked by third parties: ipmitool and fence_ipmilan against our mock, our
client against OpenIPMI's ``ipmi_sim``.  Why not pyghmi: it cannot pick a cipher suite (it proposes
17, then 3), keeps a process-global I/O thread and session cache, retries on its own clock rather
than our deadline, and sends an extra Get Device ID before every high-level call.

The wire (packets, messages, the RAKP key exchange, the constants) is stonith.transport.ipmi_wire.

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
written as step generators (``open_steps``, ``command_steps``; see stonith.contract.steps) that yield their
waits for the socket, so that one thread can drive hundreds of BMC sessions; ``open`` and
``command`` run them blocking.  AES needs the ``cryptography`` package (pulled in by the ``ipmi``
extra); it is imported only when an encrypted session is opened.
"""

from __future__ import annotations

import hmac
import os
import socket
import struct
import time

from stonith.contract.errors import AuthFailed, DeviceError, StonithError, Timeout, Unreachable
from stonith.contract.steps import Wait
from stonith.transport.ipmi_wire import (
    ACTIVATE_SESSION,
    AUTH_ALGORITHMS,
    AUTH_MD2,
    AUTH_NONE,
    AUTH_REJECTED,
    AUTH_TYPES,
    CIPHER_SUITES,
    CLOSE_SESSION,
    DEFAULT_PORT,
    GET_AUTH_CAPS,
    GET_SESSION_CHALLENGE,
    NETFN_APP,
    OPEN_REQUEST,
    OPEN_RESPONSE,
    PAYLOAD_IPMI,
    PRIVILEGES,
    RAKP1,
    RAKP2,
    RAKP3,
    RAKP3_CHECK_FAILED,
    RAKP4,
    RMCP_HEADER,
    RMCP_STATUS,
    SET_SESSION_PRIV,
    SUITE_REJECTED,
    Keys,
    cc_text,
    ipmi_request,
    open_session_request,
    parse_message,
    parse_v15,
    parse_v20,
    privilege_name,
    rakp2_code,
    rakp3_code,
    rakp4_code,
    session_key,
    v15_authcode,
    v15_packet,
    v20_packet,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps

# How far ahead of the last accepted one an IPMI 1.5 session sequence number may be: every
# retransmission of a request earns its own answer with the next number, so a few may be lost.
V15_SEQ_WINDOW = 16
# Datagrams read in one go before the receive loop lets the other sessions of a Loop run.
RECEIVE_BATCH = 64


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
            sock.setblocking(False)  # waits are yielded (stonith.contract.steps), never spent in recv
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
        sock = self._socket()
        fd = sock.fileno()
        monotonic = time.monotonic
        forged = 0
        why = ""
        while True:
            if monotonic() >= deadline.at:  # the message only built when it is needed
                deadline.check(f"waiting for {self.what} ({doing})")
            try:
                sock.send(packet)
            except BlockingIOError:
                pass  # the send buffer is full: as good as a lost datagram, sent again in a moment
            except OSError as exc:
                raise Unreachable(f"{self.what}: {exc} ({doing})") from None
            resend_at = min(monotonic() + self.retransmit, deadline.at)
            # The answer is a round trip away: wait for it before the first read (a read now would
            # almost always find nothing, at the cost of a system call and an exception).
            yield Wait(resend_at, fd)
            batch = 0
            # A flood of datagrams (ours answered twice, a confused BMC, an attacker) must not keep
            # this loop from its resend time and deadline, nor a Loop from its other sessions.
            while monotonic() < resend_at:
                if batch >= RECEIVE_BATCH:
                    batch = 0
                    yield Wait(monotonic())
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    yield Wait(resend_at, fd)
                    continue
                except ConnectionRefusedError:
                    # ICMP port unreachable: nothing listens there (yet); keep trying to the deadline.
                    yield Wait(min(monotonic() + 0.1, resend_at))
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
        from stonith.contract.steps import run

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
            raise DeviceError(f"{self.what} refused Get Channel Authentication Capabilities ({cc_text(cc)})")
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
                f"{self.what} refused privilege level {privilege_name(self.privilege)} for user "
                f"{self.username.decode('utf-8', 'replace')!r} ({cc_text(cc)})"
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
                f"{self.what} refused user {self.username.decode('utf-8', 'replace')!r} ({cc_text(cc)})"
            )
        if cc != 0 or len(data) < 20:
            raise DeviceError(f"{self.what} refused Get Session Challenge ({cc_text(cc)})")
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
            raise AuthFailed(f"{self.what} refused Activate Session ({cc_text(cc)})")
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
            level = privilege_name(self.privilege)
            raise AuthFailed(f"{self.what} refused privilege level {level} ({cc_text(cc)})")

    # -- in session ----------------------------------------------------------------------------
    def command(
        self, netfn: int, cmd: int, data: bytes, deadline: Deadline, doing: str = ""
    ) -> tuple[int, bytes]:
        """One request in the session: (completion code, response data)."""
        from stonith.contract.steps import run

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


def _rmcp_error(session: Session, status: int, step: str) -> StonithError:
    text = RMCP_STATUS.get(status, f"status 0x{status:02x}")
    user = session.username.decode("utf-8", "replace")
    if status in AUTH_REJECTED:
        return AuthFailed(f"{session.what} refused user {user!r} at {step}: {text}")
    return DeviceError(f"{session.what} refused {step}: {text}")

"""IPMI BMC mock: RMCP+ (IPMI 2.0, cipher suites 3 and 17) and IPMI 1.5 (MD5, straight password)
over UDP, chassis power control, many BMCs from one process.

    stonith-mock ipmilan [--listen 127.0.0.1:0] [--count N] [--spread ports|ips] [--hosts a,b,...]
                 [--username U] [--password P | STONITH_MOCK_PASSWORD] [--kg HEX]
                 [--cipher-suites 3,17] [--no-lan15] [--relay-delay S] [--off-delay S] [--on-delay S]
                 [--slow S] [--fault silent|refuse-login|stuck=1|lie=1|lie-status=1] [--state-file F]

Ground truth, delays and faults: stonith.mocks._bmc.  The wire codec is the console's
(stonith.transport.ipmi_wire), checked from the other side by ipmitool (``-I lanplus -C 3|17`` and
``-I lan``), FreeIPMI's ipmipower (``-D LAN_2_0 -I 3|17`` and ``-D LAN``; ``--spread ips`` gives each
BMC its own loopback address, on port 623 as root) and fence-agents' fence_ipmilan, which run
unmodified against this mock.

Device behaviour worth knowing:
- Get Channel Authentication Capabilities says IPMI 2.0 and 1.5 (MD5, straight password),
  non-null user names enabled, per-message and user-level authentication on (what FreeIPMI checks);
  Get Channel Cipher Suites lists the configured suites; an Open Session proposing anything else
  is answered with an RMCP+ error status (0x04, 0x05, 0x10 or 0x11), never with other algorithms;
- an unknown user name is refused in RAKP 2 ("unauthorized name", 0x0D); a wrong password cannot be
  seen by the BMC before RAKP 3 (the console notices it when checking RAKP 2's HMAC); an IPMI 1.5
  request with a bad auth code is dropped without an answer, as ipmi_sim does;
- Chassis Control needs operator privilege; power cycle and hard reset of a chassis that is off
  answer 0xD5 ("not supported in present state"), as many BMCs do; power cycle keeps the chassis
  off for 1 s plus the on delay (the spec's minimum off interval); soft off is an off after the
  off delay; diag (NMI) is acknowledged and recorded.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import selectors
import socket
import struct
import threading
import time

from stonith.mocks import _bmc
from stonith.mocks._bmc import OFF, ON, Chassis

from stonith.contract.validation import join_hostport
from stonith.transport import ipmi_wire as wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from stonith.mocks._common import MockConfig

MODELS = {"generic": "IPMI 2.0 BMC (RMCP+ suites 3/17, IPMI 1.5 MD5)"}
DEFAULT_MODEL = "generic"
DEFAULT_SUITES = (3, 17)
MAX_PRIV = 4  # administrator
CHANNEL = 1
MANUFACTURER = 0x0000  # "unspecified": no OEM quirks in clients
# Get Channel Authentication Capabilities, response byte 3 (IPMI v2.0 table 22-15).
NON_NULL_USERS = 0x04  # bit 2: one or more users with non-null user names are enabled
KG_NON_ZERO = 0x20  # bit 5: two-key login, KG is set to a non-zero value
# Chassis Control "power cycle" (IPMI v2.0 section 28.3, table 28-4, data byte 1 = 02h): "a power
# off interval of at least 1 second" before power returns.
POWER_CYCLE_OFF = 1.0
default_outlets = _bmc.default_outlets
default_names = _bmc.default_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _bmc.add_common_arguments(parser)
    parser.add_argument(
        "--spread",
        choices=("ports", "ips"),
        default="ports",
        help="several BMCs: consecutive ports (default) or consecutive IPv4 addresses",
    )
    parser.add_argument(
        "--cipher-suites",
        default=",".join(map(str, DEFAULT_SUITES)),
        metavar="LIST",
        help="RMCP+ cipher suites offered (of 1, 2, 3, 17; default 3,17)",
    )
    parser.add_argument(
        "--kg", default="", metavar="HEX", help="BMC key Kg, hex (default: none, Kg = password)"
    )
    parser.add_argument("--lan15", action=_bool_action(), default=True, help="serve IPMI 1.5 sessions too")


def _bool_action() -> Any:
    import argparse

    return argparse.BooleanOptionalAction


class _Session:
    __slots__ = (
        "auth",
        "console_sid",
        "established",
        "keys",
        "name",
        "out_seq",
        "priv",
        "rc",
        "rm",
        "role",
        "suite",
        "v2",
    )

    def __init__(self, console_sid: int, *, v2: bool, priv: int) -> None:
        self.console_sid = console_sid
        self.v2 = v2
        self.priv = priv
        self.established = False
        self.keys: wire.Keys | None = None
        self.suite: tuple[int, int, int] = (0, 0, 0)
        self.rm = self.rc = self.name = b""
        self.role = 0
        self.auth = 0
        self.out_seq = 0


class Bmc:
    """One BMC: credentials, sessions and the chassis it controls."""

    def __init__(self, chassis: Chassis, config: MockConfig, suites: tuple[int, ...], kg: bytes) -> None:
        self.chassis = chassis
        self.faults = config.faults
        self.username = config.username.encode("utf-8")
        self.password = config.password.encode("utf-8")
        self.kg = kg
        self.suites = suites
        self.lan15 = bool(config.options.get("lan15", True))
        self.guid = os.urandom(16)
        self.sessions: dict[int, _Session] = {}
        self.challenges: dict[int, tuple[int, bytes]] = {}
        self.last_on_by_ipmi = False

    # -- datagrams -----------------------------------------------------------------------------
    def handle(self, data: bytes) -> bytes | None:
        if self.faults.silent_after is not None:
            return None
        if data[:4] == wire.ASF_PING and len(data) >= 12:
            return (
                wire.ASF_PING
                + b"\x00\x00\x11\xbe\x40"
                + data[9:10]
                + b"\x00\x10"
                + b"\x00\x00\x11\xbe\x00\x00\x00\x00\x81\x00"
                + b"\x00" * 6
            )
        if data[:4] != wire.RMCP_HEADER or len(data) < 14:
            return None
        try:
            return self._v20(data) if data[4] == 0x06 else self._v15(data)
        except (ValueError, struct.error, IndexError, KeyError):
            return None  # malformed or not for us: a BMC drops it

    def _v15(self, data: bytes) -> bytes | None:
        auth, seq, sid, code, msg = wire.parse_v15(data)
        netfn, _, cmd, body = wire.parse_message(msg)
        if sid == 0:
            return wire.v15_packet(0, 0, 0, self._sessionless(msg, netfn, cmd, body))
        if not self.lan15:
            return None
        if sid in self.challenges:
            if cmd != wire.ACTIVATE_SESSION or not self._code_ok(auth, sid, msg, seq, code):
                return None
            want_auth, challenge = self.challenges.pop(sid)
            if body[0] != want_auth or body[2:18] != challenge:
                return None
            new_sid = self._new_sid()
            new = _Session(0, v2=False, priv=min(body[1], MAX_PRIV))
            new.auth = auth
            new.established = True
            new.out_seq = struct.unpack_from("<I", body, 18)[0]
            new.priv = 2  # a session starts at user level until Set Session Privilege
            self.sessions[new_sid] = new
            inbound = int.from_bytes(os.urandom(4), "little") or 1
            reply = wire.ipmi_response(
                msg, 0, bytes([auth]) + struct.pack("<II", new_sid, inbound) + bytes([min(body[1], MAX_PRIV)])
            )
            return wire.v15_packet(auth, 0, sid, reply, self.password)
        session = self.sessions.get(sid)
        if session is None or session.v2 or not self._code_ok(auth, sid, msg, seq, code):
            return None
        reply = self._command(session, sid, msg, netfn, cmd, body)
        session.out_seq = (session.out_seq + 1) & 0xFFFFFFFF
        return wire.v15_packet(session.auth, session.out_seq, sid, reply, self.password)

    def _code_ok(self, auth: int, sid: int, msg: bytes, seq: int, code: bytes) -> bool:
        if self.faults.refuse_login:
            return False
        if auth == wire.AUTH_MD5:
            return code == wire.md5_authcode(self.password, sid, msg, seq)
        if auth == wire.AUTH_STRAIGHT:
            return code == self.password.ljust(16, b"\0")[:16]
        return False  # no authentication is not offered

    def _new_sid(self) -> int:
        while True:
            sid = int.from_bytes(os.urandom(4), "little")
            if sid and sid not in self.sessions and sid not in self.challenges:
                return sid

    def _v20(self, data: bytes) -> bytes | None:
        ptype = data[5] & 0x3F
        sid = struct.unpack_from("<I", data, 6)[0]
        if ptype == wire.OPEN_REQUEST:
            return self._open(wire.parse_v20(data)[3])
        if ptype == wire.RAKP1:
            return self._rakp1(wire.parse_v20(data)[3])
        if ptype == wire.RAKP3:
            return self._rakp3(wire.parse_v20(data)[3])
        if ptype != wire.PAYLOAD_IPMI:
            return None
        if sid == 0:
            msg = wire.parse_v20(data)[3]
            netfn, _, cmd, body = wire.parse_message(msg)
            return wire.v20_packet(wire.PAYLOAD_IPMI, 0, 0, self._sessionless(msg, netfn, cmd, body))
        session = self.sessions.get(sid)
        if session is None or not session.v2 or not session.established:
            return None
        _, _, _, msg = wire.parse_v20(data, session.keys)
        netfn, _, cmd, body = wire.parse_message(msg)
        reply = self._command(session, sid, msg, netfn, cmd, body)
        session.out_seq = (session.out_seq + 1) & 0xFFFFFFFF or 1
        return wire.v20_packet(wire.PAYLOAD_IPMI, session.console_sid, session.out_seq, reply, session.keys)

    # -- RMCP+ session set-up ------------------------------------------------------------------
    def _open(self, payload: bytes) -> bytes:
        tag, priv = payload[0], payload[1] & 0x0F
        console_sid = struct.unpack_from("<I", payload, 4)[0]
        suite = (payload[12], payload[20], payload[28])
        offered = {wire.CIPHER_SUITES[n]: n for n in self.suites}
        status = 0
        if suite not in offered:
            if suite[0] not in {s[0] for s in offered}:
                status = 0x04
            elif suite[1] not in {s[1] for s in offered}:
                status = 0x05
            elif suite[2] not in {s[2] for s in offered}:
                status = 0x10
            else:
                status = 0x11
        elif priv > MAX_PRIV:
            status = 0x09
        if status:
            body = struct.pack("<BBBxI", tag, status, 0, console_sid)
            return wire.v20_packet(wire.OPEN_RESPONSE, 0, 0, body)
        sid = self._new_sid()
        session = _Session(console_sid, v2=True, priv=priv or MAX_PRIV)
        session.suite = suite
        self.sessions[sid] = session
        if len(self.sessions) > 64:  # drop the oldest half-open sessions, as a BMC's table would
            for old in [k for k, s in self.sessions.items() if not s.established][:16]:
                self.sessions.pop(old, None)
        auth, integ, conf = suite
        body = struct.pack("<BBBxII", tag, 0, priv or MAX_PRIV, console_sid, sid) + bytes(
            [0, 0, 0, 8, auth, 0, 0, 0, 1, 0, 0, 8, integ, 0, 0, 0, 2, 0, 0, 8, conf, 0, 0, 0]
        )
        return wire.v20_packet(wire.OPEN_RESPONSE, 0, 0, body)

    def _rakp1(self, payload: bytes) -> bytes | None:
        tag = payload[0]
        sid = struct.unpack_from("<I", payload, 4)[0]
        session = self.sessions.get(sid)
        if session is None or not session.v2:
            return wire.v20_packet(wire.RAKP2, 0, 0, struct.pack("<BB2xI", tag, 0x02, 0))
        rm, role, length = payload[8:24], payload[24], payload[27]
        name = payload[28 : 28 + length]
        if name != self.username or self.faults.refuse_login:
            self.sessions.pop(sid, None)
            return wire.v20_packet(wire.RAKP2, 0, 0, struct.pack("<BB2xI", tag, 0x0D, session.console_sid))
        if (role & 0x0F) > MAX_PRIV:
            return wire.v20_packet(wire.RAKP2, 0, 0, struct.pack("<BB2xI", tag, 0x09, session.console_sid))
        session.rm, session.role, session.name = rm, role, name
        session.rc = os.urandom(16)
        hash_fn = wire.AUTH_ALGORITHMS[session.suite[0]]
        code = wire.rakp2_code(
            hash_fn, self.password, session.console_sid, sid, rm, session.rc, self.guid, role, name
        )
        body = struct.pack("<BB2xI", tag, 0, session.console_sid) + session.rc + self.guid + code
        return wire.v20_packet(wire.RAKP2, 0, 0, body)

    def _rakp3(self, payload: bytes) -> bytes | None:
        tag, status = payload[0], payload[1]
        sid = struct.unpack_from("<I", payload, 4)[0]
        session = self.sessions.get(sid)
        if session is None or not session.rm:
            return wire.v20_packet(wire.RAKP4, 0, 0, struct.pack("<BB2xI", tag, 0x02, 0))
        if status:
            self.sessions.pop(sid, None)
            return None
        hash_fn = wire.AUTH_ALGORITHMS[session.suite[0]]
        want = wire.rakp3_code(
            hash_fn, self.password, session.rc, session.console_sid, session.role, session.name
        )
        if payload[8:] != want:
            self.sessions.pop(sid, None)
            return wire.v20_packet(wire.RAKP4, 0, 0, struct.pack("<BB2xI", tag, 0x0F, session.console_sid))
        sik = wire.session_key(
            hash_fn, self.kg or self.password, session.rm, session.rc, session.role, session.name
        )
        session.keys = wire.Keys(session.suite, sik)
        session.established = True
        session.priv = 2  # user level until Set Session Privilege Level
        icv = wire.rakp4_code(session.suite, sik, session.rm, sid, self.guid)
        return wire.v20_packet(wire.RAKP4, 0, 0, struct.pack("<BB2xI", tag, 0, session.console_sid) + icv)

    # -- IPMI commands -------------------------------------------------------------------------
    def _sessionless(self, msg: bytes, netfn: int, cmd: int, body: bytes) -> bytes:
        if netfn == wire.NETFN_APP and cmd == wire.GET_AUTH_CAPS:
            return wire.ipmi_response(msg, 0, self._auth_caps(body))
        if netfn == wire.NETFN_APP and cmd == wire.GET_CIPHER_SUITES:
            return wire.ipmi_response(msg, 0, self._cipher_suites(body))
        if netfn == wire.NETFN_APP and cmd == wire.GET_SESSION_CHALLENGE and self.lan15:
            auth, name = body[0], body[1:17].rstrip(b"\0")
            if auth not in (wire.AUTH_MD5, wire.AUTH_STRAIGHT):
                return wire.ipmi_response(msg, 0xCC)
            if name != self.username or self.faults.refuse_login:
                return wire.ipmi_response(msg, 0x81)  # invalid user name
            temp = self._new_sid()
            challenge = os.urandom(16)
            self.challenges[temp] = (auth, challenge)
            if len(self.challenges) > 64:
                self.challenges.pop(next(iter(self.challenges)))
            return wire.ipmi_response(msg, 0, struct.pack("<I", temp) + challenge)
        return wire.ipmi_response(msg, 0xD4 if netfn == wire.NETFN_CHASSIS else 0xC1)

    def _auth_caps(self, body: bytes) -> bytes:
        """Get Channel Authentication Capabilities (IPMI v2.0 section 22.13, response table 22-15).

        Response data byte 3 is the authentication status a real BMC with named users reports:
        bit 2 "non-null user names enabled" (the mock has one named user), bits 1 and 0 clear (no
        null user, no anonymous login), bits 4 and 3 clear (per-message and user-level
        authentication enabled: every IPMI 1.5 message must carry a valid auth code, which
        ``_code_ok`` checks), bit 5 "KG set to a non-zero value" when --kg is given (RMCP+ only).
        FreeIPMI's ipmipower reads these bits: with bit 2 clear it refuses a named user
        ("username invalid") before opening a session.
        """
        v2 = bool(body and body[0] & 0x80)
        types = (1 << wire.AUTH_MD5) | (1 << wire.AUTH_STRAIGHT) if self.lan15 else 0
        ext = 0x02 | (0x01 if self.lan15 else 0)
        status = NON_NULL_USERS | (KG_NON_ZERO if v2 and any(self.kg) else 0)
        return bytes(
            [CHANNEL, types | (0x80 if v2 or not self.lan15 else 0), status, ext if v2 else 0, 0, 0, 0, 0]
        )

    def _cipher_suites(self, body: bytes) -> bytes:
        records = b""
        for number in self.suites:
            auth, integ, conf = wire.CIPHER_SUITES[number]
            records += bytes([0xC0, number, auth, 0x40 | integ, 0x80 | conf])
        index = body[2] & 0x3F if len(body) > 2 else 0
        return bytes([CHANNEL]) + records[index * 16 : index * 16 + 16]

    def _command(self, session: _Session, sid: int, msg: bytes, netfn: int, cmd: int, body: bytes) -> bytes:
        if netfn == wire.NETFN_APP:
            if cmd == wire.SET_SESSION_PRIV:
                level = body[0] & 0x0F if body else 0
                if level == 0:
                    return wire.ipmi_response(msg, 0, bytes([session.priv]))
                if level > MAX_PRIV or (session.v2 and level > (session.role & 0x0F or MAX_PRIV)):
                    return wire.ipmi_response(msg, 0x81)
                session.priv = level
                return wire.ipmi_response(msg, 0, bytes([level]))
            if cmd == wire.CLOSE_SESSION:
                self.sessions.pop(sid, None)
                return wire.ipmi_response(msg, 0)
            if cmd == wire.GET_DEVICE_ID:
                return wire.ipmi_response(
                    msg,
                    0,
                    bytes([0x20, 0x81, 0x01, 0x00, 0x02, 0xBF])
                    + MANUFACTURER.to_bytes(3, "little")
                    + b"\x00\x00",
                )
            if cmd == 0x37:  # Get System GUID
                return wire.ipmi_response(msg, 0, self.guid)
        if netfn == wire.NETFN_CHASSIS:
            if cmd == wire.CHASSIS_STATUS:
                power = 0x20 | (0x01 if self.chassis.reported() == ON else 0)
                return wire.ipmi_response(msg, 0, bytes([power, 0x10 if self.last_on_by_ipmi else 0, 0x00]))
            if cmd == wire.CHASSIS_CONTROL:
                if session.priv < 3:
                    return wire.ipmi_response(msg, 0xD4)
                return wire.ipmi_response(msg, self._control(body[0] & 0x0F if body else 0xFF))
        if netfn in (wire.NETFN_APP, wire.NETFN_CHASSIS):
            return wire.ipmi_response(msg, 0xC1)
        return (
            self._sessionless(msg, netfn, cmd, body)
            if netfn == wire.NETFN_APP
            else wire.ipmi_response(msg, 0xC1)
        )

    def _control(self, value: int) -> int:
        chassis = self.chassis
        if value in (0x00, 0x05):
            chassis.power(OFF)
        elif value == 0x01:
            self.last_on_by_ipmi = True
            chassis.power(ON)
        elif value in (0x02, 0x03):
            if chassis.reported() == OFF:
                return 0xD5
            chassis.cycle(POWER_CYCLE_OFF) if value == 0x02 else chassis.reset()
        elif value == 0x04:
            chassis.record("diag")
        else:
            return 0xCC
        return 0


class Server:
    """Every BMC's UDP socket, served by one thread (answers delayed by ``--slow`` are queued)."""

    def __init__(self, bmcs: list[tuple[socket.socket, Bmc]], slow: float) -> None:
        self._selector = selectors.DefaultSelector()
        self._sockets = [sock for sock, _ in bmcs]
        for sock, bmc in bmcs:
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, bmc)
        self._slow = slow
        self._queue: list[tuple[float, int, socket.socket, bytes, Any]] = []
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ipmi-mock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            timeout = 0.2
            if self._queue:
                timeout = max(0.0, min(timeout, self._queue[0][0] - time.monotonic()))
            for key, _ in self._selector.select(timeout):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                for _ in range(64):
                    try:
                        data, peer = sock.recvfrom(65536)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    reply = key.data.handle(data)
                    if reply is None:
                        continue
                    if self._slow > 0:
                        self._count += 1
                        heapq.heappush(
                            self._queue, (time.monotonic() + self._slow, self._count, sock, reply, peer)
                        )
                    else:
                        self._send(sock, reply, peer)
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now:
                _, _, sock, reply, peer = heapq.heappop(self._queue)
                self._send(sock, reply, peer)

    @staticmethod
    def _send(sock: socket.socket, reply: bytes, peer: Any) -> None:
        with contextlib.suppress(OSError):
            sock.sendto(reply, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._selector.close()
        for sock in self._sockets:
            sock.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _sockets(listen: str | None, count: int, spread: str) -> list[socket.socket]:
    from stonith.mocks._common import split_listen

    host, port = split_listen(listen or "127.0.0.1:0")
    socks: list[socket.socket] = []
    try:
        for index in range(count):
            if spread == "ips":
                import ipaddress

                address = str(ipaddress.ip_address(host) + index)
                socks.append(_bind(address, port))
            else:
                socks.append(_bind(host, port + index if port else 0))
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> _bmc.RunningBmcs:
    if serial_link:
        raise ValueError("an IPMI BMC has no serial link here (use --listen)")
    try:
        suites = tuple(int(s) for s in str(config.options.get("cipher_suites") or "3,17").split(",") if s)
        kg = bytes.fromhex(str(config.options.get("kg") or ""))
    except ValueError:
        raise ValueError("--cipher-suites must be numbers and --kg hex digits") from None
    if not suites or any(s not in wire.CIPHER_SUITES for s in suites):
        raise ValueError(f"--cipher-suites: choose from {sorted(wire.CIPHER_SUITES)}")
    count = int(config.options.get("count") or 1)
    socks = _sockets(listen, count, str(config.options.get("spread") or "ports"))
    try:
        addresses = [join_hostport(*s.getsockname()[:2]) for s in socks]
        lab = _bmc.build_lab(config, addresses)
        bmcs = [
            (sock, Bmc(lab.chassis[address], config, suites, kg))
            for sock, address in zip(socks, addresses, strict=True)
        ]
        server = Server(bmcs, float(config.options.get("slow") or 0.0))
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    lab.start()
    server.start()
    info: dict[str, Any] = {"type": config.type, "model": config.model, "address": addresses[0]}
    if count > 1:
        info["addresses"] = addresses
    return _bmc.RunningBmcs(info, lab, [server.close])

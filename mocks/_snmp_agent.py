"""The SNMP agent of the SNMP mocks: a family's MIB tables over the outlets' ground truth, and the
SNMP message handling (v1, v2c and v3; GET, GETNEXT, GETBULK, SET).

The families (what each PDU serves) are data in stonith.mocks.snmp_pdu; the wire (BER, USM) is
stonith.mocks._snmp_wire.  The agent's behaviour where the MIBs are silent is described there too.
"""

from __future__ import annotations

import bisect
import contextlib
import hmac
import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from stonith.mocks._common import OFF, ON, Outlets, split_listen
from stonith.mocks._snmp_wire import (
    AUTH_HASHES,
    COUNTER32,
    DECRYPTION_ERROR,
    END_OF_MIB_VIEW,
    GET,
    GETBULK,
    GETNEXT,
    INTEGER,
    NO_ACCESS,
    NO_CREATION,
    NO_ERROR,
    NO_SUCH_INSTANCE,
    NO_SUCH_NAME,
    NO_SUCH_OBJECT,
    NOT_IN_TIME_WINDOW,
    NOT_WRITABLE,
    NULL,
    OCTETS,
    OID_TAG,
    PDU_NAMES,
    REPORT,
    RESPONSE,
    SEQUENCE,
    TIME_WINDOW,
    TIMETICKS,
    TOO_BIG,
    UNKNOWN_ENGINE_ID,
    UNKNOWN_USER,
    UNSUPPORTED_SEC_LEVEL,
    USM_STATS,
    V1_ERROR,
    WRONG_DIGEST,
    WRONG_LENGTH,
    WRONG_TYPE,
    WRONG_VALUE,
    BerError,
    User,
    _expect,
    children,
    dec_int,
    dec_oid,
    dec_value,
    decrypt,
    digest,
    enc_int,
    enc_varbind,
    encrypt,
    parse_user,
    read_tlv,
    tlv,
)

from stonith.contract.validation import join_hostport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from stonith.mocks._common import MockConfig

    Oid = tuple[int, ...]
    Value = tuple[int, Any]  # (BER tag, int | bytes | Oid | None)


SYSTEM = (1, 3, 6, 1, 2, 1, 1)
# SNMP-FRAMEWORK-MIB (RFC 3411) snmpEngine group, which every SNMPv3 engine implements: .1
# snmpEngineID, .2 snmpEngineBoots, .3 snmpEngineTime (seconds since the last boot), .4
# snmpEngineMaxMessageSize.  The same values the USM reports carry (net-snmp's snmpget reads them).
SNMP_ENGINE = (1, 3, 6, 1, 6, 3, 10, 2, 1)


@dataclass(frozen=True)
class Column:
    """One outlet column: OID prefix (the outlet index is appended) and what it holds.

    kind: ``name`` (rw if writable), ``number`` (the outlet number), ``label`` (``label`` formatted
    with the outlet number ``n``: a fixed identifier such as Sentry's "AA1"), ``state`` (``codes`` maps
    on/off/pending_on/pending_off/unknown to the MIB value), ``control`` (``actions`` maps a
    written value to on/off/reboot/none; ``codes`` the value read back, or ``idle``),
    ``pending`` (``codes`` yes/no), ``const`` (``idle`` is the value).
    """

    oid: Oid
    kind: str
    writable: bool = False
    codes: dict[str, int] = field(default_factory=dict)
    actions: dict[int, str] = field(default_factory=dict)
    idle: int | None = None
    label: str = ""


@dataclass(frozen=True)
class Family:
    key: str
    model: str
    sys_object_id: Oid
    descr: str
    index: Oid  # unit / cord prefix of every outlet index; the outlet number follows
    columns: tuple[Column, ...]
    scalars: Callable[[int, str], dict[Oid, Value]] = field(default=lambda count, model: {})
    max_name: int = 32


# ---------------------------------------------------------------------------------------------
# The agent


class SnmpAgent:
    """The PDU: its MIB over the outlets' ground truth, and the SNMP message handling."""

    def __init__(self, config: MockConfig, family: Family) -> None:
        self.config = config
        self.family = family
        options = config.options
        self.outlets = Outlets(
            config.names,
            config.states,
            relay_delay=config.relay_delay,
            faults=config.faults,
            state_file=config.state_file,
        )
        env_community = [c for c in os.environ.get("STONITH_MOCK_COMMUNITY", "").split(",") if c]
        self.rw = [c.encode() for c in (options.get("community") or env_community or ["private"])]
        self.ro = [c.encode() for c in (options.get("ro_community") or ["public"])]
        try:
            self.engine_id = bytes.fromhex(options.get("engine_id") or "80001f8804737469746820")
        except ValueError:
            raise ValueError("--engine-id must be hex") from None
        if not 5 <= len(self.engine_id) <= 32:
            raise ValueError("--engine-id must be 5 to 32 bytes")
        specs = list(options.get("v3_user") or [])
        specs += [s for s in os.environ.get("STONITH_MOCK_V3_USERS", "").split(";") if s.strip()]
        self.users = {u.name: u for u in (parse_user(s.strip(), self.engine_id) for s in specs)}
        self.reboot_delay = float(options.get("reboot_delay", 1.0))
        self.drop = float(options.get("drop") or 0.0)
        if not 0 <= self.drop <= 1:
            raise ValueError("--drop must be a fraction between 0 and 1")
        self.random = random.Random(options.get("seed"))
        self.max_size = int(options.get("max_size") or 1472)
        self.started = time.monotonic()
        self.boots = 1
        self.counts: dict[str, int] = {
            "requests": 0,
            "get": 0,
            "getnext": 0,
            "getbulk": 0,
            "set": 0,
            "reports": 0,
            "dropped": 0,
            "refused": 0,
        }
        self._targets: dict[int, str] = {}
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._salt = random.getrandbits(32)
        self._build_mib()

    # -- MIB --------------------------------------------------------------------------------
    def _build_mib(self) -> None:
        fam = self.family
        count = len(self.outlets)
        self.cells: dict[Oid, tuple[Column | None, int, Value | None]] = {}
        scalars: dict[Oid, Value] = {
            (*SYSTEM, 1, 0): (OCTETS, fam.descr.encode()),
            (*SYSTEM, 2, 0): (OID_TAG, fam.sys_object_id),
            (*SYSTEM, 3, 0): (TIMETICKS, 0),  # computed when read
            (*SYSTEM, 4, 0): (OCTETS, b"stonith-mock"),
            (*SYSTEM, 5, 0): (OCTETS, f"{fam.key}-mock".encode()),
            (*SYSTEM, 6, 0): (OCTETS, b"loopback"),
            **fam.scalars(count, fam.model),
            (*SNMP_ENGINE, 1, 0): (OCTETS, self.engine_id),
            (*SNMP_ENGINE, 2, 0): (INTEGER, self.boots),
            (*SNMP_ENGINE, 3, 0): (INTEGER, 0),  # computed when read
            (*SNMP_ENGINE, 4, 0): (INTEGER, 65507),  # the largest UDP datagram we take
        }
        for oid, value in scalars.items():
            self.cells[oid] = (None, 0, value)
        for column in fam.columns:
            for number in range(1, count + 1):
                self.cells[(*column.oid, *fam.index, number)] = (column, number, None)
        self.oids = sorted(self.cells)
        self.columns = [c.oid for c in fam.columns]

    def _shown(self, number: int) -> str:
        with self._lock:
            target = self._targets.get(number)
        truth = self.outlets.truth(number)
        if target is not None and target != truth:
            return "pending_" + target
        return self.outlets.shown(number)

    def read(self, oid: Oid) -> Value | None:
        cell = self.cells.get(oid)
        if cell is None:
            return None
        column, number, value = cell
        if column is None:
            assert value is not None
            if oid == (*SYSTEM, 3, 0):
                return TIMETICKS, int((time.monotonic() - self.started) * 100) & 0xFFFFFFFF
            if oid == (*SNMP_ENGINE, 3, 0):
                return INTEGER, self.engine_time()
            if oid == (*SNMP_ENGINE, 2, 0):
                return INTEGER, self.boots
            return value
        kind = column.kind
        if kind == "name":
            return OCTETS, self.outlets.names[number - 1].encode("utf-8")
        if kind == "number":
            return INTEGER, number
        if kind == "label":
            return OCTETS, column.label.format(n=number).encode("ascii")
        if kind == "const":
            return INTEGER, column.idle or 0
        shown = self._shown(number)
        if kind == "pending":
            return INTEGER, column.codes["yes" if shown.startswith("pending") else "no"]
        if kind == "control" and column.idle is not None:
            return INTEGER, column.idle
        codes = column.codes
        if shown not in codes:  # a family without pending states shows the state it comes from
            shown = {"pending_on": OFF, "pending_off": ON}.get(shown, shown)
        return INTEGER, codes.get(shown, codes.get("unknown", 0))

    def next_oid(self, oid: Oid) -> Oid | None:
        i = bisect.bisect_right(self.oids, oid)
        return self.oids[i] if i < len(self.oids) else None

    def check_set(self, oid: Oid, value: Value) -> tuple[int, Callable[[], None] | None]:
        """(error-status, the change to apply once every var-bind passed)."""
        cell = self.cells.get(oid)
        if cell is None:
            under_column = any(oid[: len(c)] == c for c in self.columns)
            return (NO_CREATION if under_column else NOT_WRITABLE), None
        column, number, _ = cell
        if column is None:
            return NOT_WRITABLE, None
        if column.kind == "name" and column.writable:
            if value[0] != OCTETS:
                return WRONG_TYPE, None
            try:
                name = bytes(value[1]).decode("utf-8")
            except UnicodeDecodeError:
                return WRONG_VALUE, None
            if len(name) > self.family.max_name or any(ord(c) < 0x20 for c in name):
                return WRONG_LENGTH, None
            return NO_ERROR, lambda: self._rename(number, name)
        if column.kind != "control":
            return NOT_WRITABLE, None
        if value[0] != INTEGER:
            return WRONG_TYPE, None
        action = column.actions.get(int(value[1]))
        if action is None:
            return WRONG_VALUE, None
        return NO_ERROR, lambda: self.command(number, action)

    def _rename(self, number: int, name: str) -> None:
        self.outlets.names[number - 1] = name

    def command(self, number: int, action: str) -> None:
        faults = self.config.faults
        if action == "none":
            return
        if action == "reboot":
            self.command(number, OFF)
            timer = threading.Timer(self.reboot_delay, self.command, (number, ON))
            timer.daemon = True
            with self._lock:
                self._timers = [t for t in self._timers if t.is_alive()] + [timer]
            timer.start()
            return
        if not (action == OFF and number in faults.stuck | faults.lie | faults.lie_status):
            with self._lock:
                self._targets[number] = action
        self.outlets.switch(number, action)

    # -- PDUs -------------------------------------------------------------------------------
    def process(
        self,
        tag: int,
        varbinds: list[tuple[Oid, Value]],
        a: int,
        b: int,
        version: int,
        writable: bool,
        max_size: int,
    ) -> tuple[int, int, list[bytes]]:
        """(error-status, error-index, encoded var-binds) for one request PDU."""
        self.counts[PDU_NAMES[tag]] += 1
        if tag == GET:
            out = []
            for i, (oid, _) in enumerate(varbinds):
                value = self.read(oid)
                if value is None:
                    if version == 0:
                        return NO_SUCH_NAME, i + 1, [enc_varbind(o, v) for o, v in varbinds]
                    exists = any(oid[: len(c)] == c for c in self.columns) or oid[:-1] in {
                        o[:-1] for o in self.oids if o[-1] == 0
                    }
                    value = (NO_SUCH_INSTANCE if exists else NO_SUCH_OBJECT, None)
                out.append(enc_varbind(oid, value))
            return NO_ERROR, 0, out
        if tag == GETNEXT:
            out = []
            for i, (oid, _) in enumerate(varbinds):
                nxt = self.next_oid(oid)
                if nxt is None:
                    if version == 0:
                        return NO_SUCH_NAME, i + 1, [enc_varbind(o, v) for o, v in varbinds]
                    out.append(enc_varbind(oid, (END_OF_MIB_VIEW, None)))
                else:
                    out.append(enc_varbind(nxt, self.read(nxt) or (NULL, None)))
            return NO_ERROR, 0, out
        if tag == GETBULK:
            return self._bulk(varbinds, max(0, a), max(0, b), max_size)
        # SET: all or nothing
        if not writable:
            return (NO_SUCH_NAME if version == 0 else NO_ACCESS), 1, [enc_varbind(o, v) for o, v in varbinds]
        changes = []
        for i, (oid, value) in enumerate(varbinds):
            error, change = self.check_set(oid, value)
            if error:
                code = V1_ERROR.get(error, error) if version == 0 else error
                return code, i + 1, [enc_varbind(o, v) for o, v in varbinds]
            assert change is not None
            changes.append(change)
        for change in changes:
            change()
        return NO_ERROR, 0, [enc_varbind(o, v) for o, v in varbinds]

    def _bulk(
        self, varbinds: list[tuple[Oid, Value]], non_repeaters: int, repetitions: int, max_size: int
    ) -> tuple[int, int, list[bytes]]:
        out: list[bytes] = []
        budget = max_size - 64  # message, PDU and community overhead
        size = 0

        def step(oid: Oid) -> tuple[Oid, bytes, bool]:
            nxt = self.next_oid(oid)
            if nxt is None:  # past the end: endOfMibView, repeated for the later repetitions
                return oid, enc_varbind(oid, (END_OF_MIB_VIEW, None)), True
            return nxt, enc_varbind(nxt, self.read(nxt) or (NULL, None)), False

        items: list[bytes] = [step(oid)[1] for oid, _ in varbinds[:non_repeaters]]
        cursors = [oid for oid, _ in varbinds[non_repeaters:]]
        done = [False] * len(cursors)
        for _ in range(repetitions if cursors else 0):
            if all(done):
                break
            for i, cursor in enumerate(cursors):
                cursors[i], item, end = step(cursor)
                done[i] = done[i] or end
                items.append(item)
            if size + sum(len(x) for x in items) > budget:
                break
        for item in items:
            if size + len(item) > budget:
                break  # RFC 3416 4.2.3: an answer too big loses var-binds from its end
            out.append(item)
            size += len(item)
        if not out and items:
            return TOO_BIG, 0, []
        return NO_ERROR, 0, out

    # -- messages ---------------------------------------------------------------------------
    def handle(self, data: bytes) -> bytes | None:
        """The answer to one datagram, or None (dropped, bad community, unparsable)."""
        faults = self.config.faults
        self.counts["requests"] += 1
        served = self.counts["requests"] - 1
        stop_after = min(x for x in (faults.silent_after, faults.drop_after, 1 << 62) if x is not None)
        if served >= stop_after or (self.drop and self.random.random() < self.drop):
            self.counts["dropped"] += 1
            return None
        try:
            answer = self._message(data)
        except (BerError, KeyError, IndexError, ValueError):
            return None
        if answer is not None and faults.garble_after is not None and served >= faults.garble_after:
            answer = bytes(b ^ 0x80 for b in answer)
        return answer

    def _message(self, data: bytes) -> bytes | None:
        msg = _expect(read_tlv(data, 0), SEQUENCE)
        parts = children(data, msg[1], msg[2])
        version = dec_int(data, *_expect(parts[0], INTEGER)[1:])
        if version == 3:
            return self._v3(data, parts)
        if version not in (0, 1) or len(parts) != 3:
            return None
        community = data[_expect(parts[1], OCTETS)[1] : parts[1][2]]
        refused = self.config.faults.refuse_login
        writable = community in self.rw and not refused
        if not writable and (community not in self.ro or refused):
            self.counts["refused"] += 1
            return None  # a wrong community is never answered
        tag, request_id, varbinds, a, b = self._pdu(data, parts[2])
        if tag not in PDU_NAMES or (tag == GETBULK and version == 0):
            return None
        status, index, encoded = self.process(tag, varbinds, a, b, version, writable, self.max_size)
        body = enc_int(version) + tlv(OCTETS, community) + self._response(request_id, status, index, encoded)
        return tlv(SEQUENCE, body)

    @staticmethod
    def _pdu(data: bytes, item: tuple[int, int, int]) -> tuple[int, int, list[tuple[Oid, Value]], int, int]:
        tag = item[0]
        fields = children(data, item[1], item[2])
        request_id = dec_int(data, *_expect(fields[0], INTEGER)[1:])
        a = dec_int(data, *_expect(fields[1], INTEGER)[1:])
        b = dec_int(data, *_expect(fields[2], INTEGER)[1:])
        varbinds = []
        for vb in children(data, *_expect(fields[3], SEQUENCE)[1:]):
            pair = children(data, *_expect(vb, SEQUENCE)[1:])
            oid = dec_oid(data, *_expect(pair[0], OID_TAG)[1:])
            varbinds.append((oid, dec_value(data, pair[1])))
        return tag, request_id, varbinds, a, b

    @staticmethod
    def _response(
        request_id: int, status: int, index: int, varbinds: list[bytes], tag: int = RESPONSE
    ) -> bytes:
        return tlv(
            tag, enc_int(request_id) + enc_int(status) + enc_int(index) + tlv(SEQUENCE, b"".join(varbinds))
        )

    # -- SNMPv3 -----------------------------------------------------------------------------
    def engine_time(self) -> int:
        return int(time.monotonic() - self.started) + 1

    def _v3(self, data: bytes, parts: list[tuple[int, int, int]]) -> bytes | None:
        header = children(data, *_expect(parts[1], SEQUENCE)[1:])
        msg_id = dec_int(data, *header[0][1:])
        max_size = min(dec_int(data, *header[1][1:]), 65507)
        flags = data[header[2][1]] if header[2][2] > header[2][1] else 0
        if dec_int(data, *header[3][1:]) != 3:
            return None  # not USM
        sec = _expect(parts[2], OCTETS)
        usm = children(data, *_expect(read_tlv(data, sec[1]), SEQUENCE)[1:])
        engine_id = data[usm[0][1] : usm[0][2]]
        boots = dec_int(data, *usm[1][1:])
        their_time = dec_int(data, *usm[2][1:])
        user_name = data[usm[3][1] : usm[3][2]]
        auth_at = usm[4]
        salt = data[usm[5][1] : usm[5][2]]
        level = flags & 3
        plain_id = 0
        if not level & 2 and parts[3][0] == SEQUENCE:
            with contextlib.suppress(BerError, IndexError):
                scoped = children(data, parts[3][1], parts[3][2])
                plain_id = dec_int(data, *children(data, scoped[2][1], scoped[2][2])[0][1:])
        if engine_id != self.engine_id:
            return self._report(msg_id, plain_id, UNKNOWN_ENGINE_ID, user_name, None)
        user = self.users.get(user_name)
        if user is None or self.config.faults.refuse_login:
            self.counts["refused"] += 1
            return self._report(msg_id, plain_id, UNKNOWN_USER, user_name, None)
        if level == 2 or level != user.level:
            return self._report(msg_id, plain_id, UNSUPPORTED_SEC_LEVEL, user_name, None)
        if level & 1:
            mac = data[auth_at[1] : auth_at[2]]
            zeroed = data[: auth_at[1]] + b"\0" * len(mac) + data[auth_at[2] :]
            if len(mac) != AUTH_HASHES[user.auth][1] or not hmac.compare_digest(mac, digest(user, zeroed)):
                self.counts["refused"] += 1
                return self._report(msg_id, plain_id, WRONG_DIGEST, user_name, None)
            if boots != self.boots or abs(their_time - self.engine_time()) > TIME_WINDOW:
                return self._report(msg_id, plain_id, NOT_IN_TIME_WINDOW, user_name, user)
        payload = data
        scoped_item = parts[3]
        if level & 2:
            # With a wrong privacy key the plaintext is noise; it can still begin like a TLV. It is
            # a decryption error unless it is a well-formed scopedPDU SEQUENCE (RFC 3414 3.2 step
            # 8), never a silent drop.
            try:
                payload = decrypt(user, data[parts[3][1] : parts[3][2]], salt, boots, their_time)
                scoped_item = read_tlv(payload, 0)
                scoped = children(payload, *_expect(scoped_item, SEQUENCE)[1:])
                if len(scoped) < 3:
                    raise BerError("short scopedPDU")
                _expect(scoped[0], OCTETS)  # contextEngineID
                _expect(scoped[1], OCTETS)  # contextName
            except BerError:
                return self._report(msg_id, plain_id, DECRYPTION_ERROR, user_name, None)
        else:
            scoped = children(payload, *_expect(scoped_item, SEQUENCE)[1:])
        context_engine = payload[scoped[0][1] : scoped[0][2]]
        context_name = payload[scoped[1][1] : scoped[1][2]]
        tag, request_id, varbinds, a, b = self._pdu(payload, scoped[2])
        if tag not in PDU_NAMES:
            return None
        status, index, encoded = self.process(tag, varbinds, a, b, 3, True, max_size - 100 - len(user_name))
        pdu = tlv(
            SEQUENCE,
            tlv(OCTETS, context_engine)
            + tlv(OCTETS, context_name)
            + self._response(request_id, status, index, encoded),
        )
        return self._v3_message(msg_id, level, user, user_name, pdu)

    def _report(self, msg_id: int, request_id: int, which: int, user_name: bytes, user: User | None) -> bytes:
        self.counts["reports"] += 1
        counter = enc_varbind((*USM_STATS, which, 0), (COUNTER32, self.counts["reports"]))
        pdu = tlv(
            SEQUENCE,
            tlv(OCTETS, self.engine_id)
            + tlv(OCTETS, b"")
            + self._response(request_id, 0, 0, [counter], REPORT),
        )
        return self._v3_message(msg_id, 1 if user is not None else 0, user, user_name, pdu)

    def _v3_message(
        self, msg_id: int, level: int, user: User | None, user_name: bytes, scoped: bytes
    ) -> bytes:
        engine_time = self.engine_time()
        salt = b""
        msg_data = scoped
        if level & 2 and user is not None:
            self._salt = (self._salt + 1) & 0xFFFFFFFF
            salt = struct.pack(">II", self.boots, self._salt)
            msg_data = tlv(OCTETS, encrypt(user, scoped, salt, self.boots, engine_time))
        mac_size = AUTH_HASHES[user.auth][1] if level & 1 and user is not None else 0
        head = (
            tlv(OCTETS, self.engine_id) + enc_int(self.boots) + enc_int(engine_time) + tlv(OCTETS, user_name)
        )
        usm = tlv(SEQUENCE, head + tlv(OCTETS, b"\0" * mac_size) + tlv(OCTETS, salt))
        header = tlv(SEQUENCE, enc_int(msg_id) + enc_int(65507) + tlv(OCTETS, bytes([level])) + enc_int(3))
        body = enc_int(3) + header + tlv(OCTETS, usm) + msg_data
        message = tlv(SEQUENCE, body)
        if not mac_size:
            return message
        assert user is not None
        # The MAC's place: after the outer header, version, header, the security parameters'
        # OCTET STRING header, the USM SEQUENCE header, the fields before it and its own header.
        usm_header = len(usm) - len(head) - len(tlv(OCTETS, b"\0" * mac_size)) - len(tlv(OCTETS, salt))
        at = (len(message) - len(body)) + len(enc_int(3)) + len(header) + (len(tlv(OCTETS, usm)) - len(usm))
        at += usm_header + len(head) + 2
        return message[:at] + digest(user, message) + message[at + mac_size :]

    def close(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        self.outlets.close()


class SnmpMock:
    """A running agent on a UDP socket: ``info``, ``truth()``, ``close()`` as every mock."""

    def __init__(self, config: MockConfig, listen: str, family: Family) -> None:
        host, port = split_listen(listen)
        self.agent = SnmpAgent(config, family)
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(address_family, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            self.agent.close()
            raise
        self._sock.settimeout(0.2)
        bound_host, bound_port = self._sock.getsockname()[:2]
        address = join_hostport(bound_host, bound_port)
        self.info: dict[str, Any] = {"type": config.type, "model": self.agent.family.key, "address": address}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"snmp-mock-{bound_port}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            answer = self.agent.handle(data)
            if answer is not None:
                with contextlib.suppress(OSError):
                    self._sock.sendto(answer, peer)

    def truth(self) -> dict[str, Any]:
        snapshot = self.agent.outlets.snapshot()
        snapshot["requests"] = dict(self.agent.counts)
        return snapshot

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        with contextlib.suppress(OSError):
            self._sock.close()
        self.agent.close()

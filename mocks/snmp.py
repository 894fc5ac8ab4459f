"""Switched PDUs over SNMP, device end: one UDP agent serving the tables of each PDU family.

``stonith-mock TYPE`` with TYPE one of the SNMP driver types serves that family's tables
(``stonith-mock snmp_pdu --model FAMILY`` any of them):

    apcmastersnmp   APC MasterSwitch (PowerNet-MIB sPDUOutletControl/Config tables), sysObjectID
                    masterSwitchV2 .318.1.3.4.2, model AP9212
    apc_rpdu        APC rack PDU (PowerNet-MIB rPDUIdent/rPDUOutlet tables), masterSwitchrPDU
                    .318.1.3.4.5, model AP7920 (what cluster-glue's apcmastersnmp reads)
    apc_rpdu2       APC rack PDU 2 (PowerNet-MIB rPDU2OutletSwitched tables), masterSwitchrPDU2
                    .318.1.3.4.6, model AP8959; states 1 off / 2 on; also the legacy sPDUOutletControl
                    and rPDUOutletControl tables its firmware keeps (fence_apc_snmp reads them)
    eaton_epdu      Eaton ePDU G3 (EATON-EPDU-MIB), .534.6.6.7, strapping index 0; separate
                    outletControlOffCmd / OnCmd / RebootCmd objects (write 0 = now)
    raritan_pdu2    Raritan PX2 (PDU2-MIB), .13742.6, pdu id 1; states 7 on / 8 off
    sentry3         ServerTech Sentry3 (Sentry3-MIB), .1718.3, tower 1 infeed 1
    sentry4         ServerTech Sentry4 (Sentry4-MIB), .1718.4, unit 1 input cord 1
    cyberpower_pdu  CyberPower switched ePDU (CPS-MIB), .3808.1.1.3
    baytech_mrp     BayTech MRP (Baytech-MIB-403-1), .4779.1.3, module 1; one object for
                    state and control (0 off, 1 on, 2 reboot)
    ifmib           an Ethernet switch's IF-MIB (RFC 2863): ports by ifIndex, ifDescr/ifName/ifAlias
                    the port's name, ifAdminStatus 1 up / 2 down (set, and read back as the port
                    is), ifOperStatus following it; sysObjectID net-snmp's Linux .8072.3.2.10

The OIDs and values follow the vendor MIBs as compiled by pysnmp-mibs and APC's powernet369.mib
(wire-protocols.md section 3.1); where public client code disagrees with the MIB, the driver's
family docstring says so and this agent follows the MIB.

Protocol: SNMP v1, v2c and v3 (USM: auth MD5, SHA, SHA-224/256/384/512; privacy DES, AES-128,
AES-192/256 with Blumenthal key extension as net-snmp's ``AES192``/``AES256`` and Reeder's as
``AES192C``/``AES256C``), GET, GETNEXT, GETBULK and SET, with a BER codec of its own (no SNMP
library), so net-snmp's tools and pysnmp check it independently.  Communities: ``--community``
(read-write, default ``private``) and ``--ro-community`` (read-only, default ``public``), or
``STONITH_MOCK_COMMUNITY``; v3 users ``--v3-user NAME:AUTH:AUTHPASS:PRIV:PRIVPASS`` (AUTH
``none``/MD5/SHA/SHA224/SHA256/SHA384/SHA512, PRIV ``none``/DES/AES/AES192/AES256/AES192C/AES256C),
or ``STONITH_MOCK_V3_USERS`` (specs separated by ``;``) to keep the keys out of ``ps``.

Behaviour (choices where the MIBs are silent):
    - A SET is checked whole before anything is applied (wrongType, wrongValue, noCreation,
      notWritable, noAccess for a read-only community; v1 maps them to noSuchName / badValue).
    - A control object read back gives the outlet's present state in the command's encoding
      (APC rPDU/rPDU2, CyberPower, Raritan), ``none`` (Sentry) or -1 (Eaton: nothing pending).
    - While a relay has not yet followed (``--relay-delay``), families with pending states show
      them (Eaton pendingOff/pendingOn, Sentry offWait/onWait, APC command-pending columns).
    - reboot = off now, on ``--reboot-delay`` seconds later.
    - A wrong community gets no answer (as real agents); a v3 request gets the USM report.
    - GETBULK answers are cut to ``--max-size`` bytes (default 1472, one Ethernet frame).

Faults (``--fault``; N counts requests, not bytes, on this datagram protocol): ``silent[=N]`` and
``drop-after=N`` stop answering after N requests; ``garble[=N]`` flips every answer's bits from
request N on; ``refuse-login`` refuses every community and user (a wrong community); ``stuck=N``,
``lie=N``, ``lie-status=N`` as for every mock.  ``--drop FRACTION`` drops that share of requests
at random (``--seed`` makes it repeatable).

Every request is counted by PDU type; ``truth()["requests"]`` holds the counts, so tests can check
round trips.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import hmac
import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from stonith.mocks._common import OFF, ON, Outlets, split_listen

from stonith.fields import join_hostport

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from stonith.mocks._common import MockConfig

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


# ---------------------------------------------------------------------------------------------
# Families: the vendor MIB objects, as data

APC = (1, 3, 6, 1, 4, 1, 318)
SYSTEM = (1, 3, 6, 1, 2, 1, 1)
# SNMP-FRAMEWORK-MIB (RFC 3411) snmpEngine group, which every SNMPv3 engine implements: .1
# snmpEngineID, .2 snmpEngineBoots, .3 snmpEngineTime (seconds since the last boot), .4
# snmpEngineMaxMessageSize.  The same values the USM reports carry (net-snmp's snmpget reads them).
SNMP_ENGINE = (1, 3, 6, 1, 6, 3, 10, 2, 1)


def _o(text: str) -> Oid:
    return tuple(int(p) for p in text.strip(".").split("."))


@dataclass(frozen=True)
class Column:
    """One outlet column: OID prefix (the outlet index is appended) and what it holds.

    kind: ``name`` (rw if writable), ``number`` (the outlet number), ``state`` (``codes`` maps
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


def _apc_rpdu_scalars(count: int, model: str) -> dict[Oid, Value]:
    base = (*APC, 1, 1, 12, 1)  # rPDUIdent
    return {
        (*base, 1, 0): (OCTETS, b"rack-pdu"),
        (*base, 2, 0): (OCTETS, b"HW rev B2"),
        (*base, 3, 0): (OCTETS, b"v3.9.2"),
        (*base, 5, 0): (OCTETS, model.encode()),
        (*base, 6, 0): (OCTETS, b"ZA0912003456"),
        (*base, 8, 0): (INTEGER, count),
    }


def _apc_spdu_scalars(count: int, model: str) -> dict[Oid, Value]:
    base = (*APC, 1, 1, 4)
    return {
        (*base, 1, 1, 0): (OCTETS, b"B2"),
        (*base, 1, 2, 0): (OCTETS, b"v2.2.0"),
        (*base, 1, 3, 0): (OCTETS, b"05/14/1999"),
        (*base, 1, 4, 0): (OCTETS, model.encode()),
        (*base, 1, 5, 0): (OCTETS, b"WA9920123456"),
        (*base, 4, 1, 0): (INTEGER, count),
    }


def _rpdu2_scalars(count: int, model: str) -> dict[Oid, Value]:
    base = (*APC, 1, 1, 26)
    return {
        (*base, 2, 1, 1, 1): (INTEGER, 1),
        (*base, 2, 1, 8, 1): (OCTETS, model.encode()),
        (*base, 9, 1, 1, 0): (INTEGER, count),
    }  # rPDU2Ident module 1, rPDU2OutletSwitchedTableSize


ON_OFF = {ON: 1, OFF: 2}
APC_COMMANDS = {1: ON, 2: OFF, 3: "reboot", 4: ON, 5: OFF, 6: "reboot"}
# The older outlet tables an AP89xx (rPDU2, firmware 6.x) still serves beside rPDU2Outlet, for the
# clients written against them.  fence-agents' fence_apc_snmp, seeing sysObjectID .318.1.3.4.6
# (masterSwitchrPDU2), reads an outlet's state from sPDUOutletCtl, its name from
# sPDUOutletCtlName and switches through rPDUOutletControlOutletCommand (its class ApcMS6);
# without these tables it read noSuchObject as "off" and printed "Already OFF" for an outlet
# that was on.  PowerNet-MIB (APC powernet369.mib):
#   sPDUOutletControlTable   .1.3.6.1.4.1.318.1.1.4.4.2.1  (masterSwitch sPDUOutletControl)
#     .1 sPDUOutletCtlIndex, .2 sPDUOutletPending (1 commandPending, 2 noCommandPending),
#     .3 sPDUOutletCtl (read 1 outletOn, 2 outletOff, 4 outletUnknown; write 1 outletOn,
#        2 outletOff, 3 outletReboot, 5 outletOnWithDelay, 6 outletOffWithDelay,
#        7 outletRebootWithDelay), .4 sPDUOutletCtlName
#   rPDUOutletControlTable   .1.3.6.1.4.1.318.1.1.12.3.3.1  (rPDU rPDUOutletControl)
#     .1 rPDUOutletControlIndex, .2 rPDUOutletControlOutletName,
#     .4 rPDUOutletControlOutletCommand (write 1 immediateOn, 2 immediateOff, 3 immediateReboot,
#        4-6 the delayed ones; read back 1/2 as the outlet's present state)
LEGACY_APC_TABLES = (
    Column((*APC, 1, 1, 4, 4, 2, 1, 1), "number"),  # sPDUOutletCtlIndex
    Column((*APC, 1, 1, 4, 4, 2, 1, 2), "pending", codes={"yes": 1, "no": 2}),  # sPDUOutletPending
    Column(
        (*APC, 1, 1, 4, 4, 2, 1, 3),  # sPDUOutletCtl
        "control",
        codes={ON: 1, OFF: 2, "unknown": 4},
        actions={1: ON, 2: OFF, 3: "reboot", 5: ON, 6: OFF, 7: "reboot"},
    ),
    Column((*APC, 1, 1, 4, 4, 2, 1, 4), "name"),  # sPDUOutletCtlName
    Column((*APC, 1, 1, 12, 3, 3, 1, 1, 1), "number"),  # rPDUOutletControlIndex
    Column((*APC, 1, 1, 12, 3, 3, 1, 1, 2), "name"),  # rPDUOutletControlOutletName
    Column(
        (*APC, 1, 1, 12, 3, 3, 1, 1, 4), "control", codes=ON_OFF, actions=APC_COMMANDS
    ),  # rPDUOutletControlOutletCommand
)
FAMILIES: dict[str, Family] = {
    f.key: f
    for f in (
        Family(
            "apcmastersnmp",
            "AP9212",
            (*APC, 1, 3, 4, 2),
            "APC MasterSwitch AP9212 (PowerNet sPDU)",
            (),
            (
                Column((*APC, 1, 1, 4, 4, 2, 1, 1), "number"),  # sPDUOutletCtlIndex
                Column(
                    (*APC, 1, 1, 4, 4, 2, 1, 2), "pending", codes={"yes": 1, "no": 2}
                ),  # sPDUOutletPending
                # sPDUOutletCtl: read 1 outletOn / 2 outletOff / 4 outletUnknown; write 1 on, 2 off,
                # 3 reboot, 5/6/7 the same after the outlet's configured delays
                Column(
                    (*APC, 1, 1, 4, 4, 2, 1, 3),
                    "control",
                    codes={ON: 1, OFF: 2, "unknown": 4},
                    actions={1: ON, 2: OFF, 3: "reboot", 5: ON, 6: OFF, 7: "reboot"},
                ),
                Column((*APC, 1, 1, 4, 4, 2, 1, 4), "name"),  # sPDUOutletCtlName (read-only)
                Column((*APC, 1, 1, 4, 5, 2, 1, 1), "number"),  # sPDUOutletConfigIndex
                Column((*APC, 1, 1, 4, 5, 2, 1, 3), "name", writable=True),  # sPDUOutletName
                Column((*APC, 1, 1, 4, 5, 2, 1, 5), "const", idle=5),  # sPDUOutletRebootDuration
            ),
            _apc_spdu_scalars,
            max_name=20,
        ),
        Family(
            "apc_rpdu",
            "AP7920",
            (*APC, 1, 3, 4, 5),
            "APC Switched Rack PDU (PowerNet rPDU)",
            (),
            (
                # rPDUOutletControlOutletCommand: write 1 immediateOn, 2 immediateOff, 3 immediateReboot,
                # 4-6 delayed; read back 1/2 = the present state (cluster-glue and Ironic read it so)
                Column((*APC, 1, 1, 12, 3, 3, 1, 1, 1), "number"),
                Column((*APC, 1, 1, 12, 3, 3, 1, 1, 2), "name"),
                Column((*APC, 1, 1, 12, 3, 3, 1, 1, 4), "control", codes=ON_OFF, actions=APC_COMMANDS),
                Column((*APC, 1, 1, 12, 3, 4, 1, 1, 1), "number"),
                Column((*APC, 1, 1, 12, 3, 4, 1, 1, 2), "name", writable=True),  # rPDUOutletConfigOutletName
                Column((*APC, 1, 1, 12, 3, 4, 1, 1, 6), "const", idle=5),  # rPDUOutletConfigRebootDuration
                Column((*APC, 1, 1, 12, 3, 5, 1, 1, 1), "number"),
                Column((*APC, 1, 1, 12, 3, 5, 1, 1, 2), "name"),  # rPDUOutletStatusOutletName
                Column((*APC, 1, 1, 12, 3, 5, 1, 1, 4), "state", codes=ON_OFF),  # rPDUOutletStatusOutletState
                Column((*APC, 1, 1, 12, 3, 5, 1, 1, 5), "pending", codes={"yes": 1, "no": 2}),
            ),
            _apc_rpdu_scalars,
            max_name=20,
        ),
        Family(
            "apc_rpdu2",
            "AP8959",
            (*APC, 1, 3, 4, 6),
            "APC Switched Rack PDU 2 (PowerNet rPDU2)",
            (),
            (
                Column((*APC, 1, 1, 26, 9, 2, 1, 1, 1), "number"),
                Column(
                    (*APC, 1, 1, 26, 9, 2, 1, 1, 3), "name", writable=True
                ),  # rPDU2OutletSwitchedConfigName
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 1), "number"),
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 2), "const", idle=1),  # ...StatusModule
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 3), "name"),  # rPDU2OutletSwitchedStatusName
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 4), "number"),  # ...StatusNumber
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 5), "state", codes={OFF: 1, ON: 2}),  # 1 off, 2 on
                Column((*APC, 1, 1, 26, 9, 2, 3, 1, 6), "pending", codes={"yes": 1, "no": 2}),
                Column((*APC, 1, 1, 26, 9, 2, 4, 1, 1), "number"),
                # rPDU2OutletSwitchedControlCommand: 1 immediateOn, 2 immediateOff, 3 immediateReboot,
                # 4 outletUnknown, 5-7 delayed, 8 cancelPendingCommand
                Column(
                    (*APC, 1, 1, 26, 9, 2, 4, 1, 5),
                    "control",
                    codes=ON_OFF,
                    actions={1: ON, 2: OFF, 3: "reboot", 5: ON, 6: OFF, 7: "reboot", 8: "none"},
                ),
                *LEGACY_APC_TABLES,
            ),
            _rpdu2_scalars,
        ),
        Family(
            "eaton_epdu",
            "EMA107-10",
            (1, 3, 6, 1, 4, 1, 534, 6, 6, 7),
            "Eaton ePDU MA 0U (EATON-EPDU-MIB)",
            (0,),
            (
                Column(_o("1.3.6.1.4.1.534.6.6.7.6.1.1.2"), "number"),  # outletID-ish: outletIndex
                Column(_o("1.3.6.1.4.1.534.6.6.7.6.1.1.3"), "name", writable=True),  # outletName
                # outletControlStatus: 0 off, 1 on, 2 pendingOff, 3 pendingOn
                Column(
                    _o("1.3.6.1.4.1.534.6.6.7.6.6.1.2"),
                    "state",
                    codes={OFF: 0, ON: 1, "pending_off": 2, "pending_on": 3},
                ),
                # outletControlOffCmd / OnCmd / RebootCmd: write 0 = now (n > 0: in n s, -1: cancel)
                Column(_o("1.3.6.1.4.1.534.6.6.7.6.6.1.3"), "control", actions={0: OFF, -1: "none"}, idle=-1),
                Column(_o("1.3.6.1.4.1.534.6.6.7.6.6.1.4"), "control", actions={0: ON, -1: "none"}, idle=-1),
                Column(
                    _o("1.3.6.1.4.1.534.6.6.7.6.6.1.5"), "control", actions={0: "reboot", -1: "none"}, idle=-1
                ),
            ),
        ),
        Family(
            "raritan_pdu2",
            "PX2-5260R",
            (1, 3, 6, 1, 4, 1, 13742, 6),
            "Raritan PX2 (PDU2-MIB)",
            (1,),
            (
                Column(_o("1.3.6.1.4.1.13742.6.3.5.3.1.2"), "name"),  # outletLabel ("1", "2", ...)
                Column(_o("1.3.6.1.4.1.13742.6.3.5.3.1.3"), "name", writable=True),  # outletName
                # switchingOperation: write 0 off, 1 on, 2 cycle
                Column(
                    _o("1.3.6.1.4.1.13742.6.4.1.2.1.2"),
                    "control",
                    codes={OFF: 0, ON: 1},
                    actions={0: OFF, 1: ON, 2: "reboot"},
                ),
                # outletSwitchingState: 7 on, 8 off, -1 unavailable
                Column(_o("1.3.6.1.4.1.13742.6.4.1.2.1.3"), "state", codes={ON: 7, OFF: 8, "unknown": -1}),
            ),
        ),
        Family(
            "sentry3",
            "CW-24V2",
            (1, 3, 6, 1, 4, 1, 1718, 3),
            "Sentry Switched CDU (Sentry3-MIB)",
            (1, 1),
            (
                Column(_o("1.3.6.1.4.1.1718.3.2.3.1.2"), "name"),  # outletID (".AA1")
                Column(_o("1.3.6.1.4.1.1718.3.2.3.1.3"), "name", writable=True),  # outletName
                # outletStatus: 0 off, 1 on, 2 offWait, 3 onWait, 4 offError, 5 onError, 6 noComm ...
                Column(
                    _o("1.3.6.1.4.1.1718.3.2.3.1.5"),
                    "state",
                    codes={OFF: 0, ON: 1, "pending_off": 2, "pending_on": 3, "unknown": 6},
                ),
                # outletControlAction: 0 none, 1 on, 2 off, 3 reboot
                Column(
                    _o("1.3.6.1.4.1.1718.3.2.3.1.11"),
                    "control",
                    actions={0: "none", 1: ON, 2: OFF, 3: "reboot"},
                    idle=0,
                ),
            ),
        ),
        Family(
            "sentry4",
            "C2S24TE",
            (1, 3, 6, 1, 4, 1, 1718, 4),
            "Sentry Switched PDU (Sentry4-MIB)",
            (1, 1),
            (
                Column(_o("1.3.6.1.4.1.1718.4.1.8.2.1.2"), "name"),  # st4OutletID
                Column(_o("1.3.6.1.4.1.1718.4.1.8.2.1.3"), "name", writable=True),  # st4OutletName
                Column(_o("1.3.6.1.4.1.1718.4.1.8.3.1.1"), "state", codes={ON: 1, OFF: 2, "unknown": 0}),
                # st4OutletControlState: 10 off, 11 on, 9 pendOff, 8 pendOn
                Column(
                    _o("1.3.6.1.4.1.1718.4.1.8.5.1.1"),
                    "state",
                    codes={OFF: 10, ON: 11, "pending_off": 9, "pending_on": 8},
                ),
                # st4OutletControlAction: 0 none, 1 on, 2 off, 3 reboot, 4-6 queued
                Column(
                    _o("1.3.6.1.4.1.1718.4.1.8.5.1.2"),
                    "control",
                    actions={0: "none", 1: ON, 2: OFF, 3: "reboot", 4: ON, 5: OFF, 6: "reboot"},
                    idle=0,
                ),
            ),
        ),
        Family(
            "cyberpower_pdu",
            "PDU41004",
            (1, 3, 6, 1, 4, 1, 3808, 1, 1, 3),
            "CyberPower ePDU (CPS-MIB)",
            (),
            (
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.1"), "number"),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.2"), "name", writable=True),
                # ePDUOutletControlOutletCommand: 1 immediateOn, 2 immediateOff, 3 immediateReboot,
                # 4-6 delayed, 7 cancelPendingCommand; reads the present state as 1/2
                Column(
                    _o("1.3.6.1.4.1.3808.1.1.3.3.3.1.1.4"),
                    "control",
                    codes=ON_OFF,
                    actions={1: ON, 2: OFF, 3: "reboot", 4: ON, 5: OFF, 6: "reboot", 7: "none"},
                ),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.1"), "number"),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.2"), "name"),
                Column(_o("1.3.6.1.4.1.3808.1.1.3.3.5.1.1.4"), "state", codes=ON_OFF),
            ),
        ),
        Family(
            "baytech_mrp",
            "MRP-27",
            (1, 3, 6, 1, 4, 1, 4779, 1, 3),
            "BayTech MRP (Baytech-MIB-403-1)",
            (1,),
            (
                Column(
                    _o("1.3.6.1.4.1.4779.1.3.5.3.1.1"), "const", idle=1
                ),  # sBTAModulesRPCOutletModuleIndex
                Column(_o("1.3.6.1.4.1.4779.1.3.5.3.1.2"), "number"),  # ...OutletIndex
                # sBTAModulesRPCOutletState: 0 off, 1 on, 2 reboot, 3 lockon, 4 lockoff, 5 unlock, 6 unknown
                Column(
                    _o("1.3.6.1.4.1.4779.1.3.5.3.1.3"),
                    "control",
                    codes={OFF: 0, ON: 1, "unknown": 6},
                    actions={0: OFF, 1: ON, 2: "reboot"},
                ),
                Column(_o("1.3.6.1.4.1.4779.1.3.5.3.1.4"), "name", writable=True),
            ),
            max_name=16,
        ),
    )
}


def _ifmib_scalars(count: int, model: str) -> dict[Oid, Value]:
    return {(1, 3, 6, 1, 2, 1, 2, 1, 0): (INTEGER, count)}  # ifNumber


# IF-MIB (RFC 2863): a switch port is an "outlet" that fabric fencing sets down (fence_ifmib).
FAMILIES["ifmib"] = Family(
    "ifmib",
    "SW-24G",
    (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
    "24-port Ethernet switch (IF-MIB)",
    (),
    (
        Column(_o("1.3.6.1.2.1.2.2.1.1"), "number"),  # ifIndex
        Column(_o("1.3.6.1.2.1.2.2.1.2"), "name"),  # ifDescr
        # ifAdminStatus: write 1 up / 2 down (3 testing is refused); reads the port as it is
        Column(_o("1.3.6.1.2.1.2.2.1.7"), "control", codes=ON_OFF, actions={1: ON, 2: OFF}),
        # ifOperStatus: up 1 / down 2 as the port is (a port going down is still up until it is)
        Column(
            _o("1.3.6.1.2.1.2.2.1.8"),
            "state",
            codes={ON: 1, OFF: 2, "pending_off": 1, "pending_on": 2, "unknown": 4},
        ),
        Column(_o("1.3.6.1.2.1.31.1.1.1.1"), "name"),  # ifName
        Column(_o("1.3.6.1.2.1.31.1.1.1.18"), "name", writable=True),  # ifAlias
    ),
    scalars=_ifmib_scalars,
    max_name=64,
)
MODELS: dict[str, Family | None] = {"auto": None, **FAMILIES}
DEFAULT_MODEL = "auto"
SNMP_PDU_DEFAULT = "apc_rpdu"


def family_for(type_name: str, model: str) -> Family:
    if model == "auto":
        return FAMILIES[type_name if type_name in FAMILIES else SNMP_PDU_DEFAULT]
    if type_name not in (model, "snmp_pdu"):
        raise ValueError(f"--model {model}: a {type_name} mock serves the {type_name} family only")
    return FAMILIES[model]


# ---------------------------------------------------------------------------------------------
# stonith-mock module interface


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--community",
        action="append",
        default=None,
        metavar="C",
        help="read-write community (repeatable; default private; or STONITH_MOCK_COMMUNITY)",
    )
    parser.add_argument(
        "--ro-community",
        action="append",
        default=None,
        metavar="C",
        help="read-only community (repeatable; default public)",
    )
    parser.add_argument(
        "--v3-user",
        action="append",
        default=[],
        metavar="NAME:AUTH:AUTHPASS:PRIV:PRIVPASS",
        help="an SNMPv3 user (repeatable; or STONITH_MOCK_V3_USERS, ';'-separated)",
    )
    parser.add_argument(
        "--engine-id", default="80001f8804737469746820", metavar="HEX", help="snmpEngineID in hex"
    )
    parser.add_argument(
        "--reboot-delay",
        type=float,
        default=1.0,
        metavar="S",
        help="off time of a reboot command (default 1)",
    )
    parser.add_argument(
        "--drop", type=float, default=0.0, metavar="FRACTION", help="drop this fraction of requests at random"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of --drop")
    parser.add_argument(
        "--max-size",
        type=int,
        default=1472,
        metavar="BYTES",
        help="largest answer to a v1/v2c request (default 1472)",
    )


def default_outlets(model: str) -> int:
    return 8


def default_names(model: str, count: int) -> list[str]:
    return [f"Outlet {n}" for n in range(1, count + 1)]


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> SnmpMock:
    if serial_link:
        raise ValueError("an SNMP agent serves UDP only (no --serial-link)")
    return SnmpMock(config, listen or "127.0.0.1:0")


# ---------------------------------------------------------------------------------------------
# The agent


class SnmpAgent:
    """The PDU: its MIB over the outlets' ground truth, and the SNMP message handling."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.family = family_for(config.type, config.model)
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

    def __init__(self, config: MockConfig, listen: str) -> None:
        host, port = split_listen(listen)
        self.agent = SnmpAgent(config)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
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

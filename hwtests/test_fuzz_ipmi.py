"""Fuzzing the IPMI driver (lanplus and lan) with datagrams from a scripted BMC, and the wire decoders.

Properties and budgets: hwtests/fuzzing.py.
"""

from __future__ import annotations

import contextlib
import socket

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests.fuzzing import FUZZ, loads, make_driver, mutate, needs, read_device
from stonith.contract.driver import Outlet

# -- IPMI: datagrams from a scripted BMC ------------------------------------------------------------
#
# stonith.transport.ipmi.Session talks to a fake UDP socket in front of an in-process mocks/ipmi.py
# BMC.  Every datagram the console sends reaches the honest BMC (so the BMC acts on whatever was
# sent); what comes back is what the example's script says: the honest answer, nothing, a cut or
# bit-flipped answer, garbage before it, two copies, raw bytes, an answer re-framed around a
# shortened payload, or a forged answer with the right framing, tag and (in session) keys and any
# completion code and data.  A script that runs out answers honestly.


class FakeBmcSocket:
    def __init__(self, bmc, script: list[tuple], session, full_setup: bool) -> None:
        self.bmc = bmc
        self.script = script
        self.session = session
        self.full_setup = full_setup
        self.queue: list[bytes] = []
        self.commands: list[tuple[int, int]] = []  # (netfn, cmd) of every IPMI request sent
        # Readable while answers are queued: the session waits on this descriptor (stonith.contract.steps).
        self._bell, self._ring = socket.socketpair()
        self._bell.setblocking(False)

    def fileno(self) -> int:
        return self._bell.fileno()

    def recv(self, size: int) -> bytes:
        if self.queue:
            self._bell.recv(1)
            return self.queue.pop(0)[:size]
        raise BlockingIOError  # a non-blocking socket with nothing to read

    def close(self) -> None:
        self._bell.close()
        self._ring.close()

    def send(self, packet: bytes) -> int:
        from stonith.transport import ipmi_wire as wire

        with contextlib.suppress(ValueError, IndexError, KeyError, ImportError, __import__("struct").error):
            self.commands.append(wire.parse_message(self._message(packet))[:3:2])
        honest = self.bmc.handle(packet)
        action = self.script.pop(0) if self.script else ("pass",)
        try:
            out = self._answer(action, packet, honest)
        except (ValueError, IndexError, KeyError, __import__("struct").error):
            out = [honest]  # the action does not fit this exchange: answer honestly
        answers = [self._padded(o) if self.full_setup else o for o in out if o]
        self.queue += answers
        self._ring.send(b"." * len(answers))
        return len(packet)

    def _padded(self, answer: bytes) -> bytes:
        """``answer``, its session set-up payload padded (zeros) to the length the spec gives.

        Open Session Response >= 36 bytes, RAKP 2 >= 40, RAKP 4 >= 8, and an accepted Activate
        Session answer >= 10 bytes of data: shorter ones make Session.open raise IndexError or
        struct.error (covered by test_fuzz_ipmi_short_setup_replies), kept out of this test.
        """
        import struct

        from stonith.transport import ipmi_wire as wire

        with contextlib.suppress(ValueError, IndexError, struct.error):
            if answer[4] == 0x06:
                ptype, sid, seq, payload = wire.parse_v20(answer)
                need = {wire.OPEN_RESPONSE: 36, wire.RAKP2: 40, wire.RAKP4: 8}.get(ptype, 0)
                if len(payload) < need:
                    return wire.v20_packet(ptype, sid, seq, payload.ljust(need, b"\0"))
                return answer
            auth, seq, sid, _, msg = wire.parse_v15(answer)
            netfn, _, cmd, data = wire.parse_message(msg)
            activate = (netfn, cmd) == (wire.NETFN_APP | 1, wire.ACTIVATE_SESSION)
            if activate and data[:1] == b"\0" and len(data) < 10:
                body = msg[:-1] + bytes(10 - len(data))
                msg = body + bytes([wire.checksum(body[3:])])
                return wire.v15_packet(auth, seq, sid, msg, self.session.password)
        return answer

    def _message(self, packet: bytes) -> bytes:
        """The IPMI message inside a console datagram (decrypted with the session's keys)."""
        from stonith.transport import ipmi_wire as wire

        if packet[4] != 0x06:
            return wire.parse_v15(packet)[4]
        return wire.parse_v20(packet, self.session._keys if packet[5] & 0xC0 else None)[3]

    def _answer(self, action: tuple, packet: bytes, honest: bytes | None) -> list[bytes | None]:
        from stonith.transport import ipmi_wire as wire

        kind = action[0]
        if kind == "forge":
            return [self._reframe(packet, None, action[1], action[2])]
        out = mutate(action, honest, wire.RMCP_HEADER)
        if out is not None:
            return list(out)
        if kind == "shorten":
            return [self._reframe(packet, honest, None, action[1])]
        return [honest]

    def _reframe(self, packet: bytes, honest: bytes | None, cc: int | None, data: bytes | int) -> bytes:
        """A well-framed answer to ``packet``: forged (cc, data) or ``honest`` cut to ``data`` bytes."""
        from stonith.transport import ipmi_wire as wire

        keys = self.session._keys
        if packet[4] != 0x06:  # IPMI 1.5
            auth, seq, sid, _, request = wire.parse_v15(packet)
            if honest is not None:
                body = wire.parse_message(wire.parse_v15(honest)[4])[3]
                cc, data = body[0], body[1:][: int(data)]
            reply = wire.ipmi_response(request, cc, bytes(data))
            return wire.v15_packet(auth if sid else 0, seq, sid, reply, self.session.password)
        ptype = packet[5] & 0x3F
        if ptype in (wire.OPEN_REQUEST, wire.RAKP1, wire.RAKP3):  # session set-up: in the clear
            if honest is not None:
                payload = wire.parse_v20(honest)[3][: int(data)]
            else:
                payload = wire.parse_v20(packet)[3][:1] + bytes([cc]) + bytes(data)
            return wire.v20_packet(ptype + 1, 0, 0, payload)
        _, sid, seq, request = wire.parse_v20(packet, keys if packet[5] & 0xC0 else None)
        if honest is not None:
            body = wire.parse_message(wire.parse_v20(honest, keys if honest[5] & 0xC0 else None)[3])[3]
            cc, data = body[0], body[1:][: int(data)]
        reply = wire.ipmi_response(request, cc, bytes(data))
        return wire.v20_packet(wire.PAYLOAD_IPMI, sid, seq, reply, keys if packet[5] & 0xC0 else None)


def _ipmi_actions():
    rmcp = b"\x06\x00\xff\x07"
    return st.one_of(
        st.just(("pass",)),
        st.just(("drop",)),
        st.just(("twice",)),
        st.tuples(st.just("cut"), st.integers(0, 200)),
        st.tuples(st.just("flip"), st.integers(0, 200), st.integers(1, 255)),
        st.tuples(st.just("junk-first"), st.binary(max_size=40)),
        st.tuples(
            st.just("raw"),
            st.one_of(st.binary(max_size=60), st.binary(min_size=5, max_size=60).map(lambda b: rmcp + b)),
        ),
        st.tuples(st.just("shorten"), st.integers(0, 40)),
        st.tuples(
            st.just("forge"),
            st.one_of(st.just(0), st.integers(0, 255)),
            st.one_of(st.binary(max_size=40), st.sampled_from([b"", b"\x01", b"\x00", b"\x21\x00\x00"])),
        ),
    )


IPMI_READY = needs("cryptography") and loads("ipmilan")


@pytest.mark.skipif(not IPMI_READY, reason="cryptography or the ipmilan driver is not installed")
@pytest.mark.parametrize("interface", ["lanplus", "lan"])
@FUZZ
@given(script=st.lists(_ipmi_actions(), max_size=10))
def test_fuzz_ipmi_replies(monkeypatch, interface, script):
    ipmi_case(monkeypatch, interface, script, full_setup=True)


# Known bug (drivers' transport, not fixed here): stonith/transport/ipmi.py Session._rakp and
# _open_v15 index the BMC's session set-up answers without checking their length, so a
# well-framed but short Open Session Response, RAKP 2, RAKP 4 or Activate Session answer raises
# IndexError / struct.error out of IpmiLan.connect instead of a StonithError.  Minimal cases:
# lanplus, the Open Session Response payload cut to 1 byte (the tag) -> IndexError at
# ``status = payload[1]``; lan, an Activate Session answer with completion code 0 and no data ->
# struct.error at ``struct.unpack_from("<I", data, 1)``.  Unshrunk, so that it stays cheap.
@pytest.mark.skipif(not IPMI_READY, reason="cryptography or the ipmilan driver is not installed")
@pytest.mark.parametrize("interface", ["lanplus", "lan"])
@settings(FUZZ, phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False)
@given(script=st.lists(_ipmi_actions(), max_size=10))
@example(script=[("pass",), ("shorten", 1)])  # lanplus: Open Session Response = its tag
@example(script=[("pass",), ("pass",), ("shorten", 0)])  # lan: Activate Session, cc 0, no data
def test_fuzz_ipmi_short_setup_replies(monkeypatch, interface, script):
    ipmi_case(monkeypatch, interface, script, full_setup=False)


def ipmi_case(monkeypatch, interface: str, script: list[tuple], full_setup: bool) -> None:
    script = list(script)  # consumed as datagrams go out; examples are shared between parameters
    from stonith.mocks import _bmc
    from stonith.mocks._common import MockConfig
    from stonith.mocks.ipmi import Bmc

    from stonith.transport import ipmi_wire as wire
    from stonith.transport.ipmi import Session

    config = MockConfig("ipmilan", "generic", ["n1"], ["on"], "admin", "pw")
    lab = _bmc.build_lab(config, ["fake"])
    bmc = Bmc(lab.chassis["fake"], config, (3, 17), b"")
    sockets: list[FakeBmcSocket] = []

    def fake_socket(session):
        if session._sock is None:
            session._sock = FakeBmcSocket(bmc, script, session, full_setup)
            sockets.append(session._sock)
        return session._sock

    monkeypatch.setattr(Session, "_socket", fake_socket)
    driver = make_driver(
        "ipmilan",
        {
            "hostname": "n1",
            "ipaddr": "fake:623",
            "login": "admin",
            "password": "pw",
            "interface": interface,
            "retransmit": 0.1,
            "min_interval": 0,
        },
    )
    try:
        read_device(driver, [Outlet("1", "n1")])
    finally:
        lab.close()
    sent = [c for s in sockets for c in s.commands]
    assert (wire.NETFN_CHASSIS, wire.CHASSIS_CONTROL) not in sent, sent  # reading never switches
    assert lab.chassis["fake"].events == []


@pytest.mark.skipif(not needs("cryptography"), reason="cryptography is not installed")
@FUZZ
@given(st.binary(max_size=120), st.sampled_from([None, 3, 17]))
def test_fuzz_ipmi_decoders(data, suite):
    """The decoders raise only what Session._exchange treats as "not our answer"."""
    import struct

    from stonith.transport import ipmi_wire as wire

    keys = None if suite is None else wire.Keys(wire.CIPHER_SUITES[suite], b"k" * 20)
    for packet in (data, wire.RMCP_HEADER + data, wire.RMCP_HEADER + b"\x06" + data):
        for decode in (wire.parse_v15, lambda p: wire.parse_v20(p, keys), wire.parse_message):
            with contextlib.suppress(ValueError, struct.error, IndexError):
                decode(packet)

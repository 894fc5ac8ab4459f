"""IPMI 1.5 (interface=lan) against rogue BMCs: answers that do not prove the password are never believed.

``RogueBmc`` is a small UDP responder that plays a BMC through the whole IPMI 1.5 dialogue and always
reports the chassis off, but breaks one rule of session authentication (issue 21 item 1).  The two
attacks proper (a device that does not know the password answers unsigned, or signed with a guess)
run through the ``stonith`` command as a cluster would; the rules that a device knowing the password
could break (auth type NONE for the session, another session id, a replayed sequence number) run
against the transport directly.  A flood of datagrams must not hold the receive loop past its
deadline (item 9).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest

from stonith.contract.deadline import Deadline
from stonith.contract.errors import AuthFailed, StonithError, Timeout
from stonith.transport import ipmi_wire as wire
from stonith.transport.ipmi import V15_SEQ_WINDOW, Session, Unauthentic
from tests.conftest import run_stonith

USER, PASSWORD = "admin", "s3cret"
CHASSIS_OFF = bytes([0x20, 0x00, 0x00])  # Get Chassis Status byte 1: bit 0 clear = power off


class RogueBmc:
    """A BMC impostor on 127.0.0.1: answers every request, reports the chassis off.

    ``mode`` says how it signs its session answers:

    - ``unsigned``: auth type NONE everywhere (it does not know the password);
    - ``guessed``: MD5 auth codes computed with a wrong password;
    - ``none-in-session``: Activate Session signed with the password, every later answer NONE;
    - ``session-none``: Activate Session announces auth type NONE for the rest of the session;
    - ``foreign-session``: answers signed with the password for another session id;
    - ``replayed``: answers signed with the password, all with the same sequence number.
    """

    def __init__(self, mode: str, password: str = PASSWORD) -> None:
        self.mode = mode
        self.password = password.encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.controls: list[int] = []  # Chassis Control values it was sent
        self._temp_sid = 0x11223344
        self._sid = 0x55667788
        self._outbound = 1
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RogueBmc:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except (ValueError, struct.error, IndexError):
                continue
            if reply is not None:
                self.sock.sendto(reply, peer)

    def _answer(self, data: bytes) -> bytes | None:
        auth, _, sid, _, msg = wire.parse_v15(data)
        netfn, _, cmd, body = wire.parse_message(msg)
        if sid == 0:
            if cmd == wire.GET_AUTH_CAPS:
                types = (1 << wire.AUTH_MD5) | (1 << wire.AUTH_STRAIGHT)
                return wire.v15_packet(
                    0, 0, 0, wire.ipmi_response(msg, 0, bytes([1, types, 0, 0, 0, 0, 0, 0]))
                )
            if cmd == wire.GET_SESSION_CHALLENGE:
                answer = struct.pack("<I", self._temp_sid) + os.urandom(16)
                return wire.v15_packet(0, 0, 0, wire.ipmi_response(msg, 0, answer))
            return None
        if cmd == wire.ACTIVATE_SESSION:
            self._outbound = struct.unpack_from("<I", body, 18)[0]
            self._seq = self._outbound
            session_auth = wire.AUTH_NONE if self.mode == "session-none" else auth
            answer = bytes([session_auth]) + struct.pack("<II", self._sid, 1000) + bytes([4])
            return self._sign(wire.ipmi_response(msg, 0, answer), auth, 0, self._temp_sid, activate=True)
        if netfn == wire.NETFN_CHASSIS and cmd == wire.CHASSIS_STATUS:
            reply = wire.ipmi_response(msg, 0, CHASSIS_OFF)
        elif netfn == wire.NETFN_CHASSIS and cmd == wire.CHASSIS_CONTROL:
            self.controls.append(body[0])
            reply = wire.ipmi_response(msg, 0)
        elif cmd == wire.SET_SESSION_PRIV:
            reply = wire.ipmi_response(msg, 0, body[:1])
        else:
            reply = wire.ipmi_response(msg, 0)
        seq = self._seq
        if self.mode != "replayed":
            self._seq += 1
        return self._sign(reply, auth, seq, self._sid, activate=False)

    def _sign(self, reply: bytes, auth: int, seq: int, sid: int, *, activate: bool) -> bytes:
        mode = self.mode
        if mode == "unsigned" or (mode in ("none-in-session", "session-none") and not activate):
            return wire.v15_packet(wire.AUTH_NONE, seq, sid, reply)
        if mode == "guessed":
            return wire.v15_packet(auth, seq, sid, reply, b"password")
        if mode == "foreign-session" and not activate:
            sid ^= 0x100
        return wire.v15_packet(auth, seq, sid, reply, self.password)


def _off(rogue: RogueBmc, *extra: str, timeout: str = "1.5") -> object:
    return run_stonith(
        "-t",
        "ipmilan",
        "--timeout",
        timeout,
        "hostname=node1",
        f"ipaddr={rogue.address}",
        f"login={USER}",
        f"password={PASSWORD}",
        "interface=lan",
        "min_interval=0",
        *extra,
        "-T",
        "off",
        "node1",
        timeout=30,
    )


@pytest.mark.parametrize(("mode", "auth"), [("unsigned", "md5"), ("guessed", "md5"), ("guessed", "straight")])
def test_a_bmc_that_does_not_know_the_password_never_verifies_an_off(mode: str, auth: str) -> None:
    with RogueBmc(mode) as rogue:
        started = time.monotonic()
        result = _off(rogue, f"auth={auth}")
        elapsed = time.monotonic() - started
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)  # S_ACCESS
    assert "failed authentication" in result.stderr
    assert "Traceback" not in result.stderr
    assert rogue.controls == []  # no session was believed, so no power command was ever sent
    assert elapsed < 6  # within the deadline (plus process start-up)


def _open(rogue: RogueBmc, deadline: float = 1.0) -> Session:
    session = Session(
        "127.0.0.1", rogue.port, username=USER, password=PASSWORD, interface="lan", retransmit=0.3
    )
    session.open(Deadline(deadline))
    return session


@pytest.mark.parametrize("mode", ["none-in-session", "foreign-session"])
def test_in_session_answers_must_be_signed_for_this_session(mode: str) -> None:
    with RogueBmc(mode) as rogue:
        session = Session(
            "127.0.0.1", rogue.port, username=USER, password=PASSWORD, interface="lan", retransmit=0.3
        )
        try:
            with pytest.raises(AuthFailed, match="failed authentication"):
                session.open(Deadline(1.0))  # Set Session Privilege is the first in-session answer
        finally:
            session.close()


def test_a_session_without_per_message_authentication_is_refused() -> None:
    with RogueBmc("session-none") as rogue:
        session = Session(
            "127.0.0.1", rogue.port, username=USER, password=PASSWORD, interface="lan", retransmit=0.3
        )
        try:
            with pytest.raises(AuthFailed, match="per-message authentication"):
                session.open(Deadline(1.0))
        finally:
            session.close()


def test_a_replayed_sequence_number_is_not_believed() -> None:
    # Every answer carries the same, correctly signed sequence number: the first (Set Session
    # Privilege) is new, the chassis status that follows is a replay and must not count.
    with RogueBmc("replayed") as rogue:
        session = _open(rogue)
        try:
            with pytest.raises(AuthFailed, match="sequence number"):
                session.command(wire.NETFN_CHASSIS, wire.CHASSIS_STATUS, b"", Deadline(1.0))
        finally:
            session.close()


def test_the_sequence_window() -> None:
    session = Session("127.0.0.1", 9, username=USER, password=PASSWORD, interface="lan")
    session._inbound = 100
    message = wire.ipmi_response(wire.ipmi_request(wire.NETFN_APP, wire.GET_DEVICE_ID, b"", 5), 0, b"x")

    def match(msg: bytes) -> bytes:
        return msg

    def answer(seq: int) -> object:
        packet = wire.v15_packet(wire.AUTH_MD5, seq, 7, message, PASSWORD.encode())
        return session._v15_answer(packet, 7, match)

    assert answer(101) == message
    assert answer(105) == message  # a few lost answers (retransmissions) are fine
    for stale in (105, 104, 100, 105 + V15_SEQ_WINDOW + 1):
        with pytest.raises(Unauthentic):
            answer(stale)
    assert answer(105 + V15_SEQ_WINDOW) == message


class _FloodSocket:
    """A connected UDP socket that always has another unrelated datagram waiting."""

    def __init__(self) -> None:
        self.reads = 0
        self._junk = wire.v15_packet(0, 0, 0, wire.ipmi_response(wire.ipmi_request(6, 0x38, b"", 63), 0))
        self._started = time.monotonic()
        # A descriptor that always polls readable, as the flooded socket's would.
        self._readable, self._writer = socket.socketpair()
        self._writer.send(b"x")

    def send(self, data: bytes) -> int:
        return len(data)

    def recv(self, size: int) -> bytes:
        self.reads += 1
        if time.monotonic() - self._started > 10:
            raise RuntimeError("the receive loop never looked at its deadline")
        return self._junk

    def fileno(self) -> int:
        return self._readable.fileno()

    def close(self) -> None:
        self._readable.close()
        self._writer.close()


def test_a_flood_of_datagrams_does_not_hold_the_receive_loop_past_the_deadline() -> None:
    session = Session("127.0.0.1", 9, username=USER, password=PASSWORD, interface="lan", retransmit=0.2)
    flood = _FloodSocket()
    session._sock = flood  # type: ignore[assignment]
    started = time.monotonic()
    with pytest.raises(Timeout):
        session.open(Deadline(0.5))
    assert time.monotonic() - started < 1.0
    assert flood.reads > 0


def test_the_honest_mock_still_opens_an_ipmi15_session() -> None:
    from stonith.mocks.harness import start_mock

    with start_mock("ipmilan", names=["node1"], username=USER, password=PASSWORD) as mock:
        for auth in ("md5", "straight"):
            session = Session(
                mock.host, mock.port, username=USER, password=PASSWORD, interface="lan", auth=auth
            )
            try:
                session.open(Deadline(5))
                for _ in range(3):
                    cc, data = session.command(wire.NETFN_CHASSIS, wire.CHASSIS_STATUS, b"", Deadline(5))
                    assert cc == 0 and data
            except StonithError as exc:
                pytest.fail(f"auth={auth}: {exc}")
            finally:
                session.close()

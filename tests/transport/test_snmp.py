"""stonith.transport.snmp (pysnmp) against the SNMP agent mock: versions, USM, deadlines, errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.errors import AuthFailed, DeviceError, Timeout, Unreachable
from stonith.transport.snmp import END_OF_MIB, NO_SUCH, Credentials, Session

STATE = (1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 3, 5, 1, 1, 4)
CONTROL = (1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 3, 3, 1, 1, 4)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
AUTH_PASS, PRIV_PASS = "auth-pass-123", "priv-pass-456"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def session_for():
    sessions = []

    def make(mock, creds, **kwargs):
        session = Session(mock.host, mock.port, creds, **kwargs)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


@pytest.mark.parametrize("version", ["1", "2c"])
def test_get_set_walk_v1_v2c(version, session_for):
    with start_mock("apc_rpdu", outlets=12) as mock:
        s = session_for(mock, Credentials(version, community="private"))
        values = dict(s.get([SYS_OBJECT_ID, (*STATE, 3), (*STATE, 99)], Deadline(5)))
        assert values == {
            SYS_OBJECT_ID: (1, 3, 6, 1, 4, 1, 318, 1, 3, 4, 5),
            (*STATE, 3): 1,
            (*STATE, 99): NO_SUCH,
        }
        s.set([((*CONTROL, 3), 2), ((*CONTROL, 4), 2)], Deadline(5))
        rows = s.walk(STATE, Deadline(5))
        assert [v for _, v in rows] == [1, 1, 2, 2] + [1] * 8
        assert [o for o, _ in rows] == [(*STATE, n) for n in range(1, 13)]
        assert mock.state(3) == "off" and mock.state(4) == "off"


@pytest.mark.parametrize("auth", ["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"])
@pytest.mark.parametrize("priv", ["", "DES", "AES", "AES192", "AES256", "AES192C", "AES256C"])
def test_v3_every_auth_and_privacy_protocol(auth, priv, session_for):
    spec = f"u:{auth}:{AUTH_PASS}:{priv or 'none'}:{PRIV_PASS}"
    with start_mock("apc_rpdu", outlets=2, v3_user=[spec]) as mock:
        creds = Credentials(
            "3",
            user="u",
            auth_protocol=auth,
            auth_password=AUTH_PASS,
            priv_protocol=priv,
            priv_password=PRIV_PASS if priv else "",
        )
        s = session_for(mock, creds)
        assert s.get([(*STATE, 1)], Deadline(5)) == [((*STATE, 1), 1)]
        s.set([((*CONTROL, 1), 2)], Deadline(5))
        assert mock.state(1) == "off"


def test_v3_refusals_are_auth_failures(session_for):
    with start_mock("apc_rpdu", outlets=2, v3_user=[f"u:SHA:{AUTH_PASS}:AES:{PRIV_PASS}"]) as mock:
        cases = [
            Credentials("3", user="u", auth_password="wrong-pass-1", priv_password=PRIV_PASS),
            Credentials("3", user="u", auth_password=AUTH_PASS, priv_password="wrong-pass-2"),
            Credentials("3", user="nobody", auth_password=AUTH_PASS, priv_password=PRIV_PASS),
            Credentials("3", user="u", auth_password=AUTH_PASS),  # authNoPriv for an authPriv user
        ]
        for creds in cases:
            with pytest.raises(AuthFailed) as info:
                session_for(mock, creds, timeout=1.0, retries=1).get([(*STATE, 1)], Deadline(5))
            assert AUTH_PASS not in str(info.value) and PRIV_PASS not in str(info.value)


def test_read_only_community_and_bad_values():
    with start_mock("apc_rpdu", outlets=2) as mock:
        ro = Session(mock.host, mock.port, Credentials("2c", community="public"))
        with pytest.raises(AuthFailed, match="may only read"):
            ro.set([((*CONTROL, 1), 2)], Deadline(3))
        ro.close()
        rw = Session(mock.host, mock.port, Credentials("2c", community="private"))
        with pytest.raises(DeviceError, match="wrongValue"):
            rw.set([((*CONTROL, 1), 2), ((*CONTROL, 2), 42)], Deadline(3))
        with pytest.raises(DeviceError, match="notWritable"):
            rw.set([((*STATE, 1), 2)], Deadline(3))
        rw.close()
        assert mock.events() == []


def test_walk_follows_cut_answers_and_ends_at_the_mib_end():
    with start_mock("raritan_pdu2", outlets=40, max_size=400) as mock:
        s = Session(mock.host, mock.port, Credentials("2c", community="public"))
        state = (1, 3, 6, 1, 4, 1, 13742, 6, 4, 1, 2, 1, 3)
        rows = s.walk(state, Deadline(5), max_repetitions=50)
        assert len(rows) == 40 and mock.truth()["requests"]["getbulk"] > 1
        assert s.get([(1, 3, 6, 1, 4, 1, 99999, 1)], Deadline(5))[0][1] is NO_SUCH
        s.close()
        assert END_OF_MIB is not NO_SUCH


def test_retries_overcome_dropped_requests():
    with start_mock("apc_rpdu", outlets=2, drop=0.5, seed=3) as mock:
        s = Session(mock.host, mock.port, Credentials("2c", community="private"), timeout=0.1, retries=10)
        for _ in range(10):
            assert s.get([(*STATE, 1)], Deadline(5))[0][1] == 1
        s.close()
        assert mock.truth()["requests"]["dropped"] > 0


def _silent_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # bound, never read: no ICMP, no answer
    return sock


@pytest.mark.parametrize("version", ["1", "2c", "3"])
def test_unreachable_agent_fails_within_timeout_times_tries(version):
    sock = _silent_port()
    creds = Credentials(
        version, community="private", user="u", auth_password=AUTH_PASS, priv_password=PRIV_PASS
    )
    s = Session("127.0.0.1", sock.getsockname()[1], creds, timeout=0.3, retries=1)
    start = time.monotonic()
    with pytest.raises(Unreachable, match="no answer"):
        s.get([(*STATE, 1)], Deadline(10))
    elapsed = time.monotonic() - start
    s.close()
    sock.close()
    assert 0.55 < elapsed < 1.0, elapsed


@pytest.mark.parametrize("operation", ["get", "set", "walk"])
def test_every_operation_respects_its_deadline(operation):
    with start_mock("apc_rpdu", outlets=2, faults=["silent=1"]) as mock:
        s = Session(mock.host, mock.port, Credentials("2c", community="private"), timeout=5, retries=5)
        s.get([(*STATE, 1)], Deadline(5))  # answered once, then the agent goes silent
        start = time.monotonic()
        with pytest.raises(Timeout):
            if operation == "get":
                s.get([(*STATE, 1)], Deadline(0.4))
            elif operation == "set":
                s.set([((*CONTROL, 1), 2)], Deadline(0.4))
            else:
                s.walk(STATE, Deadline(0.4))
        elapsed = time.monotonic() - start
        s.close()
        assert elapsed < 0.4 + 0.1, elapsed


def test_an_expired_deadline_fails_at_once_without_setting_up_an_engine():
    # A topology level that used up the time must not pay ~60 ms of engine set-up (much more on
    # a loaded machine) for a request it cannot make.
    s = Session("127.0.0.1", 9, Credentials("2c", community="private"), timeout=1)
    deadline = Deadline(0.001)
    time.sleep(0.01)
    start = time.monotonic()
    with pytest.raises(Timeout, match="deadline passed before get"):
        s.get([(*STATE, 1)], deadline)
    assert time.monotonic() - start < 0.05
    assert s._loop is None and s.requests == 0
    s.close()


def test_credentials_never_show_secrets():
    v2 = Credentials("2c", community="s3cr3t-community")
    v3 = Credentials("3", user="fencer", auth_password=AUTH_PASS, priv_password=PRIV_PASS)
    assert "s3cr3t" not in repr(v2) and AUTH_PASS not in repr(v3) and PRIV_PASS not in repr(v3)
    assert v3.level == "authPriv" and v3.auth_protocol == "SHA" and v3.priv_protocol == "AES"
    with pytest.raises(ValueError):
        Credentials("2c")
    with pytest.raises(ValueError):
        Credentials("3", user="u", auth_password="short")
    with pytest.raises(ValueError):
        Credentials("3", user="u", priv_protocol="AES", priv_password=PRIV_PASS)
    with pytest.raises(ValueError):
        Credentials("4", community="x")


def test_pysnmp_is_imported_lazily_and_only_by_the_transport():
    code = (
        "import sys, stonith.transport.snmp, stonith.drivers.snmp_pdu, stonith.mocks.snmp_pdu; "
        "print(any(m.startswith('pysnmp') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "False"
    importers = [
        str(path.relative_to(REPO))
        for folder in ("stonith", "drivers", "mocks")
        for path in (REPO / folder).rglob("*.py")
        if "import pysnmp" in path.read_text() or "from pysnmp" in path.read_text()
    ]
    assert importers == ["stonith/transport/snmp.py"]


def test_sessions_of_a_process_share_one_engine_per_kind_of_credentials(session_for):
    """Every v1/v2c session uses one engine; an SNMPv3 user with other keys gets one of its own (pysnmp
    keys its user table by user name: two PDUs with the same user and different passwords must both
    work), and the engines are built once, whatever the number of agents."""
    from stonith.transport import snmp

    v3 = f"fencer:SHA:{AUTH_PASS}:AES:{PRIV_PASS}"
    other = "fencer:SHA:other-auth-1:AES:other-priv-1"
    with (
        start_mock("apc_rpdu", outlets=2) as a,
        start_mock("apc_rpdu", outlets=2, community="second") as b,
        start_mock("apc_rpdu", outlets=2, v3_user=[v3]) as c,
        start_mock("apc_rpdu", outlets=2, v3_user=[other]) as d,
    ):
        sessions = [
            session_for(a, Credentials("2c", community="private")),
            session_for(b, Credentials("1", community="second")),
            session_for(c, Credentials("3", user="fencer", auth_password=AUTH_PASS, priv_password=PRIV_PASS)),
            session_for(
                d, Credentials("3", user="fencer", auth_password="other-auth-1", priv_password="other-priv-1")
            ),
        ]
        for _ in range(2):  # again: the second round reuses what the first one set up
            for s in sessions:
                assert s.get([(*STATE, 1)], Deadline(5)) == [((*STATE, 1), 1)]
        engines = {id(s._engine) for s in sessions}
        assert len(engines) == 3  # v1 and v2c together, each v3 key apart
        assert len({id(s._loop) for s in sessions}) == 1
        assert snmp._engines().loop is sessions[0]._loop


def test_a_forked_child_gets_engines_of_its_own(session_for):
    """A forked process has no engine thread: its first session builds it again, and works."""
    import multiprocessing

    with start_mock("apc_rpdu", outlets=2) as mock:
        parent = session_for(mock, Credentials("2c", community="private"))
        assert parent.get([(*STATE, 2)], Deadline(5)) == [((*STATE, 2), 1)]
        context = multiprocessing.get_context("fork")
        queue = context.Queue()

        def child() -> None:
            s = Session(mock.host, mock.port, Credentials("2c", community="private"))
            queue.put(s.get([(*STATE, 2)], Deadline(5)))

        process = context.Process(target=child)
        process.start()
        try:
            assert queue.get(timeout=20) == [((*STATE, 2), 1)]
        finally:
            process.join(10)
        assert parent.get([(*STATE, 2)], Deadline(5)) == [((*STATE, 2), 1)]


def test_a_var_bind_resolved_once_keeps_its_own_value(session_for, monkeypatch):
    """Var-binds are resolved against the MIB once per engine and kept, by OID *and* value: the
    same outlet's off (2) and on (1) are two entries, never each other's; the cache is bounded."""
    from stonith.transport import snmp

    monkeypatch.setattr(snmp, "RESOLVED_MAX", 3)
    with start_mock("apc_rpdu", outlets=4) as mock:
        s = session_for(mock, Credentials("2c", community="private"))
        s.get([(*STATE, 1)], Deadline(5))
        # The engine is the process's: earlier tests' var-binds are in its cache; start it afresh.
        s._engine.cache["stonith_varbinds"].clear()
        for value, state in ((2, "off"), (1, "on"), (2, "off"), (1, "on"), (2, "off")):
            s.set([((*CONTROL, 3), value)], Deadline(5))
            assert mock.state(3) == state
            assert s.get([(*STATE, 3)], Deadline(5)) == [((*STATE, 3), 2 if state == "off" else 1)]
        cache = s._engine.cache["stonith_varbinds"]
        assert len(cache) == 3  # off, on and the read: an entry each
        assert s.get([(*STATE, 4)], Deadline(5)) == [((*STATE, 4), 1)]
        assert len(cache) == 1  # a fourth var-bind: the cache was full, so it starts again

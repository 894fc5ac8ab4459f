"""The SNMP agent mock, checked by net-snmp's tools (an independent SNMP implementation).

net-snmp gets every secret from a temporary snmp.conf found through SNMPCONFPATH (defCommunity,
defAuthPassphrase, defPrivPassphrase), never from its command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stonith.drivers import snmp_pdu
from stonith.mocks import _snmp_agent as mock_agent
from stonith.mocks import _snmp_wire as mock_snmp
from stonith.mocks import snmp_pdu as mock_pdu
from stonith.mocks.harness import start_mock

from tests.conftest import require_peer

FAMILIES = [
    "apcmastersnmp",
    "apc_rpdu",
    "apc_rpdu2",
    "eaton_epdu",
    "raritan_pdu2",
    "sentry3",
    "sentry4",
    "cyberpower_pdu",
    "baytech_mrp",
]
DRIVERS = {cls.INFO.name: cls for cls in snmp_pdu.FAMILIES}
AUTH_PASS, PRIV_PASS = "auth-pass-123", "priv-pass-456"
USER = f"fencer:SHA:{AUTH_PASS}:AES:{PRIV_PASS}"
NAMES = ["node1", "node2", "web", "node4"]


def dotted(oid):
    return "." + ".".join(str(x) for x in oid)


class NetSnmp:
    """Runs net-snmp tools with a private snmp.conf; secrets live only in that file."""

    def __init__(self, tmp_path, address, **conf):
        self.address = address
        self.dir = tmp_path / f"conf-{len(list(tmp_path.iterdir()))}"
        self.dir.mkdir()
        lines = [f"{key} {value}" for key, value in conf.items()]
        path = self.dir / "snmp.conf"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        self.env = {
            **os.environ,
            "SNMPCONFPATH": str(self.dir),
            "MIBS": "",
            "MIBDIRS": str(self.dir),
            "HOME": str(self.dir),
        }

    # numeric OIDs and enumerations: these tests compare numbers (test_snmp_pdu_vendor_mibs, names)
    OUTPUT: tuple[str, ...] = ("-On", "-Oe")

    def run(self, tool, *args, check=True, retries=1, options=()):
        exe = require_peer(tool, "snmp")
        proc = subprocess.run(
            [exe, *self.OUTPUT, "-t", "1", "-r", str(retries), *options, self.address, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    def values(self, tool, *args):
        """{oid: value text} of the tool's output lines."""
        out = {}
        for line in self.run(tool, *args).stdout.splitlines():
            oid, _, rest = line.partition(" = ")
            if "No more variables" in rest:  # endOfMibView after the last object of the MIB
                continue
            out[oid.strip()] = rest.partition(": ")[2].strip().strip('"') if ": " in rest else rest.strip()
        return out


def v2c(tmp_path, mock, community="private"):
    return NetSnmp(tmp_path, mock.address, defVersion="2c", defCommunity=community)


def v3(tmp_path, mock, auth="SHA", priv="AES", auth_pass=AUTH_PASS, priv_pass=PRIV_PASS, user="fencer"):
    return NetSnmp(
        tmp_path,
        mock.address,
        defVersion="3",
        defSecurityName=user,
        defSecurityLevel="authPriv",
        defAuthType=auth,
        defPrivType=priv,
        defAuthPassphrase=auth_pass,
        defPrivPassphrase=priv_pass,
    )


def eventually(check, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the ground truth never followed"
        time.sleep(0.02)


def code_for(cls, state):
    return next(value for value, meaning in cls.STATES.items() if meaning == state)


# ---------------------------------------------------------------------------------------------
# Every family, read and switched by net-snmp


@pytest.mark.peer
@pytest.mark.parametrize("family", FAMILIES)
def test_netsnmp_reads_and_switches_every_family_v2c_and_v3(family, tmp_path):
    cls = DRIVERS[family]
    with start_mock(family, outlets=4, names=NAMES, v3_user=[USER], relay_delay=0.02) as mock:
        tools = v2c(tmp_path, mock)
        names = tools.values("snmpbulkwalk", dotted(cls.NAMES))
        assert list(names.values()) == NAMES
        walked = tools.values("snmpwalk", dotted(cls.STATE))
        assert len(walked) == 4 and set(walked.values()) == {str(code_for(cls, "on"))}
        oid_of = lambda column, n: dotted((*column, *cls.INDEX, n))  # noqa: E731
        # off through v2c
        column, value = cls.OFF_CMD
        tools.run("snmpset", oid_of(column, 2), "i", str(value))
        eventually(lambda: mock.state(2) == "off")
        assert tools.values("snmpget", oid_of(cls.STATE, 2)) == {
            oid_of(cls.STATE, 2): str(code_for(cls, "off"))
        }
        # on again through v3 authPriv SHA/AES
        secure = v3(tmp_path, mock)
        column, value = cls.ON_CMD
        secure.run("snmpset", oid_of(column, 2), "i", str(value))
        eventually(lambda: mock.state(2) == "on")
        assert secure.values("snmpget", oid_of(cls.STATE, 2))[oid_of(cls.STATE, 2)] == str(
            code_for(cls, "on")
        )
        assert len(secure.values("snmpbulkwalk", dotted(cls.STATE))) == 4
        assert [e["state"] for e in mock.events()] == ["off", "on"]


@pytest.mark.peer
@pytest.mark.parametrize(
    ("auth", "priv", "netsnmp_auth", "netsnmp_priv"),
    [
        ("MD5", "DES", "MD5", "DES"),
        ("SHA", "AES", "SHA", "AES"),
        ("SHA224", "AES192", "SHA-224", "AES-192"),
        ("SHA256", "AES256", "SHA-256", "AES-256"),
        ("SHA512", "AES", "SHA-512", "AES"),
        ("SHA", "AES256C", "SHA", "AES-256-C"),
        ("SHA384", "AES192C", "SHA-384", "AES-192-C"),
    ],
)
def test_v3_auth_and_privacy_protocols(auth, priv, netsnmp_auth, netsnmp_priv, tmp_path):
    spec = f"u1:{auth}:{AUTH_PASS}:{priv}:{PRIV_PASS}"
    with start_mock("apc_rpdu", outlets=2, v3_user=[spec]) as mock:
        tools = v3(tmp_path, mock, auth=netsnmp_auth, priv=netsnmp_priv, user="u1")
        assert tools.values("snmpget", ".1.3.6.1.2.1.1.2.0") == {
            ".1.3.6.1.2.1.1.2.0": ".1.3.6.1.4.1.318.1.3.4.5"
        }
        tools.run("snmpset", ".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.1", "i", "2")
        eventually(lambda: mock.state(1) == "off")


@pytest.mark.peer
def test_v3_refusals_as_net_snmp_reports_them(tmp_path):
    with start_mock("apc_rpdu", outlets=2, v3_user=[USER]) as mock:
        wrong_auth = v3(tmp_path, mock, auth_pass="not-the-password").run(
            "snmpget", ".1.3.6.1.2.1.1.1.0", check=False
        )
        assert wrong_auth.returncode != 0 and "Authentication failure" in wrong_auth.stderr
        wrong_priv = v3(tmp_path, mock, priv_pass="not-the-password").run(
            "snmpget", ".1.3.6.1.2.1.1.1.0", check=False
        )
        assert wrong_priv.returncode != 0 and "Decryption error" in wrong_priv.stderr
        unknown = v3(tmp_path, mock, user="nobody").run("snmpget", ".1.3.6.1.2.1.1.1.0", check=False)
        assert unknown.returncode != 0 and "Unknown user name" in unknown.stderr
        assert mock.truth()["outlets"]["1"]["state"] == "on"


@pytest.mark.peer
def test_a_wrong_privacy_key_is_always_a_decryption_error(tmp_path):
    # The plaintext of a wrong key is noise that now and then begins like a valid TLV: it must still
    # be answered with a decryptionError report, never dropped (which net-snmp sees as a timeout).
    with start_mock("apc_rpdu", outlets=2, v3_user=[USER]) as mock:
        client = v3(tmp_path, mock, priv_pass="not-the-password")
        for _ in range(40):  # every request has a fresh salt, so fresh noise; no retry to hide a drop
            result = client.run("snmpget", ".1.3.6.1.2.1.1.1.0", check=False, retries=0)
            assert result.returncode != 0 and "Decryption error" in result.stderr, result.stderr


@pytest.mark.peer
def test_error_statuses_v2c_and_v1(tmp_path):
    control = ".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4"
    with start_mock("apc_rpdu", outlets=4) as mock:
        rw = v2c(tmp_path, mock)
        assert "wrongValue" in rw.run("snmpset", f"{control}.1", "i", "9", check=False).stderr
        assert "wrongType" in rw.run("snmpset", f"{control}.1", "s", "on", check=False).stderr
        assert "noCreation" in rw.run("snmpset", f"{control}.77", "i", "1", check=False).stderr
        assert (
            "notWritable"
            in rw.run("snmpset", ".1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.1", "i", "2", check=False).stderr
        )
        # all or nothing: the good var-bind before a bad one is not applied
        both = rw.run("snmpset", f"{control}.1", "i", "2", f"{control}.2", "i", "9", check=False)
        assert "wrongValue" in both.stderr
        ro = v2c(tmp_path, mock, community="public")
        assert "noAccess" in ro.run("snmpset", f"{control}.1", "i", "2", check=False).stderr
        v1 = NetSnmp(tmp_path, mock.address, defVersion="1", defCommunity="private")
        assert "noSuchName" in v1.run("snmpget", f"{control}.77", check=False).stderr
        assert "noSuchName" in v1.run("snmpset", f"{control}.77", "i", "1", check=False).stderr
        assert "badValue" in v1.run("snmpset", f"{control}.1", "i", "9", check=False).stderr
        missing = rw.values("snmpget", f"{control}.77", ".1.3.6.1.4.1.99.1.0")
        assert "No Such Instance" in missing[f"{control}.77"]
        assert "No Such Object" in missing[".1.3.6.1.4.1.99.1.0"]
        time.sleep(0.1)
        assert mock.events() == []
        wrong = v2c(tmp_path, mock, community="wrong").run("snmpget", ".1.3.6.1.2.1.1.1.0", check=False)
        assert wrong.returncode != 0 and "Timeout" in wrong.stderr
        assert mock.truth()["requests"]["refused"] == 2  # net-snmp sent it twice (-r 1)


@pytest.mark.peer
def test_writable_names_and_cut_bulk_answers(tmp_path):
    with start_mock("apc_rpdu", outlets=48, max_size=600) as mock:
        tools = v2c(tmp_path, mock)
        tools.run("snmpset", ".1.3.6.1.4.1.318.1.1.12.3.4.1.1.2.3", "s", "db-server")
        names = tools.values("snmpbulkwalk", "-Cr60", ".1.3.6.1.4.1.318.1.1.12.3.5.1.1.2")
        assert len(names) == 48 and names[".1.3.6.1.4.1.318.1.1.12.3.5.1.1.2.3"] == "db-server"
        assert mock.truth()["outlets"]["3"]["name"] == "db-server"
        assert mock.truth()["requests"]["getbulk"] > 1  # 600 bytes do not hold 48 names


@pytest.mark.peer
def test_pending_state_while_the_relay_has_not_followed(tmp_path):
    with start_mock("eaton_epdu", outlets=2, relay_delay=0.6) as mock:
        tools = v2c(tmp_path, mock)
        tools.run("snmpset", ".1.3.6.1.4.1.534.6.6.7.6.6.1.3.0.1", "i", "0")
        assert tools.values("snmpget", ".1.3.6.1.4.1.534.6.6.7.6.6.1.2.0.1") == {
            ".1.3.6.1.4.1.534.6.6.7.6.6.1.2.0.1": "2"
        }  # pendingOff
        eventually(lambda: mock.state(1) == "off")
        assert (
            tools.values("snmpget", ".1.3.6.1.4.1.534.6.6.7.6.6.1.2.0.1")[
                ".1.3.6.1.4.1.534.6.6.7.6.6.1.2.0.1"
            ]
            == "0"
        )


@pytest.mark.peer
def test_reboot_command_and_faults(tmp_path):
    with start_mock("apc_rpdu", outlets=3, reboot_delay=0.2, faults=["stuck=2", "lie-status=3"]) as mock:
        tools = v2c(tmp_path, mock)
        tools.run("snmpset", ".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.1", "i", "3")
        eventually(lambda: [e["state"] for e in mock.events()] == ["off", "on"])
        tools.run("snmpset", ".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.2", "i", "2")  # stuck: acknowledged
        tools.run("snmpset", ".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.3", "i", "2")  # lies about it
        states = tools.values(
            "snmpget", ".1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.2", ".1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.3"
        )
        assert list(states.values()) == ["1", "2"]
        assert mock.state(2) == "on" and mock.state(3) == "on"


@pytest.mark.peer
@pytest.mark.parametrize(("fault", "answered"), [("silent=2", 2), ("refuse-login", 0)])
def test_stop_answering_faults(fault, answered, tmp_path):
    with start_mock("apc_rpdu", outlets=2, faults=[fault]) as mock:
        tools = v2c(tmp_path, mock)
        results = [
            tools.run("snmpget", ".1.3.6.1.2.1.1.3.0", check=False, retries=0).returncode for _ in range(3)
        ]
        assert results.count(0) == answered


def test_drop_fraction_is_counted():
    with start_mock("apc_rpdu", outlets=2, drop=0.5, seed=7) as mock:
        import socket

        m = mock_snmp
        pdu = m.tlv(
            m.GET,
            m.enc_int(1)
            + m.enc_int(0)
            + m.enc_int(0)
            + m.tlv(m.SEQUENCE, m.enc_varbind((1, 3, 6, 1, 2, 1, 1, 1, 0), (m.NULL, None))),
        )
        request = m.tlv(m.SEQUENCE, m.enc_int(1) + m.tlv(m.OCTETS, b"public") + pdu)  # v2c GET sysDescr.0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            answered = 0
            for _ in range(40):
                sock.sendto(request, (mock.host, mock.port))
                try:
                    sock.recvfrom(4096)
                    answered += 1
                except TimeoutError:
                    pass
        counts = mock.truth()["requests"]
        assert counts["requests"] == 40 and counts["dropped"] == 40 - answered and 5 < answered < 35


# ---------------------------------------------------------------------------------------------
# stonith-mock command line


def test_stonith_mock_command_line_keeps_secrets_off_argv(tmp_path):
    env = {
        **os.environ,
        "STONITH_MOCK_COMMUNITY": "t0p-secret-comm",
        "STONITH_MOCK_V3_USERS": f"fencer:SHA:{AUTH_PASS}:AES:{PRIV_PASS}",
    }
    state = tmp_path / "state.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-m",
            "stonith.mocks",
            "apcmastersnmp",
            "--listen",
            "127.0.0.1:0",
            "--outlets",
            "3",
            "--state-file",
            str(state),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        import json

        info = json.loads(proc.stdout.readline())
        assert info["type"] == "apcmastersnmp" and info["model"] == "apcmastersnmp"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"t0p-secret-comm" not in cmdline and AUTH_PASS.encode() not in cmdline
        if require_peer("snmpget", "snmp"):
            tools = NetSnmp(tmp_path, info["address"], defVersion="1", defCommunity="t0p-secret-comm")
            values = tools.values("snmpget", ".1.3.6.1.2.1.1.2.0", ".1.3.6.1.4.1.318.1.1.4.4.2.1.3.1")
            assert list(values.values()) == [".1.3.6.1.4.1.318.1.3.4.2", "1"]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
    assert json.loads(state.read_text())["outlets"]["1"]["state"] == "on"


@pytest.mark.parametrize(
    "argv",
    [
        ["apc_rpdu", "--v3-user", "bad"],
        ["apc_rpdu", "--v3-user", "u:SHA1:authpass1:AES:privpass1"],
        ["apc_rpdu", "--v3-user", "u:SHA:short:AES:privpass1"],
        ["apc_rpdu", "--model", "sentry3"],
        ["apc_rpdu", "--drop", "2"],
        ["apc_rpdu", "--serial-link", "/tmp/x"],
    ],
)
def test_bad_mock_options_are_usage_errors(argv):
    proc = subprocess.run(
        [sys.executable, "-m", "stonith.mocks", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd="/",
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr


def test_snmp_pdu_serves_any_family():
    with start_mock("snmp_pdu", model="sentry4", outlets=2) as mock:
        assert mock.info["model"] == "sentry4"


# ---------------------------------------------------------------------------------------------
# The BER codec


@given(st.integers(min_value=-(2**63), max_value=2**63))
def test_integer_round_trip(value):
    data = mock_snmp.enc_int(value)
    tag, start, end = mock_snmp.read_tlv(data, 0)
    assert tag == mock_snmp.INTEGER and end == len(data)
    assert mock_snmp.dec_int(data, start, end) == value
    if end - start > 1:  # minimal: the first nine bits are never all equal
        assert not (data[start] == 0 and data[start + 1] < 0x80) and not (
            data[start] == 0xFF and data[start + 1] >= 0x80
        )


@given(st.lists(st.integers(min_value=0, max_value=2**32), min_size=1, max_size=20))
def test_oid_round_trip(tail):
    oid = (1, 3, *tail)
    data = mock_snmp.enc_oid(oid)
    _, start, end = mock_snmp.read_tlv(data, 0)
    assert mock_snmp.dec_oid(data, start, end) == oid


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_crashes_the_agent(data):
    from stonith.mocks._common import MockConfig

    agent = mock_agent.SnmpAgent(
        MockConfig("apc_rpdu", "auto", ["a"], ["on"], "admin", "x"), mock_pdu.family_for("apc_rpdu", "auto")
    )
    try:
        answer = agent.handle(b"\x30" + bytes([len(data)]) + data if len(data) < 128 else data)
        assert answer is None or answer[:1] == b"\x30"
    finally:
        agent.close()


def test_key_localization_matches_rfc3414_appendix():
    # RFC 3414 A.3.1/A.3.2: password "maplesyrup", engine ID 000000000000000000000002
    engine = bytes.fromhex("000000000000000000000002")
    md5 = mock_snmp.localize(mock_snmp.password_to_key(b"maplesyrup", "md5"), engine, "md5")
    sha = mock_snmp.localize(mock_snmp.password_to_key(b"maplesyrup", "sha1"), engine, "sha1")
    assert md5.hex() == "526f5eed9fcce26f8964c2930787d82b"
    assert sha.hex() == "6695febc9288e36282235fc7151f128497b38f3f"


# ---------------------------------------------------------------------------------------------
# What independent clients read beyond the outlet tables (issue 20 item 4)


SNMP_ENGINE = "1.3.6.1.6.3.10.2.1"  # SNMP-FRAMEWORK-MIB snmpEngine group (RFC 3411)


@pytest.mark.peer
def test_snmp_engine_objects_as_net_snmp_reads_them(tmp_path):
    """snmpEngineID/Boots/Time answer (they were noSuchObject) with what the v3 engine uses (the
    configured engine ID, which net-snmp's v3 discovery then works with), a time that advances."""
    engine_id = "80001f8804737469746820"
    with start_mock("apc_rpdu2", outlets=2, v3_user=[USER], engine_id=engine_id) as mock:
        oids = [f".{SNMP_ENGINE}.{n}.0" for n in (1, 2, 3, 4)]
        for client in (v2c(tmp_path, mock), v3(tmp_path, mock)):
            first = client.values("snmpget", *oids)
            assert all("No Such" not in v for v in first.values()), first
            assert first[oids[0]].replace(" ", "").lower() == engine_id, first
            assert first[oids[1]] == "1" and int(first[oids[3]]) >= 484
            time.sleep(1.1)
            later = client.values("snmpget", oids[2])
            assert int(later[oids[2]]) > int(first[oids[2]]) >= 1


def _fence_apc_snmp(mock, *args):
    agent = require_peer("/usr/sbin/fence_apc_snmp", "fence-agents")
    return subprocess.run(
        [agent, "--ip", mock.host, "--ipport", str(mock.port), "--community", "private",
         "--snmp-version", "2c", "--power-wait", "0", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.peer
def test_fence_apc_snmp_against_the_rpdu2_mock(tmp_path):
    """fence-agents' own agent reads what an AP89xx serves it (the legacy sPDU/rPDU tables, see
    mocks/snmp_pdu.py LEGACY_APC_TABLES), judged by the mock's ground truth: it said "Already OFF"
    for an outlet that was on."""
    with start_mock("apc_rpdu2", outlets=4, names=NAMES, states="on,off,on,on") as mock:
        status = _fence_apc_snmp(mock, "--plug", "1", "--action", "status")
        assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status
        status = _fence_apc_snmp(mock, "--plug", "2", "--action", "status")
        assert (status.returncode, status.stdout.strip()) == (2, "Status: OFF"), status
        off = _fence_apc_snmp(mock, "--plug", "1", "--action", "off")
        assert off.returncode == 0 and "Already" not in off.stdout + off.stderr, off
        eventually(lambda: mock.state(1) == "off")
        assert mock.state(3) == "on" and mock.state(4) == "on"  # nothing else switched
        on = _fence_apc_snmp(mock, "--plug", "web", "--action", "on")  # a plug by its name
        assert on.returncode == 0, on
        eventually(lambda: mock.state(3) == "on")
        listed = _fence_apc_snmp(mock, "--action", "list")
        assert [line.split(",")[:2] for line in listed.stdout.split()] == [
            [str(i + 1), name] for i, name in enumerate(NAMES)
        ], listed
        reboot = _fence_apc_snmp(mock, "--plug", "4", "--action", "reboot")
        assert reboot.returncode == 0, reboot
        assert [e["state"] for e in mock.events() if e.get("outlet") in (4, "4")][-2:] == ["off", "on"]

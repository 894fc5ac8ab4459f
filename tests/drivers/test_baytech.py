"""The baytech driver against the BayTech mock, through our CLI and through independent peers.

Peers (``require_peer``): Debian's cluster-glue ``baytech`` C plugin (/usr/sbin/stonith, which
only speaks to port 23, hence a mock on 127.0.0.N:23 and root) and PowerMan's powermand with the
shipped ``baytech.dev`` / ``baytech-rpc3-nc.dev`` scripts.  Both run unmodified against the same
mock our driver is tested with, so the mock's dialogue is checked by third parties.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stonith.drivers.baytech import MODELS, Baytech, parse_status
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN
from stonith.contract.errors import BadConfig, StonithError
from stonith.transport.stream import Closed, Stream
from tests.conftest import require_peer, require_root, run_stonith

PERSONALITIES = ("rpc3", "rpc3a", "rpc5", "rpc3-nc", "rpc28-nc")
NAMES = ["node1", "node2", "web server", "node1"]  # node1 has two supplies
USER, PASSWORD = "admin", "s3cret"
FAST = {"relay_delay": 0.05, "reboot_delay": 0.2}


def mock_for(model, **options):
    settings_ = {"model": model, "names": NAMES, "username": USER, "password": PASSWORD, **FAST}
    settings_.update(options)
    return start_mock("baytech", **settings_)


def config_args(mock, password=PASSWORD):
    where = f"ttydev={mock.serial}" if mock.serial else f"ipaddr={mock.address}"
    return [where, f"login={USER}", f"password={password}"]


def glue(mock, *args, timeout="10", password=PASSWORD):
    result = run_stonith(
        "-t", "baytech", "--timeout", timeout, *config_args(mock, password), *args, timeout=60
    )
    assert "Traceback" not in result.stderr
    return result


def changes(mock, outlet):
    return [e["state"] for e in mock.events() if e["outlet"] == str(outlet)]


def eventually(check, timeout=2.0):
    """Peers return when the device acknowledged; the relays follow after the mock's relay delay."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "ground truth never reached the expected state"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# Status-table parsing


@pytest.mark.parametrize("model", PERSONALITIES)
def test_parse_screens_of_every_personality(model):
    from stonith.mocks import baytech as mock_baytech
    from stonith.mocks._common import MockConfig

    config = MockConfig(
        "baytech",
        model,
        names=mock_baytech.default_names(model, 4),
        states=[ON, OFF, ON, ON],
        username=USER,
        password=PASSWORD,
    )
    config.names[2] = "web server"
    device = mock_baytech.create(config)
    try:
        screen = device._screen() if device.personality.menus else device._nc_status()
    finally:
        device.close()
    key = {"rpc3": "RPC-3", "rpc3a": "RPC-3A", "rpc5": "RPC-5", "rpc3-nc": "RPC3-NC", "rpc28-nc": "RPC-28"}[
        model
    ]
    table = parse_status(screen.encode("latin-1"), MODELS[key])
    assert table["1"] == (config.names[0], ON)
    assert table["2"][1] == OFF
    assert table["3"] == ("web server", ON)
    assert list(table) == ["1", "2", "3", "4"]


def test_unparseable_state_is_unknown():
    row = b"      1       node1       1       Maybe \r\n      2       node2       2       On  \r\n"
    assert parse_status(row, MODELS["RPC-3"]) == {"1": ("node1", UNKNOWN), "2": ("node2", ON)}
    assert parse_status(b" 1)...node1           : ???          \r\n", MODELS["RPC3-NC"]) == {
        "1": ("node1", UNKNOWN)
    }


@given(st.binary(max_size=600), st.sampled_from(sorted(MODELS)))
def test_parser_never_raises(data, model):
    table = parse_status(data, MODELS[model])
    assert all(state in (ON, OFF, UNKNOWN) for _, state in table.values())


class FakeStream(Stream):
    """Plays arbitrary device output to the driver, then EOF; records what the driver sent, and
    how much of the output it had been shown when it sent each piece (the command log the
    fuzzers judge by: a command may only follow the device text that asks for it)."""

    def __init__(self, chunks):
        super().__init__("fake")
        self.chunks = list(chunks)
        self.shown = b""  # device output delivered so far
        self.log: list[tuple[bytes, bytes]] = []  # (what was sent, the output shown before it)

    @property
    def sent(self) -> bytes:
        return b"".join(data for data, _ in self.log)

    def sent_after(self, needle: bytes, token) -> bool:
        """Whether every piece holding ``needle`` was sent after ``token`` (bytes or a pattern)
        had appeared in the device's output."""
        for data, before in self.log:
            if needle in data:
                seen = token in before if isinstance(token, bytes) else token.search(before)
                if not seen:
                    return False
        return True

    def _recv(self, timeout):
        if not self.chunks:
            raise Closed("fake: EOF")
        chunk = self.chunks.pop(0)
        self.shown += chunk
        return chunk

    def _send(self, data, timeout):
        self.log.append((bytes(data), self.shown))

    def _close(self):
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.binary(max_size=80)
        | st.sampled_from(
            [
                b"RPC-3 Telnet Host",
                b"Enter username>",
                b"Enter password>",
                b"Enter Selection>",
                b"  RPC-3>",
                b"RPC3-NC>",
                b"(Y/N)>",
                b"Input error",
                b"Invalid password",
                b"RPC-28A>",
                b"RPC-9 Series",
                b"      1       node1       1       On  \r\n",
            ]
        ),
        max_size=12,
    )
)
def test_driver_meets_arbitrary_output_with_typed_errors_only(chunks):
    """Garbage from the device: a typed error with a documented exit code, no switching command
    ever (listing only reads), and the password only to a device that asked for it."""
    driver = Baytech({"ipaddr": "127.0.0.1", "login": "a", "password": "pw-fuzz"})
    stream = FakeStream(chunks)
    try:
        driver._stream = stream
        driver._login(stream, Deadline(1), wake=False)
        driver.outlets(Deadline(1))
    except StonithError as exc:
        assert 1 <= exc.exit_code <= 8, exc
    finally:
        driver.disconnect()
    assert not re.search(rb"(?i)\b(on|off|reboot)\s*\d", stream.sent), stream.log
    assert stream.sent_after(b"pw-fuzz", b"password>"), stream.log


def test_ipaddr_or_ttydev_is_required():
    with pytest.raises(BadConfig) as caught:
        Baytech({"login": "x"})
    assert caught.value.problems[0].field == "ipaddr"
    result = run_stonith("-t", "baytech", "login=x", "password=y", "-l")
    assert result.returncode == 3 and "ipaddr" in result.stderr


# ---------------------------------------------------------------------------------------------
# Our driver through our CLI, every personality, TCP and serial


@pytest.mark.parametrize("link", ["tcp", "serial"])
@pytest.mark.parametrize("model", PERSONALITIES)
def test_cli_list_status_off_on_reset(model, link, tmp_path):
    serial = str(tmp_path / "tty") if link == "serial" else None
    with mock_for(model, serial_link=serial) as mock:
        listed = glue(mock, "-l")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:4] == ["node1", "node2", "web server", "node1"]
        status = glue(mock, "-S")
        assert status.returncode == 0 and "device OK" in status.stderr

        off = glue(mock, "-T", "off", "NODE1")
        assert off.returncode == 0, off.stderr
        assert mock.state(1) == OFF and mock.state(4) == OFF and mock.state(2) == ON
        on = glue(mock, "-T", "on", "node1")
        assert on.returncode == 0, on.stderr
        assert mock.state(1) == ON and mock.state(4) == ON

        reset = glue(mock, "-T", "reset", "web server")
        assert reset.returncode == 0, reset.stderr
        assert changes(mock, 3) == [OFF, ON]
        assert changes(mock, 1) == [OFF, ON] and changes(mock, 2) == []


def _recording(driver):
    sent = []
    command = driver._command

    def record(text, deadline):
        sent.append(text)
        return command(text, deadline)

    driver._command = record
    return sent


@pytest.mark.parametrize("model", ["rpc3", "rpc3-nc"])
def test_every_outlet_at_once_is_one_command_and_a_subset_is_one_per_outlet(model):
    from stonith.fencing import engine

    with mock_for(model) as mock:
        driver = Baytech(
            {"ipaddr": mock.address, "login": USER, "password": PASSWORD}
            if mock.address
            else {"ttydev": mock.serial, "login": USER, "password": PASSWORD}
        )
        deadline = Deadline(20)

        def body(driver, deadline):
            everything = driver.outlets(deadline)
            sent = _recording(driver)
            driver.off_many(everything, deadline)
            # PowerMan's *_all rule, after a second table agrees that these are all the outlets
            assert sent == ["status", "off 0"]
            count = len(everything)
            eventually(lambda: all(mock.state(n) == OFF for n in range(1, count + 1)))
            sent.clear()
            driver.on_many(everything[:2], deadline)
            assert sent == ["on 1", "on 2"]
            eventually(lambda: [mock.state(n) for n in range(1, 5)] == [ON, ON, OFF, OFF])
            # A table that lost rows (line noise) must not pass for the whole device.
            driver._listed = frozenset({"3", "4"})
            sent.clear()
            driver.on_many(everything[2:4], deadline)
            assert sent == ["status", "on 3", "on 4"]
            return count

        count = engine.call(engine.one_device(driver).devices[0], deadline, body)
        eventually(lambda: [mock.state(n) for n in range(1, count + 1)] == [ON] * 4 + [OFF] * (count - 4))


def test_unknown_host_is_badhost():
    with mock_for("rpc3") as mock:
        result = glue(mock, "-T", "off", "nosuchnode")
        assert result.returncode == 4
        assert mock.events() == []


# ---------------------------------------------------------------------------------------------
# Failures: never success, never a traceback, always within the deadline


def test_wrong_password_is_s_access_with_one_line():
    with mock_for("rpc5") as mock:
        result = glue(mock, "-T", "off", "node1", password="wrong")
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "password" in result.stderr and "wrong" not in result.stderr
        assert mock.events() == []


def test_unreachable_device_fails_fast():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    start = time.monotonic()
    result = run_stonith(
        "-t", "baytech", "--timeout", "5", f"ipaddr=127.0.0.1:{port}", "login=a", "password=b", "-S"
    )
    assert result.returncode == 8 and "refused" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - start < 5


FAULTS = [
    ("rpc3", "silent", (6,)),
    ("rpc3", "silent=300", (6,)),
    ("rpc3-nc", "silent=200", (6,)),
    ("rpc3", "drop-after=150", (8,)),
    ("rpc3", "drop-after=700", (8,)),
    ("rpc28-nc", "drop-after=900", (8,)),
    ("rpc3", "garble", (8,)),
    ("rpc5", "garble=400", (8,)),
    ("rpc3a", "refuse-login", (2,)),
    ("rpc3", "stuck=1", (5, 6)),  # S_TIMEOUT when the deadline ends inside the last read-back
    ("rpc3-nc", "stuck=4", (5, 6)),
]


@pytest.mark.parametrize(("model", "fault", "codes"), FAULTS)
def test_every_fault_fails_within_the_deadline(model, fault, codes):
    with mock_for(model, faults=[fault]) as mock:
        start = time.monotonic()
        result = glue(mock, "-T", "off", "node1", timeout="2")
        took = time.monotonic() - start
        assert result.returncode in codes, (result.returncode, result.stderr)
        assert "ERROR" in result.stderr
        assert took < 2 + 1.5
        if fault.startswith("stuck"):
            stuck = fault.partition("=")[2]
            assert mock.state(stuck) == ON and changes(mock, stuck) == []


def test_second_session_is_busy_not_success():
    with mock_for("rpc3") as mock:
        host, port = mock.host, mock.port
        holder = socket.create_connection((host, port))
        try:
            time.sleep(0.2)
            result = glue(mock, "-S", timeout="3")
            assert result.returncode == 2 and "another session" in result.stderr
        finally:
            holder.close()


def test_lying_acknowledgement_is_caught_by_read_back():
    # The device acknowledges the off but the relay stays on: reading back exposes it.
    with mock_for("rpc3", faults=["lie=2"]) as mock:
        result = glue(mock, "-T", "off", "node2", timeout="2")
        assert result.returncode in (5, 6), result.stderr
        assert mock.state(2) == ON and changes(mock, 2) == []


def test_lying_status_is_invisible_to_any_single_channel_client_but_truth_shows_it():
    # A device that *reports* off while the relay stays on cannot be caught by reading it back;
    # the mock's ground truth shows it, which is what hwtests' invariants check.
    with mock_for("rpc3", faults=["lie-status=2"]) as mock:
        result = glue(mock, "-T", "off", "node2")
        assert result.returncode == 0
        assert mock.state(2) == ON and changes(mock, 2) == []


# ---------------------------------------------------------------------------------------------
# Peer 1: Debian's cluster-glue baytech plugin, unmodified, on 127.0.0.N:23


def run_glue_plugin(stonith, mock, *args):
    host = mock.host
    return subprocess.run(
        [stonith, "-t", "baytech", f"ipaddr={host}", f"login={USER}", f"password={PASSWORD}", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def mock_on_port_23(model, **options):
    """A mock on a free 127.0.0.N:23: cluster-glue has no port parameter."""
    require_root("cluster-glue's baytech plugin only connects to port 23")
    for n in random.sample(range(2, 255), 30):
        context = mock_for(model, listen=f"127.0.0.{n}:23", **options)
        try:
            mock = context.__enter__()
        except (OSError, SystemExit):
            continue  # address in use
        try:
            yield mock
        finally:
            context.__exit__(None, None, None)
        return
    pytest.fail("no free 127.0.0.N:23")


@pytest.mark.peer
@pytest.mark.parametrize("model", ["rpc3", "rpc5"])
def test_cluster_glue_plugin_against_mock(model):
    stonith = require_peer("/usr/sbin/stonith", "cluster-glue")
    with mock_on_port_23(model, names=["node1", "node2", "web server"]) as mock:
        listed = run_glue_plugin(stonith, mock, "-l")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:3] == ["node1", "node2", "web server"]
        assert run_glue_plugin(stonith, mock, "-S").returncode == 0
        reset = run_glue_plugin(stonith, mock, "-T", "reset", "node2")
        assert reset.returncode == 0, reset.stderr
        eventually(lambda: changes(mock, 2) == [OFF, ON])
        assert changes(mock, 1) == []


# ---------------------------------------------------------------------------------------------
# Peer 2: PowerMan's powermand with the shipped BayTech scripts, unmodified


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pm(pm_bin, port, *args):
    return subprocess.run(
        [pm_bin, "-h", f"127.0.0.1:{port}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def pm_states(pm_bin, port):
    out = pm(pm_bin, port, "-x", "-q").stdout
    return dict(re.findall(r"^(\S+):\s+(on|off|unknown)$", out, re.M))


@pytest.mark.peer
def test_powermand_with_baytech_scripts(tmp_path):
    powermand = require_peer("powermand", "powerman")
    pm_bin = require_peer("pm", "powerman")
    old = mock_for("rpc3", names=[], confirm=False, password_only=True, password="baytech")
    nc = mock_for("rpc3-nc", names=[])
    with old as m_old, nc as m_nc:
        port = free_port()
        conf = tmp_path / "powerman.conf"
        conf.write_text(
            f'listen "127.0.0.1:{port}"\n'
            'include "/etc/powerman/baytech.dev"\n'
            'include "/etc/powerman/baytech-rpc3-nc.dev"\n'
            f'device "bold" "baytech" "{m_old.address}"\n'
            f'device "bnc" "baytech-rpc3-nc" "{m_nc.address}"\n'
            'node "m[1-8]" "bold" "[1-8]"\n'
            'node "n[1-8]" "bnc"\n'
        )
        daemon = subprocess.Popen(
            [powermand, "-f", "-Y", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 10
            while (
                pm(pm_bin, port, "-d").returncode != 0
                or "state=connected" not in pm(pm_bin, port, "-d").stdout
            ):
                assert time.monotonic() < deadline, "powermand did not come up"
                assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
                time.sleep(0.1)
            assert set(pm_states(pm_bin, port).values()) == {"on"}

            assert pm(pm_bin, port, "-0", "m2,n3").returncode == 0
            eventually(lambda: m_old.state(2) == OFF and m_nc.state(3) == OFF)
            states = pm_states(pm_bin, port)
            assert states["m2"] == "off" and states["n3"] == "off" and states["m1"] == "on"

            assert pm(pm_bin, port, "-1", "m2,n3").returncode == 0
            eventually(lambda: m_old.state(2) == ON and m_nc.state(3) == ON)

            assert pm(pm_bin, port, "-c", "m5,n6").returncode == 0
            eventually(lambda: changes(m_old, 5) == [OFF, ON] and changes(m_nc, 6) == [OFF, ON])
            assert set(pm_states(pm_bin, port).values()) == {"on"}
        finally:
            # powermand 2.3.27 aborts on SIGTERM when TCP devices exist (fixed in 2.4.0, #118).
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


@pytest.mark.parametrize("fault", ["silent", "silent=30"])
def test_silent_port_message_says_how_long_was_waited(monkeypatch, fault):
    """A port that never shows its banner fails "within N s" after N s, not after N + WAKE_AFTER
    (it said "within 10 s" after 12 s: the Enter sent after 2 s started a fresh 10 s)."""
    from stonith.drivers import baytech

    monkeypatch.setattr(baytech, "BANNER_STEP", 2.0)
    monkeypatch.setattr(baytech, "WAKE_AFTER", 0.8)
    with mock_for("rpc3", faults=[fault]) as mock:
        driver = Baytech({"ipaddr": mock.address, "login": "admin", "password": "pw"})
        start = time.monotonic()
        with pytest.raises(StonithError) as info:
            driver.connect(Deadline(30))
        took = time.monotonic() - start
    said = float(re.search(r"within (\d+(?:\.\d+)?) s", str(info.value))[1])
    assert said == 2.0 and said - 0.1 <= took <= said + 0.5, (took, str(info.value))
    assert "Enter sent after 0.8 s" in str(info.value)

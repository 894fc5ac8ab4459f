"""The redfish driver: against our Redfish mock (HTTPS, sessions, ActionInfo, faults) and sushy-tools.

sushy-tools' emulator (``pip install sushy-tools``; its fake driver needs no libvirt) is the
independent service.  Its fake system applies power changes 1-11 s late, so its test allows for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from stonith.mocks.harness import start_mock

from stonith.contract.driver import OFF, ON
from tests.conftest import REQUIRE_PEERS, run_stonith

USER, PASSWORD = "admin", "s3cret"


def service(**options):
    settings = {"names": ["node1"], "username": USER, "password": PASSWORD, "relay_delay": 0.05}
    settings.update(options)
    return start_mock("redfish", **settings)


def args(mock, *extra, password=PASSWORD):
    tls = [f"ca_bundle={mock.info['ca']}"] if "ca" in mock.info else ["ssl=no"]
    return ["hostname=node1", f"ipaddr={mock.address}", f"login={USER}", f"password={password}", *tls, *extra]


def glue(*argv, timeout="10"):
    result = run_stonith("-t", "redfish", "--timeout", timeout, *argv, timeout=60)
    assert "Traceback" not in result.stderr
    return result


def changes(mock):
    return [e["state"] for e in mock.events()]


@pytest.mark.parametrize("extra", [[], ["auth_method=session"]])
@pytest.mark.parametrize(
    "options", [{}, {"action_info": True}, {"tls": False}, {"system_id": "System.Embedded.1"}]
)
def test_verified_reset_follows_ground_truth(extra, options):
    with service(**options) as mock:
        result = glue(*args(mock, *extra), "-T", "reset", "node1")
        assert result.returncode == 0, result.stderr
        assert changes(mock) == ["off", "on"]


def test_status_off_on_list_and_given_system_path():
    with service(system_id="7") as mock:
        base = args(mock, "systems_uri=/redfish/v1/Systems/7")
        assert glue(*base, "-l").stdout.split() == ["node1"]
        assert glue(*base, "-T", "off", "node1").returncode == 0
        assert mock.state(1) == OFF
        assert glue(*base, "-T", "on", "node1").returncode == 0
        assert mock.state(1) == ON
        wrong = glue(*args(mock, "systems_uri=/redfish/v1/Systems/8"), "-S")
        assert wrong.returncode == 8


def test_reset_type_chosen_from_allowable_values():
    with service(reset_types="ForceOn,ForceOff") as mock:
        assert glue(*args(mock), "-T", "reset", "node1").returncode == 0
        assert changes(mock) == ["off", "on"]
    with service(reset_types="On,GracefulShutdown") as mock:
        result = glue(*args(mock), "-T", "off", "node1")
        assert result.returncode == 3  # no ForceOff: a graceful shutdown is no fence
        assert "ForceOff" in result.stderr
        assert mock.state(1) == ON


@pytest.mark.parametrize("extra", [[], ["auth_method=session"]])
def test_wrong_password_is_s_access_with_one_line(extra):
    with service() as mock:
        result = glue(*args(mock, *extra, password="wrong"), "-S")
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert "refused the credentials" in result.stderr


def test_tls_is_verified_by_default():
    with service() as mock:
        base = ["hostname=node1", f"ipaddr={mock.address}", f"login={USER}", f"password={PASSWORD}"]
        result = glue(*base, "-S")
        assert result.returncode == 8
        assert "ca_bundle" in result.stderr
        assert glue(*base, "ssl_insecure=yes", "-S").returncode == 0


def test_silent_service_fails_within_the_deadline():
    with service(faults=["silent"]) as mock:
        started = time.monotonic()
        result = glue(*args(mock), "-S", timeout="2")
        # Every session attempt ends at the request timeout; the engine tries a silent device again
        # with back-off, a bounded number of times, as it does on every path.
        from stonith.fencing.engine import RETRY_BACKOFF

        attempts = len(RETRY_BACKOFF) + 1
        assert time.monotonic() - started < attempts * 1 + sum(RETRY_BACKOFF) + 2
        assert result.returncode == 6


def test_silent_tcp_port_fails_within_request_timeout():
    """A port that accepts and never answers (where fence_redfish hangs)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        result = glue(
            "hostname=node1",
            f"ipaddr=127.0.0.1:{port}",
            "ssl=no",
            "login=a",
            "password=b",
            "request_timeout=1",
            "-S",
            timeout="20",
        )
        # Every session attempt ends at the request timeout; the engine tries a silent device again
        # with back-off, a bounded number of times, as it does on every path.
        from stonith.fencing.engine import RETRY_BACKOFF

        attempts = len(RETRY_BACKOFF) + 1
        assert time.monotonic() - started < attempts * 1 + sum(RETRY_BACKOFF) + 2
        assert result.returncode == 6
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def test_lie_status_ground_truth():
    with service(faults=["lie-status=1"]) as mock:
        assert glue(*args(mock), "-T", "off", "node1").returncode == 0
        assert mock.state(1) == ON


def test_powering_states_are_waited_for():
    with service(relay_delay=0.8) as mock:
        result = glue(*args(mock), "-T", "off", "node1")
        assert result.returncode == 0
        assert mock.state(1) == OFF


def test_sessions_are_deleted():
    with service() as mock:
        assert glue(*args(mock, "auth_method=session"), "-T", "reset", "node1").returncode == 0
        import requests

        listing = requests.get(
            f"{mock.info['url']}/redfish/v1/SessionService/Sessions",
            auth=(USER, PASSWORD),
            verify=mock.info["ca"],
            timeout=5,
        ).json()
        assert listing["Members"] == []


# ---------------------------------------------------------------------------------------------
# sushy-tools


@pytest.fixture
def sushy(tmp_path):
    program = shutil.which("sushy-emulator", path=str(Path(sys.executable).parent)) or shutil.which(
        "sushy-emulator"
    )
    if not program:
        reason = "sushy-tools not installed (pip install sushy-tools)"
        if REQUIRE_PEERS:
            pytest.fail(reason)
        pytest.skip(reason)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    # The state directory is a configuration key, not an environment variable: without it the fake
    # system persists in $TMPDIR/sushy-emulator and leaks from one run (and test) into the next.
    config = tmp_path / "sushy.conf"
    config.write_text(f"SUSHY_EMULATOR_STATE_DIR = {str(tmp_path)!r}\n")
    env = dict(os.environ, SUSHY_EMULATOR_CONFIG=str(config))
    process = subprocess.Popen(
        [program, "--fake", "-i", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("sushy-emulator did not come up")
                time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.peer
@pytest.mark.slow
def test_against_sushy_tools_fake_driver(sushy):
    base = ["hostname=fake", f"ipaddr=127.0.0.1:{sushy}", "ssl=no"]
    assert glue(*base, "-S").returncode == 0
    # The fake system starts Off and applies changes 1-11 s late (on the next read).
    result = glue(*base, "-T", "on", "fake", timeout="30")
    assert result.returncode == 0, result.stderr
    result = glue(*base, "-T", "reset", "fake", timeout="60")
    assert result.returncode == 0, result.stderr
    import requests

    system = requests.get(f"http://127.0.0.1:{sushy}/redfish/v1/Systems/fake", timeout=5).json()
    assert system["PowerState"] == "On"

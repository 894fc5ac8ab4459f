"""``stonith serve`` end to end: a real service process over TLS, independent clients (Python's
xmlrpc.client, requests, curl, openssl), mock devices judged by their ground truth."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import pytest
import requests
from stonith.mocks.harness import start_mock

from tests.conftest import require_peer, run_stonith, stonith_cmd

PASSWORD = "lab-secret"
USERS = {
    "ada": ("admin", "admin-pass-1"),
    "otto": ("operator", "operator-pass"),
    "mona": ("monitor", "monitor-pass"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def device_file(directory: Path, name: str, address: str, hosts: dict[str, str], settle: float = 0.1) -> None:
    text = (
        f'type = "baytech"\nsettle = {settle}\ntimeout = 10\n'
        f'[parameters]\nipaddr = "{address}"\nlogin = "admin"\n'
        '[secrets]\npassword = { env = "LAB_PW" }\n[hosts]\n'
        + "".join(f'{node} = "{outlet}"\n' for node, outlet in hosts.items())
    )
    path = directory / f"{name}.toml"
    path.write_text(text)
    path.chmod(0o600)


class Server:
    def __init__(self, root: Path, port: int, config: Path, env: dict[str, str]) -> None:
        self.root = root
        self.port = port
        self.config = config
        self.env = env
        self.url = f"https://127.0.0.1:{port}"
        self.cafile = str(root / "tls" / "cert.pem")
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*stonith_cmd(), "serve", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health", verify=self.cafile, timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                raise AssertionError(f"service exited: {self.process.communicate()[1]}")
            time.sleep(0.1)
        raise AssertionError("service did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
        self.process = None

    def session(self, user: str | None = None, token: str | None = None) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
        session.verify = self.cafile
        if user is not None:
            session.auth = (user, USERS[user][1])
        if token is not None:
            session.headers["Authorization"] = f"Bearer {token}"
        return session

    def rpc(self, user: str) -> xmlrpc.client.ServerProxy:
        context = ssl.create_default_context(cafile=self.cafile)
        address = f"https://{user}:{USERS[user][1]}@127.0.0.1:{self.port}/RPC2"
        return xmlrpc.client.ServerProxy(address, context=context, allow_none=True)

    def history(self) -> list[dict]:
        path = self.root / "history.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def make_server(root: Path, devices: dict[str, tuple[str, dict[str, str]]]) -> Server:
    """A configured (not started) service in ``root`` with BayTech devices ``name: (address, hosts)``."""
    from stonith.server import auth

    directory = root / "devices.d"
    directory.mkdir(parents=True)
    for name, (address, hosts) in devices.items():
        device_file(directory, name, address, hosts)
    for user, (role, password) in USERS.items():
        auth.add_user(str(root / "users.json"), user, role, password)
    assert run_stonith("serve", "--self-signed", str(root / "tls")).returncode == 0
    port = free_port()
    config = root / "server.toml"
    config.write_text(
        f'listen = ["127.0.0.1:{port}"]\ncertificate = "{root}/tls/cert.pem"\n'
        f'key = "{root}/tls/key.pem"\ndevices = "{directory}"\nusers = "{root}/users.json"\n'
        f'tokens = "{root}/tokens.json"\nhistory = "{root}/history.jsonl"\n'
        f'audit = "{root}/audit.log"\nhealth_interval = 1\n'
    )
    env = {**os.environ, "LAB_PW": PASSWORD, "STONITH_LOCK_DIR": str(root / "locks")}
    return Server(root, port, config, env)


@pytest.fixture
def lab(tmp_path: Path):
    with start_mock("baytech", model="rpc3", password=PASSWORD, relay_delay=0.1) as mock:
        server = make_server(tmp_path, {"pdu1": (mock.address, {f"n{i}": str(i) for i in range(1, 9)})})
        server.start()
        try:
            yield server, mock
        finally:
            server.stop()


def outlet_events(mock, outlet: str) -> list[str]:
    return [e["state"] for e in mock.events() if e["outlet"] == outlet]


def test_xmlrpc_client_metadata_and_a_reset(lab) -> None:
    from stonith.fencing import registry
    from stonith.render import marshal

    server, mock = lab
    proxy = server.rpc("otto")
    assert "stonith.reset" in proxy.system.listMethods()
    assert "verified" in proxy.system.methodHelp("stonith.reset")
    for type_name in registry.types():
        if type_name.startswith("external/"):
            continue
        expected = run_stonith("metadata", type_name, "--format", "xmlrpc")
        assert proxy.stonith.metadata(type_name) == marshal.from_xmlrpc(expected.stdout), type_name
    result = proxy.stonith.reset("n2")
    assert result["exit_code"] == 0 and result["results"][0]["result"] == "ok"
    assert outlet_events(mock, "2") == ["off", "on"]


def test_json_api_reset_status_and_openapi(lab) -> None:
    from openapi_spec_validator import validate

    server, mock = lab
    otto = server.session("otto")
    answer = otto.post(f"{server.url}/api/v1/power/reset", json={"nodeset": "n[3-4]"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert [r["result"] for r in answer.json()["results"]] == ["ok", "ok"]
    assert outlet_events(mock, "3") == ["off", "on"] and outlet_events(mock, "4") == ["off", "on"]
    status = otto.get(f"{server.url}/api/v1/status", params={"nodeset": "n3"}, timeout=30).json()
    assert status[0]["state"] == "on"
    validate(requests.get(f"{server.url}/openapi.json", verify=server.cafile, timeout=5).json())
    history = otto.get(f"{server.url}/api/v1/history", timeout=5).json()
    assert history[0]["user"] == "otto" and history[0]["verb"] == "reset" and history[0]["state"] == "done"
    assert set(history[0]["nodes"]) == {"n3", "n4"}


def test_curl_is_a_client_too(lab) -> None:
    curl = require_peer("curl", "curl")
    server, _ = lab
    out = subprocess.run(
        [curl, "-sf", "--cacert", server.cafile, "-K", "-", f"{server.url}/api/v1/devices"],
        input=f'user = "mona:{USERS["mona"][1]}"\n',  # the password on stdin, never argv
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert [d["name"] for d in json.loads(out.stdout)] == ["pdu1"]


def test_authorization_matrix(lab) -> None:
    from stonith.server import auth

    server, mock = lab
    url = server.url
    anonymous = server.session()
    assert anonymous.get(f"{url}/api/v1/devices", timeout=5).status_code == 401
    wrong = server.session()
    wrong.auth = ("ada", "not-the-password")
    assert wrong.get(f"{url}/api/v1/devices", timeout=5).status_code == 401
    users, tokens = str(server.root / "users.json"), str(server.root / "tokens.json")
    expired, _ = auth.create_token(users, tokens, "ada", None, 1.0, now=time.time() - 10)
    revoked, record = auth.create_token(users, tokens, "ada", None, None)
    auth.revoke_token(tokens, record.id)
    for token in (expired, revoked):
        assert server.session(token=token).get(f"{url}/api/v1/devices", timeout=5).status_code == 401
    good, _ = auth.create_token(users, tokens, "otto", None, 3600)
    assert server.session(token=good).get(f"{url}/api/v1/devices", timeout=5).status_code == 200
    version = server.session("ada").get(f"{url}/api/v1/devices/pdu1", timeout=5).json()["version"]
    change = {"changes": {"speed": 9600}, "version": version}
    for user, reset_code, modify_code in (("mona", 403, 403), ("otto", 200, 403), ("ada", 200, 200)):
        session = server.session(user)
        reset = session.post(f"{url}/api/v1/power/reset", json={"nodeset": "n5"}, timeout=30)
        assert reset.status_code == reset_code, (user, reset.text)
        modify = session.patch(f"{url}/api/v1/devices/pdu1", json=change, timeout=30)
        assert modify.status_code == modify_code, (user, modify.text)
    assert outlet_events(mock, "5") == ["off", "on", "off", "on"]  # operator and admin only
    # secrets never in an answer
    body = server.session("ada").get(f"{url}/api/v1/devices/pdu1", timeout=5).text
    assert PASSWORD not in body and "********" in body


def test_twenty_wrong_passwords_are_rate_limited_and_audited(lab) -> None:
    server, _ = lab
    wrong = server.session()
    wrong.auth = ("mona", "guess")
    codes = [wrong.get(f"{server.url}/api/v1/devices", timeout=5).status_code for _ in range(20)]
    assert codes[0] == 401 and codes[-1] == 429
    refused = [r for r in server.history() if r.get("event") == "login-failed"]
    assert refused and refused[0]["user"] == "mona" and refused[0]["source"] == "127.0.0.1"
    assert "guess" not in (server.root / "history.jsonl").read_text()


def test_old_tls_and_plain_http_beyond_loopback_are_refused(lab, tmp_path: Path) -> None:
    openssl = require_peer("openssl", "openssl")
    server, _ = lab
    old = subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{server.port}", "-tls1_1"],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert old.returncode != 0 or "Cipher is (NONE)" in old.stdout
    config = tmp_path / "plain.toml"
    config.write_text(f'listen = ["0.0.0.0:{free_port()}"]\ntls = false\ndevices = "{tmp_path}/devices.d"\n')
    plain = run_stonith("serve", "--config", str(config))
    assert plain.returncode == 1 and "plain HTTP is refused beyond loopback" in plain.stderr


def test_concurrent_modifies_one_wins_the_other_conflicts(lab) -> None:
    server, _ = lab
    ada = server.session("ada")
    url = f"{server.url}/api/v1/devices/pdu1"
    version = ada.get(url, timeout=5).json()["version"]

    def modify(speed: int) -> int:
        session = server.session("ada")
        return session.patch(
            url, json={"changes": {"speed": speed}, "version": version}, timeout=30
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(modify, (19200, 38400)))
    assert codes == [200, 409]
    path = server.root / "devices.d" / "pdu1.toml"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert (
        "speed = " in path.read_text() and len(list((server.root / "devices.d" / ".previous").iterdir())) == 1
    )
    bad = ada.patch(
        url, json={"changes": {"speed": "fast"}, "version": ada.get(url, timeout=5).json()["version"]}
    )
    assert bad.status_code == 400 and bad.json()["problems"]


def test_a_device_changed_by_the_cli_shows_in_the_next_health_check(lab) -> None:
    server, _ = lab
    mona = server.session("mona")
    devices = server.root / "devices.d"
    with start_mock("baytech", model="rpc5", password=PASSWORD) as second:
        device_file(devices, "pdu2", second.address, {"m1": "1"})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = {d["name"]: d for d in mona.get(f"{server.url}/api/v1/devices", timeout=5).json()}
            if "pdu2" in found and found["pdu2"]["health"] and found["pdu2"]["health"]["ok"]:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"pdu2 never checked: {found}")
        (devices / "pdu2.toml").unlink()


def test_sigkill_mid_reset_is_recorded_as_interrupted_never_as_success(lab, tmp_path: Path) -> None:
    server, mock = lab
    device_file(tmp_path / "devices.d", "pdu1", mock.address, {"n7": "7"}, settle=5)
    otto = server.session("otto")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            otto.post, f"{server.url}/api/v1/power/reset", json={"nodeset": "n7"}, timeout=30
        )
        deadline = time.monotonic() + 10
        while outlet_events(mock, "7") != ["off"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
        with pytest.raises(requests.RequestException):
            pending.result()
    server.start()
    history = server.session("mona").get(f"{server.url}/api/v1/history", timeout=10).json()
    operation = history[0]
    assert operation["verb"] == "reset" and operation["state"] == "interrupted"
    assert operation["read_back"] == [{"node": "n7", "state": "off"}]


def test_stonith_l_does_not_import_the_web_stack() -> None:
    code = (
        "import sys; from stonith.cli.main import main; main(['-L']); print(sorted(m for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for heavy in ("starlette", "uvicorn", "prometheus_client", "stonith.server"):
        assert f"'{heavy}'" not in out.splitlines()[-1]


def test_remote_cli_asks_every_service_and_merges(tmp_path: Path) -> None:
    with (
        start_mock("baytech", model="rpc3", password=PASSWORD) as rack_a,
        start_mock("baytech", model="rpc5", password=PASSWORD) as rack_b,
    ):
        a = make_server(tmp_path / "a", {"pdu-a": (rack_a.address, {"n1": "1", "both": "3"})})
        b = make_server(tmp_path / "b", {"pdu-b": (rack_b.address, {"m1": "1", "both": "3"})})
        for server in (a, b):
            server.start()
        try:
            silent = f"https://127.0.0.1:{free_port()}"
            env = {"STONITH_REMOTE_USER": "otto", "STONITH_REMOTE_PASSWORD": USERS["otto"][1]}
            # both services' certificates: one bundle
            bundle = tmp_path / "ca.pem"
            bundle.write_text(Path(a.cafile).read_text() + Path(b.cafile).read_text())
            result = run_stonith(
                "reset", "n1,m1,both,nobody", "--remote", a.url, "--remote", b.url, "--remote", silent,
                "--cacert", str(bundle), "--json", "--timeout", "10", env=env,
            )  # fmt: skip
            rows = {r["node"]: r for r in json.loads(result.stdout)}
            assert rows["n1"]["result"] == "ok" and rows["n1"]["service"] == a.url
            assert rows["m1"]["result"] == "ok" and rows["m1"]["service"] == b.url
            assert "claimed by several services" in rows["both"]["message"]
            assert rows["nobody"]["result"] == "unknown-node" and silent in rows["nobody"]["message"]
            assert result.returncode == 8
            assert [e["state"] for e in rack_a.events() if e["outlet"] == "1"] == ["off", "on"]
            assert [e["state"] for e in rack_b.events() if e["outlet"] == "1"] == ["off", "on"]
            assert USERS["otto"][1] not in result.stdout + result.stderr
        finally:
            for server in (a, b):
                server.stop()


def test_the_event_stream_shows_each_phase_as_it_is_read_back(lab) -> None:
    """Live progress: an operation's events name each node's off, then its on, per device, with the
    outlets as read back and when; the GUI's fence dialog shows them as they come."""
    import threading

    server, mock = lab
    otto = server.session("otto")
    stream = otto.get(f"{server.url}/api/v1/events", stream=True, timeout=30)
    assert stream.status_code == 200
    events: list[tuple[str, dict]] = []
    done = threading.Event()

    def read() -> None:
        kind = ""
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind:
                events.append((kind, json.loads(line.split(":", 1)[1])))
                if kind == "operation-end":
                    done.set()
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.3)  # subscribed before the operation starts
    answer = otto.post(f"{server.url}/api/v1/power/reset", json={"nodeset": "n6"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert done.wait(10)
    stream.close()
    phases = [e for kind, e in events if kind == "phase"]
    assert [(p["node"], p["phase"], p["reached"]) for p in phases] == [
        ("n6", "off", True),
        ("n6", "on", True),
    ]
    off, on = phases[0]["devices"][0], phases[1]["devices"][0]
    assert off["outlets"][0]["state"] == "off" and on["outlets"][0]["state"] == "on"
    assert off["started"] <= off["finished"] <= on["started"] <= on["finished"]
    assert outlet_events(mock, "6") == ["off", "on"]


def test_a_broken_device_file_fails_only_the_nodes_that_may_depend_on_it(lab, tmp_path: Path) -> None:
    """As the CLI (stonith.fencing.prepare): the service fences every node a broken file cannot feed, and
    refuses, naming the file, a node it may feed; nothing is switched for that node."""
    server, mock = lab
    broken = tmp_path / "devices.d" / "pdu2.toml"
    broken.write_text('type = "baytech"\n[parameters\nipaddr = "10.0.0.9"\n[hosts]\nn9 = "1"\n')
    otto = server.session("otto")
    answer = otto.post(f"{server.url}/api/v1/power/off", json={"nodeset": "n5,n9"}, timeout=30)
    assert answer.status_code == 200, answer.text
    results = {r["node"]: r for r in answer.json()["results"]}
    assert results["n5"]["result"] == "ok"
    assert results["n9"]["result"] == "failed" and "pdu2.toml" in results["n9"]["message"]
    assert outlet_events(mock, "5") == ["off"]
    status = otto.get(f"{server.url}/api/v1/status", params={"nodeset": "n5,n9"}, timeout=30).json()
    assert [(r["node"], r["state"]) for r in status] == [("n5", "off"), ("n9", "unknown")]

"""Console drivers over SSH (issue 23 item 1): apcmaster (AOS command line, apc>) and wti_nps.

The SSH mocks (stonith.mocks._ssh) serve the same personalities as on telnet.  Judged by the mock's
ground truth: fence-agents' ``fence_apc --ssh`` and ``fence_wti --ssh`` (pexpect driving OpenSSH,
unmodified) as independent clients; our drivers through ``stonith``; ``ps`` (every process's
/proc/PID/cmdline, and the environment of ours) during an operation never shows the password; a
changed host key is refused with a clear error and exit 2; a device that stops answering ends the
operation within its deadline + 1 s.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time

import pytest
from stonith.mocks.harness import start_mock

from stonith.contract.driver import OFF, ON
from tests.conftest import REPO, require_peer, run_stonith, stonith_cmd
from tests.drivers.test_baytech import changes, eventually, free_port

USER = "apc"
PASSWORD = "Ssh-" + secrets.token_hex(6)  # unique: a hit in /proc can only be this test's password
NAMES = ["node1", "node2", "web server", "node1"]
FAST = {"relay_delay": 0.05, "reboot_delay": 0.2}


def needs_ssh() -> str:
    return require_peer("ssh", "openssh-client")


@contextlib.contextmanager
def ssh_mock(type_name, model, tmp_path, *, known_hosts=True, **options):
    """An SSH mock and a known_hosts file holding its key (or empty)."""
    needs_ssh()
    settings = {"model": model, "names": NAMES, "username": USER, "password": PASSWORD, "ssh": True}
    settings.update(FAST)
    settings.update(options)
    with start_mock(type_name, **settings) as mock:
        hosts = tmp_path / "known_hosts"
        if known_hosts:
            hosts.write_text(mock.info["known_hosts"] + "\n")
        elif not hosts.exists():
            hosts.write_text("")
        yield mock, str(hosts)


def ours(type_name, mock, hosts, *args, timeout="10", password=PASSWORD, **fields):
    """``stonith -t TYPE -E``: the parameters (the password too) from the environment, not argv."""
    env = {
        "ipaddr": mock.address,
        "login": USER,
        "password": password,
        "ssh": "1",
        "ssh_known_hosts": hosts,
        **fields,
    }
    result = run_stonith("-t", type_name, "--timeout", timeout, "-E", *args, env=env, timeout=60)
    assert "Traceback" not in result.stderr
    assert password not in result.stderr + result.stdout
    return result


# ---------------------------------------------------------------------------------------------
# Our drivers against the SSH mocks


@pytest.mark.parametrize(
    ("type_name", "model"), [("apcmaster", "ap8xxx"), ("wti_nps", "ips"), ("wti_nps", "nps")]
)
def test_ours_list_status_off_on_reset_over_ssh(type_name, model, tmp_path):
    with ssh_mock(type_name, model, tmp_path) as (mock, hosts):
        listed = ours(type_name, mock, hosts, "-l")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:3] == ["node1", "node2", "web server"]
        status = ours(type_name, mock, hosts, "-S")
        assert status.returncode == 0 and "device OK" in status.stderr, status.stderr

        off = ours(type_name, mock, hosts, "-T", "off", "node1")
        assert off.returncode == 0, off.stderr
        assert mock.state(1) == OFF and mock.state(4) == OFF and mock.state(2) == ON
        on = ours(type_name, mock, hosts, "-T", "on", "node1")
        assert on.returncode == 0, on.stderr
        assert mock.state(1) == ON and mock.state(4) == ON

        reset = ours(type_name, mock, hosts, "-T", "reset", "web server")
        assert reset.returncode == 0, reset.stderr
        assert changes(mock, 3) == [OFF, ON] and changes(mock, 2) == []


def test_menus_over_ssh_too(tmp_path):
    # An older card with SSH (AOS v3 menus): the login happens in SSH, the menus follow.
    with ssh_mock("apcmaster", "msp", tmp_path) as (mock, hosts):
        off = ours("apcmaster", mock, hosts, "-T", "off", "node2")
        assert off.returncode == 0, off.stderr
        assert mock.state(2) == OFF and changes(mock, 1) == []


def test_probe_names_the_rack_pdu(tmp_path):
    from stonith.drivers.apcmaster import ApcMaster

    from stonith.contract.deadline import Deadline

    with ssh_mock("apcmaster", "ap8xxx", tmp_path) as (mock, hosts):
        config = {"ipaddr": mock.address, "login": USER, "password": PASSWORD, "ssh": True}
        driver = ApcMaster({**config, "ssh_known_hosts": hosts})
        driver.connect(Deadline(10))
        try:
            assert driver.probe(Deadline(10)) == "APC rack PDU (AOS v6.8.2, RPDU 2g APP v6.8.0)"
            assert len(driver.outlets(Deadline(10))) == 24
        finally:
            driver.disconnect()


def test_wrong_password_is_s_access_at_once(tmp_path):
    with ssh_mock("wti_nps", "ips", tmp_path) as (mock, hosts):
        start = time.monotonic()
        result = ours("wti_nps", mock, hosts, "-T", "off", "node1", password="not-" + PASSWORD)
        assert result.returncode == 2, result.stderr
        assert "refused the login name or password" in result.stderr
        assert time.monotonic() - start < 5
        assert mock.events() == []


def test_ssh_needs_a_login(tmp_path):
    with ssh_mock("wti_nps", "ips", tmp_path) as (mock, hosts):
        result = ours("wti_nps", mock, hosts, "-S", login="")
        assert result.returncode == 1 and "login" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# Host keys


def test_changed_host_key_is_refused_with_exit_2(tmp_path):
    port = free_port()
    listen = f"127.0.0.1:{port}"
    with ssh_mock("apcmaster", "ap8xxx", tmp_path, listen=listen) as (mock, hosts):
        assert ours("apcmaster", mock, hosts, "-S").returncode == 0
    # The "same" device restarted with a new key; the known_hosts file keeps the old one.
    with ssh_mock("apcmaster", "ap8xxx", tmp_path, listen=listen, known_hosts=False) as (mock, hosts):
        for fields in ({}, {"ssh_accept_new": "1"}):  # accept_new records new keys, never changed ones
            result = ours("apcmaster", mock, hosts, "-T", "off", "node1", **fields)
            assert result.returncode == 2, result.stderr
            assert "host key has CHANGED" in result.stderr and hosts in result.stderr
            assert "SHA256:" in result.stderr  # the key it offers, for the operator to check
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert mock.events() == []


def test_unknown_host_key_is_refused_unless_first_contact_is_allowed(tmp_path):
    with ssh_mock("wti_nps", "ips", tmp_path, known_hosts=False) as (mock, hosts):
        result = ours("wti_nps", mock, hosts, "-S")
        assert result.returncode == 2 and "no host key of the device is in" in result.stderr, result.stderr
        missing = ours("wti_nps", mock, str(tmp_path / "nonexistent"), "-S")
        assert missing.returncode == 2 and "does not exist" in missing.stderr, missing.stderr

        first = ours("wti_nps", mock, hosts, "-S", ssh_accept_new="1")
        assert first.returncode == 0, first.stderr
        with open(hosts) as handle:
            recorded = handle.read()
        assert mock.info["host_key"] in recorded
        assert ours("wti_nps", mock, hosts, "-S").returncode == 0  # now strict checking passes


def test_known_hosts_writable_by_others_is_refused(tmp_path):
    with ssh_mock("wti_nps", "ips", tmp_path) as (mock, hosts):
        os.chmod(hosts, 0o666)
        result = ours("wti_nps", mock, hosts, "-S")
        assert result.returncode == 1 and "writable by group or others" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# The password never shows in ps


def _our_processes_seen(secret: bytes, seen_ssh: list[str], leaks: list[str]) -> None:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if secret in cmdline:
            leaks.append(f"argv of {pid}: {cmdline!r}")
        ours = b"stonith-ssh-ready-" in cmdline  # our ssh child (its LocalCommand marker)
        if ours:
            seen_ssh.append(pid)
        try:  # every environment we may read: ours, the stonith command's, its ssh's
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if secret in environ or (ours and b"SSH_ASKPASS" in environ):
            leaks.append(f"environment of {pid}: {cmdline[:80]!r}")


def test_password_is_never_in_ps_during_an_operation(tmp_path):
    devices = tmp_path / "devices.d"
    devices.mkdir(mode=0o700)
    secret_file = tmp_path / "pdu.password"
    secret_file.write_text(PASSWORD + "\n")
    secret_file.chmod(0o600)
    # A slow relay keeps the operation (off, read back, on, read back) going while we look.
    with ssh_mock("apcmaster", "ap8xxx", tmp_path, relay_delay=1.0) as (mock, hosts):
        (devices / "pdu.toml").write_text(
            f'type = "apcmaster"\ntimeout = 30\nsettle = 0.5\n\n[parameters]\nipaddr = "{mock.address}"\n'
            f'login = "{USER}"\nssh = true\nssh_known_hosts = "{hosts}"\n\n'
            f'[secrets]\npassword = {{ file = "{secret_file}" }}\n\n[hosts]\nnode1 = ["1", "4"]\n'
        )
        (devices / "pdu.toml").chmod(0o600)
        process = subprocess.Popen(
            [*stonith_cmd(), "reset", "node1", "--devices", str(devices)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen_ssh: list[str] = []
        leaks: list[str] = []
        while process.poll() is None:
            _our_processes_seen(PASSWORD.encode(), seen_ssh, leaks)
            time.sleep(0.02)
        out, err = process.communicate()
        assert process.returncode == 0, err
        assert seen_ssh, "no ssh process was seen during the operation"
        assert leaks == []
        assert PASSWORD not in out + err
        assert changes(mock, 1) == [OFF, ON] and changes(mock, 4) == [OFF, ON]


def test_ssh_argv_holds_nothing_secret_and_fixed_options():
    from stonith.transport.ssh import ssh_arguments

    argv = ssh_arguments("pdu", 22, login="apc", known_hosts="/k", marker="m", connect_timeout=7)
    options = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-o")
    assert options["StrictHostKeyChecking"] == "yes" and options["UserKnownHostsFile"] == "/k"
    assert options["ConnectTimeout"] == "7" and options["ForwardAgent"] == "no"
    assert options["ForwardX11"] == "no" and options["EscapeChar"] == "none"
    assert "BatchMode" not in options and options["PubkeyAuthentication"] == "no"
    assert argv[:2] == ["-F", "/dev/null"] and argv[-2:] == ["--", "pdu"]
    keyed = ssh_arguments(
        "pdu", 2222, login="apc", known_hosts="/k", marker="m", connect_timeout=1, identity_file="/id"
    )
    options = dict(keyed[i + 1].split("=", 1) for i, a in enumerate(keyed) if a == "-o")
    assert options["BatchMode"] == "yes" and options["IdentityFile"] == "/id"
    first = ssh_arguments(
        "h", 22, login="u", known_hosts="/k", marker="m", connect_timeout=1, accept_new=True
    )
    assert "StrictHostKeyChecking=accept-new" in first


# ---------------------------------------------------------------------------------------------
# Deadlines hold through ssh


@pytest.mark.parametrize(
    ("type_name", "model", "fault"),
    [
        ("apcmaster", "ap8xxx", "silent=0"),  # logged in, then not a byte
        ("apcmaster", "ap8xxx", "silent=1500"),  # mid-session: inside the outlet list
        ("wti_nps", "ips", "silent=600"),
    ],
)
def test_a_device_going_silent_ends_within_the_deadline(type_name, model, fault, tmp_path):
    with ssh_mock(type_name, model, tmp_path, faults=[fault]) as (mock, hosts):
        start = time.monotonic()
        result = ours(type_name, mock, hosts, "-T", "off", "node1", timeout="3")
        took = time.monotonic() - start
        assert result.returncode == 6, result.stderr
        assert took < 3 + 1, took
        assert mock.events() == []


def test_second_session_is_busy(tmp_path):
    from stonith.drivers.wti_nps import WtiNps

    from stonith.contract.deadline import Deadline
    from stonith.contract.errors import DeviceBusy

    with ssh_mock("wti_nps", "ips", tmp_path) as (mock, hosts):
        config = {"ipaddr": mock.address, "login": USER, "password": PASSWORD, "ssh": True}
        holder, second = (
            WtiNps({**config, "ssh_known_hosts": hosts}),
            WtiNps({**config, "ssh_known_hosts": hosts}),
        )
        holder.connect(Deadline(10))
        try:
            # (the engine retries a busy device with back-off; the driver says what it met)
            with pytest.raises(DeviceBusy, match="another session"):
                second.connect(Deadline(5))
        finally:
            holder.disconnect()
        second.connect(Deadline(10))  # free again once the first has logged out
        second.disconnect()


def test_missing_pexpect_is_a_missing_extra(monkeypatch, tmp_path):
    from stonith.drivers.apcmaster import ApcMaster

    from stonith.contract.deadline import Deadline
    from stonith.contract.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "pexpect", None)
    driver = ApcMaster(
        {"ipaddr": "127.0.0.1", "login": "a", "password": "b", "ssh": True, "ssh_known_hosts": "/x"}
    )
    with pytest.raises(MissingExtra, match=r"pip install 'stonith\[ssh\]'"):
        driver.connect(Deadline(2))


# ---------------------------------------------------------------------------------------------
# Peers: fence-agents' fence_apc --ssh and fence_wti --ssh (pexpect + OpenSSH), unmodified


def fence_agent(agent_name, mock, hosts, *args):
    agent = require_peer(agent_name, "fence-agents")
    needs_ssh()
    # fence-agents' default ssh options ("-1 -c blowfish") are refused by current OpenSSH; ours pin
    # the known_hosts file with strict checking, so the agent checks the mock's key as we do.
    options = f"-F /dev/null -o UserKnownHostsFile={hosts} -o GlobalKnownHostsFile=/dev/null"
    options += " -o StrictHostKeyChecking=yes"
    return subprocess.run(
        [
            agent,
            "-a",
            mock.host,
            "-u",
            str(mock.port),
            "-l",
            USER,
            "-p",
            PASSWORD,
            "--ssh",
            f"--ssh-options={options}",
            *args,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": str(REPO)},
    )


@pytest.mark.peer
@pytest.mark.parametrize(
    ("agent_name", "type_name", "model"),
    [("fence_apc", "apcmaster", "ap8xxx"), ("fence_wti", "wti_nps", "ips")],
)
def test_fence_agents_over_ssh_list_status_off_on(agent_name, type_name, model, tmp_path):
    with ssh_mock(type_name, model, tmp_path) as (mock, hosts):
        listed = fence_agent(agent_name, mock, hosts, "-o", "list")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:4] == ["1,node1", "2,node2", "3,web server", "4,node1"]
        status = fence_agent(agent_name, mock, hosts, "-o", "status", "-n", "2")
        assert status.returncode == 0 and "Status: ON" in status.stdout, status.stderr
        off = fence_agent(agent_name, mock, hosts, "-o", "off", "-n", "2")
        assert off.returncode == 0, off.stderr
        eventually(lambda: mock.state(2) == OFF)
        status = fence_agent(agent_name, mock, hosts, "-o", "status", "-n", "2")
        assert status.returncode == 2 and "Status: OFF" in status.stdout
        on = fence_agent(agent_name, mock, hosts, "-o", "on", "-n", "2")
        assert on.returncode == 0, on.stderr
        eventually(lambda: mock.state(2) == ON)
        assert changes(mock, 2) == [OFF, ON] and changes(mock, 1) == [] and changes(mock, 3) == []


@pytest.mark.peer
def test_fence_apc_refuses_a_changed_host_key_too(tmp_path):
    with ssh_mock("apcmaster", "ap8xxx", tmp_path) as (first, hosts):
        stale = first.info["known_hosts"]
    with ssh_mock("apcmaster", "ap8xxx", tmp_path) as (mock, hosts):
        # the old key, under the new mock's address
        (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{mock.port} {stale.split(' ', 1)[1]}\n")
        result = fence_agent("fence_apc", mock, hosts, "-o", "off", "-n", "1")
        assert result.returncode != 0
        assert mock.events() == []


# ---------------------------------------------------------------------------------------------
# Our fence agents take fence-agents' SSH options (drop-in for fence_apc / fence_wti --ssh)


@pytest.mark.parametrize(("type_name", "flag"), [("apcmaster", "ssh=1"), ("wti_nps", "secure=yes")])
def test_fence_agent_ssh_options_set_the_fields(type_name, flag):
    from stonith.cli.fence_agent import Request, parse_stdin
    from stonith.fencing import registry

    stdin = f"ip=pdu\n{flag}\nidentity_file=/etc/stonith/pdu.key\nusername=apc\npassword=p\n"
    config = Request(registry.load(type_name).INFO, parse_stdin(stdin)).config
    assert config["ssh"] == "1" and config["identity_file"] == "/etc/stonith/pdu.key"
    assert config["ipaddr"] == "pdu" and config["login"] == "apc"  # port 22 comes from ssh = true


@pytest.mark.parametrize(("type_name", "model"), [("apcmaster", "ap8xxx"), ("wti_nps", "ips")])
def test_our_fence_agent_over_ssh(type_name, model, tmp_path):
    with ssh_mock(type_name, model, tmp_path) as (mock, hosts):
        stdin = (
            f"ip={mock.host}\nipport={mock.port}\nusername={USER}\npassword={PASSWORD}\nssh=1\n"
            f"ssh_known_hosts={hosts}\naction=off\nplug=2\n"
        )
        result = subprocess.run(
            [sys.executable, "-P", "-m", "stonith.cli.fence_agent", type_name],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert mock.state(2) == OFF and changes(mock, 2) == [OFF] and changes(mock, 1) == []


# ---------------------------------------------------------------------------------------------
# stonith check: an SSH console is an authenticated channel (telnet is weak)


@pytest.mark.parametrize(
    ("fields", "level"),
    [
        ({}, "weak"),
        ({"ssh": True}, "authenticated"),
        ({"ssh": True, "ssh_accept_new": True}, "weak"),
    ],
)
def test_channel_of_a_console(fields, level):
    from stonith.drivers.wti_nps import WtiNps

    from stonith.fencing import channels

    driver = WtiNps({"ipaddr": "pdu", "password": "p", "login": "a", **fields})
    assert channels.channel_strength(driver)[0] == level


def test_identity_file_logs_in_without_the_password(tmp_path):
    needs_ssh()
    keygen = require_peer("ssh-keygen", "openssh-client")
    key = tmp_path / "id_pdu"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    with ssh_mock("apcmaster", "ap8xxx", tmp_path, authorized_keys=f"{key}.pub") as (mock, hosts):
        # A wrong password proves the key did the login (with a key, ssh runs in batch mode).
        result = ours(
            "apcmaster", mock, hosts, "-T", "off", "node2", password="unused", identity_file=str(key)
        )
        assert result.returncode == 0, result.stderr
        assert mock.state(2) == OFF
        other = tmp_path / "id_other"
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
        refused = ours("apcmaster", mock, hosts, "-S", identity_file=str(other))
        assert refused.returncode == 2 and "refused the login name or key" in refused.stderr, refused.stderr

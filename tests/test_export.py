"""``stonith export pcs``: the shipped devices.d as pcs commands, run against an offline CIB.

Peers: pcs (``pcs -f cib.xml`` validates every ``stonith create`` against the agent's metadata, and
finds agents only in /usr/sbin: the test installs the ``fence_stonith_<type>`` agents the export
uses there, as root, and removes them afterwards), cibadmin and crm_verify (pacemaker-cli-utils).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import REPO, require_peer, run_stonith, skip_or_fail

if TYPE_CHECKING:
    from collections.abc import Iterator

SBIN = Path("/usr/sbin")
# Tests that install agents into /usr/sbin take this lock (/usr/sbin is shared by every checkout).
SBIN_LOCK = os.path.join("/run/lock" if os.path.isdir("/run/lock") else "/tmp", "stonith-tests-usr-sbin.lock")
SECRET = "lab-secret-9f2c"  # the lab password: must never appear in the export
LAB = {"STONITH_LAB_PASSWORD": SECRET}


def _export(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_stonith("export", "pcs", "--devices", str(REPO / "devices.d"), *args, env=env or LAB)


def _commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line) for line in stdout.splitlines() if line and not line.startswith("#")]


def _options(words: list[str]) -> dict[str, str]:
    return dict(w.split("=", 1) for w in words if "=" in w)


def test_shipped_devices_as_pcs_commands() -> None:
    result = _export()
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    commands = _commands(result.stdout)
    creates = {c[3]: c for c in commands if c[:3] == ["pcs", "stonith", "create"]}
    assert set(creates) == {"bmc-gpu1", "bmc-gpu2", "pdu-a", "pdu-b", "pdu-c"}
    bmc = _options(creates["bmc-gpu1"])
    assert creates["bmc-gpu1"][4] == "fence_stonith_ipmilan"
    assert bmc["ip"] == "127.0.0.1:17103" and bmc["username"] == "admin"  # fence-agents' names
    assert bmc["pcmk_host_list"] == "gpu1"
    assert bmc["password_script"] == "printenv STONITH_LAB_PASSWORD"  # by reference, never inline
    assert "password" not in bmc and "passwd" not in bmc
    pdu_b = _options(creates["pdu-b"])
    assert pdu_b["pcmk_host_map"] == "node7:1;node8:2;node9:3;node10:4;node11:5;node12:6;db1:8"
    assert _options(creates["pdu-a"])["pcmk_host_map"] == "db1:7"
    assert _options(creates["pdu-c"])["pcmk_host_map"] == "gpu1:1;gpu2:2"
    assert "community" not in _options(creates["pdu-c"])
    levels = [c[4:] for c in commands if c[:4] == ["pcs", "stonith", "level", "add"]]
    assert levels == [
        ["1", "db1", "pdu-a", "pdu-b"],  # dual feed: one level with both PDUs
        ["1", "gpu1", "bmc-gpu1"],  # topology: the BMC first, then the PDU
        ["2", "gpu1", "pdu-c"],
        ["1", "gpu2", "bmc-gpu2"],
        ["2", "gpu2", "pdu-c"],
    ]
    # What could not be exported is said, on stderr and in the script.
    assert "pdu-a: the nodes it names by its outlet names cannot be exported statically" in result.stderr
    assert "pdu-c: community cannot be passed by reference" in result.stderr
    assert result.stdout.count("# WARNING:") == 2
    assert (
        "stonith install-agents --type apc_rpdu --type baytech --type ipmilan --type redfish" in result.stdout
    )


def test_secret_references(tmp_path: Path) -> None:
    devices = tmp_path / "devices.d"
    devices.mkdir(mode=0o700)
    secret = tmp_path / "pdu.secret"
    secret.write_text("from-a-file\n")
    secret.chmod(0o600)
    other = tmp_path / "other.secret"
    other.write_text("from a command\n")
    other.chmod(0o600)
    (devices / "pdu1.toml").write_text(
        'type = "baytech"\n[parameters]\nipaddr = "10.0.0.5"\nlogin = "admin"\n'
        f'[secrets]\npassword = {{ file = "{secret}" }}\n[hosts]\nn1 = ["1", "2"]\n'
    )
    (devices / "pdu2.toml").write_text(
        'type = "baytech"\nlevel = 2\ntimeout = 40\n[parameters]\nipaddr = "10.0.0.6"\nlogin = "admin"\n'
        f'[secrets]\npassword = {{ command = ["/bin/cat", "{other}"] }}\n[hosts]\nn1 = "3"\n'
    )
    for path in devices.iterdir():
        path.chmod(0o600)
    result = run_stonith("export", "pcs", "--devices", str(devices), "--cib", "my cib.xml")
    assert result.returncode == 0, result.stderr
    assert "from-a-file" not in result.stdout and "from a command" not in result.stdout
    commands = _commands(result.stdout)
    assert all(c[:3] == ["pcs", "-f", "my cib.xml"] for c in commands)
    one, two = (_options(c) for c in commands[:2])
    assert one["password_script"] == f"cat -- {secret}"
    assert one["pcmk_host_map"] == "n1:1,2"  # both outlets of n1 on pdu1: the plug list
    assert two["password_script"] == f"/bin/cat {other}"
    # 40 s of power_timeout twice plus the agent's waits is more than Pacemaker's default 60 s
    assert two["power_timeout"] == "40" and two["pcmk_reboot_timeout"] == two["pcmk_off_timeout"]
    assert 88 < int(two["pcmk_reboot_timeout"].removesuffix("s")) < 100
    assert "pcmk_reboot_timeout" not in one  # 20 s (the default) fits in Pacemaker's 60 s
    assert [c[6:] for c in commands[2:]] == [["1", "n1", "pdu1"], ["2", "n1", "pdu2"]]
    # The script the agent would run prints the secret.
    for options, expected in ((one, "from-a-file"), (two, "from a command")):
        ran = subprocess.run(
            options["password_script"], shell=True, capture_output=True, text=True, check=True
        )
        assert ran.stdout.strip() == expected


def test_query_freezes_the_names_a_device_reports(tmp_path: Path) -> None:
    from stonith.mocks.harness import start_mock

    names = ["web1", "web2", "db1", "spare"]
    with start_mock("baytech", model="rpc3", password="pw", outlets=4, names=names) as mock:
        devices = tmp_path / "devices.d"
        devices.mkdir(mode=0o700)
        (devices / "pdu1.toml").write_text(
            f'type = "baytech"\ndevice_names = true\n[parameters]\nipaddr = "{mock.address}"\n'
            'login = "admin"\n[secrets]\npassword = { env = "PDU_PW" }\n[hosts]\ndb1 = "3"\n'
        )
        (devices / "pdu2.toml").write_text(
            'type = "baytech"\n[parameters]\nipaddr = "127.0.0.1:9"\nlogin = "admin"\n'
            '[secrets]\npassword = { env = "PDU_PW" }\n[hosts]\nweb2 = "1"\n'
        )
        for path in devices.iterdir():
            path.chmod(0o600)
        env = {"PDU_PW": "pw", "STONITH_LOCK_DIR": str(tmp_path / "locks")}
        static = run_stonith("export", "pcs", "--devices", str(devices), env=env)
        queried = run_stonith(
            "export", "pcs", "--devices", str(devices), "--query", "--timeout", "10", env=env
        )
    assert static.returncode == 0 and "cannot be exported statically" in static.stderr
    assert _options(_commands(static.stdout)[0])["pcmk_host_map"] == "db1:3"
    assert queried.returncode == 0, queried.stderr
    assert "cannot be exported statically" not in queried.stderr
    (pdu1,) = (c for c in _commands(queried.stdout) if c[3] == "pdu1")
    # web2 is mapped by pdu2's [hosts]: the name pdu1 reports does not place it (as in stonith check)
    assert _options(pdu1)["pcmk_host_map"] == "db1:3;web1:1;spare:4"
    assert "pw" not in queried.stdout.split()


def test_inline_secret_is_not_exported(tmp_path: Path) -> None:
    devices = tmp_path / "devices.d"
    devices.mkdir(mode=0o700)
    path = devices / "pdu1.toml"
    path.write_text(
        'type = "baytech"\n[parameters]\nipaddr = "10.0.0.5"\nlogin = "admin"\npassword = "inline-pw"\n'
        '[hosts]\nn1 = "1"\n'
    )
    path.chmod(0o600)
    result = run_stonith("export", "pcs", "--devices", str(devices))
    assert result.returncode == 0, result.stderr
    assert "inline-pw" not in result.stdout + result.stderr
    assert "password is inline" in result.stderr and "use [secrets]" in result.stderr


def test_bad_devices_d_is_refused(tmp_path: Path) -> None:
    result = run_stonith("export", "pcs", "--devices", str(tmp_path / "missing"))
    assert result.returncode == 1 and "ERROR:" in result.stderr and "Traceback" not in result.stderr
    unset = dict(os.environ)
    unset.pop("STONITH_LAB_PASSWORD", None)
    result = subprocess.run(
        [*_stonith(), "export", "pcs", "--devices", str(REPO / "devices.d")],
        capture_output=True,
        text=True,
        env=unset,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "STONITH_LAB_PASSWORD" in result.stderr


def _stonith() -> list[str]:
    from tests.conftest import stonith_cmd

    return stonith_cmd()


# ---------------------------------------------------------------------------------------------
# pcs and crm_verify against an offline CIB


def _require_root() -> None:
    if os.geteuid() == 0:
        return
    skip_or_fail("pcs finds agents only in /usr/sbin: installing the fence_stonith_* agents there needs root")


@contextlib.contextmanager
def _agents_in_sbin(types: list[str]) -> Iterator[None]:
    """``fence_stonith_<type>`` in /usr/sbin for the block; whatever was there before comes back.

    /usr/sbin is shared by every checkout on the machine: a lock keeps two runs of this test (a
    developer's and a CI clone's) from saving each other's agents as "what was there before"."""
    import fcntl

    lock = open(SBIN_LOCK, "w")  # noqa: SIM115 - held for the whole block
    fcntl.flock(lock, fcntl.LOCK_EX)
    saved = {t: (SBIN / f"fence_stonith_{t}") for t in types}
    before = {t: p.read_bytes() if p.is_file() else None for t, p in saved.items()}
    args = [a for t in types for a in ("--type", t)]
    try:
        result = run_stonith("install-agents", "--dir", str(SBIN), *args)
        assert result.returncode == 0, result.stderr
        yield
    finally:
        for type_name, path in saved.items():
            if before[type_name] is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(before[type_name] or b"")
                path.chmod(0o755)
        lock.close()


def _cluster_cib(cibadmin: str, path: Path, nodes: list[str]) -> None:
    """An empty CIB with ``nodes`` online and quorum: what pcs sees on a running cluster."""
    empty = subprocess.run([cibadmin, "--empty"], capture_output=True, text=True, check=True).stdout
    root = ET.fromstring(empty)
    root.set("have-quorum", "1")
    node_section = root.find("configuration/nodes")
    status = root.find("status")
    assert node_section is not None and status is not None
    for number, node in enumerate(nodes, 1):
        ET.SubElement(node_section, "node", id=str(number), uname=node)
        ET.SubElement(
            status,
            "node_state",
            id=str(number),
            uname=node,
            in_ccm="true",
            crmd="online",
            join="member",
            expected="member",
        )
    path.write_text(ET.tostring(root, encoding="unicode"))


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LANG="C.UTF-8")
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.mark.peer
@pytest.mark.slow
def test_pcs_accepts_the_export_and_crm_verify_is_clean(tmp_path: Path) -> None:
    pcs = require_peer("pcs", "pcs")
    cibadmin = require_peer("cibadmin", "pacemaker-cli-utils")
    crm_verify = require_peer("crm_verify", "pacemaker-cli-utils")
    _require_root()
    cib = tmp_path / "cib.xml"
    result = _export("--cib", str(cib))
    assert result.returncode == 0, result.stderr
    commands = _commands(result.stdout)
    nodes = sorted(
        {
            w.split(":", 1)[0]
            for c in commands
            for o, v in _options(c).items()
            if o == "pcmk_host_map"
            for w in v.split(";")
        }
        | {n for c in commands for o, v in _options(c).items() if o == "pcmk_host_list" for n in v.split()}
    )
    assert {"db1", "gpu1", "gpu2", "node7"} <= set(nodes)
    _cluster_cib(cibadmin, cib, nodes)
    types = sorted({c[6].removeprefix("fence_stonith_") for c in commands if c[3:5] == ["stonith", "create"]})
    with _agents_in_sbin(types):
        for argv in commands:
            assert argv[:3] == ["pcs", "-f", str(cib)]
            ran = _run([pcs, *argv[1:]])
            assert ran.returncode == 0, (argv, ran.stderr)
            assert "Warning" not in ran.stderr and "Error" not in ran.stderr, (argv, ran.stderr)
    verified = _run([crm_verify, "-x", str(cib), "-V"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip() == "" and verified.stderr.strip() == "", verified.stderr
    root = ET.parse(cib).getroot()
    primitives = {p.get("id"): p.get("type") for p in root.iter("primitive") if p.get("class") == "stonith"}
    assert primitives == {
        "bmc-gpu1": "fence_stonith_ipmilan",
        "bmc-gpu2": "fence_stonith_redfish",
        "pdu-a": "fence_stonith_baytech",
        "pdu-b": "fence_stonith_baytech",
        "pdu-c": "fence_stonith_apc_rpdu",
    }
    topology = sorted(
        (int(str(lv.get("index"))), str(lv.get("target")), str(lv.get("devices")))
        for lv in root.iter("fencing-level")
    )
    assert topology == [
        (1, "db1", "pdu-a,pdu-b"),
        (1, "gpu1", "bmc-gpu1"),
        (1, "gpu2", "bmc-gpu2"),
        (2, "gpu1", "pdu-c"),
        (2, "gpu2", "pdu-c"),
    ]
    assert SECRET not in cib.read_text()

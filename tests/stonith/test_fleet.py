"""devices.d fleet files (issue 25): one file for a range of identical BMCs (stonith.fencing.fleet).

Parsing and every error as ``file:field``, both address forms, clashes with other files, a broken
fleet failing only its own nodes, secrets resolved once per file, the remote service and the pcs
export; and, against IPMI mocks judged by their ground truth, the same verdicts and the same
switching through a fleet file as through the equivalent single files.
"""

from __future__ import annotations

import json
import os
import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stonith.fencing.inventory import load_entries, load_file, scan_files
from tests.conftest import run_stonith

PASSWORD = "fleet-pw"
FLEET = (
    'type = "ipmilan"\nlevel = 1\nsettle = 0.1\ntimeout = 20\n'
    '[fleet]\nnodes = "{nodes}"\nipaddr = "{ipaddr}"\n'
    '[parameters]\nlogin = "admin"\n[secrets]\npassword = {{ env = "FLEET_PW" }}\n'
)


def fleet(nodes: str, ipaddr: str) -> str:
    return FLEET.format(nodes=nodes, ipaddr=ipaddr)


def single(node: str, address: str) -> str:
    return (
        'type = "ipmilan"\nlevel = 1\nsettle = 0.1\ntimeout = 20\n[parameters]\n'
        f'hostname = "{node}"\nipaddr = "{address}"\nlogin = "admin"\n'
        '[secrets]\npassword = { env = "FLEET_PW" }\n'
    )


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLEET_PW", PASSWORD)
    directory = tmp_path / "devices.d"
    directory.mkdir(mode=0o700)
    return directory


def problems_of(path: Path) -> list[str]:
    entries, problems = load_entries(str(path))
    assert not entries or not problems
    return [str(p) for p in problems]


# -- parsing -------------------------------------------------------------------------------------


def test_a_fleet_is_one_member_per_node_as_a_single_file_would_be(devices: Path) -> None:
    path = write(devices, "rack.toml", fleet("cn[1-3,10]", "{node}-bmc:6230"))
    entries, problems = load_entries(str(path))
    assert problems == []
    assert [e.name for e in entries] == ["rack:cn1", "rack:cn2", "rack:cn3", "rack:cn10"]
    assert [e.driver.device_name() for e in entries] == [
        "cn1-bmc:6230",
        "cn2-bmc:6230",
        "cn3-bmc:6230",
        "cn10-bmc:6230",
    ]
    write(devices, "one.toml", single("cn1", "cn1-bmc:6230"))
    alone, _ = load_file(str(devices / "one.toml"))
    assert alone is not None
    member = entries[0]
    # What the engine sees of it is what it sees of a single file of the same BMC.
    assert member.hosts is None and alone.hosts is None
    assert [(o.id, o.name) for o in member.driver.static_outlets()] == [
        (o.id, o.name) for o in alone.driver.static_outlets()
    ]
    assert member.lock_key() == alone.lock_key() == "ipmilan@cn1-bmc:6230"
    assert {k: v for k, v in member.driver.config.items()} == alone.driver.config
    assert (member.level, member.settle, member.timeout, member.max_sessions) == (
        alone.level,
        alone.settle,
        alone.timeout,
        alone.max_sessions,
    )
    assert member.fleet == "rack" and alone.fleet is None
    assert all(e.path == str(path) for e in entries)


def test_both_address_forms_pair_in_natural_order(devices: Path) -> None:
    by_set = write(devices, "a.toml", fleet("cn[9-11]", "10.1.0.[5-7]"))
    entries, problems = load_entries(str(by_set))
    assert problems == []
    pairs = [(e.driver.params.hostname, e.driver.device_name()) for e in entries]
    assert pairs == [("cn9", "10.1.0.5"), ("cn10", "10.1.0.6"), ("cn11", "10.1.0.7")]
    # Several bracket groups; the i-th node (natural order) gets the i-th address.
    grid = write(devices, "b.toml", fleet("n[1-4]", "10.2.[0-1].[1-2]"))
    entries, problems = load_entries(str(grid))
    assert problems == []
    assert [e.driver.device_name() for e in entries] == ["10.2.0.1", "10.2.0.2", "10.2.1.1", "10.2.1.2"]
    template = write(devices, "c.toml", fleet("gpu[1-2]", "10.3.0.{index}:{index}623"))
    entries, problems = load_entries(str(template))
    assert problems == []
    assert [e.name for e in entries] == ["c:gpu1", "c:gpu2"]
    assert [e.driver.device_name() for e in entries] == ["10.3.0.1:1623", "10.3.0.2:2623"]


def test_redfish_can_be_a_fleet_and_a_named_fleet_names_its_members(devices: Path) -> None:
    text = (
        'name = "gpus"\ntype = "redfish"\n[fleet]\nnodes = "gpu[01-02]"\nipaddr = "{node}-bmc.example"\n'
        '[parameters]\nlogin = "admin"\n[secrets]\npassword = { env = "FLEET_PW" }\n'
    )
    entries, problems = load_entries(str(write(devices, "x.toml", text)))
    assert problems == []
    assert [e.name for e in entries] == ["gpus:gpu01", "gpus:gpu02"]
    assert [o.name for o in entries[1].driver.static_outlets() or []] == ["gpu02"]


ERRORS = {
    "bad node set": (fleet("cn[1-", "{node}-bmc"), "x.toml:fleet.nodes: bad node set"),
    "no nodes": (fleet(" ", "{node}-bmc"), "x.toml:fleet.nodes: required: a node set"),
    "count mismatch": (
        fleet("cn[1-3]", "10.0.0.[1-2]"),
        "x.toml:fleet.ipaddr: names 2 addresses for 3 nodes",
    ),
    "one address for many": (fleet("cn[1-3]", "bmc.example"), "names 1 addresses for 3 nodes"),
    "unknown placeholder": (
        fleet("cn[1-3]", "{host}-bmc"),
        "x.toml:fleet.ipaddr: unknown placeholder {host} (a template takes {node} and {index})",
    ),
    "empty placeholder": (fleet("cn[1-3]", "bmc{}"), "x.toml:fleet.ipaddr: unknown placeholder {}"),
    "unbalanced template": (fleet("cn[1-3]", "{node}-bmc}"), "x.toml:fleet.ipaddr: unbalanced"),
    "bad address": (fleet("cn[1-2]", "{node}:99999"), "x.toml:fleet.ipaddr: address 'cn1:99999' (node cn1)"),
    "bad node name": (
        fleet("cn[1-2]-", "10.0.0.[1-2]"),
        "x.toml:fleet.nodes: node 'cn1-' is not a valid host name",
    ),
    "no address": (
        'type = "ipmilan"\n[fleet]\nnodes = "cn[1-2]"\n[parameters]\nlogin = "a"\npassword = "p"\n',
        "x.toml:fleet.ipaddr: required",
    ),
    "unknown fleet key": (
        fleet("cn[1-2]", "{node}-bmc").replace("[parameters]", "port = 623\n[parameters]"),
        "x.toml:fleet.port: unknown key (valid: nodes, ipaddr)",
    ),
    "not a table": ('type = "ipmilan"\nfleet = "cn[1-2]"\n', "x.toml:fleet: must be a table"),
    "hostname in parameters": (
        fleet("cn[1-2]", "{node}-bmc").replace('login = "admin"', 'login = "admin"\nhostname = "cn1"'),
        "x.toml:parameters.hostname: set by [fleet] for each member, not here",
    ),
    "ipaddr in parameters": (
        fleet("cn[1-2]", "{node}-bmc").replace('login = "admin"', 'login = "admin"\nipaddr = "10.0.0.1"'),
        "x.toml:parameters.ipaddr: set by [fleet] for each member, not here",
    ),
    "hosts in a fleet": (
        fleet("cn[1-2]", "{node}-bmc") + '[hosts]\ncn1 = "1"\n',
        "x.toml:hosts: has no meaning",
    ),
    "mock in a fleet": (
        fleet("cn[1-2]", "{node}-bmc") + '[mock]\ntype = "ipmilan"\n',
        "x.toml:mock: has no meaning in a fleet file",
    ),
    "colon in a fleet's name": (
        'name = "a:b"\n' + fleet("cn[1-2]", "{node}-bmc"),
        "x.toml:name: a fleet's name has no ':' (its members are NAME:NODE)",
    ),
    "a PDU cannot be a fleet": (
        'type = "baytech"\n[fleet]\nnodes = "cn[1-2]"\nipaddr = "{node}"\n',
        "x.toml:type: baytech cannot be a fleet",
    ),
    "shared parameter checked once": (
        fleet("cn[1-2]", "{node}-bmc").replace('login = "admin"', 'login = "admin"\ncipher = "99"'),
        "x.toml:parameters.cipher:",
    ),
    "shared secret checked once": (
        fleet("cn[1-2]", "{node}-bmc").replace("FLEET_PW", "FLEET_NO_SUCH_VARIABLE"),
        "x.toml:secrets.password: environment variable 'FLEET_NO_SUCH_VARIABLE' is not set",
    ),
}


@pytest.mark.parametrize(("text", "expected"), ERRORS.values(), ids=list(ERRORS))
def test_every_fleet_error_is_file_field_message(devices: Path, text: str, expected: str) -> None:
    found = problems_of(write(devices, "x.toml", text))
    assert found, "loaded"
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(devices / "x.toml") + ":") for p in found), found
    # A member problem is said once for the file, never once per member.
    assert len(found) == len(set(found))


def test_a_member_problem_is_said_once_for_the_file_with_the_first_members(devices: Path) -> None:
    found = problems_of(write(devices, "x.toml", fleet("cn[1-500]", "{node}:99999")))
    assert len(found) == 1
    assert "cn1:99999" in found[0] and "and 495 more" in found[0]


def test_load_file_refuses_a_fleet_file(devices: Path) -> None:
    entry, problems = load_file(str(write(devices, "x.toml", fleet("cn[1-2]", "{node}-bmc"))))
    assert entry is None and "describes several devices" in str(problems[0])


# -- clashes with other files --------------------------------------------------------------------


def broken_of(directory: Path) -> tuple[list[str], dict[str, list[str]]]:
    entries, broken, problems = scan_files(str(directory))
    assert problems == []
    return [e.name for e in entries], {os.path.basename(k): [str(p) for p in v] for k, v in broken.items()}


def test_a_member_name_used_by_another_file_breaks_the_file_read_later(devices: Path) -> None:
    write(devices, "rack.toml", fleet("cn[1-3]", "{node}-bmc"))
    write(devices, "x.toml", 'name = "rack:cn2"\n' + single("other", "other-bmc"))
    names, broken = broken_of(devices)
    assert names == ["rack:cn1", "rack:cn2", "rack:cn3"]
    assert list(broken) == ["x.toml"]
    assert "x.toml:name: device name 'rack:cn2' is also used by" in broken["x.toml"][0]
    # The other way round: the whole fleet is the file read later.
    os.rename(devices / "x.toml", devices / "a.toml")
    names, broken = broken_of(devices)
    assert names == ["rack:cn2"] and list(broken) == ["rack.toml"]
    assert "rack.toml:fleet.nodes: device name 'rack:cn2' is also used by" in broken["rack.toml"][0]


def test_one_bmc_in_a_fleet_and_in_a_single_file_is_a_clash(devices: Path) -> None:
    write(devices, "rack.toml", fleet("cn[1-3]", "{node}-bmc"))
    # A leftover single file of a member, and a wrong one: another node on a member's BMC.
    write(devices, "zz-cn1.toml", single("cn1", "cn1-bmc"))
    write(devices, "zz-db.toml", single("db1", "cn3-bmc"))
    names, broken = broken_of(devices)
    assert names == ["rack:cn1", "rack:cn2", "rack:cn3"]
    assert sorted(broken) == ["zz-cn1.toml", "zz-db.toml"]
    assert (
        "zz-cn1.toml:parameters.ipaddr: one BMC, one device file: ipmilan@cn1-bmc (node cn1) is also "
        in (broken["zz-cn1.toml"][0])
    )
    assert "rack.toml (node cn1)" in broken["zz-cn1.toml"][0]
    assert "(node db1) is also configured by" in broken["zz-db.toml"][0]
    # Read first, the single file wins and the fleet is the broken file.
    os.rename(devices / "zz-cn1.toml", devices / "a-cn1.toml")
    names, broken = broken_of(devices)
    assert names == ["a-cn1", "zz-db"] and list(broken) == ["rack.toml"]
    assert (
        "rack.toml:fleet.ipaddr: one BMC, one device file: ipmilan@cn1-bmc (node cn1)"
        in broken["rack.toml"][0]
    )


def test_two_fleets_sharing_a_bmc_and_a_node_on_a_pdu_too(devices: Path) -> None:
    write(devices, "a.toml", fleet("cn[1-3]", "10.0.0.[1-3]"))
    write(devices, "b.toml", fleet("gpu[1-2]", "10.0.0.[3-4]"))
    # A node of a fleet on a PDU too (next level): a topology, not a clash.
    write(
        devices,
        "pdu.toml",
        'type = "null"\nlevel = 2\n[parameters]\nhostlist = ["cn1"]\n[hosts]\ncn1 = "cn1"\n',
    )
    names, broken = broken_of(devices)
    assert names == ["a:cn1", "a:cn2", "a:cn3", "pdu"]
    assert list(broken) == ["b.toml"] and "ipmilan@10.0.0.3 (node gpu1)" in broken["b.toml"][0]


def test_stonith_check_reports_a_clash(devices: Path) -> None:
    write(devices, "rack.toml", fleet("cn[1-2]", "127.0.0.1:[1-2]"))
    write(devices, "zz.toml", single("cn2", "127.0.0.1:2"))
    result = run_stonith(
        "check", "--devices", str(devices), "--json", "--timeout", "2", env={"FLEET_PW": "x"}
    )
    rows = json.loads(result.stdout)
    assert result.returncode != 0
    errors = [r for r in rows if r["result"] == "error"]
    assert len(errors) == 1 and errors[0]["device"] == "zz.toml"
    assert "one BMC, one device file" in errors[0]["message"]
    assert {r["device"] for r in rows if r["result"] == "failed"} == {"rack:cn1", "rack:cn2"}


# -- a broken fleet fails only its own nodes ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "toml"),
    [
        (fleet("cn[1-3]", "{node}-bmc").replace("FLEET_PW", "FLEET_NO_SUCH_VARIABLE"), True),
        (fleet("cn[1-3]", "{node}-bmc").replace("[parameters]", "[parameters"), False),
    ],
    ids=["invalid", "malformed TOML"],
)
def test_a_broken_fleet_file_fails_only_its_nodes(devices: Path, text: str, toml: bool) -> None:
    from stonith.fencing.prepare import prepare

    write(devices, "rack.toml", text)
    # cn2 is also on a PDU (level 2): it is mapped by a loaded file and still depends on the fleet.
    write(
        devices,
        "pdu.toml",
        'type = "null"\nlevel = 2\n[parameters]\nhostlist = ["cn2", "db1"]\n'
        '[hosts]\ncn2 = "cn2"\ndb1 = "db1"\n',
    )
    prepared = prepare(str(devices), None, 5)
    assert [b.path for b in prepared.broken] == [str(devices / "rack.toml")]
    assert prepared.blocking("db1") == []
    for node in ("cn1", "cn2", "cn3"):
        assert prepared.blocking(node), node
    if toml:
        assert prepared.broken[0].hosts == ["cn1", "cn2", "cn3"]  # listed by a status of every node


def test_a_fleet_whose_node_set_cannot_be_read_fails_every_node(devices: Path) -> None:
    from stonith.fencing.prepare import prepare

    write(devices, "rack.toml", fleet("cn[1-", "{node}-bmc"))
    write(devices, "pdu.toml", 'type = "null"\n[parameters]\nhostlist = ["db1"]\n[hosts]\ndb1 = "db1"\n')
    prepared = prepare(str(devices), None, 5)
    assert prepared.blocking("db1")


def test_a_secret_command_runs_once_for_the_whole_fleet(devices: Path, tmp_path: Path) -> None:
    from stonith.fencing.prepare import prepare

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(mode=0o700)
    log = tmp_path / "ran.log"
    program = bin_dir / "secret"
    program.write_text(f"#!/bin/sh\necho ran >> {log}\necho {PASSWORD}\n")
    program.chmod(0o700)
    text = fleet("cn[1-50]", "{node}-bmc").replace('{ env = "FLEET_PW" }', f'{{ command = ["{program}"] }}')
    write(devices, "rack.toml", text)
    prepared = prepare(str(devices), None, 5)
    assert prepared.broken == []
    assert len(prepared.inventory.devices) == 50
    assert log.read_text().split() == ["ran"]
    assert {d.driver.params.password for d in prepared.inventory.devices} == {PASSWORD}
    assert all(not d.secret_commands for d in prepared.inventory.devices)
    # A failing command breaks the fleet file once, not once per member.
    program.write_text("#!/bin/sh\nexit 3\n")
    prepared = prepare(str(devices), None, 5)
    assert [b.path for b in prepared.broken] == [str(devices / "rack.toml")]
    assert prepared.inventory.devices == [] and len(prepared.broken[0].hosts) == 50


# -- the remote service and the pcs export -------------------------------------------------------


def test_the_service_lists_members_and_refuses_changing_one(devices: Path, tmp_path: Path) -> None:
    from stonith.contract.errors import StonithError
    from stonith.server.service import Actor, Service

    path = write(devices, "rack.toml", fleet("cn[1-2]", "{node}-bmc"))
    service = Service(str(devices), str(tmp_path / "history.jsonl"))
    listed = service.devices()
    assert [(d["name"], d["address"], d["fleet"]) for d in listed] == [
        ("rack:cn1", "cn1-bmc", "rack"),
        ("rack:cn2", "cn2-bmc", "rack"),
    ]
    config = service.device_config("rack:cn2")
    before = path.read_text()
    with pytest.raises(StonithError) as caught:
        service.modify_device("rack:cn2", {"login": "root"}, config["version"], Actor("admin", "test"))
    assert getattr(caught.value, "status", None) == 409
    assert "rack:cn2 is a member of the fleet rack" in str(caught.value)
    assert str(path) in str(caught.value)
    assert path.read_text() == before


def test_export_pcs_makes_one_resource_per_member(devices: Path) -> None:
    from stonith.cli.export import pcs_commands
    from stonith.fencing.inventory import load_dir

    write(devices, "rack.toml", fleet("cn[1-2]", "10.0.0.[1-2]"))
    export = pcs_commands(load_dir(str(devices)))
    creates = [line for line in export.lines if " stonith create " in line]
    assert len(creates) == 2, export.lines
    assert "stonith create rack-cn1 fence_stonith_ipmilan" in creates[0]
    assert "ip=10.0.0.1" in creates[0] and "pcmk_host_list=cn1" in creates[0]
    assert "ip=10.0.0.2" in creates[1] and "pcmk_host_list=cn2" in creates[1]
    assert "password_script=" in creates[0]


# -- equivalence against IPMI mocks, judged by ground truth ---------------------------------------


@contextmanager
def bmcs(hosts: list[str]) -> Iterator[tuple[Any, str, int]]:
    """IPMI mocks on 127.0.N.1.. at one port (``--spread ips``): the mock, the subnet prefix, the port."""
    from stonith.mocks.harness import MockNotReady, start_mock

    for _ in range(5):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        prefix = f"127.0.{random.randint(100, 250)}"
        try:
            with start_mock(
                "ipmilan",
                subprocess_=True,
                count=len(hosts),
                hosts=hosts,
                password=PASSWORD,
                listen=f"{prefix}.1:{port}",
                spread="ips",
            ) as mock:
                yield mock, prefix, port
                return
        except MockNotReady:
            continue
    pytest.skip("no free port for the IPMI mocks")


def run(directory: Path, tmp_path: Path, *argv: str) -> tuple[int, list[dict[str, Any]]]:
    env = {"FLEET_PW": PASSWORD, "STONITH_LOCK_DIR": str(tmp_path / "locks")}
    result = run_stonith(*argv, "--devices", str(directory), "--json", "--audit", "none", env=env)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    rows = json.loads(result.stdout)
    return result.returncode, [{k: r[k] for k in ("node", "result", "state", "exit_code")} for r in rows]


def truth_by_node(mock: Any, addresses: list[str], hosts: list[str]) -> dict[str, list[str]]:
    devices = mock.truth()["devices"]
    return {
        host: [e["state"] for e in devices[address]["events"]]
        for host, address in zip(hosts, addresses, strict=True)
    }


SCRIPT = [
    ("status", "cn[1-4]"),
    ("off", "cn2"),
    ("status", "cn[1-4]"),
    ("reset", "cn3,cn4"),
    ("on", "cn2"),
    ("status", "cn[1-4]"),
]


@pytest.mark.parametrize("form", ["node set", "template"])
def test_a_fleet_gives_the_verdicts_and_switching_of_single_files(tmp_path: Path, form: str) -> None:
    hosts = ["cn1", "cn2", "cn3", "cn4"]
    seen: dict[str, Any] = {}
    for layout in ("singles", "fleet"):
        directory = tmp_path / layout
        directory.mkdir(mode=0o700)
        with bmcs(hosts) as (mock, prefix, port):
            addresses = mock.info["addresses"]
            assert addresses == [f"{prefix}.{i}:{port}" for i in range(1, 5)]
            if layout == "fleet":
                ipaddr = f"{prefix}.[1-4]:{port}" if form == "node set" else f"{prefix}.{{index}}:{port}"
                write(directory, "rack.toml", fleet("cn[1-4]", ipaddr))
            else:
                for host, address in zip(hosts, addresses, strict=True):
                    write(directory, f"{host}.toml", single(host, address))
            verdicts = [run(directory, tmp_path, verb, nodes) for verb, nodes in SCRIPT]
            seen[layout] = (verdicts, truth_by_node(mock, addresses, hosts))
    assert seen["fleet"] == seen["singles"]
    verdicts, truth = seen["fleet"]
    assert all(code == 0 for code, _ in verdicts), verdicts
    assert [r["state"] for r in verdicts[2][1]] == ["on", "off", "on", "on"]
    assert truth == {"cn1": [], "cn2": ["off", "on"], "cn3": ["off", "on"], "cn4": ["off", "on"]}


def test_completion_names_fleet_nodes_and_members(devices: Path) -> None:
    write(devices, "rack.toml", fleet("CN[1-2]", "{node}-bmc"))
    write(devices, "db.toml", single("db1", "db1-bmc"))
    nodes = run_stonith("complete", "nodes", "--devices", str(devices))
    assert nodes.stdout.split() == ["CN1", "CN2", "db1"]
    names = run_stonith("complete", "devices", "--devices", str(devices))
    assert names.stdout.split() == ["db", "rack:CN1", "rack:CN2"]

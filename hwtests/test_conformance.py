"""Conformance of every device of a devices.d, through the cluster layer, against ground truth.

Parameterized by the devices.d under test (``--devices DIR``): per device (list, status, wrong
credentials, unreachable, deadline), per node (off -> verify, on -> verify, reset), per dual-PSU
node (every supply off before any on), and concurrent clients.  Mock devices are judged by their
ground truth as well as by what the cluster layer reports; real hardware only by the read-back
(and is switched only for nodes marked as test nodes, see hwtests/README.md).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

import hwtests  # noqa: F401
from stonith.cluster import FAILED, OK, Fencer
from stonith.driver import OFF, ON
from stonith.errors import ExitCode
from stonith.inventory import DeviceEntry, Inventory

GRACE = 1.0  # an operation may end at most this long after its deadline


def fencer(target, devices=None, timeout=None) -> Fencer:
    inventory = target.inventory
    if devices is not None:
        inventory = Inventory(devices, inventory.directory)
    return Fencer(inventory, timeout=timeout or target.timeout)


def timed(fn, *args):
    started = time.monotonic()
    result = fn(*args)
    return result, time.monotonic() - started


def deadline_of(target, devices) -> float:
    return target.timeout or max(d.timeout for d in devices)


def truth_states(lab, device: str, outlets) -> list[str]:
    """Ground-truth states of the outlets a DeviceResult names (matched by name, then by id)."""
    truth = lab.truth(device)["outlets"]
    by_name = {str(v["name"]).casefold(): v["state"] for v in truth.values()}
    states = []
    for outlet in outlets:
        if outlet.name and outlet.name.casefold() in by_name:
            states.append(by_name[outlet.name.casefold()])
        else:
            states.append(truth.get(outlet.id, {}).get("state", "missing"))
    return states


def assert_truth(target, lab, result, state: str) -> None:
    """Every outlet the result names really is ``state`` (mock devices only)."""
    for device_result in result.devices:
        if target.is_mock(device_result.device) and lab is not None:
            deadline = time.monotonic() + 2.0  # a state file written by a relay timer may lag a little
            while True:
                seen = truth_states(lab, device_result.device, device_result.outlets)
                if all(s == state for s in seen) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert all(s == state for s in seen), (device_result.device, seen, result.message)


def clone(entry: DeviceEntry, **config) -> DeviceEntry:
    """``entry`` with some driver parameters replaced (a fresh driver instance)."""
    driver = type(entry.driver)({**entry.driver.config, **config})
    return DeviceEntry(
        entry.name,
        entry.type,
        entry.path,
        driver,
        entry.hosts,
        entry.level,
        entry.settle,
        entry.timeout,
        entry.max_sessions,
        None,
    )


def readdressed(entry: DeviceEntry, address: str) -> DeviceEntry:
    """``entry`` pointed at ``address`` (host:port) wherever its configuration names its device."""
    where = entry.driver.device_name()
    changes = {}
    for key, value in entry.driver.config.items():
        if isinstance(value, str) and where and where in value:
            new = f"socket://{address}" if "://" in where or where.startswith("/") else address
            changes[key] = value.replace(where, new)
    if not changes:
        pytest.skip(f"cannot tell which parameter of {entry.type} holds its address")
    return clone(entry, **changes)


# -- per device ---------------------------------------------------------------------------------


def test_list(target, lab, device):
    """Every node configured for the device resolves to outlets the device reports."""
    target.require_device(device)
    entry = target.inventory.by_name(device)
    nodes = target.nodes_of(device)
    if not nodes:  # outlet names are node names
        found = fencer(target, [entry]).known_nodes()
        assert found, "the device lists no outlets"
        return
    results = fencer(target, [entry]).status(nodes)
    bad = [r.as_dict() for r in results if r.exit_code == ExitCode.S_BADHOST or r.result == "unknown-node"]
    assert not bad, bad


def test_status(target, lab, device):
    """Status of every node of the device reads ON or OFF, and (mocks) matches the ground truth."""
    target.require_device(device)
    entry = target.inventory.by_name(device)
    nodes = target.nodes_of(device) or fencer(target, [entry]).known_nodes()
    results, took = timed(fencer(target, [entry]).status, nodes)
    assert took <= deadline_of(target, [entry]) + GRACE
    for result in results:
        assert result.result == OK and result.state in (ON, OFF), result.as_dict()
        assert_truth(target, lab, result, result.state)


def test_wrong_credentials(target, lab, device):
    """A wrong password is refused as S_ACCESS, switches nothing and is not retried past the deadline."""
    target.require_device(device)
    entry = target.inventory.by_name(device)
    if not target.is_mock(device) and device not in target.wrong_credentials:
        pytest.skip("real hardware may lock accounts: allow with wrong_credentials = true in hwtests.conf")
    if not entry.driver.config.get("password"):
        pytest.skip("the device is configured without a password")
    wrong = clone(entry, password=str(entry.driver.config["password"]) + "-wrong")
    nodes = target.nodes_of(device)[:1] or ["any-node"]
    before = lab.truth(device)["events"] if lab is not None and target.is_mock(device) else None
    results, took = timed(fencer(target, [wrong], timeout=5.0).run, "off", nodes)
    assert took <= 5.0 + GRACE
    if entry.hosts is None and results[0].result == "unknown-node":
        assert "could not be listed" in results[0].message
        return
    if results[0].result == OK:
        pytest.skip("the device does not check passwords (a login-free personality)")
    assert results[0].result == FAILED
    assert results[0].exit_code == ExitCode.S_ACCESS, results[0].as_dict()
    if before is not None:
        assert lab.truth(device)["events"] == before


def test_unreachable(target, device):
    """A device nobody answers for fails with a clear error within the deadline (no hardware touched)."""
    if target.dry_run:
        pytest.skip("dry run")
    entry = target.inventory.by_name(device)
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        gone = readdressed(entry, f"127.0.0.1:{hold.getsockname()[1]}")
        nodes = target.nodes_of(device)[:1] or ["any-node"]
        results, took = timed(fencer(target, [gone], timeout=3.0).status, nodes)
    finally:
        hold.close()
    assert took <= 3.0 + GRACE
    assert results[0].result != OK
    assert results[0].exit_code in (ExitCode.S_OOPS, ExitCode.S_TIMEOUT, ExitCode.S_ACCESS)
    assert results[0].message


def test_deadline(target, lab, device):
    """A hung device (mock: the device's own personality with a silent fault) fails within deadline + 1 s."""
    target.require_device(device)
    entry = target.inventory.by_name(device)
    if not target.is_mock(device):
        # Real hardware: a short deadline must still end in time, whatever it reports.
        nodes = target.nodes_of(device)[:1] or ["any-node"]
        results, took = timed(fencer(target, [entry], timeout=0.5).status, nodes)
        assert took <= 0.5 + GRACE, results[0].as_dict()
        return
    from stonith.mocks.__main__ import start

    args = [str(a) for a in entry.mock.get("args", [])]  # type: ignore[union-attr]
    if "--listen" in args:
        at = args.index("--listen")
        del args[at : at + 2]
    mock_type = str(entry.mock.get("type", entry.type))  # type: ignore[union-attr]
    password = entry.driver.config.get("password")
    argv = [mock_type, *args, "--listen", "127.0.0.1:0", "--fault", "silent=0"]
    if isinstance(password, str):
        argv += ["--password", password]
    hung = start(argv)
    try:
        silent = readdressed(entry, str(hung.info["address"]))
        nodes = target.nodes_of(device)[:1] or ["any-node"]
        results, took = timed(fencer(target, [silent], timeout=1.0).run, "off", nodes)
        assert took <= 1.0 + GRACE, took
        assert results[0].result != OK
        assert hung.truth()["events"] == []
    finally:
        hung.close()


# -- per node -----------------------------------------------------------------------------------


def test_off_on(target, lab, node):
    """off -> every outlet reads back off (and is off); on -> every outlet on."""
    target.require_switch(node, "off, then on")
    devices = [target.inventory.by_name(d) for d in target.devices_of(node)]
    deadline = deadline_of(target, devices)
    results, took = timed(fencer(target).run, "off", [node])
    assert took <= deadline * len({d.level for d in devices}) + GRACE
    assert results[0].result == OK and results[0].state == OFF, results[0].as_dict()
    assert_truth(target, lab, results[0], OFF)
    results, took = timed(fencer(target).run, "on", [node])
    assert results[0].result == OK and results[0].state == ON, results[0].as_dict()
    assert_truth(target, lab, results[0], ON)


def test_reset(target, lab, node):
    """reset -> fenced and back on; the ground truth shows every outlet off before any went on."""
    target.require_switch(node, "reset")
    started = time.time()
    results = fencer(target).run("reset", [node])
    assert results[0].result == OK, results[0].as_dict()
    assert_truth(target, lab, results[0], ON)
    if lab is not None:
        assert_off_before_on(target, lab, node, started)


def test_dual_psu(target, lab, dual_node):
    """A node fed by several devices: every supply off (read back) before any supply is switched on."""
    target.require_switch(dual_node, "reset (dual PSU)")
    started = time.time()
    results = fencer(target).run("reset", [dual_node])
    assert results[0].result == OK, results[0].as_dict()
    phases = [(d.device, d.phase) for d in results[0].devices]
    assert {d for d, p in phases if p == "off"} == set(target.devices_of(dual_node)), phases
    if lab is not None:
        assert_off_before_on(target, lab, dual_node, started)


def assert_off_before_on(target, lab, node: str, since: float) -> None:
    time.sleep(0.3)
    offs, ons = [], []
    for device in target.devices_of(node):
        if not target.is_mock(device):
            continue
        entry = target.inventory.by_name(device)
        truth = lab.truth(device)
        refs = {r.casefold() for r in (entry.hosts or {}).get(node, [node])}
        keys = {k for k, v in truth["outlets"].items() if k in refs or str(v["name"]).casefold() in refs}
        for event in truth["events"]:
            if event["outlet"] in keys and event["t"] >= since - 0.05:
                (offs if event["state"] == OFF else ons).append(event["t"])
    assert offs and ons and max(offs) < min(ons), (offs, ons)


# -- many clients -------------------------------------------------------------------------------


def test_concurrent_clients(target, lab):
    """Several clients (own Fencer each, one thread each) reset test nodes at once: all succeed."""
    nodes = [n for n in target.all_nodes() if target.may_switch(n)][:4]
    if len(nodes) < 2:
        pytest.skip("needs two test nodes")
    for node in nodes:
        target.require_switch(node, "reset (concurrently)")
    results: dict[str, object] = {}

    def one(node: str) -> None:
        try:
            results[node] = fencer(target).run("reset", [node])[0]
        except Exception as exc:  # reported below as the failure it is
            results[node] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for node in nodes:
        result = results.get(node)
        assert getattr(result, "result", None) == OK, (node, getattr(result, "message", result))

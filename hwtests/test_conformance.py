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
from stonith.contract.driver import OFF, ON
from stonith.contract.errors import ExitCode
from stonith.fencing.engine import FAILED, OK, Fencer
from stonith.fencing.inventory import DeviceEntry, Inventory

GRACE = 1.0  # an operation may end at most this long after its deadline
USB_TYPES = frozenset({"sispm"})  # drivers reached through a pyusb backend, not an address


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


def verifiable(target, devices) -> bool:
    """Whether every device can read outlet states back (else the cluster layer fences nothing)."""
    return all(target.inventory.by_name(d).info.capabilities.status for d in devices)


def events_of(target, lab, node: str, since: float) -> list[dict]:
    """Ground-truth relay changes of ``node``'s outlets since ``since`` (mock devices only)."""
    found = []
    for device in target.devices_of(node):
        if lab is None or not target.is_mock(device):
            continue
        entry = target.inventory.by_name(device)
        truth = lab.truth(device)
        refs = {r.casefold() for r in (entry.hosts or {}).get(node, [node])}
        keys = {k for k, v in truth["outlets"].items() if k in refs or str(v["name"]).casefold() in refs}
        found += [dict(e, device=device) for e in truth["events"] if e["outlet"] in keys and e["t"] >= since]
    return found


def assert_refused(target, node: str, result) -> None:
    """A node on a device without read-back is reported not done, with the reason: no false success."""
    assert result.result != OK and result.exit_code != ExitCode.S_OK, result.as_dict()
    assert result.message.startswith("NOT "), result.as_dict()
    assert all(d.error for d in result.devices if not verifiable(target, [d.device])), result.as_dict()


def assert_nothing_switched(target, lab, node: str, since: float) -> None:
    """The ground truth of ``node``'s outlets shows no relay change since ``since``."""
    time.sleep(0.3)  # a relay that did get a command follows within the mocks' relay delay
    assert events_of(target, lab, node, since - 0.05) == []


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
        entry.description,
        entry.device_names,
    )


def on_usb_backend(entry: DeviceEntry, endpoint: str) -> DeviceEntry:
    """``entry`` (a USB driver: drivers/sispm.py) talking to the fake USB backend at ``unix:PATH``."""
    from stonith.mocks.usb_socket import socket_backend

    moved = clone(entry)
    # Per instance: STONITH_USB_BACKEND is process-wide and names the lab's own strip.
    moved.driver.backend = socket_backend(endpoint.removeprefix("unix:"))  # type: ignore[attr-defined]
    return moved


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
        if not verifiable(target, [device]):
            # Nothing to read: an unknown state, reported as such, never a guessed ON or OFF.
            assert result.result != OK and result.state not in (ON, OFF), result.as_dict()
            assert device in result.message, result.as_dict()
            continue
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
    password = str(entry.driver.config["password"])
    # Same length: some drivers cap it (IPMI: 20 bytes), and the wrong one must still be valid.
    wrong = clone(entry, password=password[:-1] + ("x" if password[-1] != "x" else "y"))
    nodes = target.nodes_of(device)[:1] or ["any-node"]
    before = lab.truth(device)["events"] if lab is not None and target.is_mock(device) else None
    results, took = timed(fencer(target, [wrong], timeout=5.0).run, "off", nodes)
    assert took <= 5.0 + GRACE
    if entry.hosts is None and results[0].result == "unknown-node":
        # A device that names its own nodes could not be asked for them: the node is unknown,
        # naming the device and the refusal (stonith.fencing.engine._unknown_node), never fenced.
        assert f"could not ask {device}" in results[0].message, results[0].message
        assert results[0].exit_code == 2, results[0].as_dict()  # S_ACCESS, as the refusal says
        return
    # Accepted is a failure, not a skip: either the device lets anyone in, so the password in its
    # configuration protects nothing (remove it and say so), or our driver never sent it.
    assert results[0].result != OK, (
        f"{device} accepted a wrong password: the device does not check it, or the driver does not "
        "send it; configure a device without a login without a password"
    )
    assert results[0].result == FAILED
    assert results[0].exit_code == ExitCode.S_ACCESS, results[0].as_dict()
    if before is not None:
        assert lab.truth(device)["events"] == before


def test_unreachable(target, device, tmp_path):
    """A device nobody answers for fails with a clear error within the deadline (no hardware touched)."""
    if target.dry_run:
        pytest.skip("dry run")
    entry = target.inventory.by_name(device)
    usb = entry.type in USB_TYPES
    hold = socket.socket(socket.AF_UNIX if usb else socket.AF_INET)
    # Bound, never listening: connections are refused.
    hold.bind(str(tmp_path / "usb.sock") if usb else ("127.0.0.1", 0))
    try:
        if usb:
            gone = on_usb_backend(entry, f"unix:{hold.getsockname()}")
        else:
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
    listen = ["--listen", "127.0.0.1:0"]
    if "--listen" in args:
        at = args.index("--listen")
        del args[at : at + 2]
    elif entry.type in USB_TYPES:
        listen = []  # a USB strip has no network address
    mock_type = str(entry.mock.get("type", entry.type))  # type: ignore[union-attr]
    password = entry.driver.config.get("password")
    argv = [mock_type, *args, *listen, "--fault", "silent=0"]
    if isinstance(password, str):
        argv += ["--password", password]
    hung = start(argv)
    try:
        if "usb_backend" in hung.info:
            silent = on_usb_backend(entry, str(hung.info["usb_backend"]))
        else:
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
    started = time.time()
    results, took = timed(fencer(target).run, "off", [node])
    assert took <= deadline * len({d.level for d in devices}) + GRACE
    if not verifiable(target, target.devices_of(node)):
        assert_refused(target, node, results[0])
        results, took = timed(fencer(target).run, "on", [node])
        assert took <= deadline * len({d.level for d in devices}) + GRACE
        assert_refused(target, node, results[0])
        assert_nothing_switched(target, lab, node, started)
        return
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
    if not verifiable(target, target.devices_of(node)):
        assert_refused(target, node, results[0])
        assert_nothing_switched(target, lab, node, started)
        return
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
    level = results[0].level
    phases = [(d.device, d.phase, d.level) for d in results[0].devices]
    fenced_by = set(target.devices_of(dual_node, level=level))
    switched_off = {d for d, p, at in phases if p == "off" and at == level}
    assert len(fenced_by) > 1 and switched_off == fenced_by, phases
    if lab is not None:
        assert_off_before_on(target, lab, dual_node, started)


def assert_off_before_on(target, lab, node: str, since: float) -> None:
    time.sleep(0.3)
    # Exactly ``since`` (taken before the operation): a fast device's last change of the test before
    # (an SNMP switch's port back up) can land within a few milliseconds of it.
    events = events_of(target, lab, node, since)
    offs = [e["t"] for e in events if e["state"] == OFF]
    ons = [e["t"] for e in events if e["state"] != OFF]
    assert offs and ons and max(offs) < min(ons), (offs, ons)


# -- many clients -------------------------------------------------------------------------------


def test_concurrent_clients(target, lab):
    """Several clients (own Fencer each, one thread each) reset verifiable test nodes at once: all succeed."""
    # A node without read-back can never be reset successfully (test_reset checks its refusal).
    switchable = [n for n in target.all_nodes() if target.may_switch(n)]
    nodes = [n for n in switchable if verifiable(target, target.devices_of(n))][:4]
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

"""A lab of mock devices: start the mocks that devices.d declares, read their ground truth, stop them.

A device file's ``[mock]`` table says how to start the mock standing in for it::

    [mock]
    type = "baytech"                       # default: the device's type
    args = ["--model", "rpc3", "--listen", "127.0.0.1:17023", "--names", "node1,node2"]

The mock gets the device's secrets through its environment (STONITH_MOCK_PASSWORD, and an SNMP
agent's community as STONITH_MOCK_COMMUNITY), never argv,
and writes its ground truth to ``<state_dir>/<device>.json``.

A lab never hands production secrets to a mock: a device with a password or community is started
only when it talks to its mock, i.e. every address in its configuration is a loopback address (or,
for a serial device, the very ``--serial-link`` its mock serves), and the mock listens on loopback
only.  Otherwise the lab refuses, naming each device and why: that devices.d is for real hardware.
"""

from __future__ import annotations

import os
import tempfile

from stonith.contract.errors import StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.fencing.inventory import DeviceEntry, Inventory
    from stonith.mocks.harness import MockHandle


class Lab:
    """``with Lab(inventory) as lab:`` runs every declared mock for the block."""

    def __init__(self, inventory: Inventory, state_dir: str | None = None) -> None:
        self.inventory = inventory
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.state_dir = state_dir
        self.mocks: dict[str, MockHandle] = {}

    def __enter__(self) -> Lab:
        refused = [
            f"{device.name}: {why}"
            for device in self.inventory.devices
            if device.mock is not None and (why := production_risk(device)) is not None
        ]
        if refused:
            raise StonithError(
                "refusing to hand these devices' secrets to mocks (a lab's devices.d points at its "
                "mocks on loopback): " + "; ".join(refused)
            )
        if self.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="stonith-lab-")
            self.state_dir = self._tmp.name
        try:
            for device in self.inventory.devices:
                if device.mock is not None:
                    self.mocks[device.name] = self._start(device)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, device: DeviceEntry) -> MockHandle:
        from stonith.mocks.harness import MockNotReady, start_process

        assert device.mock is not None and self.state_dir is not None
        mock_type = str(device.mock.get("type", device.type))
        argv = [mock_type, *map(str, device.mock.get("args", []))]
        # SNMP agents: the read-write community is their secret.
        secrets = {
            variable: value
            for name, variable in MOCK_SECRETS.items()
            if isinstance(value := device.driver.config.get(name), str)
        }
        state_file = os.path.join(self.state_dir, f"{device.name}.json")
        try:
            return start_process(argv, secrets, state_file)
        except MockNotReady as exc:
            command = " ".join([*argv, "--state-file", state_file])
            raise StonithError(f"mock for device {device.name} did not start ({command}): {exc}") from None

    def truth(self, device: str) -> dict[str, Any]:
        return self.mocks[device].truth()

    def stop(self) -> None:
        from stonith.mocks.harness import stop

        stop(mock.process for mock in self.mocks.values())
        self.mocks = {}
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


MOCK_SECRETS = {"password": "STONITH_MOCK_PASSWORD", "community": "STONITH_MOCK_COMMUNITY"}


def production_risk(device: DeviceEntry) -> str | None:
    """Why starting ``device``'s mock could hand a production secret to it; None when it cannot.

    A device without a secret to hand is safe whatever it points at.  One with a secret must talk to
    loopback only (``ipaddr``, a pyserial URL's host) or to the pty its own mock serves
    (``--serial-link``), and its mock must not listen beyond loopback.
    """
    assert device.mock is not None
    if not any(isinstance(device.driver.config.get(name), str) for name in MOCK_SECRETS):
        return None
    args = [str(a) for a in device.mock.get("args", [])]
    listen = _option(args, "--listen")
    if listen is not None and not is_loopback(_host_of(listen)):
        return f"its mock would listen on {listen}, beyond this host"
    serial_link = _option(args, "--serial-link")
    for field, address in _addresses(device.driver.config):
        if "://" in address:
            host = _host_of(address.split("://", 1)[1].split("/", 1)[0])
            if not is_loopback(host):
                return f"{field} {address} is not on this host"
        elif address.startswith("/") or field == "ttydev":
            if serial_link is None or os.path.abspath(address) != os.path.abspath(serial_link):
                return f"{field} {address} is not the serial link its mock serves"
        elif not is_loopback(_host_of(address)):
            return f"{field} {address} is not a loopback address"
    return None


def _addresses(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, address) of every field that says where the device is."""
    found = [(name, str(config[name])) for name in ("ipaddr", "ttydev") if config.get(name)]
    targets = config.get("serial_to_targets")
    if isinstance(targets, str) and targets.split():
        found.append(("serial_to_targets", targets.split()[0]))
    return found


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _host_of(hostport: str) -> str:
    from stonith.contract.validation import split_hostport

    try:
        return split_hostport(hostport, 0, lowest=0)[0]
    except ValueError:
        return hostport


def is_loopback(host: str) -> bool:
    """An IP literal of the loopback network, or ``localhost``; a name is never resolved (DNS may lie)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""A lab of mock devices: start the mocks that devices.d declares, read their ground truth, stop them.

A device file's ``[mock]`` table says how to start the mock standing in for it::

    [mock]
    type = "baytech"                       # default: the device's type
    args = ["--model", "rpc3", "--listen", "127.0.0.1:17023", "--names", "node1,node2"]

The mock gets the device's secrets through its environment (STONITH_MOCK_PASSWORD, and an SNMP
agent's community as STONITH_MOCK_COMMUNITY), never argv,
and writes its ground truth to ``<state_dir>/<device>.json``.
"""

from __future__ import annotations

import json
import os
import tempfile

from stonith.errors import StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Any

    from stonith.inventory import DeviceEntry, Inventory


class RunningMock:
    def __init__(
        self, device: str, process: subprocess.Popen[str], info: dict[str, Any], state_file: str
    ) -> None:
        self.device = device
        self.process = process
        self.info = info
        self.state_file = state_file

    def truth(self) -> dict[str, Any]:
        with open(self.state_file, encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
        return data


class Lab:
    """``with Lab(inventory) as lab:`` runs every declared mock for the block."""

    def __init__(self, inventory: Inventory, state_dir: str | None = None) -> None:
        self.inventory = inventory
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.state_dir = state_dir
        self.mocks: dict[str, RunningMock] = {}

    def __enter__(self) -> Lab:
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

    def _start(self, device: DeviceEntry) -> RunningMock:
        from stonith.mocks.harness import MockNotReady, spawn

        assert device.mock is not None and self.state_dir is not None
        mock_type = str(device.mock.get("type", device.type))
        state_file = os.path.join(self.state_dir, f"{device.name}.json")
        argv = [mock_type, *map(str, device.mock.get("args", [])), "--state-file", state_file]
        secrets = {}
        password = device.driver.config.get("password")
        if isinstance(password, str):
            secrets["STONITH_MOCK_PASSWORD"] = password
        community = device.driver.config.get("community")
        if isinstance(community, str):  # SNMP agents: the read-write community is their secret
            secrets["STONITH_MOCK_COMMUNITY"] = community
        try:
            process, info = spawn(argv, secrets)
        except MockNotReady as exc:
            command = " ".join(argv)
            raise StonithError(f"mock for device {device.name} did not start ({command}): {exc}") from None
        return RunningMock(device.name, process, info, state_file)

    def truth(self, device: str) -> dict[str, Any]:
        return self.mocks[device].truth()

    def stop(self) -> None:
        from stonith.mocks.harness import stop

        stop(mock.process for mock in self.mocks.values())
        self.mocks = {}
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

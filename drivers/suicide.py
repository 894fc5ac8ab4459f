"""suicide: the local host resets or powers off itself.  FOR TESTING ONLY.

Family: none.  Protocol: ``reboot -nf`` / ``poweroff -nf`` on this machine, only when the node
asked for is this host (``uname -n``), like cluster-glue's ``suicide``.  Nothing can read back
the result (we are gone), so the result is never verified.
"""

from __future__ import annotations

import os
import subprocess

from stonith.contract.driver import ON, TESTING_ONLY, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import DeviceError, UnknownOutlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from stonith.contract.deadline import Deadline

REBOOT = ["/sbin/reboot", "-nf"]
POWEROFF = ["/sbin/poweroff", "-nf"]

INFO = DriverInfo(
    "suicide",
    shortdesc="suicide STONITH device",
    description="Local host suicide STONITH device: resets or powers off the local host only.\n"
    "FOR TESTING ONLY!",
    fields=(),
    family="none",
    status=TESTING_ONLY,
    capabilities=Capabilities(cycle=True, power_on=False, status=False, sessions=0),
    summary="Reset the local host only; for testing only",
)


class Suicide(Driver):
    INFO = INFO

    def static_outlets(self) -> list[Outlet]:
        return [Outlet(os.uname().nodename)]

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return self.static_outlets()

    def _local(self, outlet: Outlet) -> None:
        if outlet.name != os.uname().nodename and outlet.name.lower() != os.uname().nodename.lower():
            raise UnknownOutlet(f"suicide can only reset the local host {os.uname().nodename}")

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        self._local(outlet)
        return ON

    def _run(self, argv: list[str], deadline: Deadline) -> None:
        try:
            subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=max(0.1, deadline.remaining()), check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise DeviceError(f"{argv[0]} failed: {exc}") from None

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        raise DeviceError("a host cannot power itself on")

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._local(outlet)
        self._run(POWEROFF, deadline)

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        self._local(outlet)
        self._run(REBOOT, deadline)

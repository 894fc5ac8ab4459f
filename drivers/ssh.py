"""ssh: reboot a host by logging in to it.  FOR TESTING ONLY.

Family: none.  Protocol: OpenSSH client in batch mode (keys only; no password ever passes through
argv or a tty), running a delayed ``reboot -nf`` on the target, like cluster-glue's ``ssh``.
A host that cannot be reached cannot be reset this way, and a host that answers ssh is not
proven off: so this driver only offers a reset, verified as "the ssh port went silent, then
answered again" within the deadline.  It cannot power off or on.
Assumes: root (or ``user``) may log in with a key; ``at`` is installed on the target.
"""

from __future__ import annotations

import socket
import subprocess

from stonith.contract import params
from stonith.contract.driver import ON, TESTING_ONLY, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import DeviceError, StateMismatch, Timeout
from stonith.contract.fields import INTEGER, Field, hostlist

TYPE_CHECKING = False
if TYPE_CHECKING:
    from stonith.contract.deadline import Deadline

SSH = "/usr/bin/ssh"
REBOOT_COMMAND = "echo 'sleep 2; /sbin/reboot -nf' | SHELL=/bin/sh at now >/dev/null 2>&1"

INFO = DriverInfo(
    "ssh",
    shortdesc="SSH STONITH device",
    description="SSH-based host reset\n"
    "Fine for testing, but not suitable for production!\n"
    "Only reboot action supported, no poweroff, and, surprisingly enough, no poweron.",
    fields=(
        hostlist(),
        Field(
            "user",
            "User",
            regex=r"[a-z_][a-z0-9_.-]{0,31}",
            default="root",
            long_text="The user to log in as on the target",
        ),
        params.IDENTITY_FILE,
        Field(
            "ssh_port",
            "SSH port",
            basictype=INTEGER,
            minval=1,
            maxval=65535,
            default=22,
            long_text="TCP port of the targets' ssh servers",
        ),
    ),
    family="none",
    status=TESTING_ONLY,
    capabilities=Capabilities(cycle=True, power_on=False, power_off=False, sessions=0),
    summary="Reboot through ssh; for testing only",
)


class Ssh(Driver):
    INFO = INFO

    def static_outlets(self) -> list[Outlet]:
        return [Outlet(h.lower()) for h in self.params.hostlist]

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return self.static_outlets()

    def _answers(self, host: str, deadline: Deadline) -> bool:
        try:
            with socket.create_connection(
                (host, self.params.ssh_port), timeout=min(2.0, max(0.05, deadline.remaining()))
            ):
                return True
        except OSError:
            return False

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        # A silent ssh port does not prove the power is off: never OFF.
        return ON if self._answers(outlet.id, deadline) else UNKNOWN

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        raise StateMismatch("ssh cannot power a host on")

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        raise StateMismatch("ssh cannot power a host off")

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        argv = [
            SSH,
            "-q",
            "-x",
            "-n",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            f"ConnectTimeout={max(1, int(min(10.0, deadline.remaining())))}",
            "-p",
            str(self.params.ssh_port),
            "-l",
            self.params.user,
        ]
        if self.params.identity_file:
            argv += ["-i", self.params.identity_file]
        argv += ["--", outlet.id, REBOOT_COMMAND]
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=max(0.1, deadline.remaining()),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Timeout(f"ssh to {outlet.id} did not finish before the deadline") from None
        except OSError as exc:
            raise DeviceError(f"cannot run {SSH}: {exc.strerror}") from None
        if proc.returncode != 0:
            raise DeviceError(f"ssh to {outlet.id} failed (exit {proc.returncode})")
        while self._answers(outlet.id, deadline):
            if deadline.expired():
                raise StateMismatch(f"{outlet.id} still answers ssh; the reboot did not happen")
            deadline.sleep(1.0)

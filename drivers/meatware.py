"""meatware: a human operator powers the node off or resets it, and confirms.

Family: none (manual intervention), after cluster-glue's ``meatware`` and ``meatclient``.
Protocol: for every request the driver opens a Unix socket ``<socket_dir>/meatware.<host>.sock``
(mode 0600), logs ``OPERATOR INTERVENTION REQUIRED`` and waits, until the deadline, for
``stonith meatclient -c <host>``, which sends ``meatware reply <host>\\n`` and receives ``ok\\n``.
The operator's confirmation is the read-back: until one arrives the host's state is unknown.
Assumes: the operator really checks the machine before confirming.
"""

from __future__ import annotations

import contextlib
import os
import socket

from stonith.contract import log
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import Timeout, UnknownOutlet
from stonith.contract.fields import HOSTNAME, PATH, Field, hostlist
from stonith.contract.validation import check_special

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from stonith.contract.deadline import Deadline

DEFAULT_SOCKET_DIR = "/run/stonith"
REQUEST = "meatware reply {host}\n"
ANSWER = b"ok\n"

INFO = DriverInfo(
    "meatware",
    shortdesc="Meatware STONITH device",
    description="Human (meatware) intervention STONITH device.\n"
    "This STONITH agent prompts a human to reset a machine.\n"
    "The human tells it when the reset was completed.",
    fields=(
        hostlist(),
        Field(
            "socket_dir",
            "Socket directory",
            specialtype=PATH,
            default=DEFAULT_SOCKET_DIR,
            long_text="Directory of the sockets on which stonith meatclient confirms",
        ),
    ),
    family="manual",
    status="beta",
    capabilities=Capabilities(cycle=True, any_host=True, sessions=0),
    summary="Human operator confirms each reset (like cluster-glue's meatware)",
)


def socket_path(socket_dir: str, host: str) -> str:
    return os.path.join(socket_dir, f"meatware.{host}.sock")


class Meatware(Driver):
    INFO = INFO

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._state: dict[str, str] = {}

    def static_outlets(self) -> list[Outlet]:
        return [Outlet(h.lower()) for h in self.params.hostlist]

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return self.static_outlets()

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return self._state.get(outlet.id, UNKNOWN)

    def _ask(self, outlet: Outlet, what: str, deadline: Deadline) -> None:
        host = outlet.id
        if check_special(HOSTNAME, host) is not None:
            raise UnknownOutlet(f"'{host}' is not a host name meatware can ask about")
        directory = self.params.socket_dir or DEFAULT_SOCKET_DIR
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = socket_path(directory, host)
        if os.path.exists(path):
            os.unlink(path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o177)
            try:
                server.bind(path)
            finally:
                os.umask(old_umask)
            server.listen(1)
            log.crit(f"OPERATOR INTERVENTION REQUIRED to {what} {host}.")
            log.crit(f'Run "stonith meatclient -c {host}" AFTER you have done it.')
            while True:
                server.settimeout(max(0.01, deadline.remaining()))
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    raise Timeout(f"no operator confirmation for {host} before the deadline") from None
                with conn:
                    conn.settimeout(max(0.01, min(5.0, deadline.remaining())))
                    try:
                        line = conn.recv(512).decode("utf-8", "replace")
                    except OSError:
                        continue
                    if line == REQUEST.format(host=host):
                        conn.sendall(ANSWER)
                        log.info(f"operator confirmed: {what} {host}")
                        return
                    conn.sendall(b"wrong host\n")
        finally:
            server.close()
            with contextlib.suppress(OSError):
                os.unlink(path)

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._state[outlet.id] = UNKNOWN
        self._ask(outlet, "power on", deadline)
        self._state[outlet.id] = ON

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._state[outlet.id] = UNKNOWN
        self._ask(outlet, "power off", deadline)
        self._state[outlet.id] = OFF

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        self._state[outlet.id] = UNKNOWN
        self._ask(outlet, "reset", deadline)
        self._state[outlet.id] = ON

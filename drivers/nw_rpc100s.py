"""nw_rpc100s: Micro Energetics Night/Ware RPC100S, one outlet on a serial line.

Family: Night/Ware RPC100S remote power controller (one switched outlet).
Protocol: 9600 8N1 on a tty or any pyserial URL; commands ``//0,<delay>,<duration>;`` ended by
CR LF, answered ``OK`` or ``Invalid Entry`` (device-dialogues.md section 6): on ``//0,0,0;``, off
``//0,0,*;`` (off until the next command), reset ``//0,0,<offtime>;`` (off for ``offtime`` seconds,
then back on, timed by the device).

The device cannot report its outlet state, so nothing it does can be verified: the driver says so
(``status`` capability off), the cluster layer refuses to count its results as fenced, and the
glue-compatible CLI prints "NOT verified".  Every request is preceded by the liveness check
cluster-glue uses (``//0,0,BOGUS;`` must be answered ``Invalid Entry``).

Tested on: the mock (mocks/nw_rpc100s.py) on a pty, which Debian's cluster-glue 1.0.12
``nw_rpc100s`` plugin accepts unmodified (tests/drivers/test_nw_rpc100s.py).  Not yet on hardware.

Fixed cluster-glue defect: ``hostlist`` is split into host names (cluster-glue compares the whole
string with the host, so two hosts on the outlet list fine and then never match).

Assumes: every host of ``hostlist`` is fed by the one outlet.
"""

from __future__ import annotations

from stonith.drivers._console import SerialDriver

from stonith.contract import params
from stonith.contract.driver import UNKNOWN, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import DeviceError
from stonith.contract.fields import INTEGER, Field, hostlist

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from stonith.contract.deadline import Deadline
    from stonith.transport.stream import Stream

SPEED = 9600
EOL = b"\r\n\r"  # what cluster-glue sends: CR LF and an extra CR
BOGUS = b"//0,0,BOGUS;"
OK = b"OK\r\n"
INVALID = b"Invalid Entry\r\n"
CHECK_STEP = 12.0  # cluster-glue: 12 s for the liveness answer
COMMAND_STEP = 5.0  # and 5 s for OK
OUTLET = "1"

TTYDEV = params.TTYDEV
HOSTLIST = hostlist("The hosts fed by the RPC100S outlet (blank- or comma-separated)")
OFFTIME = Field(
    "offtime",
    "Reset off time",
    basictype=INTEGER,
    default=10,
    minval=1,
    maxval=999,
    short_text="Seconds the outlet stays off during a reset",
    long_text="How long the device keeps the outlet off during a reset before switching it back "
    "on by itself (cluster-glue uses 10 seconds).",
)

INFO = DriverInfo(
    "nw_rpc100s",
    shortdesc="Micro Energetics Night/Ware RPC100S",
    description="The Micro Energetics Night/Ware RPC100S remote power controller (one outlet) "
    "on a serial line.\nThe device cannot report the outlet state: results are not verified.",
    fields=(TTYDEV, HOSTLIST, OFFTIME),
    family="Night/Ware RPC100S",
    models=("RPC100S",),
    capabilities=Capabilities(cycle=True, status=False, sessions=1),
    summary="Micro Energetics Night/Ware RPC100S serial switch",
)


class NwRpc100s(SerialDriver):
    INFO = INFO
    SPEED = SPEED
    DEVICE = "the RPC100S"

    def _start(self, stream: Stream, deadline: Deadline) -> None:
        self._alive(deadline)

    def probe(self, deadline: Deadline) -> str:
        self._alive(deadline)
        return "Night/Ware RPC100S"

    # -- verbs ---------------------------------------------------------------------------------
    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return [Outlet(OUTLET, host) for host in self.params.hostlist]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return UNKNOWN  # the RPC100S has no read-back

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._command(b"//0,0,0;", deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._command(b"//0,0,*;", deadline)

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        self._command(b"//0,0,%d;" % self.params.offtime, deadline)

    def on_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        self.on(outlets[0], deadline)  # one outlet, however many hosts it feeds

    def off_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        self.off(outlets[0], deadline)

    # -- internals -----------------------------------------------------------------------------
    def _alive(self, deadline: Deadline) -> None:
        stream = self._session()
        stream.discard()
        stream.write(BOGUS + EOL, deadline)
        got = stream.expect((INVALID, OK), deadline, CHECK_STEP, "'Invalid Entry' (liveness check)")
        if got.index != 0:
            raise DeviceError("the RPC100S accepted a bogus command (not an RPC100S?)")

    def _command(self, command: bytes, deadline: Deadline) -> None:
        stream = self._session()
        stream.discard()
        stream.write(command + EOL, deadline)
        got = stream.expect((OK, INVALID), deadline, COMMAND_STEP, f"OK to {command.decode()}")
        if got.index != 0:
            raise DeviceError(f"the RPC100S refused {command.decode()!r} (Invalid Entry)")

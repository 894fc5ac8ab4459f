"""apcsmart: APC Smart-UPS over its "smart" serial protocol; switches the whole UPS output.

Family: APC Smart-UPS (and other UPSes speaking APC's smart protocol on the DB-9 port).
Protocol: 2400 8N1, single-character commands without line end, replies ending in CR LF
(device-dialogues.md section 7; apcupsd/NUT protocol notes): ``Y`` -> ``SM`` (smart mode),
``~`` register 1 (bit 0x40: output off), ``8`` register 3 (bit 0x08: asleep after ``@``, 0x10: shut
down after ``S``), ``Z`` twice more than 1.5 s apart: output off now, ``^N`` twice: output on now,
``^A`` model name.

Every host in ``hostlist`` is fed by the UPS: switching any of them switches all of them.  Off and
on are read back from the registers; a reset is off, read back off, on, read back on
(stonith.fencing.engine) -- not cluster-glue's ``S``/``@`` shutdown, whose success it judged by the "asleep
from @" bit alone (a UPS that accepted ``S`` was reported failed, and the bit does not prove the
output is off).  The UPS's grace and wake-up delays are left as they are.

Tested on: the mock (mocks/apcsmart.py) on a pty, which Debian's cluster-glue 1.0.12 ``apcsmart``
plugin accepts unmodified (tests/drivers/test_apcsmart.py).  Not yet on hardware.

Assumes: the UPS is in smart mode after ``Y`` (a cable that is not APC's 940-0024 "smart" cable
gets no ``SM``, reported as an error); no other program (apcupsd, NUT) holds the port.
"""

from __future__ import annotations

import re

from stonith.drivers._console import SerialDriver

from stonith.contract import params
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import DeviceError
from stonith.contract.fields import hostlist

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from stonith.contract.deadline import Deadline
    from stonith.transport.stream import Stream

SPEED = 2400
REPLY_STEP = 3.0  # cluster-glue: 3 s per reply
DOUBLE_GAP = 2.0  # Z / ^N must come twice, more than 1.5 s apart
# A reply line, or a bare ``*``.  Tried only where a line starts (after LF or a lone CR) and bounded,
# so a stream without line ends costs one attempt per line, not a scan to the end of the buffer from
# every byte (issue 21 item 2): replies are a few characters (model names, registers).
LINE = re.compile(rb"(?m)(?:^|(?<=\r))([^\r\n]{0,1000})\r?\n|\*")
REGISTER = re.compile(rb"[0-9A-Fa-f]{2}")
REG1_OFF = 0x40
REG3_ASLEEP = 0x08 | 0x10
OUTLET = "ups"

TTYDEV = params.TTYDEV
HOSTLIST = hostlist("Every host fed by the UPS (blank- or comma-separated); all of them lose power together")

INFO = DriverInfo(
    "apcsmart",
    shortdesc="APCSmart",
    description="APC Smart-UPS and compatibles, over the smart serial protocol.\n"
    "The whole UPS output is switched: every host in hostlist loses power.",
    fields=(TTYDEV, HOSTLIST),
    family="APC Smart-UPS",
    models=("Smart-UPS",),
    url="https://www.apc.com/",
    capabilities=Capabilities(sessions=1),
    summary="APC Smart-UPS over the smart serial protocol",
)


class ApcSmart(SerialDriver):
    INFO = INFO
    SPEED = SPEED
    DEVICE = "the Smart-UPS"

    def _start(self, stream: Stream, deadline: Deadline) -> None:
        self._smart_mode(deadline)

    def probe(self, deadline: Deadline) -> str:
        self._smart_mode(deadline)
        model = self._ask(b"\x01", deadline)
        return "APC " + model if model and model not in ("NA", "*") else "APC Smart-UPS"

    # -- verbs ---------------------------------------------------------------------------------
    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return [Outlet(OUTLET, host) for host in self.params.hostlist]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        reg1 = self._register(b"~", deadline)
        reg3 = self._register(b"8", deadline)
        if reg1 is None or reg3 is None:
            return UNKNOWN
        return OFF if reg1 & REG1_OFF or reg3 & REG3_ASLEEP else ON

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        state = self.status(outlets[0], deadline) if outlets else UNKNOWN
        return {o.id: state for o in outlets}

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._twice(b"\x0e", deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._twice(b"Z", deadline)

    def on_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        self.on(outlets[0], deadline)  # one output, however many hosts it feeds

    def off_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        self.off(outlets[0], deadline)

    # -- internals -----------------------------------------------------------------------------
    def _ask(self, command: bytes, deadline: Deadline) -> str:
        """Send a command; its one-line reply (a bare ``*`` is a whole reply)."""
        stream = self._session()
        stream.discard()  # e.g. the "|" an EEPROM change announces
        stream.write(command, deadline)
        got = stream.expect((LINE,), deadline, REPLY_STEP, f"reply to {command!r}")
        assert got.match is not None
        if got.text == b"*":
            return "*"
        return str(got.match.group(1).decode("latin-1").strip())

    def _smart_mode(self, deadline: Deadline) -> None:
        reply = self._ask(b"Y", deadline)
        if reply != "SM":
            raise DeviceError(f"the UPS did not enter smart mode (answer {reply!r}; smart cable?)")

    def _register(self, command: bytes, deadline: Deadline) -> int | None:
        self._smart_mode(deadline)
        reply = self._ask(command, deadline)
        if not REGISTER.fullmatch(reply.encode("latin-1")):
            return None
        return int(reply, 16)

    def _twice(self, command: bytes, deadline: Deadline) -> None:
        self._smart_mode(deadline)
        stream = self._session()
        stream.write(command, deadline)
        deadline.sleep(DOUBLE_GAP)
        deadline.check("switching the UPS output")
        stream.write(command, deadline)

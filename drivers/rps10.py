"""rps10: WTI RPS-10M serial power switch chain (cluster-glue ``rps10``).

Family: Western Telematic RPS-10 remote power switches: an RPS-10M master module and up to nine
slaves on one serial line, one outlet per module, addressed ``0``-``9`` (``*`` = every module).
Protocol: 9600 8N1 on a tty or any pyserial URL; nine-byte command frames ``^B^X^X^B^X^X`` (the
fixed password), module address, operation (``0`` off, ``1`` on, ``T`` toggle, ``?`` status), CR;
replies ``Plug <d> On|Off`` per module and ``Complete`` (device-dialogues.md section 5).

Configuration is cluster-glue's single ``serial_to_targets`` string: ``<tty> <node> <outlet>
[<node> <outlet>]...`` (at most 10 pairs; outlet ``0``-``9``, ``*`` or ``A`` = ``*``).

Tested on: the mock (mocks/rps10.py) on a pty, which Debian's cluster-glue 1.0.12 ``rps10``
plugin accepts unmodified (tests/drivers/test_rps10.py).  Not yet on hardware.

Fixed cluster-glue defects: every pair of a node is switched (cluster-glue uses the first only);
the serial port is always released (cluster-glue leaks its UUCP lock when the open fails); the
log names the verb actually done (cluster-glue logs "being turned on" for an off).

Assumes:
- the answer to ``?`` is one ``Plug <d> On|Off`` line per module followed by ``Complete`` (the
  switching replies' format; the WTI manual names the command but not its output);
- the interface accepts frames without the DTR toggle cluster-glue performs before each request
  (the toggle only makes the device print ``RPS-10 Ready``, which we do not need: every frame is
  answered).  A reset is off, read back, on, read back (stonith.fencing.engine), never the blind ``T``.
"""

from __future__ import annotations

import re

from stonith.drivers._console import SerialDriver

from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import BadConfig, DeviceError, FieldProblem, UnknownOutlet
from stonith.contract.fields import Field
from stonith.contract.validation import split_list

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from stonith.contract.deadline import Deadline

PASSWORD = b"\x02\x18\x18\x02\x18\x18"  # ^B^X^X^B^X^X
OUTLETS = "0123456789*"
MAX_PAIRS = 10
SPEED = 9600
PLUG = re.compile(rb"Plug ([0-9]) (On|Off)\r?\n")
COMPLETE = b"Complete"
STEP = 5.0  # cluster-glue waits 5 s for "Plug" and for "Complete" after on/off

SERIAL_TO_TARGETS = Field(
    "serial_to_targets",
    "Serial device and targets",
    required=True,
    regex=r"\S+(?:\s+\S+\s+\S+)+\s*",
    short_text="The serial port, then node/outlet pairs",
    long_text="The serial device the RPS-10 chain is attached to (a tty path or a pyserial URL), "
    "followed by pairs of node name and outlet, separated by blanks: "
    '"serial_device remotenode outlet [remotenode outlet]...". Outlets are the module addresses '
    "0-9, or * (also A) for every module; at most 10 pairs.",
)

INFO = DriverInfo(
    "rps10",
    shortdesc="Western Telematic Inc. (WTI) Remote Power Switch - RPS-10M.",
    description="The WTI RPS-10M remote power switch chain on a serial line, one outlet per "
    "module.\nConfigured by serial_to_targets: the tty, then node/outlet pairs.",
    fields=(SERIAL_TO_TARGETS,),
    family="WTI RPS-10",
    models=("RPS-10M",),
    url="https://www.wti.com/",
    capabilities=Capabilities(sessions=1),
    summary="WTI RPS-10M serial power switch chain",
)


def parse_targets(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(tty, [(node, outlet)]) from ``serial_to_targets``; BadConfig names the problem."""
    words = split_list(text.replace(",", " ")) if text else []

    def bad(message: str) -> BadConfig:
        return BadConfig([FieldProblem("serial_to_targets", message)], "rps10")

    if len(words) < 3:
        raise bad("expected a serial device followed by at least one node/outlet pair")
    tty, rest = words[0], words[1:]
    if len(rest) % 2:
        raise bad(f"node {rest[-1]!r} has no outlet")
    pairs: list[tuple[str, str]] = []
    for node, outlet in zip(rest[::2], rest[1::2], strict=True):
        outlet = "*" if outlet in ("A", "a") else outlet
        if len(outlet) != 1 or outlet not in OUTLETS:
            raise bad(f"outlet {outlet!r} of node {node!r} is not 0-9, * or A")
        pairs.append((node, outlet))
    if len(pairs) > MAX_PAIRS:
        raise bad(f"at most {MAX_PAIRS} node/outlet pairs")
    from stonith.contract.fields import TTY
    from stonith.contract.validation import check_special

    problem = check_special(TTY, tty)
    if problem:
        raise bad(f"{tty!r} {problem}")
    return tty, pairs


class Rps10(SerialDriver):
    INFO = INFO
    SPEED = SPEED
    DEVICE = "the RPS-10"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.tty, self.pairs = parse_targets(self.params.serial_to_targets)

    def device_name(self) -> str:
        return self.tty

    def probe(self, deadline: Deadline) -> str:
        modules = sorted({o for _, o in self.pairs if o != "*"}) or ["*"]
        answered = self._query("*" if "*" in modules else modules[0], deadline)
        if not answered:
            raise DeviceError("the RPS-10 answered the status request with no module")
        return "WTI RPS-10M"

    # -- verbs ---------------------------------------------------------------------------------
    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return [Outlet(outlet, node) for node, outlet in self.pairs]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return self.status_many([outlet], deadline)[outlet.id]

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        wanted = {o.id for o in outlets}
        table = self._query("*", deadline) if "*" in wanted or len(wanted) > 1 else {}
        if not table and wanted:
            table = self._query(next(iter(wanted)), deadline)
        result: dict[str, str] = {}
        for outlet in outlets:
            if outlet.id == "*":
                states = set(table.values())
                result[outlet.id] = states.pop() if len(states) == 1 else UNKNOWN
            else:
                result[outlet.id] = table.get(outlet.id, UNKNOWN)
        return result

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch(outlet, ON, deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch(outlet, OFF, deadline)

    # -- internals -----------------------------------------------------------------------------
    def _frame(self, address: str, op: str, deadline: Deadline) -> bytes:
        """Send one frame; the text up to ``Complete``."""
        stream = self._session()
        stream.discard()  # a queued "RPS-10 Ready" or a stale reply is not this answer
        stream.write(PASSWORD + address.encode("ascii") + op.encode("ascii") + b"\r", deadline)
        got = stream.expect((COMPLETE,), deadline, STEP, f"'Complete' after frame {address}{op}")
        stream.expect((b"\n",), deadline, STEP, "end of the Complete line")
        text: bytes = got.before
        return text

    def _query(self, address: str, deadline: Deadline) -> dict[str, str]:
        text = self._frame(address, "?", deadline)
        return {m.group(1).decode(): ON if m.group(2) == b"On" else OFF for m in PLUG.finditer(text)}

    def _switch(self, outlet: Outlet, state: str, deadline: Deadline) -> None:
        if len(outlet.id) != 1 or outlet.id not in OUTLETS:
            raise UnknownOutlet(f"RPS-10 outlet {outlet.id!r} is not 0-9 or *")
        text = self._frame(outlet.id, "1" if state == ON else "0", deadline)
        word = b"On" if state == ON else b"Off"
        replies = {m.group(1): m.group(2) for m in PLUG.finditer(text)}
        expected = [outlet.id.encode()] if outlet.id != "*" else list(replies)
        if not replies or any(replies.get(unit) != word for unit in expected):
            raise DeviceError(
                f"the RPS-10 did not confirm {'on' if state == ON else 'off'} of outlet {outlet.id} "
                f"(answer {text.decode('latin-1').strip()!r})"
            )

"""rcd_serial: an RC-delayed reset circuit on a serial port's DTR or RTS line.

Family: the do-it-yourself circuit of cluster-glue's ``doc/stonith/README.rcd_serial``: a serial
modem-control line charges an RC network driving a transistor across the motherboard's reset
pins (device-dialogues.md section 8).  Protocol: no data at all, only a pulse of ``msduration``
milliseconds on the line named by ``dtr_rts``.

The pulse resets the host; nothing can be read back.  So the driver offers a reset only (no on,
no off: cluster-glue's "on" and "off" silently reset too) and declares that it has no status: the
cluster layer does not count its resets as fenced, and the glue-compatible CLI reports
"NOT verified".

Both lines are held low from the moment the port opens (pyserial applies the line states at
open, so the usual glitch of a freshly opened port does not happen here), then the chosen line is
raised for ``msduration`` ms and dropped again.  The port is always closed afterwards.

Tested on: the mock's RC model (mocks/rcd_serial.py), in process through a fake port and over
RFC 2217 (``ttydev=rfc2217://...``), recording every line change with its time
(tests/drivers/test_rcd_serial.py).  cluster-glue's plugin cannot run against a mock: it needs
modem-control ioctls, which a pty does not have.  Not yet on hardware.

Fixed cluster-glue defects: ``hostlist`` is split into host names (cluster-glue compares the whole
string); on and off are refused instead of resetting.

Assumes: a real UART or USB-serial adapter with working modem lines (or an RFC 2217 server that
passes them on); the host named is the one whose reset pins are wired to the circuit.
"""

from __future__ import annotations

import contextlib
import time

from stonith.contract import params
from stonith.contract.driver import UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import DeviceError, Timeout, Unreachable, Unsupported
from stonith.contract.fields import ENUMERATION, INTEGER, Field, hostlist

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar

    from stonith.contract.deadline import Deadline

OUTLET = "reset"

HOSTLIST = hostlist("The host(s) whose reset pins the circuit is wired to (blank- or comma-separated)")
TTYDEV = params.MODEM_TTYDEV
DTR_RTS = Field(
    "dtr_rts",
    "Line",
    basictype=ENUMERATION,
    enumset=("dtr", "rts"),
    required=True,
    short_text="The serial line wired to the circuit",
    long_text="Which modem-control line drives the circuit: dtr or rts.",
)
MSDURATION = Field(
    "msduration",
    "Pulse",
    basictype=INTEGER,
    minval=1,
    maxval=60000,
    required=True,
    short_text="Pulse length in milliseconds",
    long_text="How long the line is asserted, in milliseconds; long enough to charge the RC "
    "network past the transistor's threshold (e.g. 1000 with 20 kOhm x 47 uF).",
)

INFO = DriverInfo(
    "rcd_serial",
    shortdesc="RC Delayed Serial STONITH Device",
    description="Resets a host through an RC-delayed circuit on a serial DTR or RTS line "
    "(README.rcd_serial).\nReset only; no power off or on, and no read-back: resets are NOT "
    "verified.",
    fields=(HOSTLIST, TTYDEV, DTR_RTS, MSDURATION),
    family="RC-delayed serial reset circuit",
    capabilities=Capabilities(cycle=True, power_on=False, power_off=False, status=False, sessions=1),
    summary="RC-delayed reset circuit on a serial DTR/RTS line",
)


def _open_pyserial(url: str) -> Any:
    import serial

    return serial.serial_for_url(url, do_not_open=True)


class RcdSerial(Driver):
    INFO = INFO
    EXTRA = ("serial", ("serial",))
    # How a port object is made from ``ttydev`` (tests hand in the mock's FakePort).  The object
    # needs pyserial's ``dtr``, ``rts``, ``open()`` and ``close()``, and must not be open yet.
    port_factory: ClassVar[Callable[[str], Any] | None] = None

    def device_name(self) -> str:
        return str(self.params.ttydev)

    def probe(self, deadline: Deadline) -> str:
        port = self._open(deadline)  # cluster-glue's status: open and close the port
        self._close(port)
        return "RC-delayed reset circuit"

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return [Outlet(OUTLET, host) for host in self.params.hostlist]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return UNKNOWN  # a reset pulse has no read-back

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        raise Unsupported("rcd_serial can only reset (pulse the reset pins), not power on")

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        raise Unsupported("rcd_serial can only reset (pulse the reset pins), not power off")

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        seconds = self.params.msduration / 1000.0
        if deadline.remaining() < seconds:
            raise Timeout(f"the {seconds:g} s reset pulse does not fit in the deadline of {deadline.what}")
        line = self.params.dtr_rts
        port = self._open(deadline)
        try:
            self._set(port, line, True)
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                time.sleep(left)
        finally:
            try:
                self._set(port, line, False)
            finally:
                self._close(port)

    # -- internals -----------------------------------------------------------------------------
    def _open(self, deadline: Deadline) -> Any:
        url = self.params.ttydev
        factory = type(self).port_factory or _open_pyserial
        try:
            port = factory(url)
            port.dtr = False  # applied at open: the lines never rise with the port
            port.rts = False
            port.open()
        except ImportError:
            raise Unreachable("serial ports need pyserial: pip install 'stonith[serial]'") from None
        except (OSError, ValueError) as exc:
            raise Unreachable(f"{url}: cannot open serial port ({exc})") from None
        except Exception as exc:  # pyserial's SerialException and URL handlers' own errors
            raise Unreachable(f"{url}: cannot open serial port ({exc})") from None
        deadline.check(f"opening {url}")
        return port

    @staticmethod
    def _set(port: Any, line: str, state: bool) -> None:
        try:
            setattr(port, line, state)
        except Exception as exc:  # ENOTTY on a pty, a vanished USB adapter, an RFC 2217 refusal
            raise DeviceError(
                f"cannot set {line.upper()} on {getattr(port, 'port', 'the port')} ({exc}); "
                "a pty has no modem-control lines"
            ) from None

    @staticmethod
    def _close(port: Any) -> None:
        with contextlib.suppress(Exception):  # closing must never raise
            port.close()

"""sispm: Gembird SIS-PM / Silver Shield / EnerGenie USB power strips, via pyusb.

Family: Gembird SIS-PM and mSIS-PM, the "flash new" SIS-PM sold as Silver Shield, and EnerGenie
EG-PMS2: vendor 0x04B4 (Cypress), products 0xFD11, 0xFD12, 0xFD13, 0xFD15.
Protocol: HID feature reports over USB control transfers, as sispmctl sends them
(wire-protocols.md section 4.1): SET_REPORT (0x21, 0x09, wValue 0x0300 | 3 x outlet, data
``[id, 0x03 on / 0x00 off, 0, 0, 0]``) switches, GET_REPORT (0xA1, 0x01, the same wValue, 5 bytes)
reads ``buf[1] & 1``; report 1 is the serial number.  Each transfer is retried up to 5 times with
growing pauses (within the deadline); fewer than 2 bytes back is a failure, as in sispmctl.

Which strip: the one whose serial number is ``serial`` (``aa:bb:cc:dd:ee``, as ``sispmctl -s``
prints it), or the only supported strip on the bus.  Outlets are numbered 1-4 (1 on an mSIS-PM);
``hostlist`` names them in order (``-`` leaves one unnamed; unnamed outlets are known by number).

USB access: pyusb's default backend (libusb-1.0) needs read-write access to the device node (a
udev rule such as sispmctl's ``60-sispmctl.rules``); the kernel's usbhid driver is detached from
the interface if it holds it.  The backend can be replaced, for tests and special set-ups, with
``STONITH_USB_BACKEND`` (stonith.transport.usb: ``unix:PATH`` for a ``stonith-mock sispm``, or
one of pyusb's own backends); in process, ``Sispm.backend`` may be set to any pyusb backend object.

Tested on: the mock's fake pyusb backend (mocks/sispm.py), in process and over its socket
(mocks/usb_socket.py; tests/drivers/test_sispm.py).  Not yet on hardware.

Assumes: outlet state read back by GET_REPORT is the relay's (bit 0 of byte 1).
"""

from __future__ import annotations

from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import BadConfig, DeviceError, FieldProblem, UnknownOutlet, Unreachable
from stonith.contract.fields import Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

    from stonith.contract.deadline import Deadline
    from stonith.transport.usb import HidDevice

VENDOR = 0x04B4
PRODUCTS = {
    0xFD11: ("SIS-PM", 4),
    0xFD12: ("mSIS-PM", 1),
    0xFD13: ("SIS-PM (Silver Shield)", 4),
    0xFD15: ("EG-PMS2", 4),
}
STATE_ON, STATE_OFF = 0x03, 0x00
SERIAL_REPORT = 1

SERIAL = Field(
    "serial",
    "Serial number",
    regex=r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){4}",
    short_text="Serial number of the strip (aa:bb:cc:dd:ee)",
    long_text="Which strip to use when several are plugged in: its serial number as sispmctl -s "
    "prints it. Not needed when there is only one.",
)
HOSTLIST = Field(
    "hostlist",
    "Hostlist",
    isarray=True,
    length=253,
    regex=r"-|[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?",
    maxelem=4,
    short_text="Host of each outlet, in outlet order",
    long_text="The host fed by outlet 1, outlet 2, ... (blank- or comma-separated; - for an outlet "
    "that feeds no host). Outlets without a host are known by their number.",
)

INFO = DriverInfo(
    "sispm",
    shortdesc="Gembird SIS-PM USB power strip",
    description="Gembird SIS-PM, mSIS-PM, Silver Shield and EnerGenie EG-PMS2 USB-controlled "
    "power strips (vendor 04b4, products fd11, fd12, fd13, fd15), through pyusb.",
    fields=(SERIAL, HOSTLIST),
    family="Gembird SIS-PM",
    models=("SIS-PM", "mSIS-PM", "Silver Shield", "EG-PMS2"),
    url="https://sispmctl.sourceforge.net/",
    capabilities=Capabilities(sessions=1),
    summary="Gembird SIS-PM / Silver Shield USB power strip",
)


class Sispm(Driver):
    INFO = INFO
    EXTRA = ("usb", ("usb",))
    LOWERCASE_HOSTS = False
    # A pyusb backend object to use instead of STONITH_USB_BACKEND / libusb (tests).
    backend: ClassVar[Any] = None

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._strip: HidDevice | None = None
        self._count = 0
        self._identity = ""

    def device_name(self) -> str:
        return self.params.serial or "sispm"

    # -- session -------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        from stonith.transport.usb import HidDevice, find

        wanted = self.params.serial.lower()
        strips = [
            HidDevice(device, label="SIS-PM", noun="strip", access_hint="see sispmctl's udev rule", least=2)
            for device in find(VENDOR, PRODUCTS, self.backend)
        ]
        if not strips:
            raise Unreachable("no Gembird SIS-PM strip (04b4:fd11/fd12/fd13/fd15) on the USB bus")
        chosen = []
        for strip in strips:
            serial = ":".join(f"{b:02x}" for b in strip.get_report(SERIAL_REPORT, 5, deadline)[:5])
            if not wanted or serial == wanted:
                chosen.append((strip, serial))
        if not chosen:
            raise Unreachable(f"no SIS-PM strip with serial number {wanted}")
        if len(chosen) > 1:
            serials = ", ".join(s for _, s in chosen)
            raise BadConfig(
                [FieldProblem("serial", f"several strips are plugged in ({serials}); pick one")], "sispm"
            )
        strip, serial = chosen[0]
        strip.claim()
        self._strip = strip
        name, self._count = PRODUCTS[strip.product]
        self._identity = f"Gembird {name} {strip.vendor:04x}:{strip.product:04x} serial {serial}"

    def disconnect(self) -> None:
        strip, self._strip = self._strip, None
        if strip is not None:
            strip.close()

    def probe(self, deadline: Deadline) -> str:
        self.status_many(self.outlets(deadline), deadline)
        return self._identity

    # -- verbs ---------------------------------------------------------------------------------
    def outlets(self, deadline: Deadline) -> list[Outlet]:
        self._session()
        names = list(self.params.hostlist or [])
        out = []
        for number in range(1, self._count + 1):
            name = names[number - 1] if number <= len(names) else "-"
            out.append(Outlet(str(number), str(number) if name == "-" else name))
        return out

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        report = self._report(outlet)
        data = self._session().get_report(report, 5, deadline)
        if data[0] != report:
            return UNKNOWN  # an answer for another report is no answer for this outlet
        return ON if data[1] & 1 else OFF

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch(outlet, STATE_ON, deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch(outlet, STATE_OFF, deadline)

    # -- internals -----------------------------------------------------------------------------
    def _session(self) -> HidDevice:
        if self._strip is None:
            raise DeviceError("no SIS-PM session (connect first)")
        return self._strip

    def _report(self, outlet: Outlet) -> int:
        if not outlet.id.isdigit() or not 1 <= int(outlet.id) <= self._count:
            raise UnknownOutlet(f"SIS-PM outlet {outlet.id!r} is not 1-{self._count}")
        return 3 * int(outlet.id)

    def _switch(self, outlet: Outlet, state: int, deadline: Deadline) -> None:
        report = self._report(outlet)
        self._session().set_report(report, bytes([report, state, 0, 0, 0]), deadline)

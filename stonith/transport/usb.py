"""USB transport: HID feature reports over control transfers, through pyusb.

URL format / options
    A USB device has no address: ``find`` lists the devices of a vendor and products on the bus,
    and the driver picks one (by the serial number it reads from each).  The pyusb backend is
    pyusb's default (libusb-1.0), or the one ``STONITH_USB_BACKEND`` names: ``unix:PATH`` talks to
    a ``stonith-mock`` USB device serving its fake devices on the Unix socket PATH (one JSON
    request per backend call: stonith.mocks.usb_socket); ``libusb1``, ``libusb0`` or ``openusb``
    picks one of pyusb's own.  Nothing else is accepted: the variable never names a module to
    import (a fencing process runs as root, and its environment may come from a cluster manager's
    configuration).  A driver may pass any pyusb backend object to ``find`` instead (tests).

A transfer is tried up to RETRIES times with growing pauses, within the deadline, each attempt
bounded by TRANSFER_MS; fewer bytes than the device's ``least`` back is a failed attempt.  pyusb is
imported only when devices are looked for.
"""

from __future__ import annotations

import errno
import os

from stonith.contract.errors import BadConfig, DeviceError, Timeout, Unreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Any

    from stonith.contract.deadline import Deadline

ENV_BACKEND = "STONITH_USB_BACKEND"
# pyusb's own backends, by the name STONITH_USB_BACKEND may give (usb.backend.<module>.get_backend).
PYUSB_BACKENDS = ("libusb1", "libusb0", "openusb")
RETRIES = 5
TRANSFER_MS = 500  # per control transfer
# HID class requests (bmRequestType, bRequest); wValue is FEATURE | report id.
GET_REPORT = (0xA1, 0x01)
SET_REPORT = (0x21, 0x09)
FEATURE = 0x0300


def find(vendor: int, products: Collection[int], backend: Any = None) -> list[Any]:
    """The pyusb devices of ``vendor`` whose product is one of ``products``.

    ``backend``: a pyusb backend object; None for the one STONITH_USB_BACKEND names (load_backend).
    """
    try:
        import usb.core
    except ImportError:
        from stonith.contract.errors import MissingExtra, missing_extra_message

        raise MissingExtra(missing_extra_message("a USB device", "usb", ["usb"])) from None
    if backend is None:
        backend = load_backend()
    try:
        found = list(usb.core.find(find_all=True, idVendor=vendor, backend=backend) or [])
    except usb.core.NoBackendError:
        raise Unreachable(f"no USB backend (install libusb-1.0, or set {ENV_BACKEND})") from None
    except (usb.core.USBError, OSError) as exc:
        raise Unreachable(f"cannot enumerate USB devices ({exc})") from None
    return [device for device in found if device.idProduct in products]


def load_backend() -> Any:
    """The pyusb backend named by STONITH_USB_BACKEND, or None (pyusb's default: libusb)."""
    spec = os.environ.get(ENV_BACKEND, "").strip()
    if not spec:
        return None
    if spec.startswith("unix:") and spec[len("unix:") :].startswith("/"):
        from stonith.mocks.usb_socket import socket_backend

        return socket_backend(spec[len("unix:") :])
    if spec not in PYUSB_BACKENDS:
        raise BadConfig(
            f"{ENV_BACKEND}: expected unix:/PATH (a stonith-mock sispm socket) or one of "
            + ", ".join(PYUSB_BACKENDS)
        )
    import importlib

    try:
        backend = importlib.import_module(f"usb.backend.{spec}").get_backend()
    except Exception as exc:
        raise Unreachable(f"{ENV_BACKEND}={spec}: cannot load the backend ({exc})") from None
    if backend is None:
        raise Unreachable(f"{ENV_BACKEND}={spec}: the backend is not available on this system")
    return backend


class HidDevice:
    """A HID device ``find`` returned, switched by feature reports: ``claim``, then get/set reports.

    ``label`` and ``noun`` word the errors ("SIS-PM", "strip"), ``access_hint`` says what to do about
    a permission error; ``least`` is the fewest bytes a transfer must move to count.
    """

    def __init__(self, device: Any, *, label: str, noun: str, access_hint: str, least: int = 1) -> None:
        self.device = device
        self.label = label
        self.noun = noun
        self.access_hint = access_hint
        self.least = least

    @property
    def vendor(self) -> int:
        return int(self.device.idVendor)

    @property
    def product(self) -> int:
        return int(self.device.idProduct)

    def claim(self) -> None:
        """Detach the kernel's driver (usbhid) if it holds the interface, configure, claim it."""
        import usb.core
        import usb.util

        device = self.device
        try:
            if device.is_kernel_driver_active(0):
                device.detach_kernel_driver(0)
        except (NotImplementedError, usb.core.USBError):
            pass  # not on this platform/backend, or nobody holds it
        try:
            device.set_configuration(1)
            usb.util.claim_interface(device, 0)
            device.set_interface_altsetting(0, 0)
        except usb.core.USBError as exc:
            if exc.errno == errno.EACCES:
                raise Unreachable(
                    f"no permission to use the {self.noun} ({exc}; {self.access_hint})"
                ) from None
            if exc.errno != errno.EPIPE:  # some firmware stalls SET_INTERFACE; sispmctl ignores it
                raise DeviceError(f"cannot set the {self.noun} up ({exc})") from None

    def close(self) -> None:
        """Release what pyusb holds for the device; never raises."""
        try:
            import usb.util

            usb.util.dispose_resources(self.device)
        except Exception:
            pass

    def get_report(self, report: int, length: int, deadline: Deadline) -> bytes:
        """GET_REPORT of feature report ``report``: the bytes read (at least ``least``)."""
        return self._transfer(*GET_REPORT, FEATURE | report, length, deadline)

    def set_report(self, report: int, data: bytes, deadline: Deadline) -> None:
        """SET_REPORT of feature report ``report`` with ``data``."""
        self._transfer(*SET_REPORT, FEATURE | report, data, deadline)

    def _transfer(
        self, request_type: int, request: int, value: int, data: bytes | int, deadline: Deadline
    ) -> bytes:
        """One control transfer with retries; the bytes read (IN, ``data`` a length) or b"" (OUT)."""
        import usb.core

        pause = 0.05
        last = "no attempt"
        for attempt in range(RETRIES):
            left = deadline.remaining()
            if left <= 0:
                break
            try:
                got = self.device.ctrl_transfer(
                    request_type, request, value, 0, data, max(1, int(min(TRANSFER_MS, left * 1000)))
                )
            except usb.core.USBTimeoutError:
                last = "timed out"
            except usb.core.USBError as exc:
                if exc.errno == errno.ENODEV:
                    raise Unreachable(f"the {self.label} {self.noun} was unplugged") from None
                last = str(exc.strerror or exc)
            else:
                if isinstance(data, int):
                    if len(got) >= self.least:
                        return bytes(got)
                    last = f"only {len(got)} byte(s) back"
                elif got >= self.least:
                    return b""
                else:
                    last = f"only {got} byte(s) written"
            if attempt < RETRIES - 1:
                deadline.sleep(min(pause, deadline.remaining()))
                pause *= 2
        if deadline.expired():
            raise Timeout(
                f"{self.label} control transfer (report {value & 0xFF}) did not complete "
                f"before the deadline ({last})"
            )
        raise DeviceError(
            f"{self.label} control transfer (report {value & 0xFF}) failed {RETRIES} times ({last})"
        )

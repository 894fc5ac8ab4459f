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
the interface if it holds it.  The backend can be replaced, for tests and special set-ups:
``STONITH_USB_BACKEND=unix:PATH`` talks to a ``stonith-mock sispm`` serving its fake strips on the
Unix socket PATH (one JSON request per backend call); ``STONITH_USB_BACKEND=libusb1``, ``libusb0``
or ``openusb`` picks one of pyusb's own backends.  Nothing else is accepted: the variable never
names a module to import (a fencing process runs as root, and its environment may come from a
cluster manager's configuration).  In process, ``Sispm.backend`` may be set to any pyusb backend
object.

Tested on: the mock's fake pyusb backend (mocks/sispm.py), in process and over its socket
(tests/drivers/test_sispm.py).  Not yet on hardware.

Assumes: outlet state read back by GET_REPORT is the relay's (bit 0 of byte 1).
"""

from __future__ import annotations

import errno
import os

from stonith.driver import OFF, ON, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.errors import BadConfig, DeviceError, FieldProblem, Timeout, UnknownOutlet, Unreachable
from stonith.fields import Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

    from stonith.deadline import Deadline

VENDOR = 0x04B4
PRODUCTS = {
    0xFD11: ("SIS-PM", 4),
    0xFD12: ("mSIS-PM", 1),
    0xFD13: ("SIS-PM (Silver Shield)", 4),
    0xFD15: ("EG-PMS2", 4),
}
ENV_BACKEND = "STONITH_USB_BACKEND"
RETRIES = 5
TRANSFER_MS = 500  # per control transfer
STATE_ON, STATE_OFF = 0x03, 0x00

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
)


class Sispm(Driver):
    INFO = INFO
    LOWERCASE_HOSTS = False
    # A pyusb backend object to use instead of STONITH_USB_BACKEND / libusb (tests).
    backend: ClassVar[Any] = None

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._device: Any = None
        self._count = 0
        self._identity = ""

    def device_name(self) -> str:
        return self.params.serial or "sispm"

    # -- session -------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        try:
            import usb.core
        except ImportError:
            raise Unreachable("USB strips need pyusb: pip install 'stonith[usb]'") from None
        backend = self.backend if self.backend is not None else load_backend()
        wanted = self.params.serial.lower()
        try:
            found = list(usb.core.find(find_all=True, idVendor=VENDOR, backend=backend) or [])
        except usb.core.NoBackendError:
            raise Unreachable("no USB backend (install libusb-1.0, or set STONITH_USB_BACKEND)") from None
        except (usb.core.USBError, OSError) as exc:
            raise Unreachable(f"cannot enumerate USB devices ({exc})") from None
        strips = [d for d in found if d.idProduct in PRODUCTS]
        if not strips:
            raise Unreachable("no Gembird SIS-PM strip (04b4:fd11/fd12/fd13/fd15) on the USB bus")
        chosen = []
        for device in strips:
            serial = self._serial(device, deadline)
            if not wanted or serial == wanted:
                chosen.append((device, serial))
        if not chosen:
            raise Unreachable(f"no SIS-PM strip with serial number {wanted}")
        if len(chosen) > 1:
            serials = ", ".join(s for _, s in chosen)
            raise BadConfig(
                [FieldProblem("serial", f"several strips are plugged in ({serials}); pick one")], "sispm"
            )
        device, serial = chosen[0]
        self._setup(device)
        self._device = device
        name, self._count = PRODUCTS[device.idProduct]
        self._identity = f"Gembird {name} {device.idVendor:04x}:{device.idProduct:04x} serial {serial}"

    def disconnect(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            import usb.util

            usb.util.dispose_resources(device)
        except Exception:
            pass

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
        data = self._transfer(0xA1, 0x01, 0x0300 | report, 5, deadline)
        if data[0] != report:
            return UNKNOWN  # an answer for another report is no answer for this outlet
        return ON if data[1] & 1 else OFF

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch(outlet, STATE_ON, deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch(outlet, STATE_OFF, deadline)

    # -- internals -----------------------------------------------------------------------------
    def _session(self) -> Any:
        if self._device is None:
            raise DeviceError("no SIS-PM session (connect first)")
        return self._device

    def _report(self, outlet: Outlet) -> int:
        if not outlet.id.isdigit() or not 1 <= int(outlet.id) <= self._count:
            raise UnknownOutlet(f"SIS-PM outlet {outlet.id!r} is not 1-{self._count}")
        return 3 * int(outlet.id)

    def _switch(self, outlet: Outlet, state: int, deadline: Deadline) -> None:
        report = self._report(outlet)
        self._transfer(0x21, 0x09, 0x0300 | report, bytes([report, state, 0, 0, 0]), deadline)

    @staticmethod
    def _setup(device: Any) -> None:
        import usb.core

        try:
            if device.is_kernel_driver_active(0):
                device.detach_kernel_driver(0)
        except (NotImplementedError, usb.core.USBError):
            pass  # not on this platform/backend, or nobody holds it
        try:
            device.set_configuration(1)
            import usb.util

            usb.util.claim_interface(device, 0)
            device.set_interface_altsetting(0, 0)
        except usb.core.USBError as exc:
            if exc.errno == errno.EACCES:
                raise Unreachable(
                    f"no permission to use the strip ({exc}; see sispmctl's udev rule)"
                ) from None
            if exc.errno != errno.EPIPE:  # some firmware stalls SET_INTERFACE; sispmctl ignores it
                raise DeviceError(f"cannot set the strip up ({exc})") from None

    def _serial(self, device: Any, deadline: Deadline) -> str:
        data = self._transfer(0xA1, 0x01, 0x0301, 5, deadline, device=device)
        return ":".join(f"{b:02x}" for b in data[:5])

    def _transfer(
        self,
        request_type: int,
        request: int,
        value: int,
        data: bytes | int,
        deadline: Deadline,
        device: Any = None,
    ) -> bytes:
        """One control transfer with sispmctl's retries; the bytes read (IN) or b"" (OUT)."""
        import usb.core

        device = device if device is not None else self._session()
        pause = 0.05
        last = "no attempt"
        for attempt in range(RETRIES):
            left = deadline.remaining()
            if left <= 0:
                break
            try:
                got = device.ctrl_transfer(
                    request_type, request, value, 0, data, max(1, int(min(TRANSFER_MS, left * 1000)))
                )
            except usb.core.USBTimeoutError:
                last = "timed out"
            except usb.core.USBError as exc:
                if exc.errno == errno.ENODEV:
                    raise Unreachable("the SIS-PM strip was unplugged") from None
                last = str(exc.strerror or exc)
            else:
                if isinstance(data, int):
                    if len(got) >= 2:
                        return bytes(got)
                    last = f"only {len(got)} byte(s) back"
                elif got >= 2:
                    return b""
                else:
                    last = f"only {got} byte(s) written"
            if attempt < RETRIES - 1:
                deadline.sleep(min(pause, deadline.remaining()))
                pause *= 2
        if deadline.expired():
            raise Timeout(
                f"SIS-PM control transfer (report {value & 0xFF}) did not complete "
                f"before the deadline ({last})"
            )
        raise DeviceError(f"SIS-PM control transfer (report {value & 0xFF}) failed {RETRIES} times ({last})")


# ---------------------------------------------------------------------------------------------
# Backends


# pyusb's own backends, by the name STONITH_USB_BACKEND may give (usb.backend.<module>.get_backend).
PYUSB_BACKENDS = ("libusb1", "libusb0", "openusb")


def load_backend() -> Any:
    """The pyusb backend named by STONITH_USB_BACKEND, or None (pyusb's default: libusb)."""
    spec = os.environ.get(ENV_BACKEND, "").strip()
    if not spec:
        return None
    if spec.startswith("unix:") and spec[len("unix:") :].startswith("/"):
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


class _Remote:
    """A device of the socket backend: its index and descriptor."""

    def __init__(self, index: int, descriptor: dict[str, Any]) -> None:
        self.index = index
        self.descriptor = descriptor


class _Descriptor:
    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)


def _socket_backend_base() -> type:
    import usb.backend

    return usb.backend.IBackend  # type: ignore[no-any-return]


def socket_backend(path: str) -> Any:
    """A pyusb backend that forwards every call to a ``stonith-mock sispm`` Unix socket."""
    return _make_socket_backend()(path)


def _make_socket_backend() -> type:
    import json
    import socket
    from array import array

    import usb.core

    class _SocketBackend(_socket_backend_base()):  # type: ignore[misc]
        """Every call one JSON line to the mock; errors come back as pyusb's exceptions."""

        def __init__(self, path: str) -> None:
            self.path = path
            self._sock: socket.socket | None = None
            self._buffer = b""

        def _call(self, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sock.settimeout(timeout)
                    self._sock.connect(self.path)
                self._sock.settimeout(timeout)
                self._sock.sendall(json.dumps(request).encode() + b"\n")
                while b"\n" not in self._buffer:
                    chunk = self._sock.recv(65536)
                    if not chunk:
                        raise OSError("the mock closed the socket")
                    self._buffer += chunk
            except TimeoutError:
                self._drop()
                raise usb.core.USBTimeoutError(
                    "Operation timed out", errno.ETIMEDOUT, errno.ETIMEDOUT
                ) from None
            except OSError as exc:
                self._drop()
                raise usb.core.USBError(
                    f"USB mock socket {self.path}: {exc}", errno.ENODEV, errno.ENODEV
                ) from None
            line, self._buffer = self._buffer.split(b"\n", 1)
            answer: dict[str, Any] = json.loads(line)
            if "error" in answer:
                code = int(answer.get("errno") or errno.EIO)
                if answer["error"] == "timeout":
                    raise usb.core.USBTimeoutError(answer.get("message", "timeout"), code, code)
                raise usb.core.USBError(answer.get("message", "error"), code, code)
            return answer

        def _drop(self) -> None:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._buffer = b""

        def enumerate_devices(self) -> Any:
            for index, descriptor in enumerate(self._call({"op": "enumerate"})["devices"]):
                yield _Remote(index, descriptor)

        def get_device_descriptor(self, dev: _Remote) -> _Descriptor:
            fields = dict(dev.descriptor)
            fields["port_numbers"] = tuple(fields.get("port_numbers") or ())
            return _Descriptor(fields)

        def get_configuration_descriptor(self, dev: _Remote, config: int) -> _Descriptor:
            return _Descriptor(
                {"bLength": 9, "bDescriptorType": 2, "wTotalLength": 34, "bNumInterfaces": 1,
                 "bConfigurationValue": 1, "iConfiguration": 0, "bmAttributes": 0x80, "bMaxPower": 50,
                 "extra_descriptors": []}
            )  # fmt: skip

        def get_interface_descriptor(self, dev: _Remote, intf: int, alt: int, config: int) -> _Descriptor:
            if (intf, alt, config) != (0, 0, 0):
                raise IndexError("no such interface")
            return _Descriptor(
                {"bLength": 9, "bDescriptorType": 4, "bInterfaceNumber": 0, "bAlternateSetting": 0,
                 "bNumEndpoints": 0, "bInterfaceClass": 3, "bInterfaceSubClass": 0,
                 "bInterfaceProtocol": 0, "iInterface": 0, "extra_descriptors": []}
            )  # fmt: skip

        def open_device(self, dev: _Remote) -> _Remote:
            return dev

        def close_device(self, dev_handle: _Remote) -> None:
            pass

        def set_configuration(self, dev_handle: _Remote, config_value: int) -> None:
            pass

        def get_configuration(self, dev_handle: _Remote) -> int:
            return 1

        def set_interface_altsetting(self, dev_handle: _Remote, intf: int, altsetting: int) -> None:
            pass

        def claim_interface(self, dev_handle: _Remote, intf: int) -> None:
            pass

        def release_interface(self, dev_handle: _Remote, intf: int) -> None:
            pass

        def is_kernel_driver_active(self, dev_handle: _Remote, intf: int) -> bool:
            return False

        def ctrl_transfer(
            self, dev_handle: _Remote, bmRequestType: int, bRequest: int, wValue: int,
            wIndex: int, data: Any, timeout: int,
        ) -> int:  # fmt: skip
            request: dict[str, Any] = {
                "op": "ctrl", "dev": dev_handle.index, "bmRequestType": bmRequestType,
                "bRequest": bRequest, "wValue": wValue, "wIndex": wIndex, "timeout": timeout,
            }  # fmt: skip
            if bmRequestType & 0x80:
                request["length"] = len(data)
                got = self._call(request, timeout / 1000.0 + 1.0)["data"]
                data[: len(got)] = array("B", bytes(got))
                return len(got)
            request["data"] = list(bytes(data))
            return int(self._call(request, timeout / 1000.0 + 1.0)["count"])

    return _SocketBackend

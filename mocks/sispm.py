"""Gembird SIS-PM / Silver Shield / EnerGenie USB power strips, device end: a fake pyusb backend.

The strip is a HID-class USB device (vendor 0x04B4, Cypress) switched by HID feature reports
(wire-protocols.md section 4.1, after sispmctl):

    SET_REPORT  bmRequestType 0x21, bRequest 0x09, wValue 0x0300 | id, wIndex 0,
                data [id, state, 0, 0, 0]: id = 3 x outlet (3, 6, 9, 12), state 0x03 on / 0x00 off
    GET_REPORT  bmRequestType 0xA1, bRequest 0x01, the same wValue, 5 bytes: buf[1] & 1 = relay on
    report 1    (GET) the serial number, 5 bytes; report 2 the buzzer (SET 0x00 on, 0x04 off)

``FakeBackend`` implements pyusb's backend API (``usb.backend.IBackend``), so that
``usb.core.find(idVendor=0x04B4, idProduct=0xFD11, backend=FakeBackend([strip]))`` returns a real
``usb.core.Device`` with the strip's IDs, descriptors, strings (``usb.util.get_string``) and
control transfers.  An unknown report id stalls (``USBError`` errno 32, "Pipe error").

Personalities (``--model``): ``sis-pm`` (0xFD11, 4 outlets), ``msis-pm`` (0xFD12, mSIS-PM flash,
1 outlet, report 3), ``sis-pm-flash`` (0xFD13, SIS-PM "flash new" / Silver Shield, 4 outlets),
``eg-pms2`` (0xFD15, EnerGenie EG-PMS2, 4 outlets).  (The old 0xFD10 mSIS-PM, which numbers its
outlet 0, is not emulated.)

A USB device cannot be served over a network, so ``stonith-mock sispm`` does this instead: it
serves the fake backend on a Unix socket (``--serial-link PATH`` names the socket; default a
fresh temporary path) and prints ``"usb_backend": "unix:PATH"``.  The driver connects to it when
``STONITH_USB_BACKEND=unix:PATH`` is set (stonith/transport/usb.py): every pyusb backend call the
driver makes is one JSON line over the socket (mocks/usb_socket.py), answered by this module's
``FakeBackend``.  It is a test seam, not a USB emulation at the kernel level: sispmctl and other
libusb programs cannot see it.

Faults: ``silent`` (every transfer times out), ``garble`` (GET_REPORT answers carry a wrong report
id), ``drop-after=N`` (the strip is unplugged after N transfers: errno 19), ``stuck``/``lie``/
``lie-status`` as everywhere.  Device flags: ``--serial-number aa:bb:cc:dd:ee``, ``--strips N``
(more strips of the same model, serial numbers counting up; ground-truth outlets of strip k
follow those of strip k-1).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import tempfile
import threading
import time
from array import array

from stonith.mocks._common import OFF, ON, POLL, MockConfig, MockDevice, RunningMock, accepted

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from typing import Any

    from stonith.mocks._common import Channel

VENDOR = 0x04B4
MODELS: dict[str, tuple[int, int, str]] = {  # model -> (idProduct, outlets, product string)
    "sis-pm": (0xFD11, 4, "SiS-PM"),
    "msis-pm": (0xFD12, 1, "mSiS-PM"),
    "sis-pm-flash": (0xFD13, 4, "SiS-PM"),
    "eg-pms2": (0xFD15, 4, "EG-PMS2"),
}
DEFAULT_MODEL = "sis-pm"
MANUFACTURER = "Gembird"
STATE_ON, STATE_OFF = 0x03, 0x00
SET_REPORT = (0x21, 0x09)
GET_REPORT = (0xA1, 0x01)
GET_DESCRIPTOR = (0x80, 0x06)
TIMEOUT_CAP = 0.5  # seconds a "silent" strip really waits before its timeout, whatever was asked


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sispm")
    group.add_argument("--serial-number", default="01:02:03:04:05", metavar="aa:bb:cc:dd:ee")
    group.add_argument("--strips", type=int, default=1, metavar="N", help="strips on the bus")


def default_names(model: str, count: int) -> list[str]:
    return [f"Socket {n}" for n in range(1, count + 1)]


def default_outlets(model: str) -> int:
    return MODELS[model][1]


def create(config: MockConfig) -> Sispm:
    strips = int(config.options.get("strips", 1))
    per_strip = MODELS[config.model][1]
    if not 1 <= strips <= 8:
        raise ValueError("--strips must be within 1-8")
    wanted = per_strip * strips
    if len(config.names) == per_strip and strips > 1:  # --outlets counts one strip's outlets
        config.names += default_names(config.model, wanted)[per_strip:]
        config.states += [ON] * (wanted - len(config.states))
    if len(config.names) != wanted:
        raise ValueError(f"a {config.model} strip has {per_strip} outlet(s) (--outlets {per_strip})")
    parse_serial(str(config.options.get("serial_number", "01:02:03:04:05")))
    if config.faults.refuse_login:
        raise ValueError("a USB strip has no login")
    return Sispm(config)


def parse_serial(text: str) -> bytes:
    try:
        raw = bytes(int(part, 16) for part in text.split(":"))
    except ValueError:
        raw = b""
    if len(raw) != 5:
        raise ValueError(f"--serial-number {text!r}: expected five hex bytes aa:bb:cc:dd:ee")
    return raw


def _usb_error(message: str, code: int) -> Exception:
    import usb.core

    error: Exception = usb.core.USBError(message, code, code)
    return error


# ---------------------------------------------------------------------------------------------
# The strips


class Strip:
    """One strip on the bus: its descriptors and its feature reports."""

    def __init__(self, device: Sispm, index: int, serial: bytes) -> None:
        product, count, name = MODELS[device.config.model]
        self.device = device
        self.index = index
        self.id_product = product
        self.count = count
        self.product = name
        self.serial = serial
        self.bus = 1
        self.address = 10 + index
        self.buzzer = False

    def outlet_number(self, report: int) -> int | None:
        """Ground-truth outlet of a report id, or None if the strip has no such outlet."""
        if report % 3 or not 1 <= report // 3 <= self.count:
            return None
        return self.index * self.count + report // 3

    def strings(self) -> dict[int, str]:
        return {1: MANUFACTURER, 2: self.product, 3: ":".join(f"{b:02x}" for b in self.serial)}

    def control(
        self, request_type: int, request: int, value: int, index: int, data: bytes | int
    ) -> bytes | int:
        """One control transfer: the bytes read (IN) or the count written (OUT)."""
        faults = self.device.config.faults
        self.device.transfer(self)
        if faults.silent_after is not None and self.device.transfers > faults.silent_after:
            time.sleep(TIMEOUT_CAP)
            import usb.core

            raise usb.core.USBTimeoutError("Operation timed out", errno.ETIMEDOUT, errno.ETIMEDOUT)
        if (request_type, request) == GET_DESCRIPTOR and value >> 8 == 3:
            return self._string(value & 0xFF, int(data) if isinstance(data, int) else len(data))
        report, kind = value & 0xFF, value >> 8
        if (request_type, request) == SET_REPORT and kind == 3 and isinstance(data, (bytes, bytearray)):
            return self._set(report, bytes(data))
        if (request_type, request) == GET_REPORT and kind == 3 and isinstance(data, int):
            answer = self._get(report)[:data]
            if faults.garble_after is not None and self.device.transfers > faults.garble_after:
                answer = bytes([answer[0] ^ 0x55]) + answer[1:]
            return answer
        raise _usb_error("Pipe error", errno.EPIPE)

    def _string(self, number: int, length: int) -> bytes:
        if number == 0:
            return bytes([4, 3, 0x09, 0x04])[:length]
        text = self.strings().get(number)
        if text is None:
            raise _usb_error("Pipe error", errno.EPIPE)
        encoded = text.encode("utf-16-le")
        return bytes([2 + len(encoded), 3]) + encoded[: max(0, length - 2)]

    def _set(self, report: int, data: bytes) -> int:
        if len(data) < 2 or data[0] != report:
            raise _usb_error("Pipe error", errno.EPIPE)
        if report == 2:
            self.buzzer = data[1] == 0x00
            return len(data)
        outlet = self.outlet_number(report)
        if outlet is None:
            raise _usb_error("Pipe error", errno.EPIPE)
        if data[1] not in (STATE_ON, STATE_OFF):
            return len(data)  # other bits: ignored by the firmware as far as anyone knows
        self.device.outlets.switch(outlet, ON if data[1] == STATE_ON else OFF)
        return len(data)

    def _get(self, report: int) -> bytes:
        if report == 1:
            return self.serial
        if report == 2:
            return bytes([2, 0x00 if self.buzzer else 0x04, 0, 0, 0])
        outlet = self.outlet_number(report)
        if outlet is None:
            raise _usb_error("Pipe error", errno.EPIPE)
        on = self.device.outlets.shown(outlet) == ON
        return bytes([report, 0x03 if on else 0x00, 0, 0, 0])


class Sispm(MockDevice):
    def __init__(self, config: MockConfig) -> None:
        super().__init__(config)
        base = int.from_bytes(parse_serial(str(config.options.get("serial_number", "01:02:03:04:05"))), "big")
        count = int(config.options.get("strips", 1))
        self.strips = [Strip(self, i, ((base + i) % (1 << 40)).to_bytes(5, "big")) for i in range(count)]
        self.transfers = 0
        self._lock = threading.Lock()

    def transfer(self, strip: Strip) -> None:
        with self._lock:
            self.transfers += 1
            drop = self.config.faults.drop_after
        if drop is not None and self.transfers > drop:
            raise _usb_error("No such device (it may have been disconnected)", errno.ENODEV)

    def backend(self) -> FakeBackend:
        return FakeBackend(self.strips)

    def session(self, channel: Channel) -> None:
        raise NotImplementedError("a USB strip has no byte stream")


# ---------------------------------------------------------------------------------------------
# pyusb backend


class _Descriptor:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def _backend_base() -> type:
    import usb.backend

    return usb.backend.IBackend  # type: ignore[no-any-return]


class FakeBackend(_backend_base()):  # type: ignore[misc]
    """pyusb backend over fake strips (``usb.core.find(..., backend=FakeBackend(strips))``)."""

    def __init__(self, strips: list[Strip]) -> None:
        self.strips = strips
        self.claimed: set[tuple[int, int]] = set()

    def enumerate_devices(self) -> Iterator[Strip]:
        yield from self.strips

    def get_device_descriptor(self, dev: Strip) -> _Descriptor:
        return _Descriptor(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0110,
            bDeviceClass=0,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=8,
            idVendor=VENDOR,
            idProduct=dev.id_product,
            bcdDevice=0x0001,
            iManufacturer=1,
            iProduct=2,
            iSerialNumber=3,
            bNumConfigurations=1,
            address=dev.address,
            bus=dev.bus,
            port_number=dev.index + 1,
            port_numbers=(dev.index + 1,),
            speed=1,  # low speed
        )

    def get_configuration_descriptor(self, dev: Strip, config: int) -> _Descriptor:
        if config != 0:
            raise IndexError("no such configuration")
        return _Descriptor(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=34,
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0x80,
            bMaxPower=50,
            extra_descriptors=[],
        )

    def get_interface_descriptor(self, dev: Strip, intf: int, alt: int, config: int) -> _Descriptor:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError("no such interface")
        return _Descriptor(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=0,
            bAlternateSetting=0,
            bNumEndpoints=1,
            bInterfaceClass=3,  # HID
            bInterfaceSubClass=0,
            bInterfaceProtocol=0,
            iInterface=0,
            extra_descriptors=[],
        )

    def get_endpoint_descriptor(self, dev: Strip, ep: int, intf: int, alt: int, config: int) -> _Descriptor:
        if (ep, intf, alt, config) != (0, 0, 0, 0):
            raise IndexError("no such endpoint")
        return _Descriptor(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=0x81,
            bmAttributes=3,
            wMaxPacketSize=8,
            bInterval=10,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    def open_device(self, dev: Strip) -> Strip:
        return dev

    def close_device(self, dev_handle: Strip) -> None:
        pass

    def set_configuration(self, dev_handle: Strip, config_value: int) -> None:
        if config_value != 1:
            raise _usb_error("Invalid parameter", errno.EINVAL)

    def get_configuration(self, dev_handle: Strip) -> int:
        return 1

    def set_interface_altsetting(self, dev_handle: Strip, intf: int, altsetting: int) -> None:
        pass

    def claim_interface(self, dev_handle: Strip, intf: int) -> None:
        self.claimed.add((dev_handle.index, intf))

    def release_interface(self, dev_handle: Strip, intf: int) -> None:
        self.claimed.discard((dev_handle.index, intf))

    def is_kernel_driver_active(self, dev_handle: Strip, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: Strip, intf: int) -> None:
        pass

    def attach_kernel_driver(self, dev_handle: Strip, intf: int) -> None:
        pass

    def clear_halt(self, dev_handle: Strip, ep: int) -> None:
        pass

    def reset_device(self, dev_handle: Strip) -> None:
        pass

    def ctrl_transfer(
        self,
        dev_handle: Strip,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: Any,
        timeout: int,
    ) -> int:
        if bmRequestType & 0x80:  # IN: fill pyusb's pre-sized array in place, return the count
            answer = dev_handle.control(bmRequestType, bRequest, wValue, wIndex, len(data))
            assert isinstance(answer, bytes)
            data[: len(answer)] = array("B", answer)
            return len(answer)
        written = dev_handle.control(bmRequestType, bRequest, wValue, wIndex, bytes(data))
        assert isinstance(written, int)
        return written


# ---------------------------------------------------------------------------------------------
# Serving the backend on a Unix socket (``stonith-mock sispm``)


def handle_request(backend: FakeBackend, request: dict[str, Any]) -> dict[str, Any]:
    """One JSON request of the socket backend (mocks/usb_socket.py), answered from ``backend``."""
    import usb.core

    op = request.get("op")
    try:
        if op == "enumerate":
            return {"devices": [vars(backend.get_device_descriptor(s)) for s in backend.strips]}
        strip = backend.strips[int(request["dev"])]
        if op == "ctrl":
            data = request.get("data")
            if data is None:
                buffer = array("B", bytes(int(request["length"])))
                count = backend.ctrl_transfer(
                    strip, request["bmRequestType"], request["bRequest"], request["wValue"],
                    request["wIndex"], buffer, request.get("timeout", 1000),
                )  # fmt: skip
                return {"data": list(buffer[:count])}
            count = backend.ctrl_transfer(
                strip, request["bmRequestType"], request["bRequest"], request["wValue"],
                request["wIndex"], array("B", bytes(data)), request.get("timeout", 1000),
            )  # fmt: skip
            return {"count": count}
        return {"error": "EINVAL", "errno": errno.EINVAL, "message": f"unknown op {op!r}"}
    except usb.core.USBTimeoutError as exc:
        return {"error": "timeout", "errno": exc.errno, "message": str(exc)}
    except usb.core.USBError as exc:
        return {"error": "usb", "errno": exc.errno, "message": exc.strerror or str(exc)}
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return {"error": "EINVAL", "errno": errno.EINVAL, "message": f"bad request ({exc})"}


class SocketMock(RunningMock):
    """The fake backend behind a Unix socket, one JSON request per line."""

    def __init__(self, device: Sispm, path: str | None) -> None:
        self.device = device
        self.stop = threading.Event()
        self._servers = []
        self._tmp = None if path else tempfile.mkdtemp(prefix="stonith-sispm-")
        self.path = os.path.abspath(path or os.path.join(str(self._tmp), "usb.sock"))
        with contextlib.suppress(FileNotFoundError):
            if os.path.exists(self.path) and not os.path.isdir(self.path):
                os.unlink(self.path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self._listener.listen(8)
        self._listener.settimeout(POLL)
        self.backend = device.backend()
        self.info = {
            "type": device.config.type,
            "model": device.config.model,
            "usb_backend": f"unix:{self.path}",
            "socket": self.path,
        }
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="mock-sispm", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        for conn in accepted(self._listener, self.stop):
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(POLL)
        buffer = b""
        with conn:
            while not self.stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    try:
                        request = json.loads(line)
                        if not isinstance(request, dict):
                            raise ValueError("not an object")
                    except ValueError:
                        answer: dict[str, Any] = {
                            "error": "EINVAL",
                            "errno": errno.EINVAL,
                            "message": "bad JSON",
                        }
                    else:
                        with self._lock:  # one transfer at a time, as on the bus
                            answer = handle_request(self.backend, request)
                    try:
                        conn.sendall(json.dumps(answer).encode() + b"\n")
                    except OSError:
                        return

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(2.0)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        if self._tmp:
            with contextlib.suppress(OSError):
                os.rmdir(self._tmp)
        self.device.close()


def run(config: MockConfig, *, listen: str | None = None, serial_link: str | None = None) -> RunningMock:
    if listen:
        raise ValueError(
            "a USB strip cannot be served over a network; use --serial-link PATH (a Unix socket)"
        )
    return SocketMock(create(config), serial_link)

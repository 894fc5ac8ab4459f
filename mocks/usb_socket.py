"""The driver's end of ``stonith-mock sispm``'s Unix socket: a pyusb backend over JSON lines.

``STONITH_USB_BACKEND=unix:PATH`` (stonith.transport.usb.load_backend) or ``socket_backend(PATH)``
gives pyusb a backend whose every call is one JSON request to the mock serving its fake strips on
PATH (mocks/sispm.py answers with its FakeBackend); errors come back as pyusb's exceptions.  Test
equipment: it lets a driver's pyusb code, unchanged, talk to a mock in another process.
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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

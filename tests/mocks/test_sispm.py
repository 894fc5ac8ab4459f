"""The SIS-PM mock's socket backend: JSON requests answered by the fake pyusb backend."""

from __future__ import annotations

import json
import socket

import pytest

pytest.importorskip("usb")

from stonith.mocks.harness import start_mock


def test_socket_protocol(tmp_path):
    with start_mock("sispm", model="eg-pms2", serial_link=str(tmp_path / "usb.sock")) as mock:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(mock.info["socket"])
            stream = sock.makefile("rwb")

            def call(request):
                stream.write(json.dumps(request).encode() + b"\n")
                stream.flush()
                return json.loads(stream.readline())

            (device,) = call({"op": "enumerate"})["devices"]
            assert (device["idVendor"], device["idProduct"]) == (0x04B4, 0xFD15)
            ctrl = {"op": "ctrl", "dev": 0, "wIndex": 0}
            assert call(
                {**ctrl, "bmRequestType": 0x21, "bRequest": 9, "wValue": 0x0306, "data": [6, 0, 0, 0, 0]}
            ) == {"count": 5}
            answer = call({**ctrl, "bmRequestType": 0xA1, "bRequest": 1, "wValue": 0x0306, "length": 5})
            assert answer["data"][:2] == [6, 0]
            assert (
                call({**ctrl, "bmRequestType": 0xA1, "bRequest": 1, "wValue": 0x0300 | 15, "length": 5})[
                    "errno"
                ]
                == 32
            )
            assert "error" in call({"op": "nonsense"})
            stream.write(b"not json\n")
            stream.flush()
            assert "error" in json.loads(stream.readline())
        assert mock.state(2) == "off"


def test_not_over_a_network():
    from stonith.mocks.__main__ import start

    with pytest.raises(SystemExit):
        start(["sispm", "--listen", "127.0.0.1:0"])

"""The sispm driver against the mock's fake pyusb backend: in process and over its Unix socket."""

from __future__ import annotations

import pytest

pytest.importorskip("usb")

import usb.core
import usb.util
from stonith.drivers.sispm import Sispm
from stonith.mocks import sispm as mock_sispm
from stonith.mocks._common import MockConfig, parse_faults
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON
from stonith.contract.errors import StonithError
from tests.conftest import node_operation, run_stonith


def strip(model="sis-pm", faults=(), strips=1, states=None):
    count = mock_sispm.MODELS[model][1]
    config = MockConfig(
        "sispm", model, mock_sispm.default_names(model, count), states or [ON] * count, "", "",
        faults=parse_faults(faults), options={"strips": strips, "serial_number": "01:02:03:04:05"},
    )  # fmt: skip
    return mock_sispm.create(config)


@pytest.fixture
def with_backend(monkeypatch):
    made = []

    def use(device):
        made.append(device)
        monkeypatch.setattr(Sispm, "backend", device.backend())
        return device

    yield use
    for device in made:
        device.close()


@pytest.mark.parametrize(
    ("model", "product"),
    [("sis-pm", 0xFD11), ("msis-pm", 0xFD12), ("sis-pm-flash", 0xFD13), ("eg-pms2", 0xFD15)],
)
def test_pyusb_finds_the_fake_strip(model, product):
    device = strip(model)
    dev = usb.core.find(idVendor=0x04B4, idProduct=product, backend=device.backend())
    assert dev is not None and (dev.idVendor, dev.idProduct) == (0x04B4, product)
    assert usb.util.get_string(dev, dev.iManufacturer) == "Gembird"
    assert dev.ctrl_transfer(0xA1, 0x01, 0x0301, 0, 5).tobytes() == bytes([1, 2, 3, 4, 5])
    # sispmctl's switch: SET_REPORT of [3 x outlet, 0x00] turns outlet 1 off
    assert dev.ctrl_transfer(0x21, 0x09, 0x0303, 0, bytes([3, 0, 0, 0, 0])) == 5
    assert dev.ctrl_transfer(0xA1, 0x01, 0x0303, 0, 5)[1] & 1 == 0
    with pytest.raises(usb.core.USBError) as caught:
        dev.ctrl_transfer(0xA1, 0x01, 0x0300 | 30, 0, 5)
    assert caught.value.errno == 32
    device.close()


def test_off_on_reset_verified(with_backend):
    device = with_backend(strip())
    drv = Sispm({"hostlist": ["node1", "-", "node3"]})
    results = node_operation(drv, "node3", "off", Deadline(5))
    assert [r.verified for r in results] == [True] and device.outlets.truth(3) == OFF
    node_operation(drv, "node3", "reset", Deadline(5))
    assert [e["state"] for e in device.outlets.snapshot()["events"]] == ["off", "on"]
    assert device.outlets.truth(1) == ON


def test_several_strips_need_serial(with_backend):
    with_backend(strip(strips=2))
    with pytest.raises(StonithError, match="several strips"):
        node_operation(Sispm({}), "1", "off", Deadline(5))
    drv = Sispm({"serial": "01:02:03:04:06"})
    node_operation(drv, "2", "off", Deadline(5))
    with pytest.raises(StonithError) as unreachable:
        node_operation(Sispm({"serial": "0a:0b:0c:0d:0e"}), "2", "off", Deadline(5))
    assert unreachable.value.exit_code == 8


@pytest.mark.parametrize(
    ("fault", "codes"),
    [("stuck=2", (5, 6)), ("lie=2", (5, 6)), ("silent", (6, 8)), ("garble", (5, 6)), ("drop-after=1", (8,))],
)
def test_faults_are_never_success(with_backend, fault, codes):
    device = with_backend(strip(faults=[fault]))
    with pytest.raises(StonithError) as caught:
        node_operation(Sispm({}), "2", "off", Deadline(2))
    assert int(caught.value.exit_code) in codes
    if fault.startswith(("stuck", "lie", "silent")):
        assert device.outlets.truth(2) == ON


def test_no_strip_is_unreachable(with_backend, monkeypatch):
    device = with_backend(strip())
    device.strips.clear()
    with pytest.raises(StonithError, match="no Gembird"):
        node_operation(Sispm({}), "1", "off", Deadline(2))


def test_cli_through_the_mock_socket(tmp_path):
    with start_mock("sispm", serial_link=str(tmp_path / "usb.sock")) as mock:
        env = {"STONITH_USB_BACKEND": mock.info["usb_backend"]}
        listed = run_stonith("-t", "sispm", "hostlist=web db", "-l", env=env)
        assert listed.returncode == 0 and listed.stdout.split() == ["web", "db", "3", "4"]
        assert run_stonith("-t", "sispm", "hostlist=web", "-S", env=env).returncode == 0
        off = run_stonith("-t", "sispm", "hostlist=web db", "-T", "off", "db", env=env)
        assert off.returncode == 0 and "verified" in off.stderr and mock.state(2) == OFF
        reset = run_stonith("-t", "sispm", "hostlist=web db", "-T", "reset", "web", env=env)
        assert reset.returncode == 0 and [e["state"] for e in mock.events() if e["outlet"] == "1"] == [
            OFF,
            ON,
        ]


def test_cli_without_backend_is_unreachable():
    result = run_stonith(
        "-t", "sispm", "hostlist=a", "-S", env={"STONITH_USB_BACKEND": "unix:/nonexistent/sock"}
    )
    assert result.returncode == 8 and "Traceback" not in result.stderr

"""The rcd_serial driver against the mock's RC model, at the modem-line level.

cluster-glue's rcd_serial (and ours) cannot drive a pty: ptys have no modem-control lines.  So the
driver is tested against a fake pyserial port whose DTR/RTS changes are recorded with timestamps
and fed to an RC-circuit model, in process and over RFC 2217 (``ttydev=rfc2217://...``), and on a
real pty only to prove it fails cleanly.  A reset pulse cannot be read back: results are NOT verified.
"""

from __future__ import annotations

import os
import time
import tty

import pytest
from stonith.drivers.rcd_serial import RcdSerial
from stonith.mocks import rcd_serial as mock_rcd
from stonith.mocks._common import MockConfig
from stonith.mocks.harness import start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import Outlet
from stonith.contract.errors import DeviceError, Timeout, Unsupported
from tests.conftest import node_operation, run_stonith


def circuit_device(model="rc", **options):
    config = MockConfig("rcd_serial", model, ["host"], ["on"], "", "", options={"line": "rts", **options})
    return mock_rcd.create(config)


@pytest.fixture
def fake(monkeypatch):
    device = circuit_device()
    ports = []

    def factory(url):
        ports.append(device.port())
        return ports[-1]

    monkeypatch.setattr(RcdSerial, "port_factory", staticmethod(factory))
    yield device, ports
    device.close()


def driver(line="rts", ms=1000, hosts=("node1", "node2")):
    return RcdSerial({"hostlist": list(hosts), "ttydev": "/dev/ttyS0", "dtr_rts": line, "msduration": ms})


def test_reset_pulses_the_line_and_resets_the_host(fake):
    device, ports = fake
    results = node_operation(driver(), "node2", "reset", Deadline(5))
    assert [r.verified for r in results] == [False]
    # both lines held low from the open, one RTS pulse of msduration, both low at close
    assert device.circuit.pulses("dtr") == []
    (pulse,) = device.circuit.pulses("rts")
    assert 1.0 <= pulse < 1.2
    assert len(device.circuit.resets) == 1
    assert [e["state"] for e in device.outlets.snapshot()["events"]] == ["off", "on"]
    assert not ports[0].is_open


def test_short_pulse_does_not_charge_the_circuit(fake):
    device, _ = fake
    node_operation(driver(ms=100), "node1", "reset", Deadline(5))
    assert len(device.circuit.pulses("rts")) == 1 and device.circuit.resets == []


def test_wrong_line_does_not_reset(fake):
    device, _ = fake
    node_operation(driver(line="dtr"), "node1", "reset", Deadline(5))
    assert device.circuit.pulses("dtr") and device.circuit.resets == []


def test_two_transistor_variant_needs_rts_high_and_dtr_low(monkeypatch):
    device = circuit_device("two-transistor")
    monkeypatch.setattr(RcdSerial, "port_factory", staticmethod(lambda url: device.port()))
    node_operation(driver(line="rts"), "node1", "reset", Deadline(5))
    assert len(device.circuit.resets) == 1
    device.close()


def test_on_and_off_are_refused_not_turned_into_resets(fake):
    device, ports = fake
    for verb in ("on", "off"):
        with pytest.raises(Unsupported):
            node_operation(driver(), "node1", verb, Deadline(5))
    assert ports == [] and device.circuit.transitions == []


def test_pulse_longer_than_deadline_is_timeout_without_touching_the_line(fake):
    _, ports = fake
    with pytest.raises(Timeout):
        driver(ms=5000).cycle(Outlet("reset", "node1"), Deadline(1))
    assert ports == []


def test_pty_has_no_modem_lines():
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with pytest.raises(DeviceError, match="modem-control"):
            RcdSerial(
                {"hostlist": ["n1"], "ttydev": os.ttyname(slave), "dtr_rts": "rts", "msduration": 10}
            ).cycle(Outlet("reset", "n1"), Deadline(5))
    finally:
        os.close(master)
        os.close(slave)


def test_cli_over_rfc2217():
    with start_mock("rcd_serial", listen="127.0.0.1:0") as mock:
        url = f"rfc2217://{mock.address}"
        base = ("-t", "rcd_serial", f"ttydev={url}", "hostlist=node1 node2", "dtr_rts=rts")
        listed = run_stonith(*base, "msduration=1000", "-l")
        assert listed.returncode == 0 and listed.stdout.split() == ["node1", "node2"]
        assert run_stonith(*base, "msduration=1000", "-S").returncode == 0
        assert mock.events() == []
        reset = run_stonith(*base, "msduration=1000", "-T", "reset", "node2")
        assert reset.returncode == 0 and "NOT verified" in reset.stderr
        deadline = time.monotonic() + 2
        while len(mock.events()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e["state"] for e in mock.events()] == ["off", "on"]
        off = run_stonith(*base, "msduration=1000", "-T", "off", "node2")
        assert off.returncode == 3 and len(mock.events()) == 2


def test_bad_parameters():
    for bad in ("dtr_rts=cts", "msduration=0"):
        params = {"dtr_rts": "rts", "msduration": "10"}
        key, _, value = bad.partition("=")
        params[key] = value
        result = run_stonith(
            "-t",
            "rcd_serial",
            "ttydev=/dev/ttyS0",
            "hostlist=n1",
            *(f"{k}={v}" for k, v in params.items()),
            "-l",
        )
        assert result.returncode == 1, (bad, result.stderr)

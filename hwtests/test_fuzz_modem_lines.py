"""Fuzzing rcd_serial's modem-line port: opening it and setting DTR/RTS failing in any way.

Properties and budgets: hwtests/fuzzing.py.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests.fuzzing import DEADLINE, FUZZ, GRACE, loads, make_driver, read_device
from stonith.contract.deadline import Deadline
from stonith.contract.driver import Outlet
from stonith.contract.errors import StonithError

# -- rcd_serial: the modem-line port --------------------------------------------------------------
#
# rcd_serial reads nothing from the device; what it meets is its port: opening it and setting DTR
# or RTS may fail in any way pyserial or a URL handler fails.  Reading (probe, status) must never
# raise the line; a reset pulse must leave it low whenever it could be set at all.


@pytest.mark.skipif(not loads("rcd_serial"), reason="rcd_serial driver not installed")
@FUZZ
@given(
    failures=st.lists(
        st.one_of(
            st.none(),
            st.sampled_from(["OSError", "ValueError", "SerialException", "RuntimeError", "ImportError"]),
        ),
        max_size=8,
    ),
    line=st.sampled_from(["dtr", "rts"]),
    pulse=st.integers(1, 60),
)
def test_fuzz_rcd_serial_port(monkeypatch, failures, line, pulse):
    from stonith.drivers.rcd_serial import RcdSerial

    plan = list(failures)
    raised: list[str] = []

    def maybe_fail(what: str) -> None:
        name = plan.pop(0) if plan else None
        if name is None:
            return
        raised.append(what)
        if name == "SerialException":
            import serial

            raise serial.SerialException(f"fuzz: {what}")
        raise {"OSError": OSError, "ValueError": ValueError, "RuntimeError": RuntimeError}.get(
            name, ImportError
        )(f"fuzz: {what}")

    class Port:
        port = "fake://rcd"

        def __init__(self) -> None:
            self.is_open = False
            self.levels: list[tuple[str, bool]] = []

        def __setattr__(self, name: str, value) -> None:
            if name in ("dtr", "rts"):
                maybe_fail(f"set {name}")
                if self.is_open:
                    self.levels.append((name, value))
            object.__setattr__(self, name, value)

        def open(self) -> None:
            maybe_fail("open")
            self.is_open = True

        def close(self) -> None:
            maybe_fail("close")
            self.is_open = False

    ports: list[Port] = []

    def factory(url: str) -> Port:
        maybe_fail("factory")
        ports.append(Port())
        return ports[-1]

    monkeypatch.setattr(RcdSerial, "port_factory", staticmethod(factory))
    driver = make_driver(
        "rcd_serial", {"hostlist": ["n1"], "ttydev": "/dev/fake", "dtr_rts": line, "msduration": pulse}
    )
    read_device(driver, [Outlet("reset", "n1")])
    assert not [lv for p in ports for lv in p.levels if lv[1]]  # reading never raises a line
    deadline = Deadline(DEADLINE)
    started = time.monotonic()
    with contextlib.suppress(StonithError):
        driver.cycle(Outlet("reset", "n1"), deadline)
    assert time.monotonic() - started < DEADLINE + GRACE
    for port in ports:
        if port.levels and f"set {line}" not in raised:
            assert port.levels[-1] == (line, False), port.levels  # the pulse ended low

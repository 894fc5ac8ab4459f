"""The RC-circuit model of the rcd_serial mock."""

from __future__ import annotations

import time

import pytest
from stonith.mocks.rcd_serial import RcCircuit


def test_threshold_crossing_is_one_reset_and_glitches_are_not():
    circuit = RcCircuit(line="rts", two_transistor=False, tau=0.1, threshold=0.5)
    circuit.set_line("rts", True)
    time.sleep(0.02)  # a glitch: 0.02 s charges to about 18 %
    circuit.set_line("rts", False)
    assert circuit.resets == []
    circuit.set_line("rts", True)
    time.sleep(0.2)
    assert circuit.voltage() > 0.5 and len(circuit.resets) == 1
    circuit.set_line("rts", False)
    assert circuit.pulses("rts") == pytest.approx([0.02, 0.2], abs=0.03)


def test_two_transistor_dtr_high_discharges():
    circuit = RcCircuit(line="rts", two_transistor=True, tau=0.05, threshold=0.5)
    circuit.set_line("dtr", True)
    circuit.set_line("rts", True)
    time.sleep(0.2)
    assert circuit.resets == []
    circuit.set_line("dtr", False)
    time.sleep(0.2)
    assert circuit.voltage() > 0.5 and len(circuit.resets) == 1


def test_not_on_a_pty(tmp_path):
    from stonith.mocks.__main__ import start

    with pytest.raises(SystemExit):
        start(["rcd_serial", "--serial-link", str(tmp_path / "tty")])

"""Fuzzing the SIS-PM driver with USB control transfers from a scripted pyusb backend.

Properties and budgets: hwtests/fuzzing.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests.fuzzing import fewer, loads, make_driver, needs, read_device
from stonith.contract.driver import Outlet

# -- SIS-PM: USB control transfers ----------------------------------------------------------------
#
# The driver's pyusb code runs against mocks/sispm.py's fake backend, whose control transfers
# answer as the script says: honestly, with arbitrary bytes (up to the length asked), a short
# count written, a USB error with any errno, or a timeout.  One to three strips on the bus, with
# or without a serial number configured.  A script that runs out answers honestly.


def _sispm_actions():
    import errno

    errnos = [errno.EPIPE, errno.EIO, errno.ENODEV, errno.EACCES, errno.ETIMEDOUT, errno.EBUSY, None]
    return st.one_of(
        st.just(("pass",)),
        st.tuples(st.just("bytes"), st.binary(max_size=8)),
        st.tuples(st.just("count"), st.integers(-1, 8)),
        st.tuples(st.just("error"), st.sampled_from(errnos)),
        st.just(("timeout",)),
    )


SISPM_READY = needs("usb") and loads("sispm")


# A failed transfer is retried after real pauses of 50, 100, 200 ms (within the deadline), about
# 0.1 s per example: EXAMPLES // 4 examples.
@pytest.mark.skipif(not SISPM_READY, reason="pyusb or the sispm driver is not installed")
@fewer(4)
@given(
    script=st.lists(_sispm_actions(), max_size=10),
    model=st.sampled_from(["sis-pm", "msis-pm", "sis-pm-flash", "eg-pms2"]),
    strips=st.integers(1, 3),
    pick=st.booleans(),
)
def test_fuzz_sispm_transfers(monkeypatch, script, model, strips, pick):
    from array import array

    import usb.core
    from stonith.mocks import sispm as mock
    from stonith.mocks._common import MockConfig

    script = list(script)
    count = mock.MODELS[model][1]
    names = [f"n{i}" for i in range(1, count + 1)]
    config = MockConfig("sispm", model, list(names), ["on"] * count, "", "", options={"strips": strips})
    device = mock.create(config)
    outs: list[tuple[int, int, int, bytes]] = []

    class FuzzBackend(mock.FakeBackend):
        def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
            if not bmRequestType & 0x80:
                outs.append((bmRequestType, bRequest, wValue, bytes(data)))
            action = script.pop(0) if script else ("pass",)
            if action[0] == "error":
                raise usb.core.USBError("fuzz", action[1], action[1])
            if action[0] == "timeout":
                raise usb.core.USBTimeoutError("Operation timed out", 110, 110)
            if action[0] == "bytes" and bmRequestType & 0x80:
                answer = action[1][: len(data)]
                data[: len(answer)] = array("B", answer)
                return len(answer)
            if action[0] == "count" and not bmRequestType & 0x80:
                return action[1]
            return super().ctrl_transfer(dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout)

    from stonith.drivers.sispm import Sispm

    monkeypatch.setattr(Sispm, "backend", FuzzBackend(device.strips))
    serial = ":".join(f"{b:02x}" for b in device.strips[-1].serial)
    driver = make_driver("sispm", {"hostlist": names[:2], **({"serial": serial} if pick else {})})
    read_device(driver, [Outlet("1")])
    assert not [o for o in outs if o[:2] == (0x21, 0x09)], outs  # no SET_REPORT: nothing switched
    assert device.outlets.snapshot()["events"] == []

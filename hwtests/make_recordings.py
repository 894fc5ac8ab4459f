"""Re-create the example recordings of mocks/recordings/ (sessions of our driver with our mocks).

    python -m hwtests.make_recordings [--out mocks/recordings]

Each session: login, status, off outlet 1, status, on outlet 1, status, logout, recorded through
``stonith.mocks.recording.Recorder`` with the password redacted.  A lab's real recordings are made
the same way with ``python -m stonith.mocks.recording --target DEVICE`` (hwtests/README.md).
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import hwtests  # noqa: F401
from hwtests import REPO

PASSWORD = "REDACTED"  # the mock's password is the placeholder the redaction writes
SESSIONS = [
    # (vendor, model, firmware, mock argv, driver parameters)
    ("BayTech", "RPC-3", "F5.01", ["baytech", "--model", "rpc3"], {"login": "admin", "password": PASSWORD}),
    ("BayTech", "RPC-5", "F5.01", ["baytech", "--model", "rpc5"], {"login": "admin", "password": PASSWORD}),
    ("BayTech", "RPC3-NC", "F4.00", ["baytech", "--model", "rpc3-nc"], {}),
    ("BayTech", "RPC-28-NC", "F3.01", ["baytech", "--model", "rpc28-nc"], {}),
]
COMMON = ["--names", "node1,node2,node3,node4", "--outlets", "4", "--password", PASSWORD]


def record(vendor: str, model: str, firmware: str, argv: list[str], params: dict[str, str]) -> str:
    from stonith.mocks.__main__ import start
    from stonith.mocks.recording import Recorder, header

    from stonith.contract.deadline import Deadline
    from stonith.contract.driver import Outlet
    from stonith.fencing.device import check
    from stonith.fencing.registry import load

    mock_argv = [*argv, *COMMON]
    if "nc" in argv[-1]:
        mock_argv = [*argv, "--names", "node1,node2,node3,node4", "--outlets", "4"]
    mock = start([*mock_argv, "--listen", "127.0.0.1:0"])
    out = io.StringIO()
    head = header(
        vendor=vendor,
        model=model,
        driver="baytech",
        firmware=firmware,
        target="mock",
        mock=mock_argv,
        note="made against our mock by hwtests/make_recordings.py (an example, not a real device)",
    )
    try:
        with Recorder("127.0.0.1:0", str(mock.info["address"]), out, head, [PASSWORD]) as recorder:
            assert isinstance(recorder, Recorder)
            driver_cls = load("baytech")
            driver = driver_cls(check(driver_cls.INFO, {"ipaddr": recorder.address, **params}))
            deadline = Deadline(20)
            driver.connect(deadline)
            outlet = Outlet("1", "node1")
            driver.status_many([outlet], deadline)
            driver.off(outlet, deadline)
            driver.status_many([outlet], deadline)
            driver.on(outlet, deadline)
            driver.status_many([outlet], deadline)
            driver.disconnect()
            limit = time.monotonic() + 5
            while not recorder.closed_connections and time.monotonic() < limit:
                time.sleep(0.05)
            time.sleep(0.2)
    finally:
        mock.close()
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    from stonith.mocks.recording import file_name

    parser = argparse.ArgumentParser(prog="python -m hwtests.make_recordings", description=__doc__)
    parser.add_argument("--out", default=str(REPO / "mocks" / "recordings"))
    args = parser.parse_args(argv)
    for vendor, model, firmware, mock_argv, params in SESSIONS:
        text = record(vendor, model, firmware, mock_argv, params)
        path = f"{args.out}/{file_name(vendor, model, 'baytech', firmware, 1)}"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        sys.stdout.write(f"{path}: {text.count(chr(10)) - 1} events\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

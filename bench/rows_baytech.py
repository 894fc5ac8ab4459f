"""BayTech rows: ``-l`` and a verified ``-T reset``, ours vs Debian cluster-glue's C ``baytech`` plugin.

Both run against the same rpc3 mock on 127.0.0.N:23 (cluster-glue's plugin has no port parameter)
with a 0.3 s relay delay.  Parameters reach both through the environment (``-E``), so the password
is on no command line.  cluster-glue's reset returns when the device prints "Power applied", without
reading the outlets back; ours reads back off, waits the settle time, and reads back on.
"""

from __future__ import annotations

import contextlib
import importlib
import socket

from bench.harness import Command, Row
from bench.rows import GLUE_STONITH, STONITH

PASSWORD = "bench-secret"
_stack = contextlib.ExitStack()


def _free_loopback() -> str:
    for last in range(90, 250):
        address = f"127.0.0.{last}"
        with socket.socket() as probe:
            try:
                probe.bind((address, 23))
            except OSError:
                continue
        return address
    raise RuntimeError("no free 127.0.0.N:23")


def _start_mock() -> dict[str, str]:
    # Imported by name: stonith.mocks exists only installed, not in the checkout mypy reads.
    harness = importlib.import_module("stonith.mocks.harness")
    address = _free_loopback()
    _stack.enter_context(
        harness.start_mock(
            "baytech",
            model="rpc3",
            listen=f"{address}:23",
            outlets=8,
            names=["node1", "node2"],
            password=PASSWORD,
            relay_delay=0.3,
        )
    )
    return {"host": address}


def _stop() -> None:
    _stack.close()


ENV = {"ipaddr": "$host", "login": "admin", "password": PASSWORD}

ROWS: list[Row] = [
    Row(
        name="stonith -t baytech -l",
        argv=[STONITH, "-t", "baytech", "-E", "-l"],
        env=ENV,
        peers=[Command("/usr/sbin/stonith -t baytech -l", [GLUE_STONITH, "-t", "baytech", "-E", "-l"])],
        setup=_start_mock,
        teardown=_stop,
    ),
    Row(
        name="stonith -t baytech -T reset (0.3 s relay)",
        argv=[STONITH, "-t", "baytech", "-E", "-T", "reset", "node1"],
        env=ENV,
        peers=[
            Command(
                "/usr/sbin/stonith -t baytech -T reset (unverified)",
                [GLUE_STONITH, "-t", "baytech", "-E", "-T", "reset", "node1"],
            )
        ],
        setup=_start_mock,
        teardown=_stop,
        runs=10,
        warmup=2,
    ),
]

"""SNMP PDU rows: a verified reboot of one outlet, and the time to fail on an unreachable agent.

- reboot: ``stonith -t apcmastersnmp -E -T reset node1`` against the APC MasterSwitch mock with a
  0.5 s relay delay, vs ``fence_apc_snmp -o reboot`` on the same mock.  Both verify: off, read
  back off, on, read back on (ours also waits the reset layer's 1 s settle time between them).
- unreachable: ``-S`` / ``-o status`` against a UDP port that never answers; ours with its default
  snmp_timeout 1 s and snmp_retries 1, fence_apc_snmp with net-snmp's 1 s x 6 (about 6.2 s).

The community reaches ours through the environment (``-E``); fence_apc_snmp only takes it on argv.
"""

from __future__ import annotations

import contextlib
import socket

from bench.harness import Command, Row
from bench.rows import FENCE_APC_SNMP, STONITH

COMMUNITY = "private"
_stack = contextlib.ExitStack()


def _start_mock() -> dict[str, str]:
    import importlib

    # Imported by name: stonith.mocks exists only installed, not in the checkout mypy reads.
    harness = importlib.import_module("stonith.mocks.harness")
    mock = _stack.enter_context(
        harness.start_mock(
            "apcmastersnmp", outlets=8, names=["node1"], relay_delay=0.5, community=[COMMUNITY]
        )
    )
    return {"host": mock.host, "port": str(mock.port)}


def _silent_port() -> dict[str, str]:
    sock = _stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.bind(("127.0.0.1", 0))  # bound and never read: no answer, no ICMP
    return {"host": "127.0.0.1", "port": str(sock.getsockname()[1])}


def _stop() -> None:
    _stack.close()


ROWS: list[Row] = [
    Row(
        name="stonith -t apcmastersnmp -T reset (0.5 s relay)",
        argv=[STONITH, "-t", "apcmastersnmp", "-E", "-T", "reset", "node1"],
        env={"ipaddr": "$host:$port", "community": COMMUNITY},
        peers=[
            Command(
                "fence_apc_snmp -o reboot (0.5 s relay)",
                [
                    FENCE_APC_SNMP,
                    "-o",
                    "reboot",
                    "-a",
                    "$host",
                    "-u",
                    "$port",
                    "-c",
                    COMMUNITY,
                    "-n",
                    "node1",
                ],
            )
        ],
        setup=_start_mock,
        teardown=_stop,
        runs=5,
        warmup=1,
    ),
    Row(
        name="stonith -t apcmastersnmp -S (unreachable)",
        argv=[STONITH, "-t", "apcmastersnmp", "-E", "-S"],
        env={"ipaddr": "$host:$port", "community": COMMUNITY},
        ok_returncodes=(8,),
        peers=[
            Command(
                "fence_apc_snmp -o status (unreachable)",
                [FENCE_APC_SNMP, "-o", "status", "-a", "$host", "-u", "$port", "-c", COMMUNITY, "-n", "1"],
                ok_returncodes=(1,),
            )
        ],
        setup=_silent_port,
        teardown=_stop,
        runs=3,
        warmup=0,
    ),
]

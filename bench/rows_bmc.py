"""Bench rows of the BMC drivers (issue 7): reboot latency, ours vs fence-agents, on the same mock.

Each row starts one mock BMC (``python -m stonith.mocks ipmilan|redfish``, power delay
``POWER_DELAY`` s for off and for on) and times a whole verified reboot:

- ours: ``stonith -t ipmilan|redfish -F CFG -T reset node1``: off, read back off, settle 1 s, on,
  read back on (IPMI: RMCP+ with cipher suite auto = 17; Redfish: HTTPS with the mock's certificate
  verified, Basic authentication);
- peers: ``fence_ipmilan --lanplus`` (ipmitool picks the suite: 17) and ``fence_redfish
  --ssl-insecure``, ``-o reboot``: off, poll status until off, on, poll until on.  fence-agents only
  take whole seconds for ``--power-wait`` (a sleep after each of the two commands), so each peer
  runs twice: ``--power-wait 0`` (no settle at all: the ratio is against us by our 1 s) and
  ``--power-wait 1`` (2 s of sleeping: the ratio is in our favour by 1 s).  The truth lies between.

Passwords never go on argv: ours reads a mode-600 ``-F`` file, the peers run
``--password-script 'printenv BENCH_BMC_PASSWORD'``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile

from bench.harness import Command, Row
from bench.rows import STONITH, _first_installed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FENCE_IPMILAN = _first_installed("/usr/sbin/fence_ipmilan", "/usr/bin/fence_ipmilan")
FENCE_REDFISH = _first_installed("/usr/sbin/fence_redfish", "/usr/bin/fence_redfish")
USER, PASSWORD = "admin", "bench-s3cret"
POWER_DELAY = 0.5
PASSWORD_SCRIPT = "printenv BENCH_BMC_PASSWORD"
RUNS, WARMUP = 7, 1


class _Mock:
    """A mock BMC in a subprocess for the duration of one row."""

    def __init__(self, type_name: str, *extra: str) -> None:
        self.type_name = type_name
        self.extra = extra
        self.mock: Any = None  # stonith.mocks.harness.MockHandle
        self.tmp = ""

    def start(self) -> dict[str, str]:
        from stonith.contract.validation import split_hostport

        harness = importlib.import_module("stonith.mocks.harness")  # installed only (not in the checkout)
        self.tmp = tempfile.mkdtemp(prefix="bench-bmc-")
        argv = [self.type_name, "--names", "node1", "--username", USER, "--relay-delay", str(POWER_DELAY)]
        try:
            self.mock = harness.start_process(
                [*argv, *self.extra],
                {"STONITH_MOCK_PASSWORD": PASSWORD},
                os.path.join(self.tmp, "state.json"),
            )
        except harness.MockNotReady:
            raise RuntimeError(f"mock {self.type_name} did not start") from None
        info = self.mock.info
        host, port = split_hostport(info["address"])
        subs = {
            "host": host,
            "port": str(port),
            "address": info["address"],
            "cfg": os.path.join(self.tmp, "cfg"),
        }
        if self.type_name == "ipmilan":
            line = f"node1 {host} {port} md5 admin {USER} {PASSWORD} power_cycle"
        else:
            line = f"node1 {info['address']} {USER} {PASSWORD} yes no {info['ca']}"
        fd = os.open(subs["cfg"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(line + "\n")
        return subs

    def stop(self) -> None:
        if self.mock is not None:
            importlib.import_module("stonith.mocks.harness").stop([self.mock.process], grace=10.0)
            self.mock = None
        with contextlib.suppress(OSError):
            for name in os.listdir(self.tmp):
                os.unlink(os.path.join(self.tmp, name))
            os.rmdir(self.tmp)


_IPMI = _Mock("ipmilan")
_REDFISH = _Mock("redfish")
ENV = {"BENCH_BMC_PASSWORD": PASSWORD}


def _reboot(agent: str, label: str, *options: str) -> list[Command]:
    """The fence agent's ``-o reboot`` at ``--power-wait`` 0 and 1 (whole seconds only: see above)."""
    login = ["-a", "$host", "-u", "$port", "-l", USER, "-S", PASSWORD_SCRIPT, *options]
    return [
        Command(
            f"{label} -o reboot --power-wait {wait}", [agent, *login, "-o", "reboot", "--power-wait", wait]
        )
        for wait in ("0", "1")
    ]


ROWS: list[Row] = [
    Row(
        name="stonith -t ipmilan -T reset (verified, mock BMC 0.5 s power delay)",
        argv=[STONITH, "-t", "ipmilan", "-F", "$cfg", "-T", "reset", "node1"],
        peers=_reboot(FENCE_IPMILAN, "fence_ipmilan --lanplus", "--lanplus"),
        setup=_IPMI.start,
        teardown=_IPMI.stop,
        env=ENV,
        runs=RUNS,
        warmup=WARMUP,
    ),
    Row(
        name="stonith -t redfish -T reset (verified, mock BMC 0.5 s power delay)",
        argv=[STONITH, "-t", "redfish", "-F", "$cfg", "-T", "reset", "node1"],
        peers=_reboot(FENCE_REDFISH, "fence_redfish", "--ssl-insecure"),
        setup=_REDFISH.start,
        teardown=_REDFISH.stop,
        env=ENV,
        runs=RUNS,
        warmup=WARMUP,
    ),
]

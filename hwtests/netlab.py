"""A private network for fault runs, and the faults the kernel makes in it (issue 20).

Every campaign worker runs in namespaces of its own, made by ``unshare``: a network namespace (its own
loopback, 127.0.0.0/8 only, no link to anything outside), a PID namespace whose first process is the
worker, and a mount namespace for that namespace's ``/proc``.  The mocks, the ``stonith`` processes
and the fence agents of the worker's runs all live there and talk over that loopback, so the faults
below touch nobody else:

- nftables rules in the namespace's own ruleset (``Firewall``): random loss of N % per direction,
  a partition (drop), TCP resets and ICMP port/host unreachable (``reject``), a rate limit; each
  rule counts what it matched, so a run can show that its fault really happened;
- the namespace's loopback going down and coming back (``set_loopback``).

Nothing can be left behind: the namespaces have no name and no bind mount, so the kernel frees them
with every rule and link when their last process ends; and because the worker is PID 1 of its PID
namespace, the kernel kills every process in it (mocks included) when the worker ends, however it
ends (``unshare --kill-child`` passes a SIGKILL of ``unshare`` itself on to the worker).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

TABLE = "netlab"
COMMAND_TIMEOUT = 5.0  # nft and ip answer in milliseconds; a hung one must not hang the run
MARK = "STONITH_NETLAB"  # set in the environment of a process started by ``isolated``


def unavailable() -> str | None:
    """Why this machine cannot run the lab (None: it can)."""
    if os.geteuid() != 0:
        return "the network fault lab needs root (unshare --net, nftables)"
    for program, package in (("unshare", "util-linux"), ("nft", "nftables"), ("ip", "iproute2")):
        if shutil.which(program) is None:
            return f"{program} is missing (Debian package {package})"
    probe = subprocess.run(
        isolated(["nft", "add", "table", "inet", TABLE]),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot make a private network namespace with nftables: {probe.stderr.strip()[:200]}"
    return None


def isolated(argv: Sequence[str]) -> list[str]:
    """``argv`` run as PID 1 of fresh network, PID and mount namespaces, with the loopback up."""
    script = f'ip link set lo up && {MARK}=1 exec "$@"'
    return [
        "unshare",
        "--net",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--",
        "sh",
        "-c",
        script,
        "netlab",
        *argv,
    ]


def inside() -> bool:
    """Whether this process was started by ``isolated`` (rules here touch only its namespace)."""
    return os.environ.get(MARK) == "1"


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise OSError(f"{' '.join(argv[:3])}: {done.stderr.strip()[:300]}")
    return done.stdout


def set_loopback(up: bool) -> None:
    _run(["ip", "link", "set", "lo", "up" if up else "down"])


def loopback_up() -> bool:
    links = json.loads(_run(["ip", "-j", "link", "show", "lo"]))
    return "UP" in links[0].get("flags", [])


class Firewall:
    """The namespace's nftables table: rules added and taken away during a run, and their counters.

    Each rule carries a comment (the fault's name) and a counter; ``hits`` adds up what the rules of
    a comment matched, including rules already deleted (their count is read before they go).
    """

    def __init__(self) -> None:
        if not inside():
            raise RuntimeError("Firewall outside a netlab namespace would change this host's rules")
        _run(
            ["nft", "-f", "-"],
            f"table inet {TABLE} {{}}\n"
            f"delete table inet {TABLE}\n"
            f"table inet {TABLE} {{\n"
            "  chain out { type filter hook output priority 0; policy accept; }\n"
            "}\n",
        )
        self._counted: dict[str, int] = {}

    def add(self, match: str, verdict: str, comment: str) -> int:
        """Add a rule (nft syntax: what it matches, then its verdict) to the output hook; its handle.

        On loopback every packet passes the output hook once: ``dport`` of the device's port matches
        what goes to the device, ``sport`` what comes from it.
        """
        argv = ["nft", "-e", "-a", "add", "rule", "inet", TABLE, "out", *match.split()]
        echoed = _run([*argv, "counter", *verdict.split(), "comment", f'"{comment}"'])
        for line in echoed.splitlines():
            if "# handle " in line:
                return int(line.rsplit("# handle ", 1)[1].split()[0])
        raise OSError(f"nft gave no handle for {match!r}")

    def _rules(self) -> list[dict[str, object]]:
        data = json.loads(_run(["nft", "-j", "list", "chain", "inet", TABLE, "out"]))
        return [item["rule"] for item in data["nftables"] if "rule" in item]

    @staticmethod
    def _packets(rule: dict[str, object]) -> int:
        for expr in rule.get("expr", []):  # type: ignore[attr-defined]
            if isinstance(expr, dict) and "counter" in expr:
                return int(expr["counter"]["packets"])
        return 0

    def delete(self, handle: int) -> None:
        for rule in self._rules():
            if rule.get("handle") == handle:
                comment = str(rule.get("comment", ""))
                self._counted[comment] = self._counted.get(comment, 0) + self._packets(rule)
        _run(["nft", "delete", "rule", "inet", TABLE, "out", "handle", str(handle)])

    def clear(self) -> None:
        """Delete every rule (counters kept)."""
        for rule in self._rules():
            self.delete(int(str(rule["handle"])))

    def hits(self) -> dict[str, int]:
        """Packets matched per comment, deleted rules included."""
        out = dict(self._counted)
        for rule in self._rules():
            comment = str(rule.get("comment", ""))
            out[comment] = out.get(comment, 0) + self._packets(rule)
        return out

    def reset_counts(self) -> None:
        self._counted.clear()

"""The audit log: one JSON line per action on a device for a node.

Destination: ``--audit FILE`` / ``STONITH_AUDIT``: a file path (appended, mode 0600), ``syslog``
(facility authpriv, tag ``stonith``), or ``none``.  Default: syslog when /dev/log exists.
Fields: time (ISO 8601 UTC), node, device, outlets, verb, result, duration (s), and error when any.
"""

from __future__ import annotations

import json
import os
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Audit:
    def __init__(self, destination: str | None = None) -> None:
        dest = (
            destination
            or os.environ.get("STONITH_AUDIT")
            or ("syslog" if os.path.exists("/dev/log") else "none")
        )
        self.destination = dest
        self._lock = threading.Lock()

    def record(self, entries: list[Entry]) -> None:
        """Actions of one device phase (one per node): one write, not one per node."""
        if self.destination == "none" or not entries:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        lines = [(entry, json.dumps(entry.as_dict(stamp), sort_keys=True)) for entry in entries]
        with self._lock:
            if self.destination == "syslog":
                import syslog

                syslog.openlog("stonith", 0, syslog.LOG_AUTHPRIV)
                for entry, line in lines:
                    syslog.syslog(syslog.LOG_NOTICE if entry.result == "ok" else syslog.LOG_ERR, line)
                return
            fd = os.open(self.destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, "".join(line + "\n" for _, line in lines).encode())
            finally:
                os.close(fd)


class Entry:
    """One action of one device for one node."""

    __slots__ = ("device", "duration", "error", "node", "outlets", "result", "verb")

    def __init__(
        self,
        node: str,
        device: str,
        outlets: list[str],
        verb: str,
        result: str,
        duration: float,
        error: str | None = None,
    ) -> None:
        self.node = node
        self.device = device
        self.outlets = outlets
        self.verb = verb
        self.result = result
        self.duration = duration
        self.error = error

    def as_dict(self, stamp: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": stamp,
            "node": self.node,
            "device": self.device,
            "outlets": self.outlets,
            "verb": self.verb,
            "result": self.result,
            "duration": round(self.duration, 3),
        }
        if self.error:
            entry["error"] = self.error
        return entry

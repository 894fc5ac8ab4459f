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

    def record(
        self,
        *,
        node: str,
        device: str,
        outlets: list[str],
        verb: str,
        result: str,
        duration: float,
        error: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            + f".{int(time.time() * 1000) % 1000:03d}Z",
            "node": node,
            "device": device,
            "outlets": outlets,
            "verb": verb,
            "result": result,
            "duration": round(duration, 3),
        }
        if error:
            entry["error"] = error
        line = json.dumps(entry, sort_keys=True)
        with self._lock:
            if self.destination == "none":
                return
            if self.destination == "syslog":
                import syslog

                syslog.openlog("stonith", 0, syslog.LOG_AUTHPRIV)
                syslog.syslog(syslog.LOG_NOTICE if result == "ok" else syslog.LOG_ERR, line)
                return
            fd = os.open(self.destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)

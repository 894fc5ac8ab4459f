"""The audit log: one JSON line per action on a device for a node.

Destination: ``--audit FILE`` / ``STONITH_AUDIT``: a file path (appended, mode 0600), ``journal``
(systemd-journald's native protocol, stonith.fencing.journal: the JSON line's fields also as STONITH_NODE,
STONITH_DEVICE, STONITH_VERB, STONITH_RESULT, ... so ``journalctl STONITH_NODE=node1`` finds a node's
history), ``syslog`` (facility authpriv, tag ``stonith``, written to /dev/log ourselves so that a
failure is seen), or ``none``.  Default: journal when journald's socket exists, else syslog when
/dev/log exists, else none (the cluster CLI warns).
Fields: time (ISO 8601 UTC), node, device, outlets, verb, result, duration (s), error when any, and
channel: how far the device's channel can be trusted, ``LEVEL: reason`` (stonith.fencing.channels), e.g.
``weak: SNMP v2c: the community travels in clear and replies are not authenticated``.

An audit file is opened without following a symbolic link and must be a regular file owned by root
or the caller, not writable by group or others (stonith.contract.local_trust), or a character device of
root's (/dev/null): whoever could plant a link or write the file could send root's records anywhere
or forge them.

``open()`` is called before anything is switched: a destination that cannot be opened refuses the
command (AuditError, exit 1).  A write that fails later (disk full) raises OSError to the caller,
which finishes the fence and reports the missing record.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

from stonith.contract import redact
from stonith.contract.errors import ExitCode, StonithError
from stonith.contract.local_trust import UnsafePath, open_file
from stonith.fencing import journal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

SYSLOG_SOCKET = "/dev/log"
_AUTHPRIV = 10 << 3  # RFC 5424 facility 10 (security/authorization, private)
_NOTICE, _ERR = 5, 3
# MESSAGE_ID of every audit record in the journal (journalctl MESSAGE_ID=...): fixed, random.
JOURNAL_MESSAGE_ID = "a251519607d74c2586402ea7570dfcfe"


class AuditError(StonithError):
    """The audit log cannot be written: refused before anything is switched."""

    exit_code = ExitCode.S_BADCONFIG


class Audit:
    def __init__(self, destination: str | None = None) -> None:
        dest = destination or os.environ.get("STONITH_AUDIT") or _default_destination()
        self.destination = dest
        self.defaulted_to_none = dest == "none" and not destination and not os.environ.get("STONITH_AUDIT")
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._journal: journal.Journal | None = None

    def open(self) -> None:
        """Check that records can be written (AuditError if not); nothing is written."""
        if self.destination == "none":
            return
        if self.destination == "syslog":
            try:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.connect(SYSLOG_SOCKET)
            except OSError as exc:
                raise AuditError(
                    f"audit: cannot reach syslog at {SYSLOG_SOCKET} ({exc.strerror or exc}); "
                    "use --audit FILE or --audit none"
                ) from None
            return
        if self.destination == "journal":
            try:
                self._journal = journal.Journal()
                self._journal.open()
            except OSError as exc:
                self._journal = None
                raise AuditError(
                    f"audit: cannot reach journald at {journal.socket_path()} ({exc.strerror or exc}); "
                    "use --audit syslog, --audit FILE or --audit none"
                ) from None
            return
        try:
            os.close(self._open_file())
        except UnsafePath as exc:
            raise AuditError(f"audit: refused: {exc}") from None
        except OSError as exc:
            raise AuditError(f"audit: cannot write {self.destination}: {exc.strerror or exc}") from None

    def _open_file(self) -> int:
        """The audit file, appended: O_NOFOLLOW and checked on the descriptor (UnsafePath, OSError)."""
        return open_file(
            self.destination, flags=os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode=0o600, root_devices=True
        )

    def record(self, entries: list[Entry]) -> None:
        """Actions of one device phase (one per node): one write, not one per node.  OSError on failure."""
        if self.destination == "none" or not entries:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        # Masked: a message may quote device output, and a device may echo our password.  The
        # records of one write share most of their text (time, device, verb, result, channel):
        # each distinct string is masked once.
        seen: dict[str, str] = {}

        def mask(value: str) -> str:
            masked = seen.get(value)
            if masked is None:
                masked = seen[value] = redact.text(value)
            return masked

        masked = [(entry, entry.as_dict(stamp, mask)) for entry in entries]
        # as_dict's keys come sorted: the same line as sort_keys=True, without sorting each time
        lines = [(entry, json.dumps(fields)) for entry, fields in masked]
        with self._lock:
            if self.destination == "journal":
                if self._journal is None:
                    self.open()
                assert self._journal is not None
                for (entry, fields), (_, line) in zip(masked, lines, strict=True):
                    self._journal.send(journal_fields(entry.result, fields, line))
                return
            if self.destination == "syslog":
                if self._socket is None:
                    self.open()
                assert self._socket is not None
                for entry, line in lines:
                    severity = _NOTICE if entry.result == "ok" else _ERR
                    self._socket.send(f"<{_AUTHPRIV | severity}>stonith[{os.getpid()}]: {line}".encode())
                return
            try:
                fd = self._open_file()
            except UnsafePath as exc:  # swapped for a link after open(): a failed record, not a write
                raise OSError(str(exc)) from None
            try:
                os.write(fd, "".join(line + "\n" for _, line in lines).encode())
            finally:
                os.close(fd)


def _default_destination() -> str:
    if journal.available():
        return "journal"
    return "syslog" if os.path.exists(SYSLOG_SOCKET) else "none"


def journal_fields(result: str, entry: dict[str, Any], line: str) -> dict[str, journal.Value]:
    """One audit record as journal fields: a readable MESSAGE, each field as STONITH_<NAME>, and
    the JSON line itself (STONITH_RECORD), the same text a file or syslog destination gets."""
    outlets = ",".join(str(o) for o in entry.get("outlets", []))
    message = f"{entry['verb']} {entry['node']} via {entry['device']}"
    message += f" outlet{'s' if ',' in outlets else ''} {outlets}: {result}" if outlets else f": {result}"
    if entry.get("error"):
        message += f" ({entry['error']})"
    fields: dict[str, journal.Value] = {
        "MESSAGE": message,
        "MESSAGE_ID": JOURNAL_MESSAGE_ID,
        "PRIORITY": _NOTICE if result == "ok" else _ERR,
        "SYSLOG_IDENTIFIER": "stonith",
        "SYSLOG_FACILITY": _AUTHPRIV >> 3,
    }
    for key, value in entry.items():
        fields["STONITH_" + key.upper()] = ",".join(map(str, value)) if isinstance(value, list) else value
    fields["STONITH_RECORD"] = line
    return fields


class Entry:
    """One action of one device for one node."""

    __slots__ = ("channel", "device", "duration", "error", "node", "outlets", "result", "verb")

    def __init__(
        self,
        node: str,
        device: str,
        outlets: list[str],
        verb: str,
        result: str,
        duration: float,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        self.node = node
        self.device = device
        self.outlets = outlets
        self.verb = verb
        self.result = result
        self.duration = duration
        self.error = error
        self.channel = channel  # "LEVEL: reason" (stonith.fencing.channels.describe), when known

    def as_dict(self, stamp: str, mask: Callable[[str], str] = redact.text) -> dict[str, Any]:
        """The record's fields, keys in sorted order, every text through ``mask`` (a device's name,
        a node's, an error quoting device output: any may hold a secret)."""
        entry: dict[str, Any] = {}
        if self.channel:
            entry["channel"] = mask(self.channel)
        entry["device"] = mask(self.device)
        entry["duration"] = round(self.duration, 3)
        if self.error:
            entry["error"] = mask(self.error)
        entry["node"] = mask(self.node)
        entry["outlets"] = [mask(outlet) for outlet in self.outlets]
        entry["result"] = mask(self.result)
        entry["time"] = mask(stamp)
        entry["verb"] = mask(self.verb)
        return entry

"""Structured records for systemd-journald, spoken in its native protocol (no libsystemd needed).

The protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL): one AF_UNIX datagram per entry sent to
/run/systemd/journal/socket; each field is ``NAME=value\\n``, or, for a value holding a newline,
``NAME\\n`` + the value's length as 64-bit little-endian + the value + ``\\n``.  An entry too big for
one datagram goes as a sealed memfd passed with SCM_RIGHTS and an empty payload.  Field names are
upper-case letters, digits and ``_``, at most 64 characters, not starting with ``_`` (journald
keeps those for the fields it adds itself, which is why a client cannot forge ``_PID``) or a digit.

``STONITH_JOURNAL_SOCKET`` names another socket (tests run a fake journal in a temporary
directory).  Nothing here drops a record silently: ``open`` and ``send`` raise OSError, and the
callers (stonith.fencing.audit, ``stonith check --journal``) report it.

``Sink`` is what callers use: journald when its socket exists, else syslog (/dev/log, RFC 3164
line with the fields as ``KEY=value`` pairs, so that nothing is lost), chosen once and connected
up front.
"""

from __future__ import annotations

import errno
import os
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

SOCKET = "/run/systemd/journal/socket"
SYSLOG_SOCKET = "/dev/log"
IDENTIFIER = "stonith"

# syslog priorities (the journal's PRIORITY field takes the same numbers)
ERR, WARNING, NOTICE, INFO = 3, 4, 5, 6
AUTHPRIV, DAEMON = 10, 3  # syslog facilities

Value = str | int | float


def socket_path() -> str:
    return os.environ.get("STONITH_JOURNAL_SOCKET") or SOCKET


def available() -> bool:
    """journald listens here (its socket exists; connecting is what proves it: Journal.open)."""
    return os.path.exists(socket_path())


def valid_name(name: str) -> bool:
    return (
        0 < len(name) <= 64
        and not name[0].isdigit()
        and name[0] != "_"
        and all(c.isascii() and (c.isupper() or c.isdigit() or c == "_") for c in name)
    )


def encode(fields: Mapping[str, Value]) -> bytes:
    """One journal entry in the native protocol; ValueError for a name journald would reject."""
    out = bytearray()
    for name, value in fields.items():
        if not valid_name(name):
            raise ValueError(f"invalid journal field name {name!r}")
        data = str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class Journal:
    """A connected datagram socket to journald."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or socket_path()
        self._socket: socket.socket | None = None

    def open(self) -> None:
        """Connect now (OSError if journald is not there): a failure is seen before anything happens."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self._socket = sock

    def send(self, fields: Mapping[str, Value]) -> None:
        if self._socket is None:
            self.open()
        assert self._socket is not None
        data = encode(fields)
        try:
            self._socket.send(data)
        except OSError as exc:
            # Datagrams are limited (net.core.wmem_max, journald's own limit): a big entry goes as
            # a memfd, as sd_journal_sendv does.
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            self._send_memfd(data)

    def _send_memfd(self, data: bytes) -> None:
        import fcntl

        assert self._socket is not None
        fd = os.memfd_create("stonith-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, data)
            # journald only takes a memfd that nobody can change any more.
            fcntl.fcntl(
                fd,
                fcntl.F_ADD_SEALS,
                fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL,
            )
            self._socket.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, "little"))])
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def syslog_line(fields: Mapping[str, Value], facility: int) -> bytes:
    """The entry as one syslog datagram: ``<PRI>IDENT[PID]: MESSAGE KEY=value ...``."""
    priority = int(fields.get("PRIORITY", INFO))
    ident = str(fields.get("SYSLOG_IDENTIFIER", IDENTIFIER))
    message = str(fields.get("MESSAGE", ""))
    extra = " ".join(
        f"{k}={str(v)!r}" if any(c in str(v) for c in " \n\"'") else f"{k}={v}"
        for k, v in fields.items()
        if k.startswith("STONITH_")
    )
    line = f"<{(facility << 3) | priority}>{ident}[{os.getpid()}]: {message}" + (f" {extra}" if extra else "")
    return line.replace("\n", " ").encode("utf-8", "replace")


class Sink:
    """journald where it runs, syslog otherwise; connected by ``open`` (OSError when neither works)."""

    def __init__(self, facility: int = DAEMON) -> None:
        self.facility = facility
        self.kind = "journal" if available() else "syslog"
        self._journal: Journal | None = None
        self._syslog: socket.socket | None = None

    @property
    def where(self) -> str:
        return socket_path() if self.kind == "journal" else SYSLOG_SOCKET

    def open(self) -> None:
        if self.kind == "journal":
            self._journal = Journal()
            self._journal.open()
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(SYSLOG_SOCKET)
        except OSError:
            sock.close()
            raise
        self._syslog = sock

    def send(self, fields: Mapping[str, Value]) -> None:
        """One record; SYSLOG_IDENTIFIER and SYSLOG_FACILITY added when missing.  OSError on failure."""
        full: dict[str, Value] = {"SYSLOG_IDENTIFIER": IDENTIFIER, "SYSLOG_FACILITY": self.facility}
        full.update(fields)
        if self._journal is None and self._syslog is None:
            self.open()
        if self._journal is not None:
            self._journal.send(full)
        elif self._syslog is not None:
            self._syslog.send(syslog_line(full, self.facility))

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
        if self._syslog is not None:
            self._syslog.close()
        self._journal = self._syslog = None


# ---------------------------------------------------------------------------------------------
# stonith check --log

# MESSAGE_ID of the records of ``stonith check --log`` (journalctl MESSAGE_ID=...): fixed, random.
CHECK_MESSAGE_ID = "972bcacc13be41829eb442271bf9c6da"


def open_check_log() -> Sink:
    """The sink of ``stonith check --log``, connected; BadConfig (exit 1) when neither journald nor
    syslog can be reached, before any device is contacted."""
    from stonith.contract.errors import BadConfig

    sink = Sink(DAEMON)
    try:
        sink.open()
    except OSError as exc:
        raise BadConfig(
            f"check --log: cannot reach {sink.kind} at {sink.where} ({exc.strerror or exc})"
        ) from None
    return sink


def log_check(sink: Sink, directory: str, rows: list[tuple[str, str, int]]) -> int:
    """One record per row of ``stonith check`` (device, result text, exit code); 8 (S_OOPS) when a
    record could not be written (also said on stderr), else 0."""
    import sys

    from stonith.contract import redact

    failed = 0
    for device, result, code in rows:
        ok = code == 0 and not result.startswith("WARNING")
        fields: dict[str, Value] = {
            "MESSAGE": redact.text(f"{device}: {result}"),
            "MESSAGE_ID": CHECK_MESSAGE_ID,
            "PRIORITY": INFO if ok else (ERR if code else WARNING),
            "SYSLOG_IDENTIFIER": "stonith-check",
            "STONITH_DEVICE": device,
            "STONITH_RESULT": "ok" if ok else ("failed" if code else "warning"),
            "STONITH_EXIT_CODE": code,
            "STONITH_DEVICES_DIR": directory,
        }
        try:
            sink.send(fields)
        except OSError as exc:
            failed += 1
            sys.stderr.write(f"ERROR: check --log: record of {device} not written: {exc.strerror or exc}\n")
    sink.close()
    return 8 if failed else 0

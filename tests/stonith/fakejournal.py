"""A fake journald: a unix datagram socket in a temporary directory that parses the native protocol.

The parser is written from the protocol description (systemd.io/JOURNAL_NATIVE_PROTOCOL), not from
stonith.fencing.journal, so that a test compares two readings of the format.
"""

from __future__ import annotations

import array
import os
import socket
from pathlib import Path


def parse(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        newline = data.index(b"\n", pos)
        equals = data.find(b"=", pos, newline)
        if equals >= 0:
            name, value = data[pos:equals], data[equals + 1 : newline]
            pos = newline + 1
        else:
            name = data[pos:newline]
            size = int.from_bytes(data[newline + 1 : newline + 9], "little")
            start = newline + 9
            value = data[start : start + size]
            assert data[start + size : start + size + 1] == b"\n", "binary field not closed by a newline"
            pos = start + size + 1
        fields[name.decode()] = value.decode()
    return fields


class FakeJournal:
    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "journal.socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(5)

    def receive(self) -> dict[str, str]:
        """The next entry (a plain datagram or a memfd passed with SCM_RIGHTS)."""
        fds = array.array("i")
        data, ancillary, _flags, _addr = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if fds:
            assert data == b"", "a memfd datagram carries no payload"
            (fd,) = fds
            try:
                size = os.fstat(fd).st_size
                data = os.pread(fd, size, 0)
            finally:
                os.close(fd)
        return parse(data)

    def pending(self) -> list[dict[str, str]]:
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    out.append(self.receive())
                except BlockingIOError:
                    return out
        finally:
            self.sock.settimeout(5)

    def close(self) -> None:
        self.sock.close()

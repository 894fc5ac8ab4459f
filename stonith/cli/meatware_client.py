"""``stonith meatclient -c HOST``: the operator's side of the meatware driver."""

from __future__ import annotations

import socket
import sys

from stonith.drivers.meatware import ANSWER, DEFAULT_SOCKET_DIR, REQUEST, socket_path


def confirm(host: str, socket_dir: str | None = None, timeout: float = 10.0) -> int:
    host = host.lower()
    path = socket_path(socket_dir or DEFAULT_SOCKET_DIR, host)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(path)
        client.sendall(REQUEST.format(host=host).encode())
        answer = client.recv(64)
    except OSError as exc:
        sys.stderr.write(f"ERROR: no meatware request pending for {host} ({path}: {exc.strerror or exc})\n")
        return 1
    finally:
        client.close()
    if answer != ANSWER:
        sys.stderr.write(f"ERROR: meatware did not accept the confirmation for {host}\n")
        return 1
    sys.stdout.write(f"Confirmed to meatware: {host} has been handled.\n")
    return 0

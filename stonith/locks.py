"""Per-device locks: in-process and across processes, so one-session devices serialize.

A device that accepts N concurrent sessions gets N slots; a session takes one slot with a
``threading`` semaphore (this process) and an ``flock`` on ``<lockdir>/<key>.<slot>.lock`` (every
process).  Waiting for a slot is bounded by the operation's deadline.

Lock directory: ``STONITH_LOCK_DIR``, else /run/stonith/locks when writable, else
``/tmp/stonith-locks-<uid>`` (mode 0700).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import threading
import time

from stonith.errors import DeviceBusy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from stonith.deadline import Deadline

CROSS_PROCESS_MAX_SLOTS = 8  # beyond this a device is not session-limited in practice
_semaphores: dict[str, threading.BoundedSemaphore] = {}
_guard = threading.Lock()


def lock_dir() -> str:
    configured = os.environ.get("STONITH_LOCK_DIR")
    known = _lock_dirs.get(configured)
    if known is not None and os.path.isdir(known):
        return known
    candidates = [configured] if configured else ["/run/stonith/locks", f"/tmp/stonith-locks-{os.getuid()}"]
    for directory in candidates:
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            if os.access(directory, os.W_OK):
                _lock_dirs[configured] = directory
                return directory
        except OSError:
            continue
    raise DeviceBusy("no writable lock directory (set STONITH_LOCK_DIR)")


_lock_dirs: dict[str | None, str] = {}  # STONITH_LOCK_DIR -> the directory in use


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in key)[:200]


def _semaphore(key: str, slots: int) -> threading.BoundedSemaphore:
    with _guard:
        if key not in _semaphores:
            _semaphores[key] = threading.BoundedSemaphore(slots)
        return _semaphores[key]


@contextlib.contextmanager
def device_slot(key: str, slots: int, deadline: Deadline) -> Iterator[None]:
    """Hold one of the device's session slots for the duration of the block."""
    semaphore = _semaphore(key, slots)
    if not semaphore.acquire(timeout=max(0.0, deadline.remaining())):
        raise DeviceBusy(f"device {key} stayed busy (in this process) until the deadline")
    try:
        if slots > CROSS_PROCESS_MAX_SLOTS:
            yield
            return
        with _file_slot(key, slots, deadline):
            yield
    finally:
        semaphore.release()


@contextlib.contextmanager
def _file_slot(key: str, slots: int, deadline: Deadline) -> Iterator[None]:
    prefix = os.path.join(lock_dir(), _safe(key))
    handles: list[int] = []  # opened one by one: the first slot is usually free
    held = None
    try:
        delay = 0.01
        while held is None:
            for slot in range(slots):
                if slot == len(handles):
                    handles.append(os.open(f"{prefix}.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600))
                try:
                    fcntl.flock(handles[slot], fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                held = handles[slot]
                break
            if held is None:
                if deadline.expired():
                    raise DeviceBusy(f"device {key} stayed busy (another process) until the deadline")
                # Jitter: several waiting processes must not wake in lock-step.
                time.sleep(min(deadline.remaining(), delay * (0.5 + random.random())))
                delay = min(delay * 1.5, 0.1)
        yield
    finally:
        for fd in handles:
            if fd == held:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

"""Per-device locks: in-process and across processes, so one-session devices serialize.

A device that accepts N concurrent sessions gets N slots; a session takes one slot with a
``threading`` semaphore (this process) and an ``flock`` on ``<lockdir>/<key>.<slot>.lock`` (every
process).  Waiting for a slot is bounded by the operation's deadline.

Lock directory: ``STONITH_LOCK_DIR``; else /run/stonith for root (systemd ``RuntimeDirectory=stonith``
or tmpfiles.d may create it; otherwise it is created 0700), and ``$XDG_RUNTIME_DIR/stonith`` for
other users.  Whichever it is, it is checked with ``lstat`` before every use: a directory (not a
symbolic link) owned by root or the caller and not writable by group or others.  Another user must
not be able to plant links in it, or to hold our locks and so block every fence; a shared /tmp
directory is never used.  Lock files are opened with ``O_NOFOLLOW`` and must be owned by the caller
or root.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time

from stonith.contract.errors import DeviceBusy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps

CROSS_PROCESS_MAX_SLOTS = 8  # beyond this a device is not session-limited in practice
_semaphores: dict[str, threading.BoundedSemaphore] = {}
_guard = threading.Lock()


RUN_DIR = "/run/stonith"


def lock_dir() -> str:
    """The checked lock directory (DeviceBusy naming the reason when there is no safe one)."""
    from stonith.contract.local_trust import UnsafePath, private_directory

    configured = os.environ.get("STONITH_LOCK_DIR")
    if configured:
        directory, create_parents = configured, True
    elif os.geteuid() == 0:
        directory, create_parents = RUN_DIR, False
    elif os.environ.get("XDG_RUNTIME_DIR", "").startswith("/"):
        directory, create_parents = os.path.join(os.environ["XDG_RUNTIME_DIR"], "stonith"), False
    else:
        raise DeviceBusy("no lock directory: set XDG_RUNTIME_DIR or STONITH_LOCK_DIR (a private directory)")
    checked = _CHECKED.get(directory)
    if checked is not None:
        # Checked earlier in this process: the same directory still (same inode, owner and mode),
        # one lstat instead of the full check for each of a thousand device sessions.
        with contextlib.suppress(OSError):
            if _identity(os.lstat(directory)) == checked:
                return directory
    try:
        private_directory(directory, create_parents=create_parents)
        _CHECKED[directory] = _identity(os.lstat(directory))
        return directory
    except UnsafePath as exc:
        raise DeviceBusy(f"lock directory refused: {exc}") from None
    except OSError as exc:
        raise DeviceBusy(f"lock directory {directory}: {exc.strerror or exc}") from None


_CHECKED: dict[str, tuple[int, int, int, int]] = {}


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_mode, st.st_uid)


def safe_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in key)[:200]


def _semaphore(key: str, slots: int) -> threading.BoundedSemaphore:
    with _guard:
        if key not in _semaphores:
            _semaphores[key] = threading.BoundedSemaphore(slots)
        return _semaphores[key]


@contextlib.contextmanager
def device_slot(key: str, slots: int, deadline: Deadline) -> Iterator[None]:
    """Hold one of the device's session slots for the duration of the block."""
    from stonith.contract.steps import run

    release = run(slot_steps(key, slots, deadline))
    try:
        yield
    finally:
        release()


def slot_steps(key: str, slots: int, deadline: Deadline) -> Steps[Callable[[], None]]:
    """Take one of the device's session slots (a step generator); returns the function that frees it.

    Waits are polls with jitter (a step generator must not block its thread, which may drive
    hundreds of devices): 5 ms growing to 50 ms in this process, 10 ms to 100 ms across processes.
    """
    from stonith.contract.steps import Wait

    semaphore = _semaphore(key, slots)
    delay = 0.005
    while not semaphore.acquire(blocking=False):
        if deadline.expired():
            raise DeviceBusy(f"device {key} stayed busy (in this process) until the deadline")
        yield Wait(min(deadline.at, time.monotonic() + delay * _jitter()))
        delay = min(delay * 1.5, 0.05)
    if slots > CROSS_PROCESS_MAX_SLOTS:
        return semaphore.release
    try:
        unlock = yield from _file_slot(key, slots, deadline)
    except BaseException:
        semaphore.release()
        raise

    def release() -> None:
        try:
            unlock()
        finally:
            semaphore.release()

    return release


def _file_slot(key: str, slots: int, deadline: Deadline) -> Steps[Callable[[], None]]:
    from stonith.contract.steps import Wait

    prefix = os.path.join(lock_dir(), safe_name(key))
    handles: list[int] = []  # opened one by one: the first slot is usually free
    try:
        delay = 0.01
        while True:
            for slot in range(slots):
                if slot == len(handles):
                    handles.append(open_lock_file(f"{prefix}.{slot}.lock"))
                try:
                    fcntl.flock(handles[slot], fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                held = handles.pop(slot)
                _close(handles)
                return lambda: _unlock(held)
            if deadline.expired():
                raise DeviceBusy(f"device {key} stayed busy (another process) until the deadline")
            # Jitter: several waiting processes must not wake in lock-step.
            yield Wait(min(deadline.at, time.monotonic() + delay * _jitter()))
            delay = min(delay * 1.5, 0.1)
    except BaseException:
        _close(handles)
        raise


def _jitter() -> float:
    """A factor between 0.5 and 1.5.  ``random`` is imported here, when a slot is contended: an
    uncontended session (nearly all of them) does not pay for the module at start-up."""
    import random

    return 0.5 + random.random()


def open_lock_file(path: str) -> int:
    """A lock file of the lock directory: never a planted symbolic link, never another user's file."""
    from stonith.contract.local_trust import UnsafePath, open_file

    try:
        return open_file(path, flags=os.O_RDWR | os.O_CREAT)
    except UnsafePath as exc:
        raise DeviceBusy(f"lock file refused: {exc}") from None


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _close(handles: list[int]) -> None:
    for fd in handles:
        with contextlib.suppress(OSError):
            os.close(fd)
    handles.clear()

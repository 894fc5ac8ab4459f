"""Per-device session slots (stonith/fencing/locks.py): across processes with flock, bounded by deadlines."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from stonith.contract import steps
from stonith.contract.deadline import Deadline
from stonith.contract.errors import DeviceBusy
from stonith.fencing import locks


@contextlib.contextmanager
def file_slot(key: str, slots: int, deadline: Deadline) -> Iterator[None]:
    """Only the cross-process half of a device slot (the step generator, run blocking)."""
    release = steps.run(locks._file_slot(key, slots, deadline))
    try:
        yield
    finally:
        release()


@pytest.fixture
def lock_dir(tmp_path, monkeypatch):
    directory = tmp_path / "locks"
    monkeypatch.setenv("STONITH_LOCK_DIR", str(directory))
    return directory


def test_lock_file_names_keep_only_safe_characters() -> None:
    assert locks.safe_name("baytech@10.0.0.1:23") == "baytech@10.0.0.1_23"
    assert locks.safe_name("a/../b\nc\x00d é") == "a_.._b_c_d_é"
    assert len(locks.safe_name("x" * 500)) == 200


def test_slots_are_taken_in_turn_and_a_full_device_is_busy_at_the_deadline(lock_dir) -> None:
    with file_slot("pdu", 2, Deadline(1)), file_slot("pdu", 2, Deadline(1)):
        started = time.monotonic()
        with pytest.raises(DeviceBusy, match="another process"), file_slot("pdu", 2, Deadline(0.3)):
            pass
        assert 0.25 < time.monotonic() - started < 1.0
    assert sorted(os.listdir(lock_dir)) == ["pdu.0.lock", "pdu.1.lock"]
    with file_slot("pdu", 2, Deadline(1)):  # released: free again
        pass


def test_a_slot_held_by_another_process_is_waited_for(lock_dir) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-c",
            "import sys, time\n"
            "from stonith.fencing import locks\n"
            "from stonith.contract.deadline import Deadline\n"
            "with locks.device_slot('bmc', 1, Deadline(5)):\n"
            "    print('held', flush=True); time.sleep(0.5)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, STONITH_LOCK_DIR=str(lock_dir)),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        with locks.device_slot("bmc", 1, Deadline(5)):
            waited = time.monotonic() - started
        assert 0.2 < waited < 2.0
    finally:
        holder.wait(10)


def test_a_removed_lock_directory_is_made_again(lock_dir) -> None:
    with locks.device_slot("x", 1, Deadline(1)):
        pass
    shutil.rmtree(lock_dir)
    with locks.device_slot("x", 1, Deadline(1)):
        pass
    assert os.listdir(lock_dir) == ["x.0.lock"]


def test_the_lock_directory_is_checked_again_once_it_changed(lock_dir, monkeypatch) -> None:
    """Checked once per process (a thousand sessions pay one lstat each), never trusted once changed."""
    assert locks.lock_dir() == str(lock_dir)
    calls = []
    monkeypatch.setattr("stonith.contract.local_trust.private_directory", lambda *a, **k: calls.append(a))
    assert locks.lock_dir() == str(lock_dir) and calls == []  # unchanged: not checked again
    monkeypatch.undo()
    monkeypatch.setenv("STONITH_LOCK_DIR", str(lock_dir))
    os.chmod(lock_dir, 0o777)  # anyone may now plant lock files: refused, though it passed before
    with pytest.raises(DeviceBusy, match="lock directory refused"):
        locks.lock_dir()
    os.chmod(lock_dir, 0o700)
    lock_dir.rename(lock_dir.with_name("elsewhere"))
    lock_dir.symlink_to(lock_dir.with_name("elsewhere"))  # swapped for a link: refused
    with pytest.raises(DeviceBusy, match="lock directory refused"):
        locks.lock_dir()


def test_a_slot_held_by_another_thread_is_waited_for_and_busy_at_the_deadline(lock_dir) -> None:
    held = threading.Event()

    def holder() -> None:
        with locks.device_slot("apc", 1, Deadline(5)):
            held.set()
            time.sleep(0.3)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with pytest.raises(DeviceBusy, match="in this process"), locks.device_slot("apc", 1, Deadline(0.1)):
            pass
        assert 0.09 < time.monotonic() - started < 0.3
        with locks.device_slot("apc", 1, Deadline(5)):
            waited = time.monotonic() - started
        assert 0.15 < waited < 1.0  # the holder's 0.3 s, found by polling within 50 ms
    finally:
        thread.join(5)


def test_slots_taken_on_one_loop_thread_serialize_without_blocking_it(lock_dir) -> None:
    timeline: list[tuple[str, str, float]] = []

    def session(name: str) -> steps.Steps[str]:
        deadline = Deadline(5)
        release = yield from locks.slot_steps("bmc7", 1, deadline)
        timeline.append((name, "in", time.monotonic()))
        yield from steps.sleep(deadline, 0.2)
        timeline.append((name, "out", time.monotonic()))
        release()
        return name

    started = time.monotonic()
    assert steps.Loop().run([session("a"), session("b"), session("c")]) == ["a", "b", "c"]
    kinds = [k for _, k, _ in timeline]
    assert kinds == ["in", "out"] * 3  # one at a time (in any order)
    assert all(timeline[i][0] == timeline[i + 1][0] for i in range(0, 6, 2))
    assert 0.6 <= time.monotonic() - started < 1.2

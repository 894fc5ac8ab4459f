"""Per-device session slots (stonith/locks.py): across processes with flock, bounded by deadlines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from stonith import locks
from stonith.deadline import Deadline
from stonith.errors import DeviceBusy


@pytest.fixture
def lock_dir(tmp_path, monkeypatch):
    directory = tmp_path / "locks"
    monkeypatch.setenv("STONITH_LOCK_DIR", str(directory))
    return directory


def test_lock_file_names_keep_only_safe_characters() -> None:
    assert locks._safe("baytech@10.0.0.1:23") == "baytech@10.0.0.1_23"
    assert locks._safe("a/../b\nc\x00d é") == "a_.._b_c_d_é"
    assert len(locks._safe("x" * 500)) == 200


def test_slots_are_taken_in_turn_and_a_full_device_is_busy_at_the_deadline(lock_dir) -> None:
    with locks._file_slot("pdu", 2, Deadline(1)), locks._file_slot("pdu", 2, Deadline(1)):
        started = time.monotonic()
        with pytest.raises(DeviceBusy, match="another process"), locks._file_slot("pdu", 2, Deadline(0.3)):
            pass
        assert 0.25 < time.monotonic() - started < 1.0
    assert sorted(os.listdir(lock_dir)) == ["pdu.0.lock", "pdu.1.lock"]
    with locks._file_slot("pdu", 2, Deadline(1)):  # released: free again
        pass


def test_a_slot_held_by_another_process_is_waited_for(lock_dir) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-c",
            "import sys, time\n"
            "from stonith import locks\n"
            "from stonith.deadline import Deadline\n"
            "with locks._file_slot('bmc', 1, Deadline(5)):\n"
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

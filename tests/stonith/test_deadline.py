"""A command's --timeout counts from the process's start (stonith/contract/deadline.py)."""

from __future__ import annotations

import time

import pytest

import stonith
from stonith.contract import deadline


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(deadline, "_started", None)
    now = time.monotonic()
    monkeypatch.setattr(stonith, "launched", now)
    return now


def test_inside_another_program_a_budget_starts_at_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadline, "_started", None)
    monkeypatch.setattr(stonith, "launched", None)
    assert deadline.command_started() is None
    assert deadline.budget(5.0) == 5.0


def test_a_command_counts_from_the_process_start_worked_out_when_first_needed(launched: float) -> None:
    started = deadline.command_started()
    assert started is not None
    # this test process started before it was "launched", interpreter start-up included
    assert started <= launched
    assert abs(started - (time.monotonic() - deadline.process_age())) < 0.05
    assert deadline.command_started() == started  # the same answer every time
    assert deadline.budget(10_000.0) < 10_000.0 - (launched - started) + 0.05


def test_where_proc_cannot_say_the_launch_counts(launched: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadline, "process_age", lambda: 0.0)
    assert deadline.command_started() == launched

"""Deadlines: every wait in stonith is bounded by one of these, never by a count of polls."""

from __future__ import annotations

import time

from stonith.contract.errors import Timeout


class Deadline:
    """A point in monotonic time by which an operation must be over."""

    __slots__ = ("at", "what")

    def __init__(self, seconds: float, what: str = "operation") -> None:
        self.at = time.monotonic() + max(0.0, seconds)
        self.what = what

    @classmethod
    def at_time(cls, at: float, what: str = "operation") -> Deadline:
        deadline = cls(0.0, what)
        deadline.at = at
        return deadline

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def check(self, doing: str = "") -> None:
        """Raise Timeout if the deadline has passed."""
        if self.expired():
            raise Timeout(f"deadline of {self.what} passed{' while ' + doing if doing else ''}")

    def sub(self, seconds: float, what: str | None = None) -> Deadline:
        """A deadline for one step: ``seconds`` from now, but never later than this one."""
        return Deadline.at_time(min(self.at, time.monotonic() + seconds), what or self.what)

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline."""
        time.sleep(max(0.0, min(seconds, self.remaining())))

    def __repr__(self) -> str:
        return f"Deadline({self.remaining():.3f}s left, {self.what})"


_started: float | None = None


def command_started() -> float | None:
    """Monotonic time the ``stonith`` process started, interpreter start-up included; None when
    stonith runs inside another program (tests, the service), where budgets start at call.

    Worked out when first needed, not at launch (``stonith -L`` never needs it): the process's
    start time does not change, and the launch time stands in where /proc cannot say.
    """
    global _started
    import stonith

    if stonith.launched is None:
        return None
    if _started is None:
        age = process_age()
        _started = time.monotonic() - age if age else stonith.launched
    return _started


def budget(seconds: float) -> float:
    """What is left of a command's ``--timeout`` of ``seconds`` (counted from process start)."""
    started = command_started()
    if started is None:
        return seconds
    return max(0.01, seconds - (time.monotonic() - started))


def process_age() -> float:
    """Seconds since this process started, interpreter start-up included (0.0 where unknown).

    A command's ``--timeout`` is the caller's budget for the whole command: on a saturated CPU,
    starting Python and importing what a command needs took up to a second before its first
    deadline existed.  The front ends take this from the budget (Linux: /proc/self/stat's start
    time, in clock ticks since boot, against CLOCK_BOOTTIME).
    """
    import os

    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0

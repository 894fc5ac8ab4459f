"""Step generators and their two runners (stonith/contract/steps.py): in a thread, and many on one Loop."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stonith.contract import steps
from stonith.contract.deadline import Deadline
from stonith.contract.steps import Loop, Parallel, Wait


def nap(seconds: float, value: Any = None) -> steps.Steps[Any]:
    yield Wait(time.monotonic() + seconds)
    return value


def receive(sock: socket.socket, until: float) -> steps.Steps[bytes | None]:
    """A non-blocking read that yields its waits, like the IPMI session's."""
    while True:
        try:
            return sock.recv(100)
        except BlockingIOError:
            if time.monotonic() >= until:
                return None
            yield Wait(until, sock.fileno())


def where(value: Any) -> steps.Steps[tuple[Any, int]]:
    yield Wait(time.monotonic() + 0.01)
    return value, threading.get_ident()


def test_run_returns_the_result_and_waits_until_told() -> None:
    started = time.monotonic()
    assert steps.run(nap(0.1, "done")) == "done"
    assert 0.1 <= time.monotonic() - started < 0.3


def test_a_wait_on_a_descriptor_ends_when_it_is_readable_or_at_its_time() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        started = time.monotonic()
        assert steps.run(receive(a, time.monotonic() + 0.15)) is None
        assert 0.15 <= time.monotonic() - started < 0.4
        threading.Timer(0.05, b.send, (b"x",)).start()
        started = time.monotonic()
        assert steps.run(receive(a, time.monotonic() + 5)) == b"x"
        assert time.monotonic() - started < 1.0
    finally:
        a.close()
        b.close()


def test_sleep_never_passes_the_deadline() -> None:
    started = time.monotonic()
    steps.run(steps.sleep(Deadline(0.1), 5))
    assert time.monotonic() - started < 0.3
    assert list(steps.sleep(Deadline(5), 0)) == []  # nothing to wait for: no wait at all


def test_parallel_gives_blocking_children_threads_and_puts_nonblocking_ones_on_one_loop() -> None:
    def parent() -> steps.Steps[list[tuple[Any, int]]]:
        results: list[tuple[Any, int]] = yield Parallel(
            [(where("t1"), False), (where("l1"), True), (where("t2"), False), (where("l2"), True)]
        )
        return results

    results = steps.run(parent())
    assert [value for value, _ in results] == ["t1", "l1", "t2", "l2"]
    threads = {value: ident for value, ident in results}
    assert threads["l1"] == threads["l2"]  # one Loop thread for both
    assert len({threads["t1"], threads["t2"], threads["l1"]}) == 3


def test_gather_runs_a_lone_child_in_place() -> None:
    assert steps.run(steps.gather([(where("x"), False)])) == [("x", threading.get_ident())]
    assert steps.run(steps.gather([])) == []


def test_a_failing_child_is_raised_in_its_parent_after_the_others_finished() -> None:
    finished: list[str] = []

    def ok(name: str) -> steps.Steps[None]:
        yield Wait(time.monotonic() + 0.1)
        finished.append(name)

    def bad() -> steps.Steps[None]:
        yield Wait(time.monotonic() + 0.01)
        raise ValueError("broken device")

    def parent(nonblocking: bool) -> steps.Steps[str]:
        try:
            yield Parallel([(ok("a"), nonblocking), (bad(), nonblocking), (ok("b"), nonblocking)])
        except ValueError as exc:
            return f"caught {exc}"
        return "not raised"

    for nonblocking in (False, True):
        finished.clear()
        assert steps.run(parent(nonblocking)) == "caught broken device"
        assert sorted(finished) == ["a", "b"]
        finished.clear()
        assert Loop().run([parent(True)]) == ["caught broken device"]
        assert sorted(finished) == ["a", "b"]
    with pytest.raises(ValueError, match="broken"):
        Loop().run([ok("c"), bad()])


def test_a_blocking_child_is_refused_on_a_loop() -> None:
    def parent() -> steps.Steps[None]:
        yield Parallel([(nap(0.01), False), (nap(0.01), True)])

    with pytest.raises(RuntimeError, match="blocking step"):
        Loop().run([parent()])


def test_one_loop_thread_serves_hundreds_of_sockets() -> None:
    pairs = [socket.socketpair() for _ in range(300)]
    for a, _ in pairs:
        a.setblocking(False)
    try:
        until = time.monotonic() + 10

        def ring() -> None:
            for index, (_, b) in enumerate(reversed(pairs)):
                b.send(str(len(pairs) - 1 - index).encode())
                if index % 50 == 0:
                    time.sleep(0.01)

        threading.Timer(0.05, ring).start()
        started = time.monotonic()
        results = Loop().run([receive(a, until) for a, _ in pairs])
        assert results == [str(i).encode() for i in range(len(pairs))]
        assert time.monotonic() - started < 3
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_a_descriptor_whose_wait_timed_out_is_no_longer_watched() -> None:
    # Woken by its time, a task closes its socket and waits on another: the first must be gone
    # from the selector (a closed descriptor left registered would break the next select).
    def task() -> steps.Steps[bytes | None]:
        a, b = socket.socketpair()
        a.setblocking(False)
        assert (yield from receive(a, time.monotonic() + 0.02)) is None
        a.close()
        b.close()
        c, d = socket.socketpair()
        c.setblocking(False)
        d.send(b"second")
        try:
            return (yield from receive(c, time.monotonic() + 1))
        finally:
            c.close()
            d.close()

    assert Loop().run([task(), task()]) == [b"second", b"second"]


def test_data_arriving_between_waits_on_a_descriptor_neither_wakes_nor_is_lost() -> None:
    # A descriptor stays known to the Loop's poller between a task's waits on it (one re-arm per
    # wait): data that arrives while the task sleeps on the clock must not cut the sleep short,
    # and the next wait on the descriptor must see it at once.
    a, b = socket.socketpair()
    a.setblocking(False)
    try:

        def task() -> steps.Steps[tuple[float, bytes | None, float]]:
            assert (yield from receive(a, time.monotonic() + 0.02)) is None  # ended by the clock
            b.send(b"early")
            started = time.monotonic()
            yield Wait(time.monotonic() + 0.1)  # the clock only: the readable socket is not asked for
            slept = time.monotonic() - started
            started = time.monotonic()
            data = yield from receive(a, time.monotonic() + 5)
            return slept, data, time.monotonic() - started

        [(slept, data, waited)] = Loop().run([task()])
        assert slept >= 0.1
        assert data == b"early" and waited < 0.5
    finally:
        a.close()
        b.close()


def test_timers_wake_tasks_in_time_order() -> None:
    woke: list[int] = []

    def sleeper(index: int) -> steps.Steps[None]:
        yield Wait(time.monotonic() + 0.01 * index)
        woke.append(index)

    Loop().run([sleeper(i) for i in (5, 1, 4, 2, 3, 0)])
    assert woke == [0, 1, 2, 3, 4, 5]


def test_of_the_tasks_ready_at_once_the_earliest_asked_for_steps_first() -> None:
    # The engine lists a run's devices critical path first (the most nodes): when many wake
    # together, one listed later must not make the first wait, though its wait ended earlier.
    order: list[str] = []
    start = time.monotonic()

    def after(delay: float, label: str) -> steps.Steps[None]:
        yield Wait(start + delay)
        order.append(label)

    def children(delay: float, label: str) -> steps.Steps[None]:
        yield Parallel([(after(delay, f"{label}.{i}"), True) for i in range(2)])
        order.append(label)

    def hog() -> steps.Steps[None]:
        yield Wait(start + 0.005)
        time.sleep(0.06)  # holds the Loop: every other wait ends meanwhile, all due together
        order.append("hog")

    Loop().run([children(0.04, "first"), after(0.03, "second"), after(0.02, "third"), hog()])
    # (a parent resumed by its children's end outranks the tasks woken with them)
    assert order == ["hog", "first.0", "first.1", "first", "second", "third"]


def test_later_work_waits_until_the_loop_would_wait_and_never_past_its_end() -> None:
    # The audit's writes: not between one device's answer and another's request, but done.
    log: list[str] = []
    start = time.monotonic()

    def ends_a_phase() -> steps.Steps[None]:
        yield Wait(start + 0.01)
        steps.later(lambda: log.append("audit"))
        log.append("phase ended")

    def due_with_it() -> steps.Steps[None]:
        yield Wait(start + 0.01)
        time.sleep(0.015)  # both woken together: this one steps after the phase ended
        log.append("answer handled")

    def last() -> steps.Steps[None]:
        yield Wait(start + 0.1)
        steps.later(lambda: log.append("last audit"))  # given just before the Loop returns

    Loop().run([ends_a_phase(), due_with_it(), last()])
    assert log == ["phase ended", "answer handled", "audit", "last audit"]


def test_later_work_runs_within_its_bound_on_a_loop_that_never_waits() -> None:
    ran: list[float] = []
    start = time.monotonic()

    def busy() -> steps.Steps[None]:
        steps.later(lambda: ran.append(time.monotonic() - start))
        while time.monotonic() - start < steps.LATER_MAX * 3:
            time.sleep(0.002)
            yield Wait(0)  # always due: the Loop never waits
        ran.append(-1.0)

    Loop().run([busy()])
    assert len(ran) == 2 and ran[1] == -1.0
    assert steps.LATER_MAX <= ran[0] < steps.LATER_MAX * 2


def test_later_work_runs_at_once_off_a_loop_and_when_the_loop_fails() -> None:
    log: list[str] = []
    steps.later(lambda: log.append("at once"))
    assert log == ["at once"]

    def ends_then_interrupted() -> steps.Steps[None]:
        steps.later(lambda: log.append("recorded"))
        yield Wait(time.monotonic() + 0.5)

    def interrupt() -> steps.Steps[None]:
        yield Wait(0)
        raise KeyboardInterrupt

    def failing_report() -> None:
        raise BrokenPipeError

    def fails_its_report() -> steps.Steps[None]:
        steps.later(failing_report)
        steps.later(lambda: log.append("after the failed one"))
        yield Wait(0)

    with pytest.raises(KeyboardInterrupt):  # the error on its way out, not a later one's
        Loop().run([ends_then_interrupted(), fails_its_report(), interrupt()])
    assert log == ["at once", "recorded", "after the failed one"]
    with pytest.raises(BrokenPipeError):  # a later one's error, once the rest ran
        Loop().run([fails_its_report()])
    assert log[-1] == "after the failed one" and log.count("after the failed one") == 2


# A random tree of work: a leaf naps a few milliseconds and returns its label; a node runs its
# children in parallel (blocking or not) and returns their results.  Either runner, from any
# thread, returns the same nested results, in order.
def _trees() -> st.SearchStrategy[Any]:
    leaves = st.tuples(st.just("leaf"), st.integers(0, 3), st.text("ab", max_size=2))
    return st.recursive(
        leaves,
        lambda children: st.tuples(st.just("node"), st.lists(st.tuples(children, st.booleans()), max_size=4)),
        max_leaves=12,
    )


def _expected(tree: Any) -> Any:
    if tree[0] == "leaf":
        return tree[2]
    return [_expected(child) for child, _ in tree[1]]


def _steps_of(tree: Any, on_loop: bool) -> steps.Steps[Any]:
    if tree[0] == "leaf":
        return nap(tree[1] / 1000, tree[2])
    # On a Loop every descendant must be non-blocking; in a thread, anything goes.
    children = [(_steps_of(child, on_loop or nb), on_loop or nb) for child, nb in tree[1]]
    return steps.gather(children)


@settings(max_examples=60, deadline=None)
@given(tree=_trees())
def test_any_tree_of_parallel_work_returns_its_results_in_order(tree: Any) -> None:
    assert steps.run(_steps_of(tree, False)) == _expected(tree)
    assert Loop().run([_steps_of(tree, True)]) == [_expected(tree)]


def test_the_loop_does_not_queue_behind_threads_beyond_the_limit() -> None:
    def blocking(name: str) -> steps.Steps[tuple[str, float]]:
        yield from ()
        time.sleep(0.3)  # a telnet dialogue: blocks its thread
        return name, time.monotonic()

    def parent() -> steps.Steps[list[tuple[str, float]]]:
        children = [(blocking(f"t{i}"), False) for i in range(3)] + [(nap(0.01, ("l", 0.0)), True)]
        results: list[tuple[str, float]] = yield Parallel(children, limit=2)
        return results

    started = time.monotonic()
    results = steps.run(parent())
    assert [name for name, _ in results] == ["t0", "t1", "t2", "l"]
    # two threads: the Loop went first (not behind the queue); its thread then took a blocking job
    assert sorted(round(t - started, 1) for _, t in results[:3]) == [0.3, 0.3, 0.6]


def test_a_wait_on_a_closed_descriptor_fails_that_task_only() -> None:
    a, b = socket.socketpair()
    fd = a.fileno()
    a.close()
    b.close()

    def broken() -> steps.Steps[str]:
        try:
            yield Wait(time.monotonic() + 1, fd)
        except (OSError, ValueError) as exc:
            return f"refused: {type(exc).__name__}"
        return "waited"

    assert Loop().run([broken(), nap(0.01, "other")]) == ["refused: OSError", "other"]  # EBADF


def test_a_write_wait_ends_when_the_descriptor_is_writable() -> None:
    """``Wait(..., write=True)``: a connecting socket is waited for until it is writable (connected
    or failed), on the Loop and in a thread alike, instead of being looked at on a timer."""
    a, b = socket.socketpair()
    try:

        def writable(until: float) -> steps.Steps[float]:
            yield Wait(until, a.fileno(), write=True)
            return time.monotonic()

        for runner in (steps.run, lambda gen: Loop().run([gen])[0]):
            started = time.monotonic()
            assert runner(writable(started + 5)) - started < 0.5
    finally:
        a.close()
        b.close()


def test_a_nonblocking_connect_ends_when_the_connection_does() -> None:
    from stonith.contract.errors import Timeout
    from stonith.transport.resolve import connect_tcp_steps

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        started = time.monotonic()
        [sock] = Loop().run([connect_tcp_steps("127.0.0.1", port, Deadline(5))])
        assert time.monotonic() - started < 0.5
        sock.close()
    finally:
        server.close()
    started = time.monotonic()  # nothing listens now: refused at once, not at the deadline
    with pytest.raises(OSError) as refused:
        Loop().run([connect_tcp_steps("127.0.0.1", port, Deadline(5))])
    assert not isinstance(refused.value, Timeout)
    assert time.monotonic() - started < 0.5

"""Steps: an operation written once as a generator that yields its waits instead of blocking.

A *step generator* yields requests and returns its result:

- ``Wait(until, fd, write=False)``: resume me when ``fd`` is readable (``write=True``: writable,
  as a connecting socket becomes once connected) or at monotonic time ``until``, whichever comes
  first (``fd=None``: at ``until``).  Wake-ups may come early or without data: a step
  generator looks again (tries its non-blocking read, reads the clock) and yields again if need be;
- ``Parallel(children, limit, at_once)``: run these step generators concurrently and resume me
  with the list of their results, in order (the first error, once every child has finished, is
  raised in me instead); at most ``limit`` threads, and at most ``at_once`` children running at a
  time, threads and Loop together (each child holds a device session: its descriptors count
  against the open-file limit; the others wait their turn).

Two runners execute them:

- ``run(steps)``: in the calling thread.  A ``Wait`` blocks the thread (poll on the descriptor, or
  sleep).  A ``Parallel`` gives each *blocking* child a thread of its own (``fan_out``) and runs
  every *non-blocking* child together on one ``Loop`` in one more thread;
- ``Loop``: one thread multiplexing any number of step generators (a selector and a timer heap),
  as FreeIPMI's ipmipower drives hundreds of BMC sessions.  Only for non-blocking children: code
  that never blocks between its yields (drivers with ``Driver.NONBLOCKING``, whose ``*_steps``
  verbs yield every wait).  Hundreds of BMC sessions cost one thread instead of hundreds; with
  threads, every datagram meant two hand-overs of the interpreter lock (about 125 us of CPU per
  request/answer exchange measured with 200 threads, against about 15 us on one selector thread).

``later(fn)``: bookkeeping that must be done but need not hold up a dialogue (the audit's writes
and the reports after them): on a Loop's thread it runs when the Loop has nothing ready and would
wait for its devices (within ``LATER_MAX`` even when it never does), and always before the Loop
returns or raises; elsewhere at once.

Blocking code may run inside a step generator that ``run`` drives (a telnet driver's verbs
block; that is what its thread is for), never inside one a ``Loop`` drives.  Deadlines are the
generators' business, as everywhere: a runner only waits as long as it is told.
"""

from __future__ import annotations

import _thread
import collections
import contextlib
import heapq
import itertools
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence
    from typing import Any, TypeAlias, TypeVar

    from stonith.contract.deadline import Deadline

    _T = TypeVar("_T")
    Request: TypeAlias = "Wait | Parallel"
    # A step generator returning _T.
    Steps: TypeAlias = Generator[Request, Any, _T]
    _Ready: TypeAlias = "list[tuple[int, int, _Task]]"


class Wait:
    """Resume when ``fd`` is readable (``write``: writable) or at monotonic time ``until``."""

    __slots__ = ("fd", "until", "write")

    def __init__(self, until: float, fd: int | None = None, write: bool = False) -> None:
        self.until = until
        self.fd = fd
        self.write = write


class Parallel:
    """Run ``children`` (step generator, non-blocking?) concurrently: at most ``limit`` threads, at
    most ``at_once`` children at a time (None: all of them)."""

    __slots__ = ("at_once", "children", "limit")

    def __init__(
        self, children: Sequence[tuple[Steps[Any], bool]], limit: int = 512, at_once: int | None = None
    ) -> None:
        self.children = list(children)
        self.limit = limit
        self.at_once = at_once


def sleep(deadline: Deadline, seconds: float) -> Steps[None]:
    """Wait ``seconds``, but never past ``deadline`` (``Deadline.sleep`` as a step)."""
    if seconds > 0:
        yield Wait(min(time.monotonic() + seconds, deadline.at))


def gather(
    children: Sequence[tuple[Steps[_T], bool]], limit: int = 512, at_once: int | None = None
) -> Steps[list[_T]]:
    """The results of ``children`` run concurrently (a lone child runs in place: no thread)."""
    if not children:
        return []
    if len(children) == 1:
        return [(yield from children[0][0])]
    results: list[_T] = yield Parallel(children, limit, at_once)
    return results


# -- running in a thread --------------------------------------------------------------------------


# How long ``later`` work may wait for a Loop to fall idle: a node's result is reported that much
# late at most.
LATER_MAX = 0.05

_this_thread = threading.local()  # .loop: the Loop running on this thread, if any


def later(fn: Callable[[], object]) -> None:
    """Run ``fn`` once this thread's Loop would wait (see the module's text); at once off a Loop."""
    loop: Loop | None = getattr(_this_thread, "loop", None)
    if loop is None:
        fn()
        return
    if not loop.later:
        loop.later_since = time.monotonic()
    loop.later.append(fn)


def run_all(fns: Sequence[Callable[[], object]]) -> None:
    """Call every one of ``fns`` in order, even after one fails; then raise the first error."""
    error: BaseException | None = None
    for fn in fns:
        try:
            fn()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error


def run(steps: Steps[_T]) -> _T:
    """Drive ``steps`` to its end in this thread, blocking at every wait; its result."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            result: _T = stop.value
            return result
        value, error = None, None
        if isinstance(request, Wait):
            _block(request)
        else:
            try:
                value = _parallel(request)
            except BaseException as exc:  # handed to the generator, which may handle it
                error = exc


def _block(wait: Wait) -> None:
    pause = wait.until - time.monotonic()
    if wait.fd is None:
        if pause > 0:
            time.sleep(pause)
        return
    import select

    poller = select.poll()  # not select.select: descriptors above 1023 are common with many BMCs
    poller.register(wait.fd, select.POLLOUT if wait.write else select.POLLIN)
    poller.poll(max(0, int(pause * 1000 + 0.999)))


def _parallel(request: Parallel) -> list[Any]:
    children = request.children
    results: list[Any] = [None] * len(children)
    threaded = [i for i, (_, nonblocking) in enumerate(children) if not nonblocking]
    looped = [i for i, (_, nonblocking) in enumerate(children) if nonblocking]
    threads, on_loop_at_once = _shares(len(threaded), len(looped), request.limit, request.at_once)
    jobs: list[Callable[[], None]] = []
    for index in threaded:

        def one(index: int = index) -> None:
            results[index] = run(children[index][0])

        jobs.append(one)
    if looped:

        def on_loop() -> None:
            gens = [children[i][0] for i in looped]
            for index, result in zip(looped, Loop().run(gens, on_loop_at_once), strict=True):
                results[index] = result

        # Started after the threads (the big blocking jobs come first), unless it would then queue
        # behind them for a free thread.
        jobs.insert(len(jobs) if len(jobs) <= threads else 0, on_loop)
    if len(jobs) == 1:
        jobs[0]()
    else:
        fan_out(lambda job: job(), jobs, threads + (1 if looped else 0))
    return results


def _shares(threaded: int, looped: int, limit: int, at_once: int | None) -> tuple[int, int | None]:
    """Threads for the blocking children (the Loop's own thread not counted) and how many children
    the Loop runs at a time, so that at most ``at_once`` run together, each side's share in
    proportion to its number of children (at least one each)."""
    threads = min(limit - (1 if looped else 0), threaded)
    if at_once is None or threaded + looped <= at_once:
        return max(1, threads), None
    if not looped:
        return max(1, min(threads, at_once)), None
    if not threaded:
        return 1, max(1, at_once)
    on_loop = max(1, at_once * looped // (threaded + looped))
    return max(1, min(threads, at_once - on_loop)), on_loop


def fan_out(fn: Callable[[_T], object], items: Sequence[_T], limit: int) -> None:
    """Call ``fn`` on every item, at most ``limit`` at a time, one thread each; re-raise the first error.

    Raw threads, not ``threading.Thread``: its ``start()`` waits until the new thread has run, and
    with hundreds of device threads busy that wait (two hand-overs of the interpreter lock per
    thread) made the last of 242 devices start 0.4 s after the first.
    """
    if not items:
        return  # no worker would ever set ``done``
    pending = iter(items)
    lock = threading.Lock()
    errors: list[BaseException] = []
    workers = min(limit, len(items))
    running = [workers]
    done = threading.Event()

    def work() -> None:
        try:
            while True:
                with lock:
                    item = next(pending, _NONE)
                if item is _NONE:
                    return
                try:
                    fn(item)  # type: ignore[arg-type]
                except BaseException as exc:  # handed to the caller, as a pool's future would
                    errors.append(exc)
        finally:
            with lock:
                running[0] -= 1
                if not running[0]:
                    done.set()

    for started in range(workers):
        try:
            _thread.start_new_thread(work, ())
        except RuntimeError:  # out of threads (ulimit -u, memory): the ones running share the work
            if not started:
                raise
            with lock:
                running[0] -= workers - started
                if not running[0]:
                    done.set()
            break
    done.wait()
    if errors:
        raise errors[0]


_NONE = object()


# -- many on one thread ---------------------------------------------------------------------------


class _Task:
    __slots__ = (
        "error",
        "fd",
        "gen",
        "index",
        "parent",
        "pending",
        "rank",
        "results",
        "span",
        "token",
        "value",
    )

    def __init__(self, gen: Steps[Any] | None, parent: _Task | None, index: int, siblings: int = 1) -> None:
        self.gen = gen  # None: the root, which only collects the results
        self.parent = parent
        self.index = index  # where the result goes in the parent's results
        # Its place in the order it was asked for (Loop.run steps the lowest rank of the tasks
        # ready first): an interval of its parent's, cut in as many as it has siblings, so a
        # task's descendants all rank before its next sibling.  One integer (a heap compares it
        # at every step); past about ten levels of nesting the cuts are empty and a task shares its
        # parent's rank, its order among them then the order it became ready in.
        if parent is None:
            self.rank, self.span = 0, 1 << 62
        else:
            self.span = parent.span // max(1, siblings)
            self.rank = parent.rank + index * self.span
        self.value: Any = None  # sent at the next step
        self.error: BaseException | None = None  # thrown at the next step instead
        self.fd: int | None = None  # the descriptor it waits on (_Poller.watch)
        self.token = 0  # bumped at every wake-up: older timer entries are stale
        self.pending = 0  # children still running
        self.results: list[Any] = []


class Loop:
    """Runs non-blocking step generators together on the calling thread.

    Of the tasks ready at once, the earliest asked for steps first (by rank: the order of ``run``'s
    generators, and within each the order of its Parallel's children), not the first woken.
    Callers list their work critical path first (the engine: the device with the most nodes);
    with a plain queue, when hundreds of handshakes were due at once, a PDU's next dialogue step
    waited behind every BMC whose answer had come in before its own, at every step, and the run's
    longest chain grew by those waits.  Only tasks with work are ready (a task waiting on its
    device is not), and every task ready when a round begins steps in that round: nothing starves.
    """

    def __init__(self) -> None:
        self._queued: collections.deque[_Task] = collections.deque()  # run's own, not yet started
        self.later: list[Callable[[], object]] = []  # ``later``'s work, in the order given
        self.later_since = 0.0  # when the oldest of it was given
        self.later_error: BaseException | None = None

    def run(self, gens: Sequence[Steps[Any]], at_once: int | None = None) -> list[Any]:
        """Every generator to its end; their results in order (the first error raised after all).
        At most ``at_once`` of them run at a time: the next starts when one ends."""
        root = _Task(None, None, 0)
        root.pending = len(gens)
        root.results = [None] * len(gens)
        tasks = [_Task(gen, root, index, len(gens)) for index, gen in enumerate(gens)]
        start = len(tasks) if at_once is None else max(1, at_once)
        # Ready to step: a heap by rank (the earliest asked for first), then by arrival.
        ready: _Ready = [(task.rank, index, task) for index, task in enumerate(tasks[:start])]
        self._queued = collections.deque(tasks[start:])
        timers: list[tuple[float, int, int, _Task]] = []  # (until, tie-break, token, task)
        order = itertools.count(len(tasks))
        poller = _Poller()
        outer = getattr(_this_thread, "loop", None)
        _this_thread.loop = self
        try:
            while root.pending:
                while ready:
                    task = heapq.heappop(ready)[2]
                    self._step(task, ready, timers, order, poller)
                if not root.pending:
                    break
                while timers and timers[0][2] != timers[0][3].token:
                    heapq.heappop(timers)  # woken by its descriptor already
                if not timers:
                    raise RuntimeError("steps: every task waits for nothing")  # a bug, not a device
                now = time.monotonic()
                if self.later and (timers[0][0] > now or now - self.later_since > LATER_MAX):
                    self._run_later()
                    now = time.monotonic()
                pause = max(0.0, timers[0][0] - now)
                for task in poller.wait(pause):
                    task.fd = None
                    task.token += 1
                    heapq.heappush(ready, (task.rank, next(order), task))
                now = time.monotonic()
                while timers and (timers[0][2] != timers[0][3].token or timers[0][0] <= now):
                    _, _, token, task = heapq.heappop(timers)
                    if token == task.token:
                        if task.fd is not None:
                            poller.forget(task.fd)
                            task.fd = None
                        task.token += 1
                        heapq.heappush(ready, (task.rank, next(order), task))
        except BaseException:
            self._run_later()  # what was done is recorded and reported, even so
            self.later_error = None  # the error on its way out is the one to see
            raise
        finally:
            _this_thread.loop = outer
            poller.close()
        self._run_later()
        error, self.later_error = root.error or self.later_error, None  # a task's before a later one's
        if error is not None:
            raise error
        return root.results

    def _run_later(self) -> None:
        """``later``'s work, every piece of it; the first error kept for the end of ``run`` (as a
        task's is: the other sessions go on)."""
        while self.later:
            work, self.later = self.later, []
            try:
                run_all(work)
            except BaseException as exc:
                self.later_error = self.later_error or exc

    def _step(
        self,
        task: _Task,
        ready: _Ready,
        timers: list[tuple[float, int, int, _Task]],
        order: itertools.count[int],
        poller: _Poller,
    ) -> None:
        value, error, gen = task.value, task.error, task.gen
        task.value, task.error = None, None
        assert gen is not None  # the root is never stepped
        try:
            request = gen.send(value) if error is None else gen.throw(error)
        except StopIteration as stop:
            self._finish(task, stop.value, None, ready, order)
            return
        except BaseException as exc:
            self._finish(task, None, exc, ready, order)
            return
        if isinstance(request, Wait):
            if request.fd is not None:
                try:
                    poller.watch(request.fd, request.write, task)
                except (OSError, ValueError, KeyError) as exc:  # closed, or watched by another task
                    task.error = exc  # the task's error, not the Loop's: the others go on
                    heapq.heappush(ready, (task.rank, next(order), task))
                    return
                task.fd = request.fd
            heapq.heappush(timers, (request.until, next(order), task.token, task))
            return
        if not request.children:
            task.value = []
            heapq.heappush(ready, (task.rank, next(order), task))
            return
        if not all(nonblocking for _, nonblocking in request.children):
            task.error = RuntimeError("steps: a blocking step cannot run on a Loop")
            heapq.heappush(ready, (task.rank, next(order), task))
            return
        task.pending = len(request.children)
        task.results = [None] * task.pending
        for index, (child, _) in enumerate(request.children):
            new = _Task(child, task, index, task.pending)
            heapq.heappush(ready, (new.rank, next(order), new))

    def _finish(
        self,
        task: _Task,
        result: Any,
        error: BaseException | None,
        ready: _Ready,
        order: itertools.count[int],
    ) -> None:
        parent = task.parent
        assert parent is not None
        if parent.parent is None and self._queued:  # one of run's own ended: the next may start
            queued = self._queued.popleft()
            heapq.heappush(ready, (queued.rank, next(order), queued))
        parent.results[task.index] = result
        if error is not None and parent.error is None:
            parent.error = error
        parent.pending -= 1
        if not parent.pending and parent.parent is not None:
            parent.value = parent.results
            heapq.heappush(ready, (parent.rank, next(order), parent))


class _Poller:
    """The descriptors a Loop's tasks wait on, each for one task and one wake-up.

    With epoll (Linux), a descriptor is armed with EPOLLONESHOT: a wake-up disarms it in the
    kernel, and the next wait on it re-arms it with one system call (``modify``) instead of an
    unregister and a register per wait.  A descriptor that was closed is gone from epoll
    (``modify`` fails: it is registered anew, whatever opened the number since); an event for a
    descriptor nobody waits on any more (its wait ended by the clock) comes at most once, is
    disarmed with it, and is ignored.  Elsewhere the selectors module, registered for each wait.
    """

    def __init__(self) -> None:
        import select

        self._waiting: dict[int, _Task] = {}  # descriptor -> the task waiting on it now
        self._epoll: Any = None
        self._selector: Any = None
        if hasattr(select, "epoll"):
            self._epoll = select.epoll()
            self._read = select.EPOLLIN | select.EPOLLONESHOT
            self._write = select.EPOLLOUT | select.EPOLLONESHOT
        else:
            import selectors

            self._selector = selectors.DefaultSelector()

    def watch(self, fd: int, write: bool, task: _Task) -> None:
        """Wake ``task`` when ``fd`` is readable (``write``: writable).  OSError or ValueError for
        a closed or bad descriptor, KeyError if another task waits on it."""
        if fd in self._waiting:
            raise KeyError(f"descriptor {fd} is already waited on")
        if self._epoll is not None:
            events = self._write if write else self._read
            try:
                self._epoll.modify(fd, events)
            except FileNotFoundError:  # not (or no longer) known to this epoll
                self._epoll.register(fd, events)
        else:
            import selectors

            self._selector.register(fd, selectors.EVENT_WRITE if write else selectors.EVENT_READ)
        self._waiting[fd] = task

    def forget(self, fd: int) -> None:
        """The wait on ``fd`` is over without it (the clock ended it)."""
        self._waiting.pop(fd, None)
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(fd)

    def wait(self, timeout: float) -> list[_Task]:
        """The tasks whose descriptor is ready, waiting at most ``timeout`` seconds."""
        woken = []
        if self._epoll is not None:
            for fd, _ in self._epoll.poll(timeout):
                task = self._waiting.pop(fd, None)
                if task is not None:
                    woken.append(task)
            return woken
        for key, _ in self._selector.select(timeout):
            self._selector.unregister(key.fd)
            task = self._waiting.pop(key.fd, None)
            if task is not None:
                woken.append(task)
        return woken

    def close(self) -> None:
        (self._epoll or self._selector).close()

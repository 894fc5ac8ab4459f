"""A busy machine for the mocks' ordering tests: CPU-burning threads competing for the interpreter."""

from __future__ import annotations

import contextlib
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def busy_machine(threads: int = 8) -> Iterator[None]:
    stop = threading.Event()

    def burn() -> None:
        while not stop.is_set():
            sum(range(2000))

    hogs = [threading.Thread(target=burn, daemon=True) for _ in range(threads)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        stop.set()
        for hog in hogs:
            hog.join(2.0)

"""Start a mock from Python (tests, demos): in this process (threads) or as a subprocess.

    with start_mock("baytech", model="rpc5", names=["node1", "node2"]) as mock:
        mock.address        # "127.0.0.1:40123" (or mock.serial for serial_link=PATH)
        mock.truth()        # {"outlets": {"1": {"name": ..., "state": "on"}}, "events": [...]}

Keyword arguments are the ``stonith-mock`` options with ``_`` for ``-`` (``relay_delay=0.1``,
``faults=["stuck=1"]``, ``confirm=False`` for ``--no-confirm``, ``password_only=True``).  A
subprocess mock is run through ``python -m stonith.mocks`` and its truth is read from the state
file, which this harness creates when none is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

from stonith.contract.validation import split_hostport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any

    from stonith.mocks._common import RunningMock

READY_TIMEOUT = 15.0
# What a mock may take from our environment: where Python finds code and temporary files (a test run
# or bench/mutation.py chooses them); never anything that could be a secret.
_PASSED_TO_MOCKS = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "TMPDIR")


class MockHandle:
    """A started mock: its ready-line info, its process and its ground truth.

    The one handle on a running mock, for tests, hwtests, the bench and stonith.fencing.lab.  A mock process
    (``process`` set) writes its truth to a state file, ``truth_source`` is that file's path (None: the
    mock was started without one); a mock in this process is read directly (``truth_source`` is the
    stonith.mocks._common.RunningMock, the servers inside a mock).
    """

    def __init__(
        self,
        info: dict[str, Any],
        truth_source: RunningMock | str | None,
        process: subprocess.Popen[str] | None = None,
    ) -> None:
        self.info = info
        self.process = process
        self._truth_source = truth_source

    @property
    def address(self) -> str:
        return str(self.info.get("address", ""))

    @property
    def host(self) -> str:
        return split_hostport(self.address)[0]

    @property
    def port(self) -> int:
        return split_hostport(self.address)[1]

    @property
    def serial(self) -> str:
        return str(self.info.get("serial", ""))

    @property
    def state_file(self) -> str:
        """Where a mock process writes its ground truth; "" for a mock in this process or none."""
        return self._truth_source if isinstance(self._truth_source, str) else ""

    def truth(self) -> dict[str, Any]:
        if self._truth_source is None:
            raise RuntimeError("this mock was started without a state file: it has no ground truth")
        if isinstance(self._truth_source, str):
            with open(self._truth_source, encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
            return data
        return self._truth_source.truth()

    def state(self, outlet: int | str) -> str:
        return str(self.truth()["outlets"][str(outlet)]["state"])

    def events(self) -> list[dict[str, Any]]:
        return list(self.truth()["events"])


def argv_for(type_name: str, options: dict[str, Any]) -> list[str]:
    """The ``stonith-mock`` command line for keyword options."""
    argv = [type_name]
    for key, value in options.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key == "faults":
            for spec in value:
                argv += ["--fault", spec]
        elif value is True:
            argv.append(flag)
        elif value is False:
            argv.append("--no-" + key.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


@contextlib.contextmanager
def start_mock(
    type_name: str = "baytech", *, subprocess_: bool = False, **options: Any
) -> Iterator[MockHandle]:
    """Run a mock for the duration of the ``with`` block."""
    if subprocess_:
        with _subprocess_mock(type_name, options) as handle:
            yield handle
        return
    from stonith.mocks.__main__ import start

    mock = start(argv_for(type_name, options))
    try:
        yield MockHandle(mock.info, mock)
    finally:
        mock.close()


@contextlib.contextmanager
def _subprocess_mock(type_name: str, options: dict[str, Any]) -> Iterator[MockHandle]:
    with tempfile.TemporaryDirectory(prefix="stonith-mock-") as tmp:
        # state_file=None: no ground truth (instrumentation real hardware does not pay).
        state_file = options.pop("state_file", os.path.join(tmp, "state.json"))
        password = options.pop("password", None)
        secrets = {} if password is None else {"STONITH_MOCK_PASSWORD": str(password)}
        mock = start_process(argv_for(type_name, options), secrets, state_file)
        try:
            yield mock
        finally:
            stop([mock.process])


def start_process(argv: list[str], secrets: Mapping[str, str], state_file: str | None) -> MockHandle:
    """``python -m stonith.mocks ARGV --state-file STATE_FILE`` as spawn starts it; its handle."""
    if state_file is not None:
        argv = [*argv, "--state-file", state_file]
    process, info = spawn(argv, secrets)
    return MockHandle(info, state_file, process)


def spawn(argv: list[str], secrets: Mapping[str, str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``python -m stonith.mocks ARGV`` in a session of its own; the process and its ready line.

    ``secrets`` (STONITH_MOCK_PASSWORD, STONITH_MOCK_COMMUNITY) go into the mock's environment: a
    child's argv is visible to every user in ``ps``.  That environment is built, not inherited
    (stonith.contract.local_trust.child_env): ours may hold other devices' secrets.  Raises MockNotReady when
    no ready line comes.
    """
    from stonith.contract.local_trust import child_env

    inherited = {k: os.environ[k] for k in _PASSED_TO_MOCKS if k in os.environ}
    process = subprocess.Popen(
        # -P: never the checkout's stonith/ from the current directory, the installed package.
        [sys.executable, "-P", "-m", "stonith.mocks", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env({**inherited, **secrets}),
        start_new_session=True,
    )
    try:
        return process, _ready_line(process)
    except BaseException:
        stop([process])
        raise


def stop(processes: Iterable[subprocess.Popen[str] | None], grace: float = 5.0) -> None:
    """SIGTERM every mock first, then wait ``grace`` seconds in all for them; kill what is left."""
    started = [process for process in processes if process is not None]
    for process in started:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in started:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


class MockNotReady(RuntimeError):
    """A mock process exited or stayed silent instead of printing its ready line."""


def _ready_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            info: dict[str, Any] = json.loads(line)
            return info
        if process.poll() is not None:
            break
    raise MockNotReady(f"mock did not become ready (exit status {process.poll()})")

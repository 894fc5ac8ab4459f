"""The checks every telnet console driver's tests share (apcmaster, wti_nps, baytech).

A ``Console`` holds one driver's facts: its type name (the mock's as well), its models, the
credentials its mocks ask for and the names on their outlets.  It starts mocks, runs our CLI
against them (``glue``) and runs cluster-glue's plugin of the same name on 127.0.0.N:23.  The
``check_*`` functions are the scenarios; each test file calls them from its own thin,
parametrized tests, so the test ids stay per driver.  Also here: the helpers those files (and
others) use for ground truth, fuzzing and PowerMan.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from stonith.mocks.harness import MockHandle, start_mock

from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, Outlet
from stonith.contract.errors import StonithError
from stonith.transport.stream import Closed, Stream
from tests.conftest import require_peer, require_root, run_stonith

NAMES = ["node1", "node2", "web server", "node1"]  # node1 has two supplies
FAST = {"relay_delay": 0.05, "reboot_delay": 0.2}


# ---------------------------------------------------------------------------------------------
# Ground truth, ports, fuzzing


def changes(mock: MockHandle, outlet: int | str) -> list[str]:
    return [e["state"] for e in mock.events() if e["outlet"] == str(outlet)]


def eventually(check: Callable[[], bool], timeout: float = 2.0) -> None:
    """Peers return when the device acknowledged; the relays follow after the mock's relay delay."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "ground truth never reached the expected state"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeStream(Stream):
    """Plays arbitrary device output to the driver, then EOF; records what the driver sent, and
    how much of the output it had been shown when it sent each piece (the command log the
    fuzzers judge by: a command may only follow the device text that asks for it)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__("fake")
        self.chunks = list(chunks)
        self.shown = b""  # device output delivered so far
        self.log: list[tuple[bytes, bytes]] = []  # (what was sent, the output shown before it)

    @property
    def sent(self) -> bytes:
        return b"".join(data for data, _ in self.log)

    def sent_after(self, needle: bytes, token: Any) -> bool:
        """Whether every piece holding ``needle`` was sent after ``token`` (bytes or a pattern)
        had appeared in the device's output."""
        for data, before in self.log:
            if needle in data:
                seen = token in before if isinstance(token, bytes) else token.search(before)
                if not seen:
                    return False
        return True

    def _recv(self, timeout: Any) -> bytes:
        if not self.chunks:
            raise Closed("fake: EOF")
        chunk = self.chunks.pop(0)
        self.shown += chunk
        return chunk

    def _send(self, data: Any, timeout: Any) -> None:
        self.log.append((bytes(data), self.shown))

    def _close(self) -> None:
        pass


def meet_arbitrary_output(
    driver: Any, chunks: Iterable[bytes], session: Callable[[Any, FakeStream], object]
) -> tuple[FakeStream, bool]:
    """Run ``session`` (log in, then one operation) against garbage from the device: only a typed
    error with a documented exit code may come of it.  Returns the stream (its command log is
    what the caller judges) and whether the session completed."""
    stream = FakeStream(chunks)
    completed = False
    try:
        session(driver, stream)
        completed = True
    except StonithError as exc:
        assert 1 <= exc.exit_code <= 8, exc
    finally:
        driver.disconnect()
    return stream, completed


def log_in_then_off_outlet_1(driver: Any, stream: FakeStream) -> None:
    driver._login(stream, Deadline(1))
    driver._stream = stream
    driver.off(Outlet("1", "node1"), Deadline(1))


# ---------------------------------------------------------------------------------------------
# One driver's facts


def _same_names(model: str) -> list[str]:
    return NAMES


@dataclass(frozen=True)
class Console:
    kind: str  # the stonith type name, which is also the mock's
    models: tuple[str, ...]
    login: str | None  # None: the device asks for a password only
    password: str
    names: Callable[[str], list[str]] = field(default=_same_names)  # a model's outlet names
    plugin_timeout: float = 120  # how long cluster-glue's plugin may take

    def mock(self, model: str, **options: Any) -> contextlib.AbstractContextManager[MockHandle]:
        settings: dict[str, Any] = {"model": model, "names": self.names(model)}
        if self.login is not None:
            settings["username"] = self.login
        settings.update(password=self.password, **FAST)
        settings.update(options)
        return start_mock(self.kind, **settings)

    def credentials(self, login: str | None, password: str) -> list[str]:
        return ([f"login={login}"] if self.login is not None else []) + [f"password={password}"]

    def config_args(self, mock: MockHandle, password: str | None = None) -> list[str]:
        where = f"ttydev={mock.serial}" if mock.serial else f"ipaddr={mock.address}"
        return [where, *self.credentials(self.login, self.password if password is None else password)]

    def glue(
        self, mock: MockHandle, *args: str, timeout: str = "10", password: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Our CLI against ``mock``: never a traceback."""
        result = run_stonith(
            "-t", self.kind, "--timeout", timeout, *self.config_args(mock, password), *args, timeout=60
        )
        assert "Traceback" not in result.stderr
        return result

    def run_glue_plugin(self, stonith: str, mock: MockHandle, *args: str) -> subprocess.CompletedProcess[str]:
        """cluster-glue's plugin of the same name against ``mock`` (which listens on port 23)."""
        return subprocess.run(
            [
                stonith,
                "-t",
                self.kind,
                f"ipaddr={mock.host}",
                *self.credentials(self.login, self.password),
                *args,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.plugin_timeout,
            check=False,
        )

    @contextlib.contextmanager
    def mock_on_port_23(self, model: str, **options: Any) -> Iterator[MockHandle]:
        """A mock on a free 127.0.0.N:23: cluster-glue has no port parameter."""
        require_root(f"cluster-glue's {self.kind} plugin only connects to port 23")
        for n in random.sample(range(2, 255), 30):
            context = self.mock(model, listen=f"127.0.0.{n}:23", **options)
            try:
                mock = context.__enter__()
            except (OSError, SystemExit):
                continue  # address in use
            try:
                yield mock
            finally:
                context.__exit__(None, None, None)
            return
        pytest.fail("no free 127.0.0.N:23")

    def run_fence_agent(self, agent: str, mock: MockHandle, *args: str) -> subprocess.CompletedProcess[str]:
        """fence-agents' ``agent`` in telnet mode (through /usr/bin/telnet) against ``mock``."""
        program = require_peer(agent, "fence-agents")
        require_peer("telnet", "telnet")
        login = ["-l", self.login] if self.login is not None else []
        return subprocess.run(
            [program, "-a", mock.host, "-u", str(mock.port), *login, "-p", self.password, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


# ---------------------------------------------------------------------------------------------
# Our driver through our CLI: the conformance scenarios of every driver


def check_required_parameter(console: Console, args: Sequence[str], missing: str) -> None:
    result = run_stonith("-t", console.kind, *args, "-l")
    assert result.returncode == 3 and missing in result.stderr


def check_list_status_off_on_reset(
    console: Console, mock: MockHandle, names: Sequence[str], reset: str, *, only_these: bool = False
) -> None:
    """``names`` are the outlets' (node1 on every outlet so named); ``only_these``: the listing
    is exactly those hosts, else it starts with them.  Switches node1 off and on (every outlet of
    it, nothing else), then resets ``reset``."""
    listed = console.glue(mock, "-l")
    assert listed.returncode == 0, listed.stderr
    hosts = listed.stdout.splitlines()
    assert (hosts if only_these else hosts[: len(names)]) == list(names)
    status = console.glue(mock, "-S")
    assert status.returncode == 0 and "device OK" in status.stderr

    outlets = range(1, len(names) + 1)
    node1 = [n for n in outlets if names[n - 1] == "node1"]
    off = console.glue(mock, "-T", "off", "NODE1")
    assert off.returncode == 0, off.stderr
    assert all(mock.state(n) == (OFF if n in node1 else ON) for n in outlets)
    on = console.glue(mock, "-T", "on", "node1")
    assert on.returncode == 0, on.stderr
    assert all(mock.state(n) == ON for n in outlets)
    assert all(changes(mock, n) == [OFF, ON] for n in node1)  # every outlet of the node

    cycled = [n for n in outlets if names[n - 1] == reset]
    result = console.glue(mock, "-T", "reset", reset)
    assert result.returncode == 0, result.stderr
    for n in outlets:
        assert changes(mock, n) == ([OFF, ON] if n in node1 or n in cycled else []), n


def check_off_is_badhost(console: Console, model: str, host: str, **options: Any) -> None:
    with console.mock(model, **options) as mock:
        result = console.glue(mock, "-T", "off", host)
        assert result.returncode == 4
        assert mock.events() == []


def check_wrong_password_is_one_line_s_access(console: Console, model: str) -> None:
    """Exit 2 (S_ACCESS), at once (no retry), one line that names the password but never shows
    the one given."""
    with console.mock(model) as mock:
        start = time.monotonic()
        result = console.glue(mock, "-T", "off", "node1", password="wrong")
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "password" in result.stderr and "wrong" not in result.stderr
        assert time.monotonic() - start < 3
        assert mock.events() == []


def check_unreachable_device_fails_fast(console: Console) -> None:
    port = free_port()
    start = time.monotonic()
    result = run_stonith(
        "-t", console.kind, "--timeout", "5", f"ipaddr=127.0.0.1:{port}", *console.credentials("a", "b"), "-S"
    )
    assert result.returncode == 8 and "refused" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - start < 5


def check_fault_fails_within_the_deadline(
    console: Console, model: str, fault: str, codes: tuple[int, ...]
) -> None:
    """A failure (one of ``codes``) within the 2 s deadline; a stuck or lying outlet stays on."""
    with console.mock(model, faults=[fault]) as mock:
        start = time.monotonic()
        result = console.glue(mock, "-T", "off", "node1", timeout="2")
        took = time.monotonic() - start
        assert result.returncode in codes, (result.returncode, result.stderr)
        assert "ERROR" in result.stderr
        assert took < 2 + 1.5
        if fault.startswith(("stuck", "lie")):
            outlet = fault.partition("=")[2]
            assert mock.state(outlet) == ON and changes(mock, outlet) == []


def check_second_session_is_busy_not_success(console: Console, model: str) -> None:
    with console.mock(model) as mock:
        holder = socket.create_connection((mock.host, mock.port))
        try:
            time.sleep(0.2)
            result = console.glue(mock, "-S", timeout="3")
            assert result.returncode == 2 and "another session" in result.stderr
        finally:
            holder.close()


# ---------------------------------------------------------------------------------------------
# Peers: cluster-glue's plugin, fence-agents, PowerMan


def check_glue_plugin_lists_and_resets(
    console: Console,
    stonith: str,
    mock: MockHandle,
    listed: Sequence[str],
    reset: str,
    outlets: Sequence[int],
    untouched: Sequence[int],
    *,
    only_these: bool = False,
) -> None:
    """cluster-glue's plugin lists ``listed`` (exactly, or as the first hosts), reports the device
    OK, and its reset of ``reset`` cycles ``outlets`` and not ``untouched``."""
    result = console.run_glue_plugin(stonith, mock, "-l")
    assert result.returncode == 0, result.stderr
    hosts = result.stdout.splitlines()
    assert (hosts if only_these else hosts[: len(listed)]) == list(listed)
    assert console.run_glue_plugin(stonith, mock, "-S").returncode == 0
    result = console.run_glue_plugin(stonith, mock, "-T", "reset", reset)
    assert result.returncode == 0, result.stderr
    eventually(lambda: all(changes(mock, n) == [OFF, ON] for n in outlets))
    assert all(changes(mock, n) == [] for n in untouched)


def check_glue_plugin_switches(
    console: Console, stonith: str, mock: MockHandle, action: str, host: str, outlet: int
) -> None:
    result = console.run_glue_plugin(stonith, mock, "-T", action, host)
    assert result.returncode == 0, result.stderr
    state = OFF if action == "off" else ON
    eventually(lambda: mock.state(outlet) == state)


def check_fence_agent_list_status_off_on_reboot(
    agent: Callable[..., subprocess.CompletedProcess[str]], mock: MockHandle, *, relays_follow: bool
) -> None:
    """A fence agent (``agent(mock, *args)``) lists the outlets, reads, switches and reboots one;
    ``relays_follow``: the reboot's relays may follow its return (wait for them)."""
    listed = agent(mock, "-o", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[:4] == ["1,node1", "2,node2", "3,web server", "4,node1"]
    status = agent(mock, "-o", "status", "-n", "2")
    assert status.returncode == 0 and "Status: ON" in status.stdout
    off = agent(mock, "-o", "off", "-n", "2")
    assert off.returncode == 0, off.stderr
    assert mock.state(2) == OFF
    status = agent(mock, "-o", "status", "-n", "2")
    assert status.returncode == 2 and "Status: OFF" in status.stdout
    on = agent(mock, "-o", "on", "-n", "2")
    assert on.returncode == 0, on.stderr
    assert mock.state(2) == ON
    reboot = agent(mock, "-o", "reboot", "-n", "3")
    assert reboot.returncode == 0, reboot.stderr
    if relays_follow:
        eventually(lambda: changes(mock, 3) == [OFF, ON])
    assert changes(mock, 3) == [OFF, ON] and changes(mock, 1) == []


def pm(pm_bin: str, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [pm_bin, "-h", f"127.0.0.1:{port}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def pm_states(pm_bin: str, port: int) -> dict[str, str]:
    out = pm(pm_bin, port, "-x", "-q").stdout
    return dict(re.findall(r"^(\S+):\s+(on|off|unknown)$", out, re.M))


@contextlib.contextmanager
def powermand(
    tmp_path: Path, config: Sequence[str], devices: int, wait: float = 15
) -> Iterator[tuple[str, int]]:
    """PowerMan's powermand, unmodified, with ``config`` (its lines after ``listen``), until all
    ``devices`` are connected (within ``wait`` s); yields ``pm`` and the port to give it."""
    daemon_bin = require_peer("powermand", "powerman")
    pm_bin = require_peer("pm", "powerman")
    port = free_port()
    conf = tmp_path / "powerman.conf"
    conf.write_text("".join(f"{line}\n" for line in [f'listen "127.0.0.1:{port}"', *config]))
    daemon = subprocess.Popen(
        [daemon_bin, "-f", "-Y", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + wait
        while True:
            shown = pm(pm_bin, port, "-d")
            if shown.returncode == 0 and shown.stdout.count("state=connected") >= devices:
                break
            assert time.monotonic() < deadline, f"powermand did not connect to all {devices} mocks"
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
            time.sleep(0.1)
        yield pm_bin, port
    finally:
        # powermand 2.3.27 aborts on SIGTERM when TCP devices exist (fixed in 2.4.0, #118).
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def check_powerman_off_on_cycle(
    pm_bin: str,
    port: int,
    nodes: int,
    off: dict[str, tuple[MockHandle, int]],
    cycle: dict[str, tuple[MockHandle, int]],
    still_on: str,
) -> None:
    """All ``nodes`` read on; ``pm -0`` then ``-1`` of ``off`` (PowerMan node: its mock and
    outlet) switch those outlets, which the status shows (``still_on`` unchanged); ``pm -c`` of
    ``cycle`` cycles its outlets; all on at the end."""
    states = pm_states(pm_bin, port)
    assert len(states) == nodes and set(states.values()) == {"on"}, states

    assert pm(pm_bin, port, "-0", ",".join(off)).returncode == 0
    eventually(lambda: all(mock.state(n) == OFF for mock, n in off.values()))
    states = pm_states(pm_bin, port)
    assert all(states[node] == "off" for node in off) and states[still_on] == "on", states

    assert pm(pm_bin, port, "-1", ",".join(off)).returncode == 0
    eventually(lambda: all(mock.state(n) == ON for mock, n in off.values()))

    assert pm(pm_bin, port, "-c", ",".join(cycle)).returncode == 0
    eventually(lambda: all(changes(mock, n) == [OFF, ON] for mock, n in cycle.values()))
    assert set(pm_states(pm_bin, port).values()) == {"on"}

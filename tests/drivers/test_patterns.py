"""Every regular expression our drivers run over device output is linear (issue 21 item 2).

Device output is untrusted and a regex search holds the interpreter lock: one quadratic pattern
let a fake MasterSwitch sending 48 KiB of newlines take 20 s of CPU while every other device of
the run stood still.  Each pattern found in the drivers (module tables, the per-model prompts and
the patterns built at run time) is searched over adversarial floods as large as the stream buffer
and must stay within a CPU budget; each must match at most ``SEARCH_OVERLAP`` bytes, which the
incremental search of stonith.transport.stream relies on.  Last, a fake MasterSwitch sends its
Device Manager screen as 48 KiB of newlines: ``stonith --timeout 3`` must end in about 3 s.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import re
import resource
import socket
import threading
import time

import pytest
import stonith.drivers

from stonith.contract.lazyre import LazyPattern
from stonith.transport.stream import SEARCH_OVERLAP
from tests.conftest import run_stonith

FLOOD_SIZE = 64 * 1024  # quadratic patterns took 2 to 30 s of CPU on 48 KiB of these
CPU_BUDGET = 0.25  # per pattern and flood: linear ones need a few milliseconds


def device_patterns() -> list[tuple[str, re.Pattern[bytes] | re.Pattern[str]]]:
    """(name, compiled pattern) of every pattern the drivers apply to device output."""
    found: list[tuple[str, re.Pattern[bytes] | re.Pattern[str]]] = []
    for module_info in pkgutil.iter_modules(stonith.drivers.__path__):
        module = importlib.import_module(f"stonith.drivers.{module_info.name}")
        for name, value in sorted(vars(module).items()):
            if isinstance(value, LazyPattern):
                value = value.compiled
            if isinstance(value, re.Pattern):
                found.append((f"{module_info.name}.{name}", value))
    from stonith.drivers import apcmaster, baytech, wti_nps

    for model in baytech.MODELS.values():
        found.append((f"baytech.MODELS[{model.name}].prompt", model.prompt.compiled))
    for action in ("Immediate On", "Immediate Off"):
        found.append((f"apcmaster.action_item({action!r})", apcmaster.action_item(action)))
    for prompt in (b"NPS", b"IPS", b"TPS"):
        found.append((f"wti_nps.session_prompt({prompt!r})", wti_nps.session_prompt(prompt)))
    return found


PATTERNS = device_patterns()


def test_every_stream_driver_has_its_patterns_collected() -> None:
    names = {name.split(".")[0] for name, _ in PATTERNS}
    assert {"apcmaster", "apcsmart", "baytech", "rps10", "wti_nps"} <= names


# Floods of the characters that repeated groups consume (blanks, line ends, digits, word
# characters, dashes), and of the literal prefixes that start a match attempt followed by a long
# run of what the pattern repeats next: the shapes that make backtracking quadratic.
FLOODS: dict[str, bytes] = {
    "newlines": b"\n",
    "carriage returns": b"\r",
    "CR LF": b"\r\n",
    "blanks": b" ",
    "tabs": b"\t",
    "dashes": b"-",
    "digits": b"1",
    "word characters": b"A",
    "dots": b".",
    "RPC": b"RPC",
    "RPC-": b"RPC-",
    "open titles": b"------- a",
    "menu items": b" 1- ",
    "AOS versions": b"AOS v1",
    "NC cells": b"1)...",
    "plugs": b"Plug 1 ",
    "prompts": b"NPS",
}
RUNS: dict[str, bytes] = {
    "RPC then word characters": b"RPC" + b"A" * FLOOD_SIZE,
    "a title that never closes": b"------- " + b"a" * FLOOD_SIZE,
    "a version that never ends": b"AOS v" + b"1" * FLOOD_SIZE,
    "an application line of blanks": b"MasterSwitch APP " + b" " * FLOOD_SIZE,
    "a menu item of blanks": b"1- Immediate Off" + b" " * FLOOD_SIZE,
    "a row tail of blanks": b"       1       " + b" " * FLOOD_SIZE,
    "a line without an end": b"SM" + b"x" * FLOOD_SIZE,
    "a firmware line": b"\r\nF" + b"1" * FLOOD_SIZE,
    "an identity that never ends": b"Network Power Switch v" + b"1" * FLOOD_SIZE,
}


def adversarial_inputs() -> list[tuple[str, bytes]]:
    inputs = [(name, (unit * (FLOOD_SIZE // len(unit) + 1))[:FLOOD_SIZE]) for name, unit in FLOODS.items()]
    return inputs + list(RUNS.items())


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[name for name, _ in PATTERNS])
def test_pattern_is_linear_on_adversarial_output(
    name: str, pattern: re.Pattern[bytes] | re.Pattern[str]
) -> None:
    slow: list[str] = []
    for flood_name, flood in adversarial_inputs():
        data: bytes | str = flood.decode("latin-1") if isinstance(pattern.pattern, str) else flood
        started = time.process_time()
        pattern.search(data)  # type: ignore[arg-type]
        for _ in pattern.finditer(data):  # type: ignore[arg-type]
            pass
        pattern.match(data)  # type: ignore[arg-type]
        spent = time.process_time() - started
        if spent > CPU_BUDGET:
            slow.append(f"{flood_name}: {spent:.2f} s")
    assert slow == [], f"{name} ({pattern.pattern!r}) is not linear: {slow}"


def _max_width(pattern: re.Pattern[bytes] | re.Pattern[str]) -> int:
    try:
        from re import _parser as parser  # type: ignore[attr-defined]
    except ImportError:  # Python < 3.11
        import sre_parse as parser  # type: ignore[no-redef]
    return int(parser.parse(pattern.pattern, pattern.flags).getwidth()[1])


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[name for name, _ in PATTERNS])
def test_pattern_matches_at_most_the_search_overlap(
    name: str, pattern: re.Pattern[bytes] | re.Pattern[str]
) -> None:
    # The stream searches new bytes plus SEARCH_OVERLAP before them: a longer match could be missed.
    assert _max_width(pattern) <= SEARCH_OVERLAP, f"{name} ({pattern.pattern!r}) has unbounded repeats"


# ---------------------------------------------------------------------------------------------
# A fake MasterSwitch whose Device Manager screen is 48 KiB of newlines


class FloodingMasterSwitch:
    """Logs anyone in, then answers every menu key with ``flood`` and the ``> `` prompt."""

    def __init__(self, flood: bytes) -> None:
        self.flood = flood
        self.sessions = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FloodingMasterSwitch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(3)
        self.listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.sessions += 1
            with conn, contextlib.suppress(OSError):  # the client hung up
                self._session(conn)

    def _line(self, conn: socket.socket) -> bytes:
        conn.settimeout(5)
        data = b""
        while not data.endswith(b"\r") and not self._stop.is_set():
            byte = conn.recv(1)
            if not byte:
                raise ConnectionResetError
            data += byte
        return data

    def _session(self, conn: socket.socket) -> None:
        conn.sendall(b"\r\nUser Name : ")
        self._line(conn)
        conn.sendall(b"\r\nPassword  : ")
        self._line(conn)
        conn.sendall(
            b"\r\n\r\nAmerican Power Conversion               Network Management Card AOS      v3.3.4\r\n"
            b"\r\n------- Control Console -------------------------------------------------------\r\n"
            b"\r\n     1- Device Manager\r\n     2- Network\r\n     3- System\r\n     4- Logout\r\n"
            b"\r\n     <ESC>- Main Menu, <ENTER>- Refresh, <CTRL-L>- Event Log\r\n> "
        )
        while not self._stop.is_set():
            self._line(conn)
            conn.sendall(self.flood + b"\r\n> ")


def test_a_masterswitch_flooding_newlines_ends_within_the_deadline() -> None:
    # Before: 15 s of CPU in one search, and a minute on a loaded machine, for --timeout 3.
    started = time.monotonic()
    run_stonith("-t", "apcmaster", "-n")
    start_up = time.monotonic() - started  # what the interpreter and imports cost on this machine now
    with FloodingMasterSwitch(b"\n" * (48 * 1024)) as device:
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = run_stonith(
            "-t", "apcmaster", "--timeout", "3", f"ipaddr={device.address}", "login=apc", "password=apc", "-S"
        )
        elapsed = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    assert "Traceback" not in result.stderr
    assert result.returncode != 0  # no outlets on that screen: never a healthy device
    assert device.sessions >= 1
    assert elapsed - start_up < 3.5, f"took {elapsed:.1f} s ({start_up:.1f} s of it to start)"
    assert cpu < 3.0, f"{cpu:.1f} s of CPU"

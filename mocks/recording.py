"""Record device sessions through a TCP proxy; check a mock personality against a recording.

Record (a lab with a real device, or our mocks for the shipped examples)::

    python -m stonith.mocks.recording --listen 127.0.0.1:2323 --target 10.0.0.5:23 \\
        --out mocks/recordings/BayTech__RPC-3__baytech__F5.01__01.jsonl \\
        --vendor BayTech --model RPC-3 --driver baytech --firmware "F 5.01" [--once]

then point the client (``stonith -t baytech ipaddr=127.0.0.1:2323 ...``, cluster-glue, PowerMan)
at the listening address.  ``--once`` stops after the first connection has closed; otherwise the
proxy runs until SIGINT/SIGTERM, appending every connection to the file (``conn`` numbers them).

Check (replay the client side against a mock; the mock must answer with the recorded replies)::

    python -m stonith.mocks.recording --check FILE [--mock-args "baytech --model rpc3 ..."]

Without ``--mock-args`` the mock command line stored in the recording's header (``mock``) is used.

File format: JSON lines, UTF-8.  The first line is a header::

    {"format": "stonith-recording", "version": 1, "vendor": "BayTech", "model": "RPC-3",
     "driver": "baytech", "firmware": "F 5.01", "transport": "tcp", "target": "10.0.0.5:23",
     "recorded": "2025-01-01T12:00:00Z", "mock": ["baytech", "--model", "rpc3", ...],
     "normalize": [["regex", "replacement"], ...], "secrets": ["password sent on line 3"]}

every further line is one event::

    {"conn": 1, "t": 0.0132, "from": "device", "text": "\\r\\n\\r\\n  RPC-3 Telnet Host..."}
    {"conn": 1, "t": 0.2510, "from": "client", "text": "admin\\r"}
    {"conn": 1, "t": 0.9000, "from": "client", "close": true}

``t`` is seconds since the connection opened; ``text`` is the raw bytes decoded as Latin-1 (every
byte value is one character, so any byte sequence round-trips; JSON escapes control bytes as
``\\r``, ``\\n``, ``\\u0000``); ``close`` says that side closed the connection.

Replay rules: consecutive device chunks are one block (how a device splits its output into TCP
segments is timing, not protocol); after each client chunk the mock's output up to the next
client chunk must equal the recorded block after normalization.  Normalization applies
``DEFAULT_NORMALIZE`` (measured values such as amps, volts, watts and temperatures, which a real
device never repeats) and the header's ``normalize`` list, each a Python regex and its
replacement, to both sides.  ``--redact SECRET`` (repeatable) writes ``REDACTED`` in place of a
password the client sent; the stored mock command line then carries ``--password REDACTED``.
A ``close`` from the device must be seen as EOF.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import re
import shlex
import signal
import socket
import sys
import threading
import time

from stonith.mocks._common import accepted

from stonith.contract.validation import join_hostport, split_hostport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any, TextIO

FORMAT = "stonith-recording"
VERSION = 1
CLIENT = "client"
DEVICE = "device"
REDACTED = b"REDACTED"  # what --redact SECRET writes instead of the secret
BLOCK_QUIET = 0.6  # seconds of silence after which a device block is taken as complete
BLOCK_LIMIT = 15.0  # no device block takes longer than this to arrive
# Measured values: a real device never prints the same twice, a mock always does.
DEFAULT_NORMALIZE: tuple[tuple[str, str], ...] = ((r"\d+(?:\.\d+)? *(Amps|Volts|Watts|C\b)", r"# \1"),)


# ---------------------------------------------------------------------------------------------
# A threaded TCP proxy with hooks


class Proxy:
    """Forwards every connection accepted on ``listen`` to ``target()``.

    Subclasses see the traffic through ``on_open``, ``on_data`` (which may delay, change or drop a
    chunk; it returns what to forward) and ``on_close``.  ``target`` is a callable so that the
    device behind the proxy can move (a rebooted mock on a new port); it returns None while there
    is no device, and a connection accepted then is closed at once.
    """

    def __init__(self, listen: str, target: str | Callable[[], str | None]) -> None:
        host, port = split_hostport(listen, lowest=0)
        self._target = target
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family)
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: dict[int, tuple[socket.socket, socket.socket]] = {}
        self._count = 0
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> str:
        return join_hostport(self.host, self.port)

    def target(self) -> str | None:
        return self._target() if callable(self._target) else self._target

    # -- hooks -----------------------------------------------------------------------------------
    def on_open(self, conn: int) -> None:
        """A client connected and the proxy reached the device."""

    def on_data(self, conn: int, side: str, data: bytes) -> bytes:
        """``data`` sent by ``side`` (CLIENT or DEVICE); return what to forward."""
        return data

    def on_close(self, conn: int, side: str) -> None:
        """``side`` closed its end."""

    # -- machinery -------------------------------------------------------------------------------
    def start(self) -> Proxy:
        thread = threading.Thread(target=self._accept_loop, name=f"proxy-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        for client in accepted(self._listener, self.stop):
            thread = threading.Thread(target=self._connect, args=(client,), daemon=True)
            thread.start()

    def _connect(self, client: socket.socket) -> None:
        where = self.target()
        device: socket.socket | None = None
        if where is not None:
            try:
                device = socket.create_connection(split_hostport(where), timeout=2.0)
            except (OSError, ValueError):
                device = None
        if device is None:
            _close(client)
            return
        with self._lock:
            self._count += 1
            conn = self._count
            self._conns[conn] = (client, device)
        for sock in (client, device):
            sock.settimeout(None)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.on_open(conn)
        other = threading.Thread(target=self._pump, args=(conn, device, client, DEVICE), daemon=True)
        other.start()
        self._pump(conn, client, device, CLIENT)
        other.join()
        with self._lock:
            self._conns.pop(conn, None)

    def _pump(self, conn: int, source: socket.socket, sink: socket.socket, side: str) -> None:
        try:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.on_close(conn, side)
                    break
                out = self.on_data(conn, side, data)
                if out:
                    sink.sendall(out)
        except OSError:
            pass
        finally:
            # One side gone: the connection is over for both (a device hangs up the whole session).
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                source.shutdown(socket.SHUT_RDWR)

    def drop_connections(self) -> None:
        """Cut every open connection (a device reboot as its clients see it)."""
        with self._lock:
            pairs = list(self._conns.values())
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.stop.set()
        _close(self._listener)
        self.drop_connections()
        for thread in self._threads:
            thread.join(2.0)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# ---------------------------------------------------------------------------------------------
# Recording


def header(
    *,
    vendor: str,
    model: str,
    driver: str,
    firmware: str,
    target: str = "",
    mock: Sequence[str] = (),
    normalize: Sequence[tuple[str, str]] = (),
    note: str = "",
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "vendor": vendor,
        "model": model,
        "driver": driver,
        "firmware": firmware,
        "transport": "tcp",
        "target": target,
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if mock:
        data["mock"] = list(mock)
    if normalize:
        data["normalize"] = [list(pair) for pair in normalize]
    if note:
        data["note"] = note
    return data


def file_name(vendor: str, model: str, driver: str, firmware: str, number: int) -> str:
    """``<Vendor>__<Model>__<driver>__<firmware>__NN.jsonl`` with blanks and slashes made safe."""

    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-") or "unknown"

    return f"{safe(vendor)}__{safe(model)}__{safe(driver)}__{safe(firmware)}__{number:02d}.jsonl"


class Recorder(Proxy):
    """A proxy that writes every chunk to ``out`` as JSON lines (the header first)."""

    def __init__(
        self,
        listen: str,
        target: str | Callable[[], str | None],
        out: TextIO,
        head: dict[str, Any],
        redact: Sequence[str] = (),
    ) -> None:
        super().__init__(listen, target)
        self._out = out
        self._redact = [s.encode("latin-1") for s in redact if s]
        self._write_lock = threading.Lock()
        self._opened: dict[int, float] = {}
        self._ended: set[int] = set()
        self.closed_connections = 0
        self.done = threading.Event()
        self._emit(head)

    def _emit(self, record: dict[str, Any]) -> None:
        with self._write_lock:
            self._out.write(json.dumps(record, ensure_ascii=True) + "\n")
            self._out.flush()

    def on_open(self, conn: int) -> None:
        self._opened[conn] = time.monotonic()

    def _t(self, conn: int) -> float:
        return round(time.monotonic() - self._opened.get(conn, time.monotonic()), 4)

    def on_data(self, conn: int, side: str, data: bytes) -> bytes:
        text = data
        for secret in self._redact:
            text = text.replace(secret, REDACTED)
        self._emit({"conn": conn, "t": self._t(conn), "from": side, "text": text.decode("latin-1")})
        return data

    def on_close(self, conn: int, side: str) -> None:
        with self._write_lock:
            first = conn not in self._ended
            self._ended.add(conn)
        if first:
            self._emit({"conn": conn, "t": self._t(conn), "from": side, "close": True})
            self.closed_connections += 1
            self.done.set()


# ---------------------------------------------------------------------------------------------
# Reading and checking


class RecordingError(ValueError):
    """A recording file that cannot be read, or a mock that does not answer as recorded."""


class Recording:
    def __init__(self, head: dict[str, Any], events: list[dict[str, Any]]) -> None:
        self.header = head
        self.events = events

    @classmethod
    def load(cls, path: str) -> Recording:
        try:
            with open(path, encoding="utf-8") as handle:
                lines = [line for line in handle if line.strip()]
        except OSError as exc:
            raise RecordingError(f"{path}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise RecordingError(f"{path}: not UTF-8 text") from None
        if not lines:
            raise RecordingError(f"{path}: empty")
        records: list[dict[str, Any]] = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordingError(f"{path}:{number}: not JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise RecordingError(f"{path}:{number}: not a JSON object")
            records.append(record)
        head = records[0]
        if head.get("format") != FORMAT or head.get("version") != VERSION:
            raise RecordingError(f"{path}:1: not a {FORMAT} version {VERSION} header")
        events = records[1:]
        for number, event in enumerate(events, 2):
            if event.get("from") not in (CLIENT, DEVICE) or not isinstance(event.get("conn", 1), int):
                raise RecordingError(f"{path}:{number}: 'from' must be client or device")
            if not event.get("close") and not isinstance(event.get("text"), str):
                raise RecordingError(f"{path}:{number}: needs 'text' or 'close'")
            if isinstance(event.get("text"), str) and any(ord(c) > 255 for c in event["text"]):
                raise RecordingError(f"{path}:{number}: 'text' holds characters beyond Latin-1")
        normalize = head.get("normalize", [])
        if not isinstance(normalize, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in normalize
        ):
            raise RecordingError(f"{path}:1: 'normalize' must be a list of [regex, replacement] pairs")
        for pattern, _ in normalize:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RecordingError(f"{path}:1: bad normalize regex {pattern!r}: {exc}") from None
        return cls(head, events)

    def connections(self) -> dict[int, list[dict[str, Any]]]:
        conns: dict[int, list[dict[str, Any]]] = {}
        for event in self.events:
            conns.setdefault(int(event.get("conn", 1)), []).append(event)
        return conns

    def normalizer(self) -> Callable[[bytes], bytes]:
        rules = [(re.compile(p.encode("latin-1")), r.encode("latin-1")) for p, r in DEFAULT_NORMALIZE]
        rules += [
            (re.compile(p.encode("latin-1")), r.encode("latin-1"))
            for p, r in self.header.get("normalize", [])
        ]

        def apply(data: bytes) -> bytes:
            for pattern, replacement in rules:
                data = pattern.sub(replacement, data)
            return data

        return apply


class Step:
    """One exchange of a connection: what the client sends, then what the device must answer."""

    __slots__ = ("close", "reply", "send")

    def __init__(self, send: bytes, reply: bytes, close: bool) -> None:
        self.send = send
        self.reply = reply
        self.close = close  # the device closes the connection after ``reply``


def steps(events: Sequence[dict[str, Any]]) -> Iterator[Step]:
    """Client chunks, each followed by the device's concatenated output up to the next one."""
    send = b""
    reply = b""
    for event in events:
        if event["from"] == CLIENT:
            if event.get("close"):
                break
            if reply or send:
                yield Step(send, reply, False)
            send, reply = event["text"].encode("latin-1"), b""
        elif event.get("close"):
            yield Step(send, reply, True)
            return
        else:
            reply += event["text"].encode("latin-1")
    if send or reply:
        yield Step(send, reply, False)


def check(recording: Recording, address: str, *, quiet: float = BLOCK_QUIET) -> list[str]:
    """Replay the client side of every connection against ``address``; mismatches, [] if none."""
    normalize = recording.normalizer()
    problems: list[str] = []
    for conn, events in sorted(recording.connections().items()):
        with socket.create_connection(split_hostport(address), timeout=5.0) as sock:
            for number, step in enumerate(steps(events), 1):
                if step.send:
                    sock.sendall(step.send)
                got, eof = _read_block(sock, step.reply, normalize, quiet)
                if normalize(got) != normalize(step.reply):
                    problems.append(
                        f"connection {conn}, exchange {number} (after the client sent {step.send!r}): "
                        f"expected {step.reply!r}, got {got!r}"
                    )
                    break
                if step.close and not eof and not _eof_follows(sock, quiet):
                    problems.append(f"connection {conn}, exchange {number}: the device did not hang up")
                    break
    return problems


def _read_block(
    sock: socket.socket, expected: bytes, normalize: Callable[[bytes], bytes], quiet: float
) -> tuple[bytes, bool]:
    """The device's output until it equals ``expected`` (normalized), falls quiet, or ends."""
    want = normalize(expected)
    got = b""
    limit = time.monotonic() + BLOCK_LIMIT
    while time.monotonic() < limit:
        if got and normalize(got) == want:
            # Exactly the block; anything more would belong to the next one (or be a mismatch
            # found there).
            return got, False
        sock.settimeout(quiet)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return got, False
        except OSError:
            return got, True
        if not data:
            return got, True
        got += data
    return got, False


def _eof_follows(sock: socket.socket, quiet: float) -> bool:
    sock.settimeout(quiet * 3)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@contextlib.contextmanager
def running_mock(argv: Sequence[str]) -> Iterator[str]:
    """Start an in-process mock from a ``stonith-mock`` command line; yields its TCP address."""
    from stonith.mocks.__main__ import start

    args = list(argv)
    if "--listen" not in args:
        args += ["--listen", "127.0.0.1:0"]
    mock = start(args)
    try:
        yield str(mock.info["address"])
    finally:
        mock.close()


def check_file(path: str, mock_argv: Sequence[str] | None = None) -> list[str]:
    """Check the mock (``mock_argv`` or the header's ``mock``) against the recording at ``path``."""
    recording = Recording.load(path)
    argv = list(mock_argv) if mock_argv else recording.header.get("mock")
    if not argv or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise RecordingError(f"{path}: no mock command line in the header; give --mock-args")
    with running_mock(argv) as address:
        return check(recording, address)


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stonith.mocks.recording",
        description="Record a device session through a TCP proxy, or check a mock against a recording.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--listen", metavar="HOST:PORT", help="record: where clients connect")
    parser.add_argument("--target", metavar="HOST:PORT", help="record: the device")
    parser.add_argument("--out", metavar="FILE", help="record: the recording to write")
    parser.add_argument("--once", action="store_true", help="record: stop after one connection")
    parser.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="SECRET",
        help="record: write REDACTED instead of SECRET (a password); replay with --password REDACTED",
    )
    parser.add_argument("--vendor", default="unknown")
    parser.add_argument("--model", default="unknown")
    parser.add_argument("--driver", default="unknown")
    parser.add_argument("--firmware", default="unknown")
    parser.add_argument("--mock", default="", metavar="ARGS", help="record: the mock command line to store")
    parser.add_argument("--check", metavar="FILE", action="append", default=[], help="check a recording")
    parser.add_argument("--mock-args", default="", metavar="ARGS", help="check: mock command line")
    args = parser.parse_args(argv)
    if args.check:
        status = 0
        for path in args.check:
            try:
                problems = check_file(path, shlex.split(args.mock_args) if args.mock_args else None)
            except (RecordingError, OSError) as exc:
                sys.stderr.write(f"recording: {exc}\n")
                return 2
            if problems:
                status = 1
                for problem in problems:
                    sys.stdout.write(f"{path}: MISMATCH {problem}\n")
            else:
                sys.stdout.write(f"{path}: ok\n")
        return status
    if not (args.listen and args.target and args.out):
        parser.error("recording needs --listen, --target and --out (or use --check FILE)")
    try:
        split_hostport(args.target)
        head = header(
            vendor=args.vendor,
            model=args.model,
            driver=args.driver,
            firmware=args.firmware,
            target=args.target,
            mock=shlex.split(args.mock),
        )
        with open(args.out, "w", encoding="utf-8") as out:
            recorder = Recorder(args.listen, args.target, out, head, args.redact)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            with recorder:
                sys.stdout.write(json.dumps({"listen": recorder.address, "target": args.target}) + "\n")
                sys.stdout.flush()
                while not stop.wait(0.2):
                    if args.once and recorder.closed_connections:
                        break
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        sys.stderr.write(f"recording: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The SSH device end shared by the console mocks: the same device dialogue as on telnet, behind SSH.

``stonith-mock apcmaster --model ap8xxx --ssh`` and ``stonith-mock wti_nps --ssh`` serve their
personality over SSH (asyncssh as the server, in a thread of its own with an asyncio loop).  A real
console with SSH authenticates in SSH and then prints the banner of an already logged-in session,
so the SSH layer checks the mock's user name and password (``password`` and ``keyboard-interactive``
methods, as OpenSSH clients try them) or a key of ``--authorized-keys``, and the device then skips
its own prompts: the channel's
``login`` names the SSH user.  Everything else (outlets, ground truth, faults on the output path,
the session limit) is the device's own, from stonith.mocks._common.

Host key: a new Ed25519 key each run, or ``--host-key FILE`` (read if it exists, else generated and
written there, mode 0600), so a test can restart the "same" device or a re-keyed one.  The ready line
carries ``host_key`` (the public key) and ``known_hosts`` (the line a client's known_hosts needs).

Choices where the documents are silent (so a real unit may differ):
    - A session beyond the ``--sessions`` limit is authenticated and then closed without a byte of
      console text (a client sees its session end at once: busy).
    - Input and output pass as bytes: no line editing and no echo by the SSH layer, whatever the
      terminal the client asked for (the device decides what it echoes, as on telnet).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import tempfile
import threading
import warnings

from stonith.mocks._common import BUSY_GRACE, Channel, Faults, Hangup, MockDevice, run_session, split_listen

from stonith.contract.validation import join_hostport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

START_TIMEOUT = 10.0  # seconds for the SSH server to listen


def _asyncssh() -> Any:
    try:
        with warnings.catch_warnings():
            # asyncssh still imports cryptography's DSA support, which warns on every start.
            warnings.simplefilter("ignore")
            import asyncssh
    except ImportError:
        raise SystemExit(
            "stonith-mock: --ssh needs asyncssh: pip install 'stonith[mocks]' (Debian: python3-asyncssh)"
        ) from None
    return asyncssh


class SshChannel(Channel):
    """One SSH session as the device sees it; input arrives from the asyncio thread through a queue."""

    def __init__(
        self, faults: Faults, stop: threading.Event, loop: asyncio.AbstractEventLoop, process: Any, login: str
    ) -> None:
        super().__init__(faults, stop)
        self.login = login  # authenticated by SSH: the device shows no login prompt of its own
        self._loop = loop
        self._process = process
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._eof = False
        self._closed = threading.Event()

    def feed(self, data: bytes | None) -> None:
        """Bytes from the client, or None at its end (called from the asyncio thread)."""
        self._inbox.put(data)

    def _read(self, timeout: float) -> bytes | None:
        if self._eof:
            return None
        try:
            data = self._inbox.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return b""
        if data is None:
            self._eof = True
        return data

    def _write(self, data: bytes) -> None:
        if self._closed.is_set() or self._eof:
            raise Hangup("peer gone")
        self._loop.call_soon_threadsafe(self._output, data)

    def _output(self, data: bytes) -> None:
        with contextlib.suppress(Exception):  # the client may be gone; the read side notices
            self._process.stdout.write(data)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(RuntimeError):  # the loop already stopped: nothing left to close
            self._loop.call_soon_threadsafe(self._exit)

    def _exit(self) -> None:
        with contextlib.suppress(Exception):
            self._process.exit(0)


class SshMock:
    """A console mock served over SSH; the interface of stonith.mocks._common.RunningMock."""

    def __init__(self, device: MockDevice, *, listen: str | None, host_key: str | None = None) -> None:
        asyncssh = _asyncssh()
        self._asyncssh = asyncssh
        self.device = device
        self.stop = threading.Event()
        host, port = split_listen(listen or "127.0.0.1:0")
        key = _host_key(asyncssh, host_key)
        self._listener = socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET
        )
        self.host, self.port = self._listener.getsockname()[:2]
        self._active = 0
        self._lock = threading.Lock()
        self._connections: set[Any] = set()
        self._threads: list[threading.Thread] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"mock-ssh-{self.port}", daemon=True
        )
        self._thread.start()
        self._server: Any = None
        try:
            future = asyncio.run_coroutine_threadsafe(self._listen(key), self._loop)
            self._server = future.result(START_TIMEOUT)
        except BaseException:
            self.close()
            raise
        public = key.export_public_key().decode().split()
        address = join_hostport(self.host, self.port)
        known = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        self.info: dict[str, Any] = {
            "type": device.config.type,
            "model": device.config.model,
            "address": address,
            "ssh": True,
            "host_key": " ".join(public[:2]),
            "known_hosts": f"{known} {public[0]} {public[1]}",
        }

    def truth(self) -> dict[str, Any]:
        return self.device.outlets.snapshot()

    # -- the asyncio side -------------------------------------------------------------------------
    async def _listen(self, key: Any) -> Any:
        asyncssh = self._asyncssh
        mock = self
        config = self.device.config
        authorized = _authorized_keys(config.options.get("authorized_keys"))

        base: Any = asyncssh.SSHServer  # asyncssh is imported on demand, so typed loosely here

        class Server(base):  # type: ignore[misc]
            def connection_made(self, conn: Any) -> None:
                self._conn = conn
                mock._connections.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                mock._connections.discard(self._conn)

            def begin_auth(self, username: str) -> bool:
                return True  # authentication is required

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return (
                    username == config.username
                    and password == config.password
                    and not config.faults.refuse_login
                )

            def public_key_auth_supported(self) -> bool:
                return bool(authorized)

            def validate_public_key(self, username: str, key: Any) -> bool:
                offered = key.export_public_key().split()[:2]
                return (
                    username == config.username
                    and not config.faults.refuse_login
                    and any(offered == line.split()[:2] for line in authorized)
                )

        return await asyncssh.listen(
            sock=self._listener,
            server_host_keys=[key],
            server_factory=Server,
            process_factory=self._session,
            encoding=None,  # bytes both ways, as on telnet
            line_editor=False,  # the device, not the SSH layer, decides what is echoed
            allow_pty=True,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            login_timeout=30,
        )

    async def _slot(self) -> bool:
        """Take one of the device's sessions, waiting a moment for one that is just ending."""
        limit = self.device.config.sessions
        waited = 0.0
        while True:
            with self._lock:
                if limit <= 0 or self._active < limit:
                    self._active += 1
                    return True
            if waited >= BUSY_GRACE:
                return False
            await asyncio.sleep(0.02)
            waited += 0.02

    def _release(self) -> None:
        with self._lock:
            self._active -= 1

    async def _session(self, process: Any) -> None:
        asyncssh = self._asyncssh
        if not await self._slot():
            process.exit(1)
            return
        loop = asyncio.get_running_loop()
        login = str(process.get_extra_info("username") or "")
        channel = SshChannel(self.device.config.faults, self.stop, loop, process, login)
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        def run() -> None:
            try:
                run_session(self.device, channel)
            except Exception:  # a mock bug must end the session, never the server
                pass
            finally:
                channel.close()
                self._release()
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(finished)

        thread = threading.Thread(target=run, name="mock-ssh-session", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        while not done.done():
            reader = asyncio.ensure_future(process.stdin.read(4096))
            await asyncio.wait({reader, done}, return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():
                reader.cancel()
                break
            try:
                data = reader.result()
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue  # terminal events carry no input
            except Exception:
                data = b""
            if not data:
                channel.feed(None)  # the client left: the device notices on its next read
                await done
                break
            channel.feed(data)

    # -- stopping ---------------------------------------------------------------------------------
    def close(self) -> None:
        self.stop.set()
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        for thread in self._threads:
            thread.join(2.0)
        with contextlib.suppress(OSError):
            self._listener.close()
        if not self._loop.is_running():
            self._loop.close()
        self.device.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        await asyncio.sleep(0.05)


def _host_key(asyncssh: Any, path: str | None) -> Any:
    """The server's key: from ``path`` if it exists, else new (and written to ``path`` if given)."""
    if path and os.path.exists(path):
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key("ssh-ed25519")
    if path:
        # Written aside and linked into place: two mocks started together with one FILE (a lab) both
        # end up with whichever key was linked first, never with half a file.
        fd, temporary = tempfile.mkstemp(prefix=".host-key-", dir=os.path.dirname(os.path.abspath(path)))
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key.export_private_key())
            os.link(temporary, path)
        except FileExistsError:
            return asyncssh.read_private_key(path)
        finally:
            os.unlink(temporary)
    return key


def _authorized_keys(path: str | None) -> list[bytes]:
    """The public-key lines of an authorized_keys file (``--authorized-keys``; none: password only)."""
    if not path:
        return []
    with open(path, "rb") as handle:
        return [line for line in handle.read().splitlines() if line.strip() and not line.startswith(b"#")]


def add_arguments(group: Any) -> None:
    """``--ssh`` and ``--host-key`` for a console mock's argument group."""
    group.add_argument("--ssh", action="store_true", help="serve the console over SSH instead of telnet")
    group.add_argument(
        "--host-key",
        metavar="FILE",
        help="SSH host key (read if FILE exists, else generated and written there; default: new each run)",
    )
    group.add_argument(
        "--authorized-keys",
        metavar="FILE",
        help="public keys (authorized_keys format) that log in as --username without the password",
    )


def run(device: MockDevice, *, listen: str | None, serial_link: str | None) -> Any:
    """The console of ``device`` over SSH when ``--ssh`` was given, else the shared telnet/pty servers."""
    from stonith.mocks._common import RunningMock

    options = device.config.options
    if not options.get("ssh"):
        return RunningMock(device, listen=listen, serial_link=serial_link)
    if serial_link:
        device.close()
        raise ValueError("--ssh serves TCP only (no --serial-link)")
    try:
        return SshMock(device, listen=listen, host_key=options.get("host_key"))
    except BaseException:
        device.close()
        raise

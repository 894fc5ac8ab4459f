"""SSH client transport: the system's OpenSSH client on a pty (driven by pexpect), with the expect API.

URL format / options
    ``host``, ``host:port``, ``[v6addr]:port`` or a bare IPv6 address; the default port is 22.
    Options (keyword arguments of ``connect``): ``login`` (the SSH user, required), ``password``
    (bytes, typed at ssh's own password prompt) or ``identity_file`` (a private key without passphrase;
    ssh then runs in batch mode and never prompts), ``known_hosts`` (the file holding the device's
    host key, required), ``accept_new`` (record the key of a host the file does not know yet; off
    by default), ``default_port`` (22), ``text_only`` (see stonith.transport.stream).

Console devices with SSH (APC AOS 5+, WTI) authenticate at the SSH layer and then print the same
text as on telnet, so a driver sees one ``Stream`` whatever the transport.  We run the system's
``ssh`` (as fence-agents does) rather than an SSH library: host-key handling, ciphers and key formats
are then the operating system's, updated with it.

Safety rules, each a reason for one of the options below:

- the password never appears on ssh's argv (``ps``) or in its environment (no sshpass, no
  SSH_ASKPASS): it is typed at the prompt ssh prints on its tty, at most once per connection;
- host keys are checked against the configured known_hosts file only (``StrictHostKeyChecking=yes``,
  the global file and the user's ``~/.ssh/config`` ignored); ``accept_new`` records an unknown key but
  never a changed one.  A changed or unknown key fails with ``HostKeyRejected`` (exit 2, S_ACCESS:
  the device could not prove who it is, which is an access failure like a refused password, and is
  never retried);
- no agent, X11 or port forwarding, no escape character (device text must not end the session),
  no connection sharing; batch mode only with an identity file (it would refuse the password);
- every wait is bounded by the caller's ``Deadline``: ssh's ConnectTimeout is set from it, and the
  pexpect object is given a zero default timeout and no send delay, so a call we did not bound
  returns at once instead of waiting pexpect's default 30 s;
- ssh runs with a built environment (stonith.contract.local_trust.child_env), never ours.

How we know ssh is through (host key accepted, authenticated): ssh runs a ``LocalCommand`` after it
has connected and authenticated, before any byte of the session; it prints a marker with a random
part.  Everything ssh says before the marker is ssh's own (errors, prompts), everything after it is
the device's.  ``received`` counts the device's bytes only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import select
import time

from stonith.contract.errors import AuthFailed, DeviceBusy, DeviceError, HostKeyRejected, Timeout, Unreachable
from stonith.contract.validation import split_hostport
from stonith.transport.stream import Closed, Stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.contract.deadline import Deadline

DEFAULT_PORT = 22
SSH = "/usr/bin/ssh"
# ssh asks ``user@host's password:`` (password method) or ``(user@host) Password:`` (keyboard-
# interactive, which a device may offer first); either is answered, once.
PASSWORD_PROMPT = re.compile(rb"[Pp]assword: ?")
ALIVE_INTERVAL = 5  # seconds between ssh's keep-alives: a dead device is noticed even between commands
ALIVE_COUNT = 2
MAX_SSH_TEXT = 4096  # ssh's own messages before the session are short; more is not ssh talking
_FINGERPRINT = re.compile(rb"SHA256:[A-Za-z0-9+/]{43}")


def ssh_arguments(
    host: str,
    port: int,
    *,
    login: str,
    known_hosts: str,
    marker: str,
    connect_timeout: int,
    identity_file: str | None = None,
    accept_new: bool = False,
) -> list[str]:
    """ssh's argv (without the program): fixed options, nothing secret (tested against ``ps``)."""
    options = {
        # Only what we say here counts: not ~/.ssh/config, not /etc/ssh/ssh_config (-F), not the
        # global known_hosts.
        "StrictHostKeyChecking": "accept-new" if accept_new else "yes",
        "UserKnownHostsFile": known_hosts,
        "GlobalKnownHostsFile": "/dev/null",
        "UpdateHostKeys": "no",  # the known_hosts file changes only by an operator (or accept_new)
        "CheckHostIP": "no",
        "ConnectTimeout": str(max(1, connect_timeout)),
        "ServerAliveInterval": str(ALIVE_INTERVAL),
        "ServerAliveCountMax": str(ALIVE_COUNT),
        "ForwardAgent": "no",
        "ForwardX11": "no",
        "ClearAllForwardings": "yes",
        "IdentityAgent": "none",
        "ControlMaster": "no",
        "ControlPath": "none",
        "EscapeChar": "none",
        "RequestTTY": "yes",  # consoles expect a terminal (fence_apc gets one too)
        # ssh's errors (a changed host key, a refused login) only: its notes ("Connection to X
        # closed.") would otherwise be taken for the device's text.
        "LogLevel": "ERROR",
        "NumberOfPasswordPrompts": "1",
        "PermitLocalCommand": "yes",
        "LocalCommand": f"echo {marker}",
    }
    if identity_file:
        options.update(
            BatchMode="yes",
            IdentitiesOnly="yes",
            IdentityFile=identity_file,
            PasswordAuthentication="no",
            KbdInteractiveAuthentication="no",
        )
    else:
        # A key of the user running stonith must not log us in as someone else by accident.
        options.update(PubkeyAuthentication="no", IdentitiesOnly="yes")
    argv = ["-F", "/dev/null", "-p", str(port), "-l", login]
    for key, value in options.items():
        argv += ["-o", f"{key}={value}"]
    # "--" ends the options: a host name starting with "-" is a name, not an option.
    return [*argv, "--", host]


class SshStream(Stream):
    """An ssh session to a device's console; create it with ``connect``."""

    def __init__(self, child: Any, what: str, *, text_only: bool = True) -> None:
        super().__init__(what, text_only=text_only)
        self._child = child
        self._fd: int = child.child_fd

    @property
    def pid(self) -> int:
        return int(self._child.pid)

    def _recv(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self._fd], [], [], max(timeout, 0.0))
            if not ready:
                return b""
            data = os.read(self._fd, 4096)
        except OSError as exc:
            if exc.errno == errno.EIO:  # Linux: the pty's other side closed (ssh exited)
                raise Closed(f"{self.what}: connection closed ({self._exit_text()})") from None
            raise Closed(f"{self.what}: ssh pty error ({exc.strerror or exc})") from None
        if not data:
            raise Closed(f"{self.what}: connection closed ({self._exit_text()})")
        return data

    def _send(self, data: bytes, timeout: float) -> None:
        view = memoryview(data)
        until = time.monotonic() + max(timeout, 0.001)
        while view:
            left = until - time.monotonic()
            try:
                _, ready, _ = select.select([], [self._fd], [], max(left, 0.0))
                if not ready:
                    raise Timeout(f"{self.what}: ssh did not take our input within {timeout:g} s")
                view = view[os.write(self._fd, view) :]
            except OSError as exc:
                raise Closed(f"{self.what}: connection lost while sending ({exc.strerror or exc})") from None

    def _exit_text(self) -> str:
        child = self._child
        with contextlib.suppress(Exception):
            if not child.isalive():
                if child.exitstatus is not None:
                    return f"ssh exited with status {child.exitstatus}"
                return f"ssh killed by signal {child.signalstatus}"
        return "ssh closed its terminal"

    def _close(self) -> None:
        child = self._child
        # pexpect waits 0.1 s after closing and between signals by default: a logout should not.
        child.delayafterclose = 0.02
        child.delayafterterminate = 0.05
        with contextlib.suppress(Exception):
            child.close(force=True)


def connect(
    address: str,
    deadline: Deadline,
    *,
    login: str,
    known_hosts: str,
    password: bytes | None = None,
    identity_file: str | None = None,
    accept_new: bool = False,
    default_port: int = DEFAULT_PORT,
    text_only: bool = True,
    ssh: str = SSH,
) -> SshStream:
    """Log in to ``address`` with ssh; the stream starts at the device's first byte."""
    try:
        import pexpect
    except ImportError:
        from stonith.contract.errors import MissingExtra, missing_extra_message

        raise MissingExtra(missing_extra_message("an SSH console", "ssh", ["pexpect"])) from None
    try:
        host, port = split_hostport(address, default_port)
    except ValueError:
        raise Unreachable(f"bad address {address!r}") from None
    what = f"{host}:{port} (ssh)"
    if not login:
        from stonith.contract.errors import BadConfig, FieldProblem

        raise BadConfig([FieldProblem("login", "is required with ssh (the SSH user name)")])
    _check_known_hosts(known_hosts, accept_new)
    if deadline.expired():
        raise Timeout(f"deadline of {deadline.what} passed before connecting to {what}")
    marker = f"stonith-ssh-ready-{secrets.token_hex(8)}"
    ready = re.compile(re.escape(marker.encode()) + rb"\r?\n")  # the marker's line, its end included
    argv = ssh_arguments(
        host,
        port,
        login=login,
        known_hosts=known_hosts,
        marker=marker,
        connect_timeout=int(deadline.remaining() + 0.999),
        identity_file=identity_file,
        accept_new=accept_new,
    )
    from stonith.contract.local_trust import child_env

    try:
        child = pexpect.spawn(
            ssh,
            argv,
            env=child_env(),
            echo=False,
            timeout=0,  # see the module text: nothing may wait pexpect's default
            encoding=None,
            dimensions=(24, 132),  # wider than any outlet table, so the device never wraps a row
        )
    except (pexpect.ExceptionPexpect, OSError) as exc:
        raise Unreachable(f"cannot run {ssh} (Debian package openssh-client): {exc}") from None
    child.delaybeforesend = None  # pexpect sleeps 50 ms before every send by default
    stream = SshStream(child, what, text_only=text_only)
    try:
        _log_in(stream, deadline, ready, password, known_hosts)
    except BaseException:
        stream.close()
        raise
    stream.received = 0  # from here on, the device's bytes
    return stream


def _check_known_hosts(path: str, accept_new: bool) -> None:
    """The host-key file is a trust anchor: it must exist (unless keys may be recorded) and be ours."""
    from stonith.contract.errors import BadConfig
    from stonith.contract.local_trust import stat_problem

    if not path or not path.startswith("/"):
        raise BadConfig(f"ssh_known_hosts must be an absolute path (got {path!r})")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if accept_new:
            return  # ssh creates it with the first key
        raise HostKeyRejected(
            f"{path} does not exist: put the device's host key there (ssh-keyscan, checked against "
            "the device's own display), or set ssh_accept_new = true for the first contact"
        ) from None
    except OSError as exc:
        raise BadConfig(f"ssh_known_hosts {path}: {exc.strerror or exc}") from None
    problem = stat_problem(path, st)
    if problem is not None:
        from stonith.contract.local_trust import UnsafePath

        raise UnsafePath(f"ssh_known_hosts: {problem}")


def _log_in(
    stream: SshStream, deadline: Deadline, marker: re.Pattern[bytes], password: bytes | None, hosts: str
) -> None:
    """Answer ssh's password prompt once; return when ssh is through, or raise what went wrong."""
    typed = False
    while True:
        try:
            got = stream.expect((marker, PASSWORD_PROMPT), deadline, doing="the SSH login")
        except Closed:
            raise _failure(stream.pending(), stream.what, hosts, typed) from None
        except Timeout as exc:
            seen = stream.pending()
            if seen.strip():
                raise Timeout(f"{exc} (ssh said: {_last_line(seen)!r})") from None
            raise
        if got.index == 0:
            return
        if len(got.before) > MAX_SSH_TEXT:
            raise DeviceError(f"{stream.what}: unexpected output before the SSH login")
        if password is None:
            raise AuthFailed(f"{stream.what}: the device asks for a password and none is configured")
        if typed:
            raise AuthFailed(f"{stream.what}: the device refused the login name or password")
        stream.write(password + b"\n", deadline)  # ssh reads the password up to the end of the line
        typed = True


def _failure(text: bytes, what: str, hosts: str, typed: bool) -> Exception:
    """The error ssh's last words describe (it exited before the session began)."""
    line = _last_line(text)
    found = _FINGERPRINT.search(text)
    fingerprint = f" (it offers {found.group(0).decode()})" if found else ""
    if b"REMOTE HOST IDENTIFICATION HAS CHANGED" in text or b"has changed and you have requested" in text:
        return HostKeyRejected(
            f"{what}: the device's SSH host key has CHANGED{fingerprint} and differs from the one in "
            f"{hosts}; refusing to log in (someone may be impersonating the device). If the device was "
            f"really replaced or re-keyed, check the new key and replace its line in {hosts}"
        )
    if b"host key is known" in text or b"Host key verification failed" in text:
        return HostKeyRejected(
            f"{what}: no host key of the device is in {hosts}{fingerprint}; add it (ssh-keyscan, checked "
            "against the device's own display), or set ssh_accept_new = true for the first contact"
        )
    if b"Permission denied" in text or b"Too many authentication failures" in text:
        how = "password" if typed else "key"
        return AuthFailed(f"{what}: the device refused the login name or {how} ({line})")
    if b"Connection timed out" in text or b"timed out during banner exchange" in text:
        return Timeout(f"{what}: no SSH connection within the deadline ({line})")
    if b"kex_exchange_identification" in text or b"Connection closed by" in text:
        return DeviceBusy(
            f"{what} closed the connection before logging in (is another session open?) ({line})"
        )
    if text.strip():
        return Unreachable(f"{what}: ssh failed: {line}")
    return Unreachable(f"{what}: ssh ended without a word")


def _last_line(text: bytes) -> str:
    lines = [x.strip() for x in text.decode("latin-1", "replace").replace("\r", "\n").split("\n")]
    lines = [x for x in lines if x]
    return lines[-1][:200] if lines else ""

"""What a fencing process trusts on its own host: files, directories and child environments.

Fencing runs as root and its verdict decides whether a cluster takes over a node's data, so a file
that another local user can write is as good as that user's word.  The rules are sshd's StrictModes:

- a file or directory we read configuration or secrets from, write locks or audit records to, or
  install programs into is owned by root or by the user running stonith, and is not writable by group
  or others (a secret file is not readable by them either);
- a file is opened with ``O_NOFOLLOW`` (a symbolic link is refused, never followed) and checked with
  ``fstat`` on the descriptor that is then read: checking a name and opening it afterwards would let
  someone swap the file in between;
- a child process (external plugin, secret command, mock) gets a fixed environment: a PATH of system
  directories only and exactly the variables meant for it, never our own environment, which may hold
  another device's ``{ env = ... }`` secret.
"""

from __future__ import annotations

import errno
import os
import stat

from stonith.contract.errors import ExitCode, StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# System directories only: no empty element and no "." (both mean the working directory), and no
# /usr/local, which older Debian systems leave writable by group staff.
SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
CHILD_LANG = "C.UTF-8"
MAX_SECRET_BYTES = 64 * 1024  # a password file larger than this is not a password file


class UnsafePath(StonithError):
    """A file or directory that someone other than root or the caller could have written."""

    exit_code = ExitCode.S_BADCONFIG


def trusted_owner(uid: int) -> bool:
    """Root, or the user running stonith (who could change the file anyway)."""
    return uid in (0, os.geteuid())


def stat_problem(path: str, st: os.stat_result, *, private: bool = False) -> str | None:
    """Why ``st`` (of ``path``) may not be trusted, or None.  ``private``: not readable by others."""
    if not trusted_owner(st.st_uid):
        return (
            f"{path} is owned by uid {st.st_uid}: it must be owned by root or by the user running "
            f"stonith (uid {os.geteuid()})"
        )
    if st.st_mode & 0o022:
        return f"{path} is writable by group or others: chmod go-w {path}"
    if private and st.st_mode & 0o044:
        return f"{path} is readable by group or others; chmod 600 it"
    return None


def open_directory(path: str) -> int:
    """A descriptor of the directory ``path`` after checking its owner and mode (UnsafePath, OSError).

    The directory may be reached through a symbolic link: what is checked is the directory the
    descriptor refers to, and files are then opened relative to that descriptor, not by name.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        problem = stat_problem(path, os.fstat(fd))
        if problem is not None:
            raise UnsafePath(problem)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(
    path: str,
    *,
    dir_fd: int | None = None,
    private: bool = False,
    flags: int = os.O_RDONLY,
    mode: int = 0o600,
    shown: str | None = None,
    root_devices: bool = False,
) -> int:
    """Open ``path`` (relative to ``dir_fd`` if given) without following a symbolic link, then check it.

    The file must be a regular file with a trusted owner, not writable by group or others (and not
    readable by them if ``private``).  Raises UnsafePath for any of these, OSError when it cannot be
    opened.  ``O_NONBLOCK``: a FIFO planted under the name cannot hang the open.  ``shown``: the
    name in messages (the full path when ``path`` is relative to ``dir_fd``).  ``root_devices``: a
    character device owned by root (/dev/null, /dev/full) is accepted too, whatever its mode.
    """
    shown = shown or path
    try:
        fd = os.open(
            path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY, mode, dir_fd=dir_fd
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP and _is_link(path, dir_fd):
            raise UnsafePath(f"{shown} is a symbolic link: name the file it points to") from None
        raise
    try:
        st = os.fstat(fd)
        if root_devices and stat.S_ISCHR(st.st_mode) and st.st_uid == 0:
            os.set_blocking(fd, True)
            return fd
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{shown} is not a regular file")
        problem = stat_problem(shown, st, private=private)
        if problem is not None:
            raise UnsafePath(problem)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def written_by_us(path: str, marker: str) -> bool:
    """Whether ``path`` is a regular file (not a link) that begins with ``marker``: a file one of our
    installers wrote and may replace or remove; anything else is the administrator's."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = os.read(fd, len(marker.encode("utf-8")) + 16).decode("utf-8", "replace")
        return stat.S_ISREG(os.fstat(fd).st_mode) and head.startswith(marker)
    finally:
        os.close(fd)


def _is_link(path: str, dir_fd: int | None) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def read_secret_file(path: str) -> str:
    """The first bytes of a private secret file, checked as open_file says, and its directory too.

    The directory matters as much as the file: whoever can write it can replace the file by a link
    or by a file of their own between two fences.
    """
    directory, name = os.path.split(path)
    dir_fd = open_directory(directory or "/")
    try:
        fd = open_file(name, dir_fd=dir_fd, private=True, shown=path)
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise UnsafePath(f"{path} is larger than {MAX_SECRET_BYTES} bytes: not a secret file")
    return data.decode("utf-8").rstrip("\r\n")


def check_program(path: str) -> None:
    """A program we run as root: absolute, owned by root or the caller, not writable by others.

    Its directory is checked too (whoever can write it can replace the program).  The program may be
    a symbolic link (``/usr/bin/pass`` often is): its target and the target's directory are checked.
    """
    if not os.path.isabs(path):
        raise UnsafePath(f"{path!r} is not an absolute path: a program is never looked up in PATH")
    real = os.path.realpath(path)
    for candidate in dict.fromkeys((os.path.dirname(path), os.path.dirname(real), real)):
        problem = stat_problem(candidate, os.stat(candidate))
        if problem is not None:
            raise UnsafePath(problem)
    if not stat.S_ISREG(os.stat(real).st_mode):
        raise UnsafePath(f"{path} is not a regular file")


def private_directory(path: str, *, create_parents: bool = False) -> str:
    """Make sure ``path`` is a directory only root or the caller can write (creating it 0700).

    Checked with ``lstat``: a symbolic link is refused, so a directory another user prepared under
    a predictable name (in /tmp) is never used.  Raises UnsafePath or OSError.
    """
    try:
        if create_parents:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{path} is a symbolic link, not a directory")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path} is not a directory")
    problem = stat_problem(path, st)
    if problem is not None:
        raise UnsafePath(problem)
    return path


def child_env(variables: Mapping[str, str] | None = None, *, path: str = SAFE_PATH) -> dict[str, str]:
    """The whole environment of a child process: a safe PATH, LANG, HOME and ``variables``.

    HOME comes from the password database (secret stores such as ``pass`` look there), never from
    our own environment.  ``path`` replaces SAFE_PATH (it must hold absolute directories only).  The
    fixed variables win over ``variables`` of the same name.
    """
    if any(not part.startswith("/") for part in path.split(os.pathsep)):
        raise ValueError(f"PATH {path!r} holds an empty or relative element")
    env = dict(variables or {})
    env.update(PATH=path, LANG=CHILD_LANG, HOME=_home())
    return env


def _home() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_dir or "/"
    except KeyError:
        return "/"

"""``stonith init`` lays out /etc/stonith; ``stonith install-units`` installs the systemd units.

The layout ``stonith init [--root DIR]`` creates (README "Running it as a service")::

    /etc/stonith/                          0755  server.toml, users.json, tokens.json live here
    /etc/stonith/devices.d/                0700  one *.toml per device (stonith.devices.d(5))
    /etc/stonith/devices.d/example.toml.example  0600  a commented device file (not loaded: *.toml only)
    /etc/stonith/server.toml.example       0600  the configuration of ``stonith serve``

Idempotent and never destructive: what exists is kept as it is (a devices.d that group or others
may use is reported, not changed: stonith refuses it until the administrator fixes it), nothing is
overwritten, and no symbolic link is followed (a planted link must not make root write elsewhere).

Units (package data in stonith/systemd and stonith/server): ``stonith.service`` (``stonith serve``),
``stonith-check.service`` + ``stonith-check.timer`` (``stonith check --log`` every hour: each
device's result to the journal, failing ones at priority err) and the tmpfiles.d entry for
/run/stonith (mode 0700, root).  ``install-units`` writes them with ExecStart pointing at this
installation's ``stonith`` (a venv under /opt is not /usr/bin), marked as ours: a unit file without
the marker (the administrator's own) is never overwritten, ``--remove`` deletes only marked files.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile

from stonith.contract.errors import BadConfig

UNIT_MARKER = "# installed by `stonith install-units`; `stonith install-units --remove` deletes it"
# file name -> path of the shipped file inside the stonith package
UNITS = {
    "stonith.service": ("server", "stonith.service"),
    "stonith-check.service": ("systemd", "stonith-check.service"),
    "stonith-check.timer": ("systemd", "stonith-check.timer"),
}
TMPFILES = ("systemd", "stonith.conf")
SHIPPED_STONITH = "/usr/bin/stonith"


def _package_file(parts: tuple[str, str]) -> str:
    import stonith

    return os.path.join(os.path.dirname(os.path.abspath(stonith.__file__)), *parts)


def shipped(name: str) -> str:
    """The text of a shipped unit (or ``stonith.conf``, the tmpfiles.d entry)."""
    parts = TMPFILES if name == TMPFILES[1] else UNITS[name]
    with open(_package_file(parts), encoding="utf-8") as handle:
        return handle.read()


# ---------------------------------------------------------------------------------------------
# stonith init


def example_device() -> str:
    """The device file example of stonith.fencing.inventory's docstring, as a file of its own."""
    from stonith.cli.manpages import literal_block
    from stonith.fencing import inventory

    return (
        "# An example device file (stonith.devices.d(5)).  Files named *.toml in this directory are\n"
        "# devices; this one is not loaded until copied to a name ending in .toml, e.g.\n"
        "#   cp example.toml.example pdu-a.toml && chmod 600 pdu-a.toml\n"
        "# Parameters of a type: stonith help TYPE.  Check everything: stonith check.\n\n"
        + literal_block(inventory.__doc__ or "")
        + "\n"
    )


def example_server() -> str:
    """The configuration example of ``stonith serve`` (stonith.server.serve's docstring)."""
    from stonith.cli.manpages import literal_block
    from stonith.server import serve

    return (
        "# stonith serve's configuration (stonith serve --config FILE; default /etc/stonith/server.toml).\n"
        "# Copy to server.toml and adapt; users and tokens: stonith user add, stonith token create.\n\n"
        + literal_block(serve.__doc__ or "")
        + "\n"
    )


def _directory(path: str, mode: int, done: list[str]) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, mode)
        os.chmod(path, mode)  # mkdir's mode passes through the umask
        done.append(f"created {path}/ (mode {mode:04o})")
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise BadConfig(f"{path} exists and is not a directory (a symbolic link is not followed)")
    have = stat.S_IMODE(st.st_mode)
    note = ""
    if have & 0o077 and not mode & 0o077:
        note = f"; WARNING: mode {have:04o}: stonith refuses it until: chmod {mode:04o} {path}"
    done.append(f"kept {path}/ (exists){note}")


def _file(path: str, text: str, done: list[str]) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        done.append(f"kept {path} (exists)")
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        os.fchmod(handle.fileno(), 0o600)
    done.append(f"created {path} (mode 0600)")


def init(root: str = "/") -> list[str]:
    """Create the /etc/stonith layout under ``root``; one line per path saying what happened."""
    etc = os.path.join(root, "etc")
    if not os.path.isdir(etc):
        if root == "/":
            raise BadConfig("/etc does not exist")
        os.makedirs(etc, 0o755, exist_ok=True)
    base = os.path.join(etc, "stonith")
    devices = os.path.join(base, "devices.d")
    done: list[str] = []
    try:
        _directory(base, 0o755, done)
        _directory(devices, 0o700, done)
        _file(os.path.join(devices, "example.toml.example"), example_device(), done)
        _file(os.path.join(base, "server.toml.example"), example_server(), done)
    except PermissionError as exc:
        raise BadConfig(
            f"cannot create {exc.filename}: {exc.strerror} (run as root, or --root DIR)"
        ) from None
    return done


# ---------------------------------------------------------------------------------------------
# stonith install-units


def this_stonith() -> str:
    """The ``stonith`` script of this installation (beside the interpreter), else the shipped path."""
    candidate = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "stonith")
    return candidate if os.access(candidate, os.X_OK) else SHIPPED_STONITH


def unit_text(name: str, program: str) -> str:
    text = shipped(name)
    if program != SHIPPED_STONITH:
        text = text.replace(f"ExecStart={SHIPPED_STONITH} ", f"ExecStart={program} ")
    return UNIT_MARKER + "\n" + text


def _ours(path: str) -> bool:
    from stonith.contract.local_trust import written_by_us

    return written_by_us(path, UNIT_MARKER)


def _write(directory: str, name: str, text: str) -> None:
    """A fresh file in ``directory`` renamed over ``name``: never writes through a planted link."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            os.fchmod(handle.fileno(), 0o644)
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def install_units(unit_dir: str, tmpfiles_dir: str, program: str | None = None) -> list[str]:
    """Write the units and the tmpfiles.d entry; the paths written.  Refuses (before writing
    anything) to replace files that are not ours."""
    program = program or this_stonith()
    targets = [(unit_dir, name, unit_text(name, program)) for name in UNITS]
    targets.append((tmpfiles_dir, TMPFILES[1], UNIT_MARKER + "\n" + shipped(TMPFILES[1])))
    for directory, _name, _text in targets:
        if not os.path.isdir(directory):
            raise BadConfig(f"cannot use {directory}: not a directory")
    foreign = [
        os.path.join(d, n)
        for d, n, _ in targets
        if os.path.lexists(os.path.join(d, n)) and not _ours(os.path.join(d, n))
    ]
    if foreign:
        raise BadConfig("refusing to overwrite files stonith did not install: " + ", ".join(foreign))
    written = []
    for directory, name, text in targets:
        _write(directory, name, text)
        written.append(os.path.join(directory, name))
    return written


def remove_units(unit_dir: str, tmpfiles_dir: str) -> list[str]:
    removed = []
    for directory, name in [(unit_dir, n) for n in UNITS] + [(tmpfiles_dir, TMPFILES[1])]:
        path = os.path.join(directory, name)
        if _ours(path):
            os.unlink(path)
            removed.append(path)
    return removed

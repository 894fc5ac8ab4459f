"""Malformed input corpus (issue 20 item 5): every case is a clear error with its documented code.

The issue's attack ended 78 of 611 malformed inputs in "internal error" (exit 8): a non-UTF-8 byte
in a devices.d file (even in a comment) or in a secret command's output, deeply nested TOML,
``n[0-99999999999999999999]``, ``install-agents --dir`` on a missing path or a file.  Each case here
runs the command in-process (the CLI's last line of defence is what turns a stray exception into
"internal error") and is judged by the exit code the README's table gives for that situation.
Besides the named cases, seeded mutations of a valid device file (bytes flipped, cut, repeated)
must each load or be rejected as a devices.d problem (exit 1).
"""

from __future__ import annotations

import contextlib
import io
import random
import stat
import sys
from pathlib import Path

import pytest

from stonith.cli import main as cli
from stonith.contract.errors import ExitCode
from tests.conftest import require_root

NULL = b'type = "null"\n[parameters]\nhostlist = ["n1", "n2"]\n'
SEED = 20  # the number: a fixed corpus, the same in every run


def run(*argv: str) -> tuple[int, str]:
    """Exit code and everything printed, with the CLI's own exception guard in place."""
    out = io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.main(list(argv))
    finally:
        sys.stdin = saved
    return code, out.getvalue()


def devices_dir(tmp_path: Path, content: bytes) -> Path:
    directory = tmp_path / "devices.d"
    directory.mkdir(mode=0o700)
    path = directory / "a.toml"
    path.write_bytes(content)
    path.chmod(0o600)
    return directory


def judged(code: int, output: str, expected: int) -> None:
    assert "internal error" not in output, output
    assert "Traceback" not in output, output
    assert code == expected, (code, output)


DEVICE_FILES = {
    "non-UTF-8 in a comment": b"# caf\xe9\n" + NULL,
    "non-UTF-8 in a value": b'type = "nu\xffll"\n',
    "non-UTF-8 in a key": b"\xc3(=1\n" + NULL,
    "truncated UTF-8 at the end": NULL + b"# \xe2\x82",
    "UTF-16 with a BOM": "type = 'null'\n".encode("utf-16"),
    "NUL byte": NULL + b"\x00\n",
    "nested arrays": b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n" + NULL,
    "nested inline tables": b"x = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n" + NULL,
    "nested unterminated": b"x = " + b"[" * 20000,
    "huge integer": b"level = 99999999999999999999999999999\n" + NULL,
    "huge float": b"timeout = 1e999\n" + NULL,
    "nan timeout": b"timeout = nan\n" + NULL,
    "level a string": b'level = "1"\n' + NULL,
    "hosts an array": NULL + b"hosts = [1, 2]\n",
    "secrets an array": NULL + b"secrets = [1]\n",
    "parameters a string": b'type = "null"\nparameters = "x"\n',
    "type an array": b"type = [1]\n",
    "empty file": b"",
    "only a BOM": b"\xef\xbb\xbf",
    "binary garbage": bytes(range(256)),
}


@pytest.mark.parametrize("content", DEVICE_FILES.values(), ids=list(DEVICE_FILES))
@pytest.mark.parametrize("verb", ["check", "status", "devices"])
def test_malformed_device_file(tmp_path: Path, content: bytes, verb: str) -> None:
    directory = devices_dir(tmp_path, content)
    code, output = run(verb, "--devices", str(directory))
    judged(code, output, ExitCode.S_BADCONFIG)
    assert "a.toml" in output


def test_mutated_device_files(tmp_path: Path) -> None:
    """Seeded byte mutations of a valid file: loaded (exit 0) or a devices.d problem (exit 1)."""
    rng = random.Random(SEED)
    good = NULL + b'[hosts]\nn1 = "n1"\n# comment\n'
    for index in range(150):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(data))
            kind = rng.randrange(4)
            if kind == 0:
                data[where] = rng.randrange(256)
            elif kind == 1:
                del data[where:]
                if not data:
                    break
            elif kind == 2:
                data[where:where] = data[where : where + rng.randint(1, 30)] * rng.randint(1, 200)
            else:
                data[where:where] = rng.choice([b"\xff", b"\xc3", b"[", b"{", b'"', b"\\u", b"\x00"])
        directory = tmp_path / f"m{index}"
        directory.mkdir(mode=0o700)
        (directory / "a.toml").write_bytes(bytes(data))
        (directory / "a.toml").chmod(0o600)
        code, output = run("devices", "--devices", str(directory))
        assert "internal error" not in output and "Traceback" not in output, (bytes(data), output)
        assert code in (ExitCode.S_OK, ExitCode.S_BADCONFIG), (bytes(data), code, output)


def test_secret_command_printing_non_utf8(tmp_path: Path) -> None:
    program = tmp_path / "secret.sh"
    program.write_text("#!/bin/sh\nprintf 'pass\\377word'\n")
    program.chmod(0o700)
    directory = devices_dir(
        tmp_path, NULL + f'[secrets]\nhostlist = {{ command = ["{program}"] }}\n'.encode()
    )
    code, output = run("status", "--devices", str(directory))
    judged(code, output, ExitCode.S_BADCONFIG)
    assert "not UTF-8" in output and "pass" not in output


NODE_SETS = [
    "n[0-99999999999999999999]",
    "n[0-9999999]",
    "n[1-1000]x[1-1000]",
    "n[0-" + "9" * 5000 + "]",
    "n[1-2/" + "9" * 5000 + "]",
    "n[²-3]",
    "n[3-1]",
    "n[1-2",
    "n1-2]",
    "n[]",
    "n[a-b]",
    "n[1-2/0]",
    "[" * 3000 + "]" * 3000,
    "n[1-3]" * 2000,
    "@nosuchgroup",
    "n[1-2]!",
]


@pytest.mark.parametrize("nodes", NODE_SETS, ids=[n[:30] for n in NODE_SETS])
def test_malformed_node_set(nodes: str) -> None:
    # Parsed before any device file is read: a node set is a usage error whatever devices.d holds.
    code, output = run("status", "--devices", "/nonexistent-devices-d", nodes)
    assert "internal error" not in output and "Traceback" not in output, output
    assert code == ExitCode.S_BADCONFIG, (code, output)


@pytest.mark.parametrize("kind", ["missing", "file", "dangling symlink"])
def test_install_agents_bad_dir(tmp_path: Path, kind: str) -> None:
    require_root("install-agents refuses a non-root install before it looks at --dir")
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("x")
    elif kind == "dangling symlink":
        target.symlink_to(tmp_path / "nowhere")
    for argv in (
        ["install-agents", "--dir", str(target)],
        ["install-agents", "--dir", str(target), "--remove"],
    ):
        code, output = run(*argv)
        judged(code, output, ExitCode.S_BADCONFIG)
        assert str(target) in output
    assert kind != "missing" or not target.exists()
    assert kind != "file" or stat.S_ISREG(target.stat().st_mode)

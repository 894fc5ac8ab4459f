"""``stonith new-driver NAME --kit console|snmp|bmc|http [--repo DIR]``: a new driver type, scaffolded.

Inside a source checkout of stonith (the current directory, or ``--repo DIR``: a ``pyproject.toml``
naming the project ``stonith``, beside ``drivers/`` and ``mocks/``) it writes, from the kit's
templates (stonith.cli.new_driver_templates):

- ``drivers/NAME.py``: the driver in the house shape (docstring, device data, ``INFO``, one class);
- ``mocks/NAME.py``: its mock personality (the mock of ``drivers/X.py`` is ``mocks/X.py``);
- ``tests/drivers/test_NAME.py``: status, off, on and reset through the driver against the mock,
  judged by the mock's ground truth;
- ``tests/metadata/NAME.glue.xml`` and ``NAME.fence.xml``, empty: the golden test fills an empty
  golden file on its first run (tests/metadata/test_golden.py);
- ``hwtests/every-mock.d/NAME.toml``: the conformance row of the new mock, which also says how
  the fault campaign (hwtests.mocktypes.row_kind) and the stream fuzzer
  (hwtests.fuzzing.stream_case) talk to it;

and adds two lines, each where its neighbours are: the entry point (``pyproject.toml``, the one list
of drivers) and the README's drivers table row; tests/test_manifest.py holds them to agree.  It never
overwrites a file: everything is checked before the first byte is written.

Exit status: 0 written; 1 NAME is no lowercase Python identifier, or a type, module or file of
that name exists already; 3 the directory is no source checkout of stonith (or lacks a file the
scaffolder edits).
"""

from __future__ import annotations

import keyword
import os
import re

from stonith.contract.errors import USAGE, ExitCode, StonithError

KITS = ("console", "snmp", "bmc", "http")
BAD_NAME = USAGE  # 1: NAME unusable (not an identifier, or taken)
NOT_A_CHECKOUT = ExitCode.S_INVAL  # 3
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME = 40

# Per kit: the listing line (INFO.summary), the README row's device and transport.
SUMMARY_TEXT = {
    "console": "{title} power switch over telnet or SSH",
    "snmp": "{title} switched PDU over SNMP",
    "bmc": "{title} BMC chassis power over IPMI",
    "http": "{title} PDU outlets over Redfish (HTTPS)",
}
README_TRANSPORT = {"console": "telnet, SSH", "snmp": "SNMP v1/v2c/v3", "bmc": "UDP/RMCP+", "http": "HTTPS"}
ROW_HEAD = "# {title} ({what}): the conformance row `stonith new-driver` wrote.\n"
# A PDU-like row (console, snmp): the secret and the mock's kind differ.
_PDU_ROW = """type = "{{name}}"
settle = 0.5
timeout = 20
description = "{{title}} ({what} mock)"

[parameters]
ipaddr = "127.0.0.1:{{port}}"

[secrets]
{secret} = {{{{ env = "STONITH_LAB_PASSWORD" }}}}

[hosts]
{{node}} = "1"

[mock]
args = ["--listen", "127.0.0.1:{{port}}", "--outlets", "8", "--relay-delay", "0.2", "--names", "{{node}}"]
"""
ROWS = {
    "console": _PDU_ROW.format(what="telnet", secret="password"),
    "snmp": _PDU_ROW.format(what="SNMP", secret="community"),
    "bmc": """type = "{name}"
settle = 0.5
timeout = 20
description = "{title} BMC (IPMI mock)"

[parameters]
hostname = "{node}"
ipaddr = "127.0.0.1:{port}"
login = "admin"
retransmit = 0.2
min_interval = 0.0

[secrets]
password = {{ env = "STONITH_LAB_PASSWORD" }}

[mock]
args = ["--listen", "127.0.0.1:{port}", "--names", "{node}", "--relay-delay", "0.2"]
""",
    "http": """type = "{name}"
settle = 0.5
timeout = 20
description = "{title} PDU (Redfish mock, plain HTTP)"

[parameters]
ipaddr = "127.0.0.1:{port}"
login = "admin"
ssl = false

[secrets]
password = {{ env = "STONITH_LAB_PASSWORD" }}

[hosts]
{node} = "1"

[mock]
args = ["--listen", "127.0.0.1:{port}", "--outlets", "4", "--no-tls", "--relay-delay", "0.2",
        "--model", "numbered", "--names", "{node}"]
""",
}
ROW_WHAT = {"console": "telnet", "snmp": "SNMP", "bmc": "IPMI", "http": "Redfish over plain HTTP"}


class NewDriverError(StonithError):
    """Why nothing was written; ``exit_code`` says which kind of refusal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def class_name(name: str) -> str:
    """``acme_ps`` -> ``AcmePs`` (the driver class, and the mock's device class)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def title(name: str) -> str:
    """``acme_ps`` -> ``Acme Ps``: the human name the templates start with (TODO: the vendor's)."""
    return " ".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name) or len(name) > MAX_NAME:
        raise NewDriverError(
            f"{name!r} is not a driver name: a lowercase Python identifier (a-z, 0-9, _; starting with "
            f"a letter; at most {MAX_NAME} characters)",
            BAD_NAME,
        )


def find_checkout(repo: str | None) -> str:
    """The source checkout to write into: ``repo``, else the current directory."""
    import tomllib

    root = os.path.abspath(repo or os.getcwd())
    where = f"{root} is not a source checkout of stonith"
    project = os.path.join(root, "pyproject.toml")
    try:
        with open(project, "rb") as handle:
            name = tomllib.load(handle).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        name = None
    if name != "stonith":
        raise NewDriverError(
            f"{where} (no pyproject.toml of the project stonith); use --repo DIR", NOT_A_CHECKOUT
        )
    for part in ("drivers", "mocks", "tests"):
        if not os.path.isdir(os.path.join(root, part)):
            raise NewDriverError(f"{where} (no {part}/ directory); use --repo DIR", NOT_A_CHECKOUT)
    return root


def render(template: str, name: str, kit: str) -> str:
    return (
        template.replace("__NAME__", name)
        .replace("__CLASS__", class_name(name))
        .replace("__SUMMARY__", SUMMARY_TEXT[kit].format(title=title(name)))
        .replace("__TITLE__", title(name))
        .replace("__UPPER__", name.upper())
    )


def generated(name: str, kit: str) -> dict[str, str]:
    """Relative path -> text of every new file (golden files empty)."""
    from stonith.cli import new_driver_templates as t

    test = t.TEST.replace("__SETUP__", t.SETUPS[kit])
    return {
        f"drivers/{name}.py": render(t.DRIVERS[kit], name, kit),
        f"mocks/{name}.py": render(t.MOCKS[kit], name, kit),
        f"tests/drivers/test_{name}.py": render(test, name, kit),
        f"tests/metadata/{name}.glue.xml": "",
        f"tests/metadata/{name}.fence.xml": "",
    }


# ---------------------------------------------------------------------------------------------
# The registration lines: each added where its neighbours are, the file otherwise unchanged


def _read(root: str, path: str) -> str:
    try:
        with open(os.path.join(root, path), encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise NewDriverError(f"cannot read {path}: {exc.strerror}", NOT_A_CHECKOUT) from None


def add_entry_point(text: str, name: str) -> str:
    """One more line at the end of ``[project.entry-points."stonith.drivers"]``."""
    lines = text.splitlines(keepends=True)
    header = '[project.entry-points."stonith.drivers"]'
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == header)
    except StopIteration:
        raise NewDriverError(f"pyproject.toml has no {header} table", NOT_A_CHECKOUT) from None
    end = start + 1
    while end < len(lines) and lines[end].strip() and not lines[end].startswith("["):
        if lines[end].split("=")[0].strip() == name:
            raise NewDriverError(f"pyproject.toml already has an entry point {name!r}", BAD_NAME)
        end += 1
    lines.insert(end, f'{name} = "stonith.drivers.{name}:{class_name(name)}"\n')
    return "".join(lines)


def add_readme_row(text: str, name: str, kit: str) -> str:
    """A row of the README's drivers table, before the testing types' row (else at its end)."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "## Drivers")
        first = next(i for i in range(start, len(lines)) if lines[i].startswith("| type |"))
    except StopIteration:
        raise NewDriverError("README.md has no drivers table (## Drivers)", NOT_A_CHECKOUT) from None
    end = first
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    at = next((i for i in range(first, end) if lines[i].startswith("| `null`")), end)
    device = f"{title(name)} (TODO: models)"
    lines.insert(at, f"| `{name}` | {device} | {README_TRANSPORT[kit]} | — (our mock) |\n")
    return "".join(lines)


def every_mock_row(root: str, name: str, kit: str) -> tuple[str, str] | None:
    """hwtests/every-mock.d/NAME.toml and its text, on a port after every row's (None: no hwtests)."""
    directory = os.path.join(root, "hwtests", "every-mock.d")
    if not os.path.isdir(directory):
        return None
    ports = [17200]
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".toml"):
            text = _read(root, f"hwtests/every-mock.d/{entry}")
            ports += [int(port) for port in re.findall(r"127\.0\.0\.1:(\d{4,5})", text)]
    port = max(ports) + 1
    fields = {"name": name, "title": title(name), "port": port, "node": f"{name.replace('_', '-')}-n1"}
    text = ROW_HEAD.format(title=title(name), what=ROW_WHAT[kit]) + ROWS[kit].format(**fields)
    return f"hwtests/every-mock.d/{name.replace('_', '-')}.toml", text


# ---------------------------------------------------------------------------------------------
# The command


def scaffold(name: str, kit: str, repo: str | None = None) -> tuple[list[str], list[str]]:
    """Write the new type; (files written, files extended).  Nothing is written unless all can be."""
    check_name(name)
    if kit not in KITS:
        raise NewDriverError(f"no kit {kit!r} (kits: {', '.join(KITS)})", BAD_NAME)
    root = find_checkout(repo)
    files = generated(name, kit)
    row = every_mock_row(root, name, kit)
    if row is not None:
        files[row[0]] = row[1]
    taken = [path for path in files if os.path.lexists(os.path.join(root, path))]
    if taken:
        raise NewDriverError(f"{name!r} exists already: {', '.join(taken)} (nothing written)", BAD_NAME)
    edits = {
        "pyproject.toml": add_entry_point(_read(root, "pyproject.toml"), name),
    }
    if os.path.exists(os.path.join(root, "README.md")):
        edits["README.md"] = add_readme_row(_read(root, "README.md"), name, kit)
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "x", encoding="utf-8") as handle:  # "x": never overwrite
            handle.write(text)
    for path, text in edits.items():
        _replace(os.path.join(root, path), text)
    return list(files), list(edits)


def _replace(path: str, text: str) -> None:
    """Write ``text`` over ``path`` atomically, keeping its mode."""
    import tempfile

    mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".new-driver-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(name: str, kit: str, repo: str | None) -> list[str]:
    """``stonith new-driver``: the lines to print (what was written, then the next commands)."""
    written, extended = scaffold(name, kit, repo)
    out = [f"wrote {path}" for path in written] + [f"added {name} to {path}" for path in extended]
    out += [
        "",
        "next:",
        "  ./run install",
        f"  .venv/bin/python -m pytest tests/drivers/test_{name}.py tests/metadata -k {name}",
        "  .venv/bin/python -m pytest tests/test_manifest.py",
        f"  (the golden test fills tests/metadata/{name}.glue.xml and {name}.fence.xml on its first run:",
        "   review them and commit them with the driver)",
        "  .venv/bin/python -P -m stonith.cli.manpages --write share",
        "then replace every TODO of the new files with the device's facts (docs/writing-a-driver.md),",
        "and give the new description its German text (stonith/locale/de/LC_MESSAGES/stonith.po,",
        "tests/stonith/test_i18n.py).",
    ]
    return out

"""The man pages, generated from the code: the CLI's own parsers and the drivers' metadata.

- stonith(8): every subcommand (walked from the argparse parsers the CLI runs, so a new command or
  option appears here by itself), cluster-glue's options (glue_cli's option letters), exit codes
  (stonith.contract.errors.ExitCode), files and environment;
- stonith-mock(8): every mock type and the options common to all of them;
- stonith.devices.d(5): the device file format (stonith.fencing.inventory's docstring and TOP_KEYS);
- stonith-drivers(7): every built-in type with every parameter (what ``stonith help TYPE`` shows);
- fence_stonith_TYPE(8): a fence-agents style page per agent (``stonith install-agents --man-dir``).

The pages are shipped generated (share/man in the source tree, installed as data files into
<prefix>/share/man) because a build cannot import the drivers it is building; tests/test_manpages.py
fails when the shipped pages differ from what this module generates from the installed package.
Regenerate with ``python -P -m stonith.cli.manpages --write share`` after ``./run install``.

Nothing in the pages depends on the environment or the host: STONITH_* variables are ignored while
the parsers are built, cluster-glue's external/* scripts and third-party drivers are left out
(``stonith metadata TYPE --format man`` covers those), and no date is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from stonith.contract.driver import DriverInfo

SOURCE = "stonith 0.1.0"

# cluster-glue's options (stonith.cli.glue_cli takes exactly these): option -> (argument, description).
GLUE_OPTIONS: dict[str, tuple[str, str]] = {
    "-L": ("", "list the supported device types"),
    "-t": ("TYPE", "the device type"),
    "-n": ("", "print the type's parameter names, in the order -p and -F take them"),
    "-m": ("", "print the type's metadata (cluster-glue's XML)"),
    "-h": ("", "with -t: the type's description and parameters; without: the overview"),
    "-p": ("VALUES", "the parameters' values, separated by blanks, in -n order"),
    "-F": ("FILE", "as -p, read from FILE (# starts a comment line)"),
    "-E": ("", "the parameters from environment variables of their names"),
    "-c": ("COUNT", "repeat the operation COUNT times"),
    "-l": ("", "list the hosts the device controls"),
    "-S": ("", "report the device's status"),
    "-T": ("reset|on|off", "switch NODE, verified by reading the outlets back"),
    "-s": ("", "silent"),
    "-v": ("", "verbose (repeatable)"),
    "-d": ("", "debug output"),
    "-V": ("", "print the version"),
    "--json": ("", "machine-readable results on stdout"),
    "--lang": ("LANG", "language of metadata and messages (en, de)"),
    "--timeout": ("SECONDS", "overall deadline of the operation"),
    "--help": ("", "the overview (as -h without -t)"),
    "--version": ("", "print the version (as -V)"),
}

EXIT_CODES: dict[str, str] = {
    "S_OK": "success",
    "S_BADCONFIG": "usage error or bad configuration (devices.d, parameters, audit log): "
    "nothing was switched",
    "S_ACCESS": "the device refused the credentials",
    "S_INVAL": "an invalid or missing parameter",
    "S_BADHOST": "the node is unknown to the device or devices.d",
    "S_RESETFAIL": "the operation could not be verified: an outlet did not read back as asked",
    "S_TIMEOUT": "the deadline passed",
    "S_ISOFF": "never returned by a command; kept for libstonith compatibility",
    "S_OOPS": "the device is unreachable, its state unknown, or an internal error",
}

ENVIRONMENT: dict[str, str] = {
    "STONITH_DEVICES": "the devices directory (default /etc/stonith/devices.d)",
    "STONITH_AUDIT": "the audit destination: a file, journal, syslog or none",
    "STONITH_LOCK_DIR": "where device locks live "
    "(default /run/stonith for root, else $XDG_RUNTIME_DIR/stonith)",
    "STONITH_EXTERNAL_DIRS": "colon-separated directories of cluster-glue external/* scripts",
    "STONITH_BLOCK": "comma-separated device types to hide",
    "STONITH_LAB_PASSWORD": "the password of the shipped lab devices (stonith lab, the demo)",
    "STONITH_TOKEN": "bearer token for --remote",
    "STONITH_REMOTE_USER": "user name for --remote (with STONITH_REMOTE_PASSWORD) when no token is given",
    "STONITH_REMOTE_PASSWORD": "password for --remote",
    "STONITH_USERS": "users file of stonith serve (default /etc/stonith/users.json)",
    "STONITH_TOKENS": "tokens file of stonith serve (default /etc/stonith/tokens.json)",
    "STONITH_SERVER_CONFIG": "configuration of stonith serve (default /etc/stonith/server.toml)",
    "STONITH_JOURNAL_SOCKET": "journald's socket (default /run/systemd/journal/socket)",
    "STONITH_USB_BACKEND": "the sispm driver's USB backend (unix:PATH talks to stonith-mock sispm)",
    "STONITH_TRACEBACK": "set: print a Python traceback after an internal error",
    "LANG, LC_ALL, LANGUAGE": "the language of metadata and messages (en, de)",
}

FILES: dict[str, str] = {
    "/etc/stonith/devices.d/*.toml": "one file per device (stonith.devices.d(5)); mode 0700 directory",
    "/etc/stonith/server.toml": "configuration of stonith serve",
    "/etc/stonith/users.json, /etc/stonith/tokens.json": "users and tokens of stonith serve",
    "/run/stonith": "device locks shared by every front end (tmpfiles.d, mode 0700)",
    "/var/lib/stonith": "state of stonith serve (history)",
    "/usr/lib/stonith/plugins/external": "cluster-glue external/* scripts",
    "<prefix>/lib/systemd/system": "units: stonith.service, stonith-check.service, stonith-check.timer",
}


# ---------------------------------------------------------------------------------------------
# roff


def esc(text: str) -> str:
    """Text for roff: backslashes and hyphens escaped (\\- copies as an ASCII minus), control
    characters at a line start made literal."""
    lines = []
    for line in text.replace("\\", "\\e").replace("-", "\\-").splitlines():
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def _paragraphs(text: str) -> str:
    """argparse descriptions are hard-wrapped: join lines into one paragraph, blank lines kept."""
    paras = [" ".join(p.split()) for p in text.split("\n\n")]
    return "\n.PP\n".join(esc(p) for p in paras if p)


def _head(name: str, section: int, title: str) -> list[str]:
    return [f'.TH {name.upper()} {section} "" "{SOURCE}" "{title}"\n']


def _tp(term: str, text: str) -> str:
    return f".TP\n{term}\n{esc(text)}\n" if text else f".TP\n{term}\n"


def _example(lines: list[str]) -> str:
    return ".PP\nExample:\n.RS\n.nf\n" + "".join(esc(line.strip()) + "\n" for line in lines) + ".fi\n.RE\n"


# ---------------------------------------------------------------------------------------------
# the command line


@contextlib.contextmanager
def _host_neutral() -> Iterator[None]:
    """Parsers read defaults from STONITH_* variables when built: build them without any."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("STONITH_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _captured_parser(main: Callable[[list[str]], int]) -> argparse.ArgumentParser:
    """The parser a ``main`` builds inside itself: taken at its parse_args, before anything runs."""

    def grab(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Captured(self)

    original = argparse.ArgumentParser.parse_args
    setattr(argparse.ArgumentParser, "parse_args", grab)  # noqa: B010 (mypy refuses a method assignment)
    try:
        main([])
    except _Captured as captured:
        return captured.parser
    finally:
        setattr(argparse.ArgumentParser, "parse_args", original)  # noqa: B010
    raise RuntimeError(f"{main.__module__}.main built no parser")


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _summaries(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def command_parsers() -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(command words, one-line summary, parser) of every subcommand, in the CLI's command table
    order (stonith.cli.main: cluster commands, subcommands, server commands); nested ones (user add)
    follow their parent."""
    from stonith.cli import cluster_cli, commands
    from stonith.cli import main as cli
    from stonith.server import auth_cli, serve

    with _host_neutral():
        roots = [cluster_cli.parser(), commands._parser(), auth_cli.parser()]
        served = _captured_parser(serve.main)
    tables: dict[str, tuple[str, argparse.ArgumentParser]] = {}
    for root in roots:
        summaries = _summaries(root)
        for name, sub in _children(root).items():
            tables.setdefault(name, (summaries.get(name, ""), sub))
    tables["serve"] = (served.description or "", served)
    out: list[tuple[str, str, argparse.ArgumentParser]] = []

    def walk(words: str, summary: str, parser: argparse.ArgumentParser) -> None:
        children = _children(parser)
        if not children:
            out.append((words, summary, parser))
            return
        summaries = _summaries(parser)
        for name, child in children.items():
            walk(f"{words} {name}", summaries.get(name, ""), child)

    for name in (*cli.CLUSTER_COMMANDS, *cli.SUBCOMMANDS, *cli.SERVER_COMMANDS):
        if name not in tables:
            raise RuntimeError(f"stonith {name}: no parser found for the man page")
        walk(name, *tables[name])
    return out


def _visible(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a for a in parser._actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
    ]


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar)
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _synopsis(words: str, parser: argparse.ArgumentParser) -> str:
    parts = [f".B stonith {esc(words)}"]
    for action in _visible(parser):
        if action.option_strings:
            flag = esc(action.option_strings[0])
            text = f"\\fB{flag}\\fR" + (f" \\fI{esc(_metavar(action))}\\fR" if _takes_value(action) else "")
            parts.append(text if action.required else f"[{text}]")
        else:
            meta = f"\\fI{esc(_metavar(action))}\\fR"
            if action.nargs in ("*", "+"):
                meta += " ..."
            parts.append(f"[{meta}]" if action.nargs in ("?", "*") else meta)
    return "\n".join(parts) + "\n"


def _option_help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        params = {"default": action.default, "prog": "stonith", "choices": action.choices}
        with contextlib.suppress(KeyError, ValueError, TypeError):
            text = text % params
    if action.choices is not None and action.option_strings and "{" not in _metavar(action):
        text += (" " if text else "") + "(one of " + ", ".join(map(str, action.choices)) + ")"
    return text


def _command_section(words: str, summary: str, parser: argparse.ArgumentParser) -> str:
    out = [f".SS stonith {esc(words)}\n", _synopsis(words, parser), ".PP\n"]
    description = parser.description or summary
    out.append(_paragraphs(description) + "\n")
    options = [a for a in _visible(parser)]
    if options:
        out.append(".RS\n")
        for action in options:
            if action.option_strings:
                names = ", ".join(f"\\fB{esc(o)}\\fR" for o in action.option_strings)
                if _takes_value(action):
                    names += f" \\fI{esc(_metavar(action))}\\fR"
            else:
                names = f"\\fI{esc(_metavar(action))}\\fR"
            out.append(_tp(names, _option_help(action)))
        out.append(".RE\n")
    epilog = parser.epilog or ""
    if epilog.startswith("example:"):
        out.append(_example([line for line in epilog.splitlines()[1:] if line.strip()]))
    return "".join(out)


def _glue_options() -> list[str]:
    """Every option glue_cli accepts, described; a new option without a description is an error."""
    from stonith.cli import glue_cli

    accepted = [f"-{c}" for c in glue_cli.SHORT_WITH_ARG + glue_cli.SHORT_FLAGS]
    accepted += [f"--{o}" for o in (*glue_cli.LONG_WITH_ARG, *glue_cli.LONG_FLAGS)]
    missing = [o for o in accepted if o not in GLUE_OPTIONS]
    if missing:
        raise RuntimeError(f"stonith.cli.manpages.GLUE_OPTIONS lacks {', '.join(missing)}")
    return sorted(accepted, key=list(GLUE_OPTIONS).index)


def stonith_8() -> str:
    from stonith.contract.errors import NAMES

    out = _head("stonith", 8, "System Administration")
    out.append(".SH NAME\nstonith \\- verified power control of cluster nodes through fencing devices\n")
    out.append(
        ".SH SYNOPSIS\n"
        ".B stonith\n\\fICOMMAND\\fR [\\fIARGS\\fR]\n.br\n"
        ".B stonith \\-t\n\\fITYPE\\fR"
        " {\\fIname\\fR=\\fIvalue\\fR ... | \\-p \\fIVALUES\\fR | \\-F \\fIFILE\\fR | \\-E}"
        " [\\-c \\fICOUNT\\fR] {\\-l | \\-S | \\-T reset|on|off \\fINODE\\fR}\n.br\n"
        ".B stonith\n{\\-L | \\-t \\fITYPE\\fR {\\-n | \\-m} | \\-h [\\-t \\fITYPE\\fR]}\n"
    )
    out.append(
        ".SH DESCRIPTION\n"
        "\\fBstonith\\fR switches the power of cluster nodes through their fencing devices (PDUs, power\n"
        "switches, BMCs) and reads every outlet back before it reports success.\n"
        "The subcommands work on the devices of a devices directory\n"
        "(\\fBstonith.devices.d\\fR(5)) and node sets such as node[01\\-40];\n"
        "the cluster\\-glue 1.0.12 syntax (\\fB\\-t\\fR \\fITYPE\\fR) works on one device given on the\n"
        "command line, with cluster\\-glue's options, output and exit codes.\n"
        ".PP\n"
        "Every driver type describes its own parameters: \\fBstonith help\\fR \\fITYPE\\fR,\n"
        "\\fBstonith metadata\\fR \\fITYPE\\fR, and \\fBstonith\\-drivers\\fR(7).\n"
    )
    out.append(".SH COMMANDS\n")
    for words, summary, parser in command_parsers():
        out.append(_command_section(words, summary, parser))
    out.append(
        ".SS stonith complete (used by the completion scripts)\n"
        "The completion scripts call \\fBstonith complete nodes\\fR|\\fBdevices\\fR|\\fBtypes\\fR"
        " [\\fB\\-\\-devices\\fR \\fIDIR\\fR]\n"
        "for names: it reads the device files only (no device is contacted, no secret command runs).\n"
    )
    out.append(".SH CLUSTER\\-GLUE OPTIONS\n")
    for option in _glue_options():
        arg, text = GLUE_OPTIONS[option]
        term = f"\\fB{esc(option)}\\fR" + (f" \\fI{esc(arg)}\\fR" if arg else "")
        out.append(_tp(term, text))
    out.append(".SH EXIT STATUS\n")
    out.append("cluster\\-glue's codes; a cluster command exits with the worst per\\-node result.\n")
    for code in sorted(NAMES):
        name = NAMES[code]
        if name not in EXIT_CODES:
            raise RuntimeError(f"stonith.cli.manpages.EXIT_CODES lacks {name}")
        out.append(_tp(f"\\fB{code}\\fR ({name})", EXIT_CODES[name]))
    out.append(_tp("\\fB130\\fR", "interrupted (SIGINT or SIGTERM): nothing more is switched"))
    out.append(".SH ENVIRONMENT\n")
    out.extend(_tp(f"\\fB{esc(name)}\\fR", text) for name, text in ENVIRONMENT.items())
    out.append(".SH FILES\n")
    out.extend(_tp(f"\\fI{esc(path)}\\fR", text) for path, text in FILES.items())
    out.append(
        ".SH NOTES\n"
        "cluster\\-glue installs a different \\fBstonith\\fR as /usr/sbin/stonith, which Pacemaker's\n"
        "fence_legacy runs by name: install this one where it does not shadow that one (a venv under\n"
        "/opt), or on purpose.\n"
        ".SH SEE ALSO\n"
        ".BR stonith.devices.d (5),\n.BR stonith\\-drivers (7),\n.BR stonith\\-mock (8),\n"
        ".BR systemd\\-tmpfiles (8),\n.BR journalctl (1)\n"
    )
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# stonith-mock(8)


def stonith_mock_8() -> str:
    from stonith.mocks import __main__ as mock_main

    doc = mock_main.__doc__ or ""
    out = _head("stonith-mock", 8, "System Administration")
    out.append(".SH NAME\nstonith\\-mock \\- run a mock fencing device (tests, demos)\n")
    out.append(
        ".SH SYNOPSIS\n.B stonith\\-mock\n\\fITYPE\\fR [\\fIoptions\\fR]\n.br\n"
        ".B stonith\\-mock\n\\fITYPE\\fR \\fB\\-\\-help\\fR\n"
    )
    # The module docstring's prose after its usage block.
    prose = doc.split("\n\n", 2)[-1] if doc.count("\n\n") >= 2 else doc
    out.append(".SH DESCRIPTION\n" + _paragraphs(prose) + "\n")
    out.append(".SH TYPES\n")
    by_module: dict[str, list[str]] = {}
    for name, module in mock_main.MOCKS.items():
        by_module.setdefault(module, []).append(name)
    for types in by_module.values():
        out.append(
            _tp(f"\\fB{esc(', '.join(types))}\\fR", "models, outlets and flags: stonith-mock TYPE --help")
        )
    out.append(".SH OPTIONS\nCommon to every type:\n")
    # The common options, from the parser of a type that needs no optional library.
    parser = mock_main.parser_for("baytech", mock_main.load("baytech"))
    common = [a for a in _visible(parser) if a.dest in mock_main.COMMON_OPTIONS]
    for action in common:
        names = ", ".join(f"\\fB{esc(o)}\\fR" for o in action.option_strings)
        if action.dest == "model":  # its choices are the type's models: TYPE --help lists them
            out.append(_tp(names + " \\fIMODEL\\fR", "the device model (stonith-mock TYPE --help)"))
            continue
        if _takes_value(action):
            names += f" \\fI{esc(_metavar(action))}\\fR"
        out.append(_tp(names, _option_help(action) or action.dest.replace("_", " ")))
    out.append(
        ".SH ENVIRONMENT\n"
        + _tp("\\fBSTONITH_MOCK_PASSWORD\\fR", "the password, instead of \\-\\-password (which ps shows)")
        + _tp("\\fBSTONITH_MOCK_COMMUNITY\\fR", "the SNMP community of the SNMP mocks")
        + _tp("\\fBSTONITH_MOCK_V3_USERS\\fR", "the SNMPv3 users of the SNMP mocks, separated by ;")
        + _tp(
            "\\fBSTONITH_MOCK_SYNC_STATE\\fR",
            "1: BMC mocks write \\-\\-state\\-file at every change, not at most every 50 ms",
        )
        + ".SH EXIT STATUS\n"
        "0 after SIGTERM or SIGINT; 2 on a usage error or when the address cannot be served.\n"
        ".SH SEE ALSO\n.BR stonith (8),\n.BR stonith.devices.d (5)\n"
    )
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# stonith.devices.d(5)

DEVICE_KEYS: dict[str, str] = {
    "name": "the device's name (default: the file name without .toml); unique in the directory",
    "type": "the driver type (stonith types, stonith\\-drivers(7)); required",
    "description": "free text shown by stonith devices",
    "level": "topology level, 1 is tried first; a node fenced by several levels falls back in order",
    "settle": "seconds between the off and the on of a reset (default 1)",
    "timeout": "per\\-operation deadline of this device in seconds (default 60)",
    "max_sessions": "concurrent sessions to the device (default: what the driver declares)",
    "parameters": "table: the driver's parameters, validated through its metadata",
    "secrets": "table: secret parameters by reference: { file = PATH }, { env = VAR }, or "
    "{ command = [ABSOLUTE_PROGRAM, ARG...] } (run without a shell, from /, with a fixed environment, "
    "only by verbs that log in); inline only in a file only root can read",
    "hosts": "table: node = outlet, or node = [outlet, outlet] for dual supplies; outlet ids or names. "
    "Without it, the node names are the outlet names the device reports",
    "device_names": "true: with [hosts], the outlet names the device reports place other nodes too",
    "mock": "table: how stonith lab starts a mock for this device: type, args = [...]",
    "fleet": "table: one device per node of a node set, for BMC types (ipmilan, redfish): "
    'nodes = "cn[0001\\-0500]" and ipaddr = a template with {node} or {index}, or a node set of as many '
    "addresses; members are named FLEET:NODE (see the fleet section of the README)",
}


def devices_d_5() -> str:
    from stonith.fencing import inventory

    missing = sorted(set(inventory.TOP_KEYS) - set(DEVICE_KEYS))
    if missing:
        raise RuntimeError(f"stonith.cli.manpages.DEVICE_KEYS lacks {', '.join(missing)}")
    doc = inventory.__doc__ or ""
    example = literal_block(doc)
    out = _head("stonith.devices.d", 5, "File Formats")
    out.append(".SH NAME\nstonith.devices.d \\- the fencing devices of stonith, one TOML file per device\n")
    out.append(".SH SYNOPSIS\n\\fI/etc/stonith/devices.d/*.toml\\fR\n")
    out.append(
        ".SH DESCRIPTION\n"
        "Each \\fB*.toml\\fR file of the directory (\\fB\\-\\-devices\\fR \\fIDIR\\fR, or "
        "\\fBSTONITH_DEVICES\\fR)\ndescribes one device: its driver type, parameters, secrets and "
        "which outlets feed which node.\n"
        "\\fBstonith check\\fR validates the directory and logs in to every device;\n"
        "\\fBstonith init\\fR creates the directory with a commented example.\n"
        "Every problem is reported as \\fIfile\\fR:\\fIfield\\fR: \\fImessage\\fR; nothing is switched "
        "when a file a node depends on is bad.\n"
    )
    out.append(".SH KEYS\n")
    for key in sorted(inventory.TOP_KEYS, key=list(DEVICE_KEYS).index):
        out.append(f".TP\n\\fB{esc(key)}\\fR\n{DEVICE_KEYS[key]}\n")
    out.append(".SH EXAMPLE\n.nf\n" + esc(example) + "\n.fi\n")
    # The docstring's rules after the example: node placement, trust.
    rules = doc.split("\n\n")
    prose = [p for p in rules if p.startswith(("Which outlets", "Local trust"))]
    out.append(".SH NODES AND OUTLETS\n" + _paragraphs(prose[0]) + "\n" if prose else "")
    if len(prose) > 1:
        out.append(".SH LOCAL TRUST\n" + _paragraphs(prose[1]) + "\n")
    out.append(".SH SEE ALSO\n.BR stonith (8),\n.BR stonith\\-drivers (7)\n")
    return "".join(out)


def literal_block(doc: str) -> str:
    """The first ``::`` literal block of a docstring, dedented: its indented lines, blank lines
    included, up to the first line back at the text's margin."""
    import textwrap

    if "::" not in doc:
        return ""
    lines = []
    for line in doc.split("::\n", 1)[1].splitlines():
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines)).strip("\n")


# ---------------------------------------------------------------------------------------------
# stonith-drivers(7) and the agents' pages


def builtin_types() -> list[str]:
    """The types this distribution ships (entry points into stonith.drivers), sorted."""
    from stonith.fencing import registry

    return sorted(
        name
        for name, ep in registry.entry_points().items()
        if ep.distribution == "stonith" and ep.value.startswith("stonith.drivers.")
    )


def _info(type_name: str) -> DriverInfo:
    from stonith.fencing import registry

    return registry.load(type_name).INFO


def _field_items(info: DriverInfo) -> str:
    from stonith.render.metadata import _constraints

    out = []
    for field in info.fields:
        text = f"{field.label}: {field.long_text}" if field.label else field.long_text
        out.append(
            f".TP\n\\fB{esc(field.fieldname)}\\fR ({esc(', '.join(_constraints(field)))})\n{esc(text)}\n"
        )
        if field.aliases:
            out.append(f".br\nalso accepted as: {esc(', '.join(field.aliases))}\n")
    return "".join(out)


def drivers_7() -> str:
    out = _head("stonith-drivers", 7, "Miscellaneous")
    out.append(".SH NAME\nstonith\\-drivers \\- the device types of stonith and their parameters\n")
    out.append(
        ".SH DESCRIPTION\n"
        "Every built\\-in driver type with every parameter, as \\fBstonith help\\fR \\fITYPE\\fR shows it.\n"
        "Parameters go into the [parameters] (secrets: [secrets]) table of a device file\n"
        "(\\fBstonith.devices.d\\fR(5)), or onto cluster\\-glue's command line as\n"
        "\\fIname\\fR=\\fIvalue\\fR.\n"
        "Third\\-party types and cluster\\-glue's external/* scripts: \\fBstonith types \\-\\-long\\fR and\n"
        "\\fBstonith metadata\\fR \\fITYPE\\fR \\fB\\-\\-format man\\fR.\n"
    )
    out.append(".SH TYPES\n")
    for name in builtin_types():
        info = _info(name)
        out.append(f".SS {esc(name)} \\- {esc(info.shortdesc)}\n{_paragraphs(info.description)}\n")
        details = []
        if info.models:
            details.append("Models: " + ", ".join(info.models) + ".")
        details.append(f"Status: {info.status}.")
        if info.url:
            details.append(f"See {info.url}")
        out.append(".PP\n" + esc(" ".join(details)) + "\n")
        out.append(".PP\nParameters:\n" if info.fields else ".PP\nNo parameters.\n")
        out.append(_field_items(info))
    out.append(".SH SEE ALSO\n.BR stonith (8),\n.BR stonith.devices.d (5)\n")
    return "".join(out)


def fence_agent_8(type_name: str) -> str:
    """fence_stonith_TYPE(8), laid out as fence-agents' pages: parameters, actions, stdin names."""
    from stonith.render.fence_options import agent_options
    from stonith.render.metadata import FENCE_ACTIONS, fence_agent_name

    info = _info(type_name)
    agent = fence_agent_name(type_name)
    out = _head(agent, 8, "Fence Agents")
    out.append(f".SH NAME\n{esc(agent)} \\- fence agent for {esc(info.shortdesc)}\n")
    out.append(f".SH SYNOPSIS\n.B {esc(agent)}\n[\\fIOPTIONS\\fR]\n")
    out.append(
        f".SH DESCRIPTION\n{_paragraphs(info.description)}\n.PP\n"
        f"Written by \\fBstonith install\\-agents\\fR; it runs the stonith driver type {esc(type_name)}\n"
        "through the same engine as \\fBstonith reset\\fR.  Pacemaker passes the parameters on stdin\n"
        "as \\fIname\\fR=\\fIvalue\\fR lines; on the command line they are the options below.\n"
    )
    params = agent_options(info).parameters()
    out.append(".SH PARAMETERS\n")
    for param in params:
        text = param.help
        if param.choices:
            text += " (one of " + ", ".join(param.choices) + ")"
        if param.default is not None and param.kind != "boolean":
            text += f" (default {param.default})"
        if param.required:
            text += ". This parameter is always required."
        if param.old:
            text += f" Obsoletes: {param.old}"
        out.append(_tp(f"\\fB{esc(param.getopt)}\\fR", text))
    out.append(".SH ACTIONS\n")
    caps = info.capabilities
    skip = {"on": not caps.power_on, "off": not caps.power_off, "status": not caps.status}
    for action in FENCE_ACTIONS:
        if not skip.get(action):
            out.append(_tp(f"\\fB{esc(action)}\\fR", _ACTION_TEXT.get(action, "")))
    out.append(".SH STDIN PARAMETERS\n")
    for param in params:
        names = param.name + (f" (obsolete name: {param.old})" if param.old else "")
        out.append(_tp(f"\\fB{esc(names)}\\fR", param.help))
    out.append(".SH SEE ALSO\n.BR stonith (8),\n.BR stonith\\-drivers (7),\n.BR pcs (8)\n")
    return "".join(out)


_ACTION_TEXT = {
    "on": "Power on the machine, verified.",
    "off": "Power off the machine, verified.",
    "reboot": "Power off, then on, each verified.",
    "status": "Report the machine's power state.",
    "list": "List the outlets (plugs) and their names.",
    "list-status": "List the outlets with their state.",
    "monitor": "Check that the device answers.",
    "metadata": "Print the agent's metadata XML.",
    "manpage": "The metadata, as fence-agents' page generator reads it.",
    "validate-all": "Validate the parameters, contacting nothing.",
}


# ---------------------------------------------------------------------------------------------
# the files shipped under share/


def pages() -> dict[str, str]:
    """Relative path under <prefix>/share -> content, of every generated man page."""
    return {
        "man/man8/stonith.8": stonith_8(),
        "man/man8/stonith-mock.8": stonith_mock_8(),
        "man/man5/stonith.devices.d.5": devices_d_5(),
        "man/man7/stonith-drivers.7": drivers_7(),
    }


def shipped() -> dict[str, str]:
    """Every generated file shipped under share/: the man pages and the completion scripts."""
    from stonith.cli import completion

    files = pages()
    files["bash-completion/completions/stonith"] = completion.bash_script()
    files["zsh/site-functions/_stonith"] = completion.zsh_script()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stonith.cli.manpages", description="write or check the generated files under share/"
    )
    parser.add_argument("--write", metavar="DIR", help="write them under DIR (the source tree's share/)")
    parser.add_argument("--check", metavar="DIR", help="exit 1 naming each file that differs")
    args = parser.parse_args(argv)
    files = shipped()
    if args.write:
        for rel, text in files.items():
            path = os.path.join(args.write, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            sys.stdout.write(f"wrote {path}\n")
        return 0
    if args.check:
        stale = []
        for rel, text in files.items():
            try:
                with open(os.path.join(args.check, rel), encoding="utf-8") as handle:
                    if handle.read() == text:
                        continue
            except OSError:
                pass
            stale.append(rel)
        for rel in stale:
            sys.stdout.write(f"stale: {os.path.join(args.check, rel)}\n")
        return 1 if stale else 0
    parser.print_usage()
    return 1


if __name__ == "__main__":
    sys.exit(main())

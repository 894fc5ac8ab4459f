"""Subcommands of ``stonith`` beyond cluster-glue's syntax.

- ``stonith metadata TYPE [--format glue|fence|xmlrpc|json|help|man|names] [--lang L]``
- ``stonith config TYPE [name=value ...] [--set name=value ...] [--format text|json|xmlrpc] [--lang L]``:
  without parameters prints the defaults; with parameters constructs the device (every problem
  reported by field name), applies ``--set`` changes atomically and prints the configuration in
  force with secrets redacted.
- ``stonith types [--long]``: installed types, with provenance and a one-line description.
- ``stonith meatclient -c HOST``: confirm to a waiting meatware device that HOST was reset.
- ``stonith export pcs [--devices DIR] [--cib FILE] [--query]``: pcs commands for devices.d
  (stonith.cli.export).
- ``stonith slurm-suspend|slurm-resume HOSTLIST``: Slurm's SuspendProgram / ResumeProgram (stonith.cli.slurm).
- ``stonith completion bash|zsh``: the shell completion script (stonith.cli.completion).
- ``stonith init [--root DIR]``, ``stonith install-units``: the /etc/stonith layout, the systemd units
  (stonith.cli.init).
- ``stonith new-driver NAME --kit console|snmp|bmc|http [--repo DIR]``: a new driver type with its
  mock, tests and registration lines, in a source checkout (stonith.cli.new_driver).
- ``stonith help [COMMAND|TYPE]``: the overview, a command's help or a type's parameters.

``unknown_command`` answers a first word that is no command: "did you mean" (stonith.cli.main sends it).
"""

from __future__ import annotations

import argparse
import os
import sys

from stonith.cli import slurm
from stonith.contract.errors import USAGE, BadConfig, StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2; our usage code is 1
        self.print_usage(sys.stderr)
        from stonith.render.i18n import tr

        sys.stderr.write(tr("{prog}: error: {message}", prog=self.prog, message=message) + "\n")
        raise SystemExit(int(USAGE))


# Each subcommand: its one-line summary, its description and its examples (shown by --help).
HELP: dict[str, tuple[str, str, str]] = {
    "metadata": (
        "print a driver type's self-configuration metadata",
        "Print what a driver type accepts: every parameter with its type, limits, default and help.\n"
        "--format help is for people; json and xmlrpc for programs; glue and fence are the metadata\n"
        "XML cluster-glue (stonith -m) and fence-agents (fence_stonith_TYPE -o metadata) print.",
        "stonith metadata baytech --format help\n  stonith metadata ipmilan --format fence --lang de",
    ),
    "config": (
        "show defaults, validate a configuration, show it redacted",
        "Without parameters: the type's defaults.  With name=value parameters: build the device\n"
        "(every problem reported by parameter name, exit 1), apply --set changes atomically and print\n"
        "the configuration in force with secrets redacted.  Nothing is sent to the device.",
        "stonith config baytech\n"
        "  stonith config baytech ipaddr=10.0.0.5 login=admin password=secret --set ipaddr=10.0.0.6",
    ),
    "types": (
        "list installed device types",
        "Every installed driver type (ours, third-party ones and cluster-glue's external/* scripts),\n"
        "as stonith -L lists them; --long adds the distribution or script and a description.",
        "stonith types --long",
    ),
    "install-agents": (
        "install fence_stonith_<type> agents for Pacemaker",
        "Write one fence-agents compatible agent per type (fence_stonith_<type>) into --dir, for\n"
        "Pacemaker's fencer and pcs; --remove deletes exactly the agents written before.  Refuses when\n"
        "someone other than root could change what the agents run.",
        "stonith install-agents --type ipmilan --type baytech\n  stonith install-agents --remove",
    ),
    "meatclient": (
        "confirm a manual reset to a waiting meatware device",
        "Tell a meatware device, waiting for a human to power-cycle NODE, that it was done.",
        "stonith meatclient -c node3",
    ),
    "export": (
        "print the pcs commands that reproduce devices.d in Pacemaker",
        "Print `pcs stonith create` (one resource per device, agent fence_stonith_<type>,\n"
        "pcmk_host_map from [hosts]) and `pcs stonith level add` (topology levels, dual feeds) commands.\n"
        "Secrets stay references (password_script); what cannot be exported is a warning on stderr and\n"
        "a comment in the output.  --query asks devices that name their nodes by outlet names for them.",
        "stonith export pcs --devices /etc/stonith/devices.d > fencing.sh\n"
        "  stonith export pcs --cib cib.xml | sh && pcs cluster cib-push cib.xml",
    ),
    "slurm-suspend": slurm.HELP["suspend"],
    "slurm-resume": slurm.HELP["resume"],
    "completion": (
        "print the shell completion script (bash, zsh)",
        "Print a completion script for bash or zsh: subcommands, options, device types, and node and\n"
        "device names from devices.d (read from the files; no device is contacted).",
        'source <(stonith completion bash)\n  stonith completion zsh > "${fpath[1]}/_stonith"',
    ),
    "init": (
        "create the /etc/stonith layout (devices.d mode 0700, examples)",
        "Create /etc/stonith, /etc/stonith/devices.d (mode 0700) with a commented example device file,\n"
        "and an example server.toml.  Idempotent: what exists is kept, nothing is overwritten.",
        "stonith init\n  stonith init --root /tmp/image",
    ),
    "install-units": (
        "install the systemd units (service, check timer, tmpfiles.d)",
        "Write stonith.service (stonith serve), stonith-check.service and stonith-check.timer (stonith\n"
        "check every hour, failing devices logged to the journal) with ExecStart pointing at this\n"
        "installation, and the tmpfiles.d entry for /run/stonith.  Files not written by stonith are\n"
        "never replaced; --remove deletes the ones it wrote.",
        "stonith install-units && systemctl daemon-reload && systemd-tmpfiles --create stonith.conf\n"
        "  systemctl enable --now stonith-check.timer",
    ),
    "new-driver": (
        "scaffold a new driver type in a source checkout",
        "Write drivers/NAME.py (a working driver of the kit's shape), mocks/NAME.py (its mock),\n"
        "tests/drivers/test_NAME.py (status, off, on, reset against the mock, judged by its ground\n"
        "truth), empty golden metadata files (the golden test fills them on its first run) and the\n"
        "registration lines (pyproject.toml entry point, README row, hwtests).  Works in a source\n"
        "checkout of stonith (the current directory or --repo); never overwrites a file.\n"
        "Exit 1: NAME is no lowercase identifier or exists; 3: no checkout.",
        "stonith new-driver acme_ps --kit console\n"
        "  stonith new-driver acme_pdu --kit snmp --repo ~/src/stonith",
    ),
    "help": (
        "this overview, or the help of a command or a driver type",
        "stonith help: the overview (as stonith --help).  stonith help COMMAND: the command's --help.\n"
        "stonith help TYPE: every parameter of a driver type (stonith metadata TYPE --format help).",
        "stonith help reset\n  stonith help baytech",
    ),
}


def _sub(sub: Any, name: str) -> argparse.ArgumentParser:
    summary, description, examples = HELP[name]
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog="example:\n  " + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if name not in ("metadata", "config"):  # those two say what --lang translates in their own help
        parser.add_argument("--lang", metavar="LANG", help="language of messages (en, de; default: LANG)")
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stonith", description="STONITH device drivers (see stonith --help)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    meta = _sub(sub, "metadata")
    meta.add_argument("type", help="driver type (stonith types)")
    meta.add_argument(
        "--format",
        default="json",
        choices=("glue", "fence", "xmlrpc", "json", "help", "man", "names"),
        help="output format (default %(default)s)",
    )
    meta.add_argument("--lang", help="language of labels and help (en, de; default: LANG)")
    conf = _sub(sub, "config")
    conf.add_argument("type", help="driver type (stonith types)")
    conf.add_argument("params", nargs="*", metavar="name=value", help="the device's parameters")
    conf.add_argument("--set", action="append", default=[], metavar="name=value", help="a change to apply")
    conf.add_argument("--format", default="text", choices=("text", "json", "xmlrpc"), help="output format")
    conf.add_argument("--lang", help="language of the problems reported (en, de; default: LANG)")
    types = _sub(sub, "types")
    types.add_argument("--long", action="store_true", help="with provenance and description")
    agents = _sub(sub, "install-agents")
    agents.add_argument("--dir", default="/usr/sbin", help="where Pacemaker looks (default %(default)s)")
    agents.add_argument("--remove", action="store_true", help="delete the agents installed before")
    agents.add_argument(
        "--type",
        action="append",
        dest="types",
        metavar="TYPE",
        help="only these types (default: every installed type)",
    )
    agents.add_argument(
        "--man-dir",
        metavar="DIR",
        help="also write fence_stonith_<type>(8) man pages into DIR (e.g. /usr/local/share/man/man8)",
    )
    meat = _sub(sub, "meatclient")
    meat.add_argument("-c", dest="host", required=True, metavar="NODE", help="the node that was reset")
    meat.add_argument("--socket-dir", help="where the meatware device listens (its socket_dir)")
    export = _sub(sub, "export")
    export.add_argument("target", choices=("pcs",), help="what to export to (pcs)")
    export.add_argument(
        "--devices",
        metavar="DIR",
        default=os.environ.get("STONITH_DEVICES", "/etc/stonith/devices.d"),
        help="directory of device files (default %(default)s, or STONITH_DEVICES)",
    )
    export.add_argument("--cib", metavar="FILE", help="commands for an offline CIB file (pcs -f FILE)")
    export.add_argument(
        "--query",
        action="store_true",
        help="ask devices that name their nodes by outlet names for them now (logs in to them)",
    )
    export.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="per-device deadline of --query in seconds"
    )
    for action in ("suspend", "resume"):
        slurm.add_arguments(_sub(sub, f"slurm-{action}"))
    completion = _sub(sub, "completion")
    completion.add_argument("shell", choices=("bash", "zsh"), help="the shell")
    init = _sub(sub, "init")
    init.add_argument("--root", metavar="DIR", default="/", help="create the layout under DIR (default /)")
    units = _sub(sub, "install-units")
    units.add_argument(
        "--dir", default="/etc/systemd/system", metavar="DIR", help="unit directory (default %(default)s)"
    )
    units.add_argument(
        "--tmpfiles-dir",
        default="/etc/tmpfiles.d",
        metavar="DIR",
        help="tmpfiles.d directory (default %(default)s)",
    )
    units.add_argument("--remove", action="store_true", help="delete the files installed before")
    scaffold = _sub(sub, "new-driver")
    scaffold.add_argument("name", metavar="NAME", help="the new type and module name (lowercase identifier)")
    scaffold.add_argument(
        "--kit",
        required=True,
        choices=("console", "snmp", "bmc", "http"),
        help="console: telnet/SSH command line; snmp: SNMP outlet table; bmc: IPMI; http: Redfish",
    )
    scaffold.add_argument(
        "--repo", metavar="DIR", help="the source checkout to write into (default: the current directory)"
    )
    helper = _sub(sub, "help")
    helper.add_argument("topic", nargs="?", help="a command or a driver type")
    return parser


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise BadConfig(f"{what} argument '{item}' is not name=value")
        out[name] = value
    return out


def cmd_metadata(args: argparse.Namespace) -> int:
    from stonith.fencing import device
    from stonith.render import marshal, metadata

    info = device.metadata(args.type, args.lang)
    from stonith.render.i18n import requested_language

    lang = requested_language(args.lang).split("_")[0]
    fmt = args.format
    if fmt == "glue":
        text = metadata.glue_xml(info, lang)
    elif fmt == "fence":
        text = metadata.fence_xml(info, lang)
    elif fmt == "xmlrpc":
        text = marshal.to_xmlrpc(marshal.info_to_dict(info)) + "\n"
    elif fmt == "help":
        text = metadata.help_text(info, args.lang)
    elif fmt == "man":
        text = metadata.man_page(info, args.lang)
    elif fmt == "names":
        text = metadata.glue_names(info)
    else:
        text = marshal.to_json(marshal.info_to_dict(info))
    sys.stdout.write(text)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from stonith.contract.fields import to_text
    from stonith.fencing import device
    from stonith.render import marshal

    params = _pairs(args.params, "parameter")
    changes = _pairs(args.set, "--set")
    if not params and not changes:
        current = device.defaults(args.type)
        info = device.metadata(args.type, args.lang)
    else:
        dev = device.construct(args.type, params)
        if changes:
            dev.modify(changes)
        current = dev.current_config()
        info = dev.info
    if args.format == "json":
        sys.stdout.write(marshal.to_json(current))
    elif args.format == "xmlrpc":
        sys.stdout.write(marshal.to_xmlrpc(marshal.config_to_wire(info, current)) + "\n")
    else:
        for field in info.fields:
            if field.fieldname in current:
                value = current[field.fieldname]
                text = value if isinstance(value, str) else to_text(field, value)
                sys.stdout.write(f"{field.fieldname}={text}\n")
    return 0


def cmd_types(args: argparse.Namespace) -> int:
    from stonith.fencing import registry

    for name in registry.types():
        if not args.long:
            sys.stdout.write(name + "\n")
            continue
        try:
            desc = registry.describe(name)
            source = registry.provenance(name)
        except StonithError as exc:
            desc, source = f"(cannot load: {exc})", "?"
        sys.stdout.write(f"{name}\t{source}\t{desc}\n")
    return 0


def cmd_install_agents(args: argparse.Namespace) -> int:
    from stonith.cli import agents_install
    from stonith.fencing import registry

    if args.remove:
        removed = agents_install.remove(args.dir)
        if args.man_dir:
            removed += agents_install.remove_man_pages(args.man_dir)
        for path in removed:
            sys.stdout.write(f"removed {path}\n")
        return 0
    types = args.types or registry.types()
    for name in types:
        registry.load(name)  # an unknown type is an error before anything is written
    for path in agents_install.install(args.dir, types):
        sys.stdout.write(f"installed {path}\n")
    if args.man_dir:
        for path in agents_install.install_man_pages(args.man_dir, types):
            sys.stdout.write(f"installed {path}\n")
    import stonith

    blocked = agents_install.unreachable_for_others(sys.executable) + agents_install.unreachable_for_others(
        stonith.__file__
    )
    if blocked:
        sys.stderr.write(
            "WARNING: Pacemaker runs agents' metadata as user hacluster, which cannot search "
            + ", ".join(sorted(set(blocked)))
            + f" on the way to {sys.executable} or the stonith package: install stonith where every user "
            "can read it (e.g. a venv under /opt)\n"
        )
    return 0


def cmd_meatclient(args: argparse.Namespace) -> int:
    from stonith.cli.meatware_client import confirm

    return confirm(args.host, args.socket_dir)


def cmd_export(args: argparse.Namespace) -> int:
    from stonith.cli import export

    if args.timeout is not None and not 0 < args.timeout <= 86400:
        raise BadConfig("--timeout must be in (0, 86400]")
    return export.main(args.devices, cib=args.cib, ask=args.query, timeout=args.timeout)


def cmd_slurm_suspend(args: argparse.Namespace) -> int:
    return slurm.run("suspend", args)


def cmd_slurm_resume(args: argparse.Namespace) -> int:
    return slurm.run("resume", args)


def cmd_completion(args: argparse.Namespace) -> int:
    from stonith.cli import completion

    return completion.main(args.shell)


def cmd_init(args: argparse.Namespace) -> int:
    from stonith.cli import init

    for line in init.init(args.root):
        sys.stdout.write(line + "\n")
    return 0


def cmd_install_units(args: argparse.Namespace) -> int:
    from stonith.cli import init

    if args.remove:
        for path in init.remove_units(args.dir, args.tmpfiles_dir):
            sys.stdout.write(f"removed {path}\n")
        return 0
    for path in init.install_units(args.dir, args.tmpfiles_dir):
        sys.stdout.write(f"installed {path}\n")
    sys.stdout.write(
        "next: systemctl daemon-reload; systemd-tmpfiles --create stonith.conf;"
        " systemctl enable --now stonith-check.timer\n"
    )
    return 0


def cmd_new_driver(args: argparse.Namespace) -> int:
    from stonith.cli import new_driver

    for line in new_driver.main(args.name, args.kit, args.repo):
        sys.stdout.write(line + "\n")
    return 0


def cmd_help(args: argparse.Namespace) -> int:
    from stonith.cli import main as cli

    topic = args.topic
    if topic is None:
        from stonith.render.metadata import OVERVIEW

        sys.stdout.write(OVERVIEW)
        return 0
    if topic in cli.SUBCOMMANDS or topic in cli.CLUSTER_COMMANDS or topic in cli.SERVER_COMMANDS:
        return cli.main([topic, "--help"])
    from stonith.fencing import registry

    if topic in registry.types():
        return main(["metadata", topic, "--format", "help"])
    return unknown_command(topic, with_types=True)


def commands() -> list[str]:
    from stonith.cli import main as cli

    return [*cli.CLUSTER_COMMANDS, *cli.SUBCOMMANDS, *cli.SERVER_COMMANDS]


def unknown_command(word: str, *, with_types: bool = False) -> int:
    """``stonith WORD`` where WORD is no command: the closest commands (and types), exit 1."""
    import difflib

    known = commands()
    if with_types:
        from stonith.fencing import registry

        known += registry.types()
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    shown = "".join(c if c.isprintable() else "?" for c in word)[:64]
    what = "a stonith command or device type" if with_types else "a stonith command"
    sys.stderr.write(f"stonith: '{shown}' is not {what}")
    if close:
        sys.stderr.write(f"; did you mean: {', '.join(close)}")
    sys.stderr.write("\nSee stonith --help (cluster-glue syntax: stonith -t TYPE ...)\n")
    return int(USAGE)


def main(argv: list[str]) -> int:
    from stonith.render.i18n import choose_from_argv

    # Every subcommand has --lang, chosen before parsing so that usage errors follow it too; an
    # unknown language is said once, then English.
    choose_from_argv(argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    handler = {
        "metadata": cmd_metadata,
        "config": cmd_config,
        "types": cmd_types,
        "meatclient": cmd_meatclient,
        "install-agents": cmd_install_agents,
        "export": cmd_export,
        "help": cmd_help,
        "completion": cmd_completion,
        "init": cmd_init,
        "install-units": cmd_install_units,
        "new-driver": cmd_new_driver,
        "slurm-suspend": cmd_slurm_suspend,
        "slurm-resume": cmd_slurm_resume,
    }[args.command]
    from stonith.render.cli_text import error

    try:
        return handler(args)
    except BadConfig as exc:
        for problem in exc.problems:
            prefix = f"{exc.driver}: " if exc.driver else ""
            what = "parameter " if exc.driver else ""
            sys.stderr.write(error(f"{prefix}{what}{problem}") + "\n")
        return int(exc.exit_code)
    except StonithError as exc:
        sys.stderr.write(error(str(exc)) + "\n")
        return int(exc.exit_code)

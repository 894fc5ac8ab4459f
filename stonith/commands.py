"""Subcommands of ``stonith`` beyond cluster-glue's syntax.

- ``stonith metadata TYPE [--format glue|fence|xmlrpc|json|help|man|names] [--lang L]``
- ``stonith config TYPE [name=value ...] [--set name=value ...] [--format text|json|xmlrpc] [--lang L]``:
  without parameters prints the defaults; with parameters constructs the device (every problem
  reported by field name), applies ``--set`` changes atomically and prints the configuration in
  force with secrets redacted.
- ``stonith types [--long]``: installed types, with provenance and a one-line description.
- ``stonith meatclient -c HOST``: confirm to a waiting meatware device that HOST was reset.
"""

from __future__ import annotations

import argparse
import sys

from stonith.errors import USAGE, BadConfig, StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2; our usage code is 1
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(int(USAGE))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stonith", description="STONITH device drivers")
    sub = parser.add_subparsers(dest="command", required=True)
    meta = sub.add_parser("metadata", help="print a driver's self-configuration metadata")
    meta.add_argument("type")
    meta.add_argument(
        "--format", default="json", choices=("glue", "fence", "xmlrpc", "json", "help", "man", "names")
    )
    meta.add_argument("--lang")
    conf = sub.add_parser("config", help="defaults, validation and redacted view of a configuration")
    conf.add_argument("type")
    conf.add_argument("params", nargs="*", metavar="name=value")
    conf.add_argument("--set", action="append", default=[], metavar="name=value")
    conf.add_argument("--format", default="text", choices=("text", "json", "xmlrpc"))
    conf.add_argument("--lang")
    types = sub.add_parser("types", help="list installed device types")
    types.add_argument("--long", action="store_true")
    agents = sub.add_parser("install-agents", help="install fence_stonith_<type> agents for Pacemaker")
    agents.add_argument("--dir", default="/usr/sbin", help="where Pacemaker looks (default %(default)s)")
    agents.add_argument("--remove", action="store_true", help="delete the agents installed before")
    agents.add_argument(
        "--type",
        action="append",
        dest="types",
        metavar="TYPE",
        help="only these types (default: every installed type)",
    )
    meat = sub.add_parser("meatclient", help="confirm a manual reset to a waiting meatware device")
    meat.add_argument("-c", dest="host", required=True)
    meat.add_argument("--socket-dir")
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
    from stonith import device, marshal, metadata

    info = device.metadata(args.type, args.lang)
    from stonith.i18n import requested_language

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
    from stonith import device, marshal
    from stonith.fields import to_text

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
    from stonith import registry

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
    from stonith import agents_install, registry

    if args.remove:
        for path in agents_install.remove(args.dir):
            sys.stdout.write(f"removed {path}\n")
        return 0
    types = args.types or registry.types()
    for name in types:
        registry.load(name)  # an unknown type is an error before anything is written
    for path in agents_install.install(args.dir, types):
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
    from stonith.meatware_client import confirm

    return confirm(args.host, args.socket_dir)


def main(argv: list[str]) -> int:
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
    }[args.command]
    try:
        return handler(args)
    except BadConfig as exc:
        for problem in exc.problems:
            prefix = f"{exc.driver}: " if exc.driver else ""
            sys.stderr.write(f"ERROR: {prefix}parameter {problem}\n")
        return int(exc.exit_code)
    except StonithError as exc:
        sys.stderr.write(f"ERROR: {exc}\n")
        return int(exc.exit_code)

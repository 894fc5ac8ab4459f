"""The cluster-glue 1.0.12 compatible ``stonith`` command line.

Same options (``-L -t -n -m -h -p -F -E name=value -c -l -S -T -s -v -d -V``), same output on
stdout and the same exit codes (S_OK .. S_OOPS), with cluster-glue's defects fixed: configuration
errors are fatal whatever the source, a login failure is S_ACCESS, nothing ever crashes, unknown
parameters are reported.  Extras: ``--json``, ``--lang L``, ``--timeout SECONDS``.

Start-up cost matters (``stonith -L``/``-n``/``-m`` are benchmarked against a bare interpreter), so
this module imports only what the requested action needs.
"""

from __future__ import annotations

import os
import sys

from stonith.contract.errors import USAGE, ExitCode, StonithError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stonith.contract.driver import Driver, DriverInfo

VERSION = "stonith 0.1.0 (cluster-glue 1.0.12 compatible)"
SHORT_WITH_ARG = "cFptT"
SHORT_FLAGS = "EsnSlLmvhVd"
LONG_WITH_ARG = ("lang", "timeout")
LONG_FLAGS = ("json", "help", "version")
MAX_NVPAIRS = 50
DEFAULT_TIMEOUT = 60.0


class Options:
    def __init__(self) -> None:
        self.type: str | None = None
        self.list_types = False
        self.names = False
        self.meta = False
        self.help = False
        self.version = False
        self.listhosts = False
        self.status = False
        self.silent = False
        self.verbose = 0
        self.debug = 0
        self.env = False
        self.pstring: str | None = None
        self.file: str | None = None
        self.count = 1
        self.reset_type: str | None = None
        self.nvpairs: list[tuple[str, str]] = []
        self.nodes: list[str] = []
        self.json = False
        self.lang: str | None = None
        self.timeout = DEFAULT_TIMEOUT


def _usage_error(message: str = "") -> UsageError:
    from stonith.render.metadata import USAGE as TEXT

    return UsageError((message + "\n" if message else "") + TEXT)


def parse(argv: list[str]) -> Options:
    """GNU getopt ``c:F:p:t:T:EsnSlLmvhVd`` with argument permutation, plus long extras."""
    opts = Options()
    i18n = sys.modules.get("stonith.render.i18n")  # not imported for -L: nothing chosen then
    if i18n is not None:
        i18n.choose(None)  # a previous invocation's --lang (in the same process) does not carry over
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name in LONG_WITH_ARG:
                if not eq:
                    if i >= len(argv):
                        raise _usage_error(f"option '--{name}' requires an argument")
                    value = argv[i]
                    i += 1
                _set_long(opts, name, value)
            elif name in LONG_FLAGS and not eq:
                _set_long(opts, name, "")
            else:
                # The name only: "--passwd=secret" must not reach stderr whole.
                raise _usage_error(f"unrecognized option '--{name}'")
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                if letter in SHORT_WITH_ARG:
                    if j < len(arg):
                        value = arg[j:]
                    elif i < len(argv):
                        value = argv[i]
                        i += 1
                    else:
                        raise _usage_error(f"option requires an argument -- '{letter}'")
                    _set_short(opts, letter, value)
                    break
                if letter in SHORT_FLAGS:
                    _set_short(opts, letter, "")
                else:
                    raise _usage_error(f"invalid option -- '{letter}'")
            continue
        positional.append(arg)
    for arg in positional:
        if "=" in arg and not opts.nodes:
            name, _, value = arg.partition("=")
            opts.nvpairs.append((name, value))
        else:
            opts.nodes.append(arg)
    if len(opts.nvpairs) > MAX_NVPAIRS:
        raise _usage_error(f"at most {MAX_NVPAIRS} name=value arguments")
    return opts


def _set_short(opts: Options, letter: str, value: str) -> None:
    if letter == "c":
        try:
            opts.count = int(value)
        except ValueError:
            opts.count = 0
        if opts.count < 1:
            raise _usage_error(f"bad count [{value}]")
    elif letter == "F":
        opts.file = value
    elif letter == "p":
        opts.pstring = value
    elif letter == "t":
        opts.type = value
    elif letter == "T":
        if value not in ("reset", "on", "off"):
            raise _usage_error(f"bad reset type [{value}]")
        opts.reset_type = value
    else:
        attr = {
            "E": "env",
            "s": "silent",
            "n": "names",
            "S": "status",
            "l": "listhosts",
            "L": "list_types",
            "m": "meta",
            "h": "help",
            "V": "version",
        }.get(letter)
        if attr:
            setattr(opts, attr, True)
        elif letter == "v":
            opts.verbose += 1
        elif letter == "d":
            opts.debug += 1


def _set_long(opts: Options, name: str, value: str) -> None:
    if name == "json":
        opts.json = True
    elif name == "help":
        opts.help = True
    elif name == "version":
        opts.version = True
    elif name == "lang":
        opts.lang = value
        from stonith.render.i18n import choose

        choose(value)  # an unknown language is said once on stderr, then English
    elif name == "timeout":
        try:
            opts.timeout = float(value)
        except ValueError:
            raise _usage_error(f"bad timeout [{value}]") from None
        if not 0 < opts.timeout <= 86400:
            raise _usage_error(f"bad timeout [{value}]")


# ---------------------------------------------------------------------------------------------


def _out(text: str) -> None:
    sys.stdout.write(text)


def _info(type_name: str, lang: str | None) -> DriverInfo:
    from stonith.fencing import registry
    from stonith.render.i18n import localize_info

    return localize_info(registry.load(type_name).INFO, lang)


def _print_help(opts: Options) -> int:
    """``-h -t TYPE``: cluster-glue's block for the type.  ``-h`` / ``--help`` alone: the one-screen
    overview of every command and option (cluster-glue printed every type's block: 700 lines, and ran
    every external script to get them)."""
    from stonith.render.metadata import OVERVIEW, glue_help_block

    if opts.type:
        try:
            _out(glue_help_block(_info(opts.type, opts.lang)))
        except StonithError as exc:
            sys.stderr.write(f"{exc}\n")
        return 0  # cluster-glue exits 0 for -h whatever the type
    _out(OVERVIEW)
    return 0


def positional_config(info: DriverInfo, text: str) -> dict[str, str]:
    """cluster-glue ``-p``: blank-separated values in ``-n`` order; the last name takes the rest."""
    names = [f.fieldname for f in info.fields]
    blanks = " \t\n\r\f"
    config: dict[str, str] = {}
    rest = text
    for index, name in enumerate(names):
        rest = rest.lstrip(blanks)
        if not rest:
            break
        if index == len(names) - 1:
            config[name] = rest
            break
        end = 0
        while end < len(rest) and rest[end] not in blanks:
            end += 1
        config[name] = rest[:end]
        rest = rest[end:]
    required_missing = [f.fieldname for f in info.fields if f.required and f.fieldname not in config]
    if required_missing:
        # Never the string itself: it holds the password (cluster-glue echoed it to stderr).
        raise UsageError(
            f"Invalid STONITH -p parameter: {len(config)} of {len(names)} values given, "
            f"missing {' '.join(required_missing)} (expected: {' '.join(names)})"
        )
    return config


def file_config(info: DriverInfo, path: str) -> dict[str, str]:
    """cluster-glue ``-F``: the first line that is neither empty nor a # comment, parsed as ``-p``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            line = ""
            for raw in handle:
                raw = raw.rstrip("\n")[:1023]
                if raw.strip() and not raw.startswith("#"):
                    line = raw
                    break
    except OSError:
        raise UsageError(f"Cannot open {path}\nInvalid config file for {info.name} device.") from None
    if not line:
        raise UsageError(f"{path}: no configuration line\nInvalid config file for {info.name} device.")
    config = positional_config(info, line)
    secrets = [f.fieldname for f in info.fields if f.secret and config.get(f.fieldname)]
    if secrets and mode & 0o044:
        raise UsageError(
            f"{path} holds a secret ({', '.join(secrets)}) but is readable by group or others; "
            f"run: chmod 600 {path}"
        )
    return config


def gather_config(opts: Options, info: DriverInfo) -> dict[str, str]:
    sources = sum(1 for used in (opts.pstring is not None, opts.file is not None, opts.env) if used)
    if sources > 1:
        raise _usage_error("Please use just one of -F, -p, and -E options")
    if sources and opts.nvpairs:
        raise UsageError("Cannot mix name=value and -p, -F, or -E style arguments")
    if opts.pstring is not None:
        return positional_config(info, opts.pstring)
    if opts.file is not None:
        return file_config(info, opts.file)
    if opts.env:
        return {f.fieldname: os.environ[f.fieldname] for f in info.fields if f.fieldname in os.environ}
    if opts.nvpairs:
        return dict(opts.nvpairs)
    if info.fields:
        raise _usage_error(
            "Must specify either -p option, -F option, -E option, or name=value style arguments"
        )
    return {}


def _check_node(node: str) -> str:
    from stonith.contract.validation import has_control_chars

    if not node.strip() or has_control_chars(node) or len(node) > 255:
        from stonith.contract.errors import BadConfig, FieldProblem

        err = BadConfig([FieldProblem("nodename", "contains control characters or is empty/too long")])
        err.exit_code = ExitCode.S_INVAL
        raise err
    return node.lower()


def run(opts: Options) -> int:
    if opts.help:
        return _print_help(opts)
    if opts.version:
        _out(VERSION + "\n")
        return 0
    if opts.list_types:
        from stonith.fencing import registry

        _out("".join(name + "\n" for name in registry.types()))
        return 0
    from stonith.contract import log  # not before: -L, -h and -V write no diagnostics

    log.set_verbosity(opts.verbose + opts.debug)
    if not opts.type:
        raise _usage_error("Must specify device type (-t option)")
    if opts.debug:
        from stonith.fencing import external

        external.set_debug(opts.debug)
    info = _info(opts.type, opts.lang)
    if opts.names:
        from stonith.render.metadata import glue_names

        _out(glue_names(info))
        return 0
    if opts.meta:
        from stonith.render.i18n import requested_language
        from stonith.render.metadata import glue_xml

        _out(glue_xml(info, requested_language(opts.lang).split("_")[0]))
        return 0
    raw = gather_config(opts, info)
    if len(opts.nodes) > 1:
        raise _usage_error()
    node = _check_node(opts.nodes[0]) if opts.nodes else None
    if node is None and not (opts.listhosts or opts.status):
        raise _usage_error()
    from stonith.fencing import registry
    from stonith.fencing.device import Device

    device = Device(registry.load(opts.type), raw)
    rc = 0
    for _ in range(opts.count):
        rc = 0
        if opts.status:
            rc = _status(device.driver, opts)
        if opts.listhosts:
            rc = _listhosts(device.driver, opts)
        if node is not None:
            rc = _reset(device.driver, node, opts.reset_type or "reset", opts)
    return rc


def _deadline(opts: Options, what: str) -> Any:
    from stonith.contract.deadline import Deadline, budget

    return Deadline(budget(opts.timeout), what)  # --timeout counts from the command's start


def _entry(driver: Driver, opts: Options, node: str | None = None) -> Any:
    """The device as a one-device inventory (a host-list device is told the node: any name goes)."""
    from stonith.contract.deadline import budget
    from stonith.fencing import engine

    hosts = {node: [node]} if node is not None and driver.INFO.capabilities.any_host else None
    return engine.one_device(driver, hosts=hosts, timeout=budget(opts.timeout)).devices[0]


def _status(driver: Driver, opts: Options) -> int:
    from stonith.contract import log
    from stonith.fencing import engine

    name = driver.INFO.name
    try:
        identity = engine.call(_entry(driver, opts), _deadline(opts, "status"), lambda d, dl: d.probe(dl))
    except StonithError as exc:
        log.error(f"{name} device not accessible: {exc}")
        if opts.json:
            _json({"action": "status", "type": name, "result": "error", "error": str(exc)})
        return int(exc.exit_code)
    if not opts.silent:
        log.info(f"{name} device OK.")
    if opts.json:
        _json({"action": "status", "type": name, "result": "ok", "device": identity})
    return 0


def _listhosts(driver: Driver, opts: Options) -> int:
    from stonith.contract import log
    from stonith.fencing import engine

    try:
        outlets = engine.call(_entry(driver, opts), _deadline(opts, "list"), lambda d, dl: d.outlets(dl))
    except StonithError as exc:
        log.error(f"Could not list hosts for {driver.INFO.name}: {exc}")
        return int(exc.exit_code)
    # Device-reported names reach the terminal: a name with a C0 control (ESC), DEL or a C1 control
    # (CSI 0x9B, OSC 0x9D: escape sequences in one character) is no node name and is not listed.
    names = [
        o.name.lower() if driver.LOWERCASE_HOSTS else o.name
        for o in outlets
        if not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in o.name)
    ]
    if opts.json:
        _json({"action": "list", "type": driver.INFO.name, "hosts": names})
    else:
        _out("".join(n + "\n" for n in names))
    return 0


def _reset(driver: Driver, node: str, verb: str, opts: Options) -> int:
    """``-T``: the engine's verified operation; a device that cannot be verified is switched on its
    word and reported NOT verified (cluster-glue's behaviour for such devices)."""
    from stonith.contract import log
    from stonith.fencing import engine

    name = driver.INFO.name
    entry = _entry(driver, opts, node)
    wanted = "off" if verb == "off" else "on"
    verified = engine.verifiable(driver)
    if verified:
        from stonith.cli.cluster_cli import INTERRUPTED, interruptible
        from stonith.contract.deadline import budget
        from stonith.fencing.inventory import Inventory

        fencer = engine.Fencer(Inventory([entry], ""), timeout=budget(opts.timeout), any_name=True)
        with interruptible(fencer):
            result = fencer.run(verb, [node])[0]
        if fencer.interrupted:
            log.error(f"{name}: {verb} of host {node} interrupted: {result.message} (state {result.state})")
            return INTERRUPTED
        failure = None if result.ok else (result.message, result.exit_code or int(ExitCode.S_RESETFAIL))
        last = [d for d in result.devices if d.phase == wanted]
        outlets = [(o.id, o.name, o.state) for d in last for o in d.outlets]
    else:
        try:
            switched = engine.unverified(entry, node, verb, _deadline(opts, f"{verb} {node}"))
        except StonithError as exc:
            switched, failure = [], (str(exc), int(exc.exit_code))
        else:
            failure = None
        outlets = [(o.id, o.name, wanted) for o in switched]
    if failure is not None:
        message, code = failure
        log.error(f"{name}: {verb} of host {node} failed: {message}")
        if opts.json:
            _json(
                {
                    "action": verb,
                    "type": name,
                    "host": node,
                    "result": "failed",
                    "error": message,
                    "exit_code": code,
                }
            )
        return code
    how = "verified" if verified else "NOT verified: the device cannot report outlet state"
    log.info(f"Host {name}-{verb}: {node} ({', '.join(n for _, n, _ in outlets)}; {how})")
    if opts.json:
        rows = [
            {"outlet": i, "name": n, "wanted": wanted, "seen": s, "verified": verified} for i, n, s in outlets
        ]
        _json(
            {
                "action": verb,
                "type": name,
                "host": node,
                "result": "ok",
                "verified": verified,
                "outlets": rows,
            }
        )
    return 0


def _json(data: object) -> None:
    import json

    from stonith.contract import redact

    _out(json.dumps(redact.deep(data), sort_keys=True) + "\n")


def main(argv: list[str]) -> int:
    try:
        return run(parse(argv))
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n" if not str(exc).endswith("\n") else str(exc))
        return int(exc.exit_code)
    except StonithError as exc:
        from stonith.contract.errors import BadConfig

        if isinstance(exc, BadConfig):
            for problem in exc.problems:
                prefix = f"{exc.driver}: " if exc.driver else ""
                sys.stderr.write(f"ERROR: {prefix}parameter {problem}\n")
        else:
            from stonith.contract import redact  # a device's error may quote its echo of our password

            sys.stderr.write(f"ERROR: {redact.text(str(exc))}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("ERROR: interrupted\n")
        return int(ExitCode.S_OOPS)


_ = USAGE  # re-exported for callers that document exit codes

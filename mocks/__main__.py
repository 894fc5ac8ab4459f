"""``stonith-mock``: run a mock device until SIGTERM or SIGINT.

    stonith-mock TYPE [--model M] [--listen HOST:PORT | --serial-link PATH] [--outlets N]
                 [--names a,b,...] [--states on,off,...] [--username U] [--password P]
                 [--fault SPEC]... [--state-file FILE] [--relay-delay S] [--sessions N]
                 [device flags]

TYPE is a driver type name (``stonith-mock TYPE --help`` lists the device's models and flags).
Once serving, one JSON line goes to stdout: ``{"type", "model", "address": "host:port" | "serial":
path, "pid"}``; ``--listen 127.0.0.1:0`` picks a free port.  The password may come from
STONITH_MOCK_PASSWORD instead of the command line (which ``ps`` shows).  Fault SPECs are
described in stonith.mocks._common.  Exit status: 0 after a signal, 2 on a usage error or
when the address cannot be served.

A mock is a test device, not a product: it binds 127.0.0.1 unless told otherwise, and says on
stderr when it serves beyond loopback (anyone who can reach it can switch its "outlets" and learn
the credentials it accepts) and when it accepts the well-known default credentials.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

    from stonith.mocks._common import RunningMock


def _mocks() -> dict[str, str]:
    """Driver type -> its mock module, derived from the driver entry points (the one list of drivers):
    the mock of ``drivers/X.py`` is ``mocks/X.py`` (driver, mock and tests line up by name; one SNMP
    agent serves every family of drivers/snmp_pdu.py).  Types whose module has no mock have none."""
    import importlib.util

    from stonith.fencing.registry import entry_points

    found: dict[str, str] = {}
    for name, ep in entry_points().items():
        module = ep.value.partition(":")[0]
        if module.startswith("stonith.drivers."):
            mock = "stonith.mocks." + module.rpartition(".")[2]
            if importlib.util.find_spec(mock) is not None:
                found[name] = mock
    return found


MOCKS: dict[str, str] = _mocks()
DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "baytech"
# The mocks that check a password (the others have no credentials, or SNMP's communities and users).
# The options every mock takes (the rest are its personality's own).
COMMON_OPTIONS = frozenset(
    (
        "model",
        "listen",
        "serial_link",
        "outlets",
        "names",
        "states",
        "username",
        "password",
        "fault",
        "state_file",
        "relay_delay",
        "sessions",
    )
)
PASSWORD_MOCKS = frozenset({"baytech", "apcmaster", "wti_nps", "ipmilan", "redfish", "redfish_pdu"})


def load(type_name: str) -> ModuleType:
    if type_name not in MOCKS:
        raise SystemExit(f"stonith-mock: no mock for type {type_name!r} (known: {', '.join(sorted(MOCKS))})")
    try:
        return importlib.import_module(MOCKS[type_name])
    except ImportError as exc:
        raise SystemExit(f"stonith-mock: the mock for {type_name!r} cannot be loaded: {exc}") from None


def parser_for(type_name: str, module: ModuleType) -> argparse.ArgumentParser:
    from stonith.mocks._common import FAULT_SPECS

    parser = argparse.ArgumentParser(
        prog=f"stonith-mock {type_name}",
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", choices=sorted(module.MODELS), default=module.DEFAULT_MODEL)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--listen", metavar="HOST:PORT", help="serve TCP (default 127.0.0.1:0)")
    where.add_argument("--serial-link", metavar="PATH", help="serve a pty; PATH becomes a symlink to it")
    parser.add_argument("--outlets", type=int, metavar="N", help="number of outlets (default: the model's)")
    parser.add_argument("--names", default="", metavar="a,b,...", help="outlet names, in outlet order")
    parser.add_argument("--states", default="", metavar="on,off,...", help="initial states (default on)")
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--password", default=None, help="(or STONITH_MOCK_PASSWORD)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault: " + ", ".join(FAULT_SPECS),
    )
    parser.add_argument(
        "--state-file", metavar="FILE", help="ground truth as JSON, rewritten on every change"
    )
    parser.add_argument(
        "--relay-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds before a relay follows an accepted command",
    )
    parser.add_argument(
        "--sessions",
        type=int,
        default=1,
        metavar="N",
        help="concurrent sessions accepted (0 = no limit; default 1)",
    )
    module.add_arguments(parser)
    return parser


def start(argv: list[str], warnings: list[str] | None = None) -> RunningMock:
    """Parse a ``stonith-mock`` command line (without the program name) and start the mock.

    ``warnings``: receives what an operator should know about the mock's exposure (see the module).
    """
    from stonith.mocks._common import RunningMock, build_config, parse_faults

    if not argv or argv[0].startswith("-"):
        raise SystemExit("usage: stonith-mock TYPE [options]   (TYPE: " + ", ".join(sorted(MOCKS)) + ")")
    type_name = argv[0]
    module = load(type_name)
    parser = parser_for(type_name, module)
    args = parser.parse_args(argv[1:])
    options = {k: v for k, v in vars(args).items() if k not in COMMON_OPTIONS}
    password = args.password
    if password is None:
        password = os.environ.get("STONITH_MOCK_PASSWORD", DEFAULT_PASSWORD)
    if warnings is not None:
        warnings += exposure_warnings(
            args.listen, args.serial_link, password if type_name in PASSWORD_MOCKS else None, options
        )
    try:
        config = build_config(
            type_name,
            args.model,
            outlets=args.outlets or module.default_outlets(args.model),
            names=[n for n in args.names.split(",") if n] if args.names else [],
            states=[s.strip().lower() for s in args.states.split(",") if s.strip()],
            default_names=lambda count: module.default_names(args.model, count),
            username=args.username,
            password=password,
            faults=parse_faults(args.fault),
            relay_delay=args.relay_delay,
            state_file=args.state_file,
            sessions=args.sessions,
            options=options,
        )
        # Line-oriented devices (telnet, serial) use the shared TCP/pty servers; a module with its own
        # transport (SNMP over UDP, IPMI, HTTP) provides run(config, listen=..., serial_link=...)
        # returning an object with the same ``info``, ``truth()`` and ``close()``.
        runner = getattr(module, "run", None)
        if runner is not None:
            running: RunningMock = runner(config, listen=args.listen, serial_link=args.serial_link)
            return running
        device = module.create(config)
        return RunningMock(device, listen=args.listen, serial_link=args.serial_link)
    except ValueError as exc:
        parser.error(str(exc))
        raise  # not reached: parser.error exits


def exposure_warnings(
    listen: str | None, serial_link: str | None, password: str | None, options: dict[str, object]
) -> list[str]:
    """One line per way this mock is more exposed than a test device should be."""
    from stonith.mocks._common import split_listen

    from stonith.fencing.lab import is_loopback

    found: list[str] = []
    if listen is not None:
        try:
            host = split_listen(listen)[0]
        except ValueError:
            host = listen  # parse errors are reported by the mock itself
        if not is_loopback(host):
            found.append(
                f"--listen {listen} is not a loopback address: anyone who can reach it can switch "
                "this mock's outlets and try the credentials it accepts"
            )
    if serial_link is None and password == DEFAULT_PASSWORD:
        found.append(
            f"default password {DEFAULT_PASSWORD!r}: set STONITH_MOCK_PASSWORD to a password of your own"
        )
    if "community" in options and not options["community"] and not os.environ.get("STONITH_MOCK_COMMUNITY"):
        found.append(
            "default SNMP community 'private': set STONITH_MOCK_COMMUNITY to a community of your own"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    warnings: list[str] = []
    try:
        mock = start(sys.argv[1:] if argv is None else argv, warnings)
    except OSError as exc:  # address in use, no permission for the port, bad link path
        sys.stderr.write(f"stonith-mock: error: {exc}\n")
        return 2
    for warning in warnings:
        sys.stderr.write(f"stonith-mock: WARNING: {warning}\n")
    try:
        sys.stdout.write(json.dumps({**mock.info, "pid": os.getpid()}) + "\n")
        sys.stdout.flush()
        while not stop.wait(1.0):
            pass
    finally:
        mock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

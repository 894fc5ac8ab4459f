"""``stonith``: dispatches to the cluster-glue compatible command line or to a subcommand.

A first argument naming a subcommand (``metadata``, ``config``, ``types``, ...) selects the
modern interface; anything else is cluster-glue's ``stonith`` syntax, except a bare first word that
cluster-glue's syntax cannot take (no ``-t``): a mistyped subcommand, answered with "did you mean".
Kept tiny: it is on the start-up path of every invocation.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

SUBCOMMANDS = (
    "metadata",
    "config",
    "types",
    "meatclient",
    "install-agents",
    "export",
    "slurm-suspend",
    "slurm-resume",
    "completion",
    "init",
    "install-units",
    "new-driver",
    "help",
)
SERVER_COMMANDS = ("serve", "user", "token")  # stonith.server: only these import the web stack
CLUSTER_COMMANDS = ("status", "on", "off", "reset", "devices", "check", "lab")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args and args[0] in SUBCOMMANDS:
            from stonith.cli.commands import main as commands_main

            return commands_main(args)
        if args and args[0] == "complete":  # the completion scripts' name source: no argparse, fast
            from stonith.cli.completion import complete_main

            return complete_main(args[1:])
        if args and args[0] == "serve":
            from stonith.server.serve import main as serve_main

            return serve_main(args[1:])
        if args and args[0] in SERVER_COMMANDS:
            from stonith.server.auth_cli import main as auth_main

            return auth_main(args)
        if args and args[0] in CLUSTER_COMMANDS:
            from stonith.cli.cluster_cli import main as cluster_main

            return cluster_main(args)
        if args and _not_glue_syntax(args):
            from stonith.cli.commands import unknown_command

            return unknown_command(args[0])
        from stonith.cli.glue_cli import main as glue_main

        return glue_main(args)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:  # before an operation started (during an operation the engine handles it)
        return _fail("interrupted", 130, args, "\n")
    except ModuleNotFoundError as exc:  # an optional library (an extra) that is not installed
        code = _fail(_missing_module(exc, args), 8, args)
        if "STONITH_TRACEBACK" in __import__("os").environ:
            raise
        return code
    except Exception as exc:  # the last line of defence: a clear line, never a traceback
        code = _fail(f"internal error: {type(exc).__name__}: {exc}", 8, args)
        if "STONITH_TRACEBACK" in __import__("os").environ:
            raise
        return code


def _fail(message: str, code: int, args: list[str], lead: str = "") -> int:
    """The last line of defence's error: JSON on stdout for a cluster verb's --json (scripts read
    stdout), else an ERROR line on stderr."""
    if args and args[0] in CLUSTER_COMMANDS and "--json" in args:
        import json

        sys.stdout.write(json.dumps({"error": message, "exit_code": code}) + "\n")
    else:
        sys.stderr.write(f"{lead}ERROR: {message}\n")
    return code


def run() -> None:
    """The ``stonith`` command: ``main``, then exit without the interpreter's teardown.

    Once ``main`` returns, everything is said and done (outlets read back, audit written with
    ``os.write``, device locks are flocks the kernel releases).  Tearing down the interpreter with
    pysnmp and its MIB modules loaded cost half a second under CPU load, past the deadline the
    caller gave (issue 20): nothing is left to do that needs it, so the streams are flushed and
    the process ends.  A ``--timeout`` counts from the process's start (stonith.contract.deadline.budget).
    """
    start_clock()
    exit_now(main())


def start_clock() -> None:
    """A command's ``--timeout`` counts from the start of this process (stonith.contract.deadline.budget)."""
    import stonith

    stonith.launched = __import__("time").monotonic()


def exit_now(code: int) -> NoReturn:
    """Flush what was said and end the process without the interpreter's teardown (see ``run``)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout and not code:
                code = 120  # what Python's own exit returns when stdout cannot be flushed
    logging = sys.modules.get("logging")
    if logging is not None:  # a library's log handlers may buffer
        logging.shutdown()
    import os

    os._exit(code)


def _not_glue_syntax(args: list[str]) -> bool:
    """A bare first word and none of the options every cluster-glue invocation needs (-t, -L, -h, -V):
    cluster-glue would only print its usage, so the word is taken for a mistyped subcommand."""
    first = args[0]
    if first.startswith("-") or "=" in first:
        return False
    for arg in args:
        if arg == "--":
            break
        if arg in ("--help", "--version"):
            return False
        if arg.startswith("-") and not arg.startswith("--") and any(c in "tLhV" for c in arg[1:]):
            return False
    return True


def _missing_module(exc: ModuleNotFoundError, args: list[str]) -> str:
    from stonith.contract.errors import missing_extra_message
    from stonith.fencing.registry import extra_for

    extras = extra_for(exc.name or "")
    if not extras:
        return f"internal error: ModuleNotFoundError: {exc}"
    preferred = "server" if args and args[0] in SERVER_COMMANDS else "remote" if "--remote" in args else ""
    extra = preferred if preferred in extras else extras[0]
    what = f"stonith {args[0]}" if args and not args[0].startswith("-") else "stonith"
    return missing_extra_message(what, extra, [exc.name or ""])


if __name__ == "__main__":
    run()

"""``stonith``: dispatches to the cluster-glue compatible command line or to a subcommand.

A first argument naming a subcommand (``metadata``, ``config``, ``types``, ...) selects the
modern interface; anything else is cluster-glue's ``stonith`` syntax.  Kept tiny: it is on the
start-up path of every invocation.
"""

from __future__ import annotations

import sys

SUBCOMMANDS = ("metadata", "config", "types", "meatclient", "install-agents")
SERVER_COMMANDS = ("serve", "user", "token")  # stonith.server: only these import the web stack
CLUSTER_COMMANDS = ("status", "on", "off", "reset", "devices", "check", "lab")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args and args[0] in SUBCOMMANDS:
            from stonith.commands import main as commands_main

            return commands_main(args)
        if args and args[0] == "serve":
            from stonith.server.serve import main as serve_main

            return serve_main(args[1:])
        if args and args[0] in SERVER_COMMANDS:
            from stonith.server.auth_cli import main as auth_main

            return auth_main(args)
        if args and args[0] in CLUSTER_COMMANDS:
            from stonith.cluster_cli import main as cluster_main

            return cluster_main(args)
        from stonith.glue_cli import main as glue_main

        return glue_main(args)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:  # before an operation started (during an operation the engine handles it)
        sys.stderr.write("\nERROR: interrupted\n")
        return 130
    except Exception as exc:  # the last line of defence: a clear line, never a traceback
        sys.stderr.write(f"ERROR: internal error: {type(exc).__name__}: {exc}\n")
        if "STONITH_TRACEBACK" in __import__("os").environ:
            raise
        return 8


if __name__ == "__main__":
    sys.exit(main())

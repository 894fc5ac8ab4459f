"""Diagnostics on stderr, deterministically (cluster-glue only wrote them when stdin was a tty).

Level words are cluster-glue's: ``info``, ``WARN``, ``ERROR``, ``CRIT``, ``debug``.  Secrets never
reach this module on purpose (callers log field names, not values of secret fields); a device's
echo of one inside a quoted answer is masked here (stonith.contract.redact).
"""

from __future__ import annotations

import sys

DEBUG, INFO, WARN, ERROR, CRIT = 10, 20, 30, 40, 50
_WORDS = {DEBUG: "debug", INFO: "info", WARN: "WARN", ERROR: "ERROR", CRIT: "CRIT"}
threshold = INFO


def set_verbosity(verbose: int, quiet: bool = False) -> None:
    global threshold
    threshold = DEBUG if verbose else (WARN if quiet else INFO)


def log(level: int, message: str) -> None:
    if level < threshold:
        return
    # One line per message: a device's text must not forge extra log lines.
    from stonith.contract import redact

    message = redact.text(message)
    clean = "".join(ch if ch >= " " or ch == "\t" else "?" for ch in message.replace("\n", " | "))
    try:
        sys.stderr.write(f"{_WORDS[level]}: {clean}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def debug(message: str) -> None:
    log(DEBUG, message)


def info(message: str) -> None:
    log(INFO, message)


def warn(message: str) -> None:
    log(WARN, message)


def error(message: str) -> None:
    log(ERROR, message)


def crit(message: str) -> None:
    log(CRIT, message)

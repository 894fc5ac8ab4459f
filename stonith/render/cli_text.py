"""The cluster verbs' words in the user's language (gettext domain ``stonith``, see stonith.render.i18n).

The engine writes its result messages in English: they go to the audit log and to ``--json``,
which stay English and machine-readable.  The table is for people, so here, at the presentation
layer, the engine's fixed phrases are recognised and translated with their parameters kept.  A
message not recognised (a device's own words) is shown as the engine wrote it.

English costs nothing: ``tr`` is the identity unless another language was chosen, and gettext is
imported only then (stonith.render.i18n).
"""

from __future__ import annotations

import re

from stonith.render.i18n import _, tr

# Table headers, result words and states: shown in the table, never in --json.
HEADERS = (
    *("NODE", "RESULT", "STATE", "LEVEL", "TIME", "DETAIL", "DEVICE", "CHECK"),
    *("TYPE", "ADDRESS", "NODES:OUTLETS", "FILE", "MOCK", "MODEL", "GROUND TRUTH"),
)
WORDS = ("ok", "FAILED", "ON-FAILED", "UNKNOWN-NODE", "on", "off", "unknown")

# The engine's result lines (stonith.fencing.engine._success, _failure_message, _unknown_node; prepare).
_RESULTS: tuple[tuple[str, str], ...] = (
    (r"fenced and powered on at level (?P<level>\d+)", "fenced and powered on at level {level}"),
    (r"powered on at level (?P<level>\d+)", "powered on at level {level}"),
    (r"powered off at level (?P<level>\d+)", "powered off at level {level}"),
    (
        r"NOT fenced \(levels tried: (?P<levels>[^)]*)\): (?P<detail>.*)",
        "NOT fenced (levels tried: {levels}): {detail}",
    ),
    (
        r"NOT powered on \(levels tried: (?P<levels>[^)]*)\): (?P<detail>.*)",
        "NOT powered on (levels tried: {levels}): {detail}",
    ),
    (
        r"fenced at level (?P<level>\d+) \(every outlet read back off\), but power-on was not read back: "
        r"(?P<detail>.*)",
        "fenced at level {level} (every outlet read back off), but power-on was not read back: {detail}",
    ),
    (r"no device in devices\.d controls this node", "no device in devices.d controls this node"),
    (
        r"unknown: could not ask (?P<why>.*); that device may feed this node too",
        "unknown: could not ask {why}; that device may feed this node too",
    ),
    (
        r"unknown: no device that answered controls this node; could not ask (?P<why>.*)",
        "unknown: no device that answered controls this node; could not ask {why}",
    ),
    (r"interrupted before anything was switched", "interrupted before anything was switched"),
    # stonith.fencing.prepare.Prepared.refused, one per verb (its _doing)
    *(
        (
            rf"not {doing}: its fence may depend on a broken device file: (?P<files>.*)",
            f"not {doing}: its fence may depend on a broken device file: {{files}}",
        )
        for doing in ("read", "switched on", "switched off", "reset")
    ),
)
_LEFT_OFF = "; outlets that did read back off were left off"

# Phrases inside a result's detail or an error line (the engine's, devices.d's), translated where
# they occur; the rest (a device's own words, an OS error) stays as it was.
_DETAILS: tuple[tuple[str, str], ...] = (
    (
        r"outlet (?P<outlet>[^:;]+): still (?P<state>on|off|unknown) after (?P<seconds>[\d.]+) s",
        "outlet {outlet}: still {state} after {seconds} s",
    ),
    (r"cannot read the devices directory: (?P<why>.*)", "cannot read the devices directory: {why}"),
    (r"environment variable (?P<name>'[^']*') is not set", "environment variable {name} is not set"),
)

# check's result kinds (``--json`` "result") and their line in the table and the journal.
CHECK_TEXT = {
    "ok": "ok: {message}",
    "failed": "FAILED: {message}",
    "unsafe-file": "UNSAFE FILE: {message}",
    "error": "ERROR: {message}",
    "weak-channel": "WARNING: weak channel: {message}",
    "names-from-device": "WARNING: {message}",
    "conflict": "CONFLICT: {message}",
}

# Messages of the cluster CLI itself (errors, warnings, progress, folded status).
MESSAGES = (
    "ERROR: {message}",
    "WARNING: {message}",
    "{prog}: error: {message}",
    "from device",
    "stonith {verb} needs a NODESET",
    "--remote works with status, on, off and reset",
    "no audit log (no /dev/log); use --audit FILE to keep one",
    "interrupted; the table above shows every node's state as last read back",
    "outlets that did read back off were left off",
    "{done}/{total} nodes done, {failed} failed, {seconds:.1f}s",
    "waiting for {device} outlet {outlet} to read back {state}: {seconds:.0f} s",
    "node set operators (!, &, ^) and @groups need ClusterShell (pip install 'stonith[hostlist]'): {text!r}",
)

CLI_STRINGS = tuple(
    dict.fromkeys(
        [
            *HEADERS,
            *WORDS,
            *(msgid for _pattern, msgid in (*_RESULTS, *_DETAILS)),
            *CHECK_TEXT.values(),
            *MESSAGES,
        ]
    )
)


def headers(*names: str) -> list[str]:
    return [_(name) for name in names]


def word(text: str) -> str:
    """A result or state word of the table (``FAILED``, ``off``); others unchanged."""
    return _(text) if text in WORDS else text


def result_line(message: str) -> str:
    """An engine result message in the chosen language (unchanged when it is not a known phrase)."""
    if _("ok") == "ok" and _("NODE") == "NODE":  # English: nothing to do, skip the patterns
        return message
    suffix = ""
    if message.endswith(_LEFT_OFF):
        message = message[: -len(_LEFT_OFF)]
        suffix = "; " + _("outlets that did read back off were left off")
    for pattern, msgid in _RESULTS:
        match = re.fullmatch(pattern, message, re.DOTALL)
        if match:
            return details(tr(msgid, **match.groupdict())) + suffix
    return details(message) + (suffix and _LEFT_OFF)


def details(text: str) -> str:
    """``text`` with the known phrases in it translated (see _DETAILS)."""
    if _("NODE") == "NODE":  # English
        return text
    for pattern, msgid in _DETAILS:

        def one(match: re.Match[str], msgid: str = msgid) -> str:
            params = match.groupdict()
            if "state" in params:
                params["state"] = word(params["state"])
            return tr(msgid, **params)

        text = re.sub(pattern, one, text)
    return text


def error(message: str) -> str:
    """An ``ERROR:`` line's text (without newline)."""
    return tr("ERROR: {message}", message=details(message))

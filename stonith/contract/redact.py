"""Secrets never leave the process in device output or error text.

A device that echoes what we type (a telnet console echoing the password, then hanging) hands the
password back to us; quoting its output in an error ("last output: '...'") would carry it into
``--json``, the audit log and a fence agent's stderr, which Pacemaker logs.  Every driver remembers
the values of its secret fields here (``Driver.__init__``: the field metadata says which are secret,
``specialtype`` secret), and every place that quotes device output or writes a message out of the
process passes it through ``text``.

The set is per process and only grows: a secret that was ever configured stays masked, which costs
nothing and survives a driver object being replaced.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from stonith.contract.fields import Field

MASK = "********"
# A secret echoed only in part (the device hung mid-echo, or the quoted tail starts inside it) is
# masked from this many characters of it on; shorter fragments say too little to be worth the noise.
MIN_FRAGMENT = 3
# A secret shorter than this is not masked in running text: masking "x" would garble every message
# ("e********ternal/..."), and a password of one to three characters is no secret from anyone
# who can try them all.
MIN_SECRET = 4

_secrets: set[str] = set()
# Derived from _secrets at each new one (text() runs for every string of every audit record): the
# secrets longest first (a secret inside another is masked as part of the longer one); each
# secret's prefixes and suffixes of at least MIN_FRAGMENT characters (what a cut can leave at a
# message's end or start, for _mask_ends); and all of them together, so that one endswith and one
# startswith call (given a tuple) rule out nearly every message.
_ordered: list[str] = []
_fragments: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_prefixes: tuple[str, ...] = ()
_suffixes: tuple[str, ...] = ()


def remember(value: object) -> None:
    """Mask ``value`` (a secret's text) in everything ``text`` sees from now on."""
    global _ordered, _prefixes, _suffixes
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        value = value.strip("\r\n")
        if len(value) >= MIN_SECRET and value not in _secrets:
            _secrets.add(value)
            _ordered = sorted(_secrets, key=len, reverse=True)
            sizes = range(MIN_FRAGMENT, len(value))
            fragments = _fragments[value] = (
                tuple(value[:size] for size in sizes),
                tuple(value[-size:] for size in sizes),
            )
            _prefixes += fragments[0]
            _suffixes += fragments[1]


def remember_config(fields: Iterable[Field], config: Mapping[str, Any]) -> None:
    """Every secret of a typed configuration, also a secret member of a struct."""
    for field in fields:
        value = config.get(field.fieldname)
        if value is None:
            continue
        if field.secret:
            remember(value)
        elif field.fields:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    remember_config(field.fields, item)


def text(message: str) -> str:
    """``message`` with every remembered secret, and a secret cut off at either end, masked."""
    if not _secrets or not message:
        return message
    for secret in _ordered:
        if secret in message:
            message = message.replace(secret, MASK)
    if message.endswith(_prefixes) or message.startswith(_suffixes):
        for secret in _ordered:
            message = _mask_ends(message, secret)
    return message


# C0 controls, DEL and C1 controls (ESC, CSI 0x9B, OSC 0x9D, ...): what makes a terminal act.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def shown(message: str, limit: int = 300) -> str:
    """Text that may hold device output (an exception of a driver bug, say) fit for a message, a log
    and a terminal: secrets masked, controls shown as ``\\xNN``, at most ``limit`` characters."""
    return text(message).translate(_CONTROLS)[:limit]


def _mask_ends(message: str, secret: str) -> str:
    """Mask a fragment of ``secret`` that a cut left at the end (a prefix) or the start (a suffix)."""
    fragments = _fragments[secret]  # every secret came through remember()
    if not (message.endswith(fragments[0]) or message.startswith(fragments[1])):
        return message
    for size in range(min(len(secret) - 1, len(message)), MIN_FRAGMENT - 1, -1):
        if message.endswith(secret[:size]):
            message = message[:-size] + MASK
            break
    for size in range(min(len(secret) - 1, len(message)), MIN_FRAGMENT - 1, -1):
        if message.startswith(secret[-size:]):
            message = MASK + message[size:]
            break
    return message


def tail(data: bytes, size: int) -> str:
    """The last ``size`` characters of device output, secrets masked first (so a secret the cut
    would split is still whole when it is masked).  Latin-1, as drivers encode what they type."""
    whole = text(data.decode("latin-1"))
    return whole[-size:] if len(whole) > size else whole


def deep(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with ``text`` applied to every string in it.

    Masked before serialising: JSON escapes a quote or backslash inside a secret, and the escaped
    form would no longer match."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {key: deep(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [deep(item) for item in value]
    return value

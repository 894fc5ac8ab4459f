"""Text a driver sends to a device console, encoded without leaking what could not be encoded.

``str.encode`` reports the offending character and its position (``'latin-1' codec can't encode
character '\\u20ac' in position 3``): for a password that is a piece of the secret, and the message
travels to stderr, logs and the audit record (issue 21 item 9).  ``latin1`` names only the field.
"""

from __future__ import annotations

from stonith.contract.errors import BadConfig, FieldProblem


def latin1(value: str, field: str, driver: str) -> bytes:
    """``value`` in Latin-1 (what these consoles take); BadConfig naming ``field`` if it is not."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        pass
    # Raised outside the except block: no chained UnicodeEncodeError holding the value itself.
    raise BadConfig([FieldProblem(field, "holds characters this device cannot take (Latin-1 only)")], driver)


# C0 controls, DEL and C1 controls (ESC, CSI 0x9B, OSC 0x9D, ...): what makes a terminal act.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: str, limit: int = 200) -> str:
    """Device-reported ``text`` fit for a message: controls shown as ``\\xNN``, at most ``limit`` long."""
    return text.translate(_CONTROLS)[:limit]

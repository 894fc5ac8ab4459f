"""Turning raw input into typed values, and checking them against their Field.

The other half of stonith.contract.fields, which describes a configuration as data: here text or
structured input (TOML, JSON, XML-RPC, ``name=value`` lines) becomes typed values (``parse_value``),
each value is checked against its field's constraints and specialtype (``check_value``,
``check_special``), and a whole configuration is validated with its defaults filled in
(``validate``, ``defaults``).  A problem with one value is a ``ValueProblem``; ``validate`` returns
every problem as (fieldname, message, is_missing).  ``split_hostport``/``join_hostport`` are the one
reader and writer of a host and port, for configurations, listeners, transports and mocks alike.

Only a command that validates a configuration imports this module; ``re``, ``ipaddress`` and ``json``
are imported only when a value needs them.
"""

from __future__ import annotations

from stonith.contract.fields import (
    BOOLEAN,
    ENUMERATION,
    FALSE_WORDS,
    FLOAT,
    HOSTNAME,
    HOSTPORT,
    INTEGER,
    IPV4,
    IPV6,
    LIST_SEPARATORS,
    OID,
    OUTLET,
    PATH,
    SECONDS,
    SECRET,
    SERIAL_URL_SCHEMES,
    SNMP_COMMUNITY,
    SPECIAL_REGEX,
    STRUCT,
    TRUE_WORDS,
    TTY,
    URL,
    number_text,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from stonith.contract.fields import Field

# ---------------------------------------------------------------------------------------------
# Parsing text into typed values


class ValueProblem(ValueError):
    """A single value is unacceptable; the message names what is wrong, not which field."""


def has_control_chars(text: str) -> bool:
    if text.isprintable():  # C speed; every control character is non-printable
        return False
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def split_list(text: str) -> list[str]:
    """Split a list given as one string the way cluster-glue splits host lists.

    Blanks (space, tab, CR, LF, FF) and commas separate items; empty items vanish.
    """
    items: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch in LIST_SEPARATORS:
            if current:
                items.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        items.append("".join(current))
    return items


def parse_scalar(field: Field, raw: Any) -> Any:
    """Turn one scalar (text or already typed) into the field's Python type."""
    kind = field.basictype
    if isinstance(raw, str) and has_control_chars(raw):
        # Whatever the type: "5\n" is not an integer, "yes\r" is not a boolean.
        raise ValueProblem("contains control characters")
    shown = "the value" if field.secret else repr(raw)  # a secret never appears in a message
    if kind == BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValueProblem(f"{shown} is not a boolean (use yes/no, true/false, on/off, 1/0)")
    if kind == INTEGER:
        if isinstance(raw, bool):
            raise ValueProblem(f"{shown} is not an integer")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        text = str(raw).strip()
        if text[:1] in ("+", "-"):  # not `in "+-"`: "" is in every string
            sign, digits = text[0], text[1:]
        else:
            sign, digits = "", text
        if not digits.isascii() or not digits.isdigit():
            raise ValueProblem(f"{shown} is not an integer")
        return int(sign + digits)
    if kind in (FLOAT, SECONDS):
        if isinstance(raw, bool):
            raise ValueProblem(f"{shown} is not a number")
        try:
            if isinstance(raw, (int, float)):
                value = float(raw)
            else:
                value = _parse_number(str(raw).strip(), seconds=kind == SECONDS)
        except OverflowError:  # float(10**400)
            value = float("inf")
        except ValueProblem:
            raise ValueProblem(f"{shown} is not a number{' of seconds' if kind == SECONDS else ''}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueProblem(f"{shown} is not a finite number")
        return value
    if kind == ENUMERATION:
        text = str(raw)
        for choice in field.enumset:
            if text == choice:
                return choice
        lowered = text.lower()
        for choice in field.enumset:
            if lowered == choice.lower():
                return choice
        raise ValueProblem(f"{shown} is not one of {', '.join(field.enumset)}")
    if not isinstance(raw, str):
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise ValueProblem(f"expected text, got {type(raw).__name__}")
    return raw


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def _parse_number(text: str, *, seconds: bool) -> float:
    number, factor = text, 1.0
    if seconds:
        for unit in ("ms", "min", "s", "m", "h"):
            if text.endswith(unit) and text[: -len(unit)].strip():
                number, factor = text[: -len(unit)].strip(), _UNITS[unit]
                break
    try:
        return float(number) * factor
    except ValueError:
        raise ValueProblem(f"{text!r} is not a number{' of seconds' if seconds else ''}") from None


def parse_value(field: Field, raw: Any) -> Any:
    """Typed value of a field from text or from structured input (TOML, JSON, XML-RPC)."""
    if field.field_class == STRUCT:
        return _parse_struct(field, raw)
    if field.isarray:
        if isinstance(raw, str):
            raw = _json_list(raw) if raw.lstrip().startswith("[") else split_list(raw)
        if not isinstance(raw, (list, tuple)):
            raise ValueProblem("expected a list")
        return [parse_scalar(field, item) for item in raw]
    return parse_scalar(field, raw)


def _json_list(text: str) -> list[Any]:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        raise ValueProblem("not a valid JSON list") from None
    if not isinstance(value, list):
        raise ValueProblem("expected a list")
    return value


def _parse_struct(field: Field, raw: Any) -> Any:
    if isinstance(raw, str):
        import json

        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValueProblem("expected a JSON object (or list of objects)") from None
    items = raw if field.isarray else [raw]
    if not isinstance(items, (list, tuple)):
        raise ValueProblem("expected a list of objects")
    out: list[dict[str, Any]] = []
    known = {sub.fieldname: sub for sub in field.fields}
    for item in items:
        if not isinstance(item, dict):
            raise ValueProblem("expected an object")
        unknown = sorted(set(item) - set(known))
        if unknown:
            raise ValueProblem(f"unknown member {unknown[0]!r}")
        value: dict[str, Any] = {}
        for sub in field.fields:
            if item.get(sub.fieldname) is not None:  # JSON null means absent, as at the top level
                try:
                    parsed = parse_value(sub, item[sub.fieldname])
                except ValueProblem as exc:
                    raise ValueProblem(f"{sub.fieldname}: {exc}") from None
                problems = check_value(sub, parsed)
                if problems:
                    raise ValueProblem(f"{sub.fieldname}: {problems[0]}")
                value[sub.fieldname] = parsed
            elif sub.required:
                raise ValueProblem(f"member {sub.fieldname!r} is required")
            elif sub.default is not None:
                value[sub.fieldname] = _fresh(sub.default)
        out.append(value)
    return out if field.isarray else out[0]


# ---------------------------------------------------------------------------------------------
# Checking typed values against the constraints


def check_value(field: Field, value: Any) -> list[str]:
    """Every constraint the (typed) value violates, as messages."""
    if field.field_class == STRUCT:
        return []  # members were checked while parsing
    problems: list[str] = []
    if field.isarray:
        if not isinstance(value, list):
            return ["expected a list"]
        if field.minelem is not None and len(value) < field.minelem:
            problems.append(f"needs at least {field.minelem} item{'s' if field.minelem != 1 else ''}")
        if field.maxelem is not None and len(value) > field.maxelem:
            problems.append(f"takes at most {field.maxelem} items")
        for item in value:
            for problem in _check_scalar(field, item):
                if problem not in problems:
                    problems.append(problem)
        return problems
    return _check_scalar(field, value)


def _check_scalar(field: Field, value: Any) -> list[str]:
    problems: list[str] = []
    if field.basictype in (INTEGER, FLOAT, SECONDS):
        shown = "the value" if field.secret else str(value)
        if field.minval is not None and value < field.minval:
            problems.append(f"{shown} is below the minimum {number_text(field.minval)}")
        if field.maxval is not None and value > field.maxval:
            problems.append(f"{shown} is above the maximum {number_text(field.maxval)}")
        return problems
    if not isinstance(value, str):
        return problems
    if has_control_chars(value):
        return ["contains control characters"]
    if field.length is not None and len(value) > field.length:
        problems.append(f"longer than {field.length} characters")
    if field.regex:
        import re

        if not re.fullmatch(field.regex, value):
            problems.append(f"{_show(field, value)} does not match {field.regex}")
    if field.specialtype:
        problem = check_special(field.specialtype, value)
        if problem:
            problems.append(f"{_show(field, value)} {problem}")
    return problems


def _show(field: Field, value: str) -> str:
    return "the value" if field.secret else repr(value)


def check_special(specialtype: str, value: str) -> str | None:
    """Why ``value`` is not a valid ``specialtype``, or None if it is."""
    import re

    if specialtype in (IPV4, IPV6):
        import ipaddress

        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return f"is not an {'IPv4' if specialtype == IPV4 else 'IPv6'} address"
        if address.version != (4 if specialtype == IPV4 else 6):
            return f"is not an {'IPv4' if specialtype == IPV4 else 'IPv6'} address"
        return None
    if specialtype == HOSTNAME:
        if len(value) > 253 or not re.fullmatch(SPECIAL_REGEX[HOSTNAME], value):
            return "is not a valid host name"
        return None
    if specialtype == HOSTPORT:
        return _check_hostport(value)
    if specialtype == TTY:
        if value.startswith("/"):
            return None
        scheme, sep, _rest = value.partition("://")
        if sep and scheme in SERIAL_URL_SCHEMES:
            return None
        return (
            "is neither a tty path nor a pyserial URL ("
            + ", ".join(s + "://" for s in SERIAL_URL_SCHEMES)
            + ")"
        )
    if specialtype in SPECIAL_REGEX and not re.fullmatch(SPECIAL_REGEX[specialtype], value):
        return {
            OUTLET: "is not a valid outlet name",
            SECRET: "is not a valid secret",
            SNMP_COMMUNITY: "is not a valid SNMP community (1-255 printable characters)",
            OID: "is not a numeric OID",
            URL: "is not an http(s) URL",
            PATH: "is not an absolute path",
        }.get(specialtype, "is not valid")
    return None


def split_hostport(text: str, default_port: int | None = None, *, lowest: int = 1) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port``, ``[v6]`` or a bare IPv6 address -> (host, port).

    The one reader of a host and port (configurations, listen options, mock addresses); join_hostport
    writes them.  A text without a port gets ``default_port``; None makes the port required.
    ValueError when the host is empty, a bracket is not closed, or the port is not a number within
    ``lowest``-65535 (``lowest=0`` for a listener's "any free port").
    """
    try:
        host, port = _hostport_parts(text)
    except ValueError:
        host, port = "", None
    if host and port is None and default_port is not None:
        return host, default_port
    number = port is not None and port.isascii() and port.isdigit()
    if not host or port is None or not number or not lowest <= int(port) <= 65535:
        expected = "HOST:PORT" if default_port is None else "HOST, HOST:PORT or [IPV6]:PORT"
        raise ValueError(f"{text!r}: expected {expected}")
    return host, int(port)


def join_hostport(host: str, port: int) -> str:
    """``host:port``, or ``[v6]:port`` for an IPv6 address: what split_hostport reads back."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _hostport_parts(text: str) -> tuple[str, str | None]:
    """The host and the port's text (None: no port); ValueError for ``[`` without its ``]``."""
    text = text.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(text)
        return host, rest[1:] if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None  # a name, an IPv4 address or a bare IPv6 address


def _check_hostport(value: str) -> str | None:
    import re

    if not re.fullmatch(SPECIAL_REGEX[HOSTPORT], value):
        return "is not host, host:port or [ipv6]:port"
    host, port = _hostport_parts(value)
    if port is not None and not port.isdigit():
        return "has a bad port number"
    if port is not None and not 1 <= int(port) <= 65535:
        return "has a port outside 1-65535"
    if check_special(HOSTNAME, host) is None:
        return None
    if check_special(IPV6, host) is None or check_special(IPV4, host) is None:
        return None
    return "is not host, host:port or [ipv6]:port"


def validate(
    fields: Iterable[Field], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str, bool]]]:
    """Parse and check a whole configuration.

    Returns the typed configuration (defaults filled in) and every problem found as
    (fieldname, message, is_missing).  Unknown names are problems too.
    """
    fields = tuple(fields)
    by_name: dict[str, Field] = {}
    for field in fields:
        by_name[field.fieldname] = field
        for alias in field.aliases:
            by_name.setdefault(alias, field)
    problems: list[tuple[str, str, bool]] = []
    raw: dict[str, Any] = {}
    for name, value in values.items():
        found = by_name.get(name)
        if found is None:
            problems.append(
                (name, "unknown parameter (valid: " + ", ".join(f.fieldname for f in fields) + ")", False)
            )
            continue
        if found.fieldname in raw and name != found.fieldname:
            continue  # the canonical name wins over an alias
        raw[found.fieldname] = value
    typed: dict[str, Any] = {}
    for field in fields:
        if field.fieldname not in raw or raw[field.fieldname] is None:
            if field.required:
                problems.append((field.fieldname, "required parameter is missing", True))
            elif field.default is not None:
                typed[field.fieldname] = _fresh(field.default)
            continue
        try:
            value = parse_value(field, raw[field.fieldname])
        except ValueProblem as exc:
            problems.append((field.fieldname, str(exc), False))
            continue
        messages = check_value(field, value)
        if messages:
            problems.extend((field.fieldname, m, False) for m in messages)
            continue
        if field.required and value in ("", []):
            problems.append((field.fieldname, "must not be empty", False))
            continue
        typed[field.fieldname] = value
    return typed, problems


def defaults(fields: Iterable[Field]) -> dict[str, Any]:
    """The configuration a driver uses when nothing is given (required fields are absent)."""
    return {f.fieldname: _fresh(f.default) for f in fields if f.default is not None}


def _fresh(value: Any) -> Any:
    """A copy of a (default) value that shares no list or dict with the immutable Field."""
    if isinstance(value, (list, tuple)):
        return [_fresh(v) for v in value]
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value

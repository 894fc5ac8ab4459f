"""Self-configuration metadata: the description of a driver's configuration as data.

Every field carries the attributes of the original design (fieldname, label, isarray, class,
basictype, specialtype, length, regex, short_text, long_text, minval, maxval, enumset, fields,
minelem, maxelem) plus ``default``, ``required`` and ``aliases``.  Validation, defaults, CLI help,
cluster-glue ``-m`` XML, fence-agents XML, XML-RPC/JSON marshalling and GUI forms are all derived
from this one description.

A consumer that does not know a specialtype falls back to basictype + length + regex, so every
specialtype below is also expressed (where it can be) by those three.

This module sits on the start-up path of ``stonith -n``/``-m`` and therefore imports nothing but
the standard library modules the interpreter has already loaded; ``re`` and ``ipaddress`` are
imported only when a value is actually validated.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

# basictype
STRING = "string"
BOOLEAN = "boolean"
INTEGER = "integer"
FLOAT = "float"
SECONDS = "seconds"
ENUMERATION = "enumeration"
# The Python type stonith.contract.fields.parse_scalar makes of each basictype that has exactly one
# (an enumeration may change its text's case, so it has none here).
PYTHON_TYPE: dict[str, type] = {STRING: str, INTEGER: int, BOOLEAN: bool, FLOAT: float, SECONDS: float}
BASICTYPES = (STRING, BOOLEAN, INTEGER, FLOAT, SECONDS, ENUMERATION)

# class
SIMPLE = "simple"
STRUCT = "struct"

# specialtype
IPV4 = "ipv4"
IPV6 = "ipv6"
HOSTNAME = "hostname"
HOSTPORT = "hostport"
TTY = "tty"  # a tty path or any pyserial URL
OUTLET = "outlet"
SECRET = "secret"
SNMP_COMMUNITY = "snmp_community"
OID = "oid"
URL = "url"
PATH = "path"
SPECIALTYPES = (IPV4, IPV6, HOSTNAME, HOSTPORT, TTY, OUTLET, SECRET, SNMP_COMMUNITY, OID, URL, PATH)

# Fallback regexes for consumers that ignore specialtype (and used by our own validation).
_HOSTLABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
SPECIAL_REGEX = {
    IPV4: r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
    IPV6: r"[0-9A-Fa-f:.]{2,45}",
    HOSTNAME: rf"{_HOSTLABEL}(?:\.{_HOSTLABEL})*\.?",
    HOSTPORT: r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]+)(?::[0-9]{1,5})?",
    TTY: r"(?:/[^\x00-\x1f\x7f]+|[a-z][a-z0-9+]*://[^\x00-\x1f\x7f]*)",
    OUTLET: r"[^\x00-\x1f\x7f]+",
    SECRET: r"[^\x00-\x1f\x7f]*",
    SNMP_COMMUNITY: r"[\x21-\x7e]{1,255}",
    OID: r"\.?[0-9]+(?:\.[0-9]+)+",
    URL: r"https?://[^\x00-\x20\x7f]+",
    PATH: r"/[^\x00-\x1f\x7f]*",
}

# pyserial URL schemes (serial.serial_for_url) that a tty field accepts.
SERIAL_URL_SCHEMES = ("loop", "socket", "rfc2217", "spy", "alt", "hwgrep", "cp2110")

# How a boolean may be spelled, here and in the fence agents' input (stonith.render.fence_options).
TRUE_WORDS = ("1", "yes", "on", "true", "y")
FALSE_WORDS = ("0", "no", "off", "false", "n")


class Field:
    """One configuration field.  Immutable after construction; compares by value."""

    __slots__ = (
        "aliases",
        "basictype",
        "default",
        "enumset",
        "field_class",
        "fieldname",
        "fields",
        "isarray",
        "label",
        "length",
        "long_text",
        "maxelem",
        "maxval",
        "minelem",
        "minval",
        "regex",
        "required",
        "short_text",
        "specialtype",
    )

    fieldname: str
    label: str
    isarray: bool
    field_class: str
    basictype: str
    specialtype: str | None
    length: int | None
    regex: str | None
    short_text: str
    long_text: str
    minval: float | None
    maxval: float | None
    enumset: tuple[str, ...]
    fields: tuple[Field, ...]
    minelem: int | None
    maxelem: int | None
    default: Any
    required: bool
    aliases: tuple[str, ...]

    def __init__(
        self,
        fieldname: str,
        label: str,
        *,
        basictype: str = STRING,
        specialtype: str | None = None,
        isarray: bool = False,
        field_class: str = SIMPLE,
        length: int | None = None,
        regex: str | None = None,
        short_text: str = "",
        long_text: str = "",
        minval: float | None = None,
        maxval: float | None = None,
        enumset: Iterable[str] = (),
        fields: Iterable[Field] = (),
        minelem: int | None = None,
        maxelem: int | None = None,
        default: Any = None,
        required: bool = False,
        aliases: Iterable[str] = (),
    ) -> None:
        if basictype not in BASICTYPES:
            raise ValueError(f"{fieldname}: unknown basictype {basictype!r}")
        if field_class not in (SIMPLE, STRUCT):
            raise ValueError(f"{fieldname}: class must be simple or struct")
        fields = tuple(fields)
        if (field_class == STRUCT) != bool(fields):
            raise ValueError(f"{fieldname}: a struct field, and only a struct field, has fields")
        enumset = tuple(enumset)
        if (basictype == ENUMERATION) != bool(enumset):
            raise ValueError(f"{fieldname}: an enumeration, and only an enumeration, has an enumset")
        set_ = object.__setattr__
        set_(self, "fieldname", fieldname)
        set_(self, "label", label)
        set_(self, "basictype", basictype)
        set_(self, "specialtype", specialtype)
        set_(self, "isarray", isarray)
        set_(self, "field_class", field_class)
        set_(self, "length", length)
        set_(self, "regex", regex)
        set_(self, "short_text", short_text or label)
        set_(self, "long_text", long_text or short_text or label)
        set_(self, "minval", minval)
        set_(self, "maxval", maxval)
        set_(self, "enumset", enumset)
        set_(self, "fields", fields)
        set_(self, "minelem", minelem)
        set_(self, "maxelem", maxelem)
        set_(self, "default", default)
        set_(self, "required", required)
        set_(self, "aliases", tuple(aliases))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Field is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Field is immutable")

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.fieldname, self.basictype))

    def __repr__(self) -> str:
        return f"Field({self.fieldname!r}, {self.basictype}{'[]' if self.isarray else ''})"

    @property
    def secret(self) -> bool:
        return self.specialtype == SECRET

    def replace(self, **changes: Any) -> Field:
        """A copy with some attributes changed (used for localization)."""
        kwargs: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__}
        kwargs.update(changes)
        name = kwargs.pop("fieldname")
        label = kwargs.pop("label")
        return Field(name, label, **kwargs)

    def effective_regex(self) -> str | None:
        """The regex a specialtype-blind consumer should apply."""
        if self.regex:
            return self.regex
        if self.specialtype:
            return SPECIAL_REGEX.get(self.specialtype)
        return None


def hostlist(long_text: str = "The list of hosts that the STONITH device controls") -> Field:
    """cluster-glue's ``hostlist``: the hosts a device powers, blank- or comma-separated."""
    return Field(
        "hostlist",
        "Hostlist",
        isarray=True,
        specialtype=HOSTNAME,
        length=253,
        minelem=1,
        required=True,
        short_text="Hostlist",
        long_text=long_text,
    )


def crash_dump() -> Field:
    """``crash_dump``: seconds between an NMI and the fence, for drivers that can send one (BMCs)."""
    return Field(
        "crash_dump",
        "Crash dump wait",
        basictype=SECONDS,
        default=0,
        minval=0,
        maxval=600,
        short_text="Seconds to let kdump write after an NMI, before fencing (0: no NMI)",
        long_text="Before a fence (off, reset) of a running node, send it a diagnostic interrupt (NMI) "
        "and wait this many seconds for the kernel's kdump to write a crash dump, then fence as "
        "usual (off, read back off). 0 sends no NMI. It delays every fence by this time: raise the "
        "device's timeout by as much. The wait is cut short when the deadline would leave less "
        "than half of the device's timeout for the fence itself, and a refused NMI never stops the "
        "fence.",
    )


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
        if ch in " \t\r\n\f,":
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
            problems.append(f"{shown} is below the minimum {_num(field.minval)}")
        if field.maxval is not None and value > field.maxval:
            problems.append(f"{shown} is above the maximum {_num(field.maxval)}")
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


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


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


def to_text(field: Field, value: Any) -> str:
    """Render a typed value back to the text form parse_value accepts."""
    if field.field_class == STRUCT:
        import json

        return json.dumps(value, sort_keys=True)
    if field.isarray:
        item = field.replace(isarray=False)
        texts = [to_text(item, v) for v in value]
        text = ",".join(texts)
        # Items that split_list would cut or drop, or text that would be taken for JSON: use JSON.
        cut = any(t == "" or any(ch in " \t\r\n\f," for ch in t) for t in texts)
        if cut or text.lstrip().startswith("["):
            import json

            return json.dumps(list(value), ensure_ascii=False)
        return text
    if field.basictype == BOOLEAN:
        return "yes" if value else "no"
    if field.basictype in (FLOAT, SECONDS):
        return _num(value)
    return str(value)

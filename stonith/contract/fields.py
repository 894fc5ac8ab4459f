"""Self-configuration metadata: the description of a driver's configuration as data.

Every field carries the attributes of the original design (fieldname, label, isarray, class,
basictype, specialtype, length, regex, short_text, long_text, minval, maxval, enumset, fields,
minelem, maxelem) plus ``default``, ``required`` and ``aliases``.  Validation, defaults, CLI help,
cluster-glue ``-m`` XML, fence-agents XML, XML-RPC/JSON marshalling and GUI forms are all derived
from this one description.

A consumer that does not know a specialtype falls back to basictype + length + regex, so every
specialtype below is also expressed (where it can be) by those three.

This module is the schema: the Field, its types, the syntax of each type's text as data (fallback
regexes, tty URL schemes, boolean words, list separators) and ``to_text``, the text form in which
renderers show a value (``-n`` prints defaults with it).  Turning raw input into typed values and
checking them (``parse_value``, ``check_value``, ``validate``, ``defaults``, ``check_special``, the
host:port reader) is stonith.contract.validation's job.

It sits on the start-up path of ``stonith -n``/``-m`` and therefore imports nothing at all (``json``
only when a struct's value is written).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

# basictype
STRING = "string"
BOOLEAN = "boolean"
INTEGER = "integer"
FLOAT = "float"
SECONDS = "seconds"
ENUMERATION = "enumeration"
# The Python type stonith.contract.validation.parse_scalar makes of each basictype that has exactly one
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

# Fallback regexes for consumers that ignore specialtype (and used by stonith.contract.validation).
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

# How a boolean may be spelled, in a configuration and in the fence agents' input
# (stonith.render.fence_options).
TRUE_WORDS = ("1", "yes", "on", "true", "y")
FALSE_WORDS = ("0", "no", "off", "false", "n")

# What separates the items of a list given as one string (cluster-glue's host lists): blanks and commas.
LIST_SEPARATORS = " \t\r\n\f,"


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
# The text form of a typed value


def to_text(field: Field, value: Any) -> str:
    """Render a typed value back to the text form stonith.contract.validation.parse_value accepts."""
    if field.field_class == STRUCT:
        import json

        return json.dumps(value, sort_keys=True)
    if field.isarray:
        item = field.replace(isarray=False)
        texts = [to_text(item, v) for v in value]
        text = ",".join(texts)
        # Items that split_list would cut or drop, or text that would be taken for JSON: use JSON.
        cut = any(t == "" or any(ch in LIST_SEPARATORS for ch in t) for t in texts)
        if cut or text.lstrip().startswith("["):
            import json

            return json.dumps(list(value), ensure_ascii=False)
        return text
    if field.basictype == BOOLEAN:
        return "yes" if value else "no"
    if field.basictype in (FLOAT, SECONDS):
        return number_text(value)
    return str(value)


def number_text(value: float) -> str:
    """A number as short text: ``5`` for 5.0, ``0.5`` for 0.5 (defaults, bounds, messages)."""
    return str(int(value)) if float(value).is_integer() else str(value)

"""Metadata and configurations as JSON and XML-RPC, with exact round trips.

Metadata: a field becomes a struct keyed by the design's attribute names (``class`` for the
field class); absent (None) attributes are left out because XML-RPC has no null.  Integers that do
not fit XML-RPC's 32-bit ``<int>`` travel as ``{"int": "<digits>"}``.

Configurations are decoded against the driver's fields, so values come back with their types
and are validated again on the way in.
"""

from __future__ import annotations

from stonith.contract.driver import Capabilities, DriverInfo
from stonith.contract.fields import Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

_INT32 = (-(2**31), 2**31 - 1)
_FIELD_ATTRS = (
    ("fieldname", "fieldname"),
    ("label", "label"),
    ("isarray", "isarray"),
    ("class", "field_class"),
    ("basictype", "basictype"),
    ("specialtype", "specialtype"),
    ("length", "length"),
    ("regex", "regex"),
    ("short_text", "short_text"),
    ("long_text", "long_text"),
    ("minval", "minval"),
    ("maxval", "maxval"),
    ("enumset", "enumset"),
    ("fields", "fields"),
    ("minelem", "minelem"),
    ("maxelem", "maxelem"),
    ("default", "default"),
    ("required", "required"),
    ("aliases", "aliases"),
)
_CAPS = ("cycle", "multi", "any_host", "power_on", "power_off", "status", "sessions")


def _enc(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if _INT32[0] <= value <= _INT32[1] else {"int": str(value)}
    if isinstance(value, (list, tuple)):
        return [_enc(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _enc(v) for k, v in value.items()}
    return value


def _dec(value: Any) -> Any:
    if isinstance(value, dict):
        if _is_int(value):
            return int(value["int"])
        return {k: _dec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


def _is_int(value: Any) -> bool:
    if not (isinstance(value, dict) and set(value) == {"int"} and isinstance(value["int"], str)):
        return False
    digits = value["int"][1:] if value["int"][:1] in ("+", "-") else value["int"]
    return digits.isascii() and digits.isdigit()


def _dec_value(field: Field, value: Any) -> Any:
    """Decode a value of ``field`` guided by its type.

    Only a number-typed value can be an ``{"int": ...}`` wrapper: a struct whose member happens to
    be called ``int`` stays a struct.
    """
    if field.isarray and isinstance(value, list):
        return [_dec_item(field, v) for v in value]
    return _dec_item(field, value)


def _dec_item(field: Field, value: Any) -> Any:
    from stonith.contract.fields import FLOAT, INTEGER, SECONDS, STRUCT

    if field.field_class == STRUCT:
        if not isinstance(value, dict):
            return value
        members = {sub.fieldname: sub for sub in field.fields}
        return {k: _dec_value(members[k], v) if k in members else v for k, v in value.items()}
    if field.basictype in (INTEGER, FLOAT, SECONDS) and _is_int(value):
        return int(value["int"])
    return value


def field_to_dict(field: Field) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, attr in _FIELD_ATTRS:
        value = getattr(field, attr)
        if attr == "fields":
            value = [field_to_dict(sub) for sub in value]
        elif isinstance(value, tuple):
            value = list(value)
        if value is not None:
            out[key] = _enc(value)
    return out


def field_from_dict(data: Mapping[str, Any]) -> Field:
    kwargs: dict[str, Any] = {}
    for key, attr in _FIELD_ATTRS:
        if key not in data or attr == "default":
            continue
        value = _dec(data[key])
        if attr == "fields":
            value = tuple(field_from_dict(sub) for sub in value)
        elif attr in ("enumset", "aliases"):
            value = tuple(value)
        kwargs[attr] = value
    name = kwargs.pop("fieldname")
    label = kwargs.pop("label")
    field = Field(name, label, **kwargs)
    if "default" in data:  # decoded by the field's type, which must be known first
        field = field.replace(default=_dec_value(field, data["default"]))
    return field


def info_to_dict(info: DriverInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": info.name,
        "shortdesc": info.shortdesc,
        "description": info.description,
        "family": info.family,
        "models": list(info.models),
        "status": str(info.status),
        "capabilities": {c: _enc(getattr(info.capabilities, c)) for c in _CAPS},
        "fields": [field_to_dict(f) for f in info.fields],
    }
    if info.url is not None:
        out["url"] = info.url
    return out


def info_from_dict(data: Mapping[str, Any]) -> DriverInfo:
    return DriverInfo(
        data["name"],
        shortdesc=data["shortdesc"],
        description=data["description"],
        fields=[field_from_dict(f) for f in data["fields"]],
        family=data.get("family", ""),
        models=data.get("models", ()),
        url=data.get("url"),
        status=data["status"],
        capabilities=Capabilities(**_dec(data["capabilities"])),
    )


def to_json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def from_json(text: str) -> Any:
    import json

    return json.loads(text)


def plain(value: Any) -> Any:
    """``value`` with every str subclass (the StrEnums: states, verbs, verdicts, driver status) as a
    plain str, and tuples as lists: xmlrpc.client refuses to marshal subclasses of its basic types."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def to_xmlrpc(data: Any, method: str | None = None) -> str:
    """One XML-RPC document: a methodResponse, or a methodCall when ``method`` is given."""
    import xmlrpc.client

    if method:
        return xmlrpc.client.dumps((plain(data),), methodname=method)
    return xmlrpc.client.dumps((plain(data),), methodresponse=True)


def from_xmlrpc(text: str) -> Any:
    import xmlrpc.client

    params, _method = xmlrpc.client.loads(text)
    return params[0]


def config_to_wire(info: DriverInfo, config: Mapping[str, Any]) -> dict[str, Any]:
    """A typed configuration as a JSON/XML-RPC-safe struct."""
    return {k: _enc(v) for k, v in config.items() if info.field(k) is not None and v is not None}


def config_from_wire(info: DriverInfo, data: Mapping[str, Any]) -> dict[str, Any]:
    """Decode and validate a configuration struct (raises BadConfig)."""
    from stonith.fencing.device import check

    decoded: dict[str, Any] = {}
    for name, value in data.items():
        field = info.field(name)
        decoded[name] = _dec_value(field, value) if field is not None else value
    return check(info, decoded)

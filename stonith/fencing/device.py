"""The five capabilities of self-configuring drivers, as a Python API.

- ``metadata(type, lang)``: the driver's configuration description (localized);
- ``defaults(type)``: the configuration used when nothing is given;
- ``construct(type, config)``: a configured ``Device``; every violated constraint is reported at
  once, by field name, in one ``BadConfig``;
- ``Device.current_config()``: the configuration in force, secrets redacted;
- ``Device.modify(changes)``: validated and atomic; a rejected change leaves the old configuration
  (and driver instance) in force.
"""

from __future__ import annotations

from stonith.contract.errors import BadConfig, FieldProblem
from stonith.contract.validation import defaults as field_defaults
from stonith.contract.validation import validate
from stonith.fencing import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from stonith.contract.driver import Driver, DriverInfo
    from stonith.contract.fields import Field

REDACTED = "********"


def metadata(type_name: str, lang: str | None = None) -> DriverInfo:
    from stonith.render.i18n import localize_info

    return localize_info(registry.load(type_name).INFO, lang)


def defaults(type_name: str) -> dict[str, Any]:
    return field_defaults(registry.load(type_name).INFO.fields)


def check(info: DriverInfo, config: Mapping[str, Any]) -> dict[str, Any]:
    """Typed configuration, or BadConfig naming every problem."""
    typed, problems = validate(info.fields, config)
    if problems:
        raise BadConfig([FieldProblem(name, msg, missing) for name, msg, missing in problems], info.name)
    return typed


class Device:
    """A driver instance together with the configuration it was built from."""

    def __init__(self, driver_cls: type[Driver], config: Mapping[str, Any]) -> None:
        self.driver_cls = driver_cls
        self.config = check(driver_cls.INFO, config)
        self.driver = driver_cls(self.config)

    @property
    def info(self) -> DriverInfo:
        return self.driver_cls.INFO

    def current_config(self, *, redact: bool = True) -> dict[str, Any]:
        """The configuration in force (a copy: changing it changes nothing), secrets redacted."""
        import copy

        out: dict[str, Any] = {}
        for field in self.info.fields:
            if field.fieldname in self.config:
                value = copy.deepcopy(self.config[field.fieldname])
                out[field.fieldname] = _redacted(field, value) if redact else value
        return out

    def modify(self, changes: Mapping[str, Any]) -> None:
        """Apply changes atomically: validate the merged configuration, then swap."""
        merged: dict[str, Any] = dict(self.config)
        for name, value in changes.items():
            field = self.info.field(name)
            key = field.fieldname if field is not None else name
            if field is not None and field.secret and value == REDACTED:
                continue  # a form sending back what current_config showed leaves the secret unchanged
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        config = check(self.info, merged)
        driver = self.driver_cls(config)
        self.config, self.driver = config, driver


def _redacted(field: Field, value: Any) -> Any:
    """``value`` with every secret in it, also a secret member of a struct, replaced by REDACTED."""
    if field.secret:
        return REDACTED if value else value
    if field.fields:
        items = value if field.isarray and isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                for sub in field.fields:
                    if sub.fieldname in item:
                        item[sub.fieldname] = _redacted(sub, item[sub.fieldname])
    return value


def construct(type_name: str, config: Mapping[str, Any]) -> Device:
    return Device(registry.load(type_name), config)

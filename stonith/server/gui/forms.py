"""Device forms rendered from a driver's self-configuration metadata, for any driver.

The renderer reads only the metadata (the JSON form of ``stonith.contract.fields.Field``): ``basictype``
chooses the input, a known ``specialtype`` a fitting widget, ``enumset`` a select, ``isarray``
rows with add/remove buttons bounded by ``minelem``/``maxelem``, ``class=struct`` a fieldset of
its members (arrays of structs: a fieldset per row).  A specialtype it does not know falls back to
basictype + regex + length, as the design asks of every consumer.  Every constraint travels in
``data-*`` attributes, where the page's script checks it as ``stonith.contract.validation`` does; the server
checks again.  A secret is a password input whose value is never written into the page.
"""

from __future__ import annotations

from stonith.server.gui.html import attrs, esc, json_attr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Placeholders that show the expected shape (not translated: they are examples of values).
_EXAMPLES = {
    "ipv4": "192.0.2.10",
    "ipv6": "2001:db8::10",
    "hostname": "node1.example.org",
    "hostport": "192.0.2.10:23",
    "tty": "/dev/ttyS0",
    "url": "https://bmc.example.org/",
    "path": "/etc/stonith/…",
    "oid": ".1.3.6.1.4.1",
}
# Suggestions for a serial line: a tty path or a pyserial URL.
_TTY_SUGGESTIONS = ("/dev/ttyS0", "/dev/ttyUSB0", "socket://host:port", "rfc2217://host:port", "loop://")


def _dom_id(path: str) -> str:
    return "f-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in path)


class FormRenderer:
    """Renders fields; ``tr`` translates the GUI's own words (labels come translated already)."""

    def __init__(self, tr: Callable[[str], str], saved_secrets: frozenset[str] = frozenset()) -> None:
        self.tr = tr
        self.saved_secrets = saved_secrets  # secrets the saved device has: "leave empty to keep"

    # -- public
    def fields(self, fields: list[dict[str, Any]], values: dict[str, Any], prefix: str = "") -> str:
        return "".join(self.field(f, values.get(f["fieldname"]), prefix) for f in fields)

    def field(self, field: dict[str, Any], value: Any, prefix: str = "", top: bool = True) -> str:
        path = f"{prefix}{field['fieldname']}"
        if value is None and top:
            # A member of a struct stays empty: the server fills its default when the struct is
            # given, and a struct nobody filled in must stay absent (defaults round-trip unchanged).
            value = field.get("default")
        data = self._constraints(field, path)
        if field.get("isarray"):
            return self._array(field, value, path, data)
        if field.get("class") == "struct":
            return self._struct(field, value if isinstance(value, dict) else {}, path, data)
        dom = _dom_id(path)
        return (
            f'<div class="field"{data}>'
            f'<label for="{dom}">{self._label(field)}</label>'
            f"{self._input(field, value, dom, described=f'{dom}-hint {dom}-error')}"
            f"{self._help(field, dom)}"
            f'<p class="error" id="{dom}-error" hidden></p>'
            "</div>"
        )

    # -- pieces
    def _constraints(self, field: dict[str, Any], path: str) -> str:
        regex = field.get("regex")
        return attrs(
            data_name=field["fieldname"],
            data_path=path,
            data_label=field["label"],
            data_kind="array" if field.get("isarray") else field.get("class", "simple"),
            data_basictype=field.get("basictype", "string"),
            data_specialtype=field.get("specialtype"),
            data_regex=regex,
            data_length=field.get("length"),
            data_min=field.get("minval"),
            data_max=field.get("maxval"),
            data_enum=json_attr(field["enumset"]) if field.get("enumset") else None,
            data_minelem=field.get("minelem"),
            data_maxelem=field.get("maxelem"),
            data_required="1" if field.get("required") else None,
            data_saved="1" if field["fieldname"] in self.saved_secrets and not path.count(".") else None,
        )

    def _label(self, field: dict[str, Any]) -> str:
        mark = ""
        if field.get("required"):
            mark = f' <abbr class="req" title="{esc(self.tr("required"))}">*</abbr>'
        return f"{esc(field['label'])}{mark}"

    def _help(self, field: dict[str, Any], dom: str) -> str:
        short = field.get("short_text") or ""
        long = field.get("long_text") or ""
        out = f'<p class="hint" id="{dom}-hint">{esc(short)}</p>'
        if long and long != short:
            # On demand: a native disclosure widget, keyboard usable without any script.
            more = esc(self.tr("More help"))
            out += f'<details class="more"><summary>{more}</summary><p>{esc(long)}</p></details>'
        return out

    def _input(
        self, field: dict[str, Any], value: Any, dom: str, described: str, label: str | None = None
    ) -> str:
        basictype = field.get("basictype", "string")
        special = field.get("specialtype")
        common = attrs(
            id=dom,
            class_="value",
            aria_describedby=described,
            aria_label=label,
            aria_required="true" if field.get("required") else None,
        )
        if basictype == "enumeration" or basictype == "boolean":
            choices = list(field.get("enumset") or []) if basictype == "enumeration" else ["yes", "no"]
            if basictype == "boolean" and isinstance(value, bool):
                value = "yes" if value else "no"
            options = []
            if not field.get("required") or value is None:
                options.append(f'<option value="">{esc(self.tr("(not set)"))}</option>')
            for choice in choices:
                shown = self.tr(choice) if basictype == "boolean" else choice
                selected = " selected" if value is not None and str(value) == choice else ""
                options.append(f'<option value="{esc(choice)}"{selected}>{esc(shown)}</option>')
            return f"<select{common}>{''.join(options)}</select>"
        if special == "secret":
            placeholder = (
                self.tr("saved; leave empty to keep") if field["fieldname"] in self.saved_secrets else None
            )
            return (
                f'<input type="password" autocomplete="new-password"{common}{attrs(placeholder=placeholder)}>'
            )
        shown = "" if value is None else str(value)
        if basictype == "integer":
            extra = attrs(type="number", step="1", min=field.get("minval"), max=field.get("maxval"))
        elif basictype == "float":
            extra = attrs(type="number", step="any", min=field.get("minval"), max=field.get("maxval"))
        elif basictype == "seconds":
            # Text, not number: "500ms" and "2min" are seconds too (see stonith.contract.validation).
            extra = attrs(type="text", inputmode="decimal", placeholder="1.5, 500ms, 2min")
        elif special == "url":
            extra = attrs(type="url", placeholder=_EXAMPLES["url"], spellcheck="false")
        else:
            extra = attrs(
                type="text",
                placeholder=_EXAMPLES.get(special or ""),
                spellcheck="false",
                autocapitalize="off",
                maxlength=field.get("length"),
                list=f"{dom}-list" if special == "tty" else None,
            )
        out = f"<input{extra}{common}{attrs(value=shown)}>"
        if special == "tty":
            suggestions = "".join(f'<option value="{esc(s)}"></option>' for s in _TTY_SUGGESTIONS)
            out += f'<datalist id="{dom}-list">{suggestions}</datalist>'
        return out

    def _array(self, field: dict[str, Any], value: Any, path: str, data: str) -> str:
        items = list(value) if isinstance(value, (list, tuple)) else []
        minelem = int(field.get("minelem") or 0)
        while len(items) < minelem:  # no empty optional rows: a row with a member default is not empty
            items.append(None)
        dom = _dom_id(path)
        rows = "".join(self._row(field, item, path, i) for i, item in enumerate(items))
        template = self._row(field, None, path, "__n__")
        return (
            f'<fieldset class="field array"{data} aria-describedby="{dom}-hint {dom}-error">'
            f"<legend>{self._label(field)}</legend>"
            f"{self._help(field, dom)}"
            f'<ol class="rows">{rows}</ol>'
            f'<template class="row-template">{template}</template>'
            f'<button type="button" class="add">{esc(self.tr("Add"))}: {esc(field["label"])}</button>'
            f'<p class="error" id="{dom}-error" hidden></p>'
            "</fieldset>"
        )

    def _row(self, field: dict[str, Any], item: Any, path: str, index: int | str) -> str:
        number = index + 1 if isinstance(index, int) else "__n1__"
        label = f"{field['label']} {number}"
        remove = (
            f'<button type="button" class="remove" aria-label="{esc(self.tr("Remove"))} {esc(label)}">'
            f"{esc(self.tr('Remove'))}</button>"
        )
        if field.get("class") == "struct":
            members = self._members(field, item if isinstance(item, dict) else {}, f"{path}.{index}.")
            return (
                f'<li class="row"><fieldset class="item"><legend>{esc(label)}</legend>'
                f"{members}</fieldset>{remove}</li>"
            )
        dom = _dom_id(f"{path}.{index}")
        if item is None and field.get("default") is not None and not isinstance(field["default"], list):
            item = field["default"]
        scalar = {**field, "required": False}
        return (
            f'<li class="row">{self._input(scalar, item, dom, f"{_dom_id(path)}-error", label)}{remove}</li>'
        )

    def _struct(self, field: dict[str, Any], value: dict[str, Any], path: str, data: str) -> str:
        dom = _dom_id(path)
        return (
            f'<fieldset class="field struct"{data}>'
            f"<legend>{self._label(field)}</legend>"
            f"{self._help(field, dom)}"
            f"{self._members(field, value, path + '.')}"
            f'<p class="error" id="{dom}-error" hidden></p>'
            "</fieldset>"
        )

    def _members(self, field: dict[str, Any], value: dict[str, Any], prefix: str) -> str:
        return "".join(
            self.field(sub, value.get(sub["fieldname"]), prefix, top=False) for sub in field["fields"]
        )

"""Small helpers for server-rendered HTML: escaping and attribute lists."""

from __future__ import annotations

import html
import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def esc(value: object) -> str:
    """Text and attribute values: ``& < > " '`` escaped."""
    return html.escape(str(value), quote=True)


def attrs(**values: Any) -> str:
    """`` name="value"`` pairs; None and False leave the attribute out, True writes it bare.

    A trailing underscore is dropped (``class_``) and other underscores become dashes (``data_x``).
    """
    out = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        if value is True:
            out.append(f" {name}")
        else:
            out.append(f' {name}="{esc(value)}"')
    return "".join(out)


def json_attr(value: object) -> str:
    """JSON for a ``data-*`` attribute (escaped by ``attrs``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_script(element_id: str, value: object) -> str:
    """Data for the page's script in a non-executed ``<script type="application/json">``.

    ``<`` is written as ``\\u003c`` so no value can close the element.
    """
    text = json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'

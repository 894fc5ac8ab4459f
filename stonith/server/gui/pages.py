"""The GUI's pages as HTML, from what the service reports (no device or driver knowledge here).

Every page works without its script for reading; the script adds live updates, the device form's
checks and buttons, and the fence dialog.  A ``monitor`` user gets no action buttons at all (the
API refuses the actions anyway).
"""

from __future__ import annotations

from stonith.server.gui import pictures
from stonith.server.gui.forms import FormRenderer
from stonith.server.gui.html import attrs, esc, json_attr, json_script
from stonith.server.gui.strings import SCRIPT_STRINGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}
NAV = (("nodes", "Nodes"), ("devices", "Devices"), ("history", "History"))
CAN_SWITCH = ("operator", "admin")
_LEVELS_HELP = "Levels are tried in order; within a level every device is switched (dual feeds)."


class Context:
    """Who looks at the page, in which language."""

    def __init__(
        self, tr: Callable[[str], str], lang: str, user: str = "", role: str = "", csrf: str = ""
    ) -> None:
        self.tr = tr
        self.lang = lang
        self.user = user
        self.role = role
        self.csrf = csrf

    @property
    def can_switch(self) -> bool:
        return self.role in CAN_SWITCH

    @property
    def can_configure(self) -> bool:
        return self.role == "admin"


def layout(ctx: Context, title: str, body: str, active: str = "", path: str = "/ui") -> str:
    tr = ctx.tr
    nav = ""
    account = ""
    if ctx.user:
        items = "".join(
            f'<li><a href="/ui/{key}"{attrs(aria_current="page" if key == active else None)}>'
            f"{esc(tr(text))}</a></li>"
            for key, text in NAV
        )
        nav = f'<nav aria-label="{esc(tr("Main"))}"><ul>{items}</ul></nav>'
        account = (
            '<form method="post" action="/ui/logout" class="logout">'
            f'<input type="hidden" name="csrf" value="{esc(ctx.csrf)}">'
            f'<span class="who">{esc(ctx.user)} ({esc(tr(ctx.role))})</span> '
            f'<button type="submit">{esc(tr("Log out"))}</button></form>'
        )
    languages = " ".join(
        f'<a href="{esc(path)}?lang={code}" hreflang="{code}" lang="{code}"'
        f"{attrs(aria_current='true' if code == ctx.lang else None)}>{name}</a>"
        for code, name in LANGUAGE_NAMES.items()
    )
    strings = {key: tr(text) for key, text in SCRIPT_STRINGS.items()}
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{esc(ctx.lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} — stonith</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/static/gui.css">'
        '<script src="/ui/static/gui.js" defer></script></head>'
        f"<body{attrs(data_csrf=ctx.csrf or None, data_role=ctx.role or None)}>"
        f'<a class="skip" href="#main">{esc(tr("Skip to content"))}</a>'
        f'<header><span class="brand">stonith</span>{nav}'
        f'<div class="languages" role="group" aria-label="{esc(tr("Language"))}">{languages}</div>'
        f"{account}</header>"
        f'<main id="main"><h1>{esc(title)}</h1>{body}</main>'
        f"{json_script('strings', strings)}"
        "</body></html>"
    )


def login(ctx: Context, error: str = "", next_path: str = "/ui/nodes", user: str = "") -> str:
    tr = ctx.tr
    alert = f'<p class="alert" role="alert">{esc(error)}</p>' if error else ""
    body = (
        f"{alert}"
        '<form method="post" action="/ui/login" class="login">'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        f'<div class="field"><label for="user">{esc(tr("User"))}</label>'
        f'<input id="user" name="user" autocomplete="username" required value="{esc(user)}" autofocus></div>'
        f'<div class="field"><label for="password">{esc(tr("Password"))}</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required></div>'
        f'<button type="submit">{esc(tr("Log in"))}</button></form>'
    )
    return layout(ctx, tr("Log in"), body, path="/ui/login")


def message(ctx: Context, title: str, text: str, active: str = "") -> str:
    return layout(ctx, title, f'<p class="alert" role="alert">{esc(text)}</p>', active)


# -- devices --------------------------------------------------------------------------------------


def devices(ctx: Context, rows: list[dict[str, Any]], types: list[dict[str, str]]) -> str:
    tr = ctx.tr
    head = "".join(
        f'<th scope="col">{esc(tr(h))}</th>'
        for h in ("Device", "Type", "Address", "Level", "Health", "Latency", "Last error")
    )
    body = []
    for d in rows:
        health = d.get("health") or {}
        ok = health.get("ok")
        state = tr("not checked yet") if ok is None else tr("ok") if ok else tr("failed")
        kind = "unknown" if ok is None else "on" if ok else "bad"
        latency = f"{health.get('latency', 0) * 1000:.0f} ms" if ok is not None else ""
        body.append(
            f'<tr data-device="{esc(d["name"])}">'
            f'<th scope="row"><a href="/ui/devices/{esc(d["name"])}">{esc(d["name"])}</a></th>'
            f"<td>{esc(d['type'])}</td><td>{esc(d['address'])}</td><td>{esc(d['level'])}</td>"
            f'<td class="health"><span class="badge {kind}">{esc(state)}</span></td>'
            f'<td class="latency">{esc(latency)}</td>'
            f'<td class="lasterror">{esc(health.get("error", ""))}</td></tr>'
        )
    add = ""
    if ctx.can_configure:
        options = "".join(
            f'<option value="{esc(t["type"])}">{esc(t["type"])} — {esc(t["description"])}</option>'
            for t in types
        )
        add = (
            '<form method="get" action="/ui/devices/new" class="add-device">'
            f'<label for="new-type">{esc(tr("Device type"))}</label>'
            f'<select id="new-type" name="type">{options}</select> '
            f'<button type="submit">{esc(tr("Add a device"))}</button></form>'
        )
    table = (
        '<table class="devices" data-live="devices">'
        f"<caption>{esc(tr('Devices of devices.d and their last health check'))}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    return layout(ctx, tr("Devices"), table + add, "devices")


def _placement_fields(tr: Callable[[str], str]) -> list[dict[str, Any]]:
    """The devices.d keys around the driver's parameters, described as metadata too, so the same
    renderer and the same checks serve them."""
    return [
        {
            "fieldname": "name",
            "label": tr("Device name"),
            "basictype": "string",
            "required": True,
            "length": 64,
            "regex": "[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
            "short_text": tr("File name in devices.d, without .toml"),
        },
        {
            "fieldname": "description",
            "label": tr("Description"),
            "basictype": "string",
            "length": 200,
            "short_text": tr("What this device is, for people"),
        },
        {
            "fieldname": "level",
            "label": tr("Topology level"),
            "basictype": "integer",
            "minval": 1,
            "maxval": 99,
            "default": 1,
            "short_text": tr("Level 1 is tried first; a higher level only when it fails"),
        },
        {
            "fieldname": "settle",
            "label": tr("Settle time"),
            "basictype": "seconds",
            "minval": 0,
            "maxval": 600,
            "default": 1.0,
            "short_text": tr("Seconds between the off and the on of a reset"),
        },
        {
            "fieldname": "timeout",
            "label": tr("Timeout"),
            "basictype": "seconds",
            "minval": 0.1,
            "maxval": 3600,
            "default": 60.0,
            "short_text": tr("Deadline of one operation on this device, seconds"),
        },
        {
            "fieldname": "hosts",
            "label": tr("Nodes"),
            "isarray": True,
            "class": "struct",
            "basictype": "string",
            "minelem": 0,
            "short_text": tr("Which outlets feed which node (none: the outlet names are the node names)"),
            "fields": [
                {
                    "fieldname": "node",
                    "label": tr("Node"),
                    "basictype": "string",
                    "specialtype": "hostname",
                    "length": 253,
                    "short_text": tr("Node name"),
                },
                {
                    "fieldname": "outlets",
                    "label": tr("Outlets"),
                    "basictype": "string",
                    "length": 200,
                    "regex": "[^,\\s]+(?:\\s*,\\s*[^,\\s]+)*",
                    "short_text": tr("Outlet ids or names, comma-separated"),
                },
            ],
        },
    ]


def device_form(
    ctx: Context,
    info: dict[str, Any],
    *,
    values: dict[str, Any],
    device: dict[str, Any] | None,
    special_regex: dict[str, Any],
) -> str:
    """The form of a new device of type ``info`` (``device`` None) or of a saved one."""
    tr = ctx.tr
    saved = frozenset(
        f["fieldname"]
        for f in info["fields"]
        if f.get("specialtype") == "secret"
        and device is not None
        and device.get("parameters", {}).get(f["fieldname"])
    )
    renderer = FormRenderer(tr, saved)
    if device is None:
        placement = (
            '<fieldset class="placement" data-top="placement">'
            f"<legend>{esc(tr('Place in devices.d'))}</legend>"
            f"{renderer.fields(_placement_fields(tr), {})}</fieldset>"
        )
        title = f"{tr('New device')}: {info['name']}"
    else:
        facts = [
            (tr("Type"), device["type"]),
            (tr("Topology level"), device["level"]),
            (tr("Address"), device["address"]),
            (tr("Settle time"), device["settle"]),
            (tr("Timeout"), device["timeout"]),
            (
                tr("Nodes"),
                ", ".join(f"{n}={'/'.join(o)}" for n, o in (device.get("hosts") or {}).items())
                or tr("outlet names"),
            ),
        ]
        placement = (
            '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts) + "</dl>"
        )
        title = f"{tr('Device')}: {device['name']}"
    description = f'<p class="description">{esc(info.get("shortdesc", ""))}</p>'
    actions = ""
    if ctx.can_configure:
        actions = (
            '<div class="actions">'
            f'<button type="button" class="check">{esc(tr("Check"))}</button> '
            f'<button type="button" class="probe">{esc(tr("Test connection"))}</button> '
            f'<button type="submit" class="save">{esc(tr("Save"))}</button></div>'
            '<p class="outcome" role="status" aria-live="polite"></p>'
        )
    form_attrs = attrs(
        class_="device-form",
        novalidate=True,
        data_type=info["name"],
        data_device=device["name"] if device else None,
        data_version=device.get("version") if device else None,
    )
    form = (
        f"<form{form_attrs}>"
        f"{placement}"
        f'<fieldset class="parameters" data-top="parameters"><legend>{esc(tr("Parameters"))}</legend>'
        f"{renderer.fields(info['fields'], values)}</fieldset>"
        f"{actions}</form>"
    )
    # Under a read-only role the form shows the configuration but cannot be changed.
    if not ctx.can_configure:
        form = form.replace('<form class="device-form"', '<form class="device-form readonly" inert', 1)
    return layout(ctx, title, description + form + json_script("special-regex", special_regex), "devices")


# -- nodes ----------------------------------------------------------------------------------------


def _outlets_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for d in result.get("devices") or []:
        for o in d.get("outlets") or []:
            out.append(
                {
                    "device": d.get("device"),
                    "level": d.get("level"),
                    "id": o.get("id"),
                    "name": o.get("name", ""),
                    "state": o.get("state", "unknown"),
                }
            )
    return out


def node_rows(ctx: Context, results: list[dict[str, Any]]) -> str:
    tr = ctx.tr
    rows = []
    for r in results:
        node = str(r["node"])
        outlets = _outlets_of(r)
        cells = " ".join(
            f'<span class="outlet {esc(o["state"])}"{attrs(data_device=o["device"], data_outlet=o["id"])}>'
            f'{esc(o["device"])}:{esc(o["id"])} <span class="state">{esc(tr(str(o["state"])))}</span></span>'
            for o in outlets
        )
        levels = ", ".join(str(lv) for lv in sorted({o["level"] for o in outlets if o["level"] is not None}))
        errors = "; ".join(str(d["error"]) for d in r.get("devices") or [] if d.get("error"))
        buttons = ""
        if ctx.can_switch:
            data = attrs(data_node=node, data_outlets=json_attr(outlets))
            buttons = (
                f'<button type="button" class="act fence" data-verb="reset"{data}>'
                f"{esc(tr('Fence'))}</button> "
                f'<button type="button" class="act" data-verb="off"{data}>{esc(tr("Off"))}</button> '
                f'<button type="button" class="act" data-verb="on"{data}>{esc(tr("On"))}</button>'
            )
        state = str(r.get("state", "unknown"))
        rows.append(
            f'<tr data-node="{esc(node)}">'
            f'<th scope="row"><a href="/ui/nodes/{esc(node)}">{esc(node)}</a></th>'
            f'<td class="nodestate"><span class="badge {esc(state)}">{esc(tr(state))}</span></td>'
            f'<td class="outlets">{cells}</td><td>{esc(levels)}</td>'
            f'<td class="message">{esc(errors or r.get("message", ""))}</td><td>{buttons}</td></tr>'
        )
    if not rows:
        rows.append(f'<tr><td colspan="6">{esc(tr("No node matches."))}</td></tr>')
    return "".join(rows)


def nodes(ctx: Context, results: list[dict[str, Any]], nodeset: str) -> str:
    tr = ctx.tr
    head = "".join(
        f'<th scope="col">{esc(tr(h))}</th>'
        for h in ("Node", "State", "Outlets", "Levels", "Message", "Actions")
    )
    filter_form = (
        '<form method="get" action="/ui/nodes" class="filter" role="search">'
        f'<label for="nodeset">{esc(tr("Node set"))}</label>'
        f'<input id="nodeset" name="nodeset" value="{esc(nodeset)}" placeholder="node[1-4],db1"'
        ' spellcheck="false"> '
        f'<button type="submit">{esc(tr("Filter"))}</button></form>'
    )
    live = (
        '<p class="live" role="status" aria-live="polite">'
        f"{esc(tr('Live: updated from the event stream'))}</p>"
    )
    table = (
        f'<table class="nodes" data-live="nodes" data-nodeset="{esc(nodeset)}">'
        f"<caption>{esc(tr('Nodes, their state read back from every outlet that feeds them'))}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{node_rows(ctx, results)}</tbody></table>"
    )
    dialog = ""
    if ctx.can_switch:
        dialog = (
            '<dialog class="confirm" aria-labelledby="confirm-title">'
            '<h2 id="confirm-title"></h2><p class="confirm-text"></p><ul class="confirm-outlets"></ul>'
            '<div class="actions">'
            f'<button type="button" class="confirm-go">{esc(tr("Yes, switch these outlets"))}</button> '
            f'<button type="button" class="confirm-cancel" autofocus>{esc(tr("Cancel"))}</button></div>'
            "</dialog>"
            '<section class="progress" aria-labelledby="progress-title" hidden>'
            f'<h2 id="progress-title">{esc(tr("Progress"))}</h2>'
            '<ol class="progress-log" role="log" aria-live="polite"></ol></section>'
        )
    return layout(ctx, tr("Nodes"), filter_form + live + table + dialog, "nodes")


def node_topology(
    ctx: Context, node: str, result: dict[str, Any] | None, configured: list[dict[str, Any]]
) -> str:
    """One node: the devices and outlets of every level, with states read now."""
    tr = ctx.tr
    levels: list[tuple[int, str, str, list[dict[str, Any]]]] = []
    seen: set[str] = set()
    for d in (result or {}).get("devices") or []:
        levels.append(
            (
                int(d.get("level") or 1),
                str(d.get("device")),
                str(d.get("error") or ""),
                list(d.get("outlets") or []),
            )
        )
        seen.add(str(d.get("device")))
    for c in configured:  # configured for this node but not read (e.g. a later level)
        if c["device"] not in seen:
            levels.append(
                (
                    c["level"],
                    c["device"],
                    "",
                    [{"id": o, "name": "", "state": "unknown"} for o in c["outlets"]],
                )
            )
    if not levels:
        return message(ctx, f"{tr('Node')}: {node}", tr("No device powers this node."), "nodes")
    state = str((result or {}).get("state", "unknown"))
    body = (
        f'<p>{esc(tr("State"))}: <span class="badge {esc(state)}">{esc(tr(state))}</span></p>'
        f'<figure class="picture">{pictures.topology(node, levels, tr)}'
        f"<figcaption>{esc(tr(_LEVELS_HELP))}</figcaption></figure>"
    )
    return layout(ctx, f"{tr('Topology')}: {node}", body, "nodes")


# -- history --------------------------------------------------------------------------------------


def history(ctx: Context, operations: list[dict[str, Any]]) -> str:
    tr = ctx.tr
    parts = []
    for op in operations:
        if "verb" not in op:
            continue  # device changes and refused logins are in the file, not in this picture
        summary = (
            f"{op.get('time', '')} — {tr(str(op.get('verb')))} {op.get('nodeset', '')} — {op.get('user', '')}"
        )
        results = ", ".join(
            f"{n}: {tr(str(r.get('result')))}"
            for n, r in sorted((op.get("nodes") or {}).items())
            if isinstance(r, dict)
        )
        parts.append(
            f'<article class="operation" data-op="{esc(op.get("id", ""))}"><h2>{esc(summary)}</h2>'
            f'<p>{esc(results)}</p><figure class="picture">{pictures.timeline(op, tr)}</figure></article>'
        )
    if not parts:
        parts.append(f"<p>{esc(tr('No operation yet.'))}</p>")
    return layout(ctx, tr("History"), "".join(parts), "history")

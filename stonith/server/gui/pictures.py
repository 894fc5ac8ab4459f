"""Server-rendered SVG: the timeline of an operation and the topology of a node.

SVG rather than a canvas drawn by script: the picture is in the page as sent (screenshots,
printing, no script needed), it scales with the zoom level, and every shape carries its text.
"""

from __future__ import annotations

from stonith.server.gui.html import esc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

ROW = 28
LABEL_WIDTH = 330
PHASE_WIDTH = 230
# Read back as asked / not as asked / not known: colours with text, never colour alone.
_COLOURS = {"good": "#1b7f3b", "bad": "#b3261e", "unknown": "#6b6b6b", "on": "#1b7f3b", "off": "#30475e"}


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}"{klass}>{esc(text)}</text>'


TIME_WIDTH = 640  # the time axis of a timed timeline, pixels


def timeline(op: dict[str, Any], tr: Callable[[str], str]) -> str:
    """One operation: a row per node, device and outlet, each phase (off, then on) as asked and as
    read back, and the topology level of every row.  When the records carry their times (engines
    since the history had them), each phase is a bar from its start to its verdict on a common time
    axis, so the settle between off and on, a slow device and a late read-back show as what they
    are; older records get a column per phase."""
    devices = [
        d
        for result in (op.get("nodes") or {}).values()
        if isinstance(result, dict)
        for d in result.get("devices") or []
        if isinstance(d, dict)
    ]
    if devices and all(isinstance(d.get("started"), (int, float)) and d.get("finished") for d in devices):
        return _timed(op, tr)
    return _columns(op, tr)


def _kind(phase: str, state: str) -> str:
    return "good" if state == phase else "unknown" if state == "unknown" else "bad"


Row = tuple[str, str, int, str, str]  # node, device, level, outlet id, outlet name


def _outlet_rows(op: dict[str, Any]) -> Iterator[tuple[Row, dict[str, Any], str]]:
    """Every outlet of every device result of the operation: its row, the device result, its state
    (``error`` when the device failed)."""
    for node, result in sorted((op.get("nodes") or {}).items()):
        if not isinstance(result, dict):
            continue
        for device in result.get("devices") or []:
            level = int(device.get("level") or 0)
            outlets = device.get("outlets") or [{"id": "?", "name": "", "state": "unknown"}]
            for outlet in outlets:
                key = (
                    str(node),
                    str(device.get("device", "")),
                    level,
                    str(outlet.get("id")),
                    str(outlet.get("name", "")),
                )
                state = "error" if device.get("error") else str(outlet.get("state", "unknown"))
                yield key, device, state


def _open(op: dict[str, Any], tr: Callable[[str], str], width: float, height: float) -> list[str]:
    """The timeline's svg element, its title and the row labels' heading."""
    title = f"{op.get('verb', '')} {op.get('nodeset', '')} — {op.get('user', '')} — {op.get('time', '')}"
    return [
        f'<svg class="timeline" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" aria-label="{esc(tr("Timeline"))}: {esc(title)}">',
        f"<title>{esc(title)}</title>",
        _text(8, ROW - 8, tr("Node · device · outlet (level)"), "head"),
    ]


def _row(out: list[str], r: int, key: Row, width: float, tr: Callable[[str], str]) -> int:
    """Row ``r``'s stripe and label; its top y."""
    node, device, level, outlet_id, outlet_name = key
    y = ROW * (r + 1)
    if r % 2 == 0:
        out.append(f'<rect class="stripe" x="0" y="{y}" width="{width}" height="{ROW}"/>')
    name = f" {outlet_name}" if outlet_name and outlet_name != outlet_id else ""
    out.append(_text(8, y + ROW - 9, f"{node} · {device} · {outlet_id}{name} ({tr('level')} {level})"))
    return y


def _close(out: list[str], op: dict[str, Any], tr: Callable[[str], str], y: float) -> str:
    """The operation's result line at baseline ``y``, and the end of the picture."""
    ended = f" ({op['ended']})" if op.get("ended") else ""
    out.append(_text(8, y, f"{tr('Result')}: {tr(str(op.get('state', '')))}{ended}", "head"))
    out.append("</svg>")
    return "".join(out)


def _timed(op: dict[str, Any], tr: Callable[[str], str]) -> str:
    rows: dict[Row, list[tuple[str, str, float, float, str]]] = {}
    for key, device, state in _outlet_rows(op):
        phase, error = str(device.get("phase", "")), str(device.get("error") or "")
        rows.setdefault(key, []).append(
            (phase, state, float(device["started"]), float(device["finished"]), error)
        )
    start = min(b[2] for bars in rows.values() for b in bars)
    span = max(max(b[3] for bars in rows.values() for b in bars) - start, 0.001)
    scale = TIME_WIDTH / span
    width = LABEL_WIDTH + TIME_WIDTH + 230  # room for a label beside the last bar
    out = _open(op, tr, width, ROW * (len(rows) + 3) + 10)
    out.append(_text(LABEL_WIDTH, ROW - 8, f"{tr('asked')} → {tr('read back')}", "head"))
    for r, (key, bars) in enumerate(rows.items()):
        y = _row(out, r, key, width, tr)
        for phase, state, began, ended, error in bars:
            kind = _kind(phase, state)
            x = LABEL_WIDTH + (began - start) * scale
            w = max((ended - began) * scale, 3.0)
            mark = " ✓" if kind == "good" else " ✗" if kind == "bad" else " ?"
            shown = f"{tr(phase)} → {tr(state)}{mark} {ended - began:.2f} s"
            out.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW - 8}" rx="3"'
                f' fill="{_COLOURS[kind]}"><title>{esc(error or shown)}</title></rect>'
            )
            if w >= 7 * len(shown) + 8:  # the text fits inside its bar
                out.append(_text(x + 4, y + ROW - 9, shown, "cell"))
            else:  # beside it, in the page's colour (white on the stripe would vanish)
                out.append(_text(x + w + 4, y + ROW - 9, shown, "note"))
    axis_y = ROW * (len(rows) + 1) + 4
    out.append(f'<path class="axis" d="M{LABEL_WIDTH} {axis_y} l{TIME_WIDTH} 0"/>')
    for i in range(5):
        x = LABEL_WIDTH + TIME_WIDTH * i / 4
        out.append(f'<path class="axis" d="M{x:.0f} {axis_y} l0 5"/>')
        out.append(_text(x, axis_y + 18, f"+{span * i / 4:.2f} s", "tick", "middle"))
    return _close(out, op, tr, ROW * (len(rows) + 2) + ROW - 4)


def _columns(op: dict[str, Any], tr: Callable[[str], str]) -> str:
    rows: dict[Row, dict[str, tuple[str, str]]] = {}
    phases: list[str] = []
    for key, device, state in _outlet_rows(op):
        phase = str(device.get("phase", ""))
        if phase not in phases:
            phases.append(phase)
        rows.setdefault(key, {})[phase] = (state, str(device.get("error") or ""))
    order = {"off": 0, "on": 1}
    phases.sort(key=lambda p: order.get(p, 2))
    width = LABEL_WIDTH + PHASE_WIDTH * max(1, len(phases)) + 20
    out = _open(op, tr, width, ROW * (len(rows) + 2) + 10)
    for i, phase in enumerate(phases):
        x = LABEL_WIDTH + i * PHASE_WIDTH
        out.append(_text(x + 8, ROW - 8, f"{tr('asked')}: {tr(phase)} → {tr('read back')}", "head"))
        if i:  # the order of the phases: off is read back before on is asked
            out.append(f'<path class="arrow" d="M{x - 14} {ROW / 2} l10 0 m-4 -4 l4 4 l-4 4"/>')
    for r, (key, cells) in enumerate(rows.items()):
        y = _row(out, r, key, width, tr)
        for i, phase in enumerate(phases):
            if phase not in cells:
                continue
            state, error = cells[phase]
            kind = _kind(phase, state)
            x = LABEL_WIDTH + i * PHASE_WIDTH
            shown = f"{tr(phase)} → {tr(state)}" + (
                " ✓" if kind == "good" else " ✗" if kind == "bad" else " ?"
            )
            out.append(
                f'<rect x="{x + 4}" y="{y + 4}" width="{PHASE_WIDTH - 12}" height="{ROW - 8}" rx="4"'
                f' fill="{_COLOURS[kind]}"><title>{esc(error or shown)}</title></rect>'
            )
            out.append(_text(x + 12, y + ROW - 9, shown, "cell"))
    return _close(out, op, tr, ROW * (len(rows) + 1) + ROW - 9)


def topology(
    node: str, levels: list[tuple[int, str, str, list[dict[str, Any]]]], tr: Callable[[str], str]
) -> str:
    """A node and what powers it: a column per topology level (tried in order), in it each device
    with the node's outlets and their states.  ``levels``: (level, device, error, outlets)."""
    columns: dict[int, list[tuple[str, str, list[dict[str, Any]]]]] = {}
    for level, device, error, outlets in levels:
        columns.setdefault(level, []).append((device, error, outlets))
    col_width, box_width, node_width = 300, 260, 140
    heights = [sum(ROW * (len(o) + 1) + 16 for _, _, o in devs) for devs in columns.values()] or [ROW]
    height = max(heights) + ROW * 2
    width = node_width + 60 + col_width * max(1, len(columns))
    node_y = height / 2 - ROW / 2
    out = [
        f'<svg class="topology" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" aria-label="{esc(tr("Topology"))}: {esc(node)}">',
        f'<rect class="node" x="8" y="{node_y:.0f}" width="{node_width}" height="{ROW}" rx="6"/>',
        _text(8 + node_width / 2, node_y + ROW - 9, node, "nodename", "middle"),
    ]
    for c, (level, devices) in enumerate(sorted(columns.items())):
        x = node_width + 60 + c * col_width
        out.append(
            _text(
                x, ROW - 8, f"{tr('level')} {level}" + (f" ({tr('tried first')})" if c == 0 else ""), "head"
            )
        )
        y = ROW
        for device, error, outlets in devices:
            box_height = ROW * (len(outlets) + 1)
            out.append(
                f'<rect class="device" x="{x}" y="{y}" width="{box_width}" height="{box_height}" rx="6"/>'
            )
            out.append(_text(x + 8, y + ROW - 9, device + (f" — {error}" if error else ""), "devname"))
            for i, outlet in enumerate(outlets):
                oy = y + ROW * (i + 1)
                state = str(outlet.get("state", "unknown"))
                kind = state if state in ("on", "off") else "unknown"
                start, end = f"{8 + node_width} {node_y + ROW / 2:.0f}", f"{x} {oy + ROW / 2:.0f}"
                out.append(f'<path class="link" d="M{start} L{end}"/>')
                out.append(
                    f'<rect x="{x + 8}" y="{oy + 3}" width="{box_width - 16}" height="{ROW - 6}" rx="3"'
                    f' fill="{_COLOURS[kind]}"/>'
                )
                label = f"{tr('outlet')} {outlet.get('id')} {outlet.get('name', '')}: {tr(state)}"
                out.append(_text(x + 14, oy + ROW - 9, label, "cell"))
            y += box_height + 16
    out.append("</svg>")
    return "".join(out)

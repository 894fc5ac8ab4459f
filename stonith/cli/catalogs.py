"""The translation catalogs' maintenance: ``python -m stonith.cli.catalogs [stonith/locale]``.

Collects every text shown to people (the drivers' labels and help, the framework's words, the GUI's
and the cluster verbs' strings), rewrites each ``<lang>/LC_MESSAGES/stonith.po`` with them (keeping
what is translated, dropping what nothing uses) and compiles the ``.mo`` files that
``stonith.render.i18n`` reads at run time.  A maintainer's tool: nothing at run time imports it.
"""

from __future__ import annotations

import os

from stonith.render.i18n import DOMAIN, LANGUAGES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from stonith.contract.driver import DriverInfo
    from stonith.contract.fields import Field


# Framework strings shown to people (help text, man page, subcommand help).
FRAMEWORK_STRINGS = (
    "Parameters:",
    "Models:",
    "Status:",
    "required",
    "default",
    "one of",
    "range",
    "max {n} chars",
    "items",
    "matches",
    "also accepted as:",
    "See",
)


def driver_strings(infos: list[DriverInfo]) -> list[str]:
    """Every translatable text of the given drivers, in a stable order, without duplicates."""
    seen: dict[str, None] = {}

    def add(text: str) -> None:
        if text:
            seen.setdefault(text, None)

    def add_field(field: Field) -> None:
        add(field.label)
        add(field.short_text)
        add(field.long_text)
        for sub in field.fields:
            add_field(sub)

    for info in infos:
        add(info.shortdesc)
        add(info.description)
        for field in info.fields:
            add_field(field)
    return list(seen)


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a .po file (only what our catalogs use: plain and multi-line strings)."""
    import ast

    entries: dict[str, str] = {}
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    current: list[str] | None = None

    def flush() -> None:
        if msgid is not None and msgstr is not None:
            entries["".join(msgid)] = "".join(msgstr)

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("msgid "):
            flush()
            msgid, msgstr = [ast.literal_eval(line[6:])], None
            current = msgid
        elif line.startswith("msgstr "):
            msgstr = [ast.literal_eval(line[7:])]
            current = msgstr
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
        elif not line or line.startswith("#"):
            continue
    flush()
    return entries


def write_mo(entries: dict[str, str], path: str) -> None:
    """Compile a catalog to GNU .mo format (what gettext.GNUTranslations reads)."""
    import struct

    items = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in entries.items() if v or not k)
    count = len(items)
    header_size = 7 * 4
    ids_offset = header_size
    strs_offset = ids_offset + count * 8
    data_offset = strs_offset + count * 8
    ids_table, strs_table, blob = [], [], b""
    for key, _ in items:
        ids_table.append((len(key), data_offset + len(blob)))
        blob += key + b"\0"
    for _, value in items:
        strs_table.append((len(value), data_offset + len(blob)))
        blob += value + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, count, ids_offset, strs_offset, 0, 0)
    for length, offset in ids_table:
        out += struct.pack("<2I", length, offset)
    for length, offset in strs_table:
        out += struct.pack("<2I", length, offset)
    out += blob
    with open(path, "wb") as handle:
        handle.write(out)


def _po_quote(text: str) -> str:
    import json

    if "\n" not in text:
        return json.dumps(text, ensure_ascii=False)
    parts = text.split("\n")
    lines = ['""'] + [json.dumps(p + "\n", ensure_ascii=False) for p in parts[:-1]]
    if parts[-1]:
        lines.append(json.dumps(parts[-1], ensure_ascii=False))
    return "\n".join(lines)


def header(lang: str, existing: str) -> str:
    """A catalog's header entry: the fields ``msgfmt -c`` asks for, a translator's own values kept."""
    import time

    fields = {
        "Project-Id-Version": "stonith",
        "PO-Revision-Date": time.strftime("%Y-%m-%d %H:%M+0000", time.gmtime()),
        "Last-Translator": "stonith developers",
        "Language-Team": lang,
    }
    for line in existing.splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip() in fields:
            fields[name.strip()] = value.strip()
    fields |= {
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Language": lang,
    }
    return "".join(f"{name}: {value}\n" for name, value in fields.items())


def render_po(lang: str, strings: list[str], known: dict[str, str]) -> str:
    out = [
        f"# {lang} translation of stonith: driver metadata and framework texts.",
        "# Regenerate entries with `python -m stonith.cli.catalogs`; translate the empty msgstr lines.",
        'msgid ""',
        'msgstr ""',
        # one quoted line per field ("Language: de\n"), as msgfmt and translators expect
        *(_po_quote(line)[:-1] + '\\n"' for line in header(lang, known.get("", "")).splitlines()),
        "",
    ]
    for text in strings:
        out.append(f"msgid {_po_quote(text)}")
        out.append(f"msgstr {_po_quote(known.get(text, ''))}")
        out.append("")
    return "\n".join(out)


def all_strings() -> list[str]:
    from stonith.contract.errors import StonithError
    from stonith.fencing import registry

    infos = []
    for name in registry.types():
        ep = registry.entry_points().get(name)
        if ep is not None and ep.value.startswith("stonith.drivers."):
            try:
                infos.append(registry.load(name).INFO)
            except StonithError:
                continue  # a driver that cannot load is reported by the registry and golden tests

    from stonith.render.cli_text import CLI_STRINGS  # the cluster verbs' words: pure data
    from stonith.server.gui.strings import GUI_STRINGS  # pure data: no web framework imported

    strings = dict.fromkeys([*FRAMEWORK_STRINGS, *driver_strings(infos), *GUI_STRINGS, *CLI_STRINGS])
    return list(strings)


def update_catalogs(source_locale_dir: str) -> list[str]:
    """Rewrite every ``<lang>/LC_MESSAGES/stonith.po`` with the current strings; compile .mo files.

    Returns the strings still untranslated (per language, prefixed with it).
    """
    strings = all_strings()
    missing: list[str] = []
    for lang in LANGUAGES:
        if lang == "en":
            continue
        directory = os.path.join(source_locale_dir, lang, "LC_MESSAGES")
        os.makedirs(directory, exist_ok=True)
        po_path = os.path.join(directory, DOMAIN + ".po")
        known: dict[str, str] = {}
        if os.path.exists(po_path):
            with open(po_path, encoding="utf-8") as handle:
                known = parse_po(handle.read())
        with open(po_path, "w", encoding="utf-8") as handle:
            handle.write(render_po(lang, strings, known))
        entries = {k: v for k, v in known.items() if k in strings or k == ""}
        entries[""] = header(lang, known.get("", ""))
        write_mo(entries, os.path.join(directory, DOMAIN + ".mo"))
        missing.extend(f"{lang}: {s}" for s in strings if not known.get(s))
    return missing


if __name__ == "__main__":
    import sys

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0]))), "locale")
    target = sys.argv[1] if len(sys.argv) > 1 else here
    left = update_catalogs(target)
    for line in left:
        sys.stdout.write(f"untranslated: {line}\n")
    sys.exit(1 if left else 0)

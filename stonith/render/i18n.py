"""Localization of labels and help texts through gettext (domain ``stonith``).

English is the source language and costs nothing: gettext is imported only when another
language is asked for (``--lang``, or LANGUAGE / LC_ALL / LC_MESSAGES / LANG).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from stonith.contract.driver import DriverInfo
    from stonith.contract.fields import Field

DOMAIN = "stonith"
LOCALEDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")
LANGUAGES = ("en", "de")


# A language code as catalogs are named: ``de``, ``pt_BR``, ``ast``.  Anything else (``../../tmp/x``)
# would become part of the catalog's path, so it is treated as no language at all (English).
_LANGUAGE_CODE = r"[A-Za-z]{2,3}(?:_[A-Za-z]{2})?"


# The command line's ``--lang`` (set once by ``choose``): every later text of the process follows it.
_chosen: str | None = None


def choose(lang: str | None) -> None:
    """Use ``lang`` (a subcommand's ``--lang``) for every text of this process.

    An explicit language without a catalog is said once on stderr, then English is used: a user
    who typed ``--lang fr`` should not wonder why nothing changed.  A language that only comes
    from the environment (LANG=fr_FR) falls back silently, as every gettext program does.
    """
    global _chosen
    _chosen = lang or None  # None: back to the environment's language
    if not lang:
        return
    code = requested_language(lang)
    if code != "en" and not code.startswith("en_") and not has_catalog(code):
        import sys

        sys.stderr.write(f"WARNING: no catalog for {lang!r}; English\n")
        _chosen = "en"


def choose_from_argv(argv: list[str]) -> None:
    """``--lang L`` / ``--lang=L`` from a raw command line (up to ``--``), chosen before parsing;
    without one, the environment's language (also after an earlier invocation in this process)."""
    choose(None)
    for i, arg in enumerate(argv):
        if arg == "--":
            return
        if arg == "--lang" and i + 1 < len(argv):
            choose(argv[i + 1])
        elif arg.startswith("--lang="):
            choose(arg.partition("=")[2])


def has_catalog(code: str) -> bool:
    """A compiled catalog for ``code`` or its base language (``de`` for ``de_AT``) is installed."""
    return any(
        os.path.exists(os.path.join(LOCALEDIR, c, "LC_MESSAGES", DOMAIN + ".mo"))
        for c in (code, code.split("_")[0])
    )


def requested_language(explicit: str | None = None) -> str:
    """The language code asked for, 'en' when nothing (or C/POSIX, or no valid code) is set."""
    import re

    explicit = explicit or _chosen
    values = (
        [explicit] if explicit else [os.environ.get(v) for v in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")]
    )
    for value in values:
        if value:
            code = value.split(":")[0].split(".")[0].split("@")[0]
            if code in ("C", "POSIX") or not re.fullmatch(_LANGUAGE_CODE, code):
                return "en"
            return code
    return "en"


_translators: dict[str, Callable[[str], str]] = {}


def translator(lang: str | None = None) -> Callable[[str], str]:
    code = requested_language(lang)
    if code == "en" or code.startswith("en_"):
        return _identity
    if code not in _translators:
        import gettext

        catalog = gettext.translation(DOMAIN, LOCALEDIR, languages=[code, code.split("_")[0]], fallback=True)
        _translators[code] = catalog.gettext
    return _translators[code]


def _identity(text: str) -> str:
    return text


def _(text: str, lang: str | None = None) -> str:
    return translator(lang)(text)


def localize_field(field: Field, tr: Callable[[str], str]) -> Field:
    if tr is _identity:
        return field
    return field.replace(
        label=tr(field.label),
        short_text=tr(field.short_text),
        long_text=tr(field.long_text),
        fields=tuple(localize_field(sub, tr) for sub in field.fields),
    )


def localize_info(info: DriverInfo, lang: str | None = None) -> DriverInfo:
    """A copy of ``info`` whose texts are in the requested language."""
    tr = translator(lang)
    if tr is _identity:
        return info
    from stonith.contract.driver import DriverInfo

    return DriverInfo(
        info.name,
        shortdesc=tr(info.shortdesc),
        description=tr(info.description),
        fields=[localize_field(f, tr) for f in info.fields],
        family=info.family,
        models=info.models,
        url=info.url,
        status=info.status,
        capabilities=info.capabilities,
    )


# ---------------------------------------------------------------------------------------------
# Catalog maintenance: ``python -m stonith.render.i18n`` rewrites the .po template entries and compiles .mo.

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
        "# Regenerate entries with `python -m stonith.render.i18n`; translate the empty msgstr lines.",
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

    here = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "locale")
    target = sys.argv[1] if len(sys.argv) > 1 else here
    left = update_catalogs(target)
    for line in left:
        sys.stdout.write(f"untranslated: {line}\n")
    sys.exit(1 if left else 0)

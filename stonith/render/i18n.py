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
# stonith/locale (this module lives in stonith/render)
LOCALEDIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "locale")
LANGUAGES = ("en", "de")


def is_language_code(code: str) -> bool:
    """A language code as catalogs are named: ``de``, ``pt_BR``, ``ast`` (two or three ASCII letters,
    then optionally ``_`` and two).  Anything else (``../../tmp/x``) would become part of the
    catalog's path, so it is treated as no language at all (English).  Checked by hand: importing
    ``re`` would cost every ``stonith -n``/``-m`` 1.7 ms."""
    language, underscore, region = code.partition("_")
    if not (2 <= len(language) <= 3 and language.isascii() and language.isalpha()):
        return False
    return not underscore or (len(region) == 2 and region.isascii() and region.isalpha())


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
    explicit = explicit or _chosen
    values = (
        [explicit] if explicit else [os.environ.get(v) for v in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")]
    )
    for value in values:
        if value:
            code = value.split(":")[0].split(".")[0].split("@")[0]
            if code in ("C", "POSIX") or not is_language_code(code):
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


# While a table of thousands of rows is written, the language is looked up once (``pinned``), not
# for each of its words (four environment variables read per word: 6 % of a 1,000-node status).
_pinned: list[Callable[[str], str]] = []


class pinned:  # lower case: used as ``with pinned():``, like a function
    """Within the block, ``_`` translates into the language in force when it began.  (A class, not
    contextlib: ``stonith -m`` imports this module, and contextlib is not otherwise loaded there.)"""

    def __enter__(self) -> None:
        _pinned.append(translator())

    def __exit__(self, *exc: object) -> None:
        _pinned.pop()


def _(text: str, lang: str | None = None) -> str:
    if _pinned and lang is None:
        return _pinned[-1](text)
    return translator(lang)(text)


def tr(msgid: str, **params: object) -> str:
    """``msgid`` in the chosen language, its ``{placeholders}`` filled in."""
    text = _(msgid)
    return text.format(**params) if params else text


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

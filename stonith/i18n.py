"""Localization of labels and help texts through gettext (domain ``stonith``).

English is the source language and costs nothing: gettext is imported only when another
language is asked for (``--lang``, or LANGUAGE / LC_ALL / LC_MESSAGES / LANG).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from stonith.driver import DriverInfo
    from stonith.fields import Field

DOMAIN = "stonith"
LOCALEDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")
LANGUAGES = ("en", "de")


def requested_language(explicit: str | None = None) -> str:
    """The language code asked for, 'en' when nothing (or C/POSIX) is set."""
    if explicit:
        return explicit
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            code = value.split(":")[0].split(".")[0].split("@")[0]
            if code in ("C", "POSIX"):
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
    from stonith.driver import DriverInfo

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

"""German is a complete second language for the framework and every field of every shipped driver."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stonith.cli import catalogs
from stonith.fencing import registry
from stonith.render import i18n
from tests.conftest import REPO, run_stonith

PO = REPO / "stonith" / "locale" / "de" / "LC_MESSAGES" / "stonith.po"


def test_every_string_has_a_german_translation() -> None:
    catalog = catalogs.parse_po(PO.read_text(encoding="utf-8"))
    missing = [s for s in catalogs.all_strings() if not catalog.get(s)]
    assert missing == [], f"untranslated (run python -m stonith.cli.catalogs stonith/locale): {missing[:10]}"


def test_installed_mo_matches_the_po(tmp_path: Path) -> None:
    catalog = catalogs.parse_po(PO.read_text(encoding="utf-8"))
    compiled = tmp_path / "stonith.mo"
    entries = {k: v for k, v in catalog.items() if v or k == ""}
    catalogs.write_mo(entries, str(compiled))
    with open(compiled, "rb") as handle:
        fresh = gettext.GNUTranslations(handle)
    installed = gettext.translation("stonith", i18n.LOCALEDIR, languages=["de"])
    for msgid in catalogs.all_strings():
        assert installed.gettext(msgid) == fresh.gettext(msgid), msgid


def test_every_shipped_driver_loads() -> None:
    for name, ep in registry.entry_points().items():
        if ep.value.startswith("stonith.drivers."):
            assert registry.load(name).INFO.name


@pytest.mark.parametrize("lang_env", [{"LANG": "de_DE.UTF-8"}, {"LANGUAGE": "de"}])
def test_language_from_environment(lang_env: dict[str, str]) -> None:
    result = run_stonith("metadata", "null", "--format", "help", env=lang_env)
    assert "Parameter:" in result.stdout and "Hostliste" in result.stdout


def test_english_is_the_default() -> None:
    result = run_stonith("metadata", "null", "--format", "help", env={"LANG": "C"})
    assert "Parameters:" in result.stdout


@settings(max_examples=2000)
@given(st.text(alphabet=st.sampled_from(list("aZde_ATé1.-/ÄİK")), max_size=7))
def test_a_language_code_is_what_catalogs_are_named(code: str) -> None:
    """Two or three ASCII letters, optionally ``_`` and two more: nothing else can name a catalog
    path (checked without ``re``, which -n/-m must not import)."""
    import re

    assert i18n.is_language_code(code) == bool(re.fullmatch(r"[A-Za-z]{2,3}(?:_[A-Za-z]{2})?", code))


def test_a_pinned_language_holds_for_the_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A table of thousands of rows looks the language up once (``i18n.pinned``); outside the block
    every text follows the environment again."""
    i18n.choose(None)
    monkeypatch.setenv("LANGUAGE", "de")
    with i18n.pinned():
        assert i18n._("FAILED") != "FAILED"
        monkeypatch.setenv("LANGUAGE", "en")
        assert i18n._("FAILED") != "FAILED"  # pinned: German until the block ends
        assert i18n._("FAILED", "en") == "FAILED"  # an explicit language still wins
    assert i18n._("FAILED") == "FAILED"

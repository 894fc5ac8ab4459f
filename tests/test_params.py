"""The shared parameter library (stonith.contract.params) is what every driver uses for its shared parameters.

A driver takes a library field as it is, or changes what is not text (required, length, default,
aliases) with ``Field.replace``; it never writes its own Field under a library name, so each shared
parameter has one text and one German translation in every driver.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stonith.cli import catalogs
from stonith.contract import params
from stonith.contract.fields import Field
from stonith.fencing import registry
from tests.conftest import REPO

# What a driver may set on a library field; everything else (above all the texts) stays the library's.
PER_DRIVER = ("required", "length", "default", "aliases")
TEXTS = ("label", "short_text", "long_text")
PO = REPO / "stonith" / "locale" / "de" / "LC_MESSAGES" / "stonith.po"


def library() -> list[Field]:
    fields = [getattr(params, name) for name in params.__all__]
    return [f for f in fields if isinstance(f, Field)]


NAMES = {f.fieldname for f in library()}


def builtin() -> list[str]:
    """Every installed built-in type (as tests/test_manifest.py finds them: the entry points)."""
    return sorted(n for n, ep in registry.entry_points().items() if ep.value.startswith("stonith.drivers."))


def test_all_lists_every_public_name() -> None:
    public = {n for n in vars(params) if not n.startswith("_") and n.isupper()}
    public -= {"TYPE_CHECKING", "BOOLEAN", "HOSTPORT", "INTEGER", "PATH", "SECONDS", "SECRET", "TTY"}
    assert public <= set(params.__all__), public - set(params.__all__)
    assert {"hostlist", "crash_dump"} <= set(params.__all__)


@pytest.mark.parametrize("name", builtin())
def test_every_shared_parameter_of_a_driver_is_a_library_field(name: str) -> None:
    for field in registry.load(name).INFO.fields:
        if field.fieldname not in NAMES:
            continue
        own = {attr: getattr(field, attr) for attr in PER_DRIVER}
        matches = [
            lib for lib in library() if lib.fieldname == field.fieldname and lib.replace(**own) == field
        ]
        only = ", ".join(PER_DRIVER)
        assert matches, (
            f"{name}: {field.fieldname} is not a field of stonith.contract.params (only {only} may differ)"
        )


def _installed_driver_modules() -> list[Path]:
    import stonith.drivers

    return sorted(Path(next(iter(stonith.drivers.__path__))).glob("*.py"))


def test_no_driver_module_defines_a_library_parameter() -> None:
    modules = _installed_driver_modules()
    assert any(path.name == "_console.py" for path in modules)
    found = []
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            first = node.args[0]
            if called == "Field" and isinstance(first, ast.Constant) and first.value in NAMES:
                found.append(f"{path.name}:{node.lineno} {first.value}")
    assert found == [], (
        "use the field of stonith.contract.params (with .replace for required/length/default/aliases)"
    )


def test_a_text_belongs_to_one_parameter() -> None:
    owner: dict[str, str] = {}
    for field in library():
        for attr in TEXTS:
            text = getattr(field, attr)
            assert owner.setdefault(text, field.fieldname) == field.fieldname, (
                f"{text!r} is the text of {owner[text]} and of {field.fieldname}"
            )


def test_variants_of_a_parameter_say_how_they_differ() -> None:
    by_text: dict[tuple[str, str], Field] = {}
    for field in library():
        for attr in ("short_text", "long_text"):
            other = by_text.setdefault((attr, getattr(field, attr)), field)
            assert other is field, (
                f"two variants of {field.fieldname} share the {attr} {getattr(field, attr)!r}"
            )


def test_every_library_text_has_its_german_translation() -> None:
    catalog = catalogs.parse_po(PO.read_text(encoding="utf-8"))
    missing = [getattr(f, attr) for f in library() for attr in TEXTS if not catalog.get(getattr(f, attr))]
    assert missing == []


def test_every_library_field_is_used() -> None:
    used = {field for name in builtin() for field in registry.load(name).INFO.fields}
    unused = [
        f"{f.fieldname} ({f.short_text})"
        for f in library()
        if not any(
            f.fieldname == u.fieldname and all(getattr(f, a) == getattr(u, a) for a in TEXTS) for u in used
        )
    ]
    assert unused == []

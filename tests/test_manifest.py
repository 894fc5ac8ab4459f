"""The driver entry points are the one list of built-in types; every other list must agree with it.

Registering a type still touches several hand-kept tables (issue 24 wants them derived); until then
this test names the table a new type was forgotten in, instead of a confusing failure elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from stonith.mocks.__main__ import MOCKS

from stonith.fencing import registry
from stonith.render import fence_options
from tests.conftest import REPO

# Types that switch nothing real, so no device end to mock: cluster-glue's test plugins.
NO_MOCK = {"null", "meatware", "ssh", "suicide"}


def builtin() -> dict[str, str]:
    """Built-in type -> its entry point's target (``module:Class``)."""
    return {
        n: ep.value for n, ep in registry.entry_points().items() if ep.value.startswith("stonith.drivers.")
    }


def test_every_builtin_type_says_how_it_is_listed() -> None:
    for name in builtin():
        info = registry.load(name).INFO
        assert info.summary and "\n" not in info.summary, name
        assert registry.describe(name) == info.summary


def test_every_builtin_type_loads_under_its_own_name() -> None:
    for name in builtin():
        assert registry.load(name).INFO.name == name


def test_every_builtin_type_has_a_mock_or_is_a_test_plugin() -> None:
    types = set(builtin())
    assert set(MOCKS) <= types, f"mocks of no type: {set(MOCKS) - types}"
    assert types - set(MOCKS) == NO_MOCK, "a driver module drivers/X.py needs its mock mocks/X.py"


def test_the_snmp_families_are_one_list() -> None:
    snmp = {n for n, target in builtin().items() if target.startswith("stonith.drivers.snmp_pdu:")}
    for name in snmp:
        assert registry.type_extra(name) == ("snmp", ("pysnmp",)), name
        profile = fence_options.profile_for(name)
        assert profile is not None and profile.options is fence_options.SNMP.options, name


def test_every_type_needing_a_library_names_its_extra() -> None:
    needs = {
        "stonith.drivers.snmp_pdu": "snmp",
        "stonith.drivers.ipmi": "ipmi",
        "stonith.drivers.redfish": "redfish",
        "stonith.drivers.redfish_pdu": "redfish",
        "stonith.drivers.sispm": "usb",
    }
    for name, target in builtin().items():
        module = target.partition(":")[0]
        if module in needs:
            assert (registry.type_extra(name) or ("",))[0] == needs[module], name


def test_every_mock_has_its_every_mock_d_row_and_campaign_kind() -> None:
    import hwtests  # noqa: F401  (the installed stonith first)
    from hwtests.fuzzing import snmp_types
    from hwtests.mocktypes import KINDS

    rows = (REPO / "hwtests" / "every-mock.d").glob("*.toml")
    typed = {
        line.split('"')[1]
        for path in rows
        for line in path.read_text().splitlines()
        if line.startswith("type =")
    }
    assert set(MOCKS) <= typed, f"every-mock.d rows missing for {set(MOCKS) - typed}"
    # The SNMP families are sampled, as the fuzzers sample them: one agent serves every family
    # (mocks/snmp_pdu.py), and the campaign draws it through several (a new family needs no Kind).
    drawn = {k.mock_type for k in KINDS}
    snmp = set(snmp_types())  # every class of the SNMP table kit, wherever its module is
    missing = set(MOCKS) - drawn - snmp
    assert not missing, f"hwtests/mocktypes.py KINDS has no Kind for {sorted(missing)}"
    assert len(drawn & snmp) >= 3, "the campaign samples at least three SNMP families"


def test_every_type_with_a_mock_is_fuzzed() -> None:
    import hwtests  # noqa: F401  (the installed stonith first)
    from hwtests.fuzzing import disagreements

    assert disagreements() == [], "hwtests/fuzzing.py"


def test_every_builtin_type_has_golden_metadata_and_a_readme_row() -> None:
    golden = REPO / "tests" / "metadata"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in builtin():
        for kind in ("glue", "fence"):
            assert Path(golden / f"{name}.{kind}.xml").exists(), f"{name}.{kind}.xml"
        assert f"`{name}`" in readme, f"README.md names no `{name}`"


def test_drivers_read_their_typed_parameters() -> None:
    """Issue 24: a driver reads ``self.params.NAME`` (typed, defaults applied by the framework), never
    ``self.config.get(NAME, default)`` or a cast of a configuration value that restates the field."""
    import re

    forbidden = re.compile(r"self\.config\.get\(|\b(?:int|float|str|bool)\(self\.config\b|self\.config\[")
    offenders = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted((REPO / "drivers").glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []

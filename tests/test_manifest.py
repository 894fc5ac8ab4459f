"""The driver entry points are the one list of built-in types; every other list must agree with it.

Registering a type still touches several hand-kept tables (issue 24 wants them derived); until then
this test names the table a new type was forgotten in, instead of a confusing failure elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
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
    from hwtests.mocktypes import kinds

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
    drawn = {k.mock_type for k in kinds()}  # the table's and those read from every-mock.d rows
    snmp = set(snmp_types())  # every class of the SNMP table kit, wherever its module is
    missing = set(MOCKS) - drawn - snmp
    assert not missing, f"no Kind in hwtests/mocktypes.py, no usable every-mock.d row: {sorted(missing)}"
    assert len(drawn & snmp) >= 3, "the campaign samples at least three SNMP families"


@pytest.mark.parametrize("row", ["wti-nps", "redfish-pdu", "ipmi"])
def test_a_kind_read_from_an_every_mock_d_row_runs_in_the_campaign(row: str, tmp_path: Path) -> None:
    """A type ``stonith new-driver`` scaffolds has no line in hwtests/mocktypes.py: the campaign reads
    its Kind from its every-mock.d row.  Rows of three kits, read back and run, judged by the mocks'
    ground truth like every campaign run."""
    import hwtests  # noqa: F401  (the installed stonith first)
    from hwtests import campaign
    from hwtests.mocktypes import row_kind

    kind = row_kind(str(REPO / "hwtests" / "every-mock.d" / f"{row}.toml"))
    assert kind is not None
    campaign._worker_init(str(tmp_path))
    verdicts = [
        campaign.execute(campaign.plan_run(24, index, [kind], 1.5), {kind.name: kind}).verdict
        for index in range(10)
    ]
    assert not {"false-success", "traceback", "setup-error"} & set(verdicts), verdicts
    assert "success" in verdicts, verdicts


def test_every_type_with_a_mock_is_fuzzed() -> None:
    import hwtests  # noqa: F401  (the installed stonith first)
    from hwtests.fuzzing import disagreements

    assert disagreements() == [], "hwtests/fuzzing.py"


@pytest.mark.parametrize(("driver_type", "row"), [("wti_nps", "wti-nps"), ("apcmaster", "apcmaster-msp")])
def test_a_stream_fuzz_case_read_from_an_every_mock_d_row(
    driver_type: str, row: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A console type ``stonith new-driver`` scaffolds has no line in hwtests/fuzzing.py: its fuzz
    case comes from its every-mock.d row, as these two would without theirs."""
    import tomllib

    import hwtests  # noqa: F401  (the installed stonith first)
    from hwtests import fuzzing

    table = dict(fuzzing.STREAM_CASES)
    monkeypatch.delitem(fuzzing.STREAM_CASES, driver_type)
    config, transport, switching = fuzzing.stream_case(driver_type) or ({}, "", b"")
    assert transport == table[driver_type][1] == "telnet"
    assert switching == fuzzing.SWITCHING_LINE
    parameters = tomllib.loads((REPO / "hwtests" / "every-mock.d" / f"{row}.toml").read_text())["parameters"]
    assert config == {**parameters, "ipaddr": "fake:23", "password": "pw"}
    assert set(config) == set(table[driver_type][0])
    assert fuzzing.disagreements() == []


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

"""The node-set parsers: the small one reads a plain node set exactly as ClusterShell does.

``expand_sorted`` (fleets: thousands of BMC names and addresses) reads a plain node set with the
small parser of stonith.fencing.nodeset instead of ClusterShell's NodeSet, which folds every name it
reads and is some fifty times slower on addresses.  That is only right while both read the same
nodes, so hypothesis draws plain node sets (names, dots, colons, padded and unpadded ranges, comma
lists, several bracket groups) and holds the two to the same set, the same errors and natural order.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stonith.contract.errors import UsageError
from stonith.fencing.nodeset import expand, expand_sorted, natural_key

NodeSet = pytest.importorskip("ClusterShell.NodeSet").NodeSet

WORD = st.text("abn-.:", min_size=0, max_size=3)


@st.composite
def bound_pair(draw: st.DrawFn) -> str:
    lo = draw(st.integers(0, 120))
    hi = lo + draw(st.integers(0, 30))
    if draw(st.booleans()):  # zero padded: one width, as an administrator writes it (or not)
        width = draw(st.integers(len(str(hi)), len(str(hi)) + 2))
        lo_text, hi_text = str(lo).zfill(width), str(hi).zfill(width)
        if draw(st.integers(0, 9)) == 0:
            hi_text = str(hi)  # inconsistent padding: ClusterShell refuses it, so must we
    else:
        lo_text, hi_text = str(lo), str(hi)
    return lo_text if lo == hi and draw(st.booleans()) else f"{lo_text}-{hi_text}"


@st.composite
def plain_node_set(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        text = draw(WORD)
        for _ in range(draw(st.integers(0, 2))):
            spec = ",".join(draw(st.lists(bound_pair(), min_size=1, max_size=3)))
            text += f"[{spec}]" + draw(WORD)
        parts.append(text or "x")
    return ",".join(parts)


def _clustershell(text: str) -> set[str] | None:
    try:
        return {n.lower() for n in NodeSet(text)}
    except Exception:
        return None


@settings(max_examples=300, deadline=None)
@given(plain_node_set())
def test_a_plain_node_set_reads_as_clustershell_reads_it(text: str) -> None:
    expected = _clustershell(text)
    if expected is None:
        with pytest.raises(UsageError):
            expand_sorted(text)
        return
    nodes = expand_sorted(text)
    assert set(nodes) == expected
    assert len(nodes) == len(expected)
    assert nodes == sorted(nodes, key=natural_key)


def test_bmc_addresses_of_a_fleet() -> None:
    text = "127.1.0.[1-255]:623,127.1.1.[0-255]:623,127.1.2.[0-9]:623"
    addresses = expand_sorted(text, keep_case=True)
    assert len(addresses) == 255 + 256 + 10
    assert addresses[:2] == ["127.1.0.1:623", "127.1.0.2:623"]
    assert addresses[-1] == "127.1.2.9:623"
    assert set(addresses) == set(NodeSet(text))


@pytest.mark.parametrize("text", ["n[1-3]!n2", "@rack1", "n[1-3]&n[2-4]", "n[1-4/2]", "a b"])
def test_what_is_not_plain_is_read_by_clustershell(text: str) -> None:
    expected = _clustershell(text)
    if expected is None:
        with pytest.raises(UsageError):
            expand_sorted(text)
    else:
        assert set(expand_sorted(text)) == expected


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.text("ab-.", max_size=2))
def test_natural_order_compares_numbers_as_numbers(i: int, j: int, tail: str) -> None:
    assert (natural_key(f"n{i}{tail}") < natural_key(f"n{j}{tail}")) == (i < j)


def test_natural_key_reads_ascii_digits_only() -> None:
    assert natural_key("n²1") == ((1, "n²"), (0, 1))
    assert natural_key("127.1.0.10:623") == (
        (0, 127),
        (1, "."),
        (0, 1),
        (1, "."),
        (0, 0),
        (1, "."),
        (0, 10),
        (1, ":"),
        (0, 623),
    )
    assert natural_key("") == ()


@settings(max_examples=300, deadline=None)
@given(plain_node_set())
def test_a_command_line_node_set_keeps_clustershell_order_without_it(text: str) -> None:
    """``expand`` (the node set a command names) takes the small parser for one plain pattern, in the
    order ClusterShell lists it; anything else is ClusterShell's (same nodes, same errors)."""
    try:
        expected = list(dict.fromkeys(n.lower() for n in NodeSet(text)))
    except Exception:
        with pytest.raises(UsageError):
            expand(text)
        return
    assert expand(text) == expected


def test_a_single_name_and_a_range_need_no_clustershell(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    def never(text: str) -> None:
        pytest.fail(f"ClusterShell read {text!r}")  # an outcome, not an exception expand catches

    fake = types.ModuleType("ClusterShell.NodeSet")
    fake.NodeSet = never  # type: ignore[attr-defined]
    fake.NodeSetParseError = ValueError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ClusterShell.NodeSet", fake)
    assert expand("Node7", keep_case=True) == ["Node7"]
    assert expand("bmc[0008-0011]") == ["bmc0008", "bmc0009", "bmc0010", "bmc0011"]
    assert expand("r[1-2]n[9-10]") == ["r1n9", "r1n10", "r2n9", "r2n10"]
    with pytest.raises(pytest.fail.Exception):
        expand("n[1-2],m1")  # two patterns: ClusterShell's order, so ClusterShell reads it

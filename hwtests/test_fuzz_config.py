"""Fuzzing devices.d: random TOML tables and random text load, or are rejected with file:field problems.

Budgets and the other fuzzers: hwtests/fuzzing.py.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import hwtests  # noqa: F401  (the installed stonith first)
from hwtests.fuzzing import FUZZ
from stonith.fencing.inventory import TOP_KEYS

# -- devices.d TOML -----------------------------------------------------------------------------

# Every top-level key the loader knows (a new one is fuzzed without a line here), and one it does not.
KEYS = [*sorted(TOP_KEYS), "bogus"]
VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=False),
        st.sampled_from(["baytech", "rps10", "null", "nosuchtype", "127.0.0.1:1", "", "n1", "\x7f"]),
        st.text(max_size=8),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["ipaddr", "login", "password", "n1", "env", "file", "x"]), children),
    ),
    max_leaves=8,
)


def toml_value(value) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if value == value and abs(value) != float("inf") else "0"
    if isinstance(value, str):
        return (
            '"'
            + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value)
            + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"


@FUZZ
@given(
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
    st.one_of(st.none(), st.text(max_size=60)),
)
def test_fuzz_devices_toml(tmp_path_factory, table, raw):
    from stonith.fencing.inventory import InventoryError, load_dir

    directory = tmp_path_factory.mktemp("devd")
    text = "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()) if raw is None else raw
    path = directory / "dev.toml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    path.chmod(0o600)
    try:
        inventory = load_dir(str(directory))
    except InventoryError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
        return
    assert len(inventory.devices) == 1

"""stonith.contract.fields and validation: parsing, constraints, specialtypes, validation, text round trips.

The hypothesis strategies ``fields_st`` and ``values_for`` (arbitrary valid Field trees and valid
typed values for a field) are shared with test_marshal.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stonith.contract import fields as F
from stonith.contract import validation as V
from stonith.contract.fields import Field, to_text
from stonith.contract.validation import ValueProblem, check_special, check_value, parse_value, validate

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------
# Strategies (also used by test_marshal.py)

CONTROL_CHARS = [chr(c) for c in range(0x20)] + ["\x7f"]
BLANKS = " \t\r\n\f"
# Text without control characters (nor surrogates/non-characters, which XML cannot carry).
clean_chars = st.characters(blacklist_categories=("Cc", "Cs", "Cn"))
clean_text = st.text(clean_chars, max_size=12)
unicode_label = st.text(clean_chars, min_size=1, max_size=16)
names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
big_ints = st.integers(min_value=-(2**70), max_value=2**70)
exact_float_ints = st.integers(min_value=-(2**53), max_value=2**53)  # beyond int32, exact as floats

hostnames = st.from_regex(
    r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?){0,3}", fullmatch=True
)
ports = st.integers(min_value=1, max_value=65535)
ipv4s = st.ip_addresses(v=4).map(str)
ipv6s = st.ip_addresses(v=6).map(str)
SPECIAL_VALUES = {
    F.IPV4: ipv4s,
    F.IPV6: ipv6s,
    F.HOSTNAME: hostnames,
    F.HOSTPORT: st.one_of(
        hostnames,
        ipv4s,
        ipv6s,
        st.builds("{}:{}".format, hostnames | ipv4s, ports),
        st.builds("[{}]:{}".format, ipv6s, ports),
    ),
    F.TTY: st.one_of(
        st.builds("/dev/{}".format, st.from_regex(r"tty[A-Za-z]{0,4}[0-9]{0,2}", fullmatch=True)),
        st.builds(
            "{}://{}".format,
            st.sampled_from(F.SERIAL_URL_SCHEMES),
            st.from_regex(r"[a-z0-9.:]{0,12}", fullmatch=True),
        ),
    ),
    F.OUTLET: st.text(clean_chars, min_size=1, max_size=10),
    F.SECRET: clean_text,
    F.SNMP_COMMUNITY: st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20),
    F.OID: st.lists(st.integers(0, 2**40), min_size=2, max_size=8).map(lambda p: ".".join(map(str, p))),
    F.URL: st.builds(
        "{}://{}/{}".format,
        st.sampled_from(["http", "https"]),
        hostnames,
        st.from_regex(r"[a-z0-9/?=&%._-]{0,12}", fullmatch=True),
    ),
    F.PATH: st.builds("/{}".format, clean_text),
}
REGEXES = (r"[a-z]{0,8}", r"[A-Z][a-z0-9_]*", r"(?:ab|cd)+")


def values_for(field: Field, *, nonempty: bool | None = None) -> st.SearchStrategy:
    """Valid typed values of ``field`` (every constraint satisfied)."""
    nonempty = field.required if nonempty is None else nonempty
    if field.field_class == F.STRUCT:
        required = {
            sub.fieldname: values_for(sub) for sub in field.fields if sub.required or sub.default is not None
        }
        optional = {sub.fieldname: values_for(sub) for sub in field.fields if sub.fieldname not in required}
        item = st.fixed_dictionaries(required, optional=optional)
    else:
        item = _scalar_values(field)
        if nonempty and not field.isarray:
            item = item.filter(lambda v: v != "")
    if not field.isarray:
        return item
    low = field.minelem or 0
    if nonempty:
        low = max(low, 1)
    high = field.maxelem if field.maxelem is not None else low + 3
    return st.lists(item, min_size=low, max_size=high)


def _scalar_values(field: Field) -> st.SearchStrategy:
    kind = field.basictype
    if kind == F.BOOLEAN:
        return st.booleans()
    if kind == F.INTEGER:
        low = None if field.minval is None else int(field.minval)
        high = None if field.maxval is None else int(field.maxval)
        return st.integers(min_value=low, max_value=high)
    if kind in (F.FLOAT, F.SECONDS):
        # + 0.0 turns a bound of -0.0 into 0.0: hypothesis finds no float between 0 and -0.0.
        low = None if field.minval is None else field.minval + 0.0
        high = None if field.maxval is None else field.maxval + 0.0
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    if kind == F.ENUMERATION:
        return st.sampled_from(field.enumset)
    if field.regex:
        strategy = st.from_regex(field.regex, fullmatch=True)
    elif field.specialtype:
        strategy = SPECIAL_VALUES[field.specialtype]
    else:
        strategy = clean_text
    if field.length is not None:
        strategy = strategy.filter(lambda v: len(v) <= field.length)
    return strategy


@st.composite
def fields_st(draw, depth: int = 0, fieldname: str | None = None) -> Field:
    """An arbitrary valid Field (struct fields nest up to two levels)."""
    name = fieldname or draw(names)
    kwargs: dict = {
        "short_text": draw(st.sampled_from(["", "Short"]) | unicode_label),
        "long_text": draw(st.just("") | st.text(clean_chars | st.just("\n"), max_size=40)),
        "isarray": draw(st.booleans()),
        "required": draw(st.booleans()),
        "aliases": draw(st.lists(names.filter(lambda n: n != name), max_size=2, unique=True)),
    }
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        kwargs["field_class"] = F.STRUCT
        kwargs["fields"] = draw(
            st.lists(fields_st(depth=depth + 1), min_size=1, max_size=3, unique_by=lambda f: f.fieldname)
        )
    else:
        kind = draw(st.sampled_from(F.BASICTYPES))
        kwargs["basictype"] = kind
        if kind == F.STRING:
            choice = draw(st.integers(0, 2))
            if choice == 0:
                kwargs["specialtype"] = draw(st.sampled_from(F.SPECIALTYPES))
            elif choice == 1:
                kwargs["regex"] = draw(st.sampled_from(REGEXES))
            kwargs["length"] = draw(st.none() | st.integers(min_value=300, max_value=2**40))
        elif kind == F.ENUMERATION:
            kwargs["enumset"] = draw(
                st.lists(st.text(clean_chars, min_size=1, max_size=8), min_size=1, max_size=5, unique=True)
            )
        elif kind in (F.INTEGER, F.FLOAT, F.SECONDS):
            number = big_ints if kind == F.INTEGER else exact_float_ints | st.floats(-1e300, 1e300)
            low = draw(st.none() | number)
            high = draw(st.none() | number)
            if low is not None and high is not None and low > high:
                low, high = high, low
            kwargs["minval"], kwargs["maxval"] = low, high
    if kwargs["isarray"]:
        low = draw(st.none() | st.integers(0, 2))
        kwargs["minelem"] = low
        kwargs["maxelem"] = draw(st.none() | st.integers(max(low or 0, 1), 4))
    field = Field(name, draw(unicode_label), **kwargs)
    default = draw(st.none() | values_for(field))
    return field.replace(default=default) if default is not None else field


# ---------------------------------------------------------------------------------------------
# Scalars from text


def scalar(kind: str, **kw) -> Field:
    return Field("f", "F", basictype=kind, **kw)


BOOL_WORDS = {
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "on": True,
    "off": False,
    "1": True,
    "0": False,
}


@pytest.mark.parametrize("word", list(BOOL_WORDS))
@pytest.mark.parametrize("variant", [str.lower, str.upper, str.title, lambda w: f"  {w} "])
def test_boolean_words_any_case(word, variant):
    assert parse_value(scalar(F.BOOLEAN), variant(word)) is BOOL_WORDS[word]


@pytest.mark.parametrize("bad", ["", "maybe", "2", "yess", "tru", "-1", "none"])
def test_boolean_rejects_other_words(bad):
    with pytest.raises(ValueProblem, match="not a boolean"):
        parse_value(scalar(F.BOOLEAN), bad)


def test_boolean_typed_values_pass_through():
    assert parse_value(scalar(F.BOOLEAN), True) is True
    assert parse_value(scalar(F.BOOLEAN), False) is False


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("+5", 5), ("-5", -5), (" 7 ", 7), ("007", 7), ("-0", 0), (str(2**80), 2**80)],
)
def test_integer_from_text(text, value):
    assert parse_value(scalar(F.INTEGER), text) == value


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "+",
        "-",
        "1.5",
        "1.0",
        "1e3",
        "0x10",
        "1_000",
        "abc",
        "--1",
        "+-1",
        "\u0663",
        "\u00b2",
        "1 2",
        "5\n",
        "\t5",
        True,
    ],
)
def test_integer_rejects_floats_and_garbage(bad):
    with pytest.raises(ValueProblem):
        parse_value(scalar(F.INTEGER), bad)


def test_integer_accepts_typed_ints_and_whole_floats():
    assert parse_value(scalar(F.INTEGER), 12) == 12
    assert parse_value(scalar(F.INTEGER), 12.0) == 12
    with pytest.raises(ValueProblem):
        parse_value(scalar(F.INTEGER), 12.5)


@pytest.mark.parametrize(("text", "value"), [("1.5", 1.5), ("-2", -2.0), ("1e3", 1000.0), (" 0.25 ", 0.25)])
def test_float_from_text(text, value):
    assert parse_value(scalar(F.FLOAT), text) == value


@pytest.mark.parametrize("bad", ["", "abc", "nan", "inf", "-inf", "1e400", "5s", "1,5", 10**400])
def test_float_rejects_garbage_and_non_finite(bad):
    with pytest.raises(ValueProblem):
        parse_value(scalar(F.FLOAT), bad)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", 2.0),
        ("1.5", 1.5),
        ("500ms", 0.5),
        ("500 ms", 0.5),
        ("2s", 2.0),
        ("3m", 180.0),
        ("2min", 120.0),
        ("2 min", 120.0),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("0.5m", 30.0),
        (7, 7.0),
    ],
)
def test_seconds_with_units(text, value):
    assert parse_value(scalar(F.SECONDS), text) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", "s", "ms", "min", "5d", "5 sec", "five s", "infs", "1e400s"])
def test_seconds_rejects_garbage(bad):
    with pytest.raises(ValueProblem):
        parse_value(scalar(F.SECONDS), bad)


def test_enumeration_exact_and_case_insensitive_canonical():
    field = scalar(F.ENUMERATION, enumset=("off", "On", "reboot", "REBOOT"))
    assert parse_value(field, "off") == "off"
    assert parse_value(field, "OFF") == "off"
    assert parse_value(field, "on") == "On"
    assert parse_value(field, "ON") == "On"
    assert parse_value(field, "REBOOT") == "REBOOT"  # an exact match wins
    assert parse_value(field, "reboot") == "reboot"
    assert parse_value(field, "Reboot") == "reboot"  # otherwise the first case-insensitive one
    with pytest.raises(ValueProblem, match="not one of off, On, reboot"):
        parse_value(field, "onn")
    with pytest.raises(ValueProblem):
        parse_value(field, " off")


def test_string_typed_numbers_become_text_but_not_other_objects():
    assert parse_value(scalar(F.STRING), 5) == "5"
    with pytest.raises(ValueProblem, match="expected text"):
        parse_value(scalar(F.STRING), ["a"])


# ---------------------------------------------------------------------------------------------
# Arrays and structs


def test_array_from_text_splits_on_blanks_and_commas():
    field = Field("hosts", "Hosts", isarray=True)
    assert parse_value(field, "a b,c\td\ne\rf\fg,, ,h ") == list("abcdefgh")
    assert parse_value(field, "") == []
    assert parse_value(field, " , ") == []
    assert V.split_list("node1,node2 node3") == ["node1", "node2", "node3"]


def test_array_from_json_text_and_lists():
    field = Field("hosts", "Hosts", isarray=True)
    assert parse_value(field, '["a b", "c,d"]') == ["a b", "c,d"]
    assert parse_value(field, '  ["x"]') == ["x"]
    assert parse_value(field, ["a", "b"]) == ["a", "b"]
    assert parse_value(field, ("a",)) == ["a"]
    with pytest.raises(ValueProblem, match="JSON"):
        parse_value(field, "[not json")
    with pytest.raises(ValueProblem, match="list"):
        parse_value(field, 5)


def test_typed_arrays():
    ints = Field("n", "N", basictype=F.INTEGER, isarray=True)
    assert parse_value(ints, "1, 2 ,-3") == [1, 2, -3]
    assert parse_value(ints, "[1, 2]") == [1, 2]
    with pytest.raises(ValueProblem):
        parse_value(ints, "1,x")
    bools = Field("b", "B", basictype=F.BOOLEAN, isarray=True)
    assert parse_value(bools, "yes,OFF 1") == [True, False, True]
    secs = Field("s", "S", basictype=F.SECONDS, isarray=True)
    assert parse_value(secs, "1 500ms 1m") == [1.0, 0.5, 60.0]


BMC = Field(
    "bmc",
    "BMC",
    field_class=F.STRUCT,
    fields=(
        Field("host", "Host", specialtype=F.HOSTNAME, required=True),
        Field("port", "Port", basictype=F.INTEGER, minval=1, maxval=65535, default=623),
        Field("user", "User"),
    ),
)


def test_struct_from_dict_and_json_with_defaults():
    assert parse_value(BMC, {"host": "bmc1"}) == {"host": "bmc1", "port": 623}
    assert parse_value(BMC, '{"host": "bmc1", "port": "624", "user": "admin"}') == {
        "host": "bmc1",
        "port": 624,
        "user": "admin",
    }
    array = BMC.replace(isarray=True)
    assert parse_value(array, '[{"host": "a"}, {"host": "b", "port": 1}]') == [
        {"host": "a", "port": 623},
        {"host": "b", "port": 1},
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "member 'host' is required"),
        ({"port": 1}, "member 'host' is required"),
        ({"host": "a", "bogus": 1}, "unknown member 'bogus'"),
        ({"host": "-bad-"}, "host: "),
        ({"host": "a", "port": 0}, "port: 0 is below the minimum 1"),
        ({"host": "a", "port": "x"}, "port: 'x' is not an integer"),
        ("{not json", "JSON object"),
        ("[1]", "expected an object"),
        (5, "expected an object"),
    ],
)
def test_struct_problems(raw, message):
    with pytest.raises(ValueProblem, match=message.replace("(", r"\(")):
        parse_value(BMC, raw)
    _typed, problems = validate([BMC], {"bmc": raw})
    assert [name for name, _m, _missing in problems] == ["bmc"]


def test_nested_struct():
    outer = Field(
        "outer",
        "Outer",
        field_class=F.STRUCT,
        isarray=True,
        fields=(BMC.replace(required=True), Field("on", "On", basictype=F.BOOLEAN, default=False)),
    )
    assert parse_value(outer, [{"bmc": {"host": "x"}}]) == [{"bmc": {"host": "x", "port": 623}, "on": False}]
    with pytest.raises(ValueProblem, match="member 'bmc' is required"):
        parse_value(outer, [{"on": True}])


# ---------------------------------------------------------------------------------------------
# Constraints


def problems_of(field: Field, raw) -> list[str]:
    return check_value(field, parse_value(field, raw))


def test_length():
    field = Field("s", "S", length=5)
    assert problems_of(field, "abcde") == []
    assert problems_of(field, "abcdef") == ["longer than 5 characters"]


def test_regex_is_a_fullmatch():
    field = Field("s", "S", regex=r"[a-z]+")
    assert problems_of(field, "abc") == []
    for bad in ("abc1", "1abc", "", "ab c"):
        assert problems_of(field, bad) == [f"{bad!r} does not match [a-z]+"]


def test_minval_maxval():
    field = Field("n", "N", basictype=F.INTEGER, minval=1, maxval=10)
    assert problems_of(field, "1") == problems_of(field, "10") == []
    assert problems_of(field, "0") == ["0 is below the minimum 1"]
    assert problems_of(field, "11") == ["11 is above the maximum 10"]
    secs = Field("t", "T", basictype=F.SECONDS, minval=0.5, maxval=60)
    assert problems_of(secs, "500ms") == []
    assert problems_of(secs, "100ms") == ["0.1 is below the minimum 0.5"]
    assert problems_of(secs, "2m") == ["120.0 is above the maximum 60"]


def test_enumset_reported_by_validate():
    field = Field("mode", "Mode", basictype=F.ENUMERATION, enumset=("on", "off"))
    _typed, problems = validate([field], {"mode": "reset"})
    assert problems == [("mode", "'reset' is not one of on, off", False)]


def test_minelem_maxelem():
    field = Field("h", "H", isarray=True, minelem=2, maxelem=3)
    assert problems_of(field, "a b") == problems_of(field, "a b c") == []
    assert problems_of(field, "a") == ["needs at least 2 items"]
    assert problems_of(field, "a b c d") == ["takes at most 3 items"]
    assert problems_of(Field("h", "H", isarray=True, minelem=1), "") == ["needs at least 1 item"]


def test_several_constraints_of_one_field_all_reported():
    field = Field("s", "S", length=3, regex=r"[a-z]*", specialtype=F.HOSTNAME)
    assert problems_of(field, "ABCD-") == [
        "longer than 3 characters",
        "'ABCD-' does not match [a-z]*",
        "'ABCD-' is not a valid host name",
    ]
    array = Field("a", "A", basictype=F.INTEGER, isarray=True, maxelem=2, maxval=5)
    assert problems_of(array, "6 7 8") == [
        "takes at most 2 items",
        "6 is above the maximum 5",
        "7 is above the maximum 5",
        "8 is above the maximum 5",
    ]


# ---------------------------------------------------------------------------------------------
# Specialtypes

SPECIAL_CASES = {
    F.IPV4: (
        ["10.0.0.1", "0.0.0.0", "255.255.255.255", "192.168.1.254"],
        ["256.1.1.1", "1.2.3", "1.2.3.4.5", "::1", "01.2.3.4", "a.b.c.d", "", " 1.2.3.4"],
    ),
    F.IPV6: (
        ["::1", "fe80::1", "2001:db8::ff00:42:8329", "::ffff:192.0.2.1", "::"],
        ["10.0.0.1", "gggg::1", "1:2:3:4:5:6:7:8:9", ":::", "", "[::1]"],
    ),
    F.HOSTNAME: (
        ["node1", "a", "node-1.example.com", "x.", "under_score", "1host", "a" * 63],
        ["-node", "node-", "a..b", ".a", "a" * 64, "a b", "", "nöde", ".".join(["abcdefgh"] * 30), "a/b"],
    ),
    F.HOSTPORT: (
        [
            "host",
            "host:22",
            "10.0.0.1:623",
            "[fe80::1]:623",
            "[::1]",
            "::1",
            "h:1",
            "host.example.com:65535",
            "2001:db8::1",
        ],
        [
            "host:0",
            "host:65536",
            "host:99999",
            "host:",
            "[zz::1]:22",
            "[::1]:x",
            "a b",
            "-host",
            "1.2.3.4:5:6",
            "host:-1",
            "",
            "host:123456",
        ],
    ),
    F.TTY: (
        [
            "/dev/ttyS0",
            "/dev/serial/by-id/usb-x",
            "rfc2217://host:2217",
            "socket://10.0.0.1:7000",
            "loop://",
            "spy://ttyS0",
            "hwgrep://0403:6001",
        ],
        ["ttyS0", "COM1", "http://x", "dev/ttyS0", "", "socket:/x", "Socket://x:1"],
    ),
    F.OUTLET: (["1", "Outlet A", "ünïcode", "a,b"], [""]),
    F.SECRET: (["", "p@ss word", "ü!§$%&/()=?"], []),
    F.SNMP_COMMUNITY: (["public", "pr!v~", "x" * 255], ["", "with space", "ümlaut", "x" * 256]),
    F.OID: ([".1.3.6.1.2.1", "1.3.6", "1.0"], ["1", "1..3", "iso.3", ".1.3.", "", "1.a", ".1"]),
    F.URL: (
        ["http://x", "https://host:8443/redfish/v1", "http://[::1]:80/?q=1"],
        ["ftp://x", "http://a b", "http://", "https:/x", "x", "HTTP//x"],
    ),
    F.PATH: (["/", "/var/run/stonith", "/with space/ü"], ["relative/x", "", "./x", "~/x"]),
}


@pytest.mark.parametrize("special", F.SPECIALTYPES)
def test_specialtype_good_and_bad_examples(special):
    good, bad = SPECIAL_CASES[special]
    field = Field("f", "F", specialtype=special)
    for value in good:
        assert check_special(special, value) is None, value
        assert validate([field], {"f": value}) == ({"f": value}, []), value
    for value in bad:
        assert check_special(special, value) is not None, value
        _typed, problems = validate([field], {"f": value})
        assert [p[0] for p in problems] == ["f"], value


def test_every_specialtype_has_a_test():
    assert set(SPECIAL_CASES) == set(F.SPECIALTYPES)


@FAST
@given(st.data())
def test_generated_specialtype_values_are_accepted(data):
    special = data.draw(st.sampled_from(F.SPECIALTYPES))
    value = data.draw(SPECIAL_VALUES[special])
    assert check_special(special, value) is None


def test_split_hostport():
    assert V.split_hostport("host", 22) == ("host", 22)
    assert V.split_hostport("host:2222", 22) == ("host", 2222)
    assert V.split_hostport("[fe80::1]:623", 22) == ("fe80::1", 623)
    assert V.split_hostport("[fe80::1]", 22) == ("fe80::1", 22)
    assert V.split_hostport("fe80::1", 22) == ("fe80::1", 22)
    assert V.split_hostport(" pdu1 ", 161) == ("pdu1", 161)
    assert V.split_hostport("127.0.0.1:0", lowest=0) == ("127.0.0.1", 0)
    for bad in (
        "host:notaport",
        "host:",
        ":80",
        "",
        "[::1",
        "[::1]x",
        "[::1]:",
        "h:65536",
        "h:0",
        "h:-1",
        "h:\u00b2",
        "h:\u0661",
    ):
        with pytest.raises(ValueError, match="expected HOST"):
            V.split_hostport(bad, 22)
    for portless in ("host", "[fe80::1]", "fe80::1", "::1:80"):  # a bare IPv6 address has no port
        with pytest.raises(ValueError, match="expected HOST:PORT"):
            V.split_hostport(portless)


LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?"
NAMES = st.from_regex(rf"{LABEL}(\.{LABEL}){{0,3}}", fullmatch=True)
HOSTS = st.one_of(
    NAMES,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)


@FAST
@given(HOSTS, st.integers(1, 65535), st.integers(1, 65535))
def test_split_hostport_reads_back_what_join_hostport_writes(host, port, default):
    assert V.split_hostport(V.join_hostport(host, port)) == (host, port)
    assert V.split_hostport(V.join_hostport(host, port), default) == (host, port)
    assert V.split_hostport(host, default) == (host, default)
    if ":" in host:
        assert V.split_hostport(f"[{host}]", default) == (host, default)
    assert V.check_special(F.HOSTPORT, V.join_hostport(host, port)) is None


@FAST
@given(
    HOSTS,
    st.one_of(
        st.integers(65536, 10**7), st.integers(-(10**6), 0), st.from_regex(r"[A-Za-z.+ -]+", fullmatch=True)
    ),
)
def test_split_hostport_refuses_bad_ports(host, port):
    text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with pytest.raises(ValueError, match="expected HOST"):
        V.split_hostport(text, 22)


# ---------------------------------------------------------------------------------------------
# Control characters


@st.composite
def field_and_text_with_control(draw):
    """A field of any kind and a string value for it that carries a control character."""
    field = draw(fields_st())
    cc = draw(st.sampled_from(CONTROL_CHARS))
    if field.field_class == F.STRUCT:
        member = draw(st.sampled_from([sub for sub in field.fields if sub.field_class == F.SIMPLE] or [None]))
        assume(member is not None)
        if member.isarray:
            assume(cc not in BLANKS)  # blanks separate the items of a list given as text
        text = draw(clean_text)
        pos = draw(st.integers(0, len(text)))
        item = {sub.fieldname: "x" for sub in field.fields}
        item[member.fieldname] = text[:pos] + cc + text[pos:]
        return field, [item] if field.isarray else item
    text = to_text(field.replace(isarray=False), draw(values_for(field.replace(isarray=False))))
    pos = draw(st.integers(0, len(text)))
    if field.isarray:
        assume(cc not in BLANKS)  # blanks separate the items of a list given as text
        return field, draw(st.sampled_from([text[:pos] + cc + text[pos:], [text[:pos] + cc + text[pos:]]]))
    return field, text[:pos] + cc + text[pos:]


@FAST
@given(field_and_text_with_control())
def test_control_characters_are_rejected_in_any_string_value(case):
    field, raw = case
    typed, problems = validate([field], {field.fieldname: raw})
    assert field.fieldname not in typed
    assert problems and {p[0] for p in problems} == {field.fieldname}


@pytest.mark.parametrize("kind", F.BASICTYPES)
def test_control_character_message(kind):
    field = Field("f", "F", basictype=kind, enumset=("a",) if kind == F.ENUMERATION else ())
    assert validate([field], {"f": "1\x7f"})[1] == [("f", "contains control characters", False)]
    assert validate([field], {"f": "1\n"})[1] == [("f", "contains control characters", False)]


# ---------------------------------------------------------------------------------------------
# validate

DEVICE_FIELDS = (
    Field("host", "Host", specialtype=F.HOSTNAME, required=True, aliases=("ipaddr", "hostname")),
    Field("user", "User", required=True, aliases=("login",)),
    Field("port", "Port", basictype=F.INTEGER, minval=1, maxval=65535, default=623),
    Field("password", "Password", specialtype=F.SECRET, aliases=("passwd",)),
    Field("mode", "Mode", basictype=F.ENUMERATION, enumset=("on", "off"), default="off"),
    Field("outlets", "Outlets", basictype=F.INTEGER, isarray=True, minelem=1, maxelem=2, default=[1]),
)


def test_validate_fills_defaults():
    typed, problems = validate(DEVICE_FIELDS, {"host": "h", "user": "u"})
    assert problems == []
    assert typed == {"host": "h", "user": "u", "port": 623, "mode": "off", "outlets": [1]}


def test_validate_defaults_are_fresh_copies():
    typed, _ = validate(DEVICE_FIELDS, {"host": "h", "user": "u"})
    typed["outlets"].append(99)
    assert DEVICE_FIELDS[5].default == [1]
    assert V.defaults(DEVICE_FIELDS)["outlets"] == [1]


def test_validate_reports_every_problem_at_once():
    typed, problems = validate(
        DEVICE_FIELDS,
        {
            "host": "-bad-",
            "port": "70000",
            "mode": "sideways",
            "outlets": "1 2 3 x",
            "bogus": "1",
        },
    )
    names = [name for name, _message, _missing in problems]
    assert sorted(set(names)) == ["bogus", "host", "mode", "outlets", "port", "user"]
    assert ("user", "required parameter is missing", True) in problems
    assert ("port", "70000 is above the maximum 65535", False) in problems
    assert any(
        n == "bogus" and m.startswith("unknown parameter") and not missing for n, m, missing in problems
    )
    assert all(not missing for n, _m, missing in problems if n != "user")
    assert "host" not in typed and "port" not in typed


def test_validate_missing_required_flags():
    _typed, problems = validate(DEVICE_FIELDS, {})
    assert problems == [
        ("host", "required parameter is missing", True),
        ("user", "required parameter is missing", True),
    ]
    _typed, problems = validate(DEVICE_FIELDS, {"host": None, "user": "u"})
    assert problems == [("host", "required parameter is missing", True)]
    _typed, problems = validate(DEVICE_FIELDS, {"host": "h", "user": ""})
    assert problems == [("user", "must not be empty", False)]


def test_validate_unknown_names_list_valid_ones():
    _typed, problems = validate(DEVICE_FIELDS, {"host": "h", "user": "u", "hots": "x"})
    assert len(problems) == 1
    name, message, missing = problems[0]
    assert (name, missing) == ("hots", False)
    assert "host, user, port, password, mode, outlets" in message


def test_validate_accepts_aliases():
    typed, problems = validate(DEVICE_FIELDS, {"ipaddr": "h", "login": "u", "passwd": "pw"})
    assert problems == []
    assert typed["host"] == "h" and typed["user"] == "u" and typed["password"] == "pw"
    typed, problems = validate(DEVICE_FIELDS, {"ipaddr": "alias", "host": "canonical", "user": "u"})
    assert problems == [] and typed["host"] == "canonical"
    typed, problems = validate(DEVICE_FIELDS, {"host": "canonical", "hostname": "alias", "user": "u"})
    assert problems == [] and typed["host"] == "canonical"


def test_validate_problem_of_alias_is_named_by_fieldname():
    _typed, problems = validate(DEVICE_FIELDS, {"ipaddr": "-x", "user": "u"})
    assert [p[0] for p in problems] == ["host"]


# ---------------------------------------------------------------------------------------------
# Secrets never appear in messages

MARK = "Zq9Xw"


@st.composite
def secret_cases(draw):
    kind = draw(st.sampled_from(["length", "regex", "int", "array", "struct", "control", "intrange"]))
    value = MARK + draw(st.text(max_size=20))
    if kind == "length":
        field = Field("pw", "PW", specialtype=F.SECRET, length=4)
    elif kind == "regex":
        field = Field("pw", "PW", specialtype=F.SECRET, regex=r"[0-9]*")
    elif kind == "control":
        field = Field("pw", "PW", specialtype=F.SECRET)
        value += draw(st.sampled_from(CONTROL_CHARS))
    elif kind == "int":
        field = Field("pw", "PW", basictype=F.INTEGER, specialtype=F.SECRET)
    elif kind == "intrange":
        field = Field("pw", "PW", basictype=F.INTEGER, specialtype=F.SECRET, minval=10, maxval=99)
        number = draw(st.integers(10**6, 10**30) | st.integers(-(10**30), -(10**6)))
        return field, number, [str(number)]
    elif kind == "array":
        field = Field("pw", "PW", specialtype=F.SECRET, isarray=True, maxelem=1, length=4)
        return field, [value, value], [value, MARK]
    else:
        field = Field(
            "s", "S", field_class=F.STRUCT, fields=(Field("pw", "PW", specialtype=F.SECRET, length=4),)
        )
        return field, {"pw": value}, [value, MARK]
    return field, value, [value, MARK]


@FAST
@given(secret_cases())
def test_secret_values_never_appear_in_problems(case):
    field, value, forbidden = case
    _typed, problems = validate([field], {field.fieldname: value})
    assert problems
    for _name, message, _missing in problems:
        for text in forbidden:
            assert text not in message
            assert repr(text)[1:-1] not in message


# ---------------------------------------------------------------------------------------------
# Text round trip


@FAST
@given(st.data())
def test_to_text_parse_value_round_trip(data):
    field = data.draw(fields_st())
    value = data.draw(values_for(field))
    text = to_text(field, value)
    assert isinstance(text, str)
    assert parse_value(field, text) == value
    assert check_value(field, parse_value(field, text)) == []


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        (Field("b", "B", basictype=F.BOOLEAN), True, "yes"),
        (Field("b", "B", basictype=F.BOOLEAN), False, "no"),
        (Field("n", "N", basictype=F.INTEGER), -5, "-5"),
        (Field("t", "T", basictype=F.SECONDS), 5.0, "5"),
        (Field("t", "T", basictype=F.SECONDS), 0.5, "0.5"),
        (Field("h", "H", isarray=True), ["a", "b"], "a,b"),
        (Field("h", "H", isarray=True), ["a b", "c"], '["a b", "c"]'),
        (Field("h", "H", isarray=True), ["[x"], '["[x"]'),
        (Field("h", "H", isarray=True), [""], '[""]'),
        (Field("h", "H", isarray=True), [], ""),
    ],
)
def test_to_text_examples(field, value, text):
    assert to_text(field, value) == text
    assert parse_value(field, text) == value


# ---------------------------------------------------------------------------------------------
# Field itself


def test_field_is_immutable():
    field = Field("f", "F")
    with pytest.raises(AttributeError):
        field.label = "G"
    with pytest.raises(AttributeError):
        field.new_attribute = 1
    with pytest.raises(AttributeError):
        del field.label
    assert field.label == "F"


def test_field_equal_by_value_and_hashable():
    a = Field("f", "F", basictype=F.INTEGER, minval=1, aliases=["x"])
    b = Field("f", "F", basictype=F.INTEGER, minval=1, aliases=("x",))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != a.replace(label="G")
    assert a != a.replace(minval=2)
    assert a.replace(label="G").replace(label="F") == a
    assert a != "f"


def test_field_defaults_for_texts():
    field = Field("f", "Label")
    assert field.short_text == field.long_text == "Label"
    field = Field("f", "Label", short_text="Short")
    assert field.long_text == "Short"


def test_effective_regex():
    assert Field("f", "F", regex="x+").effective_regex() == "x+"
    assert Field("f", "F", specialtype=F.OID).effective_regex() == F.SPECIAL_REGEX[F.OID]
    assert Field("f", "F").effective_regex() is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"field_class": F.STRUCT},
        {"fields": (Field("x", "X"),)},
        {"basictype": F.ENUMERATION},
        {"enumset": ("a",)},
        {"basictype": "text"},
        {"field_class": "union", "fields": (Field("x", "X"),)},
    ],
)
def test_field_rejects_inconsistent_definitions(kwargs):
    with pytest.raises(ValueError):
        Field("f", "F", **kwargs)


@FAST
@given(fields_st())
def test_generated_fields_are_equal_to_their_copies(field):
    assert field == field.replace()
    assert hash(field) == hash(field.replace())


def test_struct_to_text_is_json():
    assert json.loads(to_text(BMC, {"host": "a", "port": 1})) == {"host": "a", "port": 1}


def test_struct_member_null_means_absent():
    assert parse_value(BMC, {"host": "a", "port": None, "user": None}) == {"host": "a", "port": 623}
    with pytest.raises(ValueProblem, match="member 'host' is required"):
        parse_value(BMC, '{"host": null}')

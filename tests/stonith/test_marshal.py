"""stonith.render.marshal: metadata and configurations through JSON and XML-RPC, exactly."""

from __future__ import annotations

import xmlrpc.client

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stonith.contract import fields as F
from stonith.contract.driver import BETA, EXPERIMENTAL, STABLE, TESTING_ONLY, Capabilities, DriverInfo
from stonith.contract.errors import BadConfig
from stonith.contract.fields import Field
from stonith.fencing import registry
from stonith.render import marshal
from tests.stonith.test_fields import clean_chars, fields_st, names, unicode_label, values_for

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHIPPED = ("null", "meatware", "ssh", "suicide")
CAPS = ("cycle", "multi", "any_host", "power_on", "power_off", "status", "sessions")


@st.composite
def infos_st(draw) -> DriverInfo:
    fieldnames = draw(st.lists(names, min_size=0, max_size=5, unique=True))
    fields = [draw(fields_st(fieldname=name)) for name in fieldnames]
    # Aliases must not shadow another field's name for configurations to be unambiguous.
    fields = [f.replace(aliases=tuple(a for a in f.aliases if a not in fieldnames)) for f in fields]
    text = st.text(clean_chars | st.just("\n"), max_size=40)
    return DriverInfo(
        draw(names),
        shortdesc=draw(unicode_label),
        description=draw(text),
        fields=fields,
        family=draw(text),
        models=draw(st.lists(unicode_label, max_size=3)),
        url=draw(st.none() | st.just("https://example.com/manual.pdf") | unicode_label),
        status=draw(st.sampled_from([EXPERIMENTAL, BETA, STABLE, TESTING_ONLY])),
        capabilities=Capabilities(
            cycle=draw(st.booleans()),
            multi=draw(st.booleans()),
            any_host=draw(st.booleans()),
            power_on=draw(st.booleans()),
            power_off=draw(st.booleans()),
            status=draw(st.booleans()),
            sessions=draw(st.integers(0, 2**40)),
        ),
    )


@st.composite
def info_and_config(draw):
    """A driver description and a valid typed configuration for it (defaults filled in)."""
    info = draw(infos_st())
    config = {}
    for field in info.fields:
        if field.required or field.default is not None or draw(st.booleans()):
            config[field.fieldname] = draw(values_for(field))
    return info, config


def assert_same_info(a: DriverInfo, b: DriverInfo) -> None:
    for attr in ("name", "shortdesc", "description", "family", "models", "url", "status"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert a.fields == b.fields
    for field_a, field_b in zip(a.fields, b.fields, strict=True):
        assert_same_field(field_a, field_b)
    for cap in CAPS:
        assert getattr(a.capabilities, cap) == getattr(b.capabilities, cap), cap


def assert_same_field(a: Field, b: Field) -> None:
    """Field equality plus equal Python types (True is not 1, 1.0 is not 1, a tuple is a tuple)."""
    assert a == b
    for attr in a.__slots__:
        va, vb = getattr(a, attr), getattr(b, attr)
        assert type(va) is type(vb), (a.fieldname, attr, va, vb)
        if attr == "default":
            assert repr(va) == repr(vb)
    for sub_a, sub_b in zip(a.fields, b.fields, strict=True):
        assert_same_field(sub_a, sub_b)


def via_json(data):
    return marshal.from_json(marshal.to_json(data))


def via_xmlrpc_response(data):
    return marshal.from_xmlrpc(marshal.to_xmlrpc(data))


def via_xmlrpc_call(data):
    text = marshal.to_xmlrpc(data, method="stonith.config")
    assert "<methodCall>" in text and "<methodName>stonith.config</methodName>" in text
    return marshal.from_xmlrpc(text)


ALL_TRANSPORTS = (via_json, via_xmlrpc_response, via_xmlrpc_call)
TRANSPORTS = pytest.mark.parametrize(
    "transport",
    [via_json, via_xmlrpc_response, via_xmlrpc_call],
    ids=["json", "xmlrpc-response", "xmlrpc-call"],
)


# ---------------------------------------------------------------------------------------------
# Metadata


@FAST
@given(info=infos_st())
def test_metadata_round_trip(info):
    for transport in ALL_TRANSPORTS:
        again = marshal.info_from_dict(transport(marshal.info_to_dict(info)))
        assert_same_info(info, again)


@FAST
@given(field=fields_st())
def test_field_round_trip(field):
    for transport in ALL_TRANSPORTS:
        assert_same_field(field, marshal.field_from_dict(transport(marshal.field_to_dict(field))))


@TRANSPORTS
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_driver_metadata_round_trips(transport, name):
    info = registry.load(name).INFO
    assert_same_info(info, marshal.info_from_dict(transport(marshal.info_to_dict(info))))


def test_field_dict_uses_design_attribute_names():
    field = Field("bmc", "BMC", field_class=F.STRUCT, isarray=True, fields=(Field("host", "Host"),))
    data = marshal.field_to_dict(field)
    assert data["class"] == "struct" and "field_class" not in data
    assert data["fields"][0]["fieldname"] == "host"
    assert "specialtype" not in data and "minval" not in data  # None is left out (XML-RPC has no nil)
    xmlrpc.client.dumps((data,))  # encodable without allow_none


def test_big_integers_travel_wrapped():
    field = Field("n", "N", basictype=F.INTEGER, minval=-(2**40), maxval=2**63, default=2**31)
    data = marshal.field_to_dict(field)
    assert data["minval"] == {"int": str(-(2**40))}
    assert data["maxval"] == {"int": str(2**63)}
    assert data["default"] == {"int": str(2**31)}
    assert (
        marshal.field_to_dict(Field("n", "N", basictype=F.INTEGER, maxval=2**31 - 1))["maxval"] == 2**31 - 1
    )
    assert "<int>" not in marshal.to_xmlrpc(data).replace("<int>4294967296</int>", "")
    assert_same_field(field, marshal.field_from_dict(via_xmlrpc_response(data)))


def test_struct_member_called_int_is_not_taken_for_a_big_integer():
    member = Field("int", "Int")
    field = Field("s", "S", field_class=F.STRUCT, fields=(member,), default={"int": "5"})
    again = marshal.field_from_dict(via_json(marshal.field_to_dict(field)))
    assert again.default == {"int": "5"}
    info = DriverInfo("t", shortdesc="t", description="t", fields=[field])
    wire = marshal.config_to_wire(info, {"s": {"int": "5"}})
    assert marshal.config_from_wire(info, via_xmlrpc_response(wire)) == {"s": {"int": "5"}}


# ---------------------------------------------------------------------------------------------
# Configurations


@FAST
@given(case=info_and_config())
def test_config_round_trip(case):
    info, config = case
    wire = marshal.config_to_wire(info, config)
    for transport in ALL_TRANSPORTS:
        assert marshal.config_from_wire(info, transport(wire)) == config


def test_config_wire_examples():
    info = registry.load("ssh").INFO
    config = {"hostlist": ["a", "b"], "user": "root", "ssh_port": 22}
    assert marshal.config_to_wire(info, {**config, "identity_file": None, "junk": 1}) == config
    big = DriverInfo(
        "t", shortdesc="t", description="t", fields=[Field("n", "N", basictype=F.INTEGER, isarray=True)]
    )
    assert marshal.config_to_wire(big, {"n": [1, 2**40]}) == {"n": [1, {"int": str(2**40)}]}
    assert marshal.config_from_wire(big, via_xmlrpc_call({"n": [1, {"int": str(2**40)}]})) == {
        "n": [1, 2**40]
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"hostlist": ["a"], "ssh_port": 99999}, "ssh_port"),
        ({"hostlist": ["a"], "ssh_port": {"int": str(2**40)}}, "ssh_port"),
        ({"hostlist": ["a"], "ssh_port": {"int": "x"}}, "ssh_port"),
        ({"hostlist": ["-bad-"]}, "hostlist"),
        ({"hostlist": ["a"], "user": "Root!"}, "user"),
        ({"hostlist": ["a"], "bogus": "1"}, "bogus"),
        ({"ssh_port": 22}, "hostlist"),
    ],
)
def test_bad_config_from_wire_names_the_field(data, field):
    info = registry.load("ssh").INFO
    for transport in (via_json, via_xmlrpc_response):
        with pytest.raises(BadConfig) as caught:
            marshal.config_from_wire(info, transport(data))
        assert [p.field for p in caught.value.problems] == [field]
        assert caught.value.driver == "ssh"
        assert str(caught.value).startswith(f"{field}: ")


def test_config_from_wire_reports_every_problem():
    info = registry.load("ssh").INFO
    with pytest.raises(BadConfig) as caught:
        marshal.config_from_wire(info, {"ssh_port": 0, "user": "?"})
    assert sorted(p.field for p in caught.value.problems) == ["hostlist", "ssh_port", "user"]

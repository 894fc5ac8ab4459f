"""The five capabilities (metadata, defaults, construct, current_config, modify), in Python and CLI."""

from __future__ import annotations

import json

import pytest

from stonith.contract import fields as F
from stonith.contract import validation as V
from stonith.contract.driver import Driver, DriverInfo, Outlet
from stonith.contract.errors import BadConfig, DeviceError, ExitCode
from stonith.contract.fields import Field
from stonith.fencing import device
from tests.conftest import run_stonith

INFO = DriverInfo(
    "testdev",
    shortdesc="Test device",
    description="A device that exists only in this test",
    fields=(
        Field("ipaddr", "IP address", specialtype=F.HOSTNAME, required=True, aliases=("host", "hostname")),
        Field("login", "Login", required=True, regex=r"[a-z]+"),
        Field("passwd", "Password", specialtype=F.SECRET, aliases=("password",), length=32),
        Field("port", "Port", basictype=F.INTEGER, minval=1, maxval=65535, default=623),
        Field("action", "Action", basictype=F.ENUMERATION, enumset=("reboot", "off", "on"), default="reboot"),
        Field(
            "outlets", "Outlets", basictype=F.INTEGER, isarray=True, minelem=1, maxelem=4, minval=1, maxval=24
        ),
        Field("timeout", "Timeout", basictype=F.SECONDS, minval=0.1, maxval=60, default=5.0),
    ),
)


class FakeDriver(Driver):
    INFO = INFO
    instances: list[FakeDriver] = []  # noqa: RUF012 - test bookkeeping

    def __init__(self, config):
        if config.get("login") == "explode":
            raise DeviceError("refused by the driver")
        super().__init__(config)
        FakeDriver.instances.append(self)

    def outlets(self, deadline):
        return [Outlet(str(n)) for n in self.config.get("outlets", [1])]

    def status(self, outlet, deadline):
        return "on"

    def on(self, outlet, deadline):
        pass

    def off(self, outlet, deadline):
        pass


GOOD = {"ipaddr": "bmc1", "login": "admin", "passwd": "s3cr3t pw"}


def problems_by_field(exc: BadConfig) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in exc.problems:
        out.setdefault(problem.field, []).append(problem.message)
    return out


# ---------------------------------------------------------------------------------------------
# metadata


def test_metadata_english_and_german():
    english = device.metadata("meatware", "en")
    assert [f.label for f in english.fields] == ["Hostlist", "Socket directory"]
    assert english.shortdesc == "Meatware STONITH device"
    german = device.metadata("meatware", "de")
    assert [f.label for f in german.fields] == ["Hostliste", "Socket-Verzeichnis"]
    assert german.shortdesc == "Meatware-STONITH-Gerät"
    # Only texts are translated; names, types and constraints stay.
    for en, de in zip(english.fields, german.fields, strict=True):
        assert en.replace(label=de.label, short_text=de.short_text, long_text=de.long_text) == de
    # Localizing does not touch the driver's own description.
    assert device.metadata("meatware", "en").fields[0].label == "Hostlist"


def test_metadata_is_the_driver_info():
    info = device.metadata("ssh", "en")
    assert info.name == "ssh"
    assert [f.fieldname for f in info.fields] == ["hostlist", "user", "identity_file", "ssh_port"]
    assert info.field("ssh_port").maxval == 65535


# ---------------------------------------------------------------------------------------------
# defaults


def test_defaults():
    assert device.defaults("ssh") == {"user": "root", "ssh_port": 22}
    assert device.defaults("null") == {}
    assert device.defaults("meatware") == {"socket_dir": "/run/stonith"}
    assert V.defaults(INFO.fields) == {"port": 623, "action": "reboot", "timeout": 5.0}


# ---------------------------------------------------------------------------------------------
# construct


def test_construct_fills_defaults_and_types():
    dev = device.Device(
        FakeDriver, {**GOOD, "port": "624", "outlets": "1,2 3", "timeout": "500ms", "action": "OFF"}
    )
    assert dev.config == {
        "ipaddr": "bmc1",
        "login": "admin",
        "passwd": "s3cr3t pw",
        "port": 624,
        "action": "off",
        "outlets": [1, 2, 3],
        "timeout": 0.5,
    }
    assert dev.driver.config == dev.config
    assert dev.info is INFO


def test_construct_through_registry():
    dev = device.construct("null", {"hostlist": "a,b c"})
    assert dev.config == {"hostlist": ["a", "b", "c"]}
    assert [o.id for o in dev.driver.outlets(None)] == ["a", "b", "c"]


def test_construct_reports_every_violated_constraint_by_field():
    with pytest.raises(BadConfig) as caught:
        device.Device(
            FakeDriver,
            {
                "ipaddr": "-bad-",
                "passwd": "x" * 40,
                "port": "0",
                "action": "explode",
                "outlets": "0 1 2 3 25",
                "timeout": "2h",
                "bogus": "1",
            },
        )
    exc = caught.value
    by_field = problems_by_field(exc)
    assert sorted(by_field) == ["action", "bogus", "ipaddr", "login", "outlets", "passwd", "port", "timeout"]
    assert by_field["login"] == ["required parameter is missing"]
    assert by_field["port"] == ["0 is below the minimum 1"]
    assert by_field["outlets"] == [
        "takes at most 4 items",
        "0 is below the minimum 1",
        "25 is above the maximum 24",
    ]
    assert by_field["timeout"] == ["7200.0 is above the maximum 60"]
    assert by_field["passwd"] == ["longer than 32 characters"]
    assert [p.missing for p in exc.problems if p.field == "login"] == [True]
    assert not any(p.missing for p in exc.problems if p.field != "login")
    assert exc.exit_code == ExitCode.S_BADCONFIG == 1
    assert exc.driver == "testdev"


def test_construct_only_missing_required_is_exit_code_3():
    with pytest.raises(BadConfig) as caught:
        device.Device(FakeDriver, {"passwd": "x"})
    assert {p.field for p in caught.value.problems} == {"ipaddr", "login"}
    assert all(p.missing for p in caught.value.problems)
    assert caught.value.exit_code == ExitCode.S_INVAL == 3
    with pytest.raises(BadConfig) as caught:
        device.construct("null", {})
    assert caught.value.exit_code == 3
    with pytest.raises(BadConfig) as caught:
        device.construct("null", {"hostlist": "-x-"})
    assert caught.value.exit_code == 1


def test_construct_with_alias():
    dev = device.Device(FakeDriver, {"host": "bmc2", "login": "admin", "password": "pw"})
    assert dev.config["ipaddr"] == "bmc2" and dev.config["passwd"] == "pw"
    assert "host" not in dev.config and "password" not in dev.config


def test_secret_never_in_construct_errors():
    with pytest.raises(BadConfig) as caught:
        device.Device(FakeDriver, {**GOOD, "passwd": "TopSecretValue" * 3})
    assert "TopSecretValue" not in str(caught.value)
    assert [p.field for p in caught.value.problems] == ["passwd"]


# ---------------------------------------------------------------------------------------------
# current_config


def test_current_config_redacts_secrets_and_shows_everything_else():
    dev = device.Device(FakeDriver, {**GOOD, "outlets": [1, 2]})
    assert dev.current_config() == {
        "ipaddr": "bmc1",
        "login": "admin",
        "passwd": "********",
        "port": 623,
        "action": "reboot",
        "outlets": [1, 2],
        "timeout": 5.0,
    }
    assert device.REDACTED == "********"
    assert dev.current_config(redact=False)["passwd"] == "s3cr3t pw"
    assert "s3cr3t" not in json.dumps(dev.current_config())


def test_current_config_without_secret_and_with_empty_secret():
    dev = device.Device(FakeDriver, {"ipaddr": "bmc1", "login": "admin"})
    assert "passwd" not in dev.current_config()
    dev = device.Device(FakeDriver, {"ipaddr": "bmc1", "login": "admin", "passwd": ""})
    assert dev.current_config()["passwd"] == ""  # nothing to hide; shows that no password is set


def test_current_config_is_a_copy():
    dev = device.Device(FakeDriver, {**GOOD, "outlets": [1, 2]})
    shown = dev.current_config()
    shown["outlets"].append(3)
    shown["port"] = 1
    assert dev.config["outlets"] == [1, 2] and dev.config["port"] == 623


def test_secret_inside_a_struct_is_redacted():
    info = DriverInfo(
        "structdev",
        shortdesc="s",
        description="s",
        fields=(
            Field(
                "bmcs",
                "BMCs",
                field_class=F.STRUCT,
                isarray=True,
                fields=(
                    Field("host", "Host", specialtype=F.HOSTNAME, required=True),
                    Field("password", "Password", specialtype=F.SECRET),
                ),
            ),
        ),
    )

    class StructDriver(FakeDriver):
        INFO = info

    dev = device.Device(StructDriver, {"bmcs": '[{"host": "a", "password": "pw1"}, {"host": "b"}]'})
    assert dev.current_config() == {"bmcs": [{"host": "a", "password": "********"}, {"host": "b"}]}
    assert dev.config["bmcs"][0]["password"] == "pw1"


# ---------------------------------------------------------------------------------------------
# modify


def test_modify_validated_and_applied():
    dev = device.Device(FakeDriver, GOOD)
    old_driver = dev.driver
    dev.modify({"port": "1000", "action": "on", "outlets": "4"})
    assert dev.config["port"] == 1000 and dev.config["action"] == "on" and dev.config["outlets"] == [4]
    assert dev.driver is not old_driver and dev.driver.config == dev.config
    assert dev.config["passwd"] == "s3cr3t pw"  # untouched values stay


def test_rejected_modify_leaves_old_config_and_driver():
    dev = device.Device(FakeDriver, {**GOOD, "outlets": [1]})
    before_config, before_driver = dict(dev.config), dev.driver
    with pytest.raises(BadConfig) as caught:
        dev.modify({"port": "70000", "outlets": "1 2 3 4 5", "action": "boom", "ipaddr": None, "nope": 1})
    assert sorted(problems_by_field(caught.value)) == ["action", "ipaddr", "nope", "outlets", "port"]
    assert caught.value.exit_code == 1
    assert dev.config == before_config
    assert dev.driver is before_driver


def test_modify_refused_by_the_driver_leaves_old_config_and_driver():
    dev = device.Device(FakeDriver, GOOD)
    before_config, before_driver = dict(dev.config), dev.driver
    with pytest.raises(DeviceError):
        dev.modify({"login": "explode", "port": 1})
    assert dev.config == before_config
    assert dev.driver is before_driver


def test_modify_with_alias():
    dev = device.Device(FakeDriver, GOOD)
    dev.modify({"hostname": "bmc9", "password": "new"})
    assert dev.config["ipaddr"] == "bmc9" and dev.config["passwd"] == "new"
    assert "hostname" not in dev.config and "password" not in dev.config
    assert dev.current_config()["passwd"] == "********"


def test_modify_removing_optional_values_with_none():
    dev = device.Device(FakeDriver, {**GOOD, "outlets": [1], "port": 700})
    dev.modify({"passwd": None, "outlets": None, "port": None})
    assert "passwd" not in dev.config and "outlets" not in dev.config
    assert dev.config["port"] == 623  # removed values fall back to their default
    assert "passwd" not in dev.driver.config


def test_modify_removing_a_required_value_is_refused():
    dev = device.Device(FakeDriver, GOOD)
    with pytest.raises(BadConfig) as caught:
        dev.modify({"login": None})
    assert [(p.field, p.missing) for p in caught.value.problems] == [("login", True)]
    assert caught.value.exit_code == 3
    assert dev.config["login"] == "admin"


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_config_null_json():
    result = run_stonith("config", "null", "hostlist=a,b", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"hostlist": ["a", "b"]}


def test_cli_config_defaults():
    result = run_stonith("config", "ssh")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "user=root\nssh_port=22\n"


def test_cli_config_bad_value_one_line_naming_field():
    result = run_stonith("config", "ssh", "hostlist=a", "ssh_port=99999")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "ssh_port" in lines[0] and "99999" in lines[0]


def test_cli_config_missing_required_is_exit_3():
    result = run_stonith("config", "ssh", "user=root")
    assert result.returncode == 3
    assert result.stderr.splitlines() == ["ERROR: ssh: parameter hostlist: required parameter is missing"]


def test_cli_config_set_applies_change():
    result = run_stonith("config", "ssh", "hostlist=a", "--set", "ssh_port=2222", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"hostlist": ["a"], "user": "root", "ssh_port": 2222}

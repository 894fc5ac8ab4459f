"""Drop-in for fence-agents: a configuration written for fence_ipmilan, fence_apc_snmp, fence_apc or
fence_wti works with ``fence_stonith_<type>`` by changing only the agent's name.

Peers: Debian's fence-agents (their metadata and ``--help`` are the reference, and fence_ipmilan is
run against the same IPMI mock as ours), pcs and cibadmin (``pcs -f cib.xml stonith create`` checks a
configuration against an agent's metadata offline; pcs only finds agents in /usr/sbin, so that test
installs ``fence_stonith_ipmilan`` there and needs root).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stonith.mocks.harness import start_mock

from stonith.cli.fence_agent import Failure, Request, parse_argv, parse_stdin
from stonith.fencing import registry
from stonith.render.fence_options import UNNAMED_NODE, agent_options
from stonith.render.metadata import fence_xml
from tests.conftest import require_peer, run_stonith, skip_or_fail

if TYPE_CHECKING:
    from collections.abc import Iterator

    from stonith.mocks.harness import MockHandle

USER, PASSWORD = "admin", "s3cret"
SBIN = Path("/usr/sbin")

# Each type and the fence-agents agent it stands in for.
STANDS_FOR = [
    ("ipmilan", "fence_ipmilan"),
    ("apc_rpdu", "fence_apc_snmp"),
    ("apc_rpdu2", "fence_apc_snmp"),
    ("apcmastersnmp", "fence_apc_snmp"),
    ("snmp_pdu", "fence_apc_snmp"),
    ("eaton_epdu", "fence_apc_snmp"),
    ("apcmaster", "fence_apc"),
    ("baytech", "fence_apc"),
    ("wti_nps", "fence_wti"),
]
# Options we do not advertise, so that pcs refuses them when the configuration is written; the agent
# refuses them too (see test_refused_options).
NOT_ADVERTISED = {
    ("ipmilan", "target"): "IPMI bridging is not implemented",
    ("baytech", "switch"): "a BayTech has no MasterSwitch Plus units",
}
# fence_ipmilan 4.12.1's parameters (its metadata), so that coverage is checked without the peer too.
IPMILAN_WORDS = (
    "action auth cipher hexadecimal_kg ip ipaddr ipport lanplus login method passwd passwd_script password "
    "password_script plug port privlvl username quiet verbose verbose_level debug debug_file version help "
    "plug_separator delay disable_timeout ipmitool_path login_timeout port_as_ip power_timeout power_wait "
    "shell_timeout stonith_status_sleep ipmitool_timeout retry_on sudo use_sudo sudo_path"
)
# fence_apc_snmp's, plus inet4_only / inet6_only (fencing.py's address-family options for SNMP).
APC_SNMP_WORDS = (
    "action community ip ipaddr ipport login passwd passwd_script password password_script plug port "
    "snmp_auth_prot snmp_priv_passwd snmp_priv_passwd_script snmp_priv_prot snmp_sec_level snmp_version "
    "username quiet verbose verbose_level debug debug_file version help plug_separator separator delay "
    "disable_timeout login_timeout power_timeout power_wait shell_timeout stonith_status_sleep retry_on "
    "snmpget_path snmpset_path snmpwalk_path inet4_only inet6_only"
)
FENCE_IPMILAN, FENCE_APC_SNMP = set(IPMILAN_WORDS.split()), set(APC_SNMP_WORDS.split())


def ours(type_name: str, stdin: str = "", *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-m", "stonith.cli.fence_agent", type_name, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def theirs(agent: str, stdin: str = "", *args: str) -> subprocess.CompletedProcess[str]:
    program = require_peer(str(SBIN / agent), "fence-agents")
    return subprocess.run(
        [program, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def parameters(xml: str) -> dict[str, str]:
    """Parameter name -> getopt text of a fence-agents metadata document."""
    root = ET.fromstring(xml.split("\n", 1)[1])
    out: dict[str, str] = {}
    for param in root.iter("parameter"):
        getopt = param.find("getopt")
        out[str(param.get("name"))] = "" if getopt is None else str(getopt.get("mixed"))
    return out


def our_parameters(type_name: str) -> dict[str, str]:
    return parameters(fence_xml(registry.load(type_name).INFO))


def letter(getopt: str) -> str | None:
    return getopt[1] if getopt.startswith("-") and not getopt.startswith("--") else None


def bmc(**options: object) -> contextlib.AbstractContextManager[MockHandle]:
    settings_ = {"names": ["node1"], "username": USER, "password": PASSWORD, "relay_delay": 0.05}
    settings_.update(options)
    return start_mock("ipmilan", **settings_)


def events(mock: MockHandle) -> list[str]:
    return [str(e["state"]) for e in mock.events()]


def request(type_name: str, stdin: str) -> Request:
    return Request(registry.load(type_name).INFO, parse_stdin(stdin))


# ---------------------------------------------------------------------------------------------
# The option table against fence-agents' own


@pytest.mark.parametrize(("type_name", "names"), [("ipmilan", FENCE_IPMILAN), ("apc_rpdu", FENCE_APC_SNMP)])
def test_every_fence_agents_name_is_advertised(type_name: str, names: set[str]) -> None:
    missing = names - set(our_parameters(type_name))
    assert missing == set()


@pytest.mark.peer
@pytest.mark.parametrize(("type_name", "agent"), STANDS_FOR)
def test_advertises_what_the_fence_agent_advertises(type_name: str, agent: str) -> None:
    reference = parameters(theirs(agent, "", "-o", "metadata").stdout)
    mine = our_parameters(type_name)
    missing = {n for n in reference if n not in mine and (type_name, n) not in NOT_ADVERTISED}
    assert missing == set()
    # Same getopt letters, except where fence-agents gives one letter to two options (fence_ipmilan's
    # -C is cipher and separator; its getopt takes cipher, so does ours).
    letters = [letter(g) for g in reference.values()]
    for name, getopt in reference.items():
        theirs_letter = letter(getopt)
        if name in mine and theirs_letter and letters.count(theirs_letter) == 1:
            assert letter(mine[name]) == theirs_letter, name


@pytest.mark.peer
@pytest.mark.parametrize(("type_name", "agent"), STANDS_FOR[:2] + STANDS_FOR[-3:])
def test_help_lists_the_getopt_flags_like_fence_agents(type_name: str, agent: str) -> None:
    mine = ours(type_name, "", "--help")
    assert mine.returncode == 0, mine.stderr
    head = f"Usage:\n\tfence_stonith_{type_name} [options]\nOptions:\n"
    assert mine.stdout.startswith(head)
    reference = theirs(agent, "", "--help").stdout

    def flags(text: str) -> set[str]:
        found: set[str] = set()
        for line in text.splitlines():
            spelled = re.match(r"   (?:(-\w), )?(--[\w-]+)", line) or re.match(r"   (-\w)", line)
            found.update(f for f in spelled.groups() if f) if spelled else None
        return found

    missing = {f for f in flags(reference) if f not in flags(mine.stdout)}
    missing -= {"--target"} if type_name == "ipmilan" else set()
    missing -= {"-s", "--switch"} if type_name == "baytech" else set()
    assert missing == set()
    for line in mine.stdout.splitlines()[3:]:
        assert line.startswith(("   -", " " * 40)), line


def test_long_options_are_the_names() -> None:
    # parse_argv finds --long-name by its name: fence-agents spells every long option that way too.
    for type_name in registry.entry_points():
        for option in agent_options(registry.load(type_name).INFO).options:
            long = option.getopt.partition("--")[2].partition("=")[0]
            assert long.replace("-", "_") == option.name, option.getopt


def test_getopt_letters_differ_per_agent_as_in_fence_agents() -> None:
    ipmi = registry.load("ipmilan").INFO
    pairs = parse_argv(["-a", "bmc", "-P", "-C", "3", "-L", "operator", "-o", "status"], agent_options(ipmi))
    assert pairs == [
        ("ip", "bmc"),
        ("lanplus", "1"),
        ("cipher", "3"),
        ("privlvl", "operator"),
        ("action", "status"),
    ]
    snmp = registry.load("apc_rpdu").INFO
    pairs = parse_argv(["-a", "pdu", "-c", "private", "-P", "privpass", "-C", ";"], agent_options(snmp))
    assert pairs == [
        ("ip", "pdu"),
        ("community", "private"),
        ("snmp_priv_passwd", "privpass"),
        ("separator", ";"),
    ]
    apc = registry.load("apcmaster").INFO
    pairs = parse_argv(["-c", "> ", "-s", "1", "-x", "-4"], agent_options(apc))
    assert pairs == [("command_prompt", "> "), ("switch", "1"), ("ssh", "1"), ("inet4_only", "1")]


@pytest.mark.parametrize(
    ("type_name", "argv"),
    [
        ("ipmilan", ["-a", "127.0.0.1", "-l", USER, "-p", PASSWORD, "-P", "-C", "17", "-L", "administrator"]),
        ("ipmilan", ["--ip=127.0.0.1", "--lanplus", "--hexadecimal-kg=00ff", "--ipmitool-path", "/x"]),
        ("apc_rpdu", ["-a", "127.0.0.1", "-c", "private", "-d", "1", "-u", "1161", "-n", "3"]),
        (
            "apc_rpdu",
            ["-a", "127.0.0.1", "-d", "3", "-l", "u", "-p", "authpass", "-b", "MD5", "-E", "authNoPriv"],
        ),
        ("apcmaster", ["-a", "127.0.0.1", "-l", "apc", "-p", "apc", "-c", "> ", "-s", "1", "-u", "2323"]),
        ("wti_nps", ["-a", "127.0.0.1", "-l", "ignored", "-p", "pw", "--telnet-path=/usr/bin/telnet"]),
    ],
)
def test_fence_agents_command_lines_validate(type_name: str, argv: list[str]) -> None:
    result = ours(type_name, "", *argv, "-o", "validate-all")
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


# ---------------------------------------------------------------------------------------------
# Mapped, explained, refused


def test_ipmilan_names_map_to_our_fields() -> None:
    req = request(
        "ipmilan",
        "ip=10.0.0.1\nipport=6230\nusername=u\npasswd=p\nlanplus=0\nauth=md5\nprivlvl=operator\n"
        "hexadecimal_kg=00ff\nipmitool_path=/usr/bin/ipmitool\nsudo=1\n",
    )
    assert req.config == {
        "ipaddr": "10.0.0.1",
        "port": "6230",
        "login": "u",
        "password": "p",
        "interface": "lan",
        "auth": "md5",
        "priv": "operator",
        "kg": "00ff",
        "hostname": UNNAMED_NODE,
    }
    assert sorted(req.ignored) == ["ipmitool_path", "use_sudo"]
    assert request("ipmilan", "ip=a\nlanplus=yes\n").config["interface"] == "lanplus"


def test_snmp_names_map_to_our_fields() -> None:
    req = request(
        "apc_rpdu",
        "ipaddr=pdu\nipport=1161\ncommunity=c\nsnmp_version=3\nlogin=u\npassword=authpass\n"
        "snmp_auth_prot=MD5\nsnmp_priv_prot=DES\nsnmp_priv_passwd=privpass\nsnmpget_path=/x\nport=4\n",
    )
    assert req.config == {
        "ipaddr": "pdu",
        "port": "1161",
        "community": "c",
        "snmp_version": "3",
        "login": "u",
        "password": "authpass",
        "snmp_auth_prot": "MD5",
        "snmp_priv_prot": "DES",
        "snmp_priv_passwd": "privpass",
    }
    assert req.plugs() == ["4"]


def test_snmp_security_level_is_honoured() -> None:
    base = "ip=pdu\nsnmp_version=3\nusername=u\npassword=authpass\nsnmp_priv_passwd=privpass\n"
    none = request("apc_rpdu", base + "snmp_sec_level=noAuthNoPriv\n").config
    assert "password" not in none and "snmp_priv_passwd" not in none
    auth = request("apc_rpdu", base + "snmp_sec_level=authNoPriv\n").config
    assert auth["password"] == "authpass" and "snmp_priv_passwd" not in auth
    both = request("apc_rpdu", base + "snmp_sec_level=authPriv\n").config
    assert both["snmp_priv_passwd"] == "privpass"
    with pytest.raises(Failure, match="needs snmp_priv_passwd"):
        request("apc_rpdu", "ip=pdu\nsnmp_version=3\nusername=u\npassword=a\nsnmp_sec_level=authPriv\n")
    # v1/v2c have no security level: the option changes nothing there.
    assert (
        request("apc_rpdu", "ip=pdu\ncommunity=c\npassword=x\nsnmp_sec_level=noAuthNoPriv\n").config[
            "password"
        ]
        == "x"
    )


def test_password_scripts_fill_both_passphrases() -> None:
    req = request(
        "apc_rpdu",
        "ip=pdu\nsnmp_version=3\nusername=u\n"
        "password_script=echo authpass\nsnmp_priv_passwd_script=echo privpass\n",
    )
    assert (req.config["password"], req.config["snmp_priv_passwd"]) == ("authpass", "privpass")


def test_telnet_port_and_address_family() -> None:
    req = request("apcmaster", "ip=localhost\nipport=2323\ninet4_only=1\nusername=apc\npassword=apc\n")
    assert req.config["ipaddr"] == "127.0.0.1:2323"
    assert request("apcmaster", "ip=::1\nipport=2323\n").config["ipaddr"] == "[::1]:2323"
    with pytest.raises(Failure, match="not an IPv6 address"):
        request("apc_rpdu", "ip=127.0.0.1\ninet6_only=1\ncommunity=c\n")
    with pytest.raises(Failure, match="exclude each other"):
        request("apc_rpdu", "ip=127.0.0.1\ninet6_only=1\ninet4_only=1\ncommunity=c\n")


@pytest.mark.parametrize(
    ("type_name", "line", "reason"),
    [
        ("ipmilan", "target=0x20", "bridging is not implemented"),
        ("ipmilan", "cipher=0", "authenticates nothing"),
        ("ipmilan", "privlvl=callback", "cannot control chassis power"),
        ("ipmilan", "method=soft", "onoff or cycle"),
        ("ipmilan", "lanplus=perhaps", "must be a boolean"),
        ("baytech", "ssh=1", "SSH is not implemented"),
        ("baytech", "secure=yes", "SSH is not implemented"),
        ("apcmaster", "switch=2", "only switch 1"),
        ("apc_rpdu", "snmp_sec_level=everything", "noAuthNoPriv, authNoPriv or authPriv"),
        ("ipmilan", "ip=10.0.0.1\nipaddr=10.0.0.2", "to different values"),
        ("ipmilan", "lanplus=0\ninterface=lanplus", "to different values"),
    ],
)
def test_refused_options(type_name: str, line: str, reason: str) -> None:
    result = ours(
        type_name, f"ip=127.0.0.1\nusername=u\npassword=p\ncommunity=c\n{line}\naction=off\nport=1\n"
    )
    assert result.returncode == 1
    assert reason in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_same_value_under_two_names_is_no_conflict() -> None:
    assert request("ipmilan", "ip=a\nipaddr=a\nlanplus=1\ninterface=lanplus\n").config["ipaddr"] == "a"


def test_a_bmc_needs_no_plug_and_fences_only_its_hostname() -> None:
    # fence_ipmilan ignores the plug; without hostname, so do we (the node asked for is the chassis).
    assert request("ipmilan", "ip=a\naction=status\n").plugs() == [UNNAMED_NODE]
    asked = request("ipmilan", "ip=a\nport=node7\nnodename=node7\n")
    assert (asked.config["hostname"], asked.plugs()) == ("node7", ["node7"])
    # With hostname set, the node asked for must be that one: the engine refuses another name.
    pinned = request("ipmilan", "ip=a\nhostname=node1\nnodename=node2\n")
    assert pinned.plugs() == ["node2"]
    assert request("ipmilan", "ip=a\nhostname=node1\naction=status\n").plugs() == ["node1"]
    # port_as_ip: the plug is the BMC's address (and wins over ip, as in fence-agents).
    many = request("ipmilan", "ip=a\nport_as_ip=1\nport=10.1.1.7\nnodename=node7\n")
    assert (many.config["ipaddr"], many.config["hostname"], many.plugs()) == ("10.1.1.7", "node7", ["node7"])
    with pytest.raises(Failure, match="hostname is not set"):
        request("ipmilan", "ip=a\naction=list\n")


def test_method_cycle_runs_verified_and_says_so() -> None:
    with bmc() as mock:
        result = ours("ipmilan", _stdin(mock, ["lanplus=1", "method=cycle"], "action=reboot"))
        assert result.returncode == 0, result.stderr
        assert "method=cycle" in result.stderr and "read back" in result.stderr
        assert events(mock) == ["off", "on"]


def test_hostname_set_refuses_another_node() -> None:
    with bmc() as mock:
        stdin = _stdin(mock, ["lanplus=1", "hostname=node1", "port=node2", "nodename=node2"], "action=off")
        result = ours("ipmilan", stdin)
        assert result.returncode == 1
        assert events(mock) == []


def test_ignored_options_are_explained_when_verbose() -> None:
    result = ours("null", "hostlist=a\nport=a\naction=status\nverbose=1\ndisable_timeout=true\n")
    assert result.returncode == 0
    assert "Option 'disable_timeout' has no effect: every wait has a deadline" in result.stderr
    quiet = ours("null", "hostlist=a\nport=a\naction=status\ndisable_timeout=true\n")
    assert quiet.stderr == ""


_NAMES = sorted(
    {
        name
        for type_name in ("ipmilan", "apc_rpdu", "apcmaster")
        for name in agent_options(registry.load(type_name).INFO).by_name
        if not name.endswith(("_script", "_only"))  # no shell commands, no DNS lookups
    }
)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["ipmilan", "apc_rpdu", "apcmaster"]),
    st.lists(st.tuples(st.sampled_from(_NAMES), st.text(max_size=20)), max_size=8),
)
def test_fuzz_known_names_never_traceback(type_name: str, pairs: list[tuple[str, str]]) -> None:
    with contextlib.suppress(Failure):
        Request(registry.load(type_name).INFO, [*pairs, ("action", "metadata")])


# ---------------------------------------------------------------------------------------------
# The same configuration through pcs, then against the IPMI mock with both agents


def _stdin(mock: MockHandle, options: list[str], *extra: str) -> str:
    base = [f"ip={mock.host}", f"ipport={mock.port}", f"username={USER}", f"password={PASSWORD}"]
    return "\n".join([*base, *options, *extra, ""])


OPTION_SETS = [
    # Everything fence_ipmilan users write, with what Pacemaker adds (port, nodename).
    [
        "lanplus=1",
        "cipher=17",
        "privlvl=administrator",
        "auth=md5",
        "method=onoff",
        "power_timeout=20",
        "ipmitool_path=/usr/bin/ipmitool",
        "ipmitool_timeout=2",
        "disable_timeout=true",
        "port=node1",
        "nodename=node1",
    ],
    ["lanplus=1", "cipher=3", "privlvl=operator"],
    ["lanplus=0"],
    [],  # fence_ipmilan: IPMI 1.5; ours: lanplus (our default). Both work with this BMC.
]


@pytest.mark.peer
@pytest.mark.parametrize(
    "options", OPTION_SETS, ids=["as-pacemaker-sends-it", "suite3-operator", "ipmi15", "defaults"]
)
def test_identical_stdin_fences_with_both_agents(options: list[str]) -> None:
    with bmc() as mock:
        mine = ours("ipmilan", _stdin(mock, options, "action=reboot"))
        assert mine.returncode == 0, mine.stderr
        assert events(mock) == ["off", "on"]
        reference = theirs("fence_ipmilan", _stdin(mock, options, "action=reboot"))
        assert reference.returncode == 0, reference.stderr
        assert events(mock) == ["off", "on", "off", "on"]
        for agent in (lambda s: ours("ipmilan", s), lambda s: theirs("fence_ipmilan", s)):
            status = agent(_stdin(mock, options, "action=status"))
            assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status.stderr


def _require_root() -> None:
    if os.geteuid() == 0:
        return
    skip_or_fail("pcs finds agents only in /usr/sbin: installing fence_stonith_ipmilan there needs root")


@contextlib.contextmanager
def _installed_in_sbin(type_name: str) -> Iterator[Path]:
    """``fence_stonith_<type>`` in /usr/sbin for the block; whatever was there before comes back."""
    path = SBIN / f"fence_stonith_{type_name}"
    saved = path.read_bytes() if path.is_file() else None
    result = run_stonith("install-agents", "--dir", str(SBIN), "--type", type_name)
    assert result.returncode == 0, result.stderr
    try:
        yield path
    finally:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(saved)
            path.chmod(0o755)


def _attributes(cib: Path, resource: str) -> dict[str, str]:
    root = ET.parse(cib).getroot()
    for primitive in root.iter("primitive"):
        if primitive.get("id") == resource:
            return {str(n.get("name")): str(n.get("value")) for n in primitive.iter("nvpair")}
    raise AssertionError(f"{resource} not in the CIB")


@pytest.mark.peer
def test_pcs_accepts_one_configuration_for_both_agents(tmp_path: Path) -> None:
    pcs = require_peer("pcs", "pcs")
    cibadmin = require_peer("cibadmin", "pacemaker-cli-utils")
    require_peer(str(SBIN / "fence_ipmilan"), "fence-agents")
    _require_root()
    cib = tmp_path / "cib.xml"
    cib.write_text(subprocess.run([cibadmin, "--empty"], capture_output=True, text=True, check=True).stdout)

    def pcs_create(name: str, agent: str, options: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pcs, "-f", str(cib), "stonith", "create", name, agent, *options],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    with bmc() as mock, _installed_in_sbin("ipmilan") as agent:
        options = [
            f"ip={mock.host}",
            f"ipport={mock.port}",
            f"username={USER}",
            f"password={PASSWORD}",
            "lanplus=1",
            "cipher=17",
            "privlvl=administrator",
            "auth=md5",
            "method=onoff",
            "power_timeout=20",
            "ipmitool_path=/usr/bin/ipmitool",
            "pcmk_host_list=node1",
        ]
        for name, program in (("f1", "fence_ipmilan"), ("f2", agent.name)):
            created = pcs_create(name, program, options)
            assert created.returncode == 0, created.stderr
        assert _attributes(cib, "f1") == _attributes(cib, "f2")
        # pcs refuses what we could not honour, before it reaches a cluster.
        refused = pcs_create("f3", agent.name, [*options, "target=0x20"])
        assert refused.returncode != 0 and "target" in refused.stderr

        # What pacemaker-fenced would write on stdin for a reboot of node1 (pcmk_* stay in the cluster).
        sent = [o for o in options if not o.startswith("pcmk_")] + ["nodename=node1", "port=node1"]
        stdin = "\n".join([*sent, "action=reboot", ""])
        mine = subprocess.run(
            [str(agent)], input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
        assert mine.returncode == 0, mine.stderr
        assert events(mock) == ["off", "on"]
        reference = theirs("fence_ipmilan", stdin)
        assert reference.returncode == 0, reference.stderr
        assert events(mock) == ["off", "on", "off", "on"]

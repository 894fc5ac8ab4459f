"""The fence-agents option table: every name ``fence_stonith_<type>`` accepts, advertises and documents.

One table serves three readers: the agent's input parsing (stonith.cli.fence_agent: stdin ``name=value``
and getopt), its metadata XML (stonith.render.metadata.fence_xml, which pcs checks configurations against)
and its ``--help``.  An option is what fence-agents calls it (``ip``, ``username``, ``lanplus``,
``snmp_sec_level``, ...), with the getopt spelling fence-agents prints for it, and says what it does
for us:

- FIELD: it sets one of our driver's fields (``ip`` -> ``ipaddr``, ``privlvl`` -> ``priv``), through
  a value table where the vocabularies differ (``lanplus=1`` -> ``interface=lanplus``);
- AGENT: it is the agent's own (action, plug, timeouts), kept in ``Request.options``;
- SPECIAL: a rule of the agent applies it (a password script, ``port_as_ip``, ``snmp_sec_level``);
- IGNORED: it means nothing to us (a path to ipmitool, which we never run): accepted so that a
  configuration written for fence-agents still loads, and the reason is in the metadata.

An option we cannot honour where ignoring it would change what gets switched, or how safely, has a
``check`` that refuses the value (``ssh=1`` on a telnet-only driver such as baytech, ``target=``
bridging, ``switch=2``).
Such an option is advertised only when some of its values work, so that pcs refuses the others early.

Options come in three layers: COMMON (every agent), STANDARD (when the driver has the field they
set: ``ip`` needs ``ipaddr``) and a per-type PROFILE naming the fence-agents agent the type stands in
for (fence_ipmilan, fence_apc_snmp, fence_apc, fence_wti) with that agent's own options.  The keys of
PROFILES are entry-point names: this is compatibility data, like cluster-glue's parameter names.

Where fence-agents' default differs from ours, ours applies and the metadata says so; each such
difference can only make a configuration fail loudly, never fence another way (fence_ipmilan
defaults to IPMI 1.5 where we default to lanplus; fence_apc_snmp to SNMP v1 and community
``private`` where our PDU types default to v2c and need a community).
"""

from __future__ import annotations

from stonith.contract.fields import (
    BOOLEAN,
    ENUMERATION,
    FALSE_WORDS,
    INTEGER,
    SECONDS,
    STRUCT,
    TRUE_WORDS,
    to_text,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from stonith.contract.driver import DriverInfo
    from stonith.contract.fields import Field

# What an option does with its value (see the module text).
FIELD = "field"
AGENT = "agent"
SPECIAL = "special"
IGNORED = "ignored"

# The node a one-node device (a BMC) fences when nothing names it: no plug, no nodename, no hostname.
UNNAMED_NODE = "unnamed-node"


class Option:
    """One fence-agents option as our agents accept it."""

    __slots__ = (
        "advertised",
        "aliases",
        "check",
        "choices",
        "default",
        "does",
        "field",
        "getopt",
        "help",
        "kind",
        "name",
        "needs",
        "old",
        "values",
        "why",
    )

    def __init__(
        self,
        name: str,
        getopt: str,
        *,
        does: str = AGENT,
        field: str | None = None,
        old: str | None = None,
        aliases: tuple[str, ...] = (),
        kind: str | None = None,
        default: str | None = None,
        choices: tuple[str, ...] = (),
        help: str = "",
        values: Mapping[str, str] | None = None,
        needs: str | None = None,
        why: str = "",
        check: Callable[[str], str | None] | None = None,
        advertised: bool = True,
    ) -> None:
        self.name = name  # on stdin and in the metadata
        self.getopt = getopt  # as fence-agents prints it: "-a, --ip=[ip]"
        self.does = does
        self.field = field  # FIELD: the driver field it sets
        self.old = old  # the deprecated name it obsoletes (metadata pair; still accepted)
        self.aliases = aliases  # further names accepted on input, never advertised
        self.kind = kind  # metadata content type; None: from the field
        self.default = default  # None: from the field (FIELD), else none
        self.choices = choices  # a select's values; empty: from the field
        self.help = help  # empty: the field's text
        self.values = values or {}  # fence-agents value -> our field value
        self.needs = needs or field  # applies only when the driver has this field
        self.why = why  # IGNORED: why it has no effect
        self.check = check  # refuses a value with the reason, or None when it is acceptable
        self.advertised = advertised

    @property
    def flag(self) -> bool:
        """A getopt flag (no argument): fence-agents' booleans."""
        return self.kind == "boolean"

    @property
    def short(self) -> str | None:
        """The getopt letter, from the getopt text ("-a, --ip=[ip]" -> "a")."""
        if self.getopt.startswith("-") and not self.getopt.startswith("--"):
            return self.getopt[1]
        return None

    def names(self) -> tuple[str, ...]:
        return (self.name, *((self.old,) if self.old else ()), *self.aliases)

    def normalize(self, value: str) -> str:
        """A boolean as "1"/"0" (ValueError for anything else); other values unchanged."""
        if not self.flag:
            return value
        text = value.strip().lower()
        if text in TRUE_WORDS or text == "":  # a bare flag on the command line
            return "1"
        if text in FALSE_WORDS:
            return "0"
        raise ValueError(f"{self.name} must be a boolean (1/0, yes/no, on/off, true/false)")


def refuse(reason: str) -> Callable[[str], str | None]:
    """A check for an option we cannot honour at all (any non-empty value is refused)."""
    return lambda value: reason if value.strip() else None


def only(allowed: tuple[str, ...], reason: str) -> Callable[[str], str | None]:
    """A check that accepts only ``allowed`` (compared case-insensitively; empty means unset)."""
    folded = {a.lower() for a in allowed}
    return lambda value: None if not value.strip() or value.strip().lower() in folded else reason


def never(refused: Mapping[str, str]) -> Callable[[str], str | None]:
    """A check that refuses the listed values, each with its reason."""
    folded = {k.lower(): v for k, v in refused.items()}
    return lambda value: folded.get(value.strip().lower())


# ---------------------------------------------------------------------------------------------
# Every agent

COMMON: tuple[Option, ...] = (
    Option("action", "-o, --action=[action]", aliases=("option",), default="reboot", help="Fencing action"),
    Option(
        "plug",
        "-n, --plug=[id]",
        old="port",
        help="Physical plug number on device, UUID or identification of machine",
    ),
    Option("nodename", "--nodename=[name]", help="Name of the node to be fenced"),
    # Pacemaker 2.1 sends nodeid= when the metadata declares it; we do not, but never warn about it.
    Option("nodeid", "--nodeid=[id]", advertised=False, help="Corosync id of the node to be fenced"),
    Option("quiet", "-q, --quiet", kind="boolean", help="Disable logging to stderr"),
    Option("verbose", "-v, --verbose", kind="boolean", help="Verbose mode"),
    Option("verbose_level", "--verbose-level", kind="integer", help="Level of debugging detail in output"),
    Option(
        "debug_file",
        "-D, --debug-file=[debugfile]",
        old="debug",
        help="Write debug information to given file",
    ),
    Option("version", "-V, --version", kind="boolean", help="Display version information and exit"),
    Option("help", "-h, --help", kind="boolean", help="Display help and exit"),
    Option(
        "separator",
        "-C, --separator=[char]",
        default=",",
        help="Separator for CSV created by 'list' operation",
    ),
    Option(
        "plug_separator",
        "--plug-separator=[char]",
        default=",",
        help="Separator for plug parameter when specifying more than 1 plug",
    ),
    Option(
        "delay",
        "--delay=[seconds]",
        kind="second",
        default="0",
        help="Wait X seconds before fencing is started",
    ),
    Option(
        "login_timeout",
        "--login-timeout=[seconds]",
        kind="second",
        default="5",
        help="Wait X seconds for cmd prompt after login",
    ),
    Option(
        "power_timeout",
        "--power-timeout=[seconds]",
        kind="second",
        default="20",
        help="Test X seconds for status change after ON/OFF",
    ),
    Option(
        "power_wait",
        "--power-wait=[seconds]",
        kind="second",
        default="0",
        help="Wait X seconds after issuing ON/OFF",
    ),
    Option(
        "shell_timeout",
        "--shell-timeout=[seconds]",
        kind="second",
        default="3",
        help="Wait X seconds for cmd prompt after issuing command",
    ),
    Option(
        "retry_on",
        "--retry-on=[attempts]",
        kind="integer",
        default="1",
        help="Count of attempts to retry power on",
    ),
    Option(
        "disable_timeout",
        "--disable-timeout=[true/false]",
        does=IGNORED,
        help="Disable timeouts",
        why="every wait has a deadline (power_timeout and friends are seconds, never unlimited)",
    ),
    Option(
        "stonith_status_sleep",
        "--stonith-status-sleep=[seconds]",
        kind="second",
        does=IGNORED,
        help="Sleep between status calls during a fencing action",
        why="outlets are read back at the driver's own pace until power_timeout",
    ),
)

# ---------------------------------------------------------------------------------------------
# Whenever the driver has the field they set

STANDARD: tuple[Option, ...] = (
    Option("ip", "-a, --ip=[ip]", does=FIELD, field="ipaddr", old="ipaddr"),
    # cluster-glue's UDP `port` (ipmilan, SNMP PDUs): for fence-agents `port` is the plug.
    Option("ipport", "-u, --ipport=[port]", does=FIELD, field="port"),
    Option(
        "ipport",
        "-u, --ipport=[port]",
        does=SPECIAL,
        needs="ipaddr",
        kind="integer",
        help="TCP port of the device (joined to ip as host:port)",
    ),
    Option("username", "-l, --username=[name]", does=FIELD, field="login", old="login"),
    Option("password", "-p, --password=[password]", does=FIELD, field="password", old="passwd"),
    Option(
        "password_script",
        "-S, --password-script=[script]",
        does=SPECIAL,
        needs="password",
        old="passwd_script",
        help="Script to run to retrieve password",
    ),
    Option("community", "-c, --community=[community]", does=FIELD, field="community"),
)

# ---------------------------------------------------------------------------------------------
# Per type: the fence-agents agent it stands in for, and that agent's own options


class Profile:
    """The fence-agents agent a type stands in for and the options only that agent has."""

    __slots__ = ("agent", "optional", "options", "single_node")

    def __init__(
        self,
        agent: str,
        options: tuple[Option, ...],
        *,
        optional: tuple[str, ...] = (),
        single_node: bool = False,
    ) -> None:
        self.agent = agent
        self.options = options
        # Fields required by the driver that the agent fills itself (advertised required="0").
        self.optional = optional
        # One device, one node (a BMC): ``hostname`` names the node; without it the device fences
        # whichever node it is asked to, like the fence-agents agent, and plug is optional.
        self.single_node = single_node


NO_IPMITOOL = "we speak IPMI ourselves: no ipmitool (or sudo) is run"
NO_NET_SNMP = "we speak SNMP ourselves: no net-snmp tool is run"
NO_SSH = "SSH is not implemented by this driver"
INET_ONLY = (
    Option("inet4_only", "-4, --inet4-only", kind="boolean", does=SPECIAL, help="Use IPv4 addresses only"),
    Option("inet6_only", "-6, --inet6-only", kind="boolean", does=SPECIAL, help="Use IPv6 addresses only"),
)

IPMILAN = Profile(
    "fence_ipmilan",
    (
        Option(
            "lanplus",
            "-P, --lanplus",
            does=FIELD,
            field="interface",
            kind="boolean",
            default="1",
            values={"1": "lanplus", "0": "lan"},
            help="Use Lanplus (IPMI 2.0, RMCP+); 0 selects IPMI 1.5. Default 1 (fence_ipmilan: 0)",
        ),
        Option("auth", "-A, --auth=[auth]", does=FIELD, field="auth"),
        Option(
            "cipher",
            "-C, --cipher=[cipher]",
            does=FIELD,
            field="cipher",
            check=never({"0": "cipher suite 0 authenticates nothing: anyone could send the power commands"}),
        ),
        Option(
            "privlvl",
            "-L, --privlvl=[level]",
            does=FIELD,
            field="priv",
            old="priv",
            check=never({"callback": "the callback privilege cannot control chassis power"}),
        ),
        Option(
            "method",
            "-m, --method=[method]",
            does=SPECIAL,
            kind="select",
            default="onoff",
            choices=("onoff", "cycle"),
            help="Method to fence: onoff; cycle is accepted but also runs as verified off, then on",
            check=only(("onoff", "cycle"), "method must be onoff or cycle"),
        ),
        Option(
            "target",
            "--target=[targetaddress]",
            advertised=False,
            check=refuse(
                "IPMI bridging is not implemented: the commands would reach the BMC, not the target"
            ),
        ),
        Option("hexadecimal_kg", "--hexadecimal-kg=[key]", does=FIELD, field="kg", old="kg"),
        Option(
            "port_as_ip",
            "--port-as-ip",
            kind="boolean",
            does=SPECIAL,
            help="The plug is the BMC's address (one device for many BMCs through pcmk_host_map)",
        ),
        Option(
            "ipmitool_path", "--ipmitool-path=[path]", does=IGNORED, help="Path to ipmitool", why=NO_IPMITOOL
        ),
        Option(
            "ipmitool_timeout",
            "--ipmitool-timeout=[timeout]",
            does=IGNORED,
            help="Timeout for one IPMI operation",
            why="each request is resent after retransmit seconds until the deadline",
        ),
        Option(
            "use_sudo",
            "--use-sudo",
            old="sudo",
            kind="boolean",
            does=IGNORED,
            help="Use sudo to run ipmitool",
            why=NO_IPMITOOL,
        ),
        Option("sudo_path", "--sudo-path=[path]", does=IGNORED, help="Path to sudo", why=NO_IPMITOOL),
    ),
    optional=("hostname", "ipaddr"),
    single_node=True,
)

SNMP = Profile(
    "fence_apc_snmp",
    (
        Option("snmp_version", "-d, --snmp-version=[version]", does=FIELD, field="snmp_version"),
        Option("snmp_auth_prot", "-b, --snmp-auth-prot=[prot]", does=FIELD, field="snmp_auth_prot"),
        Option(
            "snmp_sec_level",
            "-E, --snmp-sec-level=[level]",
            does=SPECIAL,
            kind="select",
            choices=("noAuthNoPriv", "authNoPriv", "authPriv"),
            help="SNMPv3 security level (default: from the passphrases given)",
            check=only(
                ("noAuthNoPriv", "authNoPriv", "authPriv"),
                "snmp_sec_level must be noAuthNoPriv, authNoPriv or authPriv",
            ),
        ),
        Option("snmp_priv_prot", "-B, --snmp-priv-prot=[prot]", does=FIELD, field="snmp_priv_prot"),
        Option("snmp_priv_passwd", "-P, --snmp-priv-passwd=[pass]", does=FIELD, field="snmp_priv_passwd"),
        Option(
            "snmp_priv_passwd_script",
            "-R, --snmp-priv-passwd-script",
            does=SPECIAL,
            needs="snmp_priv_passwd",
            help="Script to run to retrieve privacy password",
        ),
        *INET_ONLY,
        Option(
            "snmpget_path", "--snmpget-path=[path]", does=IGNORED, help="Path to snmpget", why=NO_NET_SNMP
        ),
        Option(
            "snmpset_path", "--snmpset-path=[path]", does=IGNORED, help="Path to snmpset", why=NO_NET_SNMP
        ),
        Option(
            "snmpwalk_path", "--snmpwalk-path=[path]", does=IGNORED, help="Path to snmpwalk", why=NO_NET_SNMP
        ),
    ),
)


# The console drivers with SSH (drivers/_console.py): fence-agents' SSH options set their fields.
WITH_SSH = (
    Option(
        "ssh",
        "-x, --ssh",
        old="secure",
        does=FIELD,
        field="ssh",
        kind="boolean",
        default="0",
        help="Use SSH connection (the system's ssh; the device's host key must be in ssh_known_hosts)",
    ),
    Option("identity_file", "-k, --identity-file=[filename]", does=FIELD, field="identity_file"),
    Option(
        "ssh_options",
        "--ssh-options=[options]",
        does=IGNORED,
        help="SSH options",
        why="ssh's options are fixed: strict host key checking against ssh_known_hosts, no forwarding, "
        "timeouts from the deadline",
    ),
    Option(
        "ssh_path",
        "--ssh-path=[path]",
        does=IGNORED,
        help="Path to ssh",
        why="the system's /usr/bin/ssh is run",
    ),
)
WITHOUT_SSH = (
    Option(
        "ssh",
        "-x, --ssh",
        old="secure",
        kind="boolean",
        default="0",
        help="Use SSH: only 0 is accepted (telnet); SSH is not implemented",
        check=only(("0",), f"{NO_SSH}: the password would travel over telnet instead"),
    ),
    Option("identity_file", "-k, --identity-file=[filename]", does=IGNORED, help="SSH key", why=NO_SSH),
    Option("ssh_options", "--ssh-options=[options]", does=IGNORED, help="SSH options", why=NO_SSH),
    Option("ssh_path", "--ssh-path=[path]", does=IGNORED, help="Path to ssh", why=NO_SSH),
)


def _telnet(agent: str, *extra: Option, ssh: bool = False) -> Profile:
    """fence_apc / fence_wti: a telnet or SSH command line (SSH where the driver has it)."""
    ssh_options = WITH_SSH if ssh else WITHOUT_SSH
    return Profile(
        agent,
        (
            *extra,
            Option(
                "command_prompt",
                "-c, --command-prompt=[prompt]",
                old="cmd_prompt",
                does=IGNORED,
                help="Regex of the command prompt",
                why="the driver recognises its device's prompts from its own table",
            ),
            *ssh_options[:3],
            *INET_ONLY,
            ssh_options[3],
            Option(
                "telnet_path",
                "--telnet-path=[path]",
                does=IGNORED,
                help="Path to telnet",
                why="we speak telnet ourselves: no telnet program is run",
            ),
        ),
    )


TELNET = _telnet("fence_apc")
APC_TELNET = _telnet(
    "fence_apc",
    Option(
        "switch",
        "-s, --switch=[id]",
        default="1",
        help="Physical switch number on device: only 1 (one MasterSwitch Plus unit)",
        check=only(("1",), "only switch 1 is addressed: a plug on another switch would be the wrong outlet"),
    ),
    ssh=True,
)
# username sets the driver's login (used over SSH; the telnet console asks for a password only).
WTI_TELNET = _telnet("fence_wti", ssh=True)

# fence_ifmib takes fence_apc_snmp's options (both are fence-agents' fencing_snmp agents).
IFMIB = Profile("fence_ifmib", SNMP.options)

PROFILES: dict[str, Profile] = {
    "ipmilan": IPMILAN,
    "ifmib": IFMIB,
    "apcmaster": APC_TELNET,
    "baytech": TELNET,
    "wti_nps": WTI_TELNET,
}
# Every other SNMP PDU family (a class of the SNMP table kit, or a subclass of one elsewhere) takes
# fence_apc_snmp's options: a new family needs no line here (profile_for).
_KIT_PROFILES = {"stonith.drivers.snmp_pdu.SnmpPdu": SNMP}


def profile_for(type_name: str) -> Profile | None:
    """The fence-agents options ``fence_stonith_<type_name>`` accepts besides the standard ones."""
    if type_name in PROFILES:
        return PROFILES[type_name]
    from stonith.contract.errors import StonithError
    from stonith.fencing.registry import load

    try:
        driver = load(type_name)
    except StonithError:
        return None
    for cls in driver.__mro__:
        profile = _KIT_PROFILES.get(f"{cls.__module__}.{cls.__qualname__}")
        if profile is not None:
            return profile
    return None


# ---------------------------------------------------------------------------------------------
# One type's options


class Param:
    """One parameter as the metadata and ``--help`` show it."""

    __slots__ = ("choices", "default", "getopt", "help", "kind", "name", "old", "required")

    def __init__(
        self,
        name: str,
        old: str | None,
        getopt: str,
        kind: str,
        default: str | None,
        choices: tuple[str, ...],
        help: str,
        required: bool,
    ) -> None:
        self.name = name
        self.old = old
        self.getopt = getopt
        self.kind = kind
        self.default = default
        self.choices = choices
        self.help = help
        self.required = required


def _applies(option: Option, info: DriverInfo) -> bool:
    if option.needs is None:
        return True
    field = info.field(option.needs)
    if field is None:
        return False
    if option.does == SPECIAL and option.name == "ipport":
        # Joined to the address only where no port field exists (a telnet or HTTPS device).
        port = info.field("port")
        return port is None or port.basictype != INTEGER
    if option.field == "port":
        return field.basictype == INTEGER
    return True


def _fence_type(field: Field) -> str:
    if field.isarray or field.field_class == STRUCT:
        return "string"
    return {INTEGER: "integer", SECONDS: "second", BOOLEAN: "boolean", ENUMERATION: "select"}.get(
        field.basictype, "string"
    )


def _field_help(field: Field) -> str:
    return field.short_text if field.short_text != field.label else field.long_text


class AgentOptions:
    """What ``fence_stonith_<type>`` accepts: lookups by name and getopt letter, and its parameters."""

    def __init__(self, info: DriverInfo) -> None:
        self.info = info
        self.profile = profile_for(info.name)
        own = self.profile.options if self.profile else ()
        # The profile first: its letters win (fence_ipmilan's -C is cipher, not separator).
        self.options = [o for o in (*own, *STANDARD, *COMMON) if _applies(o, info)]
        self.by_name: dict[str, Option] = {}
        self.by_letter: dict[str, Option] = {}
        for option in self.options:
            for name in option.names():
                self.by_name.setdefault(name, option)
            if option.short:
                self.by_letter.setdefault(option.short, option)

    @property
    def single_node(self) -> bool:
        return self.profile is not None and self.profile.single_node

    def lookup(self, name: str) -> Option | None:
        """The option ``name`` (normalized: lower case, ``_`` for ``-``) stands for."""
        return self.by_name.get(name)

    def native(self, fieldname: str) -> bool:
        """Whether the driver field is accepted under its own name (no fence-agents name shadows it)."""
        return fieldname not in self.by_name and self.info.field(fieldname) is not None

    def letter(self, option: Option) -> str | None:
        """The option's getopt letter, unless an option listed earlier claims it."""
        short = option.short
        return short if short and self.by_letter.get(short) is option else None

    def getopt(self, option: Option) -> str:
        """The getopt text as shown for this type (without a letter another option claims)."""
        if option.short and self.letter(option) is None:
            return option.getopt.partition(", ")[2]
        return option.getopt

    # -- rendering ----------------------------------------------------------------------------
    def _param(self, option: Option) -> Param:
        field = self.info.field(option.field) if option.field else None
        kind = option.kind or (_fence_type(field) if field is not None else "string")
        default = option.default
        if default is None and field is not None and field.default is not None and not option.values:
            default = to_text(field, field.default)
        choices = option.choices
        if not choices and field is not None and kind == "select":
            choices = field.enumset
        text = option.help or (_field_help(field) if field is not None else option.name)
        if option.does == IGNORED:
            text += f" (accepted, no effect: {option.why})"
        required = bool(field is not None and field.required and not self._optional(field.fieldname))
        return Param(option.name, option.old, self.getopt(option), kind, default, choices, text, required)

    def _optional(self, fieldname: str) -> bool:
        return self.profile is not None and fieldname in self.profile.optional

    def _native_param(self, field: Field) -> Param:
        default = to_text(field, field.default) if field.default is not None else None
        text = _field_help(field)
        if field.fieldname == "hostname" and self.single_node:
            text += " (default: the node asked for)"
        return Param(
            field.fieldname,
            None,
            f"--{field.fieldname.replace('_', '-')}=[value]",
            _fence_type(field),
            default,
            field.enumset if field.basictype == ENUMERATION else (),
            text,
            field.required and not self._optional(field.fieldname),
        )

    def parameters(self) -> list[Param]:
        """Every advertised parameter in metadata order: the driver's fields (each under its
        fence-agents name when it has one, followed by the options that depend on it), then the
        type's other options, then the common ones."""
        shown: list[Param] = []
        done: set[int] = set()

        def show(option: Option) -> None:
            if id(option) not in done and option.advertised:
                done.add(id(option))
                shown.append(self._param(option))

        for field in self.info.fields:
            renames = [o for o in self.options if o.field == field.fieldname and not o.values]
            if renames:
                for option in renames:
                    show(option)
            elif self.native(field.fieldname):
                shown.append(self._native_param(field))
            for option in self.options:
                if option.needs == field.fieldname and option not in renames:
                    show(option)
        for option in self.options:
            show(option)
        return shown


def agent_options(info: DriverInfo) -> AgentOptions:
    return AgentOptions(info)

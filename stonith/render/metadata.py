"""Renderers of a driver's self-configuration metadata.

One description, many outputs: cluster-glue ``-n``/``-m``/``-h`` text and XML (in the exact shape
cluster-glue 1.0.12 prints), fence-agents metadata XML (validating against fence-agents'
metadata.rng), help text and a man page.  JSON and XML-RPC encodings live in ``stonith.render.marshal``.
"""

from __future__ import annotations

from stonith.contract import fields as F

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from stonith.contract.driver import DriverInfo
    from stonith.contract.fields import Field


def escape(text: str, quote: bool = True) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


# ---------------------------------------------------------------------------------------------
# cluster-glue


def glue_names(info: DriverInfo) -> str:
    """``stonith -n``: every config name followed by two spaces, on one line."""
    return "".join(f.fieldname + "  " for f in info.fields) + "\n"


def _glue_content_type(field: Field) -> str:
    if field.isarray or field.field_class == F.STRUCT:
        return "string"
    return {F.INTEGER: "integer", F.ENUMERATION: "enum", F.BOOLEAN: "boolean"}.get(field.basictype, "string")


def glue_parameters(info: DriverInfo) -> str:
    """The ST_CONF_XML fragment, shaped like cluster-glue's built-in plugins print it."""
    out = ["<parameters>"]
    for field in info.fields:
        default = ""
        if field.default is not None:
            default = f' default="{escape(F.to_text(field, field.default))}"'
        out.append(
            f'<parameter name="{escape(field.fieldname)}" unique="0" required="{int(field.required)}">'
            f'<content type="{_glue_content_type(field)}"{default} />\n'
            f'<shortdesc lang="{{lang}}">\n{escape(field.label, False)}</shortdesc>\n'
            f'<longdesc lang="{{lang}}">\n{escape(field.long_text, False)}</longdesc>\n'
            "</parameter>\n"
        )
    out.append("</parameters>\n")
    return "".join(out)


def glue_xml(info: DriverInfo, lang: str = "en") -> str:
    """``stonith -m``: the ra-api-1 document cluster-glue's main.c prints."""
    params = glue_parameters(info).replace("{lang}", lang)
    return (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">\n'
        f'<resource-agent name="{escape(info.name)}">\n'
        "<version>1.0</version>\n"
        f'<longdesc lang="{lang}">\n{escape(info.description, False)}\n</longdesc>\n'
        f'<shortdesc lang="{lang}">{escape(info.shortdesc, False)}</shortdesc>\n'
        f"{params}"
        "<actions>\n"
        '<action name="start"   timeout="20" />\n'
        '<action name="stop"    timeout="15" />\n'
        '<action name="status"  timeout="20" />\n'
        '<action name="monitor" timeout="20" interval="3600" />\n'
        '<action name="meta-data"  timeout="15" />\n'
        "</actions>\n"
        '<special tag="heartbeat">\n'
        "<version>2.0</version>\n"
        "</special>\n"
        "</resource-agent>\n"
    )


USAGE = (
    "usage:\n"
    "\t stonith [-svh] -L\n"
    "\t stonith [-svh] -t stonith-device-type -n\n"
    "\t stonith [-svh] -t stonith-device-type -m\n"
    "\t stonith [-svh] -t stonith-device-type {-p stonith-device-parameters | "
    "-F stonith-device-parameters-file | -E | name=value...} [-c count] -lS\n"
    "\t stonith [-svh] -t stonith-device-type {-p stonith-device-parameters | "
    "-F stonith-device-parameters-file | -E | name=value...} [-c count] -T {reset|on|off} nodename\n"
    "\nwhere:\n"
    "\t-L\tlist supported stonith device types\n"
    "\t-l\tlist hosts controlled by this stonith device\n"
    "\t-S\treport stonith device status\n"
    "\t-s\tsilent\n"
    "\t-v\tverbose\n"
    "\t-n\toutput the config names of stonith-device-parameters\n"
    "\t-m\tdisplay meta-data of the stonith device type\n"
    "\t-h\tdisplay detailed help message with stonith device description(s)\n"
)


# ``stonith --help`` / ``stonith -h`` / ``stonith help``: one screen (at most 60 lines).
OVERVIEW = """\
usage: stonith COMMAND [ARGS]                 the cluster layer (devices.d, node sets)
       stonith -t TYPE [OPTIONS] [NODE]       cluster-glue 1.0.12 compatible (one device)

Cluster commands (devices.d: --devices DIR, default $STONITH_DEVICES or /etc/stonith/devices.d):
  status [NODESET]          read back every outlet of the nodes (all known nodes by default)
  on|off|reset NODESET      verified power operations, e.g. reset 'node[01-40],gpu[1-4]'
  devices                   list the devices of devices.d
  check                     validate devices.d and log in to every device
  lab                       start the mock devices devices.d declares (tests, demos)
  export pcs                print pcs commands that reproduce devices.d in Pacemaker
  slurm-suspend|slurm-resume HOSTLIST   Slurm's SuspendProgram/ResumeProgram (power saving)
  options: --json  --timeout SECONDS  --audit FILE|journal|syslog|none  -q  --remote URL

Driver commands:
  types [--long]            installed device types
  metadata TYPE             a type's parameters (--format help|json|xmlrpc|glue|fence|man|names)
  config TYPE [name=value ...] [--set name=value]   defaults, validation, redacted view
  install-agents            install fence_stonith_<type> agents for Pacemaker
  meatclient -c NODE        confirm a manual reset to a waiting meatware device
  init | install-units      create /etc/stonith (devices.d 0700) | install the systemd units
  completion bash|zsh       print the shell completion script
  new-driver NAME --kit KIT scaffold a driver, its mock and its tests (in a source checkout)
  help [COMMAND|TYPE]       this overview, a command's help, a type's parameters

Remote administration (pip install 'stonith[server]'):
  serve                     the HTTPS service (JSON API, XML-RPC, metrics)
  user, token               its users and bearer tokens

cluster-glue syntax:
  stonith -L                                list device types
  stonith -t TYPE -n | -m                   parameter names (in -p order) | metadata XML
  stonith -h -t TYPE                        a type's description and parameters
  stonith -t TYPE CONFIG [-c COUNT] -l | -S         list hosts | device status
  stonith -t TYPE CONFIG [-c COUNT] -T reset|on|off NODE   verified reset, on or off
  CONFIG: name=value ... | -p "VALUES IN -n ORDER" | -F FILE (the same, one line) | -E (environment)
  -s silent  -v verbose  -d debug  -V version;  extras: --json  --lang LANG  --timeout SECONDS

Exit codes (cluster-glue's): 0 ok, 1 usage or configuration, 2 access denied, 3 invalid or
missing parameter, 4 unknown node, 5 not verified, 6 timeout, 8 device unreachable, 130 interrupted.

More: stonith COMMAND --help (options and examples); stonith metadata TYPE --format help (every
parameter of a type); README.md of the stonith package.
"""


def glue_help_block(info: DriverInfo) -> str:
    """One device block of ``stonith -h``."""
    out = [f"\n\nSTONITH Device: {info.name} - {info.description}\n"]
    if info.url:
        out.append(f"For more information see {info.url}\n")
    if info.fields:
        out.append(f"List of valid parameter names for {info.name} STONITH device:\n")
        out.extend(f"\t{f.fieldname}\n" for f in info.fields)
        out.append(
            "For Config info [-p] syntax, give each of the above parameters in order as\n"
            "the -p value.\n"
            "Arguments are separated by white space.\n"
            "Config file [-F] syntax is the same as -p, except # at the start of a line\n"
            "denotes a comment\n"
        )
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# fence-agents

# The parameters themselves come from stonith.render.fence_options, the one table of fence-agents names
# that the agents' input parsing reads too.

FENCE_ACTIONS = (
    "on",
    "off",
    "reboot",
    "status",
    "list",
    "list-status",
    "monitor",
    "metadata",
    "manpage",
    "validate-all",
)


def _fence_param(
    name: str,
    required: bool,
    getopt: str,
    ctype: str,
    default: str | None,
    shortdesc: str,
    lang: str,
    *,
    deprecated: bool = False,
    obsoletes: str | None = None,
    options: tuple[str, ...] = (),
) -> str:
    attrs = f'name="{escape(name)}" unique="0" required="{int(required)}"'
    if deprecated:
        attrs += ' deprecated="1"'
    if obsoletes:
        attrs += f' obsoletes="{escape(obsoletes)}"'
    dflt = f' default="{escape(default)}"' if default is not None else ""
    if options:
        content = (
            f'\t\t<content type="{ctype}"{dflt}>\n'
            + "".join(f'\t\t\t<option value="{escape(o)}" />\n' for o in options)
            + "\t\t</content>\n"
        )
    else:
        content = f'\t\t<content type="{ctype}"{dflt} />\n'
    return (
        f"\t<parameter {attrs}>\n"
        f'\t\t<getopt mixed="{escape(getopt)}" />\n'
        f"{content}"
        f'\t\t<shortdesc lang="{lang}">{escape(shortdesc, False)}</shortdesc>\n'
        "\t</parameter>\n"
    )


def fence_agent_name(type_name: str) -> str:
    return "fence_stonith_" + type_name.replace("/", "_").replace("-", "_")


def fence_xml(info: DriverInfo, lang: str = "en") -> str:
    """fence-agents metadata for ``fence_stonith_<type>`` (validates against metadata.rng).

    Every parameter the fence-agents agent the type stands in for has is listed (pcs refuses names
    the metadata does not list), each old name as a ``deprecated`` twin of its new one.
    """
    from stonith.render.fence_options import agent_options

    params: list[str] = []
    for param in agent_options(info).parameters():
        for name, old in ((param.name, param.old), (param.old, None)):
            if name is None:
                continue
            params.append(
                _fence_param(
                    name,
                    param.required,
                    param.getopt,
                    param.kind,
                    param.default,
                    param.help,
                    lang,
                    deprecated=name != param.name,
                    obsoletes=old,
                    options=param.choices,
                )
            )
    caps = info.capabilities
    actions = []
    for action in FENCE_ACTIONS:
        if action == "on" and not caps.power_on:
            continue
        if action == "off" and not caps.power_off:
            continue
        if action == "status" and not caps.status:
            continue
        extra = ' automatic="0"' if action == "on" else ""
        actions.append(f'\t<action name="{action}"{extra} />\n')
    return (
        '<?xml version="1.0" ?>\n'
        f'<resource-agent name="{fence_agent_name(info.name)}" shortdesc="{escape(info.shortdesc)}">\n'
        f"<longdesc>{escape(info.description, False)}</longdesc>\n"
        f"<vendor-url>{escape(info.url or 'https://github.com/ClusterLabs')}</vendor-url>\n"
        "<parameters>\n" + "".join(params) + "</parameters>\n"
        "<actions>\n" + "".join(actions) + "</actions>\n"
        "</resource-agent>\n"
    )


HELP_COLUMN = 31  # getopt text, then the description (fence-agents' --help layout)
HELP_WIDTH = 80


def fence_help(info: DriverInfo) -> str:
    """``fence_stonith_<type> --help``: the getopt flags, laid out as fence-agents prints them."""
    import textwrap

    from stonith.render.fence_options import agent_options

    out = [f"Usage:\n\t{fence_agent_name(info.name)} [options]\nOptions:\n"]
    for param in agent_options(info).parameters():
        text = param.help
        if param.default is not None and param.kind != "boolean":
            text += f" (default {param.default})"
        head = f"   {param.getopt:<{HELP_COLUMN - 1}} "
        # Continuation lines start further right, as fence-agents' do.
        wrapped = textwrap.fill(text, HELP_WIDTH, initial_indent=" " * len(head), subsequent_indent=" " * 40)
        out.append(head + wrapped[len(head) :] + "\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# help and man page


def _constraints(field: Field, tr: Callable[[str], str] = str) -> list[str]:
    parts: list[str] = []
    kind = field.basictype + ("[]" if field.isarray else "")
    if field.specialtype:
        kind += f" ({field.specialtype})"
    parts.append(kind)
    if field.required:
        parts.append(tr("required"))
    if field.default is not None:
        parts.append(tr("default") + " " + F.to_text(field, field.default))
    if field.enumset:
        parts.append(tr("one of") + " " + "|".join(field.enumset))
    if field.minval is not None or field.maxval is not None:
        lo = "" if field.minval is None else F.number_text(field.minval)
        hi = "" if field.maxval is None else F.number_text(field.maxval)
        parts.append(f"{tr('range')} {lo}..{hi}")
    if field.length is not None:
        parts.append(tr("max {n} chars").format(n=field.length))
    if field.minelem is not None or field.maxelem is not None:
        parts.append(f"{field.minelem or 0}..{'' if field.maxelem is None else field.maxelem} {tr('items')}")
    if field.regex:
        parts.append(f"{tr('matches')} {field.regex}")
    return parts


def help_text(info: DriverInfo, lang: str | None = None) -> str:
    """Human help for a driver type (``info`` should already be localized for ``lang``)."""
    from stonith.render.i18n import translator

    tr = translator(lang)
    out = [f"{info.name} - {info.shortdesc}\n\n{info.description}\n"]
    if info.url:
        out.append(f"\n{tr('See')} {info.url}\n")
    if info.models:
        out.append(f"\n{tr('Models:')} " + ", ".join(info.models) + "\n")
    out.append(f"{tr('Status:')} {info.status}\n\n{tr('Parameters:')}\n")
    for field in info.fields:
        out.append(f"  {field.fieldname}  ({', '.join(_constraints(field, tr))})\n")
        out.append(f"      {field.label}: {field.long_text}\n")
        if field.aliases:
            out.append(f"      {tr('also accepted as:')} {', '.join(field.aliases)}\n")
    return "".join(out)


def _roff(text: str) -> str:
    lines = []
    for line in text.replace("\\", "\\e").splitlines():
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def man_page(info: DriverInfo, lang: str | None = None) -> str:
    from stonith.render.i18n import translator

    tr = translator(lang)
    out = [
        f'.TH STONITH-{info.name.upper().replace("/", "-")} 8 "" "stonith" "STONITH drivers"\n',
        ".SH NAME\n",
        f"{_roff(info.name)} \\- {_roff(info.shortdesc)}\n",
        ".SH SYNOPSIS\n",
        f".B stonith \\-t {_roff(info.name)}\n",
        "[\\fIname\\fR=\\fIvalue\\fR ...] {\\-l | \\-S | \\-T reset|on|off \\fInode\\fR}\n",
        ".SH DESCRIPTION\n",
        _roff(info.description) + "\n",
        ".SH PARAMETERS\n",
    ]
    for field in info.fields:
        out.append(f".TP\n.B {_roff(field.fieldname)}\n")
        out.append(f"{_roff(field.long_text)}\n.br\n({_roff(', '.join(_constraints(field, tr)))})\n")
    out.append(".SH SEE ALSO\n.BR stonith (8)\n")
    return "".join(out)

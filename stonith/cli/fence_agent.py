"""Fence agents for Pacemaker: ``fence_stonith_<type>`` runs a driver through the fence-agents API.

Input: ``name=value`` lines on stdin when there are no arguments (what pacemaker-fenced sends),
getopt options otherwise.  Every name and letter of the fence-agents agent the type stands in for
is accepted (fence_ipmilan for ipmilan, fence_apc_snmp for the SNMP PDUs, fence_apc / fence_wti for
the telnet switches; the table is stonith.render.fence_options), next to the driver's own field names, so
a Pacemaker configuration switches agents by changing only the agent's name.  Unknown names warn
and are ignored; booleans are parsed by value; a value we cannot honour safely is an error.

Actions: on, off, reboot, status, list, list-status, monitor, metadata, manpage, validate-all.
Exit codes as fence-agents: 0 success, 1 failure, ``status`` 2 for OFF.  Timeouts are deadlines in
seconds; ``delay`` is waited before the first device contact (off and reboot).  ``reboot`` is the
verified off -> read back off -> on -> read back on; when the on phase fails after a verified off,
the node *is* fenced: we exit 0 as FenceAgentAPI asks, but say so on stdout and stderr
("Success: Powered OFF (verified); power ON FAILED: ...") instead of "Success: Rebooted".
"""

from __future__ import annotations

import os
import sys
import time

from stonith.contract import redact
from stonith.contract.errors import BadConfig, StonithError
from stonith.contract.fields import TRUE_WORDS
from stonith.render.fence_options import AGENT, COMMON, FIELD, IGNORED, UNNAMED_NODE, agent_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from stonith.contract.driver import Driver, DriverInfo
    from stonith.render.fence_options import AgentOptions, Option

MAX_INPUT = 256 * 1024
PLUG = "plug"  # the one node an agent's engine run is about: the plugs it was given
ACTIONS = (
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

# The option table is stonith.render.fence_options (shared with the metadata and --help); these are the
# agent's own options and their defaults, as _seconds and _act read them.
AGENT_OPTIONS: dict[str, str | None] = {o.name: o.default for o in COMMON if o.does == AGENT}


class Failure(Exception):
    """Ends the agent with exit 1 and a ``Failed: ...`` / ERROR line on stderr."""


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now * 1000) % 1000:03d}"


def _err(level: str, text: str) -> None:
    # Masked: Pacemaker logs our stderr, and a message may quote a device echoing our password.
    sys.stderr.write(f"{_stamp()} {level}: {redact.text(text)}\n")


def canonical(name: str) -> str:
    """An input name as the option table spells it: fence-agents treats ``-`` and ``_`` alike."""
    return name.strip().replace("-", "_").lower()


def parse_stdin(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        if not eq:
            # Never the line itself (fence-agents echoes it): a value that lost its "name=" or a
            # line broken inside a password is a secret, and Pacemaker logs our stderr.
            _err("WARNING", f"Parse error: Ignoring stdin line {number}: no '=' (not shown: may be a secret)")
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        pairs.append((canonical(name), value))
    return pairs


def parse_argv(argv: list[str], table: AgentOptions) -> list[tuple[str, str]]:
    """GNU getopt as fence-agents spells it for this type: letters differ between agents
    (``-P`` is fence_ipmilan's lanplus flag but fence_apc_snmp's privacy password)."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            key = canonical(name)
            option = table.lookup(key)
            if option is None and not table.native(key):
                raise Failure(f"unknown option --{_printable(name)}")
            if option is not None and option.flag:
                pairs.append((key, value if eq else "1"))  # --lanplus, or --lanplus=0
                continue
            if not eq:
                if i >= len(argv):
                    raise Failure(f"option --{name} needs a value")
                value = argv[i]
                i += 1
            pairs.append((key, value))
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            while letters:
                letter, letters = letters[0], letters[1:]
                option = table.by_letter.get(letter)
                if option is None:
                    raise Failure(f"unknown option -{_printable(letter)}")
                if option.flag:
                    pairs.append((option.name, "1"))
                    continue
                if letters:
                    value, letters = letters, ""
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise Failure(f"option -{letter} needs a value")
                pairs.append((option.name, value))
        else:
            raise Failure(f"unexpected argument {_printable(arg)!r}")
    return pairs


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


def _seconds(options: dict[str, str], name: str) -> float:
    text = options.get(name) or AGENT_OPTIONS.get(name) or "0"
    try:
        value = float(text)
    except ValueError:
        raise Failure(f"{name} must be a number of seconds, not {_printable(text)!r}") from None
    if not 0 <= value <= 86400:
        raise Failure(f"{name} must be between 0 and 86400 seconds")
    return value


class Request:
    """The agent's input sorted into agent options and driver configuration.

    Names are looked up in the type's option table (stonith.render.fence_options): a fence-agents name
    sets our field (``ip`` -> ``ipaddr``, ``lanplus=1`` -> ``interface=lanplus``), is the agent's
    own, is applied by a rule below, or is accepted without effect; the driver's own field names
    are accepted where no fence-agents name shadows them.  A value we cannot honour is refused.
    Two different names that set one field to different values are an error: Pacemaker writes the
    lines in no particular order, so "the last one wins" would be chance.
    """

    def __init__(self, info: DriverInfo, pairs: list[tuple[str, str]]) -> None:
        self.table = agent_options(info)
        self.options: dict[str, str] = {}
        self.config: dict[str, str] = {}
        self.ignored: dict[str, str] = {}  # option -> why it has no effect
        self._source: dict[str, str] = {}  # config field -> the input name that set it
        for raw_name, value in pairs:
            name = canonical(raw_name)
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
                raise Failure(f"value of {_printable(name)} contains control characters")
            option = self.table.lookup(name)
            if option is not None:
                self._take(option, name, value)
            elif self.table.native(name):
                self._set(name, value, name)
            else:
                _err(
                    "WARNING",
                    f"Parse error: Ignoring unknown option '{_printable(name)}={'*' * min(8, len(value))}'",
                )
        action = self.options.get("action", "reboot").lower()
        self.action = {"meta-data": "metadata", "enable": "on", "disable": "off"}.get(action, action)
        self._finish()

    def _take(self, option: Option, name: str, value: str) -> None:
        try:
            value = option.normalize(value)
        except ValueError as exc:
            raise Failure(str(exc)) from None
        reason = option.check(value) if option.check is not None else None
        if reason:
            raise Failure(f"{name}={_printable(value)}: {reason}")
        if option.does == FIELD and option.field is not None:
            self._set(option.field, option.values.get(value, value), name)
        elif option.does == IGNORED:
            self.ignored[option.name] = option.why
        else:
            self.options[option.name] = value

    def _set(self, field: str, value: str, source: str) -> None:
        earlier = self._source.get(field)
        if earlier is not None and earlier != source and self.config[field] != value:
            raise Failure(f"{source} and {earlier} both set {field}, to different values")
        self.config[field] = value
        self._source[field] = source

    def _finish(self) -> None:
        """The rules of the SPECIAL options, in an order where each sees what the earlier ones did."""
        printing = self.action in ("metadata", "manpage") or self.flag("help") or self.flag("version")
        if not printing:
            self._security_level()
            self._scripts()
        self._port_as_ip()
        if self.table.single_node:
            self._single_node()
        if not printing and self.action != "validate-all":
            self._address_family()
        self._join_ipport()
        if self.action == "reboot" and self.options.get("method", "").lower() == "cycle":
            _err(
                "WARNING",
                "method=cycle: a native power cycle cannot be verified; rebooting with off, read back "
                "off, on, read back on instead",
            )
        if self.flag("verbose"):
            for name, why in self.ignored.items():
                _err("WARNING", f"Option '{name}' has no effect: {why}")

    def _security_level(self) -> None:
        """SNMPv3 ``snmp_sec_level`` as net-snmp's -l: a passphrase the level does not use is not used."""
        level = self.options.get("snmp_sec_level")
        version = self.config.get("snmp_version")
        if version is None:
            field = self.table.info.field("snmp_version")
            version = str(field.default) if field is not None else None
        if not level or version != "3":
            return
        wants_auth = level.lower() in ("authnopriv", "authpriv")
        wants_priv = level.lower() == "authpriv"
        for field_name, script, wanted in (
            ("password", "password_script", wants_auth),
            ("snmp_priv_passwd", "snmp_priv_passwd_script", wants_priv),
        ):
            if not wanted:
                self.config.pop(field_name, None)
                self.options.pop(script, None)
            elif not self.config.get(field_name) and not self.options.get(script):
                raise Failure(f"snmp_sec_level={level} needs {field_name} (or {script})")

    def _scripts(self) -> None:
        for script, field in (
            ("password_script", "password"),
            ("snmp_priv_passwd_script", "snmp_priv_passwd"),
        ):
            command = self.options.get(script)
            if command and field not in self.config and self.table.info.field(field) is not None:
                self._set(field, _run_password_script(command, script), script)

    def _port_as_ip(self) -> None:
        """fence-agents' ``port_as_ip``: the plug is the device's address (and wins over ``ip``)."""
        if self.flag("port_as_ip") and self.options.get("plug"):
            self.config["ipaddr"] = self.options.pop("plug")
            self._source["ipaddr"] = "plug"

    def _single_node(self) -> None:
        """A BMC fences one node.  With ``hostname`` set, that node only; without it, whichever node
        Pacemaker names (fence_ipmilan ignores the plug), so a plug is never required."""
        node = self.options.get("nodename", "")
        configured = self.config.get("hostname")
        if configured:
            if not self.plugs():
                self.options["plug"] = node or configured  # another node than hostname: refused later
            return
        if self.action in ("list", "list-status"):
            raise Failure(
                "hostname is not set, so this device cannot name the node it fences: set hostname, "
                "or pcmk_host_list (Pacemaker then checks with status)"
            )
        if not node:
            plugs = self.plugs()
            node = plugs[0] if len(plugs) == 1 else UNNAMED_NODE
        self.config["hostname"] = node
        self._source["hostname"] = "nodename"
        self.options["plug"] = node

    def _address_family(self) -> None:
        four, six = self.flag("inet4_only"), self.flag("inet6_only")
        if four and six:
            raise Failure("inet4_only and inet6_only exclude each other")
        address = self.config.get("ipaddr")
        if address and (four or six):
            self.config["ipaddr"] = _pin_family(address, 4 if four else 6)

    def _join_ipport(self) -> None:
        """``ipport`` of a device without a port field (telnet, HTTPS) goes into its address."""
        port = self.options.get("ipport")
        host = self.config.get("ipaddr")
        if not port or not host:
            return
        if (host.startswith("[") and "]:" not in host) or host.count(":") == 0:
            self.config["ipaddr"] = f"{host}:{port}"
        elif host.count(":") > 1 and not host.startswith("["):  # a bare IPv6 address
            self.config["ipaddr"] = f"[{host}]:{port}"

    def flag(self, name: str) -> bool:
        return self.options.get(name, "0").strip().lower() in TRUE_WORDS

    def plugs(self) -> list[str]:
        value = self.options.get("plug")
        if not value:
            return []
        sep = self.options.get("plug_separator") or ","
        return [p.strip() for p in value.split(sep) if p.strip()]


def _pin_family(address: str, version: int) -> str:
    """``inet4_only`` / ``inet6_only``: the address as a literal of that IP version (resolved now)."""
    import ipaddress
    import socket

    if address.startswith("["):
        host, _, suffix = address[1:].partition("]")
    elif address.count(":") == 1:
        host, colon, number = address.partition(":")
        suffix = colon + number
    else:
        host, suffix = address, ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        try:
            found = socket.getaddrinfo(host, None, family)
        except OSError as exc:
            raise Failure(f"{_printable(host)} has no IPv{version} address: {exc}") from None
        literal = ipaddress.ip_address(str(found[0][4][0]))
    if literal.version != version:
        raise Failure(f"{host} is not an IPv{version} address (inet{version}_only)")
    if literal.version == 6 and suffix:
        return f"[{literal}]{suffix}"
    return f"{literal}{suffix}"


def _run_password_script(script: str, name: str = "password_script") -> str:
    import subprocess

    try:
        proc = subprocess.run(
            script,
            shell=True,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Failure(f"{name} failed: {exc}") from None
    if proc.returncode != 0:
        raise Failure(f"{name} exited {proc.returncode}")
    return proc.stdout.strip()


def _device(info_cls: type[Driver], req: Request) -> Driver:
    from stonith.fencing.device import check

    config = check(info_cls.INFO, req.config)
    return info_cls(config)


def run(type_name: str, argv: list[str], stdin_text: str | None) -> int:
    from stonith.fencing import registry

    driver_cls = registry.load(type_name)
    info = driver_cls.INFO
    pairs = parse_argv(argv, agent_options(info)) if argv else parse_stdin(stdin_text or "")
    req = Request(info, pairs)
    if req.flag("help"):
        from stonith.render.metadata import fence_help

        sys.stdout.write(fence_help(info))
        return 0
    if req.flag("version"):
        sys.stdout.write("stonith 0.1.0\n")
        return 0
    if req.action in ("metadata", "manpage"):
        from stonith.render.metadata import fence_xml

        sys.stdout.write(fence_xml(info))
        return 0
    if req.action not in ACTIONS:
        _err("ERROR", f"Failed: Unrecognised action '{_printable(req.action)}'")
        _err("ERROR", "Please use '-h' for usage")
        return 1
    driver = _device(driver_cls, req)
    if req.action == "validate-all":
        return 0
    plugs = req.plugs()
    if req.action in ("on", "off", "reboot", "status") and not plugs:
        if info.capabilities.any_host and req.options.get("nodename"):
            plugs = [req.options["nodename"]]
        else:
            raise Failure("the plug (port) parameter is required for this action")
    if req.action in ("on", "off", "reboot") and not driver.INFO.capabilities.status:
        # Pacemaker takes exit 0 as "fenced": a device that cannot read its outlets back never gets it.
        raise Failure(
            f"{driver.INFO.name} cannot read outlet state back, so a fence through it cannot be verified"
        )
    if req.action in ("off", "reboot"):
        delay = _seconds(req.options, "delay")
        if delay:
            time.sleep(delay)
    return _act(driver, req, plugs)


def _act(driver: Driver, req: Request, plugs: list[str]) -> int:
    """Every action through the engine (stonith.fencing.engine): the device's lock, retries, read-back."""
    from stonith.contract.deadline import Deadline, budget
    from stonith.contract.driver import OFF, ON
    from stonith.fencing import engine

    action = req.action
    login = _seconds(req.options, "login_timeout")
    power = _seconds(req.options, "power_timeout")
    shell = _seconds(req.options, "shell_timeout")
    wait = _seconds(req.options, "power_wait")
    # Pacemaker's clock runs from our exec: what start-up took is not ours to spend again.
    total = budget(max(login + shell + (2 * power if action == "reboot" else power) + wait, 1.0))
    try:
        int(req.options.get("retry_on") or "1")  # accepted; the engine retries every session itself
    except ValueError:
        raise Failure("retry_on must be an integer") from None
    inventory = engine.one_device(
        driver, hosts={PLUG: plugs} if plugs else None, settle=max(wait, 0.5), timeout=total
    )
    device = inventory.devices[0]
    sep = req.options.get("separator") or ","
    if action in ("list", "list-status"):
        deadline = Deadline(total, action)
        if action == "list":
            listed = [(o, "") for o in engine.call(device, deadline, lambda d, dl: d.outlets(dl))]
        else:
            listed = engine.read_all(device, deadline)
        for outlet, state in listed:
            line = f"{outlet.id}{sep}{outlet.name if outlet.name != outlet.id else ''}"
            if action == "list-status":
                line += f"{sep}{state.upper()}"
            sys.stdout.write(line + "\n")
        return 0
    if action == "monitor":
        engine.call(device, Deadline(total, action), lambda d, dl: d.probe(dl))
        return 0
    fencer = engine.Fencer(inventory, timeout=total)
    if action == "status":
        result = fencer.status([PLUG])[0]
        if result.state == OFF:
            sys.stdout.write("Status: OFF\n")
            return 2
        if result.state == ON:
            sys.stdout.write("Status: ON\n")
            return 0
        raise Failure(f"Unable to obtain correct plug status: {result.message}")
    verb = "reset" if action == "reboot" else action
    from stonith.cli.cluster_cli import interruptible

    with interruptible(fencer):  # Pacemaker's SIGTERM at its timeout: stop at a safe point
        result = fencer.run(verb, [PLUG])[0]
    if result.result == engine.ON_FAILED:
        # Fenced: every plug read back OFF.  FenceAgentAPI wants 0, but nobody is told "Rebooted".
        sys.stdout.write(f"Success: Powered OFF (verified); power ON FAILED: {result.message}\n")
        _err("ERROR", f"Node fenced (every plug read back OFF) but power ON failed: {result.message}")
        return 0
    if result.result != engine.OK:
        raise Failure(result.message)
    sys.stdout.write(
        {"on": "Success: Powered ON\n", "off": "Success: Powered OFF\n"}.get(verb, "Success: Rebooted\n")
    )
    return 0


def main(type_name: str | None = None, argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if type_name is None:
        if not args:
            sys.stderr.write("usage: python -m stonith.cli.fence_agent TYPE [options]\n")
            return 1
        type_name, args = args[0], args[1:]
    try:
        stdin_text = None
        if not args:
            stdin_text = sys.stdin.read(MAX_INPUT + 1) if sys.stdin is not None else ""
            if len(stdin_text) > MAX_INPUT:
                raise Failure(f"input larger than {MAX_INPUT} bytes")
        return run(type_name, args, stdin_text)
    except Failure as exc:
        _err("ERROR", f"Failed: {exc}")
        return 1
    except BadConfig as exc:
        for problem in exc.problems:
            _err("ERROR", f"Failed: parameter {problem}")
        _err(
            "ERROR",
            "validate-all failed"
            if "validate-all" in (stdin_text or "") + " ".join(args)
            else "Please use '-h' for usage",
        )
        return 1
    except StonithError as exc:
        text = str(exc)
        if "deadline" in text or type(exc).__name__ == "Timeout":
            text += " (timed out)"
        _err("ERROR", f"Failed: {text}")
        return 1
    except (UnicodeDecodeError, OSError) as exc:
        _err("ERROR", f"Failed: {exc}")
        return 1
    except Exception as exc:  # never a traceback towards Pacemaker
        _err("ERROR", f"Failed: internal error: {type(exc).__name__}: {exc}")
        if "STONITH_TRACEBACK" in os.environ:
            raise
        return 1


def run_agent(type_name: str | None = None) -> NoReturn:
    """An agent process: ``main``, its timeouts counted from the process's start, and an exit
    without the interpreter's teardown (stonith.cli.main.run says why)."""
    from stonith.cli.main import exit_now, start_clock

    start_clock()
    exit_now(main(type_name))


if __name__ == "__main__":
    run_agent()

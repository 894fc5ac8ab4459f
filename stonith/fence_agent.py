"""Fence agents for Pacemaker: ``fence_stonith_<type>`` runs a driver through the fence-agents API.

Input: ``name=value`` lines on stdin when there are no arguments (what pacemaker-fenced sends),
getopt-style options otherwise.  Standard fence-agents names and aliases are accepted (action /
option, ip / ipaddr, ipport, username / login, password / passwd, password_script / passwd_script,
plug / port, nodename, power_timeout, power_wait, shell_timeout, login_timeout, delay, retry_on,
verbose, debug_file, separator, plug_separator, ...) next to the driver's own field names.
Unknown names warn and are ignored; booleans are parsed by value.

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

from stonith.errors import BadConfig, StonithError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from stonith.driver import Driver, DriverInfo

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

# fence-agents name -> canonical option; our drivers' own names pass through unchanged.
ALIASES = {
    "option": "action",
    "ip": "ipaddr",
    "username": "login",
    "passwd": "password",
    "passwd_script": "password_script",
    "port": "plug",
    "debug": "debug_file",
    "secure": "ssh",
    "command_prompt": "cmd_prompt",
}
# Standard options that are the agent's, not the driver's.
AGENT_OPTIONS = {
    "action": "reboot",
    "plug": None,
    "nodename": None,
    "nodeid": None,
    "ipport": None,
    "password_script": None,
    "power_timeout": "20",
    "power_wait": "0",
    "shell_timeout": "3",
    "login_timeout": "5",
    "delay": "0",
    "retry_on": "1",
    "verbose": "0",
    "verbose_level": None,
    "debug_file": None,
    "separator": ",",
    "plug_separator": ",",
    "quiet": "0",
    "disable_timeout": None,
    "stonith_status_sleep": None,
    "method": None,
    "help": None,
    "version": None,
}
# getopt spellings: short letter -> canonical name (value-taking unless in FLAGS).
SHORT = {
    "o": "action",
    "a": "ipaddr",
    "u": "ipport",
    "l": "login",
    "p": "password",
    "S": "password_script",
    "n": "plug",
    "v": "verbose",
    "D": "debug_file",
    "C": "separator",
    "c": "community",
    "h": "help",
    "V": "version",
    "q": "quiet",
}
FLAGS = {"verbose", "help", "version", "quiet"}
_TRUE = ("1", "yes", "on", "true", "y")


class Failure(Exception):
    """Ends the agent with exit 1 and a ``Failed: ...`` / ERROR line on stderr."""


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now * 1000) % 1000:03d}"


def _err(level: str, text: str) -> None:
    sys.stderr.write(f"{_stamp()} {level}: {text}\n")


def canonical(name: str) -> str:
    name = name.strip().replace("-", "_").lower()
    return ALIASES.get(name, name)


def parse_stdin(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        if not eq:
            _err("WARNING", f"Parse error: Ignoring unknown option '{_printable(line)}'")
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        pairs.append((canonical(name), value))
    return pairs


def parse_argv(argv: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            key = canonical(name)
            if key in FLAGS:
                pairs.append((key, "1"))
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
                short = SHORT.get(letter)
                if short is None:
                    raise Failure(f"unknown option -{letter}")
                key = short
                if key in FLAGS:
                    pairs.append((key, "1"))
                    continue
                if letters:
                    value, letters = letters, ""
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise Failure(f"option -{letter} needs a value")
                pairs.append((key, value))
        else:
            raise Failure(f"unexpected argument {arg!r}")
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
    """The agent's input sorted into agent options and driver configuration."""

    def __init__(self, info: DriverInfo, pairs: list[tuple[str, str]]) -> None:
        self.options: dict[str, str] = {}
        self.config: dict[str, str] = {}
        for name, value in pairs:
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
                raise Failure(f"value of {name} contains control characters")
            if info.field(name) is not None:
                self.config[name] = value
            elif name in AGENT_OPTIONS or name == "ssh":
                self.options[name] = value
            else:
                _err(
                    "WARNING",
                    f"Parse error: Ignoring unknown option '{_printable(name)}={'*' * min(8, len(value))}'",
                )
        action = self.options.get("action", "reboot").lower()
        self.action = {"meta-data": "metadata", "enable": "on", "disable": "off"}.get(action, action)
        port_field = info.field("port")
        if "ipport" in self.options and port_field is not None and port_field.basictype == "integer":
            self.config["port"] = self.options["ipport"]  # cluster-glue's UDP `port` (ipmilan, SNMP)
        elif "ipport" in self.options and info.field("ipaddr") is not None and "ipaddr" in self.config:
            host, port = self.config["ipaddr"], self.options["ipport"]
            if (host.startswith("[") and "]:" not in host) or host.count(":") == 0:
                self.config["ipaddr"] = f"{host}:{port}"
            elif host.count(":") > 1 and not host.startswith("["):  # a bare IPv6 address
                self.config["ipaddr"] = f"[{host}]:{port}"
        if (
            "password_script" in self.options
            and "password" not in self.config
            and info.field("password") is not None
        ):
            self.config["password"] = _run_password_script(self.options["password_script"])

    def flag(self, name: str) -> bool:
        return self.options.get(name, "0").strip().lower() in _TRUE

    def plugs(self) -> list[str]:
        value = self.options.get("plug")
        if not value:
            return []
        sep = self.options.get("plug_separator") or ","
        return [p.strip() for p in value.split(sep) if p.strip()]


def _run_password_script(script: str) -> str:
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
        raise Failure(f"password_script failed: {exc}") from None
    if proc.returncode != 0:
        raise Failure(f"password_script exited {proc.returncode}")
    return proc.stdout.strip()


def _device(info_cls: type[Driver], req: Request) -> Driver:
    from stonith.device import check

    config = check(info_cls.INFO, req.config)
    return info_cls(config)


def run(type_name: str, argv: list[str], stdin_text: str | None) -> int:
    from stonith import registry

    driver_cls = registry.load(type_name)
    info = driver_cls.INFO
    pairs = parse_argv(argv) if argv else parse_stdin(stdin_text or "")
    req = Request(info, pairs)
    if req.flag("help"):
        from stonith.metadata import help_text

        sys.stdout.write(help_text(info))
        return 0
    if req.flag("version"):
        sys.stdout.write("stonith 0.1.0\n")
        return 0
    if req.action in ("metadata", "manpage"):
        from stonith.metadata import fence_xml

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
    """Every action through the engine (stonith.engine): the device's lock, retries, read-back."""
    from stonith import engine
    from stonith.deadline import Deadline
    from stonith.driver import OFF, ON

    action = req.action
    login = _seconds(req.options, "login_timeout")
    power = _seconds(req.options, "power_timeout")
    shell = _seconds(req.options, "shell_timeout")
    wait = _seconds(req.options, "power_wait")
    total = max(login + shell + (2 * power if action == "reboot" else power) + wait, 1.0)
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
            sys.stderr.write("usage: python -m stonith.fence_agent TYPE [options]\n")
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


if __name__ == "__main__":
    sys.exit(main())

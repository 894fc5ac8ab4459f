"""Cluster-glue ``external/NAME`` plugins: executable scripts driven through their own protocol.

Protocol (cluster-glue ``doc/stonith/README.external``): ``<script> <op> [host]`` with op one of
gethosts, on, off, reset, status, getconfignames, getinfo-devid, getinfo-devname,
getinfo-devdescr, getinfo-devurl, getinfo-xml.  The configuration travels in the environment
(never on argv, so secrets stay out of ``ps``); exit 0 is success.

A script's environment is built, not inherited (stonith.contract.local_trust.child_env): a PATH of
cluster-glue's share directory and system directories, LANG, HOME, cluster-glue's logging
variables, and exactly this device's parameters.  Our own environment may hold another device's
``{ env = ... }`` secret, and the caller's PATH may name the working directory.

The script's word is all we get: external plugins have no per-host status, so a reset through one
is the plugin's own (unverified) reset.  Every run is bounded by the caller's deadline.
"""

from __future__ import annotations

import os
import subprocess

from stonith.contract.driver import UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.errors import DeviceError, Timeout, Unsupported
from stonith.contract.fields import SECRET, Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from stonith.contract.deadline import Deadline

GLUE_SHARE = "/usr/share/cluster-glue"  # holds ha_log.sh, which the scripts source
INFO_TIMEOUT = 10.0
_SECRET_HINTS = ("passw", "secret", "credstore", "community", "key")
# Parameter names that hold where a device is (cluster-glue scripts name them freely).
_ADDRESS_WORDS = {"ipaddr", "ip", "hostname", "host", "addr", "address", "server", "url", "tty", "ttydev"}

_debug_level = 0


def set_debug(level: int) -> None:
    """cluster-glue passes ``-d`` to scripts as HA_debug=2."""
    global _debug_level
    _debug_level = level


# cluster-glue's ha_log.sh reads these to decide where a script's log lines go; none is a secret.
_LOGGING_VARIABLES = ("HA_LOGFACILITY", "HA_LOGFILE", "HA_DEBUGLOG", "HA_use_logd", "HA_LOGD")


def _env(name: str, config: Mapping[str, str]) -> dict[str, str]:
    from stonith.contract.local_trust import SAFE_PATH, child_env

    env = {k: os.environ[k] for k in _LOGGING_VARIABLES if k in os.environ}
    env["HA_LOGTAG"] = f"stonith: {name}"
    if _debug_level:
        env["HA_debug"] = "2"
    env.update({k: v for k, v in config.items() if v is not None})
    return child_env(env, path=GLUE_SHARE + os.pathsep + SAFE_PATH)


def run_script(
    name: str, script: str, args: list[str], config: Mapping[str, str], timeout: float
) -> tuple[int, str]:
    """Run one plugin operation; (exit code, stdout).  stderr passes through to ours."""
    try:
        proc = subprocess.run(
            [script, *args],
            env=_env(name, config),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            timeout=max(0.01, timeout),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Timeout(f"{name}: '{args[0]}' did not finish within {timeout:.1f}s") from None
    except OSError as exc:
        raise DeviceError(f"{name}: cannot run {script}: {exc.strerror}") from None
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def _xml_params(xml: str) -> dict[str, tuple[bool, str, str]]:
    """name -> (required, shortdesc, longdesc) from a getinfo-xml ``<parameters>`` fragment."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml.strip())
    except ET.ParseError:
        return {}
    params: dict[str, tuple[bool, str, str]] = {}
    for param in root.iter("parameter"):
        name = param.get("name")
        if not name:
            continue
        short = (param.findtext("shortdesc") or "").strip()
        long = (param.findtext("longdesc") or "").strip()
        params[name] = (param.get("required", "0") == "1", short, long)
    return params


def describe_script(name: str, script: str) -> DriverInfo:
    """Build the self-configuration metadata of an external plugin by asking it."""

    def ask(op: str) -> str:
        rc, out = run_script(name, script, [op], {}, INFO_TIMEOUT)
        return out if rc == 0 else ""

    names = ask("getconfignames").split()
    xml_params = _xml_params(ask("getinfo-xml"))
    # One list drives -n, -m, -p and -E: getconfignames order first, then names only the XML has
    # (cluster-glue's -n and -m disagree for several scripts).
    for extra in xml_params:
        if extra not in names:
            names.append(extra)
    fields = []
    for pname in names:
        required, short, long = xml_params.get(pname, (True, pname, pname))
        secret = any(hint in pname.lower() for hint in _SECRET_HINTS)
        fields.append(
            Field(
                pname,
                short or pname,
                specialtype=SECRET if secret else None,
                required=required,
                short_text=short or pname,
                long_text=long or short or pname,
            )
        )
    devid = ask("getinfo-devid").strip() or name
    descr = ask("getinfo-devdescr").strip() or devid
    url = ask("getinfo-devurl").strip() or None
    return DriverInfo(
        name,
        shortdesc=devid,
        description=descr,
        fields=fields,
        family="cluster-glue external plugin",
        url=url,
        capabilities=Capabilities(cycle=True, status=False),
    )


class External(Driver):
    """Base of the per-script classes made by ``external_driver``."""

    SCRIPT = ""
    LOWERCASE_HOSTS = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        from stonith.contract.fields import to_text

        self._env = {
            f.fieldname: to_text(f, config[f.fieldname]) for f in self.INFO.fields if f.fieldname in config
        }

    def _run(self, args: list[str], deadline: Deadline) -> tuple[int, str]:
        return run_script(self.INFO.name, self.SCRIPT, args, self._env, deadline.remaining())

    def device_name(self) -> str:
        """The device's address from its configuration, without running the script.

        This names the device's lock (``DeviceEntry.lock_key``), asked before every session: a run
        of ``getinfo-devname`` there took up to INFO_TIMEOUT outside any deadline (a hung script
        held every fence of the device 10 s past it), and its answer is often the plugin's own
        name, which made every device of one plugin share a lock.
        """
        for name, value in self._env.items():
            if value and _ADDRESS_WORDS & set(name.lower().replace("-", "_").split("_")):
                field = self.INFO.field(name)
                if field is None or not field.secret:
                    return f"{self.INFO.name}:{value}"
        return self.INFO.name

    def probe(self, deadline: Deadline) -> str:
        rc, _ = self._run(["status"], deadline)
        if rc != 0:
            raise DeviceError(f"{self.INFO.name}: status exited {rc}")
        return self.INFO.shortdesc

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        rc, out = self._run(["gethosts"], deadline)
        if rc != 0:
            raise DeviceError(f"{self.INFO.name}: gethosts exited {rc}")
        from stonith.contract.validation import split_list

        return [Outlet(h) for h in split_list(out)]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return UNKNOWN

    def _op(self, op: str, outlet: Outlet, deadline: Deadline) -> None:
        rc, _ = self._run([op, outlet.name], deadline)
        if rc != 0:
            from stonith.contract.errors import StateMismatch

            raise StateMismatch(f"{self.INFO.name}: {op} {outlet.name} failed (exit {rc})")

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._op("on", outlet, deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._op("off", outlet, deadline)

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        self._op("reset", outlet, deadline)


_cache: dict[str, type[External]] = {}


def external_driver(name: str, script: str) -> type[Driver]:
    if name not in _cache:
        if not os.access(script, os.X_OK):
            raise Unsupported(f"{script} is not executable")
        info = describe_script(name, script)
        _cache[name] = type(
            "External_" + name.split("/", 1)[1].replace("-", "_"),
            (External,),
            {"INFO": info, "SCRIPT": script},
        )
    return _cache[name]

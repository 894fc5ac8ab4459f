"""How far a device's channel can be trusted, known from its configuration alone.

A fence is only as good as the channel that carried "outlet 5 is off".  Where nothing authenticates
the device's replies, anyone who can reach the management network (or spoof the device's address) can
answer in its place, and a node still running is reported off.  Real hardware often offers nothing
better, so weak channels stay possible; ``stonith check`` warns about each one, and every audit record
carries the channel of its device.

Levels:

- ``authenticated``: the device's replies are authenticated with a key only it and we hold (SNMPv3
  authPriv with SHA-2 or SHA-1 and AES, RMCP+ with a fixed cipher suite, verified HTTPS, ssh);
- ``weak``: the replies are not authenticated, or only with a broken or downgradable scheme, or the
  secret travels in clear (SNMP v1/v2c, SNMPv3 noAuth/authNoPriv or MD5/DES, HTTP, unverified TLS,
  IPMI ``cipher=auto``, IPMI 1.5, telnet, a serial line reached over TCP);
- ``local``: a cable to this host (serial tty, USB), which whoever has root here controls anyway;
- ``none``: no device at all (testing drivers, manual fencing);
- ``unknown``: a cluster-glue external script, whose channel is the script's business.

The rules read each driver's configuration by field name (``snmp_version``, ``ssl``, ``cipher`` ...),
so a third-party driver with the same fields is judged the same way.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from stonith.contract.driver import Driver

AUTHENTICATED = "authenticated"
WEAK = "weak"
LOCAL = "local"
NONE = "none"
UNKNOWN = "unknown"

# Driver types without a device to talk to (testing and manual fencing).
_NO_DEVICE = frozenset({"null", "meatware", "suicide"})
# Driver types that talk telnet when given ipaddr (the classic switches' menus).
_TELNET = frozenset({"baytech", "apcmaster", "wti_nps"})
_BROKEN_SNMP_AUTH = frozenset({"MD5"})
_BROKEN_SNMP_PRIV = frozenset({"DES"})


def channel_strength(driver: Driver) -> tuple[str, str]:
    """(level, reason) for the configured device: see the module text for the levels."""
    config: Mapping[str, Any] = driver.config
    name = driver.INFO.name
    fields = {f.fieldname for f in driver.INFO.fields}
    if name.startswith("external/"):
        return UNKNOWN, "cluster-glue external script: its channel is the script's own"
    if name in _NO_DEVICE:
        return NONE, "no device: nothing is switched over a channel"
    if "snmp_version" in fields:
        return _snmp(config)
    if "ssl" in fields:
        return _https(config)
    if "cipher" in fields and "interface" in fields:
        return _ipmi(config)
    if name == "ssh":
        return AUTHENTICATED, "ssh: the host is authenticated by its host key"
    if "ssh_known_hosts" in fields and config.get("ssh"):
        # A console over SSH (stonith.transport.ssh): strict host-key checking, the password encrypted.
        if config.get("ssh_accept_new"):
            return (
                WEAK,
                "ssh with ssh_accept_new: an unknown host key is recorded unchecked (first contact); "
                "turn it off once the key is recorded",
            )
        return AUTHENTICATED, "ssh: the device is authenticated by its host key in ssh_known_hosts"
    if name in _TELNET and config.get("ipaddr"):
        return WEAK, "telnet: the password travels in clear and the device is not authenticated"
    for field in ("ttydev", "serial_to_targets"):
        value = str(config.get(field) or "").split()
        if value and "://" in value[0]:
            scheme = value[0].split("://")[0]
            return WEAK, f"serial line over the network ({scheme}://): nothing is authenticated"
    if fields & {"ttydev", "serial_to_targets", "serial"}:
        return LOCAL, "a serial or USB cable to this host"
    return UNKNOWN, f"{name}: no rule for this driver's channel"


def _snmp(config: Mapping[str, Any]) -> tuple[str, str]:
    version = str(config.get("snmp_version") or "2c")
    if version != "3":
        return WEAK, f"SNMP v{version}: the community travels in clear and replies are not authenticated"
    if not config.get("password"):
        return WEAK, "SNMPv3 noAuthNoPriv: replies are not authenticated"
    auth = str(config.get("snmp_auth_prot") or "SHA")
    if auth in _BROKEN_SNMP_AUTH:
        return WEAK, f"SNMPv3 with {auth} authentication (broken hash)"
    if not config.get("snmp_priv_passwd"):
        return WEAK, "SNMPv3 authNoPriv: commands and outlet names travel in clear"
    priv = str(config.get("snmp_priv_prot") or "AES")
    if priv in _BROKEN_SNMP_PRIV:
        return WEAK, f"SNMPv3 with {priv} privacy (56-bit key)"
    return AUTHENTICATED, f"SNMPv3 authPriv ({auth}, {priv})"


def _https(config: Mapping[str, Any]) -> tuple[str, str]:
    if not config.get("ssl", True):
        return WEAK, "plain HTTP (ssl=no): the password travels in clear and the BMC is not authenticated"
    if config.get("ssl_insecure"):
        return WEAK, "HTTPS without certificate verification (ssl_insecure): anyone can pose as the BMC"
    return AUTHENTICATED, "HTTPS with a verified certificate"


def _ipmi(config: Mapping[str, Any]) -> tuple[str, str]:
    if str(config.get("interface") or "lanplus") == "lan":
        if str(config.get("auth") or "md5") in ("straight", "password", "key"):
            return WEAK, "IPMI 1.5 with straight authentication: the password travels in clear"
        return WEAK, "IPMI 1.5: nothing is encrypted and authentication is MD5 at best"
    cipher = str(config.get("cipher") or "auto")
    if cipher == "auto":
        return (
            WEAK,
            "IPMI cipher=auto: an unauthenticated rejection of suite 17 makes it fall back to suite 3; "
            "set cipher=17 (or 3) to pin it",
        )
    return AUTHENTICATED, f"RMCP+ cipher suite {cipher}"


def describe(driver: Driver) -> str:
    """``LEVEL: reason``, as the audit log and ``stonith check`` show it."""
    level, reason = channel_strength(driver)
    return f"{level}: {reason}"


def is_weak(driver: Driver) -> bool:
    return channel_strength(driver)[0] == WEAK

"""The SSH parameters of the console drivers, and opening their stream over telnet or SSH.

One definition serves every console driver that can use SSH (APC MasterSwitch / rack PDUs, WTI), so
the fields, their help texts and their translations exist once.  The names are fence-agents' where
it has one (``ssh``, its old name ``secure`` being accepted by the fence agents; ``identity_file``);
the host-key settings are ours, because fence-agents leaves host keys to ``ssh_options``.
"""

from __future__ import annotations

from stonith.fields import BOOLEAN, PATH, Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from stonith.deadline import Deadline
    from stonith.transport.stream import Stream

DEFAULT_KNOWN_HOSTS = "/etc/stonith/ssh_known_hosts"

SSH = Field(
    "ssh",
    "Use SSH",
    basictype=BOOLEAN,
    default=False,
    short_text="Log in over SSH instead of telnet (default no; default port 22)",
    long_text="Log in with the system's ssh client instead of telnet (the device's SSH server; port "
    "22 unless ipaddr names another). The password is typed at ssh's prompt, never passed on a "
    "command line.",
)
IDENTITY_FILE = Field(
    "identity_file",
    "SSH key",
    specialtype=PATH,
    short_text="SSH private key to log in with instead of the password",
    long_text="A private key file (without passphrase) that the device accepts for the login; "
    "with it, ssh never asks for a password.",
)
KNOWN_HOSTS = Field(
    "ssh_known_hosts",
    "SSH known hosts",
    specialtype=PATH,
    default=DEFAULT_KNOWN_HOSTS,
    short_text="known_hosts file holding the device's SSH host key",
    long_text="The known_hosts file that holds the device's SSH host key; a device offering another "
    "key is refused (exit 2).",
)
ACCEPT_NEW = Field(
    "ssh_accept_new",
    "Record new SSH host keys",
    basictype=BOOLEAN,
    default=False,
    short_text="Record the host key of a device not yet in ssh_known_hosts (default no)",
    long_text="First contact: record the SSH host key of a device that ssh_known_hosts does not "
    "know yet. A changed key is refused all the same. Turn it off again once the key is recorded.",
)
FIELDS = (SSH, IDENTITY_FILE, KNOWN_HOSTS, ACCEPT_NEW)


def uses_ssh(config: Mapping[str, Any]) -> bool:
    return bool(config.get("ssh", False))


def open_stream(config: Mapping[str, Any], deadline: Deadline, *, login: str | None) -> Stream:
    """The device's console: telnet, or ssh logged in as ``login`` when ``ssh`` is set."""
    if not uses_ssh(config):
        from stonith.transport import telnet

        return telnet.connect(config["ipaddr"], deadline)
    from stonith.transport import ssh

    identity = config.get("identity_file") or None
    password = config.get("password")
    return ssh.connect(
        config["ipaddr"],
        deadline,
        login=login or "",
        known_hosts=str(config.get("ssh_known_hosts") or DEFAULT_KNOWN_HOSTS),
        password=None if identity or password is None else str(password).encode("utf-8"),
        identity_file=str(identity) if identity else None,
        accept_new=bool(config.get("ssh_accept_new", False)),
    )

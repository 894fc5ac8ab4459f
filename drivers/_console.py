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
    from stonith.deadline import Deadline
    from stonith.driver import Settings
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


def uses_ssh(params: Settings) -> bool:
    return bool(params.ssh)


def open_stream(params: Settings, deadline: Deadline, *, login: str | None) -> Stream:
    """The device's console: telnet, or ssh logged in as ``login`` when ``ssh`` is set."""
    if not uses_ssh(params):
        from stonith.transport import telnet

        return telnet.connect(params.ipaddr, deadline)
    from stonith.transport import ssh

    identity = params.identity_file or None
    password = params.password or None  # no password given: none is typed (an identity file logs in)
    return ssh.connect(
        params.ipaddr,
        deadline,
        login=login or "",
        known_hosts=params.ssh_known_hosts or DEFAULT_KNOWN_HOSTS,
        password=None if identity or password is None else password.encode("utf-8"),
        identity_file=identity,
        accept_new=params.ssh_accept_new,
    )

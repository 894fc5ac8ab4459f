"""The SSH parameters of the console drivers, and opening their stream over telnet or SSH.

One definition serves every console driver that can use SSH (APC MasterSwitch / rack PDUs, WTI): the
fields, their help texts and their translations are the shared parameter library's
(stonith.params.SSH_FIELDS; the fence agents also accept ``ssh``'s old fence-agents name ``secure``).
"""

from __future__ import annotations

from stonith.params import DEFAULT_KNOWN_HOSTS, SSH_FIELDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from stonith.deadline import Deadline
    from stonith.driver import Settings
    from stonith.transport.stream import Stream

FIELDS = SSH_FIELDS


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

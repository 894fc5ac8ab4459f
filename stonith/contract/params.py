"""The shared parameter library: one definition of every parameter that several drivers take.

A driver takes ``ipaddr``, ``port``, ``login``, ``password``, ``ttydev``, the SSH settings of a
console and the HTTP(S) settings of a web service from here instead of writing a Field of its own,
so each parameter has one label, one help text and one German translation in every driver, the
man pages and the GUI.

Where a parameter really means something else on another kind of device, the library has a named
variant with its own text: the address of a telnet/SSH console (port 23, with ssh 22), of a telnet
console that also has a serial line, of a BMC over IPMI (the ``port`` parameter, 623), of an SNMP
agent (the ``port`` parameter, 161), of an HTTP(S) service (443 with ssl, 80 without); a serial
port (tty path or pyserial URL) and one whose modem lines are used.  Texts name the kind of
device, never a model: what the device is, the driver's description says.

What is not text (required, length, default, aliases) a driver may change with ``Field.replace``::

    from stonith.contract import params
    LOGIN = params.LOGIN.replace(required=True)
    FIELDS = (params.CONSOLE_ADDRESS, LOGIN, params.PASSWORD, *params.SSH_FIELDS)

A driver changes no label, short_text or long_text, and defines no Field of its own under one of
these names (tests/test_params.py holds every installed driver to both).  ``hostlist()`` and
``crash_dump()`` (stonith.contract.fields) are the library's two factories, re-exported here.

Like stonith.contract.fields, this module is on the start-up path of ``stonith -n``/``-m``: it imports
nothing but stonith.contract.fields.
"""

from __future__ import annotations

from stonith.contract.fields import (
    BOOLEAN,
    HOSTPORT,
    INTEGER,
    PATH,
    SECONDS,
    SECRET,
    TTY,
    Field,
    crash_dump,
    hostlist,
)

__all__ = [
    "CA_BUNDLE",
    "CONSOLE_ADDRESS",
    "DEFAULT_KNOWN_HOSTS",
    "HTTP_ADDRESS",
    "HTTP_FIELDS",
    "IDENTITY_FILE",
    "IPMI_ADDRESS",
    "IPMI_LOGIN",
    "IPMI_PASSWORD",
    "IPMI_PORT",
    "LOGIN",
    "MODEM_TTYDEV",
    "PASSWORD",
    "REQUEST_TIMEOUT",
    "SNMP_ADDRESS",
    "SNMP_AUTH_PASSPHRASE",
    "SNMP_PORT",
    "SNMP_USER",
    "SSH",
    "SSH_ACCEPT_NEW",
    "SSH_FIELDS",
    "SSH_KNOWN_HOSTS",
    "SSH_LOGIN",
    "SSL",
    "SSL_INSECURE",
    "TELNET_ADDRESS",
    "TTYDEV",
    "crash_dump",
    "hostlist",
]

# ---------------------------------------------------------------------------------------------
# ipaddr: where the device listens (host, host:port or [ipv6]:port)

_IP_ADDRESS = "IP address"

CONSOLE_ADDRESS = Field(
    "ipaddr",
    _IP_ADDRESS,
    specialtype=HOSTPORT,
    required=True,
    short_text="Address of the console (host or host:port; default port 23, with ssh 22)",
    long_text="The IP address or host name of the device's console, optionally with :port (default "
    "23 for telnet, 22 with ssh).",
)
TELNET_ADDRESS = Field(
    "ipaddr",
    _IP_ADDRESS,
    specialtype=HOSTPORT,
    short_text="Address of the telnet console (host or host:port; default port 23)",
    long_text="The IP address or host name of the device's telnet console, optionally with :port "
    "(default 23). Not needed when the serial console (ttydev) is given.",
)
IPMI_ADDRESS = Field(
    "ipaddr",
    _IP_ADDRESS,
    specialtype=HOSTPORT,
    required=True,
    short_text="Address of the BMC (host or host:port; default port: the port parameter)",
    long_text="The IP address or host name of the BMC's IPMI service, optionally with :port, which "
    "then takes precedence over the port parameter (default 623).",
)
SNMP_ADDRESS = Field(
    "ipaddr",
    _IP_ADDRESS,
    specialtype=HOSTPORT,
    required=True,
    short_text="Address of the SNMP agent (host or host:port; default port: the port parameter)",
    long_text="The IP address or host name of the device's SNMP agent, optionally with :port, which "
    "then takes precedence over the port parameter (default 161).",
)
HTTP_ADDRESS = Field(
    "ipaddr",
    _IP_ADDRESS,
    specialtype=HOSTPORT,
    required=True,
    short_text="Address of the HTTP(S) service (host or host:port; default port 443 with ssl, 80 without)",
    long_text="The IP address or host name of the device's HTTP(S) service, optionally with :port "
    "(default 443 with ssl, 80 without).",
)

# ---------------------------------------------------------------------------------------------
# port: the UDP port of a datagram service, when ipaddr names none

IPMI_PORT = Field(
    "port",
    "UDP port",
    basictype=INTEGER,
    default=623,
    minval=1,
    maxval=65535,
    short_text="UDP port of the BMC's IPMI service (default 623)",
    long_text="The UDP port of the BMC's IPMI (RMCP) service: 623 unless the BMC was moved. A :port in "
    "ipaddr takes precedence.",
)
SNMP_PORT = Field(
    "port",
    "UDP port",
    basictype=INTEGER,
    default=161,
    minval=1,
    maxval=65535,
    short_text="UDP port of the SNMP agent (default 161)",
    long_text="The UDP port of the device's SNMP agent: 161 unless the agent was moved. A :port in "
    "ipaddr takes precedence. Unlike cluster-glue's apcmastersnmp, this port is really used.",
)

# ---------------------------------------------------------------------------------------------
# login and password

LOGIN = Field(
    "login",
    "Login",
    short_text="User name to log in with",
    long_text="The user name to log in to the device with.",
)
SSH_LOGIN = Field(
    "login",
    "Login",
    short_text="User name to log in with over SSH",
    long_text="The user name to log in with over SSH; a telnet console that asks for a password only "
    "does not use it.",
)
IPMI_LOGIN = Field(
    "login",
    "Login",
    length=16,
    short_text="User name of the BMC user (empty: the anonymous user)",
    long_text="The user name of the BMC user (at most 16 bytes; empty for the anonymous user).",
)
SNMP_USER = Field(
    "login",
    "SNMPv3 user",
    short_text="SNMPv3 user name",
    long_text="The SNMPv3 (USM) user name.",
)
PASSWORD = Field(
    "password",
    "Password",
    specialtype=SECRET,
    short_text="Password to log in with",
    long_text="The password for the login.",
)
IPMI_PASSWORD = Field(
    "password",
    "Password",
    specialtype=SECRET,
    length=20,
    short_text="Password of the BMC user",
    long_text="The password of the BMC user (at most 20 bytes for IPMI 2.0, 16 for IPMI 1.5).",
)
SNMP_AUTH_PASSPHRASE = Field(
    "password",
    "SNMPv3 auth passphrase",
    specialtype=SECRET,
    short_text="SNMPv3 authentication passphrase",
    long_text="The SNMPv3 authentication passphrase (at least 8 characters); empty for noAuthNoPriv.",
)

# ---------------------------------------------------------------------------------------------
# ttydev: a serial port

TTYDEV = Field(
    "ttydev",
    "Serial device",
    specialtype=TTY,
    required=True,
    short_text="Serial port (tty path or pyserial URL)",
    long_text="The serial port the device is attached to: a tty path, or a pyserial URL such as "
    "socket://host:port for a terminal server.",
)
MODEM_TTYDEV = Field(
    "ttydev",
    "Serial device",
    specialtype=TTY,
    required=True,
    short_text="Serial port with modem lines (tty path or rfc2217:// URL)",
    long_text="The serial port whose modem-control lines (DTR, RTS) are used: a tty with modem lines, "
    "or an RFC 2217 URL rfc2217://host:port; a pty will not do.",
)

# ---------------------------------------------------------------------------------------------
# A console over SSH instead of telnet (names from fence-agents where it has them: ssh,
# identity_file; the host-key settings are ours, fence-agents leaves host keys to ssh_options)

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
    short_text="SSH private key to log in with",
    long_text="A private key file (without passphrase) that the device accepts for the login; "
    "with it, ssh never asks for a password.",
)
SSH_KNOWN_HOSTS = Field(
    "ssh_known_hosts",
    "SSH known hosts",
    specialtype=PATH,
    default=DEFAULT_KNOWN_HOSTS,
    short_text="known_hosts file holding the device's SSH host key",
    long_text="The known_hosts file that holds the device's SSH host key; a device offering another "
    "key is refused (exit 2).",
)
SSH_ACCEPT_NEW = Field(
    "ssh_accept_new",
    "Record new SSH host keys",
    basictype=BOOLEAN,
    default=False,
    short_text="Record the host key of a device not yet in ssh_known_hosts (default no)",
    long_text="First contact: record the SSH host key of a device that ssh_known_hosts does not "
    "know yet. A changed key is refused all the same. Turn it off again once the key is recorded.",
)
SSH_FIELDS = (SSH, IDENTITY_FILE, SSH_KNOWN_HOSTS, SSH_ACCEPT_NEW)

# ---------------------------------------------------------------------------------------------
# An HTTP(S) service

SSL = Field(
    "ssl",
    "Use HTTPS",
    basictype=BOOLEAN,
    default=True,
    short_text="Use HTTPS (default yes)",
    long_text="Talk HTTPS (yes) or plain HTTP (no; test services only).",
)
SSL_INSECURE = Field(
    "ssl_insecure",
    "Skip certificate verification",
    basictype=BOOLEAN,
    default=False,
    short_text="Do not verify the device's TLS certificate",
    long_text="Accept any TLS certificate (a self-signed device certificate). Prefer ca_bundle.",
)
CA_BUNDLE = Field(
    "ca_bundle",
    "CA bundle",
    specialtype=PATH,
    short_text="CA certificates (PEM file) to verify the device with",
    long_text="A PEM file of CA certificates that the device's certificate must chain to (a private CA, "
    "or the device's own self-signed certificate).",
)
REQUEST_TIMEOUT = Field(
    "request_timeout",
    "Request timeout",
    basictype=SECONDS,
    default=10.0,
    minval=0.5,
    maxval=300,
    short_text="Seconds one HTTP request may take",
    long_text="The longest one HTTP request may take, from connecting to the last byte of the answer; "
    "never longer than what is left of the operation's deadline.",
)
# The transport security of an HTTP(S) service, in the order a driver lists them.
HTTP_FIELDS = (SSL, SSL_INSECURE, CA_BUNDLE)

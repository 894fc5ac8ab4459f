"""APC MasterSwitch and rack PDUs, device end: the AOS console menus and the AOS command line.

Personalities (``--model``):

    ap9211  MasterSwitch AP9211, Network Management Card AOS v3.3.3 / MasterSwitch APP v2.2.0:
            Device Manager lists the outlets; Control Outlet: 1 Immediate On, 2 Immediate Off,
            3 Immediate Reboot; success text ``Command successfully issued.`` (cluster-glue's
            ``apcmaster`` dialogue and PowerMan's ``apcnew.dev``)
    msp     MasterSwitch Plus AP9225, AOS v2.5.4 / APP v2.0.0: Device Manager lists
            ``1- MasterSwitch plus 1``, whose screen lists the outlets; Control Outlet: 1 Immediate
            On, 3 Immediate Off, 4 Immediate Reboot, 8 Cancel Pending Commands; success text
            ``Success`` (PowerMan's ``apc.dev``, fence-agents' ``fence_apc`` "MasterSwitch plus" path)
    ap8xxx  Switched Rack PDU AP8941 (RPDU 2g), AOS v6.8.2 / RPDU 2g APP v6.8.0, 24 outlets: the AOS
            command line after the banner, prompt ``apc>``; ``olStatus all`` answers ``E000:
            Success`` and `` N: <name>: On|Off`` per outlet, ``olOn`` / ``olOff`` / ``olReboot``
            take outlet numbers, names, ranges ``1-3``, lists ``1,3`` or ``all`` and answer ``E000:
            Success``; ``E101: Command Not Found``, ``E102: Parameter Error``; ``exit`` / ``quit`` /
            ``bye`` log out (fence-agents' ``fence_apc`` command-line path, chosen by the ``v6.`` in
            the banner; its logout ``4`` is an unknown command there)

Transports: telnet (default), or SSH with ``--ssh`` (and ``--host-key FILE``): the login then
happens in SSH (user ``--username``, ``--password``) and the session starts at the banner
(stonith.mocks._ssh).  Any model serves either.

Byte for byte as in device-dialogues.md section 3: CRLF line ends, every screen ends in the ``> ``
prompt, ``User Name : `` / ``Password  : `` (two spaces), ``Enter 'YES' to continue or <ENTER> to
cancel : `` and ``Press <ENTER> to continue...``.  Input: a line ends at CR, CR LF, CR NUL, CR NUL
LF or LF; ESC (0x1B, no CR needed) goes back one level and Ctrl-C (0x03, or telnet's IAC IP) goes
to the Control Console, each answered with the screen it lands on (so a fresh ``> ``, even at the
top); an empty line refreshes the screen.

Like the real network card, the mock prints only device text: it never prints the telnet *client's*
``Escape character is '^]'.`` line, which Debian's cluster-glue ``apcmaster`` plugin waits for, so
that plugin cannot log in (cluster-glue-cli.md section 13, item 1).  ``--client-banner`` makes the
mock print the three lines a telnet client would, only to drive the rest of that plugin's dialogue
in tests; it is not device behaviour.

Choices where the documents are silent (so a real unit may differ):
    - The command line (ap8xxx) echoes each line typed, as the AOS line editor does; the menus echo
      nothing.  Names match case-insensitively; a name shared by two outlets selects both.
    - On connect the mock offers telnet ``WILL ECHO`` and ``WILL SGA`` (as network consoles do; a
      telnet program then sends characters as typed, CR as CR NUL) but echoes nothing, so a
      transcript is the device's text only.  ``--no-negotiate`` sends plain text.
    - A wrong user name or password prints the ``User Name : `` prompt again; the third failure
      closes the connection.  One session at a time (``--sessions``); logout is ``4`` on the
      Control Console (``Connection Closed - Bye``).
    - Outlet names are cut to 23 characters (the row's name field); the row after the outlets,
      behind a blank line, is ``9- Master Control/Configuration`` (all outlets at once).
    - Delayed commands act at once (delays configured as 0 s); Immediate Reboot of an outlet that
      is on switches it off and on again ``--reboot-delay`` seconds later (default 5) after
      acknowledging; an outlet that is off stays off (as PowerMan's scripts note).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

from stonith.mocks import _ssh
from stonith.mocks._common import OFF, ON, POLL, Channel, Hangup, MockConfig, MockDevice

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any


@dataclass(frozen=True)
class Personality:
    aos: str
    app: str
    copyright_year: str
    switch_level: bool  # Device Manager lists switches ("MasterSwitch plus 1"), not outlets
    actions: tuple[tuple[str, str], ...]  # Control Outlet menu: (label, action)
    success: str
    outlets: int = 8
    cli: bool = False  # the AOS command line (apc>) instead of the menus


MODELS: dict[str, Personality] = {
    "ap9211": Personality(
        "v3.3.3",
        "MasterSwitch APP         v2.2.0",
        "2003",
        False,
        (
            ("1", "Immediate On"),
            ("2", "Immediate Off"),
            ("3", "Immediate Reboot"),
            ("4", "Delayed On"),
            ("5", "Delayed Off"),
            ("6", "Delayed Reboot"),
            ("8", "Cancel Pending Commands"),
        ),
        "Command successfully issued.",
    ),
    "msp": Personality(
        "v2.5.4",
        "MasterSwitch plus APP    v2.0.0",
        "2001",
        True,
        (
            ("1", "Immediate On"),
            ("2", "Delayed On"),
            ("3", "Immediate Off"),
            ("4", "Immediate Reboot"),
            ("5", "Delayed Off"),
            ("6", "Delayed Reboot"),
            ("8", "Cancel Pending Commands"),
        ),
        "Success",
    ),
    "ap8xxx": Personality(
        "     v6.8.2",
        "RPDU 2g APP                      v6.8.0",
        "2016",
        False,
        (),
        "E000: Success",
        outlets=24,
        cli=True,
    ),
}
DEFAULT_MODEL = "ap9211"
MAX_OUTLETS = 48  # the largest command-line PDUs; the menus show at most 8

ESC = "\x1b"
INTR = "\x03"
ACTIONS = {
    "Immediate On": ON,
    "Delayed On": ON,
    "Immediate Off": OFF,
    "Delayed Off": OFF,
    "Immediate Reboot": "reboot",
    "Delayed Reboot": "reboot",
    "Cancel Pending Commands": "cancel",
}
MAX_LOGIN_FAILURES = 3

# -- device text --------------------------------------------------------------------------------
CLIENT_BANNER = "Trying {host}...\r\nConnected to {host}.\r\nEscape character is '^]'.\r\n"
ASK_USER = "\r\nUser Name : "
ASK_PASSWORD = "\r\nPassword  : "
BANNER = (
    "\r\n\r\nAmerican Power Conversion               Network Management Card AOS {aos}\r\n"
    "(c) Copyright {year} All Rights Reserved  {app}\r\n"
)
RULE = "-" * 80


def _title(text: str) -> str:
    head = f"------- {text} "
    return "\r\n" + head + RULE[: max(3, 69 - len(head))] + "\r\n\r\n"


FOOTER = "\r\n     <ESC>- Back, <ENTER>- Refresh\r\n> "
ROW = "{n:6d}- {name:<23} {state}\r\n"
ITEM = "{n:6d}- {label}\r\n"
CONFIRM = "\r\n  -----\r\n  {label}\r\n\r\n  Enter 'YES' to continue or <ENTER> to cancel : "
DONE = "\r\n  {success}\r\n\r\n  Press <ENTER> to continue..."
CANCELLED = "\r\n  Command cancelled.\r\n\r\n  Press <ENTER> to continue..."
BYE = "\r\n\r\nConnection Closed - Bye\r\n"

# The AOS command line (ap8xxx)
CLI_HEADER = (
    "-------------------------------------------------------------------------------\r\n"
    "Name      : RackPDU                                   Date : 01/01/2026\r\n"
    "Contact   : Unknown                                   Time : 00:00:00\r\n"
    "Location  : Unknown                                   User : Administrator\r\n"
    "Up Time   : 0 Days 1 Hour 0 Minutes                   Stat : P+ N4+ N6+ A+\r\n"
    "\r\nType ? for command listing\r\n"
    "Use tcpip command for IP address(-i), subnet(-s), and gateway(-g)\r\n"
)
CLI_PROMPT = "\r\napc>"
CLI_OK = "E000: Success\r\n"
CLI_UNKNOWN = "E101: Command Not Found\r\n"
CLI_BAD_PARAMETER = "E102: Parameter Error\r\n"
CLI_ROW = " {n}: {name}: {state}\r\n"
CLI_HELP = (
    "System Commands:\r\n"
    "---------------------------------------------------------------------------\r\n"
    "?         about     bye       exit      help      quit      whoami\r\n\r\n"
    "Device Commands:\r\n"
    "---------------------------------------------------------------------------\r\n"
    "olOff     olOn      olReboot  olStatus\r\n"
)
CLI_BYE = "Bye.\r\n"


# ---------------------------------------------------------------------------------------------
# Key-level input on a telnet connection (also used by the WTI mock)

IAC, DONT, DO, WONT, WILL, SB, SE, IP, BRK = 255, 254, 253, 252, 251, 250, 240, 244, 243
OPT_ECHO, OPT_SGA = 1, 3


class ConsoleDecoder:
    """Strips telnet commands like stonith.transport.telnet.TelnetDecoder, for a device that offers
    ECHO and SGA: ``DO`` of an offered option is agreement (no answer), any other ``DO`` is refused
    with ``WONT``, ``WILL`` with ``DONT``; ``IAC IP`` and ``IAC BRK`` become Ctrl-C (an interactive
    telnet program sends them for ^C).  Answers go out through ``send`` at once, never through the
    data path, so they are not IAC-escaped as data.
    """

    def __init__(self, send: Callable[[bytes], None], offered: frozenset[int]) -> None:
        self._send = send
        self._offered = offered
        self._state = 0  # 0 data, 1 IAC, 2 option, 3 SB, 4 SB IAC
        self._command = 0
        self.replies = bytearray()  # always empty: SocketChannel reads it

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        answers = bytearray()
        for byte in data:
            state = self._state
            if state == 0:
                if byte == IAC:
                    self._state = 1
                else:
                    out.append(byte)
            elif state == 1:
                self._state = 0
                if byte == IAC:
                    out.append(IAC)
                elif byte in (DO, DONT, WILL, WONT):
                    self._command, self._state = byte, 2
                elif byte == SB:
                    self._state = 3
                elif byte in (IP, BRK):
                    out.append(0x03)
            elif state == 2:
                self._state = 0
                if self._command == DO and byte not in self._offered:
                    answers += bytes((IAC, WONT, byte))
                elif self._command == WILL:
                    answers += bytes((IAC, DONT, byte))
            elif state == 3:
                if byte == IAC:
                    self._state = 4
            else:
                self._state = 0 if byte == SE else 3
        if answers:
            self._send(bytes(answers))
        return bytes(out)


class Console:
    """Input as the device's firmware sees it: whole lines, ESC and Ctrl-C keys.

    Wraps the shared channel (output, faults and session limits stay there).  On a telnet
    connection it can offer ECHO and SGA so that telnet programs send characters as typed.
    """

    def __init__(self, channel: Channel, *, negotiate: bool) -> None:
        self.channel = channel
        self._keys: list[str] = []
        self._partial = bytearray()
        self._after_cr = 0  # 1: just saw CR; 2: saw CR NUL
        sock = getattr(channel, "_sock", None)
        if sock is not None and hasattr(channel, "_decoder"):

            def send(data: bytes) -> None:
                with contextlib.suppress(OSError):  # the read path notices a dead peer
                    sock.sendall(data)

            offered = frozenset((OPT_ECHO, OPT_SGA)) if negotiate else frozenset()
            channel._decoder = ConsoleDecoder(send, offered)
            if negotiate:
                send(bytes((IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA)))

    def key(self) -> str:
        """The next input: a line (without its end), ESC or INTR."""
        channel = self.channel
        while not self._keys:
            if channel.stop.is_set():
                raise Hangup("stopping")
            data = channel._read(POLL)
            if data is None:
                raise Hangup("EOF")
            self._split(data)
        return self._keys.pop(0)

    def line(self) -> str:
        """The next line; keys other than lines are skipped."""
        while True:
            key = self.key()
            if key not in (ESC, INTR):
                return key

    def _split(self, data: bytes) -> None:
        for byte in data:
            if self._after_cr:
                if byte == 0x00 and self._after_cr == 1:
                    self._after_cr = 2
                    continue
                self._after_cr = 0
                if byte == 0x0A:
                    continue  # CR LF or CR NUL LF: one end of line
            if byte in (0x0D, 0x0A):
                self._after_cr = 1 if byte == 0x0D else 0
                self._keys.append(self._partial.decode("latin-1"))
                self._partial.clear()
            elif byte in (0x1B, 0x03):
                self._partial.clear()
                self._keys.append(chr(byte))
            elif byte in (0x08, 0x7F):
                del self._partial[-1:]
            elif byte >= 0x20 or byte == 0x09:
                self._partial.append(byte)


def serve(channel: Channel, console: Console, body: Callable[[], None]) -> None:
    """Run a session body; a silenced channel (hung device) swallows input until the peer leaves."""
    try:
        body()
    except Hangup:
        if channel.silenced:
            channel.wait_closed()
            channel.silenced = False  # the shared runner must not wait a second time


# ---------------------------------------------------------------------------------------------
# The device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("apcmaster")
    group.add_argument(
        "--reboot-delay",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds an outlet stays off during Immediate Reboot (default 5)",
    )
    group.add_argument(
        "--client-banner",
        action="store_true",
        help="print a telnet client's 'Escape character is' lines first (NOT device text: only for "
        "driving cluster-glue's apcmaster plugin, which waits for them)",
    )
    group.add_argument(
        "--negotiate",
        dest="negotiate",
        action="store_true",
        default=True,
        help="offer telnet WILL ECHO / WILL SGA on connect (default)",
    )
    group.add_argument("--no-negotiate", dest="negotiate", action="store_false", help="plain text only")
    _ssh.add_arguments(group)


def run(config: MockConfig, *, listen: str | None, serial_link: str | None) -> Any:
    """Serve over telnet or a pty, or over SSH with ``--ssh`` (stonith.mocks._ssh)."""
    return _ssh.run(create(config), listen=listen, serial_link=serial_link)


def default_names(model: str, count: int) -> list[str]:
    return [f"Outlet {n}" for n in range(1, count + 1)]


def default_outlets(model: str) -> int:
    return MODELS[model].outlets


def create(config: MockConfig) -> MockDevice:
    if MODELS[config.model].cli:
        if len(config.names) > MAX_OUTLETS:
            raise ValueError(f"a rack PDU has at most {MAX_OUTLETS} outlets")
    elif len(config.names) > 8:
        raise ValueError("a MasterSwitch has at most 8 outlets")
    return ApcMaster(config)


class ApcMaster(MockDevice):
    def __init__(self, config: MockConfig) -> None:
        config.names = [name[:23] for name in config.names]
        super().__init__(config)
        self.personality = MODELS[config.model]
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        super().close()

    def session(self, channel: Channel) -> None:
        console = Console(channel, negotiate=bool(self.config.options.get("negotiate", True)))
        serve(channel, console, lambda: self._session(channel, console))

    # -- login -------------------------------------------------------------------------------------
    def _session(self, channel: Channel, console: Console) -> None:
        if self.config.options.get("client_banner"):
            channel.write(CLIENT_BANNER.format(host="127.0.0.1"))
        if channel.login is None and not self._login(channel, console):
            return  # (over SSH the user has logged in already)
        p = self.personality
        channel.write(BANNER.format(aos=p.aos, year=p.copyright_year, app=p.app))
        if p.cli:
            self._command_line(channel, console)
            return
        stack = ["main"]
        channel.write(self._screen(stack))
        while True:
            key = console.key()
            if key == ESC:
                if len(stack) > 1:
                    stack.pop()
            elif key == INTR:
                del stack[1:]
            elif key.strip() == "":
                pass  # <ENTER>- Refresh
            elif not self._select(channel, console, stack, key.strip()):
                return
            channel.write(self._screen(stack))

    def _login(self, channel: Channel, console: Console) -> bool:
        config = self.config
        for _ in range(MAX_LOGIN_FAILURES):
            channel.write(ASK_USER)
            user = console.line().strip()
            channel.write(ASK_PASSWORD)
            password = console.line()
            if user == config.username and password == config.password and not config.faults.refuse_login:
                return True
        return False

    # -- the command line (ap8xxx) -----------------------------------------------------------------
    def _command_line(self, channel: Channel, console: Console) -> None:
        channel.write(CLI_HEADER + CLI_PROMPT)
        while True:
            key = console.key()
            if key in (ESC, INTR):
                channel.write(CLI_PROMPT)
                continue
            channel.write(key + "\r\n")  # the line editor's echo
            words = key.split()
            command = words[0].lower() if words else ""
            if command in ("exit", "quit", "bye"):
                channel.write(CLI_BYE)
                return
            channel.write(self._cli_answer(command, " ".join(words[1:])) + CLI_PROMPT)

    def _cli_answer(self, command: str, argument: str) -> str:
        if command == "":
            return ""
        if command in ("?", "help"):
            return CLI_HELP
        if command not in ("olstatus", "olon", "oloff", "olreboot"):
            return CLI_UNKNOWN
        targets = self._cli_outlets(argument)
        if targets is None:
            return CLI_BAD_PARAMETER
        if command == "olstatus":
            names = self.outlets.names
            return CLI_OK + "".join(
                CLI_ROW.format(n=n, name=names[n - 1], state=self._state(n).capitalize()) for n in targets
            )
        for n in targets:
            if command == "olreboot":
                self._reboot(n)
            else:
                self.outlets.switch(n, ON if command == "olon" else OFF)
        return CLI_OK

    def _cli_outlets(self, argument: str) -> list[int] | None:
        """Outlet numbers of ``all``, ``3``, ``1-4``, ``1,3,5`` or names; None if any item is wrong."""
        count = len(self.outlets)
        found: list[int] = []
        for item in (x.strip() for x in argument.split(",")):
            first, dash, last = item.partition("-")
            if item.lower() == "all":
                found += range(1, count + 1)
            elif item.isdigit() and 1 <= int(item) <= count:
                found.append(int(item))
            elif dash and first.isdigit() and last.isdigit() and 1 <= int(first) <= int(last) <= count:
                found += range(int(first), int(last) + 1)
            else:
                named = [n for n, name in enumerate(self.outlets.names, 1) if name.lower() == item.lower()]
                if not item or not named:
                    return None
                found += named
        return list(dict.fromkeys(found))

    # -- menus -------------------------------------------------------------------------------------
    # The stack holds screen keys: "main", "dm", "switch", "outlet:N", "control:N" (N = 1..8 or "all").

    def _select(self, channel: Channel, console: Console, stack: list[str], choice: str) -> bool:
        """Act on a menu selection; False when the session ends."""
        top = stack[-1]
        kind, _, arg = top.partition(":")
        if kind == "main":
            if choice == "1":
                stack.append("dm")
            elif choice == "4":
                channel.write(BYE)
                return False
        elif kind == "dm" and self.personality.switch_level:
            if choice == "1":
                stack.append("switch")
        elif kind in ("dm", "switch"):
            if choice.isdigit() and 1 <= int(choice) <= len(self.outlets):
                stack.append(f"outlet:{int(choice)}")
            elif choice == "9":
                stack.append("outlet:all")
        elif kind == "outlet":
            if choice == "1":
                stack.append(f"control:{arg}")
        elif kind == "control":
            label = dict(self.personality.actions).get(choice)
            if label is not None:
                self._control(channel, console, arg, label)
        return True

    def _control(self, channel: Channel, console: Console, arg: str, label: str) -> None:
        channel.write(CONFIRM.format(label=label))
        if console.line().strip() != "YES":
            channel.write(CANCELLED)
        else:
            targets = list(range(1, len(self.outlets) + 1)) if arg == "all" else [int(arg)]
            action = ACTIONS[label]
            for n in targets:
                if action == "reboot":
                    self._reboot(n)
                elif action in (ON, OFF):
                    self.outlets.switch(n, action)
            channel.write(DONE.format(success=self.personality.success))
        console.line()  # Press <ENTER> to continue...

    def _reboot(self, n: int) -> None:
        if self.outlets.shown(n) != ON:
            return
        self.outlets.switch(n, OFF)
        timer = threading.Timer(
            float(self.config.options.get("reboot_delay", 5.0)), self.outlets.switch, (n, ON)
        )
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _state(self, n: int) -> str:
        return "ON" if self.outlets.shown(n) == ON else "OFF"

    def _outlet_rows(self) -> str:
        rows = "".join(
            ROW.format(n=n, name=name, state=self._state(n)) for n, name in enumerate(self.outlets.names, 1)
        )
        return rows + "\r\n" + ITEM.format(n=9, label="Master Control/Configuration")

    def _screen(self, stack: list[str]) -> str:
        kind, _, arg = stack[-1].partition(":")
        if kind == "main":
            body = _title("Control Console") + "".join(
                ITEM.format(n=n, label=label)
                for n, label in enumerate(("Device Manager", "Network", "System", "Logout"), 1)
            )
        elif kind == "dm" and self.personality.switch_level:
            body = _title("Device Manager") + ITEM.format(n=1, label="MasterSwitch plus 1")
        elif kind in ("dm", "switch"):
            title = "MasterSwitch plus 1" if kind == "switch" else "Device Manager"
            body = _title(title) + self._outlet_rows()
        elif kind == "outlet":
            body = _title("Master Control" if arg == "all" else f"Outlet {arg}") + self._details(arg)
            body += (
                "\r\n" + ITEM.format(n=1, label="Control Outlet") + ITEM.format(n=2, label="Configure Outlet")
            )
        else:
            body = _title("Control Outlet") + self._details(arg) + "\r\n"
            body += "".join(ITEM.format(n=int(n), label=label) for n, label in self.personality.actions)
        return body + FOOTER

    def _details(self, arg: str) -> str:
        if arg == "all":
            return "     Name         : All Outlets\r\n"
        n = int(arg)
        return (
            f"     Name         : {self.outlets.names[n - 1]}\r\n"
            f"     Outlet       : {n}\r\n"
            f"     State        : {self._state(n)}\r\n"
        )

"""WTI network power switches, device end: the telnet command line (``/S``, ``/ON``, ``/BOOT`` ...).

Personalities (``--model``):

    nps   NPS-115, firmware v3.02: ``Network Power Switch v3.02`` banner, 8 plugs, ``NPS>`` prompt,
          status table `` Plug | Name | Status | Boot Delay | Default |`` (the text of
          device-dialogues.md section 4.1, which cluster-glue's ``wti_nps`` and PowerMan's
          ``wti.dev`` accept)
    ips   IPS-800, firmware v1.40h: ``Internet Power Switch v1.40h``, 8 plugs, ``IPS>`` prompt, table
          ``Plug | Name | Password | Status | Boot/Seq. Delay |`` starting in column 0 and shown
          again after every command (the IPS User's Guide; fence-agents' ``fence_wti`` names this
          unit as tested and only finds a header that starts with ``Plug``)
    tps   TPS-2, firmware v1.10: ``Telnet Power Switch``, 2 plugs, ``TPS>`` prompt, NPS layout

Transports: telnet (default), or SSH with ``--ssh`` (and ``--host-key FILE``): the login then
happens in SSH (user ``--username``, ``--password``) and the session starts at the status screen
(stonith.mocks._ssh), as fence-agents' ``fence_wti --ssh`` expects.

Login: ``Enter Password: `` (no prompt when the mock's password is empty); a wrong one prints
``Invalid password`` and asks again, the third failure disconnects.  Commands (case-insensitive):
``/H`` help, ``/S`` status, ``/ON``, ``/OFF``, ``/BOOT`` (also ``/BO``) with plugs given as numbers
or names separated by spaces or ``+``, ``A:B`` ranges or ``*``, optionally followed by ``,Y``
(confirmed in advance), and ``/X`` (logout, ``Disconnecting...``).  With command confirmation on
(default; ``--no-confirm`` is PowerMan's required setting) a command without ``,Y`` asks
``Sure? (Y/N): ``.  A switching command prints ``Processing - please wait ...`` and returns its
prompt only when done: ``/BOOT`` keeps an outlet that is on off for ``--reboot-delay`` seconds
(default 5), then on; an outlet that is off is switched on.

Choices where the documents are silent (so a real unit may differ):
    - Telnet negotiation and line ends as in the APC mock (stonith.mocks.apcmaster.Console): WILL
      ECHO and WILL SGA on connect, no echo; ``--no-negotiate`` sends plain text.
    - An unknown command prints ``Invalid Command``; a plug that does not exist ``Invalid Plug``;
      in both cases nothing is switched.  The status table has a closing rule line (PowerMan's
      ``wti.dev`` waits for a second ``+`` line after the plugs).
    - Plug names are cut to 16 characters (the name column).
"""

from __future__ import annotations

from dataclasses import dataclass

from stonith.mocks import _ssh
from stonith.mocks._common import OFF, ON, Channel, MockConfig, MockDevice
from stonith.mocks.apcmaster import Console, serve

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


@dataclass(frozen=True)
class Personality:
    title: str  # banner text, "... vX.YY"
    prompt: str
    outlets: int
    ips_layout: bool  # IPS table (header in column 0, password column, shown after commands)


MODELS: dict[str, Personality] = {
    "nps": Personality("Network Power Switch v3.02", "NPS> ", 8, False),
    "ips": Personality("Internet Power Switch v1.40h", "IPS> ", 8, True),
    "tps": Personality("Telnet Power Switch v1.10", "TPS> ", 2, False),
}
DEFAULT_MODEL = "nps"
MAX_LOGIN_FAILURES = 3

ASK_PASSWORD = "\r\nEnter Password: "
BAD_PASSWORD = "\r\nInvalid password\r\n"
BANNER = "\r\n\r\n    {title}         Site ID: (undefined)\r\n\r\n"
NPS_HEADER = " Plug | Name             | Status | Boot Delay | Default |\r\n"
NPS_RULE = "------+------------------+--------+------------+---------+\r\n"
NPS_ROW = "  {n:<4}| {name:<16.16} |  {state:^4}  |   0.5 Secs |   ON    |\r\n"
IPS_HEADER = "Plug | Name             | Password    | Status | Boot/Seq. Delay |\r\n"
IPS_RULE = "-----+------------------+-------------+--------+-----------------+\r\n"
IPS_ROW = " {n:<4}| {name:<16.16} | (undefined) |  {state:^4}  |     5 Secs      |\r\n"
HELP = (
    "\r\n\r\n    {title}\r\n\r\n"
    "    /S           Display Plug Status          /H           Display Help Screen\r\n"
    "    /BOOT <n>    Boot Plug n                  /X           Exit / Disconnect\r\n"
    "    /ON <n>      Turn Plug n On               /OFF <n>     Turn Plug n Off\r\n"
    "\r\n    <n> = plug number or name, several separated by '+' or blanks, '*' = all plugs\r\n"
    "          add ',Y' to skip the Sure? prompt\r\n"
)
SURE = "\r\n Sure? (Y/N): "
PROCESSING = "\r\n   Processing - please wait ...\r\n"
ABORTED = "\r\n   Command Aborted\r\n"
INVALID_COMMAND = "\r\n   Invalid Command\r\n"
INVALID_PLUG = "\r\n   Invalid Plug\r\n"
BYE = "\r\nDisconnecting...\r\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("wti_nps")
    group.add_argument(
        "--confirm", dest="confirm", action="store_true", default=True, help="ask Sure? (Y/N) (default)"
    )
    group.add_argument(
        "--no-confirm",
        dest="confirm",
        action="store_false",
        help="command confirmation off (PowerMan's wti.dev needs this)",
    )
    group.add_argument(
        "--reboot-delay",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds a plug stays off during /BOOT (default 5)",
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
    return ["(undefined)"] * count


def default_outlets(model: str) -> int:
    return MODELS[model].outlets


def create(config: MockConfig) -> MockDevice:
    if len(config.names) > 16:
        raise ValueError("this WTI mock serves at most 16 plugs")
    return WtiNps(config)


class WtiNps(MockDevice):
    def __init__(self, config: MockConfig) -> None:
        config.names = [name[:16] for name in config.names]
        super().__init__(config)
        self.personality = MODELS[config.model]

    @property
    def opt(self) -> dict[str, object]:
        return self.config.options

    def session(self, channel: Channel) -> None:
        console = Console(channel, negotiate=bool(self.opt.get("negotiate", True)))
        serve(channel, console, lambda: self._session(channel, console))

    def _session(self, channel: Channel, console: Console) -> None:
        p = self.personality
        if not self._login(channel, console):
            channel.write(BYE)
            return
        channel.write(BANNER.format(title=p.title) + self._table() + "\r\n" + p.prompt)
        while True:
            line = console.line().strip()
            command, _, rest = line.partition(" ")
            command = command.lower()
            confirmed = False
            if "," in command:  # "/x,y" has no blank before the comma
                command, _, suffix = command.partition(",")
                confirmed = suffix.strip().lower() == "y"
            elif rest.rstrip().lower().endswith(",y"):
                rest, confirmed = rest.rstrip()[:-2], True
            if command == "":
                out = ""
            elif command == "/x":
                channel.write(BYE)
                return
            elif command == "/h":
                out = HELP.format(title=p.title)
            elif command == "/s":
                out = "\r\n" + self._table()
            elif command in ("/on", "/off", "/boot", "/bo"):
                out = self._switch(channel, console, command, rest, confirmed)
            else:
                out = INVALID_COMMAND
            channel.write(out + "\r\n" + p.prompt)

    def _login(self, channel: Channel, console: Console) -> bool:
        config = self.config
        if channel.login is not None:
            return True  # logged in by SSH
        if not config.password and not config.faults.refuse_login:
            return True
        for _ in range(MAX_LOGIN_FAILURES):
            channel.write(ASK_PASSWORD)
            if console.line() == config.password and not config.faults.refuse_login:
                return True
            channel.write(BAD_PASSWORD)
        return False

    def _plugs(self, text: str) -> list[int] | None:
        """Plug numbers of a plug list; None if any item is not a plug."""
        count = len(self.outlets)
        found: list[int] = []
        for item in text.replace("+", " ").split():
            if item == "*":
                found += range(1, count + 1)
            elif ":" in item:
                first, _, last = item.partition(":")
                if not (first.isdigit() and last.isdigit() and 1 <= int(first) <= int(last) <= count):
                    return None
                found += range(int(first), int(last) + 1)
            elif item.isdigit() and 1 <= int(item) <= count:
                found.append(int(item))
            else:
                named = [n for n, name in enumerate(self.outlets.names, 1) if name.lower() == item.lower()]
                if not named or item.lower() == "(undefined)":
                    return None
                found += named
        return list(dict.fromkeys(found)) or None

    def _switch(self, channel: Channel, console: Console, command: str, rest: str, confirmed: bool) -> str:
        plugs = self._plugs(rest)
        if plugs is None:
            return INVALID_PLUG
        if self.opt.get("confirm", True) and not confirmed:
            channel.write(SURE)
            if not console.line().strip().lower().startswith("y"):
                return ABORTED
        channel.write(PROCESSING)
        if command in ("/on", "/off"):
            for n in plugs:
                self.outlets.switch(n, ON if command == "/on" else OFF)
        else:
            were_on = [n for n in plugs if self.outlets.shown(n) == ON]
            for n in were_on:
                self.outlets.switch(n, OFF)
            if were_on:
                channel.sleep(float(self.opt.get("reboot_delay", 5.0)))  # type: ignore[arg-type]
            for n in plugs:
                self.outlets.switch(n, ON)
        return "\r\n" + self._table() if self.personality.ips_layout else ""

    def _table(self) -> str:
        ips = self.personality.ips_layout
        header, rule, row = (IPS_HEADER, IPS_RULE, IPS_ROW) if ips else (NPS_HEADER, NPS_RULE, NPS_ROW)
        rows = "".join(
            row.format(n=n, name=name, state="ON" if self.outlets.shown(n) == ON else "OFF")
            for n, name in enumerate(self.outlets.names, 1)
        )
        return header + rule + rows + rule

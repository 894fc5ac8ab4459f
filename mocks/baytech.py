"""BayTech RPC power controllers, device end: telnet menus (RPC-3/3A/5) and command line (NC).

Personalities (``--model``):

    rpc3      RPC-3, firmware F 5.01: banner, username+password (or password only), main menu,
              Outlet Control with a 10-column name field, (Y/N) confirmations
    rpc3a     RPC-3A: as rpc3, ``RPC-3A`` in banner, menu and prompt
    rpc5      RPC-5: as rpc3 with an 18-column name field; the status table follows the
              ``Internal Temperature:`` line directly (cluster-glue's table token for RPC-5)
    rpc3-nc   RPC3-NC, firmware F4.00: no login, ``RPC3-NC>`` prompt, ``status``/``on N``/``off N``/
              ``reboot N`` with a countdown; no confirmations (PowerMan's required setting)
    rpc28-nc  RPC-28, firmware F3.01: as rpc3-nc with 20 outlets in two columns and a prompt that
              alternates between ``RPC-28A>`` and ``RPC-28>``

Byte for byte as documented in device-dialogues.md section 2 (CRLF line ends everywhere, prompts
without a newline, no echo of input), so Debian's cluster-glue ``baytech`` plugin and PowerMan's
``baytech.dev`` / ``baytech-rpc3-nc.dev`` / ``baytech-rpc28-nc.dev`` scripts run against it
unmodified.  Input lines may end in CR, CR LF, CR NUL or LF; commands are case-insensitive.

Choices where the documents are silent (so a real unit may differ):
    - A wrong username re-prompts ``Enter username>`` (the answer cluster-glue treats as an invalid
      user); a wrong password prints ``Invalid password.`` and restarts the login; the third
      failure closes the connection.
    - A second connection while a session is open is accepted and closed without a byte
      (``--sessions N`` raises the limit; cluster-glue's ``-T on|off`` needs 2).
    - Main-menu entries 2-5 answer ``Input error.``; ``reboot`` of an outlet that is off prints
      ``already off.`` on the menu firmware and leaves it off silently on NC firmware.
    - On a serial line the device idles until a byte arrives, then prints its banner.
    - The RPC-5's banner and screens are the RPC-3's with ``RPC-5`` and the wider name field.

Device flags: ``--confirm``/``--no-confirm`` (menu models; default on), ``--password-only`` (no
username prompt: PowerMan's ``baytech.dev`` assumes this), ``--reboot-delay S`` (off time of a
``reboot``, default 5), ``--unit-id ID``.
"""

from __future__ import annotations

from dataclasses import dataclass

from stonith.mocks._common import OFF, ON, Channel, MockConfig, MockDevice

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


@dataclass(frozen=True)
class Personality:
    title: str  # as printed in banner, menu title and prompt
    menus: bool  # login + menus (F 5.0x) or the NC command line
    name_width: int  # outlet-name field of the status table
    outlets: int  # outlets of the unit
    prompts: tuple[str, ...]  # NC firmware alternates prompts (RPC-28)
    banner: str = ""


_NC_OPTIONS = "Option(s) Installed:\r\nTrue RMS Current\r\nInternal Temperature\r\nTrue RMS Voltage\r\n\r\n"

MODELS: dict[str, Personality] = {
    "rpc3": Personality("RPC-3", True, 10, 8, ("  RPC-3>",)),
    "rpc3a": Personality("RPC-3A", True, 10, 8, ("  RPC-3A>",)),
    "rpc5": Personality("RPC-5", True, 18, 6, ("  RPC-5>",)),
    "rpc3-nc": Personality(
        "RPC3-NC",
        False,
        16,
        8,
        ("RPC3-NC>",),
        "\r\n\r\nRPC3-NC Series\r\n(C) 2002 by BayTech\r\nF4.00\r\n\r\n" + _NC_OPTIONS,
    ),
    "rpc28-nc": Personality(
        "RPC-28",
        False,
        16,
        20,
        ("RPC-28A>", "RPC-28>"),
        "\r\n\r\nRPC-28 Series\r\n(C) 2000 by BayTech\r\nF3.01\r\n\r\n" + _NC_OPTIONS,
    ),
}
DEFAULT_MODEL = "rpc3"

# -- menu firmware (F 5.01) texts ---------------------------------------------------------------
WELCOME = (
    "\r\n\r\n        {title} Telnet Host\r\n    Revision F 5.01, (C) 2001 \r\n"
    "    Bay Technical Associates\r\n    Unit ID: {unit_id}\r\n\r\n"
)
ASK_USER = "\r\n    Enter username>"
ASK_PASSWORD = "\r\n    Enter password>"
BAD_PASSWORD = "\r\n    Invalid password.\r\n"
OPTIONS = "\r\n  Option(s) installed:\r\n  True RMS Current\r\n\r\n"
MENU = (
    "\r\n  {title} Menu:\r\n\r\n    1)...Outlet Control\r\n    2)...Manage Users\r\n"
    "    3)...Configuration\r\n    4)...Unit Status\r\n    5)...Reset Unit\r\n    6)...Logout\r\n"
    "\r\n  Enter Selection>"
)
SCREEN_TOP = "\r\n  True RMS current:  1.7 Amps\r\n  Maximum Detected:  2.5 Amps\r\n\r\n"
TEMPERATURE = "  Internal Temperature: 32.0 C\r\n"
BREAKER = "  Circuit Breaker: On \r\n"
HEADER = "  Selection   {outlet:<{w}}Outlet   Power\r\n    Number     {name:<{w}}Number   Status\r\n"
ROW = "{n:7d}       {name:<{w}.{w}}  {n}       {state:<3} \r\n"
SCREEN_END = '\r\n  Type "Help" for a list of commands\r\n\r\n'
INPUT_ERROR = "\r\n  Input error.\r\n\r\n"
CONFIRM = "\r\n  {verb} {n}? (Y/N)>"
ALREADY_OFF = "\r\n  Outlet {n} is already off.\r\n"
REBOOTING = "\r\n  Rebooting selected outlet(s)...\r\n"
POWER_APPLIED = "  Power applied to outlet {n}.\r\n"
MAX_LOGIN_FAILURES = 3

# -- NC firmware texts --------------------------------------------------------------------------
NC_STATUS_TOP = {
    "RPC3-NC": (
        "\r\n\r\n   Average Power:     338 Watts\r\nTrue RMS Voltage:   120.9 Volts\r\n"
        "True RMS Current:     2.9 Amps\r\nMaximum Detected:     4.3 Amps\r\n"
        " Circuit Breaker:       Good\r\n\r\nInternal Temperature:  40.0 C\r\n\r\n\r\n"
    ),
    "RPC-28": (
        "\r\n                    Outlet  1-10         Outlet 11-21 \r\n"
        "   Average Power:     619 Watts     :        5 Watts \r\n"
        "True RMS Voltage:   117.9 Volts     :    118.8 Volts \r\n"
        "True RMS Current:     5.4 Amps      :      0.1 Amps\r\n"
        "Maximum Detected:     6.9 Amps      :      2.8 Amps\r\n"
        " Circuit Breaker:       Good        :        Good  \r\n\r\n"
        "Internal Temperature:  30.0 C\r\n\r\n\r\n"
    ),
}
NC_CELL = "{n:2d})...{name:<16.16}: {state:<3}          "
NC_COLUMNS = {"RPC3-NC": 1, "RPC-28": 2}
NC_STATUS_END = '\r\nType "Help" for a list of commands\r\n\r\n'
NC_INPUT_ERROR = "Input error\r\n\r\n"
NC_REBOOTING = "\r\nRebooting...  "
NC_LOGOUT = ("logout", "logoff", "exit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("baytech")
    group.add_argument(
        "--confirm",
        dest="confirm",
        action="store_true",
        default=True,
        help="ask (Y/N) before on/off/reboot (menu models; default)",
    )
    group.add_argument(
        "--no-confirm",
        dest="confirm",
        action="store_false",
        help="command confirmation disabled (PowerMan's baytech.dev needs this)",
    )
    group.add_argument(
        "--password-only",
        action="store_true",
        help="ask only for a password (PowerMan's baytech.dev assumes this)",
    )
    group.add_argument(
        "--reboot-delay",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds an outlet stays off during 'reboot' (default 5)",
    )
    group.add_argument("--unit-id", default="BT-LAB-1", help="unit id shown in the banner")


def default_names(model: str, count: int) -> list[str]:
    if MODELS[model].menus:
        return [f"Outlet {n}" for n in range(1, count + 1)]
    return [f"Outlet {n:2d}" for n in range(1, count + 1)]


def default_outlets(model: str) -> int:
    return MODELS[model].outlets


def create(config: MockConfig) -> MockDevice:
    personality = MODELS[config.model]
    if not personality.menus and config.faults.refuse_login:
        raise ValueError("refuse-login needs a model with a login (rpc3, rpc3a, rpc5)")
    return Baytech(config)


class Baytech(MockDevice):
    def __init__(self, config: MockConfig) -> None:
        self.personality = MODELS[config.model]
        width = self.personality.name_width
        config.names = [name[:width] for name in config.names]
        super().__init__(config)
        self._prompt_turn = 0
        # Each row of the status table as it reads On and Off, for the names it was made for: a
        # table is printed after every command (a reset of 24 outlets prints about 20), and
        # formatting its rows each time was most of the mock's CPU, which competes with the
        # client's on a lab machine (real hardware brings its own processor).
        self._rows: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] = ((), ())

    @property
    def opt(self) -> dict[str, object]:
        return self.config.options

    def session(self, channel: Channel) -> None:
        if self.personality.menus:
            self._menu_session(channel)
        else:
            self._nc_session(channel)

    # -- helpers -------------------------------------------------------------------------------
    def _targets(self, argument: str) -> list[int] | None:
        """Outlets addressed by ``N`` (0 = all); None if not an outlet number."""
        argument = argument.strip()
        if argument.lower() == "all":
            argument = "0"
        if not argument.isdigit():
            return None
        n = int(argument)
        if n == 0:
            return list(range(1, len(self.outlets) + 1))
        return [n] if n <= len(self.outlets) else None

    def _reboot(self, channel: Channel, targets: list[int], countdown: bool) -> list[int]:
        """Off, wait the reboot delay (printing a countdown on NC firmware), on again."""
        were_on = [n for n in targets if self.outlets.shown(n) == ON]
        for n in were_on:
            self.outlets.switch(n, OFF)
        delay = float(self.opt.get("reboot_delay", 5.0))  # type: ignore[arg-type]
        if countdown:
            for digit in range(9, -1, -1):
                channel.sleep(delay / 10)
                channel.write(str(digit))
        else:
            channel.sleep(delay)
        for n in were_on:
            self.outlets.switch(n, ON)
        return were_on

    def _confirmed(self, channel: Channel, verb: str, argument: str) -> bool:
        if not self.opt.get("confirm", True):
            return True
        channel.write(CONFIRM.format(verb=verb, n=argument))
        return channel.readline().strip().lower().startswith("y")

    # -- menu firmware -------------------------------------------------------------------------
    def _menu_session(self, channel: Channel) -> None:
        title = self.personality.title
        channel.write(WELCOME.format(title=title, unit_id=self.opt.get("unit_id", "BT-LAB-1")))
        if not self._login(channel):
            return
        channel.write(OPTIONS + MENU.format(title=title))
        in_menu = True
        while True:
            line = channel.readline().strip()
            command = line.lower()
            if in_menu:
                if command == "1":
                    in_menu = False
                    channel.write(self._screen())
                elif command == "6":
                    return
                elif command == "":
                    channel.write(MENU.format(title=title))
                else:
                    channel.write(INPUT_ERROR + MENU.format(title=title))
                continue
            verb, _, argument = command.partition(" ")
            if command == "menu":
                in_menu = True
                channel.write(MENU.format(title=title))
            elif command in ("logout", "logoff", "exit"):
                return
            elif command in ("", "status"):
                channel.write(self._screen())
            elif verb in ("on", "off", "reboot") and (targets := self._targets(argument)) is not None:
                self._menu_switch(channel, verb, argument.strip(), targets)
            else:
                channel.write(INPUT_ERROR + self._screen())

    def _login(self, channel: Channel) -> bool:
        config = self.config
        password_only = bool(self.opt.get("password_only"))
        for _ in range(MAX_LOGIN_FAILURES):
            if not password_only:
                channel.write(ASK_USER)
                if channel.readline().strip() != config.username:
                    continue  # an unknown user is asked again (cluster-glue's "invalid user")
            channel.write(ASK_PASSWORD)
            if channel.readline() == config.password and not config.faults.refuse_login:
                return True
            channel.write(BAD_PASSWORD)
        return False

    def _menu_switch(self, channel: Channel, verb: str, argument: str, targets: list[int]) -> None:
        prompt = self.personality.prompts[0]
        if not self._confirmed(channel, verb.capitalize(), argument):
            channel.write(self._screen())
            return
        if verb == "reboot":
            if len(targets) == 1 and self.outlets.shown(targets[0]) == OFF:
                channel.write(ALREADY_OFF.format(n=targets[0]) + prompt)
                return
            channel.write(REBOOTING)
            done = self._reboot(channel, targets, countdown=False)
            channel.write("".join(POWER_APPLIED.format(n=n) for n in done) + prompt)
            return
        for n in targets:
            self.outlets.switch(n, ON if verb == "on" else OFF)
        channel.write(self._screen())

    def _screen(self) -> str:
        """The Outlet Control screen with the status table, ending in the prompt."""
        width = self.personality.name_width
        header = HEADER.format(outlet="Outlet", name="Name", w=width)
        names = tuple(self.outlets.names)
        if self._rows[0] != names:
            made = tuple(
                tuple(ROW.format(n=n, name=name, w=width, state=state) for state in ("On", "Off"))
                for n, name in enumerate(names, 1)
            )
            self._rows = (names, made)
        rows = "".join(
            row[0] if state == ON else row[1]
            for row, state in zip(self._rows[1], self.outlets.shown_all(), strict=True)
        )
        if width > 10:
            # RPC-5: cluster-glue's table token is "emperature: "; the table must follow that line.
            top = SCREEN_TOP + BREAKER + "\r\n" + TEMPERATURE
        else:
            top = SCREEN_TOP + TEMPERATURE + "\r\n" + BREAKER + "\r\n"
        return top + header + rows + SCREEN_END + self.personality.prompts[0]

    # -- NC firmware ---------------------------------------------------------------------------
    def _prompt(self) -> str:
        prompts = self.personality.prompts
        self._prompt_turn += 1
        return prompts[(self._prompt_turn - 1) % len(prompts)]

    def _nc_session(self, channel: Channel) -> None:
        channel.write(self.personality.banner + self._prompt())
        while True:
            command = channel.readline().strip().lower()
            verb, _, argument = command.partition(" ")
            if command in NC_LOGOUT:
                return
            if command == "":
                channel.write(self._prompt())
            elif command == "status":
                channel.write(self._nc_status() + self._prompt())
            elif verb in ("on", "off") and (targets := self._targets(argument)) is not None:
                for n in targets:
                    self.outlets.switch(n, ON if verb == "on" else OFF)
                channel.write(self._prompt())
            elif verb == "reboot" and (targets := self._targets(argument)) is not None:
                channel.write(NC_REBOOTING)
                self._reboot(channel, targets, countdown=True)
                channel.write("\r\n" + self._prompt())
            else:
                channel.write(NC_INPUT_ERROR + self._prompt())

    def _nc_status(self) -> str:
        title = self.personality.title
        columns = NC_COLUMNS[title]
        shown = zip(self.outlets.names, self.outlets.shown_all(), strict=True)
        cells = [
            NC_CELL.format(n=n, name=name, state="On" if state == ON else "Off")
            for n, (name, state) in enumerate(shown, 1)
        ]
        lines = ("".join(cells[i : i + columns]) + "\r\n" for i in range(0, len(cells), columns))
        return NC_STATUS_TOP[title] + "".join(lines) + NC_STATUS_END

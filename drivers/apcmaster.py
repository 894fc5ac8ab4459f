"""apcmaster: APC MasterSwitch power switches and switched rack PDUs, over the console of their network card.

Family: APC MasterSwitch (AP9211-class), MasterSwitch Plus (AP9225), and switched rack PDUs with
the AOS command line (AP79xx / AP86xx / AP88xx / AP89xx, firmware 5 and later).
Transport: telnet (TCP, default port 23), or SSH (``ssh = true``, default port 22: the system's ssh
client, the password typed at its prompt, the host key checked against ``ssh_known_hosts``; see
stonith.transport.ssh).  Over SSH the login happens in SSH and the console starts at its banner.
Over telnet and a local tty the driver is NONBLOCKING (its verbs are steps: drivers/_console.py).

Protocol 1, the AOS console menus: ``User Name : `` and
``Password  : ``, the Control Console (``1- Device Manager`` ... ``4- Logout``), the outlet list
(``N- <name, 23 columns> ON|OFF``; on a MasterSwitch Plus behind ``1- MasterSwitch plus 1``),
``N`` -> ``1- Control Outlet`` -> ``Immediate On`` / ``Immediate Off``, confirmed with ``YES`` at
``Enter 'YES' to continue or <ENTER> to cancel :`` and acknowledged before ``Press <ENTER> to
continue...``.  ESC goes back one level; every screen ends in the ``> `` prompt.  The menu numbers of
the actions are read from the Control Outlet screen (``2`` is Immediate Off on the AP9211, ``3`` on
the MasterSwitch Plus).

Protocol 2, the AOS command line (firmware 5+, prompt ``apc>``; chosen by the prompt the device shows
after its banner, as fence-agents' ``fence_apc`` chooses by the firmware version): ``olStatus all``
answers ``E000: Success`` and one line ``N: <name>: On|Off`` per outlet; ``olOn N`` / ``olOff N``
answer ``E000: Success``; any other ``Ennn:`` code is a refusal (``E102: Parameter Error``); ``exit``
logs out.  The device echoes what is typed; the echo is skipped like any text before the answer.

Tested on: the mock personalities ap9211, msp and ap8xxx (mocks/apcmaster.py), which PowerMan
2.3.27's ``apcnew.dev`` / ``apc.dev`` and fence-agents' ``fence_apc`` (telnet, and ``--ssh`` against
the ap8xxx over SSH) accept unmodified as peers (tests/drivers/test_apcmaster.py,
tests/drivers/test_ssh_consoles.py).  Not yet on hardware.

What we do differently from cluster-glue's ``apcmaster`` (cluster-glue-cli.md section 13):
- we wait only for what the device sends (cluster-glue waits for the telnet *client's*
  ``Escape character is '^]'.`` line and so cannot log in to a real MasterSwitch);
- every operation, on/off included, runs in one session (the device takes one at a time);
- a wrong password is reported at once and never retried;
- every outlet named after the node is switched, not only the last one, and success is the state
  read back from the outlet list, not the acknowledgement.

Assumes: outlet names are the node names; the account may control outlets (an administrator or
device user); at most one MasterSwitch Plus unit (switch 1) is addressed.
"""

from __future__ import annotations

import re

from stonith.drivers import _console
from stonith.drivers._console import PASSWORD as TYPE_PASSWORD
from stonith.drivers._console import USER, Ask, Dialogue

from stonith.contract import params
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import DeviceError, UnknownOutlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps
    from stonith.transport.stream import Expected, Token

# Device text (device-dialogues.md section 3; case-sensitive substrings unless compiled).
ASK_USER = b"User Name :"
ASK_PASSWORD = b"Password  :"
WELCOME = re.compile(rb"American Power Conversion|Schneider Electric")  # newer cards say the latter
PROMPT = b"\n> "
CLI_PROMPT = b"\napc>"  # AOS 5+ command line (fence-agents' fence_apc waits for the same)
CONFIRM = b"Enter 'YES' to continue or <ENTER> to cancel :"
PRESS_ENTER = b"Press <ENTER> to continue..."
# Device output is untrusted: every pattern is linear in its input (bounded repeats, blanks that
# never cross a line end, no nested quantifiers; tests/drivers/test_patterns.py), so a device
# sending a flood of newlines or dashes cannot stall the process (issue 21 item 2).
SUCCESS = re.compile(rb"Command successfully issued|Success")
VERSION = re.compile(rb"AOS {1,16}(v[\d.]{1,16}\w{0,16})")
APP = re.compile(rb"(MasterSwitch(?: plus)?|Rack PDU|RPDU 2g|RPDU) APP {1,32}(v[\d.]{1,16}\w{0,16})")
SWITCH_ITEM = re.compile(rb"(?m)^[ \t]{0,16}(\d{1,3})- MasterSwitch plus 1\b")
ROW = re.compile(r"[ \t]{0,16}(\d{1,3})- ([^\n]{0,120})")
TITLE = re.compile(rb"------- ([^\r\n]{0,64}?) -")
CLI_RESULT = re.compile(rb"E(\d{3}): ?([^\r\n]{0,80})")  # every AOS CLI answer starts with its code
CLI_ROW = re.compile(r"[ \t]{0,16}(\d{1,3}): ([^\n]{0,120}): (On|Off)[ \t]{0,16}")
CLI_OK = b"000"
ESC = b"\x1b"
EOL = b"\r"

# Per-step limits (seconds), each also bounded by the caller's deadline.
LOGIN_STEP = 10.0
WELCOME_STEP = 30.0  # cluster-glue allows 30 s for the login to be accepted
MENU_STEP = 10.0
COMMAND_STEP = 20.0  # an acknowledgement after YES
MAX_BACK = 6  # ESCs that reach the Control Console from any screen

REFUSED = "the MasterSwitch refused the user name or password (login failed)"
# Over SSH the login happens in SSH and the console starts with its banner (a console asking again
# inside SSH gets the same dialogue).
LOGIN = Dialogue(
    (
        Ask(ASK_USER, USER, within=LOGIN_STEP, refused=REFUSED, then="the Password prompt"),
        Ask(
            ASK_PASSWORD, TYPE_PASSWORD, within=WELCOME_STEP, refused=REFUSED, then="the result of the login"
        ),
        Ask(WELCOME, within=MENU_STEP, then="the Control Console"),
    ),
    (PROMPT, CLI_PROMPT),
    first="the User Name prompt",
    first_within=LOGIN_STEP,
    eol=EOL,
)

INFO = DriverInfo(
    "apcmaster",
    shortdesc="APC MasterSwitch",
    description="APC MasterSwitch (AP9211-class) and MasterSwitch Plus power switches (telnet menus), "
    "and APC switched rack PDUs with the AOS command line (firmware 5+, apc> prompt), over telnet "
    "or SSH.\nOutlet names are the node names; one session at a time.",
    fields=(
        params.CONSOLE_ADDRESS,
        params.LOGIN.replace(required=True),
        params.PASSWORD.replace(required=True),
        *_console.FIELDS,
    ),
    family="APC MasterSwitch",
    models=("AP9211", "AP9212", "AP9225 (MasterSwitch Plus)", "AP79xx/AP86xx/AP88xx/AP89xx (AOS 5+)"),
    url="https://www.apc.com/",
    capabilities=Capabilities(sessions=1),
    summary="APC MasterSwitch over telnet menus",
)


class ApcMaster(_console.ConsoleDriver):
    INFO = INFO
    DIALOGUE = LOGIN
    STEPS = True  # over telnet, sessions run on the engine's selector thread
    DEVICE = "the MasterSwitch"
    EMPTY = "the MasterSwitch outlet list shows no outlets"
    _depth = 0  # screens below the Control Console
    _list_depth = 0  # depth of the outlet list
    _identity = "APC MasterSwitch"
    _cli = False  # the AOS command line (apc>), not the menus

    def _logged_in(self, prompt: Expected, transcript: bytes) -> None:
        """The console is at its first prompt: menus or the command line, and who we talk to."""
        self._depth = self._list_depth = 0
        self._cli = cli = prompt.index == 1
        aos, app = VERSION.search(transcript), APP.search(transcript)
        parts = [f"AOS {aos.group(1).decode()}"] if aos else []
        if app:
            parts.append(f"{app.group(1).decode()} APP {app.group(2).decode()}")
        family = "APC rack PDU" if cli else "APC MasterSwitch"
        self._identity = family + (f" ({', '.join(parts)})" if parts else "")

    def _logout(self) -> Sequence[tuple[bytes, Token | None]]:
        if self._cli:
            return ((b"exit" + EOL, None),)
        return (*[(ESC, PROMPT)] * self._depth, (b"4" + EOL, None))  # back to the top, 4- Logout

    # -- verbs (as steps; the kit runs them for on, off, outlets and status) ----------------------
    def _switch_steps(self, state: str, outlet: Outlet, deadline: Deadline) -> Steps[None]:
        if not self._cli:
            yield from self._control_steps(
                outlet, "Immediate On" if state == ON else "Immediate Off", deadline
            )
            return
        if not outlet.id.isdigit() or int(outlet.id) == 0:
            raise UnknownOutlet(f"APC outlet {outlet.id!r} is not an outlet number")
        verb = "olOn" if state == ON else "olOff"
        yield from self._cli_command_steps(f"{verb} {int(outlet.id)}", deadline, COMMAND_STEP)

    def _table_steps(self, deadline: Deadline) -> Steps[dict[str, tuple[str, str]]]:
        if self._cli:
            return parse_ol_status((yield from self._cli_command_steps("olStatus all", deadline, MENU_STEP)))
        return (yield from self._outlet_list_steps(deadline))

    # -- internals -----------------------------------------------------------------------------
    def _send_steps(self, data: bytes, deadline: Deadline, doing: str) -> Steps[bytes]:
        """Send a key or a line; the screen the device answers with (up to its prompt)."""
        return (yield from self._round_trip_steps(data, deadline, MENU_STEP, prompt=PROMPT, doing=doing))

    def _cli_command_steps(self, command: str, deadline: Deadline, step: float) -> Steps[bytes]:
        """One command line; its answer (after the echo), which must carry E000."""
        line = command.encode("latin-1") + EOL
        answer = yield from self._round_trip_steps(line, deadline, step, prompt=CLI_PROMPT)
        code = CLI_RESULT.search(answer)
        if code is None:
            raise DeviceError(f"the PDU answered {command!r} without a result code: {_show(answer)}")
        if code.group(1) != CLI_OK:
            text = code.group(0).decode("latin-1", "replace").strip()
            raise DeviceError(f"the PDU refused {command!r}: {text!r}")
        return answer[code.end() :]

    def _back_steps(self, levels: int, deadline: Deadline) -> Steps[None]:
        for _ in range(levels):
            yield from self._send_steps(ESC, deadline, "the previous menu")
            self._depth = max(0, self._depth - 1)

    def _outlet_list_steps(self, deadline: Deadline) -> Steps[dict[str, tuple[str, str]]]:
        """Go to (or refresh) the outlet list; outlet number -> (name, state)."""
        if self._list_depth and self._depth == self._list_depth:
            screen = yield from self._send_steps(EOL, deadline, "the outlet list")  # <ENTER>- Refresh
        else:
            yield from self._back_steps(self._depth, deadline)
            screen = yield from self._send_steps(b"1" + EOL, deadline, "the Device Manager")
            self._depth = 1
            found = SWITCH_ITEM.search(screen)
            if found and not parse_outlets(screen):  # MasterSwitch Plus: the switches first
                screen = yield from self._send_steps(found.group(1) + EOL, deadline, "the outlet list")
                self._depth = 2
            self._list_depth = self._depth
        return parse_outlets(screen)

    def _control_steps(self, outlet: Outlet, action: str, deadline: Deadline) -> Steps[None]:
        if not outlet.id.isdigit() or not 1 <= int(outlet.id) <= 8:
            raise UnknownOutlet(f"MasterSwitch outlet {outlet.id!r} is not an outlet number")
        if not (self._list_depth and self._depth == self._list_depth):
            yield from self._outlet_list_steps(deadline)
        screen = yield from self._send_steps(
            outlet.id.encode() + EOL, deadline, f"the screen of outlet {outlet.id}"
        )
        self._depth += 1
        title = TITLE.search(screen)
        if title is None or title.group(1) != f"Outlet {outlet.id}".encode():
            raise DeviceError(f"the MasterSwitch did not open outlet {outlet.id} (got {_show(screen)})")
        screen = yield from self._send_steps(
            b"1" + EOL, deadline, "the Control Outlet screen"
        )  # 1- Control Outlet
        self._depth += 1
        item = action_item(action).search(screen)
        if item is None:
            raise DeviceError(f"the Control Outlet screen of outlet {outlet.id} offers no {action}")
        stream = self._session()
        stream.discard()
        yield from stream.write_steps(item.group(1) + EOL, deadline)
        yield from self._expect_steps(
            stream, (CONFIRM,), deadline, MENU_STEP, f"the confirmation of {action}"
        )
        yield from stream.write_steps(b"YES" + EOL, deadline)
        doing = f"the acknowledgement of {action}"
        got = yield from self._expect_steps(stream, (PRESS_ENTER,), deadline, COMMAND_STEP, doing)
        yield from self._send_steps(EOL, deadline, "the Control Outlet screen")
        if not SUCCESS.search(got.before):
            raise DeviceError(
                f"the MasterSwitch did not accept {action} for outlet {outlet.id}: {_show(got.before)}"
            )
        yield from self._back_steps(2, deadline)  # Control Outlet -> outlet -> outlet list


def action_item(action: str) -> re.Pattern[bytes]:
    """The menu line ``N- <action>`` of a Control Outlet screen (N is the key to press)."""
    return re.compile(rb"(?m)^[ \t]{0,16}(\d{1,3})- " + re.escape(action.encode()) + rb"[ \t\r]{0,80}$")


def parse_outlets(screen: bytes) -> dict[str, tuple[str, str]]:
    """Outlet number -> (name, ON/OFF/UNKNOWN) from an outlet-list screen.

    Rows are ``N- <name> <state>`` after the ``-------`` title and a blank line, up to the next
    blank line (after which ``9- Master Control/Configuration`` may follow).  The switch list of a
    MasterSwitch Plus (``1- MasterSwitch plus 1``) is not an outlet list: empty.
    """
    table: dict[str, tuple[str, str]] = {}
    lines = screen.decode("latin-1").replace("\r", "").split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("-------")), None)
    if start is None:
        return table
    for line in lines[start + 1 :]:
        found = ROW.fullmatch(line)
        if found is None:
            if table:
                break  # the blank line after the rows
            continue
        body = found.group(2).rstrip()
        if body.startswith("MasterSwitch plus"):
            return {}
        name, _, state = body.rpartition(" ")
        if state in ("ON", "OFF") and name.strip():
            entry = (name.rstrip(), ON if state == "ON" else OFF)
        else:
            entry = (body, UNKNOWN)
        if 1 <= int(found.group(1)) <= 8 and entry[0]:
            table.setdefault(str(int(found.group(1))), entry)
    return table


def parse_ol_status(answer: bytes) -> dict[str, tuple[str, str]]:
    """Outlet number -> (name, ON/OFF) from the answer to ``olStatus all`` (``N: name: On``)."""
    table: dict[str, tuple[str, str]] = {}
    for line in answer.decode("latin-1").replace("\r", "").split("\n"):
        found = CLI_ROW.fullmatch(line)
        if found is not None and int(found.group(1)) > 0:
            state = ON if found.group(3) == "On" else OFF
            table.setdefault(str(int(found.group(1))), (found.group(2).strip(), state))
    return table


def _show(text: bytes) -> str:
    words = " ".join(text.decode("latin-1", "replace").split())
    return repr(words[-120:])

"""wti_nps: WTI network power switches (NPS, IPS, TPS), over their telnet or SSH command line.

Family: Western Telematic (WTI) NPS / IPS / TPS network power switches.
Transport: telnet (TCP, default port 23), or SSH (``ssh = true``, default port 22, user ``login``:
the system's ssh client, the password typed at its prompt, the host key checked against
``ssh_known_hosts``; see stonith.transport.ssh).  Over SSH the login happens in SSH and the command
line starts at the status screen; the commands are the same.  Over telnet the driver is
NONBLOCKING (its verbs are steps: drivers/_console.py).
Protocol: the text command line: ``Enter Password:`` (absent when no system password is set), a
status screen and the ``NPS>`` / ``IPS>`` / ``TPS>`` prompt; ``/S`` prints the plug table
(`` Plug | Name | ... | Status | ...``), ``/ON n,y`` and ``/OFF n,y`` switch one plug (``,y``
answers the optional ``Sure? (Y/N):`` in advance; we answer it too), ``/X,y`` logs out.  Table
columns are found by their header names, so the NPS, IPS and TPS layouts all parse; the full name
column is compared (cluster-glue compares 16 characters).

Tested on: the mock personalities nps, ips and tps (mocks/wti_nps.py), which Debian's cluster-glue
1.0.12 ``wti_nps`` plugin, PowerMan 2.3.27's ``wti.dev`` and fence-agents' ``fence_wti`` (telnet and
``--ssh``) accept unmodified as peers (tests/drivers/test_wti_nps.py,
tests/drivers/test_ssh_consoles.py).  Not yet on hardware.

Assumes: plug names are the node names; the password is the system (administrator) password or a
plug password owning every plug of the node; we never use ``/BOOT`` (a reset is off, read back, on,
read back: stonith.fencing.engine); one session at a time.
"""

from __future__ import annotations

from stonith.drivers import _console

from stonith.contract import lazyre, params
from stonith.contract.driver import ON, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import DeviceError, UnknownOutlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Sequence

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps
    from stonith.transport.stream import Expected, Token

# Device text (device-dialogues.md section 4; fence_wti's prompt list).
ASK_PASSWORD = b"Password:"
BAD_PASSWORD = b"Invalid password"
PROMPT = lazyre.compile(rb"(NPS|IPS|TPS|NBB|RSM|MPC|VMR)> ?")
CONFIRM = b"(Y/N):"
PAGER = b"Enter: "  # long tables page ("Press Enter: to continue"); answered with a CR
IDENTITY = lazyre.compile(
    rb"((?:Network|Internet|Telnet) Power Switch|Network Boot Bar|Boot Bar) (v[\w.]{1,24})"
)
REFUSED = lazyre.compile(rb"(?i)Invalid|Aborted|Error|Denied")
EOL = b"\r"

ANSWERS = ((CONFIRM, b"Y" + EOL), (PAGER, EOL))  # at most MAX_PROMPTS of them, MAX_OUTPUT bytes in all
MAX_OUTPUT, MAX_PROMPTS = _console.MAX_OUTPUT, _console.MAX_ANSWERS

LOGIN_STEP = 10.0
COMMAND_STEP = 10.0
SWITCH_STEP = 60.0  # the prompt returns when a command is done; cluster-glue allows 60 s

# ``Enter Password:`` only when a system password is set; then the status screen and the prompt.
REFUSED_LOGIN = "the WTI switch refused the password (Invalid password)"
LOGIN = _console.Dialogue(
    [_console.Ask(ASK_PASSWORD, _console.PASSWORD, within=LOGIN_STEP, optional=True, refused=REFUSED_LOGIN)],
    [PROMPT],
    refusals=[BAD_PASSWORD],
    first="the password prompt",
    first_within=LOGIN_STEP,
)

PASSWORD = params.PASSWORD.replace(required=True)
INFO = DriverInfo(
    "wti_nps",
    shortdesc="WTI Network Power Switch",
    description="Western Telematic (WTI) network power switches (NPS-xxx, IPS-xxx) and telnet power "
    "switches (TPS-xxx), through their command line over telnet or SSH.\nPlug names are the node "
    "names; one session at a time.",
    fields=(params.CONSOLE_ADDRESS, PASSWORD, params.SSH_LOGIN, *_console.FIELDS),
    family="WTI NPS",
    models=("NPS-115", "NPS-230", "IPS-800", "IPS-1600", "TPS-2"),
    url="https://www.wti.com/",
    capabilities=Capabilities(sessions=1),
    summary="WTI NPS/TPS network power switch over telnet",
)


class WtiNps(_console.ConsoleDriver):
    INFO = INFO
    DIALOGUE = LOGIN
    STEPS = True  # over telnet, sessions run on the engine's selector thread
    DEVICE = "the WTI switch"
    EMPTY = "the WTI status table lists no plugs"
    UNNAMED = ("(undefined)", "---", "")  # unnamed plugs power no node (cluster-glue skips them too)
    _prompt: Token = PROMPT  # this session's own prompt, once logged in
    _identity = "WTI power switch"

    def _logged_in(self, prompt: Expected, transcript: bytes) -> None:
        assert prompt.match is not None
        name = prompt.match.group(1)
        self._prompt = session_prompt(name)
        found = IDENTITY.search(transcript)
        self._identity = (
            f"WTI {found.group(1).decode()} {found.group(2).decode()}" if found else f"WTI {name.decode()}"
        )

    def _logout(self) -> Sequence[tuple[bytes, Token | None]]:
        return ((b"/X,Y" + EOL, b"Disconnecting"),)

    # -- verbs (as steps; the kit runs them for on, off, outlets and status) ----------------------
    def _switch_steps(self, state: str, outlet: Outlet, deadline: Deadline) -> Steps[None]:
        if not outlet.id.isdigit() or outlet.id == "0":
            raise UnknownOutlet(f"WTI plug {outlet.id!r} is not a plug number")
        verb = "/ON" if state == ON else "/OFF"
        output = yield from self._command_steps(f"{verb} {outlet.id},Y", deadline, SWITCH_STEP)
        refused = REFUSED.search(output)
        if refused:
            line = next((x for x in output.splitlines() if refused.group(0) in x), refused.group(0))
            raise DeviceError(
                f"the WTI switch refused {verb} {outlet.id}: {line.decode('latin-1').strip()!r}"
            )

    def _table_steps(self, deadline: Deadline) -> Steps[dict[str, tuple[str, str]]]:
        return parse_status((yield from self._command_steps("/S", deadline, COMMAND_STEP)))

    def _command_steps(self, command: str, deadline: Deadline, step: float) -> Steps[bytes]:
        """Send one command; everything the device printed before its next prompt."""
        line = command.encode("latin-1") + EOL
        return (yield from self._round_trip_steps(line, deadline, step, prompt=self._prompt, answers=ANSWERS))


def session_prompt(name: bytes) -> re.Pattern[bytes]:
    """The prompt of this session only (``NPS>``), so the word in other output does not end it."""
    import re  # here: the patterns above are compiled on first use (stonith -n/-m never needs re)

    return re.compile(re.escape(name) + rb"> ?")


def parse_status(text: bytes) -> dict[str, tuple[str, str]]:
    """Plug number -> (name, ON/OFF/UNKNOWN) from a ``/S`` screen; columns found by header name."""
    return _console.header_table(text, ("plug", "name", "status"))

"""baytech: BayTech RPC power controllers, over telnet or a serial console.

Family: BayTech RPC series remote power controllers.
Protocol: the console text dialogue, over telnet (TCP, default port 23) or a serial line
(``ttydev``: a tty or any pyserial URL, 9600 8N1 by default).  Two firmware families:

- menu firmware (RPC-3, RPC-3A, RPC-5; F 5.0x): banner ``RPC-x Telnet Host``, ``Enter username>``
  (if user accounts are set up) and ``Enter password>``, main menu, ``1`` = Outlet Control, where
  ``status``/``on N``/``off N`` print the outlet table and the ``RPC-x>`` prompt;
- command-line firmware (RPC3-NC, RPC-28 NC; F4.00/F3.01): banner ``RPCx Series``, no login,
  ``RPC3-NC>`` / ``RPC-28>`` / ``RPC-28A>`` prompt, ``status``, ``on N``, ``off N``.

The model is taken from the banner, or from the prompt when a serial console shows no banner.
Over telnet and a local tty the driver is NONBLOCKING (its verbs are steps: drivers/_console.py).

Tested on: the mock personalities rpc3, rpc3a, rpc5, rpc3-nc and rpc28-nc (mocks/baytech.py),
which Debian's cluster-glue 1.0.12 ``baytech`` plugin and PowerMan 2.3.27's ``baytech.dev`` and
``baytech-rpc3-nc.dev`` scripts accept unmodified as peers (tests/drivers/test_baytech.py).  Not yet
on hardware.

Assumes:
- outlets are addressed by the selection number of the status table; the outlet name is the
  node name (menu firmware: 10 columns on RPC-3/3A, 18 on RPC-5; NC firmware: 16);
- NC firmware: no access control, command confirmation off (PowerMan's required settings);
- a ``reboot`` of an outlet that is off leaves it off, so we never use it: a reset is off, read
  back, on (stonith.fencing.engine); the device accepts one session at a time;
- ``on 0`` / ``off 0`` switch every outlet (PowerMan's ``*_all`` scripts): used only when every
  outlet of the device is asked for, as two status tables of the session agree.
"""

from __future__ import annotations

from stonith.drivers import _console
from stonith.drivers._console import PASSWORD as TYPE_PASSWORD
from stonith.drivers._console import USER, Ask, Dialogue

from stonith.contract import lazyre, params
from stonith.contract.driver import OFF, ON, UNKNOWN, Capabilities, DriverInfo, Outlet
from stonith.contract.errors import BadConfig, DeviceError, FieldProblem, UnknownOutlet
from stonith.contract.fields import INTEGER, Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from stonith.contract.deadline import Deadline
    from stonith.contract.steps import Steps
    from stonith.transport.stream import Expected, Token


class Model:
    """One firmware personality: what its prompt and status table look like."""

    __slots__ = ("menus", "name", "name_width", "prompt")

    def __init__(self, name: str, *, menus: bool, name_width: int, prompt: bytes) -> None:
        self.name = name  # as in the banner, menu title and prompt
        self.menus = menus  # login + menus, or the NC command line
        self.name_width = name_width  # outlet-name columns of the status table
        self.prompt = lazyre.compile(prompt)  # the outlet-control prompt


MODELS: dict[str, Model] = {
    "RPC-3": Model("RPC-3", menus=True, name_width=10, prompt=rb"RPC-3>"),
    "RPC-3A": Model("RPC-3A", menus=True, name_width=10, prompt=rb"RPC-3A>"),
    "RPC-5": Model("RPC-5", menus=True, name_width=18, prompt=rb"RPC-5>"),
    "RPC3-NC": Model("RPC3-NC", menus=False, name_width=16, prompt=rb"RPC3-NC>"),
    "RPC-28": Model("RPC-28", menus=False, name_width=16, prompt=rb"RPC-28A?>"),  # prompts alternate
}
# Prompt text -> model, for a console already past its banner.
PROMPT_MODELS = {
    b"RPC-3": "RPC-3",
    b"RPC-3A": "RPC-3A",
    b"RPC-5": "RPC-5",
    b"RPC3-NC": "RPC3-NC",
    b"RPC-28": "RPC-28",
    b"RPC-28A": "RPC-28",
}

# Device text (device-dialogues.md section 2; case-sensitive substrings unless compiled).
# Device output is untrusted: every pattern is linear in its input (bounded repeats, no nested
# quantifiers; tests/drivers/test_patterns.py), so a console sending ``RPCRPCRPC...`` or a flood of
# blanks cannot stall the process (issue 21 item 2).  Model names are a few characters.
BANNER_MENUS = lazyre.compile(rb"(RPC[-\w]{0,16}) Telnet Host")
BANNER_NC = lazyre.compile(rb"(RPC[-\w]{0,16}) Series")
FIRMWARE = lazyre.compile(rb"Revision (F ?[\d.]{1,16})|\r\n(F\d{1,4}\.\d{1,4})\r\n")
ASK_USER = b"username>"
ASK_PASSWORD = b"password>"
BAD_PASSWORD = b"Invalid password"
MAIN_MENU = b"Enter Selection>"
ANY_PROMPT = lazyre.compile(rb"(RPC[-\w]{0,16})>")
CONFIRM = b"(Y/N)>"
INPUT_ERROR = b"Input error"
EOL = b"\r"  # what cluster-glue sends; the firmware also takes CR LF
# Menu firmware row: "%7d       %-Ws  %d       %s " (selection, name, outlet number, On/Off).
MENU_ROW_TAIL = lazyre.compile(rb"  {1,16}\d{1,3} {1,16}(\S{0,16}) {0,80}$")
# NC firmware cell, one or two per line: " 1)...Outlet  1       : On          ".
NC_CELL = lazyre.compile(rb"(\d{1,3})\)\.\.\.(.{16}): (\w{0,16})")
STATES = {b"On": ON, b"Off": OFF}
CONFIRMED = ((CONFIRM, b"Y" + EOL),)  # a command asks at most once (when confirmation is on)

# Per-step limits (seconds), each also bounded by the caller's deadline.
WAKE_AFTER = 2.0  # no banner by then: send a CR (serial consoles, terminal servers)
BANNER_STEP = 10.0  # cluster-glue waits 10 s for the banner
LOGIN_STEP = 5.0
COMMAND_STEP = 10.0  # a status table at 9600 baud takes up to 1.2 s; on/off answer within 10 s

# The dialogue only moves forward: username -> password -> main menu -> outlet prompt, each step
# optional (NC firmware shows its prompt at once).  A silent console gets a CR after WAKE_AFTER.
REFUSED_NAME = "the BayTech refused the login name"
REFUSED_PASSWORD = "the BayTech refused the password (login failed)"


def login() -> Dialogue:
    """The login dialogue, with the limits above as they are when a session opens."""
    return Dialogue(
        [
            Ask(ASK_USER, USER, within=LOGIN_STEP, optional=True, refused=REFUSED_NAME),
            Ask(ASK_PASSWORD, TYPE_PASSWORD, within=LOGIN_STEP, optional=True, refused=REFUSED_PASSWORD),
            # 1)...Outlet Control
            Ask(MAIN_MENU, b"1" + EOL, within=COMMAND_STEP, optional=True, then="outlet control prompt"),
        ],
        [ANY_PROMPT],
        refusals=[BAD_PASSWORD],
        first="banner or prompt",
        first_within=BANNER_STEP,
        wake=EOL,
        wake_after=WAKE_AFTER,
    )


TTYDEV = params.TTYDEV.replace(required=False)
SPEED = Field(
    "speed",
    "Serial speed",
    basictype=INTEGER,
    default=9600,
    minval=300,
    maxval=115200,
    short_text="Serial speed in baud (8N1)",
    long_text="The speed of the serial console in baud; the BayTech default is 9600 (8N1).",
)

INFO = DriverInfo(
    "baytech",
    shortdesc="BayTech power switch",
    description="The BayTech RPC-3, RPC-3A, RPC-5 and RPC-3/RPC-28 NC series of remote power "
    "controllers, over telnet or a serial console.\nOutlet names are the node names.",
    fields=(params.TELNET_ADDRESS, params.LOGIN, params.PASSWORD, TTYDEV, SPEED),
    family="BayTech RPC",
    models=("RPC-3", "RPC-3A", "RPC-5", "RPC3-NC", "RPC-28 NC"),
    url="https://www.baytech.net/",
    capabilities=Capabilities(multi=True, sessions=1),
    summary="BayTech RPC-3/3A/5 and RPC3-NC/RPC-28 power switches over telnet or serial",
)


class Baytech(_console.ConsoleDriver):
    INFO = INFO
    STEPS = True  # over telnet, sessions run on the engine's selector thread
    DEVICE = "the BayTech"
    EMPTY = "the BayTech status table lists no outlets"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        if not self.params.ttydev and not self.params.ipaddr:
            raise BadConfig(
                [FieldProblem("ipaddr", "required parameter is missing (or give ttydev)", missing=True)],
                "baytech",
            )
        self._model: Model | None = None
        self._identity = ""
        self._listed: frozenset[str] = frozenset()  # every outlet of the last status table
        # The Outlet Control screen that menu firmware shows on entering it at login is a status
        # table: the session's first table, unless a command was sent since (then it may be stale).
        self._screen: dict[str, tuple[str, str]] | None = None

    # -- session -------------------------------------------------------------------------------
    def _dialogue(self) -> Dialogue:
        return login()

    def _banner(self, text: bytes) -> None:
        """The model from the banner (a serial console past its banner shows none: the prompt
        says it then), before anything is typed."""
        self._listed = frozenset()  # a new session has listed nothing yet
        self._screen = None
        self._model = self._banner_model(text)
        self._identity = self._firmware(text)

    def _logged_in(self, prompt: Expected, transcript: bytes) -> None:
        assert prompt.match is not None  # the outlet prompt is a regex
        if self._model is None:
            self._model = MODELS.get(PROMPT_MODELS.get(prompt.match.group(1), ""))
        if self._model is None:
            raise DeviceError(f"unsupported BayTech model (prompt {prompt.text.decode('latin-1')!r})")
        if not self._identity:
            self._identity = f"BayTech {self._model.name}"
        if self._model.menus:  # what "1" (Outlet Control) printed, up to this prompt
            _, menu, screen = transcript.rpartition(MAIN_MENU)
            self._screen = (parse_status(screen, self._model) or None) if menu else None

    @staticmethod
    def _banner_model(banner: bytes) -> Model | None:
        found = BANNER_MENUS.search(banner) or BANNER_NC.search(banner)
        if found is None:
            return None
        name = found.group(1).decode("latin-1")
        if name not in MODELS:
            raise DeviceError(f"unsupported BayTech model {name!r}")
        return MODELS[name]

    def _firmware(self, banner: bytes) -> str:
        if self._model is None:
            return ""
        found = FIRMWARE.search(banner)
        version = (found.group(1) or found.group(2)).decode("latin-1") if found else ""
        return f"BayTech {self._model.name}" + (f" firmware {version}" if version else "")

    def _logout(self) -> Sequence[tuple[bytes, Token | None]]:
        if self._model is not None and self._model.menus:
            return ((b"menu" + EOL, MAIN_MENU), (b"6" + EOL, None))  # 6)...Logout
        return ((b"logout" + EOL, None),)

    # -- verbs, written once as steps ----------------------------------------------------------
    # Over telnet and a tty the engine runs them on its selector thread (NONBLOCKING); the blocking verbs run
    # them here, each command through ``_command``.
    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self.on_many([outlet], deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self.off_many([outlet], deadline)

    def on_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        from stonith.contract.steps import run

        run(self._switch_many_steps(ON, outlets, deadline, blocking=True))

    def off_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        from stonith.contract.steps import run

        run(self._switch_many_steps(OFF, outlets, deadline, blocking=True))

    def _table(self, deadline: Deadline) -> dict[str, tuple[str, str]]:
        from stonith.contract.steps import run

        return run(self._table_steps(deadline, blocking=True))

    # -- internals -----------------------------------------------------------------------------
    def _model_now(self) -> Model:
        if self._stream is None or self._model is None:
            raise DeviceError("no BayTech session (connect first)")
        return self._model

    def _command(self, command: str, deadline: Deadline) -> bytes:
        """Send one outlet-control command; the text the device printed before its prompt."""
        from stonith.contract.steps import run

        return run(self._command_steps(command, deadline))

    def _command_steps(self, command: str, deadline: Deadline, *, blocking: bool = False) -> Steps[bytes]:
        if blocking:  # as the blocking verbs send it
            yield from ()
            return self._command(command, deadline)
        self._screen = None  # the device may switch from now on: the login screen is no status
        prompt, line = self._model_now().prompt, command.encode("ascii") + EOL
        return (
            yield from self._round_trip_steps(
                line,
                deadline,
                COMMAND_STEP,
                prompt=prompt,
                answers=CONFIRMED,
                refusals=[INPUT_ERROR],
                max_answers=1,
            )
        )

    def _switch_many_steps(
        self, state: str, outlets: Sequence[Outlet], deadline: Deadline, *, blocking: bool = False
    ) -> Steps[None]:
        # The firmware takes one outlet, or 0 for every outlet, per command.  ``0`` only when the
        # outlets asked for are exactly every outlet of the device (PowerMan's *_all rule: never
        # switch a plug nobody asked for), as two status tables of this session agree: a table
        # whose last rows were lost to line noise must not pass for the whole device.
        verb = "on" if state == ON else "off"
        wanted = {o.id for o in outlets}
        if len(wanted) > 1 and wanted == self._listed:
            yield from self._table_steps(deadline, blocking=blocking)
            if wanted == self._listed:
                yield from self._command_steps(f"{verb} 0", deadline, blocking=blocking)
                return
        for outlet in outlets:
            if not outlet.id.isdigit() or outlet.id == "0":  # 0 would mean every outlet
                raise UnknownOutlet(f"BayTech outlet {outlet.id!r} is not an outlet number")
            yield from self._command_steps(f"{verb} {outlet.id}", deadline, blocking=blocking)

    def _table_steps(
        self, deadline: Deadline, *, blocking: bool = False
    ) -> Steps[dict[str, tuple[str, str]]]:
        model = self._model_now()
        if self._screen is not None:  # the login's Outlet Control screen, once (one exchange fewer)
            table, self._screen = self._screen, None
        else:
            screen = yield from self._command_steps("status", deadline, blocking=blocking)
            table = parse_status(screen, model)
        self._listed = frozenset(table)
        return table


def parse_status(text: bytes, model: Model) -> dict[str, tuple[str, str]]:
    """Outlet number -> (name, state) from a status screen; states not On/Off are UNKNOWN."""
    table: dict[str, tuple[str, str]] = {}
    for raw in text.split(b"\n"):
        line = raw.rstrip(b"\r")
        if model.menus:
            _menu_row(line, model.name_width, table)
        else:
            for cell in NC_CELL.finditer(line):
                number = str(int(cell.group(1)))
                table.setdefault(number, (_name(cell.group(2)), STATES.get(cell.group(3), UNKNOWN)))
    return table


def _menu_row(line: bytes, width: int, table: dict[str, tuple[str, str]]) -> None:
    # Fixed columns, as cluster-glue reads them: selection number right-aligned in 7, 7 blanks,
    # the name in ``width`` columns, then the outlet number and the state.
    selection = line[:7].strip()
    if not selection.isdigit() or line[7:14] != b" " * 7 or len(line) < 14 + width:
        return
    tail = MENU_ROW_TAIL.match(line, 14 + width)
    state = STATES.get(tail.group(1), UNKNOWN) if tail else UNKNOWN
    table.setdefault(str(int(selection)), (_name(line[14 : 14 + width]), state))


def _name(field: bytes) -> str:
    return field.decode("latin-1").rstrip(" ")

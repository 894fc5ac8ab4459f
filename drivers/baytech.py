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

Tested on: the mock personalities rpc3, rpc3a, rpc5, rpc3-nc and rpc28-nc (mocks/baytech.py),
which Debian's cluster-glue 1.0.12 ``baytech`` plugin and PowerMan 2.3.27's ``baytech.dev`` and
``baytech-rpc3-nc.dev`` scripts accept unmodified as peers (tests/drivers/test_baytech.py).  Not yet
on hardware.

Assumes:
- outlets are addressed by the selection number of the status table; the outlet name is the
  node name (menu firmware: 10 columns on RPC-3/3A, 18 on RPC-5; NC firmware: 16);
- NC firmware: no access control, command confirmation off (PowerMan's required settings);
- a ``reboot`` of an outlet that is off leaves it off, so we never use it: a reset is off, read
  back, on (stonith.engine); the device accepts one session at a time;
- ``on 0`` / ``off 0`` switch every outlet (PowerMan's ``*_all`` scripts): used only when every
  outlet of the device is asked for, as two status tables of the session agree.
"""

from __future__ import annotations

from stonith import lazyre, params
from stonith.driver import OFF, ON, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.errors import (
    AuthFailed,
    BadConfig,
    DeviceBusy,
    DeviceError,
    FieldProblem,
    StonithError,
    Timeout,
    UnknownOutlet,
)
from stonith.fields import INTEGER, Field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from stonith.deadline import Deadline
    from stonith.transport.stream import Stream, Token


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

# Per-step limits (seconds), each also bounded by the caller's deadline.
WAKE_AFTER = 2.0  # no banner by then: send a CR (serial consoles, terminal servers)
BANNER_STEP = 10.0  # cluster-glue waits 10 s for the banner
LOGIN_STEP = 5.0
COMMAND_STEP = 10.0  # a status table at 9600 baud takes up to 1.2 s; on/off answer within 10 s
LOGOUT_STEP = 2.0

IPADDR = params.TELNET_ADDRESS
LOGIN = params.LOGIN
PASSWORD = params.PASSWORD
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
    fields=(IPADDR, LOGIN, PASSWORD, TTYDEV, SPEED),
    family="BayTech RPC",
    models=("RPC-3", "RPC-3A", "RPC-5", "RPC3-NC", "RPC-28 NC"),
    url="https://www.baytech.net/",
    capabilities=Capabilities(multi=True, sessions=1),
)


class Baytech(Driver):
    INFO = INFO

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        if not self.params.ttydev and not self.params.ipaddr:
            raise BadConfig(
                [FieldProblem("ipaddr", "required parameter is missing (or give ttydev)", missing=True)],
                "baytech",
            )
        self._stream: Stream | None = None
        self._model: Model | None = None
        self._identity = ""
        self._listed: frozenset[str] = frozenset()  # every outlet of the last status table

    def device_name(self) -> str:
        return str(self.params.ttydev or self.params.ipaddr)

    # -- session -------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        self.disconnect()
        self._listed = frozenset()
        ttydev = self.params.ttydev
        if ttydev:
            from stonith.transport import serial

            self._stream = serial.connect(ttydev, deadline, speed=self.params.speed)
        else:
            from stonith.transport import telnet

            self._stream = telnet.connect(self.params.ipaddr, deadline)
        try:
            self._login(self._stream, deadline, wake=bool(ttydev))
        except BaseException:
            self._stream.close()
            self._stream = None
            raise

    def _login(self, stream: Stream, deadline: Deadline, *, wake: bool) -> None:
        from stonith.drivers._text import latin1

        tokens = (ASK_USER, ASK_PASSWORD, MAIN_MENU, ANY_PROMPT)
        if wake:
            stream.write(EOL, deadline)  # a serial console prints nothing until a key is pressed
        # BANNER_STEP bounds the whole wait, the Enter sent after WAKE_AFTER included: a silent
        # port used to fail "within 10 s" after 12 s.
        banner_wait = deadline.sub(BANNER_STEP)
        try:
            got = stream.expect(tokens, banner_wait, WAKE_AFTER, "banner")
        except Timeout:
            if banner_wait.expired():
                raise
            stream.write(EOL, deadline)
            try:
                got = self._expect(stream, tokens, banner_wait, None, "banner or prompt")
            except Timeout:
                if deadline.expired():
                    raise
                from stonith import redact

                seen = redact.tail(stream.pending(), 80)
                raise Timeout(
                    f"{stream.what}: no banner or prompt within {BANNER_STEP:g} s "
                    f"(Enter sent after {WAKE_AFTER:g} s; last output: {seen!r})"
                ) from None
        except DeviceError as exc:
            if stream.received == 0:
                raise DeviceBusy(
                    f"{stream.what} closed the connection before its banner (is another session open?)"
                ) from exc
            raise
        banner = got.before + got.text
        self._model = self._banner_model(banner)
        self._identity = self._firmware(banner)
        # The dialogue only moves forward: username -> password -> main menu -> outlet prompt.
        # ``got.index`` says where the device stands (the order of ``tokens``).
        if got.index == 0:
            login = self.params.login
            if not login:
                raise AuthFailed("the BayTech asks for a username; set login")
            stream.write(latin1(login, "login", INFO.name) + EOL, deadline)
            got = self._expect(stream, (ASK_USER, ASK_PASSWORD), deadline, LOGIN_STEP, "password prompt")
            if got.index == 0:
                raise AuthFailed("the BayTech refused the login name")
        if got.index == 1:
            stream.write(latin1(self.params.password, "password", INFO.name) + EOL, deadline)
            got = self._expect(
                stream,
                (BAD_PASSWORD, ASK_USER, MAIN_MENU),
                deadline,
                LOGIN_STEP,
                "main menu after the password",
            )
            if got.index != 2:
                raise AuthFailed("the BayTech refused the password (login failed)")
        if got.index == 2:
            stream.write(b"1" + EOL, deadline)  # 1)...Outlet Control
            got = self._expect(stream, (ANY_PROMPT,), deadline, COMMAND_STEP, "outlet control prompt")
        assert got.match is not None  # the outlet prompt is the only regex token
        if self._model is None:
            self._model = MODELS.get(PROMPT_MODELS.get(got.match.group(1), ""))
        if self._model is None:
            raise DeviceError(f"unsupported BayTech model (prompt {got.text.decode('latin-1')!r})")
        if not self._identity:
            self._identity = f"BayTech {self._model.name}"

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

    def disconnect(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return

        try:
            deadline = self.logout_deadline(LOGOUT_STEP)
            stream.discard()
            if self._model is not None and self._model.menus:
                stream.write(b"menu" + EOL, deadline)
                stream.expect((MAIN_MENU,), deadline, LOGOUT_STEP, "main menu")
                stream.write(b"6" + EOL, deadline)  # 6)...Logout
            else:
                stream.write(b"logout" + EOL, deadline)
        except (StonithError, OSError):
            pass  # the device may already be gone; closing is all that is left
        finally:
            stream.close()

    def probe(self, deadline: Deadline) -> str:
        self.outlets(deadline)
        return self._identity

    # -- verbs ---------------------------------------------------------------------------------
    def outlets(self, deadline: Deadline) -> list[Outlet]:
        table = self._status_table(deadline)
        if not table:
            raise DeviceError("the BayTech status table lists no outlets")
        return [Outlet(number, name) for number, (name, _) in table.items()]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return self.status_many([outlet], deadline)[outlet.id]

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        table = self._status_table(deadline)
        return {o.id: table[o.id][1] if o.id in table else UNKNOWN for o in outlets}

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch("on", outlet, deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch("off", outlet, deadline)

    def on_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        self._switch_many("on", outlets, deadline)

    def off_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        self._switch_many("off", outlets, deadline)

    # -- internals -----------------------------------------------------------------------------
    def _session(self) -> tuple[Stream, Model]:
        if self._stream is None or self._model is None:
            raise DeviceError("no BayTech session (connect first)")
        return self._stream, self._model

    @staticmethod
    def _expect(
        stream: Stream,
        tokens: Sequence[Token],
        deadline: Deadline,
        step: float | None,
        doing: str,
    ) -> Any:
        try:
            return stream.expect(tokens, deadline, step, doing)
        except DeviceError as exc:
            raise DeviceError(f"{exc} (while waiting for {doing})") from None

    def _command(self, command: str, deadline: Deadline) -> bytes:
        """Send one outlet-control command; the text the device printed before its prompt."""
        stream, model = self._session()
        stream.discard()  # stale output would be mistaken for this command's answer
        stream.write(command.encode("ascii") + EOL, deadline)
        tokens = (model.prompt, CONFIRM, INPUT_ERROR)
        got = self._expect(stream, tokens, deadline, COMMAND_STEP, f"answer to {command!r}")
        if got.index == 1:
            stream.write(b"Y" + EOL, deadline)
            got = self._expect(stream, tokens, deadline, COMMAND_STEP, f"answer to {command!r} (Y)")
        if got.index == 2:
            # Resynchronise on the prompt if we can (no contextlib: this module is on the metadata path).
            try:  # noqa: SIM105
                self._expect(stream, (model.prompt,), deadline, LOGOUT_STEP, "prompt")
            except StonithError:
                pass
            raise DeviceError(f"the BayTech refused {command!r} (Input error)")
        output: bytes = got.before
        return output

    def _switch_many(self, verb: str, outlets: Sequence[Outlet], deadline: Deadline) -> None:
        # The firmware takes one outlet, or 0 for every outlet, per command.  ``0`` only when the
        # outlets asked for are exactly every outlet of the device (PowerMan's *_all rule: never
        # switch a plug nobody asked for), as two status tables of this session agree: a table
        # whose last rows were lost to line noise must not pass for the whole device.
        wanted = {o.id for o in outlets}
        if len(wanted) > 1 and wanted == self._listed:
            self._status_table(deadline)
            if wanted == self._listed:
                self._command(f"{verb} 0", deadline)
                return
        for outlet in outlets:
            self._switch(verb, outlet, deadline)

    def _switch(self, verb: str, outlet: Outlet, deadline: Deadline) -> None:
        if not outlet.id.isdigit() or outlet.id == "0":  # 0 would mean every outlet
            raise UnknownOutlet(f"BayTech outlet {outlet.id!r} is not an outlet number")
        self._command(f"{verb} {outlet.id}", deadline)

    def _status_table(self, deadline: Deadline) -> dict[str, tuple[str, str]]:
        _, model = self._session()
        table = parse_status(self._command("status", deadline), model)
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

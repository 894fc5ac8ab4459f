"""wti_nps: WTI network power switches (NPS, IPS, TPS), over their telnet or SSH command line.

Family: Western Telematic (WTI) NPS / IPS / TPS network power switches.
Transport: telnet (TCP, default port 23), or SSH (``ssh = true``, default port 22, user ``login``:
the system's ssh client, the password typed at its prompt, the host key checked against
``ssh_known_hosts``; see stonith.transport.ssh).  Over SSH the login happens in SSH and the command
line starts at the status screen; the commands are the same.
Protocol: the text command line: ``Enter Password:`` (absent when
no system password is set), a status screen and the ``NPS>`` / ``IPS>`` / ``TPS>`` prompt; ``/S``
prints the plug table (`` Plug | Name | ... | Status | ...``), ``/ON n,y`` and ``/OFF n,y`` switch
one plug (``,y`` answers the optional ``Sure? (Y/N):`` in advance; we answer it too), ``/X,y`` logs
out.  Table columns are found by their header names, so the NPS, IPS and TPS layouts all parse;
the full name column is compared (cluster-glue compares 16 characters).

Tested on: the mock personalities nps, ips and tps (mocks/wti_nps.py), which Debian's cluster-glue
1.0.12 ``wti_nps`` plugin, PowerMan 2.3.27's ``wti.dev`` and fence-agents' ``fence_wti`` (telnet and
``--ssh``) accept unmodified as peers (tests/drivers/test_wti_nps.py,
tests/drivers/test_ssh_consoles.py).  Not yet on hardware.

Assumes: plug names are the node names; the password is the system (administrator) password or a
plug password owning every plug of the node; we never use ``/BOOT`` (a reset is off, read back, on,
read back: stonith.engine); one session at a time.
"""

from __future__ import annotations

import re

from stonith.drivers import _console

from stonith import params
from stonith.driver import OFF, ON, UNKNOWN, Capabilities, Driver, DriverInfo, Outlet
from stonith.errors import AuthFailed, DeviceBusy, DeviceError, StonithError, UnknownOutlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from stonith.deadline import Deadline
    from stonith.transport.stream import Expected, Stream

# Device text (device-dialogues.md section 4; fence_wti's prompt list).
ASK_PASSWORD = b"Password:"
BAD_PASSWORD = b"Invalid password"
PROMPT = re.compile(rb"(NPS|IPS|TPS|NBB|RSM|MPC|VMR)> ?")
CONFIRM = b"(Y/N):"
PAGER = b"Enter: "  # long tables page ("Press Enter: to continue"); answered with a CR
IDENTITY = re.compile(rb"((?:Network|Internet|Telnet) Power Switch|Network Boot Bar|Boot Bar) (v[\w.]{1,24})")
REFUSED = re.compile(rb"Invalid|Aborted|Error|Denied", re.IGNORECASE)
EOL = b"\r"
UNNAMED = ("(undefined)", "---", "")

# One command's answer, all pages together: a /S table of 40 plugs is a few KiB and two pages.  A
# device paging (or asking to confirm) forever must not grow our memory or hold its session.
MAX_OUTPUT = 256 * 1024
MAX_PROMPTS = 64  # pages turned and confirmations answered for one command

LOGIN_STEP = 10.0
COMMAND_STEP = 10.0
SWITCH_STEP = 60.0  # the prompt returns when a command is done; cluster-glue allows 60 s
LOGOUT_STEP = 2.0

IPADDR = params.CONSOLE_ADDRESS
LOGIN = params.SSH_LOGIN
PASSWORD = params.PASSWORD.replace(required=True)

INFO = DriverInfo(
    "wti_nps",
    shortdesc="WTI Network Power Switch",
    description="Western Telematic (WTI) network power switches (NPS-xxx, IPS-xxx) and telnet power "
    "switches (TPS-xxx), through their command line over telnet or SSH.\nPlug names are the node "
    "names; one session at a time.",
    fields=(IPADDR, PASSWORD, LOGIN, *_console.FIELDS),
    family="WTI NPS",
    models=("NPS-115", "NPS-230", "IPS-800", "IPS-1600", "TPS-2"),
    url="https://www.wti.com/",
    capabilities=Capabilities(sessions=1),
)


class WtiNps(Driver):
    INFO = INFO

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._stream: Stream | None = None
        self._prompt: re.Pattern[bytes] = PROMPT
        self._identity = "WTI power switch"
        self._failed = False  # an answer went missing: no polite logout, just close

    def device_name(self) -> str:
        return str(self.params.ipaddr)

    # -- session -------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        self.disconnect()
        stream = _console.open_stream(self.params, deadline, login=self.params.login or None)
        try:
            self._login(stream, deadline)
        except BaseException:
            stream.close()
            raise
        self._stream = stream
        self._failed = False

    def _login(self, stream: Stream, deadline: Deadline) -> None:
        try:
            got = stream.expect((ASK_PASSWORD, PROMPT), deadline, LOGIN_STEP, "the password prompt")
        except DeviceError as exc:
            if stream.received == 0 and "closed" in str(exc):
                raise DeviceBusy(
                    f"{stream.what} closed the connection before its password prompt "
                    "(is another session open?)"
                ) from exc
            raise
        seen = got.before + got.text
        if got.index == 0:
            from stonith.drivers._text import latin1

            stream.write(latin1(self.params.password, "password", INFO.name) + EOL, deadline)
            got = _expect(
                stream, (BAD_PASSWORD, ASK_PASSWORD, PROMPT), deadline, LOGIN_STEP, "the result of the login"
            )
            if got.index != 2:
                raise AuthFailed("the WTI switch refused the password (Invalid password)")
            seen = got.before + got.text
        assert got.match is not None
        self._prompt = session_prompt(got.match.group(1))
        found = IDENTITY.search(seen)
        name = got.match.group(1).decode()
        self._identity = (
            f"WTI {found.group(1).decode()} {found.group(2).decode()}" if found else f"WTI {name}"
        )

    def disconnect(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return

        try:
            if self._failed:
                return  # a device that stopped answering will not answer a logout either
            deadline = self.logout_deadline(LOGOUT_STEP)
            stream.discard()
            stream.write(b"/X,Y" + EOL, deadline)
            stream.expect((b"Disconnecting",), deadline, LOGOUT_STEP, "the logout")
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
            raise DeviceError("the WTI status table lists no plugs")
        # Unnamed plugs power no node (cluster-glue skips them as well).
        return [Outlet(number, name) for number, (name, _) in table.items() if name not in UNNAMED]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return self.status_many([outlet], deadline)[outlet.id]

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        table = self._status_table(deadline)
        return {o.id: table[o.id][1] if o.id in table else UNKNOWN for o in outlets}

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch("/ON", outlet, deadline)

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._switch("/OFF", outlet, deadline)

    # -- internals -----------------------------------------------------------------------------
    def _session(self) -> Stream:
        if self._stream is None:
            raise DeviceError("no WTI session (connect first)")
        return self._stream

    def _command(self, command: str, deadline: Deadline, step: float) -> bytes:
        """Send one command; everything the device printed before its next prompt."""
        stream = self._session()
        stream.discard()  # stale output would be taken for this command's answer
        stream.write(command.encode("latin-1") + EOL, deadline)
        output = bytearray()
        for _ in range(MAX_PROMPTS + 1):
            try:
                got = _expect(
                    stream, (self._prompt, CONFIRM, PAGER), deadline, step, f"the answer to {command!r}"
                )
            except StonithError:
                self._failed = True
                raise
            output += got.before
            if got.index == 0:
                return bytes(output)
            if len(output) > MAX_OUTPUT:
                break
            stream.write((b"Y" if got.index == 1 else b"") + EOL, deadline)
        self._failed = True  # mid-command: no polite logout
        raise DeviceError(
            f"the WTI switch answered {command!r} with more than {MAX_PROMPTS} pages or "
            f"{MAX_OUTPUT // 1024} KiB without its prompt"
        )

    def _switch(self, verb: str, outlet: Outlet, deadline: Deadline) -> None:
        if not outlet.id.isdigit() or outlet.id == "0":
            raise UnknownOutlet(f"WTI plug {outlet.id!r} is not a plug number")
        output = self._command(f"{verb} {outlet.id},Y", deadline, SWITCH_STEP)
        refused = REFUSED.search(output)
        if refused:
            line = next((x for x in output.splitlines() if refused.group(0) in x), refused.group(0))
            raise DeviceError(
                f"the WTI switch refused {verb} {outlet.id}: {line.decode('latin-1').strip()!r}"
            )

    def _status_table(self, deadline: Deadline) -> dict[str, tuple[str, str]]:
        return parse_status(self._command("/S", deadline, COMMAND_STEP))


def session_prompt(name: bytes) -> re.Pattern[bytes]:
    """The prompt of this session only (``NPS>``), so the word in other output does not end it."""
    return re.compile(re.escape(name) + rb"> ?")


def parse_status(text: bytes) -> dict[str, tuple[str, str]]:
    """Plug number -> (name, ON/OFF/UNKNOWN) from a ``/S`` screen; columns found by header name."""
    table: dict[str, tuple[str, str]] = {}
    columns: dict[str, int] | None = None
    for raw in text.decode("latin-1").replace("\r", "").split("\n"):
        cells = [cell.strip() for cell in raw.split("|")]
        if len(cells) < 3:
            continue
        if columns is None:
            lowered = [cell.lower() for cell in cells]
            if "plug" in lowered and "name" in lowered and "status" in lowered:
                columns = {key: lowered.index(key) for key in ("plug", "name", "status")}
            continue
        if len(cells) <= max(columns.values()):
            continue
        number = cells[columns["plug"]]
        if not number.isdigit():
            continue
        state = {"ON": ON, "OFF": OFF}.get(cells[columns["status"]].upper(), UNKNOWN)
        table.setdefault(str(int(number)), (cells[columns["name"]], state))
    return table


def _expect(
    stream: Stream, tokens: Sequence[bytes | re.Pattern[bytes]], deadline: Deadline, step: float, doing: str
) -> Expected:
    try:
        return stream.expect(tokens, deadline, step, doing)
    except DeviceError as exc:
        raise DeviceError(f"{exc} (while waiting for {doing})") from None

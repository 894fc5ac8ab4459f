"""The console kit: a device driven through a text console, written once for every console driver.

A console driver (BayTech, APC MasterSwitch, WTI) declares what its device says and what it types,
as data, and keeps only its per-outlet verbs; a serial driver (APC Smart-UPS, Night/Ware, RPS-10)
declares its port speed.  The kit does the rest, the same way for all of them:

- **opening the stream**: telnet (``ipaddr``), SSH (``ssh = true``: stonith.transport.ssh; the
  fields, help texts and translations are the shared library's stonith.contract.params.SSH_FIELDS) or a
  serial line (``ttydev``: a tty or any pyserial URL; stonith.transport.serial);
- **the login dialogue** (``Dialogue``): the texts the device may show in the order the dialogue
  moves (``Ask``: a user name or password prompt, a menu to pass, a banner to wait for), what we
  answer to each, the texts that mean "refused", and the command prompt(s) that end it.  The
  dialogue only moves forward: once the device showed a text, only the asks after it (up to the
  next one it cannot skip) and the prompt are expected; a credential prompt shown again after we
  answered it, or a refusal text, is a refused login (AuthFailed, never retried).  Each ask is
  met at most once, so a login takes at most one wait per ask plus one for the prompt;
- **the command round trip** (``StreamDriver._round_trip``): a line sent, the answer collected up
  to the prompt, pages turned and confirmations answered, at most ``max_answers`` of them and
  ``max_output`` bytes (a device paging forever must not hold the session or our memory);
- **the session end**: a polite logout (the driver's ``_logout`` script, each wait at most
  ``LOGOUT_STEP`` and never much past the operation's deadline), skipped once an answer went
  missing (a timeout or a lost connection in any wait): a device that stopped answering will not
  answer a logout either, so the session is just closed.

The login, the round trip, the session opening and its end are written once, as step generators
(stonith.contract.steps); the blocking verbs run them in the calling thread.  A driver whose own verbs are
steps too (``STEPS``: ``_table_steps``, ``_switch_steps`` or ``_switch_many_steps``; wti_nps,
baytech, apcmaster) is NONBLOCKING over telnet and a local tty: the engine drives any number of its
sessions from one selector thread, as it does BMCs, the polite logout included
(``disconnect_steps``).  Over SSH and pyserial URLs (``rfc2217://`` reads in a thread of its own)
each session keeps a thread, as do drivers written as blocking code.

Every wait is bounded by the caller's ``Deadline``, per-step limits never past it
(stonith.transport.stream).  Timeouts quote the device's last output masked (stonith.contract.redact): a
console that echoes the password and then hangs holds it in that output.

The leading underscore: this module is a kit, not a driver (it registers no type).  Like the
drivers it is on the start-up path of ``stonith -n``/``-m``: it imports transports only when a
session opens.
"""

from __future__ import annotations

from stonith.contract.driver import OFF, ON, UNKNOWN, Driver, Outlet
from stonith.contract.errors import AuthFailed, DeviceBusy, DeviceError, StonithError, Timeout
from stonith.contract.params import DEFAULT_KNOWN_HOSTS, SSH_FIELDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, ClassVar

    from stonith.contract.deadline import Deadline
    from stonith.contract.driver import Settings
    from stonith.contract.steps import Steps
    from stonith.transport.stream import Expected, Stream, Token

FIELDS = SSH_FIELDS

# Answers taken from the configuration (an ``Ask``'s ``answer`` may also be literal bytes).
USER = "login"
PASSWORD = "password"

# One command's answer, all pages together: a status table of 40 plugs is a few KiB and two pages.
MAX_OUTPUT = 256 * 1024
MAX_ANSWERS = 64  # pages turned and confirmations answered for one command
RESYNC_STEP = 2.0  # after a refused command: the prompt that follows the refusal
LOGOUT_STEP = 2.0


class Ask:
    """One text the device may show while we log in, and what we do when it does.

    ``answer``: ``USER`` or ``PASSWORD`` (the configured login or password, Latin-1, then the
    dialogue's line end), literal bytes (sent as they are), or None (a text to pass, e.g. a
    banner).  ``within``: seconds the device may take to show what comes next.  ``optional``: the
    device may skip this text (a password prompt absent when none is set).  ``refused``: the
    message of a refused login once this credential was answered.  ``then``: what we wait for
    next, for messages.
    """

    __slots__ = ("answer", "optional", "refused", "then", "token", "within")

    def __init__(
        self,
        token: Token,
        answer: str | bytes | None = None,
        *,
        within: float,
        optional: bool = False,
        refused: str = "",
        then: str = "the next step of the login",
    ) -> None:
        self.token = token
        self.answer = answer
        self.within = within
        self.optional = optional
        self.refused = refused
        self.then = then

    @property
    def credential(self) -> bool:
        return isinstance(self.answer, str)  # USER or PASSWORD


class Dialogue:
    """A console's login as data: the asks in dialogue order, refusals, and the prompt(s) that end it.

    ``first``: what the first wait is for (messages; a connection closed before any byte of it is
    DeviceBusy: the device takes one session at a time).  ``first_within``: how long the device may
    take to show its first text.  ``wake``/``wake_after``: a console that prints nothing until a key
    is pressed gets ``wake`` at once on a serial line, and on any link after ``wake_after`` seconds
    of silence (``first_within`` still bounds the whole wait).
    """

    __slots__ = ("asks", "eol", "first", "first_within", "prompts", "refusals", "wake", "wake_after")

    def __init__(
        self,
        asks: Sequence[Ask],
        prompts: Sequence[Token],
        *,
        first: str,
        first_within: float,
        refusals: Sequence[Token] = (),
        eol: bytes = b"\r",
        wake: bytes | None = None,
        wake_after: float | None = None,
    ) -> None:
        self.asks = tuple(asks)
        self.prompts = tuple(prompts)
        self.first = first
        self.first_within = first_within
        self.refusals = tuple(refusals)
        self.eol = eol
        self.wake = wake
        self.wake_after = wake_after


def uses_ssh(params: Settings) -> bool:
    return bool(getattr(params, "ssh", False))


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


def open_serial(url: str, deadline: Deadline, *, speed: int) -> Stream:
    """A serial line (tty path or pyserial URL) at ``speed`` baud, 8N1."""
    from stonith.transport import serial

    return serial.connect(url, deadline, speed=speed)


class StreamDriver(Driver):
    """A driver with one byte stream per session: opening, the round trip, the session end."""

    DEVICE: ClassVar[str] = "the device"  # how messages name it ("the WTI switch")

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._stream: Stream | None = None
        self._failed = False  # an answer went missing: no polite logout, just close

    # -- what a driver supplies ------------------------------------------------------------------
    def _open(self, deadline: Deadline) -> Stream:
        raise NotImplementedError

    def _open_steps(self, deadline: Deadline) -> Steps[Stream]:
        """``_open`` for a NONBLOCKING session."""
        yield from ()
        return self._open(deadline)

    def _start(self, stream: Stream, deadline: Deadline) -> None:
        """The session's first exchange (log in, check the device); raise to refuse it."""

    def _start_steps(self, stream: Stream, deadline: Deadline) -> Steps[None]:
        """``_start`` as steps (a driver overrides one of them)."""
        yield from ()
        self._start(stream, deadline)

    def _logout(self) -> Sequence[tuple[bytes, Token | None]]:
        """The polite session end: what to send, each with the text to wait for (or None)."""
        return ()

    # -- session ---------------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        from stonith.contract.steps import run

        run(self._connect_steps(deadline, nonblocking=False))

    def connect_steps(self, deadline: Deadline) -> Steps[None]:
        yield from self._connect_steps(deadline, nonblocking=self.NONBLOCKING)

    def _connect_steps(self, deadline: Deadline, *, nonblocking: bool) -> Steps[None]:
        self.disconnect()
        stream = (yield from self._open_steps(deadline)) if nonblocking else self._open(deadline)
        self._stream = stream
        self._failed = False
        try:
            yield from self._start_steps(stream, deadline)
        except BaseException:
            self._stream = None
            stream.close()
            raise

    def disconnect(self) -> None:
        from stonith.contract.steps import run

        run(self.disconnect_steps())

    def disconnect_steps(self) -> Steps[None]:
        """The session end as steps: a NONBLOCKING session's logout holds no other session."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            script = () if self._failed else self._logout()
            if script:
                deadline = self.logout_deadline(LOGOUT_STEP)
                for data, wait in script:
                    stream.discard()
                    yield from stream.write_steps(data, deadline)
                    if wait is not None:
                        yield from stream.expect_steps((wait,), deadline, LOGOUT_STEP, "the logout")
        except (StonithError, OSError):
            pass  # the device may already be gone; closing is all that is left
        finally:
            stream.close()

    def _session(self) -> Stream:
        if self._stream is None:
            raise DeviceError(f"no session with {self.DEVICE} (connect first)")
        return self._stream

    # -- waiting and the round trip ----------------------------------------------------------------
    def _expect(
        self, stream: Stream, tokens: Sequence[Token], deadline: Deadline, step: float | None, doing: str
    ) -> Expected:
        """``stream.expect``; any failure marks the session failed (no polite logout)."""
        from stonith.contract.steps import run

        return run(self._expect_steps(stream, tokens, deadline, step, doing))

    def _expect_steps(
        self, stream: Stream, tokens: Sequence[Token], deadline: Deadline, step: float | None, doing: str
    ) -> Steps[Expected]:
        try:
            return (yield from stream.expect_steps(tokens, deadline, step, doing))
        except DeviceError as exc:
            self._failed = True
            raise DeviceError(f"{exc} (while waiting for {doing})") from None
        except StonithError:
            self._failed = True
            raise

    def _round_trip(self, *args: Any, **kwargs: Any) -> bytes:
        """``_round_trip_steps``, waiting in this thread."""
        from stonith.contract.steps import run

        return run(self._round_trip_steps(*args, **kwargs))

    def _round_trip_steps(
        self,
        data: bytes,
        deadline: Deadline,
        step: float,
        *,
        prompt: Token,
        answers: Sequence[tuple[Token, bytes]] = (),
        refusals: Sequence[Token] = (),
        max_answers: int = MAX_ANSWERS,
        max_output: int = MAX_OUTPUT,
        doing: str = "",
    ) -> Steps[bytes]:
        """Send ``data``; everything the device printed before its next ``prompt``.

        A text of ``answers`` (a pager, a confirmation question) is answered with its bytes, at
        most ``max_answers`` times and while the output stays within ``max_output`` bytes; a text
        of ``refusals`` is the device refusing the command (DeviceError, after waiting briefly for
        the prompt that follows it, so the session stays usable).
        """
        stream = self._session()
        doing = doing or f"the answer to {_shown(data)!r}"
        stream.discard()  # stale output would be taken for this answer
        yield from stream.write_steps(data, deadline)
        tokens = (prompt, *(token for token, _ in answers), *refusals)
        output = bytearray()
        for _ in range(max_answers + 1):
            got = yield from self._expect_steps(stream, tokens, deadline, step, doing)
            output += got.before
            if got.index == 0:
                return bytes(output)
            if got.index > len(answers):
                try:  # noqa: SIM105 - no contextlib: this module is on the metadata path
                    yield from self._expect_steps(stream, (prompt,), deadline, RESYNC_STEP, "the prompt")
                except StonithError:
                    pass
                text = got.text.decode("latin-1").strip()
                raise DeviceError(f"{self.DEVICE} refused {_shown(data)!r} ({text})")
            if len(output) > max_output:
                break
            yield from stream.write_steps(answers[got.index - 1][1], deadline)
        self._failed = True  # mid-command: no polite logout
        raise DeviceError(
            f"{self.DEVICE} answered {_shown(data)!r} with more than {max_answers} pages or "
            f"{max_output // 1024} KiB without its prompt"
        )


class SerialDriver(StreamDriver):
    """A device on a serial line (``ttydev``) at a fixed speed."""

    SPEED: ClassVar[int]
    EXTRA = ("serial", ("serial",))

    def device_name(self) -> str:
        return str(self.params.ttydev)

    def _open(self, deadline: Deadline) -> Stream:
        return open_serial(self.device_name(), deadline, speed=self.SPEED)


class ConsoleDriver(StreamDriver):
    """A device with a login console: telnet, SSH (``ssh`` field) or serial (``ttydev`` field).

    The outlets and their states come from one table the device prints (``_table``: outlet number
    -> (name, ON/OFF/UNKNOWN)); every status is read from a fresh table.
    """

    DIALOGUE: ClassVar[Dialogue]
    EMPTY: ClassVar[str] = "the status table lists no outlets"  # a table without one outlet
    UNNAMED: ClassVar[tuple[str, ...]] = ()  # outlet names that power no node (not listed)
    _identity = ""  # the model and firmware, as the login showed them

    # Whether the verbs are written as steps (``_table_steps``, ``_switch_steps``): then a session
    # over telnet is NONBLOCKING, driven by the engine's selector thread (SSH and serial block).
    STEPS: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        tty = self._tty()
        if self.STEPS and not uses_ssh(self.params) and (not tty or "://" not in tty):
            vars(self)["NONBLOCKING"] = True  # per instance: the engine reads it from the driver

    def _table(self, deadline: Deadline) -> dict[str, tuple[str, str]]:
        """The outlet table (a driver overrides this or ``_table_steps``)."""
        from stonith.contract.steps import run

        return run(self._table_steps(deadline))

    def _table_steps(self, deadline: Deadline) -> Steps[dict[str, tuple[str, str]]]:
        yield from ()
        return self._table(deadline)

    def _switch_steps(self, state: str, outlet: Outlet, deadline: Deadline) -> Steps[None]:
        """Switch ``outlet`` to ON or OFF (a driver with ``STEPS`` overrides it)."""
        yield from ()
        raise NotImplementedError

    def probe(self, deadline: Deadline) -> str:
        self.outlets(deadline)
        return self._identity

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return self._named(self._table(deadline))

    def outlets_steps(self, deadline: Deadline) -> Steps[list[Outlet]]:
        return self._named((yield from self._table_steps(deadline)))

    def _named(self, table: dict[str, tuple[str, str]]) -> list[Outlet]:
        if not table:
            raise DeviceError(self.EMPTY)
        return [Outlet(number, name) for number, (name, _) in table.items() if name not in self.UNNAMED]

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return self.status_many([outlet], deadline)[outlet.id]

    def status_many(self, outlets: Sequence[Outlet], deadline: Deadline) -> dict[str, str]:
        return _states(self._table(deadline), outlets)

    def status_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[dict[str, str]]:
        return _states((yield from self._table_steps(deadline)), outlets)

    def on_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        yield from self._switch_many_steps(ON, outlets, deadline)

    def off_many_steps(self, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        yield from self._switch_many_steps(OFF, outlets, deadline)

    def _switch_many_steps(self, state: str, outlets: Sequence[Outlet], deadline: Deadline) -> Steps[None]:
        if not self.STEPS:  # the driver's own (blocking) verbs
            yield from ()
            (self.on_many if state == ON else self.off_many)(outlets, deadline)
            return
        for outlet in outlets:
            yield from self._switch_steps(state, outlet, deadline)

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        from stonith.contract.steps import run

        run(self._switch_steps(ON, outlet, deadline))

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        from stonith.contract.steps import run

        run(self._switch_steps(OFF, outlet, deadline))

    def device_name(self) -> str:
        return str(self._tty() or self.params.ipaddr)

    def _tty(self) -> str:
        return str(self.params.ttydev or "") if self.INFO.field("ttydev") is not None else ""

    def _open(self, deadline: Deadline) -> Stream:
        tty = self._tty()
        if tty:
            return open_serial(tty, deadline, speed=self.params.speed)
        return open_stream(self.params, deadline, login=self.params.login or None)

    def _open_steps(self, deadline: Deadline) -> Steps[Stream]:
        if self._tty():  # a local tty: opened at once (a URL's network open keeps a thread)
            return (yield from super()._open_steps(deadline))
        from stonith.transport import telnet

        return (yield from telnet.TelnetStream.connect_steps(self.params.ipaddr, deadline))

    def _start_steps(self, stream: Stream, deadline: Deadline) -> Steps[None]:
        wake, logged_in = bool(self._tty()), uses_ssh(self.params)
        yield from self._login_steps(stream, deadline, wake=wake, logged_in=logged_in)

    # -- hooks -----------------------------------------------------------------------------------
    def _dialogue(self) -> Dialogue:
        """The login dialogue of a session about to open (``DIALOGUE`` unless the driver builds one)."""
        return self.DIALOGUE

    def _banner(self, text: bytes) -> None:
        """The device's first text, up to the first ask or prompt (before anything is typed)."""

    def _logged_in(self, prompt: Expected, transcript: bytes) -> None:
        """At the prompt: ``prompt.index`` says which of the dialogue's prompts; ``transcript`` is
        everything the device showed during the login."""

    # -- the login dialogue ------------------------------------------------------------------------
    def _login(
        self, stream: Stream, deadline: Deadline, *, wake: bool = False, logged_in: bool = False
    ) -> None:
        """Run ``DIALOGUE`` up to the command prompt (``logged_in``: SSH did the login, so the
        console may show its prompt at once)."""
        from stonith.contract.steps import run

        run(self._login_steps(stream, deadline, wake=wake, logged_in=logged_in))

    def _login_steps(
        self, stream: Stream, deadline: Deadline, *, wake: bool = False, logged_in: bool = False
    ) -> Steps[None]:
        from stonith.transport.stream import Expected

        dialogue = self._dialogue()
        asks = dialogue.asks
        reached = -1  # the last ask the device showed
        refused = ""  # the message of a refusal: that of the last credential answered
        transcript = bytearray()
        within, doing = dialogue.first_within, dialogue.first
        for _ in range(len(asks) + 1):
            tokens: list[Token] = []
            meaning: list[int] = []  # per token: an ask's index, -1 a prompt, -2 a refusal
            for index in range(reached + 1, len(asks)):
                tokens.append(asks[index].token)
                meaning.append(index)
                if not asks[index].optional:
                    break
            else:
                logged_in = True
            first_prompt = len(tokens)
            if logged_in:
                tokens += dialogue.prompts
                meaning += [-1] * len(dialogue.prompts)
            if refused:
                again = [a.token for a in asks[: reached + 1] if a.credential]
                tokens += [*again, *dialogue.refusals]
                meaning += [-2] * (len(again) + len(dialogue.refusals))
            if reached < 0:
                got = yield from self._first_steps(stream, dialogue, tokens, deadline, wake=wake)
            else:
                got = yield from self._expect_steps(stream, tokens, deadline, within, doing)
            transcript += got.before + got.text
            if reached < 0:
                self._banner(bytes(transcript))
            where = meaning[got.index]
            if where == -1:
                which = Expected(got.index - first_prompt, got.before, got.text, got.match)
                self._logged_in(which, bytes(transcript))
                return
            if where == -2:
                raise AuthFailed(refused)
            reached = where
            ask = asks[where]
            within, doing = ask.within, ask.then
            if ask.answer is not None:
                yield from stream.write_steps(self._answer(ask, dialogue.eol), deadline)
            if ask.credential:
                refused = ask.refused or f"{self.DEVICE} refused the login"
        raise DeviceError(f"{self.DEVICE}: the login did not reach the prompt")  # unreachable

    def _answer(self, ask: Ask, eol: bytes) -> bytes:
        if isinstance(ask.answer, bytes):
            return ask.answer
        from stonith.drivers._text import latin1

        value = str(getattr(self.params, str(ask.answer)) or "")
        if ask.answer == USER and not value:
            raise AuthFailed(f"{self.DEVICE} asks for a user name; set login")
        return latin1(value, str(ask.answer), self.INFO.name) + eol

    def _first_steps(
        self, stream: Stream, dialogue: Dialogue, tokens: Sequence[Token], deadline: Deadline, *, wake: bool
    ) -> Steps[Expected]:
        """The first wait: a closed connection before any byte is a busy device; a silent
        console gets the wake key."""
        try:
            if dialogue.wake is None or dialogue.wake_after is None:
                return (
                    yield from stream.expect_steps(tokens, deadline, dialogue.first_within, dialogue.first)
                )
            if wake:  # a serial console prints nothing until a key is pressed
                yield from stream.write_steps(dialogue.wake, deadline)
            # first_within bounds the whole wait, the key pressed after wake_after included.
            wait = deadline.sub(dialogue.first_within)
            try:
                return (yield from stream.expect_steps(tokens, wait, dialogue.wake_after, dialogue.first))
            except Timeout:
                if wait.expired():
                    raise
            yield from stream.write_steps(dialogue.wake, deadline)
            try:
                return (yield from self._expect_steps(stream, tokens, wait, None, dialogue.first))
            except Timeout:
                if deadline.expired():
                    raise
                from stonith.contract import redact

                seen = redact.tail(stream.pending(), 80)
                raise Timeout(
                    f"{stream.what}: no {dialogue.first} within {dialogue.first_within:g} s "
                    f"(Enter sent after {dialogue.wake_after:g} s; last output: {seen!r})"
                ) from None
        except DeviceError as exc:
            if stream.received == 0:
                raise DeviceBusy(
                    f"{stream.what} closed the connection before {dialogue.first} (is another session open?)"
                ) from exc
            raise


def _states(table: dict[str, tuple[str, str]], outlets: Sequence[Outlet]) -> dict[str, str]:
    return {o.id: table[o.id][1] if o.id in table else UNKNOWN for o in outlets}


def header_table(text: bytes, keys: tuple[str, str, str], sep: str = "|") -> dict[str, tuple[str, str]]:
    """Outlet number -> (name, ON/OFF/UNKNOWN) from a table whose columns are found by their header.

    ``keys``: the header names (any case) of the number, name and state columns; cells are split at
    ``sep``.  Rows before the header, rows too short and rows without a number are skipped; the
    first row of a number counts.
    """
    table: dict[str, tuple[str, str]] = {}
    columns: list[int] | None = None
    for raw in text.decode("latin-1").replace("\r", "").split("\n"):
        cells = [cell.strip() for cell in raw.split(sep)]
        if len(cells) < 3:
            continue
        if columns is None:
            lowered = [cell.lower() for cell in cells]
            if all(key in lowered for key in keys):
                columns = [lowered.index(key) for key in keys]
            continue
        if len(cells) <= max(columns):
            continue
        number, name, state = (cells[column] for column in columns)
        if number.isdigit():
            table.setdefault(str(int(number)), (name, {"ON": ON, "OFF": OFF}.get(state.upper(), UNKNOWN)))
    return table


def _shown(data: bytes) -> str:
    return data.decode("latin-1").rstrip("\r\n")

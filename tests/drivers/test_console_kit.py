"""The console kit (drivers/_console.py), through a small switch declared the way a driver is.

The three console drivers' own tests (baytech, apcmaster, wti_nps) cover the kit against their mocks
and independent peers; these pin its rules on their own: the login only moves forward, a credential
prompt shown again is a refused login, answers to pagers are bounded, and the polite logout is skipped
once an answer went missing.
"""

from __future__ import annotations

import re
import time

import pytest
from stonith.drivers import _console

from stonith.contract import params
from stonith.contract.deadline import Deadline
from stonith.contract.driver import OFF, ON, UNKNOWN, DriverInfo, Outlet
from stonith.contract.errors import AuthFailed, DeviceError, Timeout
from tests.drivers.test_baytech import FakeStream

PROMPT = re.compile(rb"(SW\d)> ")
LOGIN = _console.Dialogue(
    [
        _console.Ask(b"login:", _console.USER, within=1, refused="refused"),
        _console.Ask(b"password:", _console.PASSWORD, within=1, refused="refused"),
        _console.Ask(b"Welcome", within=1),
    ],
    [PROMPT, b"admin# "],
    refusals=[b"Login incorrect"],
    first="the login prompt",
    first_within=1,
)
INFO = DriverInfo(
    "kitswitch",
    shortdesc="A switch made of the kit",
    description="A test switch.",
    fields=(params.CONSOLE_ADDRESS, params.LOGIN, params.PASSWORD),
)


class KitSwitch(_console.ConsoleDriver):
    INFO = INFO
    DIALOGUE = LOGIN
    DEVICE = "the kit switch"
    UNNAMED = ("---",)

    def _logged_in(self, prompt, transcript):
        self.prompt_index, self.transcript = prompt.index, transcript

    def _logout(self):
        return ((b"quit\r", None),)

    def _table(self, deadline):
        answers = ((b"--More--", b" "), (b"(y/n)", b"y\r"))
        text = self._round_trip(b"show\r", deadline, 1, prompt=PROMPT, answers=answers, max_answers=3)
        return _console.header_table(text, ("port", "name", "state"))

    def on(self, outlet, deadline):
        self._round_trip(b"on " + outlet.id.encode() + b"\r", deadline, 1, prompt=PROMPT, refusals=[b"Bad"])

    def off(self, outlet, deadline):
        raise NotImplementedError


def switch(chunks):
    driver = KitSwitch({"ipaddr": "127.0.0.1", "login": "me", "password": "pw"})
    stream = FakeStream(chunks)
    return driver, stream


TABLE = b" Port | Name | State\r\n 1 | n1 | ON\r\n 2 | --- | OFF\r\n 3 | n3 | ???\r\n"


def test_login_moves_forward_and_ends_at_a_prompt():
    driver, stream = switch([b"banner\r\nlogin: ", b"password: ", b"Welcome to SW1\r\n", b"SW1> "])
    driver._login(stream, Deadline(1))
    assert stream.sent == b"me\rpw\r"
    assert stream.sent_after(b"pw", b"password:")
    assert driver.prompt_index == 0 and driver.transcript.startswith(b"banner")


def test_a_required_step_cannot_be_skipped():
    # The prompt before the login is not the end of the dialogue (the Welcome is required too).
    driver, stream = switch([b"SW1> ", b"login: ", b"password: ", b"SW1> "])
    with pytest.raises(DeviceError):  # the fake's EOF: the prompts were never taken for the end
        driver._login(stream, Deadline(1))
    assert stream.sent == b"me\rpw\r"


def test_ssh_may_start_at_the_prompt():
    driver, stream = switch([b"admin# "])
    driver._login(stream, Deadline(1), logged_in=True)
    assert driver.prompt_index == 1 and stream.sent == b""


@pytest.mark.parametrize("again", [b"login: ", b"password: ", b"Login incorrect"])
def test_a_credential_asked_again_or_a_refusal_is_a_refused_login(again):
    driver, stream = switch([b"login: ", b"password: ", again])
    with pytest.raises(AuthFailed, match="refused"):
        driver._login(stream, Deadline(1))


def test_round_trip_answers_pages_and_confirmations_within_bounds():
    driver, stream = switch([TABLE[:30], b"--More--", TABLE[30:], b"(y/n)", b"SW1> "])
    driver._stream = stream
    assert driver.outlets(Deadline(1)) == [Outlet("1", "n1"), Outlet("3", "n3")]
    assert stream.sent == b"show\r y\r"
    driver, stream = switch([b"--More--"] * 10)
    driver._stream = stream
    with pytest.raises(DeviceError, match="more than 3 pages"):
        driver.outlets(Deadline(1))
    driver.disconnect()
    assert stream.sent == b"show\r" + b" " * 4  # and no logout: the answer never came


def test_status_from_the_table():
    driver, stream = switch([TABLE, b"SW1> "])
    driver._stream = stream
    states = driver.status_many([Outlet("1"), Outlet("2"), Outlet("3"), Outlet("9")], Deadline(1))
    assert states == {"1": ON, "2": OFF, "3": UNKNOWN, "9": UNKNOWN}


def test_a_refused_command_keeps_the_session():
    driver, stream = switch([b"Bad port\r\n", b"SW1> "])
    driver._stream = stream
    with pytest.raises(DeviceError, match=r"refused 'on 7' \(Bad\)"):
        driver.on(Outlet("7"), Deadline(1))
    driver.disconnect()
    assert stream.sent == b"on 7\rquit\r"  # still logged in: the polite logout


class SilentStream(FakeStream):
    def _recv(self, timeout):
        if self.chunks:
            return super()._recv(timeout)
        Deadline(timeout).sleep(timeout)
        return b""


def test_no_logout_once_an_answer_went_missing():
    driver = KitSwitch({"ipaddr": "127.0.0.1", "login": "me", "password": "pw"})
    stream = SilentStream([])
    driver._stream = stream
    with pytest.raises(Timeout):
        driver.on(Outlet("1"), Deadline(0.2))
    driver.disconnect()
    assert stream.sent == b"on 1\r"


def test_header_table_finds_columns_by_name():
    text = b"junk | x\r\n State | PORT | Name\r\n ON | 01 | a\r\n OFF | 1 | dup\r\n on | x | b\r\n"
    assert _console.header_table(text, ("port", "name", "state")) == {"1": ("a", ON)}


# ---------------------------------------------------------------------------------------------
# A driver whose verbs are steps (wti_nps): over telnet, sessions share one selector thread


def test_wti_over_telnet_runs_on_one_loop_thread():
    import contextlib
    import threading

    from stonith.drivers.apcmaster import ApcMaster
    from stonith.drivers.baytech import Baytech
    from stonith.drivers.wti_nps import WtiNps

    from stonith.contract import steps
    from tests.drivers.test_baytech import eventually
    from tests.drivers.test_wti_nps import PASSWORD, mock_for

    assert WtiNps({"ipaddr": "127.0.0.1", "password": "x"}).NONBLOCKING
    assert not WtiNps({"ipaddr": "127.0.0.1", "password": "x", "login": "a", "ssh": True}).NONBLOCKING
    assert ApcMaster({"ipaddr": "127.0.0.1", "login": "a", "password": "x"}).NONBLOCKING
    assert Baytech({"ipaddr": "127.0.0.1"}).NONBLOCKING and Baytech({"ttydev": "/dev/ttyS0"}).NONBLOCKING
    assert not Baytech({"ttydev": "rfc2217://127.0.0.1:2217"}).NONBLOCKING  # pyserial reads in a thread
    threads = set()

    def session(driver, deadline):
        yield from driver.connect_steps(deadline)
        try:
            outlets = yield from driver.outlets_steps(deadline)
            states = yield from driver.status_many_steps(outlets[:2], deadline)
            yield from driver.off_many_steps(outlets[:1], deadline)
            threads.add(threading.get_ident())
            return states
        finally:
            driver.disconnect()

    with contextlib.ExitStack() as stack:
        mocks = [stack.enter_context(mock_for("nps")) for _ in range(4)]
        drivers = [WtiNps({"ipaddr": m.address, "password": PASSWORD}) for m in mocks]
        results = steps.Loop().run([session(d, Deadline(10)) for d in drivers])
        assert results == [{"1": ON, "2": ON}] * 4 and len(threads) == 1
        eventually(lambda: all(m.state(1) == OFF and m.state(2) == ON for m in mocks))


def test_baytech_over_local_ttys_runs_on_one_loop_thread(tmp_path):
    """Serial consoles (a pty per mock, as a tty) share the selector thread too: the console's
    descriptor is waited on, the writes never wait for the line, and a hung-up line is an error."""
    import contextlib
    import threading

    from stonith.drivers.baytech import Baytech

    from stonith.contract import steps
    from tests.drivers.test_baytech import PASSWORD, USER, eventually, mock_for

    threads = set()

    def session(driver, deadline):
        yield from driver.connect_steps(deadline)
        try:
            outlets = yield from driver.outlets_steps(deadline)
            yield from driver.off_many_steps(outlets[:1], deadline)
            states = yield from driver.status_many_steps(outlets[:2], deadline)
            threads.add(threading.get_ident())
            return sorted(states)
        finally:
            yield from driver.disconnect_steps()

    with contextlib.ExitStack() as stack:
        mocks = [
            stack.enter_context(mock_for("rpc3", serial_link=str(tmp_path / f"tty{i}"))) for i in range(3)
        ]
        drivers = [Baytech({"ttydev": m.serial, "login": USER, "password": PASSWORD}) for m in mocks]
        assert all(d.NONBLOCKING for d in drivers)
        results = steps.Loop().run([session(d, Deadline(20)) for d in drivers])
        assert results == [["1", "2"]] * 3 and len(threads) == 1
        eventually(lambda: all(m.state(1) == OFF and m.state(2) == ON for m in mocks))
    # The line hangs up (the console's end is gone) under a logged-in session: the next wait on the
    # loop is an error at once, not a wait until the deadline.
    with mock_for("rpc3", serial_link=str(tmp_path / "gone")) as mock:
        driver = Baytech({"ttydev": mock.serial, "login": USER, "password": PASSWORD})
        steps.Loop().run([driver.connect_steps(Deadline(10))])
    started = time.monotonic()
    with pytest.raises(DeviceError):
        steps.Loop().run([driver.off_many_steps([Outlet("1")], Deadline(10))])
    assert time.monotonic() - started < 5
    driver.disconnect()

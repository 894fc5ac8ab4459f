"""The APC MasterSwitch mock on its own: exact bytes, keys (ESC, Ctrl-C, IAC IP), line ends, faults."""

from __future__ import annotations

import pytest
from stonith.mocks.apcmaster import ConsoleDecoder
from stonith.mocks.harness import start_mock

from tests.mocks.test_baytech import Client

NEGOTIATION = b"\xff\xfb\x01\xff\xfb\x03"  # WILL ECHO, WILL SGA


def login(mock, user="apc", password="pw"):
    client = Client(mock)
    assert client.read(b"User Name : ") == NEGOTIATION + b"\r\nUser Name : "
    assert client.send(user, b"Password  : ") == b"\r\nPassword  : "
    return client, client.send(password, b"\r\n> ")


def test_ap9211_dialogue_is_byte_exact():
    with start_mock(
        "apcmaster",
        model="ap9211",
        names=["node1", "node2"],
        outlets=2,
        states=["on", "off"],
        username="apc",
        password="pw",
        reboot_delay=0.1,
    ) as mock:
        client, menu = login(mock)
        assert menu.startswith(
            b"\r\n\r\nAmerican Power Conversion               Network Management Card AOS v3.3.3\r\n"
            b"(c) Copyright 2003 All Rights Reserved  MasterSwitch APP         v2.2.0\r\n"
            b"\r\n------- Control Console ---"
        )
        assert (
            b"\r\n\r\n     1- Device Manager\r\n     2- Network\r\n     3- System\r\n     4- Logout\r\n"
            in menu
        )
        assert menu.endswith(b"\r\n\r\n     <ESC>- Back, <ENTER>- Refresh\r\n> ")
        screen = client.send("1", b"\r\n> ")
        assert screen.startswith(b"\r\n------- Device Manager ---")
        assert (
            b"-\r\n\r\n     1- node1                   ON\r\n     2- node2                   OFF\r\n\r\n"
            in screen
        )
        assert b"     9- Master Control/Configuration\r\n" in screen
        assert client.send("2", b"\r\n> ").startswith(b"\r\n------- Outlet 2 ---")
        control = client.send("1", b"\r\n> ")
        assert b"     1- Immediate On\r\n     2- Immediate Off\r\n     3- Immediate Reboot\r\n" in control
        assert client.send("1", b": ") == (
            b"\r\n  -----\r\n  Immediate On\r\n\r\n  Enter 'YES' to continue or <ENTER> to cancel : "
        )
        assert (
            client.send("YES", b"...")
            == b"\r\n  Command successfully issued.\r\n\r\n  Press <ENTER> to continue..."
        )
        assert client.send("", b"\r\n> ").startswith(b"\r\n------- Control Outlet ---")
        assert mock.state(2) == "on"
        # ESC goes back one level at a time, with a fresh prompt even at the top.
        client.sock.sendall(b"\x1b")
        assert client.read(b"\r\n> ").startswith(b"\r\n------- Outlet 2 ---")
        client.sock.sendall(b"\x1b\x1b\x1b")
        tops = client.read(b"Logout\r\n\r\n     <ESC>- Back, <ENTER>- Refresh\r\n> ", timeout=1)
        assert tops.count(b"\r\n> ") == 3 and b"Control Console" in tops
        assert client.send("4").endswith(b"Connection Closed - Bye\r\n<EOF>")
        client.close()


def test_msp_switch_level_and_ctrl_c():
    with start_mock("apcmaster", model="msp", username="apc", password="pw") as mock:
        client, menu = login(mock)
        assert b"MasterSwitch plus APP    v2.0.0" in menu and b"AOS v2.5.4" in menu
        assert b"     1- MasterSwitch plus 1\r\n" in client.send("1", b"\r\n> ")
        assert b"     1- Outlet 1                ON\r\n" in client.send("1", b"\r\n> ")
        client.send("3", b"\r\n> ")
        control = client.send("1", b"\r\n> ")
        assert (
            b"     1- Immediate On\r\n     2- Delayed On\r\n"
            b"     3- Immediate Off\r\n     4- Immediate Reboot\r\n" in control
        )
        client.send("3", b": ")
        assert client.send("YES", b"...") == b"\r\n  Success\r\n\r\n  Press <ENTER> to continue..."
        client.send("", b"\r\n> ")
        assert mock.state(3) == "off"
        # Ctrl-C, raw or as telnet IAC IP, goes straight to the Control Console.
        client.sock.sendall(b"\x03")
        assert b"- Logout" in client.read(b"\r\n> ")
        client.send("1", b"\r\n> ")
        client.sock.sendall(b"\xff\xf4\xff\xfd\x06")  # IAC IP, IAC DO TIMING-MARK
        assert b"- Logout" in client.read(b"\r\n> ")
        client.close()


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\r\x00", b"\r\x00\n", b"\n"])
def test_every_line_end_is_one_enter(ending):
    with start_mock("apcmaster", username="apc", password="pw") as mock:
        client, _ = login(mock)
        client.sock.sendall(b"1" + ending)
        screen = client.read(b"\r\n> ")
        client.sock.sendall(b"\x1b")
        after = client.read(b"\r\n> ")
        assert b"Device Manager" in screen and b"Control Console" in after  # no stray refresh/selection
        client.close()


def test_wrong_login_asks_again_then_closes():
    with start_mock("apcmaster", username="apc", password="pw") as mock:
        client = Client(mock)
        client.read(b"User Name : ")
        client.send("apc", b"Password  : ")
        assert client.send("nope", b"User Name : ") == b"\r\nUser Name : "
        client.send("root", b"Password  : ")
        assert client.send("pw", b"User Name : ") == b"\r\nUser Name : "
        client.send("apc", b"Password  : ")
        assert client.send("x").endswith(b"<EOF>")
        client.close()


def test_client_banner_crutch_and_plain_text_option():
    with start_mock("apcmaster", client_banner=True, negotiate=False, username="apc", password="pw") as mock:
        client = Client(mock)
        assert client.read(b"User Name : ") == (
            b"Trying 127.0.0.1...\r\nConnected to 127.0.0.1.\r\nEscape character is '^]'.\r\n\r\nUser Name : "
        )
        client.close()


def test_decoder_refuses_unoffered_options_and_maps_interrupts():
    sent = []
    decoder = ConsoleDecoder(sent.append, frozenset({1, 3}))
    assert (
        decoder.feed(b"a\xff\xfd\x01b\xff\xfd\x18\xff\xfb\x1fc\xff\xff\xff\xf4\xff\xfa\x18\x00x\xff\xf0d")
        == b"ab" + b"c\xff\x03d"
    )
    assert sent == [b"\xff\xfc\x18\xff\xfe\x1f"] and decoder.replies == b""

"""The WTI mock on its own: exact bytes of every personality, plug lists, confirmation, logout."""

from __future__ import annotations

from stonith.mocks.harness import start_mock

from tests.mocks.test_baytech import Client

NEGOTIATION = b"\xff\xfb\x01\xff\xfb\x03"


def test_nps_dialogue_is_byte_exact():
    with start_mock(
        "wti_nps",
        model="nps",
        names=["node1", "a-name-longer-than-16"],
        outlets=2,
        states=["on", "off"],
        password="pw",
        reboot_delay=0.1,
    ) as mock:
        client = Client(mock)
        assert client.read(b"Password: ") == NEGOTIATION + b"\r\nEnter Password: "
        assert client.send("pw", b"NPS> ") == (
            b"\r\n\r\n    Network Power Switch v3.02         Site ID: (undefined)\r\n\r\n"
            b" Plug | Name             | Status | Boot Delay | Default |\r\n"
            b"------+------------------+--------+------------+---------+\r\n"
            b"  1   | node1            |   ON   |   0.5 Secs |   ON    |\r\n"
            b"  2   | a-name-longer-th |  OFF   |   0.5 Secs |   ON    |\r\n"
            b"------+------------------+--------+------------+---------+\r\n"
            b"\r\nNPS> "
        )
        assert client.send("/On 2", b": ") == b"\r\n Sure? (Y/N): "
        assert client.send("Y", b"NPS> ") == b"\r\n   Processing - please wait ...\r\n\r\nNPS> "
        assert mock.state(2) == "on"
        assert client.send("/BOOT 1 2 ,y", b"NPS> ") == b"\r\n   Processing - please wait ...\r\n\r\nNPS> "
        assert [e["state"] for e in mock.events()] == ["on", "off", "off", "on", "on"]
        assert client.send("/off 9,y", b"NPS> ") == b"\r\n   Invalid Plug\r\n\r\nNPS> "
        assert client.send("/off 1", b": ") == b"\r\n Sure? (Y/N): "
        assert client.send("n", b"NPS> ") == b"\r\n   Command Aborted\r\n\r\nNPS> "
        assert client.send("/bogus", b"NPS> ") == b"\r\n   Invalid Command\r\n\r\nNPS> "
        assert client.send("/x,y").endswith(b"\r\nDisconnecting...\r\n<EOF>")
        client.close()


def test_ips_table_starts_in_column_0_and_follows_commands():
    with start_mock("wti_nps", model="ips", names=["node1"], password="pw", confirm=False) as mock:
        client = Client(mock)
        client.read(b"Password: ")
        banner = client.send("pw", b"IPS> ")
        assert b"Internet Power Switch v1.40h" in banner
        assert b"\r\nPlug | Name             | Password    | Status | Boot/Seq. Delay |\r\n" in banner
        assert b"\r\n 1   | node1            | (undefined) |   ON   |     5 Secs      |\r\n" in banner
        answer = client.send("/off node1", b"IPS> ")
        assert answer.startswith(b"\r\n   Processing - please wait ...\r\n\r\nPlug | Name")
        assert b"|  OFF   |" in answer and mock.state(1) == "off"
        assert client.send("/on 1:3+4 *", b"IPS> ").count(b"|   ON   |") == 8
        client.close()


def test_wrong_password_and_no_password():
    with start_mock("wti_nps", model="tps", password="pw") as mock:
        client = Client(mock)
        client.read(b"Password: ")
        assert client.send("x", b"Password: ") == b"\r\nInvalid password\r\n\r\nEnter Password: "
        client.send("y", b"Password: ")
        assert client.send("z").endswith(b"Invalid password\r\n\r\nDisconnecting...\r\n<EOF>")
        client.close()
    with start_mock("wti_nps", model="tps", password="", negotiate=False) as mock:
        client = Client(mock)
        greeting = client.read(b"TPS> ")
        assert greeting.startswith(b"\r\n\r\n    Telnet Power Switch v1.10") and b"  2   |" in greeting
        client.close()

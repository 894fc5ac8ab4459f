"""journald's native protocol (stonith/fencing/journal.py) and the audit log's journal destination, against a
fake journal socket in a temporary directory (STONITH_JOURNAL_SOCKET)."""

from __future__ import annotations

import os
import socket

import pytest

from stonith.fencing import journal
from stonith.fencing.audit import Audit, AuditError, Entry
from tests.stonith.fakejournal import FakeJournal, parse


@pytest.fixture
def fake(tmp_path, monkeypatch):
    server = FakeJournal(tmp_path)
    monkeypatch.setenv("STONITH_JOURNAL_SOCKET", server.path)
    yield server
    server.close()


def test_encoding_plain_and_binary_fields() -> None:
    data = journal.encode({"MESSAGE": "two\nlines", "PRIORITY": 3, "STONITH_NODE": "node1"})
    assert data.startswith(b"MESSAGE\n" + (9).to_bytes(8, "little") + b"two\nlines\n")
    assert b"PRIORITY=3\n" in data and data.endswith(b"STONITH_NODE=node1\n")
    assert parse(data) == {"MESSAGE": "two\nlines", "PRIORITY": "3", "STONITH_NODE": "node1"}


@pytest.mark.parametrize("name", ["_PID", "lower", "1ABC", "A-B", "", "X" * 65, "ÄB"])
def test_names_journald_rejects_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        journal.encode({name: "x"})


def test_a_big_entry_goes_as_a_sealed_memfd(fake) -> None:
    big = "x" * (4 << 20)  # beyond any datagram limit
    target = journal.Journal()
    target.send({"MESSAGE": "big", "STONITH_RECORD": big})
    got = fake.receive()
    assert got["MESSAGE"] == "big" and got["STONITH_RECORD"] == big
    target.close()


def test_audit_records_go_to_the_journal_with_structured_fields(fake) -> None:
    audit = Audit()  # the default: the journal, since its socket exists
    assert audit.destination == "journal"
    audit.open()
    audit.record(
        [
            Entry("node1", "pdu-a", ["1", "2"], "off", "ok", 0.25, channel="strong: SSH"),
            Entry("node2", "pdu-a", ["3"], "off", "failed", 2.0, "outlet 3 still on"),
        ]
    )
    first, second = fake.receive(), fake.receive()
    assert first["STONITH_NODE"] == "node1" and first["STONITH_DEVICE"] == "pdu-a"
    assert first["STONITH_OUTLETS"] == "1,2" and first["STONITH_VERB"] == "off"
    assert first["STONITH_RESULT"] == "ok" and first["PRIORITY"] == "5"
    assert first["STONITH_CHANNEL"] == "strong: SSH" and first["STONITH_DURATION"] == "0.25"
    assert first["SYSLOG_IDENTIFIER"] == "stonith" and first["SYSLOG_FACILITY"] == "10"
    assert first["MESSAGE"] == "off node1 via pdu-a outlets 1,2: ok"
    assert len(first["MESSAGE_ID"]) == 32
    import json

    assert json.loads(first["STONITH_RECORD"])["node"] == "node1"
    assert second["STONITH_RESULT"] == "failed" and second["PRIORITY"] == "3"
    assert second["STONITH_ERROR"] == "outlet 3 still on"
    assert "outlet 3 still on" in second["MESSAGE"]


def test_secrets_are_masked_in_journal_records(fake) -> None:
    from stonith.contract import redact

    redact.remember("s3cret-marker")
    audit = Audit("journal")
    audit.open()
    audit.record([Entry("node1", "pdu-a", ["1"], "off", "failed", 1.0, "device said s3cret-marker")])
    got = fake.receive()
    assert "s3cret-marker" not in "".join(got.values())


def test_a_journal_that_is_not_there_refuses_before_anything_is_switched(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STONITH_JOURNAL_SOCKET", str(tmp_path / "missing.socket"))
    audit = Audit("journal")
    with pytest.raises(AuditError, match="cannot reach journald"):
        audit.open()


def test_a_journal_that_goes_away_is_an_error_not_silence(tmp_path, monkeypatch) -> None:
    server = FakeJournal(tmp_path)
    monkeypatch.setenv("STONITH_JOURNAL_SOCKET", server.path)
    audit = Audit("journal")
    audit.open()
    server.close()
    os.unlink(server.path)
    with pytest.raises(OSError):
        audit.record([Entry("node1", "pdu-a", ["1"], "off", "ok", 0.1)])


def test_without_journal_the_default_stays_syslog_or_none(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STONITH_JOURNAL_SOCKET", str(tmp_path / "missing.socket"))
    monkeypatch.delenv("STONITH_AUDIT", raising=False)
    assert Audit().destination == ("syslog" if os.path.exists("/dev/log") else "none")


def test_sink_falls_back_to_syslog_with_the_fields_in_the_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STONITH_JOURNAL_SOCKET", str(tmp_path / "missing.socket"))
    fake_syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fake_syslog.bind(str(tmp_path / "log"))
    fake_syslog.settimeout(5)
    monkeypatch.setattr(journal, "SYSLOG_SOCKET", str(tmp_path / "log"))
    sink = journal.Sink()
    assert sink.kind == "syslog"
    sink.open()
    sink.send({"MESSAGE": "pdu-a: FAILED", "PRIORITY": journal.ERR, "STONITH_DEVICE": "pdu-a"})
    line = fake_syslog.recv(65536).decode()
    assert line.startswith(f"<{(journal.DAEMON << 3) | journal.ERR}>stonith[")
    assert line.endswith("pdu-a: FAILED STONITH_DEVICE=pdu-a")
    sink.close()
    fake_syslog.close()

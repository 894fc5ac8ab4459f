"""The audit log (stonith/fencing/audit.py): one JSON line per node and device action, written per phase."""

from __future__ import annotations

import json
import os
import stat

from stonith.fencing.audit import Audit, Entry


def test_a_phase_is_one_line_per_node_in_a_private_file(tmp_path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = Audit(str(path))
    audit.record(
        [
            Entry("n1", "pdu-a", ["1"], "off", "ok", 0.1234),
            Entry("n2", "pdu-a", ["2", "3"], "off", "failed", 2.0, "outlet 3 still on"),
        ]
    )
    audit.record([Entry("n1", "pdu-a", ["1"], "on", "ok", 0.2)])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["node"], e["verb"], e["result"]) for e in lines] == [
        ("n1", "off", "ok"),
        ("n2", "off", "failed"),
        ("n1", "on", "ok"),
    ]
    assert lines[0]["duration"] == 0.123 and "error" not in lines[0]
    assert lines[1]["outlets"] == ["2", "3"] and lines[1]["error"] == "outlet 3 still on"
    assert lines[0]["time"].endswith("Z")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_none_writes_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Audit("none").record([Entry("n1", "pdu-a", ["1"], "off", "ok", 0.1)])
    assert list(tmp_path.iterdir()) == []


def test_records_of_one_write_are_masked_like_each_alone(tmp_path) -> None:
    # Audit.record masks each distinct string of a write once: the lines are what redact.deep
    # makes of each record, a secret (and a secret cut at either end) masked wherever it is.
    from stonith.contract import redact

    redact.remember("audit-s3cret")
    entries = [
        Entry("n1", "pdu-a", ["1"], "off", "failed", 1.5, "device said audit-s3cret", "weak: telnet"),
        Entry("n2", "pdu-a", ["2"], "off", "failed", 1.5, "echo: ...audit-s3c", "weak: telnet"),
        Entry("n3", "pdu-a", ["3"], "off", "failed", 1.5, "device said audit-s3cret", "weak: telnet"),
    ]
    path = tmp_path / "audit.jsonl"
    Audit(str(path)).record(entries)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    stamp = lines[0]["time"]
    assert lines == [redact.deep(entry.as_dict(stamp)) for entry in entries]
    assert "s3cret" not in path.read_text() and "audit-s3c" not in path.read_text()

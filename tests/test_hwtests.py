"""CI-sized smoke test of hwtests: conformance suite, dry run, fuzzing, recordings, a 500-run campaign."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

RECORDINGS = sorted((REPO / "mocks" / "recordings").glob("*.jsonl"))


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.mark.slow
def test_campaign_500_runs_no_false_success_no_overrun_no_traceback(tmp_path: Path) -> None:
    report = tmp_path / "campaign.json"
    result = run("-m", "hwtests.campaign", "--runs", "500", "--seed", "1", "--json", str(report), timeout=300)
    summary = json.loads(report.read_text())["summary"]
    assert summary["runs"] == 500
    assert (summary["false_successes"], summary["overruns"], summary["tracebacks"]) == (0, 0, 0), (
        result.stdout
    )
    assert summary["collateral"] == 0 and summary["setup_errors"] == 0
    assert summary["successes"] > 100 and summary["failures"] > 100  # the faults did bite
    assert "Traceback" not in result.stderr
    assert result.returncode == 0


@pytest.mark.slow
def test_conformance_suite_on_the_shipped_lab(tmp_path: Path) -> None:
    report, junit = tmp_path / "hw.json", tmp_path / "hw.xml"
    result = run(
        "-m", "pytest", "hwtests/test_conformance.py", "-q", "-p", "no:cacheprovider",
        "--test-nodes", "node1,node7,db1,gpu1", "--json-report", str(report), "--junitxml", str(junit),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    data = json.loads(report.read_text())
    outcomes = {(t["test"], t["subject"]): t["outcome"] for t in data["tests"]}
    assert outcomes[("test_dual_psu", "db1")] == "passed"
    assert outcomes[("test_reset", "node7")] == "passed"
    assert outcomes[("test_reset", "gpu1")] == "passed"  # a node on two topology levels
    assert all(o != "failed" for o in outcomes.values())
    assert "<testsuite" in junit.read_text()
    assert "hwtests:" in result.stdout  # the terminal table


@pytest.mark.slow
def test_conformance_suite_on_every_mock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stonith.mocks.__main__ import MOCKS

    from stonith.fencing.inventory import load_dir

    report = tmp_path / "hw.json"
    result = run(
        "-m", "pytest", "hwtests/test_conformance.py", "-q", "-p", "no:cacheprovider",
        "--devices", "hwtests/every-mock.d", "--json-report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    rows = json.loads(report.read_text())["tests"]
    assert [r["nodeid"] for r in rows if r["outcome"] == "failed"] == []
    outcomes = {(r["test"], r["subject"]): r["outcome"] for r in rows}
    monkeypatch.setenv("STONITH_LAB_PASSWORD", "lab-load-only")
    inventory = load_dir(str(REPO / "hwtests" / "every-mock.d"))
    assert {str((d.mock or {}).get("type", d.type)) for d in inventory.devices} == set(MOCKS)
    for entry in inventory.devices:
        for test in ("test_list", "test_status", "test_unreachable", "test_deadline"):
            assert outcomes[(test, entry.name)] == "passed", (test, entry.name)
        if not entry.info.capabilities.status:
            continue  # the suite expects its fences to be refused (see test_conformance.py)
        nodes = sorted(entry.hosts or {}) or _mock_names(entry.mock or {})
        for test in ("test_off_on", "test_reset"):
            assert any(outcomes.get((test, n)) == "passed" for n in nodes), (test, entry.name, nodes)
    assert outcomes[("test_dual_psu", "dual1")] == "passed"
    assert outcomes[("test_concurrent_clients", "")] == "passed"


def _mock_names(mock: dict[str, object]) -> list[str]:
    """Outlet names a [mock] table starts its mock with (node names where the file has no [hosts])."""
    args = [str(a) for a in mock.get("args", [])]  # type: ignore[attr-defined]
    return args[args.index("--names") + 1].split(",") if "--names" in args[:-1] else []


def test_dry_run_against_real_hardware_switches_nothing(tmp_path: Path) -> None:
    from stonith.mocks.harness import start_mock

    devices = tmp_path / "devices.d"
    devices.mkdir()
    with start_mock("baytech", model="rpc3", names=["web1", "web2", "spare"], password="pw") as pdu:
        text = (
            f'type = "baytech"\ntimeout = 5\n[parameters]\nipaddr = "{pdu.address}"\nlogin = "admin"\n'
            '[secrets]\npassword = { env = "HW_PW" }\n[hosts]\nweb1 = "1"\nweb2 = "2"\nspare = "3"\n'
        )
        (devices / "rack.toml").write_text(text)
        (devices / "hwtests.conf").write_text('[devices.rack]\ntest_nodes = ["spare"]\n')
        os.environ["HW_PW"] = "pw"
        result = run(
            "-m", "pytest", "hwtests/test_conformance.py", "-q", "-p", "no:cacheprovider", "-s",
            "--devices", str(devices), "--real-hardware", "--dry-run",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]
        assert "DRY-RUN: would reset spare" in result.stdout
        assert "web1" not in "".join(line for line in result.stdout.splitlines() if "would" in line)
        assert pdu.events() == []
        # Without --dry-run: only the test node is switched, and the others never.
        result = run(
            "-m", "pytest", "hwtests/test_conformance.py", "-q", "-p", "no:cacheprovider",
            "--devices", str(devices), "--real-hardware", "-k", "not wrong_credentials and not deadline",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]
        assert {e["outlet"] for e in pdu.events()} == {"3"}
        # Without --real-hardware the device is not contacted: only the address-free tests run.
        before = pdu.events()
        result = run("-m", "pytest", "hwtests/test_conformance.py", "-q", "-p", "no:cacheprovider",
                     "--devices", str(devices))  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]
        assert "pass --real-hardware" in result.stdout + result.stderr or "skipped" in result.stdout
        assert pdu.events() == before


def test_fuzz_suite() -> None:
    fuzzers = sorted(str(p.relative_to(REPO)) for p in (REPO / "hwtests").glob("test_fuzz_*.py"))
    assert len(fuzzers) >= 8, fuzzers
    result = run("-m", "pytest", *fuzzers, "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.name for p in RECORDINGS])
def test_shipped_recordings_match_the_mock(path: Path) -> None:
    from stonith.mocks.recording import check_file

    assert check_file(str(path)) == []


def test_a_tampered_recording_is_caught(tmp_path: Path) -> None:
    from stonith.mocks.recording import check_file

    source = next(p for p in RECORDINGS if "RPC-3__" in p.name)
    tampered = tmp_path / source.name
    tampered.write_text(source.read_text().replace("Off ", "On  ", 1))
    problems = check_file(str(tampered))
    assert problems and "expected" in problems[0]


def test_recording_names_follow_the_convention() -> None:
    assert len(RECORDINGS) >= 2
    for path in RECORDINGS:
        vendor, _model, driver, _firmware, number = path.name.removesuffix(".jsonl").split("__")
        head = json.loads(path.read_text().splitlines()[0])
        assert (head["vendor"], head["driver"]) == (vendor, driver) and number.isdigit()

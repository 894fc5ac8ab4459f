"""The benchmark harness's logic (bench/harness.py): statistics, interleaving, missing and failing
commands, limits, the command line.  No timing is asserted: durations come from a fake executor,
and the few real runs use ``true`` and the interpreter with tiny run counts."""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _import_bench() -> None:
    """bench/ is a top-level package of the checkout, not installed.  Import it without putting
    the checkout on sys.path, where its stonith/ would shadow the installed stonith."""
    if "bench" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "bench", REPO / "bench" / "__init__.py", submodule_search_locations=[str(REPO / "bench")]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module
    spec.loader.exec_module(module)


_import_bench()

from bench import harness  # noqa: E402
from bench.harness import Command, Row, main, percentile, run_row  # noqa: E402

PY = sys.executable
TRUE = [PY, "-c", "pass"]
FALSE = [PY, "-c", "raise SystemExit(3)"]


class FakeExecutor:
    """Records the order of runs and returns the durations given per first argv item."""

    def __init__(self, seconds: Mapping[str, Sequence[float]], codes: Mapping[str, int] | None = None):
        self.seconds = {k: list(v) for k, v in seconds.items()}
        self.codes = dict(codes or {})
        self.calls: list[str] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, float]:
        key = argv[0]
        self.calls.append(key)
        times = self.seconds[key]
        return self.codes.get(key, 0), times.pop(0) if len(times) > 1 else times[0]


def fake_row(**kw) -> Row:
    # argv[0] must resolve: use real, existing executables and tell them apart by their path.
    kw.setdefault("peers", [Command("peer", ["/bin/sh"])])
    return Row(name=kw.pop("name", "ours"), argv=kw.pop("argv", [PY]), **kw)


# -- arithmetic ---------------------------------------------------------------------------------


def test_percentile_matches_statistics_quantiles_inclusive():
    data = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    q = statistics.quantiles(data, n=10, method="inclusive")
    assert percentile(data, 10) == pytest.approx(q[0])
    assert percentile(data, 90) == pytest.approx(q[8])
    assert percentile(data, 50) == statistics.median(data)
    assert percentile([4.0], 10) == percentile([4.0], 90) == 4.0
    assert percentile([1.0, 2.0], 0) == 1.0 and percentile([1.0, 2.0], 100) == 2.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_median_p10_p90_and_ratio_of_medians():
    ex = FakeExecutor({PY: [0.010, 0.030, 0.020, 0.040, 0.050], "/bin/sh": [0.040, 0.020, 0.060]})
    res = run_row(fake_row(), runs=5, warmup=0, executor=ex)
    assert res.ours.median_ms() == pytest.approx(30.0)
    assert res.ours.p10_ms() == pytest.approx(14.0)
    assert res.ours.p90_ms() == pytest.approx(46.0)
    assert res.peers[0].samples == pytest.approx([0.040, 0.020, 0.060, 0.060, 0.060])
    assert res.peers[0].median_ms() == pytest.approx(60.0)
    assert res.ratio("peer") == pytest.approx(0.5)
    assert res.ratio("no such peer") is None
    assert harness.ratio(1.0, 0.0) is None and harness.ratio(None, 1.0) is None


# -- running ------------------------------------------------------------------------------------


def test_runs_are_interleaved_and_warmup_is_not_recorded():
    peers = [Command("a", ["/bin/sh"]), Command("b", ["/bin/cat"])]
    ex = FakeExecutor({PY: [9.0, 9.0, 0.001], "/bin/sh": [9.0, 9.0, 0.002], "/bin/cat": [9.0, 9.0, 0.003]})
    res = run_row(fake_row(peers=peers), runs=3, warmup=2, executor=ex)
    assert ex.calls == [PY, "/bin/sh", "/bin/cat"] * 5
    assert res.ours.samples == [0.001] * 3  # the two 9 s warm-up runs are dropped
    assert [p.samples for p in res.peers] == [[0.002] * 3, [0.003] * 3]


def test_row_overrides_runs_and_warmup():
    ex = FakeExecutor({PY: [0.001], "/bin/sh": [0.001]})
    res = run_row(fake_row(runs=2, warmup=1), runs=30, warmup=5, executor=ex)
    assert (res.runs, res.warmup, len(ex.calls), len(res.ours.samples)) == (2, 1, 6, 2)


def test_missing_peer_is_reported_not_run():
    peers = [
        Command("gone", ["/nonexistent/fence_x", "-o", "metadata"]),
        Command("nope", ["no-such-cmd-xyz"]),
    ]
    row = fake_row(peers=peers, limits={"gone": 0.5})
    ex = FakeExecutor({PY: [0.01]})
    res = run_row(row, runs=3, warmup=1, executor=ex)
    assert ex.calls == [PY] * 4
    assert [p.status for p in res.peers] == ["missing", "missing"]
    assert res.ratio("gone") is None
    [check] = res.limit_checks()
    assert (check.verdict, check.reason) == ("unchecked", "peer missing")
    assert res.passed()
    assert not res.passed(require_peers=True)
    text = harness.format_row(res)
    assert "peer missing" in text and "<=0.5x unchecked" in text


def test_failing_peer_is_reported_with_its_status_and_not_timed():
    ex = FakeExecutor({PY: [0.01], "/bin/sh": [0.01]}, codes={"/bin/sh": 2})
    res = run_row(fake_row(limits={"peer": 2.0}), runs=3, warmup=2, executor=ex)
    assert ex.calls.count("/bin/sh") == 1  # failed in the first warm-up round, then left out
    assert (res.peers[0].status, res.peers[0].returncode, res.peers[0].samples) == ("failed", 2, [])
    assert "failed (exit 2)" in harness.format_row(res)
    assert res.limit_checks()[0].verdict == "unchecked"


def test_failure_after_warmup_discards_the_samples():
    ex = FakeExecutor({PY: [0.01], "/bin/sh": [0.01]})
    row = fake_row(peers=[Command("peer", ["/bin/sh"])])
    calls = 0

    def flaky(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, float]:
        nonlocal calls
        calls += 1
        code, t = ex(argv, env)
        return (1 if argv[0] == "/bin/sh" and calls > 4 else code), t

    res = run_row(row, runs=4, warmup=0, executor=flaky)
    assert res.peers[0].status == "failed" and not res.peers[0].timed
    assert res.ours.timed and len(res.ours.samples) == 4


def test_ok_returncodes():
    ex = FakeExecutor({PY: [0.01], "/bin/sh": [0.01]}, codes={PY: 1, "/bin/sh": 1})
    row = fake_row(ok_returncodes=(0, 1), peers=[Command("peer", ["/bin/sh"], ok_returncodes=(1,))])
    res = run_row(row, runs=2, warmup=0, executor=ex)
    assert res.ours.timed and res.peers[0].timed


def test_our_command_missing_fails_the_row():
    row = fake_row(argv=["/nonexistent/stonith", "-L"], limits={"peer": 1.5})
    res = run_row(row, runs=2, warmup=0, executor=FakeExecutor({"/bin/sh": [0.01]}))
    assert res.ours.status == "missing" and res.peers[0].timed
    assert not res.passed()
    assert res.limit_checks()[0].verdict == "FAIL"
    assert "ours missing" in harness.format_row(res)


def test_setup_substitutions_and_teardown():
    events: list[str] = []

    def setup() -> dict[str, str]:
        events.append("setup")
        return {"port": "4242"}

    row = fake_row(
        argv=[PY, "--port=${port}"],
        peers=[Command("peer", ["/bin/sh", "$port", "$other"])],
        env={"MOCK": "127.0.0.1:$port"},
        setup=setup,
        teardown=lambda: events.append("teardown"),
    )
    seen: list[tuple[tuple[str, ...], str]] = []

    def ex(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, float]:
        seen.append((tuple(argv), env["MOCK"]))
        return 0, 0.01

    res = run_row(row, runs=1, warmup=0, executor=ex)
    assert events == ["setup", "teardown"]
    assert seen == [
        ((PY, "--port=4242"), "127.0.0.1:4242"),
        (("/bin/sh", "4242", "$other"), "127.0.0.1:4242"),
    ]
    assert res.ours.argv == (PY, "--port=4242")


def test_setup_failure_is_reported_and_teardown_still_runs():
    events: list[str] = []

    def setup() -> None:
        raise RuntimeError("mock would not start")

    row = fake_row(setup=setup, teardown=lambda: events.append("teardown"), limits={"peer": 1.0})
    res = run_row(row, runs=2, warmup=0, executor=FakeExecutor({}))
    assert events == ["teardown"]
    assert "mock would not start" in res.error and not res.passed()
    assert "ERROR: setup failed" in harness.format_row(res)


def test_teardown_runs_when_the_executor_raises():
    events: list[str] = []

    def boom(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, float]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_row(fake_row(teardown=lambda: events.append("teardown")), runs=1, warmup=0, executor=boom)
    assert events == ["teardown"]


def test_row_validation():
    with pytest.raises(ValueError, match="unknown peers"):
        fake_row(limits={"typo": 1.5})
    with pytest.raises(ValueError, match="unique"):
        fake_row(peers=[Command("ours", ["/bin/sh"])])
    with pytest.raises(ValueError, match="empty argv"):
        Command("x", [])
    with pytest.raises(ValueError):
        run_row(fake_row(), runs=0, warmup=0, executor=FakeExecutor({}))


# -- limits and the command line ----------------------------------------------------------------


def limit_rows() -> list[Row]:
    return [
        fake_row(name="fast one", limits={"peer": 1.5}),  # ours 10 ms vs peer 10 ms: 1.0x
        fake_row(name="slow one", argv=["/bin/cat"], limits={"peer": 1.5}),  # 20 ms vs 10 ms: 2.0x
        fake_row(name="unlimited", argv=["/bin/cat"]),
    ]


def limit_executor() -> FakeExecutor:
    return FakeExecutor({PY: [0.010], "/bin/cat": [0.020], "/bin/sh": [0.010]})


def test_limit_checks_verdicts():
    ok, slow, free = (run_row(r, 3, 0, limit_executor()) for r in limit_rows())
    assert [(c.verdict, c.ratio) for c in ok.limit_checks()] == [("ok", pytest.approx(1.0))]
    assert [(c.verdict, c.ratio) for c in slow.limit_checks()] == [("FAIL", pytest.approx(2.0))]
    assert free.limit_checks() == [] and free.passed()
    assert ok.passed() and not slow.passed()


def test_check_exits_1_only_when_a_limit_fails(capsys):
    rows = limit_rows()
    assert main(rows, ["--runs", "2", "--warmup", "0"], limit_executor()) == 0
    assert main(rows, ["--runs", "2", "--warmup", "0", "--check"], limit_executor()) == 1
    out = capsys.readouterr().out
    assert "FAILED: slow one" in out and "fast one," not in out
    assert main(rows, ["--runs", "2", "--warmup", "0", "--check", "--filter", "fast"], limit_executor()) == 0
    assert (
        main(rows, ["--runs", "2", "--check", "--filter", "unlim", "--filter", "fast"], limit_executor()) == 0
    )


def test_filter_selects_by_substring_and_reports_no_match(capsys):
    ex = limit_executor()
    assert main(limit_rows(), ["--runs", "1", "--warmup", "0", "--filter", "one"], ex) == 0
    out = capsys.readouterr().out
    assert "fast one" in out and "slow one" in out and "unlimited" not in out
    assert main(limit_rows(), ["--filter", "zzz"], ex) == 2
    assert main(limit_rows(), ["--list"], ex) == 0
    assert "unlimited" in capsys.readouterr().out


def test_json_output(tmp_path):
    out = tmp_path / "bench.json"
    assert main(limit_rows()[:2], ["--runs", "2", "--warmup", "1", "--json", str(out)], limit_executor()) == 0
    data = json.loads(out.read_text())
    assert data["environment"]["python"] == sys.executable
    fast, slow = data["rows"]
    assert (fast["name"], fast["runs"], fast["warmup"], fast["passed"]) == ("fast one", 2, 1, True)
    assert fast["ours"]["median_ms"] == pytest.approx(10.0) and fast["ours"]["ratio"] is None
    assert fast["ours"]["samples_ms"] == pytest.approx([10.0, 10.0])
    assert fast["peers"][0]["ratio"] == pytest.approx(1.0)
    assert slow["limits"] == [
        {"peer": "peer", "limit": 1.5, "ratio": pytest.approx(2.0), "verdict": "FAIL", "reason": None}
    ]


# -- real processes, tiny counts ----------------------------------------------------------------


def test_real_commands_run_and_fail_as_reported():
    row = Row(
        name="python pass",
        argv=TRUE,
        peers=[Command("true", ["true"]), Command("exit 3", FALSE), Command("absent", ["/nonexistent/x"])],
    )
    res = run_row(row, runs=2, warmup=1)
    assert res.ours.timed and len(res.ours.samples) == 2 and res.ours.returncode == 0
    true, failing, absent = res.peers
    assert true.timed and all(s > 0 for s in true.samples)
    assert (failing.status, failing.returncode) == ("failed", 3)
    assert absent.status == "missing"
    assert res.ratio("true") is not None and res.ratio("exit 3") is None


def test_python_m_bench_runs_from_the_repo_root():
    proc = subprocess.run(
        [PY, "-m", "bench", "--list"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("stonith -L", "stonith -t null -n", "stonith -t null -m"):
        assert name + ":" in proc.stdout
    assert "python -I -c pass; fence_apc_snmp -o metadata; /usr/sbin/stonith" in proc.stdout


def test_rows_registry():
    from bench import rows

    names = [r.name for r in rows.ROWS]
    assert names[:3] == ["stonith -L", "stonith -t null -n", "stonith -t null -m"]
    assert len(names) == len(set(names))
    for row in rows.ROWS[:3]:
        assert Path(row.argv[0]) == Path(sys.executable).with_name("stonith")
        assert [p.label for p in row.peers] == [
            "python -I -c pass",
            "fence_apc_snmp -o metadata",
            "/usr/sbin/stonith " + row.name.removeprefix("stonith "),
        ]
        assert row.peers[0].argv == (sys.executable, "-I", "-c", "pass")
        assert row.peers[2].argv[1:] == tuple(row.argv[1:])
        assert dict(row.limits) == {"python -I -c pass": 1.5, "fence_apc_snmp -o metadata": 0.5}


def test_warnings_name_an_editable_install(tmp_path, monkeypatch):
    from bench import rows

    monkeypatch.setattr(rows.site, "getsitepackages", lambda: [str(tmp_path)])
    assert not any("editable" in w for w in rows.warnings())
    (tmp_path / "__editable__.stonith-0.1.0.pth").write_text("import x\n")
    assert any("__editable__.stonith-0.1.0.pth" in w for w in rows.warnings())
    monkeypatch.setattr(rows, "STONITH", str(tmp_path / "stonith"))
    assert any("not installed" in w for w in rows.warnings())

"""Issue 22 item 6: the cluster verbs speak the user's language (--lang, LANG), say when they cannot,
answer in JSON with --json even when they fail, refuse node sets they cannot read, fold status.

Against a BayTech mock, through the installed ``stonith`` command.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import run_stonith, stonith_cmd
from tests.stonith.test_cluster_with_mocks import device_file, env, mock

HOSTS = {f"node{n}": str(n) for n in range(1, 6)}


@pytest.fixture
def pdu(tmp_path: Path):  # type: ignore[no-untyped-def]
    with mock(outlets=8) as handle:
        device_file(tmp_path, "pdu2", handle.address, hosts=HOSTS)
        yield handle


def test_reset_in_german_table_header_and_result_line(tmp_path: Path, pdu: object) -> None:
    result = run_stonith("reset", "node2", "--devices", str(tmp_path), "--lang", "de", env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    header, line = result.stdout.splitlines()[:2]
    assert header.split()[:3] == ["KNOTEN", "ERGEBNIS", "ZUSTAND"]
    assert "abgeschottet und wieder eingeschaltet auf Ebene 1" in line
    assert line.split()[:3] == ["node2", "ok", "ein"]


def test_reset_in_german_from_the_environment(tmp_path: Path, pdu: object) -> None:
    result = run_stonith(
        "reset", "node2", "--devices", str(tmp_path), env={**env(tmp_path), "LANG": "de_DE.UTF-8"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("KNOTEN")


def test_english_stays_the_default(tmp_path: Path, pdu: object) -> None:
    result = run_stonith("reset", "node2", "--devices", str(tmp_path), env=env(tmp_path))
    assert result.stdout.startswith("NODE") and "fenced and powered on at level 1" in result.stdout


def test_a_failure_in_german(tmp_path: Path, pdu: object) -> None:
    result = run_stonith("reset", "node9", "--devices", str(tmp_path), "--lang", "de", env=env(tmp_path))
    assert result.returncode == 4
    assert "UNBEKANNTER-KNOTEN" in result.stdout
    assert "kein Gerät in devices.d steuert diesen Knoten" in result.stdout


def test_error_messages_in_german(tmp_path: Path) -> None:
    result = run_stonith("reset", "--devices", str(tmp_path), "--lang", "de")
    assert result.returncode == 1
    assert result.stderr == "FEHLER: stonith reset braucht eine KNOTENMENGE\n"
    missing = run_stonith("status", "node1", "--devices", str(tmp_path / "none"), "--lang", "de")
    assert "das Geräteverzeichnis ist nicht lesbar: " in missing.stderr, missing.stderr


def test_json_stays_english(tmp_path: Path, pdu: object) -> None:
    result = run_stonith(
        "reset", "node2", "--devices", str(tmp_path), "--lang", "de", "--json", env=env(tmp_path)
    )
    assert json.loads(result.stdout)[0]["message"] == "fenced and powered on at level 1"


@pytest.mark.parametrize("verb", ["status", "devices", "check", "types", "export", "metadata"])
def test_unknown_language_is_a_warning_for_every_subcommand(tmp_path: Path, verb: str) -> None:
    args = {"export": ["export", "pcs"], "metadata": ["metadata", "null"]}.get(verb, [verb])
    if verb in ("status", "devices", "check", "export"):
        args += ["--devices", str(tmp_path)]
    result = run_stonith(*args, "--lang", "fr")
    assert "unrecognized arguments" not in result.stderr
    assert result.stderr.splitlines()[0] == "WARNING: no catalog for 'fr'; English", result.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["reset"], 1),  # no node set
        (["reset", "node1", "--timeout", "-3"], 1),  # argparse's usage error
        (["reset", "node1", "--bogus"], 1),
    ],
)
def test_json_errors(tmp_path: Path, args: list[str], code: int) -> None:
    result = run_stonith(*args, "--devices", str(tmp_path / "none"), "--json")
    assert result.returncode == code
    answer = json.loads(result.stdout)
    assert answer["exit_code"] == code and answer["error"]


def test_json_error_of_a_bad_devices_dir(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('type = "baytech"\n')
    result = run_stonith("devices", "--devices", str(tmp_path), "--json")
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["exit_code"] == 1 and "bad.toml" in answer["error"]


def test_fold_groups_nodes_by_state(tmp_path: Path, pdu: object) -> None:
    assert run_stonith("off", "node3", "--devices", str(tmp_path), env=env(tmp_path)).returncode == 0
    result = run_stonith("status", "--fold", "--devices", str(tmp_path), env=env(tmp_path))
    assert result.stdout.splitlines() == ["on: node[1-2,4-5]", "off: node3"], result.stdout
    german = run_stonith("status", "--fold", "--lang", "de", "--devices", str(tmp_path), env=env(tmp_path))
    assert german.stdout.splitlines() == ["ein: node[1-2,4-5]", "aus: node3"], german.stdout


# -- node sets without ClusterShell ------------------------------------------------------------------


@pytest.fixture
def no_clustershell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ClusterShell", None)
    monkeypatch.setitem(sys.modules, "ClusterShell.NodeSet", None)


@pytest.mark.parametrize("text", ["node[1-3]!node2", "@gpus", "node[1-4]&node[2-6]", "n[1-3]^n2"])
def test_fallback_refuses_what_it_cannot_read(no_clustershell: None, text: str) -> None:
    from stonith.contract.errors import UsageError
    from stonith.fencing.nodeset import expand

    with pytest.raises(UsageError, match="need ClusterShell"):
        expand(text)


def test_fallback_expands_and_folds(no_clustershell: None) -> None:
    from stonith.fencing.nodeset import expand, fold

    assert expand("node[1-3],gpu[01-02]") == ["node1", "node2", "node3", "gpu01", "gpu02"]
    assert (
        fold(["node1", "node2", "node3", "node5", "gpu01", "gpu02", "login"])
        == "login,node[1-3,5],gpu[01-02]"
    )


def test_clustershell_expands_operators() -> None:
    pytest.importorskip("ClusterShell")
    from stonith.fencing.nodeset import expand

    assert expand("node[1-3]!node2") == ["node1", "node3"]


def test_check_json_is_structured(tmp_path: Path, pdu: object) -> None:
    (tmp_path / "bad.toml").write_text('type = "baytech"\n')
    result = run_stonith("check", "--devices", str(tmp_path), "--json", env=env(tmp_path))
    rows = {(r["device"], r["result"]): r for r in json.loads(result.stdout)}
    assert result.returncode == 1
    ok = rows["pdu2", "ok"]
    assert ok["result"] == "ok" and ok["exit_code"] == 0 and ok["outlets"] == 8 and ok["identity"]
    assert rows["bad.toml", "error"]["exit_code"] == 1
    assert "telnet" in rows["pdu2", "weak-channel"]["message"]


def test_node_names_keep_their_case(tmp_path: Path, pdu: object) -> None:
    result = run_stonith("status", "Node[2-3],node2", "--devices", str(tmp_path), "--json", env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [r["node"] for r in json.loads(result.stdout)] == ["Node2", "Node3"]  # matched case-insensitively
    table = run_stonith("status", "NODE4", "--devices", str(tmp_path), env=env(tmp_path))
    assert table.stdout.splitlines()[1].split()[:3] == ["NODE4", "ok", "on"]


def test_fallback_keeps_case_when_asked(no_clustershell: None) -> None:
    from stonith.fencing.nodeset import expand

    assert expand("Db[1-2],db1", keep_case=True) == ["Db1", "Db2"]
    assert expand("Db[1-2]") == ["db1", "db2"]


# -- the progress line on a terminal says what it waits for ---------------------------------------


def _on_a_terminal(args: list[str], extra_env: dict[str, str]) -> tuple[int, str]:
    """Run stonith with stderr on a pseudo-terminal (the progress line is drawn only there)."""
    import os
    import pty
    import subprocess

    master, slave = pty.openpty()
    full_env = {**os.environ, "LANG": "C.UTF-8", **extra_env}
    full_env.pop("LANGUAGE", None)
    proc = subprocess.Popen(
        [*stonith_cmd(), *args],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=full_env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_progress_line_says_what_it_waits_for(tmp_path: Path) -> None:
    with mock(outlets=8, faults=["stuck=2"]) as handle:
        device_file(tmp_path, "pdu2", handle.address, hosts=HOSTS, timeout=3)
        code, tty = _on_a_terminal(["reset", "node2", "--devices", str(tmp_path)], env(tmp_path))
        _, german = _on_a_terminal(
            ["off", "node2", "--devices", str(tmp_path), "--lang", "de"], env(tmp_path)
        )
    assert code == 5
    assert re.search(r"waiting for pdu2 outlet 2 \(Outlet 2\) to read back off: [123] s", tty), tty
    assert "warte, bis pdu2 Steckdose 2 (Outlet 2) als aus zurückgelesen wird:" in german, german


def test_cluster_glue_syntax_warns_about_an_unknown_language() -> None:
    result = run_stonith("-t", "null", "-n", "--lang", "fr")
    assert result.stderr.startswith("WARNING: no catalog for 'fr'; English\n"), result.stderr


def test_subcommand_errors_in_german() -> None:
    result = run_stonith("config", "baytech", "bogus=1", "--lang", "de")
    assert result.returncode != 0 and result.stderr.startswith("FEHLER: "), result.stderr


def test_the_catalog_passes_msgfmt_check() -> None:
    import shutil
    import subprocess

    from tests.stonith.test_i18n import PO

    if shutil.which("msgfmt") is None:
        pytest.skip("no msgfmt (gettext)")
    check = subprocess.run(["msgfmt", "-c", "-o", "/dev/null", str(PO)], capture_output=True, text=True)
    assert check.returncode == 0 and not check.stderr, check.stderr


def test_devices_and_check_tables_in_german(tmp_path: Path, pdu: object) -> None:
    devices = run_stonith("devices", "--devices", str(tmp_path), "--lang", "de", env=env(tmp_path))
    assert devices.stdout.split()[:3] == ["GERÄT", "TYP", "EBENE"], devices.stdout
    check = run_stonith("check", "--devices", str(tmp_path), "--lang", "de", env=env(tmp_path))
    assert check.stdout.startswith("GERÄT") and "WARNUNG: schwacher Kanal:" in check.stdout, check.stdout


def test_usage_error_prefix_in_german(tmp_path: Path) -> None:
    result = run_stonith("reset", "node1", "--bogus", "--devices", str(tmp_path), "--lang", "de")
    assert result.returncode == 1 and "stonith: Fehler: unrecognized arguments: --bogus" in result.stderr


def test_an_internal_error_with_json_is_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stonith.cli import cluster_cli
    from stonith.cli import main as cli

    def broken(argv: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cluster_cli, "main", broken)
    assert cli.main(["status", "--json"]) == 8
    out = capsys.readouterr()
    assert json.loads(out.out) == {"error": "internal error: RuntimeError: boom", "exit_code": 8}
    assert cli.main(["status"]) == 8
    assert capsys.readouterr().err == "ERROR: internal error: RuntimeError: boom\n"


def test_subcommand_usage_error_in_german() -> None:
    result = run_stonith("types", "--bogus", "--lang", "de")
    assert result.returncode == 1 and "Fehler: unrecognized arguments: --bogus" in result.stderr, (
        result.stderr
    )


def test_a_node_not_fenced_in_german(tmp_path: Path) -> None:
    with mock(outlets=8, faults=["stuck=2"]) as handle:
        device_file(tmp_path, "pdu2", handle.address, hosts=HOSTS, timeout=2)
        result = run_stonith("reset", "node2", "--devices", str(tmp_path), "--lang", "de", env=env(tmp_path))
    assert result.returncode == 5
    line = result.stdout.splitlines()[1]
    assert line.split()[:3] == ["node2", "FEHLGESCHLAGEN", "ein"], line
    assert "NICHT abgeschottet (versuchte Ebenen: [1]): pdu2: Steckdose 2 (Outlet 2): nach " in line
    assert line.endswith("; Steckdosen, die als aus zurückgelesen wurden, bleiben aus"), line


def test_a_language_does_not_carry_over_to_the_next_invocation(capsys: pytest.CaptureFixture[str]) -> None:
    from stonith.cli import main as cli

    assert cli.main(["reset", "--lang", "de", "--devices", "/nonexistent"]) == 1
    assert capsys.readouterr().err.startswith("FEHLER: ")
    assert cli.main(["reset", "--devices", "/nonexistent"]) == 1
    assert capsys.readouterr().err.startswith("ERROR: ")
    assert cli.main(["-t", "null", "-n", "--lang", "de"]) == 0
    capsys.readouterr()
    assert cli.main(["reset", "--devices", "/nonexistent"]) == 1
    assert capsys.readouterr().err.startswith("ERROR: ")

"""``stonith --help`` and the help of every subcommand; "did you mean" for a mistyped command.

``stonith --help`` (also ``-h`` without ``-t``, and ``stonith help``) is one screen that names every
subcommand and the cluster-glue options; ``stonith -h -t TYPE`` keeps cluster-glue's per-type help.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from stonith.cli import main as cli
from tests.conftest import run_stonith

OURS = (*cli.CLUSTER_COMMANDS, *(c for c in cli.SUBCOMMANDS if c != "help"))
EVERY = (*cli.CLUSTER_COMMANDS, *cli.SUBCOMMANDS, *cli.SERVER_COMMANDS)


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["help"], ["-h", "-v"]])
def test_overview_is_one_screen_naming_every_command(argv: list[str]) -> None:
    result = run_stonith(*argv)
    assert result.returncode == 0
    assert result.stderr == ""  # no external script runs for it (cluster-glue's dump ran them all)
    lines = result.stdout.splitlines()
    assert len(lines) <= 60
    assert lines[0].startswith("usage: stonith COMMAND")
    words = result.stdout.replace("|", " ").replace(",", " ").split()
    for command in EVERY:
        assert command in words, command
    for option in (
        "-L",
        "-t",
        "-n",
        "-m",
        "-l",
        "-S",
        "-T",
        "-p",
        "-F",
        "-E",
        "--json",
        "--lang",
        "--timeout",
    ):
        assert option in words, option
    assert "stonith metadata TYPE --format help" in " ".join(result.stdout.split())
    assert "STONITH Device:" not in result.stdout  # not every type's block


def test_help_of_one_type_stays_cluster_glue_s() -> None:
    result = run_stonith("-h", "-t", "baytech")
    assert result.returncode == 0
    assert result.stdout.startswith("\n\nSTONITH Device: baytech - ")
    assert "List of valid parameter names for baytech STONITH device:" in result.stdout


@pytest.mark.parametrize("command", OURS)
def test_every_command_has_description_options_and_example(command: str) -> None:
    result = run_stonith(command, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith(f"usage: stonith {command}")
    _usage, _, rest = text.partition("\n\n")
    description = rest.split("\n\n", 1)[0]
    assert len(description.split()) >= 8, description  # a description, not just the usage line
    assert "options:" in text and "-h, --help" in text
    assert "\nexample:\n" in text
    assert f"stonith {command} " in text.split("\nexample:\n", 1)[1]


def test_cluster_verbs_each_have_their_own_text() -> None:
    texts = {verb: run_stonith(verb, "--help").stdout for verb in cli.CLUSTER_COMMANDS}
    descriptions = {verb: t.split("\n\n")[1] for verb, t in texts.items()}
    assert len(set(descriptions.values())) == len(descriptions)
    # options shown where they matter: --audit for the switching verbs only
    assert (
        "--audit FILE|journal|syslog|none\n" in texts["reset"]
        or "--audit FILE|journal|syslog|none " in texts["reset"]
    )
    assert "audit log" not in texts["status"] and "audit log" not in texts["devices"]
    assert "NODESET" in texts["reset"] and "NODESET" not in texts["check"]


def test_help_command_routes_to_commands_and_types() -> None:
    result = run_stonith("help", "reset")
    assert result.returncode == 0 and result.stdout.startswith("usage: stonith reset")
    result = run_stonith("help", "baytech")
    assert result.returncode == 0 and "ipaddr" in result.stdout
    assert result.stdout == run_stonith("metadata", "baytech", "--format", "help").stdout
    result = run_stonith("help", "baytec")
    assert result.returncode == 1 and "did you mean: baytech" in result.stderr


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (["stauts"], "status"),
        (["reest", "node1"], "reset"),
        (["chekc", "--devices", "/tmp"], "check"),
        (["exprot", "pcs"], "export"),
        (["metdata", "baytech"], "metadata"),
        (["devics", "--json"], "devices"),
    ],
)
def test_mistyped_command_gets_did_you_mean(typed: list[str], meant: str) -> None:
    result = run_stonith(*typed)
    assert result.returncode == 1
    assert f"'{typed[0]}' is not a stonith command; did you mean: {meant}" in result.stderr
    assert "Must specify device type" not in result.stderr  # not cluster-glue's usage error
    assert result.stdout == ""


def test_unknown_word_without_a_close_command() -> None:
    result = run_stonith("frobnicate")
    assert result.returncode == 1
    assert "'frobnicate' is not a stonith command" in result.stderr and "did you mean" not in result.stderr
    assert "stonith --help" in result.stderr


def test_cluster_glue_syntax_with_a_leading_word_still_works() -> None:
    # GNU getopt permutes: the node may come first, and -t then makes it cluster-glue's syntax.
    result = run_stonith("a", "-t", "null", "-p", "a b", "-T", "reset")
    assert result.returncode == 0, result.stderr
    result = run_stonith("-t", "null", "hostlist=a b", "-l")
    assert (result.returncode, result.stdout) == (0, "a\nb\n")


@pytest.mark.parametrize("value", ["-3", "0", "abc", "86401"])
def test_bad_timeout_is_one_clean_line(value: str) -> None:
    result = run_stonith("reset", "node1", "--timeout", value, "--devices", "/nonexistent")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("stonith reset: error: argument --timeout: ")
    assert value in last
    assert "ERROR: :" not in result.stderr and "Traceback" not in result.stderr


def test_start_up_paths_import_neither_argparse_nor_difflib() -> None:
    probe = (
        "import sys, io\n"
        "from stonith.cli.main import main\n"
        "out = sys.stdout\n"
        "for argv in (['-L'], ['-t', 'null', '-n'], ['-t', 'null', '-m']):\n"
        "    sys.stdout = io.StringIO()\n"
        "    assert main(argv) == 0\n"
        "sys.stdout = out\n"
        "print(sorted(m for m in ('argparse', 'difflib') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", probe], capture_output=True, text=True, timeout=60, check=False, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--help"],
        ["reset", "--help"],
        ["lab", "--help"],
        ["status", "a", "b"],
        ["off", "--timeout", "x"],
        ["devices", "--bogus"],
    ],
)
def test_a_verb_s_own_parser_reads_as_the_whole_one(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command builds only its verb's sub-parser (start-up); help, usage and errors are the same
    text the parser of every verb gives, at any terminal width."""
    from stonith.cli import cluster_cli

    for columns in ("60", "120"):
        monkeypatch.setenv("COLUMNS", columns)
        seen = []
        for only in (None, argv[0]):
            with pytest.raises(SystemExit) as stop:
                cluster_cli.parser(only).parse_args(argv)
            seen.append((stop.value.code, capsys.readouterr()))
        assert seen[0] == seen[1]

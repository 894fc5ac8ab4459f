"""Shell completion (issue 22 item 3): `stonith completion bash` sourced in a real bash completes
commands, options, choices, types and node/device names from devices.d; `stonith complete` reads
only the files, quickly, and never fails loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_peer

STONITH_BIN = Path(sys.executable).parent  # the installed `stonith` of this venv


@pytest.fixture
def devices(tmp_path: Path) -> Path:
    d = tmp_path / "devices.d"
    d.mkdir(mode=0o700)
    (d / "pdu-a.toml").write_text(
        'type = "baytech"\n[parameters]\nipaddr = "127.0.0.1:9"\n'
        '[hosts]\nnode1 = "1"\nnode2 = "2"\nDb1 = ["5", "6"]\n'
    )
    (d / "bmc.toml").write_text('name = "bmc-gpu1"\ntype = "ipmilan"\n[parameters]\nhostname = "gpu1"\n')
    (d / "broken.toml").write_text("this is [not toml\n")
    (d / "evil.toml").write_text('type = "null"\n[hosts]\n"two words" = "1"\n"esc\\u001b" = "2"\n')
    (d / "notes.txt").write_text("[hosts]\nnotme = 1\n")
    return d


def _bash(script: str) -> str:
    bash = require_peer("bash", "bash")
    proc = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, PATH=f"{STONITH_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return proc.stdout


def _complete(*lines: tuple[str, ...]) -> list[list[str]]:
    """COMPREPLY for each command line (its last word is the one being completed)."""
    calls = "".join(
        "COMP_WORDS=(" + " ".join("'" + w.replace("'", "'\\''") + "'" for w in words) + "); "
        f"COMP_CWORD={len(words) - 1}; COMPREPLY=(); _stonith; "
        'printf "%s\\x1f" "${COMPREPLY[@]}"; echo\n'
        for words in lines
    )
    out = _bash("source <(stonith completion bash)\n" + calls)
    return [sorted(w for w in line.split("\x1f") if w) for line in out.splitlines()]


def test_res_tab_completes_reset_and_node_names(devices: Path) -> None:
    d = str(devices)
    got = _complete(
        ("stonith", "res"),
        ("stonith", "reset", "--devices", d, ""),
        ("stonith", "reset", "--devices", d, "node"),
        ("stonith", "reset", "--devices", d, "node1,n"),
        ("stonith", "off", "--devices", d, "--json", "g"),
    )
    assert got[0] == ["reset"]
    assert got[1] == ["Db1", "gpu1", "node1", "node2"]  # case kept; bad names and files left out
    assert got[2] == ["node1", "node2"]
    assert got[3] == ["node1,node1", "node1,node2"]
    assert got[4] == ["gpu1"]


def test_nodes_from_stonith_devices_when_no_option(devices: Path) -> None:
    out = _bash(
        f"export STONITH_DEVICES={devices}\nsource <(stonith completion bash)\n"
        "COMP_WORDS=(stonith status ''); COMP_CWORD=2; _stonith; echo \"${COMPREPLY[*]}\"\n"
    )
    assert sorted(out.split()) == ["Db1", "gpu1", "node1", "node2"]


def test_options_choices_types_and_nested_commands(devices: Path, tmp_path: Path) -> None:
    (tmp_path / "a dir").mkdir()
    got = _complete(
        ("stonith", "reset", "--ti"),
        ("stonith", "metadata", "bay"),
        ("stonith", "metadata", "baytech", "--format", "q"),
        ("stonith", "metadata", "baytech", "--format", ""),
        ("stonith", "user", ""),
        ("stonith", "user", "add", "someone", "--role", "op"),
        ("stonith", "-t", "ipmi"),
        ("stonith", "-t", "baytech", "-T", "r"),
        ("stonith", "help", "reset-"),
        ("stonith", "help", "bayt"),
        ("stonith", "completion", ""),
        ("stonith", "install-agents", "--dir", str(tmp_path / "a")),
        ("stonith", "export", ""),
        ("stonith", "check", "--lo"),  # --l: --lang and --log
        ("stonith", "-"),
    )
    assert got[0] == ["--timeout"]
    assert got[1] == ["baytech", "baytech_mrp"]
    assert got[2] == []
    assert "man" in got[3] and "help" in got[3]
    assert got[4] == ["add", "del", "list", "passwd", "role"]
    assert got[5] == ["operator"]
    assert got[6] == ["ipmilan"]
    assert got[7] == ["reset"]
    assert got[8] == []
    assert got[9] == ["baytech", "baytech_mrp"]
    assert got[10] == ["bash", "zsh"]
    assert got[11] == [str(tmp_path / "a dir")]  # a directory with a blank stays one word
    assert got[12] == ["pcs"]
    assert got[13] == ["--log"]
    assert {"-L", "-t", "-h", "--help"} <= set(got[14])


def test_the_script_registers_for_stonith() -> None:
    out = _bash("source <(stonith completion bash)\ncomplete -p stonith\n")
    assert out.strip() == "complete -F _stonith stonith"


def test_the_shipped_script_works_with_bash_completion(devices: Path) -> None:
    """As installed under share/bash-completion/completions, loaded by bash-completion itself."""
    loader = "/usr/share/bash-completion/bash_completion"
    if not os.path.exists(loader):
        require_peer(loader, "bash-completion")
    from tests.conftest import REPO

    out = _bash(
        f"source {loader}\nsource {REPO}/share/bash-completion/completions/stonith\n"
        f"COMP_WORDS=(stonith reset --devices {devices} no); COMP_CWORD=4; COMP_LINE='stonith reset'; "
        'COMP_POINT=${#COMP_LINE}; _stonith; echo "${COMPREPLY[*]}"\n'
    )
    assert out.split() == ["node1", "node2"]


def _stonith(*argv: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STONITH_BIN / "stonith"), *argv], capture_output=True, text=True, timeout=60, check=False, **kw
    )


def test_complete_lists_names_and_never_fails_loudly(devices: Path, tmp_path: Path) -> None:
    nodes = _stonith("complete", "nodes", "--devices", str(devices))
    assert nodes.returncode == 0 and nodes.stderr == ""
    assert nodes.stdout.split() == ["Db1", "gpu1", "node1", "node2"]
    names = _stonith("complete", "devices", f"--devices={devices}")
    assert names.stdout.split() == ["bmc-gpu1", "evil", "pdu-a"]
    assert "baytech" in _stonith("complete", "types").stdout.split()
    missing = _stonith("complete", "nodes", "--devices", str(tmp_path / "nowhere"))
    assert missing.returncode == 0 and missing.stdout == "" and missing.stderr == ""
    # a link is not followed (the device file loader refuses links too)
    linked = tmp_path / "linked.d"
    linked.mkdir()
    (linked / "pdu.toml").symlink_to(devices / "pdu-a.toml")
    assert _stonith("complete", "nodes", "--devices", str(linked)).stdout == ""
    assert _stonith("complete", "bogus").returncode == 1


def test_complete_is_cheap(devices: Path) -> None:
    """No argparse, no driver, no device library: it runs at every TAB."""
    probe = (
        "import sys, io\n"
        "from stonith.cli.main import main\n"
        "out, sys.stdout = sys.stdout, io.StringIO()\n"
        f"assert main(['complete', 'nodes', '--devices', {str(devices)!r}]) == 0\n"
        "sys.stdout = out\n"
        "heavy = ('argparse', 'difflib', 'stonith.fencing.registry', 'stonith.fencing.inventory',\n"
        "         'stonith.cli.manpages')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith(('stonith.drivers', 'pysnmp'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", probe], capture_output=True, text=True, timeout=60, check=False, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_zsh_script_is_valid_zsh() -> None:
    script = _stonith("completion", "zsh")
    assert script.returncode == 0 and script.stdout.startswith("#compdef stonith\n")
    zsh = require_peer("zsh", "zsh")
    proc = subprocess.run([zsh, "-n"], input=script.stdout, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr

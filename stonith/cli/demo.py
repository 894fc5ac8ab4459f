"""The README's demo: the shipped devices.d against its mocks — list, status, verified resets.

Run as ``./run demo`` (or ``python -m stonith.cli.demo [DEVICES_DIR]``).  It starts the mocks that
devices.d declares, runs the ``stonith`` command a person would type, shows the mocks' ground truth
for the dual-PSU node, and stops the mocks.  The lab password is random per run and travels only
in the environment.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stonith.cli.cluster_cli import report
from stonith.contract.errors import StonithError
from stonith.fencing.inventory import load_dir
from stonith.fencing.lab import Lab

STONITH = str(Path(sys.executable).with_name("stonith"))
BOLD = "\033[1m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def say(text: str) -> None:
    sys.stdout.write(f"\n{BOLD}== {text}{RESET}\n")
    sys.stdout.flush()


def ended(proc: subprocess.CompletedProcess[str]) -> int:
    """Show a finished command's stderr and exit status; the status."""
    if proc.stderr.strip():
        sys.stdout.write("".join(f"  (stderr) {line}\n" for line in proc.stderr.splitlines()))
    sys.stdout.write(f"  -> exit {proc.returncode}\n")
    return proc.returncode


def run(*args: str, env: dict[str, str]) -> int:
    sys.stdout.write(f"$ stonith {shlex.join(args)}\n")
    sys.stdout.flush()
    proc = subprocess.run([STONITH, *args], env=env, text=True, capture_output=True, check=False)
    sys.stdout.write(proc.stdout)
    return ended(proc)


def run_json(*args: str, env: dict[str, str], phases: bool = False) -> int:
    """``stonith ARGS --json``, shown as one line per node (and per device phase with ``phases``)."""
    sys.stdout.write(f"$ stonith {shlex.join(args)} --json\n")
    proc = subprocess.run([STONITH, *args, "--json"], env=env, text=True, capture_output=True, check=False)
    try:
        items = json.loads(proc.stdout or "[]")
    except ValueError:
        items = []
        sys.stdout.write(proc.stdout)
    for item in items:
        sys.stdout.write(
            f"  {item['node']:7} {item['result']:4} level {item['level']}  "
            f"{item['duration']:.2f}s  {item['message']}\n"
        )
        for step in item["devices"] if phases else ():
            outlets = ", ".join(f"{o['id']}={o['state']}" for o in step["outlets"])
            outcome = f"FAILED: {step['error']}" if "error" in step else f"outlets {outlets}"
            sys.stdout.write(f"      level {step['level']} {step['device']:8} {step['phase']:3}  {outcome}\n")
    return ended(proc)


def timeline(lab: Lab, node_outlets: dict[str, list[str]], since: float) -> list[tuple[float, str, str, str]]:
    events = []
    for device, outlets in node_outlets.items():
        for event in lab.truth(device)["events"]:
            if event["outlet"] in outlets and event["t"] >= since:
                events.append((event["t"], device, event["outlet"], event["state"]))
    return sorted(events)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return demo(args[0] if args else "devices.d")
    except StonithError as exc:
        return report(exc)


def demo(directory: str) -> int:
    env = dict(os.environ)
    env.setdefault("STONITH_LAB_PASSWORD", "lab-" + secrets.token_hex(6))
    os.environ["STONITH_LAB_PASSWORD"] = env["STONITH_LAB_PASSWORD"]
    audit = Path(tempfile.mkdtemp(prefix="stonith-demo-")) / "audit.log"
    env["STONITH_AUDIT"] = str(audit)
    env["STONITH_DEVICES"] = directory
    env.setdefault("STONITH_LOCK_DIR", str(audit.parent / "locks"))
    inventory = load_dir(directory)
    say(f"Starting the mock devices declared in {directory}/")
    failures = 0
    with Lab(inventory) as lab:
        for name, mock in lab.mocks.items():
            where = mock.info.get("address") or mock.info.get("serial")
            sys.stdout.write(f"  {name:8} {mock.info['type']} {mock.info['model']} mock at {where}\n")
        say("The devices (devices.d)")
        failures += run("devices", env=env) != 0
        say("Status of every node (read from the devices)")
        failures += run("status", env=env) != 0
        say("Reset node3: off, read back off, settle, on, read back on")
        failures += run("reset", "node3", env=env) != 0
        say("Reset db1: two power supplies on two devices (pdu-a outlet 7, pdu-b outlet 8)")
        since = time.time()
        failures += run("reset", "db1", env=env) != 0
        events = timeline(lab, {"pdu-a": ["7"], "pdu-b": ["8"]}, since)
        sys.stdout.write("  ground truth (what the mocks' relays really did):\n")
        for t, device, outlet, state in events:
            sys.stdout.write(f"    +{t - since:6.3f}s  {device} outlet {outlet} -> {state}\n")
        offs = [t for t, _, _, s in events if s == "off"]
        ons = [t for t, _, _, s in events if s == "on"]
        safe = len(offs) == 2 and len(ons) == 2 and max(offs) < min(ons)
        sys.stdout.write(
            "  " + ("both supplies were off before either came back on\n" if safe else "UNEXPECTED ORDER\n")
        )
        failures += not safe
        say("Topology: gpu1's BMC hangs (its mock is stopped with SIGSTOP); level 2 is its PDU outlet")
        hung = lab.mocks["bmc-gpu1"].process
        assert hung is not None  # a lab's mocks are processes
        hung.send_signal(signal.SIGSTOP)
        try:
            failures += run_json("reset", "gpu1", env=env, phases=True) != 0
        finally:
            hung.send_signal(signal.SIGCONT)
        say("Several nodes at once, with JSON output (node[1-2],node[7-8])")
        failures += run_json("reset", "node[1-2],node[7-8]", env=env) != 0
        say("The same device through the cluster-glue syntax (password from the environment, -E)")
        glue_env = dict(env, ipaddr="127.0.0.1:17101", login="admin", password=env["STONITH_LAB_PASSWORD"])
        failures += run("-t", "baytech", "-E", "-l", env=glue_env) != 0
        failures += run("-t", "baytech", "-E", "-S", env=glue_env) != 0
        say("Audit log (one JSON line per action)")
        for line in audit.read_text().splitlines()[:6]:
            sys.stdout.write(f"  {line}\n")
        say("Stopping the mocks")
    sys.stdout.write(f"\ndemo {'finished' if not failures else f'had {failures} failure(s)'}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

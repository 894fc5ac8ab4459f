"""Shared test helpers.

Tests that need an independent peer program (cluster-glue's /usr/sbin/stonith, fence-agents,
net-snmp, powermand, ...) call ``require_peer``.  On a user's machine without the peer they skip
with the reason; in CI (``STONITH_REQUIRE_PEERS=1``, set by .ci/run) a missing peer is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent


# Import the *installed* stonith before pytest's rootdir on sys.path can shadow it with the
# checkout's stonith/ (which has no drivers/mocks subpackages): hwtests does it on import.
import hwtests  # noqa: E402, F401

REQUIRE_PEERS = os.environ.get("STONITH_REQUIRE_PEERS") == "1"

# In CI, property tests draw the same examples every run: a red run must be reproducible, and a
# new counterexample is found by a developer running without the profile (random draws).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if REQUIRE_PEERS:
    _hypothesis_settings.load_profile("ci")


def require_peer(program: str, package: str = "") -> str:
    """Absolute path of ``program``, or skip (fail in CI) naming the Debian package to install."""
    found = program if os.path.isabs(program) and os.access(program, os.X_OK) else shutil.which(program)
    if found:
        return found
    skip_or_fail(f"peer {program} not installed" + (f" (Debian package {package})" if package else ""))


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test whose peer (a program, a package's files, root) is missing; in CI, fail it."""
    if REQUIRE_PEERS:
        pytest.fail(reason + " but STONITH_REQUIRE_PEERS=1 forbids skipping")
    pytest.skip(reason)


def require_root(reason: str) -> None:
    """Skip (fail in CI) a test that needs root, ``reason`` saying why; a root-only test that CI
    skips would never run anywhere."""
    if os.geteuid() == 0:
        return
    if REQUIRE_PEERS:
        pytest.fail(f"not root: {reason}; STONITH_REQUIRE_PEERS=1 forbids skipping")
    pytest.skip(f"not root: {reason}")


@pytest.fixture
def root_required() -> None:
    require_root("the test makes files of another user or binds a privileged port")


def fence_rng() -> str:
    """fence-agents' metadata schema: the project's shared copy, else Debian fence-agents' own."""
    candidates = [
        os.environ.get("STONITH_FENCE_RNG", ""),
        str(REPO.parent / "shared" / "schemas" / "fence-agents-metadata.rng"),
        "/usr/share/cluster/relaxng/metadata.rng",  # Debian package fence-agents ships the same file
    ]
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            return candidate
    return require_peer("/usr/share/cluster/relaxng/metadata.rng", "fence-agents")


def stonith_cmd() -> list[str]:
    """How to run the installed ``stonith`` command."""
    exe = Path(sys.executable).with_name("stonith")
    return [str(exe)] if exe.exists() else [sys.executable, "-P", "-m", "stonith"]


def run_stonith(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.setdefault("LANG", "C.UTF-8")
    full_env.pop("LANGUAGE", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [*stonith_cmd(), *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def stonith_run():
    return run_stonith


class Switched:
    """One outlet a one-device operation switched: what the front ends report per outlet."""

    def __init__(self, outlet: str, seen: str, verified: bool) -> None:
        self.outlet = outlet
        self.seen = seen
        self.verified = verified


def node_operation(driver, node: str, verb: str, deadline) -> list[Switched]:
    """What ``stonith -t TYPE -T verb node`` does, for driver tests: the engine's verified operation
    for a verifiable device (a failed result raised as a StonithError with its exit code), the
    unverified one otherwise."""
    from stonith.contract.errors import StonithError
    from stonith.fencing import engine

    hosts = {node: [node]} if driver.INFO.capabilities.any_host else None
    inventory = engine.one_device(driver, hosts=hosts, timeout=deadline.remaining())
    if not engine.verifiable(driver):
        outlets = engine.unverified(inventory.devices[0], node, verb, deadline)
        return [Switched(o.id, "off" if verb == "off" else "on", False) for o in outlets]
    result = engine.Fencer(inventory, timeout=deadline.remaining(), any_name=True).run(verb, [node])[0]
    if result.result != engine.OK:
        error = StonithError(result.message)
        error.exit_code = result.exit_code
        raise error
    last = [d for d in result.devices if d.phase == ("off" if verb == "off" else "on")]
    return [Switched(o.id, o.state, True) for d in last for o in d.outlets]

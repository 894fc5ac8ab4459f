"""``stonith --remote URL [--remote URL ...] status|on|off|reset NODESET``: the cluster verbs through
one or several services (the design's multicast RPC: one service per management node or rack).

The request goes to every service at once; each answers for the nodes its devices.d has and reports
the others as unknown without touching anything.  Per node, the one service that knows it gives the
result.  A node two services claim is an error (exit 1: the services' devices.d overlap); a service
that does not answer fails only the nodes no other service claimed, naming it.

Credentials: a bearer token from ``--token-file`` or ``STONITH_TOKEN`` (never argv: ``ps`` shows
argv), or user and password from ``STONITH_REMOTE_USER`` / ``STONITH_REMOTE_PASSWORD``.  The server
certificate is checked against ``--cacert`` (default: the system's trust store).
"""

from __future__ import annotations

import json
import os
import sys

from stonith.contract.errors import ExitCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

UNKNOWN_NODE = "unknown-node"


def _headers(token_file: str | None) -> dict[str, str]:
    import base64

    token = os.environ.get("STONITH_TOKEN")
    if token_file:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = os.environ.get("STONITH_REMOTE_USER"), os.environ.get("STONITH_REMOTE_PASSWORD")
    if user and password is not None:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _ask(
    url: str, verb: str, nodeset: str | None, headers: dict[str, str], cacert: str | None, timeout: float
) -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False  # a proxy or CA bundle from the environment must not redirect a fence
    session.verify = cacert or True
    base = url.rstrip("/")
    if verb == "status":
        answer = session.get(
            f"{base}/api/v1/status", params={"nodeset": nodeset or ""}, headers=headers, timeout=timeout
        )
    else:
        answer = session.post(
            f"{base}/api/v1/power/{verb}", json={"nodeset": nodeset}, headers=headers, timeout=timeout
        )
    if answer.status_code != 200:
        try:
            why = answer.json().get("error", answer.text)
        except ValueError:
            why = answer.text
        raise RuntimeError(f"HTTP {answer.status_code}: {str(why)[:200]}")
    data = answer.json()
    return data if verb == "status" else data["results"]


def _clean(text: str) -> str:
    """A remote answer shown on a terminal: C0 and C1 controls (escape sequences) become '?'."""
    return "".join("?" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text)


def merge(nodes: list[str] | None, answers: dict[str, list[dict[str, Any]] | str]) -> list[dict[str, Any]]:
    """Per node, the result of the one service that knows it (see the module's text)."""
    claims: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    order: list[str] = list(nodes or [])
    for url, answer in answers.items():
        if isinstance(answer, str):
            continue
        for result in answer:
            node = result["node"]
            if node not in order:
                order.append(node)
            if result.get("result") != UNKNOWN_NODE:
                claims.setdefault(node, []).append((url, result))
    failed = {url: why for url, why in answers.items() if isinstance(why, str)}
    merged = []
    for node in order:
        found = claims.get(node, [])
        if len(found) == 1:
            merged.append({**found[0][1], "service": found[0][0]})
        elif len(found) > 1:
            merged.append(
                {
                    "node": node,
                    "result": "failed",
                    "state": "unknown",
                    "exit_code": int(ExitCode.S_BADCONFIG),
                    "message": "claimed by several services: " + ", ".join(u for u, _ in found),
                    "services": {u: r for u, r in found},
                }
            )
        else:
            why = "; ".join(f"{u}: {w}" for u, w in failed.items())
            merged.append(
                {
                    "node": node,
                    "result": UNKNOWN_NODE,
                    "state": "unknown",
                    "exit_code": int(ExitCode.S_OOPS if failed else ExitCode.S_BADHOST),
                    "message": f"no service that answered knows this node; not answering: {why}"
                    if failed
                    else "no service knows this node",
                }
            )
    return merged


def run(
    urls: list[str],
    verb: str,
    nodeset: str | None,
    *,
    token_file: str | None,
    cacert: str | None,
    timeout: float | None,
    as_json: bool,
) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from stonith.fencing.nodeset import expand

    nodes = expand(nodeset) if nodeset else None
    headers = _headers(token_file)
    wait = (timeout or 120.0) + 10.0  # the service's own deadline, plus the round trip

    def one(url: str) -> tuple[str, list[dict[str, Any]] | str]:
        try:
            return url, _ask(url, verb, nodeset, headers, cacert, wait)
        except Exception as exc:  # this service's failure, reported on its nodes
            return url, f"{type(exc).__name__}: {exc}"[:300]

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        answers = dict(pool.map(one, urls))
    results = merge(nodes, answers)
    if as_json:
        sys.stdout.write(json.dumps(results, indent=1) + "\n")
    else:
        for url, why in answers.items():
            if isinstance(why, str):
                sys.stderr.write(f"ERROR: {url}: {why}\n")
        width = max([len(r["node"]) for r in results] + [4])
        sys.stdout.write(f"{'NODE'.ljust(width)}  RESULT        STATE    DETAIL\n")
        for r in results:
            shown = "ok" if r["result"] == "ok" else _clean(str(r["result"])).upper()
            line = f"{_clean(r['node']).ljust(width)}  {shown:<12}  {_clean(str(r['state'])):<7}  "
            sys.stdout.write(line + _clean(str(r.get("message", ""))) + "\n")
    return max((int(r.get("exit_code", 0)) for r in results), default=0)

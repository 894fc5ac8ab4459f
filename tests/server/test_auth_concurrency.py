"""Many clients of one user logging in at once are not a brute-force attack (found by bench.service)."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stonith.server import auth


def test_twenty_clients_of_one_user_starting_together_all_get_in(tmp_path: Path) -> None:
    users, tokens = str(tmp_path / "users.json"), str(tmp_path / "tokens.json")
    auth.add_user(users, "otto", "operator", "operator-pass")
    authenticator = auth.Authenticator(users, tokens, max_failures=10)
    header = "Basic " + base64.b64encode(b"otto:operator-pass").decode()

    def login(_: int) -> str:
        return authenticator.authenticate(header, "127.0.0.1").user

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(login, range(20))) == ["otto"] * 20

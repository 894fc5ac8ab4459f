"""The GUI's sessions and pages without a browser: cookie flags, CSRF, idle timeout, login from
another site, what ships in the package, and that every GUI text is in the German catalog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.server.test_service_http import USERS


def test_idle_timeout_lifetime_and_csrf() -> None:
    from stonith.server.gui.sessions import Sessions

    now = [1000.0]
    sessions = Sessions(60, lifetime=300, clock=lambda: now[0])
    token, session = sessions.create("ada")
    assert sessions.get(token) is session
    now[0] += 59
    assert sessions.get(token) is session  # each request restarts the idle clock
    now[0] += 61
    assert sessions.get(token) is None  # idle too long
    token, session = sessions.create("ada")
    for _ in range(10):
        now[0] += 50
        sessions.get(token)
    assert sessions.get(token) is None  # busy, but past its lifetime
    token, session = sessions.create("otto")
    assert Sessions.csrf_ok(session, session.csrf) and not Sessions.csrf_ok(session, "x")
    assert not Sessions.csrf_ok(session, None)
    sessions.end_user("otto")
    assert sessions.get(token) is None


def _login(server, user: str):
    session = server.session()
    answer = session.post(
        f"{server.url}/ui/login",
        data={"user": user, "password": USERS[user][1], "next": "/ui/devices"},
        allow_redirects=False,
        timeout=10,
    )
    return session, answer


def test_cookie_flags_csrf_logout_and_refusals(lab) -> None:
    server, _, _ = lab
    session, answer = _login(server, "ada")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/devices"
    cookie = answer.headers["set-cookie"]
    assert (
        "HttpOnly" in cookie
        and "Secure" in cookie
        and "SameSite=strict" in cookie.replace("Strict", "strict")
    )
    page = session.get(f"{server.url}/ui/devices", timeout=10)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
    # the API takes the cookie, and a change needs the token as well
    assert session.get(f"{server.url}/api/v1/devices", timeout=10).status_code == 200
    body = {"config": {"ipaddr": "192.0.2.1"}}
    assert (
        session.post(f"{server.url}/api/v1/types/baytech/validate", json=body, timeout=10).status_code == 403
    )
    ok = session.post(
        f"{server.url}/api/v1/types/baytech/validate", json=body, headers={"X-CSRF-Token": csrf}, timeout=10
    )
    assert ok.status_code == 200 and ok.json()["ok"]
    # logout needs the token too; afterwards the cookie is worthless
    assert session.post(f"{server.url}/ui/logout", data={"csrf": "x"}, timeout=10).status_code == 403
    out = session.post(f"{server.url}/ui/logout", data={"csrf": csrf}, allow_redirects=False, timeout=10)
    assert out.status_code == 303
    after = server.session()
    after.cookies.update(session.cookies)
    after.cookies.set("stonith_session", answer.cookies["stonith_session"])
    gone = after.get(f"{server.url}/api/v1/devices", timeout=10)
    assert gone.status_code == 401 and "WWW-Authenticate" not in gone.headers  # no browser password pop-up
    assert after.get(f"{server.url}/ui/devices", allow_redirects=False, timeout=10).status_code == 303


def test_login_refusals(lab) -> None:
    server, _, _ = lab
    wrong = server.session().post(
        f"{server.url}/ui/login", data={"user": "ada", "password": "nope"}, allow_redirects=False, timeout=10
    )
    assert wrong.status_code == 401 and "stonith_session" not in wrong.headers.get("set-cookie", "")
    assert "nope" not in wrong.text
    other_site = server.session().post(
        f"{server.url}/ui/login",
        data={"user": "ada", "password": USERS["ada"][1]},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
        timeout=10,
    )
    assert other_site.status_code == 403
    offsite = server.session().post(
        f"{server.url}/ui/login",
        data={"user": "ada", "password": USERS["ada"][1], "next": "//evil.example/"},
        allow_redirects=False,
        timeout=10,
    )
    assert offsite.headers["location"] == "/ui/nodes"  # never redirected off the GUI


def test_create_and_probe_are_admin_only(lab) -> None:
    server, _, _ = lab
    for user, code in (("mona", 403), ("otto", 403)):
        session = server.session(user)
        create = {"name": "x", "type": "baytech", "parameters": {"ipaddr": "192.0.2.1"}}
        assert session.post(f"{server.url}/api/v1/devices", json=create, timeout=10).status_code == code
        probe = {"config": {"ipaddr": "192.0.2.1"}}
        assert (
            session.post(f"{server.url}/api/v1/types/baytech/probe", json=probe, timeout=10).status_code
            == code
        )
    bad = server.session("ada").post(
        f"{server.url}/api/v1/devices", json={"name": "../x", "type": "baytech", "parameters": {}}, timeout=10
    )
    assert bad.status_code == 400 and bad.json()["problems"][0]["field"] == "name"
    taken = server.session("ada").post(
        f"{server.url}/api/v1/devices",
        json={"name": "pdu1", "type": "null", "parameters": {"hostlist": ["z1"]}},
        timeout=10,
    )
    assert taken.status_code == 409


def test_static_files_ship_in_the_installed_package() -> None:
    import stonith.server.gui.routes as routes

    assert Path(routes.STATIC, "gui.js").is_file() and Path(routes.STATIC, "gui.css").is_file()
    assert "site-packages" in routes.STATIC or "dist-packages" in routes.STATIC


def test_every_gui_text_is_a_catalog_string() -> None:
    from stonith.cli import catalogs
    from stonith.server.gui.strings import GUI_STRINGS

    source = "".join(p.read_text() for p in (REPO / "stonith" / "server" / "gui").glob("*.py"))
    used = set(re.findall(r'tr\("([^"]+)"\)', source)) | set(re.findall(r"tr\('([^']+)'\)", source))
    used.discard("...")
    assert used - set(catalogs.all_strings()) == set()
    assert set(GUI_STRINGS) <= set(catalogs.all_strings())


@pytest.mark.parametrize(
    "path", ["/ui/nodes", "/ui/devices", "/ui/history", "/ui/devices/pdu1", "/ui/nodes/n1"]
)
def test_pages_in_german_by_accept_language(lab, path: str) -> None:
    from stonith.render.i18n import translator

    server, _, _ = lab
    session, _ = _login(server, "mona")
    page = session.get(f"{server.url}{path}", headers={"Accept-Language": "de-DE,de;q=0.9"}, timeout=20)
    assert page.status_code == 200 and '<html lang="de">' in page.text
    assert translator("de")("Devices") in page.text  # the navigation
    assert "Traceback" not in page.text

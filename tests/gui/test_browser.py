"""The GUI's acceptance list in a real browser (issue 19): forms from metadata with field errors,
test connection and save; every driver type's form; live node states; a confirmed fence judged by
the mock's ground truth and its history timeline; what a monitor user sees and may do; German."""

from __future__ import annotations

import json
import os
import shutil
import tomllib

import pytest

from tests.conftest import REPO, run_stonith
from tests.gui.conftest import console_errors, login, screenshot, wait_for
from tests.server.test_service_http import PASSWORD, make_server

DOCS = REPO / "docs"


def by_css(browser, css: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css)


def all_css(browser, css: str):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, css)


def field(browser, name: str, section: str = "parameters"):
    return by_css(browser, f'[data-top="{section}"] > .field[data-name="{name}"]')


def set_value(browser, name: str, value: str, section: str = "parameters") -> None:
    from selenium.webdriver.support.select import Select

    box = field(browser, name, section)
    if box.get_attribute("data-kind") == "array":
        element = box.find_element("css selector", ":scope > ol.rows > li.row .value")
    else:
        element = box.find_element("css selector", ":scope > .value")
    if element.tag_name == "select":
        Select(element).select_by_value(value)
        return
    element.clear()
    if value:
        element.send_keys(value)


def error_of(browser, name: str, section: str = "parameters") -> str:
    box = field(browser, name, section)
    text = box.find_element("css selector", ":scope > p.error").text
    return text


def outcome(browser) -> str:
    return by_css(browser, "form.device-form .outcome").text


def ground_truth(mock, outlet: str) -> list[str]:
    return [e["state"] for e in mock.events() if e["outlet"] == outlet]


# -- the BayTech form: field errors, test connection, save ------------------------------------


def test_baytech_form_errors_test_connection_and_save(lab, browser) -> None:
    from stonith.mocks.harness import start_mock

    server, _, _ = lab
    devices = server.root / "devices.d"
    login(browser, server, "ada")
    with start_mock("baytech", model="rpc3", password=PASSWORD) as other:
        browser.get(f"{server.url}/ui/devices/new?type=baytech")
        set_value(browser, "name", "pdu9", "placement")
        # a bad address, a value outside min/max, a regex (specialtype) mismatch: each at its field
        set_value(browser, "ipaddr", "10.0.0.1:70000")
        set_value(browser, "speed", "50")
        set_value(browser, "ttydev", "not a tty")
        by_css(browser, "form.device-form button.check").click()
        wait_for(lambda: error_of(browser, "ipaddr"), what="ipaddr error")
        assert "65535" in error_of(browser, "ipaddr")
        assert "300" in error_of(browser, "speed")
        assert "tty" in error_of(browser, "ttydev")
        assert error_of(browser, "login") == ""
        assert by_css(browser, '.field[data-name="speed"] > .value').get_attribute("aria-invalid") == "true"
        screenshot(browser, "device-form-errors")
        # corrected, with the wrong password: the device's own refusal
        set_value(browser, "ipaddr", other.address)
        set_value(browser, "speed", "9600")
        set_value(browser, "ttydev", "")
        set_value(browser, "login", "admin")
        set_value(browser, "password", "not-the-password")
        by_css(browser, "form.device-form button.probe").click()
        text = wait_for(lambda: outcome(browser) if "…" not in outcome(browser) else "", 30, "refusal")
        assert text.startswith("Refused") and "password" in text, text
        assert "not-the-password" not in browser.page_source
        # the right password: connected, the mock's outlets read
        set_value(browser, "password", PASSWORD)
        by_css(browser, "form.device-form button.probe").click()
        text = wait_for(
            lambda: outcome(browser) if outcome(browser).startswith("Connected") else "", 30, "ok"
        )
        assert "8 outlets" in text, text
        assert not (devices / "pdu9.toml").exists()  # tested, not saved
        field(browser, "hosts", "placement").find_element("css selector", "button.add").click()
        rows = all_css(browser, '[data-name="hosts"] li.row')
        rows[0].find_element("css selector", '[data-name="node"] > .value').send_keys("m1")
        rows[0].find_element("css selector", '[data-name="outlets"] > .value').send_keys("1")
        screenshot(browser, "device-form")
        by_css(browser, "form.device-form button.save").click()
        wait_for(lambda: "/ui/devices/pdu9" in browser.current_url, 30, "saved device page")
        try:
            path = devices / "pdu9.toml"
            assert path.stat().st_mode & 0o777 == 0o600
            saved = tomllib.loads(path.read_text())
            assert saved["type"] == "baytech" and saved["hosts"] == {"m1": "1"}
            assert saved["parameters"]["ipaddr"] == other.address
            # the saved device's page: the secret is not in it, not even redacted
            assert PASSWORD not in browser.page_source and "********" not in browser.page_source
            check = run_stonith("check", "--devices", str(devices), env=server.env, timeout=120)
            assert check.returncode == 0, check.stdout + check.stderr
            assert "pdu9" in check.stdout
        finally:
            (devices / "pdu9.toml").unlink(missing_ok=True)
    assert console_errors(browser) == []


def test_enum_outside_its_set_is_a_field_error(lab, browser) -> None:
    server, _, _ = lab
    login(browser, server, "ada")
    browser.get(f"{server.url}/ui/devices/new?type=ipmilan")
    # A select offers only the set: a forged option is what reaches the check
    browser.execute_script(
        "const s = document.querySelector('[data-name=\"auth\"] > select');"
        "s.add(new Option('rot13', 'rot13')); s.value = 'rot13';"
    )
    by_css(browser, "form.device-form button.check").click()
    wait_for(lambda: error_of(browser, "auth"), what="enum error")
    assert "md5" in error_of(browser, "auth")


# -- every installed type's form --------------------------------------------------------------

SAMPLES = {
    "ipv4": "192.0.2.10",
    "ipv6": "2001:db8::10",
    "hostname": "node1",
    "hostport": "192.0.2.10",
    "tty": "/dev/ttyS0",
    "secret": "sample-secret",
    "path": "/tmp",
    "url": "https://192.0.2.10/",
}
# Required fields whose regex no generic sample satisfies: the test supplies a value.
BY_NAME = {"serial_to_targets": "/dev/ttyS0 node1 0"}


def sample(spec: dict) -> str:
    if spec["fieldname"] in BY_NAME:
        return BY_NAME[spec["fieldname"]]
    if spec.get("enumset"):
        return spec["enumset"][0]
    kind = spec.get("basictype")
    if kind in ("integer", "float", "seconds"):
        return str(int(spec.get("minval") or 1))
    if kind == "boolean":
        return "yes"
    return SAMPLES.get(spec.get("specialtype") or "", "sample")


def shipped_types() -> list[str]:
    from stonith.fencing import registry

    return [n for n, ep in registry.entry_points().items() if ep.value.startswith("stonith.drivers.")]


@pytest.fixture(scope="module")
def config_server(lab, tmp_path_factory):
    """A second service for saving every type's form: no health checks (interval one day), so no
    saved sample device is ever contacted; reached as ``localhost`` (its own cookies)."""
    _, _, root = lab
    server = make_server(tmp_path_factory.mktemp("config"), {})
    placeholder = server.root / "devices.d" / "placeholder.toml"  # a service needs one device
    placeholder.write_text('type = "null"\n[parameters]\nhostlist = ["nobody"]\n')
    placeholder.chmod(0o600)
    server.config.write_text(
        server.config.read_text().replace("health_interval = 1", "health_interval = 86400")
    )
    server.env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(root / "plugin"), server.env.get("PYTHONPATH")])
    )
    server.url = server.url.replace("127.0.0.1", "localhost")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _config_lines(type_name: str, params: dict, env: dict) -> dict[str, str]:
    def text(value) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    out = run_stonith("config", type_name, *[f"{k}={text(v)}" for k, v in params.items()], env=env)
    assert out.returncode == 0, out.stderr
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("type_name", [*shipped_types(), "guitest"])
def test_every_type_form_renders_and_round_trips_defaults(config_server, browser, type_name: str) -> None:
    server = config_server
    if not browser.current_url.startswith(server.url):
        login(browser, server, "ada")
    browser.get_log("browser")  # drop what earlier pages logged
    meta = server.session("ada").get(f"{server.url}/api/v1/types/{type_name}", timeout=10).json()
    browser.get(f"{server.url}/ui/devices/new?type={type_name}")
    wait_for(lambda: all_css(browser, "form.device-form"), what="form")
    given: dict[str, str] = {}
    for spec in meta["fields"]:
        box = field(browser, spec["fieldname"])
        assert box.get_attribute("data-basictype") == spec["basictype"]
        if spec.get("isarray"):
            rows = box.find_elements("css selector", ":scope > ol.rows > li.row")
            assert len(rows) >= int(spec.get("minelem") or 0) and box.find_elements(
                "css selector", "button.add"
            )
        elif spec.get("class") == "struct":
            assert box.tag_name == "fieldset" and box.find_elements("css selector", ":scope > .field")
        elif spec.get("enumset") or spec["basictype"] == "boolean":
            assert box.find_element("css selector", ":scope > .value").tag_name == "select"
        elif spec.get("specialtype") == "secret":
            assert box.find_element("css selector", ":scope > .value").get_attribute("type") == "password"
        label = box.find_element("css selector", ":scope > label, :scope > legend").text
        assert spec["label"] in label
        if spec.get("required"):
            given[spec["fieldname"]] = sample(spec)
            set_value(browser, spec["fieldname"], given[spec["fieldname"]])
    name = "rt-" + type_name.replace("_", "-")
    set_value(browser, "name", name, "placement")
    specs = {spec["fieldname"]: spec for spec in meta["fields"]}
    for _round in range(3):
        by_css(browser, "form.device-form button.save").click()
        wait_for(
            lambda: (
                f"/ui/devices/{name}" in browser.current_url
                or "bad" in by_css(browser, ".outcome").get_attribute("class")
            ),
            20,
            "save",
        )
        if f"/ui/devices/{name}" in browser.current_url:
            break
        # A constraint between fields that the driver checks (SNMP v2c needs a community): the
        # server named the field; give it a sample too, as a user would.
        wrong = [
            b.get_attribute("data-name") for b in all_css(browser, "[data-top=parameters] > .field.invalid")
        ]
        errors = [e.get_attribute("id") + ": " + e.text for e in all_css(browser, "p.error") if e.text]
        assert wrong and set(wrong) <= set(specs), (outcome(browser), errors)
        for fieldname in wrong:
            given[fieldname] = sample(specs[fieldname])
            set_value(browser, fieldname, given[fieldname])
    errors = [e.get_attribute("id") + ": " + e.text for e in all_css(browser, "p.error") if e.text]
    assert f"/ui/devices/{name}" in browser.current_url, (outcome(browser), errors)
    assert console_errors(browser) == []
    saved = tomllib.loads((server.root / "devices.d" / f"{name}.toml").read_text())["parameters"]
    # What the form saved (its defaults and the required samples) is what the CLI builds from the
    # samples alone: the defaults went through the browser and the API unchanged.
    env = {**server.env}
    assert _config_lines(type_name, saved, env) == _config_lines(type_name, given, env)


# -- live status, fence, history, roles -------------------------------------------------------


def test_live_status_without_reload(lab, browser) -> None:
    server, mock, _ = lab
    login(browser, server, "mona")
    browser.get(f"{server.url}/ui/nodes")
    cell = '.nodes tr[data-node="n5"] .outlet[data-outlet="5"]'
    wait_for(lambda: "on" in by_css(browser, cell).get_attribute("class").split(), what="n5 on")
    browser.execute_script("window.stonithNotReloaded = true;")
    assert all_css(browser, "button.act") == []  # a monitor has no action buttons
    # another client switches the outlet (the CLI through devices.d, as an admin at a shell would)
    off = run_stonith("off", "n5", "--devices", str(server.root / "devices.d"), env=server.env, timeout=60)
    assert off.returncode == 0, off.stdout + off.stderr
    assert mock.state(5) == "off"
    wait_for(lambda: "off" in by_css(browser, cell).get_attribute("class").split(), 15, "n5 off on the page")
    state = '.nodes tr[data-node="n5"] .nodestate .badge'
    wait_for(lambda: "off" in by_css(browser, state).get_attribute("class").split(), 15, "n5's state off")
    assert browser.execute_script("return window.stonithNotReloaded === true;")
    screenshot(browser, "nodes")
    assert (
        run_stonith("on", "n5", "--devices", str(server.root / "devices.d"), env=server.env).returncode == 0
    )


def test_fence_with_confirmation_and_history_timeline(lab, browser) -> None:
    server, mock, _ = lab
    login(browser, server, "otto")
    browser.get(f"{server.url}/ui/nodes?nodeset=n3")
    before = len(ground_truth(mock, "3"))
    by_css(browser, 'tr[data-node="n3"] button.fence').click()
    dialog = wait_for(lambda: by_css(browser, "dialog.confirm[open]"), what="confirmation")
    assert "n3" in dialog.find_element("css selector", "h2").text
    outlets = [li.text for li in dialog.find_elements("css selector", ".confirm-outlets li")]
    assert len(outlets) == 1 and "pdu1" in outlets[0] and "outlet 3" in outlets[0], outlets
    assert ground_truth(mock, "3")[before:] == []  # nothing switched before the confirmation
    dialog.find_element("css selector", ".confirm-go").click()
    wait_for(lambda: all_css(browser, ".progress-log li.done"), 60, "fence done")
    log = by_css(browser, ".progress-log").text
    assert "n3 ok" in log, log
    assert ground_truth(mock, "3")[before:] == ["off", "on"]  # off, read back, on
    assert mock.state(3) == "on"
    browser.get(f"{server.url}/ui/history")
    picture = by_css(browser, "article.operation svg.timeline")
    text = picture.text or browser.execute_script("return arguments[0].textContent", picture)
    assert "n3 · pdu1 · 3" in text and "off → off ✓" in text and "on → on ✓" in text, text
    screenshot(browser, "history")
    browser.get(f"{server.url}/ui/nodes/n3")
    assert "pdu1" in by_css(browser, "svg.topology").get_attribute("textContent")
    assert console_errors(browser) == []


def test_monitor_has_no_fence_button_and_forged_requests_get_403(lab, browser) -> None:
    server, mock, _ = lab
    login(browser, server, "mona")
    browser.get(f"{server.url}/ui/nodes")
    assert all_css(browser, "button.act") == [] and all_css(browser, "dialog.confirm") == []
    before = len(ground_truth(mock, "4"))
    forged = """
        const done = arguments[arguments.length - 1];
        const send = (token) => fetch('/api/v1/power/reset', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
            body: JSON.stringify({nodeset: 'n4'})}).then(r => r.status);
        Promise.all([send(document.body.dataset.csrf), send('forged')]).then(done);
    """
    assert browser.execute_async_script(forged) == [403, 403]
    login(browser, server, "otto")  # an operator: the role allows it, a wrong token still does not
    browser.get(f"{server.url}/ui/nodes")
    assert browser.execute_async_script(forged.replace("document.body.dataset.csrf", "'x'")) == [403, 403]
    assert ground_truth(mock, "4")[before:] == []


def test_german_baytech_form(lab, browser) -> None:
    from stonith.render.i18n import translator

    server, _, _ = lab
    de = translator("de")
    login(browser, server, "ada", lang="de")
    browser.get(f"{server.url}/ui/devices/new?type=baytech")
    assert browser.find_element("css selector", "html").get_attribute("lang") == "de"
    label = field(browser, "ipaddr").find_element("css selector", ":scope > label").text
    hint = field(browser, "ipaddr").find_element("css selector", ":scope > .hint").text
    assert label == de("IP address") != "IP address"
    assert hint == de("Address of the telnet console (host or host:port; default port 23)")
    assert by_css(browser, "button.probe").text == de("Test connection") != "Test connection"
    set_value(browser, "speed", "50")
    by_css(browser, "button.check").click()
    wait_for(lambda: error_of(browser, "speed"), what="German error")
    assert de("is below the minimum") in error_of(browser, "speed")
    browser.get(f"{server.url}/ui/devices?lang=en")  # back to English for whoever comes next


def test_readable_at_200_percent_and_keyboard(lab, browser) -> None:
    from selenium.webdriver.common.keys import Keys

    server, _, _ = lab
    login(browser, server, "ada")
    size = browser.get_window_size()
    try:
        browser.set_window_size(640, 900)  # 1280 px at 200 %: the same CSS width
        browser.get(f"{server.url}/ui/devices/new?type=guitest")
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        tags = field(browser, "tags")
        add = tags.find_element("css selector", ":scope > button.add")
        add.send_keys(Keys.ENTER)  # keyboard only: the new row gets the focus
        assert len(tags.find_elements("css selector", "li.row")) == 2
        focused = browser.switch_to.active_element
        assert focused.get_attribute("aria-label") == "Tags 2"
        add.send_keys(Keys.ENTER)
        assert add.get_attribute("disabled") == "true"  # maxelem 3
        for element in all_css(browser, "form.device-form input, form.device-form select"):
            labelled = element.get_attribute("aria-label") or browser.execute_script(
                "return arguments[0].labels.length", element
            )
            assert labelled, element.get_attribute("id")
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_screenshots_are_current_in_docs() -> None:
    """The pictures README.md shows: copy the ones this run made (build/) over docs/."""
    from tests.gui.conftest import SHOTS

    for name in ("device-form", "nodes", "history"):
        made = SHOTS / f"{name}.png"
        if made.exists() and os.environ.get("STONITH_UPDATE_SCREENSHOTS") == "1":
            DOCS.mkdir(exist_ok=True)
            shutil.copyfile(made, DOCS / f"gui-{name}.png")
        assert (DOCS / f"gui-{name}.png").exists() or not made.exists(), f"docs/gui-{name}.png missing"

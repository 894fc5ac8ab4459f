"""The GUI in a real browser: headless Debian ``chromium`` driven by Selenium through Debian's
``chromium-driver`` (no browser download).  One service, one BayTech mock and one browser serve
the whole module (fixtures of module scope): starting a browser costs seconds on a 2-core machine.

Without chromium or chromedriver the tests skip, naming the Debian packages; with
``STONITH_REQUIRE_PEERS=1`` (CI) they fail instead (tests.conftest.require_peer).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import require_peer
from tests.server.test_service_http import PASSWORD, USERS, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "gui-screenshots"

# A third-party driver made for these tests, registered through a fake distribution's entry point
# (as pluggy's tests do): no shipped driver has a struct field, an array of structs or a specialtype
# the GUI does not know, and the form must render all of them from metadata alone.
_PLUGIN = """
from stonith.contract import fields as F
from stonith.contract.driver import Capabilities, Driver, DriverInfo, Outlet


class GuiTest(Driver):
    INFO = DriverInfo(
        "guitest",
        shortdesc="GUI test device",
        description="Metadata with every shape a form must render; not a device.",
        capabilities=Capabilities(sessions=1),
        fields=[
            F.Field("address", "Address", specialtype=F.IPV4, required=True),
            F.Field("secret", "Secret", specialtype=F.SECRET),
            F.Field("mode", "Mode", basictype=F.ENUMERATION, enumset=("fast", "safe"), default="safe"),
            F.Field("ratio", "Ratio", basictype=F.FLOAT, minval=0.5, maxval=2.0, default=1.0),
            F.Field("wait", "Wait", basictype=F.SECONDS, default=2.0, maxval=60),
            F.Field("verbose", "Verbose", basictype=F.BOOLEAN, default=False),
            F.Field("badge", "Badge", specialtype="colour", regex="#[0-9a-f]{6}", length=7,
                    default="#00ff00"),
            F.Field("tags", "Tags", isarray=True, minelem=1, maxelem=3, default=["a"]),
            F.Field(
                "feed",
                "Feed",
                field_class=F.STRUCT,
                fields=(F.Field("pdu", "PDU", specialtype=F.HOSTNAME, default="pdu1"),
                        F.Field("phase", "Phase", basictype=F.INTEGER, minval=1, maxval=3, default=1)),
            ),
            F.Field(
                "links",
                "Links",
                isarray=True,
                field_class=F.STRUCT,
                maxelem=4,
                fields=(F.Field("host", "Host", specialtype=F.HOSTPORT, required=True),
                        F.Field("weight", "Weight", basictype=F.INTEGER, default=1)),
            ),
        ],
    )

    def outlets(self, deadline):
        return [Outlet("1", "one")]

    def status(self, outlet, deadline):
        return "on"

    def on(self, outlet, deadline):
        pass

    def off(self, outlet, deadline):
        pass
"""


def plugin_dir(root: Path) -> Path:
    directory = root / "plugin"
    (directory / "guitest_driver-1.0.dist-info").mkdir(parents=True)
    (directory / "guitest_driver-1.0.dist-info" / "entry_points.txt").write_text(
        "[stonith.drivers]\nguitest = guitest_driver:GuiTest\n"
    )
    (directory / "guitest_driver.py").write_text(_PLUGIN)
    return directory


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(server, mock, root): a running ``stonith serve`` over TLS with one BayTech device ``pdu1``
    (outlets 1-8 feed nodes n1-n8) and the guitest plugin installed."""
    from stonith.mocks.harness import start_mock

    root = tmp_path_factory.mktemp("gui")
    plugins = plugin_dir(root)
    with start_mock("baytech", model="rpc3", password=PASSWORD, relay_delay=0.1) as mock:
        server = make_server(root / "srv", {"pdu1": (mock.address, {f"n{i}": str(i) for i in range(1, 9)})})
        server.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugins), server.env.get("PYTHONPATH")]))
        server.start()
        try:
            yield server, mock, root
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser():
    require_peer(CHROMIUM, "chromium")
    require_peer(CHROMEDRIVER, "chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # containers without user namespaces
        "--disable-dev-shm-usage",
        "--ignore-certificate-errors",  # the lab's self-signed certificate
        "--window-size=1280,900",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception:  # the page may be between loads
            last = None
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def login(browser, server, user: str, lang: str = "en") -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server.url}/health")  # cookies are deleted for the page's own host only
    browser.delete_all_cookies()
    browser.get(f"{server.url}/ui/login?lang={lang}")
    browser.find_element(By.ID, "user").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(USERS[user][1])
    browser.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait_for(lambda: "/ui/login" not in browser.current_url, what="login")
    browser.get_log("browser")  # what /health logged (a JSON page: the browser asks for /favicon.ico)


def console_errors(browser) -> list[str]:
    """Errors the browser logged, but for the API's 4xx answers the page handled (Chromium logs
    every one of them, e.g. the 400 that carries a form's field problems)."""
    return [
        e["message"]
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and not ("/api/v1/" in e["message"] and "status of 4" in e["message"])
    ]


def screenshot(browser, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    # The whole page: the window grows to the document's height for the picture.
    height = browser.execute_script("window.scrollTo(0, 0); return document.documentElement.scrollHeight")
    size = browser.get_window_size()
    browser.set_window_size(size["width"], max(600, min(4000, int(height) + 40)))
    browser.save_screenshot(str(path))
    browser.set_window_size(size["width"], size["height"])
    return path

"""The pages under their Content-Security-Policy, in a real browser: nothing is refused,
and what the site's own script does still happens (the reader's time, the zone picked
for the sign-up forms, including the stand-alone one that used an inline script)."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import ROOT

TIMED = ROOT / "tests" / "data" / "timed.toml"


def refusals(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Refused" in entry["message"]]


def test_the_pages_work_under_their_policy(served, make_browser):
    server = served(ROOT / "schedules", TIMED)
    driver = make_browser(timezone="Europe/Moscow")
    for path in ("/", "/summits/timed-2030", "/changes", "/subscribe", "/no-such-page"):
        driver.get(server.base + path)
        policy_ok = driver.execute_script("return document.readyState") == "complete"
        assert policy_ok and refusals(driver) == [], path
    driver.get(server.base + "/summits/timed-2030")
    reader = driver.find_element(By.CSS_SELECTOR, "#timed-2030-opening .reader")
    assert reader.text.startswith("Your time: ") and "(Europe/Moscow, UTC+3)" in reader.text
    driver.get(server.base + "/subscribe")
    assert driver.find_element(By.ID, "timezone").get_attribute("value") == "Europe/Moscow"
    assert refusals(driver) == []


@pytest.fixture
def other_site(tmp_path) -> Iterator[Callable[[str], str]]:
    """``other_site(html)``: the URL of a page with ``html`` on another origin (a plain
    HTTP server on loopback)."""
    folder = tmp_path / "other-site"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def page(html: str) -> str:
        (folder / "page.html").write_text(html)
        return f"http://localhost:{server.server_port}/page.html"

    yield page
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("path", ["/subscribe", "/"])
def test_regression_no_other_site_can_frame_a_page(served, make_browser, other_site, path):
    server = served()
    driver = make_browser()
    driver.get(other_site(f"<iframe id='f' src='{server.base}{path}'></iframe>"))
    driver.switch_to.frame(driver.find_element(By.ID, "f"))
    for _ in range(50):  # the frame's document, once the browser has decided
        url = driver.execute_script("return document.URL")
        if url != "about:blank":
            break
        time.sleep(0.1)
    assert not url.startswith(server.base), "the page showed inside another site's frame"
    assert driver.find_elements(By.TAG_NAME, "form") == []


def test_api_docs_render_from_this_site_alone(served, make_browser):
    """/docs shows the API's operations under its policy, and every resource the page
    loaded came from this site (Swagger UI's files are served here: web.docs)."""
    from selenium.webdriver.support.ui import WebDriverWait

    server = served()
    driver = make_browser()
    driver.get(server.base + "/docs")
    operations = WebDriverWait(driver, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {element.text.replace("\u200b", "") for element in operations}
    assert "/api/summits" in paths and "/feeds/all.ics" in paths
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(server.base + "/") for url in loaded), loaded
    assert refusals(driver) == []

"""The pages people use, in a real browser."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.browser.conftest import ROOT, SCREENSHOTS
from tests.serving import cli

TIMED = ROOT / "tests" / "data" / "timed.toml"
BEFORE = ROOT / "history" / "dushanbe-2021-before-announcement.toml"


def texts(driver, selector: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def session(driver, anchor: str):
    return driver.find_element(By.ID, anchor)


def test_seed_summits_show_venue_times(served, make_browser):
    server = served()
    driver = make_browser()
    driver.get(server.base + "/")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    headings = texts(driver, "section.card h3")
    assert headings[:2] == ["SCO summit, Astana 2024", "CSTO and SCO summits, Dushanbe 2021"]
    csto = session(driver, "dushanbe-2021-csto-council")
    assert "Thursday 16 September 2021, all day (Dushanbe, UTC+5)" in csto.text
    assert "Vladimir Putin: video link" in csto.text
    astana = session(driver, "astana-2024-sco-council")
    assert "Wednesday 3 – Thursday 4 July 2024, all day (Astana, UTC+5)" in astana.text
    assert astana.find_element(By.CSS_SELECTOR, ".status").text == "tentative"
    # The note shows on focus (keyboard users) as well as on hover.
    badge = csto.find_element(By.CSS_SELECTOR, ".badge")
    note = badge.find_element(By.CSS_SELECTOR, ".note")
    assert not note.is_displayed()
    driver.execute_script("arguments[0].focus()", badge)
    assert note.is_displayed() and "Self-isolation" in note.text
    summit = make_browser()
    summit.get(server.base + "/summits/dushanbe-2021")
    assert summit.find_element(By.TAG_NAME, "h1").text == "CSTO and SCO summits, Dushanbe 2021"
    assert "Friday 17 September 2021, all day (Dushanbe, UTC+5)" in summit.find_element(
        By.ID, "dushanbe-2021-sco-council").text


def test_reader_time_in_the_browser_zone(served, make_browser):
    server = served(ROOT / "schedules", TIMED)
    driver = make_browser(timezone="America/New_York")
    driver.get(server.base + "/summits/timed-2030")
    opening = session(driver, "timed-2030-opening")
    assert "Thursday 4 July 2030, 10:00–13:00 Dushanbe (UTC+5)" in opening.text
    reader = opening.find_element(By.CSS_SELECTOR, ".reader")
    # 10:00 in Dushanbe (UTC+5) is 05:00 UTC, 01:00 in New York (EDT, UTC-4).
    assert reader.text == ("Your time: Thursday 4 July 2030, 01:00–04:00 "
                           "(America/New_York, UTC-4)")
    madrid = session(driver, "timed-2030-madrid")
    assert "Friday 5 July 2030, 09:30 Madrid (UTC+2)" in madrid.text
    assert madrid.find_element(By.CSS_SELECTOR, ".reader").text == (
        "Your time: Friday 5 July 2030, 03:30 (America/New_York, UTC-4)")
    # The sign-up form's zone is prefilled from the browser.
    driver.get(server.base + "/")
    zone = driver.find_element(By.ID, "signup-timezone")
    assert zone.get_attribute("value") == "America/New_York"


def test_without_javascript_venue_times_still_read_right(served, make_browser):
    server = served(ROOT / "schedules", TIMED)
    driver = make_browser(timezone="America/New_York", javascript=False)
    driver.get(server.base + "/summits/timed-2030")
    opening = session(driver, "timed-2030-opening")
    assert "Thursday 4 July 2030, 10:00–13:00 Dushanbe (UTC+5)" in opening.text
    assert not opening.find_element(By.CSS_SELECTOR, ".reader").is_displayed()


def test_script_in_a_title_is_text_in_pages_and_atom(served, make_browser, tmp_path):
    hostile = '<script>window.__xss=1</script> "Quoted" & \'single\' <b>bold</b>'
    text = TIMED.read_text().replace('title = "Opening session"',
                                     f"title = '''{hostile}'''")
    schedule = tmp_path / "hostile.toml"
    schedule.write_text(text)
    server = served(schedule)
    driver = make_browser()
    for path in ("/", "/summits/timed-2030", "/changes"):
        driver.get(server.base + path)
        assert driver.execute_script("return window.__xss") is None, path
        assert hostile in driver.find_element(By.TAG_NAME, "body").text, path
        assert not driver.find_elements(By.CSS_SELECTOR, "main b"), path
    import feedparser

    status, _, body = server.get("/changes.atom")
    parsed = feedparser.parse(body)
    assert status == 200 and not parsed.bozo, parsed.get("bozo_exception")
    assert any(hostile in entry.content[0].value for entry in parsed.entries)


def test_atom_lists_the_dushanbe_attendance_change_after_the_replay(served, make_browser):
    import feedparser

    server = served(BEFORE)
    done = cli("load", str(ROOT / "schedules"), config=server.config)
    assert done.returncode == 0, done.stderr
    status, headers, body = server.get("/changes.atom")
    assert status == 200 and headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "summitcal: schedule changes"
    newest = feed.entries[0].content[0].value
    for title in ("Session of the CSTO Collective Security Council",
                  "SCO Council of Heads of State",
                  "Joint meeting of the Heads of State of the CSTO and SCO member states"):
        assert (f"CSTO and SCO summits, Dushanbe 2021 — {title}: Vladimir Putin's attendance: "
                "in person → video link (Self-isolation") in newest
    driver = make_browser()
    driver.get(server.base + "/changes")
    first = driver.find_element(By.CSS_SELECTOR, "section.card")
    assert "in person → video link" in first.text


def test_subscribe_buttons(served, make_browser):
    server = served()
    driver = make_browser()
    driver.get(server.base + "/summits/astana-2024")
    box = driver.find_element(By.CSS_SELECTOR, "details.subscribe[open]")
    links = {a.text: a.get_attribute("href") for a in box.find_elements(By.CSS_SELECTOR, "a")}
    feed = f"{server.base}/feeds/summits/astana-2024.ics"
    webcal = "webcal://" + feed.split("://", 1)[1]
    assert links["Apple Calendar / Outlook / Thunderbird"] == webcal
    assert links["Download .ics"] == feed
    assert links["Google Calendar"].startswith("https://calendar.google.com/calendar/render?cid=webcal")
    assert links["Outlook.com"].startswith("https://outlook.live.com/calendar/0/addfromweb?url=http")
    url = box.find_element(By.CSS_SELECTOR, "input[readonly]")
    assert url.get_attribute("value") == feed
    status, _, body = server.get("/feeds/summits/astana-2024.ics")
    assert status == 200 and body.startswith(b"BEGIN:VCALENDAR")


def test_screenshots_desktop_and_phone(served, make_browser):
    server = served()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, width in (("index-desktop", 1280), ("index-phone", 390)):
        driver = make_browser(width=width, height=900)
        driver.get(server.base + "/")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(height + 120, 4000))
        scroll = driver.execute_script("return document.documentElement.scrollWidth")
        assert scroll <= width, f"{name}: the page scrolls sideways ({scroll}px)"
        path = SCREENSHOTS / f"{name}.png"
        assert driver.save_screenshot(str(path))
        assert path.stat().st_size > 10_000


A11Y_SCRIPT = """
const problems = [];
if (document.documentElement.lang !== "en") problems.push("html lang is not en");
for (const el of document.querySelectorAll("input, select, textarea")) {
  if (el.type === "hidden") continue;
  const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) ||
    el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
  if (!labelled) problems.push("unlabelled " + el.outerHTML.slice(0, 80));
}
let previous = 0;
for (const h of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
  const level = Number(h.tagName[1]);
  if (previous === 0 && level !== 1) problems.push("first heading is " + h.tagName);
  if (previous && level > previous + 1) problems.push("heading jumps to " + h.tagName + ": " + h.textContent.trim().slice(0, 40));
  previous = level;
}
if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
return problems;
"""


def test_pages_are_accessible(served, make_browser):
    from selenium.webdriver.common.keys import Keys

    server = served(ROOT / "schedules", TIMED)
    cli("load", str(BEFORE), config=server.config)
    driver = make_browser()
    for path in ("/", "/summits/dushanbe-2021", "/summits/timed-2030", "/changes", "/subscribe"):
        driver.get(server.base + path)
        assert driver.execute_script(A11Y_SCRIPT) == [], path
    driver.get(server.base + "/")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    first = driver.switch_to.active_element
    assert first.text == "Skip to content" and first.is_displayed()

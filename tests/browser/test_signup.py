"""Signing up for email reminders in a real browser, with and without JavaScript: the
confirmation email lands in the file outbox, its link confirms, the welcome email's
private feed downloads and parses, the manage page changes an offset, unsubscribe works."""

from __future__ import annotations

import re
import time
import urllib.request
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import icalendar
import pytest
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ROOT

FAST = '[notices]\ndelay = "PT1S"\n'


# What Chromium answers when an element is read while the page that held it is being
# replaced by the next one: the element is gone, as with a stale reference, but the
# driver reports it as an "unknown error" WebDriverException.
NAVIGATION_RACES = ("does not belong to the document", "no such execution context",
                    "cannot find context with specified id")


def until(driver, condition, timeout: float = 15):
    """Wait for ``condition(driver)``, riding out page loads in between: an element found
    on the page being left, then read after it is gone, counts as "not yet"."""

    def settled(d):
        try:
            return condition(d)
        except WebDriverException as error:
            if isinstance(error, (StaleElementReferenceException, NoSuchElementException)):
                return False
            if any(race in str(error.msg) for race in NAVIGATION_RACES):
                return False
            raise

    return WebDriverWait(driver, timeout).until(settled)


def mails(folder: Path) -> list[EmailMessage]:
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        found.append(BytesParser(policy=policy.default).parsebytes(path.read_bytes()))
    return found


def wait_for_mail(folder: Path, to: str, subject: str, timeout: float = 30) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in mails(folder):
            if message["To"] == to and subject in message["Subject"]:
                return message
        time.sleep(0.2)
    seen = [(m["To"], m["Subject"]) for m in mails(folder)]
    raise AssertionError(f"no mail to {to} about {subject!r} within {timeout}s; seen: {seen}")


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link(message: EmailMessage, path: str) -> str:
    match = re.search(rf"https?://\S+{re.escape(path)}\S+", text_of(message))
    assert match, f"no {path} link in:\n{text_of(message)}"
    return match.group(0).rstrip(".,)>")


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def alarms(feed: bytes) -> set[str]:
    calendar = icalendar.Calendar.from_ical(feed)
    found = set()
    for event in calendar.walk("VEVENT"):
        for alarm in event.walk("VALARM"):
            found.add(alarm["TRIGGER"].to_ical().decode())
    return found


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_sign_up_confirm_manage_unsubscribe(served, make_browser, tmp_path, javascript):
    server = served(extra=FAST)
    outbox = tmp_path / "mail"
    address = f"reader-{'js' if javascript else 'nojs'}@example.org"
    driver = make_browser(timezone="Europe/Moscow", javascript=javascript)
    driver.get(server.base + "/")
    form = driver.find_element(By.ID, "signup-form")
    form.find_element(By.ID, "signup-email").send_keys(address)
    form.find_element(By.CSS_SELECTOR, "input[name=follow][value='summit:astana-2024']").click()
    if javascript:
        assert form.find_element(By.ID, "signup-timezone").get_attribute("value") == "Europe/Moscow"
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    if javascript:
        status = until(driver, ready.text_to_be_present_in_element((By.ID, "signup-status"), "Thank you"))
        assert status
    else:
        until(driver, lambda d: "/subscribe" in d.current_url)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Check your inbox"

    confirm = wait_for_mail(outbox, address, "Confirm")
    assert confirm["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    confirm_url = link(confirm, "/subscriptions/confirm/")
    driver.get(confirm_url)  # a GET (a mail scanner) changes nothing
    assert not [m for m in mails(outbox) if "Welcome" in m["Subject"]]
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    until(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "You're subscribed")

    welcome = wait_for_mail(outbox, address, "Welcome")
    feed_url = link(welcome, "/feeds/private/")
    status, feed = fetch(feed_url)
    assert status == 200
    calendar = icalendar.Calendar.from_ical(feed)
    uids = {str(e["UID"]) for e in calendar.walk("VEVENT")}
    assert uids == {"astana-2024-sco-council@127.0.0.1", "astana-2024-putin-bilaterals@127.0.0.1"}
    assert alarms(feed) == {"-P1D", "-PT1H"}

    manage_url = link(welcome, "/subscriptions/manage/")
    driver.get(manage_url)
    reminders = driver.find_element(By.CSS_SELECTOR, "main [name=reminders]")
    if reminders.get_attribute("type") == "checkbox":
        for box in driver.find_elements(By.CSS_SELECTOR, "main input[name=reminders]"):
            if box.is_selected() != (box.get_attribute("value") in ("P1D", "PT3H")):
                box.click()
    else:
        reminders.clear()
        reminders.send_keys("P1D, PT3H")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    until(driver, lambda d: "saved" in d.find_element(By.TAG_NAME, "main").text.lower())
    assert alarms(fetch(feed_url)[1]) == {"-P1D", "-PT3H"}

    unsubscribe_url = welcome["List-Unsubscribe"].split("<")[1].split(">")[0]
    driver.get(unsubscribe_url)  # GET shows a button and unsubscribes nothing
    assert fetch(feed_url)[0] == 200
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    until(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "You're unsubscribed")
    assert fetch(feed_url)[0] == 404


def test_one_click_unsubscribe_post(served, tmp_path):
    """RFC 8058: a mail client POSTs List-Unsubscribe=One-Click to the header's URL."""
    server = served(extra=FAST)
    request = urllib.request.Request(
        server.base + "/api/subscriptions", method="POST",
        data=b'{"email": "one@example.org", "timezone": "UTC", "follow": ["all"]}',
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    confirm = wait_for_mail(tmp_path / "mail", "one@example.org", "Confirm")
    url = confirm["List-Unsubscribe"].split("<")[1].split(">")[0]
    post = urllib.request.Request(url, method="POST", data=b"List-Unsubscribe=One-Click",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(post, timeout=10) as response:
        assert response.status == 200
    # The confirm link of an unsubscribed address is dead.
    assert fetch(link(confirm, "/subscriptions/confirm/"))[0] == 404


def test_script_in_a_title_is_text_in_emails(served, make_browser, tmp_path):
    hostile = '<script>window.__xss=1</script> "Quoted" & \'single\''
    text = (ROOT / "schedules" / "astana-2024.toml").read_text().replace(
        'title = "SCO Council of Heads of State"', f"title = '''{hostile}'''")
    schedule = tmp_path / "astana-2024.toml"
    schedule.write_text(text)
    server = served(schedule, extra=FAST)
    from tests.serving import cli

    added = cli("subscribers", "add", "x@example.org", "--follow", "participant:putin",
                "--confirmed", config=server.config)
    assert added.returncode == 0, added.stderr
    changed = cli("attendance", "astana-2024/sco-council", "putin", "video",
                  "--note", 'Said "no" <b>today</b>', config=server.config)
    assert changed.returncode == 0, changed.stderr
    notice = wait_for_mail(tmp_path / "mail", "x@example.org", "Attendance", timeout=40)
    assert hostile in text_of(notice)
    html = notice.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    page = tmp_path / "notice.html"
    page.write_text(html, encoding="utf-8")
    driver = make_browser()
    driver.get(page.as_uri())
    assert driver.execute_script("return window.__xss") is None
    body = driver.find_element(By.TAG_NAME, "body").text
    assert hostile in body and 'Said "no" <b>today</b>' in body

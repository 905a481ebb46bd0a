"""Every link to a session lands on it: the event's URL, the emails' "More" links and the
change log's links name an anchor that the page has (before, they said ``#{session}``
while the page's anchor was ``{summit}-{session}``, so readers landed at the top); and
"Add this session" serves the feeds' own event, with the feeds' validators."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email.policy import default
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from summitcal.scheduler.compose import compose, session_ics
from summitcal.scheduler.messages import Reminder
from summitcal.web.app import create_app
from tests.feeds.parsers import parse_icalendar_vtimezone
from tests.web.test_http import BEFORE, ROOT, make_runtime

BASE_URL = "https://summitcal.test"  # make_runtime's base_url
TIMED = ROOT / "tests" / "data" / "timed.toml"  # sessions in three zones
PLAIN = {"accept-encoding": "identity"}


@pytest.fixture
def client(tmp_path, database_url):
    runtime = make_runtime(tmp_path, database_url)
    runtime.load([BEFORE], source="before")
    runtime.load([ROOT / "schedules", TIMED], source="test")
    with TestClient(create_app(runtime)) as client:
        client.runtime = runtime
        yield client
    runtime.close()


def lands(client: TestClient, url: str) -> None:
    """``url`` is a page of ours that has an element whose id is its fragment."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) in (tuple(urlsplit(BASE_URL)[:2]), ("", "")), url
    page = client.get(parts.path)
    assert page.status_code == 200, url
    assert parts.fragment and f'id="{parts.fragment}"' in page.text, url


def test_link_event_url_lands_on_the_session(client):
    feed = Calendar.from_ical(client.get("/feeds/all.ics").content)
    events = feed.walk("VEVENT")
    assert len(events) == len(client.runtime.snapshot().schedule.sessions)
    for event in events:
        lands(client, str(event["URL"]))


def test_link_email_more_and_add_links_land(client):
    schedule = client.runtime.snapshot().schedule
    for session in schedule.sessions.values():
        message = compose(Reminder(session, schedule, "Europe/Moscow", timedelta(hours=1),
                                   f"{BASE_URL}/manage/t"),
                          sender="s@summitcal.test", recipient="r@example.org", key="k",
                          date=session.starts_at - timedelta(hours=1), base_url=BASE_URL,
                          unsubscribe_url=f"{BASE_URL}/unsubscribe/t")
        parsed = email.message_from_bytes(message.data, policy=default)
        text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
        [more] = re.findall(r"^More: (\S+)$", text, re.M)
        lands(client, more)
        html = parsed.get_body(("html",)).get_content()
        assert f'href="{more}"' in html
        [add] = re.findall(r"^Add to your calendar: (\S+)$", text, re.M)
        assert f'href="{add}"' in html
        served = client.get(urlsplit(add).path, headers=PLAIN)
        assert served.status_code == 200
        # The page's link, the email's link and the attachment are one and the same file.
        assert served.content == session_ics(session, schedule, BASE_URL)


def test_link_change_log_lands(client):
    page = client.get("/changes").text
    links = re.findall(r'<a href="(/summits/[^"]+#[^"]+)">', page)
    assert links
    for link in links:
        lands(client, link)


def test_add_this_session_same_event_as_the_feeds(client):
    schedule = client.runtime.snapshot().schedule
    feed = Calendar.from_ical(client.get("/feeds/all.ics").content)
    by_uid = {str(e["UID"]): e for e in feed.walk("VEVENT")}
    zones = {str(z["TZID"]) for z in feed.walk("VTIMEZONE")}
    assert zones, "the fixture has timed sessions"
    instants = {e.uid: (e.start, e.end)
                for e in parse_icalendar_vtimezone(client.get("/feeds/all.ics").content)}
    for page in ("/", "/summits/dushanbe-2021", "/summits/astana-2024", "/summits/timed-2030"):
        html = client.get(page).text
        for session in schedule.sessions.values():
            path = f"/feeds/sessions/{session.summit}/{session.id}.ics"
            if f'id="{session.summit}-{session.id}"' in html:
                assert f'href="{BASE_URL}{path}"' in html, (page, path)
    for session in schedule.sessions.values():
        path = f"/feeds/sessions/{session.summit}/{session.id}.ics"
        response = client.get(path, headers=PLAIN)
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
        one = Calendar.from_ical(response.content)
        assert "NAME" not in one and "X-WR-CALNAME" not in one and "METHOD" not in one
        [event] = one.walk("VEVENT")
        # The very VEVENT of the feeds: same UID, SEQUENCE, times and text.
        assert event.to_ical() == by_uid[str(event["UID"])].to_ical()
        assert {str(z["TZID"]) for z in one.walk("VTIMEZONE")} <= zones
        # Its own VTIMEZONE gives the instants the feed's gives.
        [alone] = parse_icalendar_vtimezone(response.content)
        assert (alone.start, alone.end) == instants[alone.uid]
        again = client.get(path, headers={**PLAIN, "if-none-match": response.headers["etag"]})
        assert again.status_code == 304
        since = client.get(path, headers={**PLAIN,
                                          "if-modified-since": response.headers["last-modified"]})
        assert since.status_code == 304
        head = client.head(path, headers=PLAIN)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == response.headers["etag"]
    assert client.get("/feeds/sessions/astana-2024/nope.ics").status_code == 404
    assert client.get("/feeds/sessions/astana-2024.ics").status_code == 404

"""Any text, through every output: the iCalendar feed (three parsers), the Atom change log
(an XML parser), the summit page (an HTML parser) and a reminder email (the email
parser, and its .ics attachment) all stay well-formed and show the text as loaded.

Before: a title with a vertical tab (tests/data/cases/control-characters.toml) went raw
into /changes.atom, and XML parsers refused the whole feed; Atom entries ran their change
lines together (``trim_blocks`` ate the newline after ``{% endif %}``)."""

from __future__ import annotations

import email
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.policy import default
from html.parser import HTMLParser

import feedparser
import pytest
import tomli_w
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from summitcal.app.cli import main
from summitcal.core.templating import environment
from summitcal.feeds.calendar import feed_bytes
from summitcal.feeds.settings import FeedSettings
from summitcal.scheduler.compose import compose
from summitcal.scheduler.messages import Reminder
from summitcal.summits.changes import Revision, diff
from summitcal.summits.model import Schedule
from summitcal.summits.schedule_file import load_text
from summitcal.web.app import create_app
from summitcal.web.pages import atom
from summitcal.web.views import summit_views
from tests.feeds.parsers import PARSERS
from tests.web.test_http import AUTH, BEFORE, ROOT, make_runtime

ATOM_NS = "{http://www.w3.org/2005/Atom}"
CASE = ROOT / "tests" / "data" / "cases" / "control-characters.toml"
BASE_URL = "https://cal.example.org"


@pytest.fixture
def client(tmp_path, database_url):
    runtime = make_runtime(tmp_path, database_url)
    runtime.load([ROOT / "schedules"], source="test")
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


def atom_entries(body: bytes) -> list[ET.Element]:
    root = ET.fromstring(body)  # raises on anything that is not well-formed XML
    return root.findall(f"{ATOM_NS}entry")


def test_control_characters_case_every_output_well_formed(client):
    response = client.post("/api/admin/schedules", content=CASE.read_bytes(), headers=AUTH)
    assert response.status_code == 200, response.text
    title = "Vertical tab form feed and bell"
    body = client.get("/changes.atom").content
    entries = atom_entries(body)
    assert title in entries[0].find(f"{ATOM_NS}content").text
    assert not feedparser.parse(body).bozo
    assert f">{title}<" in client.get("/summits/control-chars").text
    feed = client.get("/feeds/summits/control-chars.ics").content
    assert str(Calendar.from_ical(feed).walk("VEVENT")[0]["SUMMARY"]) == title


def test_atom_change_lines_one_per_line(client):
    """Three attendance changes in one revision: three lines in the entry's content."""
    response = client.post("/api/admin/schedules", content=BEFORE.read_bytes(), headers=AUTH)
    assert len(response.json()["changes"]) == 3
    [entry, *_] = atom_entries(client.get("/changes.atom").content)
    lines = entry.find(f"{ATOM_NS}content").text.strip("\n").split("\n")
    assert len(lines) == 3 and all("Vladimir Putin's attendance: video link → in person" in line
                                   for line in lines)


def test_control_characters_admin_json_and_cli_note(client, tmp_path, capsys, monkeypatch):
    url = "/api/admin/sessions/astana-2024/sco-council/attendance/putin"
    json_headers = {**AUTH, "content-type": "application/json"}
    lone = '{"mode": "video", "note": "lone \\ud800"}'  # JSON can spell what UTF-8 cannot
    assert client.put(url, content=lone.encode(), headers=json_headers).status_code == 422
    raw = '{"mode": "video", "note": "vt\\u000b ff\\u000c bell\\u0007 esc\\u001b"}'
    response = client.put(url, content=raw.encode(), headers=json_headers)
    assert response.status_code == 200, response.text
    note = "vt\n ff\n bell esc"
    assert response.json()["changes"][0]["note"] == note
    entries = atom_entries(client.get("/changes.atom").content)
    assert note in entries[0].find(f"{ATOM_NS}content").text
    config = tmp_path / "config.toml"  # the client's, written by make_runtime
    monkeypatch.delenv("SUMMITCAL_DATABASE_URL", raising=False)
    assert main(["--config", str(config), "attendance", "astana-2024/sco-council", "putin",
                 "in_person", "--note", "back\x07 home\r\nagain"]) == 0
    capsys.readouterr()
    sessions = client.get("/api/sessions", params={"summit": "astana-2024"}).json()
    council = next(s for s in sessions if s["id"] == "sco-council")
    assert council["attendance"][0]["note"] == "back home\nagain"
    atom_entries(client.get("/changes.atom").content)


# --- any text through every output, property-tested ------------------------------------

ANY = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
NONBLANK = ANY.filter(lambda text: "".join(c for c in text if c.isprintable()).strip())


class Texts(HTMLParser):
    """The text inside each element with an ``id``, HTML entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str | None] = []
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        if tag not in ("br", "input", "meta", "link", "img"):
            self.stack.append(dict(attrs).get("class"))

    def handle_endtag(self, tag):
        if tag not in ("br", "input", "meta", "link", "img") and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1]:
            self.found[self.stack[-1]] = self.found.get(self.stack[-1], "") + data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NONBLANK, city=NONBLANK, title=NONBLANK, venue=NONBLANK, description=ANY,
       person=NONBLANK, role=ANY, organization=NONBLANK, note=ANY)
def test_any_text_through_every_output(name, city, title, venue, description, person, role,
                                       organization, note):
    document = {
        "summit": {"id": "s", "name": name, "city": city, "country": "X",
                   "timezone": "Asia/Almaty"},
        "organizations": [{"id": "o", "name": organization}],
        "participants": [{"id": "p", "name": person, "role": role}],
        "sessions": [{"id": "x", "title": title, "venue": venue, "description": description,
                      "organizations": ["o"],
                      "start": datetime(2030, 7, 3, 10), "end": datetime(2030, 7, 3, 12),
                      "attendance": [{"participant": "p", "mode": "video", "note": note}]}],
    }
    schedule = load_text(tomli_w.dumps(document))
    session = schedule.sessions["s", "x"]
    loaded = session.title

    # iCalendar: three parsers read the summary back.
    body = feed_bytes("s", [session], schedule, FeedSettings(BASE_URL))
    for parser in ("icalendar", "ical", "vobject"):
        [event] = PARSERS[parser](body)
        assert event.summary == loaded, parser

    # Atom: well-formed XML, the title in the entry.
    history = [(Revision(1, datetime(2030, 1, 1, tzinfo=UTC), "test", "added"),
                diff(Schedule(), schedule, {"s"}))]
    [entry] = atom_entries(atom(history, schedule, BASE_URL).encode("utf-8"))
    assert loaded in entry.find(f"{ATOM_NS}content").text

    # HTML: the summit page, its session title as text.
    [view] = summit_views(schedule, BASE_URL, datetime(2030, 1, 1, tzinfo=UTC))
    page = environment("web").get_template("summit.html").render(view=view, feeds=[view.feed])
    parser = Texts()
    parser.feed(page)
    parser.close()
    assert parser.found["title"] == loaded

    # Email: a reminder parses back, with the title in the text and its .ics attached.
    message = compose(Reminder(session, schedule, "Europe/Moscow", timedelta(hours=1),
                               f"{BASE_URL}/manage/t"),
                      sender="summitcal <s@cal.example.org>", recipient="r@example.org",
                      key="k", date=datetime(2030, 7, 3, 3, tzinfo=UTC), base_url=BASE_URL,
                      unsubscribe_url=f"{BASE_URL}/unsubscribe/t")
    parsed = email.message_from_bytes(message.data, policy=default)
    assert " ".join(loaded.split()) in " ".join(str(parsed["Subject"]).split())
    assert loaded in parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    [attachment] = [p for p in parsed.iter_attachments()]
    calendar = Calendar.from_ical(attachment.get_content())
    assert str(calendar.walk("VEVENT")[0]["SUMMARY"]) == loaded
    json.dumps([loaded, session.description, session.attendance[0].note]).encode("utf-8")


def test_atom_entry_title_counted_summits_as_sessions(client):
    """Loading the shipped schedules adds 2 summits, 2 organisations, 1 participant and 5
    sessions; the entry said "Added: 10 sessions" (every subject counted as a session)."""
    [entry] = atom_entries(client.get("/changes.atom").content)
    assert entry.find(f"{ATOM_NS}title").text == (
        "Added: 2 summits, 2 organisations, 1 participant and 5 sessions")

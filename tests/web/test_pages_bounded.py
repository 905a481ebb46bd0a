"""Pages that stay small as the schedule grows (regression: ``/`` rendered every session
of every summit, 12 MB at 10,000 sessions, and ``/summits/{id}`` built every summit's view
to show one). The front page shows a bounded number of summits and sessions, upcoming
first, and links to the rest; pages are reused within a revision and change with it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from summitcal.summits.model import Attendance, Participant, Schedule, Session, Summit
from summitcal.web.app import create_app
from summitcal.web.pages import INDEX_FEEDS, INDEX_SESSIONS, INDEX_SUMMITS
from tests.web.test_http import make_runtime

PER_SUMMIT = 8


def schedule(summits: int) -> Schedule:
    """``summits`` synthetic summits, one a week from last month on (some past)."""
    first = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    first -= timedelta(days=30)
    out = Schedule(participants={"p": Participant("p", "Pat Example", "Minister")})
    for n in range(summits):
        sid = f"summit-{n:03d}"
        out.summits[sid] = Summit(sid, f"Summit {n}", "Madrid", "Spain", "UTC")
        for k in range(PER_SUMMIT):
            start = first + timedelta(days=7 * n, hours=k)
            session = Session(sid, f"s{k:02d}", f"Meeting {n}.{k}", "UTC", start=start,
                              end=start + timedelta(minutes=30),
                              attendance=(Attendance("p", "in_person"),))
            out.sessions[session.key] = session
    return out


@pytest.fixture
def client_of(tmp_path: Path, database_url: str):
    opened = []

    def make(summits: int, name: str) -> TestClient:
        folder = tmp_path / name
        folder.mkdir()
        runtime = make_runtime(folder, database_url if not opened else
                               f"sqlite:///{folder / 'db.sqlite3'}")
        runtime.store.apply(schedule(summits), "test")
        client = TestClient(create_app(runtime))
        opened.append((runtime, client))
        return client

    yield make
    for runtime, client in opened:
        client.close()
        runtime.close()


def test_front_page_is_bounded_and_links_every_summit(client_of) -> None:
    sizes = {"small": INDEX_FEEDS, "large": 2 * INDEX_FEEDS}  # both past the feed bound
    pages = {}
    for name, count in sizes.items():
        client = client_of(count, name)
        html = client.get("/").text
        cards = re.findall(r'<section class="card" aria-labelledby="summit-', html)
        assert len(cards) == INDEX_SUMMITS
        assert html.count("<li class=\"session ") <= INDEX_SUMMITS * INDEX_SESSIONS
        for n in range(count):  # every summit is one link away
            assert f'href="/summits/summit-{n:03d}"' in html
        pages[name] = html
    # Upcoming first: the first card is the summit with the next session, not a past one.
    first = re.search(r'aria-labelledby="summit-(summit-\d+)"', pages["large"]).group(1)
    assert first in ("summit-004", "summit-005")
    # More summits add a link and a sign-up choice (~0.3 kB each), not their sessions
    # (8 each here, ~6 kB a summit when they were all shown) or feed widgets.
    extra = len(pages["large"]) - len(pages["small"])
    assert extra < INDEX_FEEDS * 600


def test_summit_page_shows_all_its_sessions_only(client_of) -> None:
    client = client_of(INDEX_FEEDS, "one")
    assert "/feeds/participants/p.ics" not in client.get("/").text
    html = client.get("/summits/summit-002").text
    assert "/feeds/participants/p.ics" in html  # its participants' feeds are here
    assert html.count("Meeting 2.") == PER_SUMMIT
    assert "Meeting 3." not in html and "Meeting 1." not in html
    assert client.get("/summits/nope").status_code == 404


def test_pages_follow_the_revision(client_of) -> None:
    client = client_of(3, "rev")
    before = client.get("/summits/summit-001").text
    assert client.get("/summits/summit-001").text == before  # reused
    client.app.state.runtime.set_attendance("summit-001", "s00", Attendance("p", "video"),
                                            source="test")
    after = client.get("/summits/summit-001").text
    assert after != before and "video" in after.lower()

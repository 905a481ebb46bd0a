"""Every kind of feed, read by four independent parsers, gives the instants we expect.

The expected instants are written by hand in ``samples.EXPECTED``. Feeds are built once
per module; ical.js runs once per feed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from summitcal.feeds import select
from summitcal.feeds.cache import FeedBuilder
from summitcal.feeds.settings import FeedSettings
from summitcal.summits.model import Schedule
from tests.feeds import samples
from tests.feeds.parsers import PARSERS, Parsed

NOW = datetime(2024, 7, 2, 12, 0, tzinfo=UTC)  # the dinner was cancelled yesterday
ALARMS = (timedelta(days=1), timedelta(hours=1))

# (feed, kind, ident, participant shown in summaries, alarms)
FEEDS = [
    ("all", "all", None),
    ("summit-dushanbe", "summits", "dushanbe-2021"),
    ("summit-astana", "summits", "astana-2024"),
    ("summit-madrid", "summits", "madrid-2024"),
    ("summit-new-york", "summits", "new-york-2024"),
    ("organization-sco", "organizations", "sco"),
    ("organization-un", "organizations", "un"),
    ("participant-putin", "participants", "putin"),
    ("participant-modi", "participants", "modi"),
    ("private", "private", None),
]
PRIVATE_FOLLOWS = ("summit:madrid-2024", "participant:modi", "session:dushanbe-2021/arrivals")


def _build(builder: FeedBuilder, schedule: Schedule, kind: str, ident: str | None) -> bytes:
    retention = builder.settings.cancelled_retention
    if kind == "private":
        sessions = select.follows(schedule, PRIVATE_FOLLOWS, NOW, retention)
        return builder.build("My summits", sessions, schedule, alarms=ALARMS)
    sessions = select.select(schedule, kind, ident, NOW, retention)
    participant = ident if kind == "participants" else None
    name = select.title(schedule, kind, ident)
    return builder.build(name, sessions, schedule, participant=participant)


@pytest.fixture(scope="module")
def feeds(settings: FeedSettings, schedule: Schedule) -> dict[str, bytes]:
    builder = FeedBuilder(settings)
    return {name: _build(builder, schedule, kind, ident) for name, kind, ident in FEEDS}


Parsers = Callable[[str], dict[str, list[Parsed]]]


@pytest.fixture(scope="module")
def parse(feeds: dict[str, bytes]) -> Parsers:
    """``parse(parser)``: every feed read by that parser, each parser run once per feed."""
    done: dict[str, dict[str, list[Parsed]]] = {}

    def parsed(parser: str) -> dict[str, list[Parsed]]:
        if parser not in done:
            done[parser] = {name: PARSERS[parser](data) for name, data in feeds.items()}
        return done[parser]

    return parsed


def _params(names: Iterable[str]) -> list[Any]:
    return [pytest.param(n, marks=[pytest.mark.node] if n == "ical.js" else []) for n in names]


ALL_PARSERS = _params(PARSERS)
# icalendar+vtimezone is a second reading of the times only.
TEXT_PARSERS = _params(n for n in PARSERS if n != "icalendar+vtimezone")


def _uids(*shorts: str) -> set[str]:
    return {samples.full_uid(s) for s in shorts}


EXPECTED_UIDS = {
    "all": _uids(*samples.EXPECTED),
    "summit-dushanbe": _uids(*(u for u in samples.EXPECTED if u.startswith("dushanbe-2021-"))),
    "summit-astana": _uids(*(u for u in samples.EXPECTED if u.startswith("astana-2024-"))),
    "summit-madrid": _uids(*(u for u in samples.EXPECTED if u.startswith("madrid-2024-"))),
    "summit-new-york": _uids(*(u for u in samples.EXPECTED if u.startswith("new-york-2024-"))),
    "organization-sco": _uids(
        "dushanbe-2021-sco-council",
        "astana-2024-sco-plus",
        "astana-2024-sco-council",
        "astana-2024-summit-days",
    ),
    "organization-un": _uids("new-york-2024-general-debate"),
    "participant-putin": _uids(
        "dushanbe-2021-csto-council",
        "dushanbe-2021-sco-council",
        "astana-2024-sco-plus",
        "astana-2024-sco-council",
        "astana-2024-dinner",
        "madrid-2024-after-autumn",
    ),
    "participant-modi": _uids("astana-2024-sco-council", "new-york-2024-general-debate"),
    "private": _uids(
        *(u for u in samples.EXPECTED if u.startswith("madrid-2024-")),
        "astana-2024-sco-council",
        "new-york-2024-general-debate",
        "dushanbe-2021-arrivals",
    ),
}


@pytest.mark.parametrize("parser", ALL_PARSERS)
@pytest.mark.parametrize("feed", [f[0] for f in FEEDS])
def test_every_instant_as_expected(parse: Parsers, parser: str, feed: str) -> None:
    events = parse(parser)[feed]
    assert {e.uid for e in events} == EXPECTED_UIDS[feed]
    assert len(events) == len(EXPECTED_UIDS[feed]), "one VEVENT per session"
    got = {e.uid.split("@")[0]: (e.start, e.end) for e in events}
    want = {uid: samples.EXPECTED[uid] for uid in got}
    assert got == want


def _by_uid(events: list[Parsed], short: str) -> Parsed:
    [event] = [e for e in events if e.uid == samples.full_uid(short)]
    return event


@pytest.mark.parametrize("parser", TEXT_PARSERS)
def test_cancelled_session_reads_as_cancelled(parse: Parsers, parser: str) -> None:
    dinner = _by_uid(parse(parser)["summit-astana"], "astana-2024-dinner")
    assert dinner.status == "CANCELLED"
    assert dinner.summary == "Cancelled: Official dinner"


@pytest.mark.parametrize("parser", TEXT_PARSERS)
def test_participant_feed_summary_has_the_mode(parse: Parsers, parser: str) -> None:
    parsed = parse(parser)
    putin = {e.uid.split("@")[0]: e.summary for e in parsed["participant-putin"]}
    assert putin["dushanbe-2021-sco-council"] == "SCO Council of Heads of State (Putin: video link)"
    assert putin["astana-2024-sco-plus"] == "SCO Plus meeting (Putin: in person)"
    assert putin["astana-2024-dinner"] == ("Cancelled: Official dinner (Putin: attendance unknown)")
    modi = _by_uid(parsed["participant-modi"], "astana-2024-sco-council")
    assert modi.summary == "SCO Council of Heads of State (Modi: delegated to S. Jaishankar)"
    general = _by_uid(parsed["all"], "astana-2024-sco-council")
    assert general.summary == "SCO Council of Heads of State"


@pytest.mark.parametrize("parser", TEXT_PARSERS)
def test_text_and_categories_agree(parse: Parsers, parser: str) -> None:
    parsed = parse(parser)
    council = _by_uid(parsed["all"], "dushanbe-2021-sco-council")
    assert council.location == "Palace of Nations, Dushanbe"
    assert council.categories == ("Shanghai Cooperation Organisation",)
    assert council.description is not None
    assert (
        "- Vladimir Putin (President of Russia): video link. Self-isolation after COVID-19 "
        "cases in his entourage (announced 2021-09-14)"
    ) in council.description.splitlines()
    arrivals = _by_uid(parsed["all"], "dushanbe-2021-arrivals")
    assert arrivals.location == "Dushanbe, Tajikistan"

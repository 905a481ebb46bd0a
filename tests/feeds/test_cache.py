"""FeedBuilder: same bytes as rendering afresh, reuse while current, bounded caches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from summitcal.feeds import select
from summitcal.feeds.cache import LRU, FeedBuilder
from summitcal.feeds.calendar import feed_bytes
from summitcal.feeds.settings import FeedSettings
from summitcal.summits.model import Participant, Schedule
from tests.feeds import samples

NOW = datetime(2024, 7, 2, tzinfo=UTC)
KINDS = [
    ("all", None),
    ("summits", "astana-2024"),
    ("organizations", "sco"),
    ("participants", "putin"),
]


@pytest.mark.parametrize(("kind", "ident"), KINDS)
def test_builder_matches_fresh_rendering(
    builder: FeedBuilder, schedule: Schedule, settings: FeedSettings, kind: str, ident: str | None
) -> None:
    sessions = select.select(schedule, kind, ident, NOW, settings.cancelled_retention)
    participant = ident if kind == "participants" else None
    fresh = feed_bytes("Feed", sessions, schedule, settings, participant)
    assert builder.build("Feed", sessions, schedule, participant) == fresh
    assert builder.build("Feed", sessions, schedule, participant) == fresh  # from the cache


def test_pieces_are_reused_while_current(builder: FeedBuilder, schedule: Schedule) -> None:
    session = schedule.sessions[("astana-2024", "sco-plus")]
    first = builder.event(session, schedule)
    assert builder.event(session, schedule) is first
    assert builder.event(replace(session), schedule) is first  # an equal copy
    zone = builder.vtimezone("Asia/Almaty", date(2024, 7, 3), date(2024, 7, 4))
    assert builder.vtimezone("Asia/Almaty", date(2024, 7, 3), date(2024, 7, 4)) is zone


def test_variants_are_cached_apart(builder: FeedBuilder, schedule: Schedule) -> None:
    session = schedule.sessions[("astana-2024", "sco-council")]
    plain = builder.event(session, schedule)
    putin = builder.event(session, schedule, participant="putin")
    modi = builder.event(session, schedule, participant="modi")
    alarms = builder.event(session, schedule, alarms=(timedelta(hours=1),))
    assert len({plain, putin, modi, alarms}) == 4
    assert b"(Putin: in person)" in putin and b"(Modi: delegated to S. Jaishankar)" in modi
    assert b"TRIGGER:-PT1H" in alarms
    assert len(builder.events) == 4


def test_new_sequence_replaces_the_old_entry(builder: FeedBuilder, schedule: Schedule) -> None:
    session = schedule.sessions[("astana-2024", "sco-plus")]
    builder.event(session, schedule)
    moved = replace(
        session,
        start=session.start + timedelta(hours=1) if session.start else None,
        end=session.end + timedelta(hours=1) if session.end else None,
        sequence=session.sequence + 1,
        last_modified=samples.CHANGED + timedelta(days=1),
    )
    data = builder.event(moved, schedule)
    assert b"SEQUENCE:2" in data and b"DTSTART;TZID=Asia/Almaty:20240703T110000" in data
    assert len(builder.events) == 1, "the superseded sequence is gone"


def test_schedule_change_without_sequence_bump_is_not_served_stale(
    builder: FeedBuilder, schedule: Schedule
) -> None:
    """A participant's role lives outside the session: its sequence does not move."""
    session = schedule.sessions[("astana-2024", "sco-plus")]
    assert b"President of Russia" in builder.event(session, schedule)
    renamed = replace(
        schedule,
        participants={
            **schedule.participants,
            "putin": Participant("putin", "Vladimir Putin", "Former President of Russia"),
        },
    )
    assert b"Former President of Russia" in builder.event(session, renamed)


def test_fold_change_without_sequence_bump_is_not_served_stale(
    builder: FeedBuilder, schedule: Schedule
) -> None:
    """Aware datetimes in one zone compare equal when only ``fold`` differs."""
    first = schedule.sessions[("madrid-2024", "first-0230")]
    assert first.start is not None
    second = replace(first, start=first.start.replace(fold=1), end=None)
    earlier = replace(first, end=None)
    assert earlier == second  # what the cache must not rely on
    assert b"DTSTART:20241027T003000Z" in builder.event(earlier, schedule)
    assert b"DTSTART:20241027T013000Z" in builder.event(second, schedule)


def test_caches_are_bounded(schedule: Schedule, settings: FeedSettings) -> None:
    builder = FeedBuilder(settings, max_events=3, max_zones=2)
    sessions = list(schedule.sessions.values())
    data = builder.build("All", sessions, schedule)
    assert data == feed_bytes("All", sessions, schedule, settings)
    assert len(builder.events) == 3
    assert len(builder.zones) == 2


def test_lru_keeps_the_recently_used() -> None:
    lru: LRU[str] = LRU(2)
    lru.put("a", 1, b"A")
    lru.put("b", 1, b"B")
    assert lru.get("a", 1) == b"A"  # "a" is now the most recent
    lru.put("c", 1, b"C")
    assert lru.get("b", 1) is None
    assert lru.get("a", 1) == b"A"
    assert lru.get("a", 2) is None  # another version is a miss
    with pytest.raises(ValueError):
        LRU(0)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="refresh_interval"):
        FeedSettings(samples.BASE_URL, refresh_interval=timedelta(0))
    with pytest.raises(ValueError, match="cancelled_retention"):
        FeedSettings(samples.BASE_URL, cancelled_retention=timedelta(days=-1))

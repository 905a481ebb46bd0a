"""Which sessions each feed holds, feed titles, and cancelled sessions' retention."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from summitcal.core.errors import NotFound
from summitcal.feeds import select
from summitcal.summits.model import Schedule, Session
from tests.feeds import samples

NOW = datetime(2024, 7, 2, tzinfo=UTC)
RETENTION = timedelta(days=30)
DROPPED = datetime(2024, 7, 31, 9, 0, tzinfo=UTC)  # cancelled 2024-07-01 09:00 + 30 days


def ids(sessions: list[Session]) -> set[str]:
    return {f"{s.summit}-{s.id}" for s in sessions}


def test_all(schedule: Schedule) -> None:
    assert ids(select.select(schedule, "all", None, NOW, RETENTION)) == set(samples.EXPECTED)


def test_summit(schedule: Schedule) -> None:
    chosen = select.select(schedule, "summits", "dushanbe-2021", NOW, RETENTION)
    assert ids(chosen) == {
        "dushanbe-2021-csto-council",
        "dushanbe-2021-sco-council",
        "dushanbe-2021-arrivals",
    }


def test_organization(schedule: Schedule) -> None:
    chosen = select.select(schedule, "organizations", "csto", NOW, RETENTION)
    assert ids(chosen) == {"dushanbe-2021-csto-council"}


def test_participant_feed_is_sessions_with_an_attendance_row(schedule: Schedule) -> None:
    chosen = select.select(schedule, "participants", "modi", NOW, RETENTION)
    assert ids(chosen) == {"astana-2024-sco-council", "new-york-2024-general-debate"}
    # Named only as a delegate: no attendance row of his own.
    assert select.select(schedule, "participants", "jaishankar", NOW, RETENTION) == []


@pytest.mark.parametrize(
    ("kind", "ident", "noun"),
    [
        ("summits", "paris-2030", "summit"),
        ("organizations", "nato", "organization"),
        ("participants", "nobody", "participant"),
        ("summits", None, "summit"),
    ],
)
def test_unknown_raises_not_found(
    schedule: Schedule, kind: str, ident: str | None, noun: str
) -> None:
    with pytest.raises(NotFound) as caught:
        select.select(schedule, kind, ident, NOW, RETENTION)
    assert caught.value.kind == noun
    with pytest.raises(NotFound):
        select.title(schedule, kind, ident)


def test_unknown_even_in_an_empty_schedule() -> None:
    with pytest.raises(NotFound):
        select.select(Schedule(), "summits", "astana-2024", NOW, RETENTION)


def test_unknown_kind(schedule: Schedule) -> None:
    with pytest.raises(NotFound) as caught:
        select.select(schedule, "private", "x", NOW, RETENTION)
    assert caught.value.kind == "feed"


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("all", ("all", None)),
        ("all.ics", ("all", None)),
        ("summits/astana-2024", ("summits", "astana-2024")),
        ("/organizations/sco.ics", ("organizations", "sco")),
        ("participants/putin", ("participants", "putin")),
    ],
)
def test_parse_name(name: str, parsed: tuple[str, str | None]) -> None:
    assert select.parse_name(name) == parsed


@pytest.mark.parametrize(
    "name", ["", "summits", "summits/", "summit/x", "summits/a/b", "private/t"]
)
def test_parse_name_rejects(name: str) -> None:
    with pytest.raises(NotFound):
        select.parse_name(name)


def test_titles(schedule: Schedule) -> None:
    assert select.title(schedule, "summits", "astana-2024") == "SCO summit, Astana 2024"
    assert select.title(schedule, "participants", "putin") == "Sessions with Vladimir Putin"
    assert select.title(schedule, "organizations", "sco") == (
        "Sessions of Shanghai Cooperation Organisation"
    )
    assert select.title(schedule, "all", None) == "All summit sessions"


def test_cancelled_session_stays_until_retention_is_over(schedule: Schedule) -> None:
    def astana(now: datetime) -> set[str]:
        return ids(select.select(schedule, "summits", "astana-2024", now, RETENTION))

    assert "astana-2024-dinner" in astana(NOW)
    assert "astana-2024-dinner" in astana(DROPPED - timedelta(seconds=1))
    assert "astana-2024-dinner" not in astana(DROPPED)
    assert "astana-2024-sco-plus" in astana(DROPPED + timedelta(days=365))


def test_next_change_is_when_the_cancelled_session_drops(schedule: Schedule) -> None:
    chosen = select.select(schedule, "summits", "astana-2024", NOW, RETENTION)
    assert select.next_change(chosen, NOW, RETENTION) == DROPPED
    later = select.select(schedule, "summits", "astana-2024", DROPPED, RETENTION)
    assert select.next_change(later, DROPPED, RETENTION) is None
    dushanbe = select.select(schedule, "summits", "dushanbe-2021", NOW, RETENTION)
    assert select.next_change(dushanbe, NOW, RETENTION) is None


def test_cancellation_time_falls_back_to_last_modified(schedule: Schedule) -> None:
    dinner = schedule.sessions[("astana-2024", "dinner")]
    no_stamp = replace(dinner, cancelled_at=None)
    assert select.dropped_at(no_stamp, RETENTION) == samples.CHANGED + RETENTION
    unknown = replace(dinner, cancelled_at=None, last_modified=None)
    assert select.dropped_at(unknown, RETENTION) is None
    assert not select.expired(unknown, datetime(2100, 1, 1, tzinfo=UTC), RETENTION)


def test_private_feed_follows(schedule: Schedule) -> None:
    follow = [
        "summit:dushanbe-2021",
        "session:astana-2024/sco-plus",
        "organization:un",
        "participant:modi",
        "summit:gone-2019",
        "session:astana-2024/gone",
        "nonsense",
    ]
    assert ids(select.follows(schedule, follow, NOW, RETENTION)) == {
        "dushanbe-2021-csto-council",
        "dushanbe-2021-sco-council",
        "dushanbe-2021-arrivals",
        "astana-2024-sco-plus",
        "new-york-2024-general-debate",
        "astana-2024-sco-council",
    }
    assert ids(select.follows(schedule, ["all"], NOW, RETENTION)) == set(samples.EXPECTED)
    dinner = ["session:astana-2024/dinner"]
    assert ids(select.follows(schedule, dinner, NOW, RETENTION)) == {"astana-2024-dinner"}
    assert select.follows(schedule, dinner, DROPPED, RETENTION) == []

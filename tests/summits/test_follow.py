"""``summits.follow``: specs round-trip, and the Python and SQL forms of "covers" agree.

The SQL forms are evaluated in SQLite and PostgreSQL over schedules written by the store
(sessions with organisations and attendance in every mode, some cancelled), against
``Follow.covers`` on the schedule the store reads back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from summitcal.subscriptions import tables as sub_tables
from summitcal.summits import tables as t
from summitcal.summits.follow import (
    AnyOf,
    Follow,
    FollowColumns,
    FollowKind,
    Scope,
    Stored,
    follow_sql,
)
from summitcal.summits.model import (
    MODES,
    Attendance,
    Organization,
    Participant,
    Schedule,
    Session,
    Summit,
)
from summitcal.summits.store import Store

SUMMITS = ("alma", "baku")
SESSION_IDS = ("opening", "council", "dinner")
ORGANIZATIONS = ("csto", "sco", "cis")
PARTICIPANTS = ("putin", "rahmon", "tokayev")
#: Ids a follow may name: known ones, unknown ones, and ids of the other kinds.
IDS = st.sampled_from(SUMMITS + SESSION_IDS + ORGANIZATIONS + PARTICIPANTS + ("gone",))
ZONE = ZoneInfo("Asia/Almaty")
NOW = datetime(2024, 7, 1, tzinfo=UTC)

ids = st.text("abcz-_.0", min_size=1, max_size=8)
follows = st.one_of(
    st.just(Follow(FollowKind.ALL)),
    st.builds(lambda s: Follow(FollowKind.SUMMIT, s, s), IDS),
    st.builds(lambda s, i: Follow(FollowKind.SESSION, s, i), IDS, IDS),
    st.builds(lambda i: Follow(FollowKind.ORGANIZATION, None, i), IDS),
    st.builds(lambda i: Follow(FollowKind.PARTICIPANT, None, i), IDS),
)


@st.composite
def attendance(draw: st.DrawFn) -> tuple[Attendance, ...]:
    people = draw(st.lists(st.sampled_from(PARTICIPANTS), unique=True, max_size=3))
    entries = []
    for person in people:
        mode = draw(st.sampled_from(MODES))
        delegate = (draw(st.sampled_from([p for p in PARTICIPANTS if p != person]))
                    if mode == "delegated" else None)
        entries.append(Attendance(person, mode, delegate))
    return tuple(entries)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    sessions = []
    for summit in SUMMITS:
        for number, name in enumerate(draw(st.lists(st.sampled_from(SESSION_IDS),
                                                    unique=True, max_size=3))):
            start = datetime(2024, 9, 1 + number, 10, tzinfo=ZONE)
            sessions.append(Session(
                summit, name, f"{summit} {name}", "Asia/Almaty",
                tuple(draw(st.lists(st.sampled_from(ORGANIZATIONS), unique=True,
                                    max_size=3))),
                start=start, end=start + timedelta(hours=2),
                status=draw(st.sampled_from(["confirmed", "tentative", "cancelled"])),
                attendance=draw(attendance())))
    return Schedule(
        summits={s: Summit(s, s.title(), s.title(), "Kazakhstan", "Asia/Almaty")
                 for s in SUMMITS},
        organizations={o: Organization(o, o.upper()) for o in ORGANIZATIONS},
        participants={p: Participant(p, p.title()) for p in PARTICIPANTS},
        sessions={s.key: s for s in sessions})


@given(st.one_of(
    st.just(Follow(FollowKind.ALL)),
    st.builds(lambda s: Follow(FollowKind.SUMMIT, s, s), ids),
    st.builds(lambda s, i: Follow(FollowKind.SESSION, s.replace("/", ""), i), ids, ids),
    st.builds(Follow, st.sampled_from([FollowKind.ORGANIZATION, FollowKind.PARTICIPANT]),
              st.none(), ids),
))
def test_spec_round_trip(follow: Follow) -> None:
    text = str(follow)
    assert Follow.parse(text) == follow
    assert str(Follow.parse(text)) == text


@pytest.mark.parametrize("text", ["", "al", "all:x", "summit:", "summit", "session:a",
                                  "session:/b", "session:a/", "team:x", ":x", None, 3])
def test_spec_errors(text: object) -> None:
    with pytest.raises(ValueError, match="expected|is not one of"):
        Follow.parse(text)


@pytest.fixture
def database(database_url: str) -> Iterator[tuple[Store, list[int]]]:
    """A migrated store and one subscriber per follow slot (follows are rewritten per
    example)."""
    with Store(database_url) as store:
        store.upgrade()
        with store.engine.begin() as connection:
            connection.execute(sa.insert(sub_tables.subscribers), [
                {"email": f"reader{n}@example.org", "timezone": "UTC", "status": "confirmed",
                 "reminders": [], "notices": [], "created_at": NOW, "updated_at": NOW}
                for n in range(6)])
            subscribers = connection.scalars(sa.select(sub_tables.subscribers.c.id)
                                             .order_by(sub_tables.subscribers.c.id)).all()
        yield store, list(subscribers)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(schedule=schedules(), chosen=st.lists(follows, min_size=1, max_size=6, unique=True))
def test_python_and_sql_agree(database: tuple[Store, list[int]], schedule: Schedule,
                              chosen: list[Follow]) -> None:
    store, subscribers = database
    store.apply(schedule, "test", now=NOW)
    stored = store.schedule()  # what the tables hold, sessions of earlier examples too
    f, s = sub_tables.subscriber_follows, t.sessions
    with store.engine.begin() as connection:
        connection.execute(sa.delete(f))
        connection.execute(sa.insert(f), [{"subscriber_id": subscribers[n], **follow.as_row()}
                                          for n, follow in enumerate(chosen)])
        by_id = {row.id: Follow.of_row(row) for row in connection.execute(sa.select(f))}
        columns = FollowColumns.of(f)
        joined = {(row.summit, row.id, row.follow) for row in connection.execute(
            sa.select(s.c.summit, s.c.id, f.c.id.label("follow"))
            .select_from(s.join(f, follow_sql(columns, Stored(s.c.summit, s.c.id)))))}
        per_kind = {(row.summit, row.id, row.follow) for kind in FollowKind
                    for row in connection.execute(
                        sa.select(s.c.summit, s.c.id, f.c.id.label("follow"))
                        .select_from(s.join(f, follow_sql(
                            columns, Stored(s.c.summit, s.c.id), [kind]))))}
        for session in stored.sessions.values():
            expected = {n for n, follow in by_id.items() if follow.covers(session)}
            assert {n for (summit, sid, n) in joined if (summit, sid) == session.key} == expected
            fan_out = set(connection.scalars(sa.select(f.c.id).where(
                follow_sql(columns, Stored(*session.key)))))
            assert fan_out == expected
            any_of = set(connection.scalars(sa.select(f.c.id).where(
                follow_sql(columns, AnyOf((Scope.of(session),))))))
            assert any_of == expected
    assert per_kind == joined

"""The store on SQLite and PostgreSQL: revisions, sequences, cancellations, attendance."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from summitcal.core.errors import InvalidInput, NotFound
from summitcal.summits import tables as t
from summitcal.summits.changes import REMOVED_NOTE, Change
from summitcal.summits.model import Attendance, Organization, Schedule

DUSHANBE = ZoneInfo("Asia/Dushanbe")
T0 = datetime(2021, 9, 1, 8, 0, tzinfo=UTC)
VIDEO_NOTE = "Self-isolation after COVID-19 cases in his entourage"


def later(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def count(store, table: sa.Table) -> int:
    with store.engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(table))


def test_first_load_stores_everything(store, dushanbe):
    result = store.apply(dushanbe, "load schedules/", now=T0)
    assert result.revision == 1 == store.version()
    current = store.schedule()
    assert current.summits == dushanbe.summits
    assert current.organizations == dushanbe.organizations
    assert current.participants == dushanbe.participants
    assert {k: s.content() for k, s in current.sessions.items()} == dushanbe.sessions
    assert list(current.sessions) == [  # by start
        ("dushanbe-2021", "arrivals"),
        ("dushanbe-2021", "csto-council"),
        ("dushanbe-2021", "sco-council"),
    ]
    assert {(s.sequence, s.last_modified, s.cancelled_at) for s in current.sessions.values()} == {
        (0, T0, None)
    }
    [(revision, changes)] = store.revisions()
    assert (revision.id, revision.created_at, revision.source) == (1, T0, "load schedules/")
    assert revision.summary == "9 changes: 9 added"
    assert changes == list(result.changes)


def test_applying_the_same_files_twice_makes_one_revision(store, dushanbe):
    store.apply(dushanbe, "load", now=T0)
    again = store.apply(dushanbe, "load", now=later(1))
    assert (again.revision, again.changes) == (None, ())
    assert store.apply(store.schedule(), "what the store holds").revision is None
    assert store.version() == 1
    assert count(store, t.revisions) == 1
    assert store.session("dushanbe-2021", "csto-council").last_modified == T0


def test_sequence_grows_by_one_per_revision_with_visible_changes(store, dushanbe, edit):
    store.apply(dushanbe, "load", now=T0)
    moved = edit(
        dushanbe,
        "csto-council",
        start=datetime(2021, 9, 16, 11, 0, tzinfo=DUSHANBE),
        venue="Kohi Navruz",
        description="Moved.",
        organizations=("csto", "sco"),
    )
    result = store.apply(moved, "load", now=later(1))
    assert [(c.kind, c.field) for c in result.changes] == [
        ("time_changed", "start"),
        ("venue_changed", "venue"),
        ("details_changed", "description"),
        ("details_changed", "organizations"),
    ]
    assert result.changes[-1].new == ["csto", "sco"]
    assert store.revisions(limit=1)[0][1] == list(result.changes)  # JSON values round-trip
    session = store.session("dushanbe-2021", "csto-council")
    assert (session.sequence, session.last_modified) == (1, later(1))
    assert session.starts_at == datetime(2021, 9, 16, 6, 0, tzinfo=UTC)
    untouched = store.session("dushanbe-2021", "sco-council")
    assert (untouched.sequence, untouched.last_modified) == (0, T0)

    store.apply(edit(moved, "csto-council", title="CSTO Council"), "load", now=later(2))
    assert store.session("dushanbe-2021", "csto-council").sequence == 2
    assert store.version() == 3


def test_session_removed_from_the_file_is_cancelled_kept_and_reinstated(store, dushanbe, edit):
    store.apply(dushanbe, "load", now=T0)
    result = store.apply(edit(dushanbe, "csto-council", drop=True), "load", now=later(1))
    assert result.changes == (
        Change(
            "cancelled",
            "dushanbe-2021",
            "csto-council",
            field="status",
            old="confirmed",
            new="cancelled",
            note=REMOVED_NOTE,
        ),
    )
    kept = store.session("dushanbe-2021", "csto-council")
    assert (kept.status, kept.sequence, kept.cancelled_at, kept.last_modified) == (
        "cancelled",
        1,
        later(1),
        later(1),
    )
    assert kept.attendance == dushanbe.sessions["dushanbe-2021", "csto-council"].attendance
    assert ("dushanbe-2021", "csto-council") in store.schedule().sessions
    assert store.apply(edit(dushanbe, "csto-council", drop=True), "load").revision is None

    back = store.apply(dushanbe, "load", now=later(2))
    assert [(c.kind, c.old, c.new) for c in back.changes] == [
        ("reinstated", "cancelled", "confirmed")
    ]
    reinstated = store.session("dushanbe-2021", "csto-council")
    assert (reinstated.status, reinstated.sequence, reinstated.cancelled_at) == (
        "confirmed",
        2,
        None,
    )


def test_attendance_in_person_to_video_is_exactly_one_change(store, dushanbe):
    store.apply(dushanbe, "load", now=T0)
    result = store.set_attendance(
        "dushanbe-2021",
        "sco-council",
        Attendance("putin", "video", note=VIDEO_NOTE),
        "cli attendance",
        now=later(1),
    )
    expected = Change(
        "attendance_changed",
        "dushanbe-2021",
        "sco-council",
        participant="putin",
        field="attendance",
        old="in_person",
        new="video",
        note=VIDEO_NOTE,
    )
    assert (result.revision, result.changes) == (2, (expected,))
    [(revision, changes)] = store.revisions(limit=1)
    assert (revision.source, changes) == ("cli attendance", [expected])
    session = store.session("dushanbe-2021", "sco-council")
    assert session.attendance == (Attendance("putin", "video", note=VIDEO_NOTE),)
    assert session.sequence == 1
    # Recording the same again changes nothing.
    again = store.set_attendance(
        "dushanbe-2021", "sco-council", Attendance("putin", "video", note=VIDEO_NOTE), "cli"
    )
    assert again.revision is None and store.version() == 2


def test_set_attendance_adds_a_participant_and_checks_its_input(store, dushanbe):
    store.apply(dushanbe, "load", now=T0)
    delegated = Attendance("rahmon", "delegated", "lavrov", announced=date(2021, 9, 15))
    store.set_attendance("dushanbe-2021", "sco-council", delegated, "admin")
    attendance = store.session("dushanbe-2021", "sco-council").attendance
    assert attendance == (Attendance("putin", "in_person"), delegated)

    with pytest.raises(NotFound, match="summit"):
        store.set_attendance("nowhere", "sco-council", delegated, "admin")
    with pytest.raises(NotFound, match="session"):
        store.set_attendance("dushanbe-2021", "nothing", delegated, "admin")
    with pytest.raises(NotFound, match="'xi'"):
        store.set_attendance("dushanbe-2021", "sco-council", Attendance("xi", "video"), "admin")
    with pytest.raises(NotFound, match="'nobody'"):
        store.set_attendance(
            "dushanbe-2021", "sco-council", Attendance("putin", "delegated", "nobody"), "admin"
        )
    with pytest.raises(InvalidInput, match="mode") as error:
        store.set_attendance("dushanbe-2021", "sco-council", Attendance("putin", "zoom"), "admin")
    assert error.value.field == "mode"
    with pytest.raises(InvalidInput, match="delegate"):
        store.set_attendance(
            "dushanbe-2021", "sco-council", Attendance("putin", "video", "lavrov"), "admin"
        )
    assert store.version() == 2


def test_unknown_references_are_refused_before_anything_is_written(store, dushanbe, edit):
    with pytest.raises(NotFound, match="organization: 'nato'"):
        store.apply(edit(dushanbe, "arrivals", organizations=("nato",)), "load")
    with pytest.raises(NotFound, match="participant: 'xi'"):
        store.apply(edit(dushanbe, "arrivals", attendance=(Attendance("xi", "video"),)), "load")
    assert store.version() == 0


def test_records_from_earlier_loads_stay_known(store, dushanbe):
    store.apply(dushanbe, "load", now=T0)
    # A later load of one file may name an organisation declared by another file.
    assert store.apply(replace(dushanbe, organizations={}), "load").revision is None
    renamed = replace(dushanbe, organizations={"sco": Organization("sco", "The SCO")})
    result = store.apply(renamed, "load", now=later(1))
    assert [(c.kind, c.organization, c.old, c.new) for c in result.changes] == [
        ("details_changed", "sco", "Shanghai Cooperation Organisation", "The SCO")
    ]
    assert store.schedule().organizations["csto"].name == "Collective Security Treaty Organization"
    sequences = {s.id: s.sequence for s in store.schedule().sessions.values()}
    assert sequences == {"arrivals": 1, "csto-council": 0, "sco-council": 1}


def test_dry_run_reports_changes_and_writes_nothing(store, dushanbe, edit):
    dry = store.apply(dushanbe, "load", dry_run=True)
    assert dry.dry_run and dry.revision is None and len(dry.changes) == 9
    assert store.version() == 0 and store.schedule() == Schedule()
    store.apply(dushanbe, "load", now=T0)
    dry = store.apply(edit(dushanbe, "sco-council", status="cancelled"), "load", dry_run=True)
    assert [c.kind for c in dry.changes] == ["cancelled"]
    assert store.session("dushanbe-2021", "sco-council").status == "tentative"
    assert store.version() == 1


def test_a_failing_apply_leaves_the_database_unchanged(store, dushanbe, edit):
    store.apply(dushanbe, "load", now=T0)
    before = store.schedule()
    participants = {**dushanbe.participants}
    participants["putin"] = replace(participants["putin"], role="President")
    broken = edit(
        replace(dushanbe, participants=participants),
        "sco-council",
        venue="Elsewhere",
        status="postponed",  # refused by a CHECK constraint
    )
    with pytest.raises(IntegrityError):
        store.apply(broken, "load", now=later(1))
    assert store.schedule() == before
    assert store.version() == 1
    assert (count(store, t.revisions), count(store, t.changes)) == (1, 9)
    assert store.apply(dushanbe, "load").revision is None


def test_version_changes_only_when_a_revision_is_made(store, dushanbe, edit):
    assert store.version() == 0
    store.apply(dushanbe, "load", now=T0)
    assert store.version() == 1
    store.apply(dushanbe, "load")
    store.apply(edit(dushanbe, "arrivals", venue="Airport"), "load", dry_run=True)
    assert store.version() == 1
    store.apply(edit(dushanbe, "arrivals", venue="Airport"), "load", now=later(1))
    assert store.version() == 2


def test_revisions_newest_first_by_summit_and_after(store, dushanbe, edit):
    store.apply(dushanbe, "first", now=T0)
    store.apply(edit(dushanbe, "arrivals", venue="Airport"), "second", now=later(1))
    store.set_attendance("dushanbe-2021", "sco-council", Attendance("putin", "video"), "third")
    assert [r.source for r, _ in store.revisions()] == ["third", "second", "first"]
    assert [r.source for r, _ in store.revisions(limit=1)] == ["third"]
    assert store.revisions(summit="astana-2024") == []
    [(_, changes)] = store.revisions(summit="dushanbe-2021")[2:]
    assert [c.session for c in changes] == [None, "arrivals", "csto-council", "sco-council"]


def test_session_lookup(store, dushanbe):
    store.apply(dushanbe, "load", now=T0)
    arrivals = store.session("dushanbe-2021", "arrivals")
    assert (arrivals.date, arrivals.end_date, arrivals.start) == (
        date(2021, 9, 15),
        date(2021, 9, 16),
        None,
    )
    assert arrivals.organizations == ("csto", "sco")
    with pytest.raises(NotFound, match="dushanbe-2021/nothing"):
        store.session("dushanbe-2021", "nothing")

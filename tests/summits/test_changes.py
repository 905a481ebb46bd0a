"""The pure diff: typed changes and the sequence rules, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from summitcal.summits.changes import REMOVED_NOTE, Change, diff, revise, summarize
from summitcal.summits.model import Attendance, Participant, Schedule, Session, Summit

NOW = datetime(2021, 9, 14, 12, 0, tzinfo=UTC)
DUSHANBE = ZoneInfo("Asia/Dushanbe")
SUMMIT = {"dushanbe-2021"}
VIDEO_NOTE = "Self-isolation after COVID-19 cases in his entourage"


def stored(schedule: Schedule) -> Schedule:
    """``schedule`` as the store holds it after its first load."""
    _, sessions = revise(Schedule(), schedule, set(schedule.summits), NOW)
    return replace(schedule, sessions={s.key: s for s in sessions})


def test_same_schedule_is_no_change(dushanbe):
    assert diff(stored(dushanbe), dushanbe, SUMMIT) == []
    assert revise(stored(dushanbe), dushanbe, SUMMIT, NOW) == ([], [])


def test_first_load_adds_records_and_sessions_at_sequence_zero(dushanbe):
    changes, sessions = revise(Schedule(), dushanbe, SUMMIT, NOW)
    assert [(c.kind, c.summit, c.session) for c in changes if c.session] == [
        ("added", "dushanbe-2021", "arrivals"),
        ("added", "dushanbe-2021", "csto-council"),
        ("added", "dushanbe-2021", "sco-council"),
    ]
    records = [(c.kind, c.summit, c.organization, c.participant) for c in changes if not c.session]
    assert records == [
        ("added", "dushanbe-2021", None, None),
        ("added", None, "csto", None),
        ("added", None, "sco", None),
        ("added", None, None, "lavrov"),
        ("added", None, None, "putin"),
        ("added", None, None, "rahmon"),
    ]
    assert {(s.sequence, s.last_modified, s.cancelled_at) for s in sessions} == {(0, NOW, None)}


def test_attendance_in_person_to_video_is_one_change_with_from_to_and_note(dushanbe, edit):
    video = Attendance("putin", "video", note=VIDEO_NOTE)
    changes, sessions = revise(
        stored(dushanbe), edit(dushanbe, "sco-council", attendance=(video,)), SUMMIT, NOW
    )
    assert changes == [
        Change(
            "attendance_changed",
            "dushanbe-2021",
            "sco-council",
            participant="putin",
            field="attendance",
            old="in_person",
            new="video",
            note=VIDEO_NOTE,
        )
    ]
    assert [(s.id, s.sequence) for s in sessions] == [("sco-council", 1)]


def test_attendance_appears_and_disappears(dushanbe, edit):
    lavrov = Attendance("lavrov", "in_person", note="Heads the delegation")
    new = edit(dushanbe, "sco-council", attendance=(lavrov,))
    changes = diff(stored(dushanbe), new, SUMMIT)
    assert [(c.participant, c.old, c.new, c.note) for c in changes] == [
        ("lavrov", None, "in_person", "Heads the delegation"),
        ("putin", "in_person", None, None),
    ]


def test_delegate_change_keeps_the_mode_but_is_a_change(dushanbe, edit):
    first = edit(dushanbe, "sco-council", attendance=(Attendance("putin", "delegated", "lavrov"),))
    second = edit(dushanbe, "sco-council", attendance=(Attendance("putin", "delegated", "rahmon"),))
    changes = diff(stored(first), second, SUMMIT)
    assert [(c.kind, c.old, c.new) for c in changes] == [
        ("attendance_changed", "delegated", "delegated")
    ]


def test_several_visible_changes_bump_the_sequence_once(dushanbe, edit):
    moved = edit(
        dushanbe,
        "csto-council",
        start=datetime(2021, 9, 16, 11, 0, tzinfo=DUSHANBE),
        end=datetime(2021, 9, 16, 14, 0, tzinfo=DUSHANBE),
        venue="Kohi Navruz",
        title="CSTO Council",
    )
    changes, sessions = revise(stored(dushanbe), moved, SUMMIT, NOW)
    assert [(c.kind, c.field, c.old, c.new) for c in changes] == [
        ("time_changed", "start", "2021-09-16T10:00:00+05:00", "2021-09-16T11:00:00+05:00"),
        ("time_changed", "end", "2021-09-16T13:00:00+05:00", "2021-09-16T14:00:00+05:00"),
        ("venue_changed", "venue", "Palace of Nations, Dushanbe", "Kohi Navruz"),
        (
            "details_changed",
            "title",
            "Session of the CSTO Collective Security Council",
            "CSTO Council",
        ),
    ]
    assert [(s.id, s.sequence, s.last_modified) for s in sessions] == [("csto-council", 1, NOW)]


def test_all_day_to_timed_is_a_time_change_per_field(dushanbe, edit):
    timed = edit(
        dushanbe,
        "arrivals",
        date=None,
        end_date=None,
        start=datetime(2021, 9, 15, 9, 0, tzinfo=DUSHANBE),
    )
    assert [(c.kind, c.field, c.old, c.new) for c in diff(stored(dushanbe), timed, SUMMIT)] == [
        ("time_changed", "start", None, "2021-09-15T09:00:00+05:00"),
        ("time_changed", "date", "2021-09-15", None),
        ("time_changed", "end_date", "2021-09-16", None),
    ]


def test_status_rules(dushanbe, edit):
    store = stored(dushanbe)
    confirmed = diff(store, edit(dushanbe, "sco-council", status="confirmed"), SUMMIT)
    assert [(c.kind, c.field, c.old, c.new) for c in confirmed] == [
        ("details_changed", "status", "tentative", "confirmed")
    ]
    cancelled = edit(dushanbe, "sco-council", status="cancelled")
    assert [c.kind for c in diff(store, cancelled, SUMMIT)] == ["cancelled"]
    _, sessions = revise(store, cancelled, SUMMIT, NOW)
    assert (sessions[0].status, sessions[0].cancelled_at, sessions[0].sequence) == (
        "cancelled",
        NOW,
        1,
    )
    store = replace(store, sessions={**store.sessions, sessions[0].key: sessions[0]})
    changes, sessions = revise(store, dushanbe, SUMMIT, NOW)
    assert [(c.kind, c.old, c.new) for c in changes] == [("reinstated", "cancelled", "tentative")]
    assert (sessions[0].cancelled_at, sessions[0].sequence) == (None, 2)


def test_session_missing_from_its_summit_file_is_cancelled_and_kept(dushanbe, edit):
    store = stored(dushanbe)
    changes, sessions = revise(store, edit(dushanbe, "csto-council", drop=True), SUMMIT, NOW)
    assert changes == [
        Change(
            "cancelled",
            "dushanbe-2021",
            "csto-council",
            field="status",
            old="confirmed",
            new="cancelled",
            note=REMOVED_NOTE,
        )
    ]
    kept = sessions[0]
    assert kept.content() == replace(store.sessions[kept.key], status="cancelled").content()
    assert (kept.sequence, kept.cancelled_at) == (1, NOW)
    # Still missing next time: already cancelled, nothing more to say.
    store = replace(store, sessions={**store.sessions, kept.key: kept})
    assert diff(store, edit(dushanbe, "csto-council", drop=True), SUMMIT) == []


def test_summits_not_loaded_are_untouched(dushanbe):
    other = Summit("astana-2024", "SCO summit, Astana 2024", "Astana", "Kazakhstan", "Asia/Almaty")
    store = replace(stored(dushanbe), summits={**dushanbe.summits, other.id: other})
    only_astana = Schedule(summits={other.id: other})
    assert diff(store, only_astana, {"astana-2024"}) == []


def test_fold_change_is_seen_although_content_compares_equal():
    zone = ZoneInfo("America/New_York")
    first = datetime(2021, 11, 7, 1, 30, tzinfo=zone, fold=0)
    session = Session("s", "late", "Late session", "America/New_York", start=first)
    later = replace(session, start=first.replace(fold=1))
    assert session.content() == later.content()  # the trap: same-zone == ignores fold
    old = Schedule(sessions={session.key: session})
    changes = diff(old, Schedule(sessions={session.key: later}), set())
    assert [(c.kind, c.old, c.new) for c in changes] == [
        ("time_changed", "2021-11-07T01:30:00-04:00", "2021-11-07T01:30:00-05:00")
    ]


def test_participant_rename_is_a_record_change_that_bumps_the_sessions_showing_them(dushanbe, edit):
    delegated = edit(
        dushanbe, "sco-council", attendance=(Attendance("rahmon", "delegated", "lavrov"),)
    )
    store = stored(delegated)
    renamed = replace(
        delegated,
        participants={
            **delegated.participants,
            "lavrov": Participant("lavrov", "Sergei Lavrov", "Minister of Foreign Affairs"),
            "putin": Participant("putin", "Vladimir Putin", "President of the Russian Federation"),
        },
    )
    changes, sessions = revise(store, renamed, SUMMIT, NOW)
    assert changes == [
        Change(
            "details_changed",
            participant="lavrov",
            field="name",
            old="Sergey Lavrov",
            new="Sergei Lavrov",
        ),
        Change(
            "details_changed",
            participant="putin",
            field="role",
            old="President of Russia",
            new="President of the Russian Federation",
        ),
    ]
    # Lavrov is the delegate in sco-council, Putin attends csto-council; arrivals shows neither.
    assert [(s.id, s.sequence) for s in sessions] == [("csto-council", 1), ("sco-council", 1)]


def test_summit_change_bumps_all_its_sessions(dushanbe):
    summit = replace(dushanbe.summits["dushanbe-2021"], name="Dushanbe summits 2021")
    changes, sessions = revise(
        stored(dushanbe), replace(dushanbe, summits={summit.id: summit}), SUMMIT, NOW
    )
    assert [(c.kind, c.summit, c.session, c.field) for c in changes] == [
        ("details_changed", "dushanbe-2021", None, "name")
    ]
    assert sorted(s.id for s in sessions) == ["arrivals", "csto-council", "sco-council"]


def test_summary():
    one = Change(
        "attendance_changed",
        "d",
        "s",
        participant="putin",
        field="attendance",
        old="in_person",
        new="video",
        note="COVID",
    )
    assert summarize([one]) == "d/s: attendance changed putin in_person -> video (COVID)"
    added = Change("added", "d", "t", new="Title")
    assert summarize([one, added, added]) == "3 changes: 2 added, 1 attendance changed"
    assert str(Change("time_changed", "d", "s", field="date", old="2021-09-16", new=None)) == (
        "d/s: time changed date '2021-09-16' -> None"
    )
    assert str(Change("added", participant="lavrov", new="Sergey Lavrov")) == (
        "participant lavrov: added"
    )


def test_all_day_dates_are_iso_strings(dushanbe, edit):
    later = edit(dushanbe, "arrivals", end_date=date(2021, 9, 17))
    [change] = diff(stored(dushanbe), later, SUMMIT)
    assert (change.field, change.old, change.new) == ("end_date", "2021-09-16", "2021-09-17")

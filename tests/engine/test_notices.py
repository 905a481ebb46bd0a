"""Change notices: merged per subscriber over the delay, state before vs state after (an
undone change sends nothing), resumed from the database after a restart, queued once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from summitcal.core import database
from summitcal.scheduler import notices
from summitcal.scheduler.clock import Clock
from summitcal.summits.model import Attendance, Schedule, Session, Summit
from summitcal.summits.store import Store
from tests.engine.conftest import (
    DELAY,
    DUSHANBE,
    IN_PERSON,
    NOW,
    SUMMIT,
    VIDEO,
    edit,
    messages,
    subscribe,
    summit_schedule,
)

SECOND = timedelta(seconds=1)


def putin_by_video():
    """Putin switches to a video link for every session he attends (one revision)."""
    schedule = summit_schedule()
    for session in ("csto-council", "sco-council", "joint"):
        attendance = schedule.sessions[SUMMIT, session].attendance
        schedule = edit(schedule, session, attendance=tuple(
            VIDEO if a.participant == "putin" else a for a in attendance))
    return schedule


def windows(store: Store) -> list[tuple[str, str]]:
    w = notices.notice_windows
    with store.engine.connect() as connection:
        return [(r.session, r.status) for r in connection.execute(
            sa.select(w).order_by(w.c.id))]


def test_attendance_changes_are_merged_into_one_notice_per_subscriber(loaded, clock):
    putin = subscribe(loaded, "putin@example.org", "participant:putin")
    summit = subscribe(loaded, "summit@example.org", f"summit:{SUMMIT}")
    subscribe(loaded, "schedule-only@example.org", f"summit:{SUMMIT}", notices=("schedule",))
    subscribe(loaded, "side@example.org", f"session:{SUMMIT}/side")
    subscribe(loaded, "rahmon@example.org", "participant:rahmon")
    subscribe(loaded, "pending@example.org", "all", confirmed=False)
    sco = subscribe(loaded, "sco@example.org", "organization:sco")
    changed = NOW + timedelta(minutes=10)
    loaded.apply(putin_by_video(), "announcement", now=changed)

    assert clock.run_once(now=changed + SECOND).notices == 0
    assert clock.run_once(now=changed + DELAY - SECOND).notices == 0
    assert clock.run_once(now=changed + DELAY).notices == 3

    found = {m.subscriber_id: m for m in messages(loaded, "attendance_change")}
    assert set(found) == {putin, summit, sco}
    assert messages(loaded, "schedule_change") == []
    sessions = {putin: ["csto-council", "joint", "sco-council"],
                summit: ["csto-council", "joint", "sco-council"],
                sco: ["joint", "sco-council"]}  # the all-day joint meeting starts first
    for subscriber, message in found.items():
        items = message.payload["items"]
        assert sorted(i["session"] for i in items) == sessions[subscriber]
        assert {(i["participant"], i["old"]["mode"], i["new"]["mode"]) for i in items} == {
            ("putin", "in_person", "video")}
        assert {i["new"]["note"] for i in items} == {VIDEO.note}
        assert message.due_at == changed + DELAY
        assert message.expires_at == changed + DELAY + timedelta(hours=24)
        assert message.key.startswith(f"attendance_change:{subscriber}:w")
    assert [status for _, status in windows(loaded)] == ["closed"] * 3
    assert clock.run_once(now=changed + 2 * DELAY).notices == 0  # nothing twice


def test_a_change_undone_within_the_window_sends_nothing(loaded: Store, clock: Clock):
    subscribe(loaded, "putin@example.org", "participant:putin")
    loaded.apply(putin_by_video(), "announcement", now=NOW)
    clock.run_once(now=NOW + SECOND)
    loaded.apply(summit_schedule(), "denial", now=NOW + DELAY / 2)
    clock.run_once(now=NOW + DELAY / 2 + SECOND)

    assert clock.run_once(now=NOW + DELAY).notices == 0  # the window was extended
    assert clock.run_once(now=NOW + DELAY / 2 + DELAY).notices == 0
    assert messages(loaded, "attendance_change", "schedule_change") == []
    assert [status for _, status in windows(loaded)] == ["quiet"] * 3


def test_a_later_change_extends_the_window_and_the_notice_shows_first_old_to_last_new(
        loaded: Store, clock: Clock):
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/csto-council")
    later = datetime(2030, 7, 4, 11, 0, tzinfo=DUSHANBE)
    first = edit(summit_schedule(), "csto-council", venue="Kokhi Navruz")
    loaded.apply(first, "venue", now=NOW)
    clock.run_once(now=NOW + SECOND)
    second = edit(first, "csto-council", start=later, end=later + timedelta(hours=3))
    loaded.apply(second, "time", now=NOW + DELAY - SECOND)

    assert clock.run_once(now=NOW + DELAY).notices == 0
    assert clock.run_once(now=NOW + DELAY - SECOND + DELAY).notices == 1
    (message,) = messages(loaded, "schedule_change")
    (item,) = message.payload["items"]
    before, after = (notices.from_state(item[k]) for k in ("before", "after"))
    assert (before.venue, after.venue) == ("Palace of Nations", "Kokhi Navruz")
    assert (before.start.hour, after.start) == (10, later)


def test_schedule_changes_reach_followers_of_the_session_summit_organisation_and_people(
        loaded: Store, clock: Clock):
    ids = {name: subscribe(loaded, f"{name}@example.org", follow) for name, follow in (
        ("session", f"session:{SUMMIT}/csto-council"), ("summit", f"summit:{SUMMIT}"),
        ("org", "organization:csto"), ("putin", "participant:putin"),
        ("rahmon", "participant:rahmon"), ("all", "all"))}
    subscribe(loaded, "other-org@example.org", "organization:sco")
    subscribe(loaded, "lavrov@example.org", "participant:lavrov")
    subscribe(loaded, "attendance-only@example.org", "all", notices=("attendance",))
    loaded.apply(edit(summit_schedule(), "csto-council", status="cancelled"), "cancel", now=NOW)
    clock.run_once(now=NOW + SECOND)
    assert clock.run_once(now=NOW + DELAY).notices == len(ids)
    found = messages(loaded, "schedule_change")
    assert sorted(m.subscriber_id for m in found) == sorted(ids.values())
    assert {m.topic for m in found} == {f"{SUMMIT}/csto-council"}


def test_a_new_session_is_news_but_a_new_summits_first_import_is_not(loaded, clock):
    follower = subscribe(loaded, "all@example.org", "all")
    added = Session(SUMMIT, "press", "Press conference", "Asia/Dushanbe",
                    start=datetime(2030, 7, 5, 16, 0, tzinfo=DUSHANBE))
    schedule = summit_schedule()
    schedule.sessions[added.key] = added
    loaded.apply(schedule, "add a session", now=NOW)
    other = Summit("astana-2030", "Astana 2030", "Astana", "Kazakhstan", "Asia/Almaty")
    first = Session("astana-2030", "opening", "Opening", "Asia/Almaty",
                    start=datetime(2030, 8, 1, 10, 0, tzinfo=DUSHANBE))
    loaded.apply(type(schedule)(summits={other.id: other}, sessions={first.key: first}),
                 "a new summit", now=NOW)

    clock.run_once(now=NOW + DELAY)
    (message,) = messages(loaded, "schedule_change")
    assert message.subscriber_id == follower
    assert [(i["session"], i["before"]) for i in message.payload["items"]] == [("press", None)]


def test_windows_survive_a_restart_and_changes_made_while_down_are_seen(loaded, clock):
    subscribe(loaded, "putin@example.org", "participant:putin")
    loaded.apply(putin_by_video(), "announcement", now=NOW)
    clock.run_once(now=NOW + SECOND)  # window opened, then the process dies
    assert [status for _, status in windows(loaded)] == ["open"] * 3

    restarted = Clock(loaded, DELAY)
    assert restarted.run_once(now=NOW + DELAY).notices == 1

    # Changes made while no clock runs are picked up by the next one.
    loaded.apply(summit_schedule(), "back in person", now=NOW + 3 * DELAY)
    again = Clock(loaded, DELAY)
    again.run_once(now=NOW + 10 * DELAY)
    second = messages(loaded, "attendance_change")
    assert len(second) == 2
    assert {(i["old"]["mode"], i["new"]["mode"]) for i in second[1].payload["items"]} == {
        ("video", "in_person")}


def test_history_before_the_first_run_sends_nothing(store: Store):
    store.apply(summit_schedule(), "load", now=NOW)
    store.apply(putin_by_video(), "announcement", now=NOW)
    subscribe(store, "putin@example.org", "participant:putin")
    Clock(store, DELAY).run_once(now=NOW + DELAY)
    Clock(store, DELAY).run_once(now=NOW + 2 * DELAY)
    assert messages(store, "attendance_change", "schedule_change") == []


def test_a_crash_before_commit_queues_nothing_and_a_rerun_queues_once(loaded, clock):
    subscribe(loaded, "putin@example.org", "participant:putin")
    loaded.apply(putin_by_video(), "announcement", now=NOW)
    clock.run_once(now=NOW + SECOND)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), database.writing(loaded.engine) as connection:
        assert notices.close_due(connection, NOW + DELAY) == 1
        raise Crash  # the process dies before the commit
    assert messages(loaded, "attendance_change") == []

    with database.writing(loaded.engine) as connection:
        assert notices.close_due(connection, NOW + DELAY) == 1
    with database.writing(loaded.engine) as connection:
        assert notices.close_due(connection, NOW + DELAY) == 0
    assert len(messages(loaded, "attendance_change")) == 1


def test_notice_keys_stay_short_for_many_windows():
    key = notices.notice_key("schedule_change", 12, list(range(1, 500)))
    assert len(key) < 100 and key.startswith("schedule_change:12:w1..499x499.")
    assert notices.notice_key("attendance_change", 3, [4, 5, 6]) == "attendance_change:3:w4-5-6"


def test_sessions_round_trip_through_their_json_state():
    for session in [*summit_schedule().sessions.values(),
                    edit(summit_schedule(), "sco-council",
                         attendance=(VIDEO, IN_PERSON)).sessions[SUMMIT, "sco-council"]]:
        assert notices.from_state(notices.state(session)) == session
    new_york = ZoneInfo("America/New_York")
    repeated = Session("nyc", "late", "Late", "America/New_York",
                       start=datetime(2021, 11, 7, 1, 30, fold=1, tzinfo=new_york))
    back = notices.from_state(notices.state(repeated))
    assert back.start is not None and back.start.fold == 1
    assert back.starts_at == repeated.starts_at


def test_a_change_right_after_a_first_import_is_news_even_if_seen_in_the_same_pass(
        store: Store):
    """Regression: `load history/…` then `load schedules/` within one tick. The import is
    not news; the attendance change made right after it is."""
    clock = Clock(store, DELAY)
    clock.run_once(now=NOW)  # the clock runs before anything is loaded
    store.apply(Schedule(summits={"other": Summit("other", "Other", "Astana", "Kazakhstan",
                                                  "Asia/Almaty")}), "other summit", now=NOW)
    store.apply(summit_schedule(), "history", now=NOW)  # not yet seen by the clock…
    subscribe(store, "putin@example.org", "participant:putin")
    store.apply(putin_by_video(), "schedules", now=NOW + SECOND)  # …nor this
    clock.run_once(now=NOW + 2 * SECOND)  # both in one pass

    assert clock.run_once(now=NOW + SECOND + DELAY).notices == 1
    (message,) = messages(store, "attendance_change")
    assert sorted(i["session"] for i in message.payload["items"]) == [
        "csto-council", "joint", "sco-council"]
    assert messages(store, "schedule_change") == []


def test_revert_undoes_every_schedule_field_exactly(store: Store):
    original = summit_schedule()
    store.apply(original, "load", now=NOW)
    later = datetime(2030, 7, 4, 20, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    changed = edit(original, "csto-council", start=later, end=None, timezone="Asia/Tokyo",
                   venue="Elsewhere", title="Renamed", organizations=("sco", "csto"),
                   status="tentative", description="New", video_url="https://v.example",
                   attendance=(Attendance("rahmon", "in_person"), VIDEO))
    result = store.apply(changed, "change", now=NOW)
    current = store.session(SUMMIT, "csto-council")
    reverted = notices.revert(current, list(result.changes))
    expected = original.sessions[SUMMIT, "csto-council"]
    fields = ("title", "timezone", "start", "end", "date", "end_date", "venue", "status",
              "description", "video_url", "organizations")
    assert {f: getattr(reverted, f) for f in fields} == {f: getattr(expected, f)
                                                         for f in fields}
    assert reverted.start is not None and reverted.start.tzinfo == DUSHANBE
    # Modes come back exactly; the order does not matter to notices (and is not recorded
    # when an entry changed as well).
    assert sorted((a.participant, a.mode) for a in reverted.attendance) == [
        ("putin", "in_person"), ("rahmon", "in_person")]


def test_regression_the_first_run_remembers_sessions_a_batch_of_summits_at_a_time(
        store: Store, monkeypatch):
    """The first run read every session at once to remember its state: at 50,000 sessions
    the scheduler's start took 400 MB (and ``serve`` peaked over 800 MB while its feeds
    were built). It reads ``START_BATCH`` summits at a time and remembers the same."""
    from pathlib import Path

    from summitcal.summits import rows
    from summitcal.summits.schedule_file import load_files

    root = Path(__file__).resolve().parents[2]
    store.apply(load_files([root / "schedules"]).schedule, "load", now=NOW)
    read: list[int] = []
    real = rows.read_sessions

    def counted(connection, *args, **kwargs):
        found = real(connection, *args, **kwargs)
        read.append(len(found))
        return found

    monkeypatch.setattr(notices, "START_BATCH", 1)
    monkeypatch.setattr(notices.rows, "read_sessions", counted)
    with database.writing(store.engine) as connection:
        assert notices.prepare(connection, NOW)
    with store.engine.connect() as connection:
        remembered = {(r.summit, r.session): r.state
                      for r in connection.execute(sa.select(notices.session_snapshots))}
        sessions = real(connection)
    assert len(read) == 2 and sorted(read) == sorted(
        sum(1 for s in sessions.values() if s.summit == summit)
        for summit in {s.summit for s in sessions.values()})
    assert remembered == {key: notices.state(s) for key, s in sessions.items()}

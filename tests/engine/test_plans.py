"""Reminder plans: one per followed (session, offset), moved with their session, fired with
one INSERT … SELECT, cancelled or expired — never a reminder after the start."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from summitcal.core import database
from summitcal.scheduler import plans
from summitcal.scheduler.clock import Clock
from summitcal.subscriptions import subscribers as subs
from summitcal.summits.model import Session, Summit
from summitcal.summits.store import Store
from tests.engine.conftest import (
    DUSHANBE,
    NOW,
    SUMMIT,
    edit,
    messages,
    subscribe,
    summit_schedule,
)

CSTO_START = datetime(2030, 7, 4, 5, 0, tzinfo=UTC)  # 10:00 in Dushanbe (UTC+5)
HOUR = timedelta(hours=1)


def all_plans(store: Store) -> dict[tuple[str, int, datetime], str]:
    """(session, offset seconds, start) → status."""
    p = plans.reminder_plans
    with store.engine.connect() as connection:
        return {(r.session, r.offset_seconds, r.starts_at): r.status
                for r in connection.execute(sa.select(p))}


def pending(store: Store) -> set[tuple[str, int]]:
    return {(s, o) for (s, o, _), status in all_plans(store).items() if status == "pending"}


def test_one_plan_per_followed_session_and_offset(loaded: Store, clock: Clock):
    subscribe(loaded, "a@example.org", "participant:putin", reminders=("P1D", "PT1H"))
    subscribe(loaded, "b@example.org", f"summit:{SUMMIT}")
    subscribe(loaded, "c@example.org", f"session:{SUMMIT}/side", reminders=("PT2H",))
    subscribe(loaded, "d@example.org", "all", reminders=("PT5M",), confirmed=False)
    subscribe(loaded, "e@example.org", "participant:lavrov", reminders=("PT10M",))

    clock.run_once(now=NOW)

    assert pending(loaded) == {
        ("csto-council", 86400), ("csto-council", 3600), ("sco-council", 86400),
        ("sco-council", 3600), ("joint", 86400), ("joint", 3600),  # a: Putin's sessions
        ("side", 3600),  # b follows the summit
        ("side", 7200),  # c
    }  # d is not confirmed; Lavrov attends nothing
    again = clock.run_once(force=True, now=NOW)
    assert again.replanned is not None and not again.replanned


def test_an_all_day_session_starts_at_local_midnight_in_the_venues_zone(loaded, clock):
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/joint", reminders=("PT1H",))
    clock.run_once(now=NOW)
    midnight = datetime(2030, 7, 4, tzinfo=DUSHANBE).astimezone(UTC)
    assert all_plans(loaded) == {("joint", 3600, midnight): "pending"}
    assert midnight == datetime(2030, 7, 3, 19, 0, tzinfo=UTC)


def test_a_plan_fires_one_row_per_follower_with_that_offset(loaded: Store, clock: Clock):
    ids = {
        "putin": subscribe(loaded, "putin@example.org", "participant:putin"),
        "summit": subscribe(loaded, "summit@example.org", f"summit:{SUMMIT}"),
        "session": subscribe(loaded, "session@example.org", f"session:{SUMMIT}/csto-council"),
        "org": subscribe(loaded, "org@example.org", "organization:csto"),
        "all": subscribe(loaded, "all@example.org", "all", reminders=("PT1H", "P1D")),
    }
    subscribe(loaded, "other-offset@example.org", "all", reminders=("PT2H",))
    subscribe(loaded, "unconfirmed@example.org", "all", confirmed=False)
    subscribe(loaded, "other-session@example.org", f"session:{SUMMIT}/sco-council")
    subscribe(loaded, "other-org@example.org", "organization:sco")
    subscribe(loaded, "lavrov@example.org", "participant:lavrov")
    clock.run_once(now=NOW)

    fire_at = CSTO_START - HOUR
    queue_at = fire_at - plans.QUEUE_AHEAD  # rows are queued ahead, due at the instant
    clock.run_once(now=queue_at - timedelta(seconds=1))  # other plans fire (or expire)
    assert all_plans(loaded)["csto-council", 3600, CSTO_START] == "pending"
    assert clock.run_once(now=queue_at).queued == 5
    reminders = [m for m in messages(loaded, "reminder")
                 if m.payload["session"] == "csto-council" and m.payload["offset"] == "PT1H"]
    assert sorted(m.subscriber_id for m in reminders) == sorted(ids.values())
    for message in reminders:
        assert message.key == plans.reminder_key(SUMMIT, "csto-council", CSTO_START,
                                                 message.subscriber_id, HOUR)
        assert message.key.startswith("reminder:dushanbe-2030/csto-council:20300704T050000Z:")
        assert (message.due_at, message.expires_at) == (fire_at, CSTO_START)
        assert message.topic == f"{SUMMIT}/csto-council"
        assert message.payload == {
            "summit": SUMMIT, "session": "csto-council", "offset": "PT1H",
            "offset_seconds": 3600, "starts_at": "2030-07-04T05:00:00+00:00", "sequence": 0}
    assert all_plans(loaded)["csto-council", 3600, CSTO_START] == "fired"

    # Idempotent: another pass, or firing the plan again, queues nothing more.
    queued = len(messages(loaded))
    assert clock.run_once(now=fire_at + timedelta(seconds=5)).queued == 0
    plan_id = _plan_id(loaded, "csto-council", 3600)
    with database.writing(loaded.engine) as connection:
        assert plans.fire(connection, plan_id, fire_at) is None
    assert len(messages(loaded)) == queued


def _plan_id(store: Store, session: str, offset: int) -> int:
    p = plans.reminder_plans
    with store.engine.connect() as connection:
        return connection.scalar(sa.select(p.c.id).where(
            p.c.session == session, p.c.offset_seconds == offset, p.c.status != "cancelled"))


def test_a_moved_session_moves_its_pending_plan_unfired(loaded: Store, clock: Clock):
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/csto-council")
    clock.run_once(now=NOW)
    before = _plan_id(loaded, "csto-council", 3600)

    later = datetime(2030, 7, 4, 11, 30, tzinfo=DUSHANBE)
    loaded.apply(edit(summit_schedule(), "csto-council", start=later,
                      end=later + 3 * HOUR), "move", now=NOW + HOUR)
    result = clock.run_once(now=NOW + HOUR)

    assert result.replanned is not None and result.replanned.moved == 1
    assert _plan_id(loaded, "csto-council", 3600) == before
    assert all_plans(loaded) == {("csto-council", 3600, later.astimezone(UTC)): "pending"}
    assert clock.run_once(now=CSTO_START - HOUR).queued == 0  # the old time: nothing
    assert clock.run_once(now=later.astimezone(UTC) - HOUR).queued == 1


def test_a_move_after_firing_cancels_the_queued_reminders_and_plans_the_new_start(
        loaded: Store, clock: Clock):
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/csto-council")
    subscribe(loaded, "b@example.org", f"session:{SUMMIT}/csto-council")
    clock.run_once(now=NOW)
    fire_at = CSTO_START - HOUR
    assert clock.run_once(now=fire_at).queued == 2

    later = datetime(2030, 7, 4, 10, 30, tzinfo=DUSHANBE).astimezone(UTC)
    loaded.apply(edit(summit_schedule(), "csto-council", start=later.astimezone(DUSHANBE),
                      end=later.astimezone(DUSHANBE) + 3 * HOUR),
                 "move", now=fire_at + timedelta(minutes=1))
    result = clock.run_once(now=fire_at + timedelta(minutes=1))

    assert result.replanned is not None and result.replanned.rows_cancelled == 2
    assert {m.status for m in messages(loaded, "reminder")} == {"cancelled"}
    assert all_plans(loaded) == {("csto-council", 3600, CSTO_START): "fired",
                                 ("csto-council", 3600, later): "pending"}
    assert clock.run_once(now=later - HOUR).queued == 2
    fresh = messages(loaded, "reminder", status="pending")
    assert {m.key.split(":")[2] for m in fresh} == {"20300704T053000Z"}
    assert {m.expires_at for m in fresh} == {later}


def test_a_cancelled_session_cancels_its_plans_and_queued_reminders(loaded, clock):
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/csto-council",
              reminders=("PT1H", "PT30M"))
    clock.run_once(now=NOW)
    assert clock.run_once(now=CSTO_START - HOUR).queued == 1

    loaded.apply(edit(summit_schedule(), "csto-council", drop=True), "cancel",
                 now=CSTO_START - timedelta(minutes=45))
    clock.run_once(now=CSTO_START - timedelta(minutes=45))

    assert all_plans(loaded) == {("csto-council", 3600, CSTO_START): "fired",
                                 ("csto-council", 1800, CSTO_START): "cancelled"}
    assert [m.status for m in messages(loaded, "reminder")] == ["cancelled"]
    assert clock.run_once(now=CSTO_START - timedelta(minutes=30)).queued == 0

    # Reinstated in time: the plan comes back.
    loaded.apply(summit_schedule(), "reinstate", now=CSTO_START - timedelta(minutes=40))
    clock.run_once(now=CSTO_START - timedelta(minutes=40))
    assert all_plans(loaded)["csto-council", 1800, CSTO_START] == "pending"
    assert clock.run_once(now=CSTO_START - timedelta(minutes=30)).queued == 1


def test_service_down_across_the_start_expires_plans_and_rows_never_sends(loaded, clock):
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/csto-council",
              reminders=("PT1H", "PT10M"))
    clock.run_once(now=NOW)
    assert clock.run_once(now=CSTO_START - HOUR).queued == 1  # queued, never delivered

    # The service is down from here until after the start; a new clock (a restart):
    restarted = Clock(loaded, clock.delay)
    result = restarted.run_once(now=CSTO_START + timedelta(minutes=5))

    assert (result.fired, result.queued) == (0, 0)
    assert result.expired_rows == 1
    assert all_plans(loaded) == {("csto-council", 3600, CSTO_START): "fired",
                                 ("csto-council", 600, CSTO_START): "expired"}
    assert [m.status for m in messages(loaded, "reminder")] == ["expired"]


def test_a_plan_whose_time_passed_while_down_still_fires_before_the_start(loaded, clock):
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/csto-council")
    clock.run_once(now=NOW)
    restarted = Clock(loaded, clock.delay)
    late = CSTO_START - timedelta(minutes=20)
    assert restarted.run_once(now=late).queued == 1
    (message,) = messages(loaded, "reminder")
    assert message.due_at == CSTO_START - HOUR and message.expires_at == CSTO_START


def test_no_plan_is_made_once_its_time_has_passed(loaded: Store, clock: Clock):
    now = CSTO_START - timedelta(minutes=30)
    subscribe(loaded, "late@example.org", f"summit:{SUMMIT}", now=now)
    clock.run_once(now=now)
    assert pending(loaded) == {("sco-council", 3600), ("side", 3600)}


def test_plans_nobody_follows_any_more_are_cancelled(loaded: Store, clock: Clock):
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/csto-council")
    clock.run_once(now=NOW)
    with database.writing(loaded.engine) as connection:
        subs.remove(connection, "a@example.org", NOW + timedelta(seconds=1))
    clock.run_once(now=NOW + timedelta(seconds=1))
    assert all_plans(loaded) == {("csto-council", 3600, CSTO_START): "cancelled"}


def test_the_number_of_plans_does_not_grow_with_subscribers(loaded: Store, clock: Clock):
    for number in range(60):
        subscribe(loaded, f"reader{number}@example.org", "all", reminders=("PT1H", "P1D"))
    clock.run_once(now=NOW)
    assert len(all_plans(loaded)) == 4 * 2


def test_regression_replanning_reads_only_the_sessions_it_is_about(
        loaded: Store, clock: Clock, monkeypatch) -> None:
    """``replan`` runs after every revision. It read every stored session each time, so at
    50,000 sessions each change held the scheduler (and a ``serve``'s event loop beside
    it) for most of a second, though nobody followed them. Counted, not timed: the
    sessions read are those followed, planned or with rows waiting."""
    base = summit_schedule()
    other = Summit("other-2030", "Other summit", "Astana", "Kazakhstan", "Asia/Almaty")
    many = {("other-2030", f"x{n}"): Session(
        "other-2030", f"x{n}", f"Meeting {n}", "Asia/Almaty", (),
        start=datetime(2030, 8, 1, 9, tzinfo=UTC) + timedelta(hours=n)) for n in range(200)}
    loaded.apply(replace(base, summits={other.id: other}, sessions=many), "load", now=NOW)
    subscribe(loaded, "a@example.org", f"session:{SUMMIT}/side")
    read: list[set[tuple[str, str]]] = []
    session_rows = plans.session_rows

    def counted(connection, keys):
        found = session_rows(connection, keys)
        read.append(set(found))
        return found

    monkeypatch.setattr(plans, "session_rows", counted)
    clock.run_once(force=True, now=NOW)
    assert pending(loaded) == {("side", 3600)}
    assert read == [{(SUMMIT, "side")}]
    # The other summit's sessions change: replanning still reads only what it is about.
    moved = {key: replace(s, title=s.title + " (moved)") for key, s in many.items()}
    loaded.apply(replace(base, summits={other.id: other}, sessions=moved), "load", now=NOW)
    read.clear()
    clock.run_once(now=NOW)
    assert read == [{(SUMMIT, "side")}] and pending(loaded) == {("side", 3600)}
    # Following the other summit reads its sessions, as it must.
    subscribe(loaded, "b@example.org", "summit:other-2030")
    read.clear()
    clock.run_once(now=NOW)
    assert read == [{(SUMMIT, "side"), *many}]

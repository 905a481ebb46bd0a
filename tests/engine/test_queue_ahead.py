"""A plan's rows are queued ``plans.QUEUE_AHEAD`` before its instant, due at the instant.

Writing a 100,000-row fan-out takes seconds on PostgreSQL, so rows written at the instant
went out seconds late; queued ahead, they are there when the instant comes. What can
change in between is covered: a follower who joins is caught up by the next replan, one
who leaves is withdrawn when the row is rendered, a session that moves cancels the rows
and gets a plan for its new start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from summitcal.core import database
from summitcal.scheduler import delivery as delivery_module
from summitcal.scheduler import plans
from summitcal.scheduler.clock import Clock
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from summitcal.subscriptions import subscribers as subs
from summitcal.subscriptions import tables as st
from summitcal.summits.store import Store
from tests.engine.conftest import (
    NOW,
    SUMMIT,
    Mailroom,
    edit,
    messages,
    subscribe,
    summit_schedule,
)

CSTO_START = datetime(2030, 7, 4, 5, 0, tzinfo=UTC)  # 10:00 in Dushanbe (UTC+5)
FOLLOW = f"session:{SUMMIT}/csto-council"
FIRE_AT = CSTO_START - timedelta(hours=1)
QUEUE_AT = FIRE_AT - plans.QUEUE_AHEAD


def _reminders_to(mailroom: Mailroom, address: str) -> list:
    return [m for m in mailroom.received(address) if str(m["Subject"]).startswith("In 1 hour")]


def test_rows_are_queued_ahead_and_sent_at_the_instant(runtime, clock: Clock,
                                                      mailroom: Mailroom):
    store = runtime.store
    subscribe(store, "early@example.org", FOLLOW)
    clock.run_once(now=QUEUE_AT - timedelta(hours=2))
    mailroom.deliver(QUEUE_AT - timedelta(hours=2))  # the welcome mail
    assert clock.run_once(now=QUEUE_AT - timedelta(seconds=1)).queued == 0
    done = clock.run_once(now=QUEUE_AT)
    assert done.queued == 1
    assert done.next_due == FIRE_AT, "the clock wakes again when the rows come due"
    (row,) = messages(store, "reminder")
    assert (row.due_at, row.next_attempt_at, row.status) == (FIRE_AT, FIRE_AT, "pending")

    mailroom.deliver(FIRE_AT - timedelta(milliseconds=1))
    assert _reminders_to(mailroom, "early@example.org") == [], "sent before its instant"
    mailroom.deliver(FIRE_AT)
    assert len(_reminders_to(mailroom, "early@example.org")) == 1


def test_a_follower_who_joins_after_the_rows_were_queued_gets_the_reminder(
        runtime, clock: Clock, mailroom: Mailroom):
    store = runtime.store
    subscribe(store, "early@example.org", FOLLOW)
    clock.run_once(now=QUEUE_AT)
    subscribe(store, "late@example.org", FOLLOW, now=QUEUE_AT + timedelta(seconds=5))
    done = clock.run_once(now=QUEUE_AT + timedelta(seconds=10))
    assert done.replanned is not None and done.replanned.rows_caught_up == 1
    assert {m.recipient for m in messages(store, "reminder")} == {
        "early@example.org", "late@example.org"}
    (plan,) = [p for p in _plans(store) if p.session == "csto-council" and p.status == "fired"]
    assert plan.recipients == 2

    # Another pass adds nothing: the keys are queued already.
    again = clock.run_once(now=QUEUE_AT + timedelta(seconds=20), force=True)
    assert again.replanned is None or again.replanned.rows_caught_up == 0
    mailroom.deliver(FIRE_AT)
    assert len(_reminders_to(mailroom, "late@example.org")) == 1
    assert len(_reminders_to(mailroom, "early@example.org")) == 1


def test_a_follower_who_leaves_after_the_rows_were_queued_gets_nothing(
        runtime, clock: Clock, mailroom: Mailroom):
    store = runtime.store
    subscribe(store, "leaving@example.org", FOLLOW)
    clock.run_once(now=QUEUE_AT)
    with database.writing(store.engine) as connection:
        found = subs.by_email(connection, "leaving@example.org")
        assert found is not None
        subs.unsubscribe(connection, found, QUEUE_AT + timedelta(seconds=5))
    clock.run_once(now=QUEUE_AT + timedelta(seconds=10))
    mailroom.deliver(FIRE_AT)
    assert _reminders_to(mailroom, "leaving@example.org") == []
    assert [m.status for m in messages(store, "reminder")] == ["cancelled"]


def test_a_session_moved_after_its_rows_were_queued_is_reminded_at_its_new_time(
        runtime, clock: Clock, mailroom: Mailroom):
    store = runtime.store
    subscribe(store, "reader@example.org", FOLLOW)
    clock.run_once(now=QUEUE_AT)
    later = CSTO_START + timedelta(hours=2)
    moved = edit(summit_schedule(), "csto-council",
                 start=later.astimezone(summit_schedule().sessions[SUMMIT, "csto-council"]
                                        .start.tzinfo),
                 end=(later + timedelta(hours=1)).astimezone(
                     summit_schedule().sessions[SUMMIT, "csto-council"].start.tzinfo))
    store.apply(moved, "load", now=QUEUE_AT + timedelta(seconds=5))
    clock.run_once(now=QUEUE_AT + timedelta(seconds=10))
    assert [m.status for m in messages(store, "reminder")] == ["cancelled"]
    mailroom.deliver(FIRE_AT)
    assert _reminders_to(mailroom, "reader@example.org") == []

    new_fire = later - timedelta(hours=1)
    assert clock.run_once(now=new_fire - plans.QUEUE_AHEAD).queued == 1
    mailroom.deliver(new_fire)
    assert len(_reminders_to(mailroom, "reader@example.org")) == 1


def _plans(store) -> list[plans.Plan]:
    with store.engine.connect() as connection:
        return [plans.Plan.from_row(r) for r in connection.execute(
            sa.select(plans.reminder_plans))]



def test_regression_idle_workers_hurried_through_the_whole_queue_ahead(runtime, clock: Clock,
                                                                       monkeypatch):
    """Idle workers looked every 50 ms from the moment they saw a plan coming, so for the
    whole half minute its rows are queued ahead they polled 20 times a second, and looked
    at the outbox's index while it held the uncommitted rows."""
    store = runtime.store
    subscribe(store, "reader@example.org", FOLLOW)
    clock.run_once(now=QUEUE_AT - timedelta(hours=2))  # the plan is pending
    now = [QUEUE_AT + timedelta(seconds=5)]  # its rows are being written
    delivery = Delivery(store.engine, runtime.config, registry(Sources.of(runtime)),
                        lambda: None, workers=1, clock=lambda: now[0])
    looked: list[datetime] = []
    monkeypatch.setattr(delivery_module.outbox, "next_due",
                        lambda engine: looked.append(now[0]))
    assert [delivery._idle_time() for _ in range(3)] == [delivery.poll] * 3
    assert looked == [], "the outbox's index is left alone while the rows are written"

    now[0] = FIRE_AT + timedelta(seconds=1)  # the instant came and the plan is not fired
    assert delivery._idle_time() == delivery_module.HURRY


def _explain_fire(store: Store, plan: plans.Plan) -> list:
    """PostgreSQL's ``EXPLAIN (ANALYZE, FORMAT JSON)`` of the outbox INSERT that queueing
    ``plan`` sends (settings and all), in a transaction rolled back after."""
    found: list = []

    def before(connection, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO outbox"):
            statement = "EXPLAIN (ANALYZE, FORMAT JSON) " + statement
        return statement, parameters

    def after(connection, cursor, statement, parameters, context, executemany):
        if statement.startswith("EXPLAIN"):
            found.append(cursor.fetchone()[0])

    sa.event.listen(store.engine, "before_cursor_execute", before, retval=True)
    sa.event.listen(store.engine, "after_cursor_execute", after)
    try:
        with store.engine.connect() as connection, connection.begin() as transaction:
            plans._queue(connection, plan, 0, NOW)
            transaction.rollback()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", before)
        sa.event.remove(store.engine, "after_cursor_execute", after)
    (explained,) = found
    return explained


def _plan_rows(node: dict) -> float:
    """Rows every node of a PostgreSQL ``EXPLAIN (ANALYZE, FORMAT JSON)`` plan produced,
    over all its loops: the work the query did, counted, not timed."""
    return (node["Actual Rows"] * node["Actual Loops"]
            + sum(_plan_rows(child) for child in node.get("Plans", [])))


@pytest.mark.postgres
def test_regression_finding_followers_scanned_every_follow_per_follower(postgres_url):
    """One condition OR-ing the follow kinds, checked per subscriber, let PostgreSQL
    (fresh tables, no statistics yet) scan all of a session's follows for each follower:
    quadratic, 97 s for 100,000; found kind by kind, a nested loop still rescanned the
    set of followers once per subscriber (256 rows each at 500 followers). Found kind by
    kind and joined as sets (no nested loops for the fan-out), the work is a few rows per
    follower, counted from PostgreSQL's own plan."""
    counts = {}
    with Store(postgres_url) as store:
        store.upgrade()
        store.apply(summit_schedule(), "load", now=NOW)
        added = 0
        for followers in (500, 2000):
            with database.writing(store.engine) as connection:
                connection.execute(sa.insert(st.subscribers), [
                    {"id": n, "email": f"r{n}@example.org", "timezone": "Europe/Moscow",
                     "language": "en", "status": "confirmed", "reminders": ["PT1H"],
                     "notices": [], "created_at": NOW, "updated_at": NOW, "confirmed_at": NOW}
                    for n in range(added + 1, followers + 1)])
                connection.execute(sa.insert(st.subscriber_follows), [
                    {"subscriber_id": n, "kind": "session", "summit": SUMMIT,
                     "target": "csto-council"} for n in range(added + 1, followers + 1)])
                connection.execute(sa.insert(st.subscriber_offsets), [
                    {"subscriber_id": n, "offset_seconds": 3600}
                    for n in range(added + 1, followers + 1)])
            added = followers
            plan = plans.Plan(0, SUMMIT, "csto-council", 3600, CSTO_START, 0, FIRE_AT,
                              "pending", None)
            # The statement as fired: the fan-out INSERT … SELECT, in a transaction rolled
            # back after (EXPLAIN ANALYZE runs it).
            explained = _explain_fire(store, plan)
            counts[followers] = _plan_rows(explained[0]["Plan"])
            assert counts[followers] >= followers
    # A handful of rows per follower (index entries, join and insert), at any size; a
    # plan that rescans one side per row of the other passes 100s of rows per follower.
    assert all(rows <= 20 * followers for followers, rows in counts.items()), counts

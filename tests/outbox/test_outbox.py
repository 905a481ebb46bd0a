"""The outbox table's life: queueing (one and fan-out), claims and leases, outcomes,
the operator's retry, cancel/expire. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from summitcal.core.errors import InvalidInput, NotFound
from summitcal.mail import outbox
from summitcal.mail.outbox import RetryPolicy
from summitcal.mail.tables import outbox as table
from summitcal.subscriptions import tables as st
from tests.outbox.conftest import NOW, add_subscribers, queue, statuses

MINUTE = timedelta(minutes=1)


def enqueue(connection, key="confirm:1:v1", **overrides):
    values = {"kind": "confirm", "key": key, "recipient": "reader@example.org",
              "subscriber_id": None, "payload": {"subscriber_id": 1}, "due_at": NOW,
              "expires_at": NOW + timedelta(days=1), "now": NOW}
    return outbox.enqueue(connection, **values | overrides)


# --- queueing ---------------------------------------------------------------------------

def test_enqueue_is_idempotent_on_the_key(engine):
    with outbox.write_transaction(engine) as connection:
        assert enqueue(connection) is True
        assert enqueue(connection, recipient="other@example.org") is False
    with outbox.write_transaction(engine) as connection:
        assert enqueue(connection) is False
    [message] = outbox.list_messages(engine)
    assert (message.kind, message.recipient, message.status) == (
        "confirm", "reader@example.org", "pending")
    assert message.payload == {"subscriber_id": 1}
    assert message.due_at == message.next_attempt_at == NOW
    assert message.attempts == 0 and message.created_at == NOW


def test_enqueue_belongs_to_the_callers_transaction(engine):
    with pytest.raises(RuntimeError), outbox.write_transaction(engine) as connection:
        assert enqueue(connection)
        raise RuntimeError("the change that caused the message failed")
    assert outbox.list_messages(engine) == []


def test_enqueue_refuses_naive_times_and_empty_keys(engine):
    with outbox.write_transaction(engine) as connection:
        with pytest.raises(ValueError, match="aware"):
            enqueue(connection, due_at=NOW.replace(tzinfo=None))
        with pytest.raises(ValueError, match="key"):
            enqueue(connection, key="")


def test_concurrent_enqueues_of_one_key_insert_one_row(engine):
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def one() -> None:
        barrier.wait()
        with outbox.write_transaction(engine) as connection:
            results.append(enqueue(connection, key="welcome:7:v1"))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert statuses(engine) == {"pending": 1}


def fanout(ids=None):
    s = st.subscribers
    key = sa.literal("reminder:dushanbe-2021/csto-council:20210916T0500Z:PT1H:") + sa.cast(
        s.c.id, sa.String)
    query = sa.select(key.label("key"), s.c.email.label("recipient"),
                      s.c.id.label("subscriber_id")).where(s.c.status == "confirmed")
    return query.where(s.c.id.in_(ids)) if ids else query


def test_fanout_queues_one_row_per_follower_once(engine):
    ids = add_subscribers(engine, 5)
    start = NOW + timedelta(days=1)
    constants = {"kind": "reminder", "topic": "dushanbe-2021/csto-council",
                 "payload": {"summit": "dushanbe-2021", "session": "csto-council",
                             "offset": "PT1H"},
                 "due_at": start - timedelta(hours=1), "expires_at": start, "now": NOW}
    with outbox.write_transaction(engine) as connection:
        assert outbox.enqueue_select(connection, fanout(ids[:2]), **constants) == 2
    with outbox.write_transaction(engine) as connection:
        assert outbox.enqueue_select(connection, fanout(), **constants) == 3
        assert outbox.enqueue_select(connection, fanout(), **constants) == 0
    messages = sorted(outbox.list_messages(engine), key=lambda m: m.subscriber_id)
    assert [m.subscriber_id for m in messages] == ids
    assert [m.recipient for m in messages] == [f"reader{n}@example.org" for n in range(5)]
    first = messages[0]
    assert first.key == f"reminder:dushanbe-2021/csto-council:20210916T0500Z:PT1H:{ids[0]}"
    assert first.payload == constants["payload"]
    assert (first.status, first.attempts, first.topic) == ("pending", 0,
                                                           "dushanbe-2021/csto-council")
    assert first.due_at == first.next_attempt_at == start - timedelta(hours=1)
    assert first.expires_at == start and first.created_at == NOW


def test_fanout_checks_its_columns(engine):
    with outbox.write_transaction(engine) as connection:
        with pytest.raises(TypeError, match="recipient"):
            outbox.enqueue_select(connection, sa.select(sa.literal("k").label("key")),
                                  kind="x", due_at=NOW)
        with pytest.raises(TypeError, match="not an outbox fan-out column"):
            outbox.enqueue_select(connection, fanout(), kind="x", due_at=NOW, status="sent")


def test_deleting_a_subscriber_keeps_their_messages_unlinked(engine):
    [sid] = add_subscribers(engine, 1)
    with outbox.write_transaction(engine) as connection:
        enqueue(connection, subscriber_id=sid)
        assert outbox.cancel_for_subscriber(connection, sid, now=NOW) == 1
        connection.execute(sa.delete(st.subscribers).where(st.subscribers.c.id == sid))
    [message] = outbox.list_messages(engine)
    assert (message.subscriber_id, message.status) == (None, "cancelled")


# --- claims -----------------------------------------------------------------------------

def test_claim_takes_due_rows_oldest_first_and_leases_them(engine):
    queue(engine, 3, prefix="due", due_at=NOW - MINUTE)
    queue(engine, 2, prefix="later", due_at=NOW + MINUTE)
    claimed = outbox.claim(engine, "w1", 10, NOW, lease=2 * MINUTE)
    assert [m.key for m in claimed] == ["test:due0", "test:due1", "test:due2"]
    for message in claimed:
        assert (message.status, message.lease_owner, message.attempts) == ("sending", "w1", 1)
        assert message.lease_until == message.next_attempt_at == NOW + 2 * MINUTE
    assert outbox.claim(engine, "w2", 10, NOW) == []
    assert len(outbox.claim(engine, "w2", 1, NOW + MINUTE)) == 1
    assert statuses(engine) == {"pending": 1, "sending": 4}


def test_due_rows_past_their_expiry_become_expired_not_claimed(engine):
    queue(engine, 2, prefix="late", due_at=NOW - 2 * MINUTE, expires_at=NOW - MINUTE)
    queue(engine, 1, prefix="fine", due_at=NOW - 2 * MINUTE, expires_at=NOW + MINUTE)
    queue(engine, 1, prefix="forever", due_at=NOW - 2 * MINUTE, expires_at=None)
    claimed = outbox.claim(engine, "w1", 10, NOW)
    assert sorted(m.key for m in claimed) == ["test:fine0", "test:forever0"]
    expired = outbox.list_messages(engine, "expired")
    assert sorted(m.key for m in expired) == ["test:late0", "test:late1"]
    assert all(m.last_error == "not sent before it expired" for m in expired)


def test_a_lease_that_ran_out_is_claimed_again(engine):
    queue(engine, 2)
    first = outbox.claim(engine, "crashed", 10, NOW, lease=MINUTE)
    assert len(first) == 2
    assert outbox.claim(engine, "w2", 10, NOW + 59 * timedelta(seconds=1)) == []
    again = outbox.claim(engine, "w2", 10, NOW + MINUTE, lease=MINUTE)
    assert [(m.lease_owner, m.attempts) for m in again] == [("w2", 2), ("w2", 2)]
    # the crashed owner can no longer put its rows back …
    assert outbox.mark_retry(engine, again[0].id, "late", owner="crashed", now=NOW) is None
    assert outbox.release(engine, "crashed", [again[1].id], NOW) == 0
    # … but a send it did make is still recorded
    assert outbox.mark_sent(engine, again[0].id, "<x@summitcal.test>", NOW + MINUTE)
    assert statuses(engine) == {"sending": 1, "sent": 1}


@pytest.mark.parametrize("batch", [1, 7])
def test_racing_claimers_never_share_a_row(engine, batch):
    total = 240
    queue(engine, total)
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(8)

    def worker(name: str) -> None:
        mine = claimed.setdefault(name, [])
        barrier.wait()
        while True:
            got = outbox.claim(engine, name, batch, NOW + timedelta(seconds=1), lease=MINUTE)
            if not got:
                return
            mine += [m.id for m in got]

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for ids in claimed.values() for i in ids]
    assert len(everything) == len(set(everything)) == total
    assert sum(1 for ids in claimed.values() if ids) > 1, "one worker took everything"
    with engine.connect() as connection:
        owners = {i: o for i, o in connection.execute(sa.select(table.c.id, table.c.lease_owner))}
    assert all(owners[i] == name for name, ids in claimed.items() for i in ids)


def test_release_gives_untried_rows_back_uncounted(engine):
    queue(engine, 3)
    claimed = outbox.claim(engine, "w1", 10, NOW)
    assert outbox.release(engine, "w1", [m.id for m in claimed[1:]], NOW + MINUTE) == 2
    back = [m for m in outbox.list_messages(engine) if m.status == "pending"]
    assert [(m.attempts, m.next_attempt_at, m.lease_owner) for m in back] == [
        (0, NOW + MINUTE, None)] * 2


def test_extend_renews_only_the_owners_lease(engine):
    queue(engine, 2)
    first, second = outbox.claim(engine, "w1", 10, NOW, lease=MINUTE)
    assert outbox.extend(engine, "w1", [first.id, second.id], NOW, lease=5 * MINUTE) == {
        first.id, second.id}
    assert outbox.extend(engine, "w2", [first.id], NOW) == set()
    assert outbox.claim(engine, "w2", 10, NOW + 2 * MINUTE) == []
    assert outbox.get(engine, first.id).lease_until == NOW + 5 * MINUTE


# --- outcomes ---------------------------------------------------------------------------

def test_mark_sent_records_the_message_id(engine):
    queue(engine, 1)
    [message] = outbox.claim(engine, "w1", 1, NOW)
    assert outbox.mark_sent(engine, message.id, "<abc@summitcal.test>", NOW + MINUTE)
    assert not outbox.mark_sent(engine, message.id, "<abc@summitcal.test>", NOW + 2 * MINUTE)
    sent = outbox.get(engine, message.id)
    assert (sent.status, sent.message_id, sent.sent_at) == (
        "sent", "<abc@summitcal.test>", NOW + MINUTE)
    assert sent.lease_owner is None and sent.lease_until is None


def test_mark_retry_backs_off_tries_once_more_just_before_the_expiry_then_expires(engine):
    queue(engine, 1, expires_at=NOW + 10 * MINUTE)
    policy = RetryPolicy(first=timedelta(seconds=60), jitter=0)
    now = NOW
    delays = []
    for _ in range(6):
        [message] = outbox.claim(engine, "w1", 1, now)
        status = outbox.mark_retry(engine, message.id, f"421 busy at {now:%H:%M:%S}",
                                   owner="w1", now=now, policy=policy)
        if status == "expired":
            break
        assert status == "pending"
        retry_at = outbox.get(engine, message.id).next_attempt_at
        delays.append(retry_at - now)
        now = retry_at
    # 480 s after 09:07 would be past the expiry (09:10): the last try comes at 09:09:58.
    assert delays == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240),
                      timedelta(minutes=2, seconds=58)]
    final = outbox.get(engine, message.id)
    assert final.status == "expired" and final.attempts == 5
    assert final.last_error == "421 busy at 09:09:58"


def test_mark_retry_at_an_explicit_time_and_mark_failed(engine):
    queue(engine, 2)
    first, second = outbox.claim(engine, "w1", 2, NOW)
    assert outbox.mark_retry(engine, first.id, "busy", NOW + 5 * MINUTE, owner="w1",
                             now=NOW) == "pending"
    assert outbox.get(engine, first.id).next_attempt_at == NOW + 5 * MINUTE
    assert outbox.mark_failed(engine, second.id, "550 no such user", owner="w1", now=NOW)
    failed = outbox.get(engine, second.id)
    assert (failed.status, failed.last_error) == ("failed", "550 no such user")


def test_retry_delays_grow_with_jitter_and_a_cap():
    policy = RetryPolicy()
    rng = random.Random(7)
    for attempt, base in [(1, 5), (2, 10), (3, 20), (6, 160), (8, 600), (30, 600)]:
        delays = [policy.delay(attempt, rng).total_seconds() for _ in range(200)]
        assert min(delays) >= 0.8 * base - 1e-9
        assert max(delays) <= min(1.2 * base, 600) + 1e-9
        assert max(delays) - min(delays) > 0.1 * base, "no jitter"


# --- the operator's side ----------------------------------------------------------------

def test_retry_puts_failed_and_expired_messages_back(engine):
    queue(engine, 1, prefix="failed", kind="confirm")
    queue(engine, 1, prefix="notice", kind="attendance_change",
          due_at=NOW - timedelta(hours=30), expires_at=NOW - timedelta(hours=6))
    [message] = outbox.claim(engine, "w1", 10, NOW)
    outbox.mark_failed(engine, message.id, "550 mailbox full", now=NOW)
    again = outbox.retry(engine, message.id, NOW + MINUTE)
    assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 0, NOW + MINUTE)
    assert again.expires_at == NOW + timedelta(days=1)  # still ahead: kept
    assert again.last_error == "550 mailbox full"

    [notice] = outbox.list_messages(engine, "expired")
    renewed = outbox.retry(engine, notice.id, NOW)
    assert renewed.status == "pending"
    assert renewed.expires_at == NOW + timedelta(hours=24)  # a window as long as the first


def test_retry_refuses_reminders_past_their_deadline_and_unfinished_rows(engine):
    queue(engine, 1, kind="reminder", due_at=NOW - timedelta(hours=2), expires_at=NOW - MINUTE)
    queue(engine, 1, prefix="open")
    outbox.claim(engine, "w1", 10, NOW)
    [reminder] = outbox.list_messages(engine, "expired")
    with pytest.raises(InvalidInput, match="deadline"):
        outbox.retry(engine, reminder.id, NOW)
    [open_one] = outbox.list_messages(engine, "sending")
    with pytest.raises(InvalidInput, match="is sending"):
        outbox.retry(engine, open_one.id, NOW)
    with pytest.raises(NotFound, match="outbox message"):
        outbox.retry(engine, 999_999, NOW)


def test_cancel_and_expire_by_condition(engine):
    queue(engine, 2, prefix="a", kind="reminder", topic="dushanbe-2021/csto-council")
    queue(engine, 1, prefix="b", kind="reminder", topic="dushanbe-2021/sco-council")
    queue(engine, 1, prefix="c", kind="schedule_change", topic="dushanbe-2021/csto-council")
    csto = table.c.topic == "dushanbe-2021/csto-council"
    with outbox.write_transaction(engine) as connection:
        assert outbox.cancel(connection, csto, table.c.kind == "reminder",
                             reason="session cancelled", now=NOW) == 2
        assert outbox.expire(connection, table.c.kind == "reminder",
                             reason="session started", now=NOW) == 1
        assert outbox.cancel(connection, csto, reason="again", now=NOW) == 1
        with pytest.raises(TypeError, match="condition"):
            outbox.cancel(connection, reason="everything")
    assert statuses(engine) == {"cancelled": 3, "expired": 1}
    assert {m.last_error for m in outbox.list_messages(engine, "cancelled")} == {
        "session cancelled", "again"}


def test_listing_counts_and_next_due(engine):
    assert outbox.next_due(engine) is None
    queue(engine, 3, due_at=NOW + MINUTE)
    queue(engine, 1, prefix="x", due_at=NOW - MINUTE)
    assert outbox.next_due(engine) == NOW - MINUTE
    assert [m.key for m in outbox.list_messages(engine, limit=2)] == ["test:x0", "test:m2"]
    assert outbox.counts(engine) == {"pending": 4, "sending": 0, "sent": 0, "failed": 0,
                                     "expired": 0, "cancelled": 0}
    with pytest.raises(InvalidInput, match="unknown outbox status"):
        outbox.list_messages(engine, "lost")


def test_purge_deletes_only_old_finished_rows(engine):
    queue(engine, 2)
    first, _ = outbox.claim(engine, "w1", 1, NOW) + [None]
    outbox.mark_sent(engine, first.id, "<a@b>", NOW)
    assert outbox.purge(engine, NOW) == 0
    assert outbox.purge(engine, NOW + MINUTE) == 1
    assert statuses(engine) == {"pending": 1}

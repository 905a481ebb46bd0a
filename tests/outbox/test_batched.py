"""Batched bookkeeping: a batch's accepted messages recorded in one transaction, the fast
(bytes) rendering path through delivery, and a partial failure inside a batch."""

from __future__ import annotations

import email
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.policy import default

from summitcal.mail import outbox
from summitcal.mail.outbox import Message, RetryPolicy
from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.transport import RawEmail
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.messages import MessageKind
from summitcal.scheduler.renderers import Renderers, make_test_message
from tests.outbox.conftest import queue, smtp_section, statuses

FAST = RetryPolicy(first=timedelta(seconds=0.05), cap=timedelta(seconds=0.4))
BASE_URL = "https://summitcal.test"


def test_mark_sent_many_records_each_once(engine):
    start = datetime.now(UTC)
    queue(engine, 4, due_at=start, now=start, expires_at=start + timedelta(hours=1))
    claimed = outbox.claim(engine, "me", 10, start)
    ids = [m.id for m in claimed]
    assert outbox.mark_sent(engine, ids[0], "<a@x>", start)
    written = outbox.mark_sent_many(engine, [(ids[0], "<again@x>"), (ids[1], "<b@x>"),
                                             (ids[2], "<c@x>")], start)
    assert written == 2
    assert outbox.mark_sent_many(engine, []) == 0
    rows = {m.id: m for m in outbox.list_messages(engine)}
    assert rows[ids[0]].message_id == "<a@x>"  # the first record stands
    assert (rows[ids[1]].status, rows[ids[1]].message_id) == ("sent", "<b@x>")
    assert rows[ids[2]].lease_owner is None and rows[ids[2]].sent_at is not None
    assert rows[ids[3]].status == "sending"


class BytesRenderer:
    """A renderer with a ``prepare`` hook, like the reminders'."""

    def __init__(self) -> None:
        self.prepared: list[list[int]] = []

    def render(self, row: Message, now: datetime) -> RawEmail:
        return make_test_message(sender="summitcal <summitcal@summitcal.test>",
                                 recipient=row.recipient, key=row.key, date=now,
                                 base_url=BASE_URL)

    def prepare(self, batch: list[Message]) -> None:
        self.prepared.append([m.id for m in batch])


def test_a_batch_sent_as_bytes_with_one_refusal(engine, make_config, smtp_server):
    smtp_server.handler.rcpt_replies["m3@example.org"] = "550 5.1.1 No such user"
    config = make_config(mail={"transport": "smtp", "workers": 1},
                         **{"mail.smtp": smtp_section(smtp_server)})
    start = datetime.now(UTC)
    queue(engine, 8, due_at=start, now=start, expires_at=start + timedelta(hours=1))
    renderer = BytesRenderer()
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5)
    delivery = Delivery(engine, config, Renderers({MessageKind.TEST: renderer}),
                        lambda: transport, workers=1, batch=20, policy=FAST)
    try:
        assert delivery.run_once(transport) == 8
    finally:
        transport.close()
    assert statuses(engine) == {"sent": 7, "failed": 1}
    assert len(renderer.prepared) == 1 and len(renderer.prepared[0]) == 8
    assert (delivery.stats.sent, delivery.stats.failed) == (7, 1)
    got = Counter(r for m in smtp_server.handler.messages for r in m.rcpt_tos)
    assert got == Counter({f"m{n}@example.org": 1 for n in range(8) if n != 3})
    rows = {m.recipient: m for m in outbox.list_messages(engine)}
    assert rows["m3@example.org"].status == "failed"
    assert "550" in (rows["m3@example.org"].last_error or "")
    for delivered in smtp_server.handler.messages:
        parsed = email.message_from_bytes(delivered.content, policy=default)
        assert rows[parsed["To"]].message_id == parsed["Message-ID"]


def test_a_crash_before_recording_leaves_the_batch_to_be_sent_again(engine, make_config,
                                                                    tmp_path):
    """Accepted but unrecorded (the process died): claimed again after the lease, and
    sent with the same Message-ID."""
    config = make_config()
    start = datetime.now(UTC)
    queue(engine, 2, due_at=start, now=start, expires_at=start + timedelta(hours=1))
    sent: list = []

    class Dies:
        def send(self, message: RawEmail) -> None:
            sent.append(message.message_id)

        def send_many(self, messages: list[RawEmail]) -> list[None]:
            for message in messages:
                self.send(message)
            return [None] * len(messages)

        def close(self) -> None:
            pass

    delivery = Delivery(engine, config, Renderers({MessageKind.TEST: BytesRenderer()}), Dies,
                        workers=1, policy=FAST, lease=timedelta(seconds=1))
    original = outbox.mark_sent_many
    try:
        outbox.mark_sent_many = lambda *a, **k: (_ for _ in ()).throw(SystemExit("kill"))
        try:
            delivery.run_once(Dies())
        except SystemExit:
            pass
    finally:
        outbox.mark_sent_many = original
    assert statuses(engine) == {"sending": 2}
    later = outbox.claim(engine, "other", 10, start + timedelta(seconds=5),
                         timedelta(minutes=2))
    assert len(later) == 2

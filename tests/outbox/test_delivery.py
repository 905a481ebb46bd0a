"""Delivery end to end: outbox rows → workers → a real SMTP server on loopback (aiosmtpd)
or .eml files, with the server misbehaving. On SQLite and PostgreSQL."""

from __future__ import annotations

import email
import socket
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy

import pytest

from summitcal.mail import outbox
from summitcal.mail.outbox import RetryPolicy
from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.transport import FileTransport, RawEmail
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.messages import MessageKind, Withdrawn
from summitcal.scheduler.renderers import Renderers, SendTestRenderer
from tests.outbox.conftest import FunctionRenderer, queue, smtp_section, statuses

FAST = RetryPolicy(first=timedelta(seconds=0.05), cap=timedelta(seconds=0.4))


def now() -> datetime:
    return datetime.now(UTC)


def wait_for(condition, timeout: float = 20.0, what: str = "the outbox to settle"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def settled(engine) -> bool:
    counts = outbox.counts(engine)
    return counts["pending"] == counts["sending"] == 0


def queue_now(engine, count: int, **options) -> None:
    start = now()
    options.setdefault("expires_at", start + timedelta(hours=1))
    queue(engine, count, due_at=start, now=start, **options)


def received(server) -> Counter:
    """Messages the server took, by recipient."""
    return Counter(rcpt for m in server.handler.messages for rcpt in m.rcpt_tos)


@pytest.fixture
def config(make_config, smtp_server):
    return make_config(mail={"transport": "smtp", "workers": 2},
                       **{"mail.smtp": smtp_section(smtp_server)})


@pytest.fixture
def transports(smtp_server):
    made: list[SmtpTransport] = []

    def factory() -> SmtpTransport:
        made.append(SmtpTransport("127.0.0.1", smtp_server.port, timeout=5))
        return made[-1]

    factory.made = made  # type: ignore[attr-defined]
    return factory


def make_delivery(engine, config, factory, **options) -> Delivery:
    options.setdefault("policy", FAST)
    options.setdefault("poll", 0.05)
    return Delivery(engine, config, Renderers({MessageKind.TEST: SendTestRenderer(config)}),
                    factory, **options)


def test_every_message_is_sent_once_on_a_reused_connection(engine, config, smtp_server,
                                                           transports):
    queue_now(engine, 30)
    with make_delivery(engine, config, transports, workers=1):
        wait_for(lambda: settled(engine))
    assert statuses(engine) == {"sent": 30}
    assert received(smtp_server) == Counter({f"m{n}@example.org": 1 for n in range(30)})
    assert smtp_server.connections == 1 and [t.connections for t in transports.made] == [1]
    by_recipient = {m.recipient: m for m in outbox.list_messages(engine, limit=100)}
    for delivered in smtp_server.handler.messages:
        parsed = email.message_from_bytes(delivered.content, policy=default_policy)
        row = by_recipient[parsed["To"]]
        assert parsed["Message-ID"] == row.message_id and row.attempts == 1
        assert parsed["Auto-Submitted"] == "auto-generated"


def test_a_busy_server_is_retried_until_it_accepts(engine, config, smtp_server, transports):
    smtp_server.refuse_connections = 5  # "421 too busy" at connect, five times
    queue_now(engine, 20)
    with make_delivery(engine, config, transports, workers=2):
        wait_for(lambda: settled(engine))
    assert statuses(engine) == {"sent": 20}
    assert received(smtp_server) == Counter({f"m{n}@example.org": 1 for n in range(20)})
    attempts = [m.attempts for m in outbox.list_messages(engine, limit=100)]
    assert max(attempts) > 1
    assert any("421" in (m.last_error or "") for m in outbox.list_messages(engine, limit=100))


def test_a_550_fails_that_message_alone(engine, config, smtp_server, transports):
    smtp_server.handler.rcpt_replies["m3@example.org"] = "550 5.1.1 No such user"
    queue_now(engine, 10)
    with make_delivery(engine, config, transports, workers=2) as delivery:
        wait_for(lambda: settled(engine))
    assert statuses(engine) == {"sent": 9, "failed": 1}
    [failed] = outbox.list_messages(engine, "failed")
    assert failed.recipient == "m3@example.org" and failed.attempts == 1
    assert "550" in failed.last_error and "No such user" in failed.last_error
    assert set(received(smtp_server)) == {f"m{n}@example.org" for n in range(10) if n != 3}
    assert smtp_server.connections <= 2  # the connection survived the refusal
    assert (delivery.stats.sent, delivery.stats.failed) == (9, 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_server_means_retries_until_the_message_expires(engine, make_config):
    port = free_port()  # nothing listens there: connection refused
    config = make_config(mail={"transport": "smtp"}, **{"mail.smtp": smtp_section(port=port)})
    start = now()
    queue(engine, 3, due_at=start, now=start, expires_at=start + timedelta(seconds=1.5))
    with make_delivery(engine, config, None, workers=1):
        wait_for(lambda: settled(engine))
    assert statuses(engine) == {"expired": 3}
    for message in outbox.list_messages(engine):
        assert message.attempts > 1
        assert "refused" in message.last_error.lower(), message.last_error
        assert message.sent_at is None


def test_a_reply_lost_after_data_is_resent_with_the_same_message_id(engine, config,
                                                                     smtp_server, transports):
    smtp_server.handler.drop_after_data = 1  # took the first message, then hung up
    queue_now(engine, 3)
    with make_delivery(engine, config, transports, workers=1):
        wait_for(lambda: settled(engine))
    assert statuses(engine) == {"sent": 3}
    ids_by_recipient: dict[str, list[str]] = {}
    for delivered in smtp_server.handler.messages:
        parsed = email.message_from_bytes(delivered.content, policy=default_policy)
        ids_by_recipient.setdefault(parsed["To"], []).append(parsed["Message-ID"])
    copies = sorted(len(ids) for ids in ids_by_recipient.values())
    assert copies == [1, 1, 2] and all(len(set(ids)) == 1 for ids in ids_by_recipient.values())


def test_file_transport_end_to_end(engine, make_config, tmp_path):
    config = make_config(mail={"transport": "file", "file_dir": str(tmp_path / "mail")})
    queue_now(engine, 12)
    with make_delivery(engine, config, None, workers=3):
        wait_for(lambda: settled(engine))
    assert statuses(engine) == {"sent": 12}
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 12
    transport = FileTransport(tmp_path / "mail")
    for message in outbox.list_messages(engine, limit=100):
        parsed = email.message_from_bytes(transport.path_for(message.message_id).read_bytes(),
                                          policy=default_policy)
        assert parsed["To"] == message.recipient
        assert parsed["Message-ID"] == message.message_id
        assert parsed.get_body(("plain",)).get_content().startswith("This is a test message")


def test_rendering_problems_stay_with_their_message(engine, make_config, tmp_path):
    config = make_config(mail={"file_dir": str(tmp_path / "mail")})

    def boom(message, when):
        raise KeyError("payload has no 'session'")

    def moot(message, when):
        raise Withdrawn("the session was cancelled")

    def elsewhere(message, when):
        return SendTestRenderer(config).render(
            replace(message, recipient="someone-else@example.org"), when)

    # Each fault under a kind of its own; ``schedule_change`` has no renderer here, and
    # ``unknown`` is no kind at all (a newer release's, during a rolling upgrade).
    renderers = Renderers({MessageKind.TEST: SendTestRenderer(config),
                           MessageKind.CONFIRM: FunctionRenderer(boom),
                           MessageKind.REMINDER: FunctionRenderer(moot),
                           MessageKind.WELCOME: FunctionRenderer(elsewhere)})
    queue_now(engine, 3)
    for kind in ("confirm", "reminder", "welcome", "schedule_change", "unknown"):
        queue_now(engine, 1, kind=kind, prefix=kind)
    delivery = Delivery(engine, config, renderers, None, workers=1, policy=FAST)
    try:
        while delivery.run_once():
            pass
    finally:
        delivery.stop()
    by_kind = {m.kind: m for m in outbox.list_messages(engine, limit=100)}
    assert statuses(engine) == {"sent": 3, "failed": 2, "cancelled": 1, "pending": 2}
    assert by_kind["confirm"].last_error == "cannot render: KeyError: \"payload has no 'session'\""
    assert by_kind["reminder"].last_error == "the session was cancelled"
    assert "someone-else@example.org" in by_kind["welcome"].last_error
    for kind in ("schedule_change", "unknown"):
        assert by_kind[kind].status == "pending" and "no renderer" in by_kind[kind].last_error
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 3


class SlowFiles(FileTransport):
    def send(self, message: RawEmail) -> None:
        time.sleep(0.1)
        super().send(message)


def test_stop_finishes_the_send_in_flight_and_gives_back_the_rest(engine, make_config,
                                                                 tmp_path):
    config = make_config()
    folder = tmp_path / "slow"
    queue_now(engine, 30)
    delivery = make_delivery(engine, config, lambda: SlowFiles(folder), workers=1, batch=30)
    delivery.start()
    wait_for(lambda: outbox.counts(engine)["sent"] >= 3, what="three sends")
    delivery.stop()
    counts = statuses(engine)
    assert "sending" not in counts and counts["sent"] == len(list(folder.glob("*.eml")))
    assert counts["pending"] == 30 - counts["sent"]
    assert {m.attempts for m in outbox.list_messages(engine, "pending", 100)} == {0}


def test_rows_of_a_crashed_worker_are_sent_after_its_lease(engine, config, smtp_server,
                                                          transports):
    queue_now(engine, 5)
    claimed = outbox.claim(engine, "crashed-worker", 5, now(), lease=timedelta(seconds=1))
    assert len(claimed) == 5
    started = time.monotonic()
    with make_delivery(engine, config, transports, workers=2):
        wait_for(lambda: settled(engine))
    assert time.monotonic() - started >= 0.5
    assert statuses(engine) == {"sent": 5}
    assert {m.attempts for m in outbox.list_messages(engine)} == {2}
    assert len(smtp_server.handler.messages) == 5


def test_wake_claims_at_once(engine, config, smtp_server, transports):
    delivery = make_delivery(engine, config, transports, workers=1, poll=30)
    delivery.start()
    try:
        time.sleep(0.3)  # the worker found nothing and sleeps for up to 30 s
        queue_now(engine, 1)
        woken = time.monotonic()
        delivery.wake()
        wait_for(lambda: settled(engine), timeout=5)
        assert time.monotonic() - woken < 2
    finally:
        delivery.stop()
    assert statuses(engine) == {"sent": 1}


def test_workers_share_the_load_without_duplicates(engine, config, smtp_server, transports):
    queue_now(engine, 200)
    with make_delivery(engine, config, transports, workers=4, batch=10):
        wait_for(lambda: settled(engine), timeout=60)
    assert statuses(engine) == {"sent": 200}
    assert set(received(smtp_server).values()) == {1} and len(received(smtp_server)) == 200
    assert len(transports.made) == 4 and all(t.connections <= 1 for t in transports.made)
    assert smtp_server.connections <= 4


def test_regression_a_send_slower_than_the_lease_keeps_its_claim(engine, config, smtp_server,
                                                                 transports):
    """Short leases are renewed by the live process while it sends, however long one SMTP
    exchange takes: nobody else claims the rows meanwhile, and each goes out once. (Before,
    a lease was only renewed between two messages of a batch, so leases had to be minutes
    long — and a killed worker's reminders could expire unsent.)"""
    import asyncio

    handler = smtp_server.handler
    accept = handler.handle_DATA

    async def slow(*args):
        await asyncio.sleep(3.0)  # twice the lease
        return await accept(*args)

    handler.handle_DATA = slow  # type: ignore[method-assign]
    queue_now(engine, 3)
    taken = []
    # The lease is renewed every third of it: 0.5 s. A second of scheduling delay on a
    # busy machine still leaves the claim held.
    with make_delivery(engine, config, transports, workers=1,
                       lease=timedelta(seconds=1.5)):
        wait_for(lambda: outbox.counts(engine)["sending"] == 3, 5, "the claim")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not settled(engine):
            taken += outbox.claim(engine, "another-worker", 10, now(),
                                  lease=timedelta(seconds=30))
            time.sleep(0.05)
        wait_for(lambda: settled(engine), 20)
    assert taken == []
    assert statuses(engine) == {"sent": 3}
    assert {m.attempts for m in outbox.list_messages(engine)} == {1}
    assert sorted(received(smtp_server).values()) == [1, 1, 1]

"""Bounces: permanent refusals (5xx) of one address, counted in a row, make its subscriber
``bouncing`` at ``mail.bounce_threshold``; nothing more is queued or sent to it, the CLI
and /metrics show it, the others are unaffected, and a new confirmation reactivates it.
Against a real SMTP server on loopback that refuses one address (550), defers it (450)
and answers 421 to a MAIL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from summitcal.app.cli import main
from summitcal.app.runtime import Runtime
from summitcal.core import database
from summitcal.scheduler.clock import Clock
from summitcal.subscriptions import subscribers as subs
from summitcal.summits.model import Attendance
from tests.subscriptions.conftest import Post, links, messages, path, sign_up, subscriber

GOOD, BAD, FLAKY = "good@example.org", "bad@example.org", "flaky@example.org"
REFUSED = "550 5.1.1 <bad@example.org>: Recipient address rejected: no such user"


def add_confirmed(runtime: Runtime, address: str) -> None:
    prefs = subs.check_preferences(runtime.snapshot().schedule, timezone="Europe/Moscow",
                                   follow=["participant:putin"])
    with database.writing(runtime.store.engine) as connection:
        subs.add(connection, address, prefs, datetime.now(UTC), confirmed=True)


def putin(runtime: Runtime, clock: Clock, mode: str) -> None:
    """An attendance change, its notice queued at once (the clock's delay is zero)."""
    runtime.set_attendance("dushanbe-2021", "sco-council", Attendance("putin", mode),
                           source="test")
    clock.run_once()


def status(runtime: Runtime, address: str) -> tuple[str, int]:
    found = subscriber(runtime, address)
    return found.status, found.bounces


def test_permanent_refusals_mark_an_address_bouncing_until_it_confirms_again(
        runtime: Runtime, client, post: Post, capsys):
    handler = post.server.handler
    clock = Clock(runtime.store, timedelta(0))
    clock.run_once()  # the first pass: what is loaded is history
    for address in (GOOD, BAD, FLAKY):
        add_confirmed(runtime, address)

    # Temporary refusals are not bounces: 421 to a MAIL, 450 for the address.
    handler.mail_replies = ["421 4.3.2 Service busy, closing"]
    handler.rcpt_replies = {BAD: "450 4.2.1 Mailbox busy", FLAKY: REFUSED}
    post.deliver(rounds=4)
    assert status(runtime, BAD) == ("confirmed", 0)
    assert status(runtime, FLAKY) == ("confirmed", 1)
    handler.rcpt_replies = {BAD: REFUSED}
    post.deliver()  # the welcome: refused
    assert status(runtime, BAD) == ("confirmed", 1)

    putin(runtime, clock, "in_person")
    post.deliver()
    assert status(runtime, BAD) == ("confirmed", 2)
    assert status(runtime, FLAKY) == ("confirmed", 0)  # delivered: the count starts again

    putin(runtime, clock, "video")
    post.deliver()
    assert status(runtime, BAD) == ("bouncing", 3)
    to_bad = messages(runtime, recipient=BAD)
    assert [m.status for m in to_bad] == ["failed"] * 3
    assert "550 5.1.1" in (to_bad[-1].last_error or "")
    assert subscriber(runtime, BAD).status == "bouncing"

    putin(runtime, clock, "in_person")  # no longer mailed, nothing even queued
    post.deliver()
    assert len(messages(runtime, recipient=BAD)) == 3
    assert len(post.received(GOOD)) == 4 and post.received(BAD) == []

    code = main(["--config", str(runtime.config.path), "subscribers", "list", "--status",
                 "bouncing"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[1].split()[1:4] == [BAD, "bouncing", "3"]
    metrics = client.get("/metrics").text
    assert 'summitcal_subscribers{status="bouncing"} 1' in metrics
    assert 'summitcal_subscribers{status="confirmed"} 2' in metrics

    # The mailbox works again; a sign-up sends a confirmation, which reactivates it.
    handler.rcpt_replies = {}
    assert sign_up(client, BAD).status_code == 202
    assert status(runtime, BAD) == ("bouncing", 3)
    post.deliver()
    (confirm,) = post.received(BAD)
    assert str(confirm["Subject"]) == "Confirm your summitcal subscription"
    assert client.post(path(links(runtime, BAD).confirm)).status_code == 200
    assert status(runtime, BAD) == ("confirmed", 0)
    putin(runtime, clock, "video")
    post.deliver()
    assert [str(m["Subject"]).split(":")[0] for m in post.received(BAD)] == [
        "Confirm your summitcal subscription", "Welcome to summitcal", "Attendance change"]


def test_a_refused_sender_is_not_a_bounce_of_the_recipient(runtime: Runtime, post: Post):
    post.server.handler.mail_replies = ["550 5.7.1 Sender not allowed"]
    add_confirmed(runtime, GOOD)
    post.deliver()
    (welcome,) = messages(runtime, recipient=GOOD)
    assert welcome.status == "failed" and "sender" in (welcome.last_error or "")
    assert status(runtime, GOOD) == ("confirmed", 0)

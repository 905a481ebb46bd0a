"""summits.subscribers on its own: rows for fan-out, the hourly limit, links, removal."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from summitcal.core import database
from summitcal.core.errors import InvalidInput, NotFound
from summitcal.subscriptions import subscribers as subs
from summitcal.subscriptions import tables as st
from summitcal.subscriptions.tokens import read_token
from tests.subscriptions.conftest import BASE, NOW, SECRET, messages, subscriber

EMAIL = "reader@example.org"


def prefs(runtime, **raw):
    raw = {"timezone": "UTC", "follow": ["all"]} | raw
    return subs.check_preferences(runtime.snapshot().schedule, **raw,
                                  default_reminders=runtime.config.reminders.default_offsets)


def write(runtime, work):
    with database.writing(runtime.store.engine) as connection:
        return work(connection)


def test_follow_and_offset_rows_are_shaped_for_fan_out(runtime):
    chosen = prefs(runtime, follow=["all", "summit:dushanbe-2021",
                                    "session:astana-2024/sco-council", "organization:sco",
                                    "participant:putin"], reminders=["PT1H", "P1D"])
    write(runtime, lambda c: subs.sign_up(c, EMAIL, chosen, NOW))
    with runtime.store.engine.connect() as connection:
        follows = connection.execute(sa.select(
            st.subscriber_follows.c.kind, st.subscriber_follows.c.summit,
            st.subscriber_follows.c.target).order_by(st.subscriber_follows.c.id)).all()
        offsets = connection.scalars(sa.select(st.subscriber_offsets.c.offset_seconds)
                                     .order_by(st.subscriber_offsets.c.offset_seconds)).all()
        row = connection.execute(sa.select(st.subscribers)).one()
    assert [tuple(f) for f in follows] == [
        ("all", None, None),
        ("summit", "dushanbe-2021", "dushanbe-2021"),
        ("session", "astana-2024", "sco-council"),
        ("organization", None, "sco"),
        ("participant", None, "putin"),
    ]
    assert offsets == [3600, 86400]
    assert row.reminders == ["P1D", "PT1H"] and row.notices == ["attendance", "schedule"]
    assert (row.language, row.feed_token_version, row.manage_token_version) == ("en", 1, 1)


def test_one_confirm_mail_per_address_per_hour(runtime):
    chosen = prefs(runtime)
    outcomes = [write(runtime, lambda c, at=at: subs.sign_up(c, EMAIL, chosen, at))
                for at in (NOW, NOW + timedelta(minutes=59), NOW + timedelta(minutes=61),
                           NOW + timedelta(minutes=62))]
    assert outcomes == ["created", "throttled", "resent", "throttled"]
    assert len(messages(runtime, kind="confirm")) == 2


def test_a_confirmed_address_gets_its_links_again_at_most_hourly(runtime):
    chosen = prefs(runtime)
    write(runtime, lambda c: subs.add(c, EMAIL, chosen, NOW, confirmed=True))
    later = NOW + timedelta(minutes=5)
    assert write(runtime, lambda c: subs.sign_up(c, EMAIL, chosen, later)) == "reminded"
    assert write(runtime, lambda c: subs.sign_up(c, EMAIL, chosen, later)) == "throttled"
    assert len(messages(runtime, kind="welcome")) == 2
    assert messages(runtime, kind="confirm") == []


def test_links_carry_tokens_of_the_right_purpose_and_version(runtime):
    made = subs.links(runtime.config, 7, 3, 5)
    assert made.confirm.startswith(f"{BASE}/subscriptions/confirm/")
    assert made.manage.startswith(f"{BASE}/subscriptions/manage/")
    assert made.unsubscribe.startswith(f"{BASE}/subscriptions/unsubscribe/")
    assert made.feed.startswith(f"{BASE}/feeds/private/") and made.feed.endswith(".ics")
    assert made.feed_webcal.startswith("webcal://summitcal.test/feeds/private/")
    token = made.feed.rsplit("/", 1)[1].removesuffix(".ics")
    assert read_token(SECRET, "feed", token) == (7, 3)
    assert read_token(SECRET, "manage", made.manage.rsplit("/", 1)[1]) == (7, 5)
    assert read_token(SECRET, "confirm", made.confirm.rsplit("/", 1)[1]) == (7, 5)


def test_emails_are_normalised_and_compared_without_case(runtime):
    assert subs.normalize_email("Reader@EXAMPLE.org") == EMAIL
    write(runtime, lambda c: subs.add(c, "Reader@Example.org", prefs(runtime), NOW))
    with pytest.raises(InvalidInput, match="already a subscriber"):
        write(runtime, lambda c: subs.add(c, "READER@example.org", prefs(runtime), NOW))


def test_remove_deletes_follows_offsets_and_cancels_mail(runtime):
    write(runtime, lambda c: subs.add(c, EMAIL, prefs(runtime), NOW))
    removed = write(runtime, lambda c: subs.remove(c, EMAIL, NOW))
    with runtime.store.engine.connect() as connection:
        for table in (st.subscribers, st.subscriber_follows, st.subscriber_offsets):
            assert connection.scalar(sa.select(sa.func.count()).select_from(table)) == 0
    [mail] = messages(runtime)
    assert mail.status == "cancelled" and mail.subscriber_id is None and removed.id
    with pytest.raises(NotFound):
        write(runtime, lambda c: subs.remove(c, EMAIL, NOW))


def test_a_failed_write_queues_nothing(runtime):
    with pytest.raises(RuntimeError), database.writing(runtime.store.engine) as connection:
        subs.sign_up(connection, EMAIL, prefs(runtime), NOW)
        raise RuntimeError("crash after queueing")
    assert messages(runtime) == []
    with database.reading(runtime.store.engine) as connection:
        assert subs.by_email(connection, EMAIL) is None


def test_subscriber_reads_back(runtime):
    write(runtime, lambda c: subs.add(c, EMAIL, prefs(runtime, timezone="Asia/Dushanbe"), NOW))
    found = subscriber(runtime, EMAIL)
    assert found.status == "pending" and found.created_at == NOW
    assert found.preferences.timezone == "Asia/Dushanbe"

"""GET/HEAD /feeds/private/{token}.ics: the subscriber's selection with their alarms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar

from summitcal.core import database
from summitcal.subscriptions import subscribers as subs
from summitcal.subscriptions.tokens import make_token
from summitcal.web.private_feeds import PrivateFeeds
from tests.subscriptions.conftest import NOW, SECRET, path, sign_up, subscriber
from tests.subscriptions.test_pages import manage_form

EMAIL = "reader@example.org"


def events(body: bytes) -> list:
    return list(Calendar.from_ical(body).walk("VEVENT"))


def triggers(event) -> list[timedelta]:
    return [alarm.get("TRIGGER").dt for alarm in event.walk("VALARM")]


def test_private_feed_has_the_selection_and_one_alarm_per_offset(client, runtime, confirmed):
    response = client.get(path(confirmed.links(runtime.config).feed),
                          headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "private, max-age=300"
    found = events(response.content)
    uids = sorted(str(e["UID"]) for e in found)
    assert uids and all(u.startswith("dushanbe-2021-") for u in uids)
    for event in found:
        assert triggers(event) == [-timedelta(days=1), -timedelta(hours=1)]


def test_manage_changes_show_in_the_feed(client, runtime, confirmed):
    links = confirmed.links(runtime.config)
    first = client.get(path(links.feed))
    client.post(path(links.manage), data=manage_form(
        follow=["summit:astana-2024"], reminders="PT15M"))
    second = client.get(path(links.feed), headers={"if-none-match": first.headers["etag"]})
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    found = events(second.content)
    assert found and all(str(e["UID"]).startswith("astana-2024-") for e in found)
    assert all(triggers(e) == [-timedelta(minutes=15)] for e in found)


def test_etag_304_head_and_gzip(client, runtime, confirmed):
    url = path(confirmed.links(runtime.config).feed)
    plain = client.get(url, headers={"accept-encoding": "identity"})
    etag = plain.headers["etag"]
    assert client.get(url, headers={"if-none-match": etag}).status_code == 304
    assert client.get(url, headers={"if-modified-since": plain.headers["last-modified"],
                                    "accept-encoding": "identity"}).status_code == 304
    head = client.head(url, headers={"accept-encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(plain.content))
    zipped = client.get(url, headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decodes it
    assert zipped.headers["etag"] != etag
    assert client.get(url, headers={"if-none-match": zipped.headers["etag"],
                                    "accept-encoding": "gzip"}).status_code == 304


def test_the_feed_is_cached_until_something_changes(client, runtime, confirmed):
    url = path(confirmed.links(runtime.config).feed)
    first = client.get(url)
    second = client.get(url)
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]


@pytest.mark.parametrize("kind", ["forged", "wrong purpose", "future version", "unknown",
                                  "garbage", "unicode digits"])
def test_bad_tokens_are_404_json(client, runtime, confirmed, kind):
    me = confirmed
    token = {
        "forged": make_token("other secret", "feed", me.id, me.feed_token_version),
        "wrong purpose": make_token(SECRET, "manage", me.id, me.manage_token_version),
        "future version": make_token(SECRET, "feed", me.id, me.feed_token_version + 1),
        "unknown": make_token(SECRET, "feed", 424242, 1),
        "garbage": "x.y.z",
        "unicode digits": "\u00b2.1.abc",
    }[kind]
    response = client.get(f"/feeds/private/{token}.ics")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_pending_subscribers_have_no_feed(client, runtime):
    sign_up(client)
    found = subscriber(runtime, EMAIL)
    assert client.get(path(found.links(runtime.config).feed)).status_code == 404


def test_the_private_route_does_not_shadow_public_feeds(client):
    assert client.get("/feeds/summits/astana-2024.ics").status_code == 200
    assert client.get("/feeds/private/x.ics").status_code == 404


def test_responses_are_kept_for_the_most_recently_served_subscribers(runtime):
    """``PrivateFeeds`` keeps ``max_entries`` responses, least recently served out first
    (a ``cachetools.LRUCache``): a kept response is handed out again as it is."""
    prefs = subs.check_preferences(runtime.store.schedule(), timezone="UTC", follow=["all"],
                                   reminders=["PT1H"], notices=[])
    with database.writing(runtime.store.engine) as connection:
        readers = [subs.add(connection, f"r{n}@example.org", prefs, NOW, confirmed=True)
                   for n in range(3)]
    a, b, c = (reader.links(runtime.config).feed.rsplit("/", 1)[1].removesuffix(".ics")
               for reader in readers)
    feeds = PrivateFeeds(runtime, max_entries=2)
    first_a, first_b = feeds.get(a), feeds.get(b)
    assert feeds.get(a) is first_a  # served from the cache, and now the most recent
    feeds.get(c)  # a third subscriber: b, the least recently served, goes
    assert feeds.get(a) is first_a
    again_b = feeds.get(b)
    assert again_b is not first_b and again_b.body == first_b.body

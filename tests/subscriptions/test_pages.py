"""The pages behind the links in emails: confirm, manage, unsubscribe."""

from __future__ import annotations

import pytest

from summitcal.subscriptions.tokens import make_token
from tests.subscriptions.conftest import (
    BASE,
    SECRET,
    links,
    messages,
    path,
    sign_up,
    subscriber,
)

EMAIL = "reader@example.org"


def assert_page(response, status: int = 200) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["referrer-policy"] == "no-referrer"
    return response.text


# --- confirm -----------------------------------------------------------------------------


def test_confirm_get_changes_nothing_post_confirms_and_queues_the_welcome(client, runtime):
    sign_up(client)
    url = path(links(runtime, EMAIL).confirm)
    page = assert_page(client.get(url))
    assert '<form method="post">' in page and "Confirm my subscription" in page
    assert subscriber(runtime, EMAIL).status == "pending"
    assert messages(runtime, kind="welcome") == []

    page = assert_page(client.post(url))
    found = subscriber(runtime, EMAIL)
    assert found.status == "confirmed" and found.confirmed_at is not None
    assert found.links(runtime.config).feed in page
    [welcome] = messages(runtime, kind="welcome")
    assert (welcome.recipient, welcome.subscriber_id, welcome.payload) == (
        EMAIL, found.id, {"subscriber_id": found.id, "how": "confirmed"})

    assert_page(client.post(url))  # again: still fine, no second welcome
    assert len(messages(runtime, kind="welcome")) == 1
    assert subscriber(runtime, EMAIL).confirmed_at == found.confirmed_at


def tokens_that_must_not_work(runtime, purpose: str) -> dict[str, str]:
    """Forged, another subscriber's, wrong purpose, wrong version, garbage."""
    me = subscriber(runtime, EMAIL)
    other = subscriber(runtime, "other@example.org")
    version = me.feed_token_version if purpose == "feed" else me.manage_token_version
    wrong = "manage" if purpose != "manage" else "confirm"
    genuine = make_token(SECRET, purpose, me.id, version)
    return {
        "forged": make_token("another secret", purpose, me.id, version),
        "tampered id": f"{other.id}{genuine[genuine.index('.'):]}",
        "wrong purpose": make_token(SECRET, wrong, me.id, version),
        "future version": make_token(SECRET, purpose, me.id, version + 1),
        "unknown subscriber": make_token(SECRET, purpose, 999_999, 1),
        "garbage": "not-a-token",
        "empty signature": f"{me.id}.{version}.",
        "unicode digits": f"\u00b2.{version}.{genuine.rsplit('.', 1)[1]}",
    }


@pytest.mark.parametrize("purpose", ["confirm", "manage", "unsubscribe"])
def test_bad_tokens_are_404_pages_and_change_nothing(client, runtime, purpose):
    sign_up(client)
    sign_up(client, "other@example.org")
    if purpose != "confirm":
        client.post(path(links(runtime, EMAIL).confirm))
    before = subscriber(runtime, EMAIL)
    welcomes = len(messages(runtime, kind="welcome"))
    for name, token in tokens_that_must_not_work(runtime, purpose).items():
        url = f"/subscriptions/{purpose}/{token}"
        for method in ("GET", "POST"):
            page = assert_page(client.request(method, url, data={"action": "rotate"}), 404)
            assert "not valid" in page, name
    assert subscriber(runtime, EMAIL) == before
    assert subscriber(runtime, "other@example.org").status == "pending"
    assert len(messages(runtime, kind="welcome")) == welcomes


def test_another_subscribers_token_acts_on_them_only(client, runtime):
    sign_up(client)
    sign_up(client, "other@example.org")
    client.post(path(links(runtime, "other@example.org").confirm))
    assert subscriber(runtime, EMAIL).status == "pending"


# --- manage ------------------------------------------------------------------------------


def manage_form(**fields) -> dict:
    form = {"action": "save", "timezone": "Europe/Moscow", "follow": ["summit:dushanbe-2021"],
            "reminders": "P1D, PT1H", "notices": ["attendance", "schedule"]}
    return form | fields


def test_manage_page_shows_the_choices(client, runtime, confirmed):
    page = assert_page(client.get(path(confirmed.links(runtime.config).manage)))
    assert 'value="summit:dushanbe-2021" checked' in page
    assert 'value="Europe/Moscow" selected' in page
    assert 'value="P1D" checked' in page and 'value="PT1H" checked' in page
    assert confirmed.links(runtime.config).feed in page


def test_manage_changes_offsets_zone_follows_and_notices(client, runtime, confirmed):
    url = path(confirmed.links(runtime.config).manage)
    form = manage_form(timezone="Asia/Tokyo", follow=["participant:putin", "organization:sco"],
                       reminders="PT30M", notices=["schedule"])
    page = assert_page(client.post(url, data=form))
    assert "Saved." in page
    prefs = subscriber(runtime, EMAIL).preferences
    assert prefs.timezone == "Asia/Tokyo"
    assert prefs.follows == ("participant:putin", "organization:sco")
    assert [r.total_seconds() for r in prefs.reminders] == [1800]
    assert prefs.notices == ("schedule",)


@pytest.mark.parametrize(("fields", "field"), [
    ({"timezone": "Nowhere/City"}, "timezone"),
    ({"follow": []}, "follow"),
    ({"follow": ["summit:atlantis"]}, "follow.0"),
    ({"reminders": "P1D, soon"}, "reminders.1"),
    ({"reminders": "P40D"}, "reminders.0"),
    ({"notices": ["gossip"]}, "notices.0"),
])
def test_manage_errors_are_shown_in_the_page_with_400(client, runtime, confirmed, fields, field):
    url = path(confirmed.links(runtime.config).manage)
    page = assert_page(client.post(url, data=manage_form(**fields)), 400)
    assert 'role="alert"' in page and f"Please check {field}" in page
    assert subscriber(runtime, EMAIL).preferences == confirmed.preferences


def test_rotating_the_feed_link_kills_the_old_one(client, runtime, confirmed):
    old = path(confirmed.links(runtime.config).feed)
    assert client.get(old).status_code == 200
    page = assert_page(client.post(path(confirmed.links(runtime.config).manage),
                                   data={"action": "rotate"}))
    new = subscriber(runtime, EMAIL).links(runtime.config)
    assert new.feed != BASE + old and new.feed in page
    assert client.get(old).status_code == 404
    assert client.get(path(new.feed)).status_code == 200
    assert subscriber(runtime, EMAIL).preferences == confirmed.preferences  # only the link


def test_manage_is_not_for_pending_subscribers(client, runtime):
    sign_up(client)
    assert_page(client.get(path(links(runtime, EMAIL).manage)), 404)


# --- unsubscribe -------------------------------------------------------------------------


def test_one_click_unsubscribe(client, runtime, confirmed):
    old = confirmed.links(runtime.config)
    response = client.post(path(old.unsubscribe), data={"List-Unsubscribe": "One-Click"})
    assert "unsubscribed" in assert_page(response)
    found = subscriber(runtime, EMAIL)
    assert found.status == "unsubscribed" and found.unsubscribed_at is not None
    assert found.manage_token_version == confirmed.manage_token_version + 1
    assert found.feed_token_version == confirmed.feed_token_version + 1
    # every older link dies …
    assert client.get(path(old.feed)).status_code == 404
    assert_page(client.get(path(old.manage)), 404)
    assert_page(client.post(path(old.confirm)), 404)
    # … but unsubscribing again is still a 200 that changes nothing
    assert_page(client.post(path(old.unsubscribe), data={"List-Unsubscribe": "One-Click"}))
    assert_page(client.get(path(old.unsubscribe)))
    assert subscriber(runtime, EMAIL) == found


def test_unsubscribe_get_shows_a_button_and_changes_nothing(client, runtime, confirmed):
    page = assert_page(client.get(path(confirmed.links(runtime.config).unsubscribe)))
    assert '<form method="post">' in page and 'name="List-Unsubscribe"' in page
    assert subscriber(runtime, EMAIL).status == "confirmed"


def test_unsubscribe_cancels_unsent_mail(client, runtime, confirmed):
    [welcome] = messages(runtime, kind="welcome")
    assert welcome.status == "pending"
    client.post(path(confirmed.links(runtime.config).unsubscribe))
    assert messages(runtime, kind="welcome")[0].status == "cancelled"


def test_signing_up_again_after_unsubscribing_needs_a_new_confirmation(client, runtime,
                                                                       confirmed):
    old = confirmed.links(runtime.config)
    client.post(path(old.unsubscribe))
    sign_up(client)
    assert subscriber(runtime, EMAIL).status == "pending"
    assert_page(client.post(path(old.confirm)), 404)
    assert_page(client.post(path(old.unsubscribe)), 404)  # a re-subscription is safe from it
    assert_page(client.post(path(links(runtime, EMAIL).confirm)))
    assert subscriber(runtime, EMAIL).status == "confirmed"
    assert len(messages(runtime, kind="welcome")) == 2


# --- the sign-up form --------------------------------------------------------------------


def test_sign_up_form_works_without_javascript(client, runtime):
    page = assert_page(client.get("/subscribe"))
    assert 'name="email"' in page and 'value="session:dushanbe-2021/csto-council"' in page
    response = client.post("/subscribe", data={
        "email": EMAIL, "timezone": "Europe/Berlin", "follow": ["organization:sco"],
        "reminders": "PT2H", "notices": ["attendance"]})
    assert "Check your inbox" in assert_page(response)
    prefs = subscriber(runtime, EMAIL).preferences
    assert prefs.follows == ("organization:sco",) and prefs.notices == ("attendance",)
    assert len(messages(runtime, kind="confirm")) == 1


def test_the_home_page_form_with_reminder_checkboxes_signs_up(client, runtime):
    response = client.post("/subscribe", data={
        "email": EMAIL, "timezone": "Asia/Almaty", "follow": ["all"],
        "reminders": ["P1D", "PT1H", "PT15M"], "notices": ["schedule"], "language": "en"})
    assert "Check your inbox" in assert_page(response)
    prefs = subscriber(runtime, EMAIL).preferences
    assert [r.total_seconds() for r in prefs.reminders] == [86400, 3600, 900]
    page = assert_page(client.post("/subscribe", data={
        "email": EMAIL, "timezone": "Asia/Almaty", "follow": ["all"], "language": "fr"}), 400)
    assert "Please check language" in page


def test_sign_up_form_errors_keep_the_values(client, runtime):
    response = client.post("/subscribe", data={"email": "nope", "timezone": "Europe/Berlin",
                                               "follow": ["all"], "reminders": "PT2H"})
    page = assert_page(response, 400)
    assert "Please check email" in page and 'value="nope"' in page
    assert 'value="all" checked' in page and messages(runtime) == []

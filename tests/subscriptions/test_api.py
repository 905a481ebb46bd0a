"""POST /api/subscriptions: validation, one answer for every address, the confirm mail."""

from __future__ import annotations

import pytest

from tests.subscriptions.conftest import links, messages, path, sign_up, subscriber

VALID = {"email": "reader@example.org", "timezone": "Europe/Moscow",
         "follow": ["summit:dushanbe-2021"]}


def assert_error(response, status: int, field: str | None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    assert body["error"].get("field") == field, body
    return body["error"]


BAD = [
    ({"email": "not an address"}, "email"),
    ({"email": "a@b"}, "email"),
    ({"email": 42}, "email"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "UTC+3"}, "timezone"),
    ({"follow": []}, "follow"),
    ({"follow": "all"}, "follow"),
    ({"follow": ["everything"]}, "follow.0"),
    ({"follow": ["all", "summit:nowhere-2030"]}, "follow.1"),
    ({"follow": ["session:dushanbe-2021/no-such"]}, "follow.0"),
    ({"follow": ["session:dushanbe-2021"]}, "follow.0"),
    ({"follow": ["organization:nato"]}, "follow.0"),
    ({"follow": ["participant:nobody"]}, "follow.0"),
    ({"follow": ["summit:"]}, "follow.0"),
    ({"reminders": ["1 day"]}, "reminders.0"),
    ({"reminders": ["P1D", "P1M"]}, "reminders.1"),
    ({"reminders": ["PT0S"]}, "reminders.0"),
    ({"reminders": ["P31D"]}, "reminders.0"),
    ({"reminders": ["P1D", "PT24H"]}, "reminders.1"),
    ({"reminders": ["PT1H", "PT2H", "PT3H", "PT4H", "PT5H", "PT6H"]}, "reminders"),
    ({"reminders": "P1D"}, "reminders"),
    ({"notices": ["weather"]}, "notices.0"),
    ({"language": "fr"}, "language"),
    ({"unexpected": True}, "unexpected"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[str(c) for c, _ in BAD])
def test_bad_payloads_are_4xx_with_the_field_and_change_nothing(client, runtime, change, field):
    response = client.post("/api/subscriptions", json=VALID | change)
    assert_error(response, 422, field)
    assert messages(runtime) == []


@pytest.mark.parametrize("missing", ["email", "timezone", "follow"])
def test_required_fields(client, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    assert_error(client.post("/api/subscriptions", json=body), 422, missing)


def test_not_json_is_a_400(client):
    response = client.post("/api/subscriptions", content=b"{nope",
                           headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_a_new_address_is_pending_with_defaults_and_a_confirm_mail(client, runtime):
    response = sign_up(client, "Reader@Example.ORG", follow=["summit:dushanbe-2021", "all"])
    assert response.status_code == 202
    found = subscriber(runtime, "reader@example.org")
    assert found.email == "reader@example.org" and found.status == "pending"
    prefs = found.preferences
    assert prefs.follows == ("summit:dushanbe-2021", "all")
    assert [r.total_seconds() for r in prefs.reminders] == [86400, 3600]
    assert prefs.notices == ("attendance", "schedule") and prefs.timezone == "Europe/Moscow"
    [mail] = messages(runtime)
    assert (mail.kind, mail.recipient, mail.subscriber_id, mail.status) == (
        "confirm", "reader@example.org", found.id, "pending")
    assert mail.payload == {"subscriber_id": found.id}


def test_reminders_are_stored_canonical_longest_first(client, runtime):
    sign_up(client, reminders=["PT30M", "PT24H", "P1W"], notices=[])
    prefs = subscriber(runtime, "reader@example.org").preferences
    assert [r.total_seconds() for r in prefs.reminders] == [604800, 86400, 1800]
    assert prefs.notices == ()


def test_same_answer_for_new_pending_confirmed_and_unsubscribed(client, runtime):
    first = sign_up(client)
    pending = sign_up(client)
    client.post(path(links(runtime, "reader@example.org").confirm))
    confirmed = sign_up(client)
    client.post(path(links(runtime, "reader@example.org").unsubscribe))
    unsubscribed = sign_up(client)
    answers = {(r.status_code, r.content, r.headers["content-type"])
               for r in (first, pending, confirmed, unsubscribed)}
    assert len(answers) == 1 and first.status_code == 202
    assert subscriber(runtime, "reader@example.org").status == "pending"


def test_repeated_sign_ups_send_one_confirm_mail_an_hour(client, runtime):
    for _ in range(5):
        assert sign_up(client).status_code == 202
    assert len(messages(runtime, kind="confirm")) == 1


def test_a_pending_sign_up_again_replaces_the_choices(client, runtime):
    sign_up(client)
    sign_up(client, follow=["participant:putin"], timezone="Asia/Tokyo")
    prefs = subscriber(runtime, "reader@example.org").preferences
    assert prefs.follows == ("participant:putin",) and prefs.timezone == "Asia/Tokyo"


def test_a_confirmed_address_keeps_its_choices(client, runtime, confirmed):
    assert sign_up(client, follow=["all"], timezone="Asia/Tokyo").status_code == 202
    again = subscriber(runtime, "reader@example.org")
    assert again.preferences == confirmed.preferences and again.status == "confirmed"


def test_openapi_describes_the_sign_up(client):
    operation = client.get("/openapi.json").json()["paths"]["/api/subscriptions"]["post"]
    assert "202" in operation["responses"]

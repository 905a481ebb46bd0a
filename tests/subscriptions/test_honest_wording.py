"""Say what actually happened: the sign-up answer does not promise a message that is not
sent (a second sign-up within the hour sends none), and the welcome mail tells a reader
who confirmed, one an operator added (``subscribers add --confirmed``) and one who signed
up again apart. Delivered to a real SMTP server on loopback."""

from __future__ import annotations

from summitcal.app.cli import main
from summitcal.web.subscriptions import ACCEPTED
from tests.subscriptions.conftest import Post, links, path, sign_up, text_of


def test_a_second_sign_up_within_the_hour_is_not_promised_a_message(client, post: Post):
    first, second = sign_up(client), sign_up(client)
    assert first.content == second.content and first.status_code == 202
    post.deliver()
    assert len(post.received("reader@example.org")) == 1  # the second sent nothing …
    message = second.json()["message"]
    assert message == ACCEPTED  # … and the answer says that it may not
    assert "Unless one was sent to this address recently" in message
    assert "at most one such message an hour" in message
    page = client.post("/subscribe", data={"email": "reader@example.org",
                                           "timezone": "UTC", "follow": "all"})
    assert page.status_code == 200 and "at most one such message an hour" in page.text


def test_the_welcome_mail_says_who_subscribed_the_address(runtime, client, post: Post):
    assert main(["--config", str(runtime.config.path), "subscribers", "add",
                 "desk@example.org", "--confirmed"]) == 0
    sign_up(client, "self@example.org")
    post.deliver()
    client.post(path(links(runtime, "self@example.org").confirm))
    post.deliver()

    (operator,) = post.received("desk@example.org")
    text = text_of(operator)
    assert str(operator["Subject"]) == "Welcome to summitcal"
    assert "You confirmed" not in text and "is confirmed" not in text
    assert "An operator of this summitcal service subscribed desk@example.org" in text
    assert "you were not asked to confirm" in text

    confirm, welcome = post.received("self@example.org")
    assert str(confirm["Subject"]) == "Confirm your summitcal subscription"
    assert "Your subscription for self@example.org is confirmed." in text_of(welcome)
    assert "You confirmed a summitcal subscription for self@example.org." in text_of(welcome)

    # Signing up an address already subscribed changes nothing and says so.
    assert sign_up(client, "desk@example.org", follow=["all"]).status_code == 202
    post.deliver()
    again = post.received("desk@example.org")[-1]
    assert str(again["Subject"]) == "Your summitcal links"
    assert "signed up desk@example.org again. It is already subscribed, so nothing " \
           "changed" in text_of(again)
    assert "You confirmed" not in text_of(again)

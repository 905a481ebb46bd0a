"""The renderers of the kinds delivery itself knows: ``test`` (``summitcal send-test``),
``confirm`` and ``welcome``. ``scheduler.delivery`` re-exports them; ``serve`` adds the
clock's kinds (``scheduler.plans.reminder_renderer``, ``scheduler.notices``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape

from summitcal.mail.outbox import Message
from summitcal.scheduler.compose import POLICY, default_list_id, message_id
from summitcal.scheduler.messages import Skip
from summitcal.scheduler.sources import SenderSettings, Sources

Renderer = Callable[[Message, datetime], EmailMessage]


def make_test_message(*, sender: str, recipient: str, key: str, date: datetime,
                 base_url: str) -> EmailMessage:
    """What ``summitcal send-test`` sends: proof that the transport works, with the
    headers every message carries (no List-Unsubscribe: the address subscribed to nothing)."""
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = "summitcal test message"
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id(key, base_url)
    message["Auto-Submitted"] = "auto-generated"
    message["List-Id"] = f"<{default_list_id(base_url)}>"
    text = (f"This is a test message from summitcal at {base_url}, sent "
            f"{date:%Y-%m-%d %H:%M:%S} UTC to {recipient}.\n\n"
            "If it reached you, the mail settings work. Nothing else will be sent to this "
            "address unless it subscribes.\n")
    message.set_content(text)
    message.add_alternative(
        "<!doctype html><html><body><p>This is a test message from summitcal at "
        f"{escape(base_url)}, sent {date:%Y-%m-%d %H:%M:%S} UTC to {escape(recipient)}.</p>"
        "<p>If it reached you, the mail settings work.</p></body></html>\n", subtype="html")
    for part in message.iter_parts():
        del part["MIME-Version"]
    return message


def make_test_renderer(config: SenderSettings) -> Renderer:
    """The renderer of kind ``test``, from the sender and the service's URL."""

    def render(message: Message, now: datetime) -> EmailMessage:
        return make_test_message(sender=config.mail.sender,
                                 recipient=message.recipient, key=message.key, date=now,
                                 base_url=config.service.base_url)

    return render


def default_renderers(sources: Sources) -> dict[str, Renderer]:
    """Renderers of ``test``, ``confirm`` and ``welcome``. ``serve`` adds the clock's
    kinds (reminders, notices); ``deliver`` uses these."""
    subscription = subscription_renderer(sources)
    return {"test": make_test_renderer(sources.settings), "confirm": subscription,
            "welcome": subscription}


def subscription_renderer(sources: Sources) -> Renderer:
    """``confirm`` (to a pending subscriber) and ``welcome`` (to a confirmed one) rows,
    with links made now from the subscriber's current token versions. A subscriber who
    is gone or in another state by then gets nothing (``Skip``)."""
    from summitcal.scheduler.compose import compose
    from summitcal.scheduler.messages import Confirm, Welcome
    from summitcal.subscriptions import subscribers

    def render(message: Message, now: datetime) -> EmailMessage:
        subscriber = None
        if message.subscriber_id is not None:
            with sources.engine.connect() as connection:
                subscriber = subscribers.get(connection, message.subscriber_id)
        # A bouncing subscriber is sent a confirmation when they sign up again.
        wanted = ("pending", "bouncing") if message.kind == "confirm" else ("confirmed",)
        if subscriber is None or subscriber.status not in wanted:
            raise Skip(f"the subscriber is gone or no longer {' or '.join(wanted)}")
        links, chosen = subscriber.links(sources.settings), subscriber.preferences
        context: Confirm | Welcome = Confirm(links.confirm) if message.kind == "confirm" else \
            Welcome(links.feed, links.manage, chosen.timezone, chosen.follows,
                    chosen.reminders, chosen.notices, sources.snapshot().schedule,
                    message.payload.get("how", "confirmed"))
        return compose(context, sender=sources.sender,
                       recipient=message.recipient, key=message.key, date=now,
                       base_url=sources.base_url, unsubscribe_url=links.unsubscribe)

    return render

"""The renderers of the kinds delivery itself knows: ``test`` (``summitcal send-test``),
``confirm`` and ``welcome``. ``scheduler.delivery`` re-exports them; ``serve`` adds the
clock's kinds (``scheduler.plans.reminder_renderer``, ``scheduler.notices``). Every
renderer gives a ``scheduler.rawmail.RawEmail``, written by ``rawmail.write``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

from summitcal.scheduler.compose import default_list_id, message_id
from summitcal.scheduler.outbox import Message
from summitcal.scheduler.rawmail import RawEmail, write

Renderer = Callable[[Message, datetime], RawEmail]


def make_test_message(*, sender: str, recipient: str, key: str, date: datetime,
                      base_url: str) -> RawEmail:
    """What ``summitcal send-test`` sends: proof that the transport works, with the
    headers every message carries (no List-Unsubscribe: the address subscribed to nothing)."""
    text = (f"This is a test message from summitcal at {base_url}, sent "
            f"{date:%Y-%m-%d %H:%M:%S} UTC to {recipient}.\n\n"
            "If it reached you, the mail settings work. Nothing else will be sent to this "
            "address unless it subscribes.\n")
    html = ("<!doctype html><html><body><p>This is a test message from summitcal at "
            f"{escape(base_url)}, sent {date:%Y-%m-%d %H:%M:%S} UTC to {escape(recipient)}.</p>"
            "<p>If it reached you, the mail settings work.</p></body></html>\n")
    return write(sender=sender, recipient=recipient, subject="summitcal test message",
                 date=date, message_id=message_id(key, base_url),
                 list_id=f"<{default_list_id(base_url)}>", unsubscribe_url=None, text=text,
                 html=html)


def make_test_renderer(config: Any) -> Renderer:
    """The renderer of kind ``test`` for a ``summitcal.config.Config``."""

    def render(message: Message, now: datetime) -> RawEmail:
        return make_test_message(sender=getattr(config.mail, "from"),
                                 recipient=message.recipient, key=message.key, date=now,
                                 base_url=config.service.base_url)

    return render


def default_renderers(runtime: Any) -> dict[str, Renderer]:
    """Renderers for a ``summitcal.runtime.Runtime``: ``test``, ``confirm`` and ``welcome``.
    ``serve`` adds the clock's kinds (reminders, notices); ``deliver`` uses these."""
    subscription = subscription_renderer(runtime)
    return {"test": make_test_renderer(runtime.config), "confirm": subscription,
            "welcome": subscription}


def subscription_renderer(runtime: Any) -> Renderer:
    """``confirm`` (to a pending subscriber) and ``welcome`` (to a confirmed one) rows,
    with links made now from the subscriber's current token versions. A subscriber who
    is gone or in another state by then gets nothing (``Withdrawn``)."""
    from summitcal.scheduler.compose import compose
    from summitcal.scheduler.messages import Confirm, Welcome, Withdrawn
    from summitcal.summits import subscribers

    def render(message: Message, now: datetime) -> RawEmail:
        subscriber = None
        if message.subscriber_id is not None:
            with runtime.store.engine.connect() as connection:
                subscriber = subscribers.get(connection, message.subscriber_id)
        # A bouncing subscriber is sent a confirmation when they sign up again.
        wanted = ("pending", "bouncing") if message.kind == "confirm" else ("confirmed",)
        if subscriber is None or subscriber.status not in wanted:
            raise Withdrawn(f"the subscriber is gone or no longer {' or '.join(wanted)}")
        config, links, chosen = runtime.config, subscriber.links(runtime.config), \
            subscriber.preferences
        context: Confirm | Welcome = Confirm(links.confirm) if message.kind == "confirm" else \
            Welcome(links.feed, links.manage, chosen.timezone, chosen.follows,
                    chosen.reminders, chosen.notices, runtime.snapshot().schedule,
                    message.payload.get("how", "confirmed"))
        return compose(context, sender=getattr(config.mail, "from"),
                       recipient=message.recipient, key=message.key, date=now,
                       base_url=config.service.base_url, unsubscribe_url=links.unsubscribe)

    return render

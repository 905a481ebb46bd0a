"""Renderers: from a claimed outbox row to the email to send, one per ``MessageKind``.

A ``Renderer`` has two methods: ``render(row, now)`` gives the ``rawmail.RawEmail`` (or
raises ``messages.Withdrawn`` when the message must not be sent any more), and
``prepare(rows)`` loads what the rows of a claimed batch need in one go. ``registry``
builds the one ``Renderers`` table of every kind, here and nowhere else; ``serve``,
``worker``, ``deliver``, ``send-test`` and the benchmark all use it::

    renderers = registry(Sources.of(runtime))
    delivery = Delivery(engine, config, renderers)

Per kind:

* ``test`` (``SendTestRenderer``): ``summitcal send-test``, needs the configuration only;
* ``confirm``, ``welcome`` (``SubscriptionRenderer``): links made at render time from
  the subscriber's current token versions; ``confirm`` goes to a pending (or bouncing,
  signing up again) subscriber, ``welcome`` to a confirmed one;
* ``reminder`` (``ReminderRenderer``): the plan's payload and the session as it is now
  (``plans.reminder_context``), if the subscriber still asks for it;
* ``attendance_change``, ``schedule_change``, ``changes`` (``NoticeRenderer``): the parts
  the subscriber still asks for (``notices.notice_context``).

The subscriber kinds share ``SubscriberRenderer``: ``prepare`` loads the batch's
subscribers in one query and the schedule once, for the calling thread's next renders; a
row not prepared (or whose subscriber was not found then) loads its own. A subscriber
who is gone, or in a status the kind is not for, makes the row ``Withdrawn``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import ClassVar, Protocol

from summitcal.mail.outbox import Message
from summitcal.mail.transport import RawEmail, TemporaryFailure
from summitcal.scheduler import notices, plans
from summitcal.scheduler.compose import compose, default_list_id, message_id
from summitcal.scheduler.messages import (
    Confirm,
    Context,
    MessageKind,
    Welcome,
    Withdrawn,
)
from summitcal.scheduler.rawmail import write
from summitcal.scheduler.sources import SenderSettings, Sources
from summitcal.subscriptions import subscribers as subs
from summitcal.summits.follow import Follow
from summitcal.summits.model import Schedule


class Renderer(Protocol):
    """Turns claimed outbox rows into emails (see the module doc)."""

    def prepare(self, batch: Sequence[Message]) -> None:
        """Load what ``batch`` (rows of this renderer's kinds, claimed together) needs,
        for this thread's next ``render`` calls. Only an optimisation: may do nothing."""

    def render(self, message: Message, now: datetime) -> RawEmail:
        """The email for ``message``, sent at ``now`` (aware). Raises ``Withdrawn`` when
        it must not be sent any more; ``TemporaryFailure`` (or a database or
        operating-system error) to try again later; anything else fails the row."""


class Renderers:
    """The registry: a ``Renderer`` per ``MessageKind``, itself a ``Renderer`` that hands
    each row to its kind's. A row of a kind this process has no renderer for is a
    ``TemporaryFailure``: during a rolling upgrade another worker may know it (and the
    row still expires in time)."""

    def __init__(self, by_kind: Mapping[MessageKind, Renderer]) -> None:
        self._by_kind = {MessageKind(kind): renderer for kind, renderer in by_kind.items()}

    def get(self, kind: str) -> Renderer | None:
        """The renderer of ``kind`` (a ``MessageKind`` or a row's ``kind`` text), if any."""
        return self._by_kind.get(kind)  # type: ignore[call-overload]  # StrEnum: str keys

    def __iter__(self) -> Iterator[MessageKind]:
        return iter(self._by_kind)

    def prepare(self, batch: Sequence[Message]) -> None:
        """Each renderer prepares its own rows (kinds without a renderer are left out)."""
        by_renderer: dict[int, tuple[Renderer, list[Message]]] = {}
        for message in batch:
            renderer = self.get(message.kind)
            if renderer is not None:
                by_renderer.setdefault(id(renderer), (renderer, []))[1].append(message)
        for renderer, messages in by_renderer.values():
            renderer.prepare(messages)

    def render(self, message: Message, now: datetime) -> RawEmail:
        renderer = self.get(message.kind)
        if renderer is None:
            raise TemporaryFailure(f"no renderer for messages of kind {message.kind!r} here")
        return renderer.render(message, now)


def registry(sources: Sources) -> Renderers:
    """Every kind's renderer, reading ``sources`` (``Sources.of(runtime)``)."""
    subscription, notice = SubscriptionRenderer(sources), NoticeRenderer(sources)
    return Renderers({
        MessageKind.TEST: SendTestRenderer(sources.settings),
        MessageKind.CONFIRM: subscription,
        MessageKind.WELCOME: subscription,
        MessageKind.REMINDER: ReminderRenderer(sources),
        MessageKind.ATTENDANCE_CHANGE: notice,
        MessageKind.SCHEDULE_CHANGE: notice,
        MessageKind.CHANGES: notice,
    })


# --- test ---------------------------------------------------------------------------------

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


class SendTestRenderer:
    """Kind ``test`` (``summitcal send-test``): the sender and the service's URL only."""

    def __init__(self, config: SenderSettings) -> None:
        self.sender = config.mail.sender
        self.base_url = config.service.base_url

    def prepare(self, batch: Sequence[Message]) -> None:
        """Nothing to load."""

    def render(self, message: Message, now: datetime) -> RawEmail:
        return make_test_message(sender=self.sender, recipient=message.recipient,
                                 key=message.key, date=now, base_url=self.base_url)


# --- the subscriber's kinds ---------------------------------------------------------------

class SubscriberRenderer:
    """Rows addressed to a subscriber: their zone and links, the current schedule (see
    the module doc). Subclasses give ``context`` and, if not only confirmed subscribers
    get the kind, ``statuses``."""

    statuses: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.sender = sources.sender
        self.base_url = sources.base_url
        self._local = threading.local()

    def context(self, message: Message, subscriber: subs.Subscriber, links: subs.Links,
                schedule: Schedule, now: datetime) -> Context:
        """The message's context, or ``Withdrawn``."""
        raise NotImplementedError

    def prepare(self, batch: Sequence[Message]) -> None:
        ids = sorted({m.subscriber_id for m in batch if m.subscriber_id is not None})
        with self.sources.engine.connect() as connection:
            found = subs.get_many(connection, ids)
        self._local.prepared = {m.id: found.get(m.subscriber_id) for m in batch
                                if m.subscriber_id is not None}
        self._local.schedule = self.sources.snapshot().schedule

    def render(self, message: Message, now: datetime) -> RawEmail:
        subscriber, schedule = self._subscriber(message)
        wanted = self.statuses.get(message.kind, ("confirmed",))
        if subscriber is None or subscriber.status not in wanted:
            raise Withdrawn(f"the subscriber is gone or no longer {' or '.join(wanted)}")
        links = subscriber.links(self.sources.settings)
        context = self.context(message, subscriber, links, schedule, now)
        return compose(context, sender=self.sender, recipient=message.recipient,
                       key=message.key, date=now, base_url=self.base_url,
                       unsubscribe_url=links.unsubscribe)

    def _subscriber(self, message: Message) -> tuple[subs.Subscriber | None, Schedule]:
        """The row's subscriber (None: gone) and the schedule, as prepared or loaded now."""
        prepared: dict[int, subs.Subscriber | None] = getattr(self._local, "prepared", {})
        if message.id in prepared:
            return prepared.pop(message.id), self._local.schedule
        subscriber = None
        if message.subscriber_id is not None:
            with self.sources.engine.connect() as connection:
                subscriber = subs.get(connection, message.subscriber_id)
        return subscriber, self.sources.snapshot().schedule


class SubscriptionRenderer(SubscriberRenderer):
    """``confirm`` (to a pending subscriber; a bouncing one who signs up again is sent
    one too) and ``welcome`` (to a confirmed one)."""

    statuses = {MessageKind.CONFIRM: ("pending", "bouncing")}

    def context(self, message: Message, subscriber: subs.Subscriber, links: subs.Links,
                schedule: Schedule, now: datetime) -> Context:
        if message.kind == MessageKind.CONFIRM:
            return Confirm(links.confirm)
        chosen = subscriber.preferences
        return Welcome(links.feed, links.manage, chosen.timezone, chosen.follows,
                       chosen.reminders, chosen.notices, schedule,
                       message.payload.get("how", "confirmed"))


class ReminderRenderer(SubscriberRenderer):
    """``reminder``: the session as it is now, while the subscriber still asks for this
    offset and follows the session (``plans.reminder_context`` says when it is moot)."""

    def context(self, message: Message, subscriber: subs.Subscriber, links: subs.Links,
                schedule: Schedule, now: datetime) -> Context:
        chosen = subscriber.preferences
        context = plans.reminder_context(message.payload, schedule=schedule,
                                         zone=chosen.timezone, manage_url=links.manage,
                                         now=now)
        if context.offset not in chosen.reminders:
            raise Withdrawn("the subscriber no longer asks for this reminder")
        if not any(Follow.parse(spec).covers(context.session) for spec in chosen.follows):
            raise Withdrawn("the subscriber no longer follows this session")
        return context


class NoticeRenderer(SubscriberRenderer):
    """``attendance_change``, ``schedule_change`` and ``changes``: the parts the
    subscriber still asks for."""

    WANTED: ClassVar[dict[str, tuple[str, ...]]] = {
        **{kind: (notice,) for notice, kind in notices.KINDS.items()},
        notices.MERGED: tuple(notices.KINDS)}

    def context(self, message: Message, subscriber: subs.Subscriber, links: subs.Links,
                schedule: Schedule, now: datetime) -> Context:
        wanted = self.WANTED[message.kind]
        parts = [n for n in wanted if n in subscriber.preferences.notices]
        if not parts:
            raise Withdrawn(f"the subscriber no longer asks for {' or '.join(wanted)} notices")
        return notices.notice_context(message.kind, message.payload, schedule=schedule,
                                      zone=subscriber.preferences.timezone,
                                      manage_url=links.manage, parts=parts)

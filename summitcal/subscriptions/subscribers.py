"""Subscribers: who gets reminders and notices, what they follow, and their links.

Three parts, used alike by the HTTP API, the pages and the CLI:

- checks: ``normalize_email`` and ``check_preferences`` turn raw input into
  ``Preferences`` or raise ``InvalidInput`` naming the field (``follow.2``);
- data access on an open connection: ``get``, ``by_email``, ``by_token``, ``listing``;
- the life of a subscription — ``sign_up``, ``confirm``, ``update``, ``rotate_feed``,
  ``unsubscribe``, ``add``, ``remove`` — each run inside the caller's
  ``core.database.writing`` transaction, so the message it queues in the outbox
  (confirm, welcome) commits or rolls back with the change that caused it;
- public sign-ups in two steps: ``request_sign_up`` (what an HTTP request does: one
  INSERT, the same whatever the address, so its timing tells nothing) and
  ``process_sign_ups`` (after the answer: ``sign_up`` for each, within ``SignUpLimits``);
- bounces: ``record_bounce`` counts permanent refusals in a row and marks a confirmed
  subscriber ``bouncing`` at the threshold (no more mail); ``clear_bounces`` after a
  delivery; a new confirmation (``confirm``) makes a bouncing subscriber confirmed again.

Tokens are ``subscriptions.tokens`` tokens: ``feed`` carries ``feed_token_version``; ``confirm``,
``manage`` and ``unsubscribe`` carry ``manage_token_version``. Unsubscribing bumps both,
so every older link dies; rotating the feed bumps the feed version only. ``links`` makes
every URL from the id and the two versions, at render time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.engine import Connection, Row

from summitcal.core.durations import format_duration, parse_duration
from summitcal.core.errors import InvalidInput, NotFound
from summitcal.core.localtime import known_zone
from summitcal.core.settings import MailSection, ServiceSection
from summitcal.mail import outbox
from summitcal.subscriptions import tables as st
from summitcal.subscriptions.tables import SubscriberStatus
from summitcal.subscriptions.tokens import make_token, read_token
from summitcal.summits.follow import Follow, FollowKind
from summitcal.summits.model import Schedule

NOTICE_KINDS = st.NOTICE_KINDS
LANGUAGES = ("en",)
MAX_REMINDERS = 5
MAX_OFFSET = timedelta(days=30)
MAX_FOLLOWS = 100
PROMPT_INTERVAL = timedelta(hours=1)  # at most one sign-up mail per address per hour
#: How a welcome mail came about (its payload's ``how``): the subscriber confirmed, an
#: operator added them confirmed, or a sign-up for an address already subscribed.
WELCOME_REASONS = ("confirmed", "operator", "again")
CONFIRM_EXPIRY = timedelta(days=1)
WELCOME_EXPIRY = timedelta(days=7)


# --- checks ------------------------------------------------------------------------------


def normalize_email(text: object) -> str:
    """The address as stored: email-validator's normal form (no DNS), lower-cased."""
    if not isinstance(text, str):
        raise InvalidInput("email: expected a string", "email")
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise InvalidInput(f"email: {text!r} is not a valid address: {error}", "email") from None


def _check_exists(schedule: Schedule, follow: Follow) -> None:
    known: dict[str, Any] = {
        "summit": schedule.summits,
        "organization": schedule.organizations,
        "participant": schedule.participants,
    }
    if follow.kind == FollowKind.SESSION:
        if (follow.summit, follow.target) not in schedule.sessions:
            raise ValueError(f"unknown session {follow.summit}/{follow.target}")
    elif follow.kind != FollowKind.ALL and follow.target not in known[follow.kind]:
        raise ValueError(f"unknown {follow.kind} {follow.target!r}")


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a subscriber chose; checked and in canonical form."""

    timezone: str
    follows: tuple[str, ...]
    reminders: tuple[timedelta, ...]  # distinct, longest first
    notices: tuple[str, ...]  # in NOTICE_KINDS order
    language: str = "en"

    @property
    def reminder_texts(self) -> list[str]:
        return [format_duration(r) for r in self.reminders]


def check_preferences(
    schedule: Schedule,
    *,
    timezone: object,
    follow: object,
    reminders: object = None,
    notices: object = None,
    language: object = None,
    default_reminders: Sequence[timedelta] = (),
) -> Preferences:
    """Check raw input (``None``: the default) against the current schedule."""
    if not known_zone(timezone):
        raise InvalidInput(f"timezone: {timezone!r} is not an IANA time zone such as "
                           "'Europe/Moscow'", "timezone")
    language = "en" if language is None else language
    if language not in LANGUAGES:
        raise InvalidInput(f"language: {language!r} is not supported (expected one of: "
                           f"{', '.join(LANGUAGES)})", "language")
    return Preferences(
        timezone=str(timezone),
        follows=_check_follows(schedule, follow),
        reminders=(tuple(sorted(set(default_reminders), reverse=True)) if reminders is None
                   else _check_reminders(reminders)),
        notices=NOTICE_KINDS if notices is None else _check_notices(notices),
        language=str(language),
    )


def _check_follows(schedule: Schedule, follow: object) -> tuple[str, ...]:
    if not isinstance(follow, list) or not follow:
        raise InvalidInput("follow: expected a non-empty list such as [\"all\"] or "
                           "[\"summit:astana-2024\"]", "follow")
    if len(follow) > MAX_FOLLOWS:
        raise InvalidInput(f"follow: at most {MAX_FOLLOWS} items", "follow")
    chosen: dict[str, None] = {}
    for index, item in enumerate(follow):
        try:
            parsed = Follow.parse(item)
            _check_exists(schedule, parsed)
        except ValueError as error:
            raise InvalidInput(f"follow.{index}: {error}", f"follow.{index}") from None
        chosen[str(parsed)] = None
    return tuple(chosen)


def _check_reminders(reminders: object) -> tuple[timedelta, ...]:
    if not isinstance(reminders, list):
        raise InvalidInput("reminders: expected a list of ISO 8601 durations such as "
                           "[\"P1D\", \"PT1H\"]", "reminders")
    if len(reminders) > MAX_REMINDERS:
        raise InvalidInput(f"reminders: at most {MAX_REMINDERS}", "reminders")
    seen: set[timedelta] = set()
    for index, text in enumerate(reminders):
        field = f"reminders.{index}"
        try:
            offset = parse_duration(text)
        except ValueError as error:
            raise InvalidInput(f"{field}: {error}", field) from None
        if not timedelta(0) < offset <= MAX_OFFSET:
            raise InvalidInput(f"{field}: {text!r} must be more than zero and at most "
                               f"{format_duration(MAX_OFFSET)}", field)
        if offset in seen:
            raise InvalidInput(f"{field}: {text!r} repeats an earlier reminder", field)
        seen.add(offset)
    return tuple(sorted(seen, reverse=True))


def _check_notices(notices: object) -> tuple[str, ...]:
    if not isinstance(notices, list):
        raise InvalidInput("notices: expected a list, a subset of [\"attendance\", "
                           "\"schedule\"]", "notices")
    for index, kind in enumerate(notices):
        if kind not in NOTICE_KINDS:
            raise InvalidInput(f"notices.{index}: {kind!r} is not one of "
                               f"{', '.join(NOTICE_KINDS)}", f"notices.{index}")
    return tuple(k for k in NOTICE_KINDS if k in notices)


# --- links -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Links:
    confirm: str
    manage: str
    unsubscribe: str
    feed: str

    @property
    def feed_webcal(self) -> str:
        return "webcal://" + self.feed.split("://", 1)[1]


class LinkSettings(Protocol):
    """What links are made from (``summitcal.app.config.Config`` is one): the secret key
    that signs tokens and the service's public URL."""

    @property
    def service(self) -> ServiceSection: ...

    def secret_key(self) -> str: ...


def links(config: LinkSettings, subscriber_id: int, feed_version: int,
          manage_version: int) -> Links:
    """Every link of one subscriber, as in emails and pages."""
    secret, base = config.secret_key(), config.service.base_url

    def token(purpose: str, version: int) -> str:
        return make_token(secret, purpose, subscriber_id, version)

    return Links(
        confirm=f"{base}/subscriptions/confirm/{token('confirm', manage_version)}",
        manage=f"{base}/subscriptions/manage/{token('manage', manage_version)}",
        unsubscribe=f"{base}/subscriptions/unsubscribe/{token('unsubscribe', manage_version)}",
        feed=f"{base}/feeds/private/{token('feed', feed_version)}.ics",
    )


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    status: SubscriberStatus
    preferences: Preferences
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    prompted_at: datetime | None
    feed_token_version: int
    manage_token_version: int
    bounces: int = 0

    def links(self, config: LinkSettings) -> Links:
        return links(config, self.id, self.feed_token_version, self.manage_token_version)


def _subscriber(row: Row, follows: Iterable[str]) -> Subscriber:
    return Subscriber(
        id=row.id, email=row.email, status=SubscriberStatus(row.status),
        preferences=Preferences(
            timezone=row.timezone, follows=tuple(follows),
            reminders=tuple(parse_duration(r) for r in row.reminders),
            notices=tuple(row.notices), language=row.language),
        created_at=row.created_at, updated_at=row.updated_at, confirmed_at=row.confirmed_at,
        unsubscribed_at=row.unsubscribed_at, prompted_at=row.prompted_at,
        feed_token_version=row.feed_token_version,
        manage_token_version=row.manage_token_version,
        bounces=row.bounces,
    )


def _follows_of(connection: Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    f = st.subscriber_follows
    found: dict[int, list[str]] = {i: [] for i in ids}
    query = sa.select(f.c.subscriber_id, f.c.kind, f.c.summit, f.c.target).order_by(f.c.id)
    if len(ids) == 1:
        query = query.where(f.c.subscriber_id == ids[0])
    for row in connection.execute(query):
        if row.subscriber_id in found:
            found[row.subscriber_id].append(str(Follow.of_row(row)))
    return found


def _one(connection: Connection, condition: Any) -> Subscriber | None:
    row = connection.execute(sa.select(st.subscribers).where(condition)).first()
    if row is None:
        return None
    return _subscriber(row, _follows_of(connection, [row.id])[row.id])


def get(connection: Connection, subscriber_id: int) -> Subscriber | None:
    return _one(connection, st.subscribers.c.id == subscriber_id)


def get_many(connection: Connection, ids: Sequence[int]) -> dict[int, Subscriber]:
    """The subscribers with these ids (two queries, whatever their number); absent ids
    are left out."""
    if not ids:
        return {}
    rows = connection.execute(sa.select(st.subscribers).where(st.subscribers.c.id.in_(ids))).all()
    f = st.subscriber_follows
    follows: dict[int, list[str]] = {row.id: [] for row in rows}
    for row in connection.execute(
            sa.select(f.c.subscriber_id, f.c.kind, f.c.summit, f.c.target)
            .where(f.c.subscriber_id.in_(ids)).order_by(f.c.id)):
        follows[row.subscriber_id].append(str(Follow.of_row(row)))
    return {row.id: _subscriber(row, follows[row.id]) for row in rows}


def by_email(connection: Connection, email: str) -> Subscriber | None:
    """The subscriber with ``email`` (normalised first; InvalidInput when malformed)."""
    return _one(connection, st.subscribers.c.email == normalize_email(email))


def by_token(connection: Connection, secret: str, purpose: str, token: str) -> Subscriber | None:
    """The subscriber a genuine, current ``purpose`` token names; otherwise None.

    Current means the version in the token is the subscriber's (feed version for
    ``feed``, manage version otherwise). One exception keeps one-click unsubscribing
    idempotent: an older ``unsubscribe`` token still finds a subscriber who is already
    unsubscribed (the caller then changes nothing).
    """
    try:
        read = read_token(secret, purpose, token)
    except ValueError:  # read_token lets int("²") through (str.isdigit accepts it)
        return None
    if read is None:
        return None
    subscriber = get(connection, read[0])
    if subscriber is None:
        return None
    version = read[1]
    if purpose == "feed":
        return subscriber if version == subscriber.feed_token_version else None
    if version == subscriber.manage_token_version:
        return subscriber
    if purpose == "unsubscribe" and subscriber.status == SubscriberStatus.UNSUBSCRIBED \
            and version < subscriber.manage_token_version:
        return subscriber
    return None


def listing(connection: Connection, status: str | None = None) -> list[Subscriber]:
    """Every subscriber (or those with ``status``), by id."""
    query = sa.select(st.subscribers).order_by(st.subscribers.c.id)
    if status is not None:
        query = query.where(st.subscribers.c.status == status)
    rows = connection.execute(query).all()
    follows = _follows_of(connection, [r.id for r in rows]) if rows else {}
    return [_subscriber(r, follows[r.id]) for r in rows]


# --- writing -----------------------------------------------------------------------------


def _preference_values(prefs: Preferences) -> dict[str, Any]:
    return {"timezone": prefs.timezone, "language": prefs.language,
            "reminders": prefs.reminder_texts, "notices": list(prefs.notices)}


def _store_choices(connection: Connection, subscriber_id: int, prefs: Preferences) -> None:
    """Replace the follow and offset rows with ``prefs``."""
    f, o = st.subscriber_follows, st.subscriber_offsets
    connection.execute(sa.delete(f).where(f.c.subscriber_id == subscriber_id))
    connection.execute(sa.delete(o).where(o.c.subscriber_id == subscriber_id))
    connection.execute(sa.insert(f), [
        {"subscriber_id": subscriber_id, **Follow.parse(text).as_row()}
        for text in prefs.follows])
    if prefs.reminders:
        connection.execute(sa.insert(o), [
            {"subscriber_id": subscriber_id, "offset_seconds": int(r.total_seconds())}
            for r in prefs.reminders])


def _set(connection: Connection, subscriber_id: int, **values: Any) -> None:
    connection.execute(
        sa.update(st.subscribers).where(st.subscribers.c.id == subscriber_id).values(**values))


def _insert(connection: Connection, email: str, prefs: Preferences, now: datetime) -> int:
    subscriber_id = connection.execute(sa.insert(st.subscribers).values(
        email=email, status=SubscriberStatus.PENDING, created_at=now, updated_at=now,
        **_preference_values(prefs)).returning(st.subscribers.c.id)).scalar_one()
    _store_choices(connection, subscriber_id, prefs)
    return subscriber_id


def update(connection: Connection, subscriber: Subscriber, prefs: Preferences,
           now: datetime) -> None:
    """Replace a subscriber's choices (the manage page)."""
    _set(connection, subscriber.id, updated_at=now, **_preference_values(prefs))
    _store_choices(connection, subscriber.id, prefs)


def rotate_feed(connection: Connection, subscriber: Subscriber, now: datetime) -> None:
    """A new private feed link; the old one answers 404 from now on."""
    _set(connection, subscriber.id, updated_at=now,
         feed_token_version=subscriber.feed_token_version + 1)


# --- the life of a subscription (queues mail) --------------------------------------------


def _queue(connection: Connection, kind: str, key: str, subscriber_id: int, email: str,
           now: datetime, expiry: timedelta, how: str | None = None) -> bool:
    payload: dict[str, Any] = {"subscriber_id": subscriber_id}
    if how is not None:
        payload["how"] = how
    return outbox.enqueue(connection, kind=kind, key=key, recipient=email,
                          subscriber_id=subscriber_id, payload=payload,
                          due_at=now, expires_at=now + expiry, now=now)


def _prompt(connection: Connection, subscriber_id: int, email: str, kind: str,
            version: int, now: datetime) -> bool:
    key = f"{kind}:{subscriber_id}:v{version}:{now.strftime('%Y%m%dT%H%M%S.%fZ')}"
    expiry = CONFIRM_EXPIRY if kind == "confirm" else WELCOME_EXPIRY
    _set(connection, subscriber_id, prompted_at=now)
    return _queue(connection, kind, key, subscriber_id, email, now, expiry,
                  "again" if kind == "welcome" else None)


def _may_prompt(subscriber: Subscriber, now: datetime) -> bool:
    last = subscriber.prompted_at
    return last is None or not (last <= now < last + PROMPT_INTERVAL)


def sign_up(connection: Connection, email: str, prefs: Preferences, now: datetime, *,
            client: str | None = None, limits: SignUpLimits | None = None) -> str:
    """A sign-up from the public form or API; says what happened (never shown to callers).

    New address: pending, confirm mail. Pending: choices replaced, confirm mail again.
    Unsubscribed: back to pending with the new choices, confirm mail. Confirmed: nothing
    changes; the welcome mail (feed and manage links) again. Bouncing: nothing changes;
    a confirm mail, whose link makes it confirmed again. The mail goes out at most once an
    hour per address ("throttled") and within ``limits`` (per mailbox, per ``client``,
    overall: "limited"); ``email`` must be normalised already.
    """
    existing = _one(connection, st.subscribers.c.email == email)
    if existing is None:
        subscriber_id = _insert(connection, email, prefs, now)
        if not _within(connection, email, client, now, limits):
            return "limited"
        _prompt(connection, subscriber_id, email, "confirm", 1, now)
        return "created"
    if existing.status in (SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED):
        update(connection, existing, prefs, now)
        _set(connection, existing.id, status=SubscriberStatus.PENDING)
    if not _may_prompt(existing, now):
        return "throttled"
    if not _within(connection, email, client, now, limits):
        return "limited"
    if existing.status == SubscriberStatus.CONFIRMED:
        _prompt(connection, existing.id, email, "welcome", existing.manage_token_version, now)
        return "reminded"
    _prompt(connection, existing.id, email, "confirm", existing.manage_token_version, now)
    return "resent"


def confirm(connection: Connection, subscriber: Subscriber, now: datetime,
            how: str = "confirmed") -> bool:
    """Pending (or bouncing) → confirmed, with the welcome mail; bounces forgotten. False
    (and nothing done) otherwise. ``how`` (``WELCOME_REASONS``) tells the welcome mail
    what happened: the subscriber confirmed, or an operator added them confirmed."""
    if subscriber.status not in (SubscriberStatus.PENDING, SubscriberStatus.BOUNCING):
        return False
    _set(connection, subscriber.id, status=SubscriberStatus.CONFIRMED, confirmed_at=now,
         updated_at=now, bounces=0)
    key = f"welcome:{subscriber.id}:v{subscriber.manage_token_version}"
    if subscriber.status == SubscriberStatus.BOUNCING:
        key += f":{now.strftime('%Y%m%dT%H%M%S.%fZ')}"  # confirmed again: a welcome again
    _queue(connection, "welcome", key, subscriber.id, subscriber.email, now, WELCOME_EXPIRY,
           how)
    return True


def unsubscribe(connection: Connection, subscriber: Subscriber, now: datetime) -> bool:
    """Unsubscribed at once; every older link dies. False when it already was."""
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return False
    _set(connection, subscriber.id, status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=now,
         updated_at=now, manage_token_version=subscriber.manage_token_version + 1,
         feed_token_version=subscriber.feed_token_version + 1)
    _cancel_mail(connection, subscriber.id, "the subscriber unsubscribed", now)
    return True


def add(connection: Connection, email: str, prefs: Preferences, now: datetime,
        confirmed: bool = False) -> Subscriber:
    """An operator adds an address: confirmed at once (a welcome mail saying an operator
    added it) or pending (confirm mail). An unsubscribed address comes back; any other
    known one is an error."""
    email = normalize_email(email)
    existing = _one(connection, st.subscribers.c.email == email)
    if existing is not None and existing.status != SubscriberStatus.UNSUBSCRIBED:
        raise InvalidInput(f"{email} is already a subscriber ({existing.status})", "email")
    if existing is None:
        subscriber_id, version = _insert(connection, email, prefs, now), 1
    else:
        subscriber_id, version = existing.id, existing.manage_token_version
        update(connection, existing, prefs, now)
        _set(connection, subscriber_id, status=SubscriberStatus.PENDING)
    pending = get(connection, subscriber_id)
    assert pending is not None
    if confirmed:
        confirm(connection, pending, now, how="operator")
    else:
        _prompt(connection, subscriber_id, email, "confirm", version, now)
    found = get(connection, subscriber_id)
    assert found is not None
    return found


def remove(connection: Connection, email: str, now: datetime) -> Subscriber:
    """Delete a subscriber with their follows and offsets; their unsent mail is cancelled."""
    found = by_email(connection, email)
    if found is None:
        raise NotFound("subscriber", normalize_email(email))
    _cancel_mail(connection, found.id, "the subscriber was removed", now)
    connection.execute(sa.delete(st.subscribers).where(st.subscribers.c.id == found.id))
    return found


def _cancel_mail(connection: Connection, subscriber_id: int, reason: str,
                 now: datetime) -> None:
    outbox.cancel_for_subscriber(connection, subscriber_id, reason, now)


# --- bounces -----------------------------------------------------------------------------


def record_bounce(connection: Connection, subscriber_id: int, error: str, now: datetime,
                  threshold: int) -> bool:
    """One more permanent refusal (5xx) of the subscriber's address, in the caller's
    transaction. At ``threshold`` refusals in a row a confirmed subscriber becomes
    ``bouncing``: their open mail is cancelled and no more is queued (plans and notices
    take confirmed subscribers only) until they confirm again. True when it became so."""
    s = st.subscribers
    connection.execute(sa.update(s).where(s.c.id == subscriber_id).values(
        bounces=s.c.bounces + 1, bounced_at=now, last_bounce=error[:2000]))
    row = connection.execute(sa.select(s.c.status, s.c.bounces)
                             .where(s.c.id == subscriber_id)).first()
    if row is None or row.status != SubscriberStatus.CONFIRMED or row.bounces < threshold:
        return False
    _set(connection, subscriber_id, status=SubscriberStatus.BOUNCING, updated_at=now)
    _cancel_mail(connection, subscriber_id,
                 f"the address is bouncing ({row.bounces} permanent refusals in a row)", now)
    return True


def clear_bounces(connection: Connection, subscriber_ids: Iterable[int]) -> int:
    """Mail to these subscribers was accepted: their count of refusals in a row starts
    again (a bouncing subscriber stays so until they confirm). Returns how many rows."""
    ids = sorted(set(subscriber_ids))
    if not ids:
        return 0
    s = st.subscribers
    return connection.execute(sa.update(s).where(s.c.id.in_(ids), s.c.bounces > 0,
                                                 s.c.status != SubscriberStatus.BOUNCING)
                              .values(bounces=0)).rowcount


def counts(connection: Connection) -> dict[str, int]:
    """How many subscribers are in each status (every status, zeros included)."""
    s = st.subscribers
    found = {status: count for status, count in connection.execute(
        sa.select(s.c.status, sa.func.count()).group_by(s.c.status))}
    return {status: found.get(status, 0) for status in st.SUBSCRIBER_STATUSES}


# --- public sign-ups: queued by the web, processed after the answer, rate-limited ---------


@dataclass(frozen=True, slots=True)
class SignUpLimits:
    """How much mail public sign-ups may cause within ``window``: per mailbox (sub-
    addresses folded, see ``mailbox``), per client (IP address) and overall. Defaults are
    the ``[mail]`` ``signup_limit_*`` keys'."""

    per_mailbox: int = 5
    per_client: int = 20
    total: int = 1000
    window: timedelta = timedelta(days=1)

    @classmethod
    def from_section(cls, mail: MailSection) -> SignUpLimits:
        """The limits ``[mail]`` sets (``signup_limit_*``)."""
        return cls(mail.signup_limit_mailbox, mail.signup_limit_client,
                   mail.signup_limit_total, mail.signup_limit_window)


def mailbox(email: str) -> str:
    """The mailbox an address delivers to, for rate limits: the sub-address (``+tag``,
    RFC 5233) dropped, lower-cased — ``Victim+30@Example.org`` → ``victim@example.org``.
    (Providers with other conventions, such as dots in Gmail, are not folded.)"""
    local, at, domain = email.rpartition("@")
    if not at:
        return email.lower()
    return f"{local.split('+', 1)[0] or local}@{domain}".lower()


def _within(connection: Connection, email: str, client: str | None, now: datetime,
            limits: SignUpLimits | None) -> bool:
    """Whether one more sign-up mail fits ``limits``; if so it is logged (counted)."""
    if limits is None:
        return True
    m, since, box = st.signup_mail, now - limits.window, mailbox(email)
    connection.execute(sa.delete(m).where(m.c.sent_at <= since))

    def used(*where: Any) -> int:
        return connection.scalar(sa.select(sa.func.count()).select_from(m).where(
            m.c.sent_at > since, *where)) or 0

    if (used(m.c.mailbox == box) >= limits.per_mailbox or used() >= limits.total
            or (client is not None and used(m.c.client == client) >= limits.per_client)):
        return False
    connection.execute(sa.insert(m).values(mailbox=box, client=client, sent_at=now))
    return True


def request_sign_up(connection: Connection, email: str, prefs: Preferences,
                    client: str | None, now: datetime) -> int:
    """Queue a public sign-up (``email`` normalised, ``prefs`` checked): one INSERT, the
    same whatever the address's state, so that how long a request takes tells nothing
    about the address. ``process_sign_ups`` does the rest. Returns the request's id."""
    choices = {**_preference_values(prefs), "follows": list(prefs.follows)}
    return connection.execute(sa.insert(st.signup_requests).values(
        email=email, client=(client or None) and client[:64], choices=choices,
        received_at=now).returning(st.signup_requests.c.id)).scalar_one()


def process_sign_ups(connection: Connection, now: datetime, limits: SignUpLimits | None,
                     limit: int = 100) -> list[tuple[str, str]]:
    """``sign_up`` for the oldest queued requests (at most ``limit``), each removed as it
    is done, in the caller's write transaction; returns (email, what happened) per
    request. Two processes never handle the same request (the write transaction holds the
    writers' lock)."""
    r = st.signup_requests
    found = connection.execute(sa.select(r).order_by(r.c.id).limit(limit)).all()
    if not found:
        return []
    connection.execute(sa.delete(r).where(r.c.id.in_([row.id for row in found])))
    done = []
    for row in found:
        choices = row.choices
        prefs = Preferences(
            timezone=choices["timezone"], follows=tuple(choices["follows"]),
            reminders=tuple(parse_duration(text) for text in choices["reminders"]),
            notices=tuple(choices["notices"]), language=choices["language"])
        done.append((row.email, sign_up(connection, row.email, prefs, now, client=row.client,
                                        limits=limits)))
    return done

"""Delivery: worker threads that claim due outbox rows, render them and send them.

    delivery = Delivery(engine, config, Composer({"test": make_test_renderer(config), ...}))
    delivery.start()      # mail.workers threads, each with its own transport
    delivery.wake()       # something became due: claim now instead of at the next poll
    delivery.stop()       # finish the messages in flight, give back the rest, close

Each worker loops: claim a batch (``scheduler.outbox.claim``, leased to it), and for each
row render it (``compose_fn(message, now) -> EmailMessage``), send it on the worker's own
transport (one SMTP connection reused for many messages), and record the outcome:

* accepted → ``sent`` with the Message-ID, recorded only after the server said 250;
* ``TemporaryFailure`` (no connection, 4xx) → ``pending`` again after a growing,
  jittered delay, or ``expired`` once that would pass the row's expiry; when the server
  is unreachable the rest of the batch is deferred alike without trying each message;
* ``PermanentFailure`` (5xx for this message) → ``failed``, the others go on;
* a renderer raising ``Skip`` → ``cancelled``/``expired`` (nothing to send any more);
  a database error while rendering → retried; any other rendering error → ``failed``
  with the error (logged with its traceback). The loop itself never dies.

A worker that dies mid-batch (kill -9) leaves rows ``sending``; once their lease runs out
any worker claims them again. So every due message goes out at least once, and twice
only if the process died between the server's acceptance and the record of it — with
the same Message-ID, derived from the row's key.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from html import escape
from secrets import token_hex
from typing import Any, Self

from sqlalchemy.exc import SQLAlchemyError

from scheduler import outbox
from scheduler.compose import POLICY, default_list_id, message_id
from scheduler.outbox import Message, RetryPolicy
from scheduler.transport import PermanentFailure, TemporaryFailure, Transport

log = logging.getLogger("summitcal.delivery")

ComposeFn = Callable[[Message, datetime], EmailMessage]
Renderer = ComposeFn


class Skip(Exception):
    """Raised by a renderer: this message must not be sent any more (``status``
    ``cancelled``, e.g. the subscriber left, or ``expired``, e.g. the session started)."""

    def __init__(self, reason: str, status: str = "cancelled") -> None:
        super().__init__(reason)
        self.status = status


class Composer:
    """A ``compose_fn`` choosing a renderer by the row's ``kind``.

    A kind this process has no renderer for is a temporary failure: during a rolling
    upgrade another worker may know it (and the row still expires in time).
    """

    def __init__(self, renderers: Mapping[str, Renderer]) -> None:
        self.renderers = dict(renderers)

    def __call__(self, message: Message, now: datetime) -> EmailMessage:
        renderer = self.renderers.get(message.kind)
        if renderer is None:
            raise TemporaryFailure(f"no renderer for messages of kind {message.kind!r} here")
        return renderer(message, now)


# --- the test message ---------------------------------------------------------------------

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


def make_test_renderer(config: Any) -> Renderer:
    """The renderer of kind ``test`` for a ``summitcal.config.Config``."""

    def render(message: Message, now: datetime) -> EmailMessage:
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
    is gone or in another state by then gets nothing (``Skip``)."""
    from scheduler.compose import compose
    from scheduler.messages import Confirm, Welcome
    from summits import subscribers

    def render(message: Message, now: datetime) -> EmailMessage:
        subscriber = None
        if message.subscriber_id is not None:
            with runtime.store.engine.connect() as connection:
                subscriber = subscribers.get(connection, message.subscriber_id)
        wanted = "pending" if message.kind == "confirm" else "confirmed"
        if subscriber is None or subscriber.status != wanted:
            raise Skip(f"the subscriber is gone or no longer {wanted}")
        config, links, chosen = runtime.config, subscriber.links(runtime.config), \
            subscriber.preferences
        context: Confirm | Welcome = Confirm(links.confirm) if message.kind == "confirm" else \
            Welcome(links.feed, links.manage, chosen.timezone, chosen.follows,
                    chosen.reminders, chosen.notices, runtime.snapshot().schedule)
        return compose(context, sender=getattr(config.mail, "from"),
                       recipient=message.recipient, key=message.key, date=now,
                       base_url=config.service.base_url, unsubscribe_url=links.unsubscribe)

    return render


# --- one message --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one row: its new status, the Message-ID sent, the error."""

    status: str | None  # sent, pending, failed, expired, cancelled; None: row lost meanwhile
    message_id: str | None = None
    error: str | None = None
    unreachable: bool = False  # the server could not be reached: defer the rest


def deliver(engine: Any, message: Message, compose_fn: ComposeFn, transport: Transport, *,
            owner: str, now: datetime, base_url: str, policy: RetryPolicy = outbox.DEFAULT_POLICY,
            retry: bool = True) -> Outcome:
    """Render, send and record one claimed row. ``retry=False`` (a synchronous test send)
    records a temporary failure as ``failed`` instead of queueing another attempt."""
    try:
        email = compose_fn(message, now)
        _check_envelope(email, message)
        if email["Message-ID"] is None:
            email["Message-ID"] = message_id(message.key, base_url)
    except Skip as skip:
        _record(outbox.mark_closed, engine, message.id, skip.status, str(skip), owner=owner)
        return Outcome(skip.status, error=str(skip))
    except TemporaryFailure as failure:
        return _failed(engine, message, f"cannot render: {failure}", owner, policy, retry)
    except PermanentFailure as failure:
        return _failed(engine, message, f"cannot render: {failure}", owner, policy, False)
    except SQLAlchemyError as error:
        text = f"cannot render: database error: {_first_line(error)}"
        return _failed(engine, message, text, owner, policy, retry)
    except Exception as error:  # a bug or bad payload: this message only
        log.exception("outbox message %s (%s) cannot be rendered", message.id, message.kind)
        text = f"cannot render: {type(error).__name__}: {error}"
        return _failed(engine, message, text, owner, policy, False)
    sent_id = str(email["Message-ID"])
    try:
        transport.send(email)
    except TemporaryFailure as failure:
        outcome = _failed(engine, message, str(failure), owner, policy, retry)
        return Outcome(outcome.status, error=outcome.error,
                       unreachable=failure.code is None or failure.code == 421)
    except PermanentFailure as failure:
        return _failed(engine, message, str(failure), owner, policy, False)
    except Exception as error:  # not the transport's contract: may or may not have gone
        log.exception("outbox message %s: unexpected error while sending", message.id)
        return _failed(engine, message, f"{type(error).__name__}: {error}", owner, policy,
                       False)
    _record(outbox.mark_sent, engine, message.id, sent_id)
    return Outcome("sent", sent_id)


def _failed(engine: Any, message: Message, error: str, owner: str, policy: RetryPolicy,
            retry: bool) -> Outcome:
    if retry:
        status = _record(outbox.mark_retry, engine, message.id, error, owner=owner,
                         policy=policy)
    else:
        status = "failed" if _record(outbox.mark_failed, engine, message.id, error,
                                     owner=owner) else None
    log.warning("outbox message %s to %s: %s (%s)", message.id, message.recipient, error,
                status or "no longer ours")
    return Outcome(status, error=error)


def _check_envelope(email: EmailMessage, message: Message) -> None:
    recipients = [addr for name in ("To", "Cc", "Bcc")
                  for _, addr in getaddresses(email.get_all(name, [])) if addr]
    if [r.lower() for r in recipients] != [message.recipient.lower()]:
        raise ValueError(f"the rendered message is addressed to {recipients}, "
                         f"not to the row's recipient {message.recipient!r}")


def _record(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Record an outcome, trying again for a while if the database is briefly away: a
    send that is not recorded would be sent again."""
    for pause in (0.1, 0.5, 1, 2, 4, 8):
        try:
            return function(*args, **kwargs)
        except SQLAlchemyError as error:
            log.warning("cannot record an outbox outcome (%s); trying again", _first_line(error))
            time.sleep(pause)
    return function(*args, **kwargs)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- the workers --------------------------------------------------------------------------

@dataclass
class Stats:
    """Counts since start, per outcome (for logs, metrics and tests)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, status: str | None) -> None:
        name = {"pending": "retried"}.get(status or "", status)
        if name in ("sent", "retried", "failed", "expired", "cancelled"):
            with self.lock:
                setattr(self, name, getattr(self, name) + 1)


class Delivery:
    """``workers`` threads sending the outbox (default ``mail.workers``).

    ``transport_factory()`` gives each worker its own transport (default: the one
    ``[mail]`` configures). ``batch`` rows are claimed at a time with a ``lease`` (default:
    two minutes, or six SMTP timeouts if longer), renewed while a slow batch is still
    being sent. Idle workers look for due rows every ``poll`` seconds, sooner when the
    next row is due sooner, and at once on ``wake()``.
    """

    def __init__(
        self,
        engine: Any,
        config: Any,
        compose_fn: ComposeFn,
        transport_factory: Callable[[], Transport] | None = None,
        workers: int | None = None,
        *,
        batch: int = 20,
        lease: timedelta | None = None,
        poll: float = 1.0,
        policy: RetryPolicy = outbox.DEFAULT_POLICY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from scheduler.transport import transport_from_config

        self.engine = engine
        self.config = config
        self.compose_fn = compose_fn
        self.transport_factory = transport_factory or (lambda: transport_from_config(config))
        self.workers = workers or config.mail.workers
        self.batch = batch
        timeout = config.smtp.timeout if config is not None else timedelta(seconds=30)
        self.lease = lease or max(timedelta(minutes=2), 6 * timeout)
        self.poll = poll
        self.policy = policy
        self.clock = clock or (lambda: datetime.now(UTC))
        self.base_url = config.service.base_url
        self.stats = Stats()
        self._stopping = threading.Event()
        self._events: list[threading.Event] = []
        self._threads: list[threading.Thread] = []
        self._once_transport: Transport | None = None
        self._prefix = f"{socket.gethostname()[:60]}:{os.getpid()}:{token_hex(3)}"

    # -- life cycle

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("delivery already started")
        self._stopping.clear()
        for index in range(self.workers):
            event = threading.Event()
            thread = threading.Thread(target=self._run, args=(index, event),
                                      name=f"delivery-{index}", daemon=True)
            self._events.append(event)
            self._threads.append(thread)
            thread.start()
        log.info("delivery started: %d worker(s)", self.workers)

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming; let each worker finish the message it is sending; give back
        the untried rest of its batch; close the transports. Waits up to ``timeout``."""
        self._stopping.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        self._threads, self._events = [], []
        if self._once_transport is not None:
            self._once_transport.close()
            self._once_transport = None

    def wake(self) -> None:
        """Claim at once (something became due)."""
        for event in self._events:
            event.set()

    def run_once(self, transport: Transport | None = None) -> int:
        """One claim-and-send round in the calling thread (for tests and the CLI); returns
        how many rows it handled."""
        if transport is None:
            if self._once_transport is None:
                self._once_transport = self.transport_factory()
            transport = self._once_transport
        return self._round(f"{self._prefix}:once", transport)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- a worker

    def _run(self, index: int, event: threading.Event) -> None:
        owner = f"{self._prefix}:{index}"
        transport = self.transport_factory()
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    handled = self._round(owner, transport)
                    failures = 0
                except Exception:  # the database is away, or a bug: log, wait, go on
                    failures += 1
                    log.exception("delivery worker %s: round failed", owner)
                    event.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
                    event.clear()
                    continue
                if not handled:
                    event.wait(self._idle_time())
                    event.clear()
        finally:
            try:
                transport.close()
            except Exception:
                log.exception("delivery worker %s: closing the transport", owner)

    def _idle_time(self) -> float:
        try:
            due = outbox.next_due(self.engine)
        except SQLAlchemyError:
            return self.poll
        if due is None:
            return self.poll
        return min(self.poll, max(0.0, (due - self.clock()).total_seconds()) + 0.01)

    def _round(self, owner: str, transport: Transport) -> int:
        batch = outbox.claim(self.engine, owner, self.batch, self.clock(), self.lease)
        for index, message in enumerate(batch):
            rest = batch[index:]
            if self._stopping.is_set():
                outbox.release(self.engine, owner, [m.id for m in rest], self.clock())
                return index
            if self._lease_low(message):
                held = outbox.extend(self.engine, owner, [m.id for m in rest], self.clock(),
                                     self.lease)
                batch[index:] = [_leased(m, self.clock() + self.lease) for m in rest
                                 if m.id in held]
                if not batch[index:]:
                    return index
                message = batch[index]
            outcome = deliver(self.engine, message, self.compose_fn, transport, owner=owner,
                              now=self.clock(), base_url=self.base_url, policy=self.policy)
            self.stats.count(outcome.status)
            if outcome.unreachable:
                self._defer(owner, batch[index + 1:], outcome.error or "server unreachable")
                return len(batch)
        return len(batch)

    def _lease_low(self, message: Message) -> bool:
        left = (message.lease_until or self.clock()) - self.clock()
        return left < self.lease / 2

    def _defer(self, owner: str, rest: list[Message], error: str) -> None:
        """The server cannot be reached: retry the rest of the batch later, untried."""
        for message in rest:
            status = _record(outbox.mark_retry, self.engine, message.id, error, owner=owner,
                             policy=self.policy)
            self.stats.count(status)


def _leased(message: Message, until: datetime) -> Message:
    from dataclasses import replace

    return replace(message, lease_until=until)


# --- a message sent at once ---------------------------------------------------------------

def send_now(engine: Any, compose_fn: ComposeFn, transport: Transport, *, kind: str, key: str,
             recipient: str, payload: Mapping[str, Any], base_url: str,
             expires_in: timedelta = timedelta(hours=1),
             now: datetime | None = None) -> tuple[Message, Outcome]:
    """Queue one message and send it in this thread (``summitcal send-test``).

    The row is claimed in the transaction that queues it, so no worker takes it; if this
    process dies before recording, a worker sends it once the lease has run out. A
    failure of either kind is recorded as ``failed`` (an operator is waiting for the
    answer; a test message arriving hours later would only confuse)."""
    now = now or datetime.now(UTC)
    owner = f"{socket.gethostname()[:60]}:{os.getpid()}:send-now"
    with outbox.write_transaction(engine) as connection:
        outbox.enqueue(connection, kind=kind, key=key, recipient=recipient, subscriber_id=None,
                       payload=payload, due_at=now, expires_at=now + expires_in, now=now)
        message = outbox.take(connection, key, owner, now)
    if message is None:
        raise ValueError(f"an outbox message with key {key!r} exists already")
    outcome = deliver(engine, message, compose_fn, transport, owner=owner, now=now,
                      base_url=base_url, retry=False)
    return message, outcome

"""Delivery: worker threads that claim due outbox rows, render them and send them.

    delivery = Delivery(engine, config, renderers.registry(Sources.of(runtime)))
    delivery.start()      # mail.workers threads, each with its own transport
    delivery.wake()       # something became due: claim now instead of at the next poll
    delivery.stop()       # finish the chunk in flight, give back the rest, close

Each worker loops: claim a batch (``BATCH`` rows, ``mail.outbox.claim``, leased to
it); then, ``CHUNK`` rows at a time, render each (``renderer.render(message, now)``, a
``scheduler.rawmail.RawEmail``; the renderer is ``scheduler.renderers.registry``'s, which
also ``prepare``s each batch), send the chunk on the worker's own transport
(``send_many``: one SMTP connection reused for many messages, pipelined when the server
offers it) and record each outcome:

* accepted → ``sent`` with the Message-ID, recorded only after the server said 250 (the
  accepted messages together, in one transaction, every ``RECORD_EVERY`` and at the end
  of the batch);
* ``TemporaryFailure`` (no connection, 4xx) → ``pending`` again after a growing,
  jittered delay, with a last try just before the row's expiry (``RetryPolicy.last_try``)
  and ``expired`` only when that fails too; when the server is unreachable the rest of
  the batch is deferred alike without trying each message;
* ``PermanentFailure`` (5xx for this message) → ``failed``, the others go on; when it
  refused the recipient (``RecipientRefused``, a bounce) the subscriber's count of
  refusals in a row grows, in the same transaction, and at ``mail.bounce_threshold``
  they are marked ``bouncing`` (``subscriptions.subscribers.record_bounce``); an accepted
  message clears the count;
* a renderer raising ``messages.Withdrawn`` → ``cancelled``/``expired`` (nothing to
  send any more); a database or operating-system error while rendering (the database or
  a file briefly unavailable) → retried; any other rendering error → ``failed`` with the
  error (logged with its traceback). The loop itself never dies.

Leases are short (``LEASE``, 15 s) and renewed by a thread of the live process every
third of that (``Delivery``'s renewer) for every row its workers hold, however long one
SMTP exchange takes. A worker that dies mid-batch (kill -9) leaves rows ``sending``; once
their lease runs out — seconds, well inside a ``PT1M`` reminder's window — any worker
claims them again. So every due message goes out at least once, and twice
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
from secrets import token_hex
from typing import Any, Self

from sqlalchemy.exc import SQLAlchemyError

from summitcal.core import metrics
from summitcal.mail import outbox
from summitcal.mail.outbox import Message, RetryPolicy
from summitcal.mail.transport import (
    PermanentFailure,
    RawEmail,
    RecipientRefused,
    TemporaryFailure,
    Transport,
)
from summitcal.scheduler.messages import Withdrawn
from summitcal.scheduler.renderers import Renderer
from summitcal.subscriptions import subscribers

log = logging.getLogger("summitcal.delivery")

#: Accepted messages of a batch are recorded together at its end, or once the oldest
#: unrecorded one is this old (seconds), whichever comes first.
RECORD_EVERY = 0.2
#: Rows claimed at a time by a worker (``Delivery(batch=…)``): one claim, one load of
#: their subscribers, a few recording transactions per batch.
BATCH = 100
#: Rows rendered, then handed to the transport together (``send_many``: pipelined SMTP).
CHUNK = 10
#: How long a claim holds a row without renewal: how soon another worker takes over the
#: rows of a process that died. The renewer extends it every third of this.
LEASE = timedelta(seconds=15)
#: An idle worker looks every HURRY seconds for HURRY_FOR from a reminder plan's instant
#: when the plan has not fired by then (at the plans table while its rows are written,
#: then at the outbox).
HURRY, HURRY_FOR = 0.05, timedelta(seconds=10)


# --- one message --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one row: its new status, the Message-ID sent, the error."""

    status: str | None  # sent, pending, failed, expired, cancelled; None: row lost meanwhile
    message_id: str | None = None
    error: str | None = None
    unreachable: bool = False  # the server could not be reached: defer the rest


def deliver(engine: Any, message: Message, renderer: Renderer, transport: Transport, *,
            owner: str, now: datetime, policy: RetryPolicy = outbox.DEFAULT_POLICY,
            retry: bool = True, sent: list[tuple[int, str]] | None = None,
            bounce_threshold: int | None = None) -> Outcome:
    """Render, send and record one claimed row. ``retry=False`` (a synchronous test send)
    records a temporary failure as ``failed`` instead of queueing another attempt.
    ``bounce_threshold``: a refused recipient counts as a bounce of the row's subscriber
    (None: not counted). With ``sent`` given, an accepted message is appended there as
    (id, Message-ID) for the caller to record (``mark_sent_many``) instead of being
    recorded at once."""
    email = render(engine, message, renderer, owner=owner, now=now, policy=policy,
                   retry=retry)
    if isinstance(email, Outcome):
        return email
    failure: BaseException | None = None
    try:
        transport.send(email)
    except Exception as error:
        failure = error
    return record(engine, message, email, failure, owner=owner, now=now, policy=policy,
                  retry=retry, sent=sent, bounce_threshold=bounce_threshold)


def render(engine: Any, message: Message, renderer: Renderer, *, owner: str, now: datetime,
           policy: RetryPolicy = outbox.DEFAULT_POLICY, retry: bool = True
           ) -> RawEmail | Outcome:
    """The row's email, or the ``Outcome`` recorded when it cannot be sent (withdrawn:
    closed; a temporary problem: retried; anything else: failed)."""
    try:
        email = renderer.render(message, now)
        _check_recipients(list(email.recipients), message)
        return email
    except Withdrawn as withdrawn:
        _record(outbox.mark_closed, engine, message.id, withdrawn.status, str(withdrawn),
                owner=owner, now=now)
        return Outcome(withdrawn.status, error=str(withdrawn))
    except TemporaryFailure as failure:
        return _failed(engine, message, f"cannot render: {failure}", owner, policy, retry, now)
    except PermanentFailure as failure:
        return _failed(engine, message, f"cannot render: {failure}", owner, policy, False, now)
    except SQLAlchemyError as error:
        text = f"cannot render: database error: {_first_line(error)}"
        return _failed(engine, message, text, owner, policy, retry, now)
    except OSError as error:  # transient: a file (template, secret key) briefly unavailable
        text = f"cannot render: {type(error).__name__}: {error}"
        return _failed(engine, message, text, owner, policy, retry, now)
    except Exception as error:  # a bug or bad payload: this message only
        log.exception("outbox message %s (%s) cannot be rendered", message.id, message.kind)
        text = f"cannot render: {type(error).__name__}: {error}"
        return _failed(engine, message, text, owner, policy, False, now)


def record(engine: Any, message: Message, email: RawEmail, failure: BaseException | None, *,
           owner: str, now: datetime, policy: RetryPolicy = outbox.DEFAULT_POLICY,
           retry: bool = True, sent: list[tuple[int, str]] | None = None,
           bounce_threshold: int | None = None) -> Outcome:
    """Record what the transport said of ``email`` (``failure`` None: accepted); see
    ``deliver`` for ``sent`` and ``bounce_threshold``."""
    if isinstance(failure, TemporaryFailure):
        outcome = _failed(engine, message, str(failure), owner, policy, retry, now)
        return Outcome(outcome.status, error=outcome.error,
                       unreachable=failure.code is None or failure.code == 421)
    if isinstance(failure, PermanentFailure):
        also = None
        if isinstance(failure, RecipientRefused) and message.subscriber_id is not None \
                and bounce_threshold is not None:
            also = _bounce(message.subscriber_id, str(failure), now, bounce_threshold)
        return _failed(engine, message, str(failure), owner, policy, False, now, also)
    if failure is not None:  # not the transport's contract: may or may not have gone
        log.error("outbox message %s: unexpected error while sending", message.id,
                  exc_info=failure)
        return _failed(engine, message, f"{type(failure).__name__}: {failure}", owner, policy,
                       False, now)
    if sent is not None:
        sent.append((message.id, email.message_id))
    else:
        _record(outbox.mark_sent, engine, message.id, email.message_id, now)
        if message.subscriber_id is not None and bounce_threshold is not None:
            with outbox.write_transaction(engine) as connection:
                subscribers.clear_bounces(connection, [message.subscriber_id])
    return Outcome("sent", email.message_id)


def _bounce(subscriber_id: int, error: str, now: datetime,
            threshold: int) -> Callable[[Any], None]:
    def record(connection: Any) -> None:
        if subscribers.record_bounce(connection, subscriber_id, error, now, threshold):
            log.warning("subscriber %s is bouncing: %d permanent refusals in a row; no more "
                        "mail until the address confirms again", subscriber_id, threshold)

    return record


def _failed(engine: Any, message: Message, error: str, owner: str, policy: RetryPolicy,
            retry: bool, now: datetime, also: Callable[[Any], None] | None = None) -> Outcome:
    if retry:
        status = _record(outbox.mark_retry, engine, message.id, error, owner=owner,
                         policy=policy, now=now)
    else:
        status = "failed" if _record(outbox.mark_failed, engine, message.id, error,
                                     owner=owner, now=now, also=also) else None
    log.warning("outbox message %s to %s: %s (%s)", message.id, message.recipient, error,
                status or "no longer ours")
    return Outcome(status, error=error)


def _check_recipients(recipients: list[str], message: Message) -> None:
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
    ``[mail]`` configures). ``batch`` rows are claimed at a time with a ``lease`` (default
    ``LEASE``), renewed every third of it by a thread for all rows the workers hold (in
    ``run_once``, with no such thread, between messages when half of it is gone). Idle
    workers look for due rows every ``poll`` seconds, sooner when the next row is due
    sooner, and at once on ``wake()``.
    """

    def __init__(
        self,
        engine: Any,
        config: Any,
        renderer: Renderer,
        transport_factory: Callable[[], Transport] | None = None,
        workers: int | None = None,
        *,
        batch: int = BATCH,
        lease: timedelta | None = None,
        poll: float = 1.0,
        policy: RetryPolicy = outbox.DEFAULT_POLICY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from summitcal.mail.configured import transport_from_config

        self.engine = engine
        self.config = config
        self.renderer = renderer
        self.transport_factory = transport_factory or (lambda: transport_from_config(config))
        self.workers = workers or config.mail.workers
        self.batch = batch
        self.lease = lease or LEASE
        self.poll = poll
        self.policy = policy
        self.clock = clock or (lambda: datetime.now(UTC))
        self.bounce_threshold: int | None = getattr(config.mail, "bounce_threshold", None)
        self.stats = Stats()
        self._stopping = threading.Event()
        self._events: list[threading.Event] = []
        self._threads: list[threading.Thread] = []
        self._once_transport: Transport | None = None
        self._held: dict[str, set[int]] = {}  # owner → rows claimed and not yet finished
        self._lost: set[int] = set()  # rows whose lease the renewer found gone
        self._held_lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._hurry_from = self._hurry_until = datetime.min.replace(tzinfo=UTC)
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
        self._renewer = threading.Thread(target=self._renew_leases, name="delivery-leases",
                                         daemon=True)
        self._renewer.start()
        log.info("delivery started: %d worker(s)", self.workers)

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming; let each worker finish the chunk it is sending; give back
        the untried rest of its batch; close the transports. Waits up to ``timeout``."""
        self._stopping.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        if self._renewer is not None:
            self._renewer.join(timeout)
            self._renewer = None
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
                    self._await_fanout(event)
        finally:
            try:
                transport.close()
            except Exception:
                log.exception("delivery worker %s: closing the transport", owner)

    def _idle_time(self) -> float:
        """How long an idle worker sleeps: until the next row or reminder plan is due (at
        most ``poll``). A plan's rows are normally queued ``plans.QUEUE_AHEAD`` before its
        instant and then the next row's due time says when to look; while they are being
        written, the outbox's index holds them uncommitted, and a look at it would wade
        through all of them (seconds of the writer's time at 100,000 rows on PostgreSQL),
        so the worker looks at the small plans table instead. When a plan's instant comes
        and it has not fired yet (the scheduler was late or down), the worker looks every
        ``HURRY`` seconds for ``HURRY_FOR`` (``_await_fanout``)."""
        from summitcal.scheduler import plans

        now = self.clock()
        if self._hurry_from <= now < self._hurry_until:
            return HURRY
        try:
            with self.engine.connect() as connection:
                fire = _aware(plans.next_fire(connection, now))
            queueing = fire is not None and fire - now <= plans.QUEUE_AHEAD
            due = None if queueing else outbox.next_due(self.engine)
        except SQLAlchemyError:
            return self.poll
        soonest = min((d for d in (due, fire) if d is not None), default=None)
        if soonest is None:
            return self.poll
        if soonest == fire:
            self._hurry_from, self._hurry_until = fire, fire + HURRY_FOR
        return min(self.poll, max(0.0, (soonest - now).total_seconds()) + 0.01)

    def _await_fanout(self, event: threading.Event) -> None:
        """In the hurry window, while a plan whose instant has come has not fired yet (the
        scheduler is late and writing its rows now: one ``INSERT … SELECT``, seconds for
        100,000), look at the small plans table every ``HURRY`` seconds instead of
        claiming: a claim would read through the uncommitted rows' index entries for
        nothing, and slow the insert."""
        from summitcal.scheduler import plans

        while (self._hurry_from <= self.clock() < self._hurry_until
               and not self._stopping.is_set()):
            try:
                with self.engine.connect() as connection:
                    if not plans.firing(connection, self.clock()):
                        return
            except SQLAlchemyError:
                return
            if event.wait(HURRY):
                event.clear()
                return

    def _round(self, owner: str, transport: Transport) -> int:
        """Claim a batch and send it. Accepted messages are recorded ``sent`` together at
        the end of the batch (one transaction), and always before this returns: a crash
        in between may send them again, with the same Message-IDs (see the module doc)."""
        batch = outbox.claim(self.engine, owner, self.batch, self.clock(), self.lease)
        if not batch:
            return 0
        with self._held_lock:
            self._held[owner] = {m.id for m in batch}
        try:
            return self._prepared_round(owner, transport, batch)
        finally:
            with self._held_lock:
                self._lost -= self._held.pop(owner, set())

    def _renew_leases(self) -> None:
        """Every third of the lease, renew it on every row the workers hold; rows found no
        longer held (the renewal came too late and another worker took them) are skipped."""
        every = self.lease.total_seconds() / 3
        while not self._stopping.wait(every):
            with self._held_lock:
                held = {owner: list(ids) for owner, ids in self._held.items() if ids}
            for owner, ids in held.items():
                try:
                    kept = outbox.extend(self.engine, owner, ids, self.clock(), self.lease)
                except SQLAlchemyError as error:
                    log.warning("cannot renew the outbox leases of %s: %s", owner,
                                _first_line(error))
                    continue
                with self._held_lock:
                    still = self._held.get(owner, set())
                    self._lost |= (set(ids) - kept) & still

    def _prepared_round(self, owner: str, transport: Transport, batch: list[Message]) -> int:
        try:
            self.renderer.prepare(batch)
        except Exception:  # only an optimisation: each message can load its own data
            log.exception("delivery worker %s: preparing a batch failed", owner)
        sent: list[tuple[int, str]] = []
        try:
            return self._send_batch(owner, transport, batch, sent)
        finally:
            self._record_sent(sent, batch)

    def _record_sent(self, sent: list[tuple[int, str]], batch: list[Message]) -> None:
        if sent:
            also = None
            if self.bounce_threshold is not None:
                done = {id for id, _ in sent}
                who = [m.subscriber_id for m in batch
                       if m.id in done and m.subscriber_id is not None]

                def clear(connection: Any, who: list[int] = who) -> None:
                    subscribers.clear_bounces(connection, who)

                also = clear
            _record(outbox.mark_sent_many, self.engine, list(sent), self.clock(), also=also)
            for _ in sent:
                self.stats.count("sent")
            sent.clear()

    def _send_batch(self, owner: str, transport: Transport, batch: list[Message],
                    sent: list[tuple[int, str]]) -> int:
        """Render and send ``batch`` ``CHUNK`` rows at a time (``transport.send_many``:
        pipelined on SMTP), recording each outcome; accepted ones go to ``sent``."""
        unrecorded_since = [time.monotonic()]  # when ``sent`` was last empty
        index = 0
        while index < len(batch):
            rest = batch[index:]
            if self._stopping.is_set():
                outbox.release(self.engine, owner, [m.id for m in rest], self.clock())
                return index
            if self._renewer is None and self._lease_low(rest[0]):
                held = outbox.extend(self.engine, owner, [m.id for m in rest], self.clock(),
                                     self.lease)
                batch[index:] = [_leased(m, self.clock() + self.lease) for m in rest
                                 if m.id in held]
                if not batch[index:]:
                    return index
            chunk = [m for m in batch[index:index + CHUNK] if m.id not in self._lost]
            index += CHUNK
            if self._send_chunk(owner, transport, chunk, batch, sent, unrecorded_since):
                self._defer(owner, batch[index:], "the server cannot be reached")
                return len(batch)
        return len(batch)

    def _send_chunk(self, owner: str, transport: Transport, chunk: list[Message],
                    batch: list[Message], sent: list[tuple[int, str]],
                    unrecorded_since: list[float]) -> bool:
        """Render ``chunk``, send what rendered in one ``send_many``, record every
        outcome. True when the server could not be reached (the caller defers the rest)."""
        now = self.clock()
        rendered: list[tuple[Message, RawEmail]] = []
        for message in chunk:
            email = render(self.engine, message, self.renderer, owner=owner, now=now,
                           policy=self.policy)
            if isinstance(email, Outcome):
                self._done(message, email)
            else:
                rendered.append((message, email))
        if not rendered:
            return False
        try:
            failures: list[Any] = list(transport.send_many([e for _, e in rendered]))
        except Exception as error:  # not the transport's contract: may or may not have gone
            failures = [error] * len(rendered)
        unreachable = False
        for (message, email), failure in zip(rendered, failures, strict=True):
            outcome = record(self.engine, message, email, failure, owner=owner,
                             now=self.clock(), policy=self.policy, sent=sent,
                             bounce_threshold=self.bounce_threshold)
            self._done(message, outcome)
            unreachable = unreachable or outcome.unreachable
        if sent and time.monotonic() - unrecorded_since[0] >= RECORD_EVERY:
            self._record_sent(sent, batch)  # a slow batch: record its sends now
        if not sent:
            unrecorded_since[0] = time.monotonic()
        return unreachable

    def _done(self, message: Message, outcome: Outcome) -> None:
        if outcome.status != "sent":
            self.stats.count(outcome.status)
        metrics.message_done(message.kind, outcome.status, message.due_at, self.clock())

    def _lease_low(self, message: Message) -> bool:
        left = (message.lease_until or self.clock()) - self.clock()
        return left < self.lease / 2

    def _defer(self, owner: str, rest: list[Message], error: str) -> None:
        """The server cannot be reached: retry the rest of the batch later, untried."""
        for message in rest:
            status = _record(outbox.mark_retry, self.engine, message.id, error, owner=owner,
                             policy=self.policy, now=self.clock())
            self.stats.count(status)


def _aware(value: Any) -> datetime | None:
    """A ``min()`` over a time column: SQLite gives naive UTC text back."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


def _leased(message: Message, until: datetime) -> Message:
    from dataclasses import replace

    return replace(message, lease_until=until)


# --- a message sent at once ---------------------------------------------------------------

def send_now(engine: Any, renderer: Renderer, transport: Transport, *, kind: str, key: str,
             recipient: str, payload: Mapping[str, Any],
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
    outcome = deliver(engine, message, renderer, transport, owner=owner, now=now,
                      retry=False)
    return message, outcome

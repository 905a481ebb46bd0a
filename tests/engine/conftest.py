"""The engine's fixtures: a summit with upcoming sessions, subscribers, a clock whose time
the test sets, and an SMTP sink that records when each message arrived.

Deterministic tests drive ``Clock.run_once(now=…)`` on SQLite and PostgreSQL (the
``store`` fixture of ``tests/conftest.py``); real-time tests start APScheduler, delivery
and, end to end, ``summitcal serve`` as a subprocess. ``mailroom`` is delivery with
every kind's renderer, run at an instant the test sets, sending over SMTP to the
fault-injecting aiosmtpd server of ``tests/scheduler/conftest.py``.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.core import database
from summitcal.mail import outbox as outbox_rows
from summitcal.mail.outbox import DEFAULT_POLICY, Message, RetryPolicy
from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.tables import OPEN, outbox
from summitcal.scheduler.clock import Clock
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from summitcal.subscriptions import subscribers as subs
from summitcal.summits.model import Attendance, Organization, Participant, Schedule, Session, Summit
from summitcal.summits.store import Store
from tests.scheduler.conftest import (  # noqa: F401  (the fault-injecting SMTP server)
    SmtpServer,
    make_smtp_server,
    smtp_server,
)

DUSHANBE = ZoneInfo("Asia/Dushanbe")
SUMMIT = "dushanbe-2030"
#: "Now" in the deterministic tests: three days before the summit.
NOW = datetime(2030, 7, 1, 6, 0, tzinfo=UTC)
DELAY = timedelta(minutes=2)
IN_PERSON = Attendance("putin", "in_person")
VIDEO = Attendance("putin", "video", note="Self-isolation after COVID-19 cases in his entourage",
                   announced=date(2030, 7, 2))


def summit_schedule() -> Schedule:
    """Four sessions in Dushanbe (UTC+5): two timed, one all-day, one without Putin."""

    def at(day: int, hour: int) -> datetime:
        return datetime(2030, 7, day, hour, 0, tzinfo=DUSHANBE)

    sessions = [
        Session(SUMMIT, "csto-council", "Session of the CSTO Collective Security Council",
                "Asia/Dushanbe", ("csto",), start=at(4, 10), end=at(4, 13),
                venue="Palace of Nations", attendance=(IN_PERSON, Attendance("rahmon",
                                                                             "in_person"))),
        Session(SUMMIT, "sco-council", "SCO Council of Heads of State", "Asia/Dushanbe",
                ("sco",), start=at(5, 10), end=at(5, 13), attendance=(IN_PERSON,)),
        Session(SUMMIT, "joint", "Joint meeting of the CSTO and SCO", "Asia/Dushanbe",
                ("csto", "sco"), date=date(2030, 7, 4), end_date=date(2030, 7, 5),
                status="tentative", attendance=(IN_PERSON,)),
        Session(SUMMIT, "side", "Side meeting", "Asia/Dushanbe", (), start=at(4, 15),
                attendance=(Attendance("rahmon", "in_person"),)),
    ]
    return Schedule(
        summits={SUMMIT: Summit(SUMMIT, "CSTO and SCO summits, Dushanbe 2030", "Dushanbe",
                                "Tajikistan", "Asia/Dushanbe")},
        organizations={"csto": Organization("csto", "Collective Security Treaty Organization"),
                       "sco": Organization("sco", "Shanghai Cooperation Organisation")},
        participants={"putin": Participant("putin", "Vladimir Putin", "President of Russia"),
                      "rahmon": Participant("rahmon", "Emomali Rahmon"),
                      "lavrov": Participant("lavrov", "Sergey Lavrov")},
        sessions={s.key: s for s in sessions},
    )


def edit(schedule: Schedule, session: str, **fields: Any) -> Schedule:
    """``schedule`` with one session's fields replaced (``drop=True``: removed)."""
    sessions = dict(schedule.sessions)
    if fields.pop("drop", False):
        del sessions[SUMMIT, session]
    else:
        sessions[SUMMIT, session] = replace(sessions[SUMMIT, session], **fields)
    return replace(schedule, sessions=sessions)


def subscribe(store: Store, address: str, *follow: str, reminders: tuple[str, ...] = ("PT1H",),
              notices: tuple[str, ...] = ("attendance", "schedule"),
              zone: str = "Europe/Moscow", confirmed: bool = True,
              now: datetime = NOW) -> int:
    """Add a subscriber through the subscribers module (as the CLI and the API do)."""
    prefs = subs.check_preferences(store.schedule(), timezone=zone, follow=list(follow),
                                   reminders=list(reminders), notices=list(notices))
    with database.writing(store.engine) as connection:
        return subs.add(connection, address, prefs, now, confirmed=confirmed).id


def messages(store: Store, *kinds: str, status: str | None = None) -> list[Message]:
    """Outbox rows (of ``kinds``, in ``status``), oldest first."""
    query = sa.select(outbox).order_by(outbox.c.id)
    if kinds:
        query = query.where(outbox.c.kind.in_(kinds))
    if status is not None:
        query = query.where(outbox.c.status == status)
    with store.engine.connect() as connection:
        return [Message.from_row(row) for row in connection.execute(query)]


@pytest.fixture
def loaded(store: Store) -> Store:
    """The store with the summit loaded at ``NOW``."""
    store.apply(summit_schedule(), "load", now=NOW)
    return store


@pytest.fixture
def clock(loaded: Store) -> Clock:
    """A clock on the loaded store, not started: tests call ``run_once(now=…)``."""
    found = Clock(loaded, DELAY, now=lambda: NOW)
    found.run_once(now=NOW)  # the first pass: the load is history
    return found


# --- an SMTP sink -------------------------------------------------------------------------


@dataclass
class Arrived:
    at: float  # time.time() when the server accepted it
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SinkHandler:
    arrived: list[Arrived] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        with self.lock:
            self.arrived.append(Arrived(time.time(), list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 Accepted"


class Sink(Controller):
    """aiosmtpd on 127.0.0.1, a free port; ``handler.arrived`` lists what it took."""

    handler: SinkHandler

    def __init__(self) -> None:
        super().__init__(SinkHandler(), hostname="127.0.0.1", port=0,
                         server_hostname="sink.test")

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def to(self, address: str) -> list[Arrived]:
        with self.handler.lock:
            return [a for a in self.handler.arrived if address in a.rcpt_tos]

    def wait_for(self, check: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.05)
        return check()


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    server.start()
    yield server
    server.stop()


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return body.get_content()


# --- delivery at a time the test sets, to a server that misbehaves on cue ----------------


@pytest.fixture
def runtime(loaded: Store, tmp_path: Any) -> Iterator[Runtime]:
    """A runtime on the loaded store (base URL https://summitcal.test, a fixed secret)."""
    config = tmp_path / "config.toml"
    config.write_text('[service]\nbase_url = "https://summitcal.test"\ndata_dir = "data"\n'
                      f'[database]\nurl = "{loaded.url}"\n')
    yield Runtime(load_config(config, env={"SUMMITCAL_SECRET_KEY": "k" * 32}), loaded)


class Mailroom:
    """``Delivery`` with every kind's renderer, one worker, run at instants the test sets
    (``deliver(at)``), sending to ``server`` (aiosmtpd on loopback) over one reused SMTP
    connection. ``down(True)`` makes the server answer every new connection with 421."""

    def __init__(self, runtime: Runtime, server: SmtpServer,
                 policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self.runtime = runtime
        self.server = server
        self.now = NOW
        self.delivery = Delivery(
            runtime.store.engine, runtime.config, registry(Sources.of(runtime)),
            lambda: SmtpTransport("127.0.0.1", server.port, timeout=5), workers=1,
            policy=policy, clock=lambda: self.now)

    def down(self, refusing: bool) -> None:
        self.server.refuse_connections = 10**9 if refusing else 0
        if refusing:
            self.server.drop_connections()

    def deliver(self, at: datetime) -> int:
        """Everything due at ``at``, until nothing is; returns how many rows were handled."""
        self.now = at
        handled = 0
        while count := self.delivery.run_once():
            handled += count
        return handled

    def next_attempt(self) -> datetime | None:
        """When delivery will next find an open row due (None: nothing open)."""
        with self.runtime.store.engine.connect() as connection:
            value = connection.scalar(sa.select(sa.func.min(outbox.c.next_attempt_at))
                                      .where(outbox.c.status.in_(OPEN)))
        return None if value is None else _aware(value)

    def drive(self, until: datetime, outage_until: datetime | None = None) -> list[datetime]:
        """Deliver at every instant a row comes due, up to ``until``, the server refusing
        connections before ``outage_until``; returns the instants delivery ran."""
        ran = []
        while (at := self.next_attempt()) is not None and at <= until:
            self.down(outage_until is not None and at < outage_until)
            self.deliver(at)
            ran.append(at)
        self.down(False)
        return ran

    def received(self, address: str) -> list[EmailMessage]:
        """What the server accepted for ``address``, parsed, in order."""
        return [email.message_from_bytes(m.content, policy=email.policy.default)  # type: ignore[misc]
                for m in self.server.handler.messages if address in m.rcpt_tos]

    def row(self, key_prefix: str) -> Message:
        (found,) = [m for m in outbox_rows.list_messages(self.runtime.store.engine, limit=10**6)
                    if m.key.startswith(key_prefix)]
        return found


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@pytest.fixture
def mailroom(runtime: Runtime, smtp_server: SmtpServer) -> Iterator[Mailroom]:  # noqa: F811
    room = Mailroom(runtime, smtp_server)
    yield room
    room.delivery.stop()

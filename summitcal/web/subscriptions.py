"""Subscriptions over HTTP: the sign-up API, the sign-up form, and the pages behind the
links in emails (confirm, manage, unsubscribe), plus the private feed route.

Every sign-up answers the same whatever the address's state, so nobody learns who is
subscribed — in words, and in time: the request only checks the input and queues the
sign-up (``subscribers.request_sign_up``, one INSERT whatever the address); looking the
address up, creating or updating the subscriber and queueing its mail happen after the
answer is sent (a background task, ``process_sign_ups``; the clock's housekeeping picks
up any a crash left behind). Sign-up mail is rate-limited per mailbox, per client and
overall (``subscribers.SignUpLimits``), with the same answer. Pages behind links never
change anything on GET (mail scanners follow links); a form POST does. A bad, forged,
rotated or revoked token is a 404 page. Pages work without JavaScript.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, TypeVar

import pytz
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from summitcal.core import database
from summitcal.core.durations import format_duration
from summitcal.core.errors import InvalidInput
from summitcal.core.localtime import known_zone
from summitcal.core.templating import environment
from summitcal.subscriptions import subscribers as subs
from summitcal.summits.model import Schedule
from summitcal.web import private_feeds as private
from summitcal.web.errors import ApiError
from summitcal.web.service import Service

T = TypeVar("T")
log = logging.getLogger("summitcal.subscriptions")
# True whatever happened: a new address, a known one, a re-sign-up within the hour (no
# new mail), a mailbox over its limit (no mail) — the answer must not tell them apart.
ACCEPTED = ("Unless one was sent to this address recently, a message is on its way to it: "
            "a link to confirm the subscription, or to manage it if it is already "
            "confirmed. To protect mailboxes we send at most one such message an hour to "
            "an address, and only a few a day to one mailbox: if you asked within the last "
            "hour, use the message you already have.")
PAGES = ("subscribe_form.html", "subscribe_sent.html", "subscribe_invalid.html",
         "confirm.html", "manage.html", "unsubscribe.html")
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex"}


class SubscriptionIn(BaseModel):
    """A sign-up. Omitted ``reminders``/``notices`` take the defaults."""

    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320, examples=["reader@example.org"])
    timezone: str = Field(max_length=64, examples=["Europe/Moscow"],
                          description="IANA time zone for the times in emails")
    follow: list[str] = Field(
        min_length=1, max_length=subs.MAX_FOLLOWS,
        examples=[["summit:astana-2024", "participant:putin"]],
        description="all, summit:ID, session:SUMMIT/SESSION, organization:ID, participant:ID")
    reminders: list[str] | None = Field(
        None, max_length=subs.MAX_REMINDERS, examples=[["P1D", "PT1H"]],
        description="ISO 8601 durations before a session's start, each up to 30 days "
                    "(default: reminders.default_offsets)")
    notices: list[Literal["attendance", "schedule"]] | None = Field(
        None, description="default: both")
    language: Literal["en"] = "en"


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    message: str = ACCEPTED


@dataclass
class Form:
    """Form field values as shown back in a page."""

    email: str = ""
    timezone: str = "UTC"
    follow: list[str] = field(default_factory=list)
    reminders: str = ""
    notices: list[str] = field(default_factory=list)
    language: str = "en"


def router(runtime: Service) -> APIRouter:
    """Every subscription route; include it before the public feed routes (the private
    feed's path would otherwise match theirs)."""
    max_age = int(runtime.config.feeds.max_age.total_seconds())
    routes = APIRouter()
    routes.include_router(private.router(runtime, max_age))
    routes.include_router(_api(runtime))
    routes.include_router(_Pages(runtime).router())
    return routes


def _now() -> datetime:
    return datetime.now(UTC)


def _writing(runtime: Service, work: Callable[[Connection], T]) -> T:
    with database.writing(runtime.store.engine) as connection:
        return work(connection)


def _queue_sign_up(runtime: Service, email: str, prefs: subs.Preferences,
                   request_client: str | None) -> None:
    """What a sign-up request does with a valid address: queue it (one INSERT)."""
    with runtime.store.engine.begin() as connection:
        subs.request_sign_up(connection, email, prefs, request_client, _now())


def process_sign_ups(runtime: Service) -> int:
    """Handle every queued sign-up (this request's and any left behind), after the answer
    went out; returns how many. A database error is logged: the requests stay queued for
    the next sign-up or the clock's housekeeping."""
    limits = subs.SignUpLimits.from_section(runtime.config.mail)
    handled = 0
    try:
        while True:
            with database.writing(runtime.store.engine) as connection:
                done = subs.process_sign_ups(connection, _now(), limits)
            handled += len(done)
            for email, what in done:
                if what == "limited":
                    log.warning("sign-up mail to %s not sent: over the rate limits", email)
            if not done:
                return handled
    except SQLAlchemyError:
        log.exception("queued sign-ups could not be processed now; they stay queued")
        return handled


def _client(request: Request) -> str | None:
    """The client's IP address as the server sees it (uvicorn runs without proxy headers:
    behind a reverse proxy every client is the proxy, and the per-client limit is one
    limit for all)."""
    return request.client.host if request.client is not None else None


def _preferences(runtime: Service, schedule: Schedule, **raw: Any) -> subs.Preferences:
    return subs.check_preferences(
        schedule, default_reminders=runtime.config.reminders.default_offsets, **raw)


def _api(runtime: Service) -> APIRouter:
    routes = APIRouter(prefix="/api", tags=["public"])

    @routes.post("/subscriptions", status_code=202, response_model=Accepted,
                 responses={400: {"description": "Malformed body"},
                            422: {"description": "Invalid field (error.field names it)"}})
    def subscribe(payload: SubscriptionIn, request: Request,
                  background: BackgroundTasks) -> Accepted:
        """Sign up for email reminders and notices (double opt-in).

        The answer is the same, and takes as long, whether the address is new, pending,
        confirmed, bouncing or unsubscribed; the mailbox gets a confirmation link (or,
        when already confirmed, its feed and manage links), at most one mail an hour per
        address and within the sign-up mail limits (per mailbox, client and overall)."""
        try:
            email = subs.normalize_email(payload.email)
            prefs = _preferences(runtime, runtime.snapshot().schedule,
                                 **payload.model_dump(exclude={"email"}))
        except InvalidInput as error:
            raise ApiError(422, "invalid", str(error), error.field) from None
        _queue_sign_up(runtime, email, prefs, _client(request))
        background.add_task(process_sign_ups, runtime)
        return Accepted()

    return routes


def follow_options(schedule: Schedule) -> list[dict[str, Any]]:
    """The follow choices of the forms, in groups."""
    summits = sorted(schedule.summits.values(), key=lambda s: s.id)
    sessions = sorted(schedule.sessions.values(), key=lambda s: (s.starts_at, s.summit, s.id))
    names = {s.id: s.name for s in summits}
    groups = [
        ("Everything", [("all", "Every session of every summit")]),
        ("Summits", [(f"summit:{s.id}", s.name) for s in summits]),
        ("Sessions", [(f"session:{s.summit}/{s.id}", f"{names.get(s.summit, s.summit)} — {s.title}")
                      for s in sessions]),
        ("Organisations", [(f"organization:{o.id}", o.name) for o in
                           sorted(schedule.organizations.values(), key=lambda o: o.id)]),
        ("Participants", [(f"participant:{p.id}", p.name) for p in
                          sorted(schedule.participants.values(), key=lambda p: p.id)]),
    ]
    return [{"title": title, "choices": [{"value": v, "label": label} for v, label in items]}
            for title, items in groups if items]


@cache
def _common_zones() -> tuple[str, ...]:
    return tuple(z for z in pytz.common_timezones if known_zone(z))


def zones(current: str) -> list[str]:
    listed = _common_zones()
    return list(listed) if current in listed or not known_zone(current) else sorted(
        (*listed, current))


def _form_of(prefs: subs.Preferences, email: str = "") -> Form:
    return Form(email, prefs.timezone, list(prefs.follows),
                ", ".join(format_duration(r) for r in prefs.reminders), list(prefs.notices),
                prefs.language)


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text.strip()) if part]


class _Pages:
    def __init__(self, runtime: Service) -> None:
        self.runtime = runtime
        env = environment("web")
        self.templates = {name: env.get_template(name) for name in PAGES}  # checked at start
        self.secret = cache(runtime.config.secret_key)

    # -- helpers

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = self.templates[name].render(**context)
        return HTMLResponse(body, status_code=status, headers=_HEADERS)

    def invalid(self) -> HTMLResponse:
        return self.page("subscribe_invalid.html", 404)

    def find(self, connection: Connection, purpose: str, token: str) -> subs.Subscriber | None:
        return subs.by_token(connection, self.secret(), purpose, token)

    def read(self, purpose: str, token: str) -> subs.Subscriber | None:
        with database.reading(self.runtime.store.engine) as connection:
            return self.find(connection, purpose, token)

    def choices(self, schedule: Schedule, form: Form, **context: Any) -> dict[str, Any]:
        return {"form": form, "options": follow_options(schedule),
                "zones": zones(form.timezone), "error": None, **context}

    def form(self, data: Any, email: str | None = None) -> Form:
        """The submitted values (``email`` given: the manage page's own). ``reminders``
        may come as one text field ("P1D, PT1H") or as several checkboxes (the home
        page's form), ``follow`` and ``notices`` as checkboxes."""
        return Form(str(data.get("email", "")).strip()[:320] if email is None else email,
                    str(data.get("timezone", ""))[:64],
                    [str(v)[:320] for v in data.getlist("follow")][:subs.MAX_FOLLOWS + 1],
                    ", ".join(str(v) for v in data.getlist("reminders"))[:200],
                    [str(v)[:20] for v in data.getlist("notices")][:5],
                    str(data.get("language", "en"))[:8])

    def preferences(self, schedule: Schedule, form: Form) -> subs.Preferences:
        return _preferences(self.runtime, schedule, timezone=form.timezone,
                            follow=form.follow, reminders=_split(form.reminders),
                            notices=form.notices, language=form.language)

    # -- routes

    def router(self) -> APIRouter:
        routes = APIRouter(tags=["pages"], include_in_schema=False)
        routes.add_api_route("/subscribe", self.signup_form, methods=["GET"])
        routes.add_api_route("/subscribe", self.signup, methods=["POST"])
        for path, read, write in (
                ("/subscriptions/confirm/{token}", self.confirm_page, self.confirm),
                ("/subscriptions/manage/{token}", self.manage_page, self.manage),
                ("/subscriptions/unsubscribe/{token}", self.unsubscribe_page, self.unsubscribe)):
            routes.add_api_route(path, read, methods=["GET"], response_class=HTMLResponse)
            routes.add_api_route(path, write, methods=["POST"], response_class=HTMLResponse)
        return routes

    def signup_form(self) -> HTMLResponse:
        defaults = self.runtime.config.reminders.default_offsets
        form = Form(reminders=", ".join(format_duration(d) for d in defaults),
                    notices=list(subs.NOTICE_KINDS))
        schedule = self.runtime.snapshot().schedule
        return self.page("subscribe_form.html", **self.choices(schedule, form, guess_zone=True))

    async def signup(self, request: Request) -> HTMLResponse:
        data = await request.form()
        return await run_in_threadpool(self._signup, data, _client(request))

    def _signup(self, data: Any, request_client: str | None = None) -> HTMLResponse:
        schedule = self.runtime.snapshot().schedule
        form = self.form(data)
        try:
            email = subs.normalize_email(form.email)
            prefs = self.preferences(schedule, form)
        except InvalidInput as error:
            return self.page("subscribe_form.html", 400, **self.choices(
                schedule, form, guess_zone=False,
                error={"field": error.field, "message": str(error)}))
        _queue_sign_up(self.runtime, email, prefs, request_client)
        response = self.page("subscribe_sent.html", message=ACCEPTED)
        response.background = BackgroundTask(process_sign_ups, self.runtime)
        return response

    def confirm_page(self, token: str) -> HTMLResponse:
        found = self.read("confirm", token)
        if found is None or found.status == subs.SubscriberStatus.UNSUBSCRIBED:
            return self.invalid()
        return self._confirmed_page(found)

    def confirm(self, token: str) -> HTMLResponse:
        def work(connection: Connection) -> subs.Subscriber | None:
            found = self.find(connection, "confirm", token)
            if found is None or found.status == subs.SubscriberStatus.UNSUBSCRIBED:
                return None
            subs.confirm(connection, found, _now())
            return subs.get(connection, found.id)

        done = _writing(self.runtime, work)
        return self.invalid() if done is None else self._confirmed_page(done)

    def _confirmed_page(self, found: subs.Subscriber) -> HTMLResponse:
        return self.page("confirm.html", confirmed=found.status == subs.SubscriberStatus.CONFIRMED,
                         email=found.email, links=found.links(self.runtime.config))

    def manage_page(self, token: str) -> HTMLResponse:
        found = self.read("manage", token)
        if found is None or found.status != subs.SubscriberStatus.CONFIRMED:
            return self.invalid()
        return self._manage_page(found, _form_of(found.preferences))

    def _manage_page(self, found: subs.Subscriber, form: Form, status: int = 200,
                     **context: Any) -> HTMLResponse:
        schedule = self.runtime.snapshot().schedule
        return self.page("manage.html", status, **self.choices(
            schedule, form, email=found.email, links=found.links(self.runtime.config),
            message=None) | context)

    async def manage(self, token: str, request: Request) -> HTMLResponse:
        data = await request.form()
        return await run_in_threadpool(self._manage, token, data)

    def _manage(self, token: str, data: Any) -> HTMLResponse:
        found = self.read("manage", token)
        if found is None or found.status != subs.SubscriberStatus.CONFIRMED:
            return self.invalid()
        rotate = data.get("action") == "rotate"
        prefs: subs.Preferences | None = None
        if not rotate:
            form = self.form(data, email=found.email)
            try:
                prefs = self.preferences(self.runtime.snapshot().schedule, form)
            except InvalidInput as error:
                return self._manage_page(found, form, 400, error={
                    "field": error.field, "message": str(error)})

        def work(connection: Connection) -> subs.Subscriber | None:
            current = self.find(connection, "manage", token)
            if current is None or current.status != subs.SubscriberStatus.CONFIRMED:
                return None
            if prefs is None:
                subs.rotate_feed(connection, current, _now())
            else:
                subs.update(connection, current, prefs, _now())
            return subs.get(connection, current.id)

        done = _writing(self.runtime, work)
        if done is None:
            return self.invalid()
        message = ("Here is your new private feed link; the old one no longer works."
                   if rotate else "Saved.")
        return self._manage_page(done, _form_of(done.preferences), message=message)

    def unsubscribe_page(self, token: str) -> HTMLResponse:
        found = self.read("unsubscribe", token)
        if found is None:
            return self.invalid()
        gone = found.status == subs.SubscriberStatus.UNSUBSCRIBED
        return self.page("unsubscribe.html", unsubscribed=gone, email=found.email)

    def unsubscribe(self, token: str) -> HTMLResponse:
        """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``) or the page's button:
        either way any POST to a genuine link unsubscribes at once."""
        def work(connection: Connection) -> subs.Subscriber | None:
            found = self.find(connection, "unsubscribe", token)
            if found is not None:
                subs.unsubscribe(connection, found, _now())
            return found

        found = _writing(self.runtime, work)
        if found is None:
            return self.invalid()
        return self.page("unsubscribe.html", unsubscribed=True, email=found.email)

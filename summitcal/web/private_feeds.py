"""Private feeds: a subscriber's own selection, with one VALARM per reminder offset.

``GET /feeds/private/{token}.ics`` (and HEAD, see ``web.head``) with a ``feed`` token
(see ``subscriptions.tokens``).
A rotated, unknown or forged token, or one of a subscriber who is not confirmed, is a
404 like any unknown feed. Responses are cached per subscriber and replaced when the key
moves: (feed token version, follows, offsets, schedule revision), or when a cancelled
session drops out. Event bytes come from the public feeds' ``FeedBuilder``, so a private
feed costs one subscriber read and a concatenation when the public ones are warm.

The responses are kept in a ``cachetools.LRUCache`` of ``max_entries`` subscribers (the
least recently served goes first). cachetools' caches are not thread-safe, and a read
moves the entry to the front (a write), so every access, reads included, holds
``PrivateFeeds._lock``; the build itself runs outside it, so two requests for one cold
feed may both build it (the same bytes; the last one stays).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Hashable
from functools import cache
from typing import TYPE_CHECKING

from cachetools import LRUCache
from fastapi import APIRouter, Request, Response

from summitcal.core import database
from summitcal.core.errors import NotFound
from summitcal.feeds.routes import respond
from summitcal.feeds.select import follows, next_change
from summitcal.feeds.service import EPOCH, FeedResponse
from summitcal.subscriptions import subscribers as subs

if TYPE_CHECKING:
    from summitcal.web.service import Service

TITLE = "My summit sessions"
_DOC: dict = {200: {"content": {"text/calendar": {}}, "description": "iCalendar feed"},
              304: {"description": "Not modified (If-None-Match / If-Modified-Since)"},
              404: {"description": "Unknown, rotated or revoked link"}}


class PrivateFeeds:
    """Private feed responses, built on the runtime's public feed service; the last
    ``max_entries`` subscribers' responses are kept (see the module doc for the lock)."""

    def __init__(self, runtime: Service, max_entries: int = 4096) -> None:
        self.runtime = runtime
        self.max_entries = max_entries
        self._responses: LRUCache[int, tuple[Hashable, FeedResponse]] = LRUCache(max_entries)
        self._lock = threading.Lock()  # guards _responses (cachetools is not thread-safe)
        self._secret = cache(runtime.config.secret_key)

    def subscriber(self, token: str) -> subs.Subscriber:
        """The confirmed subscriber whose current feed token this is; NotFound otherwise.
        (A bouncing subscriber is confirmed but not mailed: their feed keeps working.)"""
        with database.reading(self.runtime.store.engine) as connection:
            found = subs.by_token(connection, self._secret(), "feed", token)
        if found is None or found.status not in (subs.SubscriberStatus.CONFIRMED,
                                                subs.SubscriberStatus.BOUNCING):
            raise NotFound("feed", "private")
        return found

    def get(self, token: str) -> FeedResponse:
        subscriber = self.subscriber(token)
        prefs = subscriber.preferences
        snapshot = self.runtime.snapshot()
        service = self.runtime.feeds
        now = service.clock()
        key = (subscriber.feed_token_version, prefs.follows, prefs.reminders, snapshot.version)
        with self._lock:
            cached = self._responses.get(subscriber.id)
            if cached is not None and cached[0] == key and (
                    cached[1].expires is None or now < cached[1].expires):
                return cached[1]
        retention = service.settings.cancelled_retention
        sessions = follows(snapshot.schedule, prefs.follows, now, retention)
        body = service.builder.build(TITLE, sessions, snapshot.schedule, alarms=prefs.reminders)
        shown = max([s.last_modified or EPOCH for s in sessions] + [subscriber.updated_at])
        name, digest = f"private/{subscriber.id}", hashlib.sha256(body).hexdigest()[:32]
        response = FeedResponse(
            name, body, f'"{digest}"', service.versions.modified(name, digest, now, shown),
            snapshot.version, next_change(sessions, now, retention))
        with self._lock:
            self._responses[subscriber.id] = (key, response)  # evicts the least recent
        return response


def router(runtime: Service, max_age: int) -> APIRouter:
    """The private feed route; include it before the public feed routes."""
    feeds = PrivateFeeds(runtime)
    routes = APIRouter(tags=["feeds"])

    def private_feed(token: str, request: Request) -> Response:
        return respond(request, feeds.get(token), max_age, cache="private")

    routes.add_api_route("/feeds/private/{token}.ics", private_feed, methods=["GET"],
                         response_class=Response,
                         summary="A subscriber's own selection, with reminders", responses=_DOC)
    return routes

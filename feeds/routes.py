"""HTTP for feeds: GET (and HEAD, see ``web.head``), strong ETag, Last-Modified, 304, gzip,
Cache-Control."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from typing import NamedTuple

from fastapi import APIRouter, Request, Response
from werkzeug.datastructures import Accept
from werkzeug.http import parse_accept_header

from summitcal.feeds.service import FeedResponse, FeedService

CALENDAR = "text/calendar; charset=utf-8"
_CALENDAR_DOC: dict = {200: {"content": {"text/calendar": {}}, "description": "iCalendar feed"},
                       304: {"description": "Not modified (If-None-Match / If-Modified-Since)"},
                       404: {"description": "Unknown feed"}}


def router(service: FeedService, max_age: int) -> APIRouter:
    routes = APIRouter(tags=["feeds"])

    def all_feed(request: Request) -> Response:
        return respond(request, service.get("all"), max_age)

    def one_feed(kind: str, ident: str, request: Request) -> Response:
        return respond(request, service.get(f"{kind}/{ident}"), max_age)

    def one_session(summit: str, session: str, request: Request) -> Response:
        return respond(request, service.get(f"sessions/{summit}/{session}"), max_age)

    # HEAD: web.head answers it for every GET route.
    routes.add_api_route("/feeds/all.ics", all_feed, methods=["GET"], response_class=Response,
                         summary="Every session", responses=_CALENDAR_DOC)
    routes.add_api_route("/feeds/{kind}/{ident}.ics", one_feed, methods=["GET"],
                         response_class=Response,
                         summary="One summit, organisation or participant",
                         description="kind: summits, organizations or participants",
                         responses=_CALENDAR_DOC)
    routes.add_api_route("/feeds/sessions/{summit}/{session}.ics", one_session, methods=["GET"],
                         response_class=Response, summary="One session (\"Add this session\")",
                         description="The session alone, as a calendar to import: the same "
                                     "event (UID, SEQUENCE, VTIMEZONE) as in the feeds.",
                         responses=_CALENDAR_DOC)
    return routes


@lru_cache(maxsize=256)
def content_coding(accept_encoding: str | None) -> str:
    """``"gzip"`` or ``"identity"``: the coding to send a feed in, for an Accept-Encoding
    field value (None: the request had none). Never raises.

    The rule is RFC 9110 12.5.3: codings and the ``q`` parameter are case-insensitive;
    ``*`` stands for every coding the field does not name; ``q=0`` means not acceptable;
    ``identity`` is acceptable unless excluded (``identity;q=0``, or ``*;q=0`` without an
    ``identity`` entry); ``x-gzip`` is ``gzip`` (8.4.1.3). gzip is sent when it is
    acceptable and not weighted below identity; identity has a weight only where an
    ``identity`` or ``*`` entry gives it one (``GZIP;Q=0.5`` alone is gzip, ``gzip;q=0.5,
    identity`` is not). When gzip is not acceptable the feed goes out uncompressed, also
    when identity is excluded too: 12.5.3 has a server with no acceptable coding send
    no coding rather than fail (we never answer 406). No field, or an empty one (12.5.3:
    "does not want any content coding"), means identity.

    Parsing is werkzeug's (``werkzeug.http.parse_accept_header``): a well-kept parser of
    the Accept-* grammar (quoted strings, parameters, case-insensitive ``q``, a malformed
    or out-of-range weight drops its entry), whose ``Accept`` orders entries by
    specificity, so a named coding is weighed before ``*``. Starlette has none of its own.
    Parsing costs some microseconds, and clients send few distinct values, so answers
    are remembered (at most 256 values, least recently used out).
    """
    if accept_encoding is None:
        return "identity"
    accept = parse_accept_header(accept_encoding)
    gzip = _weight(accept, ("gzip", "x-gzip"), default=0.0)
    identity = _weight(accept, ("identity",), default=0.0)
    return "gzip" if gzip > 0 and gzip >= identity else "identity"


def _weight(accept: Accept, names: tuple[str, ...], default: float) -> float:
    """The weight of the first of ``names`` the field lists, else of ``*``, else
    ``default``."""
    listed = {value.lower() for value in accept.values()}
    for name in names:
        if name in listed:
            return accept.quality(name)
    return accept.quality("*") if "*" in listed else default


class Conditions(NamedTuple):
    """What a feed request asks of the answer, from its header fields: the coding
    (``content_coding`` of every Accept-Encoding field, joined into one list as RFC 9110
    5.3 allows) and the validators (the first If-None-Match and If-Modified-Since, as
    Starlette's ``Request.headers.get`` reads them). Read once per request, by the feed
    routes (``respond``) and by the answers in front of them (``web.feed_answers``)."""

    gzip: bool
    if_none_match: str | None
    if_modified_since: str | None

    @classmethod
    def of(cls, headers: Iterable[tuple[bytes, bytes]]) -> Conditions:
        """From an ASGI scope's ``headers`` (lower-case names, latin-1 values)."""
        match = since = None
        accept: list[bytes] = []
        for name, value in headers:
            if name == b"accept-encoding":
                accept.append(value)
            elif name == b"if-none-match":
                match = value if match is None else match
            elif name == b"if-modified-since":
                since = value if since is None else since
        coding = content_coding(b", ".join(accept).decode("latin-1") if accept else None)
        return cls(coding == "gzip", None if match is None else match.decode("latin-1"),
                   None if since is None else since.decode("latin-1"))

    def fresh(self, feed: FeedResponse, now: datetime) -> bool:
        """Whether the client's copy of ``feed`` is current (then a 304 answers).

        RFC 9110 §13.1: If-None-Match (weak comparison) wins over If-Modified-Since.
        If-Modified-Since counts only when it is a date (:func:`parse_http_date`) and not
        later than ``now``: a client clock ahead of ours, or a date it made up, must not
        hide a change (RFC 9110 13.1.3 lets a recipient ignore what is not a valid date).
        """
        if self.if_none_match is not None:
            tags = entity_tags(self.if_none_match)
            return "*" in tags or feed.etag in tags or feed.gzip_etag in tags
        since = parse_http_date(self.if_modified_since or "")
        if since is None or since > now:
            return False
        return feed.last_modified <= since


@lru_cache(maxsize=256)
def entity_tags(if_none_match: str) -> frozenset[str]:
    """The entity tags an If-None-Match field lists, weak ones as strong (the weak
    comparison of RFC 9110 §8.8.3.2), and ``*`` as itself. A poller sends the same value
    again and again, so values are remembered (at most 256, least recently used out)."""
    return frozenset(tag.strip().removeprefix("W/") for tag in if_none_match.split(","))


def parse_http_date(text: str) -> datetime | None:
    """An HTTP-date (RFC 9110 5.6.7) as an aware UTC datetime, or None when ``text`` is not
    one we can read. Never raises.

    The three forms a recipient must accept — IMF-fixdate ``Sun, 06 Nov 1994 08:49:37
    GMT``, the obsolete RFC 850 ``Sunday, 06-Nov-94 08:49:37 GMT`` and asctime ``Sun Nov  6
    08:49:37 1994`` — are read by the standard library's RFC 5322 date parser
    (``email.utils.parsedate_to_datetime``, as werkzeug's ``parse_date`` does). asctime
    has no zone and HTTP dates are UTC, so a date without one is taken as UTC. A year or
    offset beyond what ``datetime`` holds (year 99999, or 31 Dec 9999 at UTC-1) is
    not a date we can compare: None. Two-digit years follow ``email.utils`` (69–99 →
    19xx, else 20xx); RFC 9110's rule (at most 50 years ahead) gives the same instant for
    every year within 42 years of now, and a date further away is long past or in the
    future either way, which decides the same.
    """
    try:
        moment = parsedate_to_datetime(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def respond(request: Request, feed: FeedResponse, max_age: int,
            cache: str = "public") -> Response:
    """The feed's response: 304 when the client's copy is current, else its bytes
    (gzipped when asked). Last-Modified is never later than now (RFC 9110 8.8.2.1), even
    when two changes within one second put the stored instant a second ahead."""
    asked = Conditions.of(request.scope["headers"])
    compress = asked.gzip
    now = datetime.now(UTC)
    headers = {
        "ETag": feed.gzip_etag if compress else feed.etag,
        "Last-Modified": http_date(min(feed.last_modified, now)),
        "Cache-Control": f"{cache}, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }
    if asked.fresh(feed, now):
        return Response(status_code=304, headers=headers)
    body = feed.gzipped if compress else feed.body
    if compress:
        headers["Content-Encoding"] = "gzip"
    headers["Content-Length"] = str(len(body))
    return Response(body, headers=headers, media_type=CALENDAR)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)

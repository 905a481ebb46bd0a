"""HTTP for feeds: GET (and HEAD, see ``web.head``), strong ETag, Last-Modified, 304, gzip,
Cache-Control."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import APIRouter, Request, Response

from feeds.service import FeedResponse, FeedService

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


def wants_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip() if params else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


def not_modified(request: Request, feed: FeedResponse) -> bool:
    """RFC 9110 §13.1: If-None-Match (weak comparison) wins over If-Modified-Since."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {tag.strip().removeprefix("W/") for tag in inm.split(",")}
        return "*" in tags or feed.etag in tags or feed.gzip_etag in tags
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            return False
        return feed.last_modified <= since
    return False


def respond(request: Request, feed: FeedResponse, max_age: int,
            cache: str = "public") -> Response:
    compress = wants_gzip(request)
    headers = {
        "ETag": feed.gzip_etag if compress else feed.etag,
        "Last-Modified": http_date(feed.last_modified),
        "Cache-Control": f"{cache}, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }
    if not_modified(request, feed):
        return Response(status_code=304, headers=headers)
    body = feed.gzipped if compress else feed.body
    if compress:
        headers["Content-Encoding"] = "gzip"
    headers["Content-Length"] = str(len(body))
    return Response(body, headers=headers, media_type=CALENDAR)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)

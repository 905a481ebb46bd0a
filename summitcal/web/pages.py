"""HTML pages: summits and sessions, one summit, the change log and its Atom feed.

Every page reads and subscribes without JavaScript; the script only adds the reader's own
time, prefills their zone and copies feed URLs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytz
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from summitcal.core.durations import format_duration
from summitcal.core.templating import environment
from summitcal.summits.changes import Change, Revision
from summitcal.summits.model import Schedule
from summitcal.web.changelog import revision_views
from summitcal.web.service import Service
from summitcal.web.views import all_feeds, feed_count, feed_links, summit_views

STATIC = Path(__file__).resolve().parent / "static"
REMINDER_CHOICES = [("P7D", "1 week"), ("P1D", "1 day"), ("PT3H", "3 hours"),
                    ("PT1H", "1 hour"), ("PT15M", "15 minutes")]
ATOM = "application/atom+xml; charset=utf-8"
INDEX_SUMMITS = 12  # summit cards on the front page; the others are listed as links
INDEX_SESSIONS = 6  # sessions per card there (the next ones); the summit's page has all
INDEX_FEEDS = 60  # beyond this many feeds, the front page lists those of its summits only
PAGE_TTL = 60.0  # seconds a rendered page is reused within one revision ("upcoming" moves)


class PageCache:
    """Rendered pages by path, reused while the revision is the same and for at most
    ``PAGE_TTL`` seconds (what is upcoming changes with the clock). One render per page
    and revision however many requests ask at once. Thread-safe."""

    def __init__(self, limit: int = 2048) -> None:
        self.limit = limit
        self._pages: dict[str, tuple[int, float, str]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, version: int, render: Callable[[], str]) -> str:
        known = self._pages.get(path)
        if known is not None and known[0] == version and time.monotonic() < known[1]:
            return known[2]
        with self._lock:
            known = self._pages.get(path)
            if known is not None and known[0] == version and time.monotonic() < known[1]:
                return known[2]
            html = render()
            if len(self._pages) >= self.limit:
                self._pages.clear()
            self._pages[path] = (version, time.monotonic() + PAGE_TTL, html)
            return html


@dataclass
class SignupForm:
    """What the sign-up form shows: choices, the values given so far, and any errors."""

    follow_choices: list[tuple[str, str]]
    reminder_choices: list[tuple[str, str]]
    zones: list[str]
    email: str = ""
    timezone: str = "UTC"
    timezone_chosen: str = ""  # empty: let the browser's zone replace the default
    follow: list[str] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=lambda: ["attendance", "schedule"])
    errors: list[str] = field(default_factory=list)


def signup_form(runtime: Service, **values) -> SignupForm:
    schedule = runtime.snapshot().schedule
    follows = [("all", "Every summit")]
    follows += [
        (f"summit:{s.id}", s.name) for s in sorted(schedule.summits.values(), key=lambda s: s.id)
    ]
    follows += [
        (f"organization:{o.id}", o.name)
        for o in sorted(schedule.organizations.values(), key=lambda o: o.id)
    ]
    follows += [
        (f"participant:{p.id}", p.name)
        for p in sorted(schedule.participants.values(), key=lambda p: p.id)
    ]
    defaults = [format_duration(d) for d in runtime.config.reminders.default_offsets]
    choices = list(REMINDER_CHOICES)
    for value in defaults:
        if value not in dict(choices):
            choices.append((value, value))
    values.setdefault("reminders", defaults)
    return SignupForm(follows, choices, list(pytz.common_timezones), **values)


def router(runtime: Service) -> APIRouter:
    routes = APIRouter(tags=["pages"], include_in_schema=False)
    env = environment("web")
    base_url = runtime.config.service.base_url

    def page(name: str, status: int = 200, **values) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**values), status_code=status)

    cache = PageCache()

    @routes.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        snapshot = runtime.snapshot()

        def render() -> str:
            schedule = snapshot.schedule
            views = summit_views(schedule, base_url, datetime.now(UTC), preview=INDEX_SESSIONS)
            shown = views[:INDEX_SUMMITS]
            feeds = all_feeds(schedule, base_url, INDEX_FEEDS, [v.summit.id for v in shown])
            return env.get_template("index.html").render(
                summits=shown,
                more=views[INDEX_SUMMITS:],
                feeds=feeds,
                every_feed=len(feeds) == feed_count(schedule),
                form=signup_form(runtime),
            )

        return HTMLResponse(cache.get("/", snapshot.version, render))

    @routes.get("/summits/{summit_id}", response_class=HTMLResponse)
    def summit(summit_id: str) -> HTMLResponse:
        snapshot = runtime.snapshot()
        schedule = snapshot.schedule
        if summit_id not in schedule.summits:
            return page("not_found.html", 404, what=f"There is no summit called “{summit_id}”.")

        def render() -> str:
            view = summit_views(schedule, base_url, datetime.now(UTC), only=summit_id)[0]
            sessions = [schedule.sessions[s.summit, s.id] for s in view.sessions]
            feeds = [view.feed] + [
                feed_links(
                    base_url,
                    f"/feeds/organizations/{o}.ics",
                    f"Sessions of the {schedule.organizations[o].name}",
                )
                for o in sorted({o for s in sessions for o in s.organizations})
            ]
            if feed_count(schedule) > INDEX_FEEDS:  # the front page does not list them
                people = sorted(
                    {
                        a.participant
                        for s in sessions
                        for a in s.attendance
                        if a.participant in schedule.participants
                    }
                )
                feeds += [
                    feed_links(
                        base_url,
                        f"/feeds/participants/{p}.ics",
                        f"Sessions with {schedule.participants[p].name}",
                    )
                    for p in people
                ]
            return env.get_template("summit.html").render(view=view, feeds=feeds)

        return HTMLResponse(cache.get(f"/summits/{summit_id}", snapshot.version, render))

    @routes.get("/changes", response_class=HTMLResponse)
    def changes() -> HTMLResponse:
        schedule = runtime.snapshot().schedule
        history = runtime.store.revisions(limit=100)
        return page("changes.html", revisions=revision_views(history, schedule))

    @routes.get("/changes.atom")
    def changes_atom() -> Response:
        schedule = runtime.snapshot().schedule
        history = runtime.store.revisions(limit=50)
        return Response(atom(history, schedule, base_url), media_type=ATOM)

    return routes


def atom(history: list[tuple[Revision, list[Change]]], schedule: Schedule, base_url: str) -> str:
    """The change log as an Atom feed (RFC 4287): one entry per revision, newest first,
    its content one line per change."""
    views = revision_views(history, schedule)
    entries = [
        {
            "revision": v.revision,
            "lines": v.lines,
            "updated": _atom_time(v.revision.created_at),
            "title": _entry_title(v),
        }
        for v in views
    ]
    updated = entries[0]["updated"] if entries else _atom_time(datetime(2000, 1, 1, tzinfo=UTC))
    return (
        environment("web")
        .get_template("changes.atom.xml")
        .render(
            revisions=entries,
            updated=updated,
            base_url=base_url,
            host=urlsplit(base_url).hostname or "localhost",
        )
    )


def _atom_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _count_subjects(subjects: list[str]) -> str:
    """ "1 summit and 4 sessions": what the subjects of a revision are, counted by kind
    (summit, organisation and participant subjects carry their kind as a prefix)."""
    kinds = {"Summit: ": "summit", "Organisation: ": "organisation", "Participant: ": "participant"}
    counts = dict.fromkeys([*kinds.values(), "session"], 0)
    for subject in subjects:
        kind = next(
            (name for prefix, name in kinds.items() if subject.startswith(prefix)), "session"
        )
        counts[kind] += 1
    parts = [f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in counts.items() if n]
    return " and ".join(filter(None, [", ".join(parts[:-1]), parts[-1]]))


def _entry_title(view) -> str:
    subjects = list(dict.fromkeys(line.subject for line in view.lines))
    whats = list(dict.fromkeys(line.what for line in view.lines))
    if len(whats) == 1 and len(subjects) > 1:
        return f"{whats[0].capitalize()}: {_count_subjects(subjects)}"
    if len(view.lines) == 1:
        line = view.lines[0]
        return f"{line.subject}: {line.what}"
    return (
        f"{len(view.lines)} changes: "
        + "; ".join(subjects[:3])
        + ("…" if len(subjects) > 3 else "")
    )

"""What the HTML pages show: summits, sessions, attendance badges and feed links, as plain
values for the templates (no markup here; templates autoescape everything)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote, urlencode

from summitcal.core.localtime import format_offset, zone
from summitcal.feeds import links
from summitcal.scheduler.wording import day_range, long_date
from summitcal.summits.model import AttendanceMode, Schedule, Session, Summit, mode_label


@dataclass(frozen=True)
class FeedLinks:
    title: str
    slug: str  # for element ids
    https: str
    webcal: str

    @property
    def google(self) -> str:
        return "https://calendar.google.com/calendar/render?" + urlencode({"cid": self.webcal})

    @property
    def outlook(self) -> str:
        return "https://outlook.live.com/calendar/0/addfromweb?" + urlencode(
            {"url": self.https, "name": self.title}, quote_via=quote)


@dataclass(frozen=True)
class Badge:
    who: str
    role: str
    mode: str
    label: str
    note: str | None
    announced: date | None
    ident: str


@dataclass(frozen=True)
class SessionView:
    summit: str
    id: str
    anchor: str  # the element's id: feeds.links.anchor
    ics_url: str  # "Add this session": the session alone as a calendar
    title: str
    status: str
    venue_time: str
    place: str
    start_utc: str | None  # ISO instants for the reader's time (timed sessions)
    end_utc: str | None
    badges: list[Badge]
    description: str | None
    video_url: str | None
    upcoming: bool


@dataclass
class SummitView:
    summit: Summit
    days: str
    upcoming: bool
    sessions: list[SessionView] = field(default_factory=list)
    feed: FeedLinks | None = None
    total: int = 0  # sessions in the summit; more than ``sessions`` when these are a preview


def feed_links(base_url: str, path: str, title: str) -> FeedLinks:
    https = f"{base_url}{path}"
    slug = path.strip("/").replace("/", "-").removesuffix(".ics")
    return FeedLinks(title, slug, https, "webcal://" + https.split("://", 1)[1])


def venue_time(session: Session, city: str) -> str:
    """'Thursday 16 September 2021, 10:00–13:00 Dushanbe (UTC+5)' or '…, all day (Dushanbe)'."""
    if session.start is None:
        offset = format_offset(session.starts_at.astimezone(zone(session.timezone)).utcoffset())
        return f"{day_range(session.first_day, session.last_day)}, all day ({city}, {offset})"
    start = session.start
    end = session.end
    text = f"{long_date(start.date())}, {start:%H:%M}"
    if end is not None:
        text += (
            f"–{end:%H:%M}"
            if end.date() == start.date()
            else f" – {long_date(end.date())}, {end:%H:%M}"
        )
    offsets = format_offset(start.utcoffset())
    if end is not None and end.utcoffset() != start.utcoffset():
        offsets += f" → {format_offset(end.utcoffset())}"
    return f"{text} {city} ({offsets})"


def session_view(session: Session, schedule: Schedule, now: datetime, base_url: str) -> SessionView:
    summit = schedule.summits.get(session.summit)
    city = (
        summit.city
        if summit and session.timezone == summit.timezone
        else session.timezone.rsplit("/", 1)[-1].replace("_", " ")
    )
    place = session.venue or (f"{summit.city}, {summit.country}" if summit else "")
    anchor = links.anchor(session.summit, session.id)
    badges = []
    for item in session.attendance:
        person = schedule.participants.get(item.participant)
        label = mode_label(item.mode)
        if item.mode == AttendanceMode.DELEGATED and item.delegate:
            delegate = schedule.participants.get(item.delegate)
            label = f"delegated to {delegate.name if delegate else item.delegate}"
        badges.append(
            Badge(
                person.name if person else item.participant,
                person.role if person else "",
                item.mode,
                label,
                item.note,
                item.announced,
                f"{anchor}.{item.participant}",
            )
        )
    timed = session.start is not None
    return SessionView(
        summit=session.summit,
        id=session.id,
        anchor=anchor,
        ics_url=links.ics_url(session, base_url),
        title=session.title,
        status=session.status,
        venue_time=venue_time(session, city),
        place=place,
        start_utc=session.starts_at.isoformat().replace("+00:00", "Z") if timed else None,
        end_utc=session.ends_at.isoformat().replace("+00:00", "Z")
        if timed and session.end
        else None,
        badges=badges,
        description=session.description,
        video_url=session.video_url,
        upcoming=session.ends_at > now,
    )


def summit_views(
    schedule: Schedule,
    base_url: str,
    now: datetime,
    only: str | None = None,
    preview: int | None = None,
) -> list[SummitView]:
    """Upcoming summits first (soonest first), then past ones (most recent first); with
    ``only``, just that summit's view. With ``preview``, each view shows at most that
    many sessions (the next ones, or the last ones of a past summit) and ``total``.
    Sessions are grouped by summit once: linear in the sessions."""
    grouped: dict[str, list[Session]] = {}
    for session in schedule.sessions.values():
        if only is None or session.summit == only:
            grouped.setdefault(session.summit, []).append(session)
    views = []
    for summit in schedule.summits.values():
        if only is not None and summit.id != only:
            continue
        sessions = sorted(grouped.get(summit.id, []), key=lambda s: (s.starts_at, s.ends_at, s.id))
        first = min((s.first_day for s in sessions), default=None)
        last = max((s.last_day for s in sessions), default=None)
        upcoming = any(s.ends_at > now for s in sessions)
        shown = sessions if preview is None else _preview(sessions, now, preview)
        view = SummitView(
            summit,
            day_range(first, last) if first and last else "dates to come",
            upcoming,
            [session_view(s, schedule, now, base_url) for s in shown],
            feed_links(base_url, f"/feeds/summits/{summit.id}.ics", summit.name),
            len(sessions),
        )
        views.append((first or date.max, view))
    coming = sorted((v for v in views if v[1].upcoming), key=lambda v: v[0])
    past = sorted((v for v in views if not v[1].upcoming), key=lambda v: v[0], reverse=True)
    return [v for _, v in coming + past]


def _preview(sessions: list[Session], now: datetime, count: int) -> list[Session]:
    """The next ``count`` sessions not yet ended, or the last ``count`` when all have."""
    coming = [s for s in sessions if s.ends_at > now]
    return coming[:count] if coming else sessions[-count:]


def feed_count(schedule: Schedule) -> int:
    """How many feeds there are: all sessions, and one per summit, organisation, participant."""
    return 1 + len(schedule.summits) + len(schedule.organizations) + len(schedule.participants)


def all_feeds(
    schedule: Schedule, base_url: str, limit: int | None = None, summits: list[str] | None = None
) -> list[FeedLinks]:
    """Every feed: all sessions, each summit, organisation and participant. With ``limit``
    and more feeds than that, only all sessions, the organisations and ``summits`` (a
    summit's page lists its own feed and those of its participants)."""
    if limit is not None and feed_count(schedule) > limit:
        feeds = [feed_links(base_url, "/feeds/all.ics", "Every summit session")]
        feeds += [
            feed_links(base_url, f"/feeds/summits/{s}.ics", schedule.summits[s].name)
            for s in summits or []
        ]
        feeds += [
            feed_links(base_url, f"/feeds/organizations/{o.id}.ics", f"Sessions of the {o.name}")
            for o in sorted(schedule.organizations.values(), key=lambda o: o.id)
        ]
        return feeds
    feeds = [feed_links(base_url, "/feeds/all.ics", "Every summit session")]
    for summit in sorted(schedule.summits.values(), key=lambda s: s.id):
        feeds.append(feed_links(base_url, f"/feeds/summits/{summit.id}.ics", summit.name))
    for org in sorted(schedule.organizations.values(), key=lambda o: o.id):
        feeds.append(
            feed_links(
                base_url, f"/feeds/organizations/{org.id}.ics", f"Sessions of the {org.name}"
            )
        )
    for person in sorted(schedule.participants.values(), key=lambda p: p.id):
        feeds.append(
            feed_links(
                base_url, f"/feeds/participants/{person.id}.ics", f"Sessions with {person.name}"
            )
        )
    return feeds

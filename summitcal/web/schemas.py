"""JSON shapes of the HTTP API (they also describe it in /openapi.json)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from summitcal.summits.model import AttendanceMode, Schedule, Session, SessionStatus, Summit

Mode = Literal["in_person", "video", "delegated", "absent", "unknown"]


class Moment(BaseModel):
    local: str = Field(description="Wall time in the session's zone, with its UTC offset")
    utc: datetime


class AttendanceOut(BaseModel):
    participant: str
    name: str
    mode: AttendanceMode
    delegate: str | None = None
    note: str | None = None
    announced: dt.date | None = None


class SessionOut(BaseModel):
    summit: str
    id: str
    title: str
    status: SessionStatus
    sequence: int
    all_day: bool
    timezone: str
    start: Moment
    end: Moment
    date: dt.date | None = None
    end_date: dt.date | None = Field(None, description="Last day, inclusive (all-day sessions)")
    venue: str | None = None
    description: str | None = None
    video_url: str | None = None
    organizations: list[str]
    attendance: list[AttendanceOut]
    last_modified: datetime | None = None


class FeedLinks(BaseModel):
    https: str
    webcal: str


class SummitOut(BaseModel):
    id: str
    name: str
    city: str
    country: str
    timezone: str
    sources: list[str]
    first_day: dt.date | None
    last_day: dt.date | None
    feed: FeedLinks


class SummitDetail(SummitOut):
    sessions: list[SessionOut]


class AttendanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode
    note: str | None = Field(None, max_length=2000)
    delegate: str | None = Field(None, max_length=200)
    announced: dt.date | None = None


class ChangeOut(BaseModel):
    kind: str
    summit: str | None = None
    session: str | None = None
    participant: str | None = None
    organization: str | None = None
    field: str | None = None
    old: object = None
    new: object = None
    note: str | None = None
    text: str


class ApplyResult(BaseModel):
    revision: int | None
    dry_run: bool = False
    changes: list[ChangeOut]


def feed_links(base_url: str, path: str) -> FeedLinks:
    from summitcal.web.views import feed_links as links  # one place makes feed URLs

    made = links(base_url, path, "")
    return FeedLinks(https=made.https, webcal=made.webcal)


def session_out(session: Session, schedule: Schedule) -> SessionOut:
    def moment(instant: datetime) -> Moment:
        local = instant.astimezone(session.start.tzinfo) if session.start else None
        text = local.isoformat() if local else instant.astimezone(
            _zone(session.timezone)).isoformat()
        return Moment(local=text, utc=instant)

    people = schedule.participants
    return SessionOut(
        summit=session.summit, id=session.id, title=session.title, status=session.status,
        sequence=session.sequence, all_day=session.all_day, timezone=session.timezone,
        start=moment(session.starts_at), end=moment(session.ends_at), date=session.date,
        end_date=session.end_date or session.date if session.all_day else None,
        venue=session.venue, description=session.description, video_url=session.video_url,
        organizations=list(session.organizations),
        attendance=[AttendanceOut(
            participant=a.participant, name=people[a.participant].name
            if a.participant in people else a.participant, mode=a.mode, delegate=a.delegate,
            note=a.note, announced=a.announced) for a in session.attendance],
        last_modified=session.last_modified,
    )


def summit_out(summit: Summit, schedule: Schedule, base_url: str) -> SummitOut:
    sessions = schedule.sessions_of(summit.id)
    return SummitOut(
        id=summit.id, name=summit.name, city=summit.city, country=summit.country,
        timezone=summit.timezone, sources=list(summit.sources),
        first_day=min((s.first_day for s in sessions), default=None),
        last_day=max((s.last_day for s in sessions), default=None),
        feed=feed_links(base_url, f"/feeds/summits/{summit.id}.ics"),
    )


def _zone(name: str):
    from summitcal.core.localtime import zone

    return zone(name)

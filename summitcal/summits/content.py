"""A schedule file's checked content in the form the store keeps (DESIGN.md §8).

``encode`` gives it as JSON: lists of records and sessions, wall times with their fold
and zone, dates as ISO text, so that formatting and comments do not count as changes;
``decode`` reads it back. The sessions are most of it (60 MB of JSON at 50,000 sessions)
and are kept apart, compressed (``pack``); the rest lists the ids the sessions name
(``REFERENCES``), so a reload's cross-file checks need not read them. ``stored`` makes both
parts of one file; a large load makes them while it parses, on both CPUs
(``schedule_file.parse_file``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
from zlib_ng import zlib_ng as zlib

from summitcal.summits.model import (
    Attendance,
    AttendanceMode,
    Organization,
    Participant,
    Schedule,
    Session,
    SessionStatus,
    Summit,
)


class Stored(NamedTuple):
    """One file's content as stored: ``encode``'s JSON without the sessions, with
    ``REFERENCES``; and the sessions, ``pack``ed."""

    content: dict[str, Any]
    sessions: bytes


def stored(content: Schedule) -> Stored:
    """``content`` (one file's summit, sessions and records) as the store keeps it."""
    encoded = encode(content) | {REFERENCES: referenced(content)}
    return Stored(encoded, pack(encoded.pop("sessions")))


#: The key of the stored content that lists the ids a file's sessions name, by kind.
REFERENCES = "references"


def referenced(content: Schedule) -> dict[str, list[str]]:
    """The organisation and participant ids that ``content``'s sessions name (sorted)."""
    sessions = content.sessions.values()
    return {
        "organisation": sorted({o for s in sessions for o in s.organizations}),
        "participant": sorted({p for s in sessions for a in s.attendance
                               for p in (a.participant, a.delegate) if p}),
    }


def pack(sessions: list[dict[str, Any]]) -> bytes:
    """``encode``'s sessions as stored: JSON (UTF-8) compressed in the zlib format (RFC
    1950) by zlib-ng at level 1: 60 MB of JSON packs to 13 MB in 0.1 s (zlib's own
    takes 0.3 s); any zlib reads it."""
    return zlib.compress(orjson.dumps(sessions), 1)


def unpack(packed: bytes) -> list[dict[str, Any]]:
    """The sessions ``pack`` stored."""
    sessions: list[dict[str, Any]] = orjson.loads(zlib.decompress(packed))
    return sessions


def encode(content: Schedule) -> dict[str, Any]:
    """``content`` as JSON: lists of records and sessions; times as naive wall-time ISO
    text with a fold (the session's zone is beside them), dates as ISO dates."""
    return {
        "summits": [{"id": s.id, "name": s.name, "city": s.city, "country": s.country,
                     "timezone": s.timezone, "sources": list(s.sources)}
                    for s in content.summits.values()],
        "organizations": [{"id": o.id, "name": o.name} for o in content.organizations.values()],
        "participants": [{"id": p.id, "name": p.name, "role": p.role}
                         for p in content.participants.values()],
        "sessions": [_session(s) for s in content.sessions.values()],
    }


def decode(data: Mapping[str, Any]) -> Schedule:
    """The ``Schedule`` that ``encode`` wrote (``decode(encode(x)) == x`` for file content)."""
    summits = [Summit(s["id"], s["name"], s["city"], s["country"], s["timezone"],
                      tuple(s["sources"])) for s in data["summits"]]
    sessions = [_unsession(s) for s in data["sessions"]]
    return Schedule(
        summits={s.id: s for s in summits},
        organizations={o["id"]: Organization(o["id"], o["name"]) for o in data["organizations"]},
        participants={p["id"]: Participant(p["id"], p["name"], p["role"])
                      for p in data["participants"]},
        sessions={s.key: s for s in sessions},
    )


def _wall(value: datetime | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"local": value.replace(tzinfo=None, fold=0).isoformat(), "fold": value.fold}


def _unwall(value: Mapping[str, Any] | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value["local"]).replace(tzinfo=zone, fold=value["fold"])


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value is not None else None


def _session(s: Session) -> dict[str, Any]:
    return {
        "summit": s.summit, "id": s.id, "title": s.title, "timezone": s.timezone,
        "organizations": list(s.organizations), "start": _wall(s.start), "end": _wall(s.end),
        "date": s.date.isoformat() if s.date else None,
        "end_date": s.end_date.isoformat() if s.end_date else None,
        "venue": s.venue, "status": s.status, "description": s.description,
        "video_url": s.video_url,
        "attendance": [{"participant": a.participant, "mode": a.mode, "delegate": a.delegate,
                        "note": a.note,
                        "announced": a.announced.isoformat() if a.announced else None}
                       for a in s.attendance],
    }


def _unsession(s: Mapping[str, Any]) -> Session:
    zone = ZoneInfo(s["timezone"])
    return Session(
        summit=s["summit"], id=s["id"], title=s["title"], timezone=s["timezone"],
        organizations=tuple(s["organizations"]), start=_unwall(s["start"], zone),
        end=_unwall(s["end"], zone), date=_day(s["date"]), end_date=_day(s["end_date"]),
        venue=s["venue"], status=SessionStatus(s["status"]), description=s["description"],
        video_url=s["video_url"],
        attendance=tuple(Attendance(a["participant"], AttendanceMode(a["mode"]), a["delegate"],
                                    a["note"], _day(a["announced"]))
                         for a in s["attendance"]),
    )

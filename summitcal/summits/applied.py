"""What each summit's schedule file looked like when it was last applied (DESIGN.md §8).

One row per summit in ``schedule_files``: the file's path, the SHA-256 of its bytes and
its checked content in a normalised JSON form (``encode``/``decode``: wall times with
their fold and zone, dates as ISO text), so formatting and comments do not count as
changes and a file is compared with what it was, not with the store (which live edits
change). ``summits.merge`` takes these as the base of a three-way apply. The sessions
are kept apart from the rest of the content, compressed (``pack``): they are most of it
(60 MB of JSON at 50,000 sessions, 13 MB packed), and only a changed file's are read.

Every function takes an open connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from zlib_ng import zlib_ng as zlib

from summitcal.summits import tables as t
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
from summitcal.summits.schedule_file import Declared, parse_text


@dataclass(frozen=True, slots=True)
class Applied:
    """One summit's file as last applied: where it was, the SHA-256 (hex) of its bytes, and
    its content (a ``Schedule`` holding that summit, its sessions and the records the file
    declared)."""

    summit: str
    path: str
    sha256: str
    content: Schedule


def read(connection: Connection, summits: Iterable[str] | None = None) -> dict[str, Applied]:
    """The stored records (of ``summits``, or all), by summit id."""
    query = sa.select(t.schedule_files)
    if summits is not None:
        query = query.where(t.schedule_files.c.summit.in_(list(summits)))
    return {r.summit: Applied(r.summit, r.path, r.sha256, decode(_whole(r.content, r.sessions)))
            for r in connection.execute(query)}


def pack(sessions: list[dict[str, Any]]) -> bytes:
    """``encode``'s sessions as stored: JSON (UTF-8) compressed in the zlib format (RFC
    1950) by zlib-ng at level 1: 60 MB of JSON packs to 13 MB in 0.1 s (zlib's own
    takes 0.3 s); any zlib reads it."""
    return zlib.compress(orjson.dumps(sessions), 1)


def unpack(packed: bytes) -> list[dict[str, Any]]:
    """The sessions ``pack`` stored."""
    sessions: list[dict[str, Any]] = orjson.loads(zlib.decompress(packed))
    return sessions


def _whole(content: Mapping[str, Any], packed: bytes | None) -> Mapping[str, Any]:
    """A row's content with its sessions (kept in the content itself before 0011)."""
    return content if packed is None else {**content, "sessions": unpack(packed)}


def as_loaded(connection: Connection) -> dict[tuple[str, str], Callable[[str], Declared]]:
    """Every file as last applied, for ``load_files(..., applied=...)``: (path, SHA-256)
    → a function giving the file's ``Declared`` (built only for files found unchanged).

    Only the declarations and the ids the sessions name are read (the database extracts
    them from the stored JSON), not the sessions: a reload after a one-line change reads
    a few kilobytes per file rather than every session of the schedule. Rows stored
    before ``REFERENCES`` was kept are read whole."""
    content = t.schedule_files.c.content
    query = sa.select(t.schedule_files.c.path, t.schedule_files.c.sha256, content["summits"],
                      content["organizations"], content["participants"],
                      content[REFERENCES])
    found: dict[tuple[str, str], Callable[[str], Declared]] = {}
    older: list[tuple[str, str]] = []
    for path, sha256, summits, organizations, participants, references in \
            connection.execute(query):
        if references is None:
            older.append((path, sha256))
            continue
        data = {"summits": summits, "organizations": organizations,
                "participants": participants, REFERENCES: references}
        found[path, sha256] = partial(declared, data)
    if older:
        whole = sa.select(t.schedule_files.c.path, t.schedule_files.c.sha256, content,
                          t.schedule_files.c.sessions)
        for row in connection.execute(whole):
            if (row.path, row.sha256) in older:
                found[row.path, row.sha256] = partial(declared,
                                                      _whole(row.content, row.sessions))
    return found


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


def declared(data: Mapping[str, Any], file: str) -> Declared:
    """The declarations of a file as last applied (``encode``'s form, with or without its
    sessions when it has ``REFERENCES``), with the field paths its ``Document`` had: the
    file was valid, so each entry kept its index. The field paths of its references are
    only worked out when one of them is unknown (from the stored sessions, or else from
    the file itself, whose bytes are those applied)."""
    summits = [Summit(s["id"], s["name"], s["city"], s["country"], s["timezone"],
                      tuple(s["sources"])) for s in data["summits"]]
    if data.get(REFERENCES) is not None:
        ids = {kind: set(found) for kind, found in data[REFERENCES].items()}
        paths: Callable[[], list[tuple[str, str, str]]] = partial(_parsed_references, file)
    else:
        sessions = data["sessions"]
        ids = {
            "organisation": {o for s in sessions for o in s["organizations"]},
            "participant": {p for s in sessions for a in s["attendance"]
                            for p in (a["participant"], a["delegate"]) if p},
        }
        paths = partial(_references, sessions)
    return Declared(
        file, summits[0] if summits else None,
        organizations=[(f"organizations[{i}]", Organization(o["id"], o["name"]))
                       for i, o in enumerate(data["organizations"])],
        participants=[(f"participants[{i}]", Participant(p["id"], p["name"], p["role"]))
                      for i, p in enumerate(data["participants"])],
        referenced=ids,
        paths=paths,
    )


def _parsed_references(file: str) -> list[tuple[str, str, str]]:
    """(field path, kind, id) of every reference, from the file parsed again."""
    try:
        document = parse_text(Path(file).read_text(encoding="utf-8"), file)
    except (OSError, UnicodeDecodeError):
        return []
    return getattr(document, "references", [])


def _references(sessions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(field path, kind, id) of every reference, in ``Document.references`` order."""
    found: list[tuple[str, str, str]] = []
    for i, s in enumerate(sessions):
        path = f"sessions[{i}]"
        found.extend((f"{path}.organizations[{k}]", "organisation", o)
                     for k, o in enumerate(s["organizations"]))
        for k, a in enumerate(s["attendance"]):
            found.append((f"{path}.attendance[{k}].participant", "participant",
                          a["participant"]))
            if a["delegate"]:
                found.append((f"{path}.attendance[{k}].delegate", "participant",
                              a["delegate"]))
    return found


def write(connection: Connection, files: Iterable[Applied], known: Mapping[str, Applied],
          now: datetime, revision: int | None) -> int:
    """Record ``files`` as applied at ``now`` by ``revision`` (None: they changed nothing).
    A file whose path and bytes equal its ``known`` record is left alone (a restart with
    unchanged files writes nothing). Returns how many rows were written."""
    written = 0
    for file in files:
        old = known.get(file.summit)
        if old is not None and (old.path, old.sha256) == (file.path, file.sha256):
            continue
        stored = encode(file.content) | {REFERENCES: referenced(file.content)}
        values = {"path": file.path, "sha256": file.sha256,
                  "sessions": pack(stored.pop("sessions")), "content": stored,
                  "applied_at": now, "revision_id": revision}
        table = t.schedule_files
        if old is None:
            connection.execute(sa.insert(table).values(summit=file.summit, **values))
        else:
            connection.execute(sa.update(table).where(table.c.summit == file.summit)
                               .values(values))
        written += 1
    return written


# --- the normalised content ----------------------------------------------------------------


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

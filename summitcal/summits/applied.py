"""What each summit's schedule file looked like when it was last applied (DESIGN.md §8).

One row per summit in ``schedule_files``: the file's path, the SHA-256 of its bytes and
its checked content in the normalised form of ``summits.content`` (wall times with their
fold and zone, dates as ISO text), so formatting and comments do not count as changes
and a file is compared with what it was, not with the store (which live edits change).
``summits.merge`` takes these as the base of a three-way apply. The sessions are kept
apart from the rest of the content, compressed: they are most of it (60 MB of JSON at
50,000 sessions, 13 MB packed), and only a changed file's are read.

Every function takes an open connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from summitcal.summits import rows
from summitcal.summits import tables as t
from summitcal.summits.content import REFERENCES, decode, unpack
from summitcal.summits.model import Organization, Participant, Schedule, Summit
from summitcal.summits.schedule_file import Declared, SourceFile, parse_text


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


def write(connection: Connection, files: Iterable[SourceFile], known: Mapping[str, Applied],
          now: datetime, revision: int | None) -> int:
    """Record ``files`` as applied at ``now`` by ``revision`` (None: they changed nothing),
    in the form their load made (``SourceFile.stored``). A file whose path and bytes equal
    its ``known`` record is left alone (a restart with unchanged files writes nothing).
    Returns how many rows were written."""
    new: list[dict[str, Any]] = []
    table = t.schedule_files
    written = 0
    for file in files:
        old = known.get(file.summit)
        if old is not None and (old.path, old.sha256) == (file.path, file.sha256):
            continue
        values = {"path": file.path, "sha256": file.sha256, "sessions": file.stored.sessions,
                  "content": file.stored.content, "applied_at": now, "revision_id": revision}
        if old is None:
            new.append({"summit": file.summit, **values})
        else:
            connection.execute(sa.update(table).where(table.c.summit == file.summit)
                               .values(values))
        written += 1
    rows.insert_many(connection, table, new)
    return written

"""Feed pieces kept across restarts, so the first feed after a restart is not a cold build.

``serve`` writes the builder's VEVENT pieces to a file in the data folder when it stops
(``keep``) and reads them back when it starts (``restore``). Each piece carries a digest
of its *version* (``feeds.cache.version_digest`` of ``event_version``: the session and
every record its event shows), so a restored piece is used only while the session and
records read from the database still give that digest; anything changed since (by
another process, or while the service was down) is rendered afresh as usual. The file
also names the summitcal version and the feed settings it was made with; a file from
another version or other settings, or one that cannot be read, is ignored (and the start
is cold, as without it).

The file holds data only, never code: ``MAGIC``, the length of a JSON index (4 bytes,
big-endian), the index, then the pieces' bytes one after another. Reading it runs
``json.loads`` and slices bytes, so a damaged or hostile file can at worst be refused
(unlike a pickle, whose loading runs whatever the file says). It is replaced
atomically.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import astuple
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from summitcal.feeds.cache import FeedBuilder, Piece, version_digest
from summitcal import __version__

log = logging.getLogger("summitcal")
MAGIC = b"summitcal feed pieces\n"
FORMAT = 2
NO_RECORDS = (0, 0, 0)  # record tables of no snapshot: the piece's version decides
_LENGTH = struct.Struct(">I")


def _stamp(builder: FeedBuilder) -> list[Any]:
    settings = [str(v) if isinstance(v, timedelta) else v for v in astuple(builder.settings)]
    return [FORMAT, __version__, settings]


def keep(builder: FeedBuilder, path: Path) -> int:
    """Write the builder's pieces to ``path``; returns how many were written."""
    index: list[list[Any]] = []
    bodies: list[bytes] = []
    for (summit, session, participant, alarms), (_, piece) in list(
            builder.events.items_view().items()):
        index.append([summit, session, participant, [a.total_seconds() for a in alarms],
                      piece.digest or version_digest(piece.version), list(piece.order), piece.zone, piece.first.isoformat(),
                      piece.last.isoformat(), len(piece.body)])
        bodies.append(piece.body)
    head = json.dumps({"stamp": _stamp(builder), "pieces": index},
                      separators=(",", ":")).encode("utf-8")
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(MAGIC + _LENGTH.pack(len(head)) + head)
        handle.writelines(bodies)
    os.replace(temporary, path)
    return len(index)


def restore(builder: FeedBuilder, path: Path) -> int:
    """Put the pieces kept in ``path`` into ``builder``; returns how many (0 when there is
    no usable file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("feed pieces in %s not used: %s", path, exc.strerror)
        return 0
    try:
        pieces = _read(data, _stamp(builder))
    except (ValueError, TypeError, KeyError, IndexError, struct.error) as exc:
        log.warning("feed pieces in %s not used: %s", path, exc)  # only a cold start
        return 0
    for key, piece in pieces:
        builder.events.put(key, None, piece)
    return len(pieces)


def _read(data: bytes, stamp: list[Any]) -> list[tuple[Any, Piece]]:
    """The pieces of a kept file (ValueError and the like when it is not one); none when
    it was made by another version or with other settings."""
    if not data.startswith(MAGIC):
        raise ValueError("not a file of feed pieces")
    start = len(MAGIC) + _LENGTH.size
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    head = json.loads(data[start:start + length])
    if head["stamp"] != stamp:
        return []
    offset = start + length
    found = []
    for summit, session, participant, alarms, digest, order, zone, first, last, size in \
            head["pieces"]:
        body = data[offset:offset + size]
        if len(body) != size:
            raise ValueError("the file ends before its last piece")
        offset += size
        key = (summit, session, participant, tuple(timedelta(seconds=a) for a in alarms))
        found.append((key, Piece(None, None, NO_RECORDS, tuple(order), zone,
                                 date.fromisoformat(first), date.fromisoformat(last), body,
                                 digest)))
    return found

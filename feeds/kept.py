"""Feeds kept across restarts, so the first feed after a restart is not a cold build.

``serve`` writes to a file in the data folder when it stops (``keep_service``) and reads
it back when it starts (``restore_service``):

* the builder's VEVENT pieces. Each carries a digest of its *version*
  (``feeds.cache.version_digest`` of ``event_version``: the session and every record its
  event shows), so a restored piece is used only while the session and records read from
  the database still give that digest; anything changed since (by another process, or
  while the service was down) is rendered afresh as usual;
* the feeds built last (their parts, validators and gzip form), each with the revision
  it shows: restored only while the database is still at that revision (its id and
  creation time), so the first request after a restart is answered without reading the
  schedule at all;
* the gzip joiner's compressed chunks (``feeds.gzipped``), so the first change after a
  restart compresses only what it changed.

The file also names the summitcal version and the feed settings it was made with; a file
from another version or other settings, or one that cannot be read, is ignored (and the
start is cold, as without it).

The file holds data only, never code: ``MAGIC``, the length of a JSON index (4 bytes,
big-endian), the index, then byte strings one after another ("blobs", each written once
however many pieces, feeds and chunks share it). Reading it runs ``json.loads`` and
slices bytes, so a damaged or hostile file can at worst be refused (unlike a pickle,
whose loading runs whatever the file says). It is replaced atomically.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from summitcal import __version__
from summitcal.feeds.cache import FeedBuilder, Piece, version_digest
from summitcal.feeds.gzipped import GzipJoiner

if TYPE_CHECKING:
    from summitcal.feeds.service import FeedResponse, FeedService

log = logging.getLogger("summitcal")
MAGIC = b"summitcal feed pieces\n"
FORMAT = 3
NO_RECORDS = (0, 0, 0)  # record tables of no snapshot: the piece's version decides
_LENGTH = struct.Struct(">I")
#: The schedule's revision a kept feed shows: (id, creation instant in ISO form).
Revision = tuple[int, str]
#: How many kept feeds at most (the most requested ones: ``all`` and a few more).
MAX_FEEDS = 32


class _Blobs:
    """Byte strings to write, each once (by identity), with their index."""

    def __init__(self) -> None:
        self.items: list[bytes] = []
        self._index: dict[int, int] = {}

    def add(self, blob: bytes) -> int:
        found = self._index.get(id(blob))
        if found is None:
            found = self._index[id(blob)] = len(self.items)
            self.items.append(blob)
        return found


@dataclass
class Restored:
    """What ``restore_service`` put back: pieces, feeds and gzip chunks."""

    pieces: int = 0
    feeds: list[str] = field(default_factory=list)
    chunks: int = 0


def _stamp(builder: FeedBuilder) -> list[Any]:
    settings = [str(v) if isinstance(v, timedelta) else v for v in astuple(builder.settings)]
    return [FORMAT, __version__, settings]


def keep(builder: FeedBuilder, path: Path) -> int:
    """Write the builder's pieces to ``path``; returns how many were written."""
    return _write(path, builder, None, [], None)


def restore(builder: FeedBuilder, path: Path) -> int:
    """Put the pieces kept in ``path`` into ``builder``; returns how many (0 when there is
    no usable file)."""
    head, blobs = _open(path, builder)
    return _restore_pieces(builder, head, blobs) if head is not None else 0


def keep_service(service: FeedService, path: Path, revision: Revision | None) -> int:
    """Write the service's pieces, its current feeds (those showing ``revision``, the
    database's latest) and its gzip chunks to ``path``; returns how many pieces."""
    feeds = [r for r in service.responses() if revision is not None and r.version == revision[0]]
    return _write(path, service.builder, service.joiner, feeds[:MAX_FEEDS], revision)


def restore_service(service: FeedService, path: Path, revision: Revision | None) -> Restored:
    """Put what ``keep_service`` wrote back into ``service``: pieces, gzip chunks, and the
    feeds when the database is still at the revision they show (``revision``)."""
    head, blobs = _open(path, service.builder)
    if head is None:
        return Restored()
    restored = Restored(pieces=_restore_pieces(service.builder, head, blobs))
    kept_revision = head.get("revision")
    if revision is not None and kept_revision is not None and tuple(kept_revision) == revision:
        for feed in _feeds(head, blobs, service):
            service.adopt(feed)
            restored.feeds.append(feed.name)
    restored.chunks = _restore_chunks(service.joiner, head, blobs)
    return restored


def _write(path: Path, builder: FeedBuilder, joiner: GzipJoiner | None,
           feeds: Sequence[FeedResponse], revision: Revision | None) -> int:
    blobs = _Blobs()
    pieces = []
    for (summit, session, participant, alarms), (_, piece) in list(
            builder.events.items_view().items()):
        pieces.append([summit, session, participant, [a.total_seconds() for a in alarms],
                       piece.digest or version_digest(piece.version), list(piece.order),
                       piece.zone, piece.first.isoformat(), piece.last.isoformat(),
                       blobs.add(piece.body), piece.tag.hex()])
    head = {"stamp": _stamp(builder), "revision": list(revision) if revision else None,
            "pieces": pieces,
            "feeds": [_feed_entry(feed, blobs) for feed in feeds if feed.parts],
            "chunks": [[[blobs.add(part) for part in chunk], blobs.add(deflated), crc, size]
                       for chunk, (deflated, crc, size) in (joiner.kept() if joiner else [])]}
    head["blobs"] = [len(blob) for blob in blobs.items]
    encoded = json.dumps(head, separators=(",", ":")).encode("utf-8")
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(MAGIC + _LENGTH.pack(len(encoded)) + encoded)
        handle.writelines(blobs.items)
    os.replace(temporary, path)
    return len(pieces)


def _feed_entry(feed: FeedResponse, blobs: _Blobs) -> list[Any]:
    gzipped = feed.gzipped if feed.made(True) else None
    return [feed.name, feed.etag, feed.last_modified.isoformat(), feed.version,
            feed.expires.isoformat() if feed.expires else None,
            [blobs.add(part) for part in feed.parts],
            blobs.add(gzipped) if gzipped is not None else None, feed.cuts]


def _open(path: Path, builder: FeedBuilder) -> tuple[dict[str, Any] | None, list[bytes]]:
    """The index and blobs of a kept file; (None, []) when there is no usable one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, []
    except OSError as exc:
        log.warning("feed pieces in %s not used: %s", path, exc.strerror)
        return None, []
    try:
        return _parse(data, _stamp(builder))
    except (ValueError, TypeError, KeyError, IndexError, struct.error) as exc:
        log.warning("feed pieces in %s not used: %s", path, exc)  # only a cold start
        return None, []


def _parse(data: bytes, stamp: list[Any]) -> tuple[dict[str, Any] | None, list[bytes]]:
    if not data.startswith(MAGIC):
        raise ValueError("not a file of feed pieces")
    start = len(MAGIC) + _LENGTH.size
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    head = json.loads(data[start:start + length])
    if not isinstance(head, dict) or head.get("stamp") != stamp:
        return None, []
    offset = start + length
    blobs = []
    for size in head["blobs"]:
        blob = data[offset:offset + size]
        if len(blob) != size:
            raise ValueError("the file ends before its last piece")
        blobs.append(blob)
        offset += size
    return head, blobs


def _restore_pieces(builder: FeedBuilder, head: dict[str, Any], blobs: list[bytes]) -> int:
    count = 0
    for summit, session, participant, alarms, digest, order, zone, first, last, blob, tag \
            in head["pieces"]:
        key = (summit, session, participant, tuple(timedelta(seconds=a) for a in alarms))
        builder.events.put(key, None, Piece(None, None, NO_RECORDS, tuple(order), zone,
                                            date.fromisoformat(first),
                                            date.fromisoformat(last), blobs[blob], digest,
                                            bytes.fromhex(tag)))
        count += 1
    return count


def _feeds(head: dict[str, Any], blobs: list[bytes], service: FeedService
           ) -> Iterable[FeedResponse]:
    from summitcal.feeds.service import FeedResponse

    now = service.clock()
    for name, etag, modified, version, expires, parts, gzipped, cuts in head["feeds"]:
        until = datetime.fromisoformat(expires) if expires else None
        if until is not None and until <= now:
            continue  # a cancelled session has dropped out since
        feed = FeedResponse(name, None, etag, datetime.fromisoformat(modified), version,
                            until, tuple(blobs[i] for i in parts), service.joiner, cuts)
        if gzipped is not None:
            feed.adopt_gzip(blobs[gzipped])
        yield feed


def _restore_chunks(joiner: GzipJoiner, head: dict[str, Any], blobs: list[bytes]) -> int:
    for parts, deflated, crc, size in head["chunks"]:
        joiner.adopt(tuple(blobs[i] for i in parts), (blobs[deflated], crc, size))
    return len(head["chunks"])

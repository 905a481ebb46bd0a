"""A feed's ``Last-Modified``: when its bytes first became what they are, kept in the
database so that it is the same in every process and across restarts.

RFC 9110 (8.8.2): Last-Modified is when the origin believes the representation was last
modified, and a client revalidates with ``If-Modified-Since: <that date>`` (13.1.3).
Taking it from the sessions in a feed (their latest change) is not enough: the bytes also
change when a session *leaves* the feed (a participant or an organisation removed from
it: it is no longer there to count), when a cancelled session passes its retention (the
date then went *back*), or when a new release writes the same data differently (a better
VTIMEZONE). Each time, clients that revalidate by date were told 304 and kept stale
events.

So: each feed name has one row (``feed_versions``) with the digest of its bytes and the
instant they were first built. Bytes with the same digest keep that instant; new bytes
get ``max(now, latest change they show, previous + 1 s)`` — never earlier than before,
always later when the bytes differ, even twice within one second (HTTP dates count whole
seconds). Two processes building the same new bytes at once agree: the row is replaced
only if it still holds the digest that was read (compare and set), else re-read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Column, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from summitcal.summits.tables import UtcDateTime, metadata

feed_versions = Table(
    "feed_versions",
    metadata,
    Column("name", String(320), primary_key=True),  # "all", "summits/ID", "private/42", …
    Column("digest", String(64), nullable=False),
    Column("modified", UtcDateTime, nullable=False),
)

SECOND = timedelta(seconds=1)
_ATTEMPTS = 5


class FeedVersions:
    """``modified(name, digest, …)`` for the feeds of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def modified(self, name: str, digest: str, now: datetime, floor: datetime) -> datetime:
        """When the feed ``name`` first had the bytes with ``digest`` (aware, UTC, whole
        seconds). ``now`` is the current time, ``floor`` the latest change the bytes show
        (the new instant is never earlier than either)."""
        for _ in range(_ATTEMPTS):
            with self.engine.connect() as connection:
                row = _read(connection, name)
            if row is not None and row.digest == digest:
                return row.modified
            candidates = [now, floor] + ([row.modified + SECOND] if row is not None else [])
            new = max(candidates).replace(microsecond=0)
            with self.engine.begin() as connection:
                if _store(connection, name, digest, new, row.digest if row else None):
                    return new
        raise RuntimeError(f"feed {name!r}: its version kept changing under {_ATTEMPTS} "
                           "concurrent builds")


def _read(connection: Connection, name: str) -> sa.Row | None:
    query = sa.select(feed_versions.c.digest, feed_versions.c.modified).where(
        feed_versions.c.name == name)
    return connection.execute(query).first()


def _store(connection: Connection, name: str, digest: str, modified: datetime,
           expected: str | None) -> bool:
    """Write the row if it still holds ``expected`` (None: if there is none yet)."""
    values = {"name": name, "digest": digest, "modified": modified}
    if expected is None:
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        first = insert(feed_versions).values(values).on_conflict_do_nothing(
            index_elements=[feed_versions.c.name])
        return connection.execute(first).rowcount == 1
    statement = (sa.update(feed_versions)
                 .where(feed_versions.c.name == name, feed_versions.c.digest == expected)
                 .values(digest=digest, modified=modified))
    return connection.execute(statement).rowcount == 1

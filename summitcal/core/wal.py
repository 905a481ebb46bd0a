"""Whether an SQLite database in WAL mode may have changed, without a query.

Every feed request asks the store for the schedule's version (``Store.version``), and a
calendar app's poll is answered with a 304 that costs little else: the query, cheap in
SQLite itself, cost a quarter of the serving process's CPU per poll under load (a read
transaction takes file locks, and the driver gives up and takes back the GIL).

In WAL mode every connection to the database, in any process, shares the *wal-index*: the
``-shm`` file beside the database, whose first 96 bytes are two copies of a 48-byte header
that a writer rewrites on every commit (its ``iChange`` counter goes up, and ``mxFrame``
or the salts change). SQLite's own readers compare this header to know whether their
cache still holds (https://www.sqlite.org/walformat.html, "The WAL-Index Header"; the
format is fixed since SQLite 3.7.0). ``WalWatch.header`` reads it with one ``pread``: when
it equals the header read just before the last query, no transaction has committed since
and that query's answer stands.

The header is trusted only when both copies agree (a writer in the middle of an update
writes one copy, then the other), it is initialised, and its version field is SQLite's;
anything else means "query". The ``-shm`` file is read only while a connection of this
process to the database is open, which keeps SQLite from deleting or truncating it (it
does so only when the last connection closes, or when the first opens it).
"""

from __future__ import annotations

import os
import struct
from typing import Any

#: Bytes of one copy of the wal-index header, and of both.
HEADER_BYTES = 48
BOTH_COPIES = 2 * HEADER_BYTES
#: The header's iVersion (its first field, in the host's byte order): WALINDEX_MAX_VERSION.
WAL_INDEX_VERSION = 3007000
_VERSION = struct.Struct("=I")
_IS_INIT = 12  # offset of the isInit byte: 1 once the header is valid


class WalWatch:
    """The wal-index header of one SQLite database, read on demand.

    Made by ``WalWatch.of`` from an open driver connection; the caller keeps that
    connection open for the watch's life and calls ``close`` before closing it."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def of(cls, connection: Any) -> WalWatch | None:
        """A watch on the database of ``connection`` (an open ``sqlite3.Connection``),
        or None when it has no wal-index to read: not in WAL mode (a rollback journal, an
        in-memory database), a platform without ``os.pread``, or no readable ``-shm``
        file (``PRAGMA locking_mode = EXCLUSIVE`` keeps the index in memory)."""
        if not hasattr(os, "pread"):
            return None
        cursor = connection.cursor()
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()
            found = [row for row in cursor.execute("PRAGMA database_list") if row[1] == "main"]
        finally:
            cursor.close()
        if not mode or str(mode[0]).lower() != "wal" or not found or not found[0][2]:
            return None
        try:
            fd = os.open(found[0][2] + "-shm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        return cls(fd)

    def header(self) -> bytes | None:
        """The 48-byte header as it is now, or None when it cannot be trusted (the copies
        differ, it is not initialised or not of a known version, or it cannot be read):
        then the database must be asked. Two equal headers, read before two queries, mean
        that no transaction committed between the reads."""
        if self._fd is None:
            return None
        try:
            data = os.pread(self._fd, BOTH_COPIES, 0)
        except OSError:
            return None
        if len(data) < BOTH_COPIES or data[:HEADER_BYTES] != data[HEADER_BYTES:] \
                or not data[_IS_INIT] or _VERSION.unpack_from(data)[0] != WAL_INDEX_VERSION:
            return None
        return data[:HEADER_BYTES]

    def close(self) -> None:
        """Stop watching (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

"""Feed pieces kept across restarts, so the first feed after a restart is not a cold build.

``serve`` writes the builder's VEVENT pieces to a file in the data folder when it stops
(``keep``) and reads them back when it starts (``restore``). Each piece carries its
*version* (``feeds.cache.event_version``: the session and every record its event shows),
so a restored piece is used only while the session and records read from the database
still equal it; anything changed since (by another process, or while the service was
down) is rendered afresh as usual. The file also names the summitcal version and the
feed settings it was made with; a file from another version or other settings, or one
that cannot be read, is ignored (and the start is cold, as without it).

The file is a pickle written by this service into its own data folder (next to the
database and the secret key, with the same trust); it is replaced atomically.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import astuple
from pathlib import Path

from summitcal import __version__
from summitcal.feeds.cache import FeedBuilder, Piece

log = logging.getLogger("summitcal")
FORMAT = 1
NO_RECORDS = (0, 0, 0)  # record tables of no snapshot: the piece's version decides


def _stamp(builder: FeedBuilder) -> tuple:
    return (FORMAT, __version__, astuple(builder.settings))


def keep(builder: FeedBuilder, path: Path) -> int:
    """Write the builder's pieces to ``path``; returns how many were written."""
    items = [(key, version, piece) for key, (version, piece) in builder.events.items_view().items()]
    data = {"stamp": _stamp(builder),
            "events": [(key, version, piece.session, piece.order, piece.zone, piece.first,
                        piece.last, piece.body) for key, version, piece in items]}
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)
    return len(items)


def restore(builder: FeedBuilder, path: Path) -> int:
    """Put the pieces kept in ``path`` into ``builder``; returns how many (0 when there is
    no usable file)."""
    try:
        with path.open("rb") as handle:
            data = pickle.load(handle)
    except FileNotFoundError:
        return 0
    except Exception as exc:  # a damaged or foreign file only costs a cold start
        log.warning("feed pieces in %s not used: %s", path, exc)
        return 0
    if not isinstance(data, dict) or data.get("stamp") != _stamp(builder):
        return 0
    for key, version, session, order, zone, first, last, body in data["events"]:
        builder.events.put(key, version, Piece(version, session, NO_RECORDS, order, zone,
                                               first, last, body))
    return len(data["events"])

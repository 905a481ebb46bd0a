"""Where a session is on the web: its anchor on the summit's page, that page's URL with
the anchor, and the session's own one-event ``.ics``.

One place makes these links, so the ``URL`` of an event, the "More" link of an email,
the ``id`` of the session on the pages, the change log's links and the "Add this
session" links all agree. The anchor is the session's event key (``{summit}-{session}``,
``summits.model.event_key``), which loading keeps unique across all sessions, so it is
unique on the home page too, where every summit's sessions are listed.
"""

from __future__ import annotations

from urllib.parse import quote

from summitcal.summits.model import Session, event_key


def anchor(summit: str, session: str) -> str:
    """The ``id`` of the session's element on ``/summits/{summit}`` (and on ``/``)."""
    return event_key(summit, session)


def page_path(summit: str, session: str) -> str:
    """``/summits/{summit}#{anchor}``: the session on its summit's page."""
    return f"/summits/{quote(summit)}#{anchor(summit, session)}"


def session_url(session: Session, base_url: str) -> str:
    """The absolute URL of the session on its summit's page (an event's ``URL``)."""
    return base_url.rstrip("/") + page_path(session.summit, session.id)


def ics_path(summit: str, session: str) -> str:
    """``/feeds/sessions/{summit}/{session}.ics``: the session alone, as a calendar."""
    return f"/feeds/sessions/{quote(summit)}/{quote(session)}.ics"


def ics_url(session: Session, base_url: str) -> str:
    """The absolute URL of the session's one-event ``.ics`` ("Add this session")."""
    return base_url.rstrip("/") + ics_path(session.summit, session.id)

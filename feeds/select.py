"""Which sessions a feed holds, what it is called, and when that selection next changes.

Feed kinds follow the URLs: ``all``, ``summits/{id}``, ``organizations/{id}``,
``participants/{id}``, and ``sessions/{summit}/{session}`` (one session as a calendar of
its own, "Add this session"). Cancelled sessions stay in (as ``STATUS:CANCELLED``) until
their cancellation is ``retention`` old, then drop out — except from a session's own
calendar, which shows it cancelled for as long as it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from summitcal.core.errors import NotFound
from summitcal.summits.follow import Follow, Scope
from summitcal.summits.model import Schedule, Session, SessionStatus

KINDS = ("all", "summits", "organizations", "participants", "sessions")
_NOUNS = {"summits": "summit", "organizations": "organization", "participants": "participant",
          "sessions": "session"}


def parse_name(name: str) -> tuple[str, str | None]:
    """``"summits/astana-2024"`` → ``("summits", "astana-2024")``; ``"all"`` → ``("all", None)``;
    ``"sessions/astana-2024/sco-council"`` → ``("sessions", "astana-2024/sco-council")``.

    Accepts an optional ``.ics`` suffix. Raises ``NotFound`` (kind ``feed``) otherwise.
    """
    bare = name.removesuffix(".ics").strip("/")
    if bare == "all":
        return ("all", None)
    kind, _, ident = bare.partition("/")
    parts = ident.split("/")
    if kind not in _NOUNS or not all(parts) or len(parts) != (2 if kind == "sessions" else 1):
        raise NotFound("feed", name)
    return (kind, ident)


def select(
    schedule: Schedule, kind: str, ident: str | None, now: datetime, retention: timedelta
) -> list[Session]:
    """The sessions of one feed, in no particular order (``feeds.calendar`` sorts).

    Raises ``NotFound`` for an unknown kind, summit, organisation or participant.
    """
    if kind == "sessions":
        return [_session(schedule, ident)]
    if kind != "all":
        _check_known(schedule, kind, ident)
    wanted = [s for s in schedule.sessions.values() if _matches(kind, ident, s)]
    return [s for s in wanted
            if s.status != SessionStatus.CANCELLED or not expired(s, now, retention)]


def selected(session: Session, kind: str, ident: str | None, now: datetime,
             retention: timedelta) -> bool:
    """Whether ``select`` would pick ``session`` for the feed (``kind`` not ``sessions``)."""
    return _matches(kind, ident, session) and not (
        session.status == "cancelled" and expired(session, now, retention))


def _matches(kind: str, ident: str | None, session: Session) -> bool:
    if kind == "all":
        return True
    if kind == "summits":
        return session.summit == ident
    if kind == "organizations":
        return ident in session.organizations
    return session.attendance_of(ident or "") is not None


def _session(schedule: Schedule, ident: str | None) -> Session:
    summit, _, session = (ident or "").partition("/")
    found = schedule.sessions.get((summit, session))
    if found is None:
        raise NotFound("session", ident or "")
    return found


def _check_known(schedule: Schedule, kind: str, ident: str | None) -> None:
    if kind == "summits":
        known = ident in schedule.summits
    elif kind == "organizations":
        known = ident in schedule.organizations
    elif kind == "participants":
        known = ident in schedule.participants
    else:
        raise NotFound("feed", kind)
    if ident is None or not known:
        raise NotFound(_NOUNS[kind], ident or "")


def title(schedule: Schedule, kind: str, ident: str | None) -> str:
    """The feed's NAME / X-WR-CALNAME, e.g. "SCO summit, Astana 2024"."""
    if kind == "all":
        return "All summit sessions"
    if kind == "sessions":
        return _session(schedule, ident).title
    _check_known(schedule, kind, ident)
    assert ident is not None
    if kind == "summits":
        return schedule.summits[ident].name
    if kind == "organizations":
        return f"Sessions of {schedule.organizations[ident].name}"
    return f"Sessions with {schedule.participants[ident].name}"


def dropped_at(session: Session, retention: timedelta) -> datetime | None:
    """When a cancelled session leaves feeds; ``None`` while it is not cancelled.

    The cancellation time is ``cancelled_at``, else ``last_modified`` (the change that
    cancelled it); a cancelled session with neither is kept.
    """
    if session.status != SessionStatus.CANCELLED:
        return None
    since = session.cancelled_at or session.last_modified
    return since + retention if since is not None else None


def expired(session: Session, now: datetime, retention: timedelta) -> bool:
    until = dropped_at(session, retention)
    return until is not None and until <= now


def next_change(
    sessions: Iterable[Session], now: datetime, retention: timedelta
) -> datetime | None:
    """The next instant after ``now`` at which one of ``sessions`` drops out, if any.

    Pass a feed's selected sessions; an HTTP cache for that feed should expire then.
    """
    times = [t for s in sessions if s.status == SessionStatus.CANCELLED
             and (t := dropped_at(s, retention)) is not None and t > now]
    return min(times) if times else None


def follows(
    schedule: Schedule, follow: Iterable[str], now: datetime, retention: timedelta
) -> list[Session]:
    """A private feed's sessions: the union of a subscriber's follows.

    ``follow`` items are ``all``, ``summit:ID``, ``session:SUMMIT/SESSION``,
    ``organization:ID``, ``participant:ID`` (``summits.follow.Follow``). Follows of things
    that no longer exist, or that do not parse, select nothing rather than failing the
    whole feed.
    """
    chosen: dict[tuple[str, str], Session] = {}
    scopes = [(session, Scope.of(session)) for session in schedule.sessions.values()]
    for item in follow:
        try:
            parsed = Follow.parse(item)
        except ValueError:
            continue
        for session, scope in scopes:
            if parsed.covers_scope(scope):
                chosen[session.key] = session
    return [s for s in chosen.values() if not expired(s, now, retention)]

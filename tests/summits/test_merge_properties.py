"""Property tests of the three-way apply (``summits.merge``) and of the stored form of a
file's content (``summits.applied``): for any file before and after and any live state,
each field comes from the file exactly when the file changed it, and only a field changed
on both sides with different results is reported as overridden."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.summits.changes import as_json
from summitcal.summits.content import decode, encode
from summitcal.summits.merge import SESSION_FIELDS, FileChange, plan
from summitcal.summits.model import Attendance, Organization, Participant, Schedule, Session, Summit

ZONE = "America/New_York"
NY = ZoneInfo(ZONE)
PEOPLE = ("putin", "rahmon", "lavrov")
SUMMIT = Summit("s-2030", "A summit", "City", "Country", ZONE)
BASE = Session("s-2030", "council", "Council", ZONE, ("sco",),
               start=datetime(2030, 11, 3, 1, 30, tzinfo=NY, fold=0),
               end=datetime(2030, 11, 3, 3, 0, tzinfo=NY), venue="Hall",
               attendance=(Attendance("putin", "in_person"), Attendance("rahmon", "video")))

entries = st.one_of(
    st.none(),
    st.builds(Attendance, st.just("x"), st.sampled_from(["in_person", "video", "absent"]),
              st.none(), st.sampled_from([None, "a note", "another note"]),
              st.sampled_from([None, date(2030, 11, 1)])))
timing = st.sampled_from([
    {},
    {"start": datetime(2030, 11, 3, 1, 30, tzinfo=NY, fold=1)},  # the repeated hour's second
    {"start": datetime(2030, 11, 4, 9, 0, tzinfo=NY), "end": None},
    {"start": None, "end": None, "date": date(2030, 11, 5), "end_date": date(2030, 11, 6)},
])


@st.composite
def versions(draw) -> Session:
    """``BASE`` with any of its fields changed, attendance entries added, changed, dropped
    or reordered."""
    values = dict(draw(timing))
    for name, choices in (("title", ["Council", "Council of Heads of State"]),
                          ("venue", ["Hall", "Palace", None]),
                          ("status", ["confirmed", "tentative", "cancelled"]),
                          ("description", [None, "Expanded format."]),
                          ("video_url", [None, "https://example.org/live"]),
                          ("organizations", [("sco",), ("sco", "csto"), ()])):
        values[name] = draw(st.sampled_from(choices))
    people = draw(st.permutations(PEOPLE))
    chosen = []
    for person in people:
        entry = draw(entries)
        if entry is not None:
            chosen.append(replace(entry, participant=person))
    values["attendance"] = tuple(chosen)
    return replace(BASE, **values)


def content(session: Session) -> Schedule:
    return Schedule(summits={SUMMIT.id: SUMMIT},
                    organizations={"sco": Organization("sco", "SCO")},
                    participants={p: Participant(p, p.title()) for p in PEOPLE},
                    sessions={session.key: session})


def group(session: Session, name: str) -> list:
    return [as_json(getattr(session, f)) for f in SESSION_FIELDS[name]]


@settings(max_examples=300, deadline=None)
@given(base=versions(), new=versions(), live=versions())
def test_each_field_comes_from_the_file_exactly_when_the_file_changed_it(base, new, live):
    current = replace(content(live), summits={SUMMIT.id: SUMMIT})
    result = plan(current, [FileChange(content(new), content(base))])

    merged = result.incoming.sessions.get(BASE.key, live)
    overridden = {o.field for o in result.overrides}
    for name in SESSION_FIELDS:
        changed = group(base, name) != group(new, name)
        assert group(merged, name) == group(new if changed else live, name), name
        conflict = changed and group(live, name) not in (group(base, name), group(new, name))
        assert (name in overridden) == conflict, name
    was, now, kept = ({a.participant: a for a in s.attendance} for s in (base, new, live))
    result_entries = {a.participant: a for a in merged.attendance}
    for person in PEOPLE:
        changed = was.get(person) != now.get(person)
        assert result_entries.get(person) == (now if changed else kept).get(person), person
        conflict = changed and kept.get(person) not in (was.get(person), now.get(person))
        assert (f"attendance {person}" in overridden) == conflict, person


@settings(max_examples=200, deadline=None)
@given(base=versions(), new=versions())
def test_without_live_edits_the_file_is_applied_as_it_is(base, new):
    result = plan(content(base), [FileChange(content(new), content(base))])
    merged = result.incoming.sessions.get(BASE.key, base)
    assert [as_json(getattr(merged, f.name)) for f in _content_fields()] == [
        as_json(getattr(new, f.name)) for f in _content_fields()]
    assert result.overrides == []


@settings(max_examples=200, deadline=None)
@given(new=versions(), live=versions())
def test_an_unchanged_file_changes_nothing(new, live):
    result = plan(content(live), [FileChange(content(new), content(new))])
    assert result.incoming.sessions == {} and result.summits == set()
    assert result.overrides == []


@settings(max_examples=200, deadline=None)
@given(session=versions())
def test_the_stored_content_reads_back_as_it_was(session):
    stored = json.loads(json.dumps(encode(content(session))))
    back = decode(stored)
    assert back == content(session)
    (again,) = back.sessions.values()
    assert [as_json(getattr(again, f.name)) for f in _content_fields()] == [
        as_json(getattr(session, f.name)) for f in _content_fields()]  # fold included


def _content_fields():
    from dataclasses import fields

    return [f for f in fields(Session) if f.name not in ("sequence", "last_modified",
                                                          "cancelled_at")]


def test_a_timed_session_keeps_its_fold():
    second = replace(BASE, start=datetime(2030, 11, 3, 1, 30, tzinfo=NY, fold=1))
    (back,) = decode(encode(content(second))).sessions.values()
    assert back.start.fold == 1 and back.starts_at - BASE.starts_at == timedelta(hours=1)


@given(versions(), st.integers(0, 10_000),
       st.none() | st.datetimes(timezones=st.just(UTC)),
       st.none() | st.datetimes(timezones=st.just(UTC)))
def test_stamping_a_session_is_replacing_its_bookkeeping(session, sequence, modified,
                                                         cancelled):
    stamped = session.stamped(sequence, modified, cancelled)
    assert stamped == replace(session, sequence=sequence, last_modified=modified,
                              cancelled_at=cancelled)
    assert stamped.start is session.start and stamped.attendance is session.attendance

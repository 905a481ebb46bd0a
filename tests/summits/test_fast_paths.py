"""The shortcuts a large load takes give what the full checks give.

``validate`` takes an attendance item or a record declaration that is valid as written
without walking it key by key, and makes field paths for references only when one is
unknown. A load pauses Python's cyclic collector. Regression: the collector was meant to
be paused during a load (``app.runtime.collector_paused``) but nothing called it, and its
passes over the load's objects were a third of a 50,000-session cold load.
"""

from __future__ import annotations

import gc
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.summits import store as store_module
from summitcal.summits import validate
from summitcal.summits.model import MODES

ROOT = Path(__file__).resolve().parents[2]

# Values of every TOML type, with strings that the text rule changes or that are blank.
TEXT = st.sampled_from(["p1", "p2", "p3", "", "  ", "Note", "tab\there", "line\r\nbreak",
                        "form\x0cfeed", "Bad Id", "p-1\x00"])
VALUE = st.one_of(
    TEXT, st.sampled_from([*MODES, "in person", "VIDEO"]),
    st.integers(-2, 2), st.booleans(), st.just(date(2025, 3, 1)),
    st.just(datetime(2025, 3, 1, 9, 0)), st.lists(TEXT, max_size=2),
    st.dictionaries(st.just("x"), TEXT, max_size=1),
)
KEYS = st.sampled_from(["participant", "mode", "delegate", "note", "announced", "extra"])
ITEM = st.one_of(
    st.dictionaries(KEYS, VALUE, max_size=5),
    st.fixed_dictionaries(
        {"participant": st.sampled_from(["p1", "p2", "p3"]), "mode": st.sampled_from(MODES)},
        optional={"delegate": st.sampled_from(["p1", "p2", "p3"]), "note": TEXT,
                  "announced": st.sampled_from([date(2025, 3, 1), "2025-03-01"])}),
    TEXT,
)
DECLARATION = st.one_of(
    st.dictionaries(st.sampled_from(["id", "name", "role", "extra"]), VALUE, max_size=4),
    st.fixed_dictionaries({"id": st.sampled_from(["p1", "p2", "Bad Id"]), "name": TEXT},
                          optional={"role": TEXT}),
)


def _document(data: dict[str, Any], fast: bool) -> tuple:
    """Everything a checked document gives, with or without the shortcuts."""
    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(validate, "_attendance_as_written", lambda item: None)
            patch.setattr(validate, "_declared", lambda kind, raw: None)
        doc = validate.Document(data, "file.toml")
    return (doc.problems, doc.summit, doc.organizations, doc.participants, doc.sessions,
            doc.session_ids, doc.references, doc.referenced)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(ITEM, max_size=4), people=st.lists(DECLARATION, max_size=3),
       orgs=st.lists(DECLARATION, max_size=2))
def test_shortcuts_give_what_the_full_checks_give(items, people, orgs):
    data = {
        "summit": {"id": "s", "name": "Summit", "city": "Madrid", "country": "Spain",
                   "timezone": "Europe/Madrid"},
        "organizations": orgs,
        "participants": people,
        "sessions": [{"id": "one", "title": "Meeting", "start": datetime(2025, 3, 3, 9),
                      "organizations": ["o1", "o2"], "attendance": items},
                     {"id": "two", "title": "Dinner", "date": date(2025, 3, 3)}],
    }
    assert _document(data, True) == _document(data, False)


def test_unknown_references_are_reported_with_their_field_paths(tmp_path):
    """References are kept as ids; their paths are made when one is unknown."""
    data = {
        "summit": {"id": "s", "name": "Summit", "city": "Madrid", "country": "Spain",
                   "timezone": "Europe/Madrid"},
        "sessions": [{"id": "one", "title": "Meeting", "start": datetime(2025, 3, 3, 9),
                      "organizations": ["o1"],
                      "attendance": [{"participant": "p1", "mode": "video"},
                                     {"participant": "p2", "mode": "delegated",
                                      "delegate": "p3"}]}],
    }
    doc = validate.Document(data, "file.toml")
    assert doc.problems == []
    assert doc.references == [
        ("sessions[0].organizations[0]", "organisation", "o1"),
        ("sessions[0].attendance[0].participant", "participant", "p1"),
        ("sessions[0].attendance[1].participant", "participant", "p2"),
        ("sessions[0].attendance[1].delegate", "participant", "p3"),
    ]
    assert doc.referenced == {"organisation": {"o1"}, "participant": {"p1", "p2", "p3"}}


def test_regression_collector_paused_during_a_load(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n')
    runtime = Runtime.open(load_config(config, env={"SUMMITCAL_SECRET_KEY": "k" * 32}))
    seen: list[bool] = []
    apply_files = store_module.Store.apply_files

    def watched(self, *args, **kwargs):
        seen.append(gc.isenabled())
        return apply_files(self, *args, **kwargs)

    monkeypatch.setattr(store_module.Store, "apply_files", watched)
    assert gc.isenabled()
    try:
        result = runtime.load([ROOT / "schedules"])
    finally:
        runtime.close()
    assert result.changes
    assert seen == [False], "the collector runs during a load"
    assert gc.isenabled(), "the collector stays off after a load"

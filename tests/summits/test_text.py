"""The one rule for text (summits.text): what it keeps, what it removes, and that every
entry point applies it — schedule files, the admin API's JSON and the CLI's note."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.summits import text as texts
from summitcal.summits.model import Attendance
from summitcal.summits.schedule_file import load_paths

CASE = Path(__file__).resolve().parents[1] / "data" / "cases" / "control-characters.toml"
ANY = st.text(st.characters(codec=None), max_size=80)  # controls and lone surrogates too


def test_control_characters_case_loads_without_them():
    """tests/data/cases/control-characters.toml: vertical tab, form feed and bell."""
    [session] = load_paths([CASE]).sessions.values()
    assert session.title == "Vertical tab form feed and bell"


def test_text_rule_examples():
    assert texts.multi_line("a\r\nb\rc\nd\te") == "a\nb\nc\nd\te"
    assert texts.single_line("a\r\nb\tc") == "a b c"
    assert texts.multi_line("\ufeffBOM \x00\x07\x1b\x7f\x85\x9f gone") == "BOM  gone"
    assert texts.multi_line("lone \ud800 surrogate, \uffff") == "lone \ufffd surrogate, \ufffd"
    assert texts.multi_line("Заседание 🇰🇿 \u2028 kept") == "Заседание 🇰🇿 \u2028 kept"
    assert texts.optional(None) is None


@settings(max_examples=500)
@given(raw=ANY)
def test_text_rule_output_is_xml_and_utf8_safe_and_idempotent(raw):
    for rule in (texts.multi_line, texts.single_line):
        clean = rule(raw)
        assert rule(clean) == clean
        clean.encode("utf-8")  # no lone surrogates
        ET.fromstring(f"<t>{clean.replace('&', '&amp;').replace('<', '&lt;')}</t>".encode())
        # Every visible character stays, in order; nothing visible is added.
        def visible(text: str) -> list[str]:
            return [c for c in text if c.isprintable() and not c.isspace()
                    and c not in "\ufeff\ufffe\uffff\ufffd"]
        assert visible(clean) == visible(raw)
    assert "\n" not in texts.single_line(raw) and "\t" not in texts.single_line(raw)


def test_text_rule_on_live_attendance_edits(store):
    """The admin API and the CLI both record through Store.set_attendance."""
    store.apply(load_paths([CASE.parents[3] / "schedules"]), "load")
    store.set_attendance("astana-2024", "sco-council",
                         Attendance("putin", "video", note="bad\x0bnote\r\nnext \udcff"), "cli")
    entry = store.session("astana-2024", "sco-council").attendance_of("putin")
    assert entry is not None and entry.note == "bad\nnote\nnext \ufffd"


def test_text_rule_migration_cleans_what_was_stored_before(database_url):
    """Rows written before the rule (here: straight from the model, as the old loader
    kept them) are cleaned by migration 0008; loading the file again then changes
    nothing, so no subscriber is told about an invisible change."""
    from dataclasses import replace

    from summitcal.core import database
    from summitcal.summits.store import Store

    with Store(database_url) as store:
        database.upgrade(store.engine, "0007")
        clean = load_paths([CASE])
        [session] = clean.sessions.values()
        summit = clean.summits[session.summit]
        raw = replace(clean, summits={summit.id: replace(summit, name="Control\x0bcharacters")},
                      sessions={session.key: replace(
                          session, title="Vertical tab\x0bform feed\x0c and bell\x07",
                          description="one\r\ntwo\x1b")})
        store.apply(raw, "before the rule")
        store.upgrade()
        stored = store.session(session.summit, session.id)
        assert stored.title == session.title and stored.description == "one\ntwo"
        assert store.schedule().summits[summit.id].name == "Control characters"
        [(_, changes)] = store.revisions()
        assert all("\x0b" not in str(c.new) for c in changes)
        again = store.apply(replace(clean, sessions={session.key: replace(
            session, description="one\ntwo")}, summits=store.schedule().summits), "reload")
        assert again.changes == ()

"""Schedule files are parsed by rtoml, with tomllib wording the errors: the two must agree
on every document (regression guard for the parser swap that made cold loads of large
schedules fast). Hypothesis writes arbitrary TOML documents and raw text."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from typing import Any

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.summits.schedule_file import parse_toml

KEYS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
SCALARS = st.one_of(
    TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans(),
    st.floats(allow_nan=False), st.dates(), st.times(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=OFFSETS),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS, inner, max_size=4), max_leaves=20)
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=6)


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types; aware datetimes with the same offset."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset() and a.fold == b.fold
    return a == b


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_rtoml_reads_what_tomllib_reads(document: dict[str, Any]) -> None:
    text = tomli_w.dumps(document)
    assert same(parse_toml(text), tomllib.loads(text))


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from('a=1"[]{}.,\n#\\tx-_ 0:T+Z\'e'), max_size=40))
def test_text_tomllib_refuses_is_refused_with_its_words(text: str) -> None:
    try:
        expected: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        expected = str(error)
    try:
        got: Any = parse_toml(text)
    except tomllib.TOMLDecodeError as error:
        got = str(error)
    assert same(got, expected)

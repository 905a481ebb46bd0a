"""Signed subscriber tokens: only genuine ones, for their purpose and version, are read."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from summitcal.subscriptions.tokens import PURPOSES, make_token, read_token

SECRET = "k" * 43


@given(st.integers(1, 10**9), st.integers(1, 1000), st.sampled_from(PURPOSES))
def test_round_trip_and_purposes_are_kept_apart(subscriber, version, purpose):
    token = make_token(SECRET, purpose, subscriber, version)
    assert read_token(SECRET, purpose, token) == (subscriber, version)
    for other in PURPOSES:
        if other != purpose:
            assert read_token(SECRET, other, token) is None
    assert read_token("another secret", purpose, token) is None
    forged = f"{subscriber + 1}.{version}.{token.rsplit('.', 1)[1]}"
    assert read_token(SECRET, purpose, forged) is None


@given(st.text(max_size=300))
def test_anything_else_is_refused_without_an_exception(text):
    assert read_token(SECRET, "feed", text) is None


def test_regression_non_ascii_digits_are_refused():
    assert read_token(SECRET, "feed", "².1.abc") is None
    assert read_token(SECRET, "feed", "1.٣.abc") is None


@given(st.integers(1, 10**9), st.integers(1, 1000), st.sampled_from(PURPOSES))
def test_regression_only_the_canonical_spelling_is_accepted(subscriber, version, purpose):
    """The same signature used to be accepted in other spellings: numbers with leading
    zeros, base64 with padding or with different unused low bits in its last character."""
    token = make_token(SECRET, purpose, subscriber, version)
    number, rank, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    others = [signature[:-1] + alphabet[last ^ bits] for bits in (1, 2, 3)]
    for spelling in (f"0{number}.{rank}.{signature}", f"{number}.0{rank}.{signature}",
                     f"{number}.{rank}.{signature}=", *(f"{number}.{rank}.{s}" for s in others),
                     f" {token}", f"{token}\n"):
        assert read_token(SECRET, purpose, spelling) is None, spelling
    assert read_token(SECRET, purpose, token) == (subscriber, version)

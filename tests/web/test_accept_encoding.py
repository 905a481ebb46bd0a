"""Accept-Encoding for feeds (RFC 9110 12.5.3): which coding a feed is sent in.

Before: a hand-written loop stopped at the first entry naming ``gzip`` or ``*`` and read
its weight only when written ``q=`` in lower case, so ``*;q=0, gzip`` and ``GZIP;Q=0.5``
both got the feed uncompressed. Now werkzeug parses the field and
``feeds.routes.content_coding`` applies the RFC's rule.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from summitcal.feeds.routes import content_coding
from tests.web.test_http import client, runtime  # noqa: F401  (fixtures)


def test_star_q0_then_gzip_is_gzip():
    """``*`` covers only the codings the field does not name; gzip is named, q=1."""
    assert content_coding("*;q=0, gzip") == "gzip"


def test_uppercase_gzip_and_q_is_gzip():
    """Codings and the q parameter are case-insensitive."""
    assert content_coding("GZIP;Q=0.5") == "gzip"


@pytest.mark.parametrize(("field", "coding"), [
    (None, "identity"),  # no field: no coding needed
    ("", "identity"),  # an empty field: the client wants no coding
    ("gzip", "gzip"),
    ("x-gzip", "gzip"),  # 8.4.1.3: x-gzip is gzip
    ("gzip;q=0", "identity"),
    ("gzip;q=0, *", "identity"),  # the named entry wins over *
    ("*", "gzip"),
    ("*;q=0", "identity"),  # nothing acceptable: sent without coding, never a 406
    ("identity;q=0", "identity"),  # gzip not acceptable either
    ("identity;q=0, gzip;q=0.1", "gzip"),
    ("gzip;q=0.5, identity", "identity"),  # identity weighted higher
    ("gzip;q=0.5, *", "identity"),  # * gives identity q=1
    ("gzip, identity", "gzip"),  # equal weights: the smaller body
    ("deflate, br", "identity"),
    ("gzip;q=abc", "identity"),  # a malformed weight drops its entry
    ("br;q=1.0, gzip ; q=0.8", "gzip"),  # whitespace around ';' (OWS)
])
def test_rfc_9110_cases(field, coding):
    assert content_coding(field) == coding


def test_star_q0_then_gzip_over_http(client):  # noqa: F811
    plain = client.get("/feeds/all.ics", headers={"accept-encoding": "identity"})
    for field in ("*;q=0, gzip", "GZIP;Q=0.5"):
        response = client.get("/feeds/all.ics", headers={"accept-encoding": field})
        assert response.headers.get("content-encoding") == "gzip", field
        assert response.content == plain.content  # httpx decoded the gzip body
        assert response.headers["etag"] != plain.headers["etag"]


def test_two_accept_encoding_fields_are_one_list(client):  # noqa: F811
    """RFC 9110 5.3: a field sent twice is the comma-joined list."""
    response = client.get("/feeds/all.ics",
                          headers=[("accept-encoding", "*;q=0"), ("accept-encoding", "gzip")])
    assert response.headers.get("content-encoding") == "gzip"


# --- property: any well-formed field, against the RFC rule applied to its entries --------

CODINGS = ["gzip", "x-gzip", "identity", "*", "br", "deflate", "compress", "zstd"]


def _qvalue() -> st.SearchStrategy[tuple[float, str]]:
    """(weight, how it is written): RFC 9110 12.4.2 ``qvalue``, digits after the point
    or none. (werkzeug refuses the legal but odd ``q=0.``/``q=1.``, so they are not drawn.)"""
    def written(thousandths: int, digits: int) -> tuple[float, str]:
        if thousandths == 1000:
            return 1.0, "1" if digits == 0 else "1." + "0" * digits
        if digits == 0:
            return 0.0, "0"  # without a fraction only 0 (and 1) can be written
        text = f"{thousandths:03d}"[:digits]
        return int(text.ljust(3, "0")) / 1000, "0." + text

    return st.builds(written, st.integers(0, 1000), st.integers(0, 3))


@st.composite
def fields(draw: st.DrawFn) -> tuple[list[tuple[str, float]], str]:
    """Entries (coding, weight), each coding at most once (gzip and x-gzip count as one),
    and the field written with random case, q or Q, and optional whitespace."""
    names = draw(st.lists(st.sampled_from(CODINGS), max_size=6,
                          unique_by=lambda c: "gzip" if c == "x-gzip" else c))
    entries, parts = [], []
    for name in names:
        spelled = "".join(ch.upper() if draw(st.booleans()) else ch for ch in name)
        ows = st.sampled_from(["", " ", "\t"])
        if draw(st.booleans()):
            weight, text = draw(_qvalue())
            q = draw(st.sampled_from(["q", "Q"]))
            parts.append(f"{spelled}{draw(ows)};{draw(ows)}{q}={text}")
        else:
            weight = 1.0
            parts.append(spelled)
        entries.append((name, weight))
    return entries, ",".join(f"{draw(st.sampled_from(['', ' ']))}{part}" for part in parts)


def expected(entries: list[tuple[str, float]]) -> str:
    """RFC 9110 12.5.3 on the entries themselves: a named coding's own weight, else the
    weight of ``*``; gzip when acceptable and not weighted below identity."""
    weights = {"gzip" if name == "x-gzip" else name: q for name, q in entries}
    star = weights.get("*")
    gzip_q = weights.get("gzip", star if star is not None else 0.0)
    identity_q = weights.get("identity", star if star is not None else 0.0)
    return "gzip" if gzip_q > 0 and gzip_q >= identity_q else "identity"


@given(fields())
def test_content_coding_follows_rfc_9110(field: tuple[list[tuple[str, float]], str]):
    entries, text = field
    assert content_coding(text) == expected(entries)

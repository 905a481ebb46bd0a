"""HTTP validators of feeds: Last-Modified never goes back and moves whenever the bytes
change; If-Modified-Since in each of RFC 9110's three date forms; no date makes a 500.

Before ``feeds.versions``, Last-Modified was the latest change among the sessions *in*
a feed: it stayed put when a session left the feed (its participant removed) and went
back when a cancelled session passed its retention, so clients revalidating by date got
304 and kept the stale event."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.feeds.routes import parse_http_date
from summitcal.feeds.versions import FeedVersions
from summitcal.summits.schedule_file import load_paths, load_text
from summitcal.web.app import create_app
from tests.web.test_http import ROOT

ASTANA = ROOT / "schedules" / "astana-2024.toml"
PLAIN = {"accept-encoding": "identity"}


@pytest.fixture
def open_runtime(tmp_path: Path):
    """``open_runtime(database_url, retention=…, extra=…)``: a runtime on a config file in
    ``tmp_path``; every one opened is closed at the end, whatever the test did."""
    opened: list[Runtime] = []

    def open_(database_url: str, retention: str = "P30D", extra: str = "") -> Runtime:
        config = tmp_path / "config.toml"
        config.write_text(f'[service]\nbase_url = "https://summitcal.test"\n'
                          f'[database]\nurl = "{database_url}"\n'
                          f'[feeds]\ncancelled_retention = "{retention}"\n{extra}')
        opened.append(Runtime.open(load_config(config, env={})))
        return opened[-1]

    yield open_
    for runtime in opened:
        runtime.close()


def imf(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def rfc850(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%A, %d-%b-%y %H:%M:%S} GMT"


def asctime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S %Y}"


def get(client: TestClient, path: str, **headers: str):
    return client.get(path, headers={**PLAIN, **headers})


def test_last_modified_moves_when_a_session_leaves_the_feed(open_runtime, database_url):
    runtime = open_runtime(database_url)
    now = datetime.now(UTC)
    runtime.store.apply(load_paths([ROOT / "schedules"]), "load", now=now - timedelta(hours=2))
    path = "/feeds/participants/putin.ics"
    with TestClient(create_app(runtime)) as client:
        runtime.feeds.clock = lambda: now - timedelta(hours=1)
        before = get(client, path)
        runtime.feeds.clock = lambda: datetime.now(UTC)
        # Putin no longer attends the Astana bilaterals: the session leaves his feed.
        text = ASTANA.read_text()
        bilaterals = text.index('id = "putin-bilaterals"')
        edited = text[:bilaterals] + text[bilaterals:].replace(
            '[[sessions.attendance]]\nparticipant = "putin"\nmode = "in_person"\n'
            'note = "Arrived in Astana on Wednesday 3 July (Kremlin statement)"\n', "", 1)
        assert edited != text
        runtime.store.apply(load_text(edited), "edit")
        after = get(client, path)
        assert after.content != before.content and b"putin-bilaterals" not in after.content
        assert parsedate_to_datetime(after.headers["last-modified"]) > parsedate_to_datetime(
            before.headers["last-modified"])
        for form in (imf, rfc850, asctime):
            stale = get(client, path, **{"if-modified-since": form(
                parsedate_to_datetime(before.headers["last-modified"]))})
            assert stale.status_code == 200, form.__name__
            fresh = get(client, path, **{"if-modified-since": form(
                parsedate_to_datetime(after.headers["last-modified"]))})
            assert fresh.status_code == 304, form.__name__


def test_last_modified_never_goes_back_when_a_cancelled_session_drops_out(open_runtime,
                                                                          database_url):
    runtime = open_runtime(database_url, retention="PT30M")
    now = datetime.now(UTC)
    runtime.store.apply(load_paths([ROOT / "schedules"]), "load", now=now - timedelta(hours=3))
    text = ASTANA.read_text()
    without = text[:text.index("[[sessions]]\nid = \"putin-bilaterals\"")]
    runtime.store.apply(load_text(without), "cancel", now=now - timedelta(hours=2))
    path = "/feeds/summits/astana-2024.ics"
    with TestClient(create_app(runtime)) as client:
        runtime.feeds.clock = lambda: now - timedelta(hours=2) + timedelta(minutes=10)
        kept = get(client, path)
        assert b"STATUS:CANCELLED" in kept.content
        runtime.feeds.clock = lambda: datetime.now(UTC)  # past the 30 minutes' retention
        dropped = get(client, path)
        assert b"putin-bilaterals" not in dropped.content
        was = parsedate_to_datetime(kept.headers["last-modified"])
        assert parsedate_to_datetime(dropped.headers["last-modified"]) > was
        assert get(client, path, **{"if-modified-since": imf(was)}).status_code == 200


def test_last_modified_same_bytes_same_date_across_processes(open_runtime, database_url):
    """Two runtimes (as two `web` processes) serve the same bytes with the same date,
    and a restart keeps it."""
    first = open_runtime(database_url)
    first.load([ROOT / "schedules"], source="load")
    second = open_runtime(database_url)
    one, two = first.feeds.get("all"), second.feeds.get("all")
    assert one.body == two.body and one.last_modified == two.last_modified
    again = open_runtime(database_url)
    assert again.feeds.get("all").last_modified == one.last_modified


def test_last_modified_changes_when_a_release_changes_the_bytes(open_runtime, database_url):
    """Same data, other bytes (here: another refresh interval, as a new release writing
    VTIMEZONEs differently would): the date moves on."""
    runtime = open_runtime(database_url)
    runtime.load([ROOT / "schedules"], source="load")
    before = runtime.feeds.get("all")
    after = open_runtime(database_url, extra='refresh_interval = "PT2H"\n').feeds.get("all")
    assert after.body != before.body and after.last_modified > before.last_modified


def test_feed_versions_race_one_answer(store):
    """Many threads building the same new bytes at once all get one date, and new bytes
    get a later one even when the clock has not moved."""
    versions = FeedVersions(store.engine)
    now = datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    first = versions.modified("all", "a" * 32, now, now - timedelta(days=1))
    assert first == now.replace(microsecond=0)
    assert versions.modified("all", "a" * 32, now + timedelta(hours=1), now) == first
    results: list[datetime] = []
    threads = [threading.Thread(target=lambda: results.append(
        versions.modified("all", "b" * 32, now, now))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and results[0] == first + timedelta(seconds=1)
    later = versions.modified("all", "a" * 32, now, now)  # the old bytes again: still later
    assert later == first + timedelta(seconds=2)


@pytest.mark.parametrize("value", [
    "Fri, 31 Dec 9999 23:59:59 -0100",  # overflowed when compared: a 500 before
    "Sun, 06 Nov 99999 08:49:37 GMT", "Mon, 01 Jan 0001 00:00:00 +2359",
    "Sun, 06 Nov 1994 08:49:37 +9999", "Sun, 06 Nov 1994 25:61:61 GMT", "yesterday", "",
    "Thu, 01 Jan 1970 00:00:00 GMT, Fri, 02 Jan 1970 00:00:00 GMT", "\x00",
])
def test_if_modified_since_odd_dates_answer_200(open_runtime, tmp_path, value):
    runtime = open_runtime(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    runtime.load([ROOT / "schedules"], source="load")
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        response = get(client, "/feeds/all.ics", **{"if-modified-since": value})
        assert response.status_code == 200


def test_if_modified_since_ahead_of_our_clock_is_ignored(open_runtime, tmp_path):
    runtime = open_runtime(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    runtime.load([ROOT / "schedules"], source="load")
    with TestClient(create_app(runtime)) as client:
        ahead = imf(datetime.now(UTC) + timedelta(days=1))
        assert get(client, "/feeds/all.ics", **{"if-modified-since": ahead}).status_code == 200


# --- parse_http_date, property-tested ---------------------------------------------------

moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31),
                       timezones=st.just(UTC)).map(lambda m: m.replace(microsecond=0))


@settings(max_examples=500)
@given(moment=moments)
def test_http_date_imf_fixdate_and_asctime_read_back(moment):
    assert parse_http_date(imf(moment)) == moment
    assert parse_http_date(asctime(moment)) == moment


@settings(max_examples=300)
@given(moment=moments.filter(lambda m: 1969 <= m.year <= 2068))
def test_http_date_rfc850_reads_back(moment):
    assert parse_http_date(rfc850(moment)) == moment


@settings(max_examples=1000)
@given(text=st.one_of(
    st.text(max_size=60),
    st.builds(lambda d, day, mon, year, h, m, s, zone: f"{d}, {day:02d} {mon} {year} "
              f"{h:02d}:{m:02d}:{s:02d} {zone}",
              st.sampled_from(["Sun", "Monday", "Xyz"]), st.integers(-5, 99),
              st.sampled_from(["Jan", "Dec", "Foo"]), st.integers(-10, 10**7),
              st.integers(-1, 99), st.integers(-1, 99), st.integers(-1, 99),
              st.one_of(st.sampled_from(["GMT", "UTC", "-0000", "EST", ""]),
                        st.integers(-10**5, 10**5).map(lambda n: f"{n:+05d}")))))
def test_http_date_anything_is_a_utc_date_or_none(text):
    parsed = parse_http_date(text)
    assert parsed is None or parsed.utcoffset() == timedelta(0)

"""Feed pieces kept across restarts (regression: the first /feeds/all.ics after a restart
rendered every event again, as slow as plain icalendar: 6.4 s at 10,000 sessions).

A restored piece is used only while the session and the records its event shows equal
what it was made from; a file from other settings, or a damaged one, is ignored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from summitcal.feeds.cache import FeedBuilder
from summitcal.feeds.kept import keep, restore
from summitcal.feeds.settings import FeedSettings
from summitcal.summits.model import Schedule

SETTINGS = FeedSettings(base_url="https://summitcal.test")


def build(builder: FeedBuilder, schedule: Schedule) -> bytes:
    return builder.build("All", list(schedule.sessions.values()), schedule)


def test_restored_pieces_give_the_same_feed_without_rendering(tmp_path: Path,
                                                               dushanbe: Schedule) -> None:
    first = FeedBuilder(SETTINGS)
    body = build(first, dushanbe)
    assert keep(first, tmp_path / "pieces") == len(dushanbe.sessions)
    second = FeedBuilder(SETTINGS)
    assert restore(second, tmp_path / "pieces") == len(dushanbe.sessions)
    restored = {key: piece for key, (_, piece) in second.events.items_view().items()}
    assert build(second, dushanbe) == body
    for key, piece in second.events.items_view().items():
        assert piece[1] is restored[key]  # recalled, not rendered again


def test_a_session_changed_since_is_rendered_again(tmp_path: Path, dushanbe: Schedule,
                                                   edit) -> None:
    first = FeedBuilder(SETTINGS)
    build(first, dushanbe)
    keep(first, tmp_path / "pieces")
    moved = edit(dushanbe, "sco-council", venue="Kokhi Navruz, Dushanbe")
    renamed = replace(moved, participants={**moved.participants, "putin": replace(
        moved.participants["putin"], role="President of the Russian Federation")})
    second = FeedBuilder(SETTINGS)
    restore(second, tmp_path / "pieces")
    assert build(second, renamed) == build(FeedBuilder(SETTINGS), renamed)


def test_other_settings_or_a_damaged_file_start_cold(tmp_path: Path,
                                                     dushanbe: Schedule) -> None:
    first = FeedBuilder(SETTINGS)
    build(first, dushanbe)
    keep(first, tmp_path / "pieces")
    other = FeedBuilder(FeedSettings(base_url="https://elsewhere.test"))
    assert restore(other, tmp_path / "pieces") == 0
    assert b"elsewhere.test" in build(other, dushanbe)
    (tmp_path / "damaged").write_bytes(b"\x80\x05not a pickle")
    assert restore(FeedBuilder(SETTINGS), tmp_path / "damaged") == 0
    assert restore(FeedBuilder(SETTINGS), tmp_path / "missing") == 0

"""Feed gzip from joined deflate chunks (regression: the first gzip GET after a change
re-compressed the whole body, 0.3 s at 10,000 sessions, once per concurrent request).

The joined member must decompress to exactly the body with independent readers:
Python's gzip, zlib with a gzip wrapper, and curl --compressed against ``summitcal serve``.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import threading
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.feeds.gzipped import GzipJoiner, chunks
from summitcal.feeds.service import FeedResponse
from tests.serving import Server, cli
from tests.test_serve import write_config

PARTS = st.lists(st.binary(max_size=300) | st.sampled_from(
    [b"BEGIN:VEVENT\r\nSUMMARY:Plenary\r\nEND:VEVENT\r\n", b"", b"\x00" * 70_000]),
    max_size=80)


def readers(member: bytes) -> list[bytes]:
    return [gzip.decompress(member), zlib.decompress(member, wbits=31),
            zlib.decompressobj(wbits=47).decompress(member)]


@settings(max_examples=200, deadline=None)
@given(PARTS, PARTS, st.integers(0, 80))
def test_joined_member_decompresses_to_the_body(first: list[bytes], more: list[bytes],
                                                at: int) -> None:
    joiner = GzipJoiner()
    for parts in (first, first[:at] + more + first[at:]):  # the second reuses chunks
        body = b"".join(parts)
        member = joiner.gzip(parts)
        assert all(out == body for out in readers(member))
        assert gzip.GzipFile(fileobj=io.BytesIO(member)).read() == body


def test_one_change_recompresses_about_one_chunk() -> None:
    parts = [f"BEGIN:VEVENT\r\nUID:{n}\r\nSUMMARY:Session {n}\r\nDESCRIPTION:{n * 7919}"
             f" {'delegations discuss cooperation ' * (n % 5)}\r\nEND:VEVENT\r\n".encode()
             for n in range(8000)]
    joiner = GzipJoiner()
    full = joiner.gzip(parts)
    before = len(joiner)
    changed = list(parts)
    changed[4000] = b"BEGIN:VEVENT\r\nUID:4000\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n"
    member = joiner.gzip(changed)
    assert gzip.decompress(member) == b"".join(changed)
    assert len(joiner) - before <= 3  # the chunk around the change (and its neighbours)
    assert len(chunks(parts)) > 8
    # Close to compressing the whole body at once.
    assert len(full) <= 1.3 * len(gzip.compress(b"".join(parts), 6))


def test_limit_bounds_the_kept_chunks() -> None:
    joiner = GzipJoiner(max_bytes=10_000)
    for n in range(50):
        joiner.gzip([bytes([n]) * 5000, str(n).encode() * 3000])
    assert joiner.kept_bytes <= 10_000 or len(joiner) == 1


def test_concurrent_requests_share_one_gzip_build() -> None:
    parts = [bytes([n % 251]) * 3000 + str(n).encode() for n in range(400)]
    response = FeedResponse("all", b"".join(parts), '"e"', datetime.now(UTC), 1, None,
                            parts, GzipJoiner())
    results: list[bytes] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        results.append(response.gzipped)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(r) for r in results}) == 1  # one build, the same bytes object for all
    assert gzip.decompress(results[0]) == response.body


@pytest.mark.skipif(subprocess.run(["which", "curl"], capture_output=True).returncode != 0,
                    reason="curl is not installed")
def test_curl_compressed_reads_the_same_bytes(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}")
    with Server(config) as server:
        url = f"http://127.0.0.1:{server.port}/feeds/all.ics"
        plain = subprocess.run(["curl", "-sf", url], capture_output=True, check=True).stdout
        assert plain.count(b"BEGIN:VEVENT") == 5
        done = cli("attendance", "astana-2024/sco-council", "putin", "video", config=config)
        assert done.returncode == 0, done.stderr
        for _ in range(2):  # after a change, then from the cache
            raw = subprocess.run(["curl", "-sf", "-H", "Accept-Encoding: gzip", url],
                                 capture_output=True, check=True).stdout
            decoded = subprocess.run(["curl", "-sf", "--compressed", url],
                                     capture_output=True, check=True).stdout
            assert raw[:2] == b"\x1f\x8b" and gzip.decompress(raw) == decoded
            assert decoded.count(b"BEGIN:VEVENT") == 5 and b"video" in decoded.lower()


def test_service_gzip_reuses_chunks_after_a_change(tmp_path: Path) -> None:
    """Regression: an empty joiner is falsy (``__len__``), and the service fell back to
    compressing the whole body on every version."""
    from summitcal.summits.model import Attendance
    from tests.web.test_http import ROOT, make_runtime

    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        runtime.load([ROOT / "schedules"], source="test")
        first = runtime.feeds.get("all")
        assert gzip.decompress(first.gzipped) == first.body
        joiner = runtime.feeds.joiner
        kept, compressed = len(joiner), joiner.compressed
        assert kept > 0
        runtime.set_attendance("astana-2024", "sco-council", Attendance("putin", "video"),
                               source="test")
        second = runtime.feeds.get("all")
        assert second.body != first.body
        assert gzip.decompress(second.gzipped) == second.body
        # Made by the joiner, compressing only the chunks around the one changed event:
        # one, or two when the changed event's tag moved a cut (its bytes carry the time
        # of the change, so which one varies from run to run).
        made = joiner.compressed - compressed
        assert 1 <= made <= 2
        assert len(joiner) == kept + made
    finally:
        runtime.close()

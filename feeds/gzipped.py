"""A feed's gzip form at the cost of what changed: deflate streams joined into one member.

A gzip member (RFC 1952 §2.3) is a header, one DEFLATE stream (RFC 1951) and the CRC-32
and length of the uncompressed bytes. A DEFLATE stream is a sequence of blocks, and a
compressor flushed with ``Z_SYNC_FLUSH`` ends its output at a byte boundary after a
non-final block, without back-references before its own start (each chunk here is
compressed by a fresh compressor). So the compressed chunks of consecutive runs of a
feed's parts can be concatenated, closed by one empty final block, and read by any gzip
reader as the compression of the whole body.

Chunks are runs of parts (header, VTIMEZONEs, VEVENTs, footer) cut after the parts whose
tag (a digest, ``part_tag``) says so (content-defined chunking: a part of n bytes ends a
chunk with probability n / ``TARGET_BYTES``, so chunks hold about that many bytes
whatever the parts' sizes), so adding, changing or removing one event changes only the
chunk around it, the same in every process and after a restart; each chunk's deflate
output is cached by its parts, with its CRC-32 and length: the body's CRC-32 is the
chunks' CRCs joined by ``crc32_combine`` (zlib's, exposed by zlib-ng's binding), so after
one change a feed costs a chunk's compression and a join of compressed bytes, never a
pass over the whole body. Compression stays close to gzip of the whole body, since a
chunk (64 kB and more) spans twice DEFLATE's 32 kB window. zlib-ng's deflate writes the
same format as zlib's, about twice as fast.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from threading import Lock

from zlib_ng import zlib_ng as zlib

#: gzip header: magic, CM=8 (deflate), no flags, MTIME=0 (none), XFL=0, OS=255 (unknown).
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: An empty final block with fixed codes: BFINAL=1, BTYPE=01, end-of-block (RFC 1951 §3.2.3).
FINAL = b"\x03\x00"
TARGET_BYTES = 64 * 1024
MAX_BYTES = 512 * 1024
LONG_RUN = 128  # parts in a run beyond which its size is checked against MAX_BYTES
LEVEL = 6

Chunk = tuple[bytes, ...]
#: A chunk compressed: its deflate output, and the CRC-32 and length of its bytes.
Deflated = tuple[bytes, int, int]


class GzipJoiner:
    """Gzip members from parts, reusing the deflate output of unchanged runs of parts.

    Thread-safe. ``max_bytes`` bounds the compressed chunks kept (least recently used
    first out)."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._chunks: OrderedDict[Chunk, Deflated] = OrderedDict()
        self._size = 0
        self._lock = Lock()
        self.compressed = 0  # chunks compressed so far (the rest were recalled)

    def gzip(self, parts: Sequence[bytes], cuts: Sequence[int] | None = None) -> bytes:
        """The gzip member of ``b"".join(parts)``. Decompresses to exactly those bytes
        with any RFC 1952 reader. ``cuts`` are ``cut_points(parts)`` when known."""
        return member(self.deflated(chunk) for chunk in chunks(parts, cuts))

    def deflated(self, chunk: Chunk) -> Deflated:
        """``chunk`` compressed (a raw deflate stream ended by a sync flush), with the
        CRC-32 and length of its bytes: recalled when kept, else made and kept."""
        with self._lock:
            known = self._chunks.get(chunk)
            if known is not None:
                self._chunks.move_to_end(chunk)
                return known
        raw = b"".join(chunk)
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        made = (compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH),
                zlib.crc32(raw), len(raw))
        with self._lock:
            self.compressed += 1
            if chunk not in self._chunks:
                self._chunks[chunk] = made
                self._size += len(made[0])
                while self._size > self.max_bytes and len(self._chunks) > 1:
                    _, dropped = self._chunks.popitem(last=False)
                    self._size -= len(dropped[0])
        return made

    def kept(self) -> list[tuple[Chunk, Deflated]]:
        """The chunks kept, least recently used first (for ``feeds.kept``)."""
        with self._lock:
            return list(self._chunks.items())

    def adopt(self, chunk: Chunk, made: Deflated) -> None:
        """Keep ``made`` as the compression of ``chunk`` (from ``feeds.kept``)."""
        with self._lock:
            if chunk not in self._chunks:
                self._chunks[chunk] = made
                self._size += len(made[0])

    @property
    def kept_bytes(self) -> int:
        """Compressed bytes kept (at most ``max_bytes``, or one chunk larger than that)."""
        return self._size

    def __len__(self) -> int:
        return len(self._chunks)


def member(deflated: Iterable[Deflated]) -> bytes:
    """One gzip member (RFC 1952) from compressed chunks in order: the header, their
    deflate output, an empty final block, and the CRC-32 (joined with
    ``crc32_combine``) and length of all their bytes."""
    out = [HEADER]
    crc = size = 0
    for output, chunk_crc, length in deflated:
        out.append(output)
        crc = zlib.crc32_combine(crc, chunk_crc, length)
        size += length
    out.append(FINAL)
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


def part_tag(part: bytes) -> bytes:
    """A digest of one part of a feed (16 bytes of BLAKE2b): decides where chunks are cut,
    and names the part in a feed's ETag (``feeds.cache.Assembled``)."""
    return hashlib.blake2b(part, digest_size=16).digest()


def ends_chunk(part: bytes, tag: bytes) -> bool:
    """Whether a chunk ends after ``part`` (whose ``part_tag`` is ``tag``): with
    probability ``len(part) / TARGET_BYTES``, decided by the tag alone."""
    return (tag[0] | tag[1] << 8) * TARGET_BYTES < len(part) * 65536


def cut_points(parts: Sequence[bytes], tags: Sequence[bytes] | None = None) -> list[int]:
    """The indices of the parts after which chunks end (``ends_chunk``)."""
    if tags is None:
        tags = [part_tag(part) for part in parts]
    return [i for i, (part, tag) in enumerate(zip(parts, tags, strict=True))
            if ends_chunk(part, tag)]


def chunks(parts: Sequence[bytes], cuts: Sequence[int] | None = None) -> list[Chunk]:
    """``parts`` cut after the ``cuts`` (default ``cut_points(parts)``); a run of more than
    ``MAX_BYTES`` is cut again where it passes that size (rare: it takes many parts
    none of which ends a chunk)."""
    if cuts is None:
        cuts = cut_points(parts)
    found: list[Chunk] = []
    start = 0
    for end in [*cuts, len(parts) - 1]:
        if end < start:
            continue
        if end - start >= LONG_RUN and sum(map(len, parts[start:end + 1])) > MAX_BYTES:
            found.extend(_bounded(parts, start, end + 1))
        else:
            found.append(tuple(parts[start:end + 1]))
        start = end + 1
    return found


def _bounded(parts: Sequence[bytes], start: int, stop: int) -> list[Chunk]:
    """``parts[start:stop]`` in runs of at most about ``MAX_BYTES``."""
    found: list[Chunk] = []
    size = 0
    for index in range(start, stop):
        size += len(parts[index])
        if size >= MAX_BYTES or index == stop - 1:
            found.append(tuple(parts[start:index + 1]))
            start, size = index + 1, 0
    return found

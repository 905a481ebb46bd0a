"""Parsing many schedule files on two CPUs: a worker process beside this one.

A cold load of 50,000 sessions spends about half its time parsing and checking TOML
(``schedule_file.parse_text``), one file at a time, while a second CPU waits. ``parse_all``
cuts the files into batches of about ``BATCH_BYTES`` and starts one worker process (with
``spawn``, which is safe beside threads). The two claim batches from a shared pair of
counters under a lock, the worker from the front and this process from the back, until
they meet; so neither waits on the other for more than one batch, and this process needs
no thread of its own to keep the worker busy (a thread that must take the GIL from a
parsing thread to hand out work left the worker idle half the time). The result is the
same list, in the same order, whoever parsed what.

The worker is given paths, not text, and reads each file itself; a file whose bytes no
longer have the SHA-256 this process read is parsed here. It pickles each batch's results
as it goes, with reducers that rebuild the model's frozen dataclasses from their fields
(``cls(*fields)``): pickle's default for a slotted dataclass calls Python code per object
both ways and cost more than the parsing saved. A thread of the worker sends each batch
as soon as it is pickled, and this process takes in what has arrived between its own
batches, so the unpickling (0.4 s of 50,000 sessions) is shared out like the parsing
instead of following it; the pipe is widened to hold a batch, so neither side waits for
the other to write or read.

Below ``MIN_BYTES`` of text, or with one CPU, everything is parsed here. Any failure of
the worker (it cannot start, dies, or cannot send its result) only means the batches it
claimed are parsed here after all: an error in a file is reported the same either way.
"""

from __future__ import annotations

import copyreg
import gc
import hashlib
import io
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from summitcal.core.errors import Problem
from summitcal.summits.model import Attendance, Organization, Participant, Session, Summit

try:
    import fcntl
except ImportError:  # not a Unix: pipes keep their default size
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")

MIN_BYTES = 8 * 1024 * 1024  # characters of text below which one process parses all
BATCH_BYTES = 256 * 1024  # characters of text per batch (a batch is whole files)
POLL_SECONDS = 0.05  # how often a wait for the worker's result checks it is alive
PIPE_BYTES = 1024 * 1024  # the pipe's size asked for (a batch's results are ~300 kB)


class Item(NamedTuple):
    """One file to parse: its text as read here, its name in problems, the path the
    worker reads it from and the SHA-256 (hex) of its bytes."""

    text: str
    name: str
    path: str
    sha256: str


class Stats:
    """Batches parsed by worker processes and here, over this process's life (tests and
    the benchmark check with it that a large load did use the worker)."""

    def __init__(self) -> None:
        self.worker_batches = 0
        self.local_batches = 0


stats = Stats()


def _rebuild(cls: type) -> Callable[[Any], tuple[type, tuple[Any, ...]]]:
    """A reducer that pickles a frozen dataclass as ``cls(*its fields)``."""
    assert all(f.init for f in fields(cls)), cls  # every field goes through __init__
    get = attrgetter(*(f.name for f in fields(cls)))

    def reduce(obj: Any) -> tuple[type, tuple[Any, ...]]:
        return cls, get(obj)

    return reduce


#: The default reducers, with the model's records rebuilt from their fields.
DISPATCH = copyreg.dispatch_table.copy()
for _cls in (Session, Attendance, Summit, Organization, Participant, Problem):
    DISPATCH[_cls] = _rebuild(_cls)


def dumps(value: Any) -> bytes:
    """``value`` pickled with ``DISPATCH`` (read back with ``pickle.loads``)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = DISPATCH
    pickler.dump(value)
    return buffer.getvalue()


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def batches(items: Sequence[Item], size: int | None = None) -> list[list[Item]]:
    """``items`` in order, cut into runs of about ``size`` (default ``BATCH_BYTES``)
    characters (whole items)."""
    size = BATCH_BYTES if size is None else size
    found: list[list[Item]] = []
    current: list[Item] = []
    length = 0
    for item in items:
        current.append(item)
        length += len(item.text)
        if length >= size:
            found.append(current)
            current, length = [], 0
    if current:
        found.append(current)
    return found


def _claim(bounds: Any, front: bool) -> int | None:
    """The next unclaimed batch from the front or the back, or None when none is left.
    ``bounds`` is a shared ``[next from the front, one past the next from the back]``."""
    with bounds.get_lock():
        if bounds[0] >= bounds[1]:
            return None
        if front:
            bounds[0] += 1
            return bounds[0] - 1
        bounds[1] -= 1
        return bounds[1]


def _work(parse: Callable[[str, str], Any], runs: list[list[tuple[str, str, str]]],
          bounds: Any, sender: Any) -> None:
    """The worker: claim batches from the front and parse each file (read from its path;
    None where the bytes are not those named), and send each batch's results as soon as
    they are made, pickled with ``dumps`` as ``(batch index, results)``; then an empty
    message. A thread of its own sends, so a parse never waits for the pipe. It lives for
    one load, so the cycle collector has nothing to find."""
    gc.disable()
    _widen(sender)
    outgoing: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def send() -> None:
        while (message := outgoing.get()) is not None:
            sender.send_bytes(message)

    sending = threading.Thread(target=send, name="summitcal-parse-send", daemon=True)
    sending.start()
    while (index := _claim(bounds, front=True)) is not None:
        found: list[Any] = []
        for name, path, sha256 in runs[index]:
            try:
                raw = Path(path).read_bytes()
            except OSError:
                found.append(None)
                continue
            found.append(parse(raw.decode("utf-8"), name)
                         if hashlib.sha256(raw).hexdigest() == sha256 else None)
        outgoing.put(dumps((index, found)))
    outgoing.put(b"")
    outgoing.put(None)
    sending.join()
    sender.close()


def _widen(connection: Any) -> None:
    """Let the pipe behind ``connection`` hold a whole batch's results (Linux: 1 MiB, the
    default most a process may ask; 64 KiB otherwise), so that most sends are one write."""
    command = getattr(fcntl, "F_SETPIPE_SZ", None)
    if command is None:
        return
    try:
        fcntl.fcntl(connection.fileno(), command, PIPE_BYTES)
    except OSError:  # not Linux, or a smaller limit: the default size works too
        pass


def parse_all(parse: Callable[[str, str], T], items: Sequence[Item],
              min_bytes: int | None = None) -> list[T]:
    """``[parse(item.text, item.name) for item in items]``, on two CPUs when there are at
    least ``min_bytes`` (default ``MIN_BYTES``) characters of text and two CPUs.

    ``parse`` must be a module-level function (the worker imports it by name), and what
    it returns must pickle. Exceptions ``parse`` raises come from this process."""
    limit = MIN_BYTES if min_bytes is None else min_bytes
    runs = batches(items)
    if sum(len(item.text) for item in items) < limit or cpus() < 2 or len(runs) < 2:
        return [parse(item.text, item.name) for item in items]
    results: list[list[T] | None] = [None] * len(runs)
    context = multiprocessing.get_context("spawn")
    bounds = context.Array("q", [0, len(runs)])
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_work, daemon=True, name="summitcal-parse",
        args=(parse, [[(i.name, i.path, i.sha256) for i in run] for run in runs], bounds,
              sender))

    def take(message: bytes) -> None:
        index, found = pickle.loads(message)
        stats.worker_batches += 1
        results[index] = [parse(item.text, item.name) if result is None else result
                          for item, result in zip(runs[index], found, strict=True)]

    try:
        try:
            worker.start()
        except OSError:  # no process to be had: everything is parsed here
            pass
        sender.close()
        # Between its own batches this process takes in what the worker sent: the
        # unpickling is then shared out like the parsing, not left for the end.
        while (index := _claim(bounds, front=False)) is not None:
            results[index] = [parse(item.text, item.name) for item in runs[index]]
            stats.local_batches += 1
            while (message := _message(receiver, worker, wait=False)):
                take(message)
        while (message := _message(receiver, worker, wait=True)):
            take(message)
    finally:
        receiver.close()
        if worker.pid is not None:
            worker.join(1)
            if worker.is_alive():
                worker.kill()
                worker.join()
    for index, run in enumerate(runs):  # claimed by a worker that sent nothing
        if results[index] is None:
            results[index] = [parse(item.text, item.name) for item in run]
            stats.local_batches += 1
    return [result for found in results if found is not None for result in found]


def _message(receiver: Any, worker: Any, wait: bool) -> bytes | None:
    """The worker's next message: one batch's results, or empty when it has sent them all;
    None when none is waiting (``wait`` false) or none will come (it is gone, or never
    started)."""
    if worker.pid is None or receiver.closed:
        return None
    if wait:
        while not receiver.poll(POLL_SECONDS):
            if not worker.is_alive() and not receiver.poll(0):
                return None
    elif not receiver.poll(0):
        return None
    try:
        message: bytes = receiver.recv_bytes()
    except (EOFError, OSError):  # it died while sending
        receiver.close()
        return None
    if not message:
        receiver.close()
    return message

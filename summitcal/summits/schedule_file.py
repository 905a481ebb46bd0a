"""Reading schedule files and directories into one checked ``Schedule``.

All files named are checked together; every problem in every file is reported at once
(``ScheduleError``), and a caller applies nothing unless ``load_paths`` returns.
``load_files`` also gives each file's own content and the SHA-256 of its bytes, which the
store keeps to apply only what a file changed since it was last applied
(``summits.merge``).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rtoml

from summitcal.core.errors import Problem, ScheduleError
from summitcal.summits.content import Stored, stored
from summitcal.summits.model import Organization, Participant, Schedule, Session, Summit
from summitcal.summits.parallel import Item, parse_all
from summitcal.summits.validate import Document


def schedule_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Expand directories to their ``*.toml`` files (not recursive), in name order. An
    entry named ``*.toml`` that is not a file to read (a symbolic link to nothing, a
    directory) is a problem: skipping it would leave its summit as it was, unsaid."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            entries = sorted(path.glob("*.toml"))
            found = [p for p in entries if p.is_file()]
            for entry in entries:
                if entry.is_symlink() and not entry.exists():
                    problems.append(Problem(str(entry), "", "a symbolic link to nothing "
                                            f"(it points to {os.readlink(entry)})"))
                elif not entry.is_file():
                    problems.append(Problem(str(entry), "", "not a file"))
            if not entries:
                problems.append(Problem(str(path), "", "directory has no .toml schedule files"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), "", "no such file or directory"))
    return files, problems


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One checked schedule file: its path (absolute), the SHA-256 (hex) of its bytes, its
    content (its summit, that summit's sessions and the records the file declares) and
    that content as the store keeps it (``summits.content.stored``)."""

    path: str
    sha256: str
    content: Schedule
    stored: Stored

    @property
    def summit(self) -> str:
        return next(iter(self.content.summits))


@dataclass(frozen=True, slots=True)
class Loaded:
    """Every file of a load: all of them as one schedule, and each on its own.

    With ``load_files(..., applied=...)``, files whose bytes equal those last applied are
    not parsed: they are in ``unchanged`` (their summit ids) instead of ``files``, and
    ``schedule`` holds their summits and records but not their sessions."""

    schedule: Schedule
    files: tuple[SourceFile, ...]
    unchanged: tuple[str, ...] = ()


@dataclass(slots=True)
class Declared:
    """What the cross-file checks of ``combine`` need of a file that is not parsed again
    (its bytes equal those last applied): its summit, the records it declares and the
    references its sessions make, with the field paths ``Document`` would give."""

    file: str
    summit: Summit | None
    organizations: list[tuple[str, Organization]] = field(default_factory=list)
    participants: list[tuple[str, Participant]] = field(default_factory=list)
    #: The ids its sessions name, by kind ("organisation", "participant").
    referenced: dict[str, set[str]] = field(default_factory=dict)
    #: (field path, kind, id) of each reference, worked out on demand.
    paths: Callable[[], list[tuple[str, str, str]]] = list
    problems: list[Problem] = field(default_factory=list)
    sessions: list[tuple[str, Session]] = field(default_factory=list)
    session_ids: list[tuple[str, str]] = field(default_factory=list)

    @property
    def references(self) -> list[tuple[str, str, str]]:
        return self.paths()


#: For ``load_files``: (resolved path, SHA-256 of the bytes) of each file as last applied
#: → that file's declarations (see ``summits.applied.declared``).
Applied = Mapping[tuple[str, str], Callable[[str], Declared]]


def parse_toml(text: str) -> dict[str, Any]:
    """TOML 1.0 text as a dict (``tomllib``'s types: naive datetimes for local date-times).

    rtoml (Rust) parses; a document it refuses is parsed again with ``tomllib``, which
    then decides and words the error (``TOMLDecodeError``), so errors and the documents
    accepted stay ``tomllib``'s (rtoml also refuses nesting deeper than ~80 levels that
    ``tomllib`` reads). Raises ``tomllib.TOMLDecodeError`` or ``RecursionError``."""
    try:
        return rtoml.loads(text)
    except rtoml.TomlParsingError:
        return tomllib.loads(text)


def parse_text(text: str, name: str) -> Document | Problem:
    """One document checked on its own; a ``Problem`` when it is not TOML at all."""
    try:
        data = parse_toml(text)
    except tomllib.TOMLDecodeError as exc:
        return Problem(name, "", f"not valid TOML: {exc}")
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        return Problem(name, "", "not a schedule: arrays or tables nested too deeply")
    try:
        return Document(data, name)
    except RecursionError:  # a value too deep even to print in a message
        return Problem(name, "", "not a schedule: arrays or tables nested too deeply")


def parse_file(text: str, name: str) -> tuple[Document | Problem, Stored | None]:
    """``parse_text`` for a load, and the content of a file without problems as the store
    keeps it (None for one with problems): made here, while parsing, so that a large load
    makes it on two CPUs (``summits.parallel``); a cold load of 50,000 sessions spent 1 s
    on it after parsing, on one."""
    document = parse_text(text, name)
    if isinstance(document, Problem) or document.problems or document.summit is None:
        return document, None
    return document, stored(_content(document))


def _read(path: Path, applied: Applied | None = None
          ) -> tuple[Declared | Problem | str, str]:
    """The file's declarations when its bytes are those last applied, a ``Problem`` when it
    cannot be read as text, else its text (to parse); and the SHA-256 of its bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Problem(str(path), "", f"cannot read: {exc.strerror}"), ""
    digest = hashlib.sha256(raw).hexdigest()
    declared = (applied or {}).get((str(path.resolve()), digest))
    if declared is not None:
        return declared(str(path)), digest
    try:
        return raw.decode("utf-8"), digest
    except UnicodeDecodeError as exc:
        return Problem(str(path), "", f"not UTF-8 text (byte {exc.start})"), ""


def load_paths(paths: Sequence[str | Path]) -> Schedule:
    """Check every schedule file under ``paths`` and return them as one schedule."""
    return load_files(paths).schedule


def load_files(paths: Sequence[str | Path], applied: Applied | None = None) -> Loaded:
    """Check every schedule file under ``paths``: one schedule, and each file on its own.
    Raises ``ScheduleError`` listing every problem in every file.

    With ``applied`` (the files as last applied), a file whose path and bytes are found
    there is not parsed again: its declarations stand in for it in the cross-file checks
    (records declared twice must agree, references must be declared, one file per
    summit), so a change to one file is still checked against all the others."""
    files, problems = schedule_files(paths)
    read: list[tuple[Declared | Problem | str, str, Path]] = []
    seen: set[Path] = set()
    for path in files:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        read.append((*_read(path, applied), path))
    # The files to parse, parsed on two CPUs when there are many (``summits.parallel``).
    parsed_texts = iter(parse_all(parse_file, [
        Item(result, str(path), str(path.resolve()), digest) for result, digest, path in read
        if isinstance(result, str)]))
    docs: list[Document | Declared] = []
    parsed: list[tuple[Document, Stored, str, str]] = []
    for result, digest, path in read:
        found, kept = next(parsed_texts) if isinstance(result, str) else (result, None)
        if isinstance(found, Problem):
            problems.append(found)
            continue
        docs.append(found)
        if isinstance(found, Document) and kept is not None:  # parsed, without problems
            parsed.append((found, kept, str(path.resolve()), digest))
    schedule = combine(docs, problems)
    unchanged = tuple(doc.summit.id for doc in docs
                      if isinstance(doc, Declared) and doc.summit is not None)
    return Loaded(schedule, tuple(SourceFile(where, digest, _content(doc), kept)
                                  for doc, kept, where, digest in parsed), unchanged)


def _content(doc: Document) -> Schedule:
    assert doc.summit is not None  # combine() refused the load otherwise
    return Schedule(summits={doc.summit.id: doc.summit},
                    organizations={r.id: r for _, r in doc.organizations},
                    participants={r.id: r for _, r in doc.participants},
                    sessions={s.key: s for _, s in doc.sessions})


def load_text(text: str, name: str = "<request>") -> Schedule:
    """Check one schedule document given as text (the admin API's body)."""
    result = parse_text(text, name)
    if isinstance(result, Problem):
        raise ScheduleError([result])
    return combine([result], [])


def combine(docs: Sequence[Document | Declared], problems: list[Problem]) -> Schedule:
    problems = list(problems)
    for doc in docs:
        problems.extend(doc.problems)
    schedule = Schedule()
    _merge_records(docs, schedule.organizations, "organizations", problems)
    _merge_records(docs, schedule.participants, "participants", problems)
    summit_files: dict[str, str] = {}
    for doc in docs:
        _check_sessions(doc, schedule, problems)  # whatever else is wrong with the file
        if doc.summit is None:
            continue
        if doc.summit.id in summit_files:
            problems.append(Problem(doc.file, "summit.id", f"summit {doc.summit.id!r} is also "
                                    f"defined in {summit_files[doc.summit.id]}"))
            continue
        summit_files[doc.summit.id] = doc.file
        schedule.summits[doc.summit.id] = doc.summit
        schedule.sessions.update((s.key, s) for _, s in doc.sessions)
    _check_event_keys(docs, problems)
    if problems:
        raise ScheduleError(problems)
    return schedule


def _check_event_keys(docs: Sequence[Document | Declared], problems: list[Problem]) -> None:
    """No two sessions of the files may share an event key (their calendar UID):
    the second one met is reported, naming the first one's file and field."""
    first: dict[str, tuple[Document | Declared, str, Session]] = {}
    for doc in docs:
        for path, session in doc.sessions:
            known = first.setdefault(session.event_key, (doc, path, session))
            other_doc, other_path, other = known
            if other.key != session.key:
                problems.append(Problem(doc.file, f"{path}.id", uid_clash(
                    session, other, f"in {other_doc.file} ({other_path})")))


def uid_clash(session: Session, other: Session, where: str) -> str:
    """The message for two sessions that would share a calendar UID."""
    return (f"session {session.summit}/{session.id} would have the same calendar UID "
            f"({session.event_key}@…) as session {other.summit}/{other.id} {where}; "
            "calendar apps merge events that share a UID, so one of them would vanish: "
            "give one of the two sessions another id")


def _merge_records(docs: Sequence[Document | Declared], into: dict, key: str,
                   problems: list[Problem]) -> None:
    origin: dict[str, str] = {}
    for doc in docs:
        local: set[str] = set()
        records: list[tuple[str, Organization | Participant]] = getattr(doc, key)
        for path, record in records:
            if record.id in local:
                problems.append(Problem(doc.file, f"{path}.id", f"duplicate id {record.id!r}"))
                continue
            local.add(record.id)
            if record.id in into and into[record.id] != record:
                problems.append(Problem(doc.file, path, f"{record.id!r} differs from its "
                                        f"declaration in {origin[record.id]}"))
                continue
            into.setdefault(record.id, record)
            origin.setdefault(record.id, doc.file)


def _check_sessions(doc: Document | Declared, schedule: Schedule, problems: list[Problem]) -> None:
    """References to records no file declares, and session ids used twice in the file."""
    known: dict[str, Mapping[str, object]] = {"organisation": schedule.organizations,
                                              "participant": schedule.participants}
    if not all(ids <= known[kind].keys() for kind, ids in doc.referenced.items()):
        for where, kind, ident in doc.references:  # field paths, made only now
            if ident not in known[kind]:
                problems.append(Problem(doc.file, where, f"unknown {kind} {ident!r}"))
    seen: dict[str, str] = {}
    for path, ident in doc.session_ids:
        if ident in seen:
            problems.append(Problem(doc.file, f"{path}.id", f"duplicate session id {ident!r} "
                                    f"(also {seen[ident]})"))
        seen.setdefault(ident, path)

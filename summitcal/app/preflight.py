"""Checks of the environment the configuration names, made before anything starts.

``summitcal check`` lists every problem ``serve`` would stop on; ``serve`` runs the same
checks first and stops with one line per problem. Each check is also what makes the
matching failure inside ``serve`` impossible to reach in an ordinary start:

* folders (``service.data_dir``; ``mail.file_dir`` with the file transport): a folder, or
  creatable, and writable — tried with a temporary file, since permissions alone do not
  say (a read-only file system, or a process running as root);
* the generated secret key, when ``SUMMITCAL_SECRET_KEY`` is unset: readable and long
  enough if it exists;
* the database: reachable, and at a schema revision this version knows (a database
  migrated by a newer summitcal cannot be used); an SQLite file not made yet is only
  checked for its folder, and nothing is created;
* ``http.host``: an address of this machine (a socket binds to it). Whether ``http.port``
  is free is found when ``serve`` binds it: a running ``serve`` holds it while ``check``
  runs.

Problems are one line each, naming the key and the value.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from summitcal.app import secret
from summitcal.app.config import SECRET_KEY_ENV, Config
from summitcal.core.errors import ConfigError, SummitcalError
from summitcal.core.multiprocess import MULTIPROC_ENV, multiprocess_folder_problem


class StartupError(SummitcalError):
    """``serve`` cannot start: one line per problem in ``problems``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def problems(config: Config) -> list[str]:
    """Every problem with the environment ``config`` names, one line each, starting with
    the configuration file's name (empty when all is well)."""
    data = folder_problems("service.data_dir", config.service.data_dir)
    found = list(data)
    if config.mail.transport == "file":
        found += folder_problems("mail.file_dir", config.mail.file_dir)
    if config.secret_key_env is None and not data:
        found += _secret_problems(config)
    found += _host_problems(config.http.host)
    origin = f"{config.path}: " if config.path else ""
    found = [origin + line for line in found]
    found += unconfigured_problems(config.secret_key_env)  # the environment's, not the file's
    if config.database.url or not data:  # the default database lives in data_dir
        key = config.database_url_key
        # A URL from the environment is not the file's to answer for.
        prefix = "" if key != "database.url" else origin
        found += [prefix + line for line in database_problems(config.database_url, key)]
    return found


def unconfigured_problems(secret_key: str | None) -> list[str]:
    """The problems of what the environment gives whatever the configuration says: the
    secret key ``secret_key`` (``SUMMITCAL_SECRET_KEY``; None: unset) and the metrics
    folder. Part of ``problems``, and what ``check`` still reports when the configuration
    file cannot be read."""
    found = []
    if secret_key is not None:
        try:
            secret.check(secret_key, SECRET_KEY_ENV)
        except ConfigError as error:
            found.append(str(error))
    metrics_folder = multiprocess_folder_problem(os.environ.get(MULTIPROC_ENV))
    return found + ([metrics_folder] if metrics_folder else [])


def check(config: Config) -> None:
    """``StartupError`` listing every problem, if there is one."""
    found = problems(config)
    if found:
        raise StartupError(found)


def folder_problems(key: str, folder: Path) -> list[str]:
    """Whether ``folder`` is (or can be made) a writable folder."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        if existing == folder:
            return [f"{key} = {folder}: this is a file, not a folder"]
        return [f"{key} = {folder}: cannot be made: {existing} is a file, not a folder"]
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        what = "is not writable" if existing == folder else f"cannot be made in {existing}"
        return [f"{key} = {folder}: {what} ({error.strerror or error})"]
    return []


def _secret_problems(config: Config) -> list[str]:
    """The generated key file is readable and long enough (a file not made yet is made on
    first use, in a folder checked before)."""
    try:
        secret.read(config.secret_key_path)
    except FileNotFoundError:
        return []  # generated on first use, in a folder checked above
    except ConfigError as error:
        return [str(error)]
    return []


def _host_problems(host: str) -> list[str]:
    """``host`` resolves and is an address of this machine: a socket binds to it (on a
    port the system picks; whether ``http.port`` is free is known only when ``serve``
    binds it, since a running ``serve`` holds it while ``check`` runs)."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, kind, protocol, _, address = found[0]
        with socket.socket(family, kind, protocol) as probe:
            probe.bind((address[0], 0, *address[2:]))
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return [f"http.host = {host!r}: not an address to listen on ({reason})"]
    return []


def database_exists(url: str, key: str = "database.url") -> bool:
    """Whether the database at ``url`` may hold data: False only for an SQLite file that
    does not exist yet (or an in-memory one); a server database is assumed to.
    ``ConfigError`` naming ``key`` (where the URL came from) for what is not a URL."""
    from summitcal.core.database import parse_url  # SQLAlchemy: imported when used

    parsed = parse_url(url, key)
    if parsed.get_backend_name() != "sqlite":
        return True
    name = parsed.database or ""
    return name not in ("", ":memory:") and not name.startswith("file:") and Path(name).is_file()


def database_problems(url: str, key: str = "database.url") -> list[str]:
    """Whether the database can be opened and migrated by this version. An SQLite file
    that does not exist yet is not created: only its folder is checked. Lines name the
    URL by ``key``: ``database.url``, or the environment variable it came from."""
    from summitcal.core.database import usable_url

    try:
        parsed = usable_url(url, key)
    except ConfigError as error:
        return [str(error)]
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if parsed.database in (None, "", ":memory:") or str(path).startswith("file:"):
            return []
        if path.is_dir():
            return [f"{key}: {path} is a folder, not a database file"]
        if not path.exists():
            return folder_problems(f"{key} (its folder)", path.parent)
        found = _sqlite_files_problems(key, path)
        if found:
            return found
    return _schema_problems(url)


def _sqlite_files_problems(key: str, path: Path) -> list[str]:
    """An SQLite database this user can read but not write opens, then fails at its first
    write ("attempt to write a readonly database"): the file, its WAL and shared-memory
    files and the scheduler's lock file beside it must be writable, and so must their
    folder (SQLite makes and removes the ``-wal`` and ``-shm`` files there)."""
    found = []
    for name, what in ((path, "the database file"), (Path(f"{path}-wal"), "its WAL file"),
                       (Path(f"{path}-shm"), "its shared-memory file"),
                       (Path(f"{path}.scheduler-lock"), "the scheduler's lock file")):
        if name.exists() and not os.access(name, os.R_OK | os.W_OK):
            found.append(f"{key}: {what} {name} is not writable by this user")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        found.append(f"{key}: the folder {path.parent} is not writable by this user "
                     "(SQLite writes its -wal and -shm files there)")
    return found


def _schema_problems(url: str) -> list[str]:
    from summitcal.app.runtime import DatabaseUnavailable, schema_problem
    from summitcal.summits.store import Store

    try:
        store = Store(url)
    except ConfigError as error:
        return [str(error)]
    try:
        problem = schema_problem(store)
    except DatabaseUnavailable as error:
        return [str(error)]
    finally:
        store.close()
    return [problem] if problem else []

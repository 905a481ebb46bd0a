"""The secret key that signs subscriber tokens, when ``SUMMITCAL_SECRET_KEY`` is unset:
generated into the data directory on first use.

Several threads and processes may ask for it at once on a fresh install (delivery workers
rendering their first links, a CLI command beside ``serve``). The key is written whole
to a temporary file, flushed to disk, and then linked to its name (``os.link`` fails if
the name exists, so exactly one writer wins and every reader gets the winner's key); a
reader never sees a missing, empty or half-written file. A key shorter than
``MIN_LENGTH`` characters is refused, wherever it comes from: every signed link would be
forgeable with it.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from summitcal.core.errors import ConfigError
from summitcal.core.files import sync_directory

MIN_LENGTH = 32
_NEW_KEY_BYTES = 32  # 43 characters of URL-safe base64


def check(key: str, origin: str) -> str:
    """``key`` when it is long enough; ``ConfigError`` naming ``origin`` (never the key)."""
    if len(key) < MIN_LENGTH:
        what = "empty" if not key else f"too short ({len(key)} characters)"
        raise ConfigError(f"{origin}: the secret key is {what}; it needs at least "
                          f"{MIN_LENGTH} characters")
    return key


def read(path: Path) -> str:
    """The key stored at ``path``. ``FileNotFoundError`` when there is none yet;
    ``ConfigError`` when it cannot be read or is empty or short."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not ASCII text"
        raise ConfigError(f"{path}: cannot read the secret key: {reason}") from None
    try:
        return check(text, str(path))
    except ConfigError as error:
        raise ConfigError(f"{error} (delete the file to have a new one generated; links "
                          "signed with the old key stop working)") from None


def read_or_create(path: Path) -> str:
    """The key at ``path``, generated there first if there is none (see the module doc)."""
    try:
        return read(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path)
    except OSError as error:
        raise ConfigError(f"{path}: cannot create the secret key: {error.strerror or error}; "
                          "set SUMMITCAL_SECRET_KEY or make the data directory writable"
                          ) from None
    return read(path)


def _create(path: Path) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(_NEW_KEY_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return  # another thread or process was first: its key stands
    finally:
        os.unlink(temporary)
    sync_directory(path.parent)

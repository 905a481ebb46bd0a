"""``PROMETHEUS_MULTIPROC_DIR``, prometheus_client's multiprocess mode, checked without
importing the library's metrics (which fail at import when the folder is missing)."""

from __future__ import annotations

import os

#: The folder, made (and emptied) by the operator, where every process writes its
#: samples; the library makes no folder.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_folder_problem(value: str | None) -> str | None:
    """What is wrong with ``value`` as ``PROMETHEUS_MULTIPROC_DIR`` (None: unset, or an
    existing folder this user can write), in one line naming the variable."""
    if not value:
        return None
    if not os.path.isdir(value):
        what = "a file, not a folder" if os.path.exists(value) else "no such folder"
        return f"{MULTIPROC_ENV} = {value}: {what} (make it, empty, before starting)"
    if not os.access(value, os.W_OK | os.X_OK):
        return f"{MULTIPROC_ENV} = {value}: not writable by this user"
    return None

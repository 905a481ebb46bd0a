"""What the web layer needs of the running service, as a typed interface.

The shell (``summitcal.app.runtime.Service``) satisfies it; the web layer never imports
the shell. Pages and APIs read the current schedule through ``snapshot``, the database
through ``store``, feeds through ``feeds``, and the few configuration sections they show
or link with through ``config``.
"""

from __future__ import annotations

from typing import Protocol

from summitcal.core.settings import FeedsSection, MailSection, RemindersSection, ServiceSection
from summitcal.feeds.service import FeedService
from summitcal.summits.model import Attendance
from summitcal.summits.snapshot import Snapshot
from summitcal.summits.store import Result, Store


class WebSettings(Protocol):
    """The configuration as the web layer reads it (``summitcal.app.config.Config``)."""

    @property
    def service(self) -> ServiceSection: ...

    @property
    def feeds(self) -> FeedsSection: ...

    @property
    def reminders(self) -> RemindersSection: ...

    @property
    def mail(self) -> MailSection: ...

    @property
    def admin_token(self) -> str | None: ...

    def secret_key(self) -> str: ...


class Service(Protocol):
    """The running service as the web layer uses it."""

    @property
    def config(self) -> WebSettings: ...

    @property
    def store(self) -> Store: ...

    @property
    def feeds(self) -> FeedService: ...

    def snapshot(self) -> Snapshot:
        """The current schedule (``summits.snapshot.Snapshots.current``)."""
        ...

    def load_text(self, text: str, *, dry_run: bool = False, source: str = "api") -> Result:
        """Make the store look like one schedule document (a live edit)."""
        ...

    def set_attendance(self, summit: str, session: str, item: Attendance, *,
                       source: str) -> Result:
        """Record one participant's attendance of one session (a live edit)."""
        ...

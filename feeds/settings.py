"""What a feed needs from the configuration (``[service]`` and ``[feeds]``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DEFAULT_PRODID = "-//summitcal//summitcal feeds//EN"


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """``base_url`` gives links and the UID host; ``refresh_interval`` becomes
    REFRESH-INTERVAL and X-PUBLISHED-TTL; cancelled sessions stay in feeds for
    ``cancelled_retention`` after their cancellation."""

    base_url: str
    prodid: str = DEFAULT_PRODID
    refresh_interval: timedelta = timedelta(hours=1)
    cancelled_retention: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.refresh_interval <= timedelta(0):
            raise ValueError(f"refresh_interval must be positive, not {self.refresh_interval}")
        if self.cancelled_retention < timedelta(0):
            raise ValueError(
                f"cancelled_retention must not be negative, not {self.cancelled_retention}"
            )

"""feeds: sessions to iCalendar, as pure functions (no I/O, no database).

``select`` picks a feed's sessions, ``event``/``vtimezone`` serialise the pieces,
``calendar`` assembles them, and ``cache.FeedBuilder`` reuses pieces between requests.
"""

from summitcal.feeds.cache import FeedBuilder
from summitcal.feeds.calendar import feed_bytes
from summitcal.feeds.event import event_bytes
from summitcal.feeds.settings import FeedSettings
from summitcal.feeds.vtimezone import vtimezone_bytes

__all__ = ["FeedBuilder", "FeedSettings", "event_bytes", "feed_bytes", "vtimezone_bytes"]

"""scheduler: the notification engine."""

import summitcal  # noqa: F401  (pins the tz database)

"""web: the HTTP app — pages, JSON API, admin API, feed routes."""

import summitcal  # noqa: F401  (pins the tz database)

"""summits: the domain — schedule files, validation, the store, revisions and changes."""

import summitcal  # noqa: F401  (pins the tz database)

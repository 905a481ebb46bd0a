"""summitcal: summit schedules as timezone-correct calendar feeds.

Importing any summitcal package pins the tz database to the ``tzdata`` package (the
version ``summitcal version`` reports), never the system's /usr/share/zoneinfo, so the
same schedule gives the same instants on every machine.
"""

import zoneinfo

zoneinfo.reset_tzpath(to=())

__version__ = "0.1.0"

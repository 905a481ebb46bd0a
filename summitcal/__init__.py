"""summitcal: summit schedules as timezone-correct calendar feeds."""

__version__ = "0.1.0"

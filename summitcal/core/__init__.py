"""summitcal.core: what every layer may use — errors, time (durations, local times, the
tz database's TZif files), the database engine and migrations runner, templates and
process-counted metrics. It imports nothing else of summitcal."""

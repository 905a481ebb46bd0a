"""summitcal.app: the shell — configuration, wiring (``Runtime``), the command line, the
HTTP server, the process roles and their election. The one layer that sees every other."""

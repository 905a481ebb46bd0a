"""Tests of the notification engine: message wording and composition, transports."""

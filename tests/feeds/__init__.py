"""Tests of the feeds package."""

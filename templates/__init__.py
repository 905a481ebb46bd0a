"""Jinja2 templates for emails (email/) and web pages (web/), shipped as package data."""

"""A real headless Chromium (Debian's chromium + chromium-driver), driven by Selenium,
against ``summitcal serve`` running as a subprocess."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.serving import Server, cli
from tests.tools import require_module, require_tool

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SUMMITCAL_SCREENSHOTS", ROOT / "build" / "screenshots"))


@pytest.fixture(scope="session")
def chrome_paths() -> tuple[str, str]:
    browser = require_tool("chromium", "apt-get install chromium (Debian's package)")
    driver = require_tool("chromedriver", "apt-get install chromium-driver")
    require_module("selenium", "pip install -e '.[test]'")
    return browser, driver


@pytest.fixture
def make_browser(chrome_paths) -> Iterator[Callable[..., object]]:
    """``make_browser(timezone=None, javascript=True, width=1280, height=900)``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def make(timezone: str | None = None, javascript: bool = True, width: int = 1280,
             height: int = 900):
        options = webdriver.ChromeOptions()
        options.binary_location = chrome_paths[0]
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP reports
        if not javascript:
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2})
        driver = webdriver.Chrome(options=options, service=Service(chrome_paths[1]))
        drivers.append(driver)
        if timezone:
            driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": timezone})
        driver.set_page_load_timeout(30)
        return driver

    yield make
    for driver in drivers:
        driver.quit()


def write_config(folder: Path, *paths: Path, extra: str = "") -> Path:
    config = folder / "config.toml"
    listed = ", ".join(f'"{p}"' for p in paths)
    config.write_text(f'[service]\nbase_url = "http://127.0.0.1"\ndata_dir = "data"\n'
                      f'[schedules]\npaths = [{listed}]\n'
                      f'[mail]\nfile_dir = "mail"\n{extra}')
    return config


@pytest.fixture
def served(tmp_path) -> Iterator[Callable[..., Server]]:
    """``served(*schedule_paths, extra_config="")``: serve on a free port; stopped after."""
    servers: list[Server] = []

    def start(*paths: Path, extra: str = "") -> Server:
        config = write_config(tmp_path, *(paths or (ROOT / "schedules",)), extra=extra)
        server = Server(config)
        # base_url must match the port for links in pages and emails.
        config.write_text(config.read_text().replace(
            'base_url = "http://127.0.0.1"', f'base_url = "{server.base}"'))
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


__all__ = ["cli", "SCREENSHOTS"]

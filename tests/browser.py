"""A real headless browser for tests: Debian's Chromium driven through its own chromedriver with
selenium (the test extra). Shared by every test that needs a browser.

    from tests.browser import chromium, require_browser

    def test_page(...):
        require_browser()
        with chromium() as driver:
            driver.get(url)

The driver is always the Debian one (/usr/bin/chromedriver, or GMG_CDS_CHROMEDRIVER): selenium
is given its path, so it never tries to download a driver. Chromium runs headless, without
sandbox, GPU, QUIC, first-run, background networking, component updates or sync, with a new
empty profile that is removed afterwards.

CI (`.ci/run`) installs `chromium chromium-driver` and sets GMG_CDS_REQUIRE_BROWSER=1: there a
missing browser FAILS the test. On a developer machine without Chromium the test is skipped and
says why.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = os.environ.get("GMG_CDS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GMG_CDS_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE_ENV = "GMG_CDS_REQUIRE_BROWSER"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def browser_missing() -> str | None:
    """Why no browser can be driven here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found (Debian: apt-get install chromium chromium-driver; or set GMG_CDS_CHROMIUM / GMG_CDS_CHROMEDRIVER) [{package}]"
    return None


def browser_required() -> bool:
    return (os.environ.get(REQUIRE_ENV) or "").strip() in ("1", "true", "yes")


def require_browser() -> None:
    """Skip (developer machine) or fail (CI, GMG_CDS_REQUIRE_BROWSER=1) when there is no browser."""
    reason = browser_missing()
    if reason is None:
        return
    if browser_required():
        pytest.fail(f"{REQUIRE_ENV}=1 but no browser: {reason}")
    pytest.skip(f"no headless browser: {reason}")


@contextmanager
def chromium(width: int = 1280, height: int = 900, language: str = "en-US") -> Iterator[Any]:
    """A fresh headless Chromium (selenium WebDriver), quit and its profile removed at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="gmg-cds-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--lang={language}")
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


def console_messages(driver: Any) -> list[str]:
    """The browser console since the last call (CSP violations appear here)."""
    return [f"{e.get('level')} {e.get('message')}" for e in driver.get_log("browser")]


def full_page_screenshot(driver: Any, path: Path) -> Path:
    """A PNG of the whole page (not only the window), through the DevTools protocol."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path

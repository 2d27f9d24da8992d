"""tests/browser.py: a machine without Chromium skips the browser tests and says why, but CI
(GMG_CDS_REQUIRE_BROWSER=1, set by .ci/run) fails them, so a browser test can never silently
not run there."""

from __future__ import annotations

import pytest

from tests import browser


def test_missing_browser_skips_on_a_developer_machine(monkeypatch):
    monkeypatch.setattr(browser, "CHROMEDRIVER", "/nonexistent/chromedriver")
    monkeypatch.delenv(browser.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium-driver"):
        browser.require_browser()


def test_missing_browser_fails_when_ci_requires_it(monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv(browser.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="GMG_CDS_REQUIRE_BROWSER=1 but no browser"):
        browser.require_browser()


def test_ci_asks_for_the_browser():
    from pathlib import Path

    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "chromium chromium-driver" in ci and "GMG_CDS_REQUIRE_BROWSER=1" in ci

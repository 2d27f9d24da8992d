"""The MG summary in a real browser: Debian's Chromium (headless, through selenium and the Debian
chromedriver; tests/browser.py) opens `/smart/demo-launch` for several demo patients on the
service started by `./scripts/serve` (gunicorn, local mode), follows the whole SMART flow (demo
authorization server, code exchange, FHIR reads over HTTP) and reads the rendered page: the
decision (the same words as the patient-view card the same server returns), the latest MG-ADL
value and date, the drugs on the timeline drawn by plotly.js, in English and Chinese, with no
console error (a CSP violation would be one). Once more in demo mode (`./scripts/serve --demo`),
where the launch cookie is Secure, over http://localhost.

CI installs `chromium chromium-driver` and sets GMG_CDS_REQUIRE_BROWSER=1: without a browser this
fails there; on a machine without Chromium it is skipped and says why. Set
GMG_CDS_SCREENSHOT_DIR=<dir> to keep full-page screenshots of what was checked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.browser import chromium, console_messages, full_page_screenshot, require_browser
from tests.conftest import hook_request
from tests.test_demo_patients import prefetch_of

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "bundles"
SCREENSHOTS = os.environ.get("GMG_CDS_SCREENSHOT_DIR")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp: Path, *args: str, host: str = "127.0.0.1"):
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp / 'serve.sqlite3'}",
           "GMG_CDS_EVALUATION_DATE": "2026-11-22", "GMG_CDS_WORKERS": "1", "GMG_CDS_THREADS": "8"}
    env.pop("GMG_CDS_ENV", None)
    log = tmp / "serve.log"
    proc = subprocess.Popen([str(ROOT / "scripts" / "serve"), *args], cwd=ROOT, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://{host}:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base, log
        except requests.RequestException:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    pytest.fail("scripts/serve did not start:\n" + log.read_text()[-3000:])


def _stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    require_browser()
    proc, base, log = _serve(tmp_path_factory.mktemp("smart-browser"))
    yield base, log
    _stop(proc)


def card_summary(base: str, slug: str, language: str) -> str:
    """The assessment card's summary line, from the same server."""
    pid, prefetch = prefetch_of(json.loads((DEMO / f"{slug}.json").read_text(encoding="utf-8")))
    body = hook_request("patient-view", {"patientId": pid, "userId": "Practitioner/demo"}, prefetch=prefetch)
    cards = requests.post(f"{base}/cds-services/gmg-patient-view", json=body, timeout=30,
                          headers={"Accept-Language": language}).json()["cards"]
    card = next(c for c in cards if any(f["code"].startswith("refractory.cn.") for f in c["extension"]["gmg-cds"]["findings"]))
    assert any(link["type"] == "smart" and link["url"] == f"{base}/smart/launch" for link in card["links"])
    return card["summary"]


def open_summary(driver, base: str, patient: str, language: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    query = f"patient={patient}" + (f"&lang={language}" if language else "")
    driver.get(f"{base}/smart/demo-launch?{query}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = driver.find_element(By.TAG_NAME, "body").get_attribute("data-charts")
        if state:
            assert state == "drawn", "plotly.js could not draw the charts"
            return
        time.sleep(0.1)
    pytest.fail("the charts were not drawn within 60 s: " + driver.page_source[:2000])


def page_facts(driver) -> dict:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#mg-adl-table tbody tr")
    last = [cell.text for cell in rows[-1].find_elements(By.CSS_SELECTOR, "th, td")] if rows else []
    return {
        "headline": driver.find_element(By.ID, "headline").text,
        "latest_adl": (last[0], last[1]) if last else None,
        "timeline_rows": driver.execute_script(  # the drugs on the timeline's axis, top to bottom
            "return Array.from(document.querySelectorAll('#chart-therapy .ytick text'))"
            ".map(t => [t.getBoundingClientRect().top, t.textContent]).sort((a, b) => a[0] - b[0])"
            ".map(p => p[1]);"),
        "charts": [el.get_attribute("id") for el in driver.find_elements(By.CSS_SELECTOR, ".chart[data-drawn=true]")],
        "url": driver.current_url,
    }


def assert_clean_console(driver) -> None:
    errors = [line for line in console_messages(driver) if line.startswith(("SEVERE", "ERROR"))]
    assert errors == []  # a CSP violation, a failed asset or a script error would be here


def shoot(driver, name: str) -> None:
    if SCREENSHOTS:
        full_page_screenshot(driver, Path(SCREENSHOTS) / f"{name}.png")


def test_the_summary_of_several_demo_patients_in_a_real_browser(service):
    base, _ = service
    with chromium() as driver:
        open_summary(driver, base, "gmg-demo-course")
        facts = page_facts(driver)
        assert facts["url"] == f"{base}/smart/callback"  # the code is taken out of the address bar
        assert facts["headline"] == card_summary(base, "course-refractory", "en")
        assert facts["headline"].startswith("Refractory gMG (Chinese consensus 3-1, 3-4)")
        assert facts["latest_adl"] == ("2026-10-28", "9")
        assert facts["timeline_rows"] == ["Prednisone", "Azathioprine", "Mycophenolate mofetil",
                                          "Efgartigimod alfa (IV)", "Rescue therapy"]
        assert facts["charts"] == ["chart-scores", "chart-items", "chart-therapy"]
        assert_clean_console(driver)
        shoot(driver, "course-refractory-en")

        open_summary(driver, base, "gmg-demo-met-3-4")
        facts = page_facts(driver)
        assert facts["headline"] == card_summary(base, "met-3-4", "en")
        assert facts["latest_adl"] == ("2026-11-10", "10")
        assert facts["timeline_rows"] == ["Prednisone", "Azathioprine", "Rescue therapy"]
        assert_clean_console(driver)

        open_summary(driver, base, "gmg-demo-inadequate")
        facts = page_facts(driver)
        assert facts["headline"] == card_summary(base, "inadequate-treatment", "en")
        assert facts["latest_adl"] == ("2026-11-12", "9")
        assert facts["timeline_rows"] == ["Prednisone", "Azathioprine", "Tacrolimus (systemic)"]
        assert_clean_console(driver)

        open_summary(driver, base, "gmg-demo-ocular-only")
        facts = page_facts(driver)
        assert facts["headline"] == card_summary(base, "ocular-only", "en")  # the ocular card's words
        assert facts["headline"].startswith("Ocular MG: refractory gMG criteria do not apply")
        assert facts["latest_adl"] == ("2026-11-01", "3") and facts["timeline_rows"] == []
        assert_clean_console(driver)


def test_the_summary_in_chinese_and_in_print(service):
    base, _ = service
    from selenium.webdriver.common.by import By

    with chromium(language="zh-CN") as driver:
        open_summary(driver, base, "gmg-demo-course", "zh-CN")
        facts = page_facts(driver)
        assert facts["headline"] == card_summary(base, "course-refractory", "zh-CN")
        assert facts["headline"].startswith("按中国共识为难治性全身型 MG（3-1、3-4）")
        assert facts["latest_adl"] == ("2026-10-28", "9")
        assert facts["timeline_rows"] == ["泼尼松", "硫唑嘌呤", "吗替麦考酚酯", "艾加莫德α（静脉）", "抢救性治疗"]
        assert driver.find_element(By.TAG_NAME, "h1").text.startswith("MG 病程总览")
        assert_clean_console(driver)
        shoot(driver, "course-refractory-zh-CN")
        # print: the stylesheet hides the button, the charts stay
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        assert not driver.find_element(By.ID, "print").is_displayed()
        assert driver.find_element(By.ID, "chart-therapy").is_displayed()
        assert driver.find_element(By.ID, "mg-adl-table").is_displayed()


def test_demo_mode_over_localhost_with_a_secure_launch_cookie(tmp_path):
    require_browser()
    proc, base, _ = _serve(tmp_path, "--demo", host="localhost")
    try:
        with chromium() as driver:
            open_summary(driver, base, "gmg-demo-met-3-1")
            facts = page_facts(driver)
            assert facts["url"] == f"{base}/smart/callback"
            assert facts["headline"].startswith("Refractory gMG (Chinese consensus 3-1)")
            assert facts["latest_adl"] == ("2026-11-02", "9")
            assert_clean_console(driver)
    finally:
        _stop(proc)

"""Measure gmg-cds cards as the CDS Hooks sandbox shows them, in a real browser.

Drives an already served CDS Hooks sandbox (built from its public repository; see the README's
"Try it as an integrator" section) with Chromium through Selenium, against a running gmg-cds
service with its demo FHIR endpoint. For every demo patient it opens the Patient View, and for
each order scenario the Rx View (order-select) and Rx Sign (order-sign, "Sign Order" pressed), in
each language (the browser's Accept-Language, which the service honours). It reports:

- the page height at a 1440 x 1000 viewport (document scroll height) and each card's height;
- literal markdown left visible in a card (`**`, `__`, backticks, emphasis underscores, table
  pipes, heading hashes): the renderer did not understand it;
- the card count, and a full-page PNG per screen (`--screenshots DIR`).

Targets (issue #16): a refractory patient's page <= 3,000 px, no card over 1,200 px, no literal
markdown. Exit status 1 when a target is missed (or no card was seen where cards are expected).

Not part of the test suite: it needs a built sandbox, which is not committed (build it with
`npm ci && npm run build` from https://github.com/cds-hooks/sandbox and serve its `build/`).

    .venv/bin/python scripts/sandbox_measure.py --sandbox http://127.0.0.1:3000 \
        --service http://127.0.0.1:8080 --screenshots var/sandbox-shots

The sandbox also calls its hosted default services; they are unreachable offline and the
browser is told so (host resolver rules), which the sandbox shows as an error in its developer
panel only.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Drugs the sandbox's order form offers (its bundled RxNorm list: oral products only) that the
# order-safety checks act on, with the demo patient that makes each one fire a check, and whether
# a card is expected.
ORDER_SCENARIOS: tuple[tuple[str, str, str, bool], ...] = (
    ("inadequate-treatment", "198377", "Tacrolimus 1 MG Oral Capsule", True),  # CYP3A4: carbamazepine active
    ("met-3-1", "197517", "Clarithromycin 500 MG Oral Tablet", True),  # drug that can worsen MG
    ("therapy-pregnant", "200060", "mycophenolate mofetil 500 MG Oral Tablet", True),  # teratogen in pregnancy
    ("met-3-1", "259966", "Methylprednisolone 4 MG Oral Tablet", False),  # a tablet is not an IV pulse: no card
)
# Used when the service cannot be asked (it checks tokens): the demo patients refractory today.
REFRACTORY_FALLBACK = frozenset({"met-3-1", "met-3-2", "met-3-3", "met-3-4", "acute-exacerbation", "musk-positive",
                                 "seronegative-cba", "unconfirmed-elisa", "therapy-achr", "therapy-elderly",
                                 "therapy-hsct", "therapy-pregnant", "course-refractory"})
NO_CARDS = frozenset({"no-mg"})
PAGE_MAX = 3000
CARD_MAX = 1200
VIEWPORT = (1440, 1000)

# Markdown syntax that should never be visible once rendered.
LITERAL_MARKDOWN = (
    ("**", re.compile(r"\*\*")),
    ("__", re.compile(r"__")),
    ("backtick", re.compile(r"`")),
    ("emphasis underscore", re.compile(r"(?:^|[\s\u3000-\u9fff\uff00-\uffef])_(?=\S)|(?<=\S)_(?:$|[\s\u3000-\u9fff\uff00-\uffef])", re.M)),
    ("table pipe", re.compile(r"^\s*\|.*\|\s*$|\|\s*-{3,}", re.M)),
    ("heading hash", re.compile(r"^#{1,6}\s", re.M)),
)


@dataclass
class Screen:
    language: str
    patient: str
    screen: str  # "patient-view" | "order-select <drug>" | "order-sign <drug>"
    refractory: bool = False
    page_px: int = 0
    cards_px: list[int] = field(default_factory=list)
    literal_markdown: list[str] = field(default_factory=list)
    error: str | None = None
    screenshot: str | None = None

    def problems(self) -> list[str]:
        out = []
        if self.error:
            out.append(self.error)
        if self.screen == "patient-view" and self.refractory and self.page_px > PAGE_MAX:
            out.append(f"page {self.page_px} px > {PAGE_MAX}")
        out += [f"card {i + 1}: {h} px > {CARD_MAX}" for i, h in enumerate(self.cards_px) if h > CARD_MAX]
        out += self.literal_markdown
        return out


def _driver(language: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tempfile.mkdtemp(prefix='gmg-sandbox-')}",
                f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
                # the sandbox always calls its hosted services too: keep that off the network
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost, EXCLUDE 127.0.0.1"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh" if language == "zh-CN" else "en-US,en"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False})
    return driver


_CARDS_JS = "return Array.from(document.querySelectorAll('[class*=decision-card]'))"


def _answers(driver, service_path: str) -> int:
    """How many answers of this service the page has received so far."""
    js = ("return performance.getEntriesByType('resource').filter(e => e.name.endsWith(arguments[0])"
          " && e.responseEnd > 0).length")
    return int(driver.execute_script(js, service_path))


def _wait_for_answer(driver, service_path: str, after: int = 0, timeout: float = 25.0) -> bool:
    """True once the page has more than `after` answers of the service and the card list stopped
    changing (the sandbox renders the answer a moment after it arrives)."""
    deadline = time.monotonic() + timeout
    while _answers(driver, service_path) <= after:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = driver.execute_script(_CARDS_JS + ".length")
        if n != last:
            last, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since > 1.2:
            return True
        time.sleep(0.2)
    return True


def _choose_medication(driver, name: str) -> bool:
    """Type the drug into the order form and pick it from the sandbox's list (its own RxNorm list;
    the `prescribedMedication` URL parameter does not preselect anything in this version)."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + 15
    while True:
        fields = driver.find_elements(By.CSS_SELECTOR, "input[name=medication-input]")
        if fields:
            break
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    # Set the whole value as React expects it (keystrokes race the form's own state updates).
    driver.execute_script(
        "const i = arguments[0];"
        "Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(i, arguments[1]);"
        "i.dispatchEvent(new Event('input', {bubbles: true}));", fields[0], name)
    pick = ("return Array.from(document.querySelectorAll('[role=button], .MuiListItemButton-root'))"
            ".filter(b => b.innerText.trim().toLowerCase() === arguments[0].toLowerCase())")
    while time.monotonic() < deadline:
        found = driver.execute_script(pick, name)
        if found:
            driver.execute_script("arguments[0].click()", found[0])
            return True
        time.sleep(0.25)
    return False


def _measure(driver, screen: Screen, shots: Path | None) -> None:
    screen.page_px = int(driver.execute_script("return document.documentElement.scrollHeight"))
    cards = driver.execute_script(_CARDS_JS + ".map(c => [Math.round(c.getBoundingClientRect().height), c.innerText])")
    screen.cards_px = [int(h) for h, _ in cards]
    for i, (_, text) in enumerate(cards):
        for name, pattern in LITERAL_MARKDOWN:
            m = pattern.search(text)
            if m:
                around = text[max(0, m.start() - 20): m.end() + 20].replace("\n", " ")
                screen.literal_markdown.append(f"card {i + 1}: {name} visible: …{around}…")
    if shots is not None:
        width, height = VIEWPORT[0], max(screen.page_px, VIEWPORT[1])
        png = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        name = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{screen.language}-{screen.patient}-{screen.screen}") + ".png"
        (shots / name).write_bytes(base64.b64decode(png["data"]))
        screen.screenshot = str(shots / name)


def refractory_patients(service: str, patients: list[tuple[str, str]]) -> frozenset[str]:
    """The demo patients the service finds refractory (refractory.cn.met), asked directly (local
    mode; no token); the fallback list when the service wants one."""
    import uuid

    import requests

    out = set()
    for slug, pid in patients:
        body = {"hookInstance": str(uuid.uuid4()), "hook": "patient-view", "fhirServer": f"{service}/demo/fhir",
                "context": {"userId": "Practitioner/x", "patientId": pid}}
        try:
            resp = requests.post(f"{service}/cds-services/gmg-patient-view", json=body, timeout=30)
        except requests.RequestException:
            return REFRACTORY_FALLBACK
        if resp.status_code != 200:
            return REFRACTORY_FALLBACK
        codes = {f["code"] for c in resp.json().get("cards", []) for f in c["extension"]["gmg-cds"]["findings"]}
        if "refractory.cn.met" in codes:
            out.add(slug)
    return frozenset(out)


def _url(sandbox: str, service: str, patient_id: str, extra: str = "") -> str:
    fhir = quote(f"{service}/demo/fhir", safe="")
    discovery = quote(f"{service}/cds-services", safe="")
    return f"{sandbox}/?fhirServiceUrl={fhir}&serviceDiscoveryURL={discovery}&patientId={patient_id}{extra}"


def _click_sign(driver) -> bool:
    buttons = driver.execute_script(
        "return Array.from(document.querySelectorAll('button')).filter(b => /sign order/i.test(b.innerText))")
    if not buttons:
        return False
    driver.execute_script("arguments[0].scrollIntoView(); arguments[0].click()", buttons[0])
    return True


def run(sandbox: str, service: str, languages: list[str], patients: list[tuple[str, str]],
        orders: tuple[tuple[str, str, str, bool], ...], ids: dict[str, str], shots: Path | None) -> list[Screen]:
    """`patients`: (slug, id) for the Patient View; `orders`: (slug, RxNorm code, name, card expected) for the order
    screens; `ids`: every demo slug's patient id."""
    refractory = refractory_patients(service, patients)
    results: list[Screen] = []
    for language in languages:
        driver = _driver(language)
        try:
            for slug, pid in patients:
                s = Screen(language, slug, "patient-view", refractory=slug in refractory)
                driver.get(_url(sandbox, service, pid))
                if not _wait_for_answer(driver, "/cds-services/gmg-patient-view"):
                    s.error = "no answer from gmg-patient-view"
                _measure(driver, s, shots)
                if not s.cards_px and slug not in NO_CARDS:
                    s.error = s.error or "no card shown"
                results.append(s)
            for slug, code, name, card_expected in orders:
                for hook, view in (("order-select", "rx-view"), ("order-sign", "rx-sign")):
                    s = Screen(language, slug, f"{hook} {name}")
                    path = f"/cds-services/gmg-{hook}"
                    driver.get(_url(sandbox, service, ids[slug], f"&screen={view}&hook={hook}"))
                    if hook == "order-select":
                        _wait_for_answer(driver, path)  # the empty draft is sent first
                    before = _answers(driver, path)
                    if not _choose_medication(driver, name):
                        s.error = f"{name} not offered by the order form"
                    elif hook == "order-sign" and not _click_sign(driver):
                        s.error = "no Sign Order button"
                    elif not _wait_for_answer(driver, path, after=before):
                        s.error = f"no answer from gmg-{hook}"
                    _measure(driver, s, shots)
                    if card_expected and not s.cards_px:
                        s.error = s.error or "no card shown"
                    elif not card_expected and s.cards_px:
                        s.error = s.error or "a card where none is expected"
                    results.append(s)
        finally:
            driver.quit()
    return results


def table(results: list[Screen]) -> str:
    lines = ["| language | patient | screen | page px | cards px | problems |", "|---|---|---|---|---|---|"]
    for s in results:
        cards = " / ".join(str(h) for h in s.cards_px) or "—"
        who = f"{s.patient} (refractory)" if s.refractory else s.patient
        lines.append(f"| {s.language} | {who} | {s.screen} | {s.page_px} | {cards} | {'; '.join(s.problems()) or 'ok'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sandbox", default="http://127.0.0.1:3000", help="where the built sandbox is served")
    ap.add_argument("--service", default="http://127.0.0.1:8080", help="the gmg-cds base URL (with /demo/fhir)")
    ap.add_argument("--languages", default="en,zh-CN")
    ap.add_argument("--patients", help="comma-separated demo slugs (default: all)")
    ap.add_argument("--no-orders", action="store_true", help="patient view only")
    ap.add_argument("--screenshots", help="directory for one full-page PNG per screen")
    ap.add_argument("--json", help="write the results as JSON to this file")
    args = ap.parse_args(argv)

    from cds_service.demo_fhir import ANCHOR, DEMO_DIR, DemoStore

    store = DemoStore(DEMO_DIR, ANCHOR)
    ids = {p["slug"]: p["id"] for p in store.patients}
    patients = list(ids.items())
    if args.patients:
        wanted = args.patients.split(",")
        patients = [p for p in patients if p[0] in wanted]
    shots = Path(args.screenshots) if args.screenshots else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    orders = () if args.no_orders else tuple(o for o in ORDER_SCENARIOS if o[0] in ids)
    results = run(args.sandbox.rstrip("/"), args.service.rstrip("/"), args.languages.split(","), patients,
                  orders, ids, shots)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1, ensure_ascii=False))
    return 1 if any(s.problems() for s in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The therapy-options card names the recorded measurements its doses were computed from, with
their dates (a dose is only as current as the weight it used)."""

import json
from datetime import date

from fhir_mappings.prefetch import prefetch_from_bundle
from hooks.patient_view import handle
from hooks.registry import HookCall
from tests.test_demo_patients import DEMO


def _options_card(slug: str, language: str = "en"):
    prefetch, pid = prefetch_from_bundle(json.loads((DEMO / f"{slug}.json").read_text()))
    call = HookCall("gmg-patient-view", "patient-view", "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                    {"userId": "Practitioner/x", "patientId": pid}, prefetch, frozenset(), date(2026, 11, 22),
                    language=language)
    cards = [c.to_json() for c in handle(call)]
    return next(c for c in cards if any(f["code"].startswith("therapy.") for f in c["extension"]["gmg-cds"]["findings"]))


def _weight(slug: str) -> tuple[str, str]:
    bundle = json.loads((DEMO / f"{slug}.json").read_text())
    weights = [e["resource"] for e in bundle["entry"]
               if any(c.get("code") == "29463-7" for c in e["resource"].get("code", {}).get("coding", []))]
    latest = max(weights, key=lambda r: r["effectiveDateTime"])
    return f"{latest['valueQuantity']['value']:g}", latest["effectiveDateTime"][:10]


def test_the_weight_and_its_date_are_on_the_card():
    value, when = _weight("therapy-achr")
    card = _options_card("therapy-achr")
    assert f"Doses for weight {value} kg ({when})" in card["detail"]
    zh = _options_card("therapy-achr", "zh-CN")
    assert f"体重 {value} kg（{when}）" in zh["detail"]

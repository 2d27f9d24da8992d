"""Every demo patient through the real HTTP endpoint, and every Synthea patient through the
patient-view handler (no MG there, so no cards)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

import terminology
from hooks.patient_view import handle
from hooks.registry import HookCall
from tests.conftest import SHARED, TODAY, hook_request, searchset
from fhir_mappings.prefetch import KEY_FOR_TYPE

DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"
SYNTHEA = SHARED / "fixtures" / "synthea-r4"
KEYS = {t: k for t, k in KEY_FOR_TYPE.items() if t != "Patient"}


def _knows_carbamazepine() -> bool:
    try:
        terminology.concept("carbamazepine")
        return True
    except KeyError:
        return False


EXPECTED: dict[str, set[str]] = {
    "met-3-1": {"refractory.cn.met", "refractory.cn.c1", "refractory.cn.c2", "refractory.cn.c3-1", "serotype.achr"},
    "met-3-2": {"refractory.cn.met", "refractory.cn.c3-2", "serotype.achr"},
    "met-3-3": {"refractory.cn.met", "refractory.cn.c3-3", "serotype.achr"},
    "met-3-4": {"refractory.cn.met", "refractory.cn.c3-4", "serotype.achr"},
    "not-met-severity-ocular-dominant": {"refractory.cn.not-met.severity", "refractory.cn.ocular-dominant"},
    "ocular-only": {"refractory.cn.not-met.diagnosis"},
    "inadequate-treatment": {
        "refractory.cn.not-met.inadequate-treatment",
        "optimise.steroid-dose",
        "optimise.nsist-dose",
        "optimise.nsist-level",
    }
    | ({"optimise.cyp3a4-inducer"} if _knows_carbamazepine() else set()),
    "indeterminate": {"refractory.cn.indeterminate", "data-gap.mg-adl-items", "data-gap.weight", "data-gap.pis"},
    "acute-exacerbation": {"acute.exacerbation", "refractory.cn.met", "refractory.cn.c3-4"},
    "musk-positive": {"refractory.cn.met", "serotype.musk"},
    "seronegative-cba": {"refractory.cn.met", "serotype.seronegative"},
    "unconfirmed-elisa": {"refractory.cn.met", "serotype.unconfirmed", "antibody.revalidate-cba"},
    "no-mg": set(),
    # the MG summary's long course: refractory by 3-1 and 3-4, ICG 2016 met
    "course-refractory": {"refractory.cn.met", "refractory.cn.c3-1", "refractory.cn.c3-4", "refractory.icg2016.met",
                          "serotype.achr"},
}
NOT_EXPECTED: dict[str, set[str]] = {
    "met-3-1": {"refractory.cn.c3-2", "refractory.cn.c3-3", "refractory.cn.c3-4"},
    "met-3-3": {"refractory.cn.c3-1"},
    "met-3-4": {"refractory.cn.c3-1", "refractory.cn.c3-2"},
    "seronegative-cba": {"antibody.revalidate-cba"},
    "indeterminate": {"refractory.cn.met", "refractory.cn.not-met.inadequate-treatment"},
}


def prefetch_of(bundle: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = {k: [] for k in KEYS.values()}
    patient: dict[str, Any] | None = None
    for entry in bundle.get("entry", []):
        r = entry.get("resource") or {}
        if r.get("resourceType") == "Patient":
            patient = r
        elif r.get("resourceType") in KEYS:
            grouped[KEYS[r["resourceType"]]].append(r)
    assert patient is not None
    prefetch: dict[str, Any] = {"patient": patient}
    prefetch.update({k: searchset(*v) for k, v in grouped.items()})
    return patient["id"], prefetch


def test_every_demo_bundle_is_listed_and_is_a_transaction():
    slugs = {p.stem for p in DEMO.glob("*.json")}
    # therapy-* patients belong to the therapy cards and are checked in tests/test_therapy_demo.py
    assert {s for s in slugs if not s.startswith("therapy-")} == set(EXPECTED)
    readme = (DEMO.parent / "README.md").read_text(encoding="utf-8")
    for slug in slugs:
        bundle = json.loads((DEMO / f"{slug}.json").read_text(encoding="utf-8"))
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])
        assert slug in readme and bundle["entry"][0]["resource"]["id"] in readme


def test_demo_bundles_validate_as_r4():
    from fhir.resources.R4B.bundle import Bundle  # R4B shares R4's shapes for these resources

    for path in DEMO.glob("*.json"):
        Bundle.model_validate(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_demo_patient_through_http(client, slug):
    pid, prefetch = prefetch_of(json.loads((DEMO / f"{slug}.json").read_text(encoding="utf-8")))
    body = hook_request(
        "patient-view", {"patientId": pid, "userId": "Practitioner/demo"}, prefetch=prefetch
    )
    resp = client.post("/cds-services/gmg-patient-view", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    cards = resp.get_json()["cards"]
    codes = {f["code"] for c in cards for f in c["extension"]["gmg-cds"]["findings"]}
    assert EXPECTED[slug] <= codes, (slug, sorted(codes))
    assert not (NOT_EXPECTED.get(slug, set()) & codes)
    if slug == "no-mg":
        assert cards == []
    for c in cards:
        assert len(c["summary"]) < 140
        if c["indicator"] in ("warning", "critical"):
            assert c["overrideReasons"]


def _synthea_bundles():
    return sorted(SYNTHEA.glob("*.json.gz"))


@pytest.mark.skipif(not SYNTHEA.exists(), reason="shared Synthea fixtures not present")
def test_synthea_patients_get_no_cards():
    assert _synthea_bundles()
    for path in _synthea_bundles():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            bundle = json.load(fh)
        pid, prefetch = prefetch_of(bundle)
        call = HookCall("gmg-patient-view", "patient-view", "h", {"patientId": pid}, prefetch, frozenset(), TODAY)
        assert handle(call) == [], path.name

"""Selective reading of vital-sign and lab series (fhir_mappings/selection.py) never changes a
clinical decision: every demo patient, merged with Synthea charts into a large record (as-is, and
with the Synthea dates moved up to the evaluation date so every window holds results), plus
awkward results (comparators, zero, no unit, other units, future dates, several on one day, two
effective[x]), is mapped twice — every Observation read vs the selection — and the assessment,
therapy, rapid-therapy, trial and order-safety findings must be identical."""

from __future__ import annotations

import gzip
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

import terminology
from fhir_mappings import SeriesSelection, build_record
from gmg.assessment import assess
from gmg.orders import DraftOrder
from gmg.parameters import load
from gmg.rapid import rapid_options
from gmg.safety import check_orders
from gmg.therapy import therapy_options
from gmg.trials import match_trials
from tests.conftest import SHARED, TODAY
from fhir_mappings.prefetch import KEY_FOR_TYPE

DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"
SYNTHEA = sorted((SHARED / "fixtures" / "synthea-r4").glob("*.json.gz"))
CHARTS_PER_RECORD = 12  # about 2,500 resources per record
KEYS = {t: k for t, k in KEY_FOR_TYPE.items() if t != "Patient"}
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
# Drafts for every order check that reads a lab or a vital sign (and a few that do not).
DRAFT_DRUGS = ("eculizumab", "zilucoplan", "rituximab", "efgartigimod", "ivig", "methylprednisolone",
               "tacrolimus", "mycophenolate")


def _shift(node: Any, days: int) -> Any:
    if isinstance(node, dict):
        return {k: _shift(v, days) for k, v in node.items()}
    if isinstance(node, list):
        return [_shift(v, days) for v in node]
    if isinstance(node, str) and (m := _DATE.match(node)):
        moved = date.fromisoformat(m.group(1)) + timedelta(days=days)
        return moved.isoformat() + node[10:]
    return node


def _retarget(res: dict[str, Any], pid: str, prefix: str) -> dict[str, Any]:
    res = dict(res)
    res["id"] = f"{prefix}-{res.get('id', '')}"[:64]
    element = "patient" if res["resourceType"] in ("Immunization", "AllergyIntolerance") else "subject"
    res[element] = {"reference": f"Patient/{pid}"}
    return res


def _newest_date(resources: list[dict[str, Any]]) -> date:
    newest = date(1900, 1, 1)
    for r in resources:
        value = r.get("effectiveDateTime") if r["resourceType"] == "Observation" else None
        if isinstance(value, str) and _DATE.match(value):
            newest = max(newest, date.fromisoformat(value[:10]))
    return newest


def _obs(pid: str, rid: str, code: str, when: str | None, value: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                           "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                           "subject": {"reference": f"Patient/{pid}"}}
    if rid:
        res["id"] = rid
    if when is not None:
        res["effectiveDateTime"] = when
    if value is not None:
        res["valueQuantity"] = value
    res.update(extra)
    return res


def _awkward(pid: str) -> list[dict[str, Any]]:
    """Results that a shortcut could get wrong, dated around the evaluation date."""
    d = lambda n: (TODAY - timedelta(days=n)).isoformat()  # noqa: E731
    kg = lambda v, **q: {"value": v, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg", **q}  # noqa: E731
    return [
        _obs(pid, "aw-w1", "29463-7", d(400), kg(71.0)),
        _obs(pid, "aw-w2", "29463-7", d(380), kg(0)),
        _obs(pid, "aw-w3", "29463-7", d(370), kg(80.0, comparator=">")),
        _obs(pid, "aw-w4", "29463-7", d(370) + "T08:00:00Z", {"value": 150, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}),
        _obs(pid, "aw-w5", "29463-7", d(369), {"value": 72}),
        _obs(pid, "aw-w6", "29463-7", d(-30), kg(73.0)),
        _obs(pid, "", "29463-7", d(900), kg(69.0)),
        _obs(pid, "", "29463-7", d(900), kg(69.5)),
        _obs(pid, "aw-w7", "29463-7", "2025-13-01", kg(60.0)),
        _obs(pid, "aw-w8", "29463-7", d(2000), kg(66.0), effectivePeriod={"start": d(2000)}),
        _obs(pid, "aw-c1", "2160-0", d(200), {"value": 88, "unit": "umol/L", "system": "http://unitsofmeasure.org", "code": "umol/L"}),
        _obs(pid, "aw-c2", "2160-0", d(150), {"value": 1.1, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL", "comparator": "<"}),
        _obs(pid, "aw-c3", "2160-0", d(120), {"value": 1.4, "unit": "furlongs"}),
        _obs(pid, "aw-i1", "2458-8", d(3000), {"value": 5, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}),
        _obs(pid, "aw-i2", "2458-8", d(5000), {"value": 150, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}),
        _obs(pid, "aw-l1", "3040-3", d(60), {"value": 40, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"}),
        _obs(pid, "aw-b1", "85354-9", d(1), None, component=[
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 85, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]),
        _obs(pid, "aw-h1", "4544-3", d(10), {"value": 41, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}),
    ]


def _record_inputs(demo: Path, shifted: bool) -> tuple[dict[str, Any], str]:
    bundle = json.loads(demo.read_text())
    resources = [e["resource"] for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    pid = patient["id"]
    clinical = [r for r in resources if r["resourceType"] in KEYS]
    start = sum(ord(c) for c in demo.stem) % len(SYNTHEA)
    for i in range(CHARTS_PER_RECORD):
        with gzip.open(SYNTHEA[(start + i) % len(SYNTHEA)], "rt", encoding="utf-8") as fh:
            chart = [e["resource"] for e in json.load(fh)["entry"] if e["resource"]["resourceType"] in KEYS]
        if shifted:
            chart = _shift(chart, (TODAY - _newest_date(chart)).days - 5 * i)
        clinical += [_retarget(r, pid, f"s{i}") for r in chart]
    clinical += _awkward(pid)
    prefetch: dict[str, Any] = {key: {"resourceType": "Bundle", "type": "searchset", "entry": []} for key in KEYS.values()}
    for r in clinical:
        prefetch[KEYS[r["resourceType"]]]["entry"].append({"resource": r})
    prefetch["patient"] = patient
    return prefetch, pid


def _drafts(record_today: date) -> tuple[DraftOrder, ...]:
    out = []
    for i, key in enumerate(DRAFT_DRUGS):
        try:
            concept = terminology.concept(key)
        except KeyError:
            continue
        out.append(DraftOrder(resource_id=f"MedicationRequest/d{i}", resource_type="MedicationRequest",
                              kind="medication", concept=key, drug_classes=concept.classes, route=None,
                              dose_mg=None, mg_per_day=None, planned_start=record_today,
                              planned_start_from="today", selected=True))
    out.append(DraftOrder(resource_id="ServiceRequest/plex", resource_type="ServiceRequest", kind="procedure",
                          concept="plex", drug_classes=frozenset(), route=None, dose_mg=None, mg_per_day=None,
                          planned_start=record_today, planned_start_from="today", selected=True))
    return tuple(out)


def _decisions(record: Any, params: Any) -> dict[str, Any]:
    assessment = assess(record, params)
    return {
        "assessment": assessment,
        "therapy": therapy_options(record, assessment, params),
        "rapid": rapid_options(record, assessment, params),
        "trials": tuple(m.finding for m in match_trials(record, assessment, params)),
        "safety": check_orders(record, _drafts(record.today), assessment.serotype, params),
    }


DEMOS = sorted(DEMO.glob("*.json"))


@pytest.mark.parametrize("shifted", [False, True], ids=["synthea-dates", "synthea-moved-to-today"])
def test_selection_gives_the_same_decisions_for_every_demo_patient(shifted: bool) -> None:
    assert len(DEMOS) >= 13 and len(SYNTHEA) >= CHARTS_PER_RECORD
    params = load()
    selection = SeriesSelection.from_parameters(params)
    passed_over = 0
    for demo in DEMOS:
        prefetch, pid = _record_inputs(demo, shifted)
        full = build_record(prefetch, pid, TODAY)
        selected = build_record(prefetch, pid, TODAY, series=selection)
        assert set(selected.measurements) <= set(full.measurements), demo.stem
        assert selected.exposures == full.exposures, demo.stem  # mg/kg from the nearest weight
        assert full.observations_not_read == 0
        passed_over += selected.observations_not_read
        assert _decisions(selected, params) == _decisions(full, params), demo.stem
    # the selection did pass over most of the series (otherwise this test proves nothing)
    assert passed_over > 500 * len(DEMOS)


def test_latest_and_nearest_reads_are_kept() -> None:
    """The reads the rules make, on the record of one demo patient with the awkward results."""
    params = load()
    prefetch, pid = _record_inputs(DEMOS[0], shifted=True)
    full = build_record(prefetch, pid, TODAY)
    selected = build_record(prefetch, pid, TODAY, series=SeriesSelection.from_parameters(params))
    assert selected.observations_not_read > 0
    for concept in ("weight", "height", "creatinine", "egfr", "iga", "lipase", "bp-systolic", "haematocrit"):
        assert selected.latest(concept, TODAY) == full.latest(concept, TODAY), concept
    for e in full.exposures:
        if e.start is not None:
            assert selected.nearest("weight", e.start) == full.nearest("weight", e.start)
    # an unreadable date cannot be placed, so that result is read (and noted) as before
    assert any(n.source == "Observation/aw-w7" for n in selected.notes)

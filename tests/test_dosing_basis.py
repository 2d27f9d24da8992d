"""No dose from a weight the chart has since contradicted (gmg/measures.py).

A weight, height or haematocrit recorded on or after the one a dose would use, that could not be
read ("about 75", a weight in valueString) or that was set aside as implausible (1,000 kg), means
the current value is unknown: no computed efgartigimod, IVIG or plasma-exchange volume, and the
card names the value set aside and asks for a current weight; an earlier weight never stands in.
A past exposure's dose per kg (adequacy) is unknown when a weight as near its start as the
nearest readable one was set aside. Two values of one kind on one day cannot be put in order: an
unreadable one on the day of the readable one makes the value unknown (as gmg/unread.py's
`latest_value` for MGFA class, PIS and scores), and the assessment's unreadable-value gap names
it too.

End to end through the real patient-view endpoint with the demo patients (therapy-achr: refractory
AChR+, 82 kg; met-3-1: refractory by criterion 3-1 on azathioprine), and the accessor directly.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any

import pytest

from fhir_mappings import build_record
from gmg import adequacy, dosing, plausibility
from gmg.measures import latest_measure, nearest_measure
from gmg.parameters import load
from gmg.record import ImplausibleValue, Measurement, PatientRecord, UnreadValue
from hooks import order_select
from hooks.registry import HookCall
from tests.conftest import TODAY
from tests.test_i18n_complete import english_runs
from tests.test_plausibility import bundle, call, finding

P = load()
WEIGHT_LOINC = "29463-7"
MONTH_AGO, YESTERDAY = date(2026, 10, 22), date(2026, 11, 21)


def weight_obs(pid: str, rid: str, when: date, **value: Any) -> dict[str, Any]:
    return {"resource": {
        "resourceType": "Observation", "id": rid, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": WEIGHT_LOINC, "display": "Body weight"}]},
        "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when.isoformat(), **value}}


def kg(value: Any) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}


def with_weights(name: str, *weights: tuple[date, dict[str, Any]], since: date = date.min) -> dict[str, Any]:
    """The demo patient with its weights recorded from `since` on replaced by `weights` (date, value[x])."""
    b = copy.deepcopy(bundle(name))
    pid = b["entry"][0]["resource"]["id"]
    b["entry"] = [e for e in b["entry"] if not (
        e["resource"]["resourceType"] == "Observation"
        and any(c.get("code") == WEIGHT_LOINC for c in e["resource"]["code"]["coding"])
        and date.fromisoformat(e["resource"]["effectiveDateTime"][:10]) >= since)]
    b["entry"] += [weight_obs(pid, f"w{i}", when, **value) for i, (when, value) in enumerate(weights)]
    return b


def achr(*weights: tuple[date, dict[str, Any]]) -> dict[str, Any]:
    """therapy-achr (refractory; its 2024 weight, the basis of its adequacy, kept) with these recent weights."""
    return with_weights("therapy-achr", *weights, since=date(2026, 1, 1))


def findings_of(cards: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [f for c in cards for f in c["extension"]["gmg-cds"]["findings"] if f["code"] == code]


def drug_state(cards: list[dict[str, Any]], ingredient: str) -> dict[str, Any]:
    return next(d for f in findings_of(cards, "therapy.fcrn-antagonist") for d in f["drugs"] if d["ingredient"] == ingredient)


WEIGHT_BASED = ("Efgartigimod alfa IV", "Immune globulin IV", "Ravulizumab", "Zilucoplan", "Rozanolixizumab",
                "Nipocalimab")


def medication_requests(cards: list[dict[str, Any]]) -> list[str]:
    """'Name: dosage text' of every MedicationRequest the cards propose."""
    return [f"{r['medicationCodeableConcept'].get('text')}: {' '.join(d.get('text', '') for d in r.get('dosageInstruction', []))}"
            for card in cards for s in card.get("suggestions", []) for a in s.get("actions", [])
            for r in [a.get("resource", {})] if r.get("resourceType") == "MedicationRequest"]


def assert_not_dosed(cards: list[dict[str, Any]], codes: set[str], text: str, named: str) -> None:
    """No weight-based dose computed, and the weight gap of the therapy and rapid cards names the
    value set aside."""
    efg = drug_state(cards, "efgartigimod")
    assert efg["state"] == "data-gap" and "dose" not in efg and "orders" not in efg
    assert "latest weight not usable" in efg["note"]
    (ivig,) = findings_of(cards, "rescue.ivig")
    assert ivig["data_gap"] == ["weight"] and "total_g" not in ivig and "order" not in ivig
    (plex,) = findings_of(cards, "rescue.plex")
    assert "plasma_volume_l" not in plex and "latest weight not usable" in plex["dose"]
    # no dose states a weight it came from (the card's dosing-basis line, or a regimen's aside)
    assert not re.search(r"\(weight \d+(\.\d+)? kg|Doses for weight \d", text), text
    proposed = medication_requests(cards)
    assert proposed and not [p for p in proposed if p.startswith(WEIGHT_BASED) or "m²" in p], proposed
    gaps = findings_of(cards, "data-gap.weight")
    assert gaps and all(named in g_text for g_text in (g["evidence"][0]["value"] for g in gaps))
    assert "The latest weight is unknown: weight " in text and "an earlier weight does not stand in" in text
    assert "record a current weight" in text


# -- (a) a later weight that could not be read ---------------------------------------------------------


@pytest.mark.parametrize("written", [kg("about 75"), {"valueString": "about 75"}], ids=["quantity-text", "valueString"])
def test_an_unreadable_later_weight_means_no_computed_dose(client, written) -> None:
    cards, codes, text = call(client, achr((MONTH_AGO, kg(70)), (YESTERDAY, written)))
    assert_not_dosed(cards, codes, text, '"about 75"')
    assert f'weight recorded as "about 75" on {YESTERDAY} could not be read as a number' in text
    unread = finding(cards, "data-gap.unreadable-value")  # the assessment names it too
    assert unread["kind"] == "weight" and unread["evidence"][0]["date"] == YESTERDAY.isoformat()


def test_without_the_unreadable_weight_the_same_patient_is_dosed_from_70_kg(client) -> None:
    cards, codes, text = call(client, achr((MONTH_AGO, kg(70))))
    assert drug_state(cards, "efgartigimod")["orders"][0]["dose_mg"] == 700.0
    assert f"Doses for weight 70 kg ({MONTH_AGO})" in text
    assert "data-gap.weight" not in codes


# -- (b) a later weight set aside as implausible -------------------------------------------------------


def test_an_implausible_later_weight_means_no_computed_dose(client) -> None:
    cards, codes, text = call(client, achr((MONTH_AGO, kg(70)), (YESTERDAY, kg(1000))))
    assert "data-gap.implausible-weight" in codes
    assert_not_dosed(cards, codes, text, "1000 kg (outside the plausible range)")
    assert f"weight recorded as 1000 kg on {YESTERDAY} is outside the plausible range" in text


# -- (c) a readable weight after an unreadable one -----------------------------------------------------


def test_a_readable_later_weight_after_an_unreadable_one_is_the_dosing_weight(client) -> None:
    cards, codes, text = call(client, achr((MONTH_AGO, kg(70)), (date(2026, 11, 15), kg("about 75")), (YESTERDAY, kg(72))))
    efg = drug_state(cards, "efgartigimod")
    assert efg["state"] == "suggest" and efg["orders"][0]["dose_mg"] == 720.0 and "(weight 72 kg" in efg["dose"]
    (ivig,) = findings_of(cards, "rescue.ivig")
    assert ivig["total_g"] == 144.0
    assert "data-gap.weight" not in codes and "data-gap.unreadable-value" not in codes  # superseded


# -- (e) the same day ----------------------------------------------------------------------------------


def test_an_unreadable_weight_on_the_day_of_the_readable_one_leaves_the_weight_unknown(client) -> None:
    """Documented choice (gmg/measures.py): the record keeps days, so two weights of one day cannot be
    put in order; the unreadable one makes the weight unknown, as `latest_value` does for scores, and
    the plausibility gap names it (before, it named only values strictly later than the readable one)."""
    cards, codes, text = call(client, achr((YESTERDAY, kg(70)), (YESTERDAY, kg("about 75"))))
    assert_not_dosed(cards, codes, text, '"about 75"')
    assert finding(cards, "data-gap.unreadable-value")["kind"] == "weight"


def test_an_unreadable_weight_the_day_before_the_readable_one_is_superseded(client) -> None:
    cards, codes, _text = call(client, achr((date(2026, 11, 20), kg("about 75")), (YESTERDAY, kg(70))))
    assert drug_state(cards, "efgartigimod")["orders"][0]["dose_mg"] == 700.0
    assert "data-gap.weight" not in codes and "data-gap.unreadable-value" not in codes


# -- the gap in Chinese, and on the IVIG order --------------------------------------------------------


def test_the_set_aside_weight_gap_is_chinese_on_the_chinese_cards(client) -> None:
    for later in (kg("about 75"), kg(1000)):
        cards, _codes, text = call(client, achr((MONTH_AGO, kg(70)), (YESTERDAY, later)),
                                   language="zh-CN")
        assert "The latest weight is unknown" not in text
        for card in cards:
            if any(f["code"] in ("data-gap.weight", "rescue.ivig", "therapy.fcrn-antagonist")
                   for f in card["extension"]["gmg-cds"]["findings"]):
                assert english_runs(card["summary"] + "\n" + card.get("detail", "")) == [], card["detail"]


def test_an_ivig_order_is_not_dosed_from_an_earlier_weight() -> None:
    from tests.test_demo_patients import prefetch_of
    pid, prefetch = prefetch_of(achr((MONTH_AGO, kg(70)), (YESTERDAY, kg("about 75"))))
    draft = {"resourceType": "MedicationRequest", "id": "ivig", "status": "draft", "intent": "order",
             "subject": {"reference": f"Patient/{pid}"},
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "5666", "display": "immune globulin"}]}}
    context = {"patientId": pid, "userId": "Practitioner/1", "selections": ["MedicationRequest/ivig"],
               "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}}
    cards = order_select.handle(HookCall("gmg-order-select", "order-select", "h", context, prefetch, frozenset(), TODAY))
    dose = next(f for c in cards for f in c.findings if f["code"] == "safety.ivig.dose")
    assert dose["weight_missing"] is True and "total_g" not in dose and "weight_kg" not in dose
    assert any(e.get("value") == '"about 75" (not one value)' and e.get("date") == YESTERDAY.isoformat()
               for e in dose["evidence"])
    detail = next(c.detail for c in cards if "safety.ivig.dose" in c.finding_codes) or ""
    assert f'The latest weight is unknown: weight recorded as "about 75" on {YESTERDAY}' in detail
    assert "70 kg" not in detail and "140 g" not in detail
    zh = order_select.handle(HookCall("gmg-order-select", "order-select", "h", context, prefetch, frozenset(), TODAY,
                                      language="zh-CN"))
    zh_detail = next(c.detail for c in zh if "safety.ivig.dose" in c.finding_codes) or ""
    assert "最近一次体重未知" in zh_detail and "The latest weight" not in zh_detail


# -- (d) adequacy: the weight nearest the exposure -----------------------------------------------------

EXPOSURE_START = date(2025, 1, 10)  # met-3-1: azathioprine 150 mg/d and prednisone 40 mg/d from this day
YEAR_BEFORE = date(2024, 1, 10)


def _adequacy(b: dict[str, Any]) -> adequacy.ConventionalTherapy:
    from fhir_mappings.selection import SeriesSelection
    from tests.test_demo_patients import prefetch_of
    pid, prefetch = prefetch_of(b)
    r = build_record(prefetch, pid, TODAY, params=P, series=SeriesSelection.from_parameters(P))
    return adequacy.conventional_therapy(plausibility.screen(r, P), P)


def test_the_dose_per_kg_comes_from_the_weight_nearest_the_exposure() -> None:
    ct = _adequacy(with_weights("met-3-1", (YEAR_BEFORE, kg(70))))
    aza = next(n for n in ct.nsists if n.drug == "azathioprine")
    assert aza.status == "adequate" and ct.adequate is True  # 150 mg/d / 70 kg = 2.1 mg/kg/d


@pytest.mark.parametrize(("written", "named"), [
    (kg("about 75"), '"about 75" (not one value)'),
    ({"valueString": "about 75 kg"}, '"about 75 kg" (not one value)'),
    (kg(1000), "1000 kg (outside the plausible range)"),
])
def test_a_weight_set_aside_at_the_exposure_date_leaves_its_dose_per_kg_unknown(written, named) -> None:
    ct = _adequacy(with_weights("met-3-1", (YEAR_BEFORE, kg(70)), (EXPOSURE_START, written)))
    aza = next(n for n in ct.nsists if n.drug == "azathioprine")
    assert aza.status == "unknown" and aza.adequate_since is None
    assert ct.steroid.status == "unknown" and ct.adequate is None  # not concluded either way
    assert not any(d.code.startswith("optimise.") and "dose" in d.code for d in ct.deficits)
    gap = next(g for g in aza.gaps if g.code == "data-gap.weight")
    assert gap.data["drug"] == "azathioprine"
    assert gap.text.startswith(f"The weight nearest the start of Azathioprine ({EXPOSURE_START}) is unknown: weight ")
    assert "a farther weight does not stand in. Its dose per kg cannot be judged." in gap.text
    assert [(e.value, e.when) for e in gap.evidence[1:]] == [(named, EXPOSURE_START)]
    assert "mg/kg/d" not in aza.summary


def test_a_readable_weight_nearer_the_exposure_than_the_unreadable_one_is_used() -> None:
    ct = _adequacy(with_weights("met-3-1", (date(2025, 1, 8), kg(70)), (date(2025, 1, 20), kg("about 75"))))
    assert next(n for n in ct.nsists if n.drug == "azathioprine").status == "adequate"


def test_the_assessment_says_the_weight_gap_instead_of_concluding(client) -> None:
    cards, codes, text = call(client, with_weights("met-3-1", (YEAR_BEFORE, kg(70)), (EXPOSURE_START, kg("about 75"))))
    assert "refractory.cn.met" not in codes and "refractory.cn.not-met.inadequate-treatment" not in codes
    assert "The weight nearest the start of Azathioprine (2025-01-10) is unknown" in text
    _cards, zh_codes, zh = call(client, with_weights("met-3-1", (YEAR_BEFORE, kg(70)), (EXPOSURE_START, kg("about 75"))),
                                language="zh-CN")
    assert zh_codes == codes and "The weight nearest" not in zh and "Its dose per kg" not in zh


# -- the accessor ----------------------------------------------------------------------------------------


def _record(*items: Measurement | UnreadValue | ImplausibleValue) -> PatientRecord:
    return PatientRecord(
        patient_id="p", today=TODAY,
        measurements=tuple(i for i in items if isinstance(i, Measurement)),
        unread_values=tuple(i for i in items if isinstance(i, UnreadValue)),
        implausible=tuple(i for i in items if isinstance(i, ImplausibleValue)))


def _w(value: float, when: date, comparator: str | None = None) -> Measurement:
    return Measurement("weight", value, "kg", when, f"Observation/w-{when}", comparator=comparator)


def _u(text: str, when: date) -> UnreadValue:
    return UnreadValue("weight", text, when, f"Observation/u-{when}")


def _i(value: str, when: date) -> ImplausibleValue:
    return ImplausibleValue("weight", value, "kg", when, f"Observation/i-{when}", 20.0, 350.0, 46,
                            "plausible_weight_kg", "out-of-range")


D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 10), date(2026, 11, 20)


@pytest.mark.parametrize(("items", "value", "set_aside"), [
    ((_w(70, D1),), 70, None),
    ((_w(70, D1), _u("about 75", D2)), None, "about 75"),
    ((_w(70, D1), _i("1000", D2)), None, "1000 kg"),
    ((_w(70, D1), _w(150, D2, ">")), None, ">150 kg"),  # a censored weight is not one value either
    ((_w(70, D2), _u("about 75", D2)), None, "about 75"),  # the same day
    ((_u("about 75", D1), _w(70, D2)), 70, None),  # superseded
    ((_w(70, D1), _u("about 75", D2), _i("1000", D3)), None, "1000 kg"),  # the latest set aside is named
    ((_u("about 75", TODAY.replace(day=23)), _w(70, D1)), 70, None),  # dated after today: not read
])
def test_latest_measure(items, value, set_aside) -> None:
    got = latest_measure(_record(*items), "weight", 365)
    assert (got.measurement.value if got.measurement else None) == value
    assert (got.set_aside.shown if got.set_aside else None) == set_aside


def test_latest_measure_window() -> None:
    old = date(2025, 1, 1)
    assert latest_measure(_record(_u("about 75", old)), "weight", 30).set_aside is None  # outside the window
    assert latest_measure(_record(_u("about 75", D3)), "weight", 30).set_aside is not None  # none readable


@pytest.mark.parametrize(("items", "day", "value", "set_aside"), [
    ((_w(70, date(2024, 1, 10)), _u("about 75", date(2025, 1, 10))), date(2025, 1, 10), None, "about 75"),
    ((_w(70, date(2025, 1, 1)), _u("about 75", date(2025, 1, 19))), date(2025, 1, 10), None, "about 75"),  # as near
    ((_w(70, date(2025, 1, 2)), _u("about 75", date(2025, 1, 19))), date(2025, 1, 10), 70, None),  # nearer
    ((_w(70, date(2025, 1, 10)), _i("1000", date(2025, 1, 10))), date(2025, 1, 10), None, "1000 kg"),
    ((_u("about 75", date(2020, 1, 1)),), date(2025, 1, 10), None, "about 75"),  # nothing readable
    ((), date(2025, 1, 10), None, None),
])
def test_nearest_measure(items, day, value, set_aside) -> None:
    got = nearest_measure(_record(*items), "weight", day)
    assert (got.measurement.value if got.measurement else None) == value
    assert (got.set_aside.shown if got.set_aside else None) == set_aside


def test_dosing_inputs_name_the_value_set_aside_for_each_measure() -> None:
    r = PatientRecord(patient_id="p", today=TODAY, measurements=(
        _w(70, D1), Measurement("height", 178, "cm", D1, "Observation/h"),
        Measurement("haematocrit", 42, "%", D3, "Observation/hct")),
        unread_values=(UnreadValue("height", "5 ft 10", D2, "Observation/h2"),
                       UnreadValue("haematocrit", "see lab", D3, "Observation/hct2")))
    got = dosing.dosing_inputs(r, P)
    assert got.weight_kg is not None and got.weight_kg.value == 70
    assert got.height_cm is None and got.set_aside_of("height").shown == "5 ft 10"
    assert got.haematocrit_fraction is None and got.set_aside_of("haematocrit").shown == "see lab"
    assert got.set_aside_of("weight") is None
    outside = dosing.dosing_inputs(_record(_w(7000, D1)), P)  # a record not screened: the dosing range
    assert outside.weight_kg is None and outside.set_aside_of("weight").shown == "7000 kg"

"""Values as EHRs write them (issue #14 point 2): MGFA class and PIS as text or answer codes,
scores as valueQuantity (with or without a unit), valueInteger or digits in valueString, and
MG-ADL items as components or as Observations of their own. Text that does not read as one value
is a data gap naming the value on the card, never a guess."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fhir_mappings import build_record
from gmg.record import MG_ADL_ITEMS
from gmg.severity import latest_pis
from hooks import context, patient_view
from hooks.registry import HookCall
from terminology import systems
from tests.test_order_hooks import PID, TODAY, prefetch

WHEN = TODAY - timedelta(days=20)
AT = "2026-11-02T10:15:00+08:00"  # the instant a flowsheet column was filed


def obs(rid: str, code: str, when: Any = WHEN, system: str = systems.MG_SCORES, **value: Any) -> dict[str, Any]:
    effective = when if isinstance(when, str) else when.isoformat()
    return {"resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": system, "code": code}]}, "effectiveDateTime": effective, **value}


def record_of(*observations: dict[str, Any]):
    return build_record(prefetch(observations=list(observations)), PID, TODAY)


def cards_of(*observations: dict[str, Any]):
    return patient_view.handle(HookCall(service_id="gmg-patient-view", hook="patient-view", hook_instance="h",
                                        context={"patientId": PID, "userId": "Practitioner/1"},
                                        prefetch=prefetch(observations=list(observations)),
                                        unavailable=frozenset(), today=TODAY))


# -- MGFA class and PIS ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "code"), [
    ("IIIb", "IIIb"), ("Class IIIb", "IIIb"), ("MGFA IIIb", "IIIb"), ("MGFA class 3b", "IIIb"), ("class iva", "IVa"),
    ("I", "I"), ("V", "V"),
])
def test_mgfa_class_as_text(text, code):
    r = record_of(obs("c", "mgfa-class", valueString=text))
    assert [a.code for a in r.mgfa_class] == [code]
    assert r.unread_values == ()


@pytest.mark.parametrize(("text", "code"), [
    ("Unchanged", "U"), ("Minimal manifestations", "MM"), ("MM-1", "MM-1"), ("MM 2", "MM-2"), ("Worse", "W"),
    ("Improved", "I"), ("CSR", "CSR"), ("Pharmacologic remission", "PR"), ("PIS: E", "E"),
])
def test_pis_as_text_in_value_string_or_an_uncoded_answer(text, code):
    as_string = record_of(obs("p", "mgfa-pis", valueString=text))
    as_answer_text = record_of(obs("p", "mgfa-pis", valueCodeableConcept={"text": text}))
    as_display = record_of(obs("p", "mgfa-pis", valueCodeableConcept={
        "coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.1", "code": "77", "display": text}]}))
    assert [p.code for p in as_string.pis] == [p.code for p in as_answer_text.pis] == [p.code for p in as_display.pis] == [code]


@pytest.mark.parametrize("text", ["Class II", "improved?", "IIIb-IVa", "better", "see note"])
def test_text_that_is_not_one_value_is_a_data_gap_naming_it(text):
    r = record_of(obs("c", "mgfa-class", valueString=text), obs("p", "mgfa-pis", valueString=text))
    assert r.mgfa_class == () and r.pis == ()
    assert {(u.kind, u.text, u.source) for u in r.unread_values} == {
        ("mgfa-class", text, "Observation/c"), ("mgfa-pis", text, "Observation/p")}


def test_the_unreadable_pis_is_named_on_the_card_and_an_older_one_does_not_stand_in():
    older = obs("p-old", "mgfa-pis", when=TODAY - timedelta(days=90),
                valueCodeableConcept={"coding": [{"system": systems.MGFA_PIS, "code": "U"}]})
    newer = obs("p-new", "mgfa-pis", valueString="better than before")
    params = context.parameters()
    assert latest_pis(record_of(older), params).code == "U"
    assert latest_pis(record_of(older, newer), params) is None
    card = cards_of(older, newer, obs("adl", "mg-adl-total", valueInteger=9))[0]
    gap = next(f for f in card.findings if f["code"] == "data-gap.unreadable-value")
    assert gap["evidence"][0]["reference"] == "Observation/p-new"
    assert 'MGFA PIS recorded as "better than before" on ' + WHEN.isoformat() in card.detail


def test_an_unreadable_mg_adl_is_named_by_criterion_2():
    cards = cards_of(obs("adl-old", "mg-adl-total", when=TODAY - timedelta(days=60), valueInteger=9),
                     obs("adl", "mg-adl-total", valueString="7-8"))
    gap = next(f for f in cards[0].findings if f["code"] == "data-gap.mg-adl")
    assert gap["evidence"][0]["reference"] == "Observation/adl"
    assert 'MG-ADL total recorded as "7-8"' in cards[0].detail


# -- scores -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    {"valueInteger": 9},
    {"valueQuantity": {"value": 9}},
    {"valueQuantity": {"value": 9, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"}},
    {"valueQuantity": {"value": 9.0, "unit": "points"}},
    {"valueString": "9"},
    {"valueString": " 9 points"},
    {"valueString": "9/24"},
])
def test_scores_in_every_value_type(value):
    r = record_of(obs("adl", "mg-adl-total", **value), obs("q", "qmg-total", **value))
    assert [s.total for s in r.mg_adl] == [9]
    if value == {"valueString": "9/24"}:  # 24 is MG-ADL's maximum, not QMG's (39): no QMG value
        assert r.scores == () and [u.kind for u in r.unread_values] == ["qmg-total"]
    else:
        assert [(s.kind, s.value) for s in r.scores] == [("qmg-total", 9)] and r.unread_values == ()


@pytest.mark.parametrize("value", [{"valueString": "9/39"}, {"valueString": "about 9"}, {"valueQuantity": {"value": 9.5}},
                                   {"valueInteger": 30}])
def test_scores_that_do_not_read_as_one_whole_number_are_named(value):
    r = record_of(obs("adl", "mg-adl-total", **value))
    assert r.mg_adl == ()
    (u,) = r.unread_values
    assert (u.kind, u.source) == ("mg-adl-total", "Observation/adl")


# -- MG-ADL items ----------------------------------------------------------------------------------

ITEMS = dict(zip(MG_ADL_ITEMS, (2, 1, 1, 0, 1, 2, 1, 1)))  # sum 9, ocular 2


def components() -> list[dict[str, Any]]:
    return [{"code": {"coding": [{"system": systems.MG_SCORES, "code": k}]}, "valueInteger": v} for k, v in ITEMS.items()]


def test_items_as_observations_of_their_own_are_the_same_assessment():
    as_components = record_of(obs("adl", "mg-adl-total", when=AT, valueInteger=9, component=components()))
    rows = [obs(f"row-{k}", k, when=AT, valueQuantity={"value": v}) for k, v in ITEMS.items()]
    as_rows = record_of(obs("adl", "mg-adl-total", when=AT, valueInteger=9), *rows)
    assert as_rows.mg_adl == as_components.mg_adl
    assert as_rows.mg_adl[0].ocular_share == pytest.approx(2 / 9)


def test_items_recorded_at_another_time_are_not_joined():
    rows = [obs(f"row-{k}", k, when="2026-11-02T11:00:00+08:00", valueInteger=v) for k, v in ITEMS.items()]
    r = record_of(obs("adl", "mg-adl-total", when=AT, valueInteger=9), *rows)
    totals = sorted((s.total, s.items is None, s.source) for s in r.mg_adl)
    # the total keeps no items; the 8 rows of 11:00 are an assessment of their own (total = sum)
    assert totals == [(9, False, "Observation/row-mg-adl-arising-chair"), (9, True, "Observation/adl")]


def test_incomplete_item_rows_leave_the_ocular_share_unknown():
    rows = [obs(f"row-{k}", k, when=AT, valueInteger=v) for k, v in list(ITEMS.items())[:7]]
    r = record_of(obs("adl", "mg-adl-total", when=AT, valueInteger=9), *rows)
    assert [(s.total, s.items) for s in r.mg_adl] == [(9, None)]


# -- body measures written as text -------------------------------------------------------------------


@pytest.mark.parametrize(("code", "kind"), [("29463-7", "weight"), ("8302-2", "height"), ("4544-3", "haematocrit")])
def test_a_body_measure_written_as_text_is_kept_as_an_unread_value(code, kind):
    """A weight in valueString ("about 75 kg") is not dropped unseen: it is an unread value, so no
    earlier weight is dosed from in its place (gmg/measures.py)."""
    r = record_of(obs("m", code, system="http://loinc.org", valueString="about 75"))
    assert [m.source for m in r.measurements if m.concept == kind] == (["Observation/wt"] if kind == "weight" else [])
    assert [(u.kind, u.text, u.when, u.source) for u in r.unread_values] == [(kind, "about 75", WHEN, "Observation/m")]

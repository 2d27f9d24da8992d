"""Issue #15 F-6: doses respect each drug's labelled age. A 6-year-old refractory AChR+ patient was
offered ravulizumab, zilucoplan, efgartigimod, rozanolixizumab and inebilizumab with computed adult
doses; now no drug gets a computed dose outside its labelled population, each says why, and no
draft order is proposed for it."""

from __future__ import annotations

from datetime import date

import pytest

from gmg import therapy
from gmg.dose_table import age_gate
from gmg.drugs import DRUGS
from gmg.parameters import load
from gmg.rapid import rapid_options
from hooks.i18n import use_language
from hooks.therapy_cards import therapy_cards
from therapy_fixtures import FakeAssessment, m, record

P = load()
ADULT_ONLY = ("ravulizumab", "zilucoplan", "efgartigimod", "efgartigimod-hyaluronidase", "rozanolixizumab", "inebilizumab")


def child(years: int, **kw):
    born = date(2026 - years, 1, 1)
    return record(birth_date=born, measurements=(m("weight", 21.0, "kg"), m("height", 116.0, "cm"),
                                                 m("haematocrit", 38.0, "%", date(2026, 11, 20))), **kw)


def drug_states(rec, serotype="achr"):
    findings = therapy.therapy_options(rec, FakeAssessment(serotype=serotype), P)
    return {d["ingredient"]: d for f in findings for d in f.data.get("drugs", [])}, findings


def test_a_six_year_old_gets_no_computed_dose_of_an_adult_only_drug():
    drugs, findings = drug_states(child(6))
    for ingredient in ADULT_ONLY:
        d = drugs[ingredient]
        assert d["state"] == "not-labelled" and "orders" not in d and "dose" not in d, ingredient
        assert d["note"].startswith("labelled from age 18 (patient 6 y)"), d["note"]
    # eculizumab is labelled from 6 y, but its paediatric dose is weight-banded: not computed here
    assert drugs["eculizumab"]["state"] == "no-dose" and "adult dose" in drugs["eculizumab"]["note"]
    assert drugs["nipocalimab"]["state"] == "not-labelled" and "from age 12" in drugs["nipocalimab"]["note"]
    # rituximab (off-label in MG) and tacrolimus: adult doses only
    assert drugs["rituximab"]["state"] == "no-dose" and drugs["tacrolimus"]["state"] == "no-dose"
    assert therapy.suggested_orders(findings) == []


def test_the_card_says_so_in_both_languages_and_proposes_no_drug_order():
    rec = child(6)
    cards = therapy_cards(rec, FakeAssessment(serotype="achr"), P)
    options = cards[0].to_json()
    assert "labelled from age 18 (patient 6 y)" in options["detail"]
    creates = [a["resource"] for s in options.get("suggestions", []) for a in s["actions"]]
    assert not [r for r in creates if r["resourceType"] == "MedicationRequest" and "coding" in r["medicationCodeableConcept"]
                and r["medicationCodeableConcept"]["coding"][0]["system"].endswith("rxnorm")]
    with use_language("zh-CN"):
        zh = therapy_cards(rec, FakeAssessment(serotype="achr"), P)[0].to_json()["detail"]
    assert "说明书适用年龄 ≥ 18 岁（患者 6 岁）" in zh


def test_an_adolescent_gets_nipocalimab_by_its_label_but_no_adult_only_drug():
    drugs, _ = drug_states(child(14))
    assert drugs["nipocalimab"]["state"] == "suggest" and drugs["nipocalimab"]["orders"]
    assert all(drugs[i]["state"] == "not-labelled" for i in ADULT_ONLY)


def test_adults_are_dosed_as_before():
    drugs, _ = drug_states(record())
    assert all(drugs[i]["state"] in ("suggest", "data-gap") for i in DRUGS if i in drugs)


def test_without_a_birth_date_the_dose_is_given_with_the_labelled_age_to_confirm():
    drugs, _ = drug_states(record(birth_date=None))
    assert drugs["ravulizumab"]["state"] == "suggest"
    assert "no birth date on record: labelled from age 18" in drugs["ravulizumab"]["note"]


@pytest.mark.parametrize("ingredient", [d for d, info in DRUGS.items() if info.min_age_parameter])
def test_every_labelled_age_is_a_parameter_citing_its_label(ingredient):
    entry = P.entry(DRUGS[ingredient].min_age_parameter)
    assert entry.unit == "a" and "label" in entry.source.lower() and entry.tag in ("V", "K")
    assert age_gate(ingredient, int(entry.value) - 1, P).state == "not-labelled"


def test_a_child_gets_no_adult_ivmp_dose():
    findings = rapid_options(child(6), FakeAssessment(serotype="achr", acute=True), P)
    ivmp = next(f for f in findings if f.code == "rescue.ivmp")
    assert "order" not in ivmp.data and "adult dose" in ivmp.text
    adult = next(f for f in rapid_options(record(), FakeAssessment(serotype="achr", acute=True), P) if f.code == "rescue.ivmp")
    assert adult.data["order"]["dose_mg"] == 500.0

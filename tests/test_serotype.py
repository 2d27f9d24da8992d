"""Serotype from antibody results, and CBA revalidation (gmg-rules.md §4)."""

from __future__ import annotations

from gmg.assessment import assess
from gmg.parameters import load
from gmg.serotype import assess_serotype
from hooks.assessment_cards import assessment_cards
from tests.assessment_records import antibody, gmg_record

P = load()


def sero(*results):
    return assess_serotype(gmg_record(antibodies=results))


def test_positive_results_give_the_serotype_by_any_method():
    assert sero(antibody("achr-binding", "positive", "elisa")).serotype == "achr"
    assert sero(antibody("musk", "positive", "cba")).serotype == "musk"
    assert sero(antibody("lrp4", "positive", "cba")).serotype == "lrp4"
    both = sero(antibody("achr-binding", "positive"), antibody("musk", "positive"))
    assert [f.code for f in both.findings] == ["serotype.achr", "serotype.musk"]


def test_seronegative_only_when_achr_and_musk_negative_by_cba():
    s = sero(antibody("achr-binding", "negative", "cba"), antibody("musk", "negative", "cba"))
    assert s.serotype == "seronegative" and s.findings[0].code == "serotype.seronegative"
    half = sero(antibody("achr-binding", "negative", "cba"), antibody("musk", "negative", "elisa"))
    assert half.serotype == "unconfirmed" and half.findings[0].data["notByCba"] == ["musk"]


def test_negative_by_elisa_ripa_or_unknown_method_is_unconfirmed():
    for method in ("elisa", "ripa", "unknown"):
        assert sero(antibody("achr-binding", "negative", method)).serotype == "unconfirmed"


def test_no_result_is_unknown_and_titin_is_ignored():
    assert sero().serotype == "unknown"
    assert sero(antibody("titin", "positive")).serotype == "unknown"


def test_revalidation_for_refractory_unconfirmed_only():
    negatives = (antibody("achr-binding", "negative", "elisa"), antibody("musk", "negative", "elisa"))
    a = assess(gmg_record(antibodies=negatives), P)
    assert a.serotype == "unconfirmed" and "antibody.revalidate-cba" in a.finding_codes
    cba_neg = (antibody("achr-binding", "negative", "cba"), antibody("musk", "negative", "cba"))
    assert "antibody.revalidate-cba" not in assess(gmg_record(antibodies=cba_neg), P).finding_codes
    from tests.assessment_records import adl

    mild = assess(gmg_record(antibodies=negatives, mg_adl=(adl(3, 0),)), P)
    assert "antibody.revalidate-cba" not in mild.finding_codes


def test_revalidation_card_orders_cba_tests():
    negatives = (antibody("achr-binding", "negative", "elisa"), antibody("musk", "negative", "elisa"))
    record = gmg_record(antibodies=negatives)
    cards = assessment_cards(record, assess(record, P), P)
    card = next(c for c in cards if "antibody.revalidate-cba" in c.finding_codes)
    resources = [a.resource for s in card.suggestions for a in s.actions]
    assert len(resources) == 3
    for r in resources:
        assert r["resourceType"] == "ServiceRequest" and r["status"] == "draft" and r["intent"] == "proposal"
        assert r["subject"] == {"reference": "Patient/p1"}
        assert r["orderDetail"][0]["coding"][0]["code"] == "cba"
    codes = {(r["code"]["coding"][0]["system"], r["code"]["coding"][0]["code"]) for r in resources}
    assert ("http://loinc.org", "51716-9") in codes  # MuSK
    assert ("https://gmg-cds.github.io/fhir/CodeSystem/mg-labs", "lrp4-ab") in codes
    assert any(system == "http://loinc.org" and code.startswith(("20427", "11034")) for system, code in codes)
    assert card.override_reasons  # a warning card


def test_unknown_serotype_gives_a_serostatus_gap_card():
    record = gmg_record(antibodies=())
    cards = assessment_cards(record, assess(record, P), P)
    assert any(c.finding_codes == ("data-gap.serostatus",) for c in cards)

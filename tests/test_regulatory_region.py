"""Label facts by the site's regulatory region (GMG_CDS_REGULATORY_REGION), never by the card
language; telitacicept offered for AChR+ gMG where it is approved (China), with its dose and
prerequisites; batoclimab recognised in the history but never offered
(../shared/knowledge/background/clinical-sources-2.md §3, S5-S11)."""

from __future__ import annotations

import pytest

from cds_service.settings import ConfigError, Settings
from gmg import therapy
from gmg.parameters import load
from hooks import context
from hooks.i18n import use_language
from hooks.therapy_cards import therapy_cards
from tests.test_i18n_cards import CALLS, _cards
from tests.test_i18n_complete import _check_pair
from therapy_fixtures import FakeAssessment, TODAY, cond, exposure, m, record

P = load()
HBV_NEGATIVE = (m("hbsag", None, None, interpretation="negative"), m("anti-hbc", None, None, interpretation="negative"))


def options(rec=None, serotype="achr", region="us", **kw):
    findings = therapy.therapy_options(rec or record(), FakeAssessment(serotype=serotype, **kw), P, region=region)
    return {f.data["option"]: f for f in findings if "option" in f.data}


def drug(findings, ingredient):
    return next(d for f in findings.values() for d in f.data["drugs"] if d["ingredient"] == ingredient)


@pytest.fixture
def region(monkeypatch):
    """Set the site's region for the hook calls of one test."""
    def set_region(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(context.REGION_ENV, raising=False)
        else:
            monkeypatch.setenv(context.REGION_ENV, value)
        context.reset()
    yield set_region
    monkeypatch.delenv(context.REGION_ENV, raising=False)
    context.reset()


# -- telitacicept --------------------------------------------------------------------------------


def test_telitacicept_is_an_achr_option_where_approved():
    rec = record(measurements=record().measurements + HBV_NEGATIVE)
    cn = options(rec, region="cn")
    f = cn["blys-april"]
    assert f.code == "therapy.blys-april" and f.data["state"] == "suggested"
    t = drug(cn, "telitacicept")
    assert t["state"] == "suggest" and t["label"].startswith("NMPA 27 May 2025: adult AChR+ gMG")
    order = t["orders"][0]
    assert (order["dose_mg"], order["route"], order["timing"]) == (240.0, "sc", {"frequency": 1, "period": 1, "periodUnit": "wk"})
    assert "the Chinese label's dose was not retrieved" in t["note"]
    assert "telitacicept_weekly_mg" in f.parameters and P.entry("telitacicept_weekly_mg").tag == "K"
    names = [p["name"] for p in f.data["prerequisites"]]
    assert names[0].startswith("Hepatitis B screen") and any("live vaccines" in n for n in names)
    assert f.data["prerequisites"][0]["status"] == "met"
    # ranked after the consensus's B-cell options, before tacrolimus
    assert [o for o in cn] == ["c5-inhibitor", "anti-cd20", "fcrn-antagonist", "anti-cd19", "blys-april", "tacrolimus"]


def test_telitacicept_is_not_offered_where_not_approved_nor_for_musk():
    assert "blys-april" not in options(region="us")
    assert "blys-april" not in options(serotype="musk", region="cn")
    assert "blys-april" not in options(serotype="seronegative", region="cn")
    # the US row keeps its ranks (tacrolimus 5th)
    assert options(region="us")["tacrolimus"].data["rank"] == 5


def test_telitacicept_in_pregnancy_infection_and_for_a_child():
    pregnant = record(conditions=(cond("mg-generalized"), cond("pregnancy", TODAY)))
    assert options(pregnant, region="cn")["blys-april"].code == "therapy.blys-april.pregnancy-specialist"
    septic = record(conditions=(cond("mg-generalized"), cond("sepsis", TODAY)))
    assert options(septic, region="cn")["blys-april"].code == "therapy.blys-april.deferred-infection"
    from datetime import date

    child = record(birth_date=date(2012, 1, 1))
    assert drug(options(child, region="cn"), "telitacicept")["state"] == "not-labelled"


def test_a_patient_on_telitacicept_has_it_as_current_therapy():
    on = record(exposures=(exposure("telitacicept", route="sc"),))
    f = options(on, region="cn")["blys-april"]
    assert f.code == "therapy.blys-april.current" and f.data["current"] == ["telitacicept"]


def test_batoclimab_history_is_seen_and_it_is_never_offered():
    on = record(exposures=(exposure("batoclimab", route="sc"),))
    for region_ in ("us", "cn"):
        fcrn = options(on, region=region_)["fcrn-antagonist"]
        assert fcrn.code == "therapy.fcrn-antagonist.current" and fcrn.data["current"] == ["batoclimab"]
        assert all(d["ingredient"] != "batoclimab" for f in options(region=region_).values() for d in f.data["drugs"])


# -- label facts by region -------------------------------------------------------------------------


def test_the_region_chooses_efgartigimod_sc_strength_and_eculizumab_wording():
    us, cn = options(region="us"), options(region="cn")
    assert drug(us, "efgartigimod-hyaluronidase")["orders"][0]["dose_mg"] == 1008.0
    assert drug(cn, "efgartigimod-hyaluronidase")["orders"][0]["dose_mg"] == 1000.0
    assert "1000 mg (5.6 mL) vial" in drug(cn, "efgartigimod-hyaluronidase")["label"]
    assert drug(cn, "eculizumab")["label"].startswith("NMPA: refractory AChR+ gMG only")
    ev = {e.label: e.value for e in cn["c5-inhibitor"].evidence}
    assert ev["eculizumab NMPA indication"] == "refractory AChR+ gMG (met: refractory by the CN consensus)"
    assert "eculizumab NMPA indication" not in {e.label for e in us["c5-inhibitor"].evidence}
    assert drug(cn, "rozanolixizumab")["label"].startswith("no Chinese gMG approval found")


def test_the_card_language_does_not_choose_the_label_facts():
    rec = record()
    with use_language("zh-CN"):
        zh_us = therapy_cards(rec, FakeAssessment(), P, region="us")[0].to_json()
    with use_language("en"):
        en_cn = therapy_cards(rec, FakeAssessment(), P, region="cn")[0].to_json()
    doses = lambda card: {a["resource"]["medicationCodeableConcept"]["text"]: a["resource"]["dosageInstruction"][0]
                          .get("doseAndRate", [{}])[0].get("doseQuantity", {}).get("value")
                          for s in card["suggestions"] for a in s["actions"] if a["resource"]["resourceType"] == "MedicationRequest"}
    assert doses(zh_us)["Efgartigimod alfa + hyaluronidase SC"] == 1008.0 and "Telitacicept" not in doses(zh_us)
    assert doses(en_cn)["Efgartigimod alfa + hyaluronidase SC"] == 1000.0 and doses(en_cn)["Telitacicept"] == 240.0
    assert "Label facts and approvals: China (NMPA) (site setting)" in en_cn["detail"]
    assert "site setting" not in therapy_cards(rec, FakeAssessment(), P, region="us")[0].to_json()["detail"]


# -- the site setting ------------------------------------------------------------------------------


def test_the_setting_is_checked_and_defaults_to_us(region):
    assert Settings.from_env({}).regulatory_region == "us"
    assert Settings.from_env({"GMG_CDS_REGULATORY_REGION": "CN"}).regulatory_region == "cn"
    with pytest.raises(ConfigError, match="GMG_CDS_REGULATORY_REGION"):
        Settings.from_env({"GMG_CDS_REGULATORY_REGION": "eu"})
    region(None)
    assert context.regulatory_region() == "us"
    region("cn")
    assert context.regulatory_region() == "cn"
    region("mars")
    with pytest.raises(ValueError, match="GMG_CDS_REGULATORY_REGION"):
        context.warm()


def test_check_config_names_the_region(monkeypatch, tmp_path):
    from tests.test_cli import run

    monkeypatch.setenv("GMG_CDS_ENV", "local")
    monkeypatch.setenv("GMG_CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'ok.sqlite3'}")
    monkeypatch.setenv("GMG_CDS_REGULATORY_REGION", "cn")
    code, text = run("check-config")
    assert "ok   regulatory region cn: label facts and approvals of China (NMPA)" in text


PATIENT_VIEW = [c for c in CALLS if "/" not in c[0]]  # the demo patients (patient-view)


@pytest.mark.parametrize("name, handler, ctx, prefetch", PATIENT_VIEW, ids=[c[0] for c in PATIENT_VIEW])
def test_demo_cards_in_the_china_region_are_completely_chinese(region, name, handler, ctx, prefetch):
    region("cn")
    _check_pair(name, _cards(handler, ctx, prefetch, "en"), _cards(handler, ctx, prefetch, "zh-CN"))


def test_a_hook_call_follows_the_site_region(region):
    name, handler, ctx, prefetch = next(c for c in CALLS if c[0] == "therapy-achr")
    region("cn")
    cn = _cards(handler, ctx, prefetch, "en")
    region("us")
    us = _cards(handler, ctx, prefetch, "en")
    codes = lambda cards: {f["code"] for c in cards for f in c["extension"]["gmg-cds"]["findings"]}
    assert "therapy.blys-april" in codes(cn) and "therapy.blys-april" not in codes(us)

"""Trial matching (gmg/trials.py, hooks/trial_cards.py): each criterion kind pass/fail/unknown,
lapse dates of time-limited exclusions, outcome codes and the card (gmg-rules.md §7)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from gmg import trials
from gmg.parameters import load
from gmg.record import AntibodyResult, CodedAssessment, MgAdlScore, PregnancyStatus, RescueCourse, ScoreResult
from hooks.trial_cards import trial_cards
from therapy_fixtures import FakeAssessment, ProcedureFact, TODAY, cond, exposure, m, record

P = load()
A = FakeAssessment()


def ev(kind, rec=None, assessment=A, **args):
    c = trials.Criterion("X", "inclusion", "t", kind, args)
    return trials.evaluate(c, rec or record(), assessment, P)


def adl(total, diplopia=0, ptosis=0, when=date(2026, 11, 1), items=True):
    its = None
    if items:
        rest = total - diplopia - ptosis
        its = {k: 0 for k in ("mg-adl-talking", "mg-adl-chewing", "mg-adl-swallowing", "mg-adl-breathing",
                                "mg-adl-brushing-combing", "mg-adl-arising-chair")}
        its["mg-adl-talking"] = rest
        its["mg-adl-diplopia"], its["mg-adl-ptosis"] = diplopia, ptosis
    return MgAdlScore(total, its, when, "Observation/adl")


def trial_files() -> list[Path]:
    return sorted((Path(trials.__file__).parent / "trials").glob("*.json"))


def test_every_trial_file_loads_with_known_kinds():
    loaded = {t.nct: t for t in trials.load_trials()}
    # one trial per file, named by its NCT id (the number of trials is whatever the folder holds)
    assert sorted(loaded) == [p.stem for p in trial_files()] and loaded
    assert len(loaded["NCT05828225"].criteria) == 23  # the index trial: I1..I8 (I2 split), E1..E13

    def kinds(c):
        yield c["kind"] if isinstance(c, dict) else c.kind
        args = c["args"] if isinstance(c, dict) else c.args
        for sub in args.get("criteria", []):
            yield from kinds(sub)
    for t in loaded.values():
        for c in t.criteria:
            assert set(kinds(c)) <= set(trials.EVALUATORS)


def test_the_schema_knows_exactly_the_evaluated_kinds():
    schema = json.loads((Path(trials.__file__).parent / "trial.schema.json").read_text(encoding="utf-8"))
    kinds = {branch["properties"]["kind"]["const"] for branch in schema["$defs"]["arguments"]["oneOf"]}
    assert kinds == set(trials.EVALUATORS)


def _index_trial() -> dict:
    return json.loads((Path(trials.__file__).parent / "trials" / "NCT05828225.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("break_it, where", [
    (lambda d: d.update(nct="NCT123"), "$.nct"),
    (lambda d: d["criteria"][0].update(kind="age_minimum"), "$.criteria[0]"),
    (lambda d: d["criteria"][0]["args"].update(years="eighteen"), "$.criteria[0]"),
    (lambda d: d["criteria"][0]["args"].pop("years"), "$.criteria[0]"),
    (lambda d: d["criteria"][19]["args"]["criteria"].append({"kind": "lab_max", "args": {"concept": "alt"}}), "$.criteria"),
    (lambda d: d.pop("criteria"), "criteria"),
])
def test_a_trial_file_that_breaks_the_schema_is_refused_with_where(break_it, where):
    doc = _index_trial()
    assert trials.read_trial("NCT05828225.json", json.dumps(doc)).nct == "NCT05828225"
    break_it(doc)
    with pytest.raises(trials.TrialFileError, match=re.escape(where)):
        trials.read_trial("NCT05828225.json", json.dumps(doc))
    with pytest.raises(trials.TrialFileError, match="not JSON"):
        trials.read_trial("x.json", "{")


def test_a_broken_trial_file_stops_the_start(tmp_path, monkeypatch):
    from cds_service.app import create_app
    from hooks import context
    from tests.conftest import local_settings

    bad = _index_trial()
    bad["criteria"][0]["kind"] = "no_such_kind"
    folder = tmp_path / "trials"
    folder.mkdir()
    (folder / "NCT05828225.json").write_text(json.dumps(bad), encoding="utf-8")
    monkeypatch.setattr(trials, "TRIALS_FOLDER", folder)
    trials.load_trials.cache_clear()
    context.reset()
    try:
        with pytest.raises(trials.TrialFileError, match="NCT05828225.json"):
            create_app(local_settings(tmp_path))
    finally:
        monkeypatch.undo()
        trials.load_trials.cache_clear()
        context.reset()
    assert trials.load_trials()


def test_age_min_max():
    assert ev("age_min", years=18).state == "pass"
    assert ev("age_min", record(birth_date=date(2010, 1, 1)), years=18).state == "fail"
    assert ev("age_min", record(birth_date=None), years=18).state == "unknown"
    assert ev("age_max", record(birth_date=date(1950, 1, 1)), years=65).state == "fail"


def test_serotype_in_and_result_window():
    assert ev("serotype_in", serotypes=["achr"]).state == "pass"
    assert ev("serotype_in", assessment=FakeAssessment(serotype="musk"), serotypes=["achr"]).state == "fail"
    assert ev("serotype_in", assessment=FakeAssessment(serotype="unconfirmed"), serotypes=["achr"]).state == "unknown"
    old = record(antibodies=(AntibodyResult("achr-binding", "ripa", "positive", 5.0, "nmol/L", date(2010, 1, 1), "Observation/ab"),))
    assert ev("serotype_in", old, serotypes=["achr"], result_within_days=3652).state == "unknown"
    new = record(antibodies=(AntibodyResult("achr-binding", "ripa", "positive", 5.0, "nmol/L", date(2020, 1, 1), "Observation/ab"),))
    assert ev("serotype_in", new, serotypes=["achr"], result_within_days=3652).state == "pass"


def test_refractory():
    assert ev("refractory").state == "pass"
    assert ev("refractory", assessment=FakeAssessment(cn_status="not-met-severity")).state == "fail"
    assert ev("refractory", assessment=FakeAssessment(cn_status="indeterminate")).state == "unknown"


def test_mgfa_class_in():
    cls = ["IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb"]
    rec = record(mgfa_class=(CodedAssessment("mgfa-class", "IIIb", date(2026, 11, 1), "Observation/c"),))
    assert ev("mgfa_class_in", rec, classes=cls).state == "pass"
    rec = record(mgfa_class=(CodedAssessment("mgfa-class", "V", date(2026, 11, 1), "Observation/c"),))
    assert ev("mgfa_class_in", rec, classes=cls).state == "fail"
    rec = record(mgfa_class=(CodedAssessment("mgfa-class", "IIIb", date(2025, 1, 1), "Observation/c"),))
    assert ev("mgfa_class_in", rec, classes=cls).state == "unknown"  # too old for a baseline


def test_mg_adl_with_ocular_share():
    args = dict(min_total=5, ocular_share_max=0.5, ocular_share_inclusive=False)
    assert ev("mg_adl_min_with_ocular_share", record(mg_adl=(adl(8, 1, 1),)), **args).state == "pass"
    assert ev("mg_adl_min_with_ocular_share", record(mg_adl=(adl(8, 2, 2),)), **args).state == "fail"  # exactly 50%
    incl = dict(args, ocular_share_inclusive=True)
    assert ev("mg_adl_min_with_ocular_share", record(mg_adl=(adl(8, 2, 2),)), **incl).state == "pass"
    assert ev("mg_adl_min_with_ocular_share", record(mg_adl=(adl(4),)), **args).state == "fail"
    assert ev("mg_adl_min_with_ocular_share", record(mg_adl=(adl(8, items=False),)), **args).state == "unknown"
    assert ev("mg_adl_min_with_ocular_share", record(), **args).state == "unknown"


def test_qmg_min_strict():
    rec = lambda v: record(scores=(ScoreResult("qmg-total", v, date(2026, 11, 1), "Observation/q"),))  # noqa: E731
    assert ev("qmg_min", rec(11), min=11, strict=True).state == "fail"
    assert ev("qmg_min", rec(12), min=11, strict=True).state == "pass"
    assert ev("qmg_min", rec(11), min=11, strict=False).state == "pass"
    assert ev("qmg_min", min=11, strict=True).state == "unknown"


def test_relapse_despite_therapy():
    on = (exposure("prednisone", start=date(2024, 1, 1)),)
    args = dict(classes=["glucocorticoid", "nsist", "anti-cd20"])
    assert ev("relapse_despite_therapy", record(exposures=on), **args).state == "unknown"
    rec = record(exposures=on, rescue_courses=(RescueCourse("ivig", date(2025, 3, 1), date(2025, 3, 5), ("x",)),))
    assert ev("relapse_despite_therapy", rec, **args).state == "pass"


def test_pregnancy_absent():
    assert ev("pregnancy_absent", record(sex="male")).state == "pass"
    assert ev("pregnancy_absent", record()).state == "unknown"
    assert ev("pregnancy_absent", record(pregnancy=PregnancyStatus("pregnant", TODAY, "Observation/p"))).state == "fail"
    assert ev("pregnancy_absent", record(pregnancy=PregnancyStatus("not-pregnant", TODAY, "Observation/p"))).state == "pass"


def test_condition_and_infection_absent():
    assert ev("condition_absent_within", concepts=["sepsis"]).state == "pass"
    assert ev("condition_absent_within", record(conditions=(cond("sepsis"),)), concepts=["sepsis"]).state == "fail"
    assert ev("condition_absent_within", record(unavailable=frozenset({"conditions"})), concepts=["sepsis"]).state == "unknown"
    args = dict(conditions=["hepatitis-b", "hepatitis-c"], fail_if_positive=["hbsag", "hbv-dna", "hcv-rna"],
                pass_requires_negative=[["hbsag"], ["hcv-antibody", "hcv-rna"]])
    assert ev("infection_absent", **args).state == "unknown"
    neg = record(measurements=(m("hbsag", None, None, interpretation="negative"),
                               m("hcv-antibody", None, None, interpretation="negative")))
    assert ev("infection_absent", neg, **args).state == "pass"
    pos = record(measurements=(m("hbsag", None, None, interpretation="positive"),))
    assert ev("infection_absent", pos, **args).state == "fail"
    assert ev("infection_absent", record(conditions=(cond("hepatitis-b"),)), **args).state == "fail"


def test_drug_absent_within_and_lapse_date():
    args = dict(classes=["glucocorticoid"], days=28)
    assert ev("drug_absent_within", **args).state == "pass"
    ongoing = record(exposures=(exposure("prednisone", start=date(2026, 1, 1)),))
    r = ev("drug_absent_within", ongoing, **args)
    assert r.state == "fail" and r.lapses_on is None
    stopped = record(exposures=(exposure("prednisone", start=date(2026, 1, 1),
                                         end=date(2026, 11, 10), status="completed"),))
    r = ev("drug_absent_within", stopped, **args)
    assert r.state == "fail" and r.lapses_on == date(2026, 12, 8)
    long_ago = record(exposures=(exposure("prednisone", start=date(2025, 1, 1),
                                          end=date(2025, 6, 1), status="completed"),))
    assert ev("drug_absent_within", long_ago, **args).state == "pass"


def test_procedure_absent_within_and_lapse_date():
    rec = record(procedures=(ProcedureFact("thymectomy", date(2026, 3, 1), None, "completed", "Procedure/t"),))
    r = ev("procedure_absent_within", rec, concept="thymectomy", days=365)
    assert r.state == "fail" and r.lapses_on == date(2027, 3, 1)
    old = record(procedures=(ProcedureFact("thymectomy", date(2024, 3, 1), None, "completed", "Procedure/t"),))
    assert ev("procedure_absent_within", old, concept="thymectomy", days=365).state == "pass"
    assert ev("procedure_absent_within", record(unavailable=frozenset({"procedures"})),
              concept="thymectomy", days=365).state == "unknown"


def test_lab_limits():
    assert ev("lab_max", concept="creatinine", max=2.5, unit="mg/dL").state == "unknown"
    hi = record(measurements=(m("creatinine", 2.6, "mg/dL"),))
    assert ev("lab_max", hi, concept="creatinine", max=2.5, unit="mg/dL").state == "fail"
    ok = record(measurements=(m("creatinine", 2.5, "mg/dL"),))
    assert ev("lab_max", ok, concept="creatinine", max=2.5, unit="mg/dL").state == "pass"
    alt = record(measurements=(m("alt", 130.0, "U/L", ref_high=40.0),))
    assert ev("lab_max_times_uln", alt, concept="alt", times=3).state == "fail"
    alt_no_ref = record(measurements=(m("alt", 30.0, "U/L"),))
    assert ev("lab_max_times_uln", alt_no_ref, concept="alt", times=3).state == "unknown"


def test_steroid_dose_and_stability():
    on = record(exposures=(exposure("methylprednisolone", start=date(2026, 10, 1), mg_per_day=36.0),))
    r = ev("glucocorticoid_max_mg_per_day", on, max=40)
    assert r.state == "fail" and "45" in r.reason  # 36 mg x 1.25
    r = ev("therapy_stable_for", on, classes=["glucocorticoid"], days=56)
    assert r.state == "fail" and r.lapses_on == date(2026, 11, 26)
    assert ev("therapy_stable_for", classes=["nsist"], days=56).state == "pass"


def test_combinators_and_screening():
    crit = [{"kind": "age_min", "args": {"years": 18}}, {"kind": "qmg_min", "args": {"min": 11}}]
    assert ev("all_of", criteria=crit).state == "unknown"
    assert ev("any_of", criteria=crit).state == "pass"
    assert ev("screening").state == "unknown"
    assert ev("no_such_kind").state == "unknown"


def eligible_record(**kw):
    base = dict(
        sex="male",
        mgfa_class=(CodedAssessment("mgfa-class", "IIIa", date(2026, 11, 1), "Observation/c"),),
        mg_adl=(adl(9, 1, 1),),
        scores=(ScoreResult("qmg-total", 16, date(2026, 11, 1), "Observation/q"),),
        antibodies=(AntibodyResult("achr-binding", "cba", "positive", 5.0, "nmol/L", date(2024, 1, 1), "Observation/ab"),),
        exposures=(exposure("azathioprine", start=date(2025, 1, 1)),),
        measurements=(m("hbsag", None, None, interpretation="negative"),
                      m("hcv-antibody", None, None, interpretation="negative"),
                      m("hiv-ag-ab", None, None, interpretation="negative"),
                      m("creatinine", 0.9, "mg/dL"), m("alt", 20.0, "U/L", ref_high=40.0),
                      m("ast", 22.0, "U/L", ref_high=40.0), m("bilirubin-total", 0.6, "mg/dL")),
        rescue_courses=(RescueCourse("plex", date(2025, 9, 1), date(2025, 9, 10), ("Procedure/p",)),),
    )
    base.update(kw)
    return record(**base)


def test_outcome_codes_candidate_possible_excluded():
    ms = {x.trial.nct: x for x in trials.match_trials(eligible_record(), A, P)}
    assert ms["NCT05828225"].finding.code == "trial.NCT05828225.candidate"
    assert "To confirm at screening" in ms["NCT05828225"].finding.text
    steroid = eligible_record(exposures=(exposure("prednisone", start=date(2025, 1, 1),
                                                  end=date(2026, 11, 1), status="completed"),))
    x = {x.trial.nct: x for x in trials.match_trials(steroid, A, P)}["NCT05828225"]
    assert x.outcome == "excluded" and [r.id for r in x.deciding] == ["E7"]
    assert x.lapses_on == date(2026, 11, 29) and x.finding.data["lapses_on"] == "2026-11-29"
    no_qmg = eligible_record(scores=())
    x = {x.trial.nct: x for x in trials.match_trials(no_qmg, A, P)}["NCT05828225"]
    assert x.finding.code == "trial.NCT05828225.possible" and x.finding.data["deciding"] == ["I5"]


def test_order_and_card():
    ms = trials.match_trials(eligible_record(), FakeAssessment(serotype="achr"), P)
    outcomes = [x.outcome for x in ms]
    assert outcomes == sorted(outcomes, key=trials.OUTCOME_ORDER.get)
    cards = trial_cards(eligible_record(), A, P)
    assert len(cards) == 1
    j = cards[0].to_json()
    codes = [f["code"] for f in j["extension"]["gmg-cds"]["findings"]]
    assert codes[0].endswith(".candidate") and len(codes) == len(trials.load_trials())
    assert "Excluded" in j["detail"] or all(not c.endswith("excluded") for c in codes)
    assert trial_cards(eligible_record(), FakeAssessment(mg_status="ocular-only"), P) == []


def test_trial_end_date_passed_is_flagged():
    x = {x.trial.nct: x for x in trials.match_trials(eligible_record(), A, P)}["NCT05828225"]
    assert "has passed" in x.finding.data["status"]


@pytest.mark.parametrize("sero", ["musk", "seronegative"])
def test_achr_only_trials_excluded_for_other_serotypes(sero):
    x = {x.trial.nct: x for x in trials.match_trials(eligible_record(), FakeAssessment(serotype=sero), P)}
    assert x["NCT05828225"].outcome == "excluded"
    assert x["NCT06799247"].outcome == "excluded"


def test_old_infection_screen_is_unknown():
    args = dict(conditions=[], fail_if_positive=["hiv-ag-ab"], pass_requires_negative=[["hiv-ag-ab"]])
    old = record(measurements=(m("hiv-ag-ab", None, None, when=date(2020, 1, 1), interpretation="negative"),))
    assert ev("infection_absent", old, **args).state == "unknown"
    new = record(measurements=(m("hiv-ag-ab", None, None, when=date(2026, 6, 1), interpretation="negative"),))
    assert ev("infection_absent", new, **args).state == "pass"


def test_creatinine_in_umol_per_l_is_converted():
    hi = record(measurements=(m("creatinine", 240.0, "umol/L"),))  # 2.71 mg/dL
    r = ev("lab_max", hi, concept="creatinine", max=2.5, unit="mg/dL")
    assert r.state == "fail" and "2.7" in r.reason

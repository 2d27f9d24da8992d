"""No rule falls back to an older value when the latest could not be read (gmg/unread.py).

An EHR that writes an MGFA class, PIS or score as text the service cannot read ("Class II"
without a/b, "about 17") leaves the latest value of that kind unknown. Every rule that reads "the
latest" of those series (criterion 1's MGFA class, criterion 2's MG-ADL, the PIS of criteria
3-1/3-2, and the trial criteria on MGFA class, MG-ADL and QMG) reads it through one helper,
`gmg.unread.latest_value`; the trial criteria say which value on which date made them unknown,
on the card and in the finding's evidence and data.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from gmg import trials
from gmg.diagnosis import latest_mgfa_class
from gmg.parameters import load
from gmg.record import CodedAssessment, ScoreResult, UnreadValue
from gmg.severity import criterion_2, latest_pis
from gmg.unread import latest_value
from hooks import patient_view
from hooks.i18n import use_language
from hooks.registry import HookCall
from tests.conftest import TODAY
from tests.test_demo_patients import DEMO, prefetch_of
from tests.test_i18n_complete import english_runs
from tests.test_trials import adl, eligible_record
from therapy_fixtures import FakeAssessment, record

P = load()
A = FakeAssessment()
OLD = date(2026, 11, 1)  # a readable value inside every window
NEW = date(2026, 11, 15)  # a later value that does not read as one value
WINDOW = int(P["trial_baseline_max_age_days"])


def unread(kind: str, text: str, when: date = NEW, rid: str = "new") -> UnreadValue:
    return UnreadValue(kind=kind, text=text, when=when, source=f"Observation/{rid}")


MGFA_OLD = (CodedAssessment("mgfa-class", "IIIb", OLD, "Observation/c"),)
QMG_OLD = (ScoreResult("qmg-total", 16, OLD, "Observation/q"),)


# -- the shared helper ----------------------------------------------------------------------------


def test_latest_value_is_the_latest_readable_unless_a_later_one_could_not_be_read():
    r = record(mgfa_class=MGFA_OLD)
    assert latest_value(r, "mgfa-class").value == MGFA_OLD[0]
    later = record(mgfa_class=MGFA_OLD, unread_values=(unread("mgfa-class", "Class II"),))
    got = latest_value(later, "mgfa-class")
    assert got.value is None and got.unread is not None and got.unread.text == "Class II"
    same_day = record(mgfa_class=MGFA_OLD, unread_values=(unread("mgfa-class", "Class II", OLD),))
    assert latest_value(same_day, "mgfa-class").value is None  # on the same day: which one is latest is unknown
    earlier = record(mgfa_class=MGFA_OLD, unread_values=(unread("mgfa-class", "Class II", OLD - timedelta(days=1)),))
    assert latest_value(earlier, "mgfa-class").value == MGFA_OLD[0]  # superseded by a readable one
    future = record(mgfa_class=MGFA_OLD, unread_values=(unread("mgfa-class", "Class II", TODAY + timedelta(days=3)),))
    assert latest_value(future, "mgfa-class").value == MGFA_OLD[0]
    other_kind = record(mgfa_class=MGFA_OLD, unread_values=(unread("mgfa-pis", "better"),))
    assert latest_value(other_kind, "mgfa-class").value == MGFA_OLD[0]


def test_latest_value_with_a_window():
    stale = date(2024, 1, 1)
    r = record(scores=(ScoreResult("qmg-total", 16, stale, "Observation/q"),),
               unread_values=(unread("qmg-total", "about 17", stale + timedelta(days=1)),))
    assert latest_value(r, "qmg-total", 30) == latest_value(record(), "qmg-total", 30)  # both outside the window
    r = record(unread_values=(unread("qmg-total", "about 17"),))
    assert latest_value(r, "qmg-total", 30).unread is not None  # no readable one, the unread one is recent


# -- every consumer reads it the same way ------------------------------------------------------------


def test_every_rule_reading_the_latest_value_refuses_the_older_one():
    r = record(
        mgfa_class=MGFA_OLD,
        pis=(CodedAssessment("mgfa-pis", "U", OLD, "Observation/p"),),
        mg_adl=(adl(9, 1, 1, when=OLD),),
        scores=QMG_OLD,
        unread_values=(unread("mgfa-class", "Class II", rid="c2"), unread("mgfa-pis", "better", rid="p2"),
                       unread("mg-adl-total", "7-8", rid="a2"), unread("qmg-total", "about 17", rid="q2")),
    )
    assert latest_mgfa_class(r) is None
    assert latest_pis(r, P) is None
    sev = criterion_2(r, P)
    assert sev.met is None and sev.gaps[0].evidence[0].source == "Observation/a2"
    results = {kind: trials.evaluate(trials.Criterion("X", "inclusion", "t", kind, args), r, A, P)
               for kind, args in (("mgfa_class_in", {"classes": ["IIIb"]}),
                                  ("mg_adl_min_with_ocular_share", {"min_total": 5}),
                                  ("qmg_min", {"min": 11}))}
    assert {k: x.state for k, x in results.items()} == dict.fromkeys(results, "unknown")
    assert [x.evidence[0].source for x in results.values()] == ["Observation/c2", "Observation/a2", "Observation/q2"]
    # without the unreadable values every one of them decides from the readable value
    clean = record(mgfa_class=r.mgfa_class, pis=r.pis, mg_adl=r.mg_adl, scores=r.scores)
    assert latest_mgfa_class(clean) and latest_pis(clean, P) and criterion_2(clean, P).met is True
    assert all(trials.evaluate(trials.Criterion("X", "inclusion", "t", x.kind, args), clean, A, P).state == "pass"
               for x, args in zip(results.values(), ({"classes": ["IIIb"]}, {"min_total": 5}, {"min": 11})))


# -- the trial criteria -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "args", "readable", "unread_value", "words"), [
    ("mgfa_class_in", {"classes": ["IIIb"]}, {"mgfa_class": MGFA_OLD}, unread("mgfa-class", "Class II"),
     'MGFA class recorded as "Class II" on 2026-11-15'),
    ("mgfa_class_in", {"classes": ["V"]}, {"mgfa_class": MGFA_OLD}, unread("mgfa-class", "Class II"),
     'MGFA class recorded as "Class II" on 2026-11-15'),  # nor does the older value fail it
    ("qmg_min", {"min": 11, "strict": True}, {"scores": QMG_OLD}, unread("qmg-total", "about 17"),
     'QMG total recorded as "about 17" on 2026-11-15'),
    ("mg_adl_min_with_ocular_share", {"min_total": 5, "ocular_share_max": 0.5}, {"mg_adl": (adl(9, 1, 1, when=OLD),)},
     unread("mg-adl-total", "7-8"), 'MG-ADL total recorded as "7-8" on 2026-11-15'),
])
def test_a_trial_criterion_is_unknown_when_the_latest_value_could_not_be_read(kind, args, readable, unread_value, words):
    c = trials.Criterion("X", "inclusion", "t", kind, args)
    before = trials.evaluate(c, record(**readable), A, P)
    assert before.state in ("pass", "fail")
    after = trials.evaluate(c, record(**readable, unread_values=(unread_value,)), A, P)
    assert after.state == "unknown"
    assert after.reason == f"the latest {words} does not read as one value"
    (e,) = after.evidence
    assert (e.value, e.when, e.source) == (f'"{unread_value.text}" (not one value)', NEW, "Observation/new")


def test_an_unreadable_value_outside_the_baseline_window_leaves_the_usual_reason():
    old = date(2026, 11, 22) - timedelta(days=WINDOW + 10)
    r = record(unread_values=(unread("mgfa-class", "Class II", old),))
    got = trials.evaluate(trials.Criterion("X", "inclusion", "t", "mgfa_class_in", {"classes": ["IIIb"]}), r, A, P)
    assert (got.state, got.reason) == ("unknown", f"none in {WINDOW} days")


def test_the_trial_finding_names_the_unreadable_value_in_its_evidence_and_data():
    base = {x.trial.nct: x for x in trials.match_trials(eligible_record(), A, P)}
    assert base["NCT05828225"].outcome == "candidate"
    r = eligible_record(unread_values=(unread("mgfa-class", "Class II"),))
    x = {x.trial.nct: x for x in trials.match_trials(r, A, P)}["NCT05828225"]
    assert x.outcome == "possible" and x.finding.data["deciding"] == ["I3"]
    i3 = next(c for c in x.finding.data["criteria"] if c["id"] == "I3")
    assert i3["state"] == "unknown" and 'MGFA class recorded as "Class II" on 2026-11-15' in i3["reason"]
    assert [e.source for e in x.finding.evidence] == ["Observation/new"]
    assert 'MGFA class recorded as "Class II" on 2026-11-15' in x.finding.text


# -- end to end: a demo patient's chart with a later MGFA class / QMG / MG-ADL written as text ---------


def _obs(rid: str, code: str, when: date, text: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final", "effectiveDateTime": when.isoformat(),
            "subject": {"reference": "Patient/x"},
            "code": {"coding": [{"system": "https://gmg-cds.github.io/fhir/CodeSystem/mg-scores", "code": code}]},
            "valueString": text}


def _cards(extra: list[dict[str, Any]], language: str = "en"):
    pid, prefetch = prefetch_of(json.loads((DEMO / "therapy-achr.json").read_text(encoding="utf-8")))
    for o in extra:
        o["subject"]["reference"] = f"Patient/{pid}"
        prefetch["observations"]["entry"].append({"resource": o})
    call = HookCall("gmg-patient-view", "patient-view", "h", {"patientId": pid, "userId": "Practitioner/1"},
                    prefetch, frozenset(), TODAY, language=language)
    with use_language(language):
        return [c.to_json() for c in patient_view.handle(call)]


def _trial_card(cards):
    return next(c for c in cards if any(f["code"].startswith("trial.") for f in c["extension"]["gmg-cds"]["findings"]))


@pytest.mark.parametrize(("code", "text", "nct", "criterion", "what"), [
    ("mgfa-class", "Class II", "NCT06799247", "I-mgfa", "MGFA class"),
    ("qmg-total", "about 17", "NCT06688435", "I-qmg", "QMG total"),
    ("mg-adl-total", "7-8", "NCT06799247", "I-adl", "MG-ADL total"),
])
def test_the_trial_card_says_which_value_could_not_be_read(code, text, nct, criterion, what):
    before = {f["code"] for f in _trial_card(_cards([]))["extension"]["gmg-cds"]["findings"]}
    assert f"trial.{nct}.candidate" in before  # the demo patient's readable values (2026-11-10) pass
    card = _trial_card(_cards([_obs("unread-1", code, NEW, text)]))
    findings = {f["code"]: f for f in card["extension"]["gmg-cds"]["findings"]}
    f = findings[f"trial.{nct}.possible"]
    assert criterion in f["deciding"]
    assert any(e.get("reference") == "Observation/unread-1" for e in f["evidence"]), f["evidence"]
    assert f'the latest {what} recorded as "{text}" on {NEW.isoformat()} does not read as one value' in card["detail"]


def test_the_chinese_trial_card_says_it_in_chinese():
    card = _trial_card(_cards([_obs("unread-1", "mgfa-class", NEW, "Class II")], "zh-CN"))
    assert "最近的MGFA 临床分型记录为“Class II”（2026-11-15），不能读作单一数值" in card["detail"]
    assert english_runs(card["detail"]) == []


# -- one reading: no rule reads these series by itself -------------------------------------------------

# Rules that read every value of a series in a window rather than "the latest" (an unreadable
# value does not make an older one stand in there): acute.py (any MGFA class V within
# acute_window_days) and trials.py's relapse criterion (any PIS E or W after treatment start).
SERIES = ("mgfa_class", "pis", "mg_adl", "scores")
READS_EVERY_VALUE = {("acute.py", "mgfa_class"), ("trials.py", "pis"), ("unread.py", "mgfa_class"),
                     ("unread.py", "pis"), ("unread.py", "mg_adl"), ("unread.py", "scores")}


def test_the_rules_read_mgfa_class_pis_and_scores_only_through_the_shared_helper():
    import ast
    from pathlib import Path

    import gmg

    found = set()
    for path in Path(gmg.__file__).parent.rglob("*.py"):
        if path.name == "record.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in SERIES:
                found.add((path.name, node.attr))
    assert found <= READS_EVERY_VALUE, sorted(found - READS_EVERY_VALUE)
    assert ("unread.py", "mgfa_class") in found  # the check does see attribute reads

"""Medication exposures, rescue courses, adverse events and intolerances, procedures, vaccines."""

from __future__ import annotations

from datetime import date

import pytest

from tests.test_mappings_builders import (
    CPT,
    CVX,
    GMG,
    LOINC,
    RXNORM,
    SCT,
    TODAY,
    cc,
    condition,
    issues,
    med_admin,
    med_request,
    med_statement,
    obs,
    procedure,
    qty,
    record_of,
)

PREDNISONE, AZATHIOPRINE, METHOTREXATE, MYCOPHENOLATE = "8640", "1256", "6851", "68149"
METHYLPRED, IVIG, ECULIZUMAB, TACROLIMUS = "6902", "5666", "591781", "42316"
IV, ORAL, SC = "47625008", "26643006", "34206005"


def weight(rid: str, kg: float, when: str) -> dict:
    return obs(rid, LOINC, "29463-7", when, category="vital-signs", valueQuantity=qty(kg, "kg"))


# -- exposures -------------------------------------------------------------------------------


def test_prednisone_request_daily_dose_and_mg_per_kg_with_nearest_weight() -> None:
    r = record_of(
        med_request("rx1", PREDNISONE, dose=qty(40, "mg"), bounds={"start": "2026-03-01"}),
        weight("w-old", 100, "2020-01-01"),
        weight("w-near", 80, "2026-02-20"),
    )
    (e,) = r.exposures
    assert (e.ingredient, e.kind, e.status, e.route) == ("prednisone", "request", "active", "oral")
    assert "glucocorticoid" in e.drug_classes
    assert (e.start, e.end) == (date(2026, 3, 1), None)
    assert (e.dose_mg, e.mg_per_day, e.mg_per_week) == (40.0, 40.0, 280.0)
    assert e.weight_kg == 80 and e.mg_per_kg_per_day == pytest.approx(0.5)
    assert e.source == "MedicationRequest/rx1"
    assert e.active_on(TODAY)


def test_twice_daily_in_grams_converts_to_mg_per_day() -> None:
    r = record_of(med_request("mmf", MYCOPHENOLATE, dose=qty(0.75, "g"), frequency=2))
    (e,) = r.exposures
    assert e.dose_mg == 750 and e.mg_per_day == 1500


def test_weekly_methotrexate_gives_mg_per_week() -> None:
    (e,) = record_of(med_request("mtx", METHOTREXATE, dose=qty(15, "mg"), period=1, period_unit="wk")).exposures
    assert e.mg_per_week == pytest.approx(15) and e.mg_per_day == pytest.approx(15 / 7)


def test_microgram_dose_converts() -> None:
    (e,) = record_of(med_request("tac", TACROLIMUS, dose=qty(1500, "ug"), frequency=2)).exposures
    assert e.dose_mg == pytest.approx(1.5) and e.mg_per_day == pytest.approx(3.0)


def test_dose_without_unit_is_unknown_with_note() -> None:
    r = record_of(med_request("aza", AZATHIOPRINE, dose={"value": 100}, text="100 once daily"))
    (e,) = r.exposures
    assert e.dose_mg is None and e.mg_per_day is None and e.dose_text == "100 once daily"
    assert any("without a unit" in i for i in issues(r, "MedicationRequest/aza"))


def test_tablet_unit_is_not_converted() -> None:
    r = record_of(med_request("aza", AZATHIOPRINE, dose={"value": 2, "unit": "tablet"}))
    assert r.exposures[0].dose_mg is None
    assert any("not a mass unit" in i for i in issues(r, "MedicationRequest/aza"))


def test_text_only_dosage_is_kept_as_text() -> None:
    r = record_of(med_request("p", PREDNISONE, frequency=None, period=None, route=None, text="prednisone 20 mg every morning"))
    (e,) = r.exposures
    assert e.dose_mg is None and e.dose_text == "prednisone 20 mg every morning"


def test_timing_code_bid() -> None:
    res = med_request("a", AZATHIOPRINE, dose=qty(50, "mg"), frequency=None, period=None)
    res["dosageInstruction"][0]["timing"] = {"code": cc("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "BID")}
    (e,) = record_of(res).exposures
    assert e.mg_per_day == 100


def test_statement_period_and_status() -> None:
    r = record_of(med_statement("ms", AZATHIOPRINE, status="completed", start="2024-01-01", end="2024-12-31", dose=qty(150, "mg")))
    (e,) = r.exposures
    assert (e.kind, e.status, e.start, e.end, e.mg_per_day) == ("statement", "completed", date(2024, 1, 1), date(2024, 12, 31), 150)
    assert e.active_on(date(2024, 6, 1)) and not e.active_on(TODAY)


def test_product_rxnorm_code_maps_to_ingredient() -> None:
    (e,) = record_of(med_request("ecu", "680973", dose=qty(1200, "mg"), period=2, period_unit="wk", route=IV)).exposures
    assert e.ingredient == "eculizumab" and "c5-inhibitor" in e.drug_classes and e.route == "iv"


def test_medication_reference_to_contained_and_bundled_medication() -> None:
    contained = med_request("c", "000", dose=qty(50, "mg"))
    del contained["medicationCodeableConcept"]
    contained["medicationReference"] = {"reference": "#m1"}
    contained["contained"] = [{"resourceType": "Medication", "id": "m1", "code": cc(RXNORM, AZATHIOPRINE)}]
    bundled = med_request("b", "000", dose=qty(10, "mg"))
    del bundled["medicationCodeableConcept"]
    bundled["medicationReference"] = {"reference": "Medication/med-pred"}
    from tests.test_mappings_builders import PID, TODAY as T, patient, searchset
    from fhir_mappings import build_record

    pre = {
        "patient": patient(),
        "medicationRequests": searchset(
            [contained, bundled],
            include=[{"resourceType": "Medication", "id": "med-pred", "code": cc(RXNORM, PREDNISONE)}],
        ),
    }
    r = build_record(pre, PID, T)
    assert sorted(e.ingredient for e in r.exposures) == ["azathioprine", "prednisone"]


def test_unresolvable_medication_reference_is_noted() -> None:
    res = med_request("u", "000")
    del res["medicationCodeableConcept"]
    res["medicationReference"] = {"reference": "Medication/missing"}
    r = record_of(res)
    assert r.exposures == () and any("does not resolve" in i for i in issues(r, "MedicationRequest/u"))


def test_unknown_drug_is_passed_over_silently() -> None:
    r = record_of(med_request("x", "316049", dose=qty(25, "mg")))  # hydrochlorothiazide
    assert r.exposures == () and r.notes == ()


def test_bounds_duration_sets_the_end() -> None:
    res = med_request("d", PREDNISONE, dose=qty(60, "mg"), authored="2026-05-01")
    res["dosageInstruction"][0]["timing"]["repeat"]["boundsDuration"] = {"value": 10, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}
    (e,) = record_of(res).exposures
    assert (e.start, e.end) == (date(2026, 5, 1), date(2026, 5, 10))


def test_statement_and_request_overlap_keeps_the_structured_dose() -> None:
    st = med_statement("st", AZATHIOPRINE, start="2026-01-01", text="azathioprine as directed")
    rq = med_request("rq", AZATHIOPRINE, dose=qty(150, "mg"), bounds={"start": "2026-02-01"})
    r = record_of(st, rq)
    (e,) = r.exposures
    assert e.source == "MedicationRequest/rq"
    assert any("duplicate of MedicationRequest/rq" in i for i in issues(r, "MedicationStatement/st"))


def test_statement_with_dose_wins_over_request_without() -> None:
    st = med_statement("st", AZATHIOPRINE, start="2026-01-01", dose=qty(100, "mg"))
    rq = med_request("rq", AZATHIOPRINE, bounds={"start": "2026-02-01"})
    (e,) = record_of(st, rq).exposures
    assert e.source == "MedicationStatement/st"


def test_non_overlapping_statement_and_request_are_both_kept() -> None:
    st = med_statement("st", AZATHIOPRINE, status="completed", start="2020-01-01", end="2020-06-01", dose=qty(100, "mg"))
    rq = med_request("rq", AZATHIOPRINE, dose=qty(150, "mg"), bounds={"start": "2026-02-01"})
    assert len(record_of(st, rq).exposures) == 2


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "draft"])
def test_non_exposure_statuses_are_left_out(status: str) -> None:
    r = record_of(med_request("rq", AZATHIOPRINE, status=status, dose=qty(150, "mg")))
    assert r.exposures == () and issues(r, "MedicationRequest/rq")


def test_stopped_request_without_end_is_not_active_after_its_start() -> None:
    (e,) = record_of(med_request("rq", AZATHIOPRINE, status="stopped", dose=qty(150, "mg"), bounds={"start": "2026-01-01"})).exposures
    assert e.active_on(date(2026, 1, 1)) and not e.active_on(TODAY)


def test_administration_dose_and_day() -> None:
    (e,) = record_of(med_admin("ad", ECULIZUMAB, "2026-10-01T10:00:00+02:00", dose=qty(1200, "mg"))).exposures
    assert (e.kind, e.start, e.end, e.dose_mg, e.mg_per_day, e.route) == ("administration", date(2026, 10, 1), date(2026, 10, 1), 1200, 1200, "iv")
    assert e.active_on(date(2026, 10, 1)) and not e.active_on(date(2026, 10, 2))


# -- rescue courses --------------------------------------------------------------------------


def test_ivig_days_within_gap_form_one_course_and_later_days_another() -> None:
    days = ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-17", "2026-06-01"]
    admins = [med_admin(f"iv{i}", IVIG, d, dose=qty(30, "g")) for i, d in enumerate(days)]
    r = record_of(*admins)
    courses = [(c.modality, c.start, c.end) for c in r.rescue_courses]
    assert courses == [
        ("ivig", date(2026, 2, 1), date(2026, 2, 17)),
        ("ivig", date(2026, 6, 1), date(2026, 6, 1)),
    ]
    assert r.rescue_courses[0].sources == ("MedicationAdministration/iv0", "MedicationAdministration/iv1", "MedicationAdministration/iv2", "MedicationAdministration/iv3")


def test_rescue_gap_is_a_parameter() -> None:
    admins = [med_admin("a", IVIG, "2026-02-01"), med_admin("b", IVIG, "2026-02-20")]
    assert len(record_of(*admins).rescue_courses) == 2
    assert len(record_of(*admins, rescue_gap_days=30).rescue_courses) == 1


def test_plex_procedures_and_immunoadsorption() -> None:
    r = record_of(
        procedure("p1", SCT, "20720000", "2026-04-01"),
        procedure("p2", CPT, "36514", "2026-04-03"),
        procedure("p3", SCT, "20720000", "2026-04-05", status="not-done"),
        procedure("ia", CPT, "36516", {"start": "2026-08-01", "end": "2026-08-05"}),
        procedure("thy", SCT, "43450002", "2020-05-01"),
    )
    assert [(c.modality, c.start, c.end) for c in r.rescue_courses] == [
        ("plex", date(2026, 4, 1), date(2026, 4, 3)),
        ("immunoadsorption", date(2026, 8, 1), date(2026, 8, 5)),
    ]
    assert {p.concept for p in r.procedures} == {"plex", "immunoadsorption", "thymectomy"}
    assert [p.start for p in r.procedures if p.concept == "thymectomy"] == [date(2020, 5, 1)]


def test_ivig_infusion_procedure_is_an_ivig_course() -> None:
    r = record_of(procedure("ivp", SCT, "698802001", "2026-03-03"))
    assert [c.modality for c in r.rescue_courses] == ["ivig"]


def test_ivmp_needs_iv_route_and_threshold() -> None:
    pulse = [med_admin(f"mp{i}", METHYLPRED, f"2026-05-0{i + 1}", dose=qty(1, "g")) for i in range(3)]
    low = med_admin("low", METHYLPRED, "2026-09-01", dose=qty(125, "mg"))
    unrouted = med_admin("nr", METHYLPRED, "2026-10-01", dose=qty(1000, "mg"), route=None)
    r = record_of(*pulse, low, unrouted)
    assert [(c.modality, c.start, c.end) for c in r.rescue_courses] == [("ivmp", date(2026, 5, 1), date(2026, 5, 3))]
    assert any("without an IV route" in i for i in issues(r, "MedicationAdministration/nr"))
    assert record_of(low, ivmp_min_mg_per_day=100).rescue_courses[0].modality == "ivmp"


def test_ivmp_from_a_request_with_daily_dose() -> None:
    rq = med_request("pulse", METHYLPRED, status="completed", dose=qty(500, "mg"), route=IV, bounds={"start": "2026-07-01", "end": "2026-07-03"})
    (c,) = record_of(rq).rescue_courses
    assert (c.modality, c.start, c.end) == ("ivmp", date(2026, 7, 1), date(2026, 7, 3))


def test_subcutaneous_immune_globulin_is_not_ivig_and_planned_infusions_do_not_count() -> None:
    sc = med_admin("sc", IVIG, "2026-02-01", route=SC)
    future = med_admin("fut", IVIG, "2026-12-20", status="in-progress")
    assert record_of(sc, future).rescue_courses == ()


# -- adverse events and intolerances ---------------------------------------------------------


def adverse_event(rid: str, suspect_ref: str, **extra) -> dict:
    res = {
        "resourceType": "AdverseEvent",
        "id": rid,
        "actuality": "actual",
        "subject": {"reference": "Patient/pat-1"},
        "date": "2026-06-10",
        "event": cc(SCT, "235595009", "Hepatotoxicity"),
        "suspectEntity": [{"instance": {"reference": suspect_ref}}],
    }
    res.update(extra)
    return res


def test_adverse_event_ctcae_extension_and_suspect_statement() -> None:
    st = med_statement("aza-st", AZATHIOPRINE, dose=qty(150, "mg"))
    ae = adverse_event(
        "ae1", "MedicationStatement/aza-st",
        extension=[{"url": GMG + "/StructureDefinition/ctcae-grade", "valueInteger": 3}],
        severity=cc("http://terminology.hl7.org/CodeSystem/adverse-event-severity", "mild"),
    )
    (a,) = record_of(st, ae).adverse_events
    assert (a.ingredient, a.grade, a.when, a.source) == ("azathioprine", 3, date(2026, 6, 10), "AdverseEvent/ae1")


def test_adverse_event_severity_and_contained_medication() -> None:
    ae = adverse_event("ae2", "#med", severity=cc("http://terminology.hl7.org/CodeSystem/adverse-event-severity", "moderate"))
    ae["contained"] = [{"resourceType": "Medication", "id": "med", "code": cc(RXNORM, PREDNISONE)}]
    (a,) = record_of(ae).adverse_events
    assert (a.ingredient, a.grade) == ("prednisone", 2)


def test_adverse_event_with_unresolvable_suspect_keeps_no_ingredient() -> None:
    r = record_of(adverse_event("ae3", "MedicationRequest/nowhere"))
    (a,) = r.adverse_events
    assert a.ingredient is None and a.grade is None
    assert issues(r, "AdverseEvent/ae3")


def test_allergy_intolerance_on_a_drug() -> None:
    ai = {
        "resourceType": "AllergyIntolerance",
        "id": "ai1",
        "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"),
        "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed"),
        "type": "intolerance",
        "category": ["medication"],
        "code": cc(RXNORM, AZATHIOPRINE),
        "patient": {"reference": "Patient/pat-1"},
        "recordedDate": "2025-04-02",
        "reaction": [{"manifestation": [cc(SCT, "422587007", "Nausea")], "severity": "moderate"}],
    }
    (i,) = record_of(ai).intolerances
    assert (i.ingredient, i.category, i.grade, i.recorded, i.clinical_status) == ("azathioprine", "intolerance", 2, date(2025, 4, 2), "active")


# -- conditions and vaccines -----------------------------------------------------------------


def test_mg_condition_with_statuses_and_dates() -> None:
    r = record_of(condition("mg", SCT, "230686005", onset="2019-03"))
    (c,) = r.conditions
    assert (c.concept, c.code, c.onset, c.recorded, c.clinical_status, c.verification_status) == (
        "mg-generalized", f"{SCT}|230686005", date(2019, 3, 1), date(2019, 4, 1), "active", "confirmed",
    )
    assert any("partial date" in i for i in issues(r, "Condition/mg"))


def test_icd_coded_exacerbation_and_resolved_thymoma() -> None:
    r = record_of(
        condition("ex", "http://hl7.org/fhir/sid/icd-10-cm", "G70.01", onset="2026-11-10"),
        condition("th", SCT, "444231005", clinical="resolved", abatementDateTime="2021-01-05"),
    )
    by = {c.concept: c for c in r.conditions}
    assert by["mg-exacerbation"].is_active
    assert not by["thymoma"].is_active and by["thymoma"].abatement == date(2021, 1, 5)


def test_immunizations_by_cvx() -> None:
    imm = {
        "resourceType": "Immunization",
        "id": "im1",
        "status": "completed",
        "vaccineCode": cc(CVX, "136"),
        "patient": {"reference": "Patient/pat-1"},
        "occurrenceDateTime": "2026-01-15",
        "primarySource": True,
    }
    (i,) = record_of(imm).immunizations
    assert (i.concept, i.cvx, i.when, i.status) == ("menacwy", "136", date(2026, 1, 15), "completed")


def test_proposal_is_not_an_exposure_but_a_patient_reported_plan_is() -> None:
    proposal = med_request("prop", AZATHIOPRINE, dose=qty(150, "mg"), intent="proposal")
    plan = med_request("plan", PREDNISONE, dose=qty(10, "mg"), intent="plan", reportedBoolean=True)
    r = record_of(proposal, plan)
    assert [e.source for e in r.exposures] == ["MedicationRequest/plan"]
    assert any("intent proposal" in i for i in issues(r, "MedicationRequest/prop"))

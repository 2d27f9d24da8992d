"""The prefetch describes the patient of the call (issue 15, F-14): a Patient resource that is not
`context.patientId` is refused with 400 and an OperationOutcome naming `prefetch.patient`;
resources whose subject is another patient are left out of the record (the cards do not use
them)."""

from __future__ import annotations

import pytest

from tests.security_helpers import empty_prefetch

PV = "/cds-services/gmg-patient-view"
MG = {"coding": [{"system": "http://snomed.info/sct", "code": "91637004", "display": "Myasthenia gravis"}]}


def body(patient: dict, conditions: list[dict] | None = None) -> dict:
    prefetch = empty_prefetch()
    prefetch["patient"] = patient
    prefetch["conditions"] = {"resourceType": "Bundle", "type": "searchset",
                              "entry": [{"resource": c} for c in conditions or []]}
    return {"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "patient-view",
            "context": {"userId": "Practitioner/doc1", "patientId": "p1"}, "prefetch": prefetch}


def mg_condition(subject: str) -> dict:
    return {"resourceType": "Condition", "id": f"mg-{subject.replace('/', '-')}", "code": MG,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "subject": {"reference": subject}, "onsetDateTime": "2019-03-01"}


@pytest.mark.parametrize("patient", [
    {"resourceType": "Patient", "id": "p2", "birthDate": "1970-01-01"},
    {"resourceType": "Patient", "birthDate": "1970-01-01"},
])
def test_a_prefetched_patient_that_is_not_the_context_patient_is_400(client, patient) -> None:
    resp = client.post(PV, json=body(patient))
    assert resp.status_code == 400
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["prefetch.patient"]
    assert "context.patientId" in issue["diagnostics"]


def test_resources_of_another_subject_are_ignored(client) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01"}
    own = client.post(PV, json=body(patient, [mg_condition("Patient/p1")]))
    assert own.status_code == 200 and own.get_json()["cards"]  # MG on record: the assessment card
    other = client.post(PV, json=body(patient, [mg_condition("Patient/p2")]))
    assert other.status_code == 200
    assert other.get_json()["cards"] == []  # the other patient's MG is not this patient's

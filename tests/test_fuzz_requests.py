"""Property-based fuzzing through the real app (Flask test client, real handlers): arbitrary
request bodies, well-formed envelopes with hostile field values, and the demo patients' FHIR
resources mutated at random places (wrong types, nulls, absurd numbers and dates, deleted or
duplicated elements) as prefetch for all three hooks. The property: never a 5xx, never a crash;
every 200 is a schema-valid CDS Hooks response; every other answer is an OperationOutcome.

Bounded (max_examples per test) so the file runs well under 60 s; the seed is derandomised so a
run is reproducible, and HYPOTHESIS_PROFILE=fuzz-long runs more examples when wanted.
"""

from __future__ import annotations

import copy
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from cds_service import validation
from cds_service.app import create_app
from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEMO = sorted((ROOT / "demo" / "bundles").glob("*.json"))
TODAY_ISO = "2026-11-22"
KEY_OF = {
    "Condition": "conditions", "Observation": "observations", "MedicationStatement": "medicationStatements",
    "MedicationRequest": "medicationRequests", "MedicationAdministration": "medicationAdministrations",
    "Procedure": "procedures", "Immunization": "immunizations", "AdverseEvent": "adverseEvents",
    "AllergyIntolerance": "allergies",
}
SERVICES = {"patient-view": "gmg-patient-view", "order-select": "gmg-order-select", "order-sign": "gmg-order-sign"}
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz-long"


def examples(n: int) -> int:
    return n * 10 if LONG else n


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from datetime import date

    tmp = tmp_path_factory.mktemp("fuzz")
    settings = Settings(env="local", database_url=f"sqlite:///{tmp / 'fuzz.sqlite3'}", cors_origins=("*",),
                        auth_required=False, evaluation_date=date(2026, 11, 22),
                        fhir_allowed_bases=("http://127.0.0.1:9/fhir",),  # a closed port: no call leaves
                        prefetch_budget_seconds=0.5, fhir_timeout_seconds=0.3)
    return create_app(settings, demo_fhir=False).test_client() if _accepts_demo_flag() else \
        create_app(settings).test_client()


def _accepts_demo_flag() -> bool:
    import inspect

    return "demo_fhir" in inspect.signature(create_app).parameters


def prefetch_of(bundle: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: {"resourceType": "Bundle", "type": "searchset", "entry": []} for k in KEY_OF.values()}
    for entry in bundle.get("entry", []):
        res = entry.get("resource") or {}
        rtype = res.get("resourceType")
        if rtype == "Patient":
            out["patient"] = res
        elif rtype in KEY_OF:
            out[KEY_OF[rtype]]["entry"].append({"resource": res})
    return out


DEMO_PREFETCH = [prefetch_of(json.loads(p.read_text())) for p in DEMO]


def envelope(hook: str, patient_id: str, prefetch: Any = None) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/fuzz", "patientId": patient_id}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft",
                          "intent": "order", "subject": {"reference": f"Patient/{patient_id}"},
                          "medicationCodeableConcept": {"coding": [
                              {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1791229"}]}}}]}
        if hook == "order-select":
            context["selections"] = ["MedicationRequest/draft-1"]
    body: dict[str, Any] = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def check(resp) -> None:  # noqa: ANN001
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    body = resp.get_json(silent=True)
    assert isinstance(body, dict), resp.get_data(as_text=True)[:200]
    if resp.status_code == 200 and "cards" in body:
        problem = validation.first_error("response.json", body)
        assert problem is None, (problem, _offending(body, problem[0]))
    elif resp.status_code != 200:
        assert body.get("resourceType") == "OperationOutcome"


def _offending(body: Any, path: str) -> str:
    """The value at a dotted/indexed path of the response (responses carry no request values)."""
    node = body
    for part in re.findall(r"[^.\[\]]+", path):
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return "?"
    return json.dumps(node)[:200]


# ---------------------------------------------------------------- strategies

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["", "2026-13-45", "0000-00-00", "1900", "2026-11-22T25:61:00Z", "9999-12-31",
                     "not-a-date", "-1", "NaN", "1e309", "\u0000", "Patient/", "../../etc/passwd",
                     "mg/kg", "kg", "[lb_av]", "%", TODAY_ISO]),
)
json_values = st.recursive(json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=12), kids, max_size=4)), max_leaves=20)
junk = st.one_of(json_leaf, st.just([]), st.just({}), st.just([None]), st.just({"value": None}),
                 st.just({"coding": "x"}), st.just([{"coding": [{}]}]), st.just(-1e308), st.just(10**400 // 10**380),
                 json_values)


def _children(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        return [(node, k) for k in node]
    if isinstance(node, list):
        return [(node, i) for i in range(len(node))]
    return []


@st.composite
def mutated_demo_prefetch(draw: st.DrawFn) -> dict[str, Any]:
    prefetch = copy.deepcopy(draw(st.sampled_from(DEMO_PREFETCH)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        node: Any = prefetch
        parent_key: tuple[Any, Any] | None = None
        depth = draw(st.integers(min_value=1, max_value=8))
        for _ in range(depth):
            kids = _children(node)
            if not kids:
                break
            parent_key = draw(st.sampled_from(kids))
            node = parent_key[0][parent_key[1]]
        if parent_key is None:
            continue
        container, key = parent_key
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "duplicate"]))
        if action == "replace":
            container[key] = copy.deepcopy(draw(junk))  # st.just() objects are shared
        elif action == "delete":
            if isinstance(container, dict):
                del container[key]
            else:
                container.pop(key)
        elif isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
    return prefetch


FHIR_TYPES = ["Patient", "Bundle", "OperationOutcome", "Observation", "Condition", "MedicationStatement"]


@st.composite
def random_prefetch(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(["patient", *KEY_OF.values()]), unique=True, max_size=10))
    out: dict[str, Any] = {}
    for key in keys:
        out[key] = draw(st.one_of(
            st.none(),
            st.fixed_dictionaries({"resourceType": st.sampled_from(FHIR_TYPES)},
                                  optional={"entry": json_values, "link": json_values, "id": json_leaf,
                                            "issue": json_values, "birthDate": json_leaf, "gender": json_leaf}),
            st.dictionaries(st.text(max_size=8), json_values, max_size=3),
        ))
    return out


COMMON = dict(deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


# ---------------------------------------------------------------- properties

@hsettings(max_examples=examples(250), **COMMON)
@given(body=json_values, service=st.sampled_from(sorted(SERVICES.values())), feedback=st.booleans())
def test_arbitrary_json_bodies_never_5xx(client, body: Any, service: str, feedback: bool) -> None:
    url = f"/cds-services/{service}" + ("/feedback" if feedback else "")
    check(client.post(url, data=json.dumps(body), content_type="application/json"))


@hsettings(max_examples=examples(250), **COMMON)
@given(hook=st.sampled_from(sorted(SERVICES)), field=st.sampled_from(
    ["hook", "hookInstance", "context", "prefetch", "fhirServer", "fhirAuthorization", "extension",
     "context.patientId", "context.userId", "context.draftOrders", "context.selections", "context.encounterId"]),
    value=junk)
def test_hostile_field_values_never_5xx(client, hook: str, field: str, value: Any) -> None:
    body = envelope(hook, "p1", DEMO_PREFETCH[0] if DEMO_PREFETCH else None)
    target = body
    parts = field.split(".")
    for p in parts[:-1]:
        target = target[p]
    target[parts[-1]] = value
    check(client.post(f"/cds-services/{SERVICES[hook]}", json=body))


@pytest.mark.skipif(not DEMO_PREFETCH, reason="no demo/bundles/*.json to mutate yet")
@hsettings(max_examples=examples(800), **COMMON)
@given(hook=st.sampled_from(sorted(SERVICES)), prefetch=mutated_demo_prefetch())
def test_mutated_demo_resources_in_prefetch_never_5xx(client, hook: str, prefetch: dict[str, Any]) -> None:
    patient = prefetch.get("patient")
    pid = patient.get("id") if isinstance(patient, dict) else None
    pid = pid if isinstance(pid, str) and pid else "p1"
    body = envelope(hook, pid if len(pid) <= 64 else "p1", prefetch)
    if not isinstance(body["context"]["patientId"], str) or not body["context"]["patientId"].replace("-", "").replace(".", "").isalnum():
        body["context"]["patientId"] = "p1"
    check(client.post(f"/cds-services/{SERVICES[hook]}", json=body))


@hsettings(max_examples=examples(250), **COMMON)
@given(hook=st.sampled_from(sorted(SERVICES)), prefetch=random_prefetch())
def test_random_prefetch_shapes_never_5xx(client, hook: str, prefetch: dict[str, Any]) -> None:
    check(client.post(f"/cds-services/{SERVICES[hook]}", json=envelope(hook, "p1", prefetch)))


def test_demo_patients_unmutated_give_200(client) -> None:
    """The base of the mutation fuzzing is sound: every demo patient is answered 200."""
    if not DEMO_PREFETCH:
        pytest.skip("no demo/bundles/*.json yet")
    for prefetch in DEMO_PREFETCH:
        pid = prefetch["patient"]["id"]
        for hook, service in SERVICES.items():
            resp = client.post(f"/cds-services/{service}", json=envelope(hook, pid, prefetch))
            assert resp.status_code == 200, (pid, hook, resp.get_data(as_text=True)[:300])
            check(resp)

"""Discovery and hook calls: GET /cds-services, POST /cds-services/{id}.

One call: parse and validate the request -> resolve prefetch (fetch what is missing from the EHR
within a budget; 412 when required data cannot be had) -> the service's handler (record ->
findings -> cards) -> JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from hooks.registry import HookCall, ServiceDefinition

from .. import prefetch, validation
from ..admission import Admission, LargeCallLane, check_size, resource_count
from ..errors import Issue, ServiceError, bad_request
from ..json_body import parse_json_body
from ..language import negotiate_language
from ..responses import json_response
from ..state import ServiceState


def blueprint(state: ServiceState) -> Blueprint:
    bp = Blueprint("hooks", __name__)
    settings = state.settings
    discovery = {"services": [s.discovery_entry() for s in state.services.values()]}
    lane = LargeCallLane(settings.large_calls_per_worker)

    @bp.get("/cds-services")
    def discover() -> Response:
        return json_response(discovery)

    @bp.post("/cds-services/<service_id>")
    def invoke(service_id: str) -> Response:
        service = state.service_or_404(service_id)
        with lane.call() as admission:
            admission.body(request.content_length, settings)
            return _answer(service, parse_json_body(settings), admission)

    def _answer(service: ServiceDefinition, body: Any, admission: Admission) -> Response:
        problem = validation.first_error("request.json", body)
        if problem:
            raise bad_request(f"{problem[0]}: {problem[1]}", expression=problem[0])
        g.fields["hookInstance"] = body["hookInstance"]
        g.fields["hook"] = body["hook"]
        if body["hook"] != service.hook:
            raise bad_request(f"hook: this service answers {service.hook}", expression="hook")
        problem = validation.first_error(
            validation.CONTEXT_SCHEMAS[service.hook], body["context"], prefix="context"
        )
        if problem:
            raise bad_request(f"{problem[0]}: {problem[1]}", expression=problem[0])

        patient_id = body["context"].get("patientId")
        given = body.get("prefetch")
        if isinstance(given, dict):  # nothing is fetched for a call that is too large already
            check_size(resource_count(given), settings)
            if _other_patient(given.get("patient"), patient_id):
                raise bad_request("prefetch.patient: a Patient other than context.patientId",
                                  expression="prefetch.patient")
        resolution = prefetch.resolve(service.prefetch, body, settings, g.started)
        g.resolution = resolution
        # Freed once the answer has gone, not before: at 500 resources freeing the body and the
        # fetched bundles takes ~1.5 ms, at 5,000 ~13 ms (README "Performance").
        g.release_after_answer = [body, resolution]
        g.patient_id = patient_id
        g.fields["fetched"] = resolution.fetched or None
        missing = sorted(resolution.unavailable & service.required_keys)
        if missing:
            g.fields["keys"] = missing
            raise ServiceError(
                412,
                *(Issue("processing", f"prefetch {k}: not provided and could not be retrieved "
                        f"({resolution.problems.get(k, 'unavailable')})", expression=f"prefetch.{k}")
                  for k in missing),
            )
        if _other_patient(resolution.prefetch.get("patient"), patient_id):  # fetched: the server's error
            raise ServiceError(412, Issue("processing", "prefetch patient: the FHIR server returned a "
                                          "Patient other than context.patientId", expression="prefetch.patient"))
        count = resource_count(resolution.prefetch)
        check_size(count, settings)
        admission.resources(count, settings)
        call = HookCall(
            service_id=service.id,
            hook=service.hook,
            hook_instance=body["hookInstance"],
            context=body["context"],
            prefetch=resolution.prefetch,
            unavailable=frozenset(resolution.unavailable | resolution.incomplete),
            today=state.today(),
            language=negotiate_language(request.headers.get("Accept-Language"), settings.language),
            summary_url=state.summary_link() if state.summary_link and service.hook == "patient-view" else None,
        )
        cards = [card.to_json() for card in service.handler(call)]
        g.fields["cards"] = len(cards)
        g.cards_out = cards  # audited with the call (cards_served) once the status is known
        return json_response({"cards": cards})

    return bp


def _other_patient(patient: Any, patient_id: Any) -> bool:
    """Issue 15, F-14: a Patient resource that is not context.patientId (no id counts as another:
    it cannot be matched). Other resources of another subject are left out by the mapping step
    (fhir_mappings/prefetch.py), as before."""
    return isinstance(patient, dict) and patient.get("resourceType") == "Patient" and patient.get("id") != patient_id

"""CDS Hooks feedback: POST /cds-services/{id}/feedback, stored durably before it is acknowledged."""

from __future__ import annotations

from flask import Blueprint, Response, g

from .. import validation
from ..errors import Issue, ServiceError, bad_request
from ..json_body import parse_json_body
from ..responses import json_response
from ..state import ServiceState
from ..store import StoreUnavailable


def blueprint(state: ServiceState) -> Blueprint:
    bp = Blueprint("feedback", __name__)
    settings, store, meter = state.settings, state.store, state.meter

    @bp.post("/cds-services/<service_id>/feedback")
    def give_feedback(service_id: str) -> Response:
        service = state.service_or_404(service_id)
        body = parse_json_body(settings)
        problem = validation.first_error("feedback.json", body)
        if problem:
            raise bad_request(f"{problem[0]}: {problem[1]}", expression=problem[0])
        try:
            new = store.add_feedback(service.id, body["feedback"])
        except StoreUnavailable:
            meter.database_errors.labels("feedback").inc()
            raise ServiceError(503, Issue("transient", "feedback could not be stored; retry later"),
                               headers={"Retry-After": "5"}) from None
        g.fields["count"] = len(body["feedback"])
        g.fields["new"] = len(new)
        for entry in new:
            for code in entry.finding_codes or ("unknown",):
                meter.feedback.labels(service.id, entry.outcome, code).inc()
        return json_response({})

    return bp

"""The error model: every non-2xx answer is a FHIR OperationOutcome, never a stack trace.

CDS Hooks 2.0.1 defines only 200 and 412; the 3.0 ballot recommends an OperationOutcome body on
non-2xx answers (../shared/cds-hooks/SPEC-NOTES.md §2.8). Messages name the field and the
reason, never echo request values (they may be patient data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, json

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Issue:
    code: str  # FHIR issue-type: invalid, structure, required, not-found, processing, ...
    diagnostics: str
    expression: str | None = None
    severity: str = "error"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            out["expression"] = [self.expression]
        return out


class ServiceError(Exception):
    """An error answered with `status` and an OperationOutcome."""

    def __init__(self, status: int, *issues: Issue, headers: dict[str, str] | None = None):
        super().__init__(issues[0].diagnostics if issues else str(status))
        self.status = status
        self.issues = issues
        self.headers = headers or {}


def operation_outcome(*issues: Issue) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def outcome_response(status: int, *issues: Issue, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(operation_outcome(*issues))
    resp = Response(body, status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def bad_request(diagnostics: str, expression: str | None = None, code: str = "invalid") -> ServiceError:
    return ServiceError(400, Issue(code, diagnostics, expression))

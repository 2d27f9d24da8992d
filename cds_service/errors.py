"""The error model: every non-2xx answer is a FHIR OperationOutcome, never a stack trace.

CDS Hooks 2.0.1 defines only 200 and 412; the 3.0 ballot recommends an OperationOutcome body on
non-2xx answers (../shared/cds-hooks/SPEC-NOTES.md §2.8). Messages name the field and the
reason, never echo request values (they may be patient data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, json
from werkzeug.exceptions import HTTPException

from .logs import log

FHIR_JSON = "application/fhir+json"
HTTP_ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
                    405: "not-supported", 412: "processing", 413: "too-costly",
                    415: "not-supported", 429: "throttled", 503: "transient"}


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


def register_error_handlers(app: Flask, max_body_bytes: int) -> None:
    """Every error of the app answered per this model: ServiceError as raised, HTTP errors of
    routing and Werkzeug with their status, anything else 500 with the innermost file and line
    logged (never the message: it may hold data)."""

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        if exc.status == 401:  # no detail to the caller; the reason was logged by the verifier
            return outcome_response(401, Issue("login", "authentication failed"), headers=exc.headers)
        g.fields = {**getattr(g, "fields", {}), "reason": exc.issues[0].diagnostics if exc.issues else None}
        return outcome_response(exc.status, *exc.issues, headers=exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        messages = {404: "no such resource", 405: "method not allowed",
                    413: f"request body larger than {max_body_bytes} bytes"}
        headers = {}
        if status == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return outcome_response(
            status, Issue(HTTP_ISSUE_CODES.get(status, "exception"), messages.get(status, exc.name)),
            headers=headers,
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, RecursionError):  # crafted nesting that slipped past json_too_deep
            return outcome_response(400, Issue("structure", "JSON nesting is too deep"))
        tb = exc.__traceback__
        where = None
        while tb is not None:  # innermost frame: file and line only, no message (may hold data)
            where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
            tb = tb.tb_next
        log(logging.ERROR, "unhandled error", event="error", error_type=type(exc).__name__, where=where,
            **{k: v for k, v in getattr(g, "fields", {}).items() if k in ("service", "hookInstance")})
        return outcome_response(500, Issue("exception", "internal error; the incident was logged"))

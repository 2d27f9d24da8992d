"""An OpenAPI 3.1 description of the routes this service actually serves, at GET /openapi.json.

No official OpenAPI exists for CDS Hooks 2.0/2.0.1 (SPEC-NOTES §5), so this one is generated
from what the app really does: one path per registered CDS service (its hook's context schema
folded into the request schema), its feedback path, discovery, health, and this document. The
request/response bodies are the project's own JSON Schemas (cds_service/schemas), whose `$defs`
are lifted into `components/schemas` so every tool resolves them. Every documented status code
is one the app can answer; a 500 is deliberately not documented (a fuzzer must treat it as a
failure). The bearer-JWT security requirement is stated only when the profile enforces it.

It is what `scripts/fuzz-openapi` feeds to schemathesis.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from flask import Flask, Response

from .settings import Settings
from .validation import CONTEXT_SCHEMAS, SCHEMA_FILES

try:  # the installed distribution's version, when installed
    from importlib.metadata import version as _dist_version

    VERSION = _dist_version("gmg-cds")
except Exception:  # pragma: no cover - running from a plain checkout
    VERSION = "0.0.0"

OUTCOME = {
    "type": "object",
    "description": "FHIR OperationOutcome: every non-2xx answer carries one (never a stack trace).",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

ERRORS = {
    "400": "Malformed request: not JSON, too deeply nested, or a field of the wrong type (named in expression)",
    "401": "Missing or invalid JWT (no detail given)",
    "404": "Unknown CDS service",
    "405": "Method not allowed",
    "412": "Required FHIR data could be had neither from prefetch nor from fhirServer",
    "413": "Request body larger than GMG_CDS_MAX_BODY_BYTES",
    "415": "Content-Type is not application/json",
    "503": "Temporarily unavailable (database); retry after Retry-After",
}


def _name(file: str, local: str | None = None) -> str:
    stem = file.removesuffix(".json").replace("-", "_")
    return stem if local is None else f"{stem}__{local}"


def _rewrite(node: Any, file: str) -> Any:
    """Point `#/$defs/x` and `other.json#/$defs/x` at components/schemas; drop $id/$schema."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ("$id", "$schema", "$defs"):
                continue
            if k == "$ref" and isinstance(v, str):
                target_file, _, pointer = v.partition("#")
                target_file = target_file or file
                if pointer.startswith("/$defs/"):
                    out[k] = f"#/components/schemas/{_name(target_file, pointer[len('/$defs/'):])}"
                elif pointer in ("", "/"):
                    out[k] = f"#/components/schemas/{_name(target_file)}"
                else:  # pragma: no cover - our schemas use only the two forms above
                    raise ValueError(f"unsupported $ref {v} in {file}")
                continue
            out[k] = _rewrite(v, file)
        return out
    if isinstance(node, list):
        return [_rewrite(v, file) for v in node]
    return node


@lru_cache(maxsize=1)
def component_schemas() -> dict[str, Any]:
    base = resources.files("cds_service.schemas")
    out: dict[str, Any] = {"OperationOutcome": OUTCOME}
    for file in SCHEMA_FILES:
        schema = json.loads(base.joinpath(file).read_text(encoding="utf-8"))
        for local, sub in (schema.get("$defs") or {}).items():
            out[_name(file, local)] = _rewrite(sub, file)
        out[_name(file)] = _rewrite(schema, file)
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(schema)}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {c: _json(_ref("OperationOutcome"), ERRORS[c]) for c in codes}


def openapi_document(services: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The document for these services (id -> ServiceDefinition) under these settings."""
    secured = settings.auth_required
    security = [{"cdsHooksJwt": []}] if secured else []
    auth_errors = ("401",) if secured else ()
    paths: dict[str, Any] = {
        "/cds-services": {
            "get": {
                "operationId": "discovery",
                "summary": "CDS Hooks discovery",
                "security": security,
                "responses": {"200": _json(_ref("discovery"), "The services offered"),
                              **_errors(*auth_errors)},
            }
        }
    }
    for sid, svc in services.items():
        # The prefetch keys this service declares in discovery, each a FHIR resource or Bundle
        # (content deliberately open: the service is liberal in the FHIR it accepts) or null.
        prefetch = {
            "type": "object",
            "properties": {key: {"type": ["object", "null"],
                                 "properties": {"resourceType": {"type": "string"}}}
                           for key in svc.prefetch},
        }
        request_schema = {
            "allOf": [
                _ref("request"),
                {"type": "object", "properties": {
                    "hook": {"const": svc.hook},
                    "context": _ref(_name(CONTEXT_SCHEMAS[svc.hook])),
                    "prefetch": prefetch,
                }},
            ]
        }
        paths[f"/cds-services/{sid}"] = {
            "post": {
                "operationId": f"call-{sid}",
                "summary": svc.title,
                "description": svc.description,
                "security": security,
                "requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}},
                "responses": {
                    "200": _json(_ref("response"), "Cards (possibly none)"),
                    **_errors("400", *auth_errors, "412", "413", "415"),
                },
            }
        }
        paths[f"/cds-services/{sid}/feedback"] = {
            "post": {
                "operationId": f"feedback-{sid}",
                "summary": f"Feedback on the cards of {sid}",
                "security": security,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("feedback")}}},
                "responses": {
                    "200": _json({"type": "object", "maxProperties": 0}, "Stored"),
                    **_errors("400", *auth_errors, "413", "415", "503"),
                },
            }
        }
    paths["/healthz"] = {"get": {"operationId": "healthz", "summary": "Liveness", "security": [],
                                 "responses": {"200": _json({"type": "object", "required": ["status"]}, "Alive")}}}
    paths["/readyz"] = {"get": {"operationId": "readyz", "summary": "Readiness (database reachable)", "security": [],
                                "responses": {"200": _json({"type": "object"}, "Ready"),
                                              "503": _json({"type": "object"}, "Database unreachable")}}}
    paths["/metrics"] = {"get": {"operationId": "metrics", "summary": "Prometheus metrics (text format; "
                                 "counts and latencies, no patient data)", "security": [],
                                 "responses": {"200": {"description": "Prometheus text exposition format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
    paths["/openapi.json"] = {"get": {"operationId": "openapi", "summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "gmg-cds: CDS Hooks 2.0.1 service for refractory generalized myasthenia gravis",
            "version": VERSION,
            "description": "Generated from the running configuration. Security: docs/SECURITY.md.",
        },
        "servers": [{"url": settings.public_base_url or "/"}],
        "paths": paths,
        "components": {"schemas": copy.deepcopy(component_schemas())},
    }
    if secured:
        doc["components"]["securitySchemes"] = {
            "cdsHooksJwt": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "CDS Hooks client JWT: ES384/RS384, aud = the exact URL called, "
                               "iss a trusted issuer, single-use jti.",
            }
        }
    return doc


def register(app: Flask, services: Mapping[str, Any], settings: Settings) -> None:
    """Serve the document at GET /openapi.json (built once)."""
    body = json.dumps(openapi_document(services, settings), separators=(",", ":"))

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return Response(body, mimetype="application/json")

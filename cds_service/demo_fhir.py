"""DEMO DATA ONLY: a read-only FHIR R4 endpoint serving the bundled synthetic demo patients.

It exists so that integration testers can point the public CDS Hooks sandbox (or any client) at
a FHIR server holding patients that make every card appear. It is not a FHIR server for
production: no authentication, no persistence, a small subset of search. It is mounted at
`/demo/fhir` in local mode (or when GMG_CDS_DEMO_FHIR=1).

Supported: `GET /metadata`; `GET /{type}/{id}`; `GET /{type}?…` and `POST /{type}/_search`
(form-encoded, as the sandbox sends) with `patient`, `subject`, `_id`, `code`, `category`,
`_count` and paging (`_offset`, with `next` links). Other parameters are ignored (said in
the CapabilityStatement).

Dates: the bundles are written for the anchor date 2026-11-22. They are served shifted by the
number of days between the anchor and the service's evaluation date, so the demo stays current
(an MG-ADL "51 days ago" stays 51 days ago).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlencode

from flask import Blueprint, Response, request

ANCHOR = date(2026, 11, 22)
DEMO_DIR = Path(__file__).resolve().parents[1] / "demo" / "bundles"
FHIR_JSON = "application/fhir+json"
_FULL_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?$")
PATIENT_FIELDS = ("subject", "patient")
CODE_FIELDS = ("code", "medicationCodeableConcept", "vaccineCode")
DEFAULT_COUNT, MAX_COUNT = 50, 200
SEARCH_PARAMS = ("patient", "subject", "_id", "code", "category", "_count", "_offset")


def shift_dates(value: Any, days: int) -> Any:
    """Every full date or dateTime string moved by `days` (partial dates are left as they are)."""
    if days == 0:
        return value
    if isinstance(value, dict):
        return {k: shift_dates(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_dates(v, days) for v in value]
    if isinstance(value, str):
        m = _FULL_DATE.match(value)
        if m:
            try:
                shifted = date.fromisoformat(m.group(1)) + timedelta(days=days)
            except ValueError:
                return value
            return shifted.isoformat() + (m.group(2) or "")
    return value


def _codings(resource: dict[str, Any], fields: Iterable[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in fields:
        v = resource.get(f)
        concepts = v if isinstance(v, list) else [v]
        for c in concepts:
            if isinstance(c, dict):
                out.extend(x for x in c.get("coding") or () if isinstance(x, dict))
    return out


def _token_matches(codings: list[dict[str, Any]], wanted: str) -> bool:
    for alternative in wanted.split(","):
        system, _, code = alternative.rpartition("|")
        for c in codings:
            if c.get("code") == code and (not system or c.get("system") == system):
                return True
    return False


class DemoStore:
    """The demo patients, loaded once, indexed by type and id."""

    def __init__(self, bundle_dir: Path, today: date):
        self.shift = (today - ANCHOR).days
        self.by_type: dict[str, dict[str, dict[str, Any]]] = {}
        self.patients: list[dict[str, Any]] = []
        for path in sorted(bundle_dir.glob("*.json")):
            bundle = json.loads(path.read_text(encoding="utf-8"))
            for entry in bundle.get("entry", ()):
                res = shift_dates(entry.get("resource") or {}, self.shift)
                if "resourceType" in res and "id" in res:
                    self.by_type.setdefault(res["resourceType"], {})[res["id"]] = res
                    if res["resourceType"] == "Patient":
                        self.patients.append({"slug": path.stem, "id": res["id"]})

    def read(self, rtype: str, rid: str) -> dict[str, Any] | None:
        return self.by_type.get(rtype, {}).get(rid)

    def search(self, rtype: str, params: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        patient = params.get("patient") or params.get("subject")
        if patient:
            patient = patient.split("/")[-1]
        for res in self.by_type.get(rtype, {}).values():
            if "_id" in params and res["id"] not in params["_id"].split(","):
                continue
            if patient:
                if rtype == "Patient":
                    if res["id"] != patient:
                        continue
                elif not any(
                    isinstance(res.get(f), dict) and str(res[f].get("reference", "")).split("/")[-1] == patient
                    for f in PATIENT_FIELDS
                ):
                    continue
            if "code" in params and not _token_matches(_codings(res, CODE_FIELDS), params["code"]):
                continue
            if "category" in params and not _token_matches(_codings(res, ("category",)), params["category"]):
                continue
            out.append(res)
        return sorted(out, key=lambda r: r["id"])


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype=FHIR_JSON)


def _outcome(status: int, code: str, text: str) -> Response:
    return _json({"resourceType": "OperationOutcome",
                  "issue": [{"severity": "error", "code": code, "diagnostics": text}]}, status)


def capability_statement(base: str) -> dict[str, Any]:
    types = ("Patient", "Condition", "Observation", "MedicationStatement", "MedicationRequest",
             "MedicationAdministration", "Procedure", "Immunization", "AdverseEvent", "AllergyIntolerance")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now().date().isoformat(),
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "publisher": "gmg-cds",
        "description": "DEMO DATA ONLY: synthetic patients for trying gmg-cds with the CDS Hooks sandbox. "
                       "Read-only, open, not a FHIR server for production. Search parameters: "
                       + ", ".join(SEARCH_PARAMS) + "; others are ignored.",
        "implementation": {"description": "gmg-cds demo FHIR endpoint (synthetic data)", "url": base},
        "rest": [{
            "mode": "server",
            "resource": [
                {"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [{"name": p, "type": "token" if p in ("code", "category", "_id") else
                                  ("reference" if p in ("patient", "subject") else "number")}
                                 for p in SEARCH_PARAMS]}
                for t in types
            ],
        }],
    }


def blueprint(store: DemoStore) -> Blueprint:
    bp = Blueprint("demo_fhir", __name__, url_prefix="/demo/fhir")

    def base_url() -> str:
        return request.url_root.rstrip("/") + "/demo/fhir"

    @bp.get("/metadata")
    def metadata() -> Response:
        return _json(capability_statement(base_url()))

    @bp.get("/<rtype>/<rid>")
    def read(rtype: str, rid: str) -> Response:
        res = store.read(rtype, rid)
        if res is None:
            return _outcome(404, "not-found", f"{rtype}/{rid} is not in the demo data")
        return _json(res)

    def search(rtype: str, params: dict[str, str]) -> Response:
        if not rtype[:1].isupper():
            return _outcome(404, "not-found", "unknown resource type")
        try:
            count = min(MAX_COUNT, max(1, int(params.get("_count", DEFAULT_COUNT))))
            offset = max(0, int(params.get("_offset", 0)))
        except ValueError:
            return _outcome(400, "invalid", "_count and _offset must be integers")
        matches = store.search(rtype, params)
        page = matches[offset: offset + count]
        base = base_url()
        keep = {k: v for k, v in params.items() if k in SEARCH_PARAMS and k != "_offset"}
        links = [{"relation": "self", "url": f"{base}/{rtype}?{urlencode({**keep, '_offset': offset})}"}]
        if offset + count < len(matches):
            links.append({"relation": "next",
                          "url": f"{base}/{rtype}?{urlencode({**keep, '_count': count, '_offset': offset + count})}"})
        return _json({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "link": links,
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in page],
        })

    @bp.get("/<rtype>")
    def search_get(rtype: str) -> Response:
        return search(rtype, request.args.to_dict())

    @bp.post("/<rtype>/_search")
    def search_post(rtype: str) -> Response:
        params = {**request.args.to_dict(), **request.form.to_dict()}
        return search(rtype, params)

    return bp

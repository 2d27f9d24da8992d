"""A loopback FHIR R4 server that answers like an Epic-like or a Cerner-like EHR (test double:
the EHRs themselves cannot run here). A real HTTP server on 127.0.0.1 (werkzeug, threaded).

What it imitates (../shared/background/ehr-data-shapes.md):
- both: a Bearer token is required (401 without it); searches by patient only (`patient` or
  `subject`, 400 without); paging with `next` links (page size `_count`, else the EHR's default);
  reads by id; MedicationStatement is not offered in R4 (404, §1.2 / §2); relative references.
- Epic-like (§1.1): Observation search without `category` -> 400; an empty result is a Bundle whose
  only entry is an OperationOutcome (warning 4101 "Resource request returns no results.",
  search.mode outcome); search parameters it does not know are ignored silently; `Medication/<id>`
  is read by id (the searches do not return Medications, §1.2).
- Cerner-like (§2): `_count` defaults to 50 and may not exceed 200 (400 above); Observations come
  newest first; `code` searches only Observation.code; an empty result has no entries.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from . import sites as s
from .reshape import Chart

TOKEN = "ehr-access-token-7f3c"
DEFAULT_PAGE = {"epic": 10, "cerner": 50, "canonical": 50}
MAX_COUNT = {"cerner": 200}
NOT_OFFERED = frozenset({"MedicationStatement"})
_PATIENT_ELEMENT = {"Patient": None, "Immunization": "patient", "AllergyIntolerance": "patient"}
# Search parameters each server filters on (others: Epic ignores them, Cerner too here).
_TOKEN_PARAMS = {"category": "category", "status": "status", "code": "code", "intent": "intent"}


def _outcome(severity: str, code: str, text: str, detail: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    if detail is not None:
        issue["details"] = {"coding": [{"system": s.EPIC_OUTCOME, "code": detail, "display": text}], "text": text}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def _codes(value: Any) -> set[str]:
    """The codes (and system|code pairs) of a CodeableConcept, a list of them, or a code string."""
    out: set[str] = set()
    for cc in value if isinstance(value, list) else [value]:
        if isinstance(cc, str):
            out.add(cc)
        elif isinstance(cc, dict):
            for c in cc.get("coding", []):
                out.add(str(c.get("code")))
                out.add(f"{c.get('system')}|{c.get('code')}")
    return out


def _when(res: dict[str, Any]) -> str:
    for key in ("effectiveDateTime", "authoredOn", "occurrenceDateTime", "recordedDate", "date"):
        if isinstance(res.get(key), str):
            return res[key]
    period = res.get("effectivePeriod") or res.get("performedPeriod") or {}
    return period.get("start", "") if isinstance(period, dict) else ""


@dataclass
class EhrFhirServer:
    """Serves the charts of one EHR flavour ("epic", "cerner"; "canonical" = no restriction but
    the patient) on 127.0.0.1. `requests` records (path, query) of every call."""

    flavour: str
    charts: list[Chart] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    base: str = ""
    page_size: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        for chart in self.charts:
            self.add(chart)

    def add(self, chart: Chart) -> None:
        for res in chart.resources:
            self.resources[(res["resourceType"], res["id"])] = res
        for mid, med in chart.medications.items():
            self.resources[("Medication", mid)] = med

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "EhrFhirServer":
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base = f"http://127.0.0.1:{self._server.server_port}/api/FHIR/R4"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _wsgi(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        status, body = self.answer(request.path, request.args.to_dict(flat=True),
                                   request.headers.get("Authorization"))
        with self._lock:
            self.requests.append((request.path, request.query_string.decode()))
        response = Response(json.dumps(body), status=status, mimetype="application/fhir+json")
        return response(environ, start_response)

    # -- FHIR ----------------------------------------------------------------------------------
    def answer(self, path: str, args: dict[str, str], auth: str | None) -> tuple[int, dict[str, Any]]:
        if auth != f"Bearer {TOKEN}":
            return 401, _outcome("error", "login", "missing or invalid access token")
        return self.serve(path, args)

    def serve(self, path: str, args: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """A read or search once the caller is authorised (another server that checked its own
        tokens, such as the SMART EHR of tests/smart_ehr.py, answers its FHIR routes with this)."""
        parts = [p for p in path.split("/") if p]
        if parts[:3] == ["api", "FHIR", "R4"]:
            parts = parts[3:]
        if not parts or parts[0] in NOT_OFFERED and self.flavour != "canonical":
            return 404, _outcome("error", "not-supported", "resource type not supported in R4")
        if len(parts) == 2:
            found = self.resources.get((parts[0], parts[1]))
            if found is None:
                return 404, _outcome("error", "not-found", "The read resource request contained an invalid ID", "4102")
            return 200, found
        if len(parts) != 1:
            return 404, _outcome("error", "not-found", "no such endpoint")
        return self.search(parts[0], args)

    def search(self, rtype: str, args: dict[str, str]) -> tuple[int, dict[str, Any]]:
        patient = args.get("patient") or args.get("subject", "")
        patient = patient.split("/")[-1]
        if not patient:
            return 400, _outcome("error", "required", "patient or subject is required", "4100")
        if self.flavour == "epic" and rtype == "Observation" and "category" not in args:
            return 400, _outcome("error", "required", "Must have either code or category", "4100")
        count = args.get("_count")
        size = int(count) if count and count.isdigit() else (self.page_size or DEFAULT_PAGE[self.flavour])
        if count and self.flavour in MAX_COUNT and size > MAX_COUNT[self.flavour]:
            return 400, _outcome("error", "invalid", f"_count may not exceed {MAX_COUNT[self.flavour]}")
        matches = [r for (t, _id), r in self.resources.items() if t == rtype and self._of_patient(r, patient)]
        for param, element in _TOKEN_PARAMS.items():
            if param in args:
                wanted = set(args[param].split(","))
                matches = [r for r in matches if wanted & _codes(r.get(element))]
        if self.flavour == "cerner":
            matches.sort(key=_when, reverse=True)  # newest first
        offset = int(args.get("_offset", "0") or 0)
        page = matches[offset:offset + size]
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                                  "link": [{"relation": "self", "url": self._url(rtype, args)}],
                                  "entry": [{"fullUrl": f"{self.base}/{r['resourceType']}/{r['id']}", "resource": r,
                                             "search": {"mode": "match"}} for r in page]}
        if offset + size < len(matches):
            bundle["link"].append({"relation": "next", "url": self._url(rtype, {**args, "_offset": str(offset + size)})})
        if not matches and self.flavour == "epic":
            bundle["entry"] = [{"resource": _outcome("warning", "processing", "Resource request returns no results.",
                                                     "4101"), "search": {"mode": "outcome"}}]
        return 200, bundle

    def _url(self, rtype: str, args: dict[str, str]) -> str:
        return f"{self.base}/{rtype}?{urlencode(args)}"

    @staticmethod
    def _of_patient(res: dict[str, Any], patient: str) -> bool:
        rtype = res["resourceType"]
        if rtype == "Patient":
            return res["id"] == patient
        element = _PATIENT_ELEMENT.get(rtype, "subject")
        ref = (res.get(element) or {}).get("reference", "")
        return ref.split("/")[-1] == patient


def prefetch_for(chart: Chart, site_queries: dict[str, list[str]] | None, templates: dict[str, str]) -> dict[str, Any]:
    """The prefetch an EHR configured with the site's queries sends: for each key the site
    fetches, what its searches return (one page, all results; several searches merged). Keys the
    site does not offer ([]) are not configured, so not sent."""
    server = EhrFhirServer(chart.shape, [chart], page_size=10_000)
    out: dict[str, Any] = {}
    for key, template in templates.items():
        queries = (site_queries or {}).get(key, [template])
        if not queries:
            continue
        entries: list[dict[str, Any]] = []
        seen: set[str] = set()
        for query in queries:
            rendered = query.replace("{{context.patientId}}", chart.patient_id)
            path, _, qs = rendered.partition("?")
            if "/" in path:
                status, doc = server.answer(path, {}, f"Bearer {TOKEN}")
                assert status == 200, (path, doc)
                out[key] = doc
                break
            args = dict(p.split("=", 1) for p in qs.split("&") if p)
            status, doc = server.search(path, args)
            assert status == 200, (rendered, doc)
            for entry in doc["entry"]:
                ident = f"{entry['resource']['resourceType']}/{entry['resource'].get('id')}"
                if ident in seen and entry["resource"]["resourceType"] != "OperationOutcome":
                    continue
                seen.add(ident)
                entries.append({k: v for k, v in entry.items()})
        else:
            matches = [e for e in entries if e.get("search", {}).get("mode") != "outcome"]
            out[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                        "entry": matches or entries[:1]}
    return out

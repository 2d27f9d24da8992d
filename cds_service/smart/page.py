"""The MG summary page of one patient: the chart read from the EHR's FHIR server with the access
token of this launch (the hooks' own prefetch templates and resolution, so site queries and
medications by reference come along), then the record, the assessment and the summary exactly as
for the cards (hooks/summary.py), the charts, and the HTML.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import g, render_template

from hooks.registry import PREFETCH_TEMPLATES, REQUIRED_KEYS, HookCall
from hooks.summary import MG_ADL_ITEMS, Summary, summarize

from .. import prefetch
from ..settings import Settings
from . import charts
from .assets import Assets
from .messages import Messages
from .oauth import Grant, SmartCaller, SmartError

SERVICE_ID = "gmg-mg-summary"  # how the page's reads are named (the audit of hook calls does not list it)


@dataclass(frozen=True)
class Banner:
    """Who the page is about, as the EHR's Patient resource says (shown, never logged)."""

    patient_id: str
    name: str | None
    birth_date: str | None
    sex: str | None


def banner(patient: Any, patient_id: str) -> Banner:
    if not isinstance(patient, dict):
        return Banner(patient_id, None, None, None)
    name = None
    names = [n for n in patient.get("name") or () if isinstance(n, dict)]
    names.sort(key=lambda n: {"official": 0, "usual": 1}.get(str(n.get("use")), 2))
    for n in names:
        text = n.get("text")
        if not isinstance(text, str) or not text.strip():
            given = [x for x in n.get("given") or () if isinstance(x, str)]
            family = n.get("family") if isinstance(n.get("family"), str) else ""
            text = " ".join(given + ([family] if family else []))
        if text.strip():
            name = text.strip()
            break
    birth = patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None
    sex = patient.get("gender") if patient.get("gender") in ("female", "male", "other", "unknown") else None
    return Banner(patient_id, name, birth, sex)


def fetch_chart(iss: str, grant: Grant, settings: Settings, started: float) -> prefetch.Resolution:
    """Every prefetch key of the hooks, read from `iss` with this launch's token, within the
    prefetch budget. The token lives in this call only."""
    body = {
        "fhirServer": iss,
        "fhirAuthorization": {"access_token": grant.access_token, "token_type": "Bearer"},
        "context": {"patientId": grant.patient},
    }
    g.gmg_caller = SmartCaller((iss,))  # the FHIR client's SSRF guard: this server only
    try:
        return prefetch.resolve(PREFETCH_TEMPLATES, body, settings, started)
    finally:
        body.clear()
        g.pop("gmg_caller", None)


def check_resolution(resolution: prefetch.Resolution, patient_id: str) -> None:
    missing = sorted(resolution.unavailable & REQUIRED_KEYS)
    if missing:
        raise SmartError("error.fetch", 502, keys=", ".join(missing))
    patient = resolution.prefetch.get("patient")
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient" or patient.get("id") != patient_id:
        raise SmartError("error.fetch", 502, keys="patient")


def build(prefetched: dict[str, Any], unavailable: frozenset[str], patient_id: str, today: date,
          language: str) -> Summary:
    call = HookCall(SERVICE_ID, "patient-view", str(uuid.uuid4()), {"patientId": patient_id},
                    prefetched, unavailable, today, language)
    return summarize(call)


def render(summary: Summary, who: Banner, assets: Assets, *, demo: bool) -> str:
    m = Messages(summary.language)
    return render_template(
        "smart/summary.html",
        s=summary,
        m=m,
        who=who,
        figures=charts.figures(summary, m),
        assets=assets,
        demo=demo,
        item_keys=MG_ADL_ITEMS,
        basis_items=[m(f"options.basis-{kind}", value=value, date=when.isoformat())
                     for kind, value, when in summary.dosing_basis],
    )

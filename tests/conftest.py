"""Shared fixtures: a local-mode app on a temporary SQLite file, and a real FHIR server stub.

The FHIR stub is a real HTTP server on 127.0.0.1 (werkzeug, in a thread) serving FHIR JSON,
because the EHR's FHIR server cannot run here; it is the only test double for the fallback path.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cds_service.app import create_app
from cds_service.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():  # CI clones the repo beside shared/
    SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EXAMPLES = SHARED / "cds-hooks" / "examples"
TODAY = date(2026, 11, 22)


def local_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(
        env="local",
        database_url=f"sqlite:///{tmp_path / 'gmg-cds.sqlite3'}",
        cors_origins=("*",),
        auth_required=False,
        evaluation_date=TODAY,
        prefetch_budget_seconds=3.0,
        fhir_timeout_seconds=2.0,
    )
    return replace(base, **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return local_settings(tmp_path)


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


def hook_request(hook: str, context: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context}
    body.update(extra)
    return body


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


@dataclass
class FhirStub:
    """A FHIR server on 127.0.0.1. `routes` maps "Type" or "Type/id" (path without base) to a
    callable(request) -> (status, body dict or bytes, headers) or to a plain JSON dict."""

    routes: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base: str = ""
    default: Callable[[Request], Any] | None = None

    def handle(self, request: Request) -> Response:
        path = request.path.strip("/")
        self.requests.append(
            {"path": path, "query": request.query_string.decode(), "auth": request.headers.get("Authorization")}
        )
        target = self.routes.get(path)
        if target is None and self.default is not None:
            target = self.default
        if target is None:
            target = (404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}, {})
        if callable(target):
            target = target(request)
        if isinstance(target, dict):
            target = (200, target, {})
        status, body, headers = target
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Response(data, status=status, headers=headers, mimetype="application/fhir+json")


@pytest.fixture
def fhir_stub():
    stub = FhirStub()

    def wsgi(environ, start_response):  # noqa: ANN001, ANN202
        return stub.handle(Request(environ))(environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    stub.base = f"http://127.0.0.1:{server.server_port}/fhir"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        thread.join(timeout=5)


def empty_chart_routes(stub: FhirStub, patient_id: str, patient: dict[str, Any] | None = None) -> None:
    """Serve an empty chart for every search, and the Patient resource."""
    stub.routes[f"fhir/Patient/{patient_id}"] = patient or {
        "resourceType": "Patient", "id": patient_id, "gender": "female", "birthDate": "1970-01-01"
    }
    stub.default = lambda request: searchset()


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, interval: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return False

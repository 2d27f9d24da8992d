"""Liveness, readiness and metrics: GET /healthz, /readyz, /metrics (open, no patient data)."""

from __future__ import annotations

from flask import Blueprint, Response

from .. import metrics
from ..responses import json_response
from ..state import ServiceState


def blueprint(state: ServiceState) -> Blueprint:
    bp = Blueprint("health", __name__)
    store = state.store

    @bp.get("/healthz")
    def healthz() -> Response:
        return json_response({"status": "ok"})

    @bp.get("/readyz")
    def readyz() -> Response:
        """Ready when the database takes writes now (Store.ready): a deleted or replaced SQLite
        file, a locked or read-only database, a full disk are 503."""
        problem = store.ready()
        if problem is None:
            return json_response({"status": "ready", "database": "ok"})
        resp = json_response({"status": "unavailable", "database": "unreachable", "reason": problem}, 503)
        resp.headers["Retry-After"] = "5"
        return resp

    @bp.get("/metrics")
    def prometheus_metrics() -> Response:
        payload, content_type = metrics.exposition()
        return Response(payload, status=200, content_type=content_type)

    return bp

"""What happens around every request: the start (timer, authentication of /cds-services calls,
the deferred collector), the request log line, and after the answer has gone the metrics and the
audit row. Nothing about the request body is logged.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any, Callable

from flask import Flask, Response, g, request

from . import metrics
from .audit import AuditRecord
from .collector import COLLECTOR
from .logs import log
from .settings import Settings
from .state import ServiceState
from .store import StoreUnavailable, card_finding_codes

HOOK_ENDPOINT = "hooks.invoke"


def register(app: Flask, state: ServiceState) -> None:
    settings, services, audit, meter = state.settings, state.services, state.audit, state.meter
    authenticator = state.authenticator
    collector = COLLECTOR  # process-wide, as the garbage collector is

    @app.before_request
    def _start() -> None:
        g.started = time.monotonic()
        g.fields = {"method": request.method, "path": request.path}
        if request.method == "OPTIONS" or not request.path.startswith("/cds-services"):
            return  # CORS preflight and health are never authenticated
        if request.method == "POST":
            collector.enter()  # no cyclic GC pass until the answer has gone (collector.py)
            g.collector_entered = True
        if authenticator is not None:
            authenticator(request, called_urls(settings))

    @app.after_request
    def _log(resp: Response) -> Response:
        fields = dict(getattr(g, "fields", {}))
        fields["status"] = resp.status_code
        fields["duration_ms"] = round((time.monotonic() - getattr(g, "started", time.monotonic())) * 1000, 1)
        log(logging.INFO if resp.status_code < 500 else logging.ERROR, "request", event="request", **fields)
        # Metrics and the audit row are written once the answer has been sent (WSGI close), so
        # the EHR does not wait for them; they read only values captured here.
        if request.method == "POST" and _from_the_proxy(request.environ):
            stream = request.stream
            if not stream.is_exhausted:  # answered before the body was read (401, 404, 503 ...)
                resp.call_on_close(lambda: _drain(stream))
        held = g.pop("release_after_answer", None)
        if held is not None:
            resp.call_on_close(held.clear)
        resp.call_on_close(_observer(resp.status_code, fields["duration_ms"]))
        if g.pop("collector_entered", False):
            resp.call_on_close(collector.leave)  # last: the body has been freed by then
        return resp

    @app.teardown_request
    def _teardown(_exc: BaseException | None) -> None:
        if g.pop("collector_entered", False):  # no response was made: resume here
            collector.leave()

    def _observer(status: int, duration_ms: float) -> Callable[[], None]:
        full_endpoint = request.endpoint or "none"
        endpoint = full_endpoint.rpartition(".")[2]  # the view's name: the metrics label
        service = services.get((request.view_args or {}).get("service_id", "")) \
            if full_endpoint == HOOK_ENDPOINT else None
        resolution = getattr(g, "resolution", None)
        # only what the metrics need: the closure must not keep the request body alive
        problems = dict(resolution.problems) if resolution is not None else None
        fetched = resolution.fetched if resolution is not None else 0
        cards = getattr(g, "cards_out", [])
        hook_instance = g.fields.get("hookInstance") if isinstance(g.fields.get("hookInstance"), str) else None
        patient_id = getattr(g, "patient_id", None)

        def observe() -> None:
            """Metrics for every request; for an authenticated hook call also the audit row (with
            the cards served). Neither may fail the request."""
            try:
                meter.http_requests.labels(endpoint, str(status)).inc()
                if service is None:
                    return
                meter.hook_requests.labels(service.id, service.hook, str(status)).inc()
                meter.hook_duration.labels(service.id, service.hook).observe(duration_ms / 1000.0)
                failures = metrics.fallback_failures(problems) if problems is not None else []
                if fetched:
                    meter.fhir_requests.labels(service.id).inc(fetched)
                for reason in failures:
                    meter.fhir_failures.labels(service.id, reason).inc()
                for card in cards:
                    for code in set(card_finding_codes(card)):
                        meter.cards.labels(service.id, code).inc()
            except Exception as exc:  # a metrics defect must not turn an answer into an error
                log(logging.ERROR, "metrics failed", event="metrics", error_type=type(exc).__name__)
                return
            if status == 401:
                return  # not a call by a trusted client: logged and counted, not audited
            try:
                audit.record(AuditRecord(
                    service_id=service.id, hook=service.hook, status=status, duration_ms=duration_ms,
                    hook_instance=hook_instance, patient_id=patient_id, cards=cards,
                    fhir_calls=fetched, fhir_failures=len(failures)))
            except Exception as exc:  # cards still went out; feedback will lack their finding codes
                meter.database_errors.labels("audit").inc()
                log(logging.WARNING, "could not write the audit of a hook call", event="store",
                    error_type=str(exc) if isinstance(exc, StoreUnavailable) else type(exc).__name__)

        return observe


def _from_the_proxy(environ: dict) -> bool:
    """Whether the request came over gunicorn's unix socket, i.e. from nginx (cds_service/web.py),
    which has the whole body already and sends it at memory speed."""
    sock = environ.get("gunicorn.socket")
    return getattr(sock, "family", None) == socket.AF_UNIX


def _drain(stream: Any) -> None:
    """Read and drop what is left of a body the answer did not need, once the answer has gone.
    Otherwise gunicorn reads at most 64 KiB of it and closes the connection with the rest unread,
    which resets it, and nginx reports 502 instead of the answer."""
    try:
        while stream.read(1 << 16):
            pass
    except Exception:  # noqa: BLE001 - the peer went away: nothing to drain
        pass


def called_urls(settings: Settings) -> tuple[str, ...]:
    """The URLs the caller may have called (one of them is the JWT `aud`): the configured public
    base (settings.audience_bases) + the path. Never built from Host or X-Forwarded-*."""
    path = request.path
    return tuple(base + path for base in settings.audience_bases)

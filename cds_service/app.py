"""The web face: app factory and routes (discovery, hooks, feedback, health).

One call: HTTP -> parse and validate the request -> resolve prefetch (fetch what is missing from
the EHR within a budget; 412 when required data cannot be had) -> the service's handler
(record -> findings -> cards) -> JSON. Every failure is answered per the error model in
`errors.py`; nothing about the request body is logged.
"""

from __future__ import annotations

import logging
import re
import time
from array import array
from itertools import accumulate
from datetime import date
from typing import Any, Callable

import orjson
from flask import Flask, Response, g, request
from flask.testing import FlaskClient
from flask_cors import CORS
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

import terminology
from hooks import context as hook_context
from hooks import registry
from hooks.registry import HookCall, ServiceDefinition

from . import metrics, openapi, prefetch, smart, validation
from .audit import AuditRecord, AuditTrail
from .collector import COLLECTOR
from .errors import Issue, ServiceError, bad_request, outcome_response
from .logs import configure, log
from .settings import Settings
from .store import Store, StoreUnavailable, card_finding_codes, open_store

JSON_TYPES = ("application/json", "application/fhir+json")
HTTP_ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
                    405: "not-supported", 412: "processing", 413: "too-costly",
                    415: "not-supported", 429: "throttled", 503: "transient"}

# An authenticator checks the caller of one request (JWT, cds_service/auth.py) and raises
# ServiceError(401) on failure. None means open access (local mode only).
Authenticator = Callable[[Any, str], None]


def _json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_SIGNED_STEP = bytes.maketrans(b"()", b"\x01\xff")  # +1 / -1 as signed bytes


def _bracket_depth(brackets: bytes) -> int:
    """The highest running sum of a string of "(" (+1) and ")" (-1), 0 when empty."""
    return max(accumulate(array("b", brackets.translate(_SIGNED_STEP))), default=0)


def _depth_at_most(brackets: bytes, limit: int) -> bool:
    """Whether `_bracket_depth(brackets) <= limit`, mostly without the running sum.

    Removing an adjacent "()" leaves every other running sum as it was and loses a peak one
    above the sum just before it (or above 0 at the start); so after k passes of removing every
    "()" (C-speed bytes.replace), depth <= max(depth of the rest, 0) + k. Balanced JSON reduces
    to nothing in as many passes as it is deep. Only when that bound exceeds the limit is the
    exact running sum taken."""
    passes = 0
    rest = brackets
    while passes <= limit:
        shorter = rest.replace(b"()", b"")
        if len(shorter) == len(rest):
            break
        rest = shorter
        passes += 1
    if passes <= limit and max(_bracket_depth(rest), 0) + passes <= limit:
        return True
    return _bracket_depth(brackets) <= limit


def json_too_deep(raw: bytes, limit: int) -> bool:
    """Whether a JSON text nests deeper than `limit`.

    Fast path (C-speed translate, then `_depth_at_most`): brackets are counted everywhere, which
    is exact unless strings contain brackets. Only when that estimate exceeds the limit are
    strings removed (a slower regex pass) for the exact figure. Brackets inside strings can also
    lower the estimate; such crafted bodies are still bounded by the JSON decoder's recursion
    guard, and any RecursionError while serving a request is answered 400 (see create_app).
    """
    if _depth_at_most(raw.translate(_AS_PARENS, _NOT_BRACKETS), limit):
        return False
    return not _depth_at_most(_JSON_STRING.sub(b"", raw).translate(_AS_PARENS, _NOT_BRACKETS), limit)


SUPPORTED_LANGUAGES = ("en", "zh-CN")


def negotiate_language(header: str | None, default: str) -> str:
    """The card language: the best supported match of Accept-Language, else the deployment's.

    "zh", "zh-CN", "zh-Hans" and "zh-Hans-CN" map to Simplified Chinese ("zh-CN"); any "en-*"
    to English. Quality values are honoured; q=0 excludes.
    """
    if not header:
        return default
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        if q <= 0 or not tag:
            continue
        if tag == "*":
            lang = default
        elif tag == "zh" or tag.startswith("zh-cn") or tag.startswith("zh-hans") or tag == "zh-sg":
            lang = "zh-CN"
        elif tag == "en" or tag.startswith("en-"):
            lang = "en"
        else:
            continue
        choices.append((-q, i, lang))
    return min(choices)[2] if choices else default


def parse_json_body(settings: Settings) -> Any:
    ctype = (request.mimetype or "").lower()
    if ctype and ctype not in JSON_TYPES:
        raise ServiceError(415, Issue("not-supported", "Content-Type must be application/json"))
    raw = request.get_data(cache=False)
    if request.content_length is None and len(raw) >= settings.max_body_bytes:
        # A chunked body is cut at the limit by Werkzeug rather than refused: refuse it here.
        raise RequestEntityTooLarge()
    if not raw:
        raise bad_request("the request body is empty", code="structure")
    if json_too_deep(raw, settings.max_json_depth):
        raise bad_request(f"JSON nesting deeper than {settings.max_json_depth}", code="structure")
    try:
        body = orjson.loads(raw)
    except RecursionError:
        raise bad_request("JSON nesting is too deep", code="structure") from None
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON", code="structure") from None
    return body


class ClosingTestClient(FlaskClient):
    """The Flask test client, made to close each response as a WSGI server does, so work
    registered with `call_on_close` (metrics, audit) has run when a test reads the response."""

    def open(self, *args: Any, **kwargs: Any):  # noqa: ANN201
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    authenticator: Authenticator | None = None,
    services: dict[str, ServiceDefinition] | None = None,
    demo_fhir: bool | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    logger = configure(settings.log_level)
    app = Flask("gmg_cds")
    app.test_client_class = ClosingTestClient
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["GMG_SETTINGS"] = settings

    # Everything parsed once per process, not per request.
    terminology.warm()
    validation.warm()
    # The clinical parameter set (with the site override of GMG_CDS_PARAMETERS_FILE): read and
    # checked now, so a broken override stops the start instead of failing every hook call.
    # The fhir.resources element classes are loaded here too, before workers fork.
    hook_context.warm()
    hook_context.configure_model_cache(settings.model_cache_size)
    services = services or registry.services()
    discovery = {"services": [s.discovery_entry() for s in services.values()]}
    store = store or open_store(settings.database_url, pool=settings.db_pool,
                                migrate=settings.migrate_on_start)
    app.config["GMG_STORE"] = store
    audit = AuditTrail(store, key=settings.audit_key, retention_days=settings.audit_retention_days)
    app.config["GMG_AUDIT"] = audit
    audit.maybe_purge()
    meter = metrics.instruments()
    collector = COLLECTOR  # process-wide, as the garbage collector is

    if authenticator is None and settings.auth_required:
        from .auth import build_authenticator

        authenticator = build_authenticator(settings, store)

    if settings.is_local:
        log(logging.WARNING, "LOCAL MODE: security is OFF (no JWT check), any CORS origin, any "
            "FHIR server. Never use GMG_CDS_ENV=local with real patient data.",
            event="startup", profile="local")
    log(logging.INFO, "gmg-cds started", event="startup", profile=settings.env,
        database=store.engine.dialect.name, count=len(services))
    if audit.key_source == "database" and not settings.is_local:
        log(logging.WARNING, "GMG_CDS_AUDIT_KEY is not set: patient ids in the audit are hashed "
            "with a key stored in the database itself; set the variable to keep the key apart",
            event="startup", reason="audit-key-in-database")

    serve_demo = (settings.is_local or settings.is_demo) if demo_fhir is None else demo_fhir
    if serve_demo:  # synthetic demo patients for the sandbox; never real data
        from .demo_fhir import DEMO_DIR, DemoStore, blueprint

        app.register_blueprint(blueprint(DemoStore(DEMO_DIR, settings.evaluation_date or date.today())))
        log(logging.WARNING, "DEMO FHIR endpoint at /demo/fhir serves synthetic demo patients "
            "(read-only, open; not for production)", event="startup", profile=settings.env)

    summary_link = smart.register(app, settings, store)  # the MG summary page (SMART app)

    CORS(
        app,
        resources={r"/cds-services*": {"origins": list(settings.cors_origins)},
                   r"/openapi.json": {"origins": list(settings.cors_origins)},
                   r"/demo/fhir/*": {"origins": "*"}},
        allow_headers=["Authorization", "Content-Type"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=600,
        send_wildcard="*" in settings.cors_origins,
        # A page on the public internet (the hosted CDS Hooks sandbox) calling a service on the
        # tester's own machine needs Chrome's Private Network Access grant; never in production.
        allow_private_network=settings.is_local or settings.is_demo,
    )

    def today() -> date:
        return settings.evaluation_date or date.today()

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
            authenticator(request, _called_url(settings))

    @app.after_request
    def _log(resp: Response) -> Response:
        fields = dict(getattr(g, "fields", {}))
        fields["status"] = resp.status_code
        fields["duration_ms"] = round((time.monotonic() - getattr(g, "started", time.monotonic())) * 1000, 1)
        log(logging.INFO if resp.status_code < 500 else logging.ERROR, "request", event="request", **fields)
        # Metrics and the audit row are written once the answer has been sent (WSGI close), so
        # the EHR does not wait for them; they read only values captured here.
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
        endpoint = request.endpoint or "none"
        service = services.get((request.view_args or {}).get("service_id", "")) \
            if endpoint == "invoke" else None
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
                    413: f"request body larger than {settings.max_body_bytes} bytes"}
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

    @app.get("/healthz")
    def healthz() -> Response:
        return _json_response({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        if store.ping():
            return _json_response({"status": "ready", "database": "ok"})
        return _json_response({"status": "unavailable", "database": "unreachable"}, 503)

    @app.get("/cds-services")
    def discover() -> Response:
        return _json_response(discovery)

    def service_or_404(service_id: str) -> ServiceDefinition:
        service = services.get(service_id)
        if service is None:
            raise ServiceError(404, Issue("not-found", "unknown CDS service id"))
        g.fields["service"] = service.id
        return service

    @app.post("/cds-services/<service_id>")
    def invoke(service_id: str) -> Response:
        service = service_or_404(service_id)
        body = parse_json_body(settings)
        problem = validation.first_error("request.json", body)
        if problem:
            raise bad_request(f"{problem[0]}: {problem[1]}", expression=problem[0])
        g.fields["hookInstance"] = body["hookInstance"]
        g.fields["hook"] = body["hook"]
        if body["hook"] != service.hook:
            raise bad_request(f"hook: this service answers {service.hook}", expression="hook")
        problem = validation.first_error(
            validation.CONTEXT_SCHEMAS[service.hook], body["context"], prefix="context"
        )
        if problem:
            raise bad_request(f"{problem[0]}: {problem[1]}", expression=problem[0])

        resolution = prefetch.resolve(service.prefetch, body, settings, g.started)
        g.resolution = resolution
        # Freed once the answer has gone, not before: at 500 resources freeing the body and the
        # fetched bundles takes ~1.5 ms, at 5,000 ~13 ms (README "Performance").
        g.release_after_answer = [body, resolution]
        g.patient_id = body["context"].get("patientId")
        g.fields["fetched"] = resolution.fetched or None
        missing = sorted(resolution.unavailable & service.required_keys)
        if missing:
            g.fields["keys"] = missing
            raise ServiceError(
                412,
                *(Issue("processing", f"prefetch {k}: not provided and could not be retrieved "
                        f"({resolution.problems.get(k, 'unavailable')})", expression=f"prefetch.{k}")
                  for k in missing),
            )
        call = HookCall(
            service_id=service.id,
            hook=service.hook,
            hook_instance=body["hookInstance"],
            context=body["context"],
            prefetch=resolution.prefetch,
            unavailable=frozenset(resolution.unavailable | resolution.incomplete),
            today=today(),
            language=negotiate_language(request.headers.get("Accept-Language"), settings.language),
            summary_url=summary_link() if summary_link and service.hook == "patient-view" else None,
        )
        cards = [card.to_json() for card in service.handler(call)]
        g.fields["cards"] = len(cards)
        g.cards_out = cards  # audited with the call (cards_served) once the status is known
        return _json_response({"cards": cards})

    @app.post("/cds-services/<service_id>/feedback")
    def give_feedback(service_id: str) -> Response:
        service = service_or_404(service_id)
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
        return _json_response({})

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        payload, content_type = metrics.exposition()
        return Response(payload, status=200, content_type=content_type)

    openapi.register(app, services, settings)
    return app


def _called_url(settings: Settings) -> str:
    """The exact URL the caller called (the JWT `aud`), honouring a configured public base."""
    if settings.public_base_url:
        return settings.public_base_url + request.path
    return request.base_url

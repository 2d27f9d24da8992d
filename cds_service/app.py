"""The app factory: everything parsed once at start, then the blueprints.

Routes live in `routes/` (hooks and discovery, feedback, health and metrics) and `demo_fhir.py`
(the demo FHIR endpoint, local and demo mode only); what happens around every request (timing,
authentication, request log, metrics, audit) in `lifecycle.py`; the error model in `errors.py`;
reading a JSON body in `json_body.py`; Accept-Language in `language.py`.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_cors import CORS

import terminology
from hooks import context as hook_context
from hooks import registry
from hooks.registry import ServiceDefinition

from . import lifecycle, metrics, openapi, smart, validation
from .audit import AuditTrail
from .errors import register_error_handlers
from .logs import configure, log
from .routes import feedback, health, hooks
from .settings import PUBLIC_BASE_URL_REQUIRED, ConfigError, Settings
from .state import Authenticator, ServiceState
from .store import Store, open_store


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
    if settings.auth_required and not settings.audience_bases:  # Settings built without from_env
        raise ConfigError(PUBLIC_BASE_URL_REQUIRED)
    configure(settings.log_level)
    app = Flask("gmg_cds")
    app.test_client_class = ClosingTestClient
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["GMG_SETTINGS"] = settings

    # Everything parsed once per process, not per request.
    terminology.warm()
    # A site's concept maps (GMG_CDS_CONCEPT_MAPS): read, checked (a bad one stops the start,
    # naming its file and element) and folded into the terminology index.
    terminology.configure_concept_maps(settings.concept_maps)
    validation.warm()
    # The clinical parameter set (with the site override of GMG_CDS_PARAMETERS_FILE): read and
    # checked now, so a broken override stops the start instead of failing every hook call.
    # The fhir.resources element classes are loaded here too, before workers fork.
    hook_context.warm()
    hook_context.configure_model_cache(settings.model_cache_size)
    services = services or registry.services()
    store = store or open_store(settings.database_url, pool=settings.db_pool,
                                migrate=settings.migrate_on_start)
    app.config["GMG_STORE"] = store
    audit = AuditTrail(store, key=settings.audit_key, retention_days=settings.audit_retention_days)
    app.config["GMG_AUDIT"] = audit
    audit.maybe_purge()

    if authenticator is None and settings.auth_required:
        from .auth import build_authenticator

        authenticator = build_authenticator(settings, store)
    summary_link = smart.register(app, settings, store)  # the MG summary page (a SMART app)
    state = ServiceState(settings=settings, store=store, audit=audit, services=services,
                         meter=metrics.instruments(), authenticator=authenticator,
                         summary_link=summary_link)

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

    lifecycle.register(app, state)
    register_error_handlers(app, settings.max_body_bytes)
    app.register_blueprint(health.blueprint(state))
    app.register_blueprint(hooks.blueprint(state))
    app.register_blueprint(feedback.blueprint(state))
    openapi.register(app, services, settings)
    return app

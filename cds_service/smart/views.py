"""Routes of the MG summary: the SMART launch, the callback that shows the page, its assets.

    GET /smart/launch[/<language>]?iss=…&launch=…   EHR launch (or standalone without `launch`)
    GET /smart/callback?code=…&state=…              the page
    GET /smart/static/…                             stylesheet, script, plotly.js

Every answer carries the page's security headers: a Content-Security-Policy naming no other
origin (no inline script or style, no eval), `Cache-Control: no-store` on everything but the
versioned assets, `Referrer-Policy: no-referrer` (the callback URL holds the code), nosniff.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from hooks.i18n import normalise

from ..language import negotiate_language
from ..logs import log
from ..settings import Settings
from . import oauth, page
from .assets import MIMETYPES, ONE_YEAR, Assets
from .config import LAUNCH_SECONDS, SmartConfig
from .messages import Messages
from .oauth import SmartError
from .state import CALLBACK_PATH, LaunchState, cookie_name, seal, unseal

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'")


def security_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if "Cache-Control" not in resp.headers or not resp.headers["Cache-Control"].startswith("public"):
        resp.headers["Cache-Control"] = "no-store"
    return resp


def public_base(settings: Settings) -> str:
    return settings.public_base_url or request.url_root.rstrip("/")


def is_loopback_request() -> bool:
    host = urlsplit(request.url_root).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1")


def demo_fhir_base(settings: Settings, cfg: SmartConfig) -> tuple[str, ...]:
    """The bundled demo FHIR endpoint as a launch server, in local and demo mode only, and (demo
    mode) only when its address cannot come from a forged Host header."""
    if not cfg.demo:
        return ()
    if settings.is_local or settings.public_base_url or is_loopback_request():
        return (public_base(settings) + "/demo/fhir",)
    return ()


def language_of(path_language: str | None, settings: Settings) -> str:
    if path_language:
        return normalise(path_language)
    return negotiate_language(request.headers.get("Accept-Language"), settings.language)


def message_page(m: Messages, reason: str, status: int, **values: Any) -> Response:
    html = render_template("smart/message.html", m=m, title=m("error.title"), text=m(reason, **values),
                           again=m("error.again"))
    return Response(html, status=status, mimetype="text/html")


def blueprint(settings: Settings, cfg: SmartConfig, assets: Assets) -> Blueprint:
    bp = Blueprint("smart", __name__, url_prefix="/smart", template_folder="templates")
    bp.after_request(security_headers)

    @bp.app_context_processor
    def _assets() -> dict[str, Any]:
        return {"assets": assets}

    @bp.errorhandler(SmartError)
    def _refused(exc: SmartError) -> Response:
        log(logging.INFO, "smart launch refused", event="smart", reason=exc.reason, status=exc.status)
        return message_page(Messages(getattr(request, "smart_language", settings.language)), exc.reason,
                            exc.status, **exc.values)

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return Response(f"{exc.code} {exc.name}", status=exc.code or 500, mimetype="text/plain")

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        tb, where = exc.__traceback__, None
        while tb is not None:  # innermost frame: file and line only (a message may hold data)
            where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
            tb = tb.tb_next
        log(logging.ERROR, "smart page failed", event="smart", error_type=type(exc).__name__, where=where)
        return message_page(Messages(getattr(request, "smart_language", settings.language)), "error.internal", 500)

    @bp.get("/launch")
    @bp.get("/launch/<language>")
    def launch(language: str | None = None) -> Response:
        lang = language_of(language, settings)
        request.smart_language = lang  # type: ignore[attr-defined]
        if not cfg.launchable:
            raise SmartError("error.not-launchable", 404)
        demo_base = demo_fhir_base(settings, cfg)
        iss = request.args.get("iss")
        if not iss:  # standalone launch without a server: choose one
            servers = oauth.trusted_servers(settings, demo_base)
            if not servers:
                raise SmartError("error.missing-iss")
            html = render_template("smart/choose.html", m=Messages(lang), servers=servers, lang=lang,
                                   demo=bool(demo_base))
            return Response(html, mimetype="text/html")
        base = oauth.trusted_iss(iss, settings, demo_base)
        endpoints = oauth.discover(base, settings)
        launch_token = request.args.get("launch") or None
        state = LaunchState(state=oauth.new_state(), code_verifier=oauth.new_code_verifier(), iss=base,
                            token_endpoint=endpoints.token, language=lang, ehr_launch=launch_token is not None)
        url = oauth.authorization_url(
            endpoints, client_id=cfg.client_id, client_secret=cfg.client_secret,
            redirect_uri=public_base(settings) + CALLBACK_PATH, aud=iss.strip(), state=state.state,
            code_verifier=state.code_verifier, launch=launch_token)
        resp = redirect(url, code=302)
        resp.set_cookie(cookie_name(state.state), seal(cfg.state_key, state), max_age=LAUNCH_SECONDS,
                        path=CALLBACK_PATH, secure=cfg.secure_cookies, httponly=True, samesite="Lax")
        log(logging.INFO, "smart launch", event="smart", reason="ehr-launch" if state.ehr_launch else "standalone")
        return resp

    @bp.get("/callback")
    def callback() -> Response:
        started = time.monotonic()
        state_value = request.args.get("state") or ""
        launch = unseal(cfg.state_key, request.cookies.get(cookie_name(state_value)) if state_value else None,
                        state_value)
        request.smart_language = launch.language if launch else settings.language  # type: ignore[attr-defined]
        if launch is None:
            raise SmartError("error.state", 400)
        error = request.args.get("error")
        if error:
            raise SmartError("error.denied", 403, error=error[:64])
        code = request.args.get("code")
        if not code:
            raise SmartError("error.token", 400)
        grant = oauth.exchange_code(
            launch.token_endpoint, code=code, code_verifier=launch.code_verifier, client_id=cfg.client_id,
            client_secret=cfg.client_secret, redirect_uri=public_base(settings) + CALLBACK_PATH, settings=settings)
        resolution = page.fetch_chart(launch.iss, grant, settings, started)
        patient_id = grant.patient
        del grant  # the token is not needed any more
        page.check_resolution(resolution, patient_id)
        today = settings.evaluation_date or date.today()
        summary = page.build(resolution.prefetch, frozenset(resolution.unavailable | resolution.incomplete),
                             patient_id, today, launch.language)
        html = page.render(summary, page.banner(resolution.prefetch.get("patient"), patient_id), assets,
                           demo=cfg.demo and launch.iss.endswith("/demo/fhir"))
        resp = Response(html, mimetype="text/html")
        resp.delete_cookie(cookie_name(state_value), path=CALLBACK_PATH, secure=cfg.secure_cookies,
                           httponly=True, samesite="Lax")
        log(logging.INFO, "smart page", event="smart", status=200, fetched=resolution.fetched or None,
            duration_ms=round((time.monotonic() - started) * 1000, 1))
        return resp

    @bp.get("/static/plotly-<digest>.min.js")
    def plotly_js(digest: str) -> Response:
        if digest != assets.plotly_digest:
            abort(404)
        gzipped = "gzip" in (request.headers.get("Accept-Encoding") or "")
        resp = Response(assets.plotly(gzipped), mimetype="text/javascript")
        if gzipped:
            resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Vary"] = "Accept-Encoding"
        resp.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
        return resp

    @bp.get("/static/<name>")
    def static_file(name: str) -> Response:
        if name not in assets.own:
            abort(404)
        _, data = assets.own[name]
        resp = Response(data, mimetype=MIMETYPES[name[name.rindex("."):]])
        resp.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
        return resp

    return bp

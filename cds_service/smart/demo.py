"""DEMO ONLY (local and demo mode): the whole SMART launch against the bundled demo patients.

    GET  /smart/demo-launch?patient=<demo patient id or slug>[&lang=zh-CN]
         -> /smart/launch?iss=<this service>/demo/fhir&launch=<signed launch context>
    GET  /demo/fhir/.well-known/smart-configuration        discovery of the demo server
    GET  /smart/demo-auth/authorize                         grants at once (no sign-in: demo)
    POST /smart/demo-auth/token                             checks PKCE (S256), returns a token

The page's client goes through exactly the steps it takes with an EHR: discovery over HTTP,
authorization redirect with `state`, PKCE and `aud`, code exchange over HTTP, FHIR reads over
HTTP from the demo FHIR endpoint. The demo server checks the client id, the redirect URI, `aud`,
the scopes and the code verifier; its codes, launch contexts and tokens are signed (itsdangerous)
with a key derived from the shared secret, so any instance can check them. It keeps no state, so
a code can be replayed within its two minutes: acceptable for synthetic data, never for real
data — none of these routes exists in production.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Blueprint, Response, redirect, render_template, request
from itsdangerous import BadData, URLSafeTimedSerializer

from ..demo_fhir import DEMO_DIR
from ..settings import Settings
from .config import LAUNCH_SECONDS, SmartConfig
from .messages import Messages
from .oauth import READ_TYPES
from .state import CALLBACK_PATH
from .views import demo_fhir_base, message_page, public_base, security_headers

CODE_SECONDS = 120
TOKEN_SECONDS = 300


@dataclass(frozen=True)
class DemoPatient:
    slug: str
    id: str
    name: str


def demo_patients(bundle_dir: Path = DEMO_DIR) -> list[DemoPatient]:
    out = []
    for path in sorted(bundle_dir.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        for entry in bundle.get("entry", ()):
            res = entry.get("resource") or {}
            if res.get("resourceType") == "Patient":
                n = (res.get("name") or [{}])[0]
                out.append(DemoPatient(path.stem, res["id"], " ".join(n.get("given", []) + [n.get("family", "")]).strip()))
    return out


def smart_configuration(base: str) -> dict[str, Any]:
    return {
        "issuer": base + "/demo/fhir",
        "authorization_endpoint": base + "/smart/demo-auth/authorize",
        "token_endpoint": base + "/smart/demo-auth/token",
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "grant_types_supported": ["authorization_code"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["launch", "launch/patient"] + [f"patient/{t}.rs" for t in READ_TYPES]
        + [f"patient/{t}.read" for t in READ_TYPES],
        "capabilities": ["launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                         "context-ehr-patient", "context-standalone-patient", "permission-patient",
                         "permission-v1", "permission-v2"],
    }


def blueprint(settings: Settings, cfg: SmartConfig) -> Blueprint:
    bp = Blueprint("smart_demo", __name__, template_folder="templates")
    bp.after_request(security_headers)
    signer = URLSafeTimedSerializer(cfg.demo_key, salt="gmg-cds-demo")
    patients = demo_patients()
    by_key = {p.id: p for p in patients} | {p.slug: p for p in patients}

    def demo_base() -> str | None:
        bases = demo_fhir_base(settings, cfg)
        return bases[0] if bases else None

    def sign(kind: str, payload: dict[str, Any]) -> str:
        return signer.dumps({"k": kind, **payload})

    def unsign(kind: str, value: str | None, max_age: int) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            payload = signer.loads(value, max_age=max_age)
        except BadData:
            return None
        return payload if isinstance(payload, dict) and payload.get("k") == kind else None

    def oauth_error(error: str, status: int = 400) -> Response:
        return Response(json.dumps({"error": error}), status=status, mimetype="application/json")

    @bp.get("/smart/demo-launch")
    def demo_launch() -> Response:
        lang = request.args.get("lang")
        base = demo_base()
        chosen = by_key.get(request.args.get("patient") or "")
        m = Messages(lang or settings.language)
        if base is None:  # demo mode behind a name it cannot vouch for (GMG_CDS_PUBLIC_BASE_URL)
            return message_page(m, "error.untrusted-iss", 403)
        if chosen is None:
            if request.args.get("patient"):
                return message_page(m, "error.unknown-demo-patient", 404, patient=request.args["patient"][:64])
            html = render_template("smart/demo_choose.html", m=m, patients=patients, lang=lang)
            return Response(html, mimetype="text/html")
        launch_path = "/smart/launch" + (f"/{lang}" if lang in ("en", "zh-CN") else "")
        query = urlencode({"iss": base, "launch": sign("launch", {"p": chosen.id})})
        return redirect(f"{launch_path}?{query}", code=302)

    @bp.get("/demo/fhir/.well-known/smart-configuration")
    def configuration() -> Response:
        return Response(json.dumps(smart_configuration(public_base(settings))), mimetype="application/json")

    @bp.get("/smart/demo-auth/authorize")
    def authorize() -> Response:
        a = request.args
        redirect_uri = public_base(settings) + CALLBACK_PATH
        if a.get("redirect_uri") != redirect_uri or a.get("client_id") != cfg.client_id:
            return oauth_error("invalid_client")  # never redirect to an unknown URI
        scope = (a.get("scope") or "").split()
        problem = None
        if a.get("response_type") != "code" or not a.get("state"):
            problem = "invalid_request"
        elif a.get("code_challenge_method") != "S256" or not a.get("code_challenge"):
            problem = "invalid_request"  # PKCE S256 required
        elif a.get("aud") != demo_base():
            problem = "invalid_request"  # the token would be for another server
        patient = None
        if problem is None and a.get("launch") is not None:
            context = unsign("launch", a.get("launch"), LAUNCH_SECONDS)
            patient = context["p"] if context and "launch" in scope else None
            problem = None if patient else "invalid_request"
        elif problem is None:  # standalone: the patient is chosen here
            if "launch/patient" not in scope:
                problem = "invalid_scope"
            elif a.get("patient") in by_key:
                patient = by_key[a["patient"]].id
            else:
                m = Messages(settings.language)
                html = render_template("smart/demo_choose.html", m=m, patients=patients,
                                       authorize=request.url + "&", lang=None)
                return Response(html, mimetype="text/html")
        if problem is not None:
            return redirect(redirect_uri + "?" + urlencode({"error": problem, "state": a.get("state", "")}))
        code = sign("code", {"p": patient, "c": a["code_challenge"], "s": " ".join(scope)})
        return redirect(redirect_uri + "?" + urlencode({"code": code, "state": a["state"]}), code=302)

    @bp.post("/smart/demo-auth/token")
    def token() -> Response:
        f = request.form
        client_id = f.get("client_id")
        auth = request.authorization
        if cfg.client_secret:
            if auth is None or auth.username != cfg.client_id or not hmac.compare_digest(
                    (auth.password or "").encode(), cfg.client_secret.encode()):
                return oauth_error("invalid_client", 401)
        elif client_id != cfg.client_id and (auth is None or auth.username != cfg.client_id):
            return oauth_error("invalid_client", 401)
        if f.get("grant_type") != "authorization_code" or f.get("redirect_uri") != public_base(settings) + CALLBACK_PATH:
            return oauth_error("invalid_grant")
        code = unsign("code", f.get("code"), CODE_SECONDS)
        verifier = f.get("code_verifier") or ""
        if code is None or not verifier or not hmac.compare_digest(
                create_s256_code_challenge(verifier).encode(), str(code["c"]).encode()):
            return oauth_error("invalid_grant")
        body = {
            "access_token": sign("token", {"p": code["p"], "s": code["s"]}),
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": code["s"],
            "patient": code["p"],
        }
        resp = Response(json.dumps(body), mimetype="application/json")
        resp.headers["Pragma"] = "no-cache"
        return resp

    return bp

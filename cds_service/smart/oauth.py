"""SMART App Launch 2.0, the client side: which FHIR servers may launch the page, discovery of
the EHR's endpoints, the authorization request (PKCE S256, `state`, `aud`, `launch`) and the code
exchange — the OAuth 2.0 parts by Authlib.

- `iss` must lie under a FHIR server of a trusted issuer (GMG_CDS_TRUSTED_ISSUERS
  `fhir_servers`) and under GMG_CDS_FHIR_ALLOWED_BASES when that ceiling is set: the same rule
  (`fhir_client.base_allowed`) the hooks apply to `fhirServer`, so discovery, the token exchange
  and every FHIR read go only to servers the site trusts.
- Discovery reads `{iss}/.well-known/smart-configuration` (cached per process for a few minutes),
  with the FHIR client's timeout, a size cap, no redirects and no proxy from the environment; its
  endpoints must be absolute https URLs (http only on loopback outside production) without
  credentials.
- Scopes: only what the page reads, patient-level read/search (SMART v2 `.rs`, or v1 `.read` when
  the server announces only v1 permissions), plus `launch` (EHR launch) or `launch/patient`
  (standalone). No `openid`/`fhirUser`: the page does not need the user's identity.
- The access token is used for the FHIR reads of one page and then dropped: never logged, never
  stored, never sent to the browser.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from hooks.registry import PREFETCH_TEMPLATES

from ..fhir_client import base_allowed
from ..settings import Settings

DISCOVERY_PATH = "/.well-known/smart-configuration"
DISCOVERY_MAX_BYTES = 256 * 1024
DISCOVERY_CACHE_SECONDS = 300.0
TOKEN_MAX_BYTES = 256 * 1024
# The resource types the page reads: those of the hooks' prefetch templates, and Medication (a
# medication given by reference).
READ_TYPES: tuple[str, ...] = tuple(dict.fromkeys(
    [t.split("/", 1)[0].split("?", 1)[0] for t in PREFETCH_TEMPLATES.values()] + ["Medication"]))


class SmartError(Exception):
    """A launch that cannot go on; `reason` is a message id of the page (safe to log)."""

    def __init__(self, reason: str, status: int = 400, **values: str):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.values = values


@dataclass(frozen=True)
class SmartCaller:
    """What `fhir_client.base_allowed` reads of a verified caller: the FHIR servers it may name."""

    fhir_servers: tuple[str, ...]


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    v2_scopes: bool


def trusted_servers(settings: Settings, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    servers = [s for issuer in settings.trusted_issuers for s in issuer.fhir_servers]
    return tuple(dict.fromkeys(servers + list(extra)))


def trusted_iss(iss: str | None, settings: Settings, extra: tuple[str, ...] = ()) -> str:
    """The FHIR base of a launch, when the site trusts it (else SmartError)."""
    if not iss or not isinstance(iss, str):
        raise SmartError("error.missing-iss")
    base = iss.strip().rstrip("/")
    servers = trusted_servers(settings, extra)
    if not servers:
        raise SmartError("error.untrusted-iss", 403)
    from flask import g

    previous = getattr(g, "gmg_caller", None)
    g.gmg_caller = SmartCaller(servers)
    try:
        allowed = base_allowed(base, settings)
    finally:
        g.gmg_caller = previous
    if not allowed:
        raise SmartError("error.untrusted-iss", 403)
    return base


def _check_endpoint(url: Any, settings: Settings) -> str:
    if not isinstance(url, str):
        raise SmartError("error.discovery", 502)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise SmartError("error.discovery", 502) from None
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise SmartError("error.discovery", 502)
    if parts.scheme == "http" and not (loopback or settings.is_local):
        raise SmartError("error.discovery", 502)
    return url


_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, Endpoints]] = {}
_session_local = threading.local()


def _http() -> requests.Session:
    """One requests session per thread: no proxy or netrc from the environment."""
    session = getattr(_session_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        _session_local.session = session
    return session


def _read_capped(resp: requests.Response, limit: int) -> bytes:
    body = b""
    for chunk in resp.iter_content(65536):
        body += chunk
        if len(body) > limit:
            raise SmartError("error.discovery", 502)
    return body


def discover(iss: str, settings: Settings) -> Endpoints:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(iss)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        with _http().get(iss + DISCOVERY_PATH, headers={"Accept": "application/json"},
                         timeout=settings.fhir_timeout_seconds, allow_redirects=False, stream=True) as resp:
            if resp.status_code != 200:
                raise SmartError("error.discovery", 502)
            doc = orjson.loads(_read_capped(resp, DISCOVERY_MAX_BYTES))
    except (requests.RequestException, ValueError):
        raise SmartError("error.discovery", 502) from None
    if not isinstance(doc, dict):
        raise SmartError("error.discovery", 502)
    methods = doc.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise SmartError("error.discovery", 502)  # SMART 2.0 servers support S256; never plain
    capabilities = doc.get("capabilities") if isinstance(doc.get("capabilities"), list) else []
    endpoints = Endpoints(
        authorization=_check_endpoint(doc.get("authorization_endpoint"), settings),
        token=_check_endpoint(doc.get("token_endpoint"), settings),
        v2_scopes="permission-v2" in capabilities or "permission-v1" not in capabilities,
    )
    with _cache_lock:
        _cache[iss] = (now + DISCOVERY_CACHE_SECONDS, endpoints)
    return endpoints


def clear_discovery_cache() -> None:
    with _cache_lock:
        _cache.clear()


def scopes(ehr_launch: bool, v2: bool) -> str:
    """Patient-level read (and search) of what the page shows, and the launch context."""
    out = ["launch" if ehr_launch else "launch/patient"]
    for rtype in READ_TYPES:
        if v2:
            out.append(f"patient/{rtype}.{'r' if rtype in ('Patient', 'Medication') else 'rs'}")
        else:
            out.append(f"patient/{rtype}.read")
    return " ".join(out)


def new_code_verifier() -> str:
    return generate_token(64)  # 64 characters of [A-Za-z0-9]: within RFC 7636's 43..128


def new_state() -> str:
    return generate_token(43)


def _session(client_id: str, client_secret: str | None, redirect_uri: str) -> OAuth2Session:
    session = OAuth2Session(
        client_id=client_id,
        client_secret=client_secret,
        token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    session.trust_env = False
    return session


def authorization_url(endpoints: Endpoints, *, client_id: str, client_secret: str | None,
                      redirect_uri: str, aud: str, state: str, code_verifier: str,
                      launch: str | None) -> str:
    """`aud` is the `iss` exactly as the EHR sent it (some servers compare it character for
    character, trailing slash included)."""
    extra = {"aud": aud, "scope": scopes(launch is not None, endpoints.v2_scopes)}
    if launch is not None:
        extra["launch"] = launch
    with _session(client_id, client_secret, redirect_uri) as session:
        url, _ = session.create_authorization_url(endpoints.authorization, state=state,
                                                  code_verifier=code_verifier, **extra)
    return url


@dataclass(frozen=True)
class Grant:
    """What the page needs from the token response, held only while the page is made."""

    access_token: str
    patient: str

    def __repr__(self) -> str:  # never print the token (tracebacks, debuggers)
        return "Grant(access_token=<hidden>, patient=<hidden>)"


def exchange_code(token_endpoint: str, *, code: str, code_verifier: str, client_id: str,
                  client_secret: str | None, redirect_uri: str, settings: Settings) -> Grant:
    try:
        with _session(client_id, client_secret, redirect_uri) as session:
            token = session.fetch_token(
                token_endpoint, grant_type="authorization_code", code=code, code_verifier=code_verifier,
                timeout=settings.fhir_timeout_seconds, allow_redirects=False,
                headers={"Accept": "application/json"})
    except Exception:  # OAuth error answer, HTTP or transport error: no detail (it may hold data)
        raise SmartError("error.token", 502) from None
    access = token.get("access_token")
    if not isinstance(access, str) or not access or str(token.get("token_type", "")).lower() != "bearer":
        raise SmartError("error.token", 502)
    patient = token.get("patient")
    if not isinstance(patient, str) or not patient:
        raise SmartError("error.no-patient", 502)
    return Grant(access, patient)

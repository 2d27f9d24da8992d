"""Caller authentication: the JWT a CDS client sends as `Authorization: Bearer <JWT>`
(CDS Hooks 2.0.1 "Trusting CDS Clients"; SPEC-NOTES §3.1; cds-hooks best practices, JWT steps).

A token is accepted only when all of these hold, checked in this order (cheap, unauthenticated
checks first; the replay table is written only for tokens whose signature verified):

1. the header parses; `alg` is an asymmetric algorithm on the issuer's list (ES384 and RS384 by
   default; never `none`, never HMAC); `typ`, when present, is JWT; `kid` is present;
2. `iss` is a configured trusted issuer (exact string);
3. a `jku`, when present, is on that issuer's allowlist; the key with that `kid` comes from the
   issuer's JWK Set (file, `jwks_url` or allowlisted `jku`) and fits the algorithm;
4. the signature verifies; `iss`, `aud`, `exp`, `iat`, `jti` are present;
5. `aud` is exactly the URL that was called: GMG_CDS_PUBLIC_BASE_URL + the path (in demo mode
   without it, http://localhost:$PORT or http://127.0.0.1:$PORT + the path); never built from
   the request's Host or X-Forwarded-* headers;
6. `exp` has not passed, `nbf` (if any) has, `iat` is not in the future and not older than
   GMG_CDS_JWT_MAX_AGE_SECONDS, all with GMG_CDS_JWT_LEEWAY_SECONDS of clock skew;
7. `tenant` is one of the issuer's tenants when the issuer is bound to tenants;
8. `jti` has not been seen from this issuer (database-backed, all workers; cds_service/replay.py).

Any failure is answered 401 with no detail and logged with a short reason, the issuer (only when
trusted) and the kid, never the token. The verified caller is kept on `flask.g.gmg_caller`: the
FHIR client reads it to call only that issuer's FHIR servers.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

import jwt
from jwt import exceptions as jwt_errors

from .errors import Issue, ServiceError
from .jwks import IssuerKeys, JwksCache, NoUsableKey
from .logs import log
from .replay import ReplayGuard, ReplayStoreUnavailable
from .settings import (
    ASYMMETRIC_ALGORITHMS,
    SANDBOX_ISSUER,
    SANDBOX_JKU,
    Settings,
    TrustedIssuer,
)

MAX_TOKEN_CHARS = 16 * 1024
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
_UNVERIFIED_JWS = jwt.PyJWS()


@dataclass(frozen=True)
class Caller:
    """A verified CDS client for the duration of one request."""

    issuer: str
    tenant: str | None
    fhir_servers: tuple[str, ...]
    jti: str


class AuthFailure(Exception):
    """Why a token was refused. `reason` is a fixed short code, safe to log."""

    def __init__(self, reason: str, issuer: str | None = None, kid: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.issuer = issuer
        self.kid = kid


def sandbox_issuer(settings: Settings) -> TrustedIssuer:
    """The demo-only entry for the CDS Hooks sandbox: its public key set (bundled), its `jku`
    (never fetched: the key is known by `kid`), and the FHIR servers of GMG_CDS_FHIR_ALLOWED_BASES."""
    return TrustedIssuer(
        iss=SANDBOX_ISSUER,
        jku_allowlist=(SANDBOX_JKU,),
        fhir_servers=settings.fhir_allowed_bases,
        algorithms=("ES384",),
        builtin_sandbox=True,
    )


def effective_issuers(settings: Settings) -> tuple[TrustedIssuer, ...]:
    issuers = list(settings.trusted_issuers)
    if settings.is_demo and settings.demo_trust_sandbox and not any(
        i.iss.rstrip("/") == SANDBOX_ISSUER for i in issuers
    ):
        issuers.append(sandbox_issuer(settings))
    return tuple(issuers)


class JwtVerifier:
    def __init__(self, settings: Settings, replay: ReplayGuard, *,
                 cache: JwksCache | None = None, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.replay = replay
        self.clock = clock
        self.cache = cache or JwksCache(settings)
        self.issuers = {i.iss: IssuerKeys(i, self.cache) for i in effective_issuers(settings)}

    def verify(self, authorization: str | None, called_url: str | tuple[str, ...]) -> Caller:
        """The verified caller, or AuthFailure. `called_url`: the URL called, or the URLs it may
        be known by (settings.audience_bases + path); `aud` must name one of them exactly."""
        token = _bearer_token(authorization)
        try:
            # Header and payload segments decoded once, unverified (the signature is checked by
            # jwt.decode below). PyJWT's header checks (a `kid` that is not a string, `crit`)
            # raise InvalidTokenError: a malformed token like any other, not a server error.
            unverified_parts = _UNVERIFIED_JWS.decode_complete(token, options={"verify_signature": False})
        except jwt_errors.InvalidTokenError:
            raise AuthFailure("malformed-token") from None
        header = unverified_parts["header"]
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS:
            raise AuthFailure("alg-not-allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthFailure("bad-typ")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise AuthFailure("missing-kid")
        safe_kid = kid[:64]
        try:  # as jwt.decode reads the payload: a JSON object (stdlib json, as PyJWT)
            unverified = json.loads(unverified_parts["payload"])
        except (ValueError, RecursionError):
            raise AuthFailure("malformed-token", kid=safe_kid) from None
        if not isinstance(unverified, dict):
            raise AuthFailure("malformed-token", kid=safe_kid)
        iss = unverified.get("iss")
        keys = self.issuers.get(iss) if isinstance(iss, str) else None
        if keys is None:
            raise AuthFailure("untrusted-issuer", kid=safe_kid)
        issuer = keys.issuer
        if alg not in issuer.algorithms:
            raise AuthFailure("alg-not-allowed", iss, safe_kid)
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise AuthFailure("jku-not-allowed", iss, safe_kid)
        try:
            key = keys.key_for(kid, alg, jku)
        except NoUsableKey as exc:
            raise AuthFailure(exc.reason, iss, safe_kid) from None

        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                options={
                    "require": list(REQUIRED_CLAIMS),
                    # time checks below, against our own (injectable) clock
                    "verify_exp": False, "verify_iat": False, "verify_nbf": False,
                    "verify_aud": False, "verify_iss": False,
                },
            )
        except jwt_errors.MissingRequiredClaimError as exc:
            raise AuthFailure(f"missing-{exc.claim}", iss, safe_kid) from None
        except jwt_errors.InvalidSignatureError:
            raise AuthFailure("bad-signature", iss, safe_kid) from None
        except jwt_errors.InvalidTokenError:
            raise AuthFailure("invalid-token", iss, safe_kid) from None

        if claims.get("iss") != iss:  # cannot differ, but the signed value is what counts
            raise AuthFailure("untrusted-issuer", kid=safe_kid)
        aud = claims.get("aud")
        audiences = {a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str)}
        called = (called_url,) if isinstance(called_url, str) else called_url
        if audiences.isdisjoint(called):
            raise AuthFailure("wrong-audience", iss, safe_kid)
        self._check_times(claims, iss, safe_kid)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise AuthFailure("bad-jti", iss, safe_kid)
        tenant = claims.get("tenant")
        if issuer.tenants and (not isinstance(tenant, str) or tenant not in issuer.tenants):
            raise AuthFailure("wrong-tenant", iss, safe_kid)
        # Remember the jti for as long as the token could pass the checks above.
        horizon = min(float(claims["exp"]), float(claims["iat"]) + self.settings.jwt_max_age_seconds)
        if not self.replay.claim(iss, jti, math.ceil(horizon + self.settings.jwt_leeway_seconds)):
            raise AuthFailure("replayed-jti", iss, safe_kid)
        return Caller(
            issuer=iss,
            tenant=tenant if isinstance(tenant, str) else None,
            fhir_servers=issuer.fhir_servers,
            jti=jti,
        )

    def _check_times(self, claims: dict[str, Any], iss: str, kid: str) -> None:
        now = self.clock()
        leeway = self.settings.jwt_leeway_seconds

        def number(name: str) -> float:
            value = claims.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise AuthFailure(f"bad-{name}", iss, kid)
            return float(value)

        exp, iat = number("exp"), number("iat")
        if exp <= now - leeway:
            raise AuthFailure("expired", iss, kid)
        if iat > now + leeway:
            raise AuthFailure("issued-in-future", iss, kid)
        if now - iat > self.settings.jwt_max_age_seconds + leeway:
            raise AuthFailure("token-too-old", iss, kid)
        if "nbf" in claims and number("nbf") > now + leeway:
            raise AuthFailure("not-yet-valid", iss, kid)


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthFailure("missing-token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthFailure("not-bearer")
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.match(token):
        raise AuthFailure("malformed-token")
    return token


UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


def build_authenticator(settings: Settings, store: Any, *, clock: Callable[[], float] = time.time,
                        cache: JwksCache | None = None):  # noqa: ANN201
    """The `authenticator(request, called_url)` create_app calls before every /cds-services*
    request except CORS preflight."""
    from flask import g

    def replay_degraded(error_type: str) -> None:
        log(logging.WARNING, "database unavailable: jti replay check held in this worker's memory "
            "until it is back", event="auth", reason="replay-store-degraded", error_type=error_type)
        from .metrics import instruments

        instruments().database_errors.labels("replay").inc()

    guard = ReplayGuard(store.engine, clock=clock, memory_on_outage=settings.replay_on_db_outage == "memory",
                        on_degraded=replay_degraded)
    verifier = JwtVerifier(settings, guard, cache=cache, clock=clock)
    if settings.is_demo and settings.demo_trust_sandbox:
        log(logging.WARNING,
            "DEMO MODE: trusting the CDS Hooks sandbox issuer, whose signing key is PUBLIC. Anyone "
            "can mint tokens this service accepts. Never use GMG_CDS_ENV=demo with real patient data.",
            event="startup", profile="demo", issuer=SANDBOX_ISSUER)
    if not verifier.issuers:
        log(logging.WARNING, "no trusted issuers configured (GMG_CDS_TRUSTED_ISSUERS): every call "
            "to /cds-services will be refused", event="startup", reason="no-trusted-issuers")
    if settings.is_demo and not settings.public_base_url:
        log(logging.WARNING, "DEMO MODE: GMG_CDS_PUBLIC_BASE_URL is not set; the JWT audience must be "
            "this service on loopback: " + " or ".join(f"{b}/..." for b in settings.audience_bases),
            event="startup", profile="demo", reason="demo-loopback-audience")

    def authenticate(request: Any, called_url: str | tuple[str, ...]) -> None:
        try:
            caller = verifier.verify(request.headers.get("Authorization"), called_url)
        except AuthFailure as exc:
            log(logging.WARNING, "request refused", event="auth", reason=exc.reason,
                issuer=exc.issuer, kid=exc.kid, path=request.path)
            raise ServiceError(401, Issue("login", "authentication failed"),
                               headers=UNAUTHORIZED_HEADERS) from None
        except ReplayStoreUnavailable as exc:  # GMG_CDS_REPLAY_ON_DB_OUTAGE=refuse: fail closed, transiently
            log(logging.ERROR, "request refused: replay store unavailable", event="auth",
                reason="replay-store-unavailable", error_type=str(exc))
            raise ServiceError(503, Issue("transient", "service temporarily unavailable"),
                               headers={"Retry-After": "5"}) from None
        g.gmg_caller = caller
        fields = getattr(g, "fields", None)
        if isinstance(fields, dict):
            fields["issuer"] = caller.issuer

    authenticate.verifier = verifier  # type: ignore[attr-defined]
    return authenticate

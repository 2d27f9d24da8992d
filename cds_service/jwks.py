"""Public keys of trusted CDS clients: JWK Sets from a file or fetched from allowlisted URLs,
cached per process, refreshed on a schedule and on an unknown `kid` (at most once per
GMG_CDS_JWKS_MIN_REFETCH_SECONDS per URL, so a stream of forged `kid`s cannot make the service
hammer the issuer or itself).

Where the keys for one token come from (cds-hooks best practices, "rotating cache of public keys"):
1. a `jku` header is honoured only when it is on the issuer's `jku_allowlist` (or equals its
   `jwks_url`); any other `jku` rejects the token, and is never fetched (SSRF, key substitution);
2. the `kid` is looked up in the issuer's static set (`jwks_file`) and in the cached set of the
   URL that applies (the `jku`, else `jwks_url`);
3. on a miss that URL is refetched (bounded, see above) and the lookup repeated.

The CDS Hooks sandbox signs with a private key that is published in its repository
(SPEC-NOTES §6.4). That public key is refused wherever it turns up, unless the service runs in
the demo profile.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from .settings import Settings, TrustedIssuer

# shared/cds-hooks/sandbox/sandbox-jwks.json (cds-hooks/sandbox@3b7e255, build/.well-known/jwks.json)
SANDBOX_JWKS: dict[str, Any] = {
    "keys": [
        {
            "kty": "EC",
            "use": "sig",
            "crv": "P-384",
            "kid": "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
            "x": "dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB",
            "y": "Sm3mLE-n1zYNla_aiE3cb3nZsL51RbC7ysw3q8aJLxGm-hx79RPMYpITDjp7kgzy",
            "alg": "ES384",
        }
    ]
}
_PUBLICLY_KNOWN = {(k["kty"], k["crv"], k["x"], k["y"]) for k in SANDBOX_JWKS["keys"]}

# Which JWK key type each JWS algorithm family needs.
_KTY_FOR = {"ES": "EC", "RS": "RSA", "PS": "RSA"}
_EC_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MIN_RSA_BITS = 2048
MAX_KEPT_KEYS = 64  # parsed keys kept per issuer (IssuerKeys.key_for)


class NoUsableKey(Exception):
    """No usable key for a token. `reason` is safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def is_publicly_known_key(jwk: dict[str, Any]) -> bool:
    """True for keys whose private half is public (the CDS Hooks sandbox key)."""
    return (jwk.get("kty"), jwk.get("crv"), jwk.get("x"), jwk.get("y")) in _PUBLICLY_KNOWN


def parse_jwks(doc: Any, *, allow_public_keys: bool) -> dict[str, dict[str, Any]]:
    """kid -> JWK for the signature keys in a JWK Set; unusable entries are skipped."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWK Set")
    out: dict[str, dict[str, Any]] = {}
    for jwk in doc["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("kty") not in ("EC", "RSA"):
            continue
        if "d" in jwk or "p" in jwk:  # a private key published by mistake: not ours to use
            continue
        if is_publicly_known_key(jwk) and not allow_public_keys:
            continue
        out.setdefault(jwk["kid"], jwk)
    return out


def usable_key(jwk: dict[str, Any], alg: str) -> PyJWK:
    """The key as PyJWK for `alg`, after checking that key type, curve and size fit."""
    if jwk.get("alg") not in (None, alg):
        raise NoUsableKey("key-alg-mismatch")
    if jwk.get("kty") != _KTY_FOR.get(alg[:2]):
        raise NoUsableKey("key-alg-mismatch")
    if alg in _EC_CURVE and jwk.get("crv") != _EC_CURVE[alg]:
        raise NoUsableKey("key-alg-mismatch")
    try:
        key = PyJWK(jwk, algorithm=alg)
    except (PyJWKError, ValueError, TypeError):
        raise NoUsableKey("key-unusable") from None
    if jwk["kty"] == "RSA" and getattr(key.key, "key_size", 0) < MIN_RSA_BITS:
        raise NoUsableKey("key-too-weak")
    return key


@dataclass
class _Entry:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None  # last successful fetch
    attempted_at: float | None = None  # last attempt, successful or not
    lock: threading.Lock = field(default_factory=threading.Lock)


class JwksCache:
    """Fetched JWK Sets by URL. Only URLs from the configuration are ever fetched."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self.allow_public_keys = settings.is_demo
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()
        self._session: requests.Session | None = None
        self.fetches = 0  # for tests and metrics

    def _entry(self, url: str) -> _Entry:
        with self._guard:
            return self._entries.setdefault(url, _Entry())

    def keys(self, url: str, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """The cached set for `url`; fetched when missing or stale, or when `refresh` is asked and
        the last attempt is older than the minimum refetch interval."""
        entry = self._entry(url)
        with entry.lock:  # concurrent misses wait for one fetch instead of each fetching
            now = self.clock()
            stale = entry.fetched_at is None or now - entry.fetched_at >= self.settings.jwks_cache_seconds
            may_try = (entry.attempted_at is None
                       or now - entry.attempted_at >= self.settings.jwks_min_refetch_seconds)
            if (stale or refresh) and may_try:
                entry.attempted_at = now
                try:
                    entry.keys = self._fetch(url)
                    entry.fetched_at = self.clock()
                except Exception:  # keep serving the last good set; the miss is reported by the caller
                    pass
            return entry.keys

    def _fetch(self, url: str) -> dict[str, dict[str, Any]]:
        self.fetches += 1
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False
        t = self.settings.jwks_timeout_seconds
        with self._session.get(url, timeout=(t, t), stream=True, allow_redirects=False,
                               headers={"Accept": "application/jwk-set+json, application/json"}) as resp:
            if resp.status_code != 200:
                raise ValueError(f"HTTP {resp.status_code}")
            body = bytearray()
            deadline = time.monotonic() + 2 * t
            for chunk in resp.iter_content(16384):
                body += chunk
                if len(body) > self.settings.jwks_max_bytes or time.monotonic() > deadline:
                    raise ValueError("JWK Set too large or too slow")
        return parse_jwks(json.loads(bytes(body)), allow_public_keys=self.allow_public_keys)


class IssuerKeys:
    """The keys one trusted issuer may sign with."""

    def __init__(self, issuer: TrustedIssuer, cache: JwksCache):
        self.issuer = issuer
        self.cache = cache
        allow_public = cache.allow_public_keys or issuer.builtin_sandbox
        self.static: dict[str, dict[str, Any]] = {}
        self._usable: dict[tuple[int, str], tuple[dict[str, Any], PyJWK]] = {}
        if issuer.builtin_sandbox:
            self.static = parse_jwks(SANDBOX_JWKS, allow_public_keys=True)
        elif issuer.jwks_file:
            with open(issuer.jwks_file, encoding="utf-8") as fh:
                self.static = parse_jwks(json.load(fh), allow_public_keys=allow_public)

    def jku_allowed(self, jku: str) -> bool:
        return jku in self.issuer.jku_allowlist or (self.issuer.jwks_url is not None and jku == self.issuer.jwks_url)

    def key_for(self, kid: str, alg: str, jku: str | None) -> PyJWK:
        if jku is not None and not self.jku_allowed(jku):
            raise NoUsableKey("jku-not-allowed")
        jwk = self.static.get(kid)
        url = jku or self.issuer.jwks_url
        if jwk is None and url is not None:
            jwk = self.cache.keys(url).get(kid)
            if jwk is None:  # perhaps rotated: one bounded refetch
                jwk = self.cache.keys(url, refresh=True).get(kid)
        if jwk is None:
            raise NoUsableKey("unknown-kid")
        # The PyJWK (a parsed public key) is kept per JWK object and algorithm: a key set that is
        # refetched gives new JWK objects, so a rotated or withdrawn key is never served from here.
        # Keys that fail `usable_key` are not kept (checked again on every call).
        slot = (id(jwk), alg)
        kept = self._usable.get(slot)
        if kept is not None and kept[0] is jwk:
            return kept[1]
        key = usable_key(jwk, alg)
        if len(self._usable) >= MAX_KEPT_KEYS:
            self._usable.clear()
        self._usable[slot] = (jwk, key)
        return key

"""Configuration from the environment. The variable names are part of the public interface.

GMG_CDS_ENV selects the profile:
- `production` (the default, what the Procfile runs): callers must present a verified JWT,
  CORS origins must be listed, FHIR servers must be listed.
- `demo`: production security, plus (only with GMG_CDS_DEMO_TRUST_SANDBOX=1) trust in the CDS
  Hooks sandbox's publicly known signing key, for integration tests with the sandbox. Logged
  loudly at start. GMG_CDS_DEMO_TRUST_SANDBOX=1 in production refuses to start.
- `local` (what the README's run command uses): open security, any CORS origin, any FHIR
  server, for a laptop. Logged loudly at start.

The security settings (trusted issuers, JWT leeway and age, algorithms) are described in
docs/SECURITY.md.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

PROFILES = ("local", "demo", "production")
DEFAULT_SQLITE = "sqlite:///var/gmg-cds.sqlite3"

# Asymmetric JWS algorithms only: `none` and HMAC (HS*) are never accepted (CDS Hooks 2.0.1
# "Trusting CDS Clients": SHALL NOT use none or symmetric algorithms).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
DEFAULT_ALGORITHMS = ("ES384", "RS384")  # the two the spec recommends
# The CDS Hooks sandbox signs with a private key committed to its public repository
# (SPEC-NOTES §6.4): its issuer may be trusted only in the demo profile.
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
ISSUER_FIELDS = frozenset(
    {"iss", "jwks_url", "jwks_file", "jku_allowlist", "fhir_servers", "tenant", "algorithms"}
)


# create_app's refusal to serve outside local mode without an audience (Settings.audience_bases).
PUBLIC_BASE_URL_REQUIRED = (
    "GMG_CDS_PUBLIC_BASE_URL must be set outside local mode: the URL EHRs call (e.g. "
    "https://cds.example.org) is the JWT audience; a request's Host and X-Forwarded-* headers are "
    "never trusted for it")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be > 0")
    return value


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or "").strip().lower() or default
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(name: str, url: Any, *, https_only: bool) -> str:
    """An absolute http(s) URL without credentials; https unless loopback when `https_only`."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{name} must be a non-empty URL string")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise ConfigError(f"{name} must not carry credentials")
    if https_only and parts.scheme != "https" and not _is_loopback(parts.hostname):
        raise ConfigError(f"{name} must use https (http is allowed only for loopback addresses)")
    return url.strip()


def _str_tuple(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name} must be a string or a list of non-empty strings")
    return tuple(value)


@dataclass(frozen=True)
class TrustedIssuer:
    """One CDS client (EHR) the service trusts: who it is, where its keys are, which FHIR servers
    it may ask us to call with its token, and which tenant(s) it may speak for."""

    iss: str
    jwks_url: str | None = None  # the issuer's JWK Set, fetched and cached
    jwks_file: str | None = None  # or a JWK Set exchanged out of band
    jku_allowlist: tuple[str, ...] = ()  # `jku` header values that may be fetched
    fhir_servers: tuple[str, ...] = ()  # FHIR base URLs a request from this issuer may name
    tenants: tuple[str, ...] = ()  # when set, the `tenant` claim must be one of these
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    builtin_sandbox: bool = False  # the demo-only entry added by GMG_CDS_DEMO_TRUST_SANDBOX

    @classmethod
    def from_json(
        cls, entry: Any, index: int, *, https_only: bool, default_algorithms: tuple[str, ...],
        base_dir: Path | None = None,
    ) -> "TrustedIssuer":
        where = f"GMG_CDS_TRUSTED_ISSUERS[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be an object")
        unknown = sorted(set(entry) - ISSUER_FIELDS)
        if unknown:  # a typo (e.g. "fhir_server") must not silently mean "nothing allowed"
            raise ConfigError(f"{where} has unknown field(s): {', '.join(unknown)}")
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss.strip():
            raise ConfigError(f"{where}.iss must be a non-empty string")
        jwks_url = entry.get("jwks_url")
        if jwks_url is not None:
            jwks_url = _check_url(f"{where}.jwks_url", jwks_url, https_only=https_only)
        jwks_file = entry.get("jwks_file")
        if jwks_file is not None:
            if not isinstance(jwks_file, str) or not jwks_file:
                raise ConfigError(f"{where}.jwks_file must be a file path")
            path = Path(jwks_file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            if not path.is_file():
                raise ConfigError(f"{where}.jwks_file: no such file")
            jwks_file = str(path)
        jku = tuple(
            _check_url(f"{where}.jku_allowlist", u, https_only=https_only)
            for u in _str_tuple(f"{where}.jku_allowlist", entry.get("jku_allowlist"))
        )
        if not (jwks_url or jwks_file or jku):
            raise ConfigError(f"{where} needs a key source: jwks_url, jwks_file or jku_allowlist")
        servers = tuple(
            _check_url(f"{where}.fhir_servers", u, https_only=https_only).rstrip("/")
            for u in _str_tuple(f"{where}.fhir_servers", entry.get("fhir_servers"))
        )
        algorithms = _str_tuple(f"{where}.algorithms", entry.get("algorithms")) or default_algorithms
        _check_algorithms(f"{where}.algorithms", algorithms)
        return cls(
            iss=iss.strip(),
            jwks_url=jwks_url,
            jwks_file=jwks_file,
            jku_allowlist=jku,
            fhir_servers=servers,
            tenants=_str_tuple(f"{where}.tenant", entry.get("tenant")),
            algorithms=algorithms,
        )


def _check_algorithms(name: str, algorithms: tuple[str, ...]) -> None:
    bad = [a for a in algorithms if a not in ASYMMETRIC_ALGORITHMS]
    if bad or not algorithms:
        raise ConfigError(
            f"{name} may list only asymmetric algorithms ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}); "
            "'none' and HMAC are never accepted"
        )


def load_trusted_issuers(
    raw: str | None, *, https_only: bool, default_algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
) -> tuple[TrustedIssuer, ...]:
    """GMG_CDS_TRUSTED_ISSUERS: inline JSON (starts with `[` or `{`) or the path of a JSON file.
    The JSON is a list of issuer objects, or {"issuers": [...]}. Relative `jwks_file` paths are
    resolved against the file's directory."""
    if raw is None or not raw.strip():
        return ()
    text, base_dir = raw.strip(), None
    if text[0] not in "[{":
        path = Path(text)
        if not path.is_file():
            raise ConfigError("GMG_CDS_TRUSTED_ISSUERS: no such file (give inline JSON or a file path)")
        text, base_dir = path.read_text(encoding="utf-8"), path.parent
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError("GMG_CDS_TRUSTED_ISSUERS is not valid JSON") from exc
    if isinstance(doc, dict):
        doc = doc.get("issuers")
    if not isinstance(doc, list):
        raise ConfigError("GMG_CDS_TRUSTED_ISSUERS must be a JSON list of issuers (or {\"issuers\": [...]})")
    issuers = tuple(
        TrustedIssuer.from_json(e, i, https_only=https_only, default_algorithms=default_algorithms,
                                base_dir=base_dir)
        for i, e in enumerate(doc)
    )
    seen: set[str] = set()
    for issuer in issuers:
        if issuer.iss in seen:
            raise ConfigError(f"GMG_CDS_TRUSTED_ISSUERS lists {issuer.iss!r} twice")
        seen.add(issuer.iss)
    return issuers


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def _flag_default(env: Mapping[str, str], name: str, default: bool) -> bool:
    if (env.get(name) or "").strip() == "":
        return default
    return _flag(env, name)


def _audit_key(env: Mapping[str, str]) -> str | None:
    raw = env.get("GMG_CDS_AUDIT_KEY") or ""
    if not raw.strip():
        return None
    if len(raw.strip()) < 32:  # e.g. `openssl rand -hex 32`
        raise ConfigError("GMG_CDS_AUDIT_KEY must be at least 32 characters (e.g. openssl rand -hex 32)")
    return raw.strip()


def _secret(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) < 32:  # e.g. `openssl rand -hex 32`
        raise ConfigError(f"{name} must be at least 32 characters (e.g. openssl rand -hex 32)")
    return raw


@dataclass(frozen=True)
class Settings:
    env: str = "production"
    database_url: str = DEFAULT_SQLITE
    port: int = 8080
    # CORS: browser clients such as the CDS Hooks sandbox. "*" only in local mode.
    cors_origins: tuple[str, ...] = ()
    # Request limits
    max_body_bytes: int = 16 * 1024 * 1024
    max_json_depth: int = 64
    # Calls back to the EHR's FHIR server
    fhir_timeout_seconds: float = 2.5  # one HTTP call
    prefetch_budget_seconds: float = 4.0  # the whole resolution of one hook call
    fhir_max_pages: int = 20  # searchset pages followed per prefetch key
    fhir_max_response_bytes: int = 32 * 1024 * 1024
    fhir_parallelism: int = 16  # >= the number of prefetch keys, so one call fetches all at once
    # FHIR base URLs the service may call (SSRF guard); empty in local mode = any http(s) URL
    fhir_allowed_bases: tuple[str, ...] = ()
    # The externally visible base URL (e.g. https://cds.example.org): the JWT `aud` is it + the
    # path called. Required outside local mode; Host and X-Forwarded-* are never used for it.
    public_base_url: str | None = None
    # Clinical
    parameters_file: str | None = None
    language: str = "en"
    # Whose label facts the cards give and where a drug is offered ("us" FDA, "cn" NMPA); read by
    # hooks/context.py from the same variable. Not the card language.
    regulatory_region: str = "us"
    evaluation_date: date | None = None  # fixed "today" for demos and tests; None = real date
    log_level: str = "INFO"
    # Security (JWT) – see cds_service/auth.py and docs/SECURITY.md
    auth_required: bool = True
    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    jwt_algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS  # default for issuers that name none
    jwt_leeway_seconds: int = 30  # clock skew tolerated on exp, nbf and iat
    jwt_max_age_seconds: int = 600  # oldest `iat` accepted (tokens are single-use anyway)
    # When the database is down: "memory" keeps answering (replays refused per worker, claims
    # written back later; see cds_service/replay.py) or "refuse" answers 503 (fail closed).
    replay_on_db_outage: str = "memory"
    jwks_cache_seconds: int = 3600  # a fetched JWK Set is refreshed after this long
    jwks_min_refetch_seconds: float = 10.0  # an unknown `kid` refetches at most this often per URL
    jwks_timeout_seconds: float = 2.0
    jwks_max_bytes: int = 256 * 1024
    demo_trust_sandbox: bool = False  # honoured only in the demo profile
    fhir_max_retries: int = 1  # extra GETs after 429/503, within the hook's budget
    # Database (cds_service/store.py): pool per gunicorn worker, bounded waits, migrations
    db_pool_size: int = 4  # connections kept per worker (= GMG_CDS_THREADS by default)
    db_max_overflow: int = 2
    db_pool_timeout_seconds: float = 5.0
    db_connect_timeout_seconds: int = 3
    db_statement_timeout_ms: int = 5000
    migrate_on_start: bool = True  # False: refuse to start unless `gmg-cds migrate` was run
    # Audit of hook calls (cds_service/audit.py): the HMAC key of patient ids, and retention
    audit_key: str | None = field(default=None, repr=False)
    audit_retention_days: int = 365  # 0 keeps audit rows forever
    # Validated FHIR models kept per worker, keyed by exact content (fhir_mappings/model_cache.py)
    model_cache_size: int = 2048  # 0 turns the cache off; ~13 KiB per model
    # Work one hook call may cause (cds_service/admission.py)
    max_resources: int = 20000  # more resources in one call: 413
    large_call_resources: int = 6000  # more: a large call
    large_calls_per_worker: int = 1  # large calls evaluated at once per worker; one more: 503
    # Site FHIR queries (GMG_CDS_FHIR_QUERIES, cds_service/prefetch.py): prefetch key -> the
    # searches the service runs to fetch it itself (() = the EHR does not offer it); None = the
    # discovery templates. Read and checked once, in from_env.
    fhir_queries_file: str | None = None
    fhir_queries: Mapping[str, tuple[str, ...]] | None = field(default=None, hash=False)
    # Site concept maps: FHIR R4 ConceptMap files or folders (terminology/concept_maps.py),
    # read and checked at start
    concept_maps: tuple[str, ...] = ()
    # The MG summary page, a SMART App Launch 2.0 client (cds_service/smart, README "MG summary")
    smart_client_id: str | None = None  # the client id the EHR registered for the page
    smart_client_secret: str | None = field(default=None, repr=False)  # confidential client only
    smart_card_link: bool = True  # patient-view cards link to the page (when it can be launched)
    smart_session_key: str | None = field(default=None, repr=False)  # else generated, in the database
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def db_pool(self):  # noqa: ANN201 (store.PoolOptions; imported lazily)
        from .store import PoolOptions

        return PoolOptions(size=self.db_pool_size, overflow=self.db_max_overflow,
                           timeout_seconds=self.db_pool_timeout_seconds,
                           connect_timeout_seconds=self.db_connect_timeout_seconds,
                           statement_timeout_ms=self.db_statement_timeout_ms)

    @property
    def audience_bases(self) -> tuple[str, ...]:
        """The bases a JWT `aud` may name (followed by the path called): GMG_CDS_PUBLIC_BASE_URL;
        in demo mode without it, the loopback addresses `scripts/serve --demo` listens on (what
        the CDS Hooks sandbox on the tester's machine calls). Never the request's own Host."""
        if self.public_base_url:
            return (self.public_base_url,)
        if self.is_demo:
            return (f"http://localhost:{self.port}", f"http://127.0.0.1:{self.port}")
        return ()

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    @property
    def is_demo(self) -> bool:
        return self.env == "demo"

    @property
    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url[len("sqlite:///"):])
        return None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        profile = env.get("GMG_CDS_ENV", "production").strip().lower() or "production"
        if profile not in PROFILES:
            raise ConfigError(f"GMG_CDS_ENV must be one of {', '.join(PROFILES)}, got {profile!r}")
        local = profile == "local"
        cors = _list(env, "GMG_CDS_CORS_ORIGINS") or (("*",) if local else ())
        if "*" in cors and not local:
            raise ConfigError("GMG_CDS_CORS_ORIGINS may not be '*' in production")
        evaluation_date = None
        if env.get("GMG_CDS_EVALUATION_DATE"):
            try:
                evaluation_date = date.fromisoformat(env["GMG_CDS_EVALUATION_DATE"])
            except ValueError as exc:
                raise ConfigError("GMG_CDS_EVALUATION_DATE must be YYYY-MM-DD") from exc
        language = (env.get("GMG_CDS_LANGUAGE") or "en").strip()
        language = {"en": "en", "zh": "zh-CN", "zh-cn": "zh-CN", "zh-hans": "zh-CN"}.get(language.lower(), "")
        if not language:
            raise ConfigError("GMG_CDS_LANGUAGE must be en or zh-CN (Simplified Chinese)")
        algorithms = _list(env, "GMG_CDS_JWT_ALGORITHMS") or DEFAULT_ALGORITHMS
        _check_algorithms("GMG_CDS_JWT_ALGORITHMS", algorithms)
        issuers = load_trusted_issuers(
            env.get("GMG_CDS_TRUSTED_ISSUERS"), https_only=not local, default_algorithms=algorithms
        )
        demo_trust_sandbox = _flag(env, "GMG_CDS_DEMO_TRUST_SANDBOX")
        if demo_trust_sandbox and profile == "production":
            raise ConfigError(
                "GMG_CDS_DEMO_TRUST_SANDBOX=1 is refused in production: the sandbox's signing key is "
                "public, so anyone could call the service. Use GMG_CDS_ENV=demo for sandbox testing."
            )
        if profile == "production" and any(i.iss.rstrip("/") == SANDBOX_ISSUER for i in issuers):
            raise ConfigError(
                "GMG_CDS_TRUSTED_ISSUERS may not trust the CDS Hooks sandbox in production "
                "(its private key is public); use GMG_CDS_ENV=demo"
            )
        public_base_url = (env.get("GMG_CDS_PUBLIC_BASE_URL") or "").strip().rstrip("/") or None
        if public_base_url is not None:
            public_base_url = _check_url("GMG_CDS_PUBLIC_BASE_URL", public_base_url,
                                         https_only=profile == "production").rstrip("/")
            if urlsplit(public_base_url).query or urlsplit(public_base_url).fragment:
                raise ConfigError("GMG_CDS_PUBLIC_BASE_URL must not have a query or fragment")
        # Required to serve outside local mode (create_app refuses without it), not to run
        # `gmg-cds migrate`, which serves nothing.
        return cls(
            env=profile,
            database_url=env.get("GMG_CDS_DATABASE_URL", "").strip() or DEFAULT_SQLITE,
            port=_int(env, "PORT", 8080, 1),
            cors_origins=cors,
            max_body_bytes=_int(env, "GMG_CDS_MAX_BODY_BYTES", 16 * 1024 * 1024, 1024),
            max_json_depth=_int(env, "GMG_CDS_MAX_JSON_DEPTH", 64, 8),
            fhir_timeout_seconds=_float(env, "GMG_CDS_FHIR_TIMEOUT_SECONDS", 2.5),
            prefetch_budget_seconds=_float(env, "GMG_CDS_PREFETCH_BUDGET_SECONDS", 4.0),
            fhir_max_pages=_int(env, "GMG_CDS_FHIR_MAX_PAGES", 20, 1),
            fhir_max_response_bytes=_int(
                env, "GMG_CDS_FHIR_MAX_RESPONSE_BYTES", 32 * 1024 * 1024, 1024
            ),
            fhir_parallelism=_int(env, "GMG_CDS_FHIR_PARALLELISM", 16, 1),
            fhir_allowed_bases=tuple(b.rstrip("/") for b in _list(env, "GMG_CDS_FHIR_ALLOWED_BASES")),
            public_base_url=public_base_url,
            parameters_file=env.get("GMG_CDS_PARAMETERS_FILE") or None,
            language=language,
            regulatory_region=_choice(env, "GMG_CDS_REGULATORY_REGION", ("us", "cn"), "us"),
            evaluation_date=evaluation_date,
            log_level=(env.get("GMG_CDS_LOG_LEVEL") or "INFO").upper(),
            auth_required=not local,
            trusted_issuers=issuers,
            jwt_algorithms=algorithms,
            jwt_leeway_seconds=_int(env, "GMG_CDS_JWT_LEEWAY_SECONDS", 30, 0),
            jwt_max_age_seconds=_int(env, "GMG_CDS_JWT_MAX_AGE_SECONDS", 600, 1),
            replay_on_db_outage=_choice(env, "GMG_CDS_REPLAY_ON_DB_OUTAGE", ("memory", "refuse"), "memory"),
            jwks_cache_seconds=_int(env, "GMG_CDS_JWKS_CACHE_SECONDS", 3600, 1),
            jwks_min_refetch_seconds=_float(env, "GMG_CDS_JWKS_MIN_REFETCH_SECONDS", 10.0),
            demo_trust_sandbox=demo_trust_sandbox and profile == "demo",
            fhir_max_retries=_int(env, "GMG_CDS_FHIR_MAX_RETRIES", 1, 0),
            db_pool_size=_int(env, "GMG_CDS_DB_POOL_SIZE", _int(env, "GMG_CDS_THREADS", 4, 1), 1),
            db_max_overflow=_int(env, "GMG_CDS_DB_MAX_OVERFLOW", 2, 0),
            db_pool_timeout_seconds=_float(env, "GMG_CDS_DB_POOL_TIMEOUT_SECONDS", 5.0),
            db_connect_timeout_seconds=_int(env, "GMG_CDS_DB_CONNECT_TIMEOUT_SECONDS", 3, 2),
            db_statement_timeout_ms=_int(env, "GMG_CDS_DB_STATEMENT_TIMEOUT_MS", 5000, 100),
            migrate_on_start=_flag_default(env, "GMG_CDS_MIGRATE_ON_START", True),
            audit_key=_audit_key(env),
            audit_retention_days=_int(env, "GMG_CDS_AUDIT_RETENTION_DAYS", 365, 0),
            model_cache_size=_int(env, "GMG_CDS_MODEL_CACHE_SIZE", 2048, 0),
            max_resources=_int(env, "GMG_CDS_MAX_RESOURCES", 20000, 1),
            large_call_resources=_int(env, "GMG_CDS_LARGE_CALL_RESOURCES", 6000, 1),
            large_calls_per_worker=_int(env, "GMG_CDS_LARGE_CALLS_PER_WORKER", 1, 1),
            fhir_queries_file=(env.get("GMG_CDS_FHIR_QUERIES") or "").strip() or None,
            fhir_queries=site_fhir_queries(env.get("GMG_CDS_FHIR_QUERIES")),
            concept_maps=_list(env, "GMG_CDS_CONCEPT_MAPS"),
            smart_client_id=(env.get("GMG_CDS_SMART_CLIENT_ID") or "").strip() or None,
            smart_client_secret=(env.get("GMG_CDS_SMART_CLIENT_SECRET") or "").strip() or None,
            smart_card_link=_flag_default(env, "GMG_CDS_SMART_CARD_LINK", True),
            smart_session_key=_secret(env, "GMG_CDS_SMART_SESSION_KEY"),
        )


def site_fhir_queries(path: str | None) -> dict[str, tuple[str, ...]] | None:
    """GMG_CDS_FHIR_QUERIES read and checked against the services' prefetch keys (ConfigError)."""
    if path is None or not path.strip():
        return None
    from fhir_mappings.prefetch import KEY_FOR_TYPE
    from hooks.registry import PREFETCH_TEMPLATES, REQUIRED_KEYS

    from .prefetch import load_site_queries

    key_types = {key: rtype for rtype, key in KEY_FOR_TYPE.items()}
    return load_site_queries(path, PREFETCH_TEMPLATES, REQUIRED_KEYS, key_types)

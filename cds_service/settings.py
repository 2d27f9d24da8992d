"""Configuration from the environment. The variable names are part of the public interface.

GMG_CDS_ENV selects the profile:
- `production` (the default, what the Procfile runs): callers must present a verified JWT,
  CORS origins must be listed, FHIR servers must be listed.
- `local` (what the README's run command uses): open security, any CORS origin, any FHIR
  server, for a laptop. Logged loudly at start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Mapping

PROFILES = ("local", "production")
DEFAULT_SQLITE = "sqlite:///var/gmg-cds.sqlite3"


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


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


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
    fhir_parallelism: int = 8
    # FHIR base URLs the service may call (SSRF guard); empty in local mode = any http(s) URL
    fhir_allowed_bases: tuple[str, ...] = ()
    # Public base URL (e.g. https://cds.example.org) when behind a proxy; used for JWT `aud`
    public_base_url: str | None = None
    # Clinical
    parameters_file: str | None = None
    language: str = "en"
    evaluation_date: date | None = None  # fixed "today" for demos and tests; None = real date
    log_level: str = "INFO"
    # Security (JWT) – see cds_service/auth.py
    auth_required: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.env == "local"

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
        language = env.get("GMG_CDS_LANGUAGE", "en").strip() or "en"
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
            fhir_parallelism=_int(env, "GMG_CDS_FHIR_PARALLELISM", 8, 1),
            fhir_allowed_bases=tuple(b.rstrip("/") for b in _list(env, "GMG_CDS_FHIR_ALLOWED_BASES")),
            public_base_url=(env.get("GMG_CDS_PUBLIC_BASE_URL") or "").rstrip("/") or None,
            parameters_file=env.get("GMG_CDS_PARAMETERS_FILE") or None,
            language=language,
            evaluation_date=evaluation_date,
            log_level=(env.get("GMG_CDS_LOG_LEVEL") or "INFO").upper(),
            auth_required=not local,
        )

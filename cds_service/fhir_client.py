"""Calls back to the EHR's FHIR server: bounded in time and size, never to an untrusted address.

One `requests.Session` per process (connection reuse), created lazily after gunicorn forks.
Every call has a timeout no longer than what remains of the hook's budget, and the body is read
in chunks up to a size cap. Only GET is ever issued. The access token is sent only to URLs
under the request's own `fhirServer` base, which must itself be allowed (SSRF guard).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .settings import Settings


class FhirError(Exception):
    """A FHIR call that did not yield usable JSON. `kind` is safe to log (no URLs, no data)."""

    def __init__(self, kind: str, status: int | None = None):
        super().__init__(kind if status is None else f"{kind} (HTTP {status})")
        self.kind = kind
        self.status = status


@dataclass(frozen=True)
class FhirServer:
    base: str  # no trailing slash
    token: str | None

    def owns(self, url: str) -> bool:
        """True when `url` lies under this base (same scheme, host, port and path prefix)."""
        b, u = urlsplit(self.base), urlsplit(url)
        if (b.scheme, b.netloc.lower()) != (u.scheme, u.netloc.lower()):
            return False
        prefix = b.path.rstrip("/")
        return u.path == prefix or u.path.startswith(prefix + "/")


def base_allowed(base: str, settings: Settings) -> bool:
    """Whether the service may call this FHIR base at all (and send it a token)."""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.username or parts.password:
        return False
    if settings.is_local and not settings.fhir_allowed_bases:
        return True
    wanted = base.rstrip("/")
    return any(wanted == allowed or wanted.startswith(allowed + "/") for allowed in settings.fhir_allowed_bases)


_local = threading.local()


def _session(settings: Settings) -> requests.Session:
    sess = getattr(_local, "session", None)
    if sess is None:
        sess = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=settings.fhir_parallelism, max_retries=0)
        sess.mount("http://", adapter)
        sess.mount("https://", adapter)
        sess.trust_env = False  # never route EHR calls through an ambient proxy configuration
        _local.session = sess
    return sess


def get_json(server: FhirServer, url: str, settings: Settings, deadline: float) -> dict[str, Any]:
    """GET one FHIR URL under `server` and return the parsed JSON object."""
    if not server.owns(url):
        raise FhirError("url-outside-fhir-server")
    remaining = deadline - time.monotonic()
    if remaining <= 0.05:
        raise FhirError("budget-exhausted")
    headers = {"Accept": "application/fhir+json, application/json"}
    if server.token:
        headers["Authorization"] = f"Bearer {server.token}"
    timeout = min(settings.fhir_timeout_seconds, remaining)
    try:
        with _session(settings).get(
            url, headers=headers, timeout=(min(timeout, 2.0), timeout), stream=True, allow_redirects=False
        ) as resp:
            if resp.status_code != 200:
                raise FhirError("http-error", resp.status_code)
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > settings.fhir_max_response_bytes:
                raise FhirError("response-too-large")
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > settings.fhir_max_response_bytes:
                    raise FhirError("response-too-large")
                if time.monotonic() > deadline:
                    raise FhirError("budget-exhausted")
                chunks.append(chunk)
    except requests.Timeout as exc:
        raise FhirError("timeout") from exc
    except requests.RequestException as exc:
        raise FhirError("connection-failed") from exc
    try:
        doc = json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:
        raise FhirError("invalid-json") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise FhirError("not-a-fhir-resource")
    return doc

"""Calls back to the EHR's FHIR server: bounded in time and size, never to an untrusted address.

One urllib3 pool manager per process, created lazily after gunicorn forks: connections to the
EHR's FHIR server are kept alive between calls (a connection goes back to the pool only after
its body was read to the end; any other outcome closes it). urllib3 directly rather than
requests: measured with ten concurrent searches, requests' per-call machinery added 3–4 ms to
the time until the last answer was parsed. Every call has a timeout no longer than what remains of the hook's budget, and the body is read
in chunks up to a size cap, with the deadline checked between reads (a server that drips bytes
cannot hold a worker thread past the budget by more than one read timeout). Only GET is ever
issued. The access token is sent only to URLs under the request's own `fhirServer` base, which
must itself be allowed (SSRF guard):

- when the caller was authenticated (`flask.g.gmg_caller`, set by cds_service/auth.py), the
  base must lie under one of that issuer's `fhir_servers`, and also under
  GMG_CDS_FHIR_ALLOWED_BASES when that site-wide ceiling is set;
- otherwise (local mode, or an app built with a custom authenticator) under
  GMG_CDS_FHIR_ALLOWED_BASES; in local mode an empty list allows any http(s) base.

A 429 or 503 answer is retried (GET is idempotent) up to GMG_CDS_FHIR_MAX_RETRIES times, after
the server's Retry-After (seconds or HTTP date; 0.2 s when absent), and only when the wait and
another call still fit in the hook's remaining budget; otherwise the key is reported unavailable
at once rather than waiting in vain.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3
from requests.certs import where as ca_bundle  # the CA bundle requests verifies with (certifi)
from urllib3.exceptions import HTTPError as TransportError

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
        try:
            b, u = urlsplit(self.base), urlsplit(url)
        except ValueError:  # e.g. "http://]x": not a URL we will call
            return False
        if (b.scheme, b.netloc.lower()) != (u.scheme, u.netloc.lower()):
            return False
        prefix = b.path.rstrip("/")
        return u.path == prefix or u.path.startswith(prefix + "/")


def _under(base: str, allowed: str) -> bool:
    """`base` equals `allowed` or lies below it (scheme and host compared case-insensitively,
    path by whole segments: https://ehr/fhir does not allow https://ehr/fhir-evil)."""
    try:
        b, a = urlsplit(base), urlsplit(allowed)
    except ValueError:
        return False
    if (b.scheme.lower(), b.netloc.lower()) != (a.scheme.lower(), a.netloc.lower()):
        return False
    prefix = a.path.rstrip("/")
    path = b.path.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def _current_caller() -> Any:
    try:
        from flask import g, has_app_context
    except ImportError:  # pragma: no cover
        return None
    return getattr(g, "gmg_caller", None) if has_app_context() else None


def base_allowed(base: str, settings: Settings) -> bool:
    """Whether the service may call this FHIR base at all (and send it a token)."""
    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:  # e.g. "http://]g" (bad IPv6 literal) or "http://h:99999"
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    if parts.query or parts.fragment or "@" in parts.netloc:
        return False
    caller = _current_caller()
    ceiling = settings.fhir_allowed_bases
    if caller is not None:
        if not any(_under(base, allowed) for allowed in caller.fhir_servers):
            return False
        return not ceiling or any(_under(base, allowed) for allowed in ceiling)
    if settings.is_local and not ceiling:
        return True
    return any(_under(base, allowed) for allowed in ceiling)


_pools_lock = threading.Lock()
_pools: tuple[int, urllib3.PoolManager] | None = None  # (pid, manager): never shared across a fork


def _pool_manager(settings: Settings) -> urllib3.PoolManager:
    global _pools
    current = _pools
    if current is None or current[0] != os.getpid():
        with _pools_lock:
            if _pools is None or _pools[0] != os.getpid():
                # No proxy from the environment (urllib3 reads none), certificates verified
                # against the same bundle as requests, no redirects, no retries of its own.
                _pools = (os.getpid(), urllib3.PoolManager(
                    num_pools=8, maxsize=settings.fhir_parallelism, block=False,
                    cert_reqs="CERT_REQUIRED", ca_certs=ca_bundle(), retries=False))
            current = _pools
    return current[1]


def retry_delay(resp: Any) -> float:
    """Seconds the server asks us to wait (Retry-After: delta-seconds or HTTP-date)."""
    raw = (resp.headers.get("Retry-After") or "").strip()
    if not raw:
        return 0.2
    if raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return 0.2
    return max(0.0, when.timestamp() - time.time())


RETRY_STATUSES = frozenset({429, 503})
MIN_CALL_SECONDS = 0.1  # a retry is pointless if less than this would remain for the call


def get_json(server: FhirServer, url: str, settings: Settings, deadline: float) -> dict[str, Any]:
    """GET one FHIR URL under `server` and return the parsed JSON object."""
    if not server.owns(url):
        raise FhirError("url-outside-fhir-server")
    attempts = 0
    while True:
        try:
            return _get_once(server, url, settings, deadline)
        except _Retryable as exc:
            attempts += 1
            wait = exc.delay
            if attempts > settings.fhir_max_retries or time.monotonic() + wait + MIN_CALL_SECONDS > deadline:
                raise FhirError("http-error", exc.status) from None
            time.sleep(wait)


class _Retryable(Exception):
    def __init__(self, status: int, delay: float):
        super().__init__(status)
        self.status = status
        self.delay = delay


def _socket_of(resp: urllib3.BaseHTTPResponse) -> Any:
    """The socket under a streamed response (private attributes of http.client/urllib3)."""
    try:
        return resp._fp.fp.raw._sock  # type: ignore[attr-defined]
    except AttributeError:
        return getattr(getattr(resp, "_connection", None), "sock", None)


def _tighten(resp: urllib3.BaseHTTPResponse, deadline: float) -> None:
    """Best effort: shorten the socket's read timeout to what remains of the budget, so one
    silent read cannot outlast the deadline by a whole per-call timeout."""
    try:
        sock = _socket_of(resp)
        if sock is not None:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
    except (OSError, AttributeError):
        pass


def _get_once(server: FhirServer, url: str, settings: Settings, deadline: float) -> dict[str, Any]:
    remaining = deadline - time.monotonic()
    if remaining <= 0.05:
        raise FhirError("budget-exhausted")
    headers = {"Accept": "application/fhir+json, application/json"}
    if server.token:
        headers["Authorization"] = f"Bearer {server.token}"
    timeout = min(settings.fhir_timeout_seconds, remaining)
    chunks: list[bytes] = []
    resp: urllib3.BaseHTTPResponse | None = None
    complete = False
    try:
        resp = _pool_manager(settings).request(
            "GET", url, headers=headers, timeout=urllib3.Timeout(connect=min(timeout, 2.0), read=timeout),
            redirect=False, retries=False, preload_content=False, decode_content=True)
        if resp.status in RETRY_STATUSES:
            raise _Retryable(resp.status, retry_delay(resp))
        if resp.status != 200:
            raise FhirError("http-error", resp.status)
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > settings.fhir_max_response_bytes:
            raise FhirError("response-too-large")
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise FhirError("budget-exhausted")
            _tighten(resp, deadline)
            # read1: returns what one socket read yields (decompressed), instead of blocking
            # until a full chunk has trickled in.
            chunk = resp.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > settings.fhir_max_response_bytes:
                raise FhirError("response-too-large")
            chunks.append(chunk)
        complete = True
    except (FhirError, _Retryable):
        raise
    except (TimeoutError, urllib3.exceptions.TimeoutError) as exc:
        raise FhirError("timeout") from exc
    except (TransportError, OSError, ValueError) as exc:  # connection, protocol, decoding errors
        kind = "timeout" if "timed out" in str(exc) or "Timeout" in type(exc).__name__ else "connection-failed"
        raise FhirError(kind) from exc
    except Exception as exc:  # noqa: BLE001 - anything else from the transport: a failed call
        raise FhirError("timeout" if "Timeout" in type(exc).__name__ else "connection-failed") from exc
    finally:
        if resp is not None:
            if not complete:
                resp.close()  # a half-read connection must not serve the next call
            resp.release_conn()
    try:
        doc = orjson.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:
        raise FhirError("invalid-json") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise FhirError("not-a-fhir-resource")
    return doc

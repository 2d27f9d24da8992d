"""Calls back to the EHR's FHIR server: bounded in time and size, never to an untrusted address.

One urllib3 pool manager per process, created lazily after gunicorn forks: connections to the
EHR's FHIR server are kept alive between calls (a connection goes back to the pool only after
its body was read to the end; any other outcome closes it). urllib3 directly rather than
requests: measured with ten concurrent searches, requests' per-call machinery added 3–4 ms to
the time until the last answer was parsed. Every call has a timeout no longer than what remains of the hook's budget, and the body is read
in chunks up to a size cap, with the deadline checked between reads (a server that drips bytes
cannot hold a worker thread past the budget by more than one read timeout). Only GET is ever
issued. The access token is sent only to URLs under the request's own `fhirServer` base, which
must itself be allowed (SSRF guard). Every URL (the base, the allowed bases, a Bundle's `next`
link, any URL built from them) is first normalised (`normalise_url`): percent-encoded dots
decoded, dot segments removed (RFC 3986 §5.2.4); a path with an encoded slash or backslash, a
backslash, `;` or `%25` is refused, since servers disagree on what it means. The comparisons
below and the request itself use the normalised URL, so nothing is sent outside the base:

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
import re
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

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


# In a path, these make servers disagree about where it leads: an encoded slash or backslash
# (decoded by some servers, not others), a backslash (a slash to some), `;` (Tomcat's
# `/..;/`), `%25` (double encoding). FHIR paths (base, type, id, _history) never need them.
_AMBIGUOUS_IN_PATH = re.compile(r"%2f|%5c|%25|\\|;", re.IGNORECASE)
_ENCODED_DOT = re.compile(r"%2e", re.IGNORECASE)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path: "." dropped, ".." removes the segment before it
    (never above the root)."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined


def _normalised(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except (ValueError, AttributeError):  # e.g. "http://]x": not a URL we will call
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return None
    if _AMBIGUOUS_IN_PATH.search(parts.path):
        return None
    path = _remove_dot_segments(_ENCODED_DOT.sub(".", parts.path or "/"))
    return SplitResult(parts.scheme.lower(), parts.netloc.lower(), path, parts.query, "")


def normalise_url(url: str) -> str | None:
    """The URL as it will be called (scheme and host lower-case, percent-encoded dots decoded,
    dot segments removed, no fragment), or None when it cannot be called safely: not absolute
    http(s), credentials in it, or an ambiguous path (see _AMBIGUOUS_IN_PATH)."""
    parts = _normalised(url) if isinstance(url, str) else None
    return urlunsplit(parts) if parts is not None else None


def _within(url: SplitResult, base: SplitResult) -> bool:
    """`url` is `base` or below it: same scheme, host and port; path by whole segments
    (https://ehr/fhir does not contain https://ehr/fhir-evil)."""
    if (url.scheme, url.netloc) != (base.scheme, base.netloc):
        return False
    prefix = base.path.rstrip("/")
    path = url.path.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True)
class FhirServer:
    base: str  # no trailing slash
    token: str | None

    def confine(self, url: str) -> str | None:
        """`url` normalised, when it lies under this (normalised) base; None otherwise."""
        base, target = _normalised(self.base), _normalised(url) if isinstance(url, str) else None
        if base is None or target is None or not _within(target, base):
            return None
        return urlunsplit(target)

    def owns(self, url: str) -> bool:
        """True when `url`, normalised, lies under this base."""
        return self.confine(url) is not None


def _under(base: str, allowed: str) -> bool:
    """`base` equals `allowed` or lies below it, both normalised."""
    b, a = _normalised(base), _normalised(allowed)
    return b is not None and a is not None and _within(b, a)


def _current_caller() -> Any:
    try:
        from flask import g, has_app_context
    except ImportError:  # pragma: no cover
        return None
    return getattr(g, "gmg_caller", None) if has_app_context() else None


def base_allowed(base: str, settings: Settings) -> bool:
    """Whether the service may call this FHIR base at all (and send it a token): judged on the
    normalised base, so `https://ehr/fhir/../admin` is `https://ehr/admin`."""
    try:
        parts = urlsplit(base)
    except ValueError:  # e.g. "http://]g" (bad IPv6 literal)
        return False
    if parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        return False
    if normalise_url(base) is None:
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
    """GET one FHIR URL under `server` and return the parsed JSON object. The URL is normalised
    first and must lie under the server's base; the normalised URL is the one requested."""
    confined = server.confine(url)
    if confined is None:
        raise FhirError("url-outside-fhir-server")
    url = confined
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

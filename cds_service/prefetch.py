"""Prefetch resolution, key by key, as CDS Hooks 2.0.1 says (SPEC-NOTES §2.5):

- data (a resource or a searchset Bundle) is used; a Bundle with a `next` link is paged through
  from `fhirServer` when the service may call it (up to a page cap);
- `null` means the client has no data: used as "no data", never re-queried;
- an OperationOutcome means the client could not get it: re-queried when possible;
- an absent key is fetched from `fhirServer` with the `fhirAuthorization` Bearer token, the
  template's tokens filled from the context (root-level primitives) and the user tokens.

All keys that need the FHIR server are fetched in parallel, each call with a timeout, the whole
resolution within the hook's budget. A key that cannot be had is reported as unavailable; the
caller answers 412 when a required key is unavailable. A key whose paging could not be completed
keeps the entries it has and is also reported (as incomplete) so rules treat it as partial.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from .fhir_client import FhirError, FhirServer, base_allowed, get_json
from .settings import Settings

TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
SAFE_TOKEN_VALUE = re.compile(r"^[A-Za-z0-9\-\.]{1,64}$")


@dataclass
class Resolution:
    prefetch: dict[str, Any] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)  # could not be had at all
    incomplete: set[str] = field(default_factory=set)  # some pages missing
    problems: dict[str, str] = field(default_factory=dict)  # key -> safe reason (for logs/412)
    fetched: int = 0  # FHIR calls made


def render_template(template: str, context: dict[str, Any]) -> str | None:
    """Fill the CDS Hooks 2.0.1 tokens; None when a token cannot be filled safely."""
    failed = False

    def fill(match: re.Match[str]) -> str:
        nonlocal failed
        name = match.group(1)
        value: Any = None
        if name.startswith("context."):
            value = context.get(name[len("context."):])
        elif name in USER_TOKENS:
            user = context.get("userId")
            if isinstance(user, str) and user.startswith(USER_TOKENS[name] + "/"):
                value = user.split("/", 1)[1]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            failed = True
            return ""
        text = str(value)
        if not SAFE_TOKEN_VALUE.match(text):  # an id, not a query fragment or a path
            failed = True
            return ""
        return text

    rendered = TOKEN.sub(fill, template)
    return None if failed else rendered


def _entries(bundle: dict[str, Any]) -> list[Any]:
    """Bundle.entry when it is a list; a malformed value counts as no entries (never a crash)."""
    entry = bundle.get("entry")
    return list(entry) if isinstance(entry, list) else []


def _next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):  # malformed Bundle.link from a client or server: no paging
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


class _Executor:
    """One thread pool per process, created lazily (after gunicorn forks its workers)."""

    _lock = threading.Lock()
    _pool: ThreadPoolExecutor | None = None
    _size = 0

    @classmethod
    def get(cls, size: int) -> ThreadPoolExecutor:
        with cls._lock:
            if cls._pool is None or cls._size != size:
                cls._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="fhir")
                cls._size = size
            return cls._pool


def _page_through(
    server: FhirServer, first: dict[str, Any], settings: Settings, deadline: float
) -> tuple[dict[str, Any], bool, int]:
    """Follow `next` links; returns (merged bundle, complete?, calls made)."""
    entries = _entries(first)
    url = _next_link(first)
    pages, calls = 1, 0
    while url:
        if pages >= settings.fhir_max_pages:
            return _merged(first, entries), False, calls
        page = get_json(server, urljoin(server.base + "/", url), settings, deadline)
        calls += 1
        pages += 1
        if page.get("resourceType") != "Bundle":
            raise FhirError("paging-returned-non-bundle")
        entries.extend(_entries(page))
        url = _next_link(page)
    return _merged(first, entries), True, calls


def _merged(first: dict[str, Any], entries: list[Any]) -> dict[str, Any]:
    out = {k: v for k, v in first.items() if k not in ("entry", "link")}
    out["entry"] = entries
    return out


def _fetch_key(
    key: str, template: str | None, seed: dict[str, Any] | None, server: FhirServer,
    context: dict[str, Any], settings: Settings, deadline: float,
) -> tuple[dict[str, Any], bool, int]:
    calls = 0
    doc = seed
    if doc is None:
        if template is None:
            raise FhirError("template-not-renderable")
        doc = get_json(server, f"{server.base}/{template.lstrip('/')}", settings, deadline)
        calls += 1
    if doc.get("resourceType") == "OperationOutcome":
        raise FhirError("server-returned-operation-outcome")
    if doc.get("resourceType") == "Bundle" and _next_link(doc):
        merged, complete, more = _page_through(server, doc, settings, deadline)
        return merged, complete, calls + more
    return doc, True, calls


def resolve(
    templates: dict[str, str], body: dict[str, Any], settings: Settings, started: float | None = None
) -> Resolution:
    started = time.monotonic() if started is None else started
    deadline = started + settings.prefetch_budget_seconds
    context = body.get("context") or {}
    given = body.get("prefetch")
    given = given if isinstance(given, dict) else {}
    out = Resolution()

    base = body.get("fhirServer")
    server: FhirServer | None = None
    if isinstance(base, str) and base_allowed(base, settings):
        auth = body.get("fhirAuthorization") or {}
        server = FhirServer(base=base.rstrip("/"), token=auth.get("access_token"))
    elif isinstance(base, str):
        out.problems["fhirServer"] = "fhir-server-not-allowed"

    jobs: dict[str, tuple[str | None, dict[str, Any] | None]] = {}
    for key, template in templates.items():
        if key in given:
            value = given[key]
            if value is None:
                out.prefetch[key] = None  # the client has no data
                continue
            if _is_outcome(value):
                out.problems[key] = "client-reported-operation-outcome"
                if server is None:
                    out.unavailable.add(key)
                else:
                    jobs[key] = (render_template(template, context), None)
                continue
            if value.get("resourceType") == "Bundle" and _next_link(value):
                if server is None:
                    out.prefetch[key] = _merged(value, _entries(value))
                    out.incomplete.add(key)
                    out.problems[key] = "paged-prefetch-without-fhir-server"
                else:
                    jobs[key] = (None, value)
                continue
            out.prefetch[key] = value
            continue
        if server is None:
            out.unavailable.add(key)
            out.problems.setdefault(key, "absent-and-no-fhir-server")
            continue
        jobs[key] = (render_template(template, context), None)

    if not jobs:
        return out
    pool = _Executor.get(settings.fhir_parallelism)
    futures = {
        pool.submit(_fetch_key, key, tpl, seed, server, context, settings, deadline): key  # type: ignore[arg-type]
        for key, (tpl, seed) in jobs.items()
    }
    done, not_done = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    for fut in not_done:
        key = futures[fut]
        fut.cancel()
        _fallback(out, key, jobs[key][1], "budget-exhausted")
    for fut in done:
        key = futures[fut]
        try:
            doc, complete, calls = fut.result()
        except FhirError as exc:
            _fallback(out, key, jobs[key][1], exc.kind if exc.status is None else f"http-{exc.status}")
            continue
        except Exception:  # never let one key take the whole call down
            _fallback(out, key, jobs[key][1], "unexpected-error")
            continue
        out.fetched += calls
        out.prefetch[key] = doc
        if not complete:
            out.incomplete.add(key)
            out.problems[key] = "page-cap-reached"
    return out


def _fallback(out: Resolution, key: str, seed: dict[str, Any] | None, reason: str) -> None:
    """A fetch that failed: keep a prefetched first page as partial data, else unavailable."""
    out.problems[key] = reason
    if seed is not None:
        out.prefetch[key] = _merged(seed, _entries(seed))
        out.incomplete.add(key)
    else:
        out.unavailable.add(key)

"""Prefetch resolution, key by key, as CDS Hooks 2.0.1 says (SPEC-NOTES §2.5):

- data (a resource or a searchset Bundle) is used; a Bundle with a `next` link is paged through
  from `fhirServer` when the service may call it (up to a page cap);
- `null` means the client has no data: used as "no data", never re-queried;
- an OperationOutcome means the client could not get it: re-queried when possible;
- an absent key is fetched from `fhirServer` with the `fhirAuthorization` Bearer token, the
  template's tokens filled from the context (root-level primitives) and the user tokens.

What "fetched" means is the site's to say (GMG_CDS_FHIR_QUERIES, `load_site_queries`): a key may
be fetched with several searches (Epic refuses `Observation?patient=` without `category`, so a
site lists one search per category; ../shared/background/ehr-data-shapes.md §1.1), their results
merged with each resource once; or with none (`[]`: the EHR does not offer this data, e.g.
MedicationStatement at Epic and Oracle Health, §1.2 and §2), in which case the key is "no data",
never a gap. Without the file every key is fetched with its discovery template.

All keys that need the FHIR server are fetched in parallel, each call with a timeout, the whole
resolution within the hook's budget. A key that cannot be had is reported as unavailable; the
caller answers 412 when a required key is unavailable. A key whose paging could not be completed
(or one of whose several searches failed) keeps the entries it has and is also reported (as
incomplete) so rules treat it as partial.

Medication by reference: EHRs send `medicationReference` to a Medication the prefetch does not
carry (Epic: display only, §1.2). Once the keys are resolved, references that are neither
contained nor bundled in any prefetch key are read as `Medication/<id>` from `fhirServer` (each
id once, in parallel, within the same budget) and added to the bundle that referred to them as
entries with `search.mode` "include", where the mappings find them like any bundled Medication.
A reference that cannot be read stays unresolved: the mappings report it as a data gap with the
drug's display text. When every reference resolves locally nothing is read.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import urljoin

from .fhir_client import FhirError, FhirServer, base_allowed, get_json
from .settings import ConfigError, Settings

TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
SAFE_TOKEN_VALUE = re.compile(r"^[A-Za-z0-9\-\.]{1,64}$")
# The context fields every hook of this service may fill (CDS Hooks library: patientId, userId,
# encounterId are "Prefetch Token: Yes"; draftOrders and selections are not).
CONTEXT_TOKENS = frozenset({"context.patientId", "context.userId", "context.encounterId"})
FHIR_ID = SAFE_TOKEN_VALUE  # FHIR R4 id: [A-Za-z0-9\-\.]{1,64}

SITE_QUERIES_ENV = "GMG_CDS_FHIR_QUERIES"


@dataclass
class Resolution:
    prefetch: dict[str, Any] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)  # could not be had at all
    incomplete: set[str] = field(default_factory=set)  # some pages or searches missing
    problems: dict[str, str] = field(default_factory=dict)  # key -> safe reason (for logs/412)
    fetched: int = 0  # FHIR calls made
    not_offered: set[str] = field(default_factory=set)  # keys the site's EHR does not offer ([])
    medications_read: int = 0  # Medication/<id> reads that returned a Medication
    medications_unresolved: int = 0  # referenced Medications that could not be read


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


# -- site queries (GMG_CDS_FHIR_QUERIES) ---------------------------------------------------------

_RESOURCE_PATH = re.compile(r"^([A-Z][A-Za-z]+)([/?]|$)")


def _check_query(key: str, query: Any, where: str, resource_type: str | None) -> str:
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(f"{where}: each search must be a non-empty string")
    query = query.strip().lstrip("/")
    if "://" in query:
        raise ConfigError(f"{where}: {query!r} must be relative to fhirServer (no scheme or host)")
    match = _RESOURCE_PATH.match(query)
    if match is None:
        raise ConfigError(f"{where}: {query!r} must start with a FHIR resource type (e.g. Observation?...)")
    if resource_type is not None and match.group(1) != resource_type:
        raise ConfigError(f"{where}: {query!r} searches {match.group(1)}, but the key {key!r} "
                          f"holds {resource_type} resources")
    tokens = TOKEN.findall(query)
    unknown = sorted({t for t in tokens if t not in CONTEXT_TOKENS and t not in USER_TOKENS})
    if unknown:
        raise ConfigError(f"{where}: {query!r} uses token(s) that cannot be filled: "
                          + ", ".join("{{" + t + "}}" for t in unknown))
    if "{{" in TOKEN.sub("", query) or "}}" in TOKEN.sub("", query):
        raise ConfigError(f"{where}: {query!r} has an unclosed or malformed {{{{...}}}} token")
    if "context.patientId" not in tokens:
        # a search without the patient would ask the EHR for every patient's data
        raise ConfigError(f"{where}: {query!r} must name the patient with {{{{context.patientId}}}}")
    return query


def load_site_queries(
    path: str | None, templates: Mapping[str, str], required: Iterable[str] = (),
    key_types: Mapping[str, str] | None = None,
) -> dict[str, tuple[str, ...]] | None:
    """GMG_CDS_FHIR_QUERIES: the path of a JSON object mapping a prefetch key to the list of FHIR
    searches the service runs when it fetches that key itself ([] = not offered by the EHR).
    Checked once, at start; a problem raises ConfigError naming the file and the key."""
    if path is None or not str(path).strip():
        return None
    file = Path(str(path).strip())
    name = f"{SITE_QUERIES_ENV} ({file})"
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot be read ({type(exc).__name__})") from None
    except ValueError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{name}: must be a JSON object mapping prefetch keys to lists of searches")
    required = frozenset(required)
    out: dict[str, tuple[str, ...]] = {}
    for key, queries in doc.items():
        where = f"{name} key {key!r}"
        if key not in templates:
            raise ConfigError(f"{where}: not a prefetch key of this service (known: {', '.join(templates)})")
        if not isinstance(queries, list):
            raise ConfigError(f"{where}: must be a list of searches ([] when the EHR does not offer this data)")
        if not queries and key in required:
            raise ConfigError(f"{where}: the service cannot answer without {key!r}; it cannot be []")
        rtype = (key_types or {}).get(key)
        checked = tuple(_check_query(key, q, f"{where}[{i}]", rtype) for i, q in enumerate(queries))
        if len(set(checked)) != len(checked):
            raise ConfigError(f"{where}: lists the same search twice")
        out[key] = checked
    return out


def queries_for(key: str, template: str, settings: Settings) -> tuple[str, ...]:
    """The searches that fetch `key`: the site's, else the discovery template."""
    site = settings.fhir_queries
    if site is not None:
        found = site.get(key)
        if found is not None:
            return found
    return (template,)


# -- bundles ---------------------------------------------------------------------------------


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


def _union(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The results of several searches for one key as one searchset Bundle: every resource once
    (by type and id, first seen wins), entries without an id and outcome entries kept."""
    if len(docs) == 1:
        return docs[0]
    entries: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        items = _entries(doc) if doc.get("resourceType") == "Bundle" else [{"resource": doc}]
        for item in items:
            res = item.get("resource") if isinstance(item, dict) else None
            if isinstance(res, dict):
                rtype, rid = res.get("resourceType"), res.get("id")
                if isinstance(rtype, str) and isinstance(rid, str) and rtype != "OperationOutcome":
                    if (rtype, rid) in seen:
                        continue
                    seen.add((rtype, rid))
            entries.append(item)
    return {"resourceType": "Bundle", "type": "searchset",
            "total": sum(1 for e in entries if _search_mode(e) != "outcome"), "entry": entries}


def _search_mode(entry: Any) -> Any:
    search = entry.get("search") if isinstance(entry, dict) else None
    return search.get("mode") if isinstance(search, dict) else None


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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FhirError):
        return exc.kind if exc.status is None else f"http-{exc.status}"
    return "unexpected-error"


# One search (or the completion of a prefetched page) of one key.
Job = tuple[str, "str | None", "dict[str, Any] | None"]  # (key, rendered search, seed)


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

    jobs: list[Job] = []

    def fetch_with_queries(key: str, template: str) -> None:
        for query in queries_for(key, template, settings):
            jobs.append((key, render_template(query, context), None))

    for key, template in templates.items():
        offered = bool(queries_for(key, template, settings))
        if key in given:
            value = given[key]
            if value is None:
                out.prefetch[key] = None  # the client has no data
                continue
            if _is_outcome(value):
                out.problems[key] = "client-reported-operation-outcome"
                if not offered:
                    out.prefetch[key] = None
                    out.not_offered.add(key)
                elif server is None:
                    out.unavailable.add(key)
                else:
                    fetch_with_queries(key, template)
                continue
            if value.get("resourceType") == "Bundle" and _next_link(value):
                if server is None:
                    out.prefetch[key] = _merged(value, _entries(value))
                    out.incomplete.add(key)
                    out.problems[key] = "paged-prefetch-without-fhir-server"
                else:
                    jobs.append((key, None, value))
                continue
            out.prefetch[key] = value
            continue
        if not offered:  # the site says its EHR does not offer this data: nothing on record
            out.prefetch[key] = None
            out.not_offered.add(key)
            continue
        if server is None:
            out.unavailable.add(key)
            out.problems.setdefault(key, "absent-and-no-fhir-server")
            continue
        fetch_with_queries(key, template)

    if jobs:
        _run_jobs(jobs, out, server, context, settings, deadline)  # type: ignore[arg-type]
    if server is not None:
        _read_referenced_medications(out, context, server, settings, deadline)
    return out


def _run_jobs(
    jobs: list[Job], out: Resolution, server: FhirServer, context: dict[str, Any],
    settings: Settings, deadline: float,
) -> None:
    pool = _Executor.get(settings.fhir_parallelism)
    futures: dict[Future[Any], int] = {
        pool.submit(_fetch_key, key, query, seed, server, context, settings, deadline): i
        for i, (key, query, seed) in enumerate(jobs)
    }
    done, not_done = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    # per key, in the site's order of its searches: (job index, doc, complete?) and failures
    results: dict[str, list[tuple[int, dict[str, Any], bool]]] = {}
    failures: dict[str, list[tuple[int, str]]] = {}
    for fut in not_done:
        fut.cancel()
        index = futures[fut]
        failures.setdefault(jobs[index][0], []).append((index, "budget-exhausted"))
    for fut in done:
        index = futures[fut]
        key = jobs[index][0]
        try:
            doc, complete, calls = fut.result()
        except Exception as exc:  # never let one search take the whole call down
            failures.setdefault(key, []).append((index, _reason(exc)))
            continue
        out.fetched += calls
        results.setdefault(key, []).append((index, doc, complete))
    for key in dict.fromkeys(k for k, _q, _s in jobs):  # keys in template order
        seed = next((s for k, _q, s in jobs if k == key and s is not None), None)
        docs = sorted(results.get(key, []), key=lambda r: r[0])
        failed = [reason for _i, reason in sorted(failures.get(key, []))]
        if not docs:
            _fallback(out, key, seed, failed[0])
            continue
        out.prefetch[key] = _union([doc for _i, doc, _c in docs])
        if failed:
            out.incomplete.add(key)
            out.problems[key] = failed[0]
        elif not all(complete for _i, _d, complete in docs):
            out.incomplete.add(key)
            out.problems[key] = "page-cap-reached"


def _fallback(out: Resolution, key: str, seed: dict[str, Any] | None, reason: str) -> None:
    """A fetch that failed: keep a prefetched first page as partial data, else unavailable."""
    out.problems[key] = reason
    if seed is not None:
        out.prefetch[key] = _merged(seed, _entries(seed))
        out.incomplete.add(key)
    else:
        out.unavailable.add(key)


# -- Medication by reference -----------------------------------------------------------------

# The keys whose resources may name their drug by medicationReference, and the resource types.
_REFERRING_KEYS = ("medicationStatements", "medicationRequests", "medicationAdministrations", "adverseEvents")
_REFERRING_TYPES = frozenset({"MedicationStatement", "MedicationRequest", "MedicationAdministration"})
DRAFTS_KEY = "medicationRequests"  # where Medications referred to by draft orders are added


def _resources(value: Any) -> Iterable[dict[str, Any]]:
    """The resource dicts of a prefetch value (a Bundle's entries, or the resource itself)."""
    if not isinstance(value, dict):
        return ()
    if value.get("resourceType") != "Bundle":
        return (value,)
    return (e["resource"] for e in _entries(value) if isinstance(e, dict) and isinstance(e.get("resource"), dict))


def _draft_resources(drafts: Any) -> Iterable[dict[str, Any]]:
    if isinstance(drafts, dict) and drafts.get("resourceType") in (None, "Bundle"):
        drafts = drafts.get("entry")
    if not isinstance(drafts, list):
        return ()
    return (item["resource"] if isinstance(item.get("resource"), dict) else item
            for item in drafts if isinstance(item, dict))


def medication_id(reference: Any, server: FhirServer) -> str | None:
    """The id of the Medication a Reference names, when it can be read from `server`: relative
    ("Medication/x", a version suffix dropped) or absolute under the server's base. Contained
    ("#x"), urn:uuid and other servers' references are not read (the token is never sent
    elsewhere)."""
    target = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(target, str) or not target or target.startswith(("#", "urn:")):
        return None
    target = target.split("/_history/", 1)[0].rstrip("/")
    if "://" in target:
        if not server.owns(target):
            return None
        target = "/".join(target.split("/")[-2:])
    parts = target.split("/")
    if len(parts) != 2 or parts[0] != "Medication" or not FHIR_ID.match(parts[1]):
        return None
    return parts[1]


def _wanted_medications(prefetch: Mapping[str, Any], context: Mapping[str, Any],
                        server: FhirServer) -> dict[str, str]:
    """Medication id -> the key of the first resource that refers to it (drafts: DRAFTS_KEY)."""
    wanted: dict[str, str] = {}
    for key in _REFERRING_KEYS:
        for res in _resources(prefetch.get(key)):
            rtype = res.get("resourceType")
            if rtype in _REFERRING_TYPES:
                mid = medication_id(res.get("medicationReference"), server)
                if mid is not None:
                    wanted.setdefault(mid, key)
            elif rtype == "AdverseEvent":
                suspects = res.get("suspectEntity")
                for suspect in suspects if isinstance(suspects, list) else ():
                    if isinstance(suspect, dict):
                        mid = medication_id(suspect.get("instance"), server)
                        if mid is not None:
                            wanted.setdefault(mid, key)
    for res in _draft_resources(context.get("draftOrders")):
        if res.get("resourceType") in _REFERRING_TYPES:
            mid = medication_id(res.get("medicationReference"), server)
            if mid is not None:
                wanted.setdefault(mid, DRAFTS_KEY)
    return wanted


def _bundled_medications(prefetch: Mapping[str, Any], server: FhirServer, wanted: Mapping[str, str]) -> set[str]:
    """The wanted Medication ids the prefetch already carries (by id, or by a fullUrl on this
    server). The keys that referred to them are looked at first (where an EHR's `_include` puts
    them); the walk stops once every wanted id is found."""
    present: set[str] = set()
    order = [*dict.fromkeys(wanted.values()), *(k for k in prefetch if k not in wanted.values())]
    for key in order:
        value = prefetch.get(key)
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            continue
        for entry in _entries(value):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(res, dict) and res.get("resourceType") == "Medication":
                if isinstance(res.get("id"), str):
                    present.add(res["id"])
                mid = medication_id({"reference": entry.get("fullUrl")}, server)
                if mid is not None:
                    present.add(mid)
        if present.issuperset(wanted):
            break
    return present


def _read_medication(server: FhirServer, mid: str, settings: Settings, deadline: float) -> dict[str, Any]:
    doc = get_json(server, f"{server.base}/Medication/{mid}", settings, deadline)
    if doc.get("resourceType") != "Medication":
        raise FhirError("not-a-medication")
    return doc


def _read_referenced_medications(
    out: Resolution, context: Mapping[str, Any], server: FhirServer, settings: Settings, deadline: float
) -> None:
    """Read the Medications referred to but carried by no prefetch key, and add each to the
    bundle of the key that referred to it (search.mode include). Nothing is read, and nothing
    but one pass over the medication keys is spent, when every reference resolves already."""
    wanted = _wanted_medications(out.prefetch, context, server)
    if not wanted:
        return
    present = _bundled_medications(out.prefetch, server, wanted)
    missing = {mid: key for mid, key in wanted.items() if mid not in present}
    if not missing:
        return
    pool = _Executor.get(settings.fhir_parallelism)
    futures = {pool.submit(_read_medication, server, mid, settings, deadline): mid for mid in missing}
    done, not_done = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    added: dict[str, list[dict[str, Any]]] = {}
    reasons: list[str] = []
    for fut in not_done:
        fut.cancel()
        reasons.append("budget-exhausted")
    for fut in done:
        mid = futures[fut]
        out.fetched += 1
        try:
            med = fut.result()
        except Exception as exc:  # one unreadable Medication is a data gap, never a failed call
            reasons.append(_reason(exc))
            continue
        out.medications_read += 1
        added.setdefault(missing[mid], []).append(
            {"fullUrl": f"{server.base}/Medication/{mid}", "resource": med, "search": {"mode": "include"}})
    out.medications_unresolved = len(reasons)
    for n, reason in enumerate(sorted(reasons)):
        out.problems[f"medicationReference:{n}"] = f"medication-{reason}"
    for key, entries in added.items():
        value = out.prefetch.get(key)
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            out.prefetch[key] = {**value, "entry": _entries(value) + entries}
        else:  # no data, not had, or a single resource: a Bundle that carries the Medications too
            kept = [{"resource": value}] if isinstance(value, dict) else []
            out.prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(kept),
                                 "entry": kept + entries}

"""Prometheus metrics, served at GET /metrics in the text exposition format.

Correct under several gunicorn workers: prometheus_client's multiprocess mode. Each worker writes
its samples to memory-mapped files in PROMETHEUS_MULTIPROC_DIR; /metrics (whichever worker
answers) sums the files of all workers, including workers that have exited (their counts still
happened). gunicorn_conf.py calls `prepare_multiprocess_dir()` in the master before the app is
loaded (the mode is chosen when prometheus_client is first imported), `worker_exited()` from
child_exit, and `remove_multiprocess_dir()` on exit. One directory per server: two gunicorn
masters must never share one. Without gunicorn (tests, `flask run`) the ordinary in-process
registry is used.

Label values are bounded: service ids and hooks come from the registry, finding codes from the
cards this service produces (gmg-rules.md §8), statuses from HTTP, endpoints from Flask's routes,
fallback failure reasons from the FHIR client's fixed list. No patient data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_CREATED_MARK = ".gmg-cds-created"
_OWNER_ENV = "_GMG_CDS_METRICS_MASTER_PID"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Resolution.problems reasons that are not a failed call to the FHIR server.
NOT_FETCH_FAILURES = frozenset({
    "client-reported-operation-outcome", "paged-prefetch-without-fhir-server",
    "absent-and-no-fhir-server", "fhir-server-not-allowed", "page-cap-reached",
})


# --- gunicorn master side (stdlib only: must run before prometheus_client is imported) ---------

def prepare_multiprocess_dir(environ: Any = os.environ) -> str:
    """Make PROMETHEUS_MULTIPROC_DIR point at an empty directory: the operator's (emptied of
    earlier runs' files) or a new temporary one (removed again by remove_multiprocess_dir)."""
    owner = str(os.getpid())
    given = environ.get(MULTIPROC_ENV)
    if given and environ.get(_OWNER_ENV) == owner:
        return given  # gunicorn re-reads its config on HUP: the directory is already ours
    environ[_OWNER_ENV] = owner
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="gmg-cds-metrics-"))
        (path / _CREATED_MARK).touch()
        environ[MULTIPROC_ENV] = str(path)
    return str(path)


def worker_exited(pid: int) -> None:
    """child_exit: a dead worker's live gauges go; its counters keep counting in the sum."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def remove_multiprocess_dir() -> None:
    path = os.environ.get(MULTIPROC_ENV)
    if path and (Path(path) / _CREATED_MARK).exists():
        shutil.rmtree(path, ignore_errors=True)


# --- the instruments ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruments:
    http_requests: Any
    hook_requests: Any
    hook_duration: Any
    fhir_requests: Any
    fhir_failures: Any
    cards: Any
    feedback: Any
    database_errors: Any


_lock = threading.Lock()
_instruments: Instruments | None = None


def instruments() -> Instruments:
    """The process's metrics, created once (a second registration would be an error)."""
    global _instruments
    with _lock:
        if _instruments is None:
            from prometheus_client import Counter, Histogram

            _instruments = Instruments(
                http_requests=Counter(
                    "gmg_cds_http_requests", "HTTP requests by route and status",
                    ["endpoint", "status"]),
                hook_requests=Counter(
                    "gmg_cds_hook_requests", "Hook calls by CDS service, hook and HTTP status",
                    ["service", "hook", "status"]),
                hook_duration=Histogram(
                    "gmg_cds_hook_duration_seconds",
                    "Hook call latency (request received to response ready), by service and hook",
                    ["service", "hook"], buckets=LATENCY_BUCKETS),
                fhir_requests=Counter(
                    "gmg_cds_fhir_fallback_requests",
                    "Requests to the EHR's FHIR server for prefetch data the client did not send",
                    ["service"]),
                fhir_failures=Counter(
                    "gmg_cds_fhir_fallback_failures",
                    "Prefetch keys whose fetch from the FHIR server failed, by reason",
                    ["service", "reason"]),
                cards=Counter(
                    "gmg_cds_cards", "Cards returned, by finding code (a card counts once per code it carries)",
                    ["service", "finding_code"]),
                feedback=Counter(
                    "gmg_cds_feedback",
                    "New feedback entries by outcome and the finding codes of the card "
                    "(finding_code=\"unknown\" when the card was not served from this database)",
                    ["service", "outcome", "finding_code"]),
                database_errors=Counter(
                    "gmg_cds_database_errors",
                    "Database operations that failed (audit: the hook was still answered; "
                    "feedback: answered 503)",
                    ["operation"]),
            )
        return _instruments


def exposition() -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def fallback_failures(problems: dict[str, str]) -> list[str]:
    """The reasons of the prefetch keys whose FHIR fetch failed (budget, timeout, HTTP status...)."""
    return [reason for reason in problems.values() if reason not in NOT_FETCH_FAILURES]

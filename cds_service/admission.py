"""Bounding the work one hook call may cause (issue 15, F-7).

The cost of a call grows with the resources it carries (README "Performance": up to ~200 µs
for each MG-relevant resource never seen before, a FHIR model validated). So:

- a call with more than GMG_CDS_MAX_RESOURCES resources (prefetched and fetched together) is
  refused with 413 and an OperationOutcome that gives the count and the limit, before any of
  them is read (a real chart at the default, 20,000, is about four times the largest chart
  the benchmark sends);
- a call whose body is larger than half of GMG_CDS_MAX_BODY_BYTES, or that carries more than
  GMG_CDS_LARGE_CALL_RESOURCES resources, is a large call: each worker reads and evaluates at
  most GMG_CDS_LARGE_CALLS_PER_WORKER of them at once. One more is answered 503 with
  Retry-After at once (waiting would hold a thread too), before its body is read when its
  Content-Length already says it is large; so the worker's other threads stay free for
  ordinary calls whatever large bodies arrive.

The request body itself is bounded by GMG_CDS_MAX_BODY_BYTES (413), and in production nginx
reads it whole before gunicorn sees it (cds_service/nginx/gmg-cds.conf).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from .errors import Issue, ServiceError
from .settings import Settings

RETRY_AFTER_SECONDS = "2"


def resource_count(prefetch: dict[str, Any]) -> int:
    """Resources in a prefetch object: a Bundle's entries, or one for any other resource."""
    count = 0
    for value in prefetch.values():
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            entries = value.get("entry")
            count += len(entries) if isinstance(entries, list) else 0
        else:
            count += 1
    return count


def check_size(count: int, settings: Settings) -> None:
    if count > settings.max_resources:
        raise ServiceError(413, Issue(
            "too-costly", f"the call carries {count} resources, more than this service evaluates in "
            f"one call (GMG_CDS_MAX_RESOURCES = {settings.max_resources})", expression="prefetch"))


class LargeCallLane:
    """At most `size` large calls read and evaluated at once in this process (one gunicorn
    worker)."""

    def __init__(self, size: int):
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def call(self) -> Iterator["Admission"]:
        """One call's admission; the slot it took, if any, is freed when the call ends."""
        admission = Admission(self._slots)
        try:
            yield admission
        finally:
            if admission.holds:
                self._slots.release()


class Admission:
    def __init__(self, slots: threading.BoundedSemaphore):
        self._slots = slots
        self.holds = False

    def _take(self, why: str) -> None:
        if self.holds:
            return
        if not self._slots.acquire(blocking=False):
            raise ServiceError(503, Issue(
                "transient", f"this instance is already busy with another large call ({why}); retry later"),
                headers={"Retry-After": RETRY_AFTER_SECONDS})
        self.holds = True

    def body(self, content_length: int | None, settings: Settings) -> None:
        """Before the body is read: a slot for a body larger than half the body limit."""
        if content_length is not None and content_length > settings.max_body_bytes // 2:
            self._take(f"a body over {settings.max_body_bytes // 2} bytes")

    def resources(self, count: int, settings: Settings) -> None:
        """Before the call is evaluated: a slot for more than GMG_CDS_LARGE_CALL_RESOURCES."""
        if count > settings.large_call_resources:
            self._take(f"more than {settings.large_call_resources} resources")

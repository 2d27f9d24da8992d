"""The audit of hook calls: one `hook_calls` row per authenticated call to a CDS service, with the
cards it returned in `cards_served`, so that together with `feedback` a site can answer "which
cards fired, and what did clinicians do with them".

A row holds the service, hook, hookInstance, HTTP status, duration, the distinct finding codes
returned, the number of FHIR fallback requests and of prefetch keys whose fetch failed, and a
keyed hash of the patient id: HMAC-SHA256 with the audit key, never the id itself. The key is
GMG_CDS_AUDIT_KEY when set (kept outside the database, so a copy of the database alone cannot be
linked back to patient ids by trying candidate ids); otherwise a random key generated once and
stored in the database (`service_secrets`), shared that way by every instance on the database.
The same patient gets the same hash across calls and instances as long as the key is unchanged.

Rows older than GMG_CDS_AUDIT_RETENTION_DAYS are deleted (at start, then at most once an hour per
process). A database failure while auditing never fails the hook call: it is logged and counted
(`gmg_cds_database_errors_total{operation="audit"}`); after a failure writes are skipped for a
few seconds, so an unreachable database cannot add its connect timeout to every call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import delete, select

from .store import (
    Store,
    StoreUnavailable,
    _insert_ignore,
    _now,
    card_finding_codes,
    card_rows,
    cards_served,
    hook_calls,
    service_secrets,
)

AUDIT_KEY_SECRET = "audit-key-v1"
PURGE_INTERVAL_SECONDS = 3600.0
BACKOFF_SECONDS = 5.0


@dataclass
class AuditRecord:
    service_id: str
    hook: str
    status: int
    duration_ms: float
    hook_instance: str | None = None
    patient_id: str | None = None  # hashed before it is stored
    cards: list[dict[str, Any]] = field(default_factory=list)
    fhir_calls: int = 0
    fhir_failures: int = 0


def distinct_codes(cards: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for card in cards:
        for code in card_finding_codes(card):
            seen.setdefault(code, None)
    return list(seen)


class AuditTrail:
    def __init__(self, store: Store, *, key: str | None, retention_days: int,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.retention_days = retention_days
        self.clock = clock
        self.key_source = "GMG_CDS_AUDIT_KEY" if key else "database"
        self._key = (key or self._stored_key()).encode("utf-8")
        self._lock = threading.Lock()
        self._last_purge = 0.0
        self._down_until = 0.0
        # Statements built once (building and cache-keying them per call cost more than running them)
        self._insert_call = hook_calls.insert()
        self._insert_cards = _insert_ignore(store.engine, cards_served).on_conflict_do_nothing(
            index_elements=["card_uuid"])

    def _stored_key(self) -> str:
        """The generated key, created by whichever instance asks first (insert-if-absent)."""
        stmt = _insert_ignore(self.store.engine, service_secrets).on_conflict_do_nothing(
            index_elements=["name"])
        try:
            with self.store.engine.begin() as conn:
                conn.execute(stmt, {"name": AUDIT_KEY_SECRET, "value": secrets.token_hex(32),
                                    "created_at": _now()})
                return conn.execute(select(service_secrets.c.value).where(
                    service_secrets.c.name == AUDIT_KEY_SECRET)).scalar_one()
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def patient_key(self, patient_id: str | None) -> str | None:
        if not isinstance(patient_id, str) or not patient_id:
            return None
        return hmac.new(self._key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def record(self, rec: AuditRecord) -> int:
        """Write the call and its cards in one transaction; returns the row id. Raises
        StoreUnavailable (also while backing off after a recent failure)."""
        now = self.clock()
        if now < self._down_until:
            raise StoreUnavailable("backing-off")
        row = {
            "called_at": datetime.fromtimestamp(now, timezone.utc),
            "service_id": rec.service_id,
            "hook": rec.hook,
            "hook_instance": rec.hook_instance,
            "patient_key": self.patient_key(rec.patient_id),
            "status": rec.status,
            "duration_ms": round(rec.duration_ms, 1),
            "card_count": len(rec.cards),
            "finding_codes": json.dumps(distinct_codes(rec.cards)),
            "fhir_calls": rec.fhir_calls,
            "fhir_failures": rec.fhir_failures,
        }
        try:
            with self.store.engine.begin() as conn:
                call_id = int(conn.execute(self._insert_call, row).inserted_primary_key[0])
                cards = card_rows(rec.service_id, rec.hook_instance or "", rec.cards, call_id)
                if cards:
                    conn.execute(self._insert_cards, cards)
        except Exception as exc:
            self._down_until = self.clock() + BACKOFF_SECONDS
            raise StoreUnavailable(type(exc).__name__) from exc
        self._down_until = 0.0
        if cards:  # feedback may have arrived first (this row is written after the answer)
            self.store.fill_feedback_codes([c["card_uuid"] for c in cards])
        self.maybe_purge(now)
        return call_id

    def maybe_purge(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        with self._lock:
            if now - self._last_purge < PURGE_INTERVAL_SECONDS:
                return
            self._last_purge = now
        try:
            self.purge(now)
        except StoreUnavailable:  # housekeeping; the next interval retries
            pass

    def purge(self, now: float | None = None) -> int:
        """Delete audit rows (calls and cards served) older than the retention; returns the number
        of calls deleted. Feedback rows are kept: they carry their finding codes themselves."""
        if self.retention_days <= 0:
            return 0
        now = self.clock() if now is None else now
        cutoff = datetime.fromtimestamp(now, timezone.utc) - timedelta(days=self.retention_days)
        try:
            with self.store.engine.begin() as conn:
                deleted = conn.execute(delete(hook_calls).where(hook_calls.c.called_at < cutoff)).rowcount
                conn.execute(delete(cards_served).where(
                    cards_served.c.served_at < cutoff.isoformat(timespec="seconds")))
            return int(deleted or 0)
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def calls(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(hook_calls).order_by(hook_calls.c.id))]

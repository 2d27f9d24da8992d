"""Durable state: feedback on cards, and the finding codes of the cards served.

SQLite by default (a file, WAL journal, one transaction per request); the URL comes from
GMG_CDS_DATABASE_URL. Feedback is keyed by card uuid and carries the finding codes of that card
(looked up from the cards served), so a site can ask "what did clinicians do with finding X".
A repeated identical feedback entry is stored once (unique digest).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

cards_served = Table(
    "cards_served",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(64), nullable=False),
    Column("hook_instance", String(64), nullable=False),
    Column("finding_codes", Text, nullable=False),  # JSON array
    Column("suggestion_uuids", Text, nullable=False),  # JSON array
    Column("served_at", String(32), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("service_id", String(64), nullable=False),
    Column("card_uuid", String(128), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("accepted_suggestions", Text, nullable=True),  # JSON array of suggestion uuids
    Column("override_reason_system", Text, nullable=True),
    Column("override_reason_code", String(128), nullable=True),
    Column("override_comment", Text, nullable=True),
    Column("finding_codes", Text, nullable=True),  # JSON array, from cards_served when known
    Column("received_at", String(32), nullable=False),
)


class StoreUnavailable(Exception):
    """The database cannot be reached or written (answered with 503, never silently dropped)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class Store:
    def __init__(self, database_url: str):
        self.url = database_url
        kwargs: dict[str, Any] = {"future": True}
        if database_url.startswith("sqlite:///"):
            path = Path(database_url[len("sqlite:///"):])
            if str(path) not in ("", ":memory:"):
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 5}
        self.engine: Engine = create_engine(database_url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_schema(self) -> None:
        metadata.create_all(self.engine)

    def after_fork(self) -> None:
        """Drop pooled connections inherited from the parent process (gunicorn preload)."""
        self.engine.dispose(close=False)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _insert_ignore(self, table: Table):  # noqa: ANN202 (dialect-specific insert)
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    def record_cards(self, service_id: str, hook_instance: str, cards: Iterable[dict[str, Any]]) -> None:
        rows = [
            {
                "card_uuid": c["uuid"],
                "service_id": service_id,
                "hook_instance": hook_instance,
                "finding_codes": json.dumps(
                    [f["code"] for f in c.get("extension", {}).get("gmg-cds", {}).get("findings", [])]
                ),
                "suggestion_uuids": json.dumps([s["uuid"] for s in c.get("suggestions", ())]),
                "served_at": _now(),
            }
            for c in cards
        ]
        if not rows:
            return
        stmt = self._insert_ignore(cards_served).on_conflict_do_nothing(index_elements=["card_uuid"])
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt, rows)
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def add_feedback(self, service_id: str, entries: list[dict[str, Any]]) -> int:
        """Store every entry in one transaction; returns how many were new."""
        received = _now()
        rows = []
        for e in entries:
            reason = (e.get("overrideReason") or {}).get("reason") or {}
            accepted = [s["id"] for s in e.get("acceptedSuggestions") or ()]
            canonical = json.dumps(
                [service_id, e["card"], e["outcome"], e["outcomeTimestamp"], accepted,
                 reason.get("system"), reason.get("code"),
                 (e.get("overrideReason") or {}).get("userComment")],
                sort_keys=True,
            )
            rows.append(
                {
                    "digest": hashlib.sha256(canonical.encode()).hexdigest(),
                    "service_id": service_id,
                    "card_uuid": e["card"],
                    "outcome": e["outcome"],
                    "outcome_timestamp": e["outcomeTimestamp"],
                    "accepted_suggestions": json.dumps(accepted) if accepted else None,
                    "override_reason_system": reason.get("system"),
                    "override_reason_code": reason.get("code"),
                    "override_comment": (e.get("overrideReason") or {}).get("userComment"),
                    "received_at": received,
                }
            )
        try:
            with self.engine.begin() as conn:
                uuids = sorted({r["card_uuid"] for r in rows})
                known = dict(
                    conn.execute(
                        select(cards_served.c.card_uuid, cards_served.c.finding_codes).where(
                            cards_served.c.card_uuid.in_(uuids)
                        )
                    ).all()
                )
                for r in rows:
                    r["finding_codes"] = known.get(r["card_uuid"])
                stmt = self._insert_ignore(feedback).on_conflict_do_nothing(index_elements=["digest"])
                new = 0
                for r in rows:  # one statement per row so rowcount tells what was new
                    new += conn.execute(stmt, r).rowcount or 0
            return new
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def feedback_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(feedback).order_by(feedback.c.id))]


def open_store(database_url: str, attempts: int = 3) -> Store:
    store = Store(database_url)
    for i in range(attempts):
        try:
            store.create_schema()
            break
        except Exception:
            if i == attempts - 1:
                raise
            time.sleep(0.2 * (i + 1))
    store.after_fork()
    return store

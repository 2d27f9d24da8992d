"""Durable state shared by every worker and instance: feedback on cards, the audit of hook calls
with the finding codes of the cards served, the `jti` replay memory (cds_service/replay.py) and
the service's own secrets (the audit key when none is configured).

One SQLAlchemy Core schema on two databases, chosen by GMG_CDS_DATABASE_URL:
- SQLite (`sqlite:///path`, the embedded default): a file, WAL journal; instances on one host only;
- PostgreSQL (`postgresql://user:password@host:5432/db`, driven by psycopg 3): the database
  several instances behind a load balancer share.

The schema is created and upgraded by versioned Alembic migrations (cds_service/migrations),
never by hand-run SQL; `open_store` runs them at start under a lock (see migrations/__init__.py).
Feedback is keyed by card uuid and carries the finding codes of that card (looked up from the
cards served), so a site can ask "what did clinicians do with finding X". A repeated identical
feedback entry is stored once (unique digest), whichever instance receives it.

On SQLite the file itself can go wrong under a running instance (issue 15, F-8, F-9): once the
schema is in place the store pins the file's identity (device, inode), every connection checks
it when taken from the pool, and new connections open it read-write without creating it. A file
deleted or replaced under the instance (its data would go to an unlinked inode, or to a file
without the schema) therefore fails every use with StoreUnavailable: feedback is answered 503
with Retry-After, never acknowledged and lost. `ready()` also takes the write lock (a locked or
read-only database is not ready) and wants MIN_FREE_BYTES free beside the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from urllib.parse import quote
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url

metadata = MetaData()

cards_served = Table(
    "cards_served",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(64), nullable=False),
    Column("hook_instance", String(64), nullable=False),
    Column("finding_codes", Text, nullable=False),  # JSON array
    Column("suggestion_uuids", Text, nullable=False),  # JSON array
    Column("served_at", String(32), nullable=False),  # ISO 8601 UTC, seconds
    Column("call_id", Integer, nullable=True, index=True),  # hook_calls.id (migration 0002)
    Index("ix_cards_served_served_at", "served_at"),
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

# One row per hook call (migration 0002): who was called, about which patient (a keyed hash,
# never the id), what came back and how long it took. See cds_service/audit.py.
hook_calls = Table(
    "hook_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("called_at", DateTime(timezone=True), nullable=False, index=True),
    Column("service_id", String(64), nullable=False),
    Column("hook", String(32), nullable=False),
    Column("hook_instance", String(64), nullable=True, index=True),  # null when the body was unusable
    Column("patient_key", String(64), nullable=True, index=True),  # HMAC-SHA256(audit key, patientId)
    Column("status", Integer, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("card_count", Integer, nullable=False),
    Column("finding_codes", Text, nullable=False),  # JSON array, distinct, in card order
    Column("fhir_calls", Integer, nullable=False),  # FHIR fallback requests made
    Column("fhir_failures", Integer, nullable=False),  # prefetch keys whose fetch failed
)

# Secrets the service generates for itself (migration 0002): today only the audit key used when
# GMG_CDS_AUDIT_KEY is not set, shared this way by every instance on the database.
service_secrets = Table(
    "service_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("created_at", String(32), nullable=False),
)


class StoreUnavailable(Exception):
    """The database cannot be reached or written (answered with 503, never silently dropped)."""


class DatabaseFileChanged(Exception):
    """The SQLite file the store was opened on is gone from its path or was replaced."""


# Free space wanted beside a SQLite file for the store to call itself ready: room for the WAL
# frames of a few writes and a checkpoint (pages of 4 KiB), with margin. A design choice.
MIN_FREE_BYTES = 1024 * 1024
READY_BUSY_TIMEOUT_MS = 1000  # how long readiness waits for SQLite's write lock


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool of one process (one gunicorn worker). A worker serves at most `threads`
    requests at once, so `size` = threads is enough; `overflow` covers housekeeping. Total
    connections = instances x workers x (size + overflow): keep it under the server's
    max_connections. SQLite ignores all but the timeouts."""

    size: int = 4
    overflow: int = 2
    timeout_seconds: float = 5.0  # waiting for a pooled connection
    connect_timeout_seconds: int = 3  # establishing one (libpq minimum is 2)
    statement_timeout_ms: int = 5000  # PostgreSQL: no request waits longer on a lock or a query
    recycle_seconds: int = 1800


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def normalize_url(database_url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 (SQLAlchemy's default driver for the bare
    scheme would be psycopg2, which is not a dependency)."""
    url = database_url.strip()
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def redacted(database_url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(normalize_url(database_url)).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable database URL)"


SQLITE_BUSY_TIMEOUT_MS = 5000


def _sqlite_file(url: str) -> Path | None:
    """The database file of a `sqlite:///path` URL (None for PostgreSQL and in-memory SQLite)."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path).resolve() if path not in ("", ":memory:") else None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL is a property of the file: set once, by the first connection. Switching needs a moment
    # of exclusive access, which several processes opening a new file at once can collide on
    # (SQLITE_BUSY without the busy handler): retry briefly rather than fail the start.
    for attempt in range(50):
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def build_engine(database_url: str, pool: PoolOptions | None = None, *, for_migrations: bool = False) -> Engine:
    """An engine for the service (pooled, bounded waits) or for migrations (no statement timeout;
    on SQLite real transactions around DDL, taken with BEGIN IMMEDIATE so that concurrent
    migrators queue on the database's write lock)."""
    pool = pool or PoolOptions()
    url = normalize_url(database_url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path not in ("", ":memory:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30 if for_migrations else 5}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if for_migrations:
            # pysqlite would otherwise commit before every DDL statement (SQLAlchemy docs,
            # "Serializable isolation / Savepoints / Transactional DDL").
            @event.listens_for(engine, "connect")
            def _no_implicit_transactions(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None

            @event.listens_for(engine, "begin")
            def _begin_immediate(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": max(2, int(pool.connect_timeout_seconds))}
    if url.startswith("postgresql") and not for_migrations:
        connect_args["options"] = f"-c statement_timeout={int(pool.statement_timeout_ms)}"
    if for_migrations:
        from sqlalchemy.pool import NullPool

        return create_engine(url, connect_args=connect_args, poolclass=NullPool)
    return create_engine(
        url,
        connect_args=connect_args,
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=pool.timeout_seconds,
        pool_recycle=pool.recycle_seconds,
        pool_pre_ping=True,  # a connection broken by a database restart is replaced, not used
    )


def _insert_ignore(engine: Engine, table: Table):  # noqa: ANN202 (dialect-specific insert)
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


# Store.fill_feedback_codes, built once: the served card's codes into feedback rows lacking them.
_FILL_FEEDBACK_CODES = (
    update(feedback)
    .where(feedback.c.card_uuid.in_(bindparam("uuids", expanding=True)), feedback.c.finding_codes.is_(None))
    .values(finding_codes=select(cards_served.c.finding_codes)
            .where(cards_served.c.card_uuid == feedback.c.card_uuid)
            .scalar_subquery())
)


def card_finding_codes(card: dict[str, Any]) -> list[str]:
    return [f["code"] for f in card.get("extension", {}).get("gmg-cds", {}).get("findings", [])
            if isinstance(f, dict) and isinstance(f.get("code"), str)]


@dataclass(frozen=True)
class StoredFeedback:
    """A feedback entry that was new (not a repeat): what the metrics count."""

    outcome: str
    finding_codes: tuple[str, ...]  # empty when the card is unknown here (served elsewhere/purged)


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class Store:
    def __init__(self, database_url: str, pool: PoolOptions | None = None):
        self.url = normalize_url(database_url)
        self.pool = pool or PoolOptions()
        self.engine: Engine = build_engine(self.url, self.pool)
        self.sqlite_file: Path | None = _sqlite_file(self.url)
        self._pinned: tuple[int, int] | None = None  # the SQLite file's (device, inode)
        if self.sqlite_file is not None:
            event.listen(self.engine, "do_connect", self._open_existing_file)
            event.listen(self.engine, "checkout", self._check_file_on_checkout)

    def pin_file(self) -> None:
        """Remember which SQLite file the store works on (called once the schema is there)."""
        if self.sqlite_file is not None:
            self._pinned = _file_id(self.sqlite_file)

    def file_problem(self) -> str | None:
        """Why the pinned SQLite file cannot be used now: "file-missing" or "file-replaced"."""
        if self._pinned is None or self.sqlite_file is None:
            return None
        now = _file_id(self.sqlite_file)
        if now is None:
            return "file-missing"
        return None if now == self._pinned else "file-replaced"

    def _open_existing_file(self, _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if self._pinned is not None and self.sqlite_file is not None:  # never create it again
            uri = f"file:{quote(str(self.sqlite_file))}?mode=rw"
            if cargs:
                cargs[0] = uri
            else:
                cparams["database"] = uri
            cparams["uri"] = True

    def _check_file_on_checkout(self, _dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        problem = self.file_problem()
        if problem is not None:
            raise DatabaseFileChanged(problem)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> list[str]:
        """Bring the schema to the newest revision (see migrations/__init__.py); returns the
        revisions applied."""
        from .migrations import upgrade

        return upgrade(self.url, self.pool, engine=self.engine)

    def create_schema(self) -> None:  # the name callers used before migrations existed
        self.migrate()

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

    def ready(self) -> str | None:
        """None when the store can take writes now, else why not (a short code, safe to log):
        PostgreSQL: reachable (as before). SQLite: the pinned file, its write lock (a locked or
        read-only database fails here), MIN_FREE_BYTES free beside it."""
        if self.sqlite_file is None:
            return None if self.ping() else "unreachable"
        problem = self.file_problem()
        if problem is not None:
            return problem
        try:
            stat = os.statvfs(self.sqlite_file.parent)
            if stat.f_bavail * stat.f_frsize < MIN_FREE_BYTES:
                return "disk-full"
        except OSError:
            return "unreachable"
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                raw.execute(f"PRAGMA busy_timeout={READY_BUSY_TIMEOUT_MS}")
                try:
                    raw.execute("BEGIN IMMEDIATE")  # the write lock, released at once
                    raw.execute("ROLLBACK")
                finally:
                    raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except DatabaseFileChanged as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure means: not ready
            text_ = str(exc).lower()
            if "locked" in text_ or "busy" in text_:
                return "locked"
            if "readonly" in text_ or "read-only" in text_:
                return "read-only"
            if "full" in text_:
                return "disk-full"
            return "unreachable"
        return None

    def _insert_ignore(self, table: Table):  # noqa: ANN202
        return _insert_ignore(self.engine, table)

    def record_cards(self, service_id: str, hook_instance: str, cards: Iterable[dict[str, Any]],
                     call_id: int | None = None) -> None:
        rows = card_rows(service_id, hook_instance, cards, call_id)
        if not rows:
            return
        stmt = self._insert_ignore(cards_served).on_conflict_do_nothing(index_elements=["card_uuid"])
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt, rows)
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    def add_feedback(self, service_id: str, entries: list[dict[str, Any]]) -> list[StoredFeedback]:
        """Store every entry in one transaction; returns the entries that were new."""
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
                stmt = self._insert_ignore(feedback).on_conflict_do_nothing(
                    index_elements=["digest"]).returning(feedback.c.id)
                new: list[StoredFeedback] = []
                for r in rows:  # one statement per row: RETURNING tells what was new
                    if conn.execute(stmt, r).first() is not None:
                        codes = json.loads(r["finding_codes"]) if r["finding_codes"] else []
                        new.append(StoredFeedback(r["outcome"], tuple(codes)))
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        problem = self.file_problem()
        if problem is not None:  # the file went away while this was written: not stored there
            raise StoreUnavailable(problem)
        unknown = sorted({r["card_uuid"] for r in rows if r["finding_codes"] is None})
        if unknown:  # the card's audit row may be committing right now: see fill_feedback_codes
            self.fill_feedback_codes(unknown)
        return new

    def fill_feedback_codes(self, card_uuids: list[str]) -> None:
        """Copy the finding codes of served cards into feedback rows that lack them.

        The audit of a hook call (with its cards) is written after the answer, so feedback can
        reach the database first. Both sides run this after their own commit; whichever commits
        last sees the other's row, so the codes are never lost (READ COMMITTED and SQLite alike).
        Best effort: a failure leaves the codes to the next call and to the cards_served join.
        """
        try:
            with self.engine.begin() as conn:
                conn.execute(_FILL_FEEDBACK_CODES, {"uuids": list(card_uuids)})
        except Exception:  # noqa: BLE001 - housekeeping of a denormalised column
            pass

    def feedback_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(feedback).order_by(feedback.c.id))]


def card_rows(service_id: str, hook_instance: str, cards: Iterable[dict[str, Any]],
              call_id: int | None = None) -> list[dict[str, Any]]:
    served = _now()
    return [
        {
            "card_uuid": c["uuid"],
            "service_id": service_id,
            "hook_instance": hook_instance,
            "finding_codes": json.dumps(card_finding_codes(c)),
            "suggestion_uuids": json.dumps([s["uuid"] for s in c.get("suggestions", ())]),
            "served_at": served,
            "call_id": call_id,
        }
        for c in cards
    ]


def open_store(database_url: str, attempts: int = 3, *, pool: PoolOptions | None = None,
               migrate: bool = True) -> Store:
    """The store, its schema at the newest revision (migrate=True) or checked to be there
    (migrate=False: a site that runs `gmg-cds migrate` as a release step with a DDL-capable role
    and gives the service a role without DDL rights)."""
    store = Store(database_url, pool)
    for i in range(attempts):
        try:
            if migrate:
                store.migrate()
            else:
                from .migrations import require_current

                require_current(store.engine)
            break
        except Exception:
            if i == attempts - 1:
                raise
            time.sleep(0.2 * (i + 1))
    store.after_fork()
    store.pin_file()
    return store

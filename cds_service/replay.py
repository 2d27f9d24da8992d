"""The `jti` replay guard: a JWT id is accepted once per issuer while its token could still be
valid, across all gunicorn workers and processes, because the memory is a table in the service's
own database (SQLite file or PostgreSQL), not a per-process set.

Insert-if-absent on a unique key is atomic in the database, so when the same token reaches two
workers at the same moment exactly one insert succeeds. Rows carry the time after which the token
can no longer pass the time checks; expired rows are deleted in passing (at most once a minute per
process), so the table holds at most the tokens of the last GMG_CDS_JWT_MAX_AGE_SECONDS.
The key is a SHA-256 of issuer and jti: no token material is stored.

When the database cannot be reached, the guard degrades instead of refusing every call (a CDS
service that stops answering leaves clinicians without its safety checks, gmg-cds issue 10):
claims are kept in this process's memory until the database is back, then written to it. During
an outage a token is still refused when replayed to the same worker; a replay to another worker
or instance within the token's short lifetime (GMG_CDS_JWT_MAX_AGE_SECONDS) is the accepted risk,
logged and counted. GMG_CDS_REPLAY_ON_DB_OUTAGE=refuse restores fail-closed (503) behaviour.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Callable

from sqlalchemy import BigInteger, Column, Integer, String, Table, bindparam, delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from .store import metadata

jwt_replay = Table(
    "jwt_replay",
    metadata,
    Column("jti_key", String(64), primary_key=True),  # sha256(iss NUL jti), hex
    # epoch seconds; 64-bit on PostgreSQL (migration 0002: int4 would end in 2038)
    Column("expires_at", BigInteger().with_variant(Integer, "sqlite"), nullable=False, index=True),
)


class ReplayStoreUnavailable(Exception):
    """The replay table cannot be read or written and the guard is set to refuse (fail closed)."""


MEMORY_LIMIT = 100_000  # claims kept in memory during an outage (the oldest expire first)


def replay_key(issuer: str, jti: str) -> str:
    return hashlib.sha256(f"{issuer}\x00{jti}".encode("utf-8")).hexdigest()


class ReplayGuard:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time,
                 cleanup_interval_seconds: float = 60.0, *, memory_on_outage: bool = True,
                 on_degraded: Callable[[str], None] | None = None):
        self.engine = engine
        self.clock = clock
        self.cleanup_interval = cleanup_interval_seconds
        self.memory_on_outage = memory_on_outage
        self.on_degraded = on_degraded  # told the reason each time a claim falls back to memory
        self._last_cleanup = 0.0
        self._lock = threading.Lock()
        self._memory: dict[str, int] = {}  # key -> expires_at, claims made while the DB was down
        self._claim_stmt = self._claim_statement()  # built once: one round trip per claim
        try:
            jwt_replay.create(engine, checkfirst=True)
        except (OperationalError, ProgrammingError):  # created meanwhile by another process
            if not self._table_exists():
                raise

    def _table_exists(self) -> bool:
        from sqlalchemy import inspect

        return inspect(self.engine).has_table(jwt_replay.name)

    def _claim_statement(self):  # noqa: ANN202 (dialect-specific insert)
        """One statement that records a jti, or takes over its row when that row has expired:
        INSERT .. ON CONFLICT (jti_key) DO UPDATE SET expires_at = excluded.expires_at
        WHERE jwt_replay.expires_at < :now RETURNING jti_key. A row comes back exactly when the
        claim is fresh (inserted, or an expired claim replaced); a live claim is left as it is
        and returns nothing. Atomic on the unique key like a plain insert-if-absent. None for
        other dialects (delete of an expired row, then an insert in a savepoint)."""
        name = self.engine.dialect.name
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            return None
        stmt = insert(jwt_replay)
        # RETURNING tells whether the row was written: rowcount is not reliable for
        # INSERT .. ON CONFLICT on every driver (psycopg 3 reports -1).
        return stmt.on_conflict_do_update(
            index_elements=["jti_key"],
            set_={"expires_at": stmt.excluded.expires_at},
            where=jwt_replay.c.expires_at < bindparam("now"),
        ).returning(jwt_replay.c.jti_key)

    def claim(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record this (issuer, jti) until `expires_at`; False when it was already recorded and
        has not expired (a replay)."""
        key = replay_key(issuer, jti)
        now = int(self.clock())
        row = {"jti_key": key, "expires_at": int(expires_at) + 1}
        with self._lock:
            pending = {k: e for k, e in self._memory.items() if e >= now}
        if key in pending:
            return False  # claimed here during an outage and not yet written back
        try:
            with self.engine.begin() as conn:
                fresh = self._claim_in(conn, row, now)
                for k, e in pending.items():  # the database is back: write the outage's claims
                    self._claim_in(conn, {"jti_key": k, "expires_at": e}, now)
        except Exception as exc:
            if not self.memory_on_outage:
                raise ReplayStoreUnavailable(type(exc).__name__) from exc
            if self.on_degraded is not None:
                self.on_degraded(type(exc).__name__)
            return self._claim_in_memory(key, row["expires_at"], now)
        if pending:
            with self._lock:
                for k in pending:
                    self._memory.pop(k, None)
        self._maybe_cleanup(now)
        return fresh

    def _claim_in(self, conn, row: dict, now: int) -> bool:  # noqa: ANN001
        if self._claim_stmt is not None:
            return conn.execute(self._claim_stmt, {**row, "now": now}).first() is not None
        conn.execute(delete(jwt_replay).where(jwt_replay.c.jti_key == row["jti_key"],
                                              jwt_replay.c.expires_at < now))
        try:
            with conn.begin_nested():
                conn.execute(jwt_replay.insert(), row)
            return True
        except IntegrityError:
            return False

    def _claim_in_memory(self, key: str, expires_at: int, now: int) -> bool:
        with self._lock:
            if len(self._memory) >= MEMORY_LIMIT:
                for k in [k for k, e in self._memory.items() if e < now]:
                    del self._memory[k]
                while len(self._memory) >= MEMORY_LIMIT:  # still full: forget the soonest to expire
                    del self._memory[min(self._memory, key=self._memory.__getitem__)]
            if self._memory.get(key, -1) >= now:
                return False
            self._memory[key] = expires_at
            return True

    def _maybe_cleanup(self, now: int) -> None:
        with self._lock:
            if now - self._last_cleanup < self.cleanup_interval:
                return
            self._last_cleanup = now
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(jwt_replay).where(jwt_replay.c.expires_at < now))
        except Exception:  # cleanup is housekeeping; the next attempt will retry
            pass

    def count(self) -> int:
        from sqlalchemy import func, select

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(jwt_replay)).scalar_one())

"""The `jti` replay guard: a JWT id is accepted once per issuer while its token could still be
valid, across all gunicorn workers and processes, because the memory is a table in the service's
own database (SQLite file or PostgreSQL), not a per-process set.

Insert-if-absent on a unique key is atomic in the database, so when the same token reaches two
workers at the same moment exactly one insert succeeds. Rows carry the time after which the token
can no longer pass the time checks; expired rows are deleted in passing (at most once a minute per
process), so the table holds at most the tokens of the last GMG_CDS_JWT_MAX_AGE_SECONDS.
The key is a SHA-256 of issuer and jti: no token material is stored.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Callable

from sqlalchemy import BigInteger, Column, Integer, String, Table, delete
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
    """The replay table cannot be read or written: the caller must fail closed."""


def replay_key(issuer: str, jti: str) -> str:
    return hashlib.sha256(f"{issuer}\x00{jti}".encode("utf-8")).hexdigest()


class ReplayGuard:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time,
                 cleanup_interval_seconds: float = 60.0):
        self.engine = engine
        self.clock = clock
        self.cleanup_interval = cleanup_interval_seconds
        self._last_cleanup = 0.0
        self._lock = threading.Lock()
        try:
            jwt_replay.create(engine, checkfirst=True)
        except (OperationalError, ProgrammingError):  # created meanwhile by another process
            if not self._table_exists():
                raise

    def _table_exists(self) -> bool:
        from sqlalchemy import inspect

        return inspect(self.engine).has_table(jwt_replay.name)

    def _insert_if_absent(self):  # noqa: ANN202 (dialect-specific insert)
        name = self.engine.dialect.name
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            return None
        # RETURNING tells whether the row was inserted: rowcount is not reliable for
        # INSERT .. ON CONFLICT DO NOTHING on every driver (psycopg 3 reports -1).
        return insert(jwt_replay).on_conflict_do_nothing(index_elements=["jti_key"]).returning(jwt_replay.c.jti_key)

    def claim(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record this (issuer, jti) until `expires_at`; False when it was already recorded and
        has not expired (a replay)."""
        key = replay_key(issuer, jti)
        now = int(self.clock())
        row = {"jti_key": key, "expires_at": int(expires_at) + 1}
        stmt = self._insert_if_absent()
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(jwt_replay).where(jwt_replay.c.jti_key == key,
                                                      jwt_replay.c.expires_at < now))
                if stmt is not None:
                    fresh = conn.execute(stmt, row).first() is not None
                else:
                    try:
                        with conn.begin_nested():
                            conn.execute(jwt_replay.insert(), row)
                        fresh = True
                    except IntegrityError:
                        fresh = False
        except Exception as exc:
            raise ReplayStoreUnavailable(type(exc).__name__) from exc
        self._maybe_cleanup(now)
        return fresh

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

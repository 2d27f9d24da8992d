"""Versioned schema migrations (Alembic), run by the service at start and by `gmg-cds migrate`.

Revisions live in versions/ (0001 baseline: cards_served, feedback, jwt_replay; 0002 audit:
hook_calls, service_secrets, cards_served.call_id). The first revision adopts databases made
before migrations existed (tables created by SQLAlchemy's create_all): it creates only the tables
that are missing, so such a database is simply upgraded, no manual stamping.

Several gunicorn masters (instances) may start at the same moment on one database, so an upgrade
runs in ONE transaction under a lock:
- PostgreSQL: `pg_advisory_xact_lock` on a fixed key, then all DDL (PostgreSQL's DDL is
  transactional); a second migrator waits, then finds the schema current and does nothing;
- SQLite: `BEGIN IMMEDIATE` (the database's write lock) around all DDL; a second migrator waits
  on the busy timeout.
A failed upgrade leaves the database at its previous revision.

New revision (developers): `.venv/bin/alembic -c cds_service/migrations/alembic.ini revision -m "..."`
then write upgrade() by hand with portable operations (op.batch_alter_table for SQLite).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from ..store import PoolOptions

HERE = Path(__file__).resolve().parent
ADVISORY_LOCK_KEY = 0x676D675F636473  # "gmg_cds": one key for every gmg-cds migrator


class SchemaNotCurrent(RuntimeError):
    """The database is not at the newest revision and the service was told not to migrate."""


def alembic_config(connection: "Connection | None" = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, heads
    return heads[0]


def revision_of(connection: "Connection") -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current(engine: "Engine") -> str | None:
    with engine.connect() as conn:
        return revision_of(conn)


def _is_memory_sqlite(url: str) -> bool:
    return url.startswith("sqlite") and (url in ("sqlite://", "sqlite:///") or ":memory:" in url)


def upgrade(url: str, pool: "PoolOptions | None" = None, *, engine: "Engine | None" = None) -> list[str]:
    """Upgrade to the newest revision under the lock; returns the revisions applied (oldest
    first), empty when the schema was already current."""
    from ..store import build_engine, normalize_url

    url = normalize_url(url)
    own = engine is None or not _is_memory_sqlite(url)
    migrator = build_engine(url, pool, for_migrations=True) if own else engine
    try:
        with migrator.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            before = revision_of(conn)
            command.upgrade(alembic_config(conn), "head")
            after = revision_of(conn)
        if before == after:
            return []
        script = ScriptDirectory.from_config(alembic_config())
        applied = [r.revision for r in script.iterate_revisions(after, before)]
        return list(reversed(applied))
    finally:
        if own:
            migrator.dispose()


def require_current(engine: "Engine") -> None:
    rev, newest = current(engine), head()
    if rev != newest:
        raise SchemaNotCurrent(
            f"database schema is at revision {rev or '(none)'}, this version needs {newest}: "
            "run `gmg-cds migrate` (or start with GMG_CDS_MIGRATE_ON_START=1)"
        )

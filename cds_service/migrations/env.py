"""Alembic environment: migrations run on the connection the caller passes (see __init__.py,
which holds the lock and the transaction), or, for the alembic command line, on
sqlalchemy.url / GMG_CDS_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context

from cds_service import replay  # noqa: F401  (registers jwt_replay on the metadata)
from cds_service.store import build_engine, metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("GMG_CDS_DATABASE_URL")
    if not url:
        raise SystemExit("set GMG_CDS_DATABASE_URL (or sqlalchemy.url)")
    engine = build_engine(url, for_migrations=True)
    try:
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=metadata, transactional_ddl=True,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: run migrations against a database")
run()

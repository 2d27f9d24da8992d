"""Both databases for the persistence tests: a SQLite file, and a fresh database on the real
PostgreSQL server that scripts/with-postgres (and so .ci/run) starts on 127.0.0.1.

PostgreSQL cases are skipped ONLY when GMG_CDS_TEST_POSTGRES_URL is absent (a plain local run
without the server); under CI they always run. Each test gets its own database, dropped after.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import hook_request

PG_ENV = "GMG_CDS_TEST_POSTGRES_URL"
PG_CTL_ENV = "GMG_CDS_TEST_POSTGRES_CTL"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"


def postgres_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _admin_engine():  # noqa: ANN202
    url = postgres_admin_url()
    assert url
    from sqlalchemy.pool import NullPool  # a fresh connection each time: the server may have restarted

    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT",
                         poolclass=NullPool)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server; its postgresql:// URL."""
    name = f"gmg_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield postgres_admin_url().rsplit("/", 1)[0] + f"/{name}"  # type: ignore[union-attr]
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def needs_postgres() -> None:
    if not postgres_admin_url():
        pytest.skip(f"{PG_ENV} is not set (run under scripts/with-postgres; CI does)")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> Iterator[str]:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gmg-cds.sqlite3'}"
        return
    needs_postgres()
    with fresh_postgres_database() as url:
        yield url


def demo_hook_request(slug: str = "met-3-1", patient_id: str | None = None) -> dict[str, Any]:
    """A patient-view request for a bundled demo patient, all data in prefetch (cards with
    finding codes come back)."""
    from tests.test_demo_patients import prefetch_of

    pid, prefetch = prefetch_of(json.loads((DEMO / f"{slug}.json").read_text(encoding="utf-8")))
    if patient_id is not None:
        prefetch["patient"] = {**prefetch["patient"], "id": patient_id}
        pid = patient_id
    return hook_request("patient-view", {"patientId": pid, "userId": "Practitioner/demo"}, prefetch=prefetch)


def dump_database(engine) -> str:  # noqa: ANN001
    """Every row of every table as text (to show what is, and is not, stored)."""
    from sqlalchemy import MetaData

    md = MetaData()
    md.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in md.sorted_tables:
            for row in conn.execute(table.select()):
                out.append(f"{table.name}: {tuple(row)}")
    return "\n".join(out)

"""The persistence layer on both databases (SQLite file and real PostgreSQL): versioned
migrations create the schema the code declares, adopt a database made before migrations existed,
run safely from several processes at once, and the store behaves the same on both (feedback
stored once with its card's finding codes, a jti accepted once)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, inspect, select, text

from cds_service import replay  # noqa: F401  (jwt_replay on the metadata)
from cds_service.cli import main as cli_main
from cds_service.migrations import SchemaNotCurrent, current, head
from cds_service.replay import ReplayGuard
from cds_service.store import Store, card_rows, metadata, normalize_url, open_store
from tests.db_backends import db_url  # noqa: F401  (fixture: sqlite and postgresql)

CARD = {"uuid": "c1b2c3d4-0000-4000-8000-0000000000aa", "summary": "s", "indicator": "info",
        "source": {"label": "l"}, "suggestions": [{"uuid": "e56e1945-20b3-4393-8503-a1a20fd73152", "label": "x"}],
        "extension": {"gmg-cds": {"findings": [{"code": "refractory.cn.met"}, {"code": "refractory.cn.c3-4"}]}}}
ENTRY = {"card": CARD["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z",
         "overrideReason": {"reason": {"system": "http://example.org/r", "code": "not-relevant"},
                            "userComment": "seen elsewhere"}}


def schema_differences(store: Store) -> list:
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def test_migrations_create_exactly_the_declared_schema(db_url):
    store = open_store(db_url)
    assert current(store.engine) == head() == "0002"
    assert schema_differences(store) == []
    tables = set(inspect(store.engine).get_table_names())
    assert {"cards_served", "feedback", "jwt_replay", "hook_calls", "service_secrets", "alembic_version"} <= tables
    assert store.migrate() == []  # already current: nothing to do


def legacy_create_all(url: str) -> None:
    """The schema as create_all made it before migrations (commit 23b805a's store.py/replay.py)."""
    md = MetaData()
    Table("cards_served", md, Column("card_uuid", String(64), primary_key=True),
          Column("service_id", String(64), nullable=False), Column("hook_instance", String(64), nullable=False),
          Column("finding_codes", Text, nullable=False), Column("suggestion_uuids", Text, nullable=False),
          Column("served_at", String(32), nullable=False))
    Table("feedback", md, Column("id", Integer, primary_key=True, autoincrement=True),
          Column("digest", String(64), nullable=False, unique=True),
          Column("service_id", String(64), nullable=False),
          Column("card_uuid", String(128), nullable=False, index=True),
          Column("outcome", String(16), nullable=False), Column("outcome_timestamp", String(40), nullable=False),
          Column("accepted_suggestions", Text), Column("override_reason_system", Text),
          Column("override_reason_code", String(128)), Column("override_comment", Text),
          Column("finding_codes", Text), Column("received_at", String(32), nullable=False))
    Table("jwt_replay", md, Column("jti_key", String(64), primary_key=True),
          Column("expires_at", Integer, nullable=False, index=True))
    engine = create_engine(normalize_url(url))
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(md.tables["cards_served"].insert(), [{k: v for k, v in r.items() if k != "call_id"}
                                                         for r in card_rows("gmg-patient-view", "h1", [CARD])])
        conn.execute(text("INSERT INTO feedback (digest, service_id, card_uuid, outcome, outcome_timestamp, "
                          "received_at) VALUES ('d1', 'gmg-patient-view', 'old-card', 'accepted', "
                          "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00+00:00')"))
        conn.execute(text("INSERT INTO jwt_replay VALUES ('k1', 2000000000)"))
    engine.dispose()


def test_a_database_made_before_migrations_is_adopted_and_upgraded_with_its_data(db_url):
    legacy_create_all(db_url)
    store = open_store(db_url)
    assert current(store.engine) == head()
    assert schema_differences(store) == []
    rows = store.feedback_rows()
    assert [r["card_uuid"] for r in rows] == ["old-card"]
    # the old cards are still found by feedback, the old jti is still refused
    assert len(store.add_feedback("gmg-patient-view", [ENTRY])) == 1
    assert json.loads(store.feedback_rows()[-1]["finding_codes"]) == ["refractory.cn.met", "refractory.cn.c3-4"]
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT expires_at FROM jwt_replay WHERE jti_key = 'k1'")).scalar_one() == 2000000000
    # and the replay memory now reaches past 2038 (64-bit on PostgreSQL after 0002)
    assert ReplayGuard(store.engine).claim("https://iss", "far", 4102444800) is True


def test_a_sqlite_database_without_the_replay_table_is_adopted(tmp_path):
    """A local-mode database never had jwt_replay (the guard created it only with JWT on)."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    legacy_create_all(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE jwt_replay"))
    engine.dispose()
    store = open_store(url)
    assert schema_differences(store) == []


def test_several_processes_migrating_at_once_end_at_the_newest_revision_once(db_url):
    errors: list[BaseException] = []
    applied: list[list[str]] = []
    barrier = threading.Barrier(4)

    def migrate() -> None:
        try:
            store = Store(db_url)
            barrier.wait()
            applied.append(store.migrate())
            store.engine.dispose()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    # exactly one migrator applied the revisions, the others found the schema current
    assert sorted(applied, key=len) == [[], [], [], ["0001", "0002"]]
    store = Store(db_url)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    assert schema_differences(store) == []


def test_without_migrate_on_start_an_old_schema_refuses_to_start(db_url):
    legacy_create_all(db_url)
    with pytest.raises(SchemaNotCurrent, match="gmg-cds migrate"):
        open_store(db_url, attempts=1, migrate=False)
    open_store(db_url)  # migrating once makes it acceptable
    assert current(open_store(db_url, migrate=False).engine) == head()


def test_feedback_is_stored_once_with_the_finding_codes_of_the_card(db_url):
    a, b = open_store(db_url), open_store(db_url)  # two instances on one database
    a.record_cards("gmg-patient-view", "hook-1", [CARD])
    first = b.add_feedback("gmg-patient-view", [ENTRY])
    again = a.add_feedback("gmg-patient-view", [ENTRY])
    assert [(f.outcome, f.finding_codes) for f in first] == [("overridden", ("refractory.cn.met", "refractory.cn.c3-4"))]
    assert again == []
    rows = a.feedback_rows()
    assert len(rows) == 1
    assert rows[0]["override_reason_code"] == "not-relevant" and rows[0]["override_comment"] == "seen elsewhere"


def test_a_jti_is_claimed_once_across_stores_on_one_database(db_url):
    a, b = open_store(db_url), open_store(db_url)
    now = time.time()
    ga, gb = ReplayGuard(a.engine, cleanup_interval_seconds=0), ReplayGuard(b.engine, cleanup_interval_seconds=0)
    assert ga.claim("https://iss", "jti-1", now + 60) is True
    assert gb.claim("https://iss", "jti-1", now + 60) is False
    assert ga.claim("https://iss", "jti-1", now + 60) is False
    assert gb.claim("https://iss", "jti-2", now + 60) is True
    # an expired entry is forgotten on both
    assert ga.claim("https://iss", "jti-old", now - 5) is True
    assert gb.claim("https://iss", "jti-old", now + 60) is True


def test_simultaneous_claims_of_one_jti_succeed_exactly_once(db_url):
    stores = [open_store(db_url) for _ in range(2)]
    guards = [ReplayGuard(s.engine) for s in stores]
    for n in range(5):
        results: list[bool] = []
        barrier = threading.Barrier(6)

        def claim(guard: ReplayGuard) -> None:
            barrier.wait()
            results.append(guard.claim("https://iss", f"race-{n}", time.time() + 60))

        threads = [threading.Thread(target=claim, args=(guards[i % 2],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results) == [False] * 5 + [True]


def test_migrate_command(db_url, monkeypatch, capsys):
    import io

    monkeypatch.setenv("GMG_CDS_DATABASE_URL", db_url)
    out = io.StringIO()
    assert cli_main(["migrate", "--check"], out) == 1  # empty database: behind
    assert cli_main(["migrate"], out) == 0
    assert cli_main(["migrate", "--check"], out) == 0
    text_out = out.getvalue()
    assert "applied 0001, 0002" in text_out and "at 0002, newest 0002" in text_out
    assert "password" not in text_out


def test_postgres_urls_use_psycopg3():
    assert normalize_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///var/x.sqlite3") == "sqlite:///var/x.sqlite3"


def test_the_migration_lock_serialises_sqlite_migrators(tmp_path):
    """A migrator holds the database's write lock for its whole upgrade (one transaction): a
    second writer waits rather than seeing half a schema."""
    from cds_service.store import build_engine

    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    engine = build_engine(url, for_migrations=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (x INTEGER)"))
        other = create_engine(url, connect_args={"timeout": 0.2})
        with pytest.raises(Exception, match="locked"):
            with other.begin() as c2:
                c2.execute(text("CREATE TABLE other (y INTEGER)"))
        other.dispose()
    with engine.connect() as conn:
        assert conn.execute(select(text("count(*)")).select_from(text("probe"))).scalar_one() == 0
    engine.dispose()

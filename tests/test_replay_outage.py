"""The jti replay guard when the database goes away: it keeps answering (claims held in the
worker's memory, replays to that worker refused), writes those claims to the database when it is
back, and refuses (503) instead when configured to fail closed. Real SQLite file, really removed."""

from __future__ import annotations

import shutil
import time

import pytest

from cds_service.replay import ReplayGuard, ReplayStoreUnavailable
from cds_service.settings import ConfigError, Settings
from cds_service.store import Store


def _store(path):
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    return store


def test_claims_survive_an_outage_and_are_written_back(tmp_path):
    db = tmp_path / "db" / "r.sqlite3"
    db.parent.mkdir()
    store = _store(db)
    reasons: list[str] = []
    guard = ReplayGuard(store.engine, on_degraded=reasons.append)
    exp = time.time() + 300
    assert guard.claim("iss", "before", exp) is True
    assert guard.claim("iss", "before", exp) is False

    store.engine.dispose()
    shutil.rmtree(db.parent)  # the database is gone
    assert guard.claim("iss", "during", exp) is True  # still answered
    assert guard.claim("iss", "during", exp) is False  # a replay to this worker is refused
    assert reasons  # the degradation was reported (log + metric in auth.py)

    db.parent.mkdir()  # the database is back (empty, as after a failover)
    fresh = _store(db)
    guard.engine = fresh.engine
    assert guard.claim("iss", "after", exp) is True  # this write also flushes "during"
    other_worker = ReplayGuard(fresh.engine)
    assert other_worker.claim("iss", "during", exp) is False  # now refused everywhere
    assert other_worker.claim("iss", "after", exp) is False


def test_fail_closed_when_configured(tmp_path):
    db = tmp_path / "db" / "r.sqlite3"
    db.parent.mkdir()
    store = _store(db)
    guard = ReplayGuard(store.engine, memory_on_outage=False)
    store.engine.dispose()
    shutil.rmtree(db.parent)
    with pytest.raises(ReplayStoreUnavailable):
        guard.claim("iss", "x", time.time() + 300)


def test_expired_memory_claims_are_forgotten(tmp_path):
    db = tmp_path / "db" / "r.sqlite3"
    db.parent.mkdir()
    store = _store(db)
    now = [1_000_000.0]
    guard = ReplayGuard(store.engine, clock=lambda: now[0])
    store.engine.dispose()
    shutil.rmtree(db.parent)
    assert guard.claim("iss", "j", now[0] + 60) is True
    now[0] += 120  # the token can no longer pass the time checks
    assert guard.claim("iss", "j", now[0] + 60) is True


def test_the_setting_is_validated():
    assert Settings.from_env({"GMG_CDS_ENV": "local"}).replay_on_db_outage == "memory"
    assert Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_REPLAY_ON_DB_OUTAGE": "refuse"}).replay_on_db_outage == "refuse"
    with pytest.raises(ConfigError):
        Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_REPLAY_ON_DB_OUTAGE": "maybe"})

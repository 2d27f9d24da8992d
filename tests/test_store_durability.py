"""Feedback is acknowledged only once it is stored in the database file that exists, and /readyz
says so (issue 15, F-8, F-9), on the real gunicorn server with SQLite:

- the file deleted under the running instance: every feedback 503 with Retry-After (before the
  change: 200 and lost, 10 of 10), /readyz 503;
- the file replaced by another one: the same;
- the database locked by another process: /readyz 503 within a second or two, back to 200 when
  the lock goes; feedback meanwhile is 503 (after SQLite's 5 s busy wait) or stored;
- the disk full (a 2 MiB tmpfs, filled; needs root to mount, as CI runs): /readyz 503, and every
  feedback answered 200 is in the file;
- the database read-only: /readyz 503 (in process; SQLite's `query_only` stands in for a
  filesystem remounted read-only, which cannot be done here while the file is open).

PostgreSQL keeps its behaviour (readiness = reachable); its outage tests are in
test_postgres_instances.py and test_replay_outage.py."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import event

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.store import open_store
from tests.server_helpers import running

FB = "/cds-services/gmg-patient-view/feedback"


def feedback() -> dict:
    return {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted",
                          "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                          "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}


def env_for(db: Path) -> dict[str, str]:
    return {"GMG_CDS_ENV": "local", "GMG_CDS_DATABASE_URL": f"sqlite:///{db}", "GMG_CDS_WORKERS": "2"}


def stored_cards(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT card_uuid FROM feedback")}


def readyz(base: str) -> requests.Response:
    return requests.get(base + "/readyz", timeout=10)


def assert_refused(resp: requests.Response) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == "5"
    assert resp.json()["issue"][0]["code"] == "transient"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_feedback_is_never_acknowledged_into_a_file_that_is_gone(tmp_path: Path, how: str) -> None:
    db = tmp_path / "gmg-cds.sqlite3"
    with running("gunicorn", tmp_path, env_for(db)) as server:
        first = feedback()
        assert requests.post(server.base + FB, json=first, timeout=10).status_code == 200
        assert readyz(server.base).status_code == 200
        if how == "deleted":
            for f in tmp_path.glob("gmg-cds.sqlite3*"):
                f.unlink()
        else:  # another database file moved into its place (a restore done under the instance)
            copy = tmp_path / "restored.sqlite3"
            with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
                src.backup(dst)
            os.replace(copy, db)
        sent = [feedback() for _ in range(10)]
        for body in sent:
            assert_refused(requests.post(server.base + FB, json=body, timeout=10))
        ready = readyz(server.base)
        assert ready.status_code == 503
        assert ready.json()["reason"] == ("file-missing" if how == "deleted" else "file-replaced")
        assert not db.exists() if how == "deleted" else True  # not recreated empty behind our back
    if how == "replaced":
        cards = stored_cards(db)
        assert first["feedback"][0]["card"] in cards  # the copy holds what was acknowledged
        assert not cards & {b["feedback"][0]["card"] for b in sent}


@pytest.mark.slow
def test_a_locked_database_is_not_ready_until_the_lock_goes(tmp_path: Path) -> None:
    db = tmp_path / "gmg-cds.sqlite3"
    with running("gunicorn", tmp_path, env_for(db)) as server:
        assert readyz(server.base).status_code == 200
        holder = sqlite3.connect(db, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            started = time.monotonic()
            ready = readyz(server.base)
            assert ready.status_code == 503 and ready.json()["reason"] == "locked"
            assert time.monotonic() - started < 4.0
            body = feedback()
            resp = requests.post(server.base + FB, json=body, timeout=20)
            assert resp.status_code == 503  # SQLite's busy wait (5 s) ran out: not acknowledged
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        assert readyz(server.base).status_code == 200
        assert requests.post(server.base + FB, json=body, timeout=10).status_code == 200
        assert body["feedback"][0]["card"] in stored_cards(db)


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root; CI runs as root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_is_not_ready_and_nothing_is_acknowledged_unstored(tmp_path: Path, small_disk: Path) -> None:
    db = small_disk / "gmg-cds.sqlite3"
    with running("gunicorn", tmp_path, env_for(db)) as server:
        assert readyz(server.base).status_code == 200
        with open(small_disk / "filler", "wb") as filler:  # fill the disk to the last block
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        ready = readyz(server.base)
        assert ready.status_code == 503 and ready.json()["reason"] == "disk-full"
        answers = {}
        for _ in range(10):
            body = feedback()
            resp = requests.post(server.base + FB, json=body, timeout=20)
            assert resp.status_code in (200, 503), resp.text
            answers[body["feedback"][0]["card"]] = resp.status_code
        (small_disk / "filler").unlink()
        assert readyz(server.base).status_code == 200
    acknowledged = {card for card, status in answers.items() if status == 200}
    assert acknowledged <= stored_cards(db)


def test_a_read_only_database_is_not_ready(tmp_path: Path) -> None:
    """Test double: `PRAGMA query_only` makes SQLite refuse writes as a read-only file does
    (SQLITE_READONLY); a filesystem cannot be remounted read-only here under an open file."""
    db = tmp_path / "gmg-cds.sqlite3"
    store = open_store(f"sqlite:///{db}")
    app = create_app(Settings(env="local", database_url=f"sqlite:///{db}", auth_required=False), store=store)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    store.engine.dispose()
    event.listen(store.engine, "connect", lambda conn, _rec: conn.execute("PRAGMA query_only=ON"))
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["reason"] == "read-only"
    resp = client.post(FB, json=feedback())
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"


def test_postgres_readiness_is_unchanged(monkeypatch) -> None:
    """A store without a SQLite file (PostgreSQL) is ready when reachable, as before."""
    from cds_service.store import Store

    store = Store.__new__(Store)
    store.sqlite_file = None
    monkeypatch.setattr(store, "ping", lambda: True, raising=False)
    assert store.ready() is None
    monkeypatch.setattr(store, "ping", lambda: False, raising=False)
    assert store.ready() == "unreachable"

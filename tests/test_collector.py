"""Work moved after the answer of a hook call. Cyclic GC (cds_service/collector.py): paused
while any call is in flight, resumed after the last answer (also after errors), forced after
the answer when too much was allocated meanwhile, never turned on against the host's own
choice. Freeing the request's data: after the answer has been written, not before."""

from __future__ import annotations

import dataclasses
import gc
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.collector import COLLECTOR, DeferredCollection
from hooks import registry
from tests.conftest import hook_request, local_settings

PV = "/cds-services/gmg-patient-view"
CTX = {"userId": "Practitioner/1", "patientId": "p1"}
PREFETCH = {"patient": {"resourceType": "Patient", "id": "p1"}, "conditions": None, "observations": None}


@pytest.fixture(autouse=True)
def gc_on():
    gc.enable()
    yield
    gc.enable()


def _client(tmp_path: Path, handler):
    services = registry.services()
    services["gmg-patient-view"] = dataclasses.replace(services["gmg-patient-view"], handler=handler)
    return create_app(local_settings(tmp_path), services=services).test_client()


def test_no_gc_pass_while_a_call_is_answered_and_gc_back_after_the_answer(tmp_path):
    seen = []

    def handler(call):
        seen.append((gc.isenabled(), COLLECTOR.in_flight))
        return []

    client = _client(tmp_path, handler)
    resp = client.post(PV, json=hook_request("patient-view", dict(CTX), prefetch=PREFETCH))
    assert resp.status_code == 200
    assert seen == [(False, 1)]
    assert gc.isenabled() and COLLECTOR.in_flight == 0


@pytest.mark.parametrize("case", ["handler-raises", "bad-json", "unknown-service"])
def test_gc_is_back_after_every_kind_of_error(tmp_path, case):
    def handler(call):
        raise RuntimeError("boom")

    client = _client(tmp_path, handler)
    if case == "handler-raises":
        resp = client.post(PV, json=hook_request("patient-view", dict(CTX), prefetch=PREFETCH))
        assert resp.status_code == 500
    elif case == "bad-json":
        resp = client.post(PV, data=b"{not json", content_type="application/json")
        assert resp.status_code == 400
    else:
        resp = client.post("/cds-services/nope", json={})
        assert resp.status_code == 404
    assert gc.isenabled() and COLLECTOR.in_flight == 0


def test_other_routes_do_not_touch_the_collector(tmp_path):
    client = create_app(local_settings(tmp_path)).test_client()
    gc.disable()  # a host that runs with the collector off keeps it off
    try:
        client.get("/healthz")
        client.post(PV, json=hook_request("patient-view", dict(CTX), prefetch=PREFETCH))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_calls_resume_only_after_the_last():
    c = DeferredCollection()
    c.enter()
    c.enter()
    assert not gc.isenabled()
    c.leave()
    assert not gc.isenabled()
    c.leave()
    assert gc.isenabled()


def test_a_pass_is_forced_after_an_answer_when_much_was_allocated_meanwhile():
    c = DeferredCollection(max_deferred=10_000)
    c.enter()
    c.enter()  # another call stays in flight: the collector would otherwise stay off
    kept = [[i] for i in range(50_000)]  # tracked objects made while paused
    c.leave()
    assert c.forced_passes == 1
    assert gc.get_count()[0] < 10_000
    c.leave()
    assert gc.isenabled() and len(kept) == 50_000


def test_a_small_call_forces_nothing():
    c = DeferredCollection(max_deferred=10_000_000)
    c.enter()
    c.enter()
    c.leave()
    c.leave()
    assert c.forced_passes == 0 and gc.isenabled()


def test_the_request_data_is_freed_after_the_answer_not_before(tmp_path, monkeypatch):
    """Freeing a large body costs ~1.5 ms at 500 resources: it happens once the answer has been
    written (WSGI close), after the request context is gone, and it does happen."""
    import weakref

    from cds_service import prefetch

    real = prefetch.resolve
    refs = []

    def tracking(*args, **kwargs):
        result = real(*args, **kwargs)
        refs.append(weakref.ref(result))
        return result

    monkeypatch.setattr(prefetch, "resolve", tracking)
    app = create_app(local_settings(tmp_path))
    alive_when_closing = []

    @app.after_request
    def first_on_close(resp):  # registered last, so it runs first: its close callback too
        resp.call_on_close(lambda: alive_when_closing.append(refs[-1]() is not None))
        return resp

    resp = app.test_client().post(PV, json=hook_request("patient-view", dict(CTX), prefetch=PREFETCH))
    assert resp.status_code == 200
    assert alive_when_closing == [True]  # held past the request context, until the answer went
    assert refs[-1]() is None  # and freed by the close that follows the answer


def test_every_tenth_forced_pass_collects_the_oldest_generation_too(monkeypatch):
    passes = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: passes.append(generation) or 0)
    monkeypatch.setattr(gc, "get_count", lambda: (2_000_000, 0, 0))
    c = DeferredCollection(max_deferred=1_000_000)
    c.enter()
    for _ in range(20):
        c.enter()
        c.leave()  # another call stays in flight: forced each time
    c.leave()
    assert passes == [1] * 9 + [2] + [1] * 9 + [2]

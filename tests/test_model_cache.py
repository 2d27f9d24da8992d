"""The per-process cache of validated FHIR models (fhir_mappings/model_cache.py): a resource is
validated once per distinct content, never reused for different content, never kept when it
needed repair, never changed by the mappings, and bounded."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path

import pytest
from fhir.resources.R4B.observation import Observation

from cds_service.settings import ConfigError, Settings
from fhir_mappings import build_record
from fhir_mappings.model_cache import MODELS, ModelCache
from fhir_mappings.prefetch import prefetch_from_bundle
from tests.conftest import TODAY

DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"


@pytest.fixture(autouse=True)
def fresh_cache():
    capacity = MODELS.capacity
    MODELS.clear()
    MODELS.resize(4096)
    yield
    MODELS.clear()
    MODELS.resize(capacity)


def _demo(name: str) -> tuple[dict, str]:
    return prefetch_from_bundle(json.loads((DEMO / name).read_text()))


def _observations(prefetch: dict) -> list[dict]:
    return [e["resource"] for e in prefetch["observations"]["entry"]]


def test_second_build_of_the_same_chart_validates_nothing_and_gives_the_same_record():
    prefetch, pid = _demo("met-3-1.json")
    first = build_record(prefetch, pid, TODAY)
    misses = MODELS.misses
    assert misses > 5 and MODELS.hits == 0
    second = build_record(prefetch, pid, TODAY)
    assert MODELS.misses == misses  # nothing validated again
    assert MODELS.hits == misses
    assert asdict(second) == asdict(first)


def test_changed_content_is_validated_anew_and_read_as_changed():
    prefetch, pid = _demo("met-3-1.json")
    before = build_record(prefetch, pid, TODAY)
    changed = copy.deepcopy(prefetch)
    adl = next(r for r in _observations(changed) if r["code"]["coding"][0].get("code") == "mg-adl-total")
    old = adl["valueQuantity"]["value"] if "valueQuantity" in adl else adl["valueInteger"]
    if "valueQuantity" in adl:
        adl["valueQuantity"]["value"] = old + 3
    else:
        adl["valueInteger"] = old + 3
    misses = MODELS.misses
    after = build_record(changed, pid, TODAY)
    assert MODELS.misses == misses + 1  # exactly the changed resource
    latest = {s.source: s.total for s in before.mg_adl}
    moved = [(s.source, s.total) for s in after.mg_adl if latest.get(s.source) != s.total]
    assert moved == [(f"Observation/{adl['id']}", old + 3)]


def test_repaired_resources_are_not_kept_and_give_their_notes_every_time():
    prefetch, pid = _demo("met-3-1.json")
    broken = copy.deepcopy(prefetch)
    obs = _observations(broken)[0]
    obs["referenceRange"] = [{"low": {"value": "not a number"}}]  # invalid, dropped with a note
    notes = []
    for _ in range(2):
        record = build_record(broken, pid, TODAY)
        notes.append([n for n in record.notes if n.source == f"Observation/{obs['id']}"])
    assert notes[0] and notes[0] == notes[1]
    assert not any(b'"not a number"' in content for _, content in MODELS._entries)  # noqa: SLF001


def test_null_content_is_never_kept():
    cache = ModelCache(10)
    raw = {"resourceType": "Observation", "id": "x", "status": "final",
           "code": {"text": "weight"}, "valueQuantity": {"value": 70, "unit": "kg"}}
    cache.validated(Observation, raw, lambda: Observation.model_validate(raw))
    assert len(cache) == 1
    with_nan = {**raw, "id": "y", "valueQuantity": {"value": float("nan"), "unit": "kg"}}
    with pytest.raises(Exception):
        cache.validated(Observation, with_nan, lambda: Observation.model_validate(with_nan))
    assert len(cache) == 1  # NaN serialises as null: never a key


def test_mappings_never_change_a_cached_model():
    """Every demo patient built twice; each kept model still equals a fresh validation of the
    content it is keyed by (a mapping that wrote to a model would leak into later calls)."""
    for path in sorted(DEMO.glob("*.json")):
        prefetch, pid = prefetch_from_bundle(json.loads(path.read_text()))
        build_record(prefetch, pid, TODAY)
        build_record(prefetch, pid, TODAY)
    assert len(MODELS) > 100
    for (model, content), kept in list(MODELS._entries.items()):  # noqa: SLF001
        assert kept == model.model_validate(json.loads(content)), content[:120]


def test_bounded_least_recently_used_first_and_zero_turns_it_off():
    cache = ModelCache(2)
    made = []

    def build(raw):
        def make():
            made.append(raw["id"])
            return Observation.model_validate(raw)
        return make

    raws = [{"resourceType": "Observation", "id": i, "status": "final", "code": {"text": "t"}}
            for i in ("a", "b", "c")]
    for raw in (raws[0], raws[1], raws[0], raws[2], raws[0], raws[1]):
        cache.validated(Observation, raw, build(raw))
    assert len(cache) == 2
    assert made == ["a", "b", "c", "b"]  # b was the least recently used when c came
    cache.resize(0)
    assert len(cache) == 0
    cache.validated(Observation, raws[0], build(raws[0]))
    assert len(cache) == 0 and made[-1] == "a"


def test_setting_reads_the_size_and_refuses_a_negative_one():
    assert Settings.from_env({"GMG_CDS_ENV": "local"}).model_cache_size == 2048
    assert Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_MODEL_CACHE_SIZE": "0"}).model_cache_size == 0
    with pytest.raises(ConfigError):
        Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_MODEL_CACHE_SIZE": "-1"})


def test_the_app_applies_the_setting(tmp_path):
    from cds_service.app import create_app
    from tests.conftest import local_settings

    create_app(local_settings(tmp_path, model_cache_size=7))
    assert MODELS.capacity == 7


def test_element_classes_are_loaded_at_start_not_in_the_first_calls(tmp_path):
    """fhir_core imports nested element classes on first use; create_app loads them (before
    gunicorn forks), so no hook call of any demo patient imports a fhir.resources module."""
    import subprocess
    import sys

    script = f"""
import json, sys
from pathlib import Path
from cds_service.app import create_app
from tests.conftest import local_settings, TODAY
from fhir_mappings import build_record
from fhir_mappings.prefetch import prefetch_from_bundle
create_app(local_settings(Path({str(tmp_path)!r})))
before = {{m for m in sys.modules if m.startswith("fhir.resources")}}
for path in sorted(Path({str(DEMO)!r}).glob("*.json")):
    prefetch, pid = prefetch_from_bundle(json.loads(path.read_text()))
    build_record(prefetch, pid, TODAY)
late = sorted({{m for m in sys.modules if m.startswith("fhir.resources")}} - before)
print(json.dumps({{"loaded": len(before), "late": late}}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["late"] == []
    assert result["loaded"] > 20

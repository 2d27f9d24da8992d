"""Benchmark: build_record beside json.loads of the same prefetch, at about 50, 500 and 5,000
resources built from the Synthea fixtures (the large record merges several patients' resources
under one patient id). Run with `scripts/bench-record` (not part of the test suite).

    python -m bench.record [--fixtures DIR] [--repeat N] [--sizes 50,500,5000] [--concept-map-elements 5000]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import terminology

from fhir_mappings import build_record
from fhir_mappings.selection import SeriesSelection
from fhir_mappings.prefetch import KEY_FOR_TYPE, prefetch_from_resources

PREFETCH_KEY = KEY_FOR_TYPE
_PATIENT_ELEMENT = {"Immunization": "patient", "AllergyIntolerance": "patient"}
DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "synthea-r4"


def pooled_resources(fixtures: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every prefetch-relevant resource of every fixture, re-pointed at the first patient."""
    pool: list[dict[str, Any]] = []
    first_patient: dict[str, Any] | None = None
    for path in sorted(fixtures.glob("*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            bundle = json.load(fh)
        for entry in bundle.get("entry", []):
            res = entry.get("resource")
            if not isinstance(res, dict):
                continue
            rtype = res.get("resourceType")
            if rtype == "Patient":
                first_patient = first_patient or res
                continue
            if rtype in PREFETCH_KEY:
                pool.append(res)
    if first_patient is None:
        raise SystemExit(f"no Synthea fixtures under {fixtures}")
    pid = first_patient["id"]
    for res in pool:
        res[_PATIENT_ELEMENT.get(res["resourceType"], "subject")] = {"reference": f"Patient/{pid}"}
    return pool, first_patient


def _median_seconds(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", default="50,500,5000")
    parser.add_argument("--concept-map-elements", type=int, default=0,
                        help="fold a generated site ConceptMap of N elements into the terminology first")
    args = parser.parse_args(argv)

    terminology.warm()
    if args.concept_map_elements:
        import tempfile

        from bench.concept_map import write_concept_map

        maps = terminology.configure_concept_maps(
            str(write_concept_map(args.concept_map_elements, tempfile.mkdtemp(prefix="gmg-map-"))))
        print(f"site concept map: {len(maps or ())} elements folded in")
    pool, patient = pooled_resources(args.fixtures)
    pid = patient["id"]
    today = date(2026, 11, 22)
    print(f"pool: {len(pool)} prefetch resources from {args.fixtures}")
    from gmg.parameters import load

    series = SeriesSelection.from_parameters(load())
    print("build_record: every vital/lab series read (all) and as the hooks call it (selective); "
          "'first seen': selective with no validated model kept (GMG_CDS_MODEL_CACHE_SIZE=0)")
    print(
        f"{'resources':>9} {'json KB':>8} {'json.loads ms':>14} {'(gc off)':>9} "
        f"{'all ms':>8} {'selective ms':>13} {'ratio':>6} {'(gc off)':>9} {'first seen ms':>14}  facts"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        resources = pool[: size - 1]  # plus the Patient
        prefetch = prefetch_from_resources([patient, *resources])
        text = json.dumps(prefetch)
        data = json.loads(text)
        build_record(data, pid, today)  # warm-up: model classes, regexes
        t_json = _median_seconds(lambda: json.loads(text), args.repeat)
        gc.disable()  # json.loads of a large document is dominated by cyclic-GC passes
        try:
            t_json_nogc = _median_seconds(lambda: json.loads(text), args.repeat)
        finally:
            gc.enable()
        t_all = _median_seconds(lambda: build_record(data, pid, today), args.repeat)
        t_build = _median_seconds(lambda: build_record(data, pid, today, series=series), args.repeat)
        # A chart seen for the first time: no validated model kept from an earlier call.
        from fhir_mappings.model_cache import MODELS

        capacity = MODELS.capacity
        MODELS.resize(0)
        try:
            t_first = _median_seconds(lambda: build_record(data, pid, today, series=series), args.repeat)
        finally:
            MODELS.resize(capacity)
        record = build_record(data, pid, today, series=series)
        facts = len(record.measurements) + len(record.exposures) + len(record.conditions) + len(record.immunizations) + len(record.procedures) + len(record.intolerances)
        print(
            f"{len(resources) + 1:>9} {len(text) / 1024:>8.0f} {t_json * 1000:>14.2f} "
            f"{t_json_nogc * 1000:>9.2f} {t_all * 1000:>8.2f} {t_build * 1000:>13.2f} {t_build / t_json:>6.1f} "
            f"{t_build / t_json_nogc:>9.1f} {t_first * 1000:>14.2f}  {facts}"
        )


if __name__ == "__main__":
    main()

"""Server time to make the MG summary page, without the FHIR fetch (issue 18). Not a test.

    python -m bench.summary_page [--repeat N] [--size 500]        (scripts/bench-summary)

Two charts of about `--size` resources each, handed to the page as the FHIR reads would:
- "Synthea + MG course": the long-course demo patient (demo/bundles/course-refractory.json) with
  resources of the Synthea fixtures (../shared/fixtures/synthea-r4) under the same patient id, as
  a real chart holds mostly data the page does not draw; skipped when the fixtures are absent;
- "MG only": the long-course patient's MG-ADL, QMG, medication and administration history
  repeated back in time (dates shifted by whole years), so every resource is drawn: the worst
  case for the charts and tables.

Stages, in-process (an app in local mode, a request context as in the callback): record +
assessment + summary (`hooks.summary.summarize`), the plotly figures, the HTML template, and all
three together (what the callback does after the FHIR reads). Median and 90th percentile of
`--repeat` runs after one warm-up run. Figures taken on a shared machine are noisy: compare runs
on a quiet one.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "demo" / "bundles" / "course-refractory.json"
SYNTHEA = ROOT.parent / "shared" / "fixtures" / "synthea-r4"
PATIENT_ID = "bench-summary-patient"
TODAY = date(2026, 11, 22)
PATIENT_FIELDS = ("subject", "patient")


def _key_for_type() -> dict[str, str]:
    from fhir_mappings.prefetch import KEY_FOR_TYPE

    return dict(KEY_FOR_TYPE)


def _retarget(resource: dict[str, Any], prefix: str) -> dict[str, Any]:
    res = json.loads(json.dumps(resource))
    res["id"] = f"{prefix}-{res.get('id', uuid.uuid4().hex[:8])}"[:64]
    for f in PATIENT_FIELDS:
        if isinstance(res.get(f), dict):
            res[f] = {"reference": f"Patient/{PATIENT_ID}"}
    return res


def _course() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    bundle = json.loads(COURSE.read_text(encoding="utf-8"))
    resources = [e["resource"] for e in bundle["entry"]]
    patient = dict(next(r for r in resources if r["resourceType"] == "Patient"), id=PATIENT_ID)
    return patient, [_retarget(r, "mg") for r in resources if r["resourceType"] != "Patient"]


def _prefetch(patient: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, Any]:
    keys = {t: k for t, k in _key_for_type().items() if t != "Patient"}
    out: dict[str, Any] = {k: {"resourceType": "Bundle", "type": "searchset", "entry": []} for k in keys.values()}
    out["patient"] = patient
    for r in resources:
        out[keys[r["resourceType"]]]["entry"].append({"resource": r})
    return out


def synthea_mix(size: int) -> dict[str, Any] | None:
    files = sorted(SYNTHEA.glob("*.json.gz"))
    if not files:
        return None
    keys = _key_for_type()
    patient, resources = _course()
    for i, path in enumerate(files):
        bundle = json.load(gzip.open(path))
        for e in bundle.get("entry", []):
            r = e.get("resource") or {}
            if r.get("resourceType") in keys and r["resourceType"] != "Patient" and len(resources) < size - 1:
                resources.append(_retarget(r, f"s{i}"))
        if len(resources) >= size - 1:
            break
    return _prefetch(patient, resources)


def mg_only(size: int) -> dict[str, Any]:
    from cds_service.demo_fhir import shift_dates

    patient, core = _course()
    history = [r for r in core if r["resourceType"] in ("Observation", "MedicationStatement", "MedicationAdministration")]
    resources = list(core)
    years = 1
    while len(resources) < size - 1:
        for r in history:
            if len(resources) >= size - 1:
                break
            resources.append(_retarget(shift_dates(r, -365 * years), f"y{years}"))
        years += 1
    return _prefetch(patient, resources)


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, int(0.9 * len(runs)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--size", type=int, default=500)
    args = ap.parse_args(argv)

    from cds_service.app import create_app
    from cds_service.settings import Settings
    from cds_service.smart import charts, page
    from cds_service.smart.assets import Assets
    from cds_service.smart.messages import Messages
    from hooks.registry import HookCall
    from hooks.summary import summarize

    tmp = Path(tempfile.mkdtemp(prefix="gmg-summary-bench-"))
    app = create_app(Settings(env="local", database_url=f"sqlite:///{tmp}/b.sqlite3", cors_origins=("*",),
                              auth_required=False, evaluation_date=TODAY, log_level="WARNING"))
    assets = Assets.load()
    cases = [("Synthea + MG course", synthea_mix(args.size)), ("MG only", mg_only(args.size))]
    print(f"MG summary page, server time without the FHIR fetch; median / p90 of {args.repeat} runs (ms)")
    print(f"{'chart':<22} {'resources':>9} {'lang':>5}  {'summary':>15} {'figures':>13} {'HTML':>13} {'total':>15}  {'page KB':>7}")
    for name, prefetch in cases:
        if prefetch is None:
            print(f"{name:<22} (skipped: no fixtures under {SYNTHEA})")
            continue
        count = 1 + sum(len(v["entry"]) for k, v in prefetch.items() if k != "patient")
        for language in ("en", "zh-CN"):
            call = HookCall("gmg-mg-summary", "patient-view", "bench", {"patientId": PATIENT_ID}, prefetch,
                            frozenset(), TODAY, language)
            m = Messages(language)
            with app.test_request_context("/smart/callback"):
                summary = summarize(call)
                who = page.banner(prefetch["patient"], PATIENT_ID)
                t_summary = _time(lambda: summarize(call), args.repeat)
                t_figures = _time(lambda: charts.figures(summary, m), args.repeat)
                t_html = _time(lambda: page.render(summary, who, assets, demo=False), args.repeat)

                def whole() -> str:
                    s = page.build(prefetch, frozenset(), PATIENT_ID, TODAY, language)
                    return page.render(s, who, assets, demo=False)

                t_total = _time(whole, args.repeat)
                size_kb = len(whole().encode("utf-8")) / 1024
            cells = [f"{a:7.1f} / {b:5.1f}" for a, b in (t_summary, t_figures, t_html, t_total)]
            print(f"{name:<22} {count:>9} {language:>5}  {cells[0]:>15} {cells[1]:>13} {cells[2]:>13} {cells[3]:>15}  {size_kb:7.0f}")
    print(f"(plotly.js is a separate, cached asset: {assets.plotly_path.stat().st_size / 1e6:.1f} MB, "
          f"{len(assets.plotly(True)) / 1e6:.1f} MB gzipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A site ConceptMap of N elements for measuring recognition with a large site map loaded
(issue #14: "with a 5,000-element ConceptMap loaded, patient-view at ~500 resources stays within
the performance targets"). Not part of the tests' data; the tests and `scripts/bench
--concept-map-elements N` build one when they need it.

    python -m bench.concept_map [--elements 5000] [-o FILE]
    python -m bench.concept_map --measure [--elements 5000] [--size 500] [--rounds 20]

`--measure` times the record and assessment of one patient-view call (context.evaluate) at
~500 resources with and without the map, interleaved in one process (the map folded in and
out between rounds), in CPU time: the comparison stays fair on a loaded machine. For the whole
HTTP call use `python -m bench.inprocess --concept-map-elements N` or `scripts/bench
--concept-map-elements N`.

Shape, as a hospital would write it: most elements map a tenant lab catalogue to LOINC codes the
service does not use (an external target, accepted and unused), a few map flowsheet rows and
lab codes to concepts the service reads (MG-ADL, QMG, the AChR antibody, weight), so the map is
both large and exercised.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from terminology import systems

SITE_LABS = "urn:oid:1.2.840.114350.1.13.0.1.7.2.768282"  # an Epic-like site lab-component system
SITE_ROWS = "urn:oid:1.2.840.114350.1.13.0.1.7.2.707679"  # an Epic-like site flowsheet-row system

# (system, source code, display, target system, target code): codes the service reads
USED: tuple[tuple[str, str, str, str, str], ...] = (
    (SITE_ROWS, "304", "MG ADL TOTAL SCORE", systems.MG_SCORES, "mg-adl-total"),
    (SITE_ROWS, "305", "QMG TOTAL SCORE", systems.MG_SCORES, "qmg-total"),
    (SITE_ROWS, "14", "WEIGHT/SCALE", systems.LOINC, "29463-7"),
    (SITE_LABS, "99001", "ACH RECEPTOR BINDING AB", systems.LOINC, "11034-6"),
)


def _loinc_like(i: int) -> str:
    """A LOINC-shaped code (number-check digit) that the service does not use."""
    body = 90000 + i
    digits = [int(d) for d in str(body)]
    total = sum(d * 2 if k % 2 == len(digits) % 2 else d for k, d in enumerate(digits))
    return f"{body}-{(10 - total % 10) % 10}"


def build_concept_map(elements: int = 5000) -> dict[str, Any]:
    used = [u for u in USED][: max(0, elements)]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for system, code, display, target_system, target_code in used:
        groups.setdefault((system, target_system), []).append(
            {"code": code, "display": display, "target": [{"code": target_code, "equivalence": "equivalent"}]})
    for i in range(elements - len(used)):
        groups.setdefault((SITE_LABS, systems.LOINC), []).append(
            {"code": str(100000 + i), "display": f"SITE LAB COMPONENT {i}",
             "target": [{"code": _loinc_like(i), "equivalence": "equivalent"}]})
    return {
        "resourceType": "ConceptMap",
        "id": f"bench-site-{elements}",
        "status": "draft",
        "group": [{"source": s, "target": t, "element": els} for (s, t), els in groups.items()],
    }


def write_concept_map(elements: int, directory: str | Path) -> Path:
    """Write an `elements`-element site map into `directory`; its path (for GMG_CDS_CONCEPT_MAPS)."""
    path = Path(directory) / f"bench-site-map-{elements}.json"
    path.write_text(json.dumps(build_concept_map(elements)), encoding="utf-8")
    return path


def measure(elements: int, size: int, rounds: int, per_round: int = 25) -> dict[str, list[float]]:
    """CPU milliseconds of context.evaluate per call, with and without the map (interleaved)."""
    import tempfile
    import time
    from datetime import date

    import terminology
    from bench.service import build_request, synthea_pool
    from hooks import context
    from hooks.registry import HookCall

    body, _count = build_request(size, synthea_pool())
    call = HookCall(service_id="gmg-patient-view", hook="patient-view", hook_instance=body["hookInstance"],
                    context=body["context"], prefetch=body["prefetch"], unavailable=frozenset(),
                    today=date(2026, 11, 22), language="en")
    context.warm()
    maps = terminology.load_concept_maps(str(write_concept_map(elements, tempfile.mkdtemp(prefix="gmg-map-"))))
    times: dict[str, list[float]] = {"without map": [], f"with {elements}-element map": []}
    for _ in range(30):
        context.evaluate(call)
    try:
        for _ in range(rounds):
            for label, folded in ((f"with {elements}-element map", maps), ("without map", None)):
                terminology.use_concept_maps(folded)
                for _ in range(per_round):
                    t0 = time.process_time()
                    context.evaluate(call)
                    times[label].append((time.process_time() - t0) * 1000)
    finally:
        terminology.use_concept_maps(None)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elements", type=int, default=5000)
    ap.add_argument("-o", "--output", help="file to write (default: stdout)")
    ap.add_argument("--measure", action="store_true", help="time context.evaluate with and without the map")
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)
    if args.measure:
        import os
        import statistics

        print(f"context.evaluate (record + assessment), ~{args.size} resources, CPU ms per call, "
              f"load {os.getloadavg()[0]:.2f}")
        for label, values in measure(args.elements, args.size, args.rounds).items():
            values.sort()
            print(f"  {label:<26} n={len(values)}  min {values[0]:.3f}  p25 {values[len(values) // 4]:.3f}  "
                  f"median {statistics.median(values):.3f}")
        return 0
    text = json.dumps(build_concept_map(args.elements))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

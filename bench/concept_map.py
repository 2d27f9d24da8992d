"""A site ConceptMap of N elements for measuring recognition with a large site map loaded
(issue #14: "with a 5,000-element ConceptMap loaded, patient-view at ~500 resources stays within
the performance targets"). Not part of the tests' data; the tests and `scripts/bench
--concept-map-elements N` build one when they need it.

    python -m bench.concept_map [--elements 5000] [-o FILE]

Shape, as a hospital would write it: most elements map a tenant lab catalogue to LOINC codes the
service does not use (an external target, accepted and unused), a few map flowsheet rows and
lab codes to concepts the service reads (MG-ADL, QMG, the AChR antibody, weight), so the map is
both large and exercised.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elements", type=int, default=5000)
    ap.add_argument("-o", "--output", help="file to write (default: stdout)")
    args = ap.parse_args(argv)
    text = json.dumps(build_concept_map(args.elements))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What reading Medications by reference costs a hook call (issue #14 point 4). Not part of the
tests; figures depend on the machine (run it on an idle one).

    python -m bench.medication_references [--repeat N]

1. In-process, no FHIR call: the reference step of `cds_service.prefetch.resolve` on a fully
   prefetched patient-view of ~500 and ~5,000 resources (bench.service.build_request: Synthea
   charts around a demo MG patient), (a) as Synthea codes its drugs (medicationCodeableConcept:
   nothing to look for), (b) every MedicationRequest naming its drug by medicationReference to a
   Medication bundled in the prefetch (nothing to read), beside the whole `resolve`.
2. Against bench/fhir_stub.py (a loopback FHIR server answering each read after 100 ms): the
   wall time of `resolve` with 0, 1, 3 and 10 distinct Medications to read. The reads go out
   together, so the extra time is about one round trip whatever their number.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

DELAY = 0.1


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _by_reference(body: dict[str, Any]) -> dict[str, Any]:
    """Every MedicationRequest names its drug by reference to a Medication bundled beside it."""
    out = copy.deepcopy(body)
    bundle = out["prefetch"]["medicationRequests"]
    meds = []
    for n, entry in enumerate(bundle["entry"]):
        res = entry["resource"]
        mcc = res.pop("medicationCodeableConcept", None)
        if mcc is not None:
            res["medicationReference"] = {"reference": f"Medication/m{n}", "display": mcc.get("text", "")}
            meds.append({"resource": {"resourceType": "Medication", "id": f"m{n}", "code": mcc},
                         "search": {"mode": "include"}})
    bundle["entry"] += meds
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args(argv)

    from bench.fhir_stub import FhirStub
    from bench.service import build_request, free_port, synthea_pool
    from cds_service import prefetch
    from cds_service.fhir_client import FhirServer
    from cds_service.settings import Settings
    from hooks.registry import PREFETCH_TEMPLATES

    tmp = Path(tempfile.mkdtemp(prefix="gmg-medref-"))
    settings = Settings(env="local", database_url=f"sqlite:///{tmp}/x.sqlite3", auth_required=False)
    pool = synthea_pool()
    server = FhirServer(base="http://127.0.0.1:9/fhir", token=None)  # never called in part 1

    print("1. the reference step in-process (median ms; no FHIR call)")
    print(f"   {'resources':>9}  {'references':>10}  {'step':>8}  {'whole resolve':>13}")
    for target in (500, 5000):
        body, size = build_request(target, pool)
        body["fhirServer"] = server.base  # present, as in production; nothing is read
        for label, variant in (("none", body), ("bundled", _by_reference(body))):
            refs = sum("medicationReference" in e["resource"]
                       for e in variant["prefetch"]["medicationRequests"]["entry"])

            def step(v: dict[str, Any] = variant) -> None:
                out = prefetch.Resolution(prefetch=dict(v["prefetch"]))
                prefetch._read_referenced_medications(out, v["context"], server, settings, time.monotonic() + 5)

            whole = _median_ms(lambda v=variant: prefetch.resolve(PREFETCH_TEMPLATES, v, settings), args.repeat)
            print(f"   {size:>9}  {f'{refs} {label}':>10}  {_median_ms(step, args.repeat):>8.3f}  {whole:>13.3f}")

    print(f"\n2. reads against a FHIR server answering after {int(DELAY * 1000)} ms (median ms of resolve)")
    port = free_port()

    def routes(path: str) -> tuple[bytes, float]:
        mid = path.rstrip("/").rsplit("/", 1)[-1]
        return json.dumps({"resourceType": "Medication", "id": mid, "code": {"coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}).encode(), DELAY

    with FhirStub(port, routes):
        base = f"http://127.0.0.1:{port}/fhir"
        body, _size = build_request(500, pool)
        for missing in (0, 1, 3, 10):
            variant = copy.deepcopy(body)
            variant["fhirServer"] = base
            variant["prefetch"]["medicationRequests"]["entry"] += [
                {"resource": {"resourceType": "MedicationRequest", "id": f"ref{n}", "status": "active",
                              "intent": "order", "subject": {"reference": "Patient/bench"},
                              "medicationReference": {"reference": f"Medication/x{n}"}}} for n in range(missing)]
            ms = _median_ms(lambda v=variant: prefetch.resolve(PREFETCH_TEMPLATES, v, settings), max(5, args.repeat // 20))
            print(f"   {missing:>2} Medication(s) to read: {ms:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""scripts/load-demo posts every demo bundle as a FHIR transaction to the given server (here a
loopback stand-in for a real FHIR server that records what it receives)."""

import json
import subprocess
from pathlib import Path

from cds_service.demo_fhir import DEMO_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_every_bundle_is_posted_as_a_transaction(fhir_stub):
    received = []

    def transaction(request):
        bundle = json.loads(request.get_data())
        received.append((request.method, request.headers.get("Authorization"), bundle))
        return (200, {"resourceType": "Bundle", "type": "transaction-response", "entry": []}, {})

    fhir_stub.routes["fhir"] = transaction
    proc = subprocess.run([str(ROOT / "scripts" / "load-demo"), fhir_stub.base, "--token", "t0k"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bundles = sorted(DEMO_DIR.glob("*.json"))
    assert len(received) == len(bundles)
    assert all(m == "POST" and auth == "Bearer t0k" and b["type"] == "transaction" for m, auth, b in received)
    ids = {b["entry"][0]["resource"]["id"] for _, _, b in received}
    assert "gmg-demo-met-3-1" in ids


def test_a_refused_bundle_makes_the_script_fail(fhir_stub):
    fhir_stub.routes["fhir"] = (422, {"resourceType": "OperationOutcome", "issue": []}, {})
    proc = subprocess.run([str(ROOT / "scripts" / "load-demo"), fhir_stub.base], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "422" in proc.stdout

"""Every demo patient's cards (patient-view, and order-select/order-sign for the demo draft
orders), in English and Chinese, as JSON with uuids numbered in order: a fingerprint of what the
service answers, to compare before and after a performance change. Not part of the tests.

    python -m bench.golden > /tmp/before.json   (then again after the change, and diff)
"""

from __future__ import annotations

import itertools
import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    import hooks.cards as cards_mod

    counter = itertools.count()

    class _NumberedUuids:
        @staticmethod
        def uuid4() -> str:
            return f"uuid-{next(counter)}"

    cards_mod.uuid_mod = _NumberedUuids  # type: ignore[assignment]

    from fhir_mappings.prefetch import prefetch_from_bundle
    from hooks import registry
    from hooks.registry import HookCall

    services = registry.services()
    out: dict[str, object] = {}
    today = date(2026, 11, 22)
    for path in sorted((ROOT / "demo" / "bundles").glob("*.json")):
        prefetch, pid = prefetch_from_bundle(json.loads(path.read_text()))
        orders = ROOT / "demo" / "orders" / path.name
        draft = json.loads(orders.read_text())["context"]["draftOrders"] if orders.exists() else None
        for lang in ("en", "zh-CN"):
            for sid, svc in services.items():
                context: dict[str, object] = {"userId": "Practitioner/x", "patientId": pid}
                if svc.hook != "patient-view":
                    if draft is None:
                        continue
                    context["draftOrders"] = draft
                    context["selections"] = [f"{e['resource']['resourceType']}/{e['resource']['id']}"
                                             for e in draft.get("entry", [])][:1]
                call = HookCall(service_id=sid, hook=svc.hook, hook_instance="h", context=context,
                                prefetch=prefetch, unavailable=frozenset(), today=today, language=lang)
                out[f"{path.stem}/{sid}/{lang}"] = [c.to_json() for c in svc.handler(call)]
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False, sort_keys=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

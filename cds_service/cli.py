"""`gmg-cds`: the command-line tool installed with the package.

  gmg-cds evaluate REQUEST.json [--json] [--today YYYY-MM-DD]
        evaluate a saved CDS Hooks request offline (no network: only its prefetch is used)
  gmg-cds demo list
        the bundled demo patients
  gmg-cds demo fire PATIENT_ID [--hook patient-view|order-select|order-sign] [--orders FILE]
                    [--url http://127.0.0.1:8080] [--token JWT] [--json]
        fire a hook at a running service; its demo FHIR endpoint supplies the data
  gmg-cds parameters [--json]
        the effective clinical parameters with their provenance (honours GMG_CDS_PARAMETERS_FILE)
  gmg-cds check-config
        check the configuration from the environment: settings, database writable, trusted
        issuers' key sets reachable, site concept maps (GMG_CDS_CONCEPT_MAPS) readable and consistent
  gmg-cds readiness (--fhir BASE --patient ID... [--token-file F] | --ndjson DIR | --bundles PATH...
                     | --requests PATH...) [--top N] [--json] [--concept-map-template FILE]
        data readiness of a site: per concept the service reads, how many patients have data it
        recognises; the codes it does not recognise (and a ConceptMap skeleton of them)
  gmg-cds migrate [--check]
        bring the database of GMG_CDS_DATABASE_URL to the newest schema revision (the service also
        does this at start unless GMG_CDS_MIGRATE_ON_START=0); --check only reports, exit 1 if behind
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, TextIO

SERVICE_FOR_HOOK = {"patient-view": "gmg-patient-view", "order-select": "gmg-order-select",
                    "order-sign": "gmg-order-sign"}


def render_cards(cards: list[dict[str, Any]], out: TextIO) -> None:
    if not cards:
        out.write("No cards.\n")
        return
    for i, card in enumerate(cards, 1):
        codes = ", ".join(f["code"] for f in card.get("extension", {}).get("gmg-cds", {}).get("findings", []))
        out.write(f"[{i}] {card['indicator'].upper()}: {card['summary']}\n")
        out.write(f"    source: {card['source']['label']}\n")
        out.write(f"    findings: {codes}\n")
        if card.get("detail"):
            for line in card["detail"].splitlines():
                out.write(f"    | {line}\n")
        for s in card.get("suggestions", ()):
            out.write(f"    suggestion: {s['label']}\n")
        if card.get("overrideReasons"):
            out.write("    override reasons: " + "; ".join(r["display"] for r in card["overrideReasons"]) + "\n")
        out.write("\n")


def _print_response(status: int, doc: Any, as_json: bool, out: TextIO) -> int:
    if as_json:
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif status == 200:
        render_cards(doc.get("cards", []), out)
    else:
        out.write(f"HTTP {status}\n")
        for issue in (doc or {}).get("issue", []):
            out.write(f"  {issue.get('code')}: {issue.get('diagnostics')}\n")
    return 0 if status == 200 else 1


def cmd_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    from cds_service.app import create_app
    from cds_service.settings import Settings

    body = json.loads(Path(args.request).read_text(encoding="utf-8"))
    if not isinstance(body, dict):
        out.write("the file does not hold a CDS Hooks request object\n")
        return 2
    body.pop("fhirServer", None)  # offline: never call out
    body.pop("fhirAuthorization", None)
    service = SERVICE_FOR_HOOK.get(body.get("hook", ""))
    if service is None:
        out.write(f"unknown hook {body.get('hook')!r}\n")
        return 2
    today = date.fromisoformat(args.today) if args.today else None
    import os

    from terminology import ConceptMapError, paths_of

    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(Settings.from_env({"GMG_CDS_ENV": "local"}), database_url=f"sqlite:///{tmp}/cli.sqlite3",
                           evaluation_date=today, log_level="ERROR",
                           concept_maps=paths_of(os.environ.get("GMG_CDS_CONCEPT_MAPS", "")))
        try:
            client = create_app(settings, demo_fhir=False).test_client()
        except ConceptMapError as exc:
            out.write(f"FAIL concept maps: {exc}\n")
            return 2
        resp = client.post(f"/cds-services/{service}", json=body)
        return _print_response(resp.status_code, resp.get_json(), args.json, out)


def cmd_demo_list(args: argparse.Namespace, out: TextIO) -> int:
    from cds_service.demo_fhir import ANCHOR, DEMO_DIR, DemoStore

    store = DemoStore(DEMO_DIR, ANCHOR)
    out.write(f"{'slug':<36} patient id\n")
    for p in store.patients:
        out.write(f"{p['slug']:<36} {p['id']}\n")
    return 0


def _draft_orders(path: str, hook: str) -> tuple[dict[str, Any], list[str] | None]:
    """The draftOrders Bundle (and selections) from --orders FILE: a Bundle itself, or a hook
    request or its context (`{"context": {"draftOrders": ...}}`, as the files in demo/orders/)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    context = doc.get("context", doc) if isinstance(doc, dict) else {}
    bundle = context.get("draftOrders", doc) if isinstance(context, dict) else doc
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError(f"{path}: neither a draftOrders Bundle nor a request with context.draftOrders")
    selections = context.get("selections") if isinstance(context, dict) else None
    if hook == "order-select" and not selections:
        selections = [f"{e['resource']['resourceType']}/{e['resource']['id']}"
                      for e in bundle.get("entry", []) if isinstance(e, dict) and isinstance(e.get("resource"), dict)][:1]
    return bundle, (selections if hook == "order-select" else None)


def cmd_demo_fire(args: argparse.Namespace, out: TextIO) -> int:
    import requests

    from cds_service.demo_fhir import ANCHOR, DEMO_DIR, DemoStore

    base = args.url.rstrip("/")
    # a demo slug (met-3-1) or a patient id (gmg-demo-met-3-1), as `gmg-cds demo list` prints them
    patient = {p["slug"]: p["id"] for p in DemoStore(DEMO_DIR, ANCHOR).patients}.get(args.patient, args.patient)
    context: dict[str, Any] = {"userId": "Practitioner/COREPRACTITIONER1", "patientId": patient}
    if args.hook != "patient-view":
        if not args.orders:
            out.write("--orders FILE (a draftOrders Bundle, or a request such as demo/orders/met-3-1.json) "
                      "is needed for order hooks\n")
            return 2
        try:
            context["draftOrders"], selections = _draft_orders(args.orders, args.hook)
        except (OSError, ValueError) as exc:
            out.write(f"{exc}\n")
            return 2
        if selections:
            context["selections"] = selections
    body = {"hookInstance": str(uuid.uuid4()), "hook": args.hook, "fhirServer": f"{base}/demo/fhir",
            "context": context}
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        resp = requests.post(f"{base}/cds-services/{SERVICE_FOR_HOOK[args.hook]}", json=body,
                             headers=headers, timeout=30)
    except requests.RequestException as exc:
        out.write(f"could not reach {base}: {type(exc).__name__}\n")
        return 1
    if resp.status_code == 401:
        out.write("HTTP 401: this service checks JWTs (demo or production mode). `demo fire` signs nothing: "
                  "run the service in local mode (./scripts/serve), or pass --token with a JWT from an issuer "
                  "the service trusts, made for this exact URL (aud) and used once (its jti is remembered).\n")
        return 1
    try:
        doc = resp.json()
    except ValueError:
        doc = {}
    return _print_response(resp.status_code, doc, args.json, out)


def cmd_parameters(args: argparse.Namespace, out: TextIO) -> int:
    import os

    from gmg import parameters

    params = parameters.load(os.environ.get("GMG_CDS_PARAMETERS_FILE") or None)
    if args.json:
        out.write(json.dumps({"version": params.version, "parameters": {
            k: {"value": e.value, "unit": e.unit, "tag": e.tag, "source": e.source, "overridden": e.overridden,
                **({"comparator": e.comparator} if e.comparator else {})}
            for k, e in params.entries.items()}}, indent=2, ensure_ascii=False) + "\n")
        return 0
    out.write(f"parameter set {params.version}\n")
    for key, e in params.entries.items():
        value = json.dumps(e.value, ensure_ascii=False)
        if e.comparator:  # how a value is compared with the threshold: "> 100", "< 0.5"
            value = f"{e.comparator} {value}"
        if len(value) > 60:
            value = value[:57] + "..."
        flag = " (site override)" if e.overridden else (" (interim: verify)" if e.is_interim else "")
        out.write(f"{key:<44} {value:<40} {e.unit or '':<12} {e.tag:<5} {e.source}{flag}\n")
    return 0


def cmd_check_config(args: argparse.Namespace, out: TextIO) -> int:
    from cds_service.settings import ConfigError, Settings

    ok = True
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        out.write(f"FAIL settings: {exc}\n")
        return 1
    out.write(f"ok   profile {settings.env} (security {'ON' if settings.auth_required else 'OFF'})\n")
    if settings.fhir_queries is not None:
        keys = "; ".join(f"{k}: {len(q)} search{'es' if len(q) != 1 else ''}" if q else f"{k}: not offered"
                         for k, q in settings.fhir_queries.items())
        out.write(f"ok   site FHIR queries from {settings.fhir_queries_file} ({keys})\n")
    from cds_service.store import Store

    try:
        store = Store(settings.database_url, settings.db_pool)
        if settings.migrate_on_start:
            store.migrate()
        else:
            from cds_service.migrations import require_current

            require_current(store.engine)
        probe = str(uuid.uuid4())
        store.record_cards("config-check", probe, [{"uuid": probe, "extension": {"gmg-cds": {"findings": []}}}])
        from sqlalchemy import delete

        from cds_service.store import cards_served

        with store.engine.begin() as conn:
            conn.execute(delete(cards_served).where(cards_served.c.card_uuid == probe))
        out.write(f"ok   database writable ({store.engine.dialect.name})\n")
    except Exception as exc:  # report, never crash
        ok = False
        out.write(f"FAIL database: {type(exc).__name__}\n")
    from gmg.drugs import REGIONS

    out.write(f"ok   regulatory region {settings.regulatory_region}: label facts and approvals of "
              f"{REGIONS[settings.regulatory_region]} (GMG_CDS_REGULATORY_REGION)\n")
    for line, good in check_issuers(settings):
        ok &= good
        out.write(("ok   " if good else "FAIL ") + line + "\n")
    line, good = check_concept_maps(settings.concept_maps)
    ok &= good
    out.write(("ok   " if good else "FAIL ") + line + "\n")
    return 0 if ok else 1


def check_concept_maps(paths: tuple[str, ...]) -> tuple[str, bool]:
    """GMG_CDS_CONCEPT_MAPS: every file readable and consistent (as the service checks at start)."""
    import terminology

    if not paths:
        return "no site concept maps (GMG_CDS_CONCEPT_MAPS not set): the service's own codes only", True
    try:
        maps = terminology.load_concept_maps(paths)
    except terminology.ConceptMapError as exc:
        return f"concept maps: {exc}", False
    used = sum(1 for m in maps.mappings if terminology.static_concept_for(m.target_system, m.target_code))
    return (f"site concept maps: {len(maps)} mappings from {len(maps.files)} file(s), "
            f"{used} to concepts the service reads, {len(maps) - used} to codes it does not use"), True


def check_issuers(settings: Any) -> list[tuple[str, bool]]:
    """Each trusted issuer's key set: readable (file) or reachable (URL), with usable keys."""
    import requests

    from cds_service.auth import effective_issuers
    from cds_service.jwks import parse_jwks

    issuers = effective_issuers(settings)
    if not issuers:
        return [("no trusted issuers configured" + (" (not needed in local mode)" if settings.is_local else
                 ": every call will be refused (set GMG_CDS_TRUSTED_ISSUERS)"), settings.is_local)]
    results = []
    for issuer in issuers:
        sources = []
        if issuer.builtin_sandbox:
            results.append((f"issuer {issuer.iss}: the CDS Hooks sandbox's bundled public key (demo only)", True))
            continue
        if issuer.jwks_file:
            sources.append(("file", issuer.jwks_file))
        if issuer.jwks_url:
            sources.append(("url", issuer.jwks_url))
        if not sources and issuer.jku_allowlist:
            results.append((f"issuer {issuer.iss}: keys from its allowlisted jku at call time", True))
            continue
        for kind, where in sources:
            try:
                if kind == "file":
                    doc = json.loads(Path(where).read_text(encoding="utf-8"))
                else:
                    resp = requests.get(where, timeout=5, allow_redirects=False)
                    resp.raise_for_status()
                    doc = resp.json()
                keys = parse_jwks(doc, allow_public_keys=settings.is_demo)
                results.append((f"issuer {issuer.iss}: {len(keys)} signing key(s) from {kind} {where}", bool(keys)))
            except Exception as exc:  # report, never crash
                results.append((f"issuer {issuer.iss}: key set {kind} {where} unusable ({type(exc).__name__})", False))
    return results


def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    from cds_service.migrations import current, head
    from cds_service.settings import ConfigError, Settings
    from cds_service.store import Store, redacted

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        out.write(f"FAIL settings: {exc}\n")
        return 1
    store = Store(settings.database_url, settings.db_pool)
    where = redacted(settings.database_url)
    try:
        if args.check:
            rev, newest = current(store.engine), head()
            out.write(f"{where}: at {rev or '(no schema)'}, newest {newest}\n")
            return 0 if rev == newest else 1
        applied = store.migrate()
        out.write(f"{where}: applied {', '.join(applied)}\n" if applied
                  else f"{where}: already at {head()}\n")
        return 0
    except Exception as exc:  # report the kind, never a stack trace with the URL in it
        out.write(f"FAIL migrate {where}: {type(exc).__name__}\n")
        return 1
    finally:
        store.engine.dispose()


def cmd_readiness(args: argparse.Namespace, out: TextIO) -> int:
    from cds_service import readiness
    from cds_service.settings import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        out.write(f"FAIL settings: {exc}\n")
        return 1
    import terminology

    try:
        readiness.load_site_maps(settings.concept_maps)
    except terminology.ConceptMapError as exc:
        out.write(f"FAIL concept maps: {exc}\n")
        return 1
    if args.fhir:
        patients = list(args.patient or [])
        if args.patients_file:
            patients += [line.strip() for line in Path(args.patients_file).read_text(encoding="utf-8").splitlines()
                         if line.strip()]
        if not patients:
            out.write("--fhir needs the patients: --patient ID (repeatable) or --patients-file FILE\n")
            return 2
        token = Path(args.token_file).read_text(encoding="utf-8").strip() if args.token_file else None
        base = args.fhir.rstrip("/")
        settings = replace(settings, fhir_allowed_bases=(base,))
        source, data = f"FHIR server {base}", readiness.from_fhir_server(base, token, patients, settings)
    elif args.ndjson:
        source, data = f"Bulk Data NDJSON {args.ndjson}", readiness.from_ndjson(args.ndjson)
    elif args.bundles:
        source, data = "FHIR Bundles " + ", ".join(args.bundles), readiness.from_bundles(args.bundles)
    else:
        source, data = "CDS Hooks requests " + ", ".join(args.requests), readiness.from_requests(args.requests)
    today = date.fromisoformat(args.today) if args.today else (settings.evaluation_date or date.today())
    report, every = readiness.analyse(data, today, top=args.top)
    if args.json:
        out.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        readiness.render(report, out, source)
    if args.concept_map_template:
        skeleton = readiness.concept_map_template(every, source)
        Path(args.concept_map_template).write_text(json.dumps(skeleton, indent=2, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
        if not args.json:
            out.write(f"\nConceptMap skeleton of {sum(len(g['element']) for g in skeleton['group'])} code(s) "
                      f"written to {args.concept_map_template}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="gmg-cds", description="gmg-cds command-line tool",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="evaluate a saved CDS Hooks request offline")
    ev.add_argument("request")
    ev.add_argument("--json", action="store_true", help="print the response JSON")
    ev.add_argument("--today", help="evaluation date (YYYY-MM-DD)")
    ev.set_defaults(func=cmd_evaluate)
    demo = sub.add_parser("demo", help="demo patients")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    dl = demo_sub.add_parser("list", help="list the demo patients")
    dl.set_defaults(func=cmd_demo_list)
    df = demo_sub.add_parser("fire", help="fire a hook at a running service for a demo patient")
    df.add_argument("patient")
    df.add_argument("--hook", default="patient-view", choices=sorted(SERVICE_FOR_HOOK))
    df.add_argument("--orders", help="draftOrders for order hooks: a Bundle, or a request/context file such as "
                                     "demo/orders/met-3-1.json")
    df.add_argument("--url", default="http://127.0.0.1:8080")
    df.add_argument("--token", help="a JWT for a service that checks them (demo/production mode): signed by a "
                                    "trusted issuer for this exact URL, used once")
    df.add_argument("--json", action="store_true")
    df.set_defaults(func=cmd_demo_fire)
    pa = sub.add_parser("parameters", help="effective parameters with provenance")
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(func=cmd_parameters)
    cc = sub.add_parser("check-config", help="check the configuration in the environment")
    cc.set_defaults(func=cmd_check_config)
    rd = sub.add_parser("readiness", help="which concepts a site's data gives the service, and the codes it misses")
    src = rd.add_mutually_exclusive_group(required=True)
    src.add_argument("--fhir", metavar="BASE", help="a FHIR server's base URL (fetched as the service fetches)")
    src.add_argument("--ndjson", metavar="DIR", help="a folder of Bulk Data NDJSON files (.ndjson, .ndjson.gz)")
    src.add_argument("--bundles", nargs="+", metavar="PATH", help="FHIR Bundle files or folders (.json, .json.gz)")
    src.add_argument("--requests", nargs="+", metavar="PATH", help="saved CDS Hooks requests (files or folders)")
    rd.add_argument("--patient", action="append", metavar="ID", help="with --fhir: a patient id (repeatable)")
    rd.add_argument("--patients-file", metavar="FILE", help="with --fhir: patient ids, one per line")
    rd.add_argument("--token-file", metavar="FILE", help="with --fhir: a file holding the Bearer access token")
    rd.add_argument("--today", help="evaluation date (YYYY-MM-DD)")
    rd.add_argument("--top", type=int, default=25, help="how many unrecognised codes to list (default 25)")
    rd.add_argument("--json", action="store_true", help="the report as JSON")
    rd.add_argument("--concept-map-template", metavar="FILE",
                    help="write the unrecognised codes as a ConceptMap skeleton to fill in")
    rd.set_defaults(func=cmd_readiness)
    mg = sub.add_parser("migrate", help="upgrade the database schema to the newest revision")
    mg.add_argument("--check", action="store_true", help="only report the revision; exit 1 if behind")
    mg.set_defaults(func=cmd_migrate)
    return ap


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, out or sys.stdout))


if __name__ == "__main__":
    sys.exit(main())

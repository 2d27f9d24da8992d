"""/openapi.json, the input of scripts/fuzz-openapi, describes the routes the app really serves:
every route is documented with its methods, every reference resolves, the spec's and the
sandbox's example requests are valid under the per-service request schemas, and the JWT security
requirement appears exactly when the profile enforces it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.security_helpers import EXAMPLES, production_settings

# Flask's static route; the local-only demo FHIR server; the MG summary's browser pages (HTML,
# redirects and assets of a SMART app, not the JSON API; tested in tests/test_smart_*.py)
SKIP_PREFIXES = ("/static", "/demo/fhir", "/smart")


def local_app(tmp_path: Path):
    return create_app(Settings(env="local", database_url=f"sqlite:///{tmp_path / 'o.sqlite3'}",
                               cors_origins=("*",), auth_required=False))


def flask_routes(app) -> dict[str, set[str]]:  # noqa: ANN001
    out: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(SKIP_PREFIXES):
            continue
        out.setdefault(rule.rule, set()).update(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))
    return out


def test_every_route_is_documented_with_its_methods(tmp_path: Path) -> None:
    app = local_app(tmp_path)
    doc = app.test_client().get("/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    services = [s["id"] for s in app.test_client().get("/cds-services").get_json()["services"]]
    documented = {path: {m.upper() for m in ops} for path, ops in doc["paths"].items()}
    for rule, methods in flask_routes(app).items():
        if "<service_id>" in rule:
            for sid in services:
                path = rule.replace("<service_id>", sid)
                assert documented.get(path) == methods, (path, documented.get(path), methods)
        else:
            assert documented.get(rule) == methods, (rule, documented.get(rule), methods)
    assert "500" not in json.dumps([op["responses"] for ops in doc["paths"].values() for op in ops.values()])


def _validator(doc: dict, name: str) -> Draft202012Validator:
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **doc}))
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"urn:openapi#{name}"}
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_references_resolve_and_examples_validate(tmp_path: Path) -> None:
    doc = local_app(tmp_path).test_client().get("/openapi.json").get_json()
    refs = set()

    def walk(node) -> None:  # noqa: ANN001
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    for ref in refs:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref

    cases = {
        "spec-2.0.1_patient-view-request.json": "/cds-services/gmg-patient-view",
        "sandbox-observed_patient-view-request.json": "/cds-services/gmg-patient-view",
        "sandbox-observed_order-select-request.json": "/cds-services/gmg-order-select",
        "sandbox-observed_order-sign-request.json": "/cds-services/gmg-order-sign",
    }
    for file, path in cases.items():
        example = json.loads((EXAMPLES / file).read_text())
        example = example.get("request", example) if "hook" not in example else example
        pointer = "/paths/" + path.replace("/", "~1") + "/post/requestBody/content/application~1json/schema"
        errors = list(_validator(doc, pointer).iter_errors(example))
        assert not errors, (file, [e.message[:120] for e in errors[:3]])
    feedback = json.loads((EXAMPLES / "spec-2.0.1_feedback-overridden-with-reason.json").read_text())
    pointer = "/paths/" + "/cds-services/gmg-patient-view/feedback".replace("/", "~1") + \
        "/post/requestBody/content/application~1json/schema"
    assert not list(_validator(doc, pointer).iter_errors(feedback))


def test_security_is_declared_only_when_enforced(tmp_path: Path) -> None:
    local = local_app(tmp_path).test_client().get("/openapi.json").get_json()
    assert "securitySchemes" not in local["components"]
    prod = create_app(production_settings(tmp_path)).test_client().get("/openapi.json").get_json()
    assert prod["components"]["securitySchemes"]["cdsHooksJwt"]["scheme"] == "bearer"
    assert prod["paths"]["/cds-services/gmg-patient-view"]["post"]["security"] == [{"cdsHooksJwt": []}]
    assert "401" in prod["paths"]["/cds-services"]["get"]["responses"]
    assert prod["servers"] == [{"url": "https://cds.example.org"}]


def test_schemathesis_loads_the_document(tmp_path: Path) -> None:
    schemathesis = pytest.importorskip("schemathesis", reason="the `fuzz` extra is not installed")
    doc = local_app(tmp_path).test_client().get("/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [op for op in schema.get_all_operations()]
    assert len(operations) == len([m for ops in doc["paths"].values() for m in ops])

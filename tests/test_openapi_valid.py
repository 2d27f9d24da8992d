"""/openapi.json is a valid OpenAPI 3.1 document (checked by openapi-spec-validator) in the
local and the production profile."""

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from cds_service.app import create_app
from cds_service.settings import Settings


@pytest.mark.parametrize("env", ["local", "production"])
def test_openapi_document_is_valid_3_1(tmp_path, env):
    settings = Settings(env=env, database_url=f"sqlite:///{tmp_path / 'o.sqlite3'}",
                        auth_required=env != "local", cors_origins=("*",) if env == "local" else (),
                        public_base_url=None if env == "local" else "https://cds.example.org")
    doc = create_app(settings).test_client().get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    validate(doc, cls=OpenAPIV31SpecValidator)  # raises on any violation
    assert "/cds-services/{service_id}" in doc["paths"] or any("gmg-patient-view" in p for p in doc["paths"])

"""A site's parameter override is read when the service starts: a broken file stops the start
with a clear error instead of failing every hook call later."""

import pytest

from cds_service.app import create_app
from gmg.parameters import ParameterError
from hooks import context
from tests.conftest import local_settings


@pytest.fixture(autouse=True)
def _fresh_parameters():
    context.reset()
    yield
    context.reset()


def test_a_broken_override_stops_the_start(tmp_path, monkeypatch):
    bad = tmp_path / "site.toml"
    bad.write_text('[no_such_parameter]\nvalue = 3\n')
    monkeypatch.setenv("GMG_CDS_PARAMETERS_FILE", str(bad))
    with pytest.raises(ParameterError, match="unknown parameter 'no_such_parameter'"):
        create_app(local_settings(tmp_path))


def test_a_valid_override_is_in_force_from_the_start(tmp_path, monkeypatch):
    good = tmp_path / "site.toml"
    good.write_text('version = "site-7"\n[mg_adl_min]\nvalue = 7\nsource = "site board"\n')
    monkeypatch.setenv("GMG_CDS_PARAMETERS_FILE", str(good))
    create_app(local_settings(tmp_path))
    assert context.parameters()["mg_adl_min"] == 7
    assert context.parameters().version.endswith("+site-7")

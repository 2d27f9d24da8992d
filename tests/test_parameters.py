"""The parameter set: loader, provenance of every entry, version, site overrides."""

from __future__ import annotations

import pytest

from gmg import parameters
from gmg.parameters import TAGS, ParameterError, load
from hooks import context

ASSESSMENT_IDS = (
    "mg_adl_min", "ocular_share_max", "score_max_age_days", "pis_max_age_days", "nsist_required",
    "intolerance_grade_auto", "intolerance_grade_with_record", "rescue_courses_min", "rescue_window_days",
    "rescue_gap_days", "ivmp_min_mg_per_day", "acute_window_days", "prednisone_equivalent",
    "adequacy_glucocorticoid_mg_per_kg_day_min", "adequacy_glucocorticoid_min_weeks",
    "adequacy_azathioprine_mg_per_kg_day_min", "adequacy_azathioprine_min_weeks",
    "adequacy_tacrolimus_trough_min_ng_ml", "adequacy_cyclosporine_trough_min_ng_ml",
    "adequacy_cyclophosphamide_cumulative_g_min", "icg2016_nsist_required", "jp2022_oral_agents_min",
)


def test_every_entry_has_a_tag_and_a_source():
    p = load()
    assert p.entries
    for e in p.entries.values():
        assert e.tag in TAGS and e.source.strip(), e.id


def test_assessment_defaults_match_the_rules():
    p = load()
    for pid in ASSESSMENT_IDS:
        assert pid in p.entries, pid
    assert (p["mg_adl_min"], p["ocular_share_max"], p["score_max_age_days"]) == (6, 0.5, 90)
    assert (p["rescue_courses_min"], p["rescue_window_days"], p["rescue_gap_days"]) == (2, 365, 14)
    assert p["adequacy_tacrolimus_trough_min_ng_ml"] == 4.8
    assert p.entry("rescue_courses_min").is_interim and not p.entry("mg_adl_min").is_interim


def test_version_is_present():
    assert load().version.startswith("20")


def test_override_changes_value_version_and_interim_flag(tmp_path):
    f = tmp_path / "site.toml"
    f.write_text('version = "site-7"\n[rescue_courses_min]\nvalue = 3\n', encoding="utf-8")
    p = load(str(f))
    assert p["rescue_courses_min"] == 3
    assert p.version.endswith("+site-7")
    assert not p.entry("rescue_courses_min").is_interim
    assert load()["rescue_courses_min"] == 2


def test_override_rejects_unknown_keys_and_type_changes(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[no_such_parameter]\nvalue = 1\n", encoding="utf-8")
    with pytest.raises(ParameterError):
        load(str(bad))
    typed = tmp_path / "typed.toml"
    typed.write_text('[mg_adl_min]\nvalue = "six"\n', encoding="utf-8")
    with pytest.raises(ParameterError):
        load(str(typed))


def test_context_reads_the_override_file_once(tmp_path, monkeypatch):
    f = tmp_path / "site.toml"
    f.write_text("[mg_adl_min]\nvalue = 7\n", encoding="utf-8")
    monkeypatch.setenv(context.PARAMETERS_ENV, str(f))
    context.reset()
    try:
        assert context.parameters()["mg_adl_min"] == 7
        assert context.parameters() is context.parameters()
    finally:
        monkeypatch.delenv(context.PARAMETERS_ENV)
        context.reset()
    assert context.parameters()["mg_adl_min"] == 6
    assert parameters.load() is load()

"""Unit conversion through UCUM codes (terminology/units.py)."""

from __future__ import annotations

import math

import pytest

from terminology.units import convert, normalise_unit, quantity_unit

CREATININE = 113.12  # g/mol
BILIRUBIN = 584.66


def test_creatinine_mass_to_molar_and_back() -> None:
    assert convert(1.5, "mg/dL", "umol/L", molar_mass=CREATININE) == pytest.approx(132.6, abs=0.01)
    assert convert(132.6, "µmol/L", "mg/dL", molar_mass=CREATININE) == pytest.approx(1.5, abs=1e-3)
    assert convert(88.4, "μmol/L", "mg/dl", molar_mass=CREATININE) == pytest.approx(1.0, abs=1e-3)  # Greek mu
    assert convert(2.5, "mg/dL", "mmol/L", molar_mass=CREATININE) == pytest.approx(0.221, abs=1e-3)


def test_bilirubin_mass_to_molar() -> None:
    assert convert(1.0, "mg/dL", "umol/L", molar_mass=BILIRUBIN) == pytest.approx(17.1, abs=0.01)
    assert convert(34.2, "umol/L", "mg/dL", molar_mass=BILIRUBIN) == pytest.approx(2.0, abs=0.01)


def test_molar_conversion_needs_a_molar_mass() -> None:
    assert convert(1.5, "mg/dL", "umol/L") is None
    assert convert(1.5, "mg/dL", "umol/L", molar_mass=0) is None
    assert convert(1.5, "mg/dL", "umol/L", molar_mass=-5) is None
    assert convert(1.5, "mg/dL", "umol/L", molar_mass="abc") is None  # type: ignore[arg-type]


def test_mass_concentrations() -> None:
    assert convert(0.07, "g/L", "mg/dL") == 7.0  # IgA deficiency threshold, exactly
    assert convert(7, "mg/dL", "g/L") == 0.07
    assert convert(1200, "mg/dL", "g/L") == 12.0
    assert convert(10, "mg/L", "mg/dL") == 1.0
    assert convert(5.2, "ng/mL", "ug/L") == 5.2
    assert convert(5.2, "ng/ml", "µg/L") == 5.2
    assert convert(150, "ug/L", "ng/mL") == 150.0
    assert convert(1, "g/dL", "mg/dL") == 1000.0


def test_body_weight() -> None:
    assert convert(154, "[lb_av]", "kg") == pytest.approx(69.85, abs=0.005)
    assert convert(154, "lbs", "kg") == pytest.approx(69.853, abs=1e-3)
    assert convert(154, "lb", "kg") == convert(154, "[lb_av]", "kg")
    assert convert(70000, "g", "kg") == 70.0
    assert convert(70, "kg", "[lb_av]") == pytest.approx(154.324, abs=1e-3)
    assert convert(1, "[lb_av]", "g") == 453.59237


def test_body_height() -> None:
    assert convert(70, "[in_i]", "cm") == 177.8
    assert convert(70, "in", "cm") == 177.8
    assert convert(1.78, "m", "cm") == 178.0
    assert convert(178, "cm", "m") == 1.78
    assert convert(6, "ft", "cm") == pytest.approx(182.88)


def test_fractions_and_activities() -> None:
    assert convert(0.42, "L/L", "%") == 42.0
    assert convert(42, "%", "%") == 42.0
    assert convert(60, "U/L", "U/L") == 60.0
    assert convert(60, "IU/L", "U/L") == 60.0  # enzyme unit: IU/L means U/L
    assert convert(1, "ukat/L", "U/L") == 60.0
    assert convert(25, "mIU/mL", "m[IU]/mL") == 25.0
    assert convert(25, "IU/L", "m[IU]/mL") == 25.0
    assert convert(5.1, "10^9/L", "10*3/uL") == 5.1
    assert convert(0.2, "10*3/uL", "/uL") == 200.0
    assert convert(75, "mL/min/1.73m2", "mL/min/{1.73_m2}") == 75.0


def test_incompatible_or_missing_units_give_none() -> None:
    assert convert(70, "kg", "cm") is None
    assert convert(1.5, "mg/dL", "U/L") is None
    assert convert(1.5, None, "mg/dL") is None
    assert convert(1.5, "", "mg/dL") is None
    assert convert(1.5, "mg/dL", None) is None
    assert convert(1.5, "furlongs", "m") is None
    assert convert(1.5, "mg/kg", "mg") is None
    assert convert(1.5, "mL/min", "mL/min/{1.73_m2}") is None  # not normalised to body surface
    assert convert(1e4, "{copies}/mL", "[IU]/mL") is None  # no fixed factor for HBV DNA
    assert convert(5, "[IU]/mL", "ng/mL") is None


def test_bad_values_give_none() -> None:
    assert convert(None, "kg", "g") is None
    assert convert("abc", "kg", "g") is None
    assert convert(True, "kg", "g") is None
    assert convert(math.nan, "kg", "g") is None
    assert convert(math.inf, "kg", "g") is None
    assert convert("70.5", "kg", "g") == 70500.0


def test_spellings_normalise_to_ucum() -> None:
    assert normalise_unit("mg/dl") == "mg/dL"
    assert normalise_unit("MG/DL") == "mg/dL"
    assert normalise_unit("umol/L") == "umol/L"
    assert normalise_unit("µmol/L") == "umol/L"
    assert normalise_unit(" μmol/l ") == "umol/L"
    assert normalise_unit("lbs") == "[lb_av]"
    assert normalise_unit("[lb_av]") == "[lb_av]"
    assert normalise_unit("kg") == "kg"
    assert normalise_unit("in") == "[in_i]"
    assert normalise_unit("[in_i]") == "[in_i]"
    assert normalise_unit("mmHg") == "mm[Hg]"
    assert normalise_unit("mcg/L") == "ug/L"
    assert normalise_unit(None) is None
    assert normalise_unit("   ") is None
    assert normalise_unit("bananas") is None


def test_quantity_unit_prefers_the_ucum_code() -> None:
    assert quantity_unit({"value": 1, "unit": "milligram per deciliter", "system": "http://unitsofmeasure.org", "code": "mg/dL"}) == "mg/dL"
    assert quantity_unit({"value": 70, "unit": "lbs"}) == "[lb_av]"
    assert quantity_unit({"value": 70, "unit": "kg", "system": "http://example.org/units", "code": "KGM"}) == "kg"
    assert quantity_unit({"value": 70}) is None
    assert quantity_unit("70 kg") is None

"""Unit conversion between the UCUM units the rules use.

Why a small explicit table and not a library: the project needs a closed, short list of
conversions (mass and substance concentration of a handful of analytes, body weight and
height, percentages, enzyme activity, cell counts, eGFR). `pint` does not speak UCUM codes
(`mg/dL`, `[lb_av]`, `[in_i]`, `mL/min/{1.73_m2}`) and `ucumvert` (0.3.x, pre-1.0) only adds a
UCUM-to-pint parser on top of pint and lark; neither does mass<->molar conversion without our
own molar-mass code, and both would accept units we never want to convert silently. A table
keeps every factor visible, exact and reviewable, and makes "not convertible -> None" easy
to guarantee. Factors are definitions (SI prefixes; avoirdupois pound = 0.45359237 kg and
international inch = 0.0254 m, both exact by the 1959 international yard and pound
agreement, and as defined in UCUM).

Public API:
    normalise_unit(unit)                        -> UCUM code | None   (common EHR spellings accepted)
    convert(value, from_unit, to_unit, molar_mass=None) -> float | None
    quantity_unit(quantity)                     -> UCUM code | None   (a FHIR Quantity dict)

`convert` returns None whenever it cannot be sure: a missing/unknown unit, units of different
kinds, a mass<->molar conversion without a molar mass, a value that is not a finite number.
It never guesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

UCUM_SYSTEM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class _Unit:
    kind: str  # what the unit measures; only units of the same kind convert (plus mass<->molar)
    factor: float  # value in this unit x factor = value in the kind's base unit


# Base units: mass-conc g/L, substance-conc mol/L, mass g, length m, fraction 1,
# volume L, catalytic-conc U/L, count-conc /uL, iu-conc [IU]/L.
_UNITS: dict[str, _Unit] = {
    # mass concentration (base g/L)
    "g/L": _Unit("mass-conc", 1.0),
    "g/dL": _Unit("mass-conc", 10.0),
    "mg/dL": _Unit("mass-conc", 1e-2),
    "mg/L": _Unit("mass-conc", 1e-3),
    "mg/mL": _Unit("mass-conc", 1.0),
    "ug/mL": _Unit("mass-conc", 1e-3),
    "ug/dL": _Unit("mass-conc", 1e-5),
    "ug/L": _Unit("mass-conc", 1e-6),
    "ng/mL": _Unit("mass-conc", 1e-6),
    "ng/dL": _Unit("mass-conc", 1e-8),
    "ng/L": _Unit("mass-conc", 1e-9),
    "pg/mL": _Unit("mass-conc", 1e-9),
    # substance concentration (base mol/L)
    "mol/L": _Unit("substance-conc", 1.0),
    "mmol/L": _Unit("substance-conc", 1e-3),
    "umol/L": _Unit("substance-conc", 1e-6),
    "nmol/L": _Unit("substance-conc", 1e-9),
    "pmol/L": _Unit("substance-conc", 1e-12),
    # mass (base g)
    "kg": _Unit("mass", 1000.0),
    "g": _Unit("mass", 1.0),
    "mg": _Unit("mass", 1e-3),
    "ug": _Unit("mass", 1e-6),
    "[lb_av]": _Unit("mass", 453.59237),
    "[oz_av]": _Unit("mass", 28.349523125),
    # length (base m)
    "m": _Unit("length", 1.0),
    "cm": _Unit("length", 1e-2),
    "mm": _Unit("length", 1e-3),
    "[in_i]": _Unit("length", 0.0254),
    "[ft_i]": _Unit("length", 0.3048),
    # volume (base L): spirometry
    "L": _Unit("volume", 1.0),
    "dL": _Unit("volume", 0.1),
    "mL": _Unit("volume", 1e-3),
    # fractions (base 1): haematocrit as % or L/L
    "%": _Unit("fraction", 1e-2),
    "L/L": _Unit("fraction", 1.0),
    # catalytic concentration (base U/L; 1 ukat = 60 U)
    "U/L": _Unit("catalytic-conc", 1.0),
    "U/mL": _Unit("catalytic-conc", 1000.0),
    "ukat/L": _Unit("catalytic-conc", 60.0),
    # arbitrary international units per volume (hormones, HBV DNA); see _IU_AS_ENZYME_UNIT
    "[IU]/L": _Unit("iu-conc", 1.0),
    "[IU]/mL": _Unit("iu-conc", 1000.0),
    "m[IU]/mL": _Unit("iu-conc", 1.0),
    "m[IU]/L": _Unit("iu-conc", 1e-3),
    # number concentration (base /uL)
    "/uL": _Unit("count-conc", 1.0),
    "10*3/uL": _Unit("count-conc", 1e3),
    "10*9/L": _Unit("count-conc", 1e3),
    "10*6/uL": _Unit("count-conc", 1e6),
    "10*12/L": _Unit("count-conc", 1e6),
    "/mm3": _Unit("count-conc", 1.0),
    "{copies}/mL": _Unit("copies-conc", 1.0),
    # single-unit kinds (identity only)
    "mL/min/{1.73_m2}": _Unit("gfr", 1.0),
    "mm[Hg]": _Unit("pressure", 1.0),
    "m2": _Unit("area", 1.0),
    "kg/m2": _Unit("bmi", 1.0),
    "nmol/L/h": _Unit("rate", 1.0),
}

# Enzyme activity: the "International Unit" of enzyme activity (IUB 1961) is by definition the
# enzyme unit U = 1 umol/min, so IU/L reported for ALT/AST/lipase/amylase equals U/L. UCUM keeps
# [IU] arbitrary because it is also used for WHO biological standards (hCG, HBV DNA); only
# conversions *to or from U/L* use this equivalence, so hormone units never become U/L unless a
# caller asks for U/L explicitly (which the rules do only for enzymes).
_IU_AS_ENZYME_UNIT = True

# Spellings EHRs send -> UCUM code. Keys are compared after _clean() (lower case, micro sign
# folded to "u", spaces removed).
_ALIASES: dict[str, str] = {
    # mass concentration
    "g/l": "g/L", "g/dl": "g/dL", "gm/dl": "g/dL", "mg/dl": "mg/dL", "mg%": "mg/dL",
    "mg/100ml": "mg/dL", "mg/l": "mg/L", "mg/ml": "mg/mL", "ug/ml": "ug/mL", "mcg/ml": "ug/mL",
    "ug/dl": "ug/dL", "mcg/dl": "ug/dL", "ug/l": "ug/L", "mcg/l": "ug/L", "ng/ml": "ng/mL",
    "ng/dl": "ng/dL", "ng/l": "ng/L", "pg/ml": "pg/mL",
    # substance concentration
    "mol/l": "mol/L", "mmol/l": "mmol/L", "umol/l": "umol/L", "micromol/l": "umol/L",
    "nmol/l": "nmol/L", "pmol/l": "pmol/L",
    # mass
    "kg": "kg", "kgs": "kg", "kilogram": "kg", "kilograms": "kg", "g": "g", "gram": "g",
    "grams": "g", "mg": "mg", "ug": "ug", "mcg": "ug",
    "[lb_av]": "[lb_av]", "lb": "[lb_av]", "lbs": "[lb_av]", "lb_av": "[lb_av]",
    "pound": "[lb_av]", "pounds": "[lb_av]", "[oz_av]": "[oz_av]", "oz": "[oz_av]",
    # length
    "m": "m", "meter": "m", "metre": "m", "cm": "cm", "centimeter": "cm", "centimetre": "cm",
    "centimeters": "cm", "centimetres": "cm", "mm": "mm",
    "[in_i]": "[in_i]", "in": "[in_i]", "inch": "[in_i]", "inches": "[in_i]", "in_i": "[in_i]",
    "[in_us]": "[in_i]",  # US survey inch differs by 2 ppm; not material for a body height
    "[ft_i]": "[ft_i]", "ft": "[ft_i]", "feet": "[ft_i]", "foot": "[ft_i]",
    # volume
    "l": "L", "liter": "L", "litre": "L", "dl": "dL", "ml": "mL",
    # fractions
    "%": "%", "percent": "%", "l/l": "L/L",
    # enzyme activity
    "u/l": "U/L", "iu/l": "U/L", "[iu]/l": "[IU]/L", "u/ml": "U/mL", "ukat/l": "ukat/L",
    # international units
    "[iu]/ml": "[IU]/mL", "iu/ml": "[IU]/mL", "m[iu]/ml": "m[IU]/mL", "miu/ml": "m[IU]/mL",
    "m[iu]/l": "m[IU]/L", "miu/l": "m[IU]/L",
    # counts
    "/ul": "/uL", "cells/ul": "/uL", "{cells}/ul": "/uL", "/mm3": "/mm3", "cells/mm3": "/mm3",
    "10*3/ul": "10*3/uL", "10^3/ul": "10*3/uL", "x10e3/ul": "10*3/uL", "k/ul": "10*3/uL",
    "10*9/l": "10*9/L", "10^9/l": "10*9/L", "x10e9/l": "10*9/L",
    "10*6/ul": "10*6/uL", "10^6/ul": "10*6/uL", "10*12/l": "10*12/L", "10^12/l": "10*12/L",
    "{copies}/ml": "{copies}/mL", "copies/ml": "{copies}/mL",
    # others
    "ml/min/{1.73_m2}": "mL/min/{1.73_m2}", "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73m^2": "mL/min/{1.73_m2}", "ml/min/1.73m²": "mL/min/{1.73_m2}",
    "ml/min/{1.73m2}": "mL/min/{1.73_m2}", "ml/min/1.73_m2": "mL/min/{1.73_m2}",
    "mm[hg]": "mm[Hg]", "mmhg": "mm[Hg]", "m2": "m2", "m^2": "m2", "m²": "m2",
    "kg/m2": "kg/m2", "kg/m^2": "kg/m2", "kg/m²": "kg/m2",
}


def _clean(unit: str) -> str:
    return unit.strip().replace("\u00b5", "u").replace("\u03bc", "u").replace(" ", "").lower()


def normalise_unit(unit: str | None) -> str | None:
    """The UCUM code for a unit as EHRs write it ("mg/dl", "µmol/L", "lbs"); None if unknown."""
    if not isinstance(unit, str) or not unit.strip():
        return None
    raw = unit.strip()
    if raw in _UNITS:  # already a UCUM code we know (case-sensitive first)
        return raw
    return _ALIASES.get(_clean(raw))


def quantity_unit(quantity: Any) -> str | None:
    """The UCUM code of a FHIR Quantity dict: `code` when the system is UCUM, else `unit`."""
    if not isinstance(quantity, dict):
        return None
    code = quantity.get("code")
    system = quantity.get("system")
    if isinstance(code, str) and (system in (None, UCUM_SYSTEM)):
        found = normalise_unit(code)
        if found is not None:
            return found
    return normalise_unit(quantity.get("unit"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _tidy(number: float) -> float:
    """Drop binary floating-point noise (0.07 g/L -> 7.000000000000001 mg/dL) so that a value
    exactly at a threshold stays exactly at it; 12 significant digits exceed any lab precision."""
    return float(f"{number:.12g}")


def convert(
    value: Any,
    from_unit: str | None,
    to_unit: str | None,
    molar_mass: float | None = None,
) -> float | None:
    """`value` in `from_unit` expressed in `to_unit`; None when not convertible or unit missing.

    Mass concentration <-> substance concentration (mg/dL <-> umol/L) needs `molar_mass` in
    g/mol (the concept attribute "molar_mass_g_per_mol" in terminology data).
    """
    number = _number(value)
    source_code = normalise_unit(from_unit)
    target_code = normalise_unit(to_unit)
    if number is None or source_code is None or target_code is None:
        return None
    if source_code == target_code:
        return number
    source, target = _UNITS[source_code], _UNITS[target_code]
    if source.kind == target.kind:
        return _tidy(number * source.factor / target.factor)
    kinds = {source.kind, target.kind}
    if kinds == {"mass-conc", "substance-conc"}:
        mass = _number(molar_mass)
        if mass is None or mass <= 0:
            return None
        base = number * source.factor  # g/L or mol/L
        if source.kind == "mass-conc":
            return _tidy((base / mass) / target.factor)
        return _tidy((base * mass) / target.factor)
    if _IU_AS_ENZYME_UNIT and kinds == {"catalytic-conc", "iu-conc"} and "U/L" in (
        source_code,
        target_code,
    ):
        return _tidy(number * source.factor / target.factor)
    return None

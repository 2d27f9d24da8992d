"""Unit conversion between UCUM units (placeholder: the terminology work fills it in)."""

from __future__ import annotations


def convert(value: float, from_unit: str | None, to_unit: str) -> float | None:
    """`value` in `from_unit` expressed in `to_unit`; None when not convertible or unit missing."""
    if from_unit is None:
        return None
    if from_unit == to_unit:
        return float(value)
    return None

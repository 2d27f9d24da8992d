"""Body-size arithmetic the dose rules use. Body surface area is derived, never stored."""

from __future__ import annotations

import math


def mosteller_bsa(height_cm: float, weight_kg: float) -> float | None:
    """Body surface area in m² by Mosteller: sqrt(height_cm × weight_kg / 3600).

    Mosteller RD, N Engl J Med 1987;317:1098. Returns None for a missing, zero, negative or
    non-finite input, so a dose is never computed from an unusable measurement.
    """
    try:
        h = float(height_cm)
        w = float(weight_kg)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(h) and math.isfinite(w)) or h <= 0 or w <= 0:
        return None
    return math.sqrt(h * w / 3600.0)

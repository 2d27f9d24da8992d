"""Doses for this patient: the §5 dose table of gmg-rules.md as pure functions.

Guideline statements implemented (gmg-rules.md §5, tags per entry in gmg/parameters.toml):
- "ravulizumab: load 2400 / 2700 / 3000 mg (40–<60 / 60–<100 / ≥100 kg), maintenance
  3000 / 3300 / 3600 mg every 8 weeks from 2 weeks after the load" (V)
- "zilucoplan: 16.6 / 23 / 32.4 mg SC daily (<56 / 56–<77 / ≥77 kg)" (V)
- "efgartigimod IV: 10 mg/kg IV weekly × 4 (max 1200 mg per infusion, ≥120 kg)" (V)
- "rozanolixizumab: weekly × 6 by weight band (US 420 / 560 / 840 mg)" (K, verify bands)
- "nipocalimab: 30 mg/kg IV load, then 15 mg/kg every 2 weeks" (V)
- efgartigimod + hyaluronidase SC by region: 1008 mg (US vial) / 1000 mg (China vial) (V)
- telitacicept 240 mg SC weekly (phase 3 arm; the Chinese label dose not retrieved: K)
- rituximab "375 mg/m² weekly × 4 (BSA by Mosteller); 1 g × 2 two weeks apart; low dose
  100 mg + 500 mg" (D-hi / V / D-lo)
- "IVIG 2 g/kg over 5 days (0.4 g/kg/d); totals > 80 g over 3–5 days" (V / D-hi / K)
- "PLEX 1.0–1.5 plasma volumes per exchange, 3–6 exchanges in 10–14 days; LPE 70–80% of TPV;
  TPV (L) = 0.065 × (1 − haematocrit) × weight (kg)" (D-hi)
- "IVMP methylprednisolone 500–1000 mg IV daily × 3–5 days" (D-hi)

Every function takes the patient's numbers as arguments (never reads a record) and returns a
small dataclass with the numbers and the ids of the parameters it used; its `text` is the regimen
in one sentence and its `regimen` the same in parts (gmg/regimen.py) for a card that has room
for the first dose only. Weight, height and
haematocrit come from the record through `dosing_inputs`; when one is missing, or a value recorded
on or after it could not be read or is implausible (gmg/measures.py: no earlier value stands in),
the dose is not computed and the caller says `data-gap.weight` (or `.height`, `.haematocrit`),
naming the value set aside: nothing is guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable, Iterable, TypeVar

from .measures import SetAside, latest_measure
from .parameters import Parameters
from .record import Measurement, PatientRecord
from .regimen import Regimen

# --------------------------------------------------------------------------------------------
# Inputs from the record


@dataclass(frozen=True)
class BodyMeasure:
    value: float
    when: date
    source: str


@dataclass(frozen=True)
class DosingInputs:
    """Weight (kg), height (cm) and haematocrit (fraction 0..1) usable for dosing, or None."""

    weight_kg: BodyMeasure | None
    height_cm: BodyMeasure | None
    haematocrit_fraction: BodyMeasure | None
    parameters: tuple[str, ...]
    # the values that keep a measure above None: its latest value was set aside (unreadable or
    # implausible, gmg/measures.py), and the card names it
    set_aside: tuple[SetAside, ...] = ()

    def set_aside_of(self, concept: str) -> SetAside | None:
        return next((s for s in self.set_aside if s.concept == concept), None)


T = TypeVar("T")


def latest_within_days(items: Iterable[T], today: date, max_age_days: int) -> T | None:
    """The latest dated item (anything with `.when`) not after today and within the window."""
    best: Any = None
    for item in items:
        when = getattr(item, "when", None)
        if when is None or when > today or (today - when).days > max_age_days:
            continue
        if best is None or when >= best.when:
            best = item
    return best


def _in_unit(m: Measurement | None, units: dict[str, float]) -> BodyMeasure | None:
    """The measurement converted by a factor table ({unit: factor}); None for another unit."""
    if m is None or m.value is None or m.unit not in units:
        return None
    value = m.value * units[m.unit]
    if not math.isfinite(value) or value <= 0:
        return None
    return BodyMeasure(value=value, when=m.when, source=m.source)


def _dosing_basis(record: PatientRecord, concept: str, max_age_days: int, units: dict[str, float],
                  plausible: Callable[[float], bool], set_aside: list[SetAside]) -> BodyMeasure | None:
    """The latest usable value of one measure within its window (gmg/measures.py: none when a
    value recorded on or after it was set aside, which is then kept in `set_aside`), converted,
    and inside the dosing range (a value outside it is set aside too)."""
    reading = latest_measure(record, concept, max_age_days)
    if reading.set_aside is not None:
        set_aside.append(reading.set_aside)
        return None
    measure = _in_unit(reading.measurement, units)
    m = reading.measurement
    if measure is not None and m is not None and not plausible(measure.value):
        set_aside.append(SetAside(concept, "implausible", f"{m.value:g} {m.unit}", m.when, m.source))
        return None
    return measure


def dosing_inputs(record: PatientRecord, params: Parameters) -> DosingInputs:
    """Latest recorded weight, height and haematocrit within their windows (never estimated, and
    never an earlier value when a later one was set aside: gmg/measures.py)."""
    set_aside: list[SetAside] = []
    weight = _dosing_basis(record, "weight", int(params["dosing_weight_max_age_days"]),
                           {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237},
                           _within(params["dosing_weight_plausible_kg"]), set_aside)
    height = _dosing_basis(record, "height", int(params["dosing_height_max_age_days"]),
                           {"cm": 1.0, "m": 100.0, "[in_i]": 2.54},
                           _within(params["dosing_height_plausible_cm"]), set_aside)
    hct = _dosing_basis(record, "haematocrit", int(params["dosing_haematocrit_max_age_days"]),
                        {"%": 0.01, "1": 1.0, "L/L": 1.0}, lambda f: 0.0 < f < 1.0, set_aside)  # a fraction
    return DosingInputs(
        weight_kg=weight,
        height_cm=height,
        haematocrit_fraction=hct,
        parameters=(
            "dosing_weight_max_age_days",
            "dosing_height_max_age_days",
            "dosing_haematocrit_max_age_days",
            "dosing_weight_plausible_kg",
            "dosing_height_plausible_cm",
        ),
        set_aside=tuple(set_aside),
    )


def _within(bounds: Any) -> Callable[[float], bool]:
    lo, hi = (float(x) for x in bounds)
    return lambda value: lo <= value <= hi


# --------------------------------------------------------------------------------------------
# Shared helpers


def _band_index(weight_kg: float, lower_bounds: list[float]) -> int | None:
    """Index of the weight band [bound_i, bound_i+1); None below the first bound."""
    index: int | None = None
    for i, bound in enumerate(lower_bounds):
        if weight_kg >= bound:
            index = i
    return index


def _band_label(index: int, lower_bounds: list[float]) -> str:
    lo = lower_bounds[index]
    if index + 1 < len(lower_bounds):
        hi = lower_bounds[index + 1]
        return f"<{hi:g} kg" if lo <= 0 else f"{lo:g}–<{hi:g} kg"
    return f"≥{lo:g} kg"


def _round_mg(value: float) -> float:
    return round(value, 1)


# --------------------------------------------------------------------------------------------
# Body surface area


def mosteller_bsa(height_cm: float, weight_kg: float) -> float:
    """Body surface area (m²) by Mosteller: sqrt(height cm × weight kg / 3600)."""
    if height_cm <= 0 or weight_kg <= 0:
        raise ValueError("height and weight must be positive")
    return math.sqrt(height_cm * weight_kg / 3600.0)


# --------------------------------------------------------------------------------------------
# C5 inhibitors


@dataclass(frozen=True)
class EculizumabDose:
    induction_mg: float
    induction_weeks: int
    maintenance_mg: float
    maintenance_interval_weeks: int
    parameters: tuple[str, ...]

    @property
    def regimen(self) -> Regimen:
        return Regimen(
            first=f"{self.induction_mg:g} mg IV weekly × {self.induction_weeks}",
            then=(f"{self.maintenance_mg:g} mg at week {self.induction_weeks + 1}, then "
                  f"{self.maintenance_mg:g} mg every {self.maintenance_interval_weeks} weeks"),
        )

    @property
    def text(self) -> str:
        r = self.regimen
        return f"{r.first}, {r.then}"


def eculizumab_dose(params: Parameters) -> EculizumabDose:
    """Eculizumab is not weight-based in adults."""
    return EculizumabDose(
        induction_mg=float(params["eculizumab_induction_mg"]),
        induction_weeks=int(params["eculizumab_induction_weeks"]),
        maintenance_mg=float(params["eculizumab_maintenance_mg"]),
        maintenance_interval_weeks=int(params["eculizumab_maintenance_interval_weeks"]),
        parameters=(
            "eculizumab_induction_mg",
            "eculizumab_induction_weeks",
            "eculizumab_maintenance_mg",
            "eculizumab_maintenance_interval_weeks",
        ),
    )


@dataclass(frozen=True)
class RavulizumabDose:
    weight_kg: float
    band: str | None  # "60–<100 kg"; None below the lowest labelled band
    loading_mg: float | None
    maintenance_mg: float | None
    maintenance_interval_weeks: int
    maintenance_start_weeks: int
    parameters: tuple[str, ...]

    @property
    def regimen(self) -> Regimen | None:
        if self.loading_mg is None:
            return None
        return Regimen(
            first=f"{self.loading_mg:g} mg IV loading dose",
            then=(f"then {self.maintenance_mg:g} mg every {self.maintenance_interval_weeks} weeks from "
                  f"{self.maintenance_start_weeks} weeks after the load"),
            aside=f"band {self.band}, weight {self.weight_kg:g} kg",
        )

    @property
    def text(self) -> str:
        r = self.regimen
        if r is None:
            return f"no labelled adult dose below {self.band or 'the lowest band'} (weight {self.weight_kg:g} kg)"
        return f"{r.first}, {r.then} ({r.aside})"


def ravulizumab_dose(weight_kg: float, params: Parameters) -> RavulizumabDose:
    bounds = [float(b) for b in params["ravulizumab_weight_bands_kg"]]
    index = _band_index(weight_kg, bounds)
    ids = (
        "ravulizumab_weight_bands_kg",
        "ravulizumab_loading_mg",
        "ravulizumab_maintenance_mg",
        "ravulizumab_maintenance_interval_weeks",
        "ravulizumab_maintenance_start_weeks",
    )
    interval = int(params["ravulizumab_maintenance_interval_weeks"])
    start = int(params["ravulizumab_maintenance_start_weeks"])
    if index is None:
        return RavulizumabDose(weight_kg, f"≥{bounds[0]:g} kg", None, None, interval, start, ids)
    return RavulizumabDose(
        weight_kg=weight_kg,
        band=_band_label(index, bounds),
        loading_mg=float(params["ravulizumab_loading_mg"][index]),
        maintenance_mg=float(params["ravulizumab_maintenance_mg"][index]),
        maintenance_interval_weeks=interval,
        maintenance_start_weeks=start,
        parameters=ids,
    )


@dataclass(frozen=True)
class BandDose:
    """A weight-band dose: one amount per administration."""

    weight_kg: float
    band: str
    dose_mg: float
    schedule: str  # how the dose is given: "SC once daily", "SC infusion weekly × 6"
    parameters: tuple[str, ...]
    cycle: str | None = None  # when a next cycle may start

    @property
    def regimen(self) -> Regimen:
        return Regimen(first=f"{self.dose_mg:g} mg {self.schedule}", aside=f"band {self.band}, weight {self.weight_kg:g} kg",
                       cycle=self.cycle)

    @property
    def text(self) -> str:
        r = self.regimen
        return r.first + (f"; {r.cycle}" if r.cycle else "") + f" ({r.aside})"


def zilucoplan_dose(weight_kg: float, params: Parameters) -> BandDose:
    bounds = [float(b) for b in params["zilucoplan_weight_bands_kg"]]
    index = _band_index(weight_kg, bounds) or 0
    return BandDose(
        weight_kg=weight_kg,
        band=_band_label(index, bounds),
        dose_mg=float(params["zilucoplan_daily_mg"][index]),
        schedule="SC once daily",
        parameters=("zilucoplan_weight_bands_kg", "zilucoplan_daily_mg"),
    )


def rozanolixizumab_dose(weight_kg: float, params: Parameters) -> BandDose:
    bounds = [float(b) for b in params["rozanolixizumab_weight_bands_kg"]]
    index = _band_index(weight_kg, bounds) or 0
    doses = int(params["rozanolixizumab_cycle_doses"])
    gap = int(params["rozanolixizumab_cycle_gap_days"])
    return BandDose(
        weight_kg=weight_kg,
        band=_band_label(index, bounds),
        dose_mg=float(params["rozanolixizumab_weekly_mg"][index]),
        schedule=f"SC infusion weekly × {doses}",
        cycle=f"next cycle ≥ {gap} days after the previous cycle's start",
        parameters=(
            "rozanolixizumab_weight_bands_kg",
            "rozanolixizumab_weekly_mg",
            "rozanolixizumab_cycle_doses",
            "rozanolixizumab_cycle_gap_days",
        ),
    )


# --------------------------------------------------------------------------------------------
# FcRn antagonists dosed by weight


@dataclass(frozen=True)
class PerKgDose:
    weight_kg: float
    mg_per_kg: float
    dose_mg: float  # per infusion, after any cap
    capped: bool
    schedule: str
    parameters: tuple[str, ...]
    loading_mg: float | None = None  # when the first dose differs
    loading_mg_per_kg: float | None = None
    cycle: str | None = None  # when a next cycle may start
    first_schedule: str | None = None  # the schedule in a word for the first doses ("IV weekly × 4")

    @property
    def regimen(self) -> Regimen:
        if self.loading_mg is not None:
            return Regimen(
                first=f"{self.loading_mg:g} mg IV loading dose",
                then=f"then {self.dose_mg:g} mg {self.schedule}",
                aside=f"{self.loading_mg_per_kg:g} mg/kg, then {self.mg_per_kg:g} mg/kg; weight {self.weight_kg:g} kg",
                cycle=self.cycle,
            )
        cap = "; per-infusion maximum" if self.capped else ""
        return Regimen(first=f"{self.dose_mg:g} mg {self.first_schedule or self.schedule}",
                       aside=f"{self.mg_per_kg:g} mg/kg{cap}; weight {self.weight_kg:g} kg", cycle=self.cycle)

    @property
    def text(self) -> str:
        cap = " (per-infusion maximum)" if self.capped else ""
        cycle = f"; {self.cycle}" if self.cycle else ""
        if self.loading_mg is not None:
            return (
                f"{self.loading_mg:g} mg IV loading dose ({self.loading_mg_per_kg:g} mg/kg), then "
                f"{self.dose_mg:g} mg ({self.mg_per_kg:g} mg/kg) {self.schedule}{cycle} "
                f"(weight {self.weight_kg:g} kg)"
            )
        return (
            f"{self.dose_mg:g} mg{cap} ({self.mg_per_kg:g} mg/kg) {self.schedule}{cycle} "
            f"(weight {self.weight_kg:g} kg)"
        )


def efgartigimod_iv_dose(weight_kg: float, params: Parameters) -> PerKgDose:
    per_kg = float(params["efgartigimod_iv_mg_per_kg"])
    cap = float(params["efgartigimod_iv_max_mg_per_infusion"])
    raw = per_kg * weight_kg
    n = int(params["efgartigimod_cycle_infusions"])
    gap = int(params["efgartigimod_cycle_gap_days"])
    return PerKgDose(
        weight_kg=weight_kg,
        mg_per_kg=per_kg,
        dose_mg=_round_mg(min(raw, cap)),
        capped=raw > cap,
        schedule=f"IV over 1 h weekly × {n}",
        cycle=f"next cycle ≥ {gap} days after the previous cycle's start",
        first_schedule=f"weekly × {n}",  # the product name says IV
        parameters=(
            "efgartigimod_iv_mg_per_kg",
            "efgartigimod_iv_max_mg_per_infusion",
            "efgartigimod_cycle_infusions",
            "efgartigimod_cycle_gap_days",
        ),
    )


@dataclass(frozen=True)
class FixedDose:
    dose_mg: float
    schedule: str  # how the first doses are given: "SC weekly × 4", "IV on day 1 and day 15"
    parameters: tuple[str, ...]
    then: str | None = None  # what follows: "then every 6 months"
    aside: str | None = None  # a product note: "vial; not interchangeable with the IV product"

    @property
    def regimen(self) -> Regimen:
        return Regimen(first=f"{self.dose_mg:g} mg {self.schedule}", then=self.then, aside=self.aside)

    @property
    def text(self) -> str:
        r = self.regimen
        return r.first + (f", {r.then}" if r.then else "") + (f" ({r.aside})" if r.aside else "")


def efgartigimod_sc_dose(params: Parameters, region: str = "us") -> FixedDose:
    """The SC product's strength differs by region (US vial 1008 mg, China 1000 mg vial)."""
    n = int(params["efgartigimod_cycle_infusions"])
    strengths = params["efgartigimod_sc_mg"]
    return FixedDose(
        dose_mg=float(strengths[region] if isinstance(strengths, dict) else strengths),
        schedule=f"SC weekly × {n}",
        aside="vial; not interchangeable with the IV product",
        parameters=("efgartigimod_sc_mg", "efgartigimod_cycle_infusions"),
    )


def telitacicept_dose(params: Parameters) -> FixedDose:
    """Telitacicept: a fixed SC dose once weekly (the phase 3 dose, K; the label's not retrieved)."""
    return FixedDose(
        dose_mg=float(params["telitacicept_weekly_mg"]),
        schedule="SC once weekly",
        then="with conventional therapy",
        parameters=("telitacicept_weekly_mg",),
    )


def nipocalimab_dose(weight_kg: float, params: Parameters) -> PerKgDose:
    """Nipocalimab: 30 mg/kg load, 15 mg/kg every 2 weeks (no per-infusion cap in the sources)."""
    load_per_kg = float(params["nipocalimab_loading_mg_per_kg"])
    per_kg = float(params["nipocalimab_maintenance_mg_per_kg"])
    every = int(params["nipocalimab_maintenance_interval_weeks"])
    return PerKgDose(
        weight_kg=weight_kg,
        mg_per_kg=per_kg,
        dose_mg=_round_mg(per_kg * weight_kg),
        capped=False,
        schedule=f"IV every {every} weeks from week {every}",
        parameters=(
            "nipocalimab_loading_mg_per_kg",
            "nipocalimab_maintenance_mg_per_kg",
            "nipocalimab_maintenance_interval_weeks",
        ),
        loading_mg=_round_mg(load_per_kg * weight_kg),
        loading_mg_per_kg=load_per_kg,
    )


# --------------------------------------------------------------------------------------------
# B-cell depletion


@dataclass(frozen=True)
class RituximabRegimen:
    key: str  # "bsa-weekly" | "fixed-1g" | "low-dose"
    doses_mg: tuple[float, ...]  # each infusion in order
    interval_days: int  # between consecutive infusions
    text: str
    parameters: tuple[str, ...]
    regimen: Regimen  # the same in parts


def rituximab_regimens(bsa_m2: float | None, params: Parameters) -> tuple[RituximabRegimen, ...]:
    """The consensus regimens; the 375 mg/m² one only when a BSA is known."""
    out: list[RituximabRegimen] = []
    if bsa_m2 is not None and bsa_m2 > 0:
        per_m2 = float(params["rituximab_mg_per_m2"])
        n = int(params["rituximab_bsa_weekly_doses"])
        dose = _round_mg(per_m2 * bsa_m2)
        out.append(
            RituximabRegimen(
                key="bsa-weekly",
                doses_mg=(dose,) * n,
                interval_days=7,
                text=f"{dose:g} mg IV ({per_m2:g} mg/m² × BSA {bsa_m2:.2f} m²) weekly × {n}",
                parameters=("rituximab_mg_per_m2", "rituximab_bsa_weekly_doses"),
                regimen=Regimen(first=f"{dose:g} mg IV weekly × {n} ({per_m2:g} mg/m²)", aside=f"BSA {bsa_m2:.2f} m²"),
            )
        )
    fixed = float(params["rituximab_fixed_mg"])
    gap = int(params["rituximab_fixed_interval_days"])
    out.append(
        RituximabRegimen(
            key="fixed-1g",
            doses_mg=(fixed, fixed),
            interval_days=gap,
            text=f"{fixed:g} mg IV × 2, {gap} days apart",
            parameters=("rituximab_fixed_mg", "rituximab_fixed_interval_days"),
            regimen=Regimen(first=f"{fixed:g} mg IV × 2, {gap} days apart"),
        )
    )
    low = tuple(float(x) for x in params["rituximab_low_dose_mg"])
    out.append(
        RituximabRegimen(
            key="low-dose",
            doses_mg=low,
            interval_days=1,
            text="low dose " + " mg then ".join(f"{x:g}" for x in low) + " mg IV (day 1 and day 2; interim schedule)",
            parameters=("rituximab_low_dose_mg",),
            regimen=Regimen(first=" + ".join(f"{x:g}" for x in low) + " mg IV", name="low dose",
                            aside="days " + " and ".join(str(day) for day in range(1, len(low) + 1))
                                  + "; interim schedule"),
        )
    )
    return tuple(out)


def inebilizumab_dose(params: Parameters) -> FixedDose:
    dose = float(params["inebilizumab_mg"])
    day = int(params["inebilizumab_second_dose_day"])
    months = int(params["inebilizumab_maintenance_interval_months"])
    return FixedDose(
        dose_mg=dose,
        schedule=f"IV on day 1 and day {day}",
        then=f"then every {months} months",
        parameters=("inebilizumab_mg", "inebilizumab_second_dose_day", "inebilizumab_maintenance_interval_months"),
    )


# --------------------------------------------------------------------------------------------
# Tacrolimus


@dataclass(frozen=True)
class TacrolimusTarget:
    daily_mg: float
    target_trough_ng_ml: float
    parameters: tuple[str, ...]

    @property
    def regimen(self) -> Regimen:
        return Regimen(first=f"{self.daily_mg:g} mg/day orally in 2 doses",
                       then=f"titrated to a trough ≥ {self.target_trough_ng_ml:g} ng/mL")

    @property
    def text(self) -> str:
        r = self.regimen
        return f"{r.first}, {r.then}"


def tacrolimus_target(params: Parameters) -> TacrolimusTarget:
    return TacrolimusTarget(
        daily_mg=float(params["tacrolimus_daily_mg"]),
        target_trough_ng_ml=float(params["tacrolimus_target_trough_ng_ml"]),
        parameters=("tacrolimus_daily_mg", "tacrolimus_target_trough_ng_ml"),
    )


# --------------------------------------------------------------------------------------------
# Rapid therapy


@dataclass(frozen=True)
class IvigCourse:
    weight_kg: float
    total_g: float
    daily_g: float
    days: int
    split: str  # how the total is divided (plain words)
    large_total: bool  # total above the split threshold
    parameters: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{self.total_g:g} g total: {self.daily_g:g} g/day IV × {self.days} days. {self.split}"


def ivig_course(weight_kg: float, params: Parameters) -> IvigCourse:
    """IVIG 2 g/kg over 5 days (0.4 g/kg/d); a total above 80 g is given over 3–5 days."""
    total = round(float(params["ivig_total_g_per_kg"]) * weight_kg, 1)
    daily = round(float(params["ivig_daily_g_per_kg"]) * weight_kg, 1)
    days = int(params["ivig_days"])
    threshold = float(params["ivig_split_above_g"])
    lo, hi = (int(x) for x in params["ivig_split_days"])
    large = total > threshold
    if large:
        split = (
            f"Total above {threshold:g} g: give it in divided daily doses over {lo}–{hi} days "
            f"at no more than {params['ivig_daily_g_per_kg']:g} g/kg/day, never as one infusion."
        )
    else:
        split = f"Total {total:g} g (≤ {threshold:g} g): daily doses of {daily:g} g."
    return IvigCourse(
        weight_kg=weight_kg,
        total_g=total,
        daily_g=daily,
        days=days,
        split=split,
        large_total=large,
        parameters=(
            "ivig_total_g_per_kg",
            "ivig_daily_g_per_kg",
            "ivig_days",
            "ivig_split_above_g",
            "ivig_split_days",
        ),
    )


def plasma_volume_l(weight_kg: float, haematocrit_fraction: float, params: Parameters) -> float:
    """Total plasma volume (L) = factor × (1 − haematocrit) × weight (kg)."""
    if not 0.0 < haematocrit_fraction < 1.0:
        raise ValueError("haematocrit must be a fraction between 0 and 1")
    return float(params["tpv_factor"]) * (1.0 - haematocrit_fraction) * weight_kg


@dataclass(frozen=True)
class PlexCourse:
    plasma_volume_l: float
    exchange_volume_l: tuple[float, float]  # per exchange, low-high
    exchanges: tuple[int, int]
    course_days: tuple[int, int]
    lpe_volume_l: tuple[float, float]  # per LPE session
    lpe_sessions: tuple[int, int]
    parameters: tuple[str, ...]

    @property
    def text(self) -> str:
        lo, hi = self.exchange_volume_l
        return (
            f"TPV {self.plasma_volume_l:.2f} L; PLEX {lo:.1f}–{hi:.1f} L per exchange, "
            f"{self.exchanges[0]}–{self.exchanges[1]} exchanges within "
            f"{self.course_days[0]}–{self.course_days[1]} days; LPE "
            f"{self.lpe_volume_l[0]:.1f}–{self.lpe_volume_l[1]:.1f} L per session, "
            f"{self.lpe_sessions[0]}–{self.lpe_sessions[1]} sessions"
        )


def plex_course(weight_kg: float, haematocrit_fraction: float, params: Parameters) -> PlexCourse:
    tpv = plasma_volume_l(weight_kg, haematocrit_fraction, params)
    v_lo, v_hi = (float(x) for x in params["plex_plasma_volumes_per_exchange"])
    f_lo, f_hi = (float(x) for x in params["lpe_tpv_fraction"])
    ex_lo, ex_hi = (int(x) for x in params["plex_exchanges"])
    d_lo, d_hi = (int(x) for x in params["plex_course_days"])
    s_lo, s_hi = (int(x) for x in params["lpe_sessions"])
    return PlexCourse(
        plasma_volume_l=round(tpv, 3),
        exchange_volume_l=(round(v_lo * tpv, 2), round(v_hi * tpv, 2)),
        exchanges=(ex_lo, ex_hi),
        course_days=(d_lo, d_hi),
        lpe_volume_l=(round(f_lo * tpv, 2), round(f_hi * tpv, 2)),
        lpe_sessions=(s_lo, s_hi),
        parameters=(
            "tpv_factor",
            "plex_plasma_volumes_per_exchange",
            "plex_exchanges",
            "plex_course_days",
            "lpe_tpv_fraction",
            "lpe_sessions",
        ),
    )


@dataclass(frozen=True)
class IvmpCourse:
    daily_mg: tuple[int, int]
    days: tuple[int, int]
    parameters: tuple[str, ...]

    @property
    def text(self) -> str:
        return (
            f"methylprednisolone {self.daily_mg[0]}–{self.daily_mg[1]} mg IV daily × "
            f"{self.days[0]}–{self.days[1]} days"
        )


def ivmp_course(params: Parameters) -> IvmpCourse:
    lo, hi = (int(x) for x in params["ivmp_daily_mg"])
    d_lo, d_hi = (int(x) for x in params["ivmp_days"])
    return IvmpCourse(daily_mg=(lo, hi), days=(d_lo, d_hi), parameters=("ivmp_daily_mg", "ivmp_days"))


def earliest_after(day: date, days: int) -> date:
    """`day` plus a number of days (the earliest date a waiting period allows)."""
    return day + timedelta(days=days)

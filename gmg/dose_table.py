"""The dose of each next-line drug for this patient: a table from ingredient to its dose builder.

Guideline statements implemented: the dose table of gmg-rules.md §5 (tags per parameter in
gmg/parameters.toml), computed by the pure functions of `gmg/dosing.py` from the recorded weight,
height and haematocrit. Each builder returns a `DrugOption` in state "suggest" with the regimen
as a `ProposedOrder` (one per regimen) and in parts (`regimens`, gmg/regimen.py), or a data gap
("no weight recorded"): nothing is guessed. A drug without a builder has no computed dose
("no-dose"). Notes on a drug carry their kind (an interim value to verify, a data gap, an age
limit, an intolerance), so a card can choose among them without reading the sentence.

Labelled ages (issue #15 F-6; gmg-rules.md §5 "Doses (adult)"): a patient younger than the drug's
labelled minimum age (`<drug>_min_age_years`, from its label) gets no dose and the drug is "not
labelled"; a child (under `dosing_adult_min_age_years`) inside the labelled population gets no
computed dose either, because the doses here are adult doses, unless the label gives the same
dose from its minimum age (nipocalimab, mg/kg from 12 y); without a birth date the dose is given
with the labelled age to confirm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from . import dosing, drugs
from .orders import LaterDose, ProposedOrder, Schedule
from .parameters import Parameters
from .regimen import DrugNote, Regimen


@dataclass(frozen=True)
class DrugOption:
    ingredient: str
    state: str  # "suggest" | "current" | "intolerance" | "not-labelled" | "data-gap" | "no-dose" | "withheld"
    dose_text: str | None
    orders: tuple[ProposedOrder, ...] = ()  # one per regimen
    notes: tuple[DrugNote, ...] = ()
    parameters: tuple[str, ...] = ()
    data_gap: str | None = None
    regimens: tuple[Regimen, ...] = ()  # the regimens in parts, in the order of `orders`

    @property
    def note(self) -> str | None:
        """The notes in one phrase (as the MG summary page and the card extension show them)."""
        return "; ".join(n.text for n in self.notes) or None

    def as_json(self, region: str = drugs.DEFAULT_REGION) -> dict[str, Any]:
        info = drugs.DRUGS[self.ingredient]
        out: dict[str, Any] = {
            "ingredient": self.ingredient,
            "display": info.display,
            "state": self.state,
            "label": info.label(region),
        }
        if region in info.regional_notes:  # which label note this is (for its translation)
            out["label_id"] = f"{self.ingredient}.{region}"
        for k, v in (("dose", self.dose_text), ("note", self.note), ("data_gap", self.data_gap)):
            if v:
                out[k] = v
        if self.notes:
            out["notes"] = [n.as_json() for n in self.notes]
        if self.regimens:
            out["regimens"] = [r.as_json() for r in self.regimens]
        if self.parameters:
            out["parameters"] = list(self.parameters)
        if self.orders:
            out["orders"] = [o.as_json() for o in self.orders]
        return out


WEEKLY = dict(frequency=1, period=1, period_unit="wk")
WEIGHT_WINDOW = ("dosing_weight_max_age_days",)


def proposed(ingredient: str, dose_mg: float, text: str, schedule: Schedule, label: str | None = None,
             then: tuple[LaterDose, ...] = ()) -> ProposedOrder:
    """The regimen of a catalog drug as an order ("Eculizumab: 900 mg IV weekly × 4, ...")."""
    name = drugs.display(ingredient)
    return ProposedOrder(ingredient, name, dose_mg, drugs.route(ingredient), text, schedule,
                         label or f"{name}: {text}", then)


def _weight(inputs: dosing.DosingInputs) -> float | None:
    return inputs.weight_kg.value if inputs.weight_kg else None


def _weight_gap(ingredient: str, inputs: dosing.DosingInputs) -> DrugOption:
    note = ("latest weight not usable (unreadable or implausible): dose not computed"
            if inputs.set_aside_of("weight") else "no weight recorded within the dosing window: dose not computed")
    return DrugOption(ingredient, "data-gap", None, notes=(DrugNote("data-gap", note),), data_gap="weight",
                      parameters=WEIGHT_WINDOW)


def eculizumab(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    d = dosing.eculizumab_dose(params)
    order = proposed("eculizumab", d.induction_mg, d.text, Schedule(count=d.induction_weeks, **WEEKLY))
    return DrugOption("eculizumab", "suggest", d.text, (order,), parameters=d.parameters, regimens=(d.regimen,))


def ravulizumab(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    w = _weight(inputs)
    if w is None:
        return _weight_gap("ravulizumab", inputs)
    r = dosing.ravulizumab_dose(w, params)
    if r.loading_mg is None:
        return DrugOption("ravulizumab", "no-dose", r.text, parameters=r.parameters)
    order = proposed("ravulizumab", r.loading_mg, r.text, Schedule(count=1))
    assert r.regimen is not None  # a loading dose
    return DrugOption("ravulizumab", "suggest", r.text, (order,), parameters=r.parameters + WEIGHT_WINDOW,
                      regimens=(r.regimen,))


def zilucoplan(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    w = _weight(inputs)
    if w is None:
        return _weight_gap("zilucoplan", inputs)
    z = dosing.zilucoplan_dose(w, params)
    order = proposed("zilucoplan", z.dose_mg, z.text, Schedule(frequency=1, period=1, period_unit="d"))
    return DrugOption("zilucoplan", "suggest", z.text, (order,), parameters=z.parameters + WEIGHT_WINDOW,
                      regimens=(z.regimen,))


def rozanolixizumab(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    w = _weight(inputs)
    if w is None:
        return _weight_gap("rozanolixizumab", inputs)
    b = dosing.rozanolixizumab_dose(w, params)
    n = int(params["rozanolixizumab_cycle_doses"])
    order = proposed("rozanolixizumab", b.dose_mg, b.text, Schedule(count=n, **WEEKLY))
    return DrugOption("rozanolixizumab", "suggest", b.text, (order,), parameters=b.parameters + WEIGHT_WINDOW,
                      notes=(DrugNote("verify", "weight bands from the US label, not re-read: verify"),),
                      regimens=(b.regimen,))


def efgartigimod_iv(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    w = _weight(inputs)
    if w is None:
        return _weight_gap("efgartigimod", inputs)
    e = dosing.efgartigimod_iv_dose(w, params)
    n = int(params["efgartigimod_cycle_infusions"])
    order = proposed("efgartigimod", e.dose_mg, e.text, Schedule(count=n, **WEEKLY))
    return DrugOption("efgartigimod", "suggest", e.text, (order,), parameters=e.parameters + WEIGHT_WINDOW,
                      regimens=(e.regimen,))


def efgartigimod_sc(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    f = dosing.efgartigimod_sc_dose(params, region)
    n = int(params["efgartigimod_cycle_infusions"])
    order = proposed("efgartigimod-hyaluronidase", f.dose_mg, f.text, Schedule(count=n, **WEEKLY))
    return DrugOption("efgartigimod-hyaluronidase", "suggest", f.text, (order,), parameters=f.parameters,
                      regimens=(f.regimen,))


def nipocalimab(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    w = _weight(inputs)
    if w is None:
        return _weight_gap("nipocalimab", inputs)
    nd = dosing.nipocalimab_dose(w, params)
    assert nd.loading_mg is not None
    order = proposed("nipocalimab", nd.loading_mg, nd.text, Schedule(count=1))
    return DrugOption("nipocalimab", "suggest", nd.text, (order,), parameters=nd.parameters + WEIGHT_WINDOW,
                      regimens=(nd.regimen,))


def rituximab_order(r: dosing.RituximabRegimen) -> ProposedOrder:
    """Equal infusions: one dose repeated at the interval. Unequal ones (100 mg then 500 mg): the
    first dose once, each later dose as a further step ("then"), so the structured order never
    says 2 × 100 mg when the regimen is 100 mg then 500 mg."""
    label = f"Rituximab {r.text}"
    if len(set(r.doses_mg)) == 1:
        schedule = Schedule(frequency=1, period=r.interval_days, period_unit="d", count=len(r.doses_mg))
        return proposed("rituximab", r.doses_mg[0], r.text, schedule, label)
    later = tuple(
        LaterDose(dose, Schedule(count=1), f"then {dose:g} mg IV on day {1 + n * r.interval_days}")
        for n, dose in enumerate(r.doses_mg[1:], start=1)
    )
    return proposed("rituximab", r.doses_mg[0], r.text, Schedule(count=1), label, later)


def rituximab(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    bsa = None
    if inputs.weight_kg and inputs.height_cm:
        bsa = dosing.mosteller_bsa(inputs.height_cm.value, inputs.weight_kg.value)
    regs = dosing.rituximab_regimens(bsa, params)
    orders = tuple(rituximab_order(r) for r in regs)
    ids = tuple(p for r in regs for p in r.parameters)
    text = "; or ".join(r.text for r in regs)
    gap_what = None if bsa is not None else ("weight" if inputs.weight_kg is None else "height")
    notes: tuple[DrugNote, ...] = ()
    if gap_what is not None:
        why = "latest {} not usable (unreadable or implausible)" if inputs.set_aside_of(gap_what) else "no {} recorded"
        notes = (DrugNote("data-gap", f"{why.format(gap_what)}: the 375 mg/m² regimen is not computed"),)
    return DrugOption("rituximab", "suggest", text, orders, notes=notes, parameters=ids, data_gap=gap_what,
                      regimens=tuple(r.regimen for r in regs))


def inebilizumab(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    i = dosing.inebilizumab_dose(params)
    second_day = int(params["inebilizumab_second_dose_day"])
    order = proposed("inebilizumab", i.dose_mg, i.text,
                     Schedule(frequency=1, period=second_day - 1, period_unit="d", count=2))
    return DrugOption("inebilizumab", "suggest", i.text, (order,), parameters=i.parameters,
                      notes=(DrugNote("verify", "inebilizumab dose to verify against the gMG label section"),),
                      regimens=(i.regimen,))


def tacrolimus(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    t = dosing.tacrolimus_target(params)
    order = proposed("tacrolimus", t.daily_mg / 2, t.text, Schedule(frequency=2, period=1, period_unit="d"))
    return DrugOption("tacrolimus", "suggest", t.text, (order,), parameters=t.parameters, regimens=(t.regimen,))


def telitacicept(inputs: dosing.DosingInputs, params: Parameters, region: str = drugs.DEFAULT_REGION) -> DrugOption:
    t = dosing.telitacicept_dose(params)
    order = proposed("telitacicept", t.dose_mg, t.text, Schedule(frequency=1, period=1, period_unit="wk"))
    return DrugOption("telitacicept", "suggest", t.text, (order,), parameters=t.parameters,
                      notes=(DrugNote("verify", "the phase 3 dose; the Chinese label's dose was not retrieved: "
                                                "verify against the label"),),
                      regimens=(t.regimen,))


DoseBuilder = Callable[[dosing.DosingInputs, Parameters, str], DrugOption]

DOSE_BUILDERS: dict[str, DoseBuilder] = {
    "eculizumab": eculizumab,
    "ravulizumab": ravulizumab,
    "zilucoplan": zilucoplan,
    "rozanolixizumab": rozanolixizumab,
    "efgartigimod": efgartigimod_iv,
    "efgartigimod-hyaluronidase": efgartigimod_sc,
    "nipocalimab": nipocalimab,
    "rituximab": rituximab,
    "inebilizumab": inebilizumab,
    "telitacicept": telitacicept,
    "tacrolimus": tacrolimus,
}


def age_gate(ingredient: str, age: int | None, params: Parameters) -> DrugOption | None:
    """The drug's state when the patient's age keeps it from a computed dose (None: dose it)."""
    info = drugs.DRUGS.get(ingredient)
    adult = int(params["dosing_adult_min_age_years"])
    min_param = info.min_age_parameter if info else None
    if age is None:
        return None
    if min_param is not None and age < int(params[min_param]):
        minimum = int(params[min_param])
        return DrugOption(ingredient, "not-labelled", None, parameters=(min_param,),
                          notes=(DrugNote("age", f"labelled from age {minimum} (patient {age} y): not suggested, "
                                                 "no dose computed"),))
    if age < adult and not (info and info.dose_from_min_age):
        ids = (min_param, "dosing_adult_min_age_years") if min_param else ("dosing_adult_min_age_years",)
        return DrugOption(ingredient, "no-dose", None, parameters=ids,
                          notes=(DrugNote("age", f"child ({age} y): the dose computed here is an adult dose; take the "
                                                 "paediatric dose from the label or a paediatric specialist"),))
    return None


def dose_for(ingredient: str, inputs: dosing.DosingInputs, params: Parameters, age: int | None = None,
             region: str = drugs.DEFAULT_REGION) -> DrugOption:
    """The drug's dose for this patient as a DrugOption in state "suggest" (or a data gap), or why
    none is computed for a patient of this age (`age_gate`)."""
    gated = age_gate(ingredient, age, params)
    if gated is not None:
        return gated
    builder = DOSE_BUILDERS.get(ingredient)
    if builder is None:
        return DrugOption(ingredient, "no-dose", None)
    option = builder(inputs, params, region)
    info = drugs.DRUGS.get(ingredient)
    if age is None and info is not None and info.min_age_parameter and option.state == "suggest":
        minimum = int(params[info.min_age_parameter])
        note = DrugNote("age", f"no birth date on record: labelled from age {minimum}; confirm the age before ordering")
        return replace(option, notes=option.notes + (note,), parameters=option.parameters + (info.min_age_parameter,))
    return option

"""Prerequisites of a next-line therapy, and the patient state they read.

Guideline statements implemented (gmg-rules.md §5, §6, §9; background/clinical-research.md §4):
- C5 inhibitors: meningococcal vaccination (ACWY and B) at least 2 weeks before the first dose, or
  antibiotic prophylaxis; zilucoplan: baseline lipase and amylase (label, V).
- B-cell depletion (anti-CD20, anti-CD19): hepatitis B screen (HBsAg and anti-HBc), baseline IgG,
  no active severe infection; inebilizumab: tuberculosis screen (label, K).
- FcRn antagonists: baseline IgG, no active severe infection, vaccinations up to date (no live
  vaccines) before each cycle (labels).
- Tacrolimus: no strong CYP3A4 inducer or inhibitor active (CN consensus flags CYP3A4, D-hi).
- Telitacicept (BLyS/APRIL): the B-cell screen (design, I: its label's checks were not retrieved)
  and no live vaccines.

Each prerequisite has a status read from the record ("met", "missing", "recent", "positive",
"not-met", "unknown" when the data could not be retrieved, "to-confirm" when the chart cannot
answer it), what the chart shows (`finding`), what to do where that is more than ordering what is
missing (`advice`), and, where something is missing, the lab or vaccine order that fills the gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from . import dosing
from .exposure import is_active_on
from .findings import Evidence
from .parameters import Parameters
from .record import Measurement, PatientRecord

B_CELL_OPTIONS = frozenset({"anti-cd20", "anti-cd19"})
# B-cell-directed options whose start needs the same screen (HBV, IgG, infection).
B_CELL_SCREENED_OPTIONS = B_CELL_OPTIONS | {"blys-april"}

# --------------------------------------------------------------------------------------------
# Patient state the options (and rapid therapy, trials) share


def is_pregnant(record: PatientRecord) -> bool:
    if record.pregnancy.state == "pregnant":
        return True
    return any(c.abatement is None for c in record.conditions_of("pregnancy"))


def severe_infection(record: PatientRecord) -> tuple[str, ...]:
    """Sources of an active sepsis or severe-infection Condition (empty when none recorded)."""
    return tuple(c.source for c in record.conditions_of("sepsis", "severe-infection") if c.abatement is None)


def latest_within(record: PatientRecord, concept: str, max_age_days: int) -> Measurement | None:
    return dosing.latest_within_days(record.measurements_of(concept), record.today, max_age_days)


def is_positive(m: Measurement) -> bool | None:
    """Qualitative reading of a lab result: True positive, False negative, None unreadable."""
    if m.interpretation in ("positive", "detected", "reactive", "high", "abnormal"):
        return True
    if m.interpretation in ("negative", "not-detected", "non-reactive", "normal"):
        return False
    if m.value is not None and m.reference_high is not None:
        return m.value > m.reference_high
    return None


# --------------------------------------------------------------------------------------------
# Prerequisites


@dataclass(frozen=True)
class Prerequisite:
    name: str
    status: str  # "met" | "not-met" | "missing" | "recent" | "positive" | "unknown" | "to-confirm"
    finding: str  # what the chart shows: "no MenACWY or MenB dose on record"
    orders: tuple[dict[str, str], ...] = ()  # {"kind": "lab"|"vaccine", "concept": key}
    earliest_start: date | None = None
    evidence: tuple[Evidence, ...] = ()
    # The drugs of the option it applies to (empty: every drug of the option; zilucoplan's lipase
    # and inebilizumab's TB screen name their drug), so a card can say it for each drug.
    applies_to: tuple[str, ...] = ()
    key: str = ""  # what it is ("meningococcal", "hbv", "igg", ...): a card's short name for it
    advice: str = ""  # what to do beyond ordering what is missing ("vaccinate ≥ 2 weeks before ...")
    window_days: int | None = None  # a lab result counts when this recent

    @property
    def detail(self) -> str:
        """What the chart shows and what to do, in one phrase."""
        return f"{self.finding}: {self.advice}" if self.advice else self.finding

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status, "detail": self.detail,
                               "finding": self.finding}
        if self.advice:
            out["advice"] = self.advice
        if self.window_days is not None:
            out["window_days"] = self.window_days
        if self.key:
            out["key"] = self.key
        if self.applies_to:
            out["drugs"] = list(self.applies_to)
        if self.orders:
            out["orders"] = [dict(o) for o in self.orders]
        if self.earliest_start:
            out["earliest_start"] = self.earliest_start.isoformat()
        return out


def meningococcal_prerequisite(record: PatientRecord, params: Parameters) -> Prerequisite:
    """MenACWY (or MenABCWY) and MenB (or MenABCWY) ≥ 14 days before a C5 inhibitor."""
    made = partial(Prerequisite, key="meningococcal")  # its key (and drugs) as it is made
    name = "Meningococcal vaccination (ACWY + B) ≥ 2 weeks before the first dose"
    if "immunizations" in record.unavailable:
        return made(name, "unknown", "immunization history could not be retrieved")
    done = [i for i in record.immunizations if i.status in (None, "completed") and i.when is not None]
    acwy = [i for i in done if i.concept in ("menacwy", "menabcwy")]
    menb = [i for i in done if i.concept in ("menb", "menabcwy")]
    orders: list[dict[str, str]] = []
    missing: list[str] = []
    if not acwy:
        missing.append("MenACWY")
        orders.append({"kind": "vaccine", "concept": "menacwy"})
    if not menb:
        missing.append("MenB")
        orders.append({"kind": "vaccine", "concept": "menb"})
    if missing:
        return made(
            name, "missing", f"no {' or '.join(missing)} dose on record", tuple(orders),
            advice="vaccinate ≥ 2 weeks before the first dose, or give antibiotic prophylaxis if treatment cannot "
                   "wait; REMS enrolment",
        )
    # Vaccination counts as done once both components have a dose (§9): on the later of the two
    # components' first doses - the same date the order check (gmg/safety/c5.py) reads, so the
    # therapy card and the order card give the same earliest start.
    first_acwy = min(i.when for i in acwy)  # type: ignore[type-var]
    first_menb = min(i.when for i in menb)  # type: ignore[type-var]
    complete = max(first_acwy, first_menb)
    earliest = dosing.earliest_after(complete, int(params["meningococcal_lead_days"]))
    ev = tuple(Evidence(f"{i.concept} dose", i.cvx or i.concept, i.when, i.source) for i in (*acwy, *menb))
    doses = f"MenACWY {first_acwy.isoformat()}, MenB {first_menb.isoformat()}"
    if earliest > record.today:
        return made(
            name, "recent",
            f"vaccinated {doses}: earliest first dose {earliest.isoformat()}, or antibiotic prophylaxis",
            earliest_start=earliest, evidence=ev,
        )
    return made(
        name, "met", f"ACWY and B doses on record ({doses}); complete the series per schedule",
        earliest_start=earliest, evidence=ev,
    )


def hbv_prerequisite(record: PatientRecord, params: Parameters) -> Prerequisite:
    made = partial(Prerequisite, key="hbv")  # its key (and drugs) as it is made
    name = "Hepatitis B screen (HBsAg and anti-HBc) before B-cell depletion"
    if "observations" in record.unavailable:
        return made(name, "unknown", "laboratory results could not be retrieved")
    window = int(params["hbv_screen_max_age_days"])
    found = {c: latest_within(record, c, window) for c in ("hbsag", "anti-hbc")}
    ev = tuple(Evidence(c, m.interpretation or str(m.value), m.when, m.source) for c, m in found.items() if m)
    labels = {"hbsag": "HBsAg", "anti-hbc": "anti-HBc"}  # as the tests are written (not concept keys)
    positive = [c for c, m in found.items() if m is not None and is_positive(m)]
    if positive:
        return made(
            name, "positive",
            f"{' and '.join(labels[c] for c in positive)} positive: hepatology review, HBV DNA and antiviral prophylaxis before starting",
            ({"kind": "lab", "concept": "hbv-dna"},), evidence=ev,
        )
    missing = [c for c, m in found.items() if m is None or is_positive(m) is None]
    if missing:
        return made(
            name, "missing", f"no readable {' or '.join(labels[c] for c in missing)} result in the last {window} days",
            tuple({"kind": "lab", "concept": c} for c in missing), evidence=ev, window_days=window,
        )
    return made(name, "met", "HBsAg and anti-HBc negative", evidence=ev, window_days=window)


def lab_on_record(record: PatientRecord, concept: str, window: int, name: str) -> Prerequisite:
    """A lab result in the window (its key: the lab's concept key)."""
    if "observations" in record.unavailable:
        return Prerequisite(name, "unknown", "laboratory results could not be retrieved", key=concept)
    m = latest_within(record, concept, window)
    if m is None:
        return Prerequisite(name, "missing", f"no result in the last {window} days",
                            ({"kind": "lab", "concept": concept},), window_days=window, key=concept)
    value = f"{m.value:g} {m.unit or ''}".strip() if m.value is not None else (m.interpretation or "result")
    return Prerequisite(name, "met", f"{value} on {m.when.isoformat()}",
                        evidence=(Evidence(concept, value, m.when, m.source),), window_days=window, key=concept)


def lipase_amylase_prerequisite(record: PatientRecord, params: Parameters) -> Prerequisite:
    made = partial(Prerequisite, key="lipase-amylase", applies_to=("zilucoplan",))  # its key (and drugs) as it is made
    window = int(params["lipase_amylase_max_age_days"])
    lip = lab_on_record(record, "lipase", window, "lipase")
    amy = lab_on_record(record, "amylase", window, "amylase")
    name = "Baseline lipase and amylase before zilucoplan (pancreatitis)"
    if "unknown" in (lip.status, amy.status):
        return made(name, "unknown", "laboratory results could not be retrieved")
    if lip.status == "met" and amy.status == "met":
        return made(name, "met", f"lipase {lip.detail}; amylase {amy.detail}", evidence=lip.evidence + amy.evidence)
    missing = [p.name for p in (lip, amy) if p.status != "met"]
    return made(name, "missing", f"no {' or '.join(missing)} in the last {window} days",
                        lip.orders + amy.orders, window_days=window)


def igg_prerequisite(record: PatientRecord, params: Parameters) -> Prerequisite:
    return lab_on_record(record, "igg", int(params["igg_baseline_max_age_days"]), "Baseline serum IgG")


def infection_prerequisite(record: PatientRecord) -> Prerequisite:
    made = partial(Prerequisite, key="infection")  # its key (and drugs) as it is made
    name = "No active severe infection"
    if "conditions" in record.unavailable:
        return made(name, "unknown", "problem list could not be retrieved")
    sources = severe_infection(record)
    if sources:
        return made(name, "not-met", "sepsis / severe infection on record: defer until controlled",
                            evidence=tuple(Evidence("active infection", "on problem list", None, s) for s in sources))
    return made(name, "to-confirm", "none on the problem list; confirm clinically before each cycle")


CYP3A4_MODULATORS = {"cyp3a4-strong-inducer": "strong CYP3A4 inducer: lowers tacrolimus levels",
                     "cyp3a4-strong-inhibitor": "strong CYP3A4 inhibitor: raises tacrolimus levels"}


def cyp3a4_prerequisite(record: PatientRecord) -> Prerequisite:
    """Tacrolimus next to an active strong CYP3A4 inducer/inhibitor (consensus flags CYP3A4, D-hi):
    the same pair the order check safety.tacrolimus.cyp3a4 warns about, said before the order."""
    made = partial(Prerequisite, key="cyp3a4")  # its key (and drugs) as it is made
    name = "No strong CYP3A4 inducer or inhibitor active (tacrolimus interaction)"
    if {"medicationStatements", "medicationRequests"} & set(record.unavailable):
        return made(name, "unknown", "medication list could not be retrieved")
    found = [(e, why) for e in record.exposures if is_active_on(e, record.today, record.today)
             for cls, why in CYP3A4_MODULATORS.items() if cls in e.drug_classes]
    if not found:
        return made(name, "met", "none active on the medication list")
    return made(
        name, "not-met",
        "; ".join(f"{e.ingredient} active ({why})" for e, why in found)
        + ": change the co-medication, or check troughs within days and adjust the dose",
        evidence=tuple(Evidence(e.ingredient, why, e.start, e.source) for e, why in found),
    )


def prerequisites_for(option: str, drugs: tuple[str, ...], r: PatientRecord, p: Parameters) -> tuple[Prerequisite, ...]:
    """The prerequisites of one option class (of its drugs named in `drugs`) for this patient."""
    if option == "c5-inhibitor":
        out = [meningococcal_prerequisite(r, p)]
        if "zilucoplan" in drugs:
            out.append(lipase_amylase_prerequisite(r, p))
        out.append(infection_prerequisite(r))
        return tuple(out)
    if option in B_CELL_SCREENED_OPTIONS:
        out = [hbv_prerequisite(r, p), igg_prerequisite(r, p), infection_prerequisite(r)]
        if option == "anti-cd19":
            out.append(Prerequisite("Tuberculosis screen before inebilizumab", "to-confirm",
                                    "not read from the record: confirm a TB screen", applies_to=("inebilizumab",), key="tb"))
        if option == "blys-april":
            # The telitacicept label's own checks were not retrieved (K): the B-cell screen above is
            # this project's design (I; clinical-sources-2.md §3), plus no live vaccines.
            out.append(Prerequisite("No live vaccines during telitacicept; check the label's pre-treatment tests",
                                    "to-confirm", "the Chinese label was not retrieved: confirm its checks",
                                    key="telitacicept-checks"))
        return tuple(out)
    if option == "tacrolimus":
        return (cyp3a4_prerequisite(r),)
    if option == "fcrn-antagonist":
        return (igg_prerequisite(r, p), infection_prerequisite(r),
                Prerequisite("Vaccinations up to date before each cycle (no live vaccines)", "to-confirm",
                             "confirm before each cycle", key="vaccinations"))
    return ()

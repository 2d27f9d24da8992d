"""The MG summary: the patient's course and the refractory assessment as data, for the SMART page.

What a neurologist looks at before calling a patient refractory (issue 18): the decision of every
definition with the values and dates behind each criterion; MG-ADL (with its items) and QMG over
time beside the criterion-2 threshold; each drug's exposure with the part at adequate dose, the
rescue courses and biologic cycles; antibody results with their assay; what is missing; the
next-line options with doses for this patient.

It is built from the same record, assessment and therapy options as the patient-view cards
(`context.evaluate`, `gmg.assessment.assess`, `gmg.therapy.therapy_options`) and says the outcome,
the criteria, the evidence and the gaps in the cards' own words (the same catalog and phrase
table, in the call's language), so the page never disagrees with the cards: one wording per
decision. The decision line is the assessment (or ocular) card's summary, the exacerbation and
re-evaluation lines are the cards' lines, the data gaps, rapid options and each option's reason
and state are what the cards say (registry messages, `card_text.detail`), as plain text. The page
has the room the cards do not: every regimen, label note and prerequisite in full. No web
concerns: the charts and the HTML are made from this in `cds_service/smart`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gmg import dosing
from gmg.adequacy import (
    GLUCOCORTICOID_RULE,
    NSIST_RULES,
    ConventionalTherapy,
    DrugAdequacy,
    cyclophosphamide_dose,
    glucocorticoid_dose,
    nsist_dose,
)
from gmg.assessment import Assessment
from gmg.criteria_cn import CRITERION_TEXT
from gmg.exposure import effective_end, was_taken
from gmg.findings import Evidence, Finding
from gmg.parameters import Parameters
from gmg.record import MG_ADL_ITEMS, MG_ADL_OCULAR_ITEMS, MedicationExposure, PatientRecord, RescueCourse
from gmg.rapid import rapid_options
from gmg.therapy import OPTION_TITLE, therapy_options
from gmg.vocabulary import members

from . import card_text
from .assessment_cards import assessment_summary, gap_name, serotype_words, status_words
from .context import Evaluation, evaluate
from .i18n import clinical, concept_name, label_note, t, use_language
from .registry import HookCall
from .therapy_cards import option_reason, option_title, previous_use, status_mark

# Drug groups on the therapy timeline, in display order: maintenance glucocorticoids, the
# conventional non-steroidal immunosuppressants, targeted (biologic) therapy, symptomatic therapy.
TARGETED_CLASSES = ("c5-inhibitor", "fcrn-antagonist", "b-cell-depleting", "anti-cd19", "anti-cd20")
SYMPTOMATIC = frozenset({"pyridostigmine"})
GROUPS = ("glucocorticoid", "nsist", "targeted", "symptomatic")


# -- the data the page shows -------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceItem:
    label: str
    value: str
    when: date | None
    source: str | None


@dataclass(frozen=True)
class CriterionRow:
    id: str  # "c1", "c2", "c3-1" .. "c3-4"
    name: str  # the card's wording of the criterion
    met: bool | None
    evidence: tuple[EvidenceItem, ...]
    missing: tuple[str, ...]  # names of the data that would decide it
    note: str


@dataclass(frozen=True)
class DefinitionRow:
    key: str  # "cn" | "icg2016" | "jp2022"
    met: bool | None
    result: str  # in words (for the CN consensus: its outcome status)
    reading: str  # why, with the values


@dataclass(frozen=True)
class AdlPoint:
    when: date
    total: int
    items: tuple[tuple[str, int], ...] | None  # (item key, points) in MG-ADL order, when recorded
    ocular_share: float | None
    source: str

    @property
    def ocular_points(self) -> int | None:
        return None if self.items is None else sum(v for k, v in self.items if k in MG_ADL_OCULAR_ITEMS)


@dataclass(frozen=True)
class ScorePoint:
    when: date
    value: int
    source: str


@dataclass(frozen=True)
class Threshold:
    """Criterion 2 as the rules read it (parameters with their provenance)."""

    mg_adl_min: float
    ocular_share_max: float
    score_max_age_days: int
    tag: str
    source: str  # the parameter's provenance as recorded (for auditors: `gmg-cds parameters`)
    provenance: str  # the same in a clinician's words (what the page says)


@dataclass(frozen=True)
class TherapySpan:
    """One period of one drug (one FHIR resource) as the rules read it."""

    start: date
    end: date | None  # None: the chart gives no end (never guessed)
    ongoing: bool
    dose: str | None  # as recorded: "45 mg/d", "150 mg/d", or the dosage text
    rule_dose: str | None  # in the adequacy rule's basis: "0.64 mg/kg/d", "2.14 mg/kg/d"
    adequacy: str  # "adequate" | "below" | "unknown" | "not-judged" (no adequacy rule)
    source: str


@dataclass(frozen=True)
class Administration:
    """One dose given on one day (biologic cycles, infusions)."""

    when: date
    dose: str | None
    source: str


@dataclass(frozen=True)
class DrugRow:
    ingredient: str
    name: str
    group: str  # one of GROUPS
    spans: tuple[TherapySpan, ...]
    administrations: tuple[Administration, ...]
    adequacy: str | None  # the card's one-line adequacy summary (glucocorticoids, NSISTs)
    status: str | None  # "adequate" | "inadequate" | "unknown" | "not-tried" | None


@dataclass(frozen=True)
class RescueEpisode:
    modality: str  # in words ("IVIG", "PLEX + IVIG")
    start: date
    end: date
    counted: bool  # counted for criterion 3-4
    sources: tuple[str, ...]


@dataclass(frozen=True)
class AntibodyRow:
    target: str  # in words
    assay: str  # "CBA", "RIPA", "ELISA", "other" or "unknown" (not recorded)
    result: str  # "positive" | "negative" | "equivocal" | "unknown"
    value: str | None  # "12.3 nmol/L"
    when: date
    source: str


@dataclass(frozen=True)
class Gap:
    """Something missing: a rule's data gap (its sentence), a kind of data that could not be
    retrieved (`unavailable`, text = the prefetch key), or a data-quality note of the mapping
    (`note`, text = what could not be read)."""

    code: str  # "data-gap.weight", ... | "unavailable" | "note"
    text: str
    source: str | None = None


@dataclass(frozen=True)
class OptionDrug:
    name: str
    dose: str
    note: str
    label: str


@dataclass(frozen=True)
class OptionRow:
    rank: int | None
    title: str
    state: str  # "suggested", "current", "intolerance", ...
    why: str  # the card's reason for a suggested class ("consensus: recommended"), else its state in words
    previous: str  # the card's line on an earlier use of the class ("" when none)
    drugs: tuple[OptionDrug, ...]
    prerequisites: tuple[tuple[str, str, str], ...]  # (name, status in words, detail)


@dataclass(frozen=True)
class Summary:
    patient_id: str
    today: date
    language: str
    mg_status: str  # "no-mg" | "excluded" | "ocular-only" | "generalized"
    cn_status: str | None
    headline: str  # the assessment (or ocular) card's summary line, word for word
    status_text: str  # the CN outcome in words
    serotype: str  # in words
    acute: bool
    acute_text: str  # during an exacerbation: the assessment card's line about it
    reevaluate_text: str  # not yet refractory: the optimisation card's re-evaluation line
    definitions: tuple[DefinitionRow, ...]
    criteria: tuple[CriterionRow, ...]
    threshold: Threshold
    mg_adl: tuple[AdlPoint, ...]  # oldest first
    qmg: tuple[ScorePoint, ...]  # oldest first
    drugs: tuple[DrugRow, ...]
    rescue: tuple[RescueEpisode, ...]
    antibodies: tuple[AntibodyRow, ...]
    gaps: tuple[Gap, ...]
    options: tuple[OptionRow, ...]
    rapid: tuple[tuple[str, str], ...]  # (finding code, sentence): PLEX / IVIG / IVMP with doses
    dosing_basis: tuple[tuple[str, str, date], ...]  # ("weight", "82 kg", date) ...
    parameter_version: str
    interim_line: str | None  # the interim thresholds that decided it, in the cards' words
    reevaluate_on: date | None

    @property
    def latest_mg_adl(self) -> AdlPoint | None:
        return self.mg_adl[-1] if self.mg_adl else None


# -- building it ---------------------------------------------------------------------------------


def summarize(call: HookCall) -> Summary:
    """The summary of the patient in a (page) call: record and assessment as the hooks make them."""
    with use_language(call.language):
        return build_summary(evaluate(call), call.language)


def build_summary(ev: Evaluation, language: str) -> Summary:
    """The summary in `language` (call inside `use_language(language)` for the cards' words)."""
    record, a, params = ev.record, ev.assessment, ev.params
    options, rapid, basis = _options(record, a, params)
    return Summary(
        patient_id=record.patient_id,
        today=record.today,
        language=language,
        mg_status=a.mg_status,
        cn_status=a.cn_status,
        headline=(assessment_summary(a) if a.mg_status == "generalized"
                  else t("summary.ocular") if a.mg_status == "ocular-only" else ""),
        status_text=status_words(a.cn_status) if a.cn_status else "",
        serotype=serotype_words(a.serotype),
        acute=a.acute,
        acute_text=next((_plain(card_text.detail(f, params=params)) for f in a.findings
                         if f.code == "acute.exacerbation"), "") if a.acute else "",
        reevaluate_text=_plain(t("text.reevaluation-from", date=a.reevaluate_on.isoformat())) if a.reevaluate_on else "",
        definitions=_definitions(a),
        criteria=_criteria(a),
        threshold=_threshold(params),
        mg_adl=tuple(
            AdlPoint(s.when, s.total, tuple((k, s.items[k]) for k in MG_ADL_ITEMS) if s.items else None,
                     s.ocular_share, s.source)
            for s in record.mg_adl
        ),
        qmg=tuple(ScorePoint(s.when, s.value, s.source) for s in record.scores if s.kind == "qmg-total"),
        drugs=_drug_rows(record, a, params),
        rescue=_rescue(record, a),
        antibodies=tuple(_antibody(r) for r in record.antibodies),
        gaps=_gaps(record, a, options + rapid, params),
        options=tuple(_option_row(f) for f in options if "option" in f.data),
        rapid=tuple((f.code, _plain(card_text.detail(f, params=params))) for f in rapid
                    if not f.code.startswith("data-gap.")),
        dosing_basis=basis,
        parameter_version=params.version,
        interim_line=card_text.interim_line(a.deciding_parameters, params),
        reevaluate_on=a.reevaluate_on,
    )


def _plain(text: str) -> str:
    """A card line for the page, which is HTML, not markdown: without the emphasis marks of the
    cards' own messages ("**IVIG** 2 g/kg" -> "IVIG 2 g/kg")."""
    return text.replace("**", "")


def _evidence(items: tuple[Evidence, ...]) -> tuple[EvidenceItem, ...]:
    # the cards' reading of a fact: a concept key ("mycophenolate-mofetil") said as its name
    return tuple(EvidenceItem(card_text.fact_label(e.label), card_text.fact_value(e.value), e.when, e.source)
                 for e in items)


def _criteria(a: Assessment) -> tuple[CriterionRow, ...]:
    if a.cn is None:
        return ()
    rows = []
    for c in a.cn.criteria:
        evidence = _evidence(c.evidence)
        if c.id == "c1" and a.diagnosis is not None:
            evidence = tuple(EvidenceItem(concept_name(cond.concept), "", cond.start, cond.source)
                             for cond in a.diagnosis.conditions)
        elif c.id in ("c3-1", "c3-2") and not evidence and a.conventional is not None \
                and a.conventional.adequate is False:
            # not met because conventional therapy has not been adequate: say which drug fell short
            evidence = tuple(EvidenceItem(clinical(d.summary), "", None, None)
                             for d in (a.conventional.steroid, *a.conventional.nsists))
        rows.append(CriterionRow(
            id=c.id,
            name=t(f"criterion.{c.id}") if c.id in CRITERION_TEXT else c.id,
            met=c.met,
            evidence=evidence,
            missing=tuple(dict.fromkeys(gap_name(g.code) for g in c.gaps)) if c.met is None else (),
            note=clinical(c.note),
        ))
    return tuple(rows)


def _result_words(met: bool | None) -> str:
    return t({True: "result.met", False: "result.not-met", None: "result.undetermined"}[met])


def _definitions(a: Assessment) -> tuple[DefinitionRow, ...]:
    if a.mg_status != "generalized":
        return ()
    cn_met = {"met": True, "indeterminate": None}.get(a.cn_status or "", False)
    return (
        DefinitionRow("cn", cn_met, status_words(a.cn_status), _cn_reading(a, cn_met)),
        DefinitionRow("icg2016", a.icg2016_met, _result_words(a.icg2016_met),
                      clinical(a.icg2016.explanation) if a.icg2016 else ""),
        DefinitionRow("jp2022", a.jp2022_met, _result_words(a.jp2022_met),
                      clinical(a.jp2022.explanation) if a.jp2022 else ""),
    )


def _cn_reading(a: Assessment, met: bool | None) -> str:
    """The primary definition's row: which criteria decided it (their values follow in the
    criteria table): the criteria that hold when met, else those that do not hold or could not
    be decided."""
    if a.cn is None:
        return ""
    wanted = {True: (True,), False: (False,), None: (None,)}[met]
    ids = [c.id for c in a.cn.criteria if c.met in wanted]
    if not ids:
        return ""
    key = {True: "summary.cn-reading.met", False: "summary.cn-reading.not-met", None: "summary.cn-reading.undetermined"}[met]
    return t(key, criteria=t("list.comma").join(ids))


def _threshold(params: Parameters) -> Threshold:
    entry = params.entries["mg_adl_min"]
    return Threshold(
        mg_adl_min=float(params["mg_adl_min"]),
        ocular_share_max=float(params["ocular_share_max"]),
        score_max_age_days=int(params["score_max_age_days"]),
        tag=entry.tag,
        source=entry.source,
        provenance=t(f"provenance.{entry.tag}"),
    )


# -- the therapy timeline -------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _group(e: MedicationExposure) -> str | None:
    if e.ingredient in members("glucocorticoid") or "glucocorticoid" in e.drug_classes:
        return None if e.route == "iv" else "glucocorticoid"  # IV pulses are rescue (IVMP)
    if e.ingredient in members("nsist") or "nsist" in e.drug_classes:
        return "nsist"
    if any(e.ingredient in members(c) or c in e.drug_classes for c in TARGETED_CLASSES):
        return "targeted"
    if e.ingredient in SYMPTOMATIC:
        return "symptomatic"
    return None  # not MG therapy (or rescue: IVIG is shown with the rescue courses)


def _reading(e: MedicationExposure, group: str, record: PatientRecord, params: Parameters) -> tuple[str | None, str]:
    """(dose in the adequacy rule's basis, adequacy) of one exposure, read by the rules' own dose
    readers (glucocorticoids as prednisone equivalent per kg)."""
    if group == "glucocorticoid":
        r = glucocorticoid_dose(e, record, params)
    elif e.ingredient == "cyclophosphamide":
        r = cyclophosphamide_dose(e, params)
    elif e.ingredient in NSIST_RULES:
        r = nsist_dose(e, NSIST_RULES[e.ingredient], record, params)
    else:
        return None, "not-judged"
    adequacy = {True: "adequate", False: "below", None: "unknown"}[r.adequate]
    return (f"{_fmt(r.value)} {r.unit}" if r.value is not None else None), adequacy


def _plain_dose(e: MedicationExposure) -> str | None:
    if e.kind == "administration" and e.dose_mg is not None:
        return f"{_fmt(e.dose_mg)} mg"
    if e.mg_per_day is not None:
        return f"{_fmt(e.mg_per_day)} mg/d"
    if e.mg_per_week is not None:
        return f"{_fmt(e.mg_per_week)} mg/wk"
    if e.dose_mg is not None:
        return f"{_fmt(e.dose_mg)} mg"
    return e.dose_text


def _drug_rows(record: PatientRecord, a: Assessment, params: Parameters) -> tuple[DrugRow, ...]:
    today = record.today
    rescue_sources = {s for c in record.rescue_courses for s in c.sources}
    by_drug: dict[str, list[tuple[MedicationExposure, str]]] = {}
    for e in record.exposures:
        group = _group(e)
        if group is None or e.source in rescue_sources or not was_taken(e, today):
            continue
        by_drug.setdefault(e.ingredient, []).append((e, group))
    adequacy = _adequacy_by_drug(a.conventional)
    rows = []
    for ingredient, items in by_drug.items():
        group = items[0][1]
        spans, given = [], []
        for e, _ in sorted(items, key=lambda x: (x[0].start or today, x[0].source)):
            assert e.start is not None  # was_taken
            if e.kind == "administration":
                given.append(Administration(e.start, _plain_dose(e), e.source))
                continue
            rule_dose, judged = _reading(e, group, record, params)
            end = effective_end(e, today)
            spans.append(TherapySpan(e.start, end, end is not None and end >= today and e.end is None,
                                     _plain_dose(e), rule_dose, judged, e.source))
        verdict = adequacy.get("glucocorticoid" if group == "glucocorticoid" else ingredient)
        rows.append(DrugRow(
            ingredient=ingredient,
            name=concept_name(ingredient),
            group=group,
            spans=tuple(spans),
            administrations=tuple(given),
            adequacy=clinical(verdict.summary) if verdict is not None else None,
            status=verdict.status if verdict is not None else None,
        ))
    order = {g: i for i, g in enumerate(GROUPS)}
    first = {r.ingredient: min([s.start for s in r.spans] + [g.when for g in r.administrations]) for r in rows}
    return tuple(sorted(rows, key=lambda r: (order[r.group], first[r.ingredient], r.ingredient)))


def _adequacy_by_drug(conv: ConventionalTherapy | None) -> dict[str, DrugAdequacy]:
    if conv is None:
        return {}
    return {d.drug: d for d in (conv.steroid, *conv.nsists)}


def _modality_words(modality: str) -> str:
    abbreviations = {"ivig": "IVIG", "plex": "PLEX", "ivmp": "IVMP", "lpe": "LPE"}
    return " + ".join(abbreviations.get(m) or concept_name(m) for m in modality.split("+"))


def _rescue(record: PatientRecord, a: Assessment) -> tuple[RescueEpisode, ...]:
    if a.rescue is not None:
        episodes: tuple[RescueCourse, ...] = a.rescue.all_courses
        counted = {(c.start, c.end) for c in a.rescue.counted}
    else:
        episodes, counted = record.rescue_courses, set()
    return tuple(
        RescueEpisode(_modality_words(c.modality), c.start, c.end, (c.start, c.end) in counted, c.sources)
        for c in sorted(episodes, key=lambda c: (c.start, c.end))
    )


# -- antibodies, gaps, options ----------------------------------------------------------------------


def _antibody(r: Any) -> AntibodyRow:
    assay = {"cba": "CBA", "ripa": "RIPA", "elisa": "ELISA"}.get(r.assay, r.assay)  # "other" | "unknown"
    value = f"{r.value:g} {r.unit or ''}".strip() if r.value is not None else None
    return AntibodyRow(concept_name(r.target), assay, r.result, value, r.when, r.source)


def _gaps(record: PatientRecord, a: Assessment, options: tuple[Finding, ...], params: Parameters) -> tuple[Gap, ...]:
    out: dict[tuple[str, str], Gap] = {}
    for f in list(a.findings) + list(options):
        if f.code.startswith("data-gap."):
            source = next((e.source for e in f.evidence if e.source), None)
            text = _plain(card_text.detail(f, params=params))  # as the cards say it
            out.setdefault((f.code, str(f.data.get("drug"))), Gap(f.code, text, source))
    for key in sorted(record.unavailable):
        out.setdefault(("unavailable", key), Gap("unavailable", key))
    for note in record.notes:
        out.setdefault(("note", note.source + note.issue), Gap("note", clinical(note.issue), note.source))
    return tuple(out.values())


def _options(record: PatientRecord, a: Assessment, params: Parameters
             ) -> tuple[tuple[Finding, ...], tuple[Finding, ...], tuple[tuple[str, str, date], ...]]:
    """The therapy card's options and the rapid-therapy card's findings, and the recorded
    measurements their doses were computed from."""
    if a.mg_status != "generalized":
        return (), (), ()
    inputs = dosing.dosing_inputs(record, params)
    basis = []
    if inputs.weight_kg is not None:
        basis.append(("weight", f"{inputs.weight_kg.value:g} kg", inputs.weight_kg.when))
    if inputs.height_cm is not None:
        basis.append(("height", f"{inputs.height_cm.value:g} cm", inputs.height_cm.when))
    if inputs.haematocrit_fraction is not None:
        basis.append(("haematocrit", f"{inputs.haematocrit_fraction.value * 100:.0f}%", inputs.haematocrit_fraction.when))
    return therapy_options(record, a, params, inputs), rapid_options(record, a, params, inputs), tuple(basis)


def _option_row(f: Finding) -> OptionRow:
    data = f.data
    option = str(data.get("option", ""))
    state = str(data.get("state", "suggested"))
    drugs = []
    for d in data.get("drugs", []):
        name = concept_name(d["ingredient"], d["display"]) if d.get("ingredient") else d["display"]
        drugs.append(OptionDrug(
            name=name,
            dose=clinical(d.get("dose") or ""),
            note=clinical(d.get("note") or ""),
            label=label_note(d.get("ingredient", ""), d.get("label", "")),
        ))
    prerequisites = tuple(
        (clinical(p["name"]), status_mark(p["status"]), clinical(p["detail"]))
        for p in data.get("prerequisites", []) or ()
    ) if state == "suggested" else ()
    why = option_reason(f)  # the card's words, and (for a suggested class) its line on an earlier use
    previous = (previous_use(f) or "") if state == "suggested" else ""
    return OptionRow(
        rank=data.get("rank"),
        title=option_title(option, OPTION_TITLE.get(option, f.code)),
        state=state,
        why=why,
        previous=previous,
        drugs=tuple(drugs),
        prerequisites=prerequisites,
    )

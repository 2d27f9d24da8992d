"""Patient-view cards for next-line therapy options and rapid therapy (gmg-rules.md §5, §9).

Three cards: the long-term options for a refractory patient (one line per class: its reason, the
preferred drug with its regimen for this patient, the others by their first dose; what is not yet
in place before the drugs it applies to, what to confirm at the bedside, the measurements the doses
rest on; one suggestion per named drug with a draft MedicationRequest, plus one for the missing
prerequisite labs and vaccines), and the rapid options (PLEX / IVIG / IVMP), either for an
exacerbation now (shown first, with draft orders) or for one that may occur (doses and baseline
labs only); and, after rituximab, the follow-up of B cells and IgG and when to consider redosing.
Every regimen, label note and piece of evidence is also on the MG summary page the cards link to.
All list their findings in `extension["gmg-cds"].findings`, name the parameter-set
version and any interim (D-lo/K) parameter used, and offer the standard override reasons.
"""

from __future__ import annotations

from typing import Any

from fhir_mappings import suggestions as fhir
from gmg import dosing
from gmg.findings import Finding, highest_indicator
from gmg.follow_up import rituximab_follow_up
from gmg.parameters import Parameters
from gmg.rapid import rapid_options
from gmg.record import PatientRecord
from gmg.drugs import DEFAULT_REGION, DRUGS
from gmg.therapy import (
    OPTION_TITLE,
    SEROTYPE_LABEL,
    AssessmentView,
    prerequisite_orders,
    therapy_options,
)

from . import card_text, context
from .cards import Action, Card, Source, Suggestion
from .i18n import clinical, concept_name, label_note, override_reasons, t, t_or

PREREQUISITE_STATUSES = ("met", "not-met", "missing", "recent", "positive", "unknown", "to-confirm")
OPTION_STATES = ("current", "intolerance", "pregnancy-avoid", "pregnancy-specialist", "deferred-infection")
# Prerequisites whose detail adds nothing to the mark (met, or to confirm at the bedside).
_QUIET = ("met", "to-confirm")
RAPID_INGREDIENTS = ("ivig", "methylprednisolone")
# The option classes that are biologics (every class but tacrolimus).
BIOLOGIC_OPTIONS = frozenset({"c5-inhibitor", "anti-cd20", "fcrn-antagonist", "anti-cd19", "blys-april"})


def therapy_source() -> Source:
    return Source(label=t("source.therapy"))


def rapid_source() -> Source:
    return Source(label=t("source.rapid"))


def status_mark(status: str) -> str:
    return t(f"prerequisite.{status}") if status in PREREQUISITE_STATUSES else status


def option_title(option: str, fallback: str) -> str:
    return t_or(f"option.{option}", clinical(fallback))


def serotype_label(serotype: str) -> str:
    return t_or(f"serotype-label.{serotype}", serotype)


def _summary(text: str) -> str:
    return text if len(text) <= 139 else text[:136].rstrip(" ,;") + "…"


def _drug_name(d: dict[str, Any]) -> str:
    if not d.get("ingredient"):
        return d["display"]
    return t_or(f"short-name.{d['ingredient']}", concept_name(d["ingredient"], d["display"]))


def _label_words(d: dict[str, Any], serotype: str, region: str) -> str | None:
    """A drug's label, said where it changes the decision: off-label in MG ("off-label in MG"), or
    the note of a regulator other than the default's (the full notes are in the extension)."""
    info = DRUGS.get(d.get("ingredient", ""))
    if info is None:
        return None
    if region in info.regional_notes:
        return label_note(d.get("label_id") or d.get("ingredient", ""), d["label"])
    if not info.labelled_serotypes:
        return t("label.off-label")
    return None


def _regimen_words(r: dict[str, str], full: bool) -> str:
    """A regimen as a drug's line says it: its name and first dose, and (`full`) what follows. The
    bracketed remark (band, weight: the dosing-basis line says the weight) and the interval to the
    next cycle (in the drafted order's text) are left to the MG summary page."""
    words = " ".join(x for x in (r.get("name"), r["first"]) if x)
    if full and r.get("then"):
        words += f", {r['then']}"
    return clinical(words)


def _said_notes(d: dict[str, Any], params: Parameters, set_aside: frozenset[str] = frozenset()) -> list[str]:
    """A drug's notes the card says: a data gap in the card's words (the measurement that is
    missing, or whose latest value was set aside: `set_aside`), the others as the rules wrote
    them, but a value to verify that the card's interim line names (the drug's dose rests on an
    interim parameter)."""
    interim = bool(params.interim(*(p for p in d.get("parameters", ()) if p in params.entries)))
    out = []
    for n in d.get("notes", ()):
        if n["kind"] == "verify" and interim:
            continue
        gap = d.get("data_gap")
        if n["kind"] == "data-gap" and gap:
            key = "drug-gap.bsa" if _dosed(d) else "drug-gap.dose"  # a dosed drug: its BSA regimen
            why = "drug-gap.set-aside" if gap in set_aside else "drug-gap.missing"
            out.append(t(key, why=t(why, measure=t_or(f"gap.{gap}", gap))))
            continue
        out.append(clinical(n["text"]))
    return out


def _drug_notes(d: dict[str, Any], serotype: str, region: str, params: Parameters,
                set_aside: frozenset[str] = frozenset()) -> list[str]:
    notes = _said_notes(d, params, set_aside)
    label = _label_words(d, serotype, region)
    if label:
        notes.append(label)
    return notes


def _drug_line(d: dict[str, Any], serotype: str, region: str, params: Parameters, full: bool = True,
               then: bool = True, set_aside: frozenset[str] = frozenset(), named: bool = True) -> str:
    """"Eculizumab 900 mg IV weekly × 4": a drug with its dose for this patient (`full`: every
    regimen and the drug's notes, with what follows the first dose if `then`; else the first dose
    of its preferred regimen), or the drug with why it has none."""
    name = _drug_name(d)
    notes = _drug_notes(d, serotype, region, params, set_aside)
    extra = t("text.in-brackets", text=t("list.separator").join(notes)) if notes else ""
    regimens = d.get("regimens") or ()
    if not named and _dosed(d) and full:  # the class's own name already names it ("Tacrolimus")
        return t("text.dose-only", dose=t("text.or").join(_regimen_words(r, then) for r in regimens), extra=extra)
    if _dosed(d) and not full and d.get("orders"):  # an alternative: its first dose, in short
        return t("text.drug-dose", drug=name, dose=_amount(d["orders"][0]["dose_mg"]), extra="")
    if _dosed(d):
        dose = t("text.or").join(_regimen_words(r, full and then) for r in (regimens if full else regimens[:1]))
        return t("text.drug-dose", drug=name, dose=dose, extra=extra if full else "")
    return t("text.drug-note", drug=name, note=_why_no_dose(d, notes))


def _dosed(d: dict[str, Any]) -> bool:
    return d.get("state") in ("suggest", "current", "withheld") and bool(d.get("regimens"))


def _why_no_dose(d: dict[str, Any], notes: list[str]) -> str:
    state = str(d.get("state"))
    return t("list.separator").join(notes) or t_or(f"drug-state.{state}", state)


def _drug_list(drugs: list[dict[str, Any]], serotype: str, region: str, params: Parameters, option: str = "",
               set_aside: frozenset[str] = frozenset()) -> str:
    """The drugs of one class in a line: the preferred (first dosed) drug with its regimens (what
    follows the first dose too when it is the class's only drug), then the others by their first
    dose; drugs without a dose that share a reason are named together ("Ravulizumab, Zilucoplan:
    no weight recorded ...")."""
    first = next((i for i, d in enumerate(drugs) if _dosed(d)), None)
    lead = ""
    if first is not None:
        lead = _drug_line(drugs[first], serotype, region, params, then=len(drugs) == 1, set_aside=set_aside,
                          named=drugs[first].get("ingredient") != option)
    others: list[str] = []
    undosed: dict[str, list[str]] = {}
    for i, d in enumerate(drugs):
        if i == first:
            continue
        if _dosed(d):
            others.append(_drug_line(d, serotype, region, params, full=False))
        else:
            undosed.setdefault(_why_no_dose(d, _drug_notes(d, serotype, region, params, set_aside)),
                               []).append(_drug_name(d))
    others += [t("text.drug-note", drug=t("list.comma").join(names), note=why) for why, names in undosed.items()]
    if not lead:
        return t("list.separator").join(others)
    return lead + (t("text.or-also", drugs=t("list.comma").join(others)) if others else "")


def _prerequisite_item(p: dict[str, Any]) -> str:
    """"✘ MenACWY, MenB: no dose on record": a mark, a short name, and what is wrong (for a missing
    one what the chart lacks, named by the orders that fill it; the order buttons and the order
    card say the rest)."""
    mark = t_or(f"prerequisite-symbol.{p['status']}", p["status"])
    orders = p.get("orders") or ()
    if p["status"] == "missing" and orders:
        names = t("list.comma").join(_short(o["concept"]) for o in orders)
        if all(o["kind"] == "vaccine" for o in orders):
            return t("prerequisite.missing-vaccines", mark=mark, names=names)
        if p.get("window_days") is not None:
            return t("prerequisite.missing-labs", mark=mark, names=names, days=p["window_days"])
    name = t_or(f"prerequisite-name.{p.get('key')}", clinical(p["name"]))
    detail = ""
    if p["status"] not in _QUIET:
        # a missing one: what the chart lacks (the order buttons and the order card say what to do)
        said = p.get("finding", p["detail"]) if p["status"] == "missing" else p["detail"]
        detail = t("text.prerequisite-detail", detail=clinical(said))
    return t("text.prerequisite", mark=t_or(f"prerequisite-symbol.{p['status']}", p["status"]), name=name, detail=detail)


def _applies(data: dict[str, Any], p: dict[str, Any]) -> tuple[str, ...]:
    drugs = [d["ingredient"] for d in data.get("drugs", []) if d.get("state") == "suggest"]
    return tuple(i for i in (p.get("drugs") or drugs) if i in drugs)


def _not_in_place(findings: tuple[Finding, ...]) -> list[str]:
    """What is not yet in place before the suggested drugs, once per prerequisite with every drug it
    applies to (meningococcal vaccination: eculizumab, ravulizumab, zilucoplan; lipase and
    amylase: zilucoplan; the hepatitis B screen: rituximab and inebilizumab)."""
    by_item: dict[str, list[str]] = {}
    for f in findings:
        if f.data.get("state") != "suggested":
            continue
        names = {d["ingredient"]: _drug_name(d) for d in f.data.get("drugs", [])}
        option = f.data.get("option", "")
        suggested = [d["ingredient"] for d in f.data.get("drugs", []) if d.get("state") == "suggest"]
        for p in f.data.get("prerequisites", []) or []:
            applies = _applies(f.data, p)
            if applies and p["status"] not in _QUIET:
                # the class when it applies to every drug of a class of several ("C5 inhibitors"),
                # else every drug by name
                whole = len(suggested) > 1 and set(applies) == set(suggested)
                said = [t_or(f"option-plural.{option}", option)] if whole else [names[i] for i in applies]
                by_item.setdefault(_prerequisite_item(p), []).extend(said)
    return [t("text.before-item", drugs=t("list.comma").join(dict.fromkeys(drugs)), item=item) for item, drugs in by_item.items()]


def _classes(options: list[str]) -> str:
    """The option classes a bedside check concerns, short ("FcRn"; three or more biologic classes:
    "biologics", which they all are)."""
    unique = list(dict.fromkeys(options))
    if len(unique) >= 3 and not set(unique) - BIOLOGIC_OPTIONS:
        return t("option-group.biologics")
    return t("list.comma").join(t_or(f"option-short.{o}", o) for o in unique)


def _to_confirm(findings: tuple[Finding, ...]) -> str | None:
    """The prerequisites the chart cannot answer, once for the card, each with the classes it concerns."""
    by_name: dict[str, list[str]] = {}
    for f in findings:
        if f.data.get("state") != "suggested":
            continue
        option = f.data.get("option", "")
        for p in f.data.get("prerequisites", []) or []:
            if p["status"] == "to-confirm" and _applies(f.data, p):
                name = t_or(f"prerequisite-name.{p.get('key')}", clinical(p["name"]))
                by_name.setdefault(name, []).append(option)
    if not by_name:
        return None
    items = [t("text.confirm-item", name=name, drugs=_classes(titles)) for name, titles in by_name.items()]
    return t("line.confirm", items=t("list.separator").join(items))


def option_reason(f: Finding) -> str:
    """Why an option class is on the card, in the card's words (the MG summary page says the same):
    for a suggested class its reason ("consensus: recommended"); for one not suggested its state
    ("current therapy (eculizumab): review the response and the dose")."""
    data = f.data
    state = data.get("state", "suggested")
    if state != "suggested":
        said = t(f"option-state.{state}") if state in OPTION_STATES else str(state)
        if state == "current" and data.get("current"):
            said = t("text.current-drugs", state=said, drugs=t("list.comma").join(card_text.words(i) for i in data["current"]))
        return said
    return t_or(f"option-why.{data.get('serotype', '')}.{data.get('option', '')}", t("option-why.not-restricted"))


def previous_use(f: Finding) -> str | None:
    """"Given before: efgartigimod (last 2024-07-22); review its response and why it stopped."."""
    if not f.data.get("previous"):
        return None
    given = t("list.comma").join(t("text.previous-drug", drug=card_text.words(p["ingredient"]), date=p["last"])
                                 for p in f.data["previous"])
    return t("line.previous", drugs=given)


def _option_lines(f: Finding, region: str, params: Parameters, set_aside: frozenset[str] = frozenset()) -> list[str]:
    data = f.data
    option = data.get("option", "")
    serotype = data.get("serotype", "")
    title = t_or(f"option-head.{option}", option_title(option, OPTION_TITLE.get(option, f.code)))
    rank = data.get("rank", "")
    if data.get("state", "suggested") != "suggested":
        return [t("line.option-state", rank=rank, title=title, state=option_reason(f))]
    # One line per class: the reason, the preferred drug with its regimen for this patient, the
    # others by their first dose (their whole regimen is in their suggestion's draft order and on
    # the MG summary page), and what was given before.
    parts = [t("line.option", rank=rank, title=title, why=option_reason(f),
               drugs=_drug_list(data.get("drugs", []), serotype, region, params, option, set_aside)),
             previous_use(f)]
    return [card_text.join_sentences(p for p in parts if p)]


def _button_label(o: dict[str, Any]) -> str:
    """A short button: the drug's short name ("Eculizumab"; its dose is on the line above and in
    the draft order); a rapid course with its daily dose and days ("IVIG 30 g/day × 5 days")."""
    name = t_or(f"short-name.{o['ingredient']}", concept_name(o["ingredient"], o.get("display", o["ingredient"])))
    mg, timing = o.get("dose_mg"), o.get("timing") or {}
    daily = timing.get("periodUnit") == "d" and timing.get("period") == 1 and (timing.get("frequency") or 1) == 1
    if o.get("ingredient") in RAPID_INGREDIENTS and isinstance(mg, (int, float)) and daily and timing.get("count"):
        return t("suggestion.daily-course", drug=name, dose=_amount(mg), days=timing["count"])
    return t("suggestion.drug", drug=name)


def _amount(mg: float) -> str:
    """A dose as written on a button or an alternative: grams from 10 g, else mg."""
    return card_text.number(round(mg / 1000, 1)) + " g" if mg >= 10000 else card_text.number(round(mg, 1)) + " mg"


def _drug_suggestions(patient_id: str, findings: tuple[Finding, ...] | list[Finding]) -> list[Suggestion]:
    """One suggestion per drug: its preferred regimen for this patient (the dose table's first;
    the alternatives are in the text)."""
    out = []
    for f in findings:
        for d in f.data.get("drugs", []) or []:
            if not isinstance(d, dict) or d.get("state") != "suggest" or not d.get("orders"):
                continue
            out.append(_order_suggestion(patient_id, d["orders"][0]))
    return out


def _order_suggestion(patient_id: str, o: dict[str, Any]) -> Suggestion:
    name = concept_name(o["ingredient"], o.get("display", o["ingredient"]))
    text = clinical(o.get("text", ""))
    return Suggestion(
        label=_button_label(o)[:200],
        actions=(Action("create", t("action.draft-order", what=f"{name} {text}".strip()),
                        fhir.medication_proposal(patient_id, o)),),
    )


def _short(concept: str) -> str:
    """A lab's or vaccine's name as a button says it (HBsAg, MenB), else its name."""
    return t_or(f"short-name.{concept}", concept_name(concept, fhir.display(concept)))


def _prerequisite_suggestions(patient_id: str, orders: list[dict[str, str]]) -> list[Suggestion]:
    """One suggestion for what the card says is missing (each vaccine and lab its own action):
    one click orders it. Named when it is vaccines only or labs only ("Order labs: IgA,
    creatinine"); both together are "the missing vaccines and labs" (the card lists them)."""
    vaccines = [o for o in orders if o["kind"] == "vaccine"]
    labs = [o for o in orders if o["kind"] != "vaccine"]
    actions = tuple(Action("create", t("action.vaccinate", name=_short(o["concept"])),
                           fhir.vaccine_proposal(patient_id, o["concept"], "before a C5 inhibitor (≥ 2 weeks)"))
                    for o in vaccines)
    actions += tuple(Action("create", t("action.order", name=_short(o["concept"])),
                            fhir.lab_proposal(patient_id, o["concept"], "prerequisite for a next-line therapy"))
                     for o in labs)
    if not actions:
        return []
    names = t("list.comma").join(_short(o["concept"]) for o in (*vaccines, *labs))
    label = (t("suggestion.order-missing") if vaccines and labs else
             t("suggestion.order-vaccines", names=names) if vaccines else t("suggestion.order-labs", names=names))
    return [Suggestion(label, actions)]


def _set_aside_lines(findings: tuple[Finding, ...], params: Parameters) -> list[str]:
    """The weight, height or haematocrit whose latest value was set aside (unreadable or
    implausible): named with its date, with the doses it stops and what to record (a plain gap,
    nothing recorded, is said in the dose it stops)."""
    return [card_text.detail(f, params=params) for f in findings
            if f.code.startswith("data-gap.") and f.data.get("set_aside")]


def _measures_used(findings: tuple[Finding, ...]) -> tuple[str, ...]:
    """The measurements the options' doses use: the weight; the height for rituximab 375 mg/m²
    when it was computed (the haematocrit only for plasma volumes, on the rapid card)."""
    bsa = any(d.get("ingredient") == "rituximab" and _dosed(d) and not d.get("data_gap")
              for f in findings for d in f.data.get("drugs", []) or [] if isinstance(d, dict))
    return ("weight", "height") if bsa else ("weight",)


def dosing_basis(record: PatientRecord, params: Parameters, inputs: dosing.DosingInputs | None = None,
                 measures: tuple[str, ...] = ("weight", "height", "haematocrit")) -> str | None:
    """The recorded measurements the doses on the card were computed from (of `measures`), with
    their dates."""
    if inputs is None:
        inputs = dosing.dosing_inputs(record, params)
    items = []
    if inputs.weight_kg is not None and "weight" in measures:
        items.append(t("basis.weight", value=f"{inputs.weight_kg.value:g}", date=inputs.weight_kg.when.isoformat()))
    if inputs.height_cm is not None and "height" in measures:
        items.append(t("basis.height", value=f"{inputs.height_cm.value:g}", date=inputs.height_cm.when.isoformat()))
    if inputs.haematocrit_fraction is not None and "haematocrit" in measures:
        items.append(t("basis.haematocrit", value=f"{inputs.haematocrit_fraction.value * 100:.0f}",
                       date=inputs.haematocrit_fraction.when.isoformat()))
    return t("text.dosing-basis", items=t("list.comma").join(items)) if items else None


def options_card(record: PatientRecord, assessment: AssessmentView, params: Parameters,
                 findings: tuple[Finding, ...], inputs: dosing.DosingInputs | None = None,
                 region: str = DEFAULT_REGION) -> Card | None:
    if not findings:
        return None
    offered = [t_or(f"option-summary.{f.data['option']}", option_title(f.data["option"], OPTION_TITLE[f.data["option"]]))
               for f in findings if f.data.get("option") and f.data.get("state") == "suggested"]
    summary = t("summary.options", options=t("list.comma").join(offered) if offered else t("summary.options-review"))
    # One list: a line per option class, then the other findings (serotype review, thymectomy, ...);
    # a data gap is said with the dose it stops ("no height recorded: the 375 mg/m² regimen is not
    # computed"), a value set aside on a line of its own below.
    set_aside = frozenset(str(f.data["measure"]) for f in findings if f.data.get("set_aside"))
    lines = [f"- {line}" for f in findings if "option" in f.data for line in _option_lines(f, region, params, set_aside)]
    lines += [f"- {card_text.detail(f, params=params)}" for f in findings
              if "option" not in f.data and not f.code.startswith("data-gap.")]
    # the closing paragraph: what is missing before starting (each item with the drugs it applies
    # to), what to confirm at the bedside, what the doses rest on, interim values
    lines.append("")
    before = _not_in_place(findings)
    if before:
        lines.append(t("line.before", items=t("list.separator").join(before)))
    confirm = _to_confirm(findings)
    if confirm:
        lines.append(confirm)
    lines += _set_aside_lines(findings, params)
    basis = dosing_basis(record, params, inputs, _measures_used(findings))
    if basis:
        lines.append(basis)
    if region != DEFAULT_REGION:  # label facts of another regulator than the default's: say whose
        lines.append(t("text.label-region", region=t(f"region.{region}")))
    lines += card_text.footer(params, (p for f in findings for p in f.parameters))
    suggestions = _drug_suggestions(record.patient_id, findings)
    suggestions += _prerequisite_suggestions(record.patient_id, prerequisite_orders(findings))
    return _findings_card(summary, therapy_source(), lines, suggestions, findings, params)


def rapid_card(record: PatientRecord, assessment: AssessmentView, params: Parameters,
               findings: tuple[Finding, ...]) -> Card | None:
    if not findings:
        return None
    codes = [f.code for f in findings]
    lead = t("summary.rapid-now") if assessment.acute else t("summary.rapid-if")
    if "rescue.prefer-plex" in codes:
        choice = t("summary.rapid-prefer-plex")
    elif "rescue.prefer-ivig" in codes:
        choice = t("summary.rapid-prefer-ivig")
    else:
        choice = t("summary.rapid-either")
    summary = t("summary.rapid", lead=lead, choice=choice)
    # Each option in its own words (the registry's message); a data gap is said in the dose it
    # stops (the PLEX volume, the IVIG dose), not again on a line of its own.
    lines = [f"- {card_text.detail(f, params=params)}" for f in findings if not f.code.startswith("data-gap.")]
    # the closing paragraph: what is not yet in place before IVIG, a value set aside, interim values
    lines.append("")
    for f in findings:
        prereqs = [p for p in f.data.get("prerequisites", []) or [] if p["status"] != "met"]
        if prereqs:
            lines.append(t("line.before-ivig", items=t("list.separator").join(_prerequisite_item(p) for p in prereqs)))
    lines += _set_aside_lines(findings, params)
    lines += card_text.footer(params, (p for f in findings for p in f.parameters))
    # A rescue course is drafted when it is needed: during an exacerbation; for one that may occur
    # the card offers the baseline labs only.
    suggestions: list[Suggestion] = []
    for f in findings:
        order = f.data.get("order")
        if not isinstance(order, dict) or not assessment.acute:
            continue
        if order.get("kind") == "procedure":
            resource = fhir.procedure_proposal(record.patient_id, order["concept"], order["text"])
            suggestions.append(Suggestion(t("suggestion.plex-short"), (
                Action("create", clinical(order["text"]), resource),), is_recommended="rescue.prefer-plex" in codes or None))
        else:
            suggestions.append(_order_suggestion(record.patient_id, order))
    labs = [o for f in findings for p in f.data.get("prerequisites", []) or [] for o in p.get("orders", [])]
    suggestions += _prerequisite_suggestions(record.patient_id, labs)
    return _findings_card(summary, rapid_source(), lines, suggestions, findings, params)


def _findings_card(summary: str, source: Source, lines: list[str], suggestions: list[Suggestion],
                   findings: tuple[Finding, ...], params: Parameters) -> Card:
    """The options and rapid cards' common shape: indicator from the findings, any suggestion
    may be taken, the standard override reasons, the findings with the parameter set."""
    return Card(
        summary=_summary(summary),
        indicator=highest_indicator(findings),
        source=source,
        detail="\n".join(lines),
        suggestions=tuple(suggestions),
        selection_behavior="any" if suggestions else None,
        override_reasons=override_reasons(),
        findings=tuple({**f.as_extension(), "parameter_set": params.version} for f in findings),
    )


def follow_up_card(record: PatientRecord, params: Parameters) -> Card | None:
    """After rituximab: B cells and IgG every 3-6 months, the dates on record, and redosing."""
    f = rituximab_follow_up(record, params)
    if f is None:
        return None
    d = f.data
    lo, hi = d["monitorMonths"]
    summary = t("summary.follow-up-rituximab", lo=lo, hi=hi,
                overdue=t("summary.follow-up-overdue") if d["overdue"] else "")
    lines = [t("follow-up.last-dose", date=d["lastDose"])]
    count = d["lastBCellCount"]
    if count and d["bCellCountSinceDose"]:
        lines.append(t("follow-up.last-count", value=count["value"], date=count["date"]))
    elif count:
        lines.append(t("follow-up.count-before-dose", value=count["value"], date=count["date"]))
    else:
        lines.append(t("follow-up.no-count"))
    igg = d["lastIgG"]
    lines.append(t("follow-up.last-igg", value=igg["value"], date=igg["date"]) if igg else t("follow-up.no-igg"))
    lines.append("")
    key = "follow-up.monitor-overdue" if d["overdue"] else "follow-up.monitor-due"
    lines.append(t(key, lo=lo, hi=hi, start=d["checkDueFrom"], end=d["checkDueBy"]))
    lines.append(t("follow-up.redose", months=d["redoseMonths"], date=d["redoseFrom"], pct=f"{d['redoseCd20Percent']:g}"))
    lines += [""] + card_text.footer(params, f.parameters)
    suggestions = _prerequisite_suggestions(record.patient_id, list(d.get("orders") or []))
    return _findings_card(summary, Source(label=t("source.follow-up")), lines, suggestions, (f,), params)


def therapy_cards(record: PatientRecord, assessment: AssessmentView, params: Parameters,
                  region: str | None = None) -> list[Card]:
    """The options card and the rapid-therapy card; during an exacerbation the rapid card first.

    `region`: the regulatory region (label facts; default the site setting GMG_CDS_REGULATORY_REGION)."""
    region = region or context.regulatory_region()
    # The weight, height and haematocrit for dosing, read from the record once for both cards.
    inputs = dosing.dosing_inputs(record, params)
    options = options_card(record, assessment, params, therapy_options(record, assessment, params, inputs, region),
                           inputs, region)
    rapid = rapid_card(record, assessment, params, rapid_options(record, assessment, params, inputs))
    ordered = [rapid, options] if assessment.acute else [options, rapid]
    ordered.append(follow_up_card(record, params))
    return [c for c in ordered if c is not None]

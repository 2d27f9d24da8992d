"""Chinese cards are complete: every sentence a clinician reads is Chinese.

Every card of every demo patient (patient-view; the demo order requests through order-select and
order-sign) and the cards of draft orders that trigger each §6 order-safety check (and the
"could not be read" card) are rendered in zh-CN. From each text a clinician reads (summary,
detail, suggestion labels, action descriptions, link labels, source label, override-reason
displays) the tokens that may stay Latin are removed — codes, units, numbers, dates, identifiers,
the clinical abbreviations, drug names without a Chinese display in the terminology data, trial
acronyms, backticked parameter ids, URLs, NCT ids and the English provenance text after the
Chinese provenance label — and no run of three or more English words may remain.

Both languages give the same finding codes, indicators, suggestion counts and FHIR resources.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pytest

import terminology
from gmg.orders import DraftOrder
from gmg.safety import SAFETY_CODES
from hooks import i18n
from hooks.order_cards import order_cards
from tests.safety_builders import (
    PARAMS,
    TODAY,
    condition,
    days_ago,
    draft,
    exposure,
    lab,
    mg_condition,
    pregnant,
    record,
    run,
    vaccine,
)
from tests.test_i18n_cards import CALLS, _cards, _shape, _strip_resources, _texts

ROOT = Path(__file__).resolve().parents[1]

# -- what may stay Latin in a Chinese card ------------------------------------------------------

# Clinical abbreviations, scales, assays, registries, classes and guideline names used as such in
# Chinese neurology (and FHIR/terminology system names).
ABBREVIATIONS = (
    "ICG 2016", "ICG", "MG-ADL", "MG-QOL15r", "MGC", "QMG", "MGFA", "PIS", "CSR", "PR", "MM", "CBA", "ELISA",
    "RIPA", "IVIG", "IVIg", "SCIG", "PLEX", "LPE", "PE", "IS", "CAR-T", "BCMA", "CD19", "CD20", "CD19+", "FcRn",
    "C5", "AChR", "MuSK", "LRP4", "gMG", "MG", "HBV", "HBsAg", "anti-HBc", "HBV DNA", "DNA", "IgA", "IgG",
    "IgM", "CYP3A4", "CTCAE", "LOINC", "RxNorm", "CVX", "SNOMED", "SNOMED CT", "UCUM", "FHIR", "FDA", "EU",
    "EMA", "NMPA", "PMDA", "D-hi", "D-lo", "IVMP", "eGFR", "HSCT", "REGAIN", "ULN", "HIV", "hCG", "TPMT",
    "MenACWY", "MenB", "MenABCWY", "ACWY", "CRM", "TT", "CKD", "ICU", "IV", "SC", "PO", "gmg-cds",
    "ClinicalTrials.gov", "Yale", "J Neurol Sci", "Sanders et al.", "Lancet Neurol", "Neurology", "Phase",
    "NCT", "PICO", "OR", "B", "T",
)
# Units (after numbers have been removed these are what remains of a quantity).
UNITS = (
    "mg/kg/day", "g/kg/day", "mg/m2", "mg/m²", "mg/kg", "g/kg", "mg/day", "g/day", "mg/dL", "g/dL", "g/L",
    "mg/L", "U/L", "IU/mL", "IU/L", "nmol/L", "pmol/L", "µmol/L", "umol/L", "ng/mL", "µg/L", "mL/min/1.73 m²",
    "mL/min/{1.73_m2}", "mL/min", "mm[Hg]", "mmHg", "copies/mL", "cells/µL", "/µL", "kg", "mg", "g", "mL",
    "L", "dL", "cm", "m", "h", "d", "min", "IU", "U", "x", "ms",
)
TOKEN_PATTERNS = (
    r"https?://\S+",
    r"`[^`]*`",
    r"来源（英文原文）：“[^”]*”",
    r"\bNCT\d{8}\b",
    r"\b\d{4}-\d{2}(-\d{2})?\b",
    r"\b(?:[A-Z][A-Za-z]+)/[A-Za-z0-9._\-]+",  # FHIR references (MedicationRequest/ecu)
    r"\b[a-z]+(?:-[a-z0-9]+)+\b",  # ids and codes in kebab case (safety.c5..., mg-adl-items)
    r"\b[a-z0-9]+(?:\.[a-z0-9-]+)+\b",  # dotted codes
    r"\b[A-Z]\d*[a-z]?(?:-[A-Za-z0-9]+)+\b",  # trial criterion ids (I-age, I2a-refractory, E-pregnancy)
    r"\b(?:achr|musk|lrp4|seronegative|unconfirmed)(?:/(?:achr|musk|lrp4))*\b",  # serotype codes in trial reasons
    r"\b[cC]\d(?:-\d)?\b",  # criterion ids (c3-1)
)


@lru_cache(maxsize=1)
def untranslated_names() -> tuple[str, ...]:
    """Displays of concepts that have no Chinese display (kept in English by design)."""
    out: set[str] = set()
    for path in (ROOT / "terminology" / "data").glob("*.json"):
        for c in json.loads(path.read_text(encoding="utf-8"))["concepts"]:
            if not (c.get("attributes") or {}).get("display_zh"):
                out.add(c["display"])
                out.add(c["display"].split(" (")[0])
    return tuple(out)


@lru_cache(maxsize=1)
def trial_names() -> tuple[str, ...]:
    """Trial products and acronyms (proper nouns)."""
    out: set[str] = set()
    for path in (ROOT / "gmg" / "trials").glob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for key in ("product", "acronym"):
            if doc.get(key):
                out.add(doc[key])
    return tuple(out)


@lru_cache(maxsize=1)
def _strip_re() -> re.Pattern[str]:
    words = sorted({*ABBREVIATIONS, *UNITS, *untranslated_names(), *trial_names()}, key=len, reverse=True)
    literal = "|".join(r"(?<![A-Za-z])" + re.escape(w) + r"(?![A-Za-z])" for w in words)
    return re.compile("|".join((*TOKEN_PATTERNS, literal)))


NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*")
# Latin words separated only by blanks or ASCII punctuation (a Chinese character ends a run).
ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[\s\"#%&'()*+,./:;<=>?@\[\]^_{|}~≥≤×±–—-]+[A-Za-z][A-Za-z'’-]*){2,}")


def english_runs(text: str) -> list[str]:
    stripped = _strip_re().sub(" ", text)
    stripped = NUMBER.sub(" ", stripped)
    return [m.group(0) for m in ENGLISH_RUN.finditer(stripped)]


def test_the_detector_finds_english_and_lets_codes_through():
    assert english_runs("Refractory gMG by Chinese consensus") == ["Refractory   by Chinese consensus"]
    assert english_runs("难治性 gMG（MG-ADL 8，QMG 12），IVIG 2 g/kg，NCT06371040，2026-11-22") == []
    assert english_runs("参数 `ivig.total_g_per_kg`：来源（英文原文）：“Label, section 2.1 of the PI”") == []
    assert english_runs("依库珠单抗 IV × 2 weekly, then every 2 weeks") != []
    assert english_runs("Zilucoplan 0.3 mg/kg SC") == []


# -- order drafts that trigger each §6 check -----------------------------------------------------

NORMAL_IGA = (lab("iga", 200, "mg/dL", days_ago(30)),)
VACCINATED = (vaccine("menacwy", days_ago(400)), vaccine("menb", days_ago(380)))
HBV_NEGATIVE = (lab("hbsag", None, None, days_ago(5), "negative"), lab("anti-hbc", None, None, days_ago(5), "negative"))


def _unreadable(rid: str, *why: str, concept: str | None = "eculizumab") -> DraftOrder:
    return draft(concept or "x", rid, unreadable=why) if concept else DraftOrder(
        resource_id=f"MedicationRequest/{rid}", resource_type="MedicationRequest", kind="unknown", concept=None,
        drug_classes=frozenset(), route=None, dose_mg=None, mg_per_day=None, planned_start=TODAY,
        planned_start_from="today", selected=True, unreadable=why)


SAFETY_SCENARIOS: dict[str, Callable[[], tuple[Any, tuple[DraftOrder, ...], str]]] = {
    "c5-vaccine-missing": lambda: (record(), (draft("eculizumab"),), "achr"),
    "c5-menb-missing": lambda: (record(immunizations=(vaccine("menacwy", days_ago(400)),)), (draft("ravulizumab"),), "achr"),
    "c5-immunizations-unavailable": lambda: (record(unavailable=frozenset({"immunizations"})), (draft("eculizumab"),), "achr"),
    "c5-vaccine-recent": lambda: (record(), (draft("eculizumab"), draft("menacwy"), draft("menb")), "achr"),
    "c5-vaccine-recent-record": lambda: (record(immunizations=(vaccine("menacwy", days_ago(3)), vaccine("menb", days_ago(300)))),
                                         (draft("eculizumab", start=TODAY + timedelta(days=5)),), "achr"),
    "c5-not-indicated": lambda: (record(immunizations=VACCINATED), (draft("eculizumab"),), "musk"),
    "c5-not-indicated-unconfirmed": lambda: (record(immunizations=VACCINATED), (draft("ravulizumab"),), "unconfirmed"),
    "zilucoplan-labs": lambda: (record(immunizations=VACCINATED), (draft("zilucoplan"),), "achr"),
    "zilucoplan-old-lipase": lambda: (record(immunizations=VACCINATED, measurements=(
        lab("lipase", 30, "U/L", days_ago(200)), lab("amylase", 50, "U/L", days_ago(10)))), (draft("zilucoplan"),), "achr"),
    "hbv-screen-missing": lambda: (record(), (draft("rituximab"),), "achr"),
    "hbv-screen-old": lambda: (record(measurements=(lab("hbsag", None, None, days_ago(400), "negative"),
                                                    lab("anti-hbc", None, None, days_ago(5), "negative"))), (draft("ofatumumab"),), "achr"),
    "hbv-positive": lambda: (record(measurements=(lab("hbsag", None, None, days_ago(5), "positive"), HBV_NEGATIVE[1])),
                             (draft("rituximab"),), "achr"),
    "hbv-coded": lambda: (record(conditions=(mg_condition(), condition("hepatitis-b"))), (draft("inebilizumab"),), "achr"),
    "iga-missing": lambda: (record(), (draft("ivig"),), "achr"),
    "iga-unknown-unit": lambda: (record(measurements=(lab("iga", 5, "furlongs", days_ago(3)),)), (draft("ivig"),), "achr"),
    "iga-deficiency": lambda: (record(measurements=(lab("iga", 5, "mg/dL", days_ago(30)),)), (draft("ivig"),), "achr"),
    "iga-deficiency-coded": lambda: (record(conditions=(mg_condition(), condition("iga-deficiency")), measurements=NORMAL_IGA),
                                     (draft("ivig"),), "achr"),
    "ivig-dose": lambda: (record(measurements=(*NORMAL_IGA, lab("weight", 70, "kg", days_ago(5)))),
                          (draft("ivig", mg_per_day=28000),), "achr"),
    "ivig-dose-no-weight": lambda: (record(measurements=NORMAL_IGA), (draft("ivig"),), "achr"),
    "ivig-renal-creatinine": lambda: (record(measurements=(*NORMAL_IGA, lab("creatinine", 1.6, "mg/dL", days_ago(2)))),
                                      (draft("ivig"),), "achr"),
    "ivig-renal-egfr": lambda: (record(measurements=(*NORMAL_IGA, lab("egfr", 45, "mL/min/{1.73_m2}", days_ago(2)))),
                                (draft("ivig"),), "achr"),
    "ivig-musk": lambda: (record(measurements=NORMAL_IGA), (draft("ivig"),), "musk"),
    "plex-elderly": lambda: (record(birth_date=TODAY.replace(year=TODAY.year - 72)), (draft("plex"),), "achr"),
    "plex-child": lambda: (record(birth_date=TODAY.replace(year=TODAY.year - 15)), (draft("plex"),), "achr"),
    "plex-hypotension": lambda: (record(measurements=(lab("bp-systolic", 80, "mm[Hg]", days_ago(1)),)), (draft("plex"),), "achr"),
    "plex-sepsis": lambda: (record(conditions=(mg_condition(), condition("sepsis"))), (draft("immunoadsorption"),), "achr"),
    "plex-eculizumab": lambda: (record(exposures=(exposure("eculizumab", days_ago(7), kind="administration", dose_mg=600),)),
                                (draft("plex", start=TODAY + timedelta(days=2)),), "achr"),
    "plex-ravulizumab": lambda: (record(exposures=(exposure("ravulizumab", days_ago(40), kind="administration", dose_mg=3300),)),
                                 (draft("plex"),), "achr"),
    "plex-fcrn-rituximab": lambda: (record(exposures=(exposure("efgartigimod", days_ago(5), kind="administration"),
                                                      exposure("rituximab", days_ago(20), kind="administration"))),
                                    (draft("plex"),), "achr"),
    "plex-co-ordered": lambda: (record(), (draft("plex"), draft("eculizumab", dose_mg=900, selected=False)), "achr"),
    "fcrn-washout": lambda: (record(exposures=(exposure("efgartigimod", days_ago(5), kind="administration"),),
                                    measurements=NORMAL_IGA, immunizations=VACCINATED),
                             (draft("rituximab", start=days_ago(5) + timedelta(days=10)), draft("eculizumab", start=TODAY)), "achr"),
    "fcrn-running": lambda: (record(exposures=(exposure("rozanolixizumab", days_ago(20), None, kind="request", status="active"),)),
                             (draft("rituximab"),), "achr"),
    "fcrn-co-ordered": lambda: (record(), (draft("efgartigimod"), draft("rituximab", selected=False)), "achr"),
    "pregnancy-teratogen": lambda: (pregnant(record()), (draft("mycophenolate-mofetil"), draft("methotrexate")), "achr"),
    "pregnancy-coded": lambda: (record(conditions=(mg_condition(), condition("pregnancy"))), (draft("cyclophosphamide"),), "achr"),
    "pregnancy-b-cell": lambda: (pregnant(record(measurements=HBV_NEGATIVE)), (draft("rituximab"),), "achr"),
    "tacrolimus-inducer": lambda: (record(exposures=(exposure("carbamazepine", days_ago(30), None, status="active",
                                                              source="MedicationRequest/cbz-home"),)), (draft("tacrolimus"),), "achr"),
    "tacrolimus-inhibitor-ordered": lambda: (record(exposures=(exposure("tacrolimus", days_ago(100), None, status="active",
                                                                        source="MedicationRequest/tac-home"),)),
                                             (draft("ketoconazole"),), "achr"),
    "tacrolimus-co-ordered": lambda: (record(), (draft("tacrolimus"), draft("rifampin")), "achr"),
    "clarithromycin": lambda: (record(exposures=(exposure("tacrolimus", days_ago(100), None, status="active",
                                                          source="MedicationRequest/tac"),)), (draft("clarithromycin"),), "achr"),
    "ivmp": lambda: (record(), (draft("methylprednisolone", route="iv", mg_per_day=1000, dose_mg=1000),), "achr"),
    "mg-worsening": lambda: (record(), (draft("gentamicin"), draft("ciprofloxacin"), draft("azithromycin"), draft("metoprolol")), "achr"),
    "mg-worsening-other": lambda: (record(), (draft("telithromycin"), draft("magnesium-sulfate", route="iv"), draft("pembrolizumab")), "achr"),
    "active-infection": lambda: (record(conditions=(mg_condition(), condition("sepsis")), immunizations=VACCINATED, measurements=HBV_NEGATIVE),
                                 (draft("eculizumab"), draft("efgartigimod"), draft("rituximab")), "achr"),
}

# Why a draft's drug could not be identified (no check can run on it) ...
UNREADABLE_REASONS = (
    "no medication given", "medication reference does not resolve to a coded Medication", "medication as text only (no code)",
    "no coded service", "could not be read",
)
# ... and why a dose that was given cannot be read as mg (only the checks that need it cannot run).
DOSE_NOTES = ("dose without a numeric value", "dose without a recognised unit", "dose in mL, not a mass in mg",
              "dose in {pill}, not a mass in mg")


def _resources(orders: tuple[DraftOrder, ...]) -> dict[str, Any]:
    return {o.resource_id: {"resourceType": o.resource_type, "id": o.resource_id.split("/")[1], "status": "draft"} for o in orders}


def safety_cards(name: str, language: str) -> list[dict[str, Any]]:
    rec, orders, serotype = SAFETY_SCENARIOS[name]()
    findings = run(rec, *orders, serotype=serotype)
    with i18n.use_language(language):
        return [c.to_json() for c in order_cards(rec, orders, findings, PARAMS, resources=_resources(orders))]


def unreadable_cards(language: str) -> list[dict[str, Any]]:
    """Cards of checks that could not run: drafts whose drug is not identified (order-sign), and
    IV methylprednisolone drafts whose dose is not a mass (the pulse check needs it)."""
    unknown = tuple(_unreadable(f"d{i}", why, concept=None) for i, why in enumerate(UNREADABLE_REASONS))
    doses = tuple(draft("methylprednisolone", f"m{i}", dose_note=note) for i, note in enumerate(DOSE_NOTES))
    out = []
    for orders in (unknown[:1], unknown, doses):
        findings = run(record(), *orders)
        with i18n.use_language(language):
            out += [c.to_json() for c in order_cards(record(), orders, findings, PARAMS, resources=_resources(orders))]
    return out


def test_the_scenarios_trigger_every_order_safety_check():
    fired = {f.code for name in SAFETY_SCENARIOS for f in run(*SAFETY_SCENARIOS[name]()[:1], *SAFETY_SCENARIOS[name]()[1],
                                                                serotype=SAFETY_SCENARIOS[name]()[2])}
    assert set(SAFETY_CODES) <= fired, set(SAFETY_CODES) - fired
    # one card per check and reason: 1 + 5 drafts not identified, 4 dose notes
    assert len(unreadable_cards("en")) == 1 + len(UNREADABLE_REASONS) + len(DOSE_NOTES)


# -- the checks -------------------------------------------------------------------------------


def _english_left(cards: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(run_, text) for card in cards for text in _texts(card) for run_ in english_runs(text)]


def _check_pair(name: str, en: list[dict[str, Any]], zh: list[dict[str, Any]]) -> None:
    assert en or name == "no-mg", name  # every scenario gives cards, except the patient without MG
    assert [_shape(c) for c in zh] == [_shape(c) for c in en], name
    assert [_strip_resources(c) for c in zh] == [_strip_resources(c) for c in en], name
    for card in zh:
        assert len(card["summary"]) < 140, card["summary"]
    for card in en:
        assert len(card["summary"]) < 140, card["summary"]
    left = _english_left(zh)
    assert not left, f"{name}: English left in Chinese cards:\n" + "\n".join(f"  {r!r}  <-  {t[:160]!r}" for r, t in left)


@pytest.mark.parametrize("name, handler, context, prefetch", CALLS, ids=[c[0] for c in CALLS])
def test_demo_cards_are_completely_chinese(name, handler, context, prefetch):
    _check_pair(name, _cards(handler, context, prefetch, "en"), _cards(handler, context, prefetch, "zh-CN"))


@pytest.mark.parametrize("name", sorted(SAFETY_SCENARIOS))
def test_order_safety_cards_are_completely_chinese(name):
    _check_pair(name, safety_cards(name, "en"), safety_cards(name, "zh-CN"))


def test_unreadable_order_cards_are_completely_chinese():
    _check_pair("unreadable", unreadable_cards("en"), unreadable_cards("zh-CN"))

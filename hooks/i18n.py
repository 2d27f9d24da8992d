"""Card language: a message catalog as data, a per-call language, and a tiny formatter.

- Catalogs: `hooks/messages/en.json` and `hooks/messages/zh-CN.json`, one object each, message id
  -> template. Templates use `{name}` placeholders (str.format syntax, no format specs: numbers,
  dates and units are formatted by the caller, the same way in both languages; dates ISO).
  Both catalogs hold exactly the same ids with the same placeholders (tests/test_i18n.py).
- The language of a call lives in a context variable, set by each hook handler from
  `HookCall.language` with `use_language(...)`. Context variables are per thread (and per task),
  so concurrent requests in gunicorn's threads never see each other's language; card builders keep
  their signatures and read it through `t()`.
- Clinical text: the clinical logic (gmg/) writes its sentences in English. Cards compose their
  own text from finding codes and data through the catalog; where a card shows a sentence or
  phrase of the clinical layer (a finding's reasoning, a dose regimen, a prerequisite), `clinical()`
  renders it in Chinese through `hooks/messages/clinical.zh-CN.json` (English patterns with
  `{placeholders}` -> Chinese), and leaves any part it does not know in English rather than guess.
- Concept names: `concept_name(key)` gives a terminology concept's `display_zh` attribute in
  Chinese (standard Chinese names where commonly used), its English display otherwise.
"""

from __future__ import annotations

import json
import re
import string
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import terminology

from .cards import STANDARD_OVERRIDE_REASONS, Coding

LANGUAGES: tuple[str, ...] = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"
MESSAGES_DIR = Path(__file__).resolve().parent / "messages"

_language: ContextVar[str] = ContextVar("gmg_cds_card_language", default=DEFAULT_LANGUAGE)


def normalise(language: str | None) -> str:
    """A supported language tag: any Chinese tag -> "zh-CN", anything else -> "en"."""
    tag = (language or "").strip().lower()
    return "zh-CN" if tag.startswith("zh") else DEFAULT_LANGUAGE


def current_language() -> str:
    return _language.get()


@contextmanager
def use_language(language: str | None) -> Iterator[str]:
    """Cards built inside the block speak `language` (restored afterwards, also on error)."""
    token = _language.set(normalise(language))
    try:
        yield _language.get()
    finally:
        _language.reset(token)


@lru_cache(maxsize=None)
def catalog(language: str) -> dict[str, str]:
    path = MESSAGES_DIR / f"{normalise(language)}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def placeholders(template: str) -> frozenset[str]:
    """The `{name}` placeholders of a template."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def t(message_id: str, **values: Any) -> str:
    """The message in the call's language with its placeholders filled.

    An unknown id is a programming error (KeyError); the catalogs are tested to be complete."""
    return _filled(catalog(_language.get())[message_id], values)


def t_or(message_id: str, fallback: str, **values: Any) -> str:
    """`t()` for ids made from open-ended data (an option, a gap name): the fallback if unknown."""
    template = catalog(_language.get()).get(message_id)
    return fallback if template is None else _filled(template, values)


def template(message_id: str) -> str:
    """The unfilled template of a message in the call's language (KeyError if unknown)."""
    return catalog(_language.get())[message_id]


def _filled(template: str, values: dict[str, Any]) -> str:
    return template.format(**values) if values or "{" in template else template


def is_chinese() -> bool:
    return _language.get() == "zh-CN"


# -- names of concepts ------------------------------------------------------------------------


def concept_name(key: str, fallback: str | None = None) -> str:
    """A concept's display in the call's language (`display_zh` attribute in Chinese)."""
    try:
        concept = terminology.concept(key)
    except KeyError:
        return fallback if fallback is not None else key
    if is_chinese():
        zh = concept.attribute("display_zh")
        if zh:
            return str(zh)
    return fallback if fallback is not None else concept.display


# -- clinical phrases (Chinese rendering of the clinical layer's English) ---------------------


@dataclass(frozen=True)
class _Phrase:
    pattern: re.Pattern[str]
    zh: str
    anchor: str  # the template's longest literal part: a text without it cannot match (no search)


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


# Typed placeholders match only their kind of value, so a pattern may end (or start) with one:
# {day}, {day2}: an ISO date.
_TYPED = ((re.compile(r"day\d*"), r"\d{4}-\d{2}-\d{2}"),)


def _placeholder_regex(name: str) -> str:
    for names, regex in _TYPED:
        if names.fullmatch(name):
            return regex
    return ".+?"


def is_typed_placeholder(name: str) -> bool:
    return _placeholder_regex(name) != ".+?"


def _compile(english: str) -> re.Pattern[str]:
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(english):
        parts.append(re.escape(english[pos:m.start()]))
        parts.append(f"(?P<{m.group(1)}>{_placeholder_regex(m.group(1))})")
        pos = m.end()
    parts.append(re.escape(english[pos:]))
    # A pattern that starts or ends with a letter matches whole words only ("negative (…)" is
    # not the end of "seronegative (CBA)").
    head = r"(?<![A-Za-z])" if english[:1].isalpha() else ""
    tail = r"(?![A-Za-z])" if english[-1:].isalpha() else ""
    return re.compile(head + "".join(parts) + tail)


@lru_cache(maxsize=1)
def clinical_phrases() -> tuple[tuple[str, str], ...]:
    """(English pattern, Chinese) pairs, as in the data file."""
    data = json.loads((MESSAGES_DIR / "clinical.zh-CN.json").read_text(encoding="utf-8"))
    return tuple((p["en"], p["zh-CN"]) for p in data["phrases"])


@lru_cache(maxsize=1)
def _compiled_phrases() -> tuple[_Phrase, ...]:
    # Longest first, so a sentence wins over a phrase it contains.
    pairs = sorted(clinical_phrases(), key=lambda p: -len(p[0]))
    return tuple(_Phrase(_compile(en), zh, max(_PLACEHOLDER.split(en)[::2], key=len)) for en, zh in pairs)


# Medications whose names the clinical layer writes in running text (concept keys such as
# "mycophenolate-mofetil" written "mycophenolate mofetil", or the English display "Azathioprine").
# Immune globulin and procedures are left out: their abbreviations (IVIG, PLEX) stay as written.
_NAME_DOMAINS = ("medications",)
_NAME_SKIP = frozenset({"ivig", "ig-sc", "ig-im", "ig-extravascular"})


def _concept_keys(domains: tuple[str, ...]) -> list[str]:
    """The concept keys of these terminology domains (read from the data files)."""
    keys: list[str] = []
    for entry in sorted(resources.files(terminology.DATA_PACKAGE).iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            doc = json.loads(entry.read_text(encoding="utf-8"))
            if doc.get("domain") in domains:
                keys += [str(c["key"]) for c in doc.get("concepts", [])]
    return keys


@lru_cache(maxsize=1)
def _drug_names() -> tuple[re.Pattern[str], dict[str, str]]:
    names: dict[str, str] = {}
    for key in _concept_keys(_NAME_DOMAINS):
        concept = terminology.concept(key)
        zh = concept.attribute("display_zh")
        if not zh or concept.key in _NAME_SKIP:
            continue
        display = concept.display
        variants = (concept.key, concept.key.replace("-", " "), display, display.split(" (")[0],
                    # "Efgartigimod alfa and hyaluronidase (SC)" as "Efgartigimod alfa + hyaluronidase SC"
                    re.sub(r" \((\w+)\)$", r" \1", display.replace(" and ", " + ")))
        for english in variants:
            names.setdefault(english.lower(), str(zh))
    words = sorted(names, key=len, reverse=True)
    pattern = re.compile(r"(?<![A-Za-z\-])(" + "|".join(re.escape(w) for w in words) + r")(?![A-Za-z\-])", re.IGNORECASE)
    return pattern, names


def drug_names(text: str) -> str:
    """Medication names in running English text -> their Chinese names (in Chinese only)."""
    if not text or not is_chinese():
        return text
    pattern, names = _drug_names()
    return pattern.sub(lambda m: names[m.group(1).lower()], text)


def clinical(text: str) -> str:
    """A clinical-layer sentence in the call's language (unknown parts stay English).

    Phrases first (longest first; a pattern may name a drug in English), then the names of
    medications left in the text (concept keys and English displays -> `display_zh`)."""
    if not text or not is_chinese():
        return text
    return _clinical_zh(text)


@lru_cache(maxsize=4096)
def _clinical_zh(text: str) -> str:
    """`clinical` in Chinese: a function of the text alone (the phrase table is fixed at start),
    so a sentence seen before (a class name, a regimen, a prerequisite) is not read again. A phrase
    is tried only when its longest literal part is in the text (without it, it cannot match)."""
    out = text
    for phrase in _compiled_phrases():
        if phrase.anchor in out and phrase.pattern.pattern and phrase.pattern.search(out):
            out = phrase.pattern.sub(lambda m, z=phrase.zh: z.format(**m.groupdict()), out)
    return drug_names(out)


# -- catalog patterns (evidence labels, fixed notes) ------------------------------------------


@lru_cache(maxsize=None)
def _catalog_patterns(prefix: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """(compiled English template, id) for the ids under `prefix`, longest template first."""
    en = catalog("en")
    # Longest first; of two as long, the one with fewer placeholders (the more literal) first.
    ids = sorted((k for k in en if k.startswith(prefix)), key=lambda k: (-len(en[k]), en[k].count("{")))
    return tuple((re.compile(_compile(en[k]).pattern + r"\Z"), k) for k in ids)


def from_catalog(prefix: str, english: str) -> str | None:
    """The Chinese (call's language) message whose English template under `prefix` is exactly
    `english`, its placeholders filled from the English (names translated); None if none is."""
    for pattern, key in _catalog_patterns(prefix):
        m = pattern.match(english)
        if m:
            return t(key, **{k: clinical(v) for k, v in m.groupdict().items()})
    return None


def evidence_label(label: str) -> str:
    """An evidence label of the clinical layer ("On eculizumab", "Serum IgA") in the call's
    language: a catalog `evidence.*` message when one matches, the phrase table otherwise."""
    if not label or not is_chinese():
        return label
    found = from_catalog("evidence.", label)
    return found if found is not None else clinical(label)


def evidence_value(value: str) -> str:
    """An evidence value ("active", "given", "15 years") in the call's language: a catalog
    `evidence-value.*` message when the whole value matches one, the phrase table otherwise
    (single words are matched whole, never inside a sentence)."""
    if not value or not is_chinese():
        return value
    found = from_catalog("evidence-value.", value)
    return found if found is not None else clinical(value)


def label_note(ingredient: str, english: str) -> str:
    """A drug's label note: the catalog's `label-note.<ingredient>` when its English is the note
    the clinical layer gave (a changed note is never shown in an outdated translation)."""
    key = f"label-note.{ingredient}"
    if not is_chinese() or catalog("en").get(key) != english:
        return clinical(english)
    return t(key)


def unit_words(unit: str) -> str:
    """A parameter's unit in the call's language (word units such as "courses"; symbols stay)."""
    return t_or(f"unit.{unit}", unit) if unit else unit


# -- override reasons ---------------------------------------------------------------------------


def override_reasons() -> tuple[Coding, ...]:
    """The standard override reasons (same codes in every language), displays in the call's."""
    return _override_reasons(_language.get())


@lru_cache(maxsize=None)
def _override_reasons(language: str) -> tuple[Coding, ...]:
    # Static per language (immutable Codings from the catalog): made once, not on every card.
    with use_language(language):
        return tuple(
            Coding(r.system, r.code, t(f"override.{r.code}")) for r in STANDARD_OVERRIDE_REASONS
        )

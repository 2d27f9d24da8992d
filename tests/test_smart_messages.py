"""The MG summary page speaks English and Simplified Chinese completely: both catalogs hold the
same ids with the same placeholders, every id the templates and code use exists (literal ids and
each family of ids made from data), and the Chinese catalog is Chinese (no run of three English
words outside the abbreviations clinicians use as such)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cds_service.smart.messages import MESSAGES_DIR, Messages, catalog, placeholders
from gmg.record import MG_ADL_ITEMS

SMART = Path(__file__).resolve().parents[1] / "cds_service" / "smart"
SOURCES = list((SMART / "templates").rglob("*.html")) + list(SMART.glob("*.py"))
LITERAL_ID = re.compile(r"""\bm\(\s*["']([a-z0-9.\-]+)["']""")
REASON_ID = re.compile(r"""SmartError\(\s*["']([a-z0-9.\-]+)["']|message_page\([^,]+,\s*["']([a-z0-9.\-]+)["']""")
# ids built from data in the templates, with every value the data can take
FAMILIES = {
    "patient.sex.": ("female", "male", "other", "unknown"),
    "definition.": ("cn", "icg2016", "jp2022"),
    "decision.": ("no-mg", "excluded"),  # (ocular MG: the ocular card's summary, hooks/summary.py)
    "therapy.": ("adequate", "below", "unknown", "not-judged"),
    "item.": MG_ADL_ITEMS,
    "antibody-result.": ("positive", "negative", "equivocal", "unknown"),
    "assay.": ("other", "unknown"),
    "options.basis-": ("weight", "height", "haematocrit"),
}
ALLOWED_LATIN = ("MG-ADL", "QMG", "MG", "gMG", "PIS", "MGFA", "CBA", "RIPA", "ELISA", "IVIG", "PLEX", "IVMP",
                 "FHIR", "EHR", "SMART", "ICG 2016", "ICG", "Neurology", "Sanders", "gmg-cds", "iss", "CN")


def test_both_catalogs_hold_the_same_ids_and_placeholders():
    en, zh = catalog("en"), catalog("zh-CN")
    assert set(en) == set(zh)
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key
    assert sorted(p.name for p in MESSAGES_DIR.glob("*.json")) == ["en.json", "zh-CN.json"]


def scanned() -> tuple[set[str], set[str]]:
    """(literal ids, prefixes of ids made from data: `m("item." ~ key)`) in templates and code."""
    found: set[str] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        found |= set(LITERAL_ID.findall(text))
        found |= {a or b for a, b in REASON_ID.findall(text)}
        found |= set(re.findall(r"""m\(f["']([a-z0-9.\-]+)\{""", text))  # m(f"options.basis-{kind}")
    prefixes = {i for i in found if i.endswith((".", "-"))}
    return found - prefixes, prefixes


def used_ids() -> set[str]:
    literal, _ = scanned()
    for prefix, values in FAMILIES.items():
        literal |= {prefix + v for v in values}
    return literal


def test_every_family_of_ids_made_from_data_is_declared_here():
    _, prefixes = scanned()
    assert prefixes == set(FAMILIES)


def test_every_id_used_exists():
    ids = used_ids()
    assert len(ids) > 100  # the scan finds the templates' ids
    missing = sorted(i for i in ids if i not in catalog("en"))
    assert missing == []


def test_no_id_is_unused():
    text = "\n".join(p.read_text(encoding="utf-8") for p in SOURCES)
    unused = [k for k in catalog("en") if k not in used_ids() and f'"{k}"' not in text and f"'{k}'" not in text]
    assert unused == []


@pytest.mark.parametrize("key", sorted(catalog("zh-CN")))
def test_chinese_messages_are_chinese(key):
    text = catalog("zh-CN")[key]
    for token in sorted(ALLOWED_LATIN, key=len, reverse=True):
        text = text.replace(token, " ")
    text = re.sub(r"\{[a-z_]+\}|[\d.%≥<>/+·:()（）\-–—]", " ", text)
    assert not re.search(r"[A-Za-z]+\s+[A-Za-z]+\s+[A-Za-z]+", text), catalog("zh-CN")[key]
    if re.search(r"[A-Za-z]{2,}", catalog("en")[key]) and key not in ("criteria.nothing", "scores.value"):
        assert re.search(r"[\u4e00-\u9fff]", catalog("zh-CN")[key]), key


def test_messages_fill_their_placeholders():
    m = Messages("zh-CN")
    assert m("criteria.missing", what="体重") == "缺少：体重"
    assert Messages("en")("page.evaluated-on", date="2026-11-22") == "Evaluated on 2026-11-22"
    with pytest.raises(KeyError):
        m("no.such.message")

"""The message catalogs (en, zh-CN): same ids, same placeholders, nothing empty; the formatter,
the per-call language (thread-safe), the clinical phrase table and the Chinese concept names."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

import terminology
from hooks import i18n
from hooks.cards import STANDARD_OVERRIDE_REASONS, SUMMARY_MAX

MESSAGES = Path(i18n.__file__).resolve().parent / "messages"


def _raw(lang: str) -> dict[str, str]:
    return {k: v for k, v in json.loads((MESSAGES / f"{lang}.json").read_text(encoding="utf-8")).items()}


def test_both_catalogs_have_exactly_the_same_ids_and_placeholders():
    en, zh = _raw("en"), _raw("zh-CN")
    assert set(en) == set(zh)
    assert len(en) > 150
    for key in en:
        assert i18n.placeholders(en[key]) == i18n.placeholders(zh[key]), key


def test_no_message_is_empty_and_every_chinese_message_is_formattable():
    for lang in i18n.LANGUAGES:
        for key, template in _raw(lang).items():
            assert isinstance(template, str) and template.strip(), (lang, key)
            filled = template.format(**{p: "X" for p in i18n.placeholders(template)})
            assert "{" not in filled.replace("{X}", ""), (lang, key)


def test_chinese_catalog_is_chinese_where_it_has_words():
    zh, en = _raw("zh-CN"), _raw("en")
    # Messages that are only symbols, serotype tokens or separators may be identical in both, and a
    # drug class named by its target alone in the options card's summary ("C5", "FcRn").
    same = {k for k in en if en[k] == zh[k]}
    wordless = {k for k in en if not re.search(r"[A-Za-z]", re.sub(r"\{[a-z_]+\}", "", en[k]))}  # symbols, {text}
    targets = {k for k in en if k.startswith("option-summary.") and re.fullmatch(r"[A-Z][A-Za-z0-9]*", en[k])}
    assert same <= {k for k in en if k.startswith(("serotype.", "serotype-label.")) and "+" in en[k]} | {"gap.pis"} | wordless | targets, same


def test_t_formats_in_the_language_of_the_block_and_restores_it():
    assert i18n.current_language() == "en"
    assert i18n.t("summary.trials", counts=i18n.t("trial-count.possible", n=2)) == "Trials: 2 possible"
    with i18n.use_language("zh-CN"):
        assert i18n.t("summary.trials", counts=i18n.t("trial-count.possible", n=2)) == "临床试验：2 项可能符合"
        with i18n.use_language("en"):
            assert i18n.t("result.met") == "met"
        assert i18n.t("result.met") == "符合"
    assert i18n.current_language() == "en"
    with pytest.raises(KeyError):
        i18n.t("no.such.message")


@pytest.mark.parametrize("tag, expected", [("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh-Hans", "zh-CN"), ("ZH-cn", "zh-CN"),
                                           ("en", "en"), ("en-GB", "en"), ("fr", "en"), ("", "en"), (None, "en")])
def test_language_tags_are_normalised(tag, expected):
    assert i18n.normalise(tag) == expected


def test_language_is_per_thread():
    seen: dict[str, list[str]] = {"en": [], "zh-CN": []}
    barrier = threading.Barrier(8)

    def work(lang: str) -> None:
        with i18n.use_language(lang):
            barrier.wait()
            for _ in range(50):
                seen[lang].append(i18n.t("result.met"))

    threads = [threading.Thread(target=work, args=(lang,)) for lang in ("en", "zh-CN") * 4]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert set(seen["en"]) == {"met"} and set(seen["zh-CN"]) == {"符合"}


def test_override_reasons_keep_their_codes_and_translate_their_displays():
    assert i18n.override_reasons() == STANDARD_OVERRIDE_REASONS
    with i18n.use_language("zh-CN"):
        zh = i18n.override_reasons()
    assert [r.code for r in zh] == [r.code for r in STANDARD_OVERRIDE_REASONS]
    assert all(r.system == STANDARD_OVERRIDE_REASONS[0].system for r in zh)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in r.display or "") for r in zh)


def test_clinical_phrases_are_well_formed_and_translate_only_in_chinese():
    phrases = i18n.clinical_phrases()
    assert len(phrases) > 100
    for en, zh in phrases:
        assert en.strip() and zh.strip()
        assert i18n.placeholders(en) == i18n.placeholders(zh), en
        # An untyped placeholder at an edge matches too little; a typed one ({day}: an ISO date) may stand there.
        for edge in (re.match(r"\{([a-z_0-9]+)\}", en), re.search(r"\{([a-z_0-9]+)\}$", en)):
            assert edge is None or i18n.is_typed_placeholder(edge.group(1)), en
    sentence = "No haematocrit in the last 30 days: plasma volume (PLEX/LPE) not computed."
    assert i18n.clinical(sentence) == sentence
    with i18n.use_language("zh-CN"):
        assert i18n.clinical(sentence) == "近 30 天内无红细胞压积：未计算血浆容量（PLEX/LPE）。"
        assert i18n.clinical("Something the table does not know.") == "Something the table does not know."


def test_chinese_concept_names_keep_the_english_display():
    for key, zh in (("eculizumab", "依库珠单抗"), ("rituximab", "利妥昔单抗"), ("tacrolimus", "他克莫司"),
                    ("azathioprine", "硫唑嘌呤"), ("plex", "血浆置换（PLEX）")):
        concept = terminology.concept(key)
        assert concept.attribute("display_zh") == zh
        assert i18n.concept_name(key) == concept.display
        with i18n.use_language("zh-CN"):
            assert i18n.concept_name(key) == zh
    with i18n.use_language("zh-CN"):
        assert i18n.concept_name("no-such-concept", "fallback") == "fallback"


def test_summaries_with_the_longest_values_fit_in_both_languages():
    """Summary templates filled with long values stay under the limit once the builders clip them;
    the templates themselves (with short values) are always well under it."""
    long_values = {"criteria": "3-1, 3-2, 3-3, 3-4", "icg": "undetermined", "serotype": "seronegative (CBA)",
                   "orders": "x" * 48, "date": "2026-11-22", "missing": "mg-adl-items, weight, pis, height",
                   "text": "y" * 10}
    for lang in i18n.LANGUAGES:
        for key, template in _raw(lang).items():
            if not key.startswith("summary."):
                continue
            values = {p: long_values.get(p, "99") for p in i18n.placeholders(template)}
            if key == "summary.acute":
                continue  # wraps another summary; clipped by the builder (tested in test_i18n_cards)
            assert len(template.format(**values)) <= SUMMARY_MAX, (lang, key)


def test_label_notes_in_the_catalog_are_the_notes_the_rules_give():
    """`label-note.<drug>` English is the clinical layer's note word for word, so a changed note is
    never shown in an outdated Chinese translation (the card then falls back to the phrase table)."""
    from gmg.drugs import DRUGS

    en = _raw("en")
    notes = {k.split(".", 1)[1]: v for k, v in en.items() if k.startswith("label-note.")}
    # one note per drug, and one per drug and region where the region's label differs (label_id)
    expected = {**{d: info.label_note for d, info in DRUGS.items()},
                **{f"{d}.{r}": note for d, info in DRUGS.items() for r, note in info.regional_notes.items()}}
    assert notes == expected
    for label_id, note in expected.items():
        with i18n.use_language("zh-CN"):
            assert i18n.label_note(label_id, note) == _raw("zh-CN")[f"label-note.{label_id}"]
            assert i18n.label_note(label_id, note + " (changed)") != _raw("zh-CN")[f"label-note.{label_id}"]
        assert i18n.label_note(label_id, note) == note


def test_every_trial_has_a_chinese_title_and_chinese_criteria():
    from gmg.trials import load_trials

    folder = Path(__file__).resolve().parents[1] / "gmg" / "trials"
    trials = {t.nct: t for t in load_trials()}
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert any("\u4e00" <= ch <= "\u9fff" for ch in doc["title_zh"]), path.name
        for c in doc["criteria"]:
            # Chinese wherever the English has words ("QMG > 11" is the same in both)
            assert c["text_zh"].strip(), (path.name, c["id"])
            if re.search(r"[a-z]{3,}", c["text"]):
                assert any("\u4e00" <= ch <= "\u9fff" for ch in c["text_zh"]), (path.name, c["id"])
        assert [c.text for c in trials[doc["nct"]].criteria] == [c["text"] for c in doc["criteria"]]


def test_evidence_labels_and_values_translate_whole_and_only_in_chinese():
    assert i18n.evidence_label("On eculizumab") == "On eculizumab"
    with i18n.use_language("zh-CN"):
        assert i18n.evidence_label("On eculizumab") == "正在使用 依库珠单抗"
        assert i18n.evidence_label("Last efgartigimod dose") == "艾加莫德α（静脉） 末次给药"
        assert i18n.evidence_value("active") == "活动性"
        assert i18n.evidence_value("72 years") == "72 岁"
        assert i18n.evidence_value("inactive") == "inactive"  # whole values only
        assert i18n.clinical("seronegative (CBA)") == "血清阴性（CBA）"  # patterns match whole words
        assert i18n.clinical("start on 2026-12-01 (< 14 days)") == "start（2026-12-01，< 14 天）"


def test_medication_names_in_running_text_take_their_chinese_names():
    text = "mycophenolate mofetil, Azathioprine; Efgartigimod alfa + hyaluronidase SC; IVIG"
    assert i18n.drug_names(text) == text
    with i18n.use_language("zh-CN"):
        assert i18n.drug_names(text) == "吗替麦考酚酯, 硫唑嘌呤; 艾加莫德α（皮下，含透明质酸酶）; IVIG"

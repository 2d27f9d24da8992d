"""The MG summary never disagrees with the cards, for every demo patient in both languages: the
headline is the assessment card's summary, the criteria that fired are the card's, ICG 2016 and
Japan 2022 read the same, the data gaps of the cards are on the page, the options are the therapy
card's options in its order, the therapy timeline's adequate periods agree with the rules'
adequacy verdicts. Its charts are valid plotly figures that stay readable without colour, and the
page renders (in-process, no FHIR fetch) with the values a clinician looks for.
"""

from __future__ import annotations

import json
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import plotly.graph_objects as go
import pytest

from cds_service.app import create_app
from cds_service.smart import charts, page
from cds_service.smart.assets import Assets
from cds_service.smart.messages import Messages
from hooks.patient_view import handle
from hooks.registry import HookCall
from hooks.summary import summarize
from tests.conftest import TODAY, local_settings
from tests.test_demo_patients import prefetch_of

DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"
SLUGS = sorted(p.stem for p in DEMO.glob("*.json"))
LANGUAGES = ("en", "zh-CN")


def call_for(slug: str, language: str) -> HookCall:
    pid, prefetch = prefetch_of(json.loads((DEMO / f"{slug}.json").read_text(encoding="utf-8")))
    return HookCall("gmg-patient-view", "patient-view", "h", {"patientId": pid}, prefetch, frozenset(), TODAY, language)


def codes_of(cards) -> list[str]:
    return [f["code"] for c in cards for f in c.findings]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("slug", SLUGS)
def test_the_summary_says_what_the_cards_say(slug, language):
    call = call_for(slug, language)
    cards, s = handle(call), summarize(call)
    codes = codes_of(cards)
    if s.mg_status != "generalized":
        assert s.criteria == () and s.options == ()
        # ocular MG: the ocular card's summary; no MG: no card, and the page says why itself
        assert s.headline == (cards[0].summary if s.mg_status == "ocular-only" else "")
        return
    assessment_card = next(c for c in cards if any(code.startswith("refractory.cn.") for code in c.finding_codes))
    assert s.headline == assessment_card.summary
    fired = {code.removeprefix("refractory.cn.") for code in codes if re.fullmatch(r"refractory\.cn\.c[\d-]+", code)}
    if s.cn_status == "met":  # the met card lists exactly the criteria that fired
        assert fired == {c.id for c in s.criteria if c.met}
    cn_row = next(d for d in s.definitions if d.key == "cn")  # and the primary row names them
    decisive = [c.id for c in s.criteria if c.met is cn_row.met]
    assert decisive and all(re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", cn_row.reading) for i in decisive), cn_row
    assert not [c.id for c in s.criteria if c.met is not cn_row.met and re.search(rf"(?<![\w-]){re.escape(c.id)}(?![\w-])", cn_row.reading)]
    outcome = {"met": "refractory.cn.met", "not-met-severity": "refractory.cn.not-met.severity",
               "not-met-inadequate": "refractory.cn.not-met.inadequate-treatment",
               "not-met-response": "refractory.cn.not-met.response",
               "indeterminate": "refractory.cn.indeterminate"}[s.cn_status]
    assert outcome in codes
    definitions = {d.key: d.met for d in s.definitions}
    assert definitions["icg2016"] is {"refractory.icg2016.met": True, "refractory.icg2016.not-met": False}.get(
        next(c for c in codes if c.startswith("refractory.icg2016.")), None)
    jp = [c for c in codes if c.startswith("refractory.jp2022.")]
    assert definitions["jp2022"] is ({"refractory.jp2022.met": True, "refractory.jp2022.not-met": False}[jp[0]] if jp else None)
    gap_codes = {g.code for g in s.gaps}
    assert {c for c in codes if c.startswith("data-gap.")} - {"data-gap.serostatus"} <= gap_codes
    therapy_options = [f for c in cards for f in c.findings if "option" in f and f.get("state")]
    assert [(o.rank, o.state) for o in s.options] == [(f.get("rank"), f["state"]) for f in therapy_options]
    assert s.latest_mg_adl is None or s.latest_mg_adl.when == max(p.when for p in s.mg_adl)
    # one wording per decision: the page's lines are the cards' lines (as plain text)
    lines = {line.removeprefix("- ").replace("**", "") for c in cards for line in (c.detail or "").splitlines()}
    for _code, text in s.rapid:
        assert text in lines, text
    for gap in s.gaps:
        if gap.code.startswith("data-gap."):
            card_texts = " ".join(lines)
            assert gap.text in card_texts or gap.code in ("data-gap.weight", "data-gap.height", "data-gap.haematocrit"), gap
    if s.acute:
        assert any(s.acute_text == line for line in lines), s.acute_text
    options_card = next((c for c in cards if any(code.startswith("therapy.") for code in c.finding_codes)), None)
    for o in s.options:  # each class's reason (or state) as the options card gives it
        assert options_card is not None and o.why in (options_card.detail or ""), o.why
        assert o.previous in (options_card.detail or "")


@pytest.mark.parametrize("slug", SLUGS)
def test_adequate_periods_on_the_timeline_agree_with_the_adequacy_verdicts(slug):
    s = summarize(call_for(slug, "en"))
    for d in s.drugs:
        if d.status == "adequate":  # adequacy needs a course at adequate dose
            assert any(span.adequacy == "adequate" for span in d.spans) or d.ingredient == "cyclophosphamide"
        if d.group in ("glucocorticoid", "nsist") and not any(span.adequacy == "adequate" for span in d.spans):
            assert d.status != "adequate"
        if d.group == "targeted":
            assert all(span.adequacy == "not-judged" for span in d.spans) and d.status is None


def test_the_long_course_in_numbers():
    s = summarize(call_for("course-refractory", "en"))
    assert (s.latest_mg_adl.total, s.latest_mg_adl.when) == (9, date(2026, 10, 28))
    assert len(s.mg_adl) == 13 and len(s.qmg) == 6 and all(p.items is not None for p in s.mg_adl)
    names = [d.name for d in s.drugs]
    assert names == ["Prednisone", "Azathioprine", "Mycophenolate mofetil", "Efgartigimod alfa (IV)"]
    prednisone = s.drugs[0]
    assert [span.adequacy for span in prednisone.spans] == ["below", "adequate", "below"]
    assert [span.rule_dose for span in prednisone.spans] == ["0.32 mg/kg/d", "0.65 mg/kg/d", "0.24 mg/kg/d"]
    assert prednisone.spans[-1].ongoing and not prednisone.spans[0].ongoing
    assert len(s.drugs[3].administrations) == 8 and s.drugs[3].spans == ()
    assert [(e.modality, e.counted) for e in s.rescue] == [("IVIG", False), ("IVIG", False), ("IVIG", True), ("PLEX", True)]
    assert {(a.target, a.assay, a.result) for a in s.antibodies} == {
        ("Acetylcholine receptor binding antibody", "RIPA", "positive"),
        ("Muscle-specific kinase (MuSK) antibody", "CBA", "negative")}
    assert [o.title for o in s.options][:2] == ["C5 inhibitor", "Anti-CD20 (rituximab)"]
    assert any("620 mg (10 mg/kg)" in d.dose for o in s.options for d in o.drugs)


def test_missing_data_is_named_never_concluded():
    s = summarize(call_for("indeterminate", "en"))
    assert s.cn_status == "indeterminate"
    assert {"data-gap.mg-adl-items", "data-gap.weight", "data-gap.pis"} <= {g.code for g in s.gaps}
    assert s.latest_mg_adl.items is None and s.latest_mg_adl.ocular_share is None
    unavailable = summarize(HookCall("x", "patient-view", "h", call_for("met-3-1", "en").context,
                                     {k: v for k, v in call_for("met-3-1", "en").prefetch.items() if k != "procedures"},
                                     frozenset({"procedures"}), TODAY))
    assert ("unavailable", "procedures") in {(g.code, g.text) for g in unavailable.gaps}


# -- charts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("slug", SLUGS)
def test_charts_are_valid_plotly_figures_readable_without_colour(slug, language):
    s = summarize(call_for(slug, language))
    figures = charts.figures(s, Messages(language))
    for fig in figures.values():
        go.Figure(fig)  # plotly's own schema validation: raises on any invalid property
        json.dumps(fig)  # plain JSON for the data island
    if "scores" in figures:
        traces = figures["scores"]["data"]
        assert len({t["marker"]["symbol"] for t in traces}) == len(traces)
        assert len({t["line"]["dash"] for t in traces}) == len(traces)
        threshold = [sh for sh in figures["scores"]["layout"]["shapes"] if sh["type"] == "line"]
        assert threshold and threshold[0]["y0"] == s.threshold.mg_adl_min and threshold[0]["line"]["dash"] == "dot"
        texts = " ".join(a["text"] for a in figures["scores"]["layout"]["annotations"])
        assert f"{s.threshold.mg_adl_min:g}" in texts
    if "therapy" in figures:
        bars = [t for t in figures["therapy"]["data"] if t["type"] == "bar"]
        styles = [t["marker"].get("pattern", {}).get("shape", "") for t in bars]
        assert len(set(styles)) == len(styles)  # each kind of period its own fill pattern
        markers = [t["marker"]["symbol"] for t in figures["therapy"]["data"] if t["type"] == "scatter"]
        assert len(set(markers)) == len(markers)
        rows = figures["therapy"]["layout"]["yaxis"]["categoryarray"]
        assert rows[: len(s.drugs)] == [d.name for d in s.drugs]


def test_a_chart_without_data_is_left_out():
    s = summarize(call_for("no-mg", "en"))
    assert charts.figures(s, Messages("en")) == {}


# -- the page, rendered in-process -------------------------------------------------------------------


class _Checker(HTMLParser):
    VOID = {"meta", "link", "br", "img", "input", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.islands: list[str] = []
        self._in_island = False
        self.inline: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        attrs = dict(attrs)
        if "style" in attrs or any(k.startswith("on") for k in attrs):
            self.inline.append(tag)
        if tag == "script" and attrs.get("type") != "application/json" and not attrs.get("src"):
            self.inline.append("script")
        self._in_island = tag == "script" and attrs.get("type") == "application/json"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):  # noqa: ANN001
        assert self.stack and self.stack[-1] == tag, (self.stack[-3:], tag)
        self.stack.pop()
        self._in_island = False

    def handle_data(self, data):  # noqa: ANN001
        if self._in_island:
            self.islands.append(data)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(local_settings(tmp_path_factory.mktemp("page")))


def render_page(app, slug: str, language: str):
    """A demo patient's summary and its page as the callback renders it (without the FHIR fetch)."""
    call = call_for(slug, language)
    with app.test_request_context("/smart/callback"):
        s = page.build(call.prefetch, frozenset(), call.context["patientId"], TODAY, language)
        html = page.render(s, page.banner(call.prefetch["patient"], s.patient_id), Assets.load(), demo=True)
    return s, html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("slug", SLUGS)
def test_the_page_renders_for_every_demo_patient(app, slug, language):
    s, html = render_page(app, slug, language)
    checker = _Checker()
    checker.feed(html)
    assert checker.stack == [] and checker.inline == []  # well nested; no inline script, style or handler
    for island in checker.islands:
        json.loads(island)
    assert f'lang="{language}"' in html
    if s.mg_status == "generalized":
        assert s.headline.replace("'", "&#39;") in html
    if s.latest_mg_adl is not None:
        assert s.latest_mg_adl.when.isoformat() in html
    for d in s.drugs:
        assert d.name in html
    if language == "zh-CN":
        assert "MG 病程总览" in html and "治疗时间线" in html


class _VisibleText(HTMLParser):
    """The page's text as a reader sees it: without script and style islands and without the
    FHIR references of the source columns (ids, not words)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        classes = (dict(attrs).get("class") or "").split()
        if tag in ("script", "style") or "source" in classes or self._skip:
            self._skip += 1

    def handle_endtag(self, tag):  # noqa: ANN001
        if self._skip:
            self._skip -= 1

    def handle_data(self, data):  # noqa: ANN001
        if not self._skip and data.strip():
            self.parts.append(data.strip())


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_speaks_the_cards_language_not_the_rules_ids(app, language):
    """The page carries the full evidence, in words: no provenance tags, parameter ids, OCR notes,
    research references or concept keys (the same checks as every card's text, issue #16); the
    provenance of the criterion-2 threshold and the interim values that decided the outcome are
    said in plain words."""
    from tests.test_card_text import _hits

    problems = []
    for slug in SLUGS:
        _, html = render_page(app, slug, language)
        reader = _VisibleText()
        reader.feed(html)
        problems += [f"{slug}: {hit}" for text in reader.parts for hit in _hits(text, language)]
    assert not problems, "\n".join(problems[:40])

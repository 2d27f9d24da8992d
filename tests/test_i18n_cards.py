"""Every card of every demo patient in both languages: the same finding codes, indicators and
suggestions; Chinese text in the Chinese cards; no catalog id or unfilled placeholder; the
Accept-Language header and GMG_CDS_LANGUAGE choose the language through the real endpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from hooks import i18n, order_select, order_sign, patient_view
from hooks.registry import HookCall
from tests.conftest import TODAY, hook_request, local_settings
from tests.test_demo_patients import prefetch_of

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ROOT / "demo" / "bundles"
ORDERS = ROOT / "demo" / "orders"
HAN = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
CATALOG_IDS = set(i18n.catalog("en"))


def _bundle(slug: str) -> tuple[str, dict[str, Any]]:
    return prefetch_of(json.loads((BUNDLES / f"{slug}.json").read_text(encoding="utf-8")))


def _calls() -> list[tuple[str, Any, dict[str, Any], dict[str, Any]]]:
    out = []
    for path in sorted(BUNDLES.glob("*.json")):
        pid, pf = _bundle(path.stem)
        out.append((path.stem, patient_view.handle, {"patientId": pid, "userId": "Practitioner/demo"}, pf))
    for path in sorted(ORDERS.glob("*.json")):
        req = json.loads(path.read_text(encoding="utf-8"))
        _, pf = _bundle(path.stem)
        for hook, handler in (("order-select", order_select.handle), ("order-sign", order_sign.handle)):
            out.append((f"{path.stem}/{hook}", handler, dict(req["context"]), pf))
    return out


CALLS = _calls()


def _cards(handler, context, prefetch, language: str) -> list[dict[str, Any]]:
    hook = {patient_view.handle: "patient-view", order_select.handle: "order-select"}.get(handler, "order-sign")
    call = HookCall(f"gmg-{hook}", hook, "h", context, prefetch, frozenset(), TODAY, language=language)
    return [c.to_json() for c in handler(call)]


def _texts(card: dict[str, Any]) -> list[str]:
    out = [card["summary"], card.get("detail", ""), card["source"]["label"]]
    out += [s["label"] for s in card.get("suggestions", [])]
    out += [a["description"] for s in card.get("suggestions", []) for a in s["actions"]]
    out += [link["label"] for link in card.get("links", [])]
    out += [r["display"] for r in card.get("overrideReasons", [])]
    return out


def _shape(card: dict[str, Any]) -> tuple[Any, ...]:
    return (
        [f["code"] for f in card["extension"]["gmg-cds"]["findings"]],
        card["indicator"],
        len(card.get("suggestions", [])),
        [len(s["actions"]) for s in card.get("suggestions", [])],
        [r["code"] for r in card.get("overrideReasons", [])],
        [link["url"] for link in card.get("links", [])],
    )


def _strip_resources(card: dict[str, Any]) -> list[Any]:
    """The suggested FHIR resources without uuids (orders keep their codes and English text)."""
    return [[a.get("resource"), a.get("resourceId")] for s in card.get("suggestions", []) for a in s["actions"]]


@pytest.mark.parametrize("name, handler, context, prefetch", CALLS, ids=[c[0] for c in CALLS])
def test_chinese_cards_match_english_cards_and_are_chinese(name, handler, context, prefetch):
    en = _cards(handler, context, prefetch, "en")
    zh = _cards(handler, context, prefetch, "zh-CN")
    assert [_shape(c) for c in zh] == [_shape(c) for c in en], name
    assert [_strip_resources(c) for c in zh] == [_strip_resources(c) for c in en], name
    for card in en:
        assert not any(HAN.search(text) for text in (card["summary"], card["source"]["label"])), name
    for card in zh:
        assert len(card["summary"]) < 140
        assert HAN.search(card["summary"]), (name, card["summary"])
        assert HAN.search(card.get("detail", "")), (name, card["summary"])
        assert HAN.search(card["source"]["label"])
        for text in _texts(card):
            assert text.strip(), name
            assert not PLACEHOLDER.search(text), (name, text)
            assert text not in CATALOG_IDS, (name, text)
        for s in card.get("suggestions", []):
            assert HAN.search(s["label"]), (name, s["label"])


def test_demo_calls_cover_cards_of_every_builder():
    sources = {c["source"]["label"] for _, h, ctx, pf in CALLS for c in _cards(h, ctx, pf, "zh-CN")}
    assert len(sources) >= 5  # assessment, therapy, rapid, trials, order safety (and antibody)


def test_acute_summary_is_clipped_below_the_limit_in_both_languages():
    from hooks.assessment_cards import _clip

    for lang in i18n.LANGUAGES:
        with i18n.use_language(lang):
            inner = i18n.t("summary.cn-met", criteria="3-1, 3-2, 3-3, 3-4", serotype="seronegative (CBA)")
            assert len(_clip(i18n.t("summary.acute", text=inner))) < 140


def _post(client, slug: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    pid, pf = _bundle(slug)
    body = hook_request("patient-view", {"patientId": pid, "userId": "Practitioner/demo"}, prefetch=pf)
    resp = client.post("/cds-services/gmg-patient-view", json=body, headers=headers or {})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["cards"]


def test_accept_language_switches_the_card_language_over_http(client):
    en = _post(client, "met-3-1")
    zh = _post(client, "met-3-1", {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    en_again = _post(client, "met-3-1", {"Accept-Language": "en-US"})
    assert not HAN.search(en[0]["summary"]) and not HAN.search(en_again[0]["summary"])
    assert HAN.search(zh[0]["summary"]) and HAN.search(zh[0]["detail"])
    assert [_shape(c) for c in zh] == [_shape(c) for c in en]


def test_deployment_default_language_and_override_per_request(tmp_path):
    client = create_app(local_settings(tmp_path, language="zh-CN")).test_client()
    default = _post(client, "met-3-1")
    assert HAN.search(default[0]["summary"])
    english = _post(client, "met-3-1", {"Accept-Language": "en"})
    assert not HAN.search(english[0]["summary"])
    assert english[0]["summary"].startswith("Refractory gMG (Chinese consensus")


def test_order_hooks_speak_chinese_over_http(tmp_path):
    client = create_app(local_settings(tmp_path)).test_client()
    req = json.loads((ORDERS / "met-3-1.json").read_text(encoding="utf-8"))
    _, pf = _bundle("met-3-1")
    body = hook_request(req["hook"], req["context"], prefetch=pf)
    resp = client.post(f"/cds-services/gmg-{req['hook']}", json=body, headers={"Accept-Language": "zh"})
    cards = resp.get_json()["cards"]
    assert cards and all(HAN.search(c["summary"]) for c in cards)
    codes = {f["code"] for c in cards for f in c["extension"]["gmg-cds"]["findings"]}
    assert "safety.c5.meningococcal-vaccine-missing" in codes

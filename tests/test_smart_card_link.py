"""Every patient-view card of an MG patient links to the MG summary (a `smart` link to the launch
URL, labelled in the card's language); order cards do not; a site turns the link off with
GMG_CDS_SMART_CARD_LINK=0; without a SMART client id in production there is no link to a page
that could not be launched. Over HTTP, in the local and the production profile."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.settings import ConfigError, Settings
from tests.conftest import hook_request, local_settings
from tests.security_helpers import PUBLIC_BASE, bearer, mint, production_settings
from tests.test_demo_patients import prefetch_of

DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"
ORDERS = Path(__file__).resolve().parents[1] / "demo" / "orders"


def patient_view(client, slug: str, headers: dict[str, str] | None = None, url: str = "/cds-services/gmg-patient-view"):
    pid, prefetch = prefetch_of(json.loads((DEMO / f"{slug}.json").read_text(encoding="utf-8")))
    body = hook_request("patient-view", {"patientId": pid, "userId": "Practitioner/demo"}, prefetch=prefetch)
    resp = client.post(url, json=body, headers=headers or {})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["cards"]


def summary_links(card: dict) -> list[dict]:
    return [link for link in card.get("links", []) if link.get("type") == "smart"]


def test_every_patient_view_card_links_to_the_summary_in_its_language(tmp_path):
    client = create_app(local_settings(tmp_path)).test_client()
    for slug in ("course-refractory", "met-3-4", "ocular-only", "therapy-achr"):
        cards = patient_view(client, slug)
        assert cards
        for card in cards:
            assert summary_links(card) == [{"label": "MG summary", "url": "http://localhost/smart/launch",
                                            "type": "smart"}]
    zh = patient_view(client, "met-3-1", {"Accept-Language": "zh-CN"})
    assert {link["label"] for c in zh for link in summary_links(c)} == {"MG 病程总览"}
    assert {link["url"] for c in zh for link in summary_links(c)} == {"http://localhost/smart/launch"}
    assert patient_view(client, "no-mg") == []  # no MG: no card, so no link


def test_order_cards_carry_no_summary_link(tmp_path):
    client = create_app(local_settings(tmp_path)).test_client()
    req = json.loads((ORDERS / "met-3-1.json").read_text(encoding="utf-8"))
    _, prefetch = prefetch_of(json.loads((DEMO / "met-3-1.json").read_text(encoding="utf-8")))
    resp = client.post(f"/cds-services/gmg-{req['hook']}", json=hook_request(req["hook"], req["context"], prefetch=prefetch))
    cards = resp.get_json()["cards"]
    assert cards and not any(summary_links(c) for c in cards)


def test_a_site_turns_the_link_off(tmp_path):
    client = create_app(local_settings(tmp_path, smart_card_link=False)).test_client()
    cards = patient_view(client, "met-3-4")
    assert cards and not any(summary_links(c) for c in cards)
    env = {"GMG_CDS_ENV": "local", "GMG_CDS_SMART_CARD_LINK": "0"}
    assert Settings.from_env(env).smart_card_link is False
    assert Settings.from_env({"GMG_CDS_ENV": "local"}).smart_card_link is True
    with pytest.raises(ConfigError):
        Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_SMART_CARD_LINK": "maybe"})
    with pytest.raises(ConfigError):  # a short secret is refused, not silently weak
        Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_SMART_SESSION_KEY": "short"})


@pytest.mark.parametrize("client_id, linked", [("epic-client-id-123", True), (None, False)])
def test_production_links_to_the_public_launch_url_only_with_a_client_id(tmp_path, client_id, linked):
    settings = replace(production_settings(tmp_path), smart_client_id=client_id)
    client = create_app(settings).test_client()
    url = f"{PUBLIC_BASE}/cds-services/gmg-patient-view"
    cards = patient_view(client, "met-3-4", bearer(mint(aud=url)))
    assert cards
    for card in cards:
        assert summary_links(card) == ([{"label": "MG summary", "url": f"{PUBLIC_BASE}/smart/launch", "type": "smart"}]
                                       if linked else [])

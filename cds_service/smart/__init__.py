"""The MG summary: a SMART App Launch 2.0 app inside the service (issue 18).

A card can only say in text what a neurologist reads from a course: MG-ADL and QMG over the
years, which drug at which dose for how long, when the rescue courses were, which antibody by
which assay. Every patient-view card of an MG patient links (`links[].type = "smart"`) to this
page; the EHR launches it with the patient in context, the service reads the chart with the
launch's access token and shows the course in charts beside the decision of every definition —
from the same record, rules and parameters as the cards (hooks/summary.py).

    views.py   launch, callback (the page), assets; security headers
    oauth.py   trusted `iss`, discovery, authorization URL and code exchange (Authlib, PKCE S256)
    state.py   the launch state, sealed in a cookie (works across instances; no token kept)
    page.py    FHIR reads (the hooks' prefetch resolution), summary, HTML
    charts.py  plotly.js figures (served by the service itself)
    demo.py    demo launch and demo authorization server (local and demo mode only)

Configuration: GMG_CDS_SMART_CLIENT_ID, GMG_CDS_SMART_CLIENT_SECRET, GMG_CDS_SMART_CARD_LINK,
GMG_CDS_SMART_SESSION_KEY (README "MG summary"); trusted FHIR servers come from
GMG_CDS_TRUSTED_ISSUERS `fhir_servers`.
"""

from __future__ import annotations

import logging
from typing import Callable

from flask import Flask, request

from ..settings import Settings
from ..store import Store
from . import messages
from .assets import Assets
from .config import SmartConfig

LinkMaker = Callable[[], str]


def register(app: Flask, settings: Settings, store: Store) -> LinkMaker | None:
    """Mount the page (and, in local and demo mode, the demo launch and authorization server).
    Returns what makes the cards' launch URL (for the request being served), or None when cards
    carry no link. The URL is the same whatever the card's language: it is the one the EHR
    registers, and the page speaks the language of the clinician's browser (Accept-Language),
    else GMG_CDS_LANGUAGE; `/smart/launch/zh-CN` and `/smart/launch/en` force one."""
    from . import demo, views

    logging.getLogger("authlib").setLevel(logging.WARNING)  # it may log token requests at DEBUG
    cfg = SmartConfig.from_settings(settings, store)
    messages.warm()
    app.register_blueprint(views.blueprint(settings, cfg, Assets.load()))
    if cfg.demo:
        app.register_blueprint(demo.blueprint(settings, cfg))
    if not cfg.card_link:
        return None

    def launch_url() -> str:
        return (settings.public_base_url or request.url_root.rstrip("/")) + "/smart/launch"

    return launch_url

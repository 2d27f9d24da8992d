"""The MG summary page reads EHR-shaped data the way the cards do (issue #18 point 2, issue #14).

The page is launched (SMART EHR launch, real HTTP on 127.0.0.1) against an Epic-like EHR: the
loopback SMART EHR of tests/smart_ehr.py answering its FHIR routes with the Epic-like server of
tests/ehr_shapes/server.py (Observation search refused without `category`, no
MedicationStatement, paging, Medications only read by id), the demo patients reshaped by
tests/ehr_shapes/reshape.py, the service configured with that site's FHIR query file and
ConceptMaps (GMG_CDS_FHIR_QUERIES, GMG_CDS_CONCEPT_MAPS) as in tests/test_ehr_shape_equivalence.py.
The same patients are launched against the canonical EHR (the bundled demo patients). Every
demo patient (a page takes ~0.1-0.3 s).

Shown: the page's decision is the canonical patient's assessment card summary; its decision,
criteria, scores, therapy timeline and rescue tables are the canonical page's (the source
references and evidence labels aside: the Epic-like chart has its own ids and the site's
display text); every Medication the chart refers to was read, once, and the drugs given through
those references (met-3-4's IVIG infusions, its immunosuppressants) are on the timeline.
Test doubles: the EHRs (Epic and Oracle Health cannot run here).
"""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

import terminology
from cds_service.app import create_app
from cds_service.settings import TrustedIssuer, site_fhir_queries
from cds_service.smart import oauth
from cds_service.smart.messages import Messages
from hooks.patient_view import handle
from hooks.summary import summarize
from tests.ehr_shapes.reshape import RESHAPERS
from tests.ehr_shapes.server import EhrFhirServer
from tests.ehr_shapes.sites import RXNORM, SITES_DIR
from tests.security_helpers import PUBLIC_BASE, TODAY, production_settings, signing_key, write_jwks
from tests.smart_ehr import LoopbackEhr
from tests.test_smart_summary import call_for

DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"
SLUGS = tuple(sorted(p.stem for p in DEMO.glob("*.json")))
CLIENT_ID = "gmg-summary-shapes-client"
REDIRECT_URI = PUBLIC_BASE + "/smart/callback"
# Tables compared with the canonical page, and the columns left out (the source reference, and
# the criteria's evidence, whose labels are the site's display text on the Epic-like page).
TABLES = {"definitions": (), "criteria": (2,), "mg-adl-table": (-1,), "qmg-table": (-1,),
          "therapy-table": (-1,), "rescue-table": ()}


class Tables(HTMLParser):
    """The text of every cell of the page's tables (by table id), of the headline, and the
    `data-drug` of the therapy rows."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.headline = ""
        self.drugs: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_headline = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
            if self._table == "therapy-table" and a.get("data-drug"):
                self.drugs.append(a["data-drug"] or "")
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "p" and a.get("id") == "headline":
            self._in_headline = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "p":
            self._in_headline = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_headline:
            self.headline += data

    def compared(self, table: str) -> list[list[str]]:
        return [[c for i, c in enumerate(row) if i not in {k % len(row) for k in TABLES[table]}]
                for row in self.tables.get(table, [])]


class Launcher:
    """One EHR (SMART endpoints + FHIR) and a service configured for it, in the production profile."""

    def __init__(self, tmp: Path, ehr: LoopbackEhr, **site: Any) -> None:
        self.ehr = ehr.start()
        issuer = TrustedIssuer(iss="https://ehr.example.org/cds-hooks",
                               jwks_file=write_jwks(tmp / "ehr-jwks.json", signing_key("ES384")),
                               fhir_servers=(self.ehr.fhir_base,))
        settings = production_settings(tmp, issuers=(issuer,), smart_client_id=CLIENT_ID,
                                       prefetch_budget_seconds=10.0, fhir_timeout_seconds=5.0)
        self.app = create_app(replace(settings, **site))  # reads and checks the site's maps, as at start
        self.maps = terminology.active_concept_maps()
        self.client = self.app.test_client()

    def page(self, slug: str) -> str:
        """The browser: launch from the EHR, sign in there (granted at once), back to the page."""
        terminology.use_concept_maps(self.maps)  # one process serves both sites here
        oauth.clear_discovery_cache()
        started = self.client.get("/smart/launch", base_url=PUBLIC_BASE,
                                  query_string={"iss": self.ehr.fhir_base, "launch": f"launch-{slug}"})
        assert started.status_code == 302, started.get_data(as_text=True)[:300]
        back = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
        assert back.status_code == 302, back.text
        url = urlsplit(back.headers["Location"])
        resp = self.client.get(url.path, query_string=url.query, base_url=PUBLIC_BASE)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:800]
        return resp.get_data(as_text=True)


def _bundle(slug: str) -> dict[str, Any]:
    return json.loads((DEMO / f"{slug}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    charts = {slug: RESHAPERS["epic"](_bundle(slug)) for slug in SLUGS}
    launches = {f"launch-{slug}": chart.patient_id for slug, chart in charts.items()}
    common = dict(client_id=CLIENT_ID, redirect_uri=REDIRECT_URI, today=TODAY, patient_for_launch=launches)
    epic_dir = SITES_DIR / "epic"
    epic = Launcher(tmp_path_factory.mktemp("epic"),
                    LoopbackEhr(**common, fhir=EhrFhirServer("epic", list(charts.values())), fhir_path="/api/FHIR/R4"),
                    fhir_queries=site_fhir_queries(str(epic_dir / "fhir-queries.json")),
                    concept_maps=(str(epic_dir / "concept-maps"),))
    canonical = Launcher(tmp_path_factory.mktemp("canonical"), LoopbackEhr(**common))
    yield {"epic": epic, "canonical": canonical, "charts": charts}
    for site in (epic, canonical):
        site.ehr.stop()
    terminology.use_concept_maps(None)
    oauth.clear_discovery_cache()


@pytest.mark.parametrize("slug", SLUGS)
def test_the_page_on_epic_like_data_says_what_the_canonical_cards_and_page_say(sites, slug):
    epic, canonical, chart = sites["epic"], sites["canonical"], sites["charts"][slug]
    before = len(epic.ehr.fhir_requests)
    got = Tables(epic.page(slug))
    calls = [path for path, _auth in epic.ehr.fhir_requests[before:]]
    want = Tables(canonical.page(slug))

    terminology.use_concept_maps(None)
    call = call_for(slug, "en")
    cards, status = handle(call), summarize(call).mg_status
    assert got.headline.strip() == want.headline.strip()
    if status == "generalized":  # the decision is the assessment card's summary, word for word
        assessment = next(c for c in cards if any(code.startswith("refractory.cn.") for code in c.finding_codes))
        assert got.headline.strip() == assessment.summary
    elif status == "ocular-only":  # the ocular card's summary, word for word
        assert got.headline.strip() == cards[0].summary
    else:  # no refractory decision and no card: the page says why
        assert got.headline.strip() == Messages("en")(f"decision.{status}")
    if status != "generalized":
        codes = {code for c in cards for code in c.finding_codes}
        assert codes == ({"refractory.cn.not-met.diagnosis"} if status == "ocular-only" else set())

    for table in TABLES:
        assert got.compared(table) == want.compared(table), table
    if status == "generalized":  # tables worth comparing
        assert want.tables["definitions"] and want.tables["criteria"] and want.tables["mg-adl-table"]

    # it read the chart as Epic serves it: by category, no MedicationStatement, Medications by id, once each
    searches = [p for p in calls if "/Observation?" in p]
    assert searches and all("category=" in p for p in searches)
    assert not any("MedicationStatement" in p for p in calls)
    reads = sorted(p.rsplit("/", 1)[1] for p in calls if "/Medication/" in p)
    assert reads == sorted(chart.medications)


def _ingredient(medication: dict[str, Any]) -> str:
    """The ingredient an Epic-like Medication names (its RxNorm ingredient coding)."""
    found = [terminology.concept_for(c["system"], c["code"]) for c in medication["code"]["coding"] if c["system"] == RXNORM]
    return next(c.key for c in found if c is not None)


def test_the_drugs_given_through_referenced_medications_are_on_the_timeline(sites):
    """met-3-4: IVIG infusions are MedicationAdministrations pointing to a Medication the EHR
    serves only by id; its immunosuppressants are MedicationRequests doing the same."""
    chart = sites["charts"]["met-3-4"]
    page = Tables(sites["epic"].page("met-3-4"))
    referenced = {_ingredient(m) for m in chart.medications.values()}
    administrations = [r for r in chart.resources if r["resourceType"] == "MedicationAdministration"]
    ivig_days = sorted({a["effectiveDateTime"][:10] for a in administrations
                        if _ingredient(chart.medications[a["medicationReference"]["reference"].split("/")[1]]) == "ivig"})
    assert "ivig" in referenced and len(ivig_days) >= 3
    assert all("medicationCodeableConcept" not in r for r in chart.resources
               if r["resourceType"].startswith("Medication"))  # every drug of this chart comes by reference

    rescue = page.tables["rescue-table"]
    ivig = [row for row in rescue if row[0] == "IVIG"]
    assert ivig and ivig[0][1] <= ivig_days[0] and all(any(r[1] <= d <= r[2] for r in ivig) for d in ivig_days)
    # the other referenced drugs (prednisone, azathioprine) are the timeline, and nothing else is
    assert set(page.drugs) == referenced - {"ivig"} and len(referenced) >= 3

"""The terminology data files: they load, they are consistent, and they carry the codes the rules need."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

import terminology
from terminology import systems

RXNORM = systems.RXNORM
SNOMED = systems.SNOMED
LOINC = systems.LOINC
ATC = systems.ATC
CVX = systems.CVX
ICD10CM = systems.ICD10CM
CPT = systems.CPT

DOMAINS = {
    "conditions",
    "observations",
    "medications",
    "procedures",
    "immunizations",
    "local",
    "routes",
}

# Concept keys of /work/notes/concept-keys.md that have a verified code (the others are listed
# in terminology/README.md, "Left out").
AGREED_KEYS_PRESENT = {
    # conditions
    "mg", "mg-generalized", "mg-exacerbation", "myasthenic-crisis", "mg-thymoma", "mg-ocular",
    "congenital-myasthenic-syndrome", "drug-induced-mg", "neonatal-mg", "lambert-eaton", "thymoma",
    "iga-deficiency", "hepatitis-b", "hepatitis-c", "pregnancy", "sepsis", "hiv", "hypotension",
    "lactation",
    # antibodies
    "achr-binding", "achr-blocking", "achr-modulating", "achr", "musk", "lrp4", "titin",
    # labs
    "iga", "igg", "igm", "hbsag", "anti-hbc", "hbv-dna", "hcv-antibody", "hiv-ag-ab",
    "haematocrit", "creatinine", "egfr", "alt", "ast", "bilirubin-total", "lipase", "amylase",
    "tacrolimus-trough", "cyclosporine-trough", "cd19-b-cells", "hcg", "tpmt", "pregnancy-status",
    # vitals
    "weight", "height", "bp-systolic", "bp-diastolic", "bp-panel",
    # local scores and value codes
    "mg-adl-total", "mg-adl-talking", "mg-adl-chewing", "mg-adl-swallowing", "mg-adl-breathing",
    "mg-adl-brushing-combing", "mg-adl-arising-chair", "mg-adl-diplopia", "mg-adl-ptosis",
    "qmg-total", "mgc-total", "mg-qol15r-total", "mgfa-class", "mgfa-pis",
    "mgfa-class-I", "mgfa-class-IIa", "mgfa-class-IIb", "mgfa-class-IIIa", "mgfa-class-IIIb",
    "mgfa-class-IVa", "mgfa-class-IVb", "mgfa-class-V",
    "pis-CSR", "pis-PR", "pis-MM", "pis-MM-0", "pis-MM-1", "pis-MM-2", "pis-MM-3",
    "pis-I", "pis-U", "pis-W", "pis-E", "pis-D",
    "assay-cba", "assay-ripa", "assay-elisa", "assay-other",
    "result-positive", "result-negative",
    # medications
    "prednisone", "prednisolone", "methylprednisolone",
    "azathioprine", "mycophenolate-mofetil", "mycophenolic-acid", "methotrexate",
    "cyclophosphamide", "tacrolimus", "cyclosporine",
    "eculizumab", "ravulizumab", "zilucoplan",
    "efgartigimod", "efgartigimod-hyaluronidase", "rozanolixizumab", "nipocalimab",
    "rituximab", "ofatumumab", "inebilizumab", "ivig", "ig-sc", "pyridostigmine",
    "carbamazepine", "phenytoin", "phenobarbital", "rifampin",
    "ketoconazole", "voriconazole", "ritonavir", "itraconazole",
    # procedures
    "plex", "immunoadsorption", "ivig-infusion", "thymectomy", "hsct",
    # immunizations
    "menacwy", "menb", "menabcwy", "hepb",
    # routes
    "route-oral", "route-iv", "route-sc",
}


def _data_files() -> list:
    return sorted(
        (p for p in resources.files("terminology.data").iterdir() if p.name.endswith(".json")),
        key=lambda p: p.name,
    )


def _docs() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in _data_files()]


def test_every_domain_file_is_present_and_well_formed() -> None:
    docs = _docs()
    assert {d["domain"] for d in docs} == DOMAINS
    for doc in docs:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", doc["version"]), doc["domain"]
        assert doc["description"].strip()
        assert doc["concepts"], doc["domain"]
        for raw in doc["concepts"]:
            assert re.fullmatch(r"[a-z0-9][A-Za-z0-9-]*", raw["key"]), raw["key"]
            assert raw["display"].strip()
            assert isinstance(raw.get("classes", []), list)
            assert raw["codes"], f"{raw['key']} has no code"


def test_every_code_has_system_display_and_source() -> None:
    for doc in _docs():
        for raw in doc["concepts"]:
            for c in raw["codes"]:
                where = f"{raw['key']} {c.get('system')}|{c.get('code')}"
                assert c["system"].startswith(("http://", "https://")), where
                assert c["code"].strip() == c["code"] and c["code"], where
                assert c["display"].strip(), where
                assert len(c["source"].strip()) >= 10, where


def test_the_loader_reads_every_file_and_every_code() -> None:
    terminology.warm()
    index = terminology._index()
    total_codes = sum(len(raw["codes"]) for doc in _docs() for raw in doc["concepts"])
    total_keys = sum(len(doc["concepts"]) for doc in _docs())
    assert len(index.by_key) == total_keys
    # every code is indexed; none is shadowed by another concept (the loader raises on a clash)
    assert len(index.by_code) == total_codes


def test_no_code_maps_to_two_concepts_and_no_key_is_reused() -> None:
    seen_codes: dict[tuple[str, str], str] = {}
    seen_keys: set[str] = set()
    for doc in _docs():
        for raw in doc["concepts"]:
            assert raw["key"] not in seen_keys, raw["key"]
            seen_keys.add(raw["key"])
            for c in raw["codes"]:
                k = (c["system"], c["code"])
                assert seen_codes.setdefault(k, raw["key"]) == raw["key"], (k, raw["key"], seen_codes[k])


def test_agreed_concept_keys_are_present() -> None:
    keys = {c.key for domain in DOMAINS for c in terminology.concepts_in_domain(domain)}
    missing = {k for k in AGREED_KEYS_PRESENT if k not in keys}
    assert not missing


def test_concepts_in_domain_lists_each_data_file_in_key_order() -> None:
    for doc in _docs():
        got = terminology.concepts_in_domain(doc["domain"])
        assert [c.key for c in got] == sorted(raw["key"] for raw in doc["concepts"]), doc["domain"]
        assert all(c.domain == doc["domain"] and c is terminology.concept(c.key) for c in got)
    assert terminology.concepts_in_domain("no-such-domain") == ()


@pytest.mark.parametrize(
    ("system", "code", "key"),
    [
        (SNOMED, "91637004", "mg"),
        (ICD10CM, "G70.00", "mg"),
        (ICD10CM, "G70.01", "mg-exacerbation"),
        (SNOMED, "230686005", "mg-generalized"),
        (SNOMED, "80976008", "myasthenic-crisis"),
        (SNOMED, "230684008", "mg-ocular"),
        (SNOMED, "414927004", "mg-ocular"),
        (SNOMED, "190979003", "iga-deficiency"),
        (LOINC, "11034-6", "achr-binding"),
        (LOINC, "11561-8", "achr-blocking"),
        (LOINC, "30192-9", "achr-modulating"),
        (LOINC, "51716-9", "musk"),
        (LOINC, "2458-8", "iga"),
        (LOINC, "2160-0", "creatinine"),
        (LOINC, "38483-4", "creatinine"),
        (LOINC, "5196-1", "hbsag"),
        (LOINC, "16933-4", "anti-hbc"),
        (LOINC, "42595-9", "hbv-dna"),
        (LOINC, "3040-3", "lipase"),
        (LOINC, "1798-8", "amylase"),
        (LOINC, "11253-2", "tacrolimus-trough"),
        (LOINC, "3520-4", "cyclosporine-trough"),
        (LOINC, "8116-6", "cd19-b-cells"),
        (LOINC, "29463-7", "weight"),
        (LOINC, "8302-2", "height"),
        (LOINC, "4544-3", "haematocrit"),
        (LOINC, "85354-9", "bp-panel"),
        (RXNORM, "1256", "azathioprine"),
        (RXNORM, "5666", "ivig"),
        (SNOMED, "20720000", "plex"),
        (SNOMED, "225067007", "plex"),
        (CPT, "36514", "plex"),
        (CPT, "36516", "immunoadsorption"),
        (SNOMED, "698802001", "ivig-infusion"),
        (CVX, "114", "menacwy"),
        (CVX, "163", "menb"),
        (CVX, "316", "menabcwy"),
        (CVX, "43", "hepb"),
        (SNOMED, "72892002", "pregnancy"),  # Synthea's pregnancy code
        (SNOMED, "91302008", "sepsis"),
        (ICD10CM, "A41.9", "sepsis"),
        (LOINC, "55284-4", "bp-panel"),  # Synthea's BP panel code
        (LOINC, "33914-3", "egfr"),
    ],
)
def test_key_codes_of_the_rules(system: str, code: str, key: str) -> None:
    found = terminology.concept_for(system, code)
    assert found is not None and found.key == key


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (RXNORM, "6387"),  # lidocaine, wrongly used for azathioprine elsewhere (terminology.md §7)
        (SNOMED, "57724001000119103"),  # not an MG code (terminology.md §7)
        (SNOMED, "57636002"),
        (LOINC, "42233-7"),  # ganglionic AChR antibody: recognised, but not an MG antibody
        (LOINC, "32997-9"),  # cyclosporine C2, not a trough
        (LOINC, "42595-3"),  # wrong check digit of HBV DNA
        (LOINC, "110803-4"),  # AChR order-only term
        (RXNORM, "284848"),  # Protopic (topical tacrolimus)
    ],
)
def test_pitfall_codes_are_not_taken_for_what_they_are_not(system: str, code: str) -> None:
    found = terminology.concept_for(system, code)
    assert found is None or "antibody" not in found.classes
    assert found is None or found.key not in {"azathioprine", "mg", "cyclosporine-trough", "hbv-dna", "tacrolimus"}


def test_ganglionic_achr_is_not_mg_serology() -> None:
    assert terminology.concept_for(LOINC, "42233-7").key == "achr-ganglionic"
    assert "achr-ganglionic" not in terminology.members("antibody")


def test_class_membership() -> None:
    m = terminology.members
    assert m("c5-inhibitor") == {"eculizumab", "ravulizumab", "zilucoplan"}
    assert m("fcrn-antagonist") == {"efgartigimod", "efgartigimod-hyaluronidase", "rozanolixizumab", "nipocalimab", "batoclimab"}
    assert m("anti-cd20") == {"rituximab", "ofatumumab"}
    assert m("anti-cd19") == {"inebilizumab"}
    assert m("b-cell-depleting") == {"rituximab", "ofatumumab", "inebilizumab"}
    assert m("igg-therapeutic-antibody") == {"eculizumab", "ravulizumab", "rituximab", "inebilizumab", "ofatumumab"}
    assert m("glucocorticoid") == {"prednisone", "prednisolone", "methylprednisolone"}
    assert m("nsist") == {
        "azathioprine", "mycophenolate-mofetil", "mycophenolic-acid", "methotrexate",
        "cyclophosphamide", "tacrolimus", "cyclosporine",
    }
    assert m("calcineurin-inhibitor") == {"tacrolimus", "cyclosporine"}
    assert m("teratogen") >= {"mycophenolate-mofetil", "mycophenolic-acid", "methotrexate", "cyclophosphamide"}
    assert m("mg") == {"mg", "mg-generalized", "mg-exacerbation", "myasthenic-crisis", "mg-thymoma"}
    assert m("mg-acute") >= {"mg-exacerbation", "myasthenic-crisis"}
    assert m("mg-excluded") >= {"mg-ocular", "congenital-myasthenic-syndrome", "drug-induced-mg", "neonatal-mg", "lambert-eaton"}
    assert not (m("mg") & m("mg-excluded"))
    assert m("thymoma") == {"thymoma", "mg-thymoma"}
    assert m("meningococcal-acwy") >= {"menacwy", "menabcwy"}
    assert m("meningococcal-b") == {"menb", "menabcwy"}
    assert m("rescue-procedure") == {"plex", "immunoadsorption", "ivig-infusion"}
    assert m("mg-adl-item") == {
        "mg-adl-talking", "mg-adl-chewing", "mg-adl-swallowing", "mg-adl-breathing",
        "mg-adl-brushing-combing", "mg-adl-arising-chair", "mg-adl-diplopia", "mg-adl-ptosis",
    }
    assert m("mg-adl-ocular") == {"mg-adl-diplopia", "mg-adl-ptosis"}
    assert m("antibody") >= {"achr-binding", "achr-blocking", "achr-modulating", "achr", "musk", "lrp4", "titin"}
    assert m("pis-not-improved") == {"pis-U", "pis-W", "pis-E"}


def test_mg_worsening_and_cyp3a4_classes_hold_only_drug_concepts() -> None:
    for cls in ("mg-worsening", "cyp3a4-strong-inducer", "cyp3a4-strong-inhibitor"):
        for key in terminology.members(cls):
            assert terminology.concept(key).domain == "medications", (cls, key)


def test_product_codes_map_to_the_ingredient_concept() -> None:
    cases = {
        "700384": "eculizumab",  # 30 ML eculizumab 10 MG/ML Injection (SCD)
        "700387": "eculizumab",  # ... [Soliris] (SBD)
        "2706345": "eculizumab",  # eculizumab-aagh [Epysqli]
        "2107325": "ravulizumab",
        "2672502": "zilucoplan",
        "2587723": "efgartigimod",
        "2639951": "efgartigimod-hyaluronidase",  # SC co-formulation, own concept
        "2642288": "rozanolixizumab",
        "2712699": "nipocalimab",
        "2373955": "inebilizumab",
        "1657862": "rituximab",
        "2105831": "rituximab",  # biosimilar [Truxima]
        "903857": "pyridostigmine",
        "1809517": "ivig",  # [Privigen]
        "2102440": "ivig",  # [Panzyga]
        "1809063": "ig-sc",  # [Hizentra]
        "2196391": "ig-sc",  # [Xembify]
        "1809038": "ig-im",  # [GamaSTAN]
        # oral/IV conventional immunotherapy as EHRs (and Synthea) send it
        "312617": "prednisone",  # prednisone 5 MG Oral Tablet
        "198145": "prednisone",  # prednisone 10 MG Oral Tablet
        "198142": "prednisolone",  # prednisolone 5 MG Oral Tablet
        "259966": "methylprednisolone",  # 4 MG Oral Tablet
        "1743720": "methylprednisolone",  # 500 MG Injection (IVMP)
        "1743729": "methylprednisolone",  # 1000 MG Injection [Solu-Medrol]
        "105586": "methotrexate",  # 10 MG Oral Tablet (Synthea)
        "200060": "mycophenolate-mofetil",  # 500 MG Oral Tablet
        "616449": "mycophenolic-acid",  # 360 MG DR [Myfortic]
        "198377": "tacrolimus",  # 1 MG Oral Capsule
        "241834": "cyclosporine",  # cyclosporine, modified 100 MG Oral Capsule
        "1734919": "cyclophosphamide",  # 1000 MG Injection
        "198202": "rifampin",
        "197388": "azathioprine",  # 50 MG Oral Tablet
        "311204": "itraconazole",
        "2587899": "ritonavir",  # Paxlovid pack
    }
    for code, key in cases.items():
        found = terminology.ingredient_for(RXNORM, code)
        assert found is not None and found.key == key, code
        assert any(c.code == code and c.role == "product" for c in found.codes)


def test_topical_and_ophthalmic_products_are_not_taken_for_systemic_therapy() -> None:
    for code in ("313189", "314266", "284521",  # tacrolimus ointment (Protopic)
                 "351291", "2055021",  # cyclosporine eye drops (Restasis, Cequa)
                 "1376336",  # prednisolone acetate eye drops (Pred Forte)
                 "1100387"):  # methylprednisolone acetate topical gel
        assert terminology.concept_for(RXNORM, code) is None, code


def test_cyp3a4_and_mg_worsening_classes() -> None:
    m = terminology.members
    assert m("cyp3a4-strong-inducer") == {"carbamazepine", "phenytoin", "phenobarbital", "rifampin"}
    assert m("cyp3a4-strong-inhibitor") >= {"ketoconazole", "voriconazole", "ritonavir"}
    assert m("fluoroquinolone") == {"ciprofloxacin", "levofloxacin", "moxifloxacin"}
    assert m("mg-worsening") >= m("fluoroquinolone") | {"erythromycin", "azithromycin", "propranolol", "metoprolol"}
    assert m("beta-blocker") <= m("mg-worsening") and m("checkpoint-inhibitor") <= m("mg-worsening")
    assert not (m("mg-worsening") & (m("nsist") | m("glucocorticoid")))


def test_old_and_new_atc_map_to_the_same_concept() -> None:
    pairs = [
        ("L04AJ01", "L04AA25", "eculizumab"),
        ("L04AJ02", "L04AA43", "ravulizumab"),
        ("L04AL01", "L04AA58", "efgartigimod"),
        ("L04AL02", "L04AG16", "rozanolixizumab"),
        ("L04AG10", "L04AA47", "inebilizumab"),
        ("L01FA01", "L01XC02", "rituximab"),
    ]
    for new, old, key in pairs:
        a, b = terminology.concept_for(ATC, new), terminology.concept_for(ATC, old)
        assert a is not None and b is not None and a.key == b.key == key
        roles = {c.code: c.role for c in a.codes if c.system == ATC}
        assert roles[new] == "atc" and roles[old] == "atc-legacy"


def test_ingredient_coding_and_roles() -> None:
    c = terminology.coding_for("azathioprine", RXNORM)
    assert c is not None and c.code == "1256" and c.role == "ingredient"
    # Biologics with no RxNorm concept (not FDA-approved; terminology.md §3a): only the project's
    # local code, for a site ConceptMap to map to.
    no_rxnorm = {"telitacicept", "batoclimab"}
    for key in terminology.members("mg-biologic") | terminology.members("nsist") | terminology.members("glucocorticoid"):
        first = terminology.coding_for(key, RXNORM if key not in no_rxnorm else systems.MG_DRUGS)
        assert first is not None and first.role == "ingredient", key
    roles = {c.get("role") for doc in _docs() if doc["domain"] == "medications" for raw in doc["concepts"] for c in raw["codes"]}
    assert roles <= {"ingredient", "product", "brand", "atc", "atc-legacy"}


def test_glucocorticoid_prednisone_equivalents() -> None:
    factors = {k: terminology.concept(k).attribute("prednisone_equivalent") for k in terminology.members("glucocorticoid")}
    assert factors == {"prednisone": 1.0, "prednisolone": 1.0, "methylprednisolone": 1.25}


def test_lab_units_and_molar_masses() -> None:
    assert terminology.canonical_unit("iga") == "mg/dL"
    assert terminology.canonical_unit("creatinine") == "mg/dL"
    assert terminology.canonical_unit("weight") == "kg"
    assert terminology.canonical_unit("height") == "cm"
    assert terminology.canonical_unit("haematocrit") == "%"
    assert terminology.canonical_unit("tacrolimus-trough") == "ng/mL"
    assert terminology.canonical_unit("lipase") == "U/L"
    assert terminology.concept("creatinine").attribute("molar_mass_g_per_mol") == pytest.approx(113.12)
    assert terminology.concept("bilirubin-total").attribute("molar_mass_g_per_mol") == pytest.approx(584.66)
    # every canonical unit is one the converter knows
    from terminology.units import normalise_unit

    for concept in (c for domain in DOMAINS for c in terminology.concepts_in_domain(domain)):
        key, unit = concept.key, concept.attribute("unit")
        if unit is not None:
            assert normalise_unit(unit) == unit, (key, unit)


def test_to_canonical_converts_through_the_concept() -> None:
    assert terminology.to_canonical("creatinine", 132.6, "umol/L") == pytest.approx(1.5, abs=1e-3)
    assert terminology.to_canonical("iga", 0.07, "g/L") == pytest.approx(7.0)
    assert terminology.to_canonical("weight", 154, "lbs") == pytest.approx(69.853, abs=1e-3)
    assert terminology.to_canonical("iga", 7, "mmol/L") is None  # no molar mass for IgA
    assert terminology.to_canonical("hbsag", 1, "U/L") is None  # qualitative: no unit


def test_value_set_and_in_class() -> None:
    vs = terminology.value_set("c5-inhibitor", RXNORM)
    assert (RXNORM, "591781") in vs and (RXNORM, "700384") in vs
    assert all(system == RXNORM for system, _ in vs)
    assert terminology.in_class(CVX, "136", "meningococcal-acwy")
    assert not terminology.in_class(CVX, "136", "meningococcal-b")
    assert terminology.in_class("urn:oid:2.16.840.1.113883.6.96", "91637004", "mg")  # OID alias
    assert terminology.ingredient_for(LOINC, "2458-8") is None  # not a medication


def test_lookups_survive_messy_input() -> None:
    assert terminology.concept_for(None, "1256") is None
    assert terminology.concept_for(RXNORM, None) is None
    assert terminology.concept_for(RXNORM, " 1256 ").key == "azathioprine"
    assert terminology.concept_for(RXNORM + "/", "1256").key == "azathioprine"
    assert terminology.concept_for_codings([None, {"system": 3}, {"system": CVX, "code": "203"}]).key == "menacwy"
    assert terminology.concept_for_codings("not a list") is None
    with pytest.raises(KeyError):
        terminology.concept("no-such-key")

"""Two imagined hospitals: what their EHR calls the things the service reads.

"Epic-like" and "Cerner-like" follow what ../shared/background/ehr-data-shapes.md records of the
two products (§1 Epic, §2 Oracle Health / Cerner Millennium); the *site-built* parts (flowsheet
row ids, lab component ids, event codes of a tenant, answer lists) are, as at any real site, the
site's own numbers: the ones here are made up for these tests and mean nothing outside them.
The site ConceptMaps in `sites/<site>/concept-maps/` and the site query files
`sites/<site>/fhir-queries.json` are what each hospital's integrator writes for these codes
(docs/SITE-INTEGRATION.md); `tests/test_ehr_shapes.py` checks they agree with the tables here.
"""

from __future__ import annotations

from pathlib import Path

SITES_DIR = Path(__file__).resolve().parent / "sites"

GMG = "https://gmg-cds.github.io/fhir/CodeSystem"
MG_SCORES = f"{GMG}/mg-scores"
MGFA_CLASS = f"{GMG}/mgfa-class"
MGFA_PIS = f"{GMG}/mgfa-pis"
ASSAY = f"{GMG}/antibody-assay"
MG_LABS = f"{GMG}/mg-labs"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# -- Epic-like ("Example Health", organisation segment 861) --------------------------------------
# Epic OIDs carry the organisation/instance segment (ehr-data-shapes.md §1.1: never 1.13.0.1).
EPIC_ORG = "1.2.840.114350.1.13.861.1"
EPIC_FLOWSHEET_ROW = f"urn:oid:{EPIC_ORG}.7.2.707679"  # flowsheet row id (FLO ID)
EPIC_FLOWSHEET_ID = "http://open.epic.com/FHIR/StructureDefinition/observation-flowsheet-id"
EPIC_LAB_COMPONENT = f"urn:oid:{EPIC_ORG}.7.2.768282"  # lab component id
EPIC_LAB_CATEGORY = f"urn:oid:{EPIC_ORG}.7.10.798268.30"  # Epic's "Lab" category coding
EPIC_ERX = f"urn:oid:{EPIC_ORG}.7.2.698288"  # medication record (ERX) id
EPIC_PROCEDURE = f"urn:oid:{EPIC_ORG}.7.2.696580"  # procedure (EAP) id: "CPT substitute"
EPIC_LAB_METHOD = f"urn:oid:{EPIC_ORG}.7.2.768290"  # the site's lab method list (site-built)
EPIC_OUTCOME = f"urn:oid:{EPIC_ORG}.7.2.657369"  # Epic's OperationOutcome detail codes

# Flowsheet rows the site built for its MG clinic (canonical mg-scores code -> (FLO ID, display)).
EPIC_ROWS: dict[str, tuple[str, str]] = {
    "mg-adl-total": ("30450001", "R NEURO MG-ADL TOTAL SCORE"),
    "mg-adl-talking": ("30450011", "R NEURO MG-ADL TALKING"),
    "mg-adl-chewing": ("30450012", "R NEURO MG-ADL CHEWING"),
    "mg-adl-swallowing": ("30450013", "R NEURO MG-ADL SWALLOWING"),
    "mg-adl-breathing": ("30450014", "R NEURO MG-ADL BREATHING"),
    "mg-adl-brushing-combing": ("30450015", "R NEURO MG-ADL BRUSH TEETH/COMB HAIR"),
    "mg-adl-arising-chair": ("30450016", "R NEURO MG-ADL ARISE FROM CHAIR"),
    "mg-adl-diplopia": ("30450017", "R NEURO MG-ADL DOUBLE VISION"),
    "mg-adl-ptosis": ("30450018", "R NEURO MG-ADL EYELID DROOP"),
    "qmg-total": ("30450021", "R NEURO QMG TOTAL SCORE"),
    "mgfa-class": ("30450031", "R NEURO MGFA CLINICAL CLASS"),
    "mgfa-pis": ("30450032", "R NEURO MGFA POST-INTERVENTION STATUS"),
}
# Epic's standard vital-sign rows (ehr-data-shapes.md §1.1: row 14 = Weight).
EPIC_VITAL_ROWS: dict[str, tuple[str, str]] = {
    "29463-7": ("14", "Weight"),
    "8302-2": ("11", "Height"),
    "85354-9": ("5", "BP"),
}
# Lab components of the site's catalogue (LOINC or mg-labs code -> (component id, display)).
EPIC_LAB_COMPONENTS: dict[str, tuple[str, str]] = {
    "11034-6": ("1230011034", "ACETYLCHOLINE RECEPTOR BINDING AB"),
    "51716-9": ("1230051716", "MUSK ANTIBODY"),
    "lrp4-ab": ("1230090412", "LRP4 ANTIBODY"),  # no LOINC: the site map gives it its meaning
    "11253-2": ("1230011253", "TACROLIMUS LEVEL"),
    "16128-1": ("1230016128", "HEPATITIS C AB"),
    "16933-4": ("1230016933", "HEPATITIS B CORE AB TOTAL"),
    "1742-6": ("1230001742", "ALT"),
    "1798-8": ("1230001798", "AMYLASE"),
    "1920-8": ("1230001920", "AST"),
    "1975-2": ("1230001975", "BILIRUBIN TOTAL"),
    "2160-0": ("1230002160", "CREATININE"),
    "2458-8": ("1230002458", "IGA"),
    "2465-3": ("1230002465", "IGG"),
    "3040-3": ("1230003040", "LIPASE"),
    "4544-3": ("1230004544", "HEMATOCRIT"),
    "5196-1": ("1230005196", "HEPATITIS B SURFACE AG"),
    "56888-1": ("1230056888", "HIV 1/2 AG/AB SCREEN"),
}
EPIC_METHODS: dict[str, tuple[str, str]] = {
    "cba": ("5", "CELL BASED ASSAY"),
    "elisa": ("2", "ELISA"),
    "ripa": ("1", "RADIOIMMUNOASSAY"),
}
# Procedure records (EAP) the site performs (SNOMED -> (EAP id, display)).
EPIC_PROCEDURES: dict[str, tuple[str, str]] = {
    "225067007": ("PRO1201", "PLASMAPHERESIS THERAPEUTIC"),
    "43450002": ("SUR3320", "THYMECTOMY, TRANSSTERNAL"),
}
# How the MG clinic's flowsheet rows show the answers (custom lists written as text).
EPIC_MGFA_TEXT = "Class {code}"
EPIC_PIS_TEXT: dict[str, str] = {
    "CSR": "Complete stable remission", "PR": "Pharmacologic remission", "MM": "Minimal manifestations",
    "MM-0": "MM-0", "MM-1": "MM-1", "MM-2": "MM-2", "MM-3": "MM-3", "I": "Improved",
    "U": "Unchanged", "W": "Worse", "E": "Exacerbation", "D": "Died of MG",
}

# -- Cerner-like (Oracle Health Millennium, one tenant) -----------------------------------------
CERNER_TENANT = "ec2458f2-1e24-41c8-b71b-0e701af7583d"  # the tenant ("EHR source id") of §2
CERNER_BASE = f"https://fhir.cerner.com/{CERNER_TENANT}"
CERNER_EVENT = f"{CERNER_BASE}/codeSet/72"  # event codes
CERNER_NOMENCLATURE = f"{CERNER_BASE}/nomenclature"  # coded answers of the tenant's forms
CERNER_METHOD = f"{CERNER_BASE}/codeSet/14003"  # the tenant's assay method list (site-built)
CERNER_SYNONYM = f"{CERNER_BASE}/synonym"  # order synonyms (§2 "MedicationRequest coding")

# Event codes (canonical LOINC / mg-labs / mg-scores code -> (event code, display)).
CERNER_EVENTS: dict[str, tuple[str, str]] = {
    "11034-6": ("21704101", "AChR Binding Ab"),
    "51716-9": ("21704102", "MuSK Ab"),
    "lrp4-ab": ("21704103", "LRP4 Ab"),
    "11253-2": ("21704120", "Tacrolimus Lvl"),
    "16128-1": ("21704131", "Hepatitis C Ab"),
    "16933-4": ("21704132", "Hep B Core Ab Total"),
    "1742-6": ("21704141", "ALT"),
    "1798-8": ("21704142", "Amylase Lvl"),
    "1920-8": ("21704143", "AST"),
    "1975-2": ("21704144", "Bilirubin Total"),
    "2160-0": ("21704145", "Creatinine"),
    "2458-8": ("21704151", "IgA"),
    "2465-3": ("21704152", "IgG"),
    "3040-3": ("21704146", "Lipase Lvl"),
    "4544-3": ("21704161", "Hct"),
    "5196-1": ("21704133", "Hep B Surface Ag"),
    "56888-1": ("21704134", "HIV 1/2 Ag/Ab"),
    "29463-7": ("4154126", "Weight Measured"),
    "8302-2": ("4154125", "Height/Length Measured"),
    "85354-9": ("703501", "Blood Pressure"),
    "8480-6": ("703511", "Systolic Blood Pressure"),
    "8462-4": ("703516", "Diastolic Blood Pressure"),
    "mg-adl-total": ("31200001", "MG-ADL Total Score"),
    "mg-adl-talking": ("31200011", "MG-ADL Talking"),
    "mg-adl-chewing": ("31200012", "MG-ADL Chewing"),
    "mg-adl-swallowing": ("31200013", "MG-ADL Swallowing"),
    "mg-adl-breathing": ("31200014", "MG-ADL Breathing"),
    "mg-adl-brushing-combing": ("31200015", "MG-ADL Brushing Teeth/Combing Hair"),
    "mg-adl-arising-chair": ("31200016", "MG-ADL Arising from Chair"),
    "mg-adl-diplopia": ("31200017", "MG-ADL Double Vision"),
    "mg-adl-ptosis": ("31200018", "MG-ADL Eyelid Droop"),
    "qmg-total": ("31200021", "QMG Total Score"),
    "mgfa-class": ("31200031", "MGFA Clinical Classification"),
    "mgfa-pis": ("31200032", "MGFA Post-Intervention Status"),
}
# Tenant-coded answers: (canonical system, code) -> (nomenclature id, display).
CERNER_ANSWERS: dict[tuple[str, str], tuple[str, str]] = {
    **{(MGFA_CLASS, c): (f"90120{n:02d}", f"Class {c}")
       for n, c in enumerate(("I", "IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb", "V"))},
    **{(MGFA_PIS, c): (f"90130{n:02d}", EPIC_PIS_TEXT[c]) for n, c in enumerate(EPIC_PIS_TEXT)},
    (SNOMED, "10828004"): ("9014001", "Positive"),
    (SNOMED, "260385009"): ("9014002", "Negative"),
}
CERNER_METHODS: dict[str, tuple[str, str]] = {
    "cba": ("3355001", "Cell-based assay"),
    "elisa": ("3355002", "ELISA"),
    "ripa": ("3355003", "RIA"),
}
CERNER_VACCINES: dict[str, tuple[str, str]] = {  # CVX -> event code
    "136": ("4210101", "meningococcal conjugate vaccine (MenACWY-O)"),
    "163": ("4210102", "meningococcal group B vaccine (MenB-4C)"),
}

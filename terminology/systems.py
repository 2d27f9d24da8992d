"""Canonical URIs of the code systems the service reads and writes."""

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
CVX = "http://hl7.org/fhir/sid/cvx"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"

# The project's own code systems (gmg-rules.md §1).
GMG_BASE = "https://gmg-cds.github.io/fhir"
MG_SCORES = GMG_BASE + "/CodeSystem/mg-scores"
MGFA_CLASS = GMG_BASE + "/CodeSystem/mgfa-class"
MGFA_PIS = GMG_BASE + "/CodeSystem/mgfa-pis"
ANTIBODY_ASSAY = GMG_BASE + "/CodeSystem/antibody-assay"
MG_LABS = GMG_BASE + "/CodeSystem/mg-labs"
MG_DRUGS = GMG_BASE + "/CodeSystem/mg-drugs"  # drugs with no RxNorm or ATC code (telitacicept, batoclimab)
CTCAE_GRADE_EXTENSION = GMG_BASE + "/StructureDefinition/ctcae-grade"

# Spellings seen in real data for the same systems (urn:oid forms, http/https, trailing slash).
ALIASES: dict[str, str] = {
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "https://snomed.info/sct": SNOMED,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "https://loinc.org": LOINC,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    "https://www.nlm.nih.gov/research/umls/rxnorm": RXNORM,
    "urn:oid:2.16.840.1.113883.6.73": ATC,
    "https://www.whocc.no/atc": ATC,
    "urn:oid:2.16.840.1.113883.12.292": CVX,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    # HL7 v3 ObservationInterpretation and v2 table 0078 (abnormal flags), by their OIDs
    "urn:oid:2.16.840.1.113883.5.83": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
    "urn:oid:2.16.840.1.113883.12.78": "http://terminology.hl7.org/CodeSystem/v2-0078",
}

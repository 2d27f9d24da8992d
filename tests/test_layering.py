"""The dependency direction of DESIGN.md: cds_service -> hooks -> {fhir_mappings, gmg} ->
terminology. The clinical logic never imports web, HTTP or FHIR-model code; the mappings never
import rule modules (only the record, findings and order data types, and the parameter set for
the thresholds a reading depends on)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports_of(package: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        out[str(path.relative_to(ROOT))] = names
    return out


FORBIDDEN = {
    "gmg": ("flask", "werkzeug", "requests", "fhir.resources", "fhir_mappings", "hooks", "cds_service", "sqlalchemy"),
    "terminology": ("flask", "requests", "fhir_mappings", "hooks", "cds_service", "gmg"),
    "fhir_mappings": ("flask", "requests", "hooks", "cds_service"),
    "hooks": ("flask", "werkzeug", "requests", "cds_service"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_against_the_dependency_direction(package):
    bad = [
        f"{file}: {name}"
        for file, names in imports_of(package).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package])
    ]
    assert bad == []


def test_mappings_use_only_the_data_types_of_the_clinical_package():
    allowed = {"gmg.record", "gmg.findings", "gmg.orders", "gmg.parameters"}
    used = {n for names in imports_of("fhir_mappings").values() for n in names if n == "gmg" or n.startswith("gmg.")}
    assert used <= allowed, used


PRIVATE_READERS = ("cds_service", "hooks", "fhir_mappings", "gmg", "bench", "demo", "scripts")


def test_nothing_outside_terminology_reads_its_private_names():
    """The terminology package is used through its public API (the list in its docstring):
    `terminology._index()` and the like are its own business. (Its own tests may look inside.)"""
    bad = []
    for package in PRIVATE_READERS:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            aliases = {"terminology"} | {
                a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "terminology"
                for a in n.names}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "terminology":
                    bad += [f"{path.relative_to(ROOT)}: from {node.module} import {a.name}"
                            for a in node.names if a.name.startswith("_")]
                elif (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                      and isinstance(node.value, ast.Name) and node.value.id in aliases):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert bad == []

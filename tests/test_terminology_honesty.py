"""Terminology honesty (issue #17 point 6): every drug class or drug a rule, a message or a trial
names is in the terminology - a class with at least one member, or a concept key - so a real
order of it is recognised. The names are read from the rule modules themselves (the arguments of
the calls that look classes up, the class tables the checks keep, the option classes, the trial
files) and from the messages, not from a hand-written list."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import terminology
from gmg.drugs import DRUGS
from gmg.safety import mg_worsening
from tests.safety_builders import PARAMS, TODAY, draft, mg_condition, record, run

ROOT = Path(__file__).resolve().parents[1]

# Calls whose string arguments are terminology classes or concept keys (gmg/ and gmg/safety/).
# Trial criterion kinds whose `classes` are drug classes (mgfa_class_in's are MGFA classes).
DRUG_CLASS_KINDS = {"relapse_despite_therapy", "drug_absent_within", "therapy_stable_for"}
CLASS_CALLS = {"members", "drafts", "is_", "exposure_is", "active_conditions", "exposures_to", "_exposures_of"}


def _string_values(node: ast.AST, module_names: dict[str, list[str]]) -> list[str]:
    """String constants in an argument: a literal, a tuple/list/set of them, or a module-level
    name bound to such a collection (also when starred)."""
    if isinstance(node, ast.Starred):
        node = node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [v for e in node.elts for v in _string_values(e, module_names)]
    if isinstance(node, ast.Name):
        return module_names.get(node.id, [])
    return []


def _module_collections(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level names bound to collections of strings (tuples, sets, dict keys)."""
    out: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if isinstance(value, ast.Call) and value.args:  # frozenset({...})
                value = value.args[0]
            strings: list[str] = []
            if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
                strings = [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            elif isinstance(value, ast.Dict):
                strings = [k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            for t in targets:
                if isinstance(t, ast.Name) and strings:
                    out[t.id] = strings
    return out


def names_in_rules() -> dict[str, set[str]]:
    """name -> the rule files that use it as a class or a drug."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "gmg").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        collections = _module_collections(tree)
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name in CLASS_CALLS:
                    for a in node.args:
                        names += _string_values(a, collections)
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In):
                right = node.comparators[0]
                if isinstance(right, ast.Attribute) and right.attr == "drug_classes":
                    names += _string_values(node.left, collections)
            for n in names:
                found.setdefault(n, set()).add(where)
    # the class tables the checks keep (each key is a class or a drug a card names)
    for table in (mg_worsening.SUBCLASSES,):
        for n in table:
            found.setdefault(n, set()).add("gmg/safety/mg_worsening.py SUBCLASSES")
    from gmg.prerequisites import CYP3A4_MODULATORS

    for n in CYP3A4_MODULATORS:
        found.setdefault(n, set()).add("gmg/prerequisites.py CYP3A4_MODULATORS")
    # the option classes and the drugs the options offer
    for ingredient, info in DRUGS.items():
        found.setdefault(ingredient, set()).add("gmg/drugs.py")
        found.setdefault(info.option, set()).add("gmg/drugs.py (option)")
    # the trial files' drug classes
    for path in sorted((ROOT / "gmg" / "trials").glob("*.json")):
        def walk(c: dict) -> None:
            args = c.get("args", {})
            drug_names = args.get("ingredients", []) + (args.get("classes", []) if c["kind"] in DRUG_CLASS_KINDS else [])
            for n in drug_names:
                found.setdefault(n, set()).add(path.name)
            for sub in c.get("args", {}).get("criteria", []):
                walk(sub)
        for c in json.loads(path.read_text(encoding="utf-8"))["criteria"]:
            walk(c)
    return found


def names_in_messages() -> dict[str, set[str]]:
    """Classes and drugs the card messages name by id: `option.<class>` and the MG-worsening
    subclasses shown as evidence values (`evidence-value.<subclass>`)."""
    en = json.loads((ROOT / "hooks" / "messages" / "en.json").read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for key in en:
        if key.startswith("option.") and key.count(".") == 1:
            out.setdefault(key.removeprefix("option."), set()).add(f"en.json {key}")
        if key.startswith("evidence-value.") and key.removeprefix("evidence-value.") in mg_worsening.SUBCLASSES:
            out.setdefault(key.removeprefix("evidence-value."), set()).add(f"en.json {key}")
    return out


def _known(name: str) -> bool:
    try:
        terminology.concept(name)
        return True
    except KeyError:
        return bool(terminology.members(name))


def test_the_collector_finds_what_the_rules_name():
    found = names_in_rules()
    # spot checks that the reading works: a members() call, a drafts() call, a starred module
    # tuple, a `... in e.drug_classes` test, a check table and a trial file
    assert {"glucocorticoid", "mg-worsening", "fcrn-antagonist", "cyp3a4-strong-inhibitor",
            "immune-globulin-iv", "telithromycin", "anti-cd20"} <= set(found)
    assert any(w.endswith(".json") for w in found["glucocorticoid"])
    assert "tacrolimus" in names_in_messages()


@pytest.mark.parametrize("name, where", sorted({**names_in_rules(), **names_in_messages()}.items()))
def test_every_class_or_drug_a_rule_or_message_names_is_in_the_terminology(name, where):
    assert _known(name), f"{name!r} (named in {sorted(where)}) is neither a concept key nor a class with members"


def test_telithromycin_is_recognised_from_a_real_code_and_fires_the_worsening_check():
    """The drug the MG-worsening check names in its code, messages and tests: ATC J01FA15 (WHO
    index); no RxNorm code is mapped (not verifiable: terminology/data/medications.json note)."""
    concept = terminology.concept_for(terminology.systems.ATC, "J01FA15")
    assert concept is not None and concept.key == "telithromycin" and "mg-worsening" in concept.classes
    assert terminology.coding_for("telithromycin", terminology.systems.RXNORM) is None
    findings = run(record(conditions=(mg_condition(),)), draft("telithromycin"))
    f = next(f for f in findings if f.code == "safety.mg-worsening-drug")
    assert f.data["subclasses"] == ["telithromycin"]


def test_batoclimab_history_counts_for_the_fcrn_washout_but_is_never_offered():
    from gmg.safety._common import members

    assert "batoclimab" in members("fcrn-antagonist") and "batoclimab" not in DRUGS
    batoclimab = terminology.concept_for(terminology.systems.MG_DRUGS, "batoclimab")
    assert batoclimab is not None and batoclimab.key == "batoclimab"
    from datetime import timedelta

    from tests.safety_builders import exposure

    rec = record(conditions=(mg_condition(),), exposures=(exposure("batoclimab", TODAY - timedelta(days=40),
                                                                   TODAY - timedelta(days=5), status="completed"),))
    findings = run(rec, draft("rituximab"))
    assert any(f.code == "safety.fcrn.mab-washout" for f in findings)


def test_test_builders_take_drug_facts_from_the_terminology():
    """tests/safety_builders.py and tests/assessment_records.py have no class table of their own."""
    for name in ("safety_builders.py", "assessment_records.py", "therapy_fixtures.py"):
        text = (ROOT / "tests" / name).read_text(encoding="utf-8")
        assert "frozenset({\"mg-worsening\"" not in text and "CLASSES = {" not in text and "_CLASSES: dict" not in text, name
    assert draft("telithromycin").drug_classes == terminology.concept("telithromycin").classes
    assert PARAMS.version

"""The finding-code registry (hooks/finding_codes.toml) is complete, consistent and what the cards use.

- Every code the rule modules can emit is registered: found by reading every string and f-string
  in gmg/ (not from a hand list), and by running the rules over every demo patient, the §6
  order scenarios and the checks that could not run.
- Every registered code is written in the module the registry names (no entry for a code nothing
  emits), with the indicator the rule gives it.
- Every message the registry names exists in both languages with the same placeholders, and the
  placeholders of the messages the registry fills are values the entry declares.
- Every message id the card builders name literally exists in both languages; every interim
  parameter has its plain words in both languages.
- docs/FINDINGS.md is what `python -m hooks.finding_codes` generates.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hooks import finding_codes, i18n
from hooks.context import parameters
from hooks.finding_codes import RegistryError, load, registry
from tests.test_i18n_cards import CALLS, _cards
from tests.test_i18n_complete import SAFETY_SCENARIOS, safety_cards, unreadable_cards

ROOT = Path(__file__).resolve().parents[1]
FORMATTED = "[A-Za-z0-9.-]*"
DOTTED = re.compile(r"^[a-z][a-z0-9-]*\.[A-Za-z0-9.{}-]*[A-Za-z0-9}]$")
FINDING_CALLS = ("Finding", "make_finding")


def _prefixes() -> tuple[str, ...]:
    """The first segments of the registered codes (refractory, safety, follow-up, ...)."""
    return tuple(sorted({code.split(".", 1)[0] + "." for code in registry().entries}))


def _pattern(node: ast.JoinedStr) -> re.Pattern[str]:
    parts = [re.escape(str(v.value)) if isinstance(v, ast.Constant) else FORMATTED for v in node.values]
    return re.compile("".join(parts) + r"\Z")


def _strings(path: Path) -> tuple[set[str], list[re.Pattern[str]]]:
    """The finding codes a module can emit: the first argument (or `code=`) of every Finding(...)
    and make_finding(...) call, whatever its prefix, and every other string or f-string that starts
    with the prefix of a registered code (codes kept in variables and tables). Literals come back
    as strings, f-strings as patterns."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prefixes = _prefixes()
    literals: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    in_fstring = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    prefix_args = {id(a) for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                   and node.func.attr in ("startswith", "removeprefix", "endswith") for a in ast.walk(node)}

    def take(node: ast.AST, any_prefix: bool) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstring | prefix_args:
            value = node.value
            if DOTTED.match(value) and not value.endswith(".json") and (any_prefix or value.startswith(prefixes)):
                if re.search(r"\{\w*\}", value):  # a str.format template: "data-gap.implausible-{}"
                    patterns.append(re.compile("".join(re.escape(p) if i % 2 == 0 else FORMATTED
                                                       for i, p in enumerate(re.split(r"(\{\w*\})", value))) + r"\Z"))
                else:
                    literals.add(value)
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            head = str(node.values[0].value)
            if (any_prefix and "." in head) or head.startswith(prefixes):
                patterns.append(_pattern(node))
        elif isinstance(node, ast.IfExp):
            take(node.body, any_prefix)
            take(node.orelse, any_prefix)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in FINDING_CALLS:
                for arg in (node.args[:1] + [k.value for k in node.keywords if k.arg == "code"]):
                    take(arg, True)
        take(node, False)
    return literals, patterns


RULE_MODULES = sorted(p for p in (ROOT / "gmg").rglob("*.py"))
SCANNED = {p: _strings(p) for p in RULE_MODULES}


def test_the_registry_loads_and_is_not_empty():
    reg = registry()
    assert len(reg.entries) >= 80 and reg.version >= 1
    for code in reg.entries:
        assert DOTTED.match(code), code


def test_every_code_written_in_a_rule_module_is_registered():
    reg = registry()
    missing = sorted(f"{p.relative_to(ROOT)}: {c}" for p, (lits, _) in SCANNED.items() for c in lits if not reg.knows(c))
    assert not missing, "codes the rules can emit that are not in hooks/finding_codes.toml:\n" + "\n".join(missing)


def test_every_code_family_built_in_a_rule_module_has_an_entry():
    """An f-string code (f"therapy.{option}{suffix}") must match at least one registered code."""
    reg = registry()
    examples = [e.code.replace("{", "").replace("}", "") for e in reg.entries.values()]
    orphans = []
    for path, (_, patterns) in SCANNED.items():
        for pattern in patterns:
            if not any(pattern.match(x) for x in (*reg.entries, *examples)):
                orphans.append(f"{path.relative_to(ROOT)}: {pattern.pattern}")
    assert not orphans, orphans


def test_every_registered_code_is_written_in_its_module():
    reg = registry()
    for e in reg.entries.values():
        path = ROOT / e.module
        assert path.exists(), (e.code, e.module)
        literals, patterns = SCANNED[path]
        sample = e.code
        for name in re.findall(r"\{([a-z_]+)\}", e.code):  # a pattern: one concrete value per segment
            sample = sample.replace(f"{{{name}}}", {"nct": "NCT05828225", "option": "c5-inhibitor", "key": "observations"}[name])
        written = sample in literals or any(p.match(sample) for p in patterns)
        assert written, f"{e.code} is not written in {e.module}"


def _emitted() -> dict[str, set[str]]:
    """code -> the cards' sources it appeared on, over every demo call and every §6 scenario."""
    out: dict[str, set[str]] = {}
    cards = [c for name, handler, context, prefetch in CALLS for c in _cards(handler, context, prefetch, "en")]
    cards += [c for name in SAFETY_SCENARIOS for c in safety_cards(name, "en")]
    cards += unreadable_cards("en")
    for card in cards:
        for f in card["extension"]["gmg-cds"]["findings"]:
            out.setdefault(f["code"], set()).add(card["source"]["label"])
    return out


EMITTED = _emitted()


def test_every_code_on_a_card_is_registered_and_on_the_card_the_registry_names():
    reg = registry()
    for code, sources in EMITTED.items():
        e = reg.entry(code)  # KeyError: not registered
        order = any("order safety" in s for s in sources)
        assert order == e.card.startswith("order-"), (code, e.card, sources)


def test_order_codes_keep_the_indicator_the_rule_gives():
    from tests.safety_builders import run

    reg = registry()
    for name, scenario in SAFETY_SCENARIOS.items():
        rec, orders, serotype = scenario()
        for f in run(rec, *orders, serotype=serotype):
            e = reg.entry(f.code)
            assert e.indicator in (f.indicator, "varies"), (name, f.code, f.indicator, e.indicator)


def test_patient_view_codes_keep_the_indicator_the_rule_gives():
    """Over every demo patient: the assessment, the options, rapid therapy, trials, follow-up."""
    import json as _json

    from fhir_mappings.prefetch import prefetch_from_bundle
    from gmg import dosing
    from gmg.follow_up import rituximab_follow_up
    from gmg.rapid import rapid_options
    from gmg.therapy import therapy_options
    from gmg.trials import match_trials
    from hooks import context
    from hooks.registry import HookCall
    from tests.conftest import TODAY

    reg, checked = registry(), 0
    for path in sorted((ROOT / "demo" / "bundles").glob("*.json")):
        prefetch, pid = prefetch_from_bundle(_json.loads(path.read_text(encoding="utf-8")))
        ev = context.evaluate(HookCall("gmg-patient-view", "patient-view", "h", {"patientId": pid}, prefetch,
                                       frozenset(), TODAY))
        inputs = dosing.dosing_inputs(ev.record, ev.params)
        found = [*ev.assessment.findings, *therapy_options(ev.record, ev.assessment, ev.params, inputs),
                 *rapid_options(ev.record, ev.assessment, ev.params, inputs),
                 *(m.finding for m in match_trials(ev.record, ev.assessment, ev.params)),
                 *filter(None, [rituximab_follow_up(ev.record, ev.params)])]
        for f in found:
            e = reg.entry(f.code)
            assert e.indicator in (f.indicator, "varies"), (path.stem, f.code, f.indicator, e.indicator)
            checked += 1
    assert checked > 100


def test_every_message_the_registry_names_exists_in_both_languages():
    en, zh = i18n.catalog("en"), i18n.catalog("zh-CN")
    for mid in registry().message_ids():
        assert mid in en and mid in zh, mid
        assert i18n.placeholders(en[mid]) == i18n.placeholders(zh[mid]), mid


def test_the_messages_the_registry_fills_take_only_declared_values():
    en = i18n.catalog("en")
    for e in registry().entries.values():
        if not e.card.startswith("order-"):
            continue  # patient-view builders fill their own lines (checked by their card tests)
        ids = [e.detail, *([e.summary] if e.summary else [])]
        ids += [i for v in e.variants for i in (v.summary, v.detail, v.prepend, v.append) if i]
        for mid in ids:
            extra = i18n.placeholders(en[mid]) - set(e.values)
            assert not extra, (e.code, mid, extra)


def _literal_ids(path: Path) -> set[str]:
    """Message ids written literally as the first argument of t(...) / t_or(...)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("t", "t_or")
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.add(node.args[0].value)
    return out


def test_every_message_a_card_builder_names_exists_in_both_languages():
    en, zh = i18n.catalog("en"), i18n.catalog("zh-CN")
    ids = {i for p in (ROOT / "hooks").glob("*.py") for i in _literal_ids(p)}
    assert len(ids) > 50
    missing = sorted(i for i in ids if i not in en or i not in zh)
    assert not missing, missing


def test_every_interim_parameter_is_said_in_plain_words_in_both_languages():
    en, zh = i18n.catalog("en"), i18n.catalog("zh-CN")
    params = parameters()
    interim = [p for p, entry in params.entries.items() if entry.is_interim]
    assert interim
    missing = [p for p in interim if f"param.{p}" not in en or f"param.{p}" not in zh]
    assert not missing, f"add param.<id> messages (plain words) for: {missing}"
    for p in interim:
        assert not re.search(r"[a-z]+_[a-z_]+", en[f"param.{p}"]), en[f"param.{p}"]  # no parameter ids


def test_findings_md_is_generated_from_the_registry():
    committed = (ROOT / "docs" / "FINDINGS.md").read_text(encoding="utf-8")
    assert committed == finding_codes.markdown(), "run: python -m hooks.finding_codes > docs/FINDINGS.md"
    for code in registry().entries:
        assert f"`{code}`" in committed


def test_a_malformed_registry_is_refused_at_load(tmp_path):
    bad = {
        "unknown card": 'card = "sidebar"',
        "unknown value source": 'card = "order-safety"\nvalues = { x = "somewhere" }',
        "unknown suggestion": 'card = "order-safety"\nsuggestions = [{ kind = "telepathy" }]',
        "unknown key": 'card = "order-safety"\ncolour = "red"',
    }
    for what, extra in bad.items():
        path = tmp_path / "r.toml"
        path.write_text(
            'version = 1\n[codes."safety.x"]\nrule = "§6"\nmodule = "m"\nindicator = "info"\n'
            f'meaning = "m"\ndetail = "d"\n{extra}\n', encoding="utf-8")
        with pytest.raises(RegistryError):
            load(path)


def test_patterns_resolve_to_the_most_specific_entry():
    reg = registry()
    assert reg.entry("therapy.c5-inhibitor.not-indicated").code == "therapy.c5-inhibitor.not-indicated"
    assert reg.entry("therapy.anti-cd20.current").code == "therapy.{option}.current"
    assert reg.entry("trial.NCT06371040.possible").code == "trial.{nct}.possible"
    assert not reg.knows("safety.no-such-check")


def test_a_code_not_registered_yet_is_said_by_its_rule_sentence_not_an_error():
    """A release is kept complete by the tests above; should a code still slip through, its card
    says the rule's sentence instead of failing the whole answer."""
    from gmg.findings import Finding
    from hooks import card_text

    f = Finding("data-gap.not-registered-yet", "Something could not be read.")
    assert not registry().knows(f.code)
    assert card_text.detail(f) == "Something could not be read."
    assert card_text.summary(f) == "Something could not be read."

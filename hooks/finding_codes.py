"""The finding-code registry: every code the clinical rules emit, as data (`finding_codes.toml`).

A finding code is the public, machine-readable part of a card (gmg-rules.md §8): EHR analytics,
feedback reports and the audit key on it. The registry says, once, for each code (or pattern such
as `trial.{nct}.candidate`): the rule section and module it comes from, the card it is shown on,
its indicator, a one-line meaning, the ids of its summary and detail messages (both languages live
in `hooks/messages/`), where the values of those messages come from, its variants, and the
suggestions it offers. The card builders read it instead of chains of `if code == ...`;
`docs/FINDINGS.md` is generated from it:

    python -m hooks.finding_codes > docs/FINDINGS.md      (--check docs/FINDINGS.md: exit 1 if stale)

The file is read once per process (lru_cache) and checked on load: unknown keys, cards,
indicators, value sources or suggestion kinds are a `RegistryError`, not a card that breaks later.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

REGISTRY_FILE = Path(__file__).resolve().parent / "finding_codes.toml"

CARDS = ("assessment", "ocular", "optimisation", "antibody", "therapy-options", "rapid", "follow-up", "trials",
         "order-safety", "order-not-checked")
INDICATORS = ("info", "warning", "critical", "varies")
VALUE_SOURCES = ("data.", "param.", "orders", "co_ordered", "serotype", "supplements", "check", "check_advice",
                 "evidence", "order_classes", "text")
SUGGESTION_KINDS = ("create-vaccines", "remove-drafts", "move-start", "create-labs", "create-lab", "swap-to-plex",
                    "swap-to-ivig", "create-supplemental", "set-ivig-dose", "create-trough", "create-cba-tests")
_ENTRY_KEYS = frozenset({"rule", "module", "card", "indicator", "meaning", "summary", "detail", "values",
                         "variants", "suggestions", "facts"})
_VARIANT_KEYS = frozenset({"when", "summary", "detail", "prepend", "append"})
_SEGMENT = "[A-Za-z0-9-]+"


class RegistryError(ValueError):
    """The registry file is malformed (found at start, never in a request)."""


@dataclass(frozen=True)
class Variant:
    when: tuple[str, ...]  # conditions: "data.KEY" (present, not empty) or "data.KEY=VALUE"
    summary: str | None = None
    detail: str | None = None
    prepend: str | None = None
    append: str | None = None

    def holds(self, data: Mapping[str, Any]) -> bool:
        return all(condition_holds(c, data) for c in self.when)


def condition_holds(condition: str, data: Mapping[str, Any]) -> bool:
    key, _, expected = condition.removeprefix("data.").partition("=")
    value = data.get(key)
    if expected:
        return str(value) == expected
    return value not in (None, "", [], {}, False)


@dataclass(frozen=True)
class SuggestionSpec:
    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CodeEntry:
    code: str  # the code, or a pattern with {name} segments
    rule: str
    module: str
    card: str
    indicator: str
    meaning: str
    detail: str
    summary: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()
    suggestions: tuple[SuggestionSpec, ...] = ()
    facts: bool = True  # show the evidence line (false where the detail already says every fact)

    @property
    def is_pattern(self) -> bool:
        return "{" in self.code

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(pattern_regex(self.code))

    def summary_id(self, data: Mapping[str, Any]) -> str | None:
        return next((v.summary for v in self.variants if v.summary and v.holds(data)), self.summary)

    def detail_ids(self, data: Mapping[str, Any]) -> list[str]:
        """The message ids of the detail, in order: matching prepends, the detail, matching appends."""
        main = next((v.detail for v in self.variants if v.detail and v.holds(data)), self.detail)
        before = [v.prepend for v in self.variants if v.prepend and v.holds(data)]
        after = [v.append for v in self.variants if v.append and v.holds(data)]
        return [*before, main, *after]

    def message_ids(self) -> list[str]:
        """Every message id this entry can put on a card."""
        ids = [self.detail, *([self.summary] if self.summary else [])]
        for v in self.variants:
            ids += [i for i in (v.summary, v.detail, v.prepend, v.append) if i]
        for s in self.suggestions:
            ids += [str(s.args[k]) for k in ("label", "action", "why") if k in s.args]
        return list(dict.fromkeys(ids))


def pattern_regex(code: str) -> str:
    out, pos = [], 0
    for m in re.finditer(r"\{[a-z_]+\}", code):
        out.append(re.escape(code[pos:m.start()]) + _SEGMENT)
        pos = m.end()
    return "".join(out) + re.escape(code[pos:]) + r"\Z"


@dataclass(frozen=True)
class Registry:
    version: int
    entries: Mapping[str, CodeEntry]  # by code / pattern, in file order

    def entry(self, code: str) -> CodeEntry:
        """The entry of a code: the exact one, else the most specific matching pattern."""
        found = self.entries.get(code)
        if found is not None:
            return found
        matches = [e for e in self._patterns() if e.regex.match(code)]
        if not matches:
            raise KeyError(f"finding code {code!r} is not in {REGISTRY_FILE.name}")
        return max(matches, key=lambda e: len(e.code.replace("{", "").replace("}", "")))

    def knows(self, code: str) -> bool:
        try:
            self.entry(code)
        except KeyError:
            return False
        return True

    def _patterns(self) -> tuple[CodeEntry, ...]:
        return tuple(e for e in self.entries.values() if e.is_pattern)

    def message_ids(self) -> list[str]:
        return list(dict.fromkeys(i for e in self.entries.values() for i in e.message_ids()))


def _check_values(code: str, values: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for name, source in values.items():
        if not isinstance(source, str) or not (source in VALUE_SOURCES or source.startswith(("data.", "param."))):
            raise RegistryError(f"{code}: value {name!r} has an unknown source {source!r}")
        out[str(name)] = source
    return out


def _variant(code: str, raw: Mapping[str, Any]) -> Variant:
    unknown = set(raw) - _VARIANT_KEYS
    if unknown or "when" not in raw:
        raise RegistryError(f"{code}: variant keys {sorted(unknown)} (needs 'when')")
    when = raw["when"]
    conditions = (when,) if isinstance(when, str) else tuple(when)
    if not conditions or not all(isinstance(c, str) and c.startswith("data.") for c in conditions):
        raise RegistryError(f"{code}: variant condition {when!r}")
    return Variant(conditions, raw.get("summary"), raw.get("detail"), raw.get("prepend"), raw.get("append"))


def _entry(code: str, raw: Mapping[str, Any]) -> CodeEntry:
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise RegistryError(f"{code}: unknown keys {sorted(unknown)}")
    for key in ("rule", "module", "card", "indicator", "meaning", "detail"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise RegistryError(f"{code}: {key!r} is required")
    if raw["card"] not in CARDS:
        raise RegistryError(f"{code}: card {raw['card']!r} (one of {CARDS})")
    if raw["indicator"] not in INDICATORS:
        raise RegistryError(f"{code}: indicator {raw['indicator']!r}")
    suggestions = []
    for s in raw.get("suggestions", ()):
        if s.get("kind") not in SUGGESTION_KINDS:
            raise RegistryError(f"{code}: suggestion kind {s.get('kind')!r} (one of {SUGGESTION_KINDS})")
        suggestions.append(SuggestionSpec(s["kind"], {k: v for k, v in s.items() if k != "kind"}))
    return CodeEntry(
        code=code, rule=raw["rule"], module=raw["module"], card=raw["card"], indicator=raw["indicator"],
        meaning=raw["meaning"], detail=raw["detail"], summary=raw.get("summary"),
        values=_check_values(code, raw.get("values", {})),
        variants=tuple(_variant(code, v) for v in raw.get("variants", ())),
        suggestions=tuple(suggestions),
        facts=bool(raw.get("facts", True)),
    )


def load(path: Path = REGISTRY_FILE) -> Registry:
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    codes = doc.get("codes")
    if not isinstance(codes, dict) or not codes:
        raise RegistryError(f"{path.name}: no [codes] tables")
    return Registry(version=int(doc.get("version", 0)), entries={c: _entry(c, raw) for c, raw in codes.items()})


@lru_cache(maxsize=1)
def registry() -> Registry:
    return load()


def entry(code: str) -> CodeEntry:
    return registry().entry(code)


# -- the public list --------------------------------------------------------------------------

_CARD_WORDS = {
    "assessment": "assessment (patient-view)",
    "ocular": "ocular MG (patient-view)",
    "optimisation": "optimise conventional therapy (patient-view)",
    "antibody": "antibody testing (patient-view)",
    "therapy-options": "next-line options (patient-view)",
    "rapid": "rapid therapy (patient-view)",
    "follow-up": "follow-up after rituximab (patient-view)",
    "trials": "clinical trials (patient-view)",
    "order-safety": "order safety (order-select, order-sign)",
    "order-not-checked": "check not made (order-select, order-sign)",
}


def markdown(reg: Registry | None = None) -> str:
    """docs/FINDINGS.md: the public list of finding codes, grouped by card."""
    reg = reg or registry()
    lines = [
        "# Finding codes",
        "",
        "<!-- Generated from hooks/finding_codes.toml by `python -m hooks.finding_codes`; do not edit. -->",
        "",
        "Every gmg-cds card lists the findings it presents in",
        '`extension["gmg-cds"].findings` (one object per finding, with `code` and the evidence,',
        "parameters and values behind it). Feedback, the audit and EHR analytics key on these codes;",
        "a released code keeps its meaning (a changed meaning gets a new code). `{nct}`, `{option}` and",
        "`{key}` stand for one segment: a trial's NCT number, an option class, a prefetch key.",
        "Rule sections refer to the clinical rules (gmg-rules.md).",
        "",
        f"Registry version {reg.version}; {len(reg.entries)} codes and patterns.",
    ]
    for card in CARDS:
        rows = [e for e in reg.entries.values() if e.card == card]
        if not rows:
            continue
        lines += ["", f"## {_CARD_WORDS[card]}", "", "| code | indicator | rule | meaning |", "|---|---|---|---|"]
        for e in rows:
            lines.append(f"| `{e.code}` | {e.indicator} | {e.rule} | {e.meaning.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Print docs/FINDINGS.md from the finding-code registry.")
    ap.add_argument("--check", metavar="FILE", help="exit 1 when FILE is not what would be generated")
    args = ap.parse_args(argv)
    text = markdown()
    if args.check:
        current = Path(args.check).read_text(encoding="utf-8") if Path(args.check).exists() else ""
        if current != text:
            sys.stderr.write(f"{args.check} is stale: run python -m hooks.finding_codes > {args.check}\n")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

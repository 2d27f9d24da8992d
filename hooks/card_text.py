"""Card text from the finding-code registry: a finding's summary and detail in the call's language.

The registry (`finding_codes.toml`) names, per code, the message ids of its summary and detail and
where each placeholder's value comes from (`values`). This module fills them: values from the
finding's data (drug and test names in the card's language, lists joined the language's way),
clinical parameters, the drafts a finding concerns, the serotype in words. It also writes the two
lines every card ends with: the interim thresholds that decided it, in plain words, and the
parameter-set version. Nothing here names a parameter id, a tag or a finding code: those stay in
the card's `extension["gmg-cds"]`.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping

import terminology
from gmg.findings import Evidence, Finding
from gmg.orders import DraftOrder
from gmg.parameters import Parameters

from .finding_codes import CodeEntry, entry
from .i18n import clinical, concept_name, evidence_label, evidence_value, placeholders, t, t_or, template

SEROTYPES = ("achr", "musk", "lrp4", "seronegative", "unconfirmed", "unknown")
log = logging.getLogger("gmg_cds.cards")


def number(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return f"{v:g}"
    return str(v)


def words(item: Any) -> str:
    """A value from a finding's data in the card's language: a concept key as its name (a drug,
    a vaccine, a test), numbers as written, anything else through the clinical phrase table."""
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return number(item)
    text = str(item)
    try:
        concept = terminology.concept(text)
    except KeyError:
        return clinical(text)
    # English running text names drugs as clinicians write them ("carbamazepine", "mycophenolate
    # mofetil") and keeps a plain one-word name as it is ("lipase"); Chinese uses display_zh.
    plain = text.replace("-", " ") if concept.domain == "medications" or text.isalpha() else None
    return concept_name(text, plain)


def join(items: Iterable[str], how: str = "and") -> str:
    return t("list.comma" if how == "comma" else "list.and").join(items)


def order_name(o: DraftOrder) -> str:
    """How a card names a draft: its drug's name in the card's language, else the name as ordered."""
    if o.concept:
        return concept_name(o.concept, o.concept.replace("-", " "))
    return o.name


def serotype_words(serotype: str | None) -> str:
    return t(f"serotype.{serotype}") if serotype in SEROTYPES else (serotype or "")


def _data_value(spec: str, data: Mapping[str, Any]) -> str:
    key = spec.removeprefix("data.")
    key, _, prefix = key.partition(">")
    how = "and"
    options: set[str] = set()
    for part in (key, prefix):
        if "|" in part:
            how, *rest = part.split("|")[1:]
            options.update(rest)
    key, prefix = key.split("|")[0], prefix.split("|")[0]
    value: Any = data
    for part in key.split("."):  # a nested key: data.order.text
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    items = list(value) if isinstance(value, (list, tuple, dict)) else [value]
    if not items:
        return ""
    if "1dp" in options:  # numbers to one decimal ("2.8" for 2.821 L)
        items = [f"{i:.1f}" if isinstance(i, (int, float)) and not isinstance(i, bool) else i for i in items]
    rendered = [t_or(f"{prefix}{i}", words(i)) if prefix else words(i) for i in items]
    if how == "range":  # a low–high pair, as written ("2.8–4.2")
        return "–".join(rendered)
    return join(dict.fromkeys(rendered), how)


def _param_value(spec: str, params: Parameters | None) -> str:
    pid = spec.removeprefix("param.")
    if params is None or pid not in params.entries:
        return ""
    value = params[pid]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return "–".join(number(v) for v in value)
    return number(value)


def _names(ids: Iterable[str], orders_by_id: Mapping[str, DraftOrder]) -> str:
    names = [order_name(orders_by_id[i]) if i in orders_by_id else i.rsplit("/", 1)[-1] for i in ids]
    return join(dict.fromkeys(names), "comma")


def _supplements(data: Mapping[str, Any], params: Parameters | None) -> str:
    out = []
    for drug, mg in (data.get("supplemental_mg") or {}).items():
        name = concept_name(drug, drug)
        if mg is None:
            out.append(t("supplement.unknown", drug=name))
        elif drug == "eculizumab":
            out.append(t("supplement.minutes", drug=name, mg=number(mg),
                         minutes=_param_value("param.eculizumab_plex_supplement_within_min", params)))
        else:
            out.append(t("supplement.hours", drug=name, mg=number(mg),
                         hours=_param_value("param.ravulizumab_plex_supplement_within_h", params)))
    return join(out, "and")


def values(e: CodeEntry, f: Finding, *, orders_by_id: Mapping[str, DraftOrder] | None = None,
           params: Parameters | None = None) -> dict[str, str]:
    """The placeholder values of a finding's messages, as its registry entry says."""
    data = f.data
    by_id = orders_by_id or {}
    parties = set(data.get("co_ordered", ()))
    out: dict[str, str] = {}
    for name, spec in e.values.items():
        if spec.startswith("data."):
            out[name] = _data_value(spec, data)
        elif spec.startswith("param."):
            out[name] = _param_value(spec, params)
        elif spec == "orders":
            out[name] = _names([i for i in data.get("orders", ()) if i not in parties], by_id)
        elif spec == "co_ordered":
            out[name] = _names(data.get("co_ordered", ()), by_id)
        elif spec == "serotype":
            out[name] = serotype_words(data.get("serotype"))
        elif spec == "supplements":
            out[name] = _supplements(data, params)
        elif spec == "check":
            out[name] = t_or(f"check-name.{data.get('check')}", str(data.get("check")))
        elif spec == "check_advice":
            out[name] = t_or(f"check-advice.{data.get('check')}", "")
        elif spec == "order_classes":
            classes = data.get("class_of_order") or {}
            said = [t_or(f"drug-class.{classes[i]}", "", drug=order_name(by_id[i])) for i in data.get("orders", ())
                    if i in classes and i in by_id]
            out[name] = t("list.separator").join(s for s in said if s)
        elif spec == "text":
            out[name] = clinical(f.text)
        elif spec == "evidence":
            out[name] = t("list.separator").join(_facts(f.evidence, with_dates=True))
    return out


def _entry(f: Finding) -> CodeEntry | None:
    """The registry entry of a finding; None (logged) for a code not registered yet: the card then
    says the rule's own sentence rather than fail (tests/test_finding_codes.py keeps that from
    happening in a release)."""
    try:
        return entry(f.code)
    except KeyError:
        log.warning("finding code not in the registry", extra={"fields": {"code": f.code}})
        return None


def summary(f: Finding, **ctx: Any) -> str | None:
    e = _entry(f)
    if e is None:
        return clinical(f.text.split(": ")[0])[:139] or None
    mid = e.summary_id(f.data)
    return None if mid is None else _fill(mid, values(e, f, **ctx))


def detail(f: Finding, **ctx: Any) -> str:
    """The finding's detail sentences (prepends, its detail, appends), joined as the language
    joins sentences."""
    e = _entry(f)
    if e is None:
        return clinical(f.text)
    vals = values(e, f, **ctx)
    return join_sentences(_fill(mid, vals) for mid in e.detail_ids(f.data))


def join_sentences(sentences: Iterable[str]) -> str:
    """Sentences one after the other: a space after a Latin full stop, none after a Chinese one."""
    out = ""
    for s in sentences:
        if s:
            out += ("" if not out or out[-1] in "。！？；：）" else " ") + s
    return out


def _fill(message_id: str, vals: Mapping[str, str]) -> str:
    needed = placeholders(template(message_id))
    return sentence_case(t(message_id, **{k: vals.get(k, "") for k in needed}))


def sentence_case(text: str) -> str:
    """A sentence that starts with a drug name starts with a capital ("Carbamazepine lowers ...");
    a word whose second letter is a capital (eGFR) is left alone."""
    if len(text) > 1 and text[0].islower() and text[0].isascii() and not text[1].isupper():
        return text[0].upper() + text[1:]
    return text


# -- the lines every card ends with -----------------------------------------------------------


def fact_value(value: str) -> str:
    """An evidence value in the card's language: a concept key as its name, else as the rules
    wrote it (through the catalog's evidence values and the phrase table)."""
    try:
        terminology.concept(value)
    except KeyError:
        return evidence_value(value)
    return words(value)


def fact_label(label: str) -> str:
    """An evidence label in the card's language: a concept key ("mycophenolate-mofetil") as its
    name, else through the catalog's evidence labels and the phrase table."""
    try:
        terminology.concept(label)
    except KeyError:
        return evidence_label(label)
    return words(label)


def _facts(evidence: Iterable[Evidence], with_dates: bool = False) -> list[str]:
    parts = []
    for e in evidence:
        if e.label.startswith("Draft order:") and "(" not in e.value:
            continue  # the card names its drafts; a draft's start is a fact only when it was assumed
        label = fact_label(e.label)
        fact = "text.fact-after-colon" if ":" in label or "：" in label else "text.fact"
        text = t(fact, label=label, value=fact_value(e.value))
        if with_dates and e.when is not None and e.when.isoformat() not in e.value:
            text += t("text.fact-date", date=e.when.isoformat())
        parts.append(text)
    return list(dict.fromkeys(parts))


def evidence_line(evidence: Iterable[Evidence]) -> str | None:
    """The facts behind a card in one line: "label value (date)", draft orders left out (the card
    names them), each fact once."""
    parts = _facts(evidence, with_dates=True)
    return t("text.based-on", evidence=t("list.separator").join(parts)) if parts else None


def interim_line(parameter_ids: Iterable[str], params: Parameters) -> str | None:
    """The interim (D-lo/K) thresholds that decided a card, in plain words, with what to do about
    them; None when none did. Each parameter is said by its `param.<id>` message; the parameters
    of one drug's dose may share one ("inebilizumab schedule"), said once (their values and
    sources are on the MG summary page)."""
    known = [p for p in dict.fromkeys(parameter_ids) if p in params.entries]
    interim = params.interim(*known)
    if not interim:
        return None
    said = [t_or(f"param.{e.id}", "", value=_param_value(f"param.{e.id}", params)) for e in interim]
    said = [s for s in dict.fromkeys(said) if s]
    return t("text.interim", thresholds=t("list.separator").join(said)) if said else None


def footer(params: Parameters, parameter_ids: Iterable[str] = ()) -> list[str]:
    """The closing lines of a card: interim thresholds (if any) and the parameter-set version."""
    lines = []
    interim = interim_line(parameter_ids, params)
    if interim:
        lines.append(interim)
    lines.append(t("text.parameter-set", version=params.version))
    return lines

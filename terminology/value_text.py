"""An MGFA clinical class or post-intervention status written as text -> its concept.

EHRs without the project's code systems record these as text ("IIIb", "Class IIIb", "MGFA IIIb",
"Unchanged", "Minimal manifestations", "MM-1", "Worse") in valueString or as the text of an
uncoded answer. value_text.json lists, per kind, the prefixes a site may write before the value
and the words of each value (with its source). The text is compared lower-cased with everything
but letters and digits removed; after at most one prefix it must be exactly one value's word.
Anything else ("Class II" without its a/b, "improved?" with a question mark, "IIIb-IVa") reads as no value: never a
guess, the mapping names it as a data gap.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Concept

KINDS = ("mgfa-class", "mgfa-pis")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=1)
def _tables() -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
    doc = json.loads(resources.files("terminology").joinpath("value_text.json").read_text(encoding="utf-8"))
    out: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {}
    for kind, spec in doc["kinds"].items():
        words: dict[str, str] = {}
        for key, spellings in spec["values"].items():
            for word in spellings:
                if words.setdefault(word, key) != key:
                    raise ValueError(f"value_text.json: {kind} word {word!r} names two values")
        prefixes = tuple(sorted(spec["prefixes"], key=len, reverse=True))
        out[kind] = (prefixes, words)
    return out


def value_for_text(kind: str, text: object) -> "Concept | None":
    """The value concept ("mgfa-class-IIIb", "pis-U") that `text` names, or None."""
    from . import concept

    if kind not in KINDS or not isinstance(text, str) or "?" in text:
        return None  # a question mark says the writer was not sure: not one value
    prefixes, words = _tables()[kind]
    squashed = _NOT_WORD.sub("", text.lower())
    key = words.get(squashed)
    if key is None:
        for prefix in prefixes:
            if squashed.startswith(prefix) and squashed != prefix:
                key = words.get(squashed[len(prefix):])
                break
    return concept(key) if key is not None else None


def warm() -> None:
    """Read the words now (at start), not on a request's first text value."""
    _tables()

"""The page's own words in English and Simplified Chinese (messages/<language>.json).

Clinical sentences (outcome, criteria, evidence, gaps, options) come from the card catalogs
through `hooks.summary`; these catalogs hold only the page's headings, labels and notices. Both
hold the same ids with the same `{placeholders}` (tests/test_smart_messages.py).
"""

from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

from hooks.i18n import LANGUAGES, normalise

MESSAGES_DIR = Path(__file__).resolve().parent / "messages"


@lru_cache(maxsize=None)
def catalog(language: str) -> dict[str, str]:
    data = json.loads((MESSAGES_DIR / f"{normalise(language)}.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def placeholders(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


class Messages:
    """`m(message_id, name=value)`: the message in one language with its placeholders filled; the
    templates call it as `m(...)`. An unknown id is a programming error (KeyError)."""

    def __init__(self, language: str):
        self.language = normalise(language)
        self._catalog = catalog(self.language)

    def __call__(self, message_id: str, **values: Any) -> str:
        template = self._catalog[message_id]
        return template.format(**values) if values else template

    def has(self, message_id: str) -> bool:
        return message_id in self._catalog


def warm() -> None:
    for language in LANGUAGES:
        catalog(language)

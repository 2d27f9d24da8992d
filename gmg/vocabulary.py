"""Concept-key groups the assessment rules use (gmg-rules.md §1; keys: terminology/README.md).

The terminology data files are the only authority: each group is the members of a terminology
class. No hand-kept list sits beside them (a name without a code would be recognised nowhere).
"""

from __future__ import annotations

from functools import lru_cache

import terminology


@lru_cache(maxsize=None)
def members(group: str) -> frozenset[str]:
    """Concept keys in a terminology class (tests/test_terminology_honesty.py: every class a rule
    names has at least one member, so no group is silently empty)."""
    return terminology.members(group)


def display(key: str) -> str:
    """A human name for a concept key (terminology display, else the key in words)."""
    try:
        return terminology.concept(key).display
    except Exception:
        return key.replace("-", " ")

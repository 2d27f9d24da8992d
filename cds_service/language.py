"""The card language of one request: Accept-Language against the languages cards are written in."""

from __future__ import annotations


def negotiate_language(header: str | None, default: str) -> str:
    """The card language: the best supported match of Accept-Language, else the deployment's.

    "zh", "zh-CN", "zh-Hans" and "zh-Hans-CN" map to Simplified Chinese ("zh-CN"); any "en-*"
    to English. Quality values are honoured; q=0 excludes.
    """
    if not header:
        return default
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        if q <= 0 or not tag:
            continue
        if tag == "*":
            lang = default
        elif tag == "zh" or tag.startswith("zh-cn") or tag.startswith("zh-hans") or tag == "zh-sg":
            lang = "zh-CN"
        elif tag == "en" or tag.startswith("en-"):
            lang = "en"
        else:
            continue
        choices.append((-q, i, lang))
    return min(choices)[2] if choices else default

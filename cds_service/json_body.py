"""Reading a request's JSON body: Content-Type, size, nesting depth, then `orjson.loads`.

Every refusal is a ServiceError (400, 413 or 415) answered as an OperationOutcome; nothing of the
body is echoed or logged.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate
from typing import Any

import orjson
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import Issue, ServiceError, bad_request
from .settings import Settings

JSON_TYPES = ("application/json", "application/fhir+json")

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_SIGNED_STEP = bytes.maketrans(b"()", b"\x01\xff")  # +1 / -1 as signed bytes


def _bracket_depth(brackets: bytes) -> int:
    """The highest running sum of a string of "(" (+1) and ")" (-1), 0 when empty."""
    return max(accumulate(array("b", brackets.translate(_SIGNED_STEP))), default=0)


def _depth_at_most(brackets: bytes, limit: int) -> bool:
    """Whether `_bracket_depth(brackets) <= limit`, mostly without the running sum.

    Removing an adjacent "()" leaves every other running sum as it was and loses a peak one
    above the sum just before it (or above 0 at the start); so after k passes of removing every
    "()" (C-speed bytes.replace), depth <= max(depth of the rest, 0) + k. Balanced JSON reduces
    to nothing in as many passes as it is deep. Only when that bound exceeds the limit is the
    exact running sum taken."""
    passes = 0
    rest = brackets
    while passes <= limit:
        shorter = rest.replace(b"()", b"")
        if len(shorter) == len(rest):
            break
        rest = shorter
        passes += 1
    if passes <= limit and max(_bracket_depth(rest), 0) + passes <= limit:
        return True
    return _bracket_depth(brackets) <= limit


def json_too_deep(raw: bytes, limit: int) -> bool:
    """Whether a JSON text nests deeper than `limit`.

    Fast path (C-speed translate, then `_depth_at_most`): brackets are counted everywhere, which
    is exact unless strings contain brackets. Only when that estimate exceeds the limit are
    strings removed (a slower regex pass) for the exact figure. Brackets inside strings can also
    lower the estimate; such crafted bodies are still bounded by the JSON decoder's recursion
    guard, and any RecursionError while serving a request is answered 400 (see errors.py).
    """
    if _depth_at_most(raw.translate(_AS_PARENS, _NOT_BRACKETS), limit):
        return False
    return not _depth_at_most(_JSON_STRING.sub(b"", raw).translate(_AS_PARENS, _NOT_BRACKETS), limit)


def parse_json_body(settings: Settings) -> Any:
    """The current request's body as JSON, or a ServiceError saying why not.

    The Content-Type must say JSON (README: 415 otherwise), a missing one included: CDS clients
    send `application/json` (the CDS Hooks sandbox on every POST, ../shared/cds-hooks/examples/
    sandbox-observed_http-headers-and-jwt.json; SPEC-NOTES §6.3)."""
    ctype = (request.mimetype or "").lower()
    if ctype not in JSON_TYPES:
        raise ServiceError(415, Issue("not-supported", "Content-Type must be application/json"))
    raw = request.get_data(cache=False)
    if request.content_length is None and len(raw) >= settings.max_body_bytes:
        # A chunked body is cut at the limit by Werkzeug rather than refused: refuse it here.
        raise RequestEntityTooLarge()
    if not raw:
        raise bad_request("the request body is empty", code="structure")
    if json_too_deep(raw, settings.max_json_depth):
        raise bad_request(f"JSON nesting deeper than {settings.max_json_depth}", code="structure")
    try:
        body = orjson.loads(raw)
    except RecursionError:
        raise bad_request("JSON nesting is too deep", code="structure") from None
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON", code="structure") from None
    return body

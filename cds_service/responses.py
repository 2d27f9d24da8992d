"""A JSON answer (orjson); the error answers are in errors.py."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")

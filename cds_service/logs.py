"""Structured JSON logs. Only what is safe: service id, hookInstance, status, duration, counts,
reasons. Never request bodies, FHIR data, patient identifiers or tokens, at any level.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "gmg_cds"
# Keys a log event may carry. Anything else is dropped, so patient data cannot slip in by a
# careless `extra=`.
ALLOWED_FIELDS = frozenset(
    {
        "event", "service", "hook", "hookInstance", "status", "duration_ms", "cards", "findings",
        "method", "path", "reason", "keys", "fetched", "env", "database", "error_type", "where",
        "issuer", "kid", "jti", "count", "new", "origin", "profile", "detail",
    }
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k in ALLOWED_FIELDS and v is not None})
        return json.dumps(out, separators=(",", ":"), default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (gunicorn and test runners replace it)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def configure(level: str = "INFO") -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "_gmg_cds", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler._gmg_cds = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # Third-party loggers can print URLs with query strings (patient ids): keep them quiet.
    for noisy in ("urllib3", "requests", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logger


def log(level: int, msg: str, **fields: Any) -> None:
    logging.getLogger(LOGGER_NAME).log(level, msg, extra={"fields": fields})

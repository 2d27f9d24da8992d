"""gunicorn's threaded worker, answering the requests gunicorn itself refuses in the project's
error model (an OperationOutcome in JSON, errors.py) instead of gunicorn's HTML page.

gunicorn refuses a request before the app sees it when the request line or the headers break
its limits (`limit_request_line`, `limit_request_fields`, `limit_request_field_size`: 414, 431)
or do not parse (400). The log line names the kind of error only: gunicorn's own message can
quote the request line or a header (query strings carry patient ids).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import orjson
from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker as _GunicornThreadWorker

from .errors import HTTP_ISSUE_CODES, Issue, operation_outcome
from .logs import log


def _classes(*names: str) -> tuple[type, ...]:
    """gunicorn's parse errors by name (some exist only in newer releases)."""
    return tuple(c for c in (getattr(http_errors, n, None) for n in names) if isinstance(c, type))


# (exception classes, status, reason phrase, what the caller is told)
REFUSALS: tuple[tuple[tuple[type, ...], int, str, str], ...] = (
    (_classes("InvalidResponseHeader", "InvalidResponseHeaderName"), 500, "Internal Server Error",
     "internal error; the incident was logged"),
    (_classes("LimitRequestLine"), 414, "URI Too Long", "request line too long"),
    (_classes("LimitRequestHeaders"), 431, "Request Header Fields Too Large",
     "request header fields too large (too many, or one too long)"),
    (_classes("UnsupportedTransferCoding"), 501, "Not Implemented", "unsupported transfer coding"),
    (_classes("ExpectationFailed"), 417, "Expectation Failed", "unsupported Expect header"),
    (_classes("ForbiddenProxyRequest") + (ssl.SSLError,), 403, "Forbidden", "request forbidden"),
    (_classes("ConfigurationProblem"), 500, "Internal Server Error", "server configuration problem"),
    (_classes("ParseException"), 400, "Bad Request", "malformed HTTP request"),
)
EXTRA_ISSUE_CODES = {414: "too-long", 417: "not-supported", 431: "too-long", 501: "not-supported"}


def refusal(exc: BaseException) -> tuple[int, str, str]:
    for classes, status, reason, diagnostics in REFUSALS:
        if classes and isinstance(exc, classes):
            return status, reason, diagnostics
    return 500, "Internal Server Error", "internal error; the incident was logged"


def error_bytes(status: int, reason: str, diagnostics: str) -> bytes:
    code = EXTRA_ISSUE_CODES.get(status) or HTTP_ISSUE_CODES.get(status, "exception")
    body = orjson.dumps(operation_outcome(Issue(code, diagnostics)))
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class ThreadWorker(_GunicornThreadWorker):
    """gunicorn's `gthread` worker with JSON error answers (gunicorn_conf.worker_class)."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, reason, diagnostics = refusal(exc)
        log(logging.WARNING if status < 500 else logging.ERROR, "request refused by the HTTP server",
            event="request", status=status, error_type=type(exc).__name__)
        try:
            util.write_nonblock(client, error_bytes(status, reason, diagnostics))
        except Exception:  # noqa: BLE001 - the client may be gone; nothing more to do
            pass

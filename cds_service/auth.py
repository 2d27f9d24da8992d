"""Caller authentication (CDS Hooks JWT). Placeholder until the security work lands: outside
local mode every call is refused, so production is never open by accident."""

from __future__ import annotations

import logging
from typing import Any

from .errors import Issue, ServiceError
from .logs import log
from .settings import Settings


def build_authenticator(settings: Settings, store: Any):  # noqa: ANN201
    def refuse_all(request: Any, called_url: str) -> None:
        log(logging.WARNING, "request refused: JWT verification not configured", event="auth",
            reason="not-configured")
        raise ServiceError(401, Issue("login", "authentication failed"))

    return refuse_all

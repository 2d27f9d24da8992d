"""What the routes of one app share: settings, store, audit, services, metrics, the authenticator.

Built once by `create_app` and handed to each blueprint's factory, so a route reads it from its
closure (no per-request look-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from flask import g

from hooks.registry import ServiceDefinition

from .audit import AuditTrail
from .errors import Issue, ServiceError
from .metrics import Instruments
from .settings import Settings
from .store import Store

# An authenticator checks the caller of one request (JWT, cds_service/auth.py) and raises
# ServiceError(401) on failure. None means open access (local mode only).
Authenticator = Callable[[Any, str], None]


@dataclass(frozen=True)
class ServiceState:
    settings: Settings
    store: Store
    audit: AuditTrail
    services: dict[str, ServiceDefinition]
    meter: Instruments
    authenticator: Authenticator | None
    # The MG summary's launch URL for the request being served (cds_service/smart), linked from
    # patient-view cards; None when cards carry no link.
    summary_link: Callable[[], str] | None = None

    def today(self) -> date:
        return self.settings.evaluation_date or date.today()

    def service_or_404(self, service_id: str) -> ServiceDefinition:
        service = self.services.get(service_id)
        if service is None:
            raise ServiceError(404, Issue("not-found", "unknown CDS service id"))
        g.fields["service"] = service.id
        return service

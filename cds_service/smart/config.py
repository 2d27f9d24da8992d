"""What the SMART client needs from the settings, read once at start."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select

from ..settings import Settings
from ..store import Store, StoreUnavailable, _insert_ignore, _now, service_secrets

# The client id of the page when none is configured: accepted only by the demo authorization
# server (local and demo modes); a real EHR needs the id it registered (GMG_CDS_SMART_CLIENT_ID).
DEMO_CLIENT_ID = "gmg-cds-mg-summary-demo"
SESSION_SECRET = "smart-session-key-v1"
LAUNCH_SECONDS = 600  # from the launch to the callback (the sign-in at the EHR happens between)


@dataclass(frozen=True)
class SmartConfig:
    client_id: str
    client_secret: str | None = field(repr=False)
    demo: bool  # local or demo mode: the demo launch and authorization server exist
    launchable: bool  # a client id is configured, or the demo server can be used
    card_link: bool  # patient-view cards carry the `smart` link
    secure_cookies: bool
    state_key: bytes = field(repr=False)  # Fernet key of the launch-state cookie
    demo_key: bytes = field(repr=False)  # signs the demo server's codes and tokens

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> "SmartConfig":
        demo = settings.is_local or settings.is_demo
        secret = settings.smart_session_key or _stored_secret(store)
        return cls(
            client_id=settings.smart_client_id or DEMO_CLIENT_ID,
            client_secret=settings.smart_client_secret,
            demo=demo,
            launchable=bool(settings.smart_client_id) or demo,
            card_link=settings.smart_card_link and (bool(settings.smart_client_id) or demo),
            secure_cookies=not settings.is_local,
            state_key=base64.urlsafe_b64encode(_derive(secret, b"gmg-cds smart launch state")),
            demo_key=_derive(secret, b"gmg-cds smart demo authorization"),
        )


def _derive(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), purpose, hashlib.sha256).digest()


def _stored_secret(store: Store) -> str:
    """A random secret generated once and kept in the shared database (`service_secrets`), so
    every instance encrypts and reads launch state alike (insert-if-absent: the first wins)."""
    stmt = _insert_ignore(store.engine, service_secrets).on_conflict_do_nothing(index_elements=["name"])
    try:
        with store.engine.begin() as conn:
            conn.execute(stmt, {"name": SESSION_SECRET, "value": secrets.token_hex(32), "created_at": _now()})
            return conn.execute(select(service_secrets.c.value).where(
                service_secrets.c.name == SESSION_SECRET)).scalar_one()
    except Exception as exc:
        raise StoreUnavailable(type(exc).__name__) from exc

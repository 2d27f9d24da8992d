"""The launch state between the redirect to the EHR's authorization server and the callback.

It travels in a cookie of the browser that started the launch, encrypted and authenticated
(Fernet: AES-128-CBC + HMAC-SHA256, with its issue time) under a key every instance derives from
one shared secret (GMG_CDS_SMART_SESSION_KEY, or a secret generated once in the shared database):
so the callback may land on any instance, nothing is written per launch, and the browser cannot
read or alter it. It holds the OAuth `state`, the PKCE code verifier, the FHIR server (`iss`),
the token endpoint found by discovery and the page language — never a token.

The cookie is named after the state, so several launches in one browser do not collide; it is
HttpOnly, SameSite=Lax (sent on the top-level redirect back from the EHR) and Secure outside
local mode, limited to the callback path, and cleared by the callback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass

from cryptography.fernet import Fernet, InvalidToken

from .config import LAUNCH_SECONDS

CALLBACK_PATH = "/smart/callback"


@dataclass(frozen=True)
class LaunchState:
    state: str
    code_verifier: str
    iss: str  # the FHIR base URL (trusted)
    token_endpoint: str
    language: str
    ehr_launch: bool  # EHR launch (a `launch` parameter) or standalone


def cookie_name(state: str) -> str:
    return "gmg-smart-" + hashlib.sha256(state.encode("utf-8")).hexdigest()[:16]


def seal(key: bytes, launch: LaunchState) -> str:
    return Fernet(key).encrypt(json.dumps(asdict(launch), separators=(",", ":")).encode()).decode("ascii")


def unseal(key: bytes, sealed: str | None, state: str) -> LaunchState | None:
    """The launch of this `state` from its cookie; None when absent, expired, forged or another
    launch's (the `state` in the URL must equal the one sealed in this browser's cookie)."""
    if not sealed:
        return None
    try:
        data = json.loads(Fernet(key).decrypt(sealed.encode("ascii"), ttl=LAUNCH_SECONDS))
        launch = LaunchState(**data)
    except (InvalidToken, ValueError, TypeError, UnicodeError):
        return None
    if not hmac.compare_digest(launch.state.encode(), state.encode()):
        return None
    return launch

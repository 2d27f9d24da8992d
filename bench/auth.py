"""How the benchmark authenticates to the service: production mode, as deployed.

A fresh ES384 key pair is generated per run; its public JWK Set is written to a file and the
issuer is trusted through the security configuration (GMG_CDS_TRUSTED_ISSUERS with `jwks_file`
and the loopback FHIR server of the fallback measurement as its `fhir_servers`; see
cds_service/settings.py). The client mints a fresh JWT per request (new `jti`, `aud` = the
exact URL called), so every call pays the real verification and the jti replay check.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "https://bench-ehr.example.org"
KID = "bench-es384"


def production_env(tmp: Path, fhir_base: str, public_base: str) -> tuple[dict[str, str], Callable[[str], dict[str, str]]]:
    """Environment for a production-profile service at `public_base` (GMG_CDS_PUBLIC_BASE_URL,
    the JWT audience's base) trusting a new issuer, and the client's header factory
    (url -> {"Authorization": "Bearer <fresh JWT>"})."""
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "use": "sig", "alg": "ES384"})
    jwks_path = tmp / "bench-jwks.json"
    jwks_path.write_text(json.dumps({"keys": [jwk]}))
    issuers = [{"iss": ISSUER, "jwks_file": str(jwks_path), "fhir_servers": [fhir_base]}]
    env = {
        "GMG_CDS_ENV": "production",
        "GMG_CDS_TRUSTED_ISSUERS": json.dumps(issuers),
        "GMG_CDS_PUBLIC_BASE_URL": public_base,
    }

    def headers(url: str) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": url, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        token = jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})
        return {"Authorization": f"Bearer {token}"}

    return env, headers

"""Shared pieces for the security tests: real signing keys generated here (ES384 on P-384,
RS384 on RSA-2048), token minting, production-profile settings bound to a test issuer, and small
real HTTP servers on 127.0.0.1 (JWK Set host, misbehaving FHIR server)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.settings import Settings, TrustedIssuer

ISSUER = "https://ehr.example.org/fhir-issuer"
PUBLIC_BASE = "https://cds.example.org"
SERVICE_URL = f"{PUBLIC_BASE}/cds-services/gmg-patient-view"
TODAY = date(2026, 11, 22)
SHARED = Path(__file__).resolve().parents[2] / "shared"
EXAMPLES = SHARED / "cds-hooks" / "examples"


@dataclass(frozen=True)
class SigningKey:
    alg: str
    kid: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        algo = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk = json.loads(algo.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return jwk


@lru_cache(maxsize=None)
def signing_key(alg: str = "ES384", kid: str | None = None) -> SigningKey:
    if alg.startswith("ES"):
        curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
        private = ec.generate_private_key(curve)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(alg, kid or f"test-{alg.lower()}", private)


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.public_jwk() for k in keys]}


def claims(aud: str = SERVICE_URL, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    out: dict[str, Any] = {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    for k, v in overrides.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def mint(key: SigningKey | None = None, aud: str = SERVICE_URL, *, headers: dict[str, Any] | None = None,
         **claim_overrides: Any) -> str:
    key = key or signing_key("ES384")
    hdr = {"kid": key.kid, "typ": "JWT"}
    hdr.update(headers or {})
    return jwt.encode(claims(aud, **claim_overrides), key.private, algorithm=key.alg, headers=hdr)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def write_jwks(path: Path, *keys: SigningKey) -> str:
    path.write_text(json.dumps(jwks(*keys)))
    return str(path)


def production_settings(tmp_path: Path, *, issuers: tuple[TrustedIssuer, ...] | None = None,
                        **overrides: Any) -> Settings:
    """Production profile, JWT on, one trusted issuer whose keys are ES384 and RS384 test keys."""
    if issuers is None:
        issuers = (
            TrustedIssuer(
                iss=ISSUER,
                jwks_file=write_jwks(tmp_path / "issuer-jwks.json", signing_key("ES384"), signing_key("RS384")),
            ),
        )
    base = Settings(
        env="production",
        database_url=f"sqlite:///{tmp_path / 'gmg-cds.sqlite3'}",
        cors_origins=("https://sandbox.example.org",),
        auth_required=True,
        evaluation_date=TODAY,
        public_base_url=PUBLIC_BASE,
        trusted_issuers=issuers,
        prefetch_budget_seconds=2.0,
        fhir_timeout_seconds=1.0,
        log_level="INFO",
    )
    return replace(base, **overrides)


def hook_body(hook: str = "patient-view", patient_id: str = "p1", **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/doc1", "patientId": patient_id}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": []}
        if hook == "order-select":
            context["selections"] = []
    body: dict[str, Any] = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context}
    body.update(extra)
    return body


def empty_prefetch(patient_id: str = "p1") -> dict[str, Any]:
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    return {
        "patient": {"resourceType": "Patient", "id": patient_id},
        "conditions": bundle, "observations": bundle, "medicationStatements": bundle,
        "medicationRequests": bundle, "medicationAdministrations": bundle, "procedures": bundle,
        "immunizations": bundle, "adverseEvents": bundle, "allergies": bundle,
    }


# --------------------------------------------------------------------------------------------
# A real HTTP server on 127.0.0.1 whose answers the test scripts per path.

Route = Callable[["LoopbackServer", BaseHTTPRequestHandler], None]


@dataclass
class LoopbackServer:
    routes: dict[str, Route] = field(default_factory=dict)
    default: Route | None = None
    hits: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)
    base: str = ""
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> "LoopbackServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                owner.hits.append((self.path, self.headers.get("Authorization")))
                route = owner.routes.get(path) or owner.default
                try:
                    if route is None:
                        send_json(self, 404, {"resourceType": "OperationOutcome", "issue": []})
                    else:
                        route(owner, self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under a burst of parallel fetches

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (timeouts, size caps) are the point of these tests


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)


def searchset(entries: list[dict[str, Any]] | None = None, next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "entry": [{"resource": r} for r in entries or []]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


# --------------------------------------------------------------------------------------------
# Log capture: every line the service logs, formatted exactly as in production (JSON).

class LogCapture:
    def __init__(self) -> None:
        import logging

        from cds_service.logs import LOGGER_NAME, JsonFormatter

        self.lines: list[str] = []
        outer = self

        class _Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                outer.lines.append(JsonFormatter().format(record))

        self._handler = _Collect()
        self._logger = logging.getLogger(LOGGER_NAME)

    def __enter__(self) -> "LogCapture":
        self._logger.addHandler(self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._logger.removeHandler(self._handler)

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        out = [json.loads(line) for line in self.lines]
        return [e for e in out if event is None or e.get("event") == event]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

"""A loopback EHR for the SMART launch tests: an OAuth 2.0 authorization server and a FHIR server
on one real HTTP server on 127.0.0.1 (as Epic and Oracle Health host both under one name).

Test double: a real EHR cannot run here. It does what the tests need an EHR to check and no more:
SMART discovery at `{fhir}/.well-known/smart-configuration`; `/oauth2/authorize` grants at once
(no sign-in) after checking client id, redirect URI, response type, `aud`, `state` and a PKCE
S256 challenge, and redirects with a one-time code; `/oauth2/token` exchanges the code only with
the verifier whose SHA-256 is the challenge (RFC 7636) and the same redirect URI and client; the
FHIR routes answer only with the token it issued, from the bundled demo patients or, given a
FHIR backend (`fhir`: an Epic-like or Cerner-like tests/ehr_shapes/server.EhrFhirServer, not
started), with that EHR's charts and restrictions under its base path (`fhir_path`, e.g. Epic's
/api/FHIR/R4). Everything it was sent is recorded for the tests to inspect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cds_service.demo_fhir import DEMO_DIR, DemoStore


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


@dataclass
class LoopbackEhr:
    client_id: str
    redirect_uri: str
    today: date
    patient_for_launch: dict[str, str] = field(default_factory=dict)  # launch value -> patient id
    # what the EHR does (tests change these)
    methods: tuple[str, ...] = ("S256",)
    capabilities: tuple[str, ...] = ("launch-ehr", "launch-standalone", "client-public", "context-ehr-patient",
                                     "permission-patient", "permission-v2")
    deny: bool = False  # the user refuses: error=access_denied
    give_patient: bool = True  # the token response carries `patient`
    standalone_patient: str = "gmg-demo-course"
    # the FHIR server: the bundled demo patients (None), or an EhrFhirServer answering for it
    fhir: Any = None
    fhir_path: str = "/fhir"
    # what it saw
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    pkce_results: list[bool] = field(default_factory=list)
    fhir_requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)
    discovery_requests: int = 0
    issued_tokens: list[str] = field(default_factory=list)
    base: str = ""
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def fhir_base(self) -> str:
        return self.base + self.fhir_path

    def start(self) -> "LoopbackEhr":
        store = DemoStore(DEMO_DIR, self.today)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None,
                      ctype: str = "application/json") -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == owner.fhir_path + "/.well-known/smart-configuration":
                    with owner._lock:
                        owner.discovery_requests += 1
                    return self._send(200, {
                        "authorization_endpoint": owner.base + "/oauth2/authorize",
                        "token_endpoint": owner.base + "/oauth2/token",
                        "code_challenge_methods_supported": list(owner.methods),
                        "capabilities": list(owner.capabilities),
                    })
                if parts.path == "/oauth2/authorize":
                    return self._authorize(query)
                if parts.path.startswith(owner.fhir_path + "/"):
                    return self._fhir(parts.path[len(owner.fhir_path) + 1:], query)
                self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/oauth2/token":
                    return self._send(404, {"error": "not found"})
                self._token(form)

            def _authorize(self, q: dict[str, str]) -> None:
                owner.authorize_requests.append(q)
                if q.get("client_id") != owner.client_id or q.get("redirect_uri") != owner.redirect_uri:
                    return self._send(400, {"error": "invalid_client"})
                back = owner.redirect_uri + "?"
                if owner.deny:
                    return self._send(302, None, {"Location": back + urlencode({"error": "access_denied",
                                                                                 "state": q.get("state", "")})})
                ok = (q.get("response_type") == "code" and q.get("state") and q.get("aud") == owner.fhir_base
                      and q.get("code_challenge_method") == "S256" and q.get("code_challenge"))
                if not ok:
                    return self._send(302, None, {"Location": back + urlencode({"error": "invalid_request",
                                                                                 "state": q.get("state", "")})})
                patient = owner.patient_for_launch.get(q.get("launch", ""), owner.standalone_patient)
                code = secrets.token_urlsafe(24)
                with owner._lock:
                    owner._codes[code] = {"challenge": q["code_challenge"], "patient": patient,
                                          "redirect_uri": q["redirect_uri"], "client_id": q["client_id"],
                                          "scope": q.get("scope", "")}
                self._send(302, None, {"Location": back + urlencode({"code": code, "state": q["state"]})})

            def _token(self, f: dict[str, str]) -> None:
                owner.token_requests.append(f)
                with owner._lock:
                    grant = owner._codes.pop(f.get("code", ""), None)  # one use only
                if (grant is None or f.get("grant_type") != "authorization_code"
                        or f.get("redirect_uri") != grant["redirect_uri"] or f.get("client_id") != grant["client_id"]):
                    return self._send(400, {"error": "invalid_grant"})
                verifier = f.get("code_verifier", "")
                pkce_ok = 43 <= len(verifier) <= 128 and s256(verifier) == grant["challenge"]
                owner.pkce_results.append(pkce_ok)
                if not pkce_ok:
                    return self._send(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                token = secrets.token_urlsafe(32)
                owner.issued_tokens.append(token)
                body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                        "scope": grant["scope"]}
                if owner.give_patient:
                    body["patient"] = grant["patient"]
                self._send(200, body, {"Cache-Control": "no-store"})

            def _fhir(self, path: str, q: dict[str, str]) -> None:
                auth = self.headers.get("Authorization")
                owner.fhir_requests.append((self.path, auth))
                if auth is None or auth.removeprefix("Bearer ") not in owner.issued_tokens:
                    return self._send(401, {"resourceType": "OperationOutcome", "issue": []})
                if owner.fhir is not None:
                    status, body = owner.fhir.serve(path, q)
                    return self._send(status, body, ctype="application/fhir+json")
                pieces = path.split("/")
                if len(pieces) == 2:
                    res = store.read(pieces[0], pieces[1])
                    return self._send(200 if res else 404, res or {"resourceType": "OperationOutcome", "issue": []},
                                      ctype="application/fhir+json")
                entries = [{"resource": r} for r in store.search(pieces[0], q)]
                self._send(200, {"resourceType": "Bundle", "type": "searchset", "entry": entries},
                           ctype="application/fhir+json")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        if self.fhir is not None:
            self.fhir.base = self.fhir_base  # its paging links point here
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

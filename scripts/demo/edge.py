"""An edge stand-in that plays an Akamai EdgeWorker validating JWTs, and writes DataStream 2 records.

The EdgeWorker's rules copy the gaps of Akamai's JWT example: it accepts any case of the `Bearer`
scheme, checks the issuer against its own list and the RS256 signature against its JWKS, and checks
neither `exp`, `nbf` nor `aud`. A rejected request ends at the edge with 401; an accepted one goes on
to the ingress gateway with the edge request id in `x-edge-request-id`.
"""

from __future__ import annotations

import http.client
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from pki import b64url_decode, public_key_from_jwk, token_fingerprint
from servers import QuietHandler, serve_in_thread

# A control header of the recorder, never forwarded: makes the EdgeWorker fail as if its code threw.
FAULT_HEADER = "x-demo-ew-fault"
# Akamai returns the request id in X-Akamai-Request-ID when the client sends this Pragma value.
REQUEST_ID_PRAGMA = "akamai-x-get-request-id"
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "content-length", "host", "pragma", "date", "server", FAULT_HEADER}
)


@dataclass(frozen=True)
class EdgeSettings:
    """Settings of the edge: the issuers and keys its EdgeWorker trusts, and where it forwards and logs requests."""

    gateway_port: int
    accepted_issuers: tuple[str, ...]
    jwks_by_kid: dict[str, dict[str, str]]
    ds2_path: Path
    public_prefixes: tuple[str, ...] = ("/public/",)
    cp_code: str = "1234567"
    edgeworker_id: str = "42001"
    edgeworker_version: str = "1.3"


@dataclass
class EdgeDecision:
    """The EdgeWorker's verdict on one request, with the identity it saw."""

    verdict: str
    reason: str
    token_location: str = "none"
    token: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def forwards(self) -> bool:
        return self.verdict in ("allow", "error")


def _bearer(authorization: str) -> tuple[str, str]:
    scheme, _, rest = authorization.strip().partition(" ")
    return scheme, rest.strip()


def _verify(token: str, settings: EdgeSettings, location: str) -> EdgeDecision:
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("expected three dot-separated parts")
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError:
        return EdgeDecision("deny", "token malformed", location, token)
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return EdgeDecision("deny", "token malformed", location, token)

    decision = EdgeDecision("deny", "", location, token, claims)
    if claims.get("iss") not in settings.accepted_issuers:
        decision.reason = "issuer not accepted"
        return decision
    jwk = settings.jwks_by_kid.get(str(header.get("kid")))
    if jwk is None or header.get("alg") != "RS256":
        decision.reason = "no key for kid and alg"
        return decision
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    try:
        public_key_from_jwk(jwk).verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        decision.reason = "signature invalid"
        return decision
    decision.verdict = "allow"
    decision.reason = "signature verified; exp and nbf not checked"
    return decision


def decide(authorization: str | None, path: str, settings: EdgeSettings, fault: bool) -> EdgeDecision:
    """Apply the EdgeWorker's rules to one request."""
    if authorization is None:
        if any(path.startswith(prefix) for prefix in settings.public_prefixes):
            decision = EdgeDecision("allow", "public path; no token required")
        else:
            decision = EdgeDecision("deny", "token missing")
    else:
        scheme, token = _bearer(authorization)
        location = f"authorization:{scheme}"
        if scheme.lower() != "bearer" or not token:
            decision = EdgeDecision("deny", "unsupported authorization scheme", location)
        elif fault:
            decision = EdgeDecision("error", "", location, token)
        else:
            decision = _verify(token, settings, location)
    if fault:
        # Under "continue on error" a failing onClientRequest lets the request go on to origin unchecked.
        decision.verdict = "error"
        decision.reason = "execution error (simulated); continue on error"
        decision.claims = {}
    return decision


def custom_field(decision: EdgeDecision, forwarded_authorization: bool) -> str:
    """Encode the decision as the form-urlencoded DataStream 2 `customField` of the demo convention."""
    pairs: list[tuple[str, str]] = [
        ("ew_verdict", decision.verdict),
        ("ew_reason", decision.reason),
        ("tok_loc", decision.token_location),
    ]
    for claim in ("iss", "sub"):
        if isinstance(decision.claims.get(claim), str):
            pairs.append((claim, decision.claims[claim]))
    audience = decision.claims.get("aud")
    if isinstance(audience, str):
        pairs.append(("aud", audience))
    elif isinstance(audience, list):
        pairs.append(("aud", ",".join(str(item) for item in audience)))
    if decision.token is not None:
        pairs.append(("tok_fp", token_fingerprint(decision.token)))
    pairs.append(("fwd", "authorization" if decision.forwards and forwarded_authorization else "none"))
    if decision.verdict == "error" and decision.forwards:
        pairs.append(("fail_open", "1"))
    return "&".join(f"{key}={quote(value, safe=':/,')}" for key, value in pairs)


def ew_usage_info(settings: EdgeSettings, decision: EdgeDecision) -> str:
    """Build `ewUsageInfo`: one `//id/version/handler/off/logic/status/revision/overLog/coe/bot/#metrics` entry
    per event handler, joined by a backslash."""
    status = "6" if decision.verdict == "error" else "1"
    continue_on_error = "1" if decision.verdict == "error" else "0"
    prefix = f"//{settings.edgeworker_id}/{settings.edgeworker_version}"
    client_request = f"{prefix}/1/-/1/{status}/-/0/{continue_on_error}/-/#1,2"
    # onClientResponse is not implemented by this EdgeWorker: logic not executed, status 4.
    client_response = f"{prefix}/4/-/0/4/-/0/0/-/#0,0"
    return "\\".join((client_request, client_response))


def ew_execution_info(settings: EdgeSettings, decision: EdgeDecision, process_ms: int, stage_ms: int) -> str:
    """Build `ewExecutionInfo` for the onClientRequest stage.

    The HTTP status change field carries the status that a rejection passed to respondWith.
    """
    flow, error_code, status_change = "n", "", ""
    if decision.verdict == "error":
        flow, error_code = "e", "6"
    elif decision.verdict == "deny":
        status_change = "401"
    # NOTE: used memory (KB) is a fixed stand-in value, and the timings are this process's own measurements.
    fields = ["c", settings.edgeworker_id, str(process_ms), str(stage_ms), str(stage_ms), "384", flow,
              error_code, status_change, "0", "200", "0", "", "", "", ""]
    return ":".join(fields)


class EdgeServer(ThreadingHTTPServer):
    """The edge's HTTP server with its settings and a lock around the DataStream 2 file."""

    def __init__(self, settings: EdgeSettings) -> None:
        super().__init__(("127.0.0.1", 0), EdgeHandler)
        self.settings = settings
        self.ds2_lock = threading.Lock()

    def write_record(self, record: dict[str, str]) -> None:
        with self.ds2_lock, self.settings.ds2_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


class EdgeHandler(QuietHandler):
    """Handles one client request the way the edge and its EdgeWorker would."""

    server: EdgeServer

    def _handle(self) -> None:
        started = time.time()
        settings = self.server.settings
        request_id = secrets.token_hex(4)
        body = self.read_body()
        target = urlsplit(self.path)
        authorization = self.headers.get("authorization")

        cpu_start = time.process_time()
        decision = decide(authorization, target.path, settings, fault=self.headers.get(FAULT_HEADER) is not None)
        process_ms = round((time.process_time() - cpu_start) * 1000)
        stage_ms = round((time.time() - started) * 1000)

        if decision.forwards:
            try:
                status, headers, response_body = self._forward(request_id, body)
            except OSError as error:
                print(f"edge: forwarding reqId {request_id} to the gateway failed: {error}", file=sys.stderr)
                status, headers = 502, {"content-type": "text/plain"}
                response_body = f"origin unreachable: {error}".encode("utf-8")
        else:
            status, headers = 401, {"content-type": "application/json"}
            response_body = json.dumps({"error": "unauthorized", "reason": decision.reason}).encode("utf-8")
        if REQUEST_ID_PRAGMA in (self.headers.get("pragma") or "").lower():
            headers["x-akamai-request-id"] = request_id
        content_type = headers.pop("content-type", "application/octet-stream")
        self.send_bytes(status, response_body, content_type, headers)

        record = {
            "cp": settings.cp_code,
            "reqId": request_id,
            "reqTimeSec": f"{started:.3f}",
            "reqHost": self.headers.get("host", "-"),
            "reqMethod": self.command,
            # DataStream 2 logs the path without its leading slash and the query string apart.
            "reqPath": target.path.lstrip("/"),
            "reqPort": str(self.server.server_address[1]),
            "proto": self.request_version,
            "statusCode": str(status),
            "bytes": str(len(response_body)),
            "cliIP": self.client_address[0],
            "UA": quote(self.headers.get("user-agent", "-"), safe="/;:()"),
            "turnAroundTimeMSec": str(round((time.time() - started) * 1000)),
            "customField": custom_field(decision, authorization is not None),
            "ewUsageInfo": ew_usage_info(settings, decision),
            "ewExecutionInfo": ew_execution_info(settings, decision, process_ms, stage_ms),
        }
        if target.query:
            record["queryStr"] = quote(target.query, safe="=&")
        self.server.write_record(record)

    def _forward(self, request_id: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        headers["Host"] = self.headers.get("host", "")
        headers["x-edge-request-id"] = request_id
        # The edge appends the client address to any X-Forwarded-For it received.
        previous = self.headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{previous}, {self.client_address[0]}" if previous else self.client_address[0]
        connection = http.client.HTTPConnection("127.0.0.1", self.server.settings.gateway_port, timeout=10)
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            response_body = response.read()
            response_headers = {
                name.lower(): value for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP
            }
            return response.status, response_headers, response_body
        finally:
            connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def start_edge(settings: EdgeSettings) -> EdgeServer:
    """Start the edge on a free loopback port."""
    server = EdgeServer(settings)
    serve_in_thread(server)
    return server

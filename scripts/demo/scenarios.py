"""The scripted requests of the demo, and the check of what each proxy logged for them."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from edge import FAULT_HEADER, REQUEST_ID_PRAGMA
from proxies import RecorderError

GATEWAY_LOG = "istio-system.istio-ingressgateway.log"
SIDECAR_LOG = "shop.orders.log"
EDGE_LOG = "edge.ds2.ndjson"
USER_AGENT = "idflow-demo-recorder/1.0 (python http.client)"
HOST = "api.example.com"

# Only for the summary: the leading Istio columns the summary needs, then the four demo fields.
# The lazy `.*?` stops at the first place where the demo tail fits, so a `"` inside a claim
# value in the trailing JSON cannot shift the fields.
LOG_LINE = re.compile(
    r'^\[(?P<start_time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)" '
    r"(?P<status>\d+) (?P<flags>\S+) (?P<details>\S+) .*?"
    r' "(?P<edge_request_id>[0-9a-f]+|-)" "(?P<peer>[^"]*)" "(?P<auth_scheme>[^"]*)" (?P<jwt>-|\{.*\})$'
)


@dataclass(frozen=True)
class Hop:
    """A status and RESPONSE_CODE_DETAILS as one proxy logged them (or as they are expected)."""

    status: int
    details: str


@dataclass(frozen=True)
class Scenario:
    """One scripted request and the outcome expected at each hop (`None`: hop not reached)."""

    name: str
    description: str
    method: str
    path: str
    token: str | None
    expect_edge: str
    expect_gateway: Hop | None
    expect_sidecar: Hop | None
    scheme: str = "Bearer"
    fault: bool = False


RBAC_NONE = "rbac_access_denied_matched_policy[none]"
ALLOWED = Hop(200, "via_upstream")
DENIED_UPSTREAM = Hop(403, "via_upstream")

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("valid-token", "valid token, allowed end to end", "GET", "/api/orders?status=open",
             "valid", "allow", ALLOWED, ALLOWED),
    Scenario("legacy-issuer-not-forwarded", "token from the issuer whose gateway rule lacks forwardOriginalToken",
             "GET", "/api/orders", "legacy", "allow", DENIED_UPSTREAM, Hop(403, RBAC_NONE)),
    Scenario("wrong-audience", "wrong audience (the edge does not check aud)", "GET", "/api/orders",
             "wrong_audience", "allow", Hop(403, "jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}"), None),
    Scenario("expired-token", "expired token (the edge skips exp)", "GET", "/api/orders",
             "expired", "allow", Hop(401, "jwt_authn_access_denied{Jwt_is_expired}"), None),
    Scenario("delete-denied", "DELETE matched by a DENY policy", "DELETE", "/api/orders/1042",
             "valid", "allow", DENIED_UPSTREAM, Hop(403, "rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[0]]")),
    Scenario("no-allow-rule", "no ALLOW rule matches", "GET", "/api/admin",
             "valid", "allow", DENIED_UPSTREAM, Hop(403, RBAC_NONE)),
    Scenario("issuer-not-on-edge-list", "token the mesh would accept, rejected by the edge (issuer not on its list)",
             "GET", "/api/orders", "partner", "deny", None, None),
    Scenario("lowercase-bearer", "`Authorization: bearer` in lower case", "GET", "/api/orders",
             "valid", "allow", DENIED_UPSTREAM, Hop(403, RBAC_NONE), scheme="bearer"),
    Scenario("edgeworker-fail-open", "EdgeWorker error, request let through with a forged token",
             "GET", "/api/orders", "forged", "error", Hop(401, "jwt_authn_access_denied{Jwt_verification_fails}"), None,
             fault=True),
    Scenario("public-no-token", "no token on a public path", "GET", "/public/catalog",
             None, "allow", ALLOWED, ALLOWED),
)


def send(edge_port: int, scenario: Scenario, tokens: dict[str, str]) -> tuple[str, int]:
    """Send one scenario's request to the edge and return the edge request id and the status the client got."""
    headers = {
        "Host": HOST,
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "Pragma": REQUEST_ID_PRAGMA,
    }
    if scenario.token is not None:
        headers["Authorization"] = f"{scenario.scheme} {tokens[scenario.token]}"
    if scenario.fault:
        headers[FAULT_HEADER] = "1"
    body = b'{"item":"demo"}' if scenario.method in ("POST", "PUT") else None
    connection = http.client.HTTPConnection("127.0.0.1", edge_port, timeout=15)
    try:
        connection.request(scenario.method, scenario.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        request_id = response.getheader("x-akamai-request-id")
    except OSError as error:
        raise RecorderError(f"request of scenario {scenario.name!r} to the edge on port {edge_port} failed: {error}") from error
    finally:
        connection.close()
    if not request_id:
        raise RecorderError(f"the edge returned no X-Akamai-Request-ID for scenario {scenario.name!r}")
    return request_id, response.status


def read_proxy_log(path: Path) -> dict[str, list[Hop]]:
    """Group a proxy's access log lines by their x-edge-request-id."""
    if not path.is_file():
        raise RecorderError(f"access log {str(path)!r} was not written; check the Envoy stderr log")
    by_id: dict[str, list[Hop]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = LOG_LINE.match(line)
        if match is None:
            raise RecorderError(f"{path.name}:{number}: line does not have the demo access log format: {line[:120]!r}")
        by_id.setdefault(match["edge_request_id"], []).append(Hop(int(match["status"]), match["details"]))
    return by_id


def read_edge_log(path: Path) -> dict[str, dict[str, str]]:
    """Index DataStream 2 records by reqId."""
    records: dict[str, dict[str, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        records[record["reqId"]] = record
    return records


def _one(lines: dict[str, list[Hop]], request_id: str, log: str, scenario: str) -> Hop:
    found = lines.get(request_id, [])
    if len(found) != 1:
        raise RecorderError(f"{log}: expected one line for scenario {scenario!r} (x-edge-request-id {request_id}), found {len(found)}")
    return found[0]


def summarize(out: Path, sent: list[tuple[Scenario, str, int]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Check that every request left one line per proxy it reached, and return the summary and the differences from expectations."""
    edge = read_edge_log(out / EDGE_LOG)
    gateway = read_proxy_log(out / GATEWAY_LOG)
    sidecar = read_proxy_log(out / SIDECAR_LOG)
    summary: list[dict[str, Any]] = []
    differences: list[str] = []
    gateway_lines = sidecar_lines = 0
    for scenario, request_id, client_status in sent:
        record = edge.get(request_id)
        if record is None:
            raise RecorderError(f"{EDGE_LOG}: no record for scenario {scenario.name!r} (reqId {request_id})")
        verdict = parse_qs(record["customField"])["ew_verdict"][0]
        if record["statusCode"] != str(client_status):
            raise RecorderError(f"{EDGE_LOG}: statusCode {record['statusCode']} for {scenario.name!r}, but the client got {client_status}")
        hops: list[dict[str, Any]] = []
        gateway_hop = sidecar_hop = None
        if verdict in ("allow", "error"):
            gateway_hop = _one(gateway, request_id, GATEWAY_LOG, scenario.name)
            gateway_lines += 1
            hops.append({"log": GATEWAY_LOG, "status": gateway_hop.status, "response_code_details": gateway_hop.details})
            if gateway_hop.details == "via_upstream":
                sidecar_hop = _one(sidecar, request_id, SIDECAR_LOG, scenario.name)
                sidecar_lines += 1
                hops.append({"log": SIDECAR_LOG, "status": sidecar_hop.status, "response_code_details": sidecar_hop.details})
        actual = (verdict, gateway_hop, sidecar_hop)
        expected = (scenario.expect_edge, scenario.expect_gateway, scenario.expect_sidecar)
        if actual != expected:
            differences.append(f"{scenario.name}: expected {expected}, Envoy and the edge gave {actual}")
        summary.append(
            {
                "name": scenario.name,
                "description": scenario.description,
                "req_id": request_id,
                "method": scenario.method,
                "path": scenario.path,
                "client_status": client_status,
                "edge_verdict": verdict,
                "hops": hops,
            }
        )
    for log, lines, expected_count in ((GATEWAY_LOG, gateway, gateway_lines), (SIDECAR_LOG, sidecar, sidecar_lines)):
        total = sum(len(hops) for hops in lines.values())
        if total != expected_count:
            raise RecorderError(f"{log}: {total} lines, but the scenarios account for {expected_count}")
    return summary, differences

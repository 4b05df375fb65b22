"""Envoy configs for the ingress gateway and the shop/orders sidecar, written by hand to match
templates/policies.yaml the way istiod 1.24 and later translates those objects.

Filter order, provider names, requirement shape, RBAC policy ids and cluster names follow istiod's
output. Listeners are simplified to one HTTP filter chain each. The jwt_authn metadata key is
chosen by `PayloadKey`, and only its `payload` mode is what current istiod emits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pki import MeshPki

TRUST_DOMAIN = "cluster.local"
GATEWAY_PRINCIPAL = f"spiffe://{TRUST_DOMAIN}/ns/istio-system/sa/istio-ingressgateway-service-account"
ORDERS_PRINCIPAL = f"spiffe://{TRUST_DOMAIN}/ns/shop/sa/orders"
ORDERS_OUTBOUND_CLUSTER = "outbound|8080||orders.shop.svc.cluster.local"
ORDERS_INBOUND_CLUSTER = "inbound|8080||"
ORDERS_SNI = "outbound_.8080_._.orders.shop.svc.cluster.local"

IDP = "https://idp.example.com"
LEGACY_IDP = "https://legacy-idp.example.com"
PARTNER_IDP = "https://partner-idp.example.com"
AUDIENCE = "orders-api"

# Istio's default TEXT access log format (1.24 and later, with %UPSTREAM_CLUSTER_RAW%), followed by
# the four demo fields. The jwt_authn metadata comes last because claim values may contain spaces.
ACCESS_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%"
    ' "%REQ(X-EDGE-REQUEST-ID)%" "%DOWNSTREAM_PEER_URI_SAN%" "%REQ(AUTHORIZATION):7%" '
    "%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%\n"
)


@dataclass(frozen=True)
class JwtRule:
    """One RequestAuthentication `jwtRules` entry, with the JWKS istiod would inline for it."""

    issuer: str
    jwks: str
    audiences: tuple[str, ...] = ()
    forward_original_token: bool = False


@dataclass(frozen=True)
class PayloadKey:
    """Key under which jwt_authn stores the verified claims in its dynamic metadata.

    Mode `issuer` keys the claims by issuer, as Istio up to 1.20 did. Mode `payload` uses the fixed
    key `payload` with `normalize_payload_in_metadata`, as istiod does from 1.21 on.
    """

    mode: str

    def key_for(self, issuer: str) -> str:
        return issuer if self.mode == "issuer" else "payload"


def _typed(type_url: str, **fields: Any) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{type_url}", **fields}


def _access_log(path: Path) -> list[dict[str, Any]]:
    return [
        {
            "name": "envoy.access_loggers.file",
            "typed_config": _typed(
                "envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path=str(path),
                log_format={"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}},
            ),
        }
    ]


def jwt_authn_filter(rules: list[JwtRule], payload_key: PayloadKey) -> dict[str, Any]:
    """Build jwt_authn as istiod builds it from the rules of the RequestAuthentications that select a workload."""
    providers: dict[str, Any] = {}
    inner_and: list[dict[str, Any]] = []
    outer_or: list[dict[str, Any]] = []
    for index, rule in enumerate(sorted(rules, key=lambda r: r.issuer)):
        name = f"origins-{index}"
        provider: dict[str, Any] = {
            "issuer": rule.issuer,
            "local_jwks": {"inline_string": rule.jwks},
            "forward": rule.forward_original_token,
            "payload_in_metadata": payload_key.key_for(rule.issuer),
        }
        if rule.audiences:
            provider["audiences"] = list(rule.audiences)
        if payload_key.mode == "payload":
            provider["normalize_payload_in_metadata"] = {"space_delimited_claims": ["permission", "scope"]}
        providers[name] = provider
        inner_and.append({"requires_any": {"requirements": [{"provider_name": name}, {"allow_missing": {}}]}})
        outer_or.append({"provider_name": name})

    # One provider: {provider OR allow_missing}. Several: {P0 OR P1 ... OR AND{(Pi OR allow_missing)...}},
    # where the outer OR lets providers share the default token location.
    if len(inner_and) == 1:
        requires = inner_and[0]
    else:
        requires = {"requires_any": {"requirements": [*outer_or, {"requires_all": {"requirements": inner_and}}]}}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": _typed(
            "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            providers=providers,
            rules=[{"match": {"prefix": "/"}, "requires": requires}],
            bypass_cors_preflight=True,
        ),
    }


def _method(value: str) -> dict[str, Any]:
    return {"header": {"name": ":method", "string_match": {"exact": value}}}


def _path(value: str) -> dict[str, Any]:
    # istiod turns a trailing `*` into a prefix match and anything else into an exact match.
    if value.endswith("*"):
        return {"url_path": {"path": {"prefix": value[:-1]}}}
    return {"url_path": {"path": {"exact": value}}}


def _jwt_claim(payload_key: PayloadKey, issuer: str, claim: str, match: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": payload_key.key_for(issuer)}, {"key": claim}],
            "value": {"string_match": match},
        }
    }


def _request_principal(payload_key: PayloadKey, value: str) -> dict[str, Any]:
    # istiod splits a requestPrincipals value at its last `/` into `iss` and `sub` matchers.
    issuer, _, subject = value.rpartition("/")
    sub_match: dict[str, Any] = {"safe_regex": {"regex": ".+"}} if subject == "*" else {"exact": subject}
    return {
        "and_ids": {
            "ids": [
                _jwt_claim(payload_key, issuer, "iss", {"exact": issuer}),
                _jwt_claim(payload_key, issuer, "sub", sub_match),
            ]
        }
    }


def _rbac_filter(action: str, policies: dict[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = {"policies": policies}
    if action != "ALLOW":
        rules["action"] = action
    return {
        "name": "envoy.filters.http.rbac",
        "typed_config": _typed(
            "envoy.extensions.filters.http.rbac.v3.RBAC",
            rules=rules,
            shadow_rules_stat_prefix="istio_dry_run_allow_",
        ),
    }


def orders_rbac_filters(payload_key: PayloadKey) -> list[dict[str, Any]]:
    """Build the DENY then ALLOW RBAC filters for shop/deny-delete and shop/allow-orders."""
    any_source = [{"and_ids": {"ids": [{"any": True}]}}]
    from_gateway = {"or_ids": {"ids": [{"authenticated": {"principal_name": {"exact": GATEWAY_PRINCIPAL}}}]}}
    deny = {
        "ns[shop]-policy[deny-delete]-rule[0]": {
            "permissions": [{"and_rules": {"rules": [{"or_rules": {"rules": [_method("DELETE")]}}]}}],
            "principals": any_source,
        }
    }
    allow = {
        "ns[shop]-policy[allow-orders]-rule[0]": {
            "permissions": [
                {
                    "and_rules": {
                        "rules": [
                            {"or_rules": {"rules": [_method("GET"), _method("POST")]}},
                            {"or_rules": {"rules": [_path("/api/orders"), _path("/api/orders/*")]}},
                        ]
                    }
                }
            ],
            "principals": [
                {
                    "and_ids": {
                        "ids": [
                            from_gateway,
                            {
                                "or_ids": {
                                    "ids": [
                                        _request_principal(payload_key, f"{issuer}/*")
                                        for issuer in (IDP, LEGACY_IDP, PARTNER_IDP)
                                    ]
                                }
                            },
                        ]
                    }
                }
            ],
        },
        "ns[shop]-policy[allow-orders]-rule[1]": {
            "permissions": [
                {
                    "and_rules": {
                        "rules": [
                            {"or_rules": {"rules": [_method("GET")]}},
                            {"or_rules": {"rules": [_path("/public/*")]}},
                        ]
                    }
                }
            ],
            "principals": [{"and_ids": {"ids": [from_gateway]}}],
        },
    }
    return [_rbac_filter("DENY", deny), _rbac_filter("ALLOW", allow)]


def _router() -> dict[str, Any]:
    return {"name": "envoy.filters.http.router", "typed_config": _typed("envoy.extensions.filters.http.router.v3.Router")}


def _static_cluster(name: str, port: int, transport_socket: dict[str, Any] | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(port)}}]}],
        },
    }
    if transport_socket is not None:
        cluster["transport_socket"] = transport_socket
    return cluster


def _address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _bootstrap(listener: dict[str, Any], cluster: dict[str, Any]) -> dict[str, Any]:
    # Port 0 everywhere: the kernel picks free ports and the recorder reads them back from the admin API.
    return {
        "admin": {"address": _address(0)},
        "static_resources": {"listeners": [listener], "clusters": [cluster]},
    }


def _tls_context(pki: MeshPki, own: str) -> dict[str, Any]:
    files = pki.gateway if own == "gateway" else pki.orders
    return {
        "tls_certificates": [
            {"certificate_chain": {"filename": str(files.cert)}, "private_key": {"filename": str(files.key)}}
        ],
        "validation_context": {"trusted_ca": {"filename": str(pki.ca_cert)}},
    }


def gateway_config(
    access_log: Path, rules: list[JwtRule], payload_key: PayloadKey, pki: MeshPki, sidecar_port: int
) -> dict[str, Any]:
    """Build the istio-system/istio-ingressgateway bootstrap: jwt_authn, then a route to orders over mTLS."""
    upstream_tls = _tls_context(pki, "gateway")
    upstream_tls["validation_context"]["match_typed_subject_alt_names"] = [
        {"san_type": "URI", "matcher": {"exact": ORDERS_PRINCIPAL}}
    ]
    transport_socket = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": _typed(
            "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            sni=ORDERS_SNI,
            common_tls_context=upstream_tls,
        ),
    }
    hcm = _typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="outbound_0.0.0.0_8080",
        use_remote_address=True,
        normalize_path=True,
        access_log=_access_log(access_log),
        route_config={
            "name": "http.8080",
            "virtual_hosts": [
                {
                    "name": "api.example.com:80",
                    "domains": ["*"],
                    "routes": [{"name": "orders", "match": {"prefix": "/"}, "route": {"cluster": ORDERS_OUTBOUND_CLUSTER}}],
                }
            ],
        },
        http_filters=[jwt_authn_filter(rules, payload_key), _router()],
    )
    listener = {
        "name": "0.0.0.0_8080",
        "address": _address(0),
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }
    return _bootstrap(listener, _static_cluster(ORDERS_OUTBOUND_CLUSTER, sidecar_port, transport_socket))


def sidecar_config(
    access_log: Path, rules: list[JwtRule], payload_key: PayloadKey, pki: MeshPki, app_port: int
) -> dict[str, Any]:
    """Build the shop/orders sidecar bootstrap: mTLS inbound, jwt_authn, RBAC DENY, RBAC ALLOW, app."""
    downstream_tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": _typed(
            "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            require_client_certificate=True,
            common_tls_context=_tls_context(pki, "orders"),
        ),
    }
    hcm = _typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="inbound_0.0.0.0_8080",
        normalize_path=True,
        forward_client_cert_details="APPEND_FORWARD",
        set_current_client_cert_details={"subject": True, "dns": True, "uri": True},
        access_log=_access_log(access_log),
        route_config={
            "name": ORDERS_INBOUND_CLUSTER,
            "virtual_hosts": [
                {
                    "name": "inbound|http|8080",
                    "domains": ["*"],
                    "routes": [{"name": "default", "match": {"prefix": "/"}, "route": {"cluster": ORDERS_INBOUND_CLUSTER}}],
                }
            ],
        },
        http_filters=[jwt_authn_filter(rules, payload_key), *orders_rbac_filters(payload_key), _router()],
    )
    listener = {
        "name": "virtualInbound",
        "address": _address(0),
        "filter_chains": [
            {
                "name": "0.0.0.0_8080",
                "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
                "transport_socket": downstream_tls,
            }
        ],
    }
    return _bootstrap(listener, _static_cluster(ORDERS_INBOUND_CLUSTER, app_port))


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write an Envoy bootstrap as JSON (Envoy picks the parser from the `.json` extension)."""
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path

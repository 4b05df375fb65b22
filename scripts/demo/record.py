#!/usr/bin/env python3
"""Record idflow's demo data with a real Envoy.

Everything runs on 127.0.0.1, with ports the kernel picks. A tiny orders application sits behind a
real Envoy as the shop/orders sidecar (mTLS, jwt_authn, RBAC), which sits behind a real Envoy as the
Istio ingress gateway. In front of both, an edge stand-in plays a JWT-validating Akamai EdgeWorker.
The recorder sends the scripted scenarios through the edge, stops everything, checks the logs and
writes to --out:

  edge.ds2.ndjson                        DataStream 2 records of the edge, one per request
  istio-system.istio-ingressgateway.log  the gateway's access log
  shop.orders.log                        the sidecar's access log
  policies.yaml                          the Istio objects the Envoy configs stand for
  scenarios.json                         per scenario: request, edge verdict, each proxy's status and details

Keys, tokens and certificates are minted per run in a temporary directory and never written to --out.
Usage: .venv/bin/python scripts/demo/record.py --out demo
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from edge import EdgeSettings, start_edge
from mesh_config import (
    AUDIENCE,
    GATEWAY_PRINCIPAL,
    IDP,
    LEGACY_IDP,
    ORDERS_PRINCIPAL,
    PARTNER_IDP,
    JwtRule,
    PayloadKey,
    gateway_config,
    sidecar_config,
    write_config,
)
from pki import SigningKey, jwks_json, mint_mesh_pki, new_signing_key, sign_jwt
from proxies import EnvoyProcess, RecorderError, find_envoy, start_envoy, validate_config
from scenarios import EDGE_LOG, GATEWAY_LOG, SCENARIOS, SIDECAR_LOG, send, summarize
from servers import start_orders_app

TEMPLATES = Path(__file__).resolve().parent / "templates"
OUTPUTS = (EDGE_LOG, GATEWAY_LOG, SIDECAR_LOG, "policies.yaml", "scenarios.json")


def mint_tokens(keys: dict[str, SigningKey]) -> dict[str, str]:
    """Mint the scenario tokens, which stay in memory."""
    now = int(time.time())

    def claims(issuer: str, subject: str, audience: str = AUDIENCE, expires_in: int = 3600) -> dict[str, object]:
        return {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": now - 60 if expires_in > 0 else now + expires_in - 3600,
            "exp": now + expires_in,
            "scope": "orders:read orders:write",
        }

    forger = SigningKey(kid=keys[IDP].kid, private_key=new_signing_key().private_key)
    return {
        "valid": sign_jwt(keys[IDP], claims(IDP, "user-1042")),
        "legacy": sign_jwt(keys[LEGACY_IDP], claims(LEGACY_IDP, "svc-batch-7")),
        "wrong_audience": sign_jwt(keys[IDP], claims(IDP, "user-1042", audience="billing-api")),
        # One hour past exp, well beyond Envoy's default 60 s clock skew.
        "expired": sign_jwt(keys[IDP], claims(IDP, "user-1042", expires_in=-3600)),
        "partner": sign_jwt(keys[PARTNER_IDP], claims(PARTNER_IDP, "partner-acme-3")),
        # Same kid as the real key, signed by another key: only a signature check can tell.
        "forged": sign_jwt(forger, claims(IDP, "user-1042")),
    }


def stop_all(envoys: list[EnvoyProcess]) -> None:
    """Stop every Envoy still running, on any exit path. A failure to stop one does not skip the others."""
    for proxy in envoys:
        try:
            proxy.stop()
        except RecorderError as error:
            print(f"warning: {error}", file=sys.stderr)


def record(out: Path, payload_key: PayloadKey, work: Path) -> list[str]:
    """Run the whole recording into `out` and return the differences from the expected outcomes."""
    envoy = find_envoy()
    keys = {issuer: new_signing_key() for issuer in (IDP, LEGACY_IDP, PARTNER_IDP)}
    tokens = mint_tokens(keys)
    pki = mint_mesh_pki(work, GATEWAY_PRINCIPAL, ORDERS_PRINCIPAL)

    def rules(forwarded: set[str]) -> list[JwtRule]:
        return [
            JwtRule(issuer, jwks_json([key]), (AUDIENCE,), forward_original_token=issuer in forwarded)
            for issuer, key in keys.items()
        ]

    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)

    with ExitStack() as stack:
        app = start_orders_app()
        stack.callback(app.server_close)
        stack.callback(app.shutdown)

        envoys: list[EnvoyProcess] = []
        stack.callback(stop_all, envoys)

        sidecar_file = write_config(
            work / "sidecar.json",
            sidecar_config(out / SIDECAR_LOG, rules(set()), payload_key, pki, app.server_address[1]),
        )
        validate_config(envoy, sidecar_file)
        envoys.append(start_envoy(envoy, "shop.orders", sidecar_file, work))

        gateway_file = write_config(
            work / "gateway.json",
            gateway_config(out / GATEWAY_LOG, rules({IDP, PARTNER_IDP}), payload_key, pki, envoys[0].listener_port),
        )
        validate_config(envoy, gateway_file)
        envoys.append(start_envoy(envoy, "istio-system.istio-ingressgateway", gateway_file, work))

        # The EdgeWorker accepts two of the three issuers the mesh accepts.
        edge_keys = {keys[issuer].kid: keys[issuer].public_jwk for issuer in (IDP, LEGACY_IDP)}
        edge = start_edge(EdgeSettings(envoys[1].listener_port, (IDP, LEGACY_IDP), edge_keys, out / EDGE_LOG))
        stack.callback(edge.server_close)
        stack.callback(edge.shutdown)

        sent = []
        for scenario in SCENARIOS:
            request_id, status = send(edge.server_address[1], scenario, tokens)
            sent.append((scenario, request_id, status))
            print(f"  {scenario.name:<28} reqId {request_id}  client status {status}")

        # Stop the gateway first, so no request is in flight to the sidecar when the sidecar stops.
        for proxy in reversed(envoys):
            proxy.stop()

    summary, differences = summarize(out, sent)
    (out / "scenarios.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(TEMPLATES / "policies.yaml", out / "policies.yaml")
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record idflow's demo data with a real Envoy.")
    parser.add_argument("--out", type=Path, required=True, help="directory that receives the recorded files")
    parser.add_argument(
        "--payload-in-metadata",
        choices=("issuer", "payload"),
        default="payload",
        help="jwt_authn metadata key for verified claims: the issuer (Istio up to 1.20) "
        "or `payload` (default; istiod 1.21 and later)",
    )
    parser.add_argument(
        "--keep-work",
        action="store_true",
        help="keep the temporary directory with the Envoy configs, keys and Envoy stderr logs (contains private keys)",
    )
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="idflow-demo-"))
    started = time.monotonic()
    try:
        print(f"Recording into {args.out} (work directory {work})")
        differences = record(args.out, PayloadKey(args.payload_in_metadata), work)
    except RecorderError as error:
        print(f"error: {error}", file=sys.stderr)
        if not args.keep_work:
            print("Re-run with --keep-work to inspect the Envoy configs and stderr logs.", file=sys.stderr)
        return 1
    finally:
        if args.keep_work:
            print(f"Kept work directory {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    for difference in differences:
        print(f"note: {difference}")
    print(f"Recorded {len(SCENARIOS)} scenarios in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tests of the demo recorder: the EdgeWorker rules, the DataStream 2 fields, the Envoy config shapes,
and one full recording against the real Envoy when it is installed.

Run: .venv/bin/python -m unittest discover -s scripts/demo
"""

from __future__ import annotations

import json
import tempfile
import time
import unittest
from pathlib import Path
from urllib.parse import parse_qs

from edge import EdgeDecision, EdgeSettings, custom_field, decide, ew_execution_info, ew_usage_info
from mesh_config import IDP, PARTNER_IDP, JwtRule, PayloadKey, _request_principal, jwt_authn_filter
from pki import SigningKey, b64url_decode, new_signing_key, sign_jwt, token_fingerprint
from proxies import RecorderError, find_envoy
from scenarios import LOG_LINE, SCENARIOS

KEY = new_signing_key()


def _settings() -> EdgeSettings:
    return EdgeSettings(
        gateway_port=1,
        accepted_issuers=(IDP,),
        jwks_by_kid={KEY.kid: KEY.public_jwk},
        ds2_path=Path("/nonexistent"),
    )


def _token(issuer: str = IDP, expires_in: int = 3600, key: SigningKey = KEY) -> str:
    now = int(time.time())
    return sign_jwt(key, {"iss": issuer, "sub": "user-1", "aud": ["a", "b"], "exp": now + expires_in})


class EdgeDecisionTest(unittest.TestCase):
    def test_rules(self) -> None:
        forged = SigningKey(kid=KEY.kid, private_key=new_signing_key().private_key)
        cases = [
            ("valid bearer", f"Bearer {_token()}", "/api", "allow", "signature verified; exp and nbf not checked"),
            ("lower-case scheme", f"bearer {_token()}", "/api", "allow", "signature verified; exp and nbf not checked"),
            ("expired passes", f"Bearer {_token(expires_in=-7200)}", "/api", "allow", "signature verified; exp and nbf not checked"),
            ("other issuer", f"Bearer {_token(PARTNER_IDP)}", "/api", "deny", "issuer not accepted"),
            ("forged signature", f"Bearer {_token(key=forged)}", "/api", "deny", "signature invalid"),
            ("not a jwt", "Bearer abc", "/api", "deny", "token malformed"),
            ("basic scheme", "Basic dXNlcjpwdw==", "/api", "deny", "unsupported authorization scheme"),
            ("missing token", None, "/api", "deny", "token missing"),
            ("public path", None, "/public/x", "allow", "public path; no token required"),
        ]
        for name, authorization, path, verdict, reason in cases:
            with self.subTest(name):
                decision = decide(authorization, path, _settings(), fault=False)
                self.assertEqual(decision.verdict, verdict)
                self.assertEqual(decision.reason, reason)

    def test_fault_fails_open(self) -> None:
        decision = decide(f"Bearer {_token()}", "/api", _settings(), fault=True)
        self.assertEqual(decision.verdict, "error")
        self.assertTrue(decision.forwards)
        self.assertEqual(decision.claims, {})

    def test_token_location_keeps_scheme_case(self) -> None:
        decision = decide(f"bearer {_token()}", "/api", _settings(), fault=False)
        self.assertEqual(decision.token_location, "authorization:bearer")


class Ds2FieldsTest(unittest.TestCase):
    def test_custom_field_allow(self) -> None:
        token = _token()
        fields = parse_qs(custom_field(decide(f"Bearer {token}", "/api", _settings(), fault=False), True))
        self.assertEqual(fields["ew_verdict"], ["allow"])
        self.assertEqual(fields["tok_loc"], ["authorization:Bearer"])
        self.assertEqual(fields["iss"], [IDP])
        self.assertEqual(fields["aud"], ["a,b"])
        self.assertEqual(fields["tok_fp"], [token_fingerprint(token)])
        self.assertEqual(fields["fwd"], ["authorization"])
        self.assertNotIn("fail_open", fields)

    def test_custom_field_deny_not_forwarded(self) -> None:
        fields = parse_qs(custom_field(EdgeDecision("deny", "issuer not accepted", "authorization:Bearer", "x.y.z"), True))
        self.assertEqual(fields["fwd"], ["none"])
        self.assertEqual(fields["ew_reason"], ["issuer not accepted"])

    def test_custom_field_error_fails_open(self) -> None:
        fields = parse_qs(custom_field(EdgeDecision("error", "boom", "authorization:Bearer", "x.y.z"), True))
        self.assertEqual(fields["fail_open"], ["1"])

    def test_fingerprint_format(self) -> None:
        fingerprint = token_fingerprint("a.b.c")
        self.assertRegex(fingerprint, r"^sha256:[0-9a-f]{16}$")

    def test_usage_info_entries(self) -> None:
        entries = ew_usage_info(_settings(), EdgeDecision("error", "boom")).split("\\")
        self.assertEqual(len(entries), 2)
        self.assertTrue(all(entry.startswith("//42001/1.3/") for entry in entries))
        # handler 1 (onClientRequest), logic executed, status 6 (execution error), continue on error 1
        self.assertEqual(entries[0].split("/")[4:11], ["1", "-", "1", "6", "-", "0", "1"])

    def test_execution_info_deny_status_change(self) -> None:
        fields = ew_execution_info(_settings(), EdgeDecision("deny", "x"), 1, 2).split(":")
        self.assertEqual(len(fields), 16)
        self.assertEqual(fields[0], "c")
        self.assertEqual(fields[8], "401")


class EnvoyConfigTest(unittest.TestCase):
    def test_single_provider_requirement(self) -> None:
        config = jwt_authn_filter([JwtRule(IDP, "{}")], PayloadKey("issuer"))["typed_config"]
        requirements = config["rules"][0]["requires"]["requires_any"]["requirements"]
        self.assertEqual(requirements, [{"provider_name": "origins-0"}, {"allow_missing": {}}])

    def test_providers_sorted_by_issuer(self) -> None:
        config = jwt_authn_filter([JwtRule(PARTNER_IDP, "{}"), JwtRule(IDP, "{}")], PayloadKey("issuer"))["typed_config"]
        self.assertEqual(config["providers"]["origins-0"]["issuer"], IDP)
        self.assertEqual(config["providers"]["origins-1"]["payload_in_metadata"], PARTNER_IDP)

    def test_several_providers_requirement(self) -> None:
        config = jwt_authn_filter([JwtRule(IDP, "{}"), JwtRule(PARTNER_IDP, "{}")], PayloadKey("payload"))["typed_config"]
        requirements = config["rules"][0]["requires"]["requires_any"]["requirements"]
        self.assertEqual(requirements[:2], [{"provider_name": "origins-0"}, {"provider_name": "origins-1"}])
        self.assertEqual(len(requirements[2]["requires_all"]["requirements"]), 2)
        self.assertEqual(config["providers"]["origins-0"]["payload_in_metadata"], "payload")

    def test_request_principal_split_at_last_slash(self) -> None:
        ids = _request_principal(PayloadKey("issuer"), "https://idp.example.com/user/1")["and_ids"]["ids"]
        self.assertEqual(ids[0]["metadata"]["value"]["string_match"], {"exact": "https://idp.example.com/user"})
        self.assertEqual(ids[1]["metadata"]["value"]["string_match"], {"exact": "1"})


class LogLineTest(unittest.TestCase):
    LINE = (
        '[2026-01-01T00:00:00.000Z] "GET /api HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - '
        '"1.2.3.4" "ua with \\"quote\\"" "id" "host" "-" inbound|8080|| - 1.1.1.1:80 2.2.2.2:0 - default '
        '"0a1b2c3d" "spiffe://cluster.local/ns/a/sa/b" "Bearer " {"iss":{"name":"a \\" \\"b\\" \\"c\\" d"}}'
    )

    def test_fields(self) -> None:
        match = LOG_LINE.match(self.LINE)
        assert match is not None
        self.assertEqual(match["status"], "403")
        self.assertEqual(match["details"], "rbac_access_denied_matched_policy[none]")
        self.assertEqual(match["edge_request_id"], "0a1b2c3d")
        self.assertEqual(match["auth_scheme"], "Bearer ")


class RecordingTest(unittest.TestCase):
    def test_full_recording(self) -> None:
        try:
            find_envoy()
        except RecorderError as error:
            self.skipTest(str(error))
        from record import main

        with tempfile.TemporaryDirectory() as out:
            self.assertEqual(main(["--out", out]), 0)
            summary = json.loads((Path(out) / "scenarios.json").read_text(encoding="utf-8"))
            ds2 = (Path(out) / "edge.ds2.ndjson").read_text(encoding="utf-8")
        self.assertEqual([entry["name"] for entry in summary], [scenario.name for scenario in SCENARIOS])
        for scenario, entry in zip(SCENARIOS, summary):
            with self.subTest(scenario.name):
                self.assertEqual(entry["edge_verdict"], scenario.expect_edge)
                expected = [hop for hop in (scenario.expect_gateway, scenario.expect_sidecar) if hop is not None]
                self.assertEqual(
                    [(hop["status"], hop["response_code_details"]) for hop in entry["hops"]],
                    [(hop.status, hop.details) for hop in expected],
                )
        # No token may reach the edge records: no JWS header prefix, no signature segment.
        self.assertNotIn("eyJ", ds2)


class Base64Test(unittest.TestCase):
    def test_unpadded_roundtrip(self) -> None:
        self.assertEqual(b64url_decode("YWI"), b"ab")


if __name__ == "__main__":
    unittest.main()

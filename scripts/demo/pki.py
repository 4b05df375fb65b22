"""Keys, JWKS, JWTs and SPIFFE certificates for the demo recording.

Everything here is minted fresh for each run. It lives in memory or in the recorder's
temporary work directory, and nothing of it is written to the demo output.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def b64url(data: bytes) -> str:
    """Encode bytes as unpadded base64url, as JOSE requires."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url. Raises ValueError on invalid input."""
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass(frozen=True)
class SigningKey:
    """An RS256 signing key with the `kid` under which its JWK is published."""

    kid: str
    private_key: RSAPrivateKey

    @property
    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": b64url(_int_bytes(numbers.n)),
            "e": b64url(_int_bytes(numbers.e)),
        }


def new_signing_key() -> SigningKey:
    """Generate a 2048-bit RSA key whose `kid` is its RFC 7638 JWK thumbprint."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private_key.public_key().public_numbers()
    # RFC 7638: the thumbprint covers the required members in lexicographic order, no whitespace.
    canonical = json.dumps(
        {"e": b64url(_int_bytes(numbers.e)), "kty": "RSA", "n": b64url(_int_bytes(numbers.n))},
        separators=(",", ":"),
        sort_keys=True,
    )
    kid = b64url(hashlib.sha256(canonical.encode("ascii")).digest())
    return SigningKey(kid=kid, private_key=private_key)


def jwks_json(keys: list[SigningKey]) -> str:
    """Return the JWKS document that publishes the public half of `keys`."""
    return json.dumps({"keys": [key.public_jwk for key in keys]}, separators=(",", ":"))


def sign_jwt(key: SigningKey, claims: dict[str, Any]) -> str:
    """Return a compact RS256 JWS over `claims`, signed with `key`."""
    header = {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, claims)
    )
    signature = key.private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def public_key_from_jwk(jwk: dict[str, str]) -> RSAPublicKey:
    """Rebuild an RSA public key from its JWK members `n` and `e`."""
    n = int.from_bytes(b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(b64url_decode(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def token_fingerprint(token: str) -> str:
    """Return `sha256:` plus the first 16 hex digits of SHA-256 over the token's bytes."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class CertFiles:
    """PEM files of one workload certificate and its key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class MeshPki:
    """The mesh CA and the two workload certificates of the demo."""

    ca_cert: Path
    gateway: CertFiles
    orders: CertFiles


def _write_key(path: Path, key: RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _key_usage(ca: bool) -> x509.KeyUsage:
    # Only the CA key signs certificates. Workload keys sign TLS handshakes and encipher RSA key exchanges.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _workload_cert(
    directory: Path,
    name: str,
    spiffe_id: str,
    ca_key: RSAPrivateKey,
    ca_cert: x509.Certificate,
    now: datetime.datetime,
) -> CertFiles:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Istio workload certificates carry the SPIFFE id as their only URI SAN and an empty subject.
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=24))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = CertFiles(cert=directory / f"{name}.pem", key=directory / f"{name}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.key, key)
    return files


def mint_mesh_pki(directory: Path, gateway_spiffe_id: str, orders_spiffe_id: str) -> MeshPki:
    """Mint a CA like Istio's self-signed root and the gateway and orders workload certificates."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cluster.local")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "root-cert.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return MeshPki(
        ca_cert=ca_path,
        gateway=_workload_cert(directory, "istio-ingressgateway", gateway_spiffe_id, ca_key, ca_cert, now),
        orders=_workload_cert(directory, "orders", orders_spiffe_id, ca_key, ca_cert, now),
    )

"""Mint RS256 tokens and their JWKS for the decode benchmark (scripts/bench-decode.sh).

Usage: mint_tokens.py COUNT FOLDER

Writes FOLDER/tokens.txt (one token a line, each with its own `sub` and `jti`), FOLDER/jwks.json,
FOLDER/public.pem (the same key as PEM, for jwt-cli) and prints the token count. The key is new on
every run and never leaves FOLDER.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "demo"))
from pki import jwks_json, new_signing_key, sign_jwt  # noqa: E402


def main() -> None:
    count = int(sys.argv[1])
    folder = Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    key = new_signing_key()
    (folder / "jwks.json").write_text(jwks_json([key]))
    pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / "public.pem").write_bytes(pem)
    now = int(time.time())
    with (folder / "tokens.txt").open("w") as out:
        for index in range(count):
            claims = {
                "iss": "https://issuer.bench.test",
                "sub": f"user-{index}",
                "aud": "orders",
                "iat": now,
                "exp": now + 86400,
                "jti": f"bench-{index}",
            }
            out.write(sign_jwt(key, claims) + "\n")
    print(count)


if __name__ == "__main__":
    main()

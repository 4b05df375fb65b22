//! Cost of one token in `idflow decode --batch`, split into its parts.
//!
//! Run with `cargo bench --bench decode`. The tokens are RS256 with a 2048-bit key minted here,
//! each with its own `sub` and `jti`, like the ones `scripts/bench-decode.sh` mints; the bench
//! cycles through 1,000 of them so that no cache keeps one token's work.
//! - `inspect`: finding and decoding the token, the problem checks and the fingerprint.
//! - `inspect_verify`: the same, then the signature checked against the JWKS.
//! - `verify_only`: the signature of a token inspected beforehand checked, with the key already
//!   parsed: what `--jwks` adds to a batch.

idflow::use_pipeline_allocator!();

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone as _, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idflow::token::keys::{KeySet, SourceKind, check_signature};
use idflow::token::{Inspection, inspect};

const TOKENS: usize = 1_000;
/// 2026-12-05T00:00:00Z, the clock of every token's times.
const NOW: i64 = 1_796_428_800;

/// Mints `count` RS256 tokens with one key and returns them with the key's JWKS.
fn mint(count: usize) -> (Vec<String>, String) {
    let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
    let public = pair.public_key();
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let jwks = serde_json::json!({"keys": [{
        "kty": "RSA", "kid": "bench", "alg": "RS256",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    }]});
    let header = b64(br#"{"alg":"RS256","kid":"bench","typ":"JWT"}"#);
    let tokens = (0..count)
        .map(|index| {
            let claims = serde_json::json!({
                "iss": "https://issuer.bench.test", "sub": format!("user-{index}"),
                "aud": "orders", "iat": NOW - 60, "exp": NOW + 3600, "jti": format!("bench-{index}"),
            });
            let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature)
                .expect("RS256 signature");
            format!("{input}.{}", b64(&signature))
        })
        .collect();
    (tokens, jwks.to_string())
}

fn bench_decode(criterion: &mut Criterion) {
    let (tokens, jwks) = mint(TOKENS);
    let sets = [KeySet::from_jwks_text(SourceKind::File, "bench.json", None, &jwks).expect("JWKS")];
    let sets: Vec<&KeySet> = sets.iter().collect();
    let now = Utc.timestamp_opt(NOW, 0).single().expect("clock");
    let inspections: Vec<Inspection> = tokens
        .iter()
        .map(|token| inspect(token, now).expect("token"))
        .collect();
    // A bench of tokens that do not verify would measure the failure path only.
    for inspection in &inspections {
        let report = check_signature(inspection, &sets, &[]);
        assert_eq!(report.key_index, Some(0), "{}", inspection.fingerprint);
    }

    let mut group = criterion.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    let mut next = tokens.iter().cycle();
    group.bench_function("inspect", |bencher| {
        bencher.iter(|| inspect(black_box(next.next().expect("cycle")), now).is_ok());
    });
    let mut next = tokens.iter().cycle();
    group.bench_function("inspect_verify", |bencher| {
        bencher.iter(|| {
            let token = next.next().expect("cycle");
            let inspection = inspect(black_box(token), now).expect("token");
            check_signature(&inspection, &sets, &[]).key_index
        });
    });
    let mut next = inspections.iter().cycle();
    group.bench_function("verify_only", |bencher| {
        bencher.iter(|| {
            let inspection = next.next().expect("cycle");
            check_signature(black_box(inspection), &sets, &[]).key_index
        });
    });
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);

//! Tokens: finding a token in pasted text, telling JWS, JWE and opaque tokens apart, decoding header
//! and claims with errors that name the segment, and reading `exp`/`nbf`/`iat` as times.

//! `idflow decode` on pasted curl commands, URLs and requests in the shapes users paste them,
//! checked against what curl sends (its documentation) and what a real Envoy decides for that
//! request. Envoy runs with the filters `idflow envoy-config` prints for a RequestAuthentication of
//! [`mint::ISSUER`] with no locations (so `Authorization: Bearer` and the `access_token` query
//! parameter) and an AuthorizationPolicy that requires a request principal.
//!
//! A test marked `#[ignore = "finding: …"]` states the expected behaviour, which decode does not
//! have yet.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use envoy_harness::require_jwt::{self, Request};
use serde_json::{Value, json};
use support::tmux::TmuxSession;
use support::{decode_output, problem_message, run_decode};

/// Returns an RS256 token of [`mint::ISSUER`] for `alice`, valid from `from` seconds after now
/// for an hour.
fn token_from(from: i64) -> String {
    let now = chrono::Utc::now().timestamp() + from;
    let mut claims = mint::claims(mint::ISSUER, "orders", now, 3600);
    claims["sub"] = json!("alice");
    mint::mint(mint::key(), &claims)
}

/// Returns a valid token.
fn token() -> String {
    token_from(0)
}

/// Returns a token that expired an hour ago, past Envoy's 60 s clock skew.
fn expired_token() -> String {
    token_from(-7200)
}

/// Returns the policy file for [`mint::ISSUER`] that Envoy and `idflow check` both read.
fn policy_file() -> PathBuf {
    require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "tester-loc")
}

/// Returns the request with target `target` and header lines `headers`.
fn sent(target: &str, headers: &[(&str, &str)]) -> Request {
    let headers = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    (target.to_owned(), headers)
}

/// Sends each request through one Envoy and returns `STATUS DETAILS` for each.
fn envoy_verdicts(requests: &[Request]) -> Vec<String> {
    require_jwt::verdicts(&policy_file(), requests, "tester-loc")
}

/// Sends one request through Envoy and returns `STATUS DETAILS`.
fn envoy_verdict(target: &str, headers: &[(&str, &str)]) -> String {
    envoy_verdicts(&[sent(target, headers)]).remove(0)
}

/// Returns what `idflow check` decides for the same request, as `STATUS DETAILS`.
fn check_verdict((target, headers): &Request) -> String {
    let policies = policy_file();
    let mut args: Vec<String> = [
        "-f",
        &policies.display().to_string(),
        "--workload",
        "shop/orders",
        "--path",
        target,
    ]
    .map(str::to_owned)
    .to_vec();
    for (name, value) in headers {
        args.push("-H".to_owned());
        args.push(format!("{name}: {value}"));
    }
    let verdict = envoy_harness::idflow::check(&args)
        .unwrap_or_else(|error| panic!("idflow check failed: {error}"));
    format!("{} {}", verdict.status, verdict.response_code_details)
}

fn decode(input: &str) -> (i32, Value, String) {
    decode_output(input, &[])
}

/// Returns whether decode listed a problem with `code`.
fn has_code(json: &Value, code: &str) -> bool {
    support::problem_codes(json)
        .iter()
        .any(|listed| listed == code)
}

/// Runs decode on `input` with an edge profile whose `[token]` table is `token`, and returns the
/// JSON `edge` object.
fn edge_for(input: &str, token: &str) -> Value {
    let profile = envoy_harness::scratch_dir("tester-loc-edge").join("edge.toml");
    std::fs::write(
        &profile,
        format!("name = \"hunt\"\n\n[token]\n{token}\nmissing = \"deny\"\n"),
    )
    .expect("profile written");
    let (_, json, _) = decode_output(input, &["--edge-profile", &profile.to_string_lossy()]);
    json["edge"].clone()
}

/// A `+` before or after a query token stays a `+` for Envoy (it is not read as a space), so the
/// token's first or last segment fails base64url with 401. decode and `idflow check` name the
/// same status.
#[test]
fn plus_in_query_token() {
    let token = token();
    let requests = [
        sent(&format!("/?access_token={token}+"), &[]),
        sent(&format!("/?access_token=+{token}"), &[]),
    ];
    let verdicts = envoy_verdicts(&requests);
    let expected = [
        "401 jwt_authn_access_denied{Jwt_signature_is_an_invalid_Base64url_encoded}",
        "401 jwt_authn_access_denied{Jwt_header_is_an_invalid_Base64url_encoded}",
    ];

    for ((request, verdict), expected) in requests.iter().zip(&verdicts).zip(expected) {
        assert_eq!(verdict, expected, "Envoy for {:.40}", request.0);
        assert_eq!(
            check_verdict(request),
            expected,
            "check for {:.40}",
            request.0
        );

        let (code, json, stderr) = decode(&format!("https://orders.test{}", request.0));
        assert_eq!(code, 1, "decode exit for {:.40}: {stderr}", request.0);
        let status = expected
            .trim_start_matches("401 jwt_authn_access_denied{")
            .trim_end_matches('}')
            .replace('_', " ");
        let rejected = problem_message(&json, "mesh_rejects_format");
        assert!(rejected.contains(&status), "{rejected}");
    }
}

/// An empty `access_token` (`access_token=` or a bare `access_token`) is a token for Envoy: it
/// fails the format check with 401, alone or beside a valid header token. decode exits 1 and
/// names that status, as `idflow check` does.
#[test]
fn empty_query_token() {
    let token = token();
    let bearer = format!("Bearer {token}");
    let requests = [
        sent("/?access_token=", &[]),
        sent("/?access_token=", &[("Authorization", &bearer)]),
        sent("/?access_token", &[("Authorization", &bearer)]),
    ];
    let verdicts = envoy_verdicts(&requests);
    let expected = "401 jwt_authn_access_denied{Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections}";
    for (request, verdict) in requests.iter().zip(&verdicts) {
        assert_eq!(verdict, expected, "Envoy for {}", request.0);
        assert_eq!(check_verdict(request), expected, "check for {}", request.0);
    }

    let (code, json, stderr) = decode("https://orders.test/?access_token=&x=1");
    assert_eq!(code, 1, "{stderr}");
    let rejected = problem_message(&json, "mesh_rejects_format");
    assert!(rejected.contains("Jwt is not in the form"), "{rejected}");

    for url in [
        "https://orders.test/?access_token=",
        "https://orders.test/?access_token",
    ] {
        let input = format!("curl -H 'Authorization: {bearer}' '{url}'");
        let (code, json, stderr) = decode(&input);
        assert_eq!(code, 1, "{url}: {stderr}");
        let rejected = problem_message(&json, "other_token_rejected");
        assert!(
            rejected.contains("Jwt is not in the form"),
            "{url}: {rejected}"
        );
    }
}

/// Envoy percent-decodes the name and the value of a query parameter, so `acc%65ss_token` and a
/// token with `%2E` for its dots pass with 200. decode reads both.
#[test]
fn percent_encoded_query() {
    let token = token();
    let requests = [
        sent(&format!("/?acc%65ss_token={token}"), &[]),
        sent(
            &format!("/?access_token={}", token.replace('.', "%2E")),
            &[],
        ),
    ];
    let verdicts = envoy_verdicts(&requests);

    for (request, verdict) in requests.iter().zip(&verdicts) {
        assert_eq!(verdict, "200 via_upstream", "Envoy for {:.40}", request.0);
        assert_eq!(check_verdict(request), "200 via_upstream", "check");

        let (code, json, stderr) = decode(&format!("https://orders.test{}", request.0));
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            json["found_as"], "URL, access_token query parameter",
            "{json}"
        );
        assert_eq!(json["claims"]["sub"], "alice", "{json}");
    }
}

/// curl's option spellings all send the same `Authorization` header or `access_token` query,
/// which Envoy passes with 200. The header spellings are grouped short flags, `--header=`, a
/// lower-case name, a tab after the colon and line continuations. The query spellings are `-G`
/// after the URL, `-Gd` with the value attached, `=` inside other data, `-u` beside a query token
/// (Envoy finds no `Bearer ` in Basic), user info in a URL, and a URL without a scheme.
#[test]
fn curl_spellings_read() {
    let token = token();
    let bearer = format!("Bearer {token}");
    let basic = "Basic dXNlcjpwYXNz";
    let query = format!("/?access_token={token}");
    let requests = [
        sent("/", &[("Authorization", &bearer)]),
        sent("/", &[("authorization", &bearer)]),
        sent("/", &[("Authorization", &format!("\t{bearer}"))]),
        sent(&query, &[]),
        sent(&format!("/?access_token={token}&x=a=b"), &[]),
        sent(&query, &[("Authorization", basic)]),
    ];
    let verdicts = envoy_verdicts(&requests);
    for (request, verdict) in requests.iter().zip(&verdicts) {
        assert_eq!(verdict, "200 via_upstream", "Envoy for {:.40}", request.0);
    }

    let header_inputs = [
        format!("curl -sSH 'Authorization: {bearer}' https://orders.test/"),
        format!("curl --header='Authorization: {bearer}' https://orders.test/"),
        format!("curl -H 'authorization: {bearer}' https://orders.test/"),
        format!("curl -H 'Authorization:\t{bearer}' https://orders.test/"),
        format!("curl \\\n  -H 'Authorization: {bearer}' \\\n  https://orders.test/"),
        format!("curl -H@extra-headers.txt -H 'Authorization: {bearer}' https://orders.test/"),
    ];
    for input in &header_inputs {
        let (code, json, stderr) = decode(input);
        assert_eq!(code, 0, "{input:.50}: {stderr}");
        assert_eq!(json["claims"]["sub"], "alice", "{input:.50}: {json}");
        assert!(
            !has_code(&json, "text_before_scheme"),
            "{input:.50}: {json}"
        );
    }

    let query_inputs = [
        format!("curl https://orders.test/ -d access_token={token} -G"),
        format!("curl -Gdaccess_token={token} https://orders.test/"),
        format!("curl -G -d 'access_token={token}' -d 'x=a=b' https://orders.test/"),
        format!("curl -G --data-urlencode 'access_token={token}' https://orders.test/"),
        format!("curl -u user:pass 'https://orders.test/?access_token={token}'"),
        format!("https://user:pass@orders.test/?access_token={token}"),
        format!("curl 'orders.test/?access_token={token}'"),
    ];
    for input in &query_inputs {
        let (code, json, stderr) = decode(input);
        assert_eq!(code, 0, "{input:.50}: {stderr}");
        let found_as = json["found_as"].as_str().unwrap_or_default();
        assert!(
            found_as.ends_with("access_token query parameter"),
            "{input:.50}: {json}"
        );
    }
}

/// `-H@FILE` and `--data-urlencode name@FILE` read files that decode does not open, and decode
/// reports each, naming the file.
#[test]
fn curl_files_named() {
    let token = token();
    let (code, json, stderr) = decode(&format!(
        "curl -H@headers.txt 'https://orders.test/?access_token={token}'"
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        problem_message(&json, "file_not_read").contains(r#"-H "headers.txt""#),
        "{json}"
    );

    let (code, _, stderr) =
        decode("curl -G --data-urlencode access_token@token.txt https://orders.test/");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(r#"--data-urlencode "token.txt""#),
        "{stderr}"
    );
}

/// Of repeated `access_token` parameters Envoy reads only the first: a valid one first passes
/// with 200, an expired one first fails with 401. decode reads the same one.
#[test]
fn repeated_query_first_wins() {
    let token = token();
    let expired = expired_token();
    let targets = [
        format!("/?access_token={token}&access_token={expired}"),
        format!("/?access_token={expired}&access_token={token}"),
    ];
    let requests = targets.each_ref().map(|target| sent(target, &[]));
    let verdicts = envoy_verdicts(&requests);
    assert_eq!(verdicts[0], "200 via_upstream", "Envoy, valid token first");
    assert_eq!(
        verdicts[1], "401 jwt_authn_access_denied{Jwt_is_expired}",
        "Envoy, expired token first"
    );

    let (code, json, _) = decode(&format!("https://orders.test{}", targets[0]));
    assert_eq!(code, 0, "{json}");

    let (code, json, _) = decode(&format!("https://orders.test{}", targets[1]));
    assert_eq!(code, 1, "{json}");
    assert!(has_code(&json, "expired"), "{json}");
}

/// `-b` cookies with spaces after `;`, given in one or two options, reach an edge profile that
/// reads cookie `jwt`, which allows the token.
#[test]
fn cookie_option_reaches_edge() {
    let token = token();
    for input in [
        format!("curl -b 'a=1; jwt={token}' https://orders.test/"),
        format!("curl -b a=1 --cookie 'jwt={token}' https://orders.test/"),
    ] {
        let edge = edge_for(&input, "cookie = \"jwt\"");
        assert_eq!(edge["verdict"], "allow", "{input:.40}: {edge}");
    }
}

/// No message, JSON or standard error output of these inputs repeats a token's signature, with or
/// without an edge profile.
#[test]
fn outputs_hide_signatures() {
    let token = token();
    let expired = expired_token();
    let inputs = [
        format!(
            "curl -H 'Authorization: Bearer {token}' 'https://orders.test/#?access_token={expired}'"
        ),
        format!(
            "curl -H $'Authorization: Bearer {expired}' 'https://orders.test/?access_token={token}'"
        ),
        format!("curl --request-target '/?access_token={token}' https://orders.test/"),
        format!(
            "GET /?access_token={expired} HTTP/1.1\r\nHost: orders.test\r\nAuthorization: Bearer {token}\r\n"
        ),
        format!("/api/orders?access_token={token}"),
        format!("https://orders.test/?access_token={token}%20"),
        format!("https://orders.test/?access_token=Bearer%20{token}"),
        format!("curl -H 'Authorization : Bearer {token}' https://orders.test/"),
        format!("curl https://orders.test/a 'https://orders.test/b?access_token={expired}'"),
        format!("curl -b $'jwt={token}' 'orders.test/?access_token={expired}+'"),
    ];
    let profile = envoy_harness::scratch_dir("tester-loc-hide").join("edge.toml");
    std::fs::write(
        &profile,
        "name = \"q\"\n\n[token]\nquery = \"access_token\"\n",
    )
    .expect("profile written");
    for input in &inputs {
        for args in [
            vec![],
            vec!["--edge-profile", profile.to_str().expect("UTF-8 path")],
        ] {
            let output = run_decode(input, &args);
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            for secret in [&token, &expired] {
                let signature = secret.rsplit('.').next().expect("a signature segment");
                assert!(!printed.contains(signature), "{input:.40}: {printed}");
            }
        }
    }
}

/// curl does not send a URL's fragment, even one that contains `?` (curl's test 1110 checks
/// this), so `?access_token=…` after `#` is not in the request. Envoy reads only the header token
/// and returns 200, so decode exits 0 with no `other_token_rejected`.
#[test]
fn fragment_query_beside_header() {
    let token = token();
    let verdict = envoy_verdict("/", &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(verdict, "200 via_upstream", "Envoy: the request curl sends");

    let input = format!(
        "curl -H 'Authorization: Bearer {token}' 'https://orders.test/#section?access_token=x'"
    );
    let (code, json, stderr) = decode(&input);
    assert!(!has_code(&json, "other_token_rejected"), "{json}");
    assert_eq!(code, 0, "decode exit, Envoy returned 200: {stderr}");
}

/// A URL whose only `access_token` is in its fragment sends no token: Envoy finds none and the
/// policy that requires a request principal returns 403. decode reports that no token is sent
/// (exit 2), and an edge profile reading the query finds none and denies (Akamai's
/// `request.query` is the query string, without the fragment).
#[test]
fn fragment_only_token() {
    let token = token();
    let verdict = envoy_verdict("/", &[]);
    assert_eq!(
        verdict, "403 rbac_access_denied_matched_policy[none]",
        "Envoy: the request curl sends"
    );

    for input in [
        format!("https://orders.test/#x?access_token={token}"),
        format!("curl 'https://orders.test/#x?access_token={token}'"),
    ] {
        let (code, json, _) = decode(&input);
        assert_eq!(code, 2, "{input:.40}: {json}");

        let edge = edge_for(&input, "query = \"access_token\"");
        assert_eq!(edge["verdict"], "deny", "{input:.40}: {edge}");
    }
}

/// Bash reads `$'…'` as a quoted string with C escapes, so `-H $'Authorization: Bearer X'` sends
/// `Authorization: Bearer X`. With an expired header token and a valid query token Envoy returns
/// 401 `Jwt is expired`, so decode exits 1.
#[test]
fn ansi_c_quoted_header() {
    let token = token();
    let expired = expired_token();
    let verdict = envoy_verdict(
        &format!("/?access_token={token}"),
        &[("Authorization", &format!("Bearer {expired}"))],
    );
    assert_eq!(
        verdict, "401 jwt_authn_access_denied{Jwt_is_expired}",
        "Envoy"
    );

    let input = format!(
        "curl -H $'Authorization: Bearer {expired}' 'https://orders.test/?access_token={token}'"
    );
    let (code, json, stderr) = decode(&input);
    assert_eq!(code, 1, "decode exit, Envoy returned 401: {stderr}");
    assert!(has_code(&json, "expired"), "{json}");
}

/// `$'Authorization:\tBearer X'` sends a tab after the colon, which HTTP codecs strip: Envoy
/// returns 200. decode reads the header cleanly, with no `text_before_scheme` warning, and
/// `-b $'jwt=X'` gives cookie `jwt`.
#[test]
fn ansi_c_quoted_tab() {
    let token = token();
    let verdict = envoy_verdict("/", &[("Authorization", &format!("\tBearer {token}"))]);
    assert_eq!(verdict, "200 via_upstream", "Envoy");

    let (code, json, stderr) = decode(&format!(
        r"curl -H $'Authorization:\tBearer {token}' https://orders.test/"
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(!has_code(&json, "text_before_scheme"), "{json}");
    assert_eq!(
        json["found_as"], "curl command, Authorization header, Bearer scheme",
        "{json}"
    );

    let (_, json, _) = decode(&format!("curl -b $'jwt={token}' https://orders.test/"));
    assert_eq!(
        json["found_as"], "curl command, Cookie header, cookie jwt",
        "{json}"
    );
}

/// curl's `--request-target` sets the request target sent instead of the URL's path and query,
/// so its `access_token` reaches Envoy, which returns 200 for a valid one. decode reads it
/// (exit 0).
#[test]
fn request_target_query() {
    let token = token();
    let target = format!("/?access_token={token}");
    let verdict = envoy_verdict(&target, &[]);
    assert_eq!(verdict, "200 via_upstream", "Envoy");

    let (code, json, stderr) = decode(&format!(
        "curl --request-target '{target}' https://orders.test/"
    ));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json["found_as"], "curl command, access_token query parameter",
        "{json}"
    );
}

/// curl fetches every URL on its command line in order, whether given as words or with `--url`
/// (curl's manual: "You can specify any amount of URLs on the command line"). The second request
/// carries an expired token, which Envoy rejects with 401. decode reads the first request that
/// carries a token, so it exits 1, and names the other request in a `several_requests` warning.
#[test]
fn second_url_token() {
    let expired = expired_token();
    let second = format!("/b?access_token={expired}");
    let verdicts = envoy_verdicts(&[sent("/a", &[]), sent(&second, &[])]);
    assert_eq!(
        verdicts[0], "403 rbac_access_denied_matched_policy[none]",
        "Envoy, first URL"
    );
    assert_eq!(
        verdicts[1], "401 jwt_authn_access_denied{Jwt_is_expired}",
        "Envoy, second URL"
    );

    for input in [
        format!("curl https://orders.test/a 'https://orders.test{second}'"),
        format!("curl --url https://orders.test/a --url 'https://orders.test{second}'"),
    ] {
        let (code, json, stderr) = decode(&input);
        assert!(!stderr.contains("sends no token"), "{input:.40}: {stderr}");
        assert_eq!(code, 1, "{input:.40}: {stderr}");
        let several = problem_message(&json, "several_requests");
        assert!(several.contains("request 2"), "{input:.40}: {several}");
        assert!(several.contains("Request 1"), "{input:.40}: {several}");
    }
}

/// A pasted HTTP/1.1 request (as `curl -v` or a proxy dump shows it) carries the query of its
/// request line and its headers. With a valid header token and an expired query token Envoy
/// returns 401 `Jwt is expired`, so decode exits 1 and reports the query token, without a
/// `text_before_scheme` warning for the request line before the header.
#[test]
fn raw_http_request() {
    let token = token();
    let expired = expired_token();
    let verdict = envoy_verdict(
        &format!("/?access_token={expired}"),
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(
        verdict, "401 jwt_authn_access_denied{Jwt_is_expired}",
        "Envoy"
    );

    let input = format!(
        "GET /?access_token={expired} HTTP/1.1\r\nHost: orders.test\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let (code, json, stderr) = decode(&input);
    assert!(!has_code(&json, "text_before_scheme"), "{json}");
    assert_eq!(code, 1, "decode exit, Envoy returned 401: {stderr}");
}

/// A request target as access logs show it (`%REQ(:PATH)%`), `/api/orders?access_token=…`,
/// passes Envoy with 200. decode reads its `access_token` as the query parameter, not the whole
/// text as a token whose format Envoy rejects.
#[test]
fn path_with_query() {
    let token = token();
    let target = format!("/api/orders?access_token={token}");
    let verdict = envoy_verdict(&target, &[]);
    assert_eq!(verdict, "200 via_upstream", "Envoy");

    let (code, json, stderr) = decode(&target);
    assert!(!has_code(&json, "mesh_rejects_format"), "{json}");
    assert_eq!(code, 0, "decode exit, Envoy returned 200: {stderr}");
}

/// curl guesses the scheme of a URL without one from its host name (curl's `--proto-default`
/// documentation), and decode reads such a URL in a curl command. It reads the same URL pasted
/// alone too: Envoy returns 200 for it.
#[test]
fn url_without_scheme() {
    let token = token();
    let verdict = envoy_verdict(&format!("/?access_token={token}"), &[]);
    assert_eq!(verdict, "200 via_upstream", "Envoy");

    let (code, json, stderr) = decode(&format!("orders.test/?access_token={token}"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json["found_as"], "URL, access_token query parameter",
        "{json}"
    );
}

/// `%20` after a query token decodes to an ASCII space, which Envoy's jwt_authn passes with 200.
/// decode exits 0, and its message neither calls U+0020 "a space that is not ASCII" nor asks the
/// user to edit a header for a query parameter.
#[test]
fn encoded_space_after_query_token() {
    let token = token();
    let target = format!("/?access_token={token}%20");
    let verdict = envoy_verdict(&target, &[]);
    assert_eq!(verdict, "200 via_upstream", "Envoy");
    assert_eq!(
        check_verdict(&sent(&target, &[])),
        "200 via_upstream",
        "check"
    );

    let (code, json, stderr) = decode(&format!("https://orders.test{target}"));
    let trailing = problem_message(&json, "trailing_text");
    assert!(!trailing.contains("not ASCII"), "{trailing}");
    assert!(!trailing.contains("header"), "{trailing}");
    assert_eq!(code, 0, "decode exit, Envoy returned 200: {stderr}");
}

/// `Authorization : Bearer X` (a space before the colon) makes Envoy's HTTP/1 codec reject the
/// request with 400 before jwt_authn runs. decode reports that 400 and the fix as an error (exit
/// 1), with no warning that claims Envoy reads the token after `Bearer `.
#[test]
fn space_before_header_colon() {
    let token = token();
    let verdict = envoy_verdict("/", &[("Authorization ", &format!("Bearer {token}"))]);
    assert!(verdict.starts_with("400 "), "Envoy: {verdict}");

    let (code, json, stderr) = decode(&format!(
        "curl -H 'Authorization : Bearer {token}' https://orders.test/"
    ));
    let warning = problem_message(&json, "text_before_scheme");
    assert!(!warning.contains("reads the token after it"), "{warning}");
    assert_ne!(code, 0, "decode exit, Envoy returned 400: {stderr}");
    let rejected = problem_message(&json, "codec_rejects_request");
    assert!(rejected.contains("400"), "{json}");
    assert!(rejected.contains("Remove the whitespace"), "{json}");
}

/// Starts `idflow demo` in tmux, opens the Token view, pastes `input` and returns the screen once
/// the what-if table shows.
fn token_view_screen(label: &str, input: &str) -> String {
    let binary = env!("CARGO_BIN_EXE_idflow");
    let session = TmuxSession::start(label, &format!("{binary} demo"), 160, 50);
    let (ready, screen) = session.wait_for(&["flows"], Duration::from_secs(10));
    assert!(ready, "the demo did not start:\n{screen}");

    session.send(&["t"]);
    session.paste(input);
    let (shown, screen) = session.wait_for(&["found as", "What-if"], Duration::from_secs(10));
    assert!(shown, "the Token view shows no decoded token:\n{screen}");
    screen
}

/// The Token view reads a pasted multi-line curl command as decode does: with a valid header
/// token and an expired query token it reports the query token that Envoy rejects with 401
/// `Jwt is expired`, and shows no signature.
#[test]
fn token_view_query_token() {
    let token = token();
    let expired = expired_token();
    let verdict = envoy_verdict(
        &format!("/?access_token={expired}"),
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(
        verdict, "401 jwt_authn_access_denied{Jwt_is_expired}",
        "Envoy"
    );

    let input = format!(
        "curl -sS \\\n  -H 'Authorization: Bearer {token}' \\\n  'https://orders.test/?access_token={expired}'"
    );
    let screen = token_view_screen("loc-query", &input);
    assert!(screen.contains("other_token_rejected"), "{screen}");
    assert!(screen.contains("Jwt is expired"), "{screen}");
    for secret in [&token, &expired] {
        let signature = secret.rsplit('.').next().expect("a signature segment");
        assert!(!screen.contains(&signature[..16]), "{screen}");
    }
}

/// The Token view does not read `access_token` from a URL fragment, which curl never sends:
/// Envoy returns 200 for the request with the header token alone.
#[test]
fn token_view_fragment_query() {
    let token = token();
    let verdict = envoy_verdict("/", &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(verdict, "200 via_upstream", "Envoy: the request curl sends");

    let input = format!(
        "curl -H 'Authorization: Bearer {token}' 'https://orders.test/#section?access_token=x'"
    );
    let screen = token_view_screen("loc-fragment", &input);
    assert!(!screen.contains("other_token_rejected"), "{screen}");
}

/// `--next` starts a new request with its own options (curl's `--next` documentation: it "resets
/// all local options"), so the query token of the first URL and the header of the second travel
/// in different requests. Envoy returns 401 `Jwt is expired` for the first and 200 for the
/// second. decode reads the first request and does not report the two tokens as carried by one
/// request.
#[test]
fn next_starts_new_request() {
    let token = token();
    let expired = expired_token();
    let bearer = format!("Bearer {token}");
    let requests = [
        sent(&format!("/?access_token={expired}"), &[]),
        sent("/", &[("Authorization", &bearer)]),
    ];
    let verdicts = envoy_verdicts(&requests);
    assert_eq!(
        verdicts[0], "401 jwt_authn_access_denied{Jwt_is_expired}",
        "Envoy, first request"
    );
    assert_eq!(verdicts[1], "200 via_upstream", "Envoy, second request");

    let input = format!(
        "curl 'https://orders.test/?access_token={expired}' --next -H 'Authorization: {bearer}' https://orders.test/"
    );
    let (code, json, stderr) = decode(&input);
    assert!(!has_code(&json, "other_token_rejected"), "{json}");
    assert_eq!(code, 1, "the first request gets 401: {stderr}");
}

/// `--url-query name@FILE` reads a file as `--data-urlencode` does, so the note on the unread
/// file names `--url-query`, the option the user wrote.
#[test]
fn url_query_file_named() {
    let (code, _, stderr) = decode("curl --url-query access_token@token.txt https://orders.test/");

    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(r#"--url-query "token.txt""#), "{stderr}");
}

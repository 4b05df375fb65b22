//! `idflow decode` and the Token view on shapes users paste besides a token, a header or a curl
//! command: OAuth token responses nested in an envelope object or a list, the output of `curl -i`
//! and `curl -v`, and HTTPie commands. Envoy runs with the filters `idflow envoy-config` prints for
//! a RequestAuthentication of [`mint::ISSUER`] with no locations (so `Authorization: Bearer` and
//! the `access_token` query parameter) and an AuthorizationPolicy that requires a request
//! principal. Its verdict for the request a shape stands for is the oracle for decode's exit
//! status and for the Token view's what-if rows.
//!
//! The HTTPie requests follow HTTPie 3.2's documentation: `-A bearer -a TOKEN` sends
//! `Authorization: Bearer TOKEN`, `name==value` is a query item, `Name:value` a header item,
//! `=` and `:=` data items, the method is GET without data items and POST with them, and
//! `:3000/x` is `http://localhost:3000/x`.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use envoy_harness::require_jwt::{self, Request};
use idflow::model::{CorrelationKey, Flow, Hop, HopKind};
use idflow::source::kube::{MeshWorkload, OwnerKind, PodSummary, Proxy};
use idflow::tui::{Action, App, LiveUpdate, Session, Theme, View, render, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use support::{decode_output, problem_codes, problem_message};

/// Returns an RS256 token of [`mint::ISSUER`] for `subject`, valid from `from` seconds after now
/// for an hour.
fn token_from(subject: &str, from: i64) -> String {
    let now = chrono::Utc::now().timestamp() + from;
    let mut claims = mint::claims(mint::ISSUER, "orders", now, 3600);
    claims["sub"] = json!(subject);
    mint::mint(mint::key(), &claims)
}

/// Returns a valid token.
fn token() -> String {
    token_from("alice", 0)
}

/// Returns a token that expired an hour ago, past Envoy's 60 s clock skew.
fn expired_token() -> String {
    token_from("alice", -7200)
}

/// Returns the policy file for [`mint::ISSUER`] that Envoy and the Token view both read.
fn policy_file() -> std::path::PathBuf {
    require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "pasted-shapes")
}

/// Returns the GET request with target `target` and an `Authorization: Bearer` header of `token`,
/// or no header when `token` is `None`.
fn sent(target: &str, token: Option<&str>) -> Request {
    let headers = token
        .map(|token| ("Authorization".to_owned(), format!("Bearer {token}")))
        .into_iter()
        .collect();
    (target.to_owned(), headers)
}

/// Sends each request through one Envoy and returns `STATUS DETAILS` for each.
fn envoy_verdicts(requests: &[Request]) -> Vec<String> {
    require_jwt::verdicts(&policy_file(), requests, "pasted-shapes")
}

/// Mints a valid and an expired token, sends the request `request_for` builds with each through
/// Envoy, and returns each token with the exit status decode owes it: 0 for Envoy's 200, 1 for
/// its 401 `Jwt is expired`.
fn tokens_judged_by_envoy(request_for: impl Fn(&str) -> Request) -> [(String, i32); 2] {
    let (valid, expired) = (token(), expired_token());
    let verdicts = envoy_verdicts(&[request_for(&valid), request_for(&expired)]);
    assert_eq!(verdicts[0], "200 via_upstream", "Envoy, valid token");
    assert_eq!(
        verdicts[1], "401 jwt_authn_access_denied{Jwt_is_expired}",
        "Envoy, expired token"
    );
    [(valid, 0), (expired, 1)]
}

/// Returns decode's exit status, JSON output and standard error for `input`, after checking that
/// no segment of a token in `secrets` shows in either output.
fn decode(input: &str, secrets: &[&str]) -> (i32, Value, String) {
    let (code, json, stderr) = decode_output(input, &[]);
    let printed = format!("{json}\n{stderr}");
    for secret in secrets {
        for segment in secret.split('.').skip(1) {
            assert!(
                !printed.contains(segment),
                "a token segment was printed for {input:.40}"
            );
        }
    }
    (code, json, stderr)
}

/// Returns the fingerprint decode reports for `token` pasted alone.
fn fingerprint_of(token: &str) -> Value {
    let (_, json, _) = decode_output(token, &[]);
    json["fingerprint"].clone()
}

/// Returns whether `json["found_as"]` starts with `prefix`.
fn found_as_starts(json: &Value, prefix: &str) -> bool {
    json["found_as"]
        .as_str()
        .is_some_and(|found| found.starts_with(prefix))
}

/// A token response nested in an envelope object or returned in a list is read as a flat one:
/// decode decodes its `access_token` alone and exits 0 for a valid token.
#[test]
fn token_response_nested_and_listed() {
    let token = token();
    let response = json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600});
    let inputs = [
        json!({"data": response}),
        json!([response]),
        json!({"status": "ok", "result": {"tokens": [response]}}),
    ];
    let expected = fingerprint_of(&token);

    for input in inputs {
        let (code, json, stderr) = decode(&input.to_string(), &[&token]);
        assert_eq!(code, 0, "{input:.60}: {stderr}");
        assert_eq!(json["fingerprint"], expected, "{json}");
        assert!(found_as_starts(&json, "token response in `"), "{json}");
    }
}

/// A token response of an OIDC provider carries an `id_token` beside the `access_token`.
/// decode decodes the access token, the one the client sends to APIs, and names the ID token in
/// a note, flat or nested, without printing either.
#[test]
fn id_token_beside_access_token() {
    let access = token();
    let id = token_from("alice-id", 0);
    let response = json!({"access_token": access, "id_token": id, "token_type": "Bearer"});
    let expected = fingerprint_of(&access);

    for input in [response.clone(), json!({"data": response})] {
        let (code, json, stderr) = decode(&input.to_string(), &[&access, &id]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(json["fingerprint"], expected, "{json}");
        let note = problem_message(&json, "id_token_not_decoded");
        assert!(note.contains("`id_token`"), "{json}");
    }
}

/// An OAuth error response nested in an envelope or a list carries no token, as a flat one does:
/// decode exits 2 and names the error code.
#[test]
fn nested_oauth_error() {
    let inputs = [
        json!({"data": {"error": "invalid_grant", "error_description": "Bad credentials"}}),
        json!([{"error": "access_denied"}]),
    ];
    for (input, error) in inputs.iter().zip(["invalid_grant", "access_denied"]) {
        let (code, _, stderr) = decode(&input.to_string(), &[]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(error), "{stderr}");
    }
}

/// `curl -i` prints the status line and headers of the response before its body. decode reads the
/// token response in the body, after interim responses too, and reports a response without one.
#[test]
fn curl_include_output() {
    let token = token();
    let body = json!({"access_token": token, "token_type": "Bearer"});
    let inputs = [
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n\r\n{body}"
        ),
        format!("HTTP/2 200 \ncontent-type: application/json\n\n{body}\n"),
        format!(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{body}"
        ),
    ];
    let expected = fingerprint_of(&token);

    for input in &inputs {
        let (code, json, stderr) = decode(input, &[&token]);
        assert_eq!(code, 0, "{input:.30}: {stderr}");
        assert_eq!(json["fingerprint"], expected, "{json}");
        assert!(
            found_as_starts(&json, "HTTP response body, token response"),
            "{json}"
        );
    }

    let (code, _, stderr) = decode("HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no body"), "{stderr}");
}

/// Returns the output of `curl -v` for a GET of `/api/orders` with `Authorization: Bearer TOKEN`,
/// over `version` (`HTTP/1.1` or `HTTP/2`, which curl 8 notes with `* [HTTP/2]` lines).
fn curl_verbose(version: &str, token: &str) -> String {
    format!(
        "Note: Unnecessary use of -X or --request, GET is already inferred.\n\
         *   Trying 127.0.0.1:8443...\n\
         * Connected to orders.test (127.0.0.1) port 8443\n\
         * [HTTP/2] [1] [:method: GET]\n\
         > GET /api/orders HTTP{version}\n\
         > Host: orders.test:8443\n\
         > User-Agent: curl/8.5.0\n\
         > Accept: */*\n\
         > Authorization: Bearer {token}\n\
         > \n\
         < HTTP{version} 200 \n\
         < content-type: application/json\n\
         < \n\
         {{\"orders\":[]}}\n\
         * Connection #0 to host orders.test left intact\n"
    )
}

/// `curl -v` prints the request it sends with `> ` before each line, among its notes and the
/// response. decode reads that request: the header token, with no warning about text before the
/// scheme, and the exit status Envoy's verdict calls for.
#[test]
fn curl_verbose_output() {
    let tokens = tokens_judged_by_envoy(|token| sent("/api/orders", Some(token)));

    for version in ["/1.1", "/2"] {
        for (token, expected) in &tokens {
            let (code, json, stderr) = decode(&curl_verbose(version, token), &[token]);
            assert_eq!(code, *expected, "HTTP{version}: {stderr}");
            assert_eq!(json["header_name"], "authorization", "{json}");
            assert!(
                found_as_starts(&json, "HTTP request, Authorization header"),
                "{json}"
            );
            let codes = problem_codes(&json);
            assert!(!codes.contains(&"text_before_scheme".to_owned()), "{json}");
            assert!(!codes.contains(&"mesh_rejects_format".to_owned()), "{json}");
        }
    }
}

/// HTTPie's `-A bearer -a TOKEN`, in each spelling, sends `Authorization: Bearer TOKEN`. decode
/// reads that header and exits as Envoy's verdict calls for.
#[test]
fn httpie_bearer_auth() {
    let tokens = tokens_judged_by_envoy(|token| sent("/api/orders", Some(token)));

    for (token, expected) in &tokens {
        for command in [
            format!("http -A bearer -a {token} GET https://orders.test/api/orders"),
            format!("http --auth-type=bearer --auth={token} GET https://orders.test/api/orders"),
            format!("http --auth-type bearer --auth {token} https://orders.test/api/orders"),
            format!("https -Abearer -a{token} orders.test/api/orders"),
        ] {
            let (code, json, stderr) = decode(&command, &[token]);
            assert_eq!(code, *expected, "{command:.40}: {stderr}");
            assert_eq!(json["header_name"], "authorization", "{json}");
            assert_eq!(json["scheme"], "Bearer", "{json}");
            assert!(found_as_starts(&json, "HTTPie -A bearer"), "{json}");
        }
    }
}

/// An `Authorization:` header item of an HTTPie command is the header HTTPie sends, with the
/// whitespace around its value removed. decode reads it as the header of an HTTPie command.
#[test]
fn httpie_header_items() {
    let tokens = tokens_judged_by_envoy(|token| sent("/api/orders", Some(token)));

    for (token, expected) in &tokens {
        for command in [
            format!("http GET orders.test/api/orders Authorization:'Bearer {token}'"),
            format!("https orders.test/api/orders 'Authorization: Bearer {token}'"),
            format!("http POST :3000/api/orders Authorization:\"Bearer {token}\" name=x"),
        ] {
            let (code, json, stderr) = decode(&command, &[token]);
            assert_eq!(code, *expected, "{command:.40}: {stderr}");
            assert_eq!(json["header_name"], "authorization", "{json}");
            assert!(
                found_as_starts(&json, "HTTPie command, Authorization header, Bearer scheme"),
                "{json}"
            );
        }
    }
}

/// `access_token==TOKEN` is a query item, so HTTPie sends the token in the query, where Envoy
/// reads it. `access_token=TOKEN` is a data item in the body, where Envoy does not look, and
/// `-a` without `-A bearer` sends HTTP Basic credentials: decode finds no token in either.
#[test]
fn httpie_query_and_body_items() {
    let tokens =
        tokens_judged_by_envoy(|token| sent(&format!("/api/orders?access_token={token}"), None));

    for (token, expected) in &tokens {
        let command = format!("http orders.test/api/orders access_token=={token}");
        let (code, json, stderr) = decode(&command, &[token]);
        assert_eq!(code, *expected, "{stderr}");
        assert_eq!(
            json["found_as"], "HTTPie command, access_token query parameter",
            "{json}"
        );
    }

    let (code, _, stderr) = decode(
        &format!("http orders.test/api/orders access_token={}", tokens[0].0),
        &[&tokens[0].0],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("access_token=="), "{stderr}");

    let (code, _, stderr) = decode("http -a alice:secret orders.test/api/orders", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("HTTP Basic"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}

/// Returns an app whose what-if rows judge the policies of [`policy_file`] at `shop/orders`, the
/// workload of one flow, in plaintext as the Envoy of [`envoy_verdicts`] receives requests.
fn token_view_app() -> App {
    let policies = idflow::mesh::load::load_policy_file(&policy_file(), "default")
        .expect("policies load")
        .policies;
    let flow = Flow {
        id: "flow-1".to_owned(),
        correlated_by: CorrelationKey::XRequestId,
        time: None,
        method: Some("GET".to_owned()),
        path: Some("/api/orders".to_owned()),
        hops: vec![Hop::new(HopKind::Mesh, "shop/orders")],
        findings: Vec::new(),
    };
    let session = Session {
        policies,
        flows: vec![flow],
        ..Session::default()
    };
    App::new(
        session,
        Theme::load_colored("default").expect("the default theme loads"),
    )
}

/// Returns every what-if row's verdict as `STATUS DETAILS`.
fn row_verdicts(app: &App) -> Vec<String> {
    app.token
        .what_if
        .iter()
        .map(|row| match &row.verdict {
            Ok(verdict) => format!("{} {}", verdict.status, verdict.response_code_details),
            Err(reason) => reason.clone(),
        })
        .collect()
}

/// A pasted HTTPie command names the request it sends, as a curl command does, so the Token view
/// sets the what-if method and path from it. Without a method the items decide it, and the query
/// items are added to the path.
#[test]
fn token_view_httpie_request() {
    let token = token();
    let cases = [
        (
            format!("http -A bearer -a {token} GET https://orders.test/api/orders"),
            "GET",
            "/api/orders",
        ),
        (
            format!("http POST :3000/api/orders Authorization:'Bearer {token}' name=x"),
            "POST",
            "/api/orders",
        ),
        (
            format!("http :3000/api/orders 'items:=[1]' Authorization:'Bearer {token}'"),
            "POST",
            "/api/orders",
        ),
        (
            format!("http delete orders.test/api/orders/7 Authorization:'Bearer {token}' q==1"),
            "DELETE",
            "/api/orders/7?q=1",
        ),
        (
            format!("https orders.test/api/orders 'Authorization:Bearer {token}' page==2"),
            "GET",
            "/api/orders?page=2",
        ),
    ];

    for (command, method, path) in cases {
        let mut app = token_view_app();
        update(&mut app, Action::Paste(command.clone()));
        assert!(
            matches!(app.token.result, Some(Ok(_))),
            "no token read from {command:.40}"
        );
        assert_eq!(app.live.what_if.method, method, "{command:.40}");
        assert_eq!(app.live.what_if.path, path, "{command:.40}");
    }
}

/// The Token view's what-if rows for a pasted HTTPie command or `curl -v` output carry Envoy's
/// verdict for the request it sends: 401 `Jwt is expired` for an expired token on
/// `/api/orders`, the path the what-if takes from the paste.
#[test]
fn token_view_verdict_matches_envoy() {
    let expired = expired_token();
    let verdict = envoy_verdicts(&[sent("/api/orders", Some(&expired))]).remove(0);
    assert_eq!(
        verdict, "401 jwt_authn_access_denied{Jwt_is_expired}",
        "Envoy"
    );

    for pasted in [
        format!("http -A bearer -a {expired} orders.test/api/orders"),
        curl_verbose("/1.1", &expired),
    ] {
        let mut app = token_view_app();
        update(&mut app, Action::Paste(pasted.clone()));
        assert_eq!(app.live.what_if.path, "/api/orders", "{pasted:.40}");
        let rows = row_verdicts(&app);
        assert!(!rows.is_empty(), "no what-if rows for {pasted:.40}");
        for row in rows {
            assert_eq!(row, verdict, "{pasted:.40}");
        }
    }
}

/// Returns the live workload `shop/orders`, with a sidecar, as the cluster source reports it.
fn orders_workload() -> MeshWorkload {
    MeshWorkload {
        namespace: "shop".into(),
        name: "orders".into(),
        owner: OwnerKind::Deployment,
        proxy: Proxy::Sidecar,
        labels: [("app".to_owned(), "orders".to_owned())].into(),
        service_account: "orders".into(),
        principal: "spiffe://cluster.local/ns/shop/sa/orders".into(),
        pods: vec![PodSummary {
            name: "orders-7c9d8b6f5d-x2k4p".into(),
            phase: "Running".into(),
            proxy_ready: true,
            log_container: Some("istio-proxy".into()),
            terminating: false,
        }],
    }
}

/// A pasted request that carries its token in the query sets the what-if path with that query.
/// The Workload view shows the what-if request with the token hidden, as the Token view does.
#[test]
fn what_if_path_token_hidden() {
    let token = token();
    let mut app = token_view_app();
    update(
        &mut app,
        Action::Resize {
            width: 200,
            height: 40,
        },
    );
    update(
        &mut app,
        Action::Live(LiveUpdate::Workloads(vec![orders_workload()])),
    );
    update(
        &mut app,
        Action::Paste(format!(
            "https orders.test/api/orders access_token=={token}"
        )),
    );
    assert_eq!(
        app.live.what_if.path,
        format!("/api/orders?access_token={token}")
    );

    for view in [View::Token, View::Workload] {
        app.view = view;
        let mut terminal = Terminal::new(TestBackend::new(200, 40)).expect("a test terminal");
        terminal
            .draw(|frame| render(frame, &app))
            .expect("drawn into the test backend");
        let screen = terminal.backend().to_string();
        assert!(screen.contains("access_token="), "{view:?}:\n{screen}");
        for segment in token.split('.').skip(1) {
            assert!(!screen.contains(&segment[..16]), "{view:?}:\n{screen}");
        }
    }
}

/// `curl -v` of a request to a token endpoint sends client credentials, not a token, and prints
/// the token response after the response head. decode reads the token in that body.
#[test]
fn curl_verbose_token_endpoint() {
    let token = token();
    let body =
        serde_json::to_string_pretty(&json!({"access_token": token, "token_type": "Bearer"}))
            .expect("JSON text");
    let output = format!(
        "*   Trying 127.0.0.1:8443...\n\
         > POST /oauth2/token HTTP/1.1\n\
         > Host: idp.test:8443\n\
         > Authorization: Basic Y2xpZW50OnNlY3JldA==\n\
         > Content-Type: application/x-www-form-urlencoded\n\
         > \n\
         }} [29 bytes data]\n\
         < HTTP/1.1 200 OK\n\
         < Content-Type: application/json\n\
         < \n\
         {body}\n\
         * Connection #0 to host idp.test left intact\n"
    );

    let (code, json, stderr) = decode(&output, &[&token]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["fingerprint"], fingerprint_of(&token), "{json}");
    assert!(
        found_as_starts(&json, "curl -v response body, token response"),
        "{json}"
    );

    // The request went to the token endpoint, so the what-if keeps the request it had.
    let mut app = token_view_app();
    let before = (
        app.live.what_if.method.clone(),
        app.live.what_if.path.clone(),
    );
    update(&mut app, Action::Paste(output));
    assert!(matches!(app.token.result, Some(Ok(_))), "no token read");
    assert_eq!(
        (
            app.live.what_if.method.clone(),
            app.live.what_if.path.clone()
        ),
        before
    );
}

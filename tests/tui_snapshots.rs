//! Screens, styles and state changes of the TUI, on fixture flows shaped like the demo's.

#[path = "what_if/mint.rs"]
mod mint;
mod support;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use idflow::model::{
    CorrelationKey, DecidedBy, Decision, Finding, FindingKind, Flow, Hop, HopKind, HopRole,
    Identity,
};
use idflow::token::{
    Inspection, JwtAuthnReading, Problem, SecretToken, Severity, TimeClaim, TokenError, TokenKind,
};
use idflow::tui::{
    Action, App, PromptKind, Session, Slot, Theme, View, action_for, render, update,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier};
use support::tui::set_what_if;

const ISSUER: &str = "https://idp.example.com";
const GATEWAY: &str = "istio-system/istio-ingressgateway";
const ORDERS: &str = "shop/orders";

fn identity(subject: &str) -> Identity {
    Identity {
        token_present: Some(true),
        token_location: Some("authorization: Bearer".into()),
        issuer: Some(ISSUER.into()),
        subject: Some(subject.into()),
        audiences: vec!["orders-api".into()],
        request_principal: Some(format!("{ISSUER}/{subject}")),
        peer_principal: None,
        token_fingerprint: Some("sha256:3f9a61c0d2b4e857".into()),
    }
}

fn edge(decision: Decision, status: u16, who: &str) -> Hop {
    let mut hop = Hop::new(HopKind::Edge, "edge/ew-4242");
    hop.time = Some("2026-03-01T09:15:02Z".into());
    hop.status = status;
    hop.decision = decision;
    hop.decided_by = DecidedBy::Edgeworker;
    hop.identity = identity(who);
    hop
}

fn mesh(location: &str, decision: Decision, status: u16, who: &str) -> Hop {
    let mut hop = Hop::new(HopKind::Mesh, location);
    hop.role = Some(if location == GATEWAY {
        HopRole::Gateway
    } else {
        HopRole::Sidecar
    });
    hop.status = status;
    hop.decision = decision;
    hop.decided_by = if decision == Decision::Allow {
        DecidedBy::Upstream
    } else {
        DecidedBy::Rbac
    };
    hop.details = Some(if decision == Decision::Allow {
        "via_upstream".into()
    } else {
        "rbac_access_denied_matched_policy[none]".into()
    });
    hop.identity = identity(who);
    if location == ORDERS {
        hop.identity.peer_principal = Some(
            "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account".into(),
        );
    }
    hop
}

fn flow(id: &str, time: &str, method: &str, path: &str, hops: Vec<Hop>) -> Flow {
    Flow {
        id: id.into(),
        correlated_by: CorrelationKey::EdgeRequestId,
        time: Some(format!("2026-03-01T{time}Z")),
        method: Some(method.into()),
        path: Some(path.into()),
        hops,
        findings: Vec::new(),
    }
}

fn finding(kind: FindingKind, message: &str, hops: Vec<usize>) -> Finding {
    Finding {
        kind,
        message: message.into(),
        hops,
    }
}

/// Builds the demo's seven situations, one flow each.
#[allow(
    clippy::too_many_lines,
    reason = "one literal flow per demo case reads best in one place"
)]
fn fixture_flows() -> Vec<Flow> {
    let valid = flow(
        "e1a0",
        "09:15:02",
        "GET",
        "/api/orders",
        vec![
            edge(Decision::Allow, 200, "alice"),
            mesh(GATEWAY, Decision::Allow, 200, "alice"),
            mesh(ORDERS, Decision::Allow, 200, "alice"),
        ],
    );

    let mut dropped = flow(
        "e1a1",
        "09:15:07",
        "GET",
        "/api/orders/1042/items?expand=lines",
        vec![
            edge(Decision::Allow, 200, "bob"),
            // The gateway passed the request on and relayed the sidecar's 403, as Envoy logs it.
            mesh(GATEWAY, Decision::Allow, 403, "bob"),
            mesh(ORDERS, Decision::Deny, 403, "bob"),
        ],
    );
    dropped.hops[2].identity = Identity {
        token_present: Some(false),
        peer_principal: dropped.hops[2].identity.peer_principal.clone(),
        ..Identity::default()
    };
    dropped.hops[2].reason = Some("none".into());
    dropped.findings = vec![
        finding(
            FindingKind::IdentityDropped,
            "The token seen at istio-system/istio-ingressgateway (issuer https://idp.example.com, \
             subject bob) is absent at shop/orders: the gateway did not forward the \
             Authorization header, so RBAC at shop/orders found no request principal.",
            vec![1, 2],
        ),
        finding(
            FindingKind::VerdictDisagreement,
            "The edge allowed the request (200) but shop/orders denied it (403).",
            vec![0, 2],
        ),
    ];

    let mut expired = flow(
        "e1a2",
        "09:15:11",
        "GET",
        "/api/orders",
        vec![
            edge(Decision::Allow, 200, "carol"),
            mesh(GATEWAY, Decision::Deny, 401, "carol"),
        ],
    );
    expired.hops[1].decided_by = DecidedBy::JwtAuthn;
    expired.hops[1].reason = Some("Jwt is expired".into());
    expired.hops[1].details = Some("jwt_authn_access_denied{Jwt_is_expired}".into());
    expired.hops[1].identity.request_principal = None;
    expired.findings = vec![finding(
        FindingKind::TokenRejected,
        "jwt_authn at istio-system/istio-ingressgateway rejected the token: Jwt is expired.",
        vec![1],
    )];

    let mut deny_policy = flow(
        "e1a3",
        "09:15:20",
        "DELETE",
        "/api/orders/1042",
        vec![
            edge(Decision::Allow, 200, "alice"),
            mesh(GATEWAY, Decision::Allow, 200, "alice"),
            mesh(ORDERS, Decision::Deny, 403, "alice"),
        ],
    );
    deny_policy.hops[2].policy = Some("shop/deny-delete".into());
    deny_policy.hops[2].rule = Some(0);
    deny_policy.hops[2].reason = Some("ns[shop]-policy[deny-delete]-rule[0]".into());
    deny_policy.hops[2].details =
        Some("rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[0]]".into());
    deny_policy.findings = vec![finding(
        FindingKind::VerdictDisagreement,
        "The edge allowed the request (200) but DENY policy shop/deny-delete rule 0 at shop/orders \
         denied it (403).",
        vec![0, 2],
    )];

    let mut no_allow = flow(
        "e1a4",
        "09:15:31",
        "POST",
        "/api/refunds",
        vec![
            edge(Decision::Allow, 200, "dave"),
            mesh(GATEWAY, Decision::Allow, 200, "dave"),
            mesh(ORDERS, Decision::Deny, 403, "dave"),
        ],
    );
    no_allow.hops[2].reason = Some("none".into());
    no_allow.findings = vec![finding(
        FindingKind::VerdictDisagreement,
        "The edge allowed the request (200) but no ALLOW policy at shop/orders matched it (403).",
        vec![0, 2],
    )];

    let mut edge_rejected = flow(
        "e1a5",
        "09:15:40",
        "GET",
        "/api/orders",
        vec![edge(Decision::Deny, 401, "mallory")],
    );
    edge_rejected.hops[0].reason = Some("signature does not verify against the JWKS".into());
    edge_rejected.findings = vec![finding(
        FindingKind::TokenRejected,
        "The EdgeWorker rejected the token: signature does not verify against the JWKS.",
        vec![0],
    )];

    let mut lower_bearer = flow(
        "e1a6",
        "09:15:52",
        "GET",
        "/api/orders",
        vec![
            edge(Decision::Allow, 200, "erin"),
            mesh(GATEWAY, Decision::Deny, 403, "erin"),
        ],
    );
    lower_bearer.hops[0].identity.token_location = Some("authorization: bearer".into());
    lower_bearer.hops[1].identity = Identity {
        token_present: Some(true),
        token_location: Some("authorization: bearer".into()),
        ..Identity::default()
    };
    lower_bearer.hops[1].reason = Some("none".into());
    lower_bearer.findings = vec![finding(
        FindingKind::IdentityDropped,
        "The edge accepted `authorization: bearer …`, but jwt_authn at istio-system/istio-ingressgateway \
         matches the `Bearer ` prefix case-sensitively and treated the request as carrying no token.",
        vec![0, 1],
    )];

    vec![
        valid,
        dropped,
        expired,
        deny_policy,
        no_allow,
        edge_rejected,
        lower_bearer,
    ]
}

fn session() -> Session {
    Session {
        title: "demo".into(),
        flows: fixture_flows(),
        notices: vec!["3 lines of shop.orders.log could not be parsed".into()],
        ..Session::default()
    }
}

fn default_theme() -> Theme {
    Theme::load_colored("default").expect("default theme")
}

fn app_at(width: u16, height: u16) -> App {
    let mut app = App::new(session(), default_theme());
    update(&mut app, Action::Resize { width, height });
    app
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| render(frame, app))
        .expect("draw into the test backend");
    terminal
}

/// Returns the position of the first cell where `text` starts on screen.
fn find(buffer: &Buffer, text: &str) -> Option<(u16, u16)> {
    let width = usize::from(buffer.area.width);
    for y in 0..buffer.area.height {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect::<Vec<_>>()
            .concat();
        if let Some(byte) = row.find(text) {
            let column = row[..byte].chars().count().min(width);
            return Some((u16::try_from(column).expect("column fits"), y));
        }
    }
    None
}

fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    terminal.backend().to_string()
}

fn press(app: &App, code: KeyCode) -> Option<Action> {
    action_for(app, &Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// Returns the actions of typing `:name` and enter.
fn command(name: &str) -> Vec<Action> {
    let mut actions = vec![Action::StartCommand];
    actions.extend(name.chars().map(Action::Input));
    actions.push(Action::Submit);
    actions
}

fn select_flow(app: &mut App, id: &str) {
    let position = app
        .visible
        .iter()
        .position(|index| app.flows[*index].id == id)
        .expect("fixture flow");
    update(app, Action::Top);
    for _ in 0..position {
        update(app, Action::Down);
    }
}

fn inspection() -> Inspection {
    Inspection {
        kind: TokenKind::Jws,
        found_as: "Authorization header, Bearer scheme".into(),
        header_name: Some("authorization".into()),
        query_parameter: None,
        cookie_name: None,
        scheme: Some("Bearer".into()),
        header: Some(serde_json::json!({"alg": "RS256", "kid": "key-2026-01", "typ": "JWT"})),
        claims: Some(serde_json::json!({
            "iss": ISSUER,
            "sub": "alice",
            "aud": ["orders-api", "billing-api"],
            "exp": 1_772_356_502,
            "iat": 1_772_352_902,
            "realm_access": {"roles": ["buyer", "support"], "tier": {"name": "gold", "since": 2024}},
        })),
        times: vec![
            TimeClaim {
                claim: "exp".into(),
                time: "2026-03-01T09:15:02Z".into(),
                relative_seconds: -300,
            },
            TimeClaim {
                claim: "iat".into(),
                time: "2026-03-01T08:15:02Z".into(),
                relative_seconds: -3_900,
            },
        ],
        problems: vec![
            Problem {
                code: "expired".into(),
                message: "The token expired at 2026-03-01T09:15:02Z, 5 min ago.".into(),
                severity: Severity::Error,
            },
            Problem {
                code: "lowercase_bearer".into(),
                message: "The scheme is `bearer`: Envoy's jwt_authn matches the `Bearer ` prefix \
                          case-sensitively, so the mesh treats this request as carrying no token."
                    .into(),
                severity: Severity::Warning,
            },
        ],
        fingerprint: "sha256:3f9a61c0d2b4e857".into(),
        encoded_len: 612,
        token: SecretToken::default(),
        jwt_authn: JwtAuthnReading::default(),
        mesh_reads_other: None,
        mesh_finds_no_token: false,
        mesh_format_status: None,
        as_sent: None,
        nested: None,
    }
}

// Snapshots.

#[test]
fn flows_80x24() {
    let app = app_at(80, 24);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn flows_120x40() {
    let mut app = app_at(120, 40);
    select_flow(&mut app, "e1a1");
    insta::assert_snapshot!(draw(&app, 120, 40).backend());
}

#[test]
fn detail_dropped_80x24() {
    let mut app = app_at(80, 24);
    select_flow(&mut app, "e1a1");
    update(&mut app, Action::Open);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn detail_dropped_80x24_end() {
    let mut app = app_at(80, 24);
    select_flow(&mut app, "e1a1");
    update(&mut app, Action::Open);
    update(&mut app, Action::Bottom);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn detail_deny_policy_120x40() {
    let mut app = app_at(120, 40);
    select_flow(&mut app, "e1a3");
    update(&mut app, Action::Open);
    insta::assert_snapshot!(draw(&app, 120, 40).backend());
}

#[test]
fn detail_expired_120x40() {
    let mut app = app_at(120, 40);
    select_flow(&mut app, "e1a2");
    update(&mut app, Action::Open);
    insta::assert_snapshot!(draw(&app, 120, 40).backend());
}

#[test]
fn token_inspection_80x24() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::ShowToken);
    app.token.result = Some(Ok(inspection()));
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn token_problems_80x24_end() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::ShowToken);
    app.token.result = Some(Ok(inspection()));
    update(&mut app, Action::Bottom);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn token_error_80x24() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::ShowToken);
    app.token.result = Some(Err(TokenError::NotAToken {
        input: "\"hello world\"".into(),
        reason: "expected a JWT, a `Bearer …` value, an `Authorization:` line or a curl command"
            .into(),
    }));
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn help_80x24() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::ToggleHelp);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn flows_40x10() {
    let app = app_at(40, 10);
    insta::assert_snapshot!(draw(&app, 40, 10).backend());
}

#[test]
fn flows_40x10_cut_statuses_end_in_ellipsis() {
    let screen = screen_text(&draw(&app_at(40, 10), 40, 10));
    // A status cut to its first digits would read as another status.
    for cut in ["gw 20 ", "gw 40 ", "gw 4 ", "gw 2 ", "ers 40 ", "ers 20 "] {
        assert!(!screen.contains(cut), "{cut:?} on screen:\n{screen}");
    }
}

#[test]
fn flows_40x10_keep_hop_statuses() {
    let screen = screen_text(&draw(&app_at(40, 10), 40, 10));
    // Too narrow for `gw 200  orders 403`: each hop keeps its status rather than a cut name.
    assert!(!screen.contains("g…"), "cut hop name on screen:\n{screen}");
    assert!(
        screen.contains(" 200 403 403 "),
        "hop statuses missing:\n{screen}"
    );
    assert!(
        screen.contains(" 200 401 "),
        "hop statuses missing:\n{screen}"
    );
}

#[test]
fn flash_unknown_command_80x24() {
    let mut app = app_at(80, 24);
    for action in command("bogus") {
        update(&mut app, action);
    }
    let terminal = draw(&app, 80, 24);
    assert!(
        screen_text(&terminal).contains(":help :q"),
        "the whole message is on screen"
    );
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn flash_no_cluster_80x24() {
    let mut app = app_at(80, 24);
    for action in command("ns shop") {
        update(&mut app, action);
    }
    let terminal = draw(&app, 80, 24);
    assert!(
        screen_text(&terminal).contains("--context NAME -n NAMESPACE"),
        "the whole message is on screen"
    );
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn flash_wider_than_screen_wraps_40x10() {
    let mut app = app_at(40, 10);
    for action in command("ns shop") {
        update(&mut app, action);
    }
    let screen = screen_text(&draw(&app, 40, 10));
    assert!(screen.contains("NAMESPACE"), "screen:\n{screen}");
}

#[test]
fn workloads_without_cluster_80x24() {
    let mut app = app_at(80, 24);
    for action in command("workloads") {
        update(&mut app, action);
    }
    let terminal = draw(&app, 80, 24);
    let screen = screen_text(&terminal);
    assert!(screen.contains("--context"), "screen:\n{screen}");
    assert!(screen.contains(ORDERS), "screen:\n{screen}");
    assert!(screen.contains(GATEWAY), "screen:\n{screen}");
    insta::assert_snapshot!(terminal.backend());
}

// Styles in the buffer.

/// Draws `app` at `width`×`height` and returns the cell where `text` first starts.
fn cell_at(app: &App, width: u16, height: u16, text: &str) -> Cell {
    let terminal = draw(app, width, height);
    let buffer = terminal.backend().buffer();
    let (x, y) = find(buffer, text).unwrap_or_else(|| panic!("{text:?} not on screen"));
    buffer[(x, y)].clone()
}

#[test]
fn selected_row_styled() {
    let cell = cell_at(&app_at(80, 24), 80, 24, "09:15:02");
    let selection = default_theme().style(Slot::Selection);
    assert_eq!(cell.bg, selection.bg.expect("selection background"));
}

#[test]
fn denial_cell_styled() {
    let cell = cell_at(&app_at(80, 24), 80, 24, "orders 403");
    let deny = default_theme().style(Slot::Deny);
    assert_eq!(cell.fg, deny.fg.expect("deny colour"));
    assert!(cell.modifier.contains(Modifier::BOLD));
}

#[test]
fn badge_cell_styled() {
    let cell = cell_at(&app_at(80, 24), 80, 24, "DROPPED");
    let dropped = default_theme().style(Slot::Dropped);
    assert_eq!(cell.bg, dropped.bg.expect("dropped background"));
}

#[test]
fn passed_on_cell_neutral() {
    // The first `gw 403` is the gateway of e1a1, which relayed the sidecar's 403.
    let cell = cell_at(&app_at(120, 40), 120, 40, "gw 403");
    let allow = default_theme().style(Slot::Allow);
    assert_ne!(cell.fg, allow.fg.expect("allow colour"));
}

#[test]
fn hint_bar_fits_80() {
    let app = app_at(80, 24);
    let terminal = draw(&app, 80, 24);
    let text = screen_text(&terminal);
    let bottom = text.lines().last().expect("bottom line");
    assert!(bottom.contains("<q> quit"), "{bottom}");
    assert!(bottom.contains("<?> help"), "{bottom}");
}

#[test]
fn preview_fills_80x24() {
    let app = app_at(80, 24);
    let text = screen_text(&draw(&app, 80, 24));
    assert!(text.contains("flow e1a0"), "{text}");
}

#[test]
fn no_color_has_no_colors() {
    let theme = default_theme().without_colors();
    let mut app = App::new(session(), theme);
    update(
        &mut app,
        Action::Resize {
            width: 120,
            height: 40,
        },
    );
    let terminal = draw(&app, 120, 40);
    let buffer = terminal.backend().buffer();
    let colored = buffer
        .content()
        .iter()
        .filter(|cell| cell.fg != Color::Reset || cell.bg != Color::Reset)
        .count();
    assert_eq!(colored, 0);
}

#[test]
fn no_color_denial_bold() {
    let app = App::new(session(), default_theme().without_colors());
    let terminal = draw(&app, 80, 24);
    let buffer = terminal.backend().buffer();
    let (x, y) = find(buffer, "orders 403").expect("denied hop on screen");
    assert!(buffer[(x, y)].modifier.contains(Modifier::BOLD));
}

#[test]
fn no_color_selection_reversed() {
    let app = App::new(session(), default_theme().without_colors());
    let terminal = draw(&app, 80, 24);
    let buffer = terminal.backend().buffer();
    let (x, y) = find(buffer, "09:15:02").expect("first flow on screen");
    assert!(buffer[(x, y)].modifier.contains(Modifier::REVERSED));
}

// update.

#[test]
fn navigation_bounds() {
    let mut app = app_at(80, 24);
    let last = app.visible.len() - 1;
    update(&mut app, Action::Up);
    assert_eq!(app.selected, 0, "up at the top");
    update(&mut app, Action::Bottom);
    assert_eq!(app.selected, last, "bottom");
    update(&mut app, Action::Down);
    assert_eq!(app.selected, last, "down at the bottom");
    update(&mut app, Action::Top);
    update(&mut app, Action::PageDown);
    assert_eq!(app.selected, last, "page down past the end");
    update(&mut app, Action::PageUp);
    assert_eq!(app.selected, 0, "page up past the start");
}

#[test]
fn detail_scroll_bounds() {
    let mut app = app_at(80, 24);
    select_flow(&mut app, "e1a1");
    update(&mut app, Action::Open);
    update(&mut app, Action::Up);
    assert_eq!(app.detail_scroll, 0, "up at the top");
    update(&mut app, Action::Bottom);
    let end = app.detail_scroll;
    update(&mut app, Action::Down);
    assert_eq!(app.detail_scroll, end, "down at the end");
    assert!(end > 0, "the 80x24 detail is taller than the screen");
}

#[test]
fn filter_narrows() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartFilter);
    for c in "deny-delete".chars() {
        update(&mut app, Action::Input(c));
    }
    update(&mut app, Action::Submit);
    let ids: Vec<&str> = app
        .visible
        .iter()
        .map(|index| app.flows[*index].id.as_str())
        .collect();
    assert_eq!(ids, ["e1a3"]);
}

/// Returns the ids of the flows that pass the filter.
fn visible_ids(app: &App) -> Vec<&str> {
    app.visible
        .iter()
        .map(|index| app.flows[*index].id.as_str())
        .collect()
}

#[test]
fn filter_matches_row_text() {
    let cases: [(&str, &[&str]); 6] = [
        // Cause words of hop cells, also on screens too narrow to show them.
        ("rbac", &["e1a1", "e1a3", "e1a4", "e1a6"]),
        ("RBAC", &["e1a1", "e1a3", "e1a4", "e1a6"]),
        // The edge cell `deny 401`, and the policy and reason of a DENY policy.
        ("deny", &["e1a3", "e1a5"]),
        ("401", &["e1a2", "e1a5"]),
        ("allow", &["e1a0", "e1a1", "e1a2", "e1a3", "e1a4", "e1a6"]),
        ("gw 401 expired", &["e1a2"]),
    ];
    for (needle, expected) in cases {
        let mut app = app_at(120, 40);
        update(&mut app, Action::StartFilter);
        update(&mut app, Action::Paste(needle.into()));
        assert_eq!(visible_ids(&app), expected, "/{needle}");
    }
}

#[test]
fn filter_as_you_type() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartFilter);
    for c in "refunds".chars() {
        update(&mut app, Action::Input(c));
    }
    assert_eq!(visible_ids(&app), ["e1a4"], "narrowed before enter");
    update(&mut app, Action::Backspace);
    assert_eq!(visible_ids(&app), ["e1a4"], "refund still matches");
    update(&mut app, Action::Submit);
    assert!(app.prompt.is_none(), "enter leaves the prompt");
    assert_eq!(app.filter, "refund", "enter keeps the filter");
}

#[test]
fn filter_reopens_with_text() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartFilter);
    update(&mut app, Action::Paste("rbac".into()));
    update(&mut app, Action::Submit);
    update(&mut app, Action::StartFilter);
    let text = app.prompt.as_ref().map(|prompt| prompt.text.as_str());
    assert_eq!(text, Some("rbac"));
}

#[test]
fn filter_matches_badge() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartFilter);
    update(&mut app, Action::Paste("dropped".into()));
    update(&mut app, Action::Submit);
    assert_eq!(app.visible.len(), 2);
}

#[test]
fn filter_clears_on_esc() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartFilter);
    update(&mut app, Action::Paste("zzz".into()));
    update(&mut app, Action::Submit);
    assert!(app.visible.is_empty(), "no flow contains zzz");
    update(&mut app, Action::Back);
    assert_eq!(app.visible.len(), app.flows.len());
}

#[test]
fn filter_cancel_clears() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartFilter);
    update(&mut app, Action::Input('x'));
    update(&mut app, Action::Cancel);
    assert!(app.prompt.is_none(), "prompt closed");
    assert_eq!(app.visible.len(), app.flows.len());
}

#[test]
fn paste_opens_token_view() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::Paste("Bearer abc.def.ghi".into()));
    assert_eq!(app.view, View::Token);
    assert!(app.token.result.is_some(), "inspected");
}

#[test]
fn paste_into_token_prompt() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartToken);
    assert_eq!(
        app.prompt.as_ref().map(|prompt| prompt.kind),
        Some(PromptKind::Token)
    );
    update(&mut app, Action::Paste("eyJhbGciOiJub25lIn0.e30.".into()));
    assert!(app.prompt.is_none(), "prompt closed by the paste");
    assert!(app.token.result.is_some(), "inspected");
}

#[test]
fn typed_token_masked() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartToken);
    for c in "secret-token-text".chars() {
        update(&mut app, Action::Input(c));
    }
    let text = screen_text(&draw(&app, 80, 24));
    assert!(!text.contains("secret-token-text"), "{text}");
}

#[test]
fn help_toggles() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::ToggleHelp);
    assert!(app.show_help, "opened");
    update(&mut app, Action::ToggleHelp);
    assert!(!app.show_help, "closed");
}

#[test]
fn help_lists_key_table() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::ToggleHelp);
    let text = screen_text(&draw(&app, 80, 24));
    let shown = idflow::tui::BINDINGS.iter().filter(|binding| {
        binding.context == idflow::tui::Context::Global || binding.context.applies_to(View::Flows)
    });
    for binding in shown {
        assert!(
            text.contains(binding.description),
            "{}",
            binding.description
        );
    }
}

#[test]
fn quit_actions() {
    let cases = [
        ("q", vec![Action::Quit]),
        (":q", command("q")),
        (":quit", command("quit")),
    ];
    for (name, actions) in cases {
        let mut app = app_at(80, 24);
        for action in actions {
            update(&mut app, action);
        }
        assert!(app.should_quit, "{name}");
    }
}

#[test]
fn ctrl_c_quits() {
    let app = app_at(80, 24);
    let event = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(action_for(&app, &event), Some(Action::Quit));
}

#[test]
fn unknown_command_flashes() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartCommand);
    update(&mut app, Action::Input('z'));
    update(&mut app, Action::Submit);
    let flash = app.flash.as_ref().map(|flash| flash.text.as_str());
    assert!(
        flash.is_some_and(|text| text.contains("\":z\"")),
        "{flash:?}"
    );
}

#[test]
fn command_switches_views() {
    let mut app = app_at(80, 24);
    for (name, view) in [("token", View::Token), ("flows", View::Flows)] {
        for action in command(name) {
            update(&mut app, action);
        }
        assert_eq!(app.view, view, ":{name}");
    }
}

#[test]
fn keys_map_to_actions() {
    let app = app_at(80, 24);
    let cases = [
        (KeyCode::Char('j'), Action::Down),
        (KeyCode::Down, Action::Down),
        (KeyCode::Char('k'), Action::Up),
        (KeyCode::Char('G'), Action::Bottom),
        (KeyCode::Home, Action::Top),
        (KeyCode::Enter, Action::Open),
        (KeyCode::Char('/'), Action::StartFilter),
        (KeyCode::Char('t'), Action::ShowToken),
    ];
    for (code, action) in cases {
        assert_eq!(press(&app, code), Some(action), "{code:?}");
    }
}

#[test]
fn prompt_takes_letters() {
    let mut app = app_at(80, 24);
    update(&mut app, Action::StartFilter);
    assert_eq!(press(&app, KeyCode::Char('q')), Some(Action::Input('q')));
}

#[test]
fn live_flow_appended() {
    let mut app = app_at(80, 24);
    let before = app.flows.len();
    let mut flow = fixture_flows().remove(0);
    flow.id = "new".into();
    update(&mut app, Action::AddFlow(flow));
    assert_eq!(app.visible.len(), before + 1);
}

#[test]
fn live_flow_replaced_by_id() {
    let mut app = app_at(80, 24);
    let before = app.flows.len();
    update(&mut app, Action::AddFlow(fixture_flows().remove(0)));
    assert_eq!(app.visible.len(), before);
}

// Small sizes.

#[test]
fn small_sizes_render() {
    let sizes = [(40, 10), (10, 3), (1, 1), (0, 0), (80, 2)];
    let setups: [fn(&mut App); 5] = [
        |_| {},
        |app| update(app, Action::Open),
        |app| {
            update(app, Action::ShowToken);
            app.token.result = Some(Ok(inspection()));
        },
        |app| update(app, Action::ToggleHelp),
        |app| update(app, Action::StartCommand),
    ];
    for (width, height) in sizes {
        for setup in setups {
            let mut app = app_at(width, height);
            setup(&mut app);
            update(&mut app, Action::Bottom);
            let terminal = draw(&app, width, height);
            assert_eq!(terminal.backend().buffer().area.width, width);
        }
    }
}

// Themes.

#[test]
fn theme_built_ins() {
    for name in ["default", "light"] {
        let theme = Theme::load_colored(name).expect("built-in theme");
        assert_eq!(theme.name, name);
    }
}

#[test]
fn theme_from_file() {
    let path = std::env::temp_dir().join(format!("idflow-theme-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[deny]\nfg = \"#ff0000\"\nmodifiers = [\"underlined\"]\n",
    )
    .expect("write theme file");
    let theme = Theme::load_colored(path.to_str().expect("utf-8 path"));
    std::fs::remove_file(&path).expect("remove theme file");
    let deny = theme.expect("theme file loads").style(Slot::Deny);
    assert_eq!(deny.fg, Some(Color::Rgb(255, 0, 0)));
    assert!(deny.add_modifier.contains(Modifier::UNDERLINED));
}

#[test]
fn theme_bad_color() {
    let err =
        Theme::from_toml("mine.toml", "[allow]\nfg = \"greenish\"\n").expect_err("bad colour");
    let message = err.to_string();
    assert!(message.contains("\"allow\""), "names the slot: {message}");
    assert!(
        message.contains("\"greenish\""),
        "names the value: {message}"
    );
    assert!(message.contains("mine.toml"), "names the file: {message}");
}

#[test]
fn theme_unknown_name() {
    let err = Theme::load_colored("solarized").expect_err("unknown theme");
    let message = err.to_string();
    assert!(
        message.contains("\"solarized\""),
        "names the value: {message}"
    );
    assert!(
        message.contains("default, light"),
        "lists the built-ins: {message}"
    );
}

#[test]
fn theme_missing_file() {
    let err = Theme::load_colored("/nonexistent/idflow/theme.toml").expect_err("missing file");
    assert!(
        err.to_string().contains("/nonexistent/idflow/theme.toml"),
        "{err}"
    );
}

// The live session: Workloads view, what-if, pause, context and namespace switching.

mod live {
    use idflow::mesh::crd::PolicySet;
    use idflow::source::kube::{MeshWorkload, OwnerKind, PodSummary, Proxy};
    use idflow::tui::{Effect, LiveUpdate, PickKind};

    use super::*;

    fn workload(name: &str, proxy: Proxy, ready: bool) -> MeshWorkload {
        MeshWorkload {
            namespace: "shop".into(),
            name: name.into(),
            owner: OwnerKind::Deployment,
            proxy,
            labels: [("app".to_owned(), name.to_owned())].into(),
            service_account: name.into(),
            principal: format!("spiffe://cluster.local/ns/shop/sa/{name}"),
            pods: vec![PodSummary {
                name: format!("{name}-7c9d8b6f5d-x2k4p"),
                phase: "Running".into(),
                proxy_ready: ready,
                log_container: Some("istio-proxy".into()),
                terminating: false,
            }],
        }
    }

    fn policies() -> PolicySet {
        let deny: idflow::mesh::crd::AuthorizationPolicy =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                "metadata": {"namespace": "shop", "name": "deny-admin"},
                "spec": {"selector": {"matchLabels": {"app": "orders"}}, "action": "DENY",
                         "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]}
            }))
            .expect("fixture policy");
        let allow: idflow::mesh::crd::AuthorizationPolicy =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                "metadata": {"namespace": "shop", "name": "allow-get"},
                "spec": {"selector": {"matchLabels": {"app": "orders"}},
                         "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]}
            }))
            .expect("fixture policy");
        PolicySet {
            authorization: vec![deny, allow],
            ..PolicySet::default()
        }
    }

    /// A live app on context `prod`, namespace `shop`, with three workloads and the fixture flows.
    fn live_app(width: u16, height: u16) -> App {
        let mut app = app_at(width, height);
        app.live.context = Some("prod".into());
        app.live.namespace = Some("shop".into());
        app.live.contexts = vec!["prod".into(), "staging".into()];
        app.view = View::Workloads;
        let workloads = vec![
            workload("orders", Proxy::Sidecar, true),
            workload("cart", Proxy::Sidecar, false),
            workload("legacy", Proxy::None, false),
        ];
        update(&mut app, Action::Live(LiveUpdate::Workloads(workloads)));
        update(&mut app, Action::Live(LiveUpdate::Policies(policies())));
        for flow in fixture_flows() {
            update(&mut app, Action::AddFlow(flow));
        }
        app
    }

    #[test]
    fn live_line_shows_evictions() {
        let mut app = live_app(120, 40);
        let counts = idflow::source::kube::LineCounts {
            flows_evicted: 5,
            hops_dropped: 3,
            ..idflow::source::kube::LineCounts::default()
        };
        update(&mut app, Action::Live(LiveUpdate::Counts(counts)));
        let screen = screen_text(&draw(&app, 120, 40));
        assert!(
            screen.contains("5 flows evicted past --max-flows"),
            "{screen}"
        );
        assert!(
            screen.contains("3 records dropped from full flows"),
            "{screen}"
        );
        assert!(!screen.contains("duplicate records merged"), "{screen}");
    }

    #[test]
    fn live_line_warns_of_logged_tokens() {
        let mut app = live_app(160, 40);
        let counts = idflow::source::kube::LineCounts {
            credentials_logged: 4,
            ..idflow::source::kube::LineCounts::default()
        };
        update(&mut app, Action::Live(LiveUpdate::Counts(counts)));
        let screen = screen_text(&draw(&app, 160, 40));
        assert!(
            screen.contains("4 log lines with a whole token (log only the scheme)"),
            "{screen}"
        );
    }

    fn run(app: &mut App, actions: Vec<Action>) {
        for action in actions {
            update(app, action);
        }
    }

    /// Opens `orders` and sets the what-if to `text`.
    fn what_if(app: &mut App, text: &str) {
        update(app, Action::Top);
        update(app, Action::Open);
        update(app, Action::EditWhatIf);
        let clear = app.prompt.as_ref().map_or(0, |prompt| prompt.text.len());
        run(app, vec![Action::Backspace; clear]);
        run(app, text.chars().map(Action::Input).collect());
        update(app, Action::Submit);
    }

    fn decision(app: &App) -> Option<Decision> {
        match &app.live.what_if.result {
            Some(Ok(verdict)) => Some(verdict.decision),
            _ => None,
        }
    }

    #[test]
    fn workloads_80x24() {
        let app = live_app(80, 24);
        insta::assert_snapshot!(draw(&app, 80, 24).backend());
    }

    #[test]
    fn workloads_120x40() {
        let app = live_app(120, 40);
        insta::assert_snapshot!(draw(&app, 120, 40).backend());
    }

    #[test]
    fn what_if_80x24() {
        let mut app = live_app(80, 24);
        what_if(&mut app, "GET /admin/users");
        insta::assert_snapshot!(draw(&app, 80, 24).backend());
    }

    #[test]
    fn what_if_120x40() {
        let mut app = live_app(120, 40);
        what_if(&mut app, "POST /api/orders");
        insta::assert_snapshot!(draw(&app, 120, 40).backend());
    }

    #[test]
    fn what_if_verdicts() {
        let cases = [
            ("GET /api/orders", Decision::Allow),
            ("GET /admin", Decision::Deny),
            ("POST /api/orders", Decision::Deny),
            ("/api/orders", Decision::Allow),
        ];
        for (text, expected) in cases {
            let mut app = live_app(120, 40);
            what_if(&mut app, text);
            assert_eq!(decision(&app), Some(expected), "{text}");
        }
    }

    #[test]
    fn what_if_bad_input_keeps_request() {
        let mut app = live_app(120, 40);
        what_if(&mut app, "nonsense");
        assert_eq!(app.live.what_if.path, "/");
    }

    #[test]
    fn what_if_no_proxy() {
        let mut app = live_app(120, 40);
        update(&mut app, Action::Bottom);
        update(&mut app, Action::Open);
        assert!(matches!(app.live.what_if.result, Some(Err(_))));
    }

    #[test]
    fn enter_opens_workload() {
        let mut app = live_app(120, 40);
        let action = press(&app, KeyCode::Enter).expect("enter is bound");
        update(&mut app, action);
        assert_eq!(app.view, View::Workload);
    }

    #[test]
    fn workload_flows_filtered() {
        let mut app = live_app(120, 40);
        update(&mut app, Action::Open);
        update(&mut app, Action::ShowWorkloadFlows);
        let all_at_orders = app.visible.iter().all(|index| {
            app.flows[*index]
                .hops
                .iter()
                .any(|hop| hop.location == ORDERS)
        });
        assert!(all_at_orders);
        assert_eq!(app.view, View::Flows);
    }

    #[test]
    fn w_opens_workloads() {
        let mut app = app_at(80, 24);
        let action = press(&app, KeyCode::Char('w')).expect("w is bound");
        update(&mut app, action);
        assert_eq!(app.view, View::Workloads);
    }

    #[test]
    fn pause_holds_flows() {
        let mut app = live_app(120, 40);
        app.view = View::Flows;
        let shown = app.flows.len();
        update(&mut app, Action::TogglePause);
        let mut late = fixture_flows()[0].clone();
        late.id = "late".into();
        update(&mut app, Action::AddFlow(late));
        assert_eq!(app.flows.len(), shown);
        assert_eq!(app.live.held.len(), 1);
        update(&mut app, Action::TogglePause);
        assert_eq!(app.flows.len(), shown + 1);
        assert!(app.live.held.is_empty());
    }

    #[test]
    fn p_toggles_pause() {
        let mut app = live_app(120, 40);
        app.view = View::Flows;
        let action = press(&app, KeyCode::Char('p')).expect("p is bound");
        update(&mut app, action);
        assert!(app.live.paused);
    }

    #[test]
    fn same_id_replaces_flow() {
        let mut app = live_app(120, 40);
        let shown = app.flows.len();
        update(&mut app, Action::AddFlow(fixture_flows()[0].clone()));
        assert_eq!(app.flows.len(), shown);
    }

    #[test]
    fn denials_counted_once() {
        let mut app = live_app(120, 40);
        let before = app.live.denials.clone();
        for flow in fixture_flows() {
            update(&mut app, Action::AddFlow(flow));
        }
        assert_eq!(app.live.denials, before);
    }

    #[test]
    fn denials_by_workload() {
        let app = live_app(120, 40);
        let denied_at_orders = fixture_flows()
            .iter()
            .filter(|flow| {
                flow.hops
                    .iter()
                    .any(|hop| hop.location == ORDERS && hop.decision == Decision::Deny)
            })
            .count();
        let counted = app.live.denials.by_workload.get(ORDERS).map(|c| c.total);
        assert_eq!(
            counted,
            Some(u64::try_from(denied_at_orders).expect("small"))
        );
    }

    #[test]
    fn ctx_switch_emits() {
        let mut app = live_app(120, 40);
        run(&mut app, command("ctx staging"));
        assert_eq!(
            app.take_effects(),
            [Effect::SwitchContext("staging".into())]
        );
        assert_eq!(app.live.context.as_deref(), Some("staging"));
        assert!(app.flows.is_empty());
    }

    #[test]
    fn ctx_unknown_flashes() {
        let mut app = live_app(120, 40);
        run(&mut app, command("ctx nowhere"));
        assert!(app.take_effects().is_empty());
        assert!(app.flash.is_some());
    }

    #[test]
    fn ctx_lists_then_picks() {
        let mut app = live_app(120, 40);
        run(&mut app, command("ctx"));
        assert_eq!(app.view, View::Pick(PickKind::Contexts));
        run(&mut app, vec![Action::Down, Action::Open]);
        assert_eq!(
            app.take_effects(),
            [Effect::SwitchContext("staging".into())]
        );
    }

    #[test]
    fn ns_switch_emits() {
        let cases = [
            (
                "ns payments",
                Effect::SwitchNamespace(Some("payments".into())),
            ),
            ("ns all", Effect::SwitchNamespace(None)),
        ];
        for (text, expected) in cases {
            let mut app = live_app(120, 40);
            run(&mut app, command(text));
            assert_eq!(app.take_effects(), [expected], "{text}");
        }
    }

    #[test]
    fn ns_lists_seen() {
        let mut app = live_app(120, 40);
        run(&mut app, command("ns"));
        let items = app.live.pick_items(PickKind::Namespaces);
        assert!(items.contains(&"shop".to_owned()));
        assert!(items.contains(&"istio-system".to_owned()));
    }

    #[test]
    fn ctx_without_cluster_no_effect() {
        let mut app = app_at(80, 24);
        run(&mut app, command("ctx prod"));
        assert!(app.take_effects().is_empty());
    }

    #[test]
    fn token_what_if_uses_cluster() {
        let mut app = live_app(120, 40);
        update(&mut app, Action::Paste(super::demo_token(3600)));
        let workloads: Vec<&str> = app
            .token
            .what_if
            .iter()
            .map(|row| row.workload.as_str())
            .collect();
        assert_eq!(workloads, ["shop/orders", "shop/cart", "shop/legacy"]);
        let legacy = &app.token.what_if[2];
        assert!(
            legacy
                .verdict
                .as_ref()
                .is_err_and(|error| error.contains("no Envoy proxy")),
            "{:?}",
            legacy.verdict
        );

        set_what_if(&mut app, "GET /admin");
        let orders = &app.token.what_if[0];
        assert_eq!(
            orders.decided_by(),
            Some(("shop/deny-admin".to_owned(), Some(0))),
            "the cluster's DENY policy decides"
        );
    }

    #[test]
    fn token_what_if_follows_policies() {
        let mut app = live_app(120, 40);
        update(&mut app, Action::Paste(super::demo_token(3600)));
        set_what_if(&mut app, "GET /admin");
        assert_eq!(decision_of(&app, 0), Some(Decision::Deny));

        update(
            &mut app,
            Action::Live(LiveUpdate::Policies(PolicySet::default())),
        );
        assert_eq!(
            decision_of(&app, 0),
            Some(Decision::Allow),
            "computed again when the cluster's policies change"
        );
    }

    fn decision_of(app: &App, row: usize) -> Option<Decision> {
        app.token.what_if[row]
            .verdict
            .as_ref()
            .ok()
            .map(|verdict| verdict.decision)
    }
}

// The Token view's what-if table.

/// The clock of the what-if tests: 2026-03-01T09:15:00Z.
const WHAT_IF_NOW: i64 = 1_772_356_500;
/// What the fingerprint of a minted token is replaced with before a snapshot: the key, and so
/// the token, changes on every run.
const FINGERPRINT_STAND_IN: &str = "sha256:0000000000000000";

/// Returns an app on the fixture flows and the demo's policies, at `width`×`height`, with a fixed
/// clock.
fn what_if_app(width: u16, height: u16) -> App {
    let (name, text) = idflow::source::demo::POLICIES;
    let policies =
        idflow::mesh::load::load_policies(text, name, "default").expect("the demo policies load");
    let mut app = App::new(
        Session {
            policies,
            ..session()
        },
        default_theme(),
    );
    app.clock = chrono::DateTime::from_timestamp(WHAT_IF_NOW, 0);
    update(&mut app, Action::Resize { width, height });
    app
}

/// Returns a token of the demo's issuer for `orders-api` that expires `lifetime` seconds after the
/// test clock.
fn demo_token(lifetime: i64) -> String {
    mint::mint(
        mint::key(),
        &mint::claims(
            "https://idp.example.com",
            "orders-api",
            WHAT_IF_NOW,
            lifetime,
        ),
    )
}

/// Returns the screen as text with the token's fingerprint replaced, after checking that no part
/// of the token is on it.
fn what_if_screen(app: &App, token: &str, width: u16, height: u16) -> String {
    let text = draw(app, width, height).backend().to_string();
    for segment in token.split('.') {
        for start in (0..segment.len().saturating_sub(12)).step_by(12) {
            let piece = &segment[start..start + 12];
            assert!(
                !text.contains(piece),
                "part of the token is on screen:\n{text}"
            );
        }
    }
    let Some(Ok(inspection)) = &app.token.result else {
        panic!("the token was not inspected");
    };
    text.replace(&inspection.fingerprint, FINGERPRINT_STAND_IN)
}

#[test]
fn token_what_if_80x24() {
    let mut app = what_if_app(80, 24);
    let token = demo_token(-600);
    update(
        &mut app,
        Action::Paste(format!("Authorization: Bearer {token}")),
    );
    set_what_if(&mut app, "GET /api/orders");
    update(&mut app, Action::Bottom);
    insta::assert_snapshot!(what_if_screen(&app, &token, 80, 24));
}

#[test]
fn token_what_if_120x40() {
    let mut app = what_if_app(120, 40);
    let token = demo_token(3600);
    update(&mut app, Action::Paste(token.clone()));
    set_what_if(&mut app, "DELETE /api/orders/7");
    update(&mut app, Action::Bottom);
    insta::assert_snapshot!(what_if_screen(&app, &token, 120, 40));
}

/// Returns [`what_if_app`] with the demo's edge profile filling the edge column.
fn edge_app(width: u16, height: u16) -> App {
    let (name, text) = idflow::source::demo::EDGE_PROFILE;
    let profile =
        idflow::edge::profile::EdgeProfile::from_toml(text, name).expect("the demo profile loads");
    let mut app = what_if_app(width, height);
    app.edge = Some(idflow::tui::EdgeSetup {
        profile,
        keys: None,
    });
    app
}

/// Returns each what-if row's edge cell.
fn edge_cells(app: &App) -> Vec<Option<&str>> {
    app.token
        .what_if
        .iter()
        .map(|row| row.edge.as_deref())
        .collect()
}

#[test]
fn edge_column_without_profile() {
    let mut app = what_if_app(120, 40);
    update(&mut app, Action::Paste(demo_token(3600)));
    assert_eq!(edge_cells(&app), [None, None]);
    assert!(app.token.edge.is_none());
}

#[test]
fn edge_column_expired_token() {
    // The demo's EdgeWorker does not check `exp`, so it passes a token the gateway rejects.
    let mut app = edge_app(120, 40);
    update(&mut app, Action::Paste(demo_token(-600)));
    assert_eq!(
        edge_cells(&app),
        [Some("allow"), Some("allow")],
        "{:?}",
        app.token.edge
    );
    assert_eq!(app.token.what_if[0].authn_text(), "Jwt is expired");
}

#[test]
fn edge_column_unknown_issuer() {
    let mut app = edge_app(120, 40);
    let token = mint::mint(
        mint::key(),
        &mint::claims("https://other.test", "orders-api", WHAT_IF_NOW, 3600),
    );
    update(&mut app, Action::Paste(token));
    assert_eq!(edge_cells(&app), [Some("deny 401"), Some("deny 401")]);
}

#[test]
fn edge_section_lists_differences() {
    let mut app = edge_app(120, 60);
    let token = demo_token(-600);
    update(&mut app, Action::Paste(token.clone()));
    update(&mut app, Action::Bottom);
    let screen = what_if_screen(&app, &token, 120, 60);
    assert!(screen.contains("Edge (profile demo-edge)"), "{screen}");
    assert!(screen.contains("differs from"), "{screen}");
    let (_, differences) = app.token.edge.as_ref().expect("an edge decision");
    assert!(
        differences
            .iter()
            .any(|difference| difference.code.contains("exp")),
        "{differences:?}"
    );
}

#[test]
fn token_what_if_edge_120x50() {
    let mut app = edge_app(120, 50);
    let token = demo_token(-600);
    update(&mut app, Action::Paste(token.clone()));
    insta::assert_snapshot!(what_if_screen(&app, &token, 120, 50));
}

#[test]
fn what_if_rows_per_workload() {
    let mut app = what_if_app(120, 40);
    update(&mut app, Action::Paste(demo_token(-600)));
    let workloads: Vec<&str> = app
        .token
        .what_if
        .iter()
        .map(|row| row.workload.as_str())
        .collect();
    assert_eq!(workloads, [GATEWAY, ORDERS]);
    let gateway = &app.token.what_if[0];
    assert_eq!(gateway.authn_text(), "Jwt is expired");
}

#[test]
fn what_if_cached_until_inputs_change() {
    let mut app = what_if_app(120, 40);
    update(&mut app, Action::Paste(demo_token(3600)));
    let first = app.token.what_if.clone();
    assert_eq!(first.len(), 2, "two workloads");

    // Policies that change without a new generation are not seen: the table is kept.
    app.policies = idflow::mesh::crd::PolicySet::default();
    update(&mut app, Action::Tick);
    update(&mut app, Action::Down);
    assert_eq!(
        app.token.what_if, first,
        "kept while the inputs are the same"
    );

    // A new request is an input that changed: the table is computed again, now without policies.
    set_what_if(&mut app, "GET /other");
    let orders = &app.token.what_if[1];
    assert_eq!(
        orders.authn_text(),
        "not checked",
        "no RequestAuthentication any more"
    );
}

#[test]
fn what_if_prompt_in_token_view() {
    let mut app = what_if_app(80, 24);
    update(&mut app, Action::ShowToken);
    assert_eq!(press(&app, KeyCode::Char('e')), Some(Action::EditWhatIf));
    update(&mut app, Action::EditWhatIf);
    assert_eq!(
        app.prompt
            .as_ref()
            .map(|prompt| (prompt.kind, prompt.text.as_str())),
        Some((PromptKind::WhatIf, "GET /"))
    );
}

#[test]
fn copy_claims_not_token() {
    let mut app = what_if_app(80, 24);
    let token = demo_token(3600);
    update(&mut app, Action::Paste(token.clone()));
    assert_eq!(press(&app, KeyCode::Char('y')), Some(Action::CopyClaims));
    update(&mut app, Action::CopyClaims);
    let copied = app.take_clipboard().expect("the claims wait to be copied");
    let claims: serde_json::Value = serde_json::from_str(&copied).expect("the copy is JSON");
    assert_eq!(claims["sub"], "alice");
    assert!(!copied.contains(&token), "the token itself was copied");
    assert_eq!(
        app.flash.as_ref().map(|flash| flash.text.as_str()),
        Some("claims copied")
    );
}

#[test]
fn copy_without_claims_flashes() {
    let mut app = what_if_app(80, 24);
    update(&mut app, Action::ShowToken);
    update(&mut app, Action::CopyClaims);
    assert_eq!(app.take_clipboard(), None);
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|flash| flash.text.contains("no claims")),
        "{:?}",
        app.flash
    );
}

#[test]
fn what_if_small_sizes_render() {
    let token = demo_token(3600);
    for (width, height) in [(40, 10), (20, 5), (10, 3), (1, 1), (0, 0)] {
        let mut app = what_if_app(width, height);
        update(&mut app, Action::Paste(token.clone()));
        update(&mut app, Action::Bottom);
        let terminal = draw(&app, width, height);
        assert_eq!(terminal.backend().buffer().area.width, width);
    }
}

/// Returns an RS256 token whose header says `cty: JWT` and whose payload is an HS256 JWS with
/// `sub` `nested-sub`, inspected as the Token view inspects a paste.
fn nested_inspection() -> Inspection {
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let inner = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(r#"{"iss":"https://idp.example.com","sub":"nested-sub"}"#)
    );
    let header = format!(r#"{{"alg":"RS256","cty":"JWT","kid":"{}"}}"#, mint::KID);
    let outer = mint::sign(mint::key(), &b64(&header), &b64(&inner));
    idflow::token::inspect(&outer, chrono::Utc::now()).expect("a token")
}

#[test]
fn token_nested_jwt_shown() {
    let mut app = app_at(100, 80);
    update(&mut app, Action::ShowToken);
    app.token.result = Some(Ok(nested_inspection()));

    let terminal = draw(&app, 100, 80);
    let buffer = terminal.backend().buffer();
    let heading = find(buffer, "Nested JWT (the payload, one level down)");
    let subject = find(buffer, "nested-sub");
    let inner_alg = find(buffer, "HS256");

    assert!(heading.is_some(), "{}", screen_text(&terminal));
    assert!(subject.is_some(), "{}", screen_text(&terminal));
    assert!(inner_alg.is_some(), "{}", screen_text(&terminal));
    assert!(subject.map(|(_, y)| y) > heading.map(|(_, y)| y));
    assert!(find(buffer, "a nested JWT, shown below").is_some());
    assert!(!screen_text(&terminal).contains("c2lnbmF0dXJl"));
}

#[test]
fn token_nested_claims_copied() {
    let mut app = app_at(100, 40);
    update(&mut app, Action::ShowToken);
    app.token.result = Some(Ok(nested_inspection()));

    update(&mut app, Action::CopyClaims);
    let copied = app.take_clipboard().expect("claims copied");

    let claims: serde_json::Value = serde_json::from_str(&copied).expect("JSON");
    assert_eq!(claims["sub"], "nested-sub");
    assert!(!copied.contains("c2lnbmF0dXJl"), "{copied}");
}

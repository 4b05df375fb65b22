//! `LogParser::parse_observation` and `observe_line` against the entry path they replace:
//! `parse` then `AccessLogEntry::observe`. Both must give the same observation or the same error,
//! and leave the parser with the same counts and format order, for every line below.

#[path = "../benches/support/envoy_lines.rs"]
mod envoy_lines;

use idflow::accesslog::{
    DEMO_EXTRA_FIELDS, Format, ISTIO_TEXT_FORMAT, ISTIO_TEXT_FORMAT_LEGACY, LogParser,
    observe_line, parse_line,
};
use idflow::model::HopRole;

/// The parser tests' source: every raw string constant in it is a line those tests use.
const PARSER_TESTS: &str = include_str!("accesslog.rs");
const MIXED_LOG: &str = include_str!("fixtures/accesslog/mixed.log");
const GATEWAY_LOG: &str = include_str!("../demo/istio-system.istio-ingressgateway.log");
const SIDECAR_LOG: &str = include_str!("../demo/shop.orders.log");

/// A demo line up to its `Authorization` scheme and claims.
const DEMO_PREFIX: &str = r#"[2025-03-04T14:00:00.000Z] "GET /api/orders HTTP/1.1" 200 - via_upstream - "-" 0 512 8 7 "203.0.113.10, 10.0.0.1" "curl/8.5.0" "00000000-0000-4000-8000-000000000041" "orders.shop.svc.cluster.local:8080" "10.0.9.12:8080" inbound|8080|| 127.0.0.6:50211 10.0.9.12:8080 10.0.7.9:41840 outbound_.8080_._.orders.shop.svc.cluster.local default "a1b2c3d4e5f6" "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account""#;

/// `jwt_authn` metadata as logged, odd forms included.
const CLAIMS: &[&str] = &[
    r#"{"https://idp.example.com/realms/shop":{"iss":"https://idp.example.com/realms/shop","sub":"user-17","aud":["orders","billing"],"name":"Ada Lovelace"}}"#,
    r#"{"https://idp.example.com":{"sub":"user-1","aud":"orders"}}"#,
    r#"{"iss":"https://top.example.com","sub":"top-user","aud":"top"}"#,
    r#"{"sub":"only-sub"}"#,
    r#"{"iss":42,"sub":"numeric-issuer"}"#,
    r#"{"iss":{"nested":true},"other":{"iss":"x","sub":"y"}}"#,
    r#"{"payload":{"iss":"https://p.example.com","sub":"p-user"}}"#,
    r#"{"payload":{"sub":"p-user"}}"#,
    r#"{"b":{"sub":"from-b"},"a":{"sub":"from-a"}}"#,
    r#"{"a":5,"b":{"sub":"from-b"}}"#,
    r#"{"a":{"sub":"first"},"a":5,"c":{"sub":"from-c"}}"#,
    r#"{"a":5,"a":{"sub":"second"},"c":{"sub":"from-c"}}"#,
    r#"{"k":{"sub":"1"},"k":{"sub":"2"}}"#,
    // A key repeated three or more times keeps only its last value, as in a parsed `Map`.
    r#"{"a":{},"a":{},"a":1}"#,
    r#"{"a":{"iss":"x"},"a":{"iss":"y"},"a":{"iss":"z"}}"#,
    r#"{"a":{"sub":"s1"},"a":{"sub":"s2"},"a":"x"}"#,
    r#"{"a":{"sub":"s1"},"a":2,"a":{"sub":"s3"},"b":{"sub":"from-b"}}"#,
    r#"{"b":{"sub":"b1"},"a":1,"a":{"sub":"a2"},"a":3,"b":{"sub":"b2"}}"#,
    r#"{"iss":"a","iss":"b","sub":"s","sub":7}"#,
    r#"{"i":{"aud":["a",1,null,{"x":"y"},["b"],"c",true,2.5]}}"#,
    r#"{"i":{"aud":"single","aud":["then","list"]}}"#,
    r#"{"i":{"aud":["list"],"aud":3}}"#,
    r#"{"i":{"aud":{"x":"y"},"sub":"s"}}"#,
    r#"{"aud":{"iss":"from-aud-key","sub":"s"}}"#,
    r#"{"aud":["top","level"],"x":{"sub":"nested"}}"#,
    r#"{"i\u0073s":"esc\"aped\u00e9","s\u0075b":"\ud83d\ude00 \\ \/","aud":["\u0061","b\nc"]}"#,
    r#"{"https:\/\/idp.example.com":{"sub":"escaped-key"}}"#,
    r#"{"\u0070ayload":{"sub":"escaped-payload"}}"#,
    r#"{"i":{"sub":"s","realm_access":{"roles":["a","b"]},"exp":1741000000,"nbf":1.5e9,"big":18446744073709551615,"neg":-7,"n":null,"t":true}}"#,
    r#"{"i":{"sub":"deep","x":[[[[[[[[{"y":[1,{"z":"w"}]}]]]]]]]]}}"#,
    r#"{ "spaced" : { "iss" : "a b" , "sub" : "c d" } }"#,
    "{}",
    "[]",
    r#"[{"iss":"in-array","sub":"x"}]"#,
    r#""a string""#,
    "42",
    "-1.5e3",
    "null",
    "true",
    "false",
    r#"{"a":"b"}"#,
    r#"{"a":[]}"#,
    // Invalid: each must fail on both paths with the same message.
    r#"{"iss":"#,
    r#"{"iss":"a",}"#,
    r#"{"iss":"a"} trailing"#,
    r#"{"a":1e400}"#,
    r#"{"a":-1e400}"#,
    r#"{"a":"\ud800"}"#,
    r#"{"a":"\x"}"#,
    r#"{"a":01}"#,
    r#"{"a":tru}"#,
    r"{a:1}",
    r#"{"a":1 "b":2}"#,
    "{\"a\":\"tab\there\"}",
    "{\"i\":{\"sub\":\"s\",\"aud\":[\"a\",]}}",
    r#"{"i":{"sub":"s"}"#,
    "not json",
    "",
    "-",
];

/// Custom formats, tried before the built-in ones.
const CUSTOM_FORMATS: &[&str] = &[
    "%START_TIME(%Y-%m-%dT%H:%M:%S)% 100%% %RESPONSE_CODE% \"%REQ(:AUTHORITY)%\" %REQ(X-B3-TRACEID)% %UPSTREAM_CLUSTER%\n",
    "[%START_TIME%] %RESPONSE_CODE% %RESPONSE_FLAGS% \"%REQ(AUTHORIZATION)%\" \"%REQ(X-REQUEST-ID)%\" %DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%",
    "%RESPONSE_CODE% %DURATION% %BYTES_SENT% \"%REQ(X-FORWARDED-FOR)%\" %DOWNSTREAM_REMOTE_ADDRESS% %UPSTREAM_HOST% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% %CONNECTION_TERMINATION_DETAILS%",
    "%RESPONSE_CODE% \"%REQ(AUTHORIZATION):7%\" \"%REQ(:METHOD)%\" %DYNAMIC_METADATA(envoy.filters.http.jwt_authn)% %DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%",
];

/// Lines for the custom formats, each format's own and some for no format.
const CUSTOM_LINES: &[&str] = &[
    "2025-03-04T12:00:00 100% 204 \"api\" abc outbound|80||web;",
    "2025-03-04T12:00:00 100% 99999 \"api\" abc outbound|80||web;",
    r#"[2025-03-04T12:00:00+02:00] 403 UAEX "Bearer abc.def.ghi" "rid-1" {"iss":"i","sub":"s"}"#,
    r#"[2025-03-04T12:00:00Z] 401 - "   " "rid-2" -"#,
    r#"[not a time] 200 - "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig" "-" {"i":{"sub":"s"}}"#,
    r#"[2025-03-04T12:00:00.000Z] 200 - "Basic dXNlcjpwYXNz" "rid-3" {"bad":"#,
    r#"0 5 100 "198.51.100.7 , 10.0.0.1" 10.0.0.2:5000 10.0.0.3:80 - -"#,
    r#"0 5 100 "" [2001:db8::1]:443 - - upstream_reset"#,
    r#"0 5 100 "-" 2001:db8::1 - 12 -"#,
    r#"503 1 1 " , x" 10.0.0.2 10.0.0.3:80 - -"#,
    r#"200 "Bearer " "GET" {"i":{"sub":"first"}} {"j":{"sub":"second"}}"#,
    r#"200 "Bearer " "GET" {"i":{"sub":"first"}} -"#,
    r#"200 "-" "GET" - [1]"#,
    r#"200 "-" "GET" {"i":{"sub":"first"}} {"#,
];

/// Compares both paths line by line on two parsers that see the same lines.
struct Differential {
    entry_path: LogParser,
    lean_path: LogParser,
    lines: usize,
}

impl Differential {
    fn new(custom: &[&str]) -> Self {
        let formats = || {
            custom
                .iter()
                .map(|source| Format::compile(source).expect("custom format compiles"))
                .collect::<Vec<_>>()
        };
        Self {
            entry_path: LogParser::with_formats(formats()),
            lean_path: LogParser::with_formats(formats()),
            lines: 0,
        }
    }

    fn check(&mut self, line: &str, location: &str, role: HopRole) {
        let expected = self
            .entry_path
            .parse(line)
            .map(|entry| entry.observe(location, role));
        let actual = self.lean_path.parse_observation(line, location, role);
        assert_eq!(actual, expected, "line: {line:?}");
        let expected_alone = parse_line(line).map(|entry| entry.observe(location, role));
        let actual_alone = observe_line(line, location, role);
        assert_eq!(actual_alone, expected_alone, "observe_line: {line:?}");
        self.lines += 1;
        if self.lines.is_multiple_of(64) {
            self.check_state();
        }
    }

    /// Checks the counts, the kept examples and the order of the formats.
    fn check_state(&self) {
        assert_eq!(self.lean_path.stats(), self.entry_path.stats());
        assert_eq!(self.lean_path.formats(), self.entry_path.formats());
    }

    fn finish(self) -> usize {
        self.check_state();
        self.lines
    }
}

/// A small seeded xorshift generator, so that a failure repeats.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % bound.max(1) as u64).expect("fits")
    }
}

/// Returns the raw string constants (`r#"…"#`) of the parser tests.
fn parser_test_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for source_line in PARSER_TESTS.lines() {
        let Some(rest) = source_line.trim_start().strip_prefix("const ") else {
            continue;
        };
        if let Some(start) = rest.find("r#\"") {
            let text = &rest[start + 3..];
            if let Some(end) = text.rfind("\"#") {
                lines.push(text[..end].to_string());
            }
        }
    }
    lines
}

fn demo_line(claims: &str) -> String {
    format!("{DEMO_PREFIX} \"Bearer \" {claims}")
}

/// Returns a copy of `line` with one seeded change.
fn mutate(line: &str, random: &mut Random) -> String {
    let mut bytes = line.as_bytes().to_vec();
    let at = random.below(bytes.len() + 1);
    match random.below(9) {
        0 => bytes.truncate(at),
        1 => {
            let end = (at + random.below(40)).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        2 => bytes.insert(at, b'"'),
        3 => bytes.insert(at, b' '),
        4 => bytes.insert(at, b'-'),
        5 => {
            let end = (at + random.below(12)).min(bytes.len());
            bytes.drain(at..end);
        }
        6 => {
            bytes.splice(at..at, b"99999999999999999999".iter().copied());
        }
        7 => {
            // Replace the first run of digits at or after `at` with an overlong or odd number.
            let start = bytes[at..]
                .iter()
                .position(u8::is_ascii_digit)
                .map(|i| i + at);
            if let Some(start) = start {
                let end = bytes[start..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(bytes.len(), |i| i + start);
                let numbers: [&[u8]; 5] =
                    [b"18446744073709551616", b"65536", b"1e3", b"-1", b"007"];
                let number = numbers[random.below(numbers.len())];
                bytes.splice(start..end, number.iter().copied());
            }
        }
        _ => {
            let pieces: [&[u8]; 6] = [b"{", b"}", b"\\", b"\\u", b"[", b"\t"];
            let piece = pieces[random.below(pieces.len())];
            bytes.splice(at..at, piece.iter().copied());
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn generated_lines() -> Vec<(String, &'static str, HopRole)> {
    envoy_lines::Generator::from_demo()
        .lines(0, 2_000)
        .into_iter()
        .map(|line| (line.text, line.location, line.role))
        .collect()
}

#[test]
fn demo_logs_agree() {
    let mut differential = Differential::new(&[]);
    for (log, role) in [
        (GATEWAY_LOG, HopRole::Gateway),
        (SIDECAR_LOG, HopRole::Sidecar),
    ] {
        for line in log.lines() {
            differential.check(line, "ns/workload", role);
        }
    }
    assert_eq!(
        differential.finish(),
        GATEWAY_LOG.lines().count() + SIDECAR_LOG.lines().count()
    );
}

#[test]
fn generated_lines_agree() {
    let mut differential = Differential::new(&[]);
    for (text, location, role) in generated_lines() {
        differential.check(&text, location, role);
    }
    assert_eq!(differential.finish(), 2_000);
}

#[test]
fn parser_test_lines_agree() {
    let lines = parser_test_lines();
    assert!(lines.len() >= 10, "found {} lines", lines.len());
    let mut differential = Differential::new(&[]);
    for line in &lines {
        differential.check(line, "shop/orders", HopRole::Sidecar);
        differential.check(&format!("{line}\r\n"), "shop/orders", HopRole::Sidecar);
    }
    for line in MIXED_LOG.lines() {
        differential.check(line, "shop/orders", HopRole::Sidecar);
    }
    differential.finish();
}

#[test]
fn odd_lines_agree() {
    let legacy_demo = format!("{}{DEMO_EXTRA_FIELDS}", ISTIO_TEXT_FORMAT_LEGACY.trim_end());
    let cases = [
        String::new(),
        "   \r\n".to_string(),
        "[".to_string(),
        ISTIO_TEXT_FORMAT.to_string(),
        legacy_demo,
        format!("[{}", "a".repeat(300_000)),
        format!(
            "[2025-03-04T12:00:00.000Z] \"GET /api HTTP/1.1\" 403 - x - \"-\" 0 19 0 - \"{}\"",
            "\" \"".repeat(1_000)
        ),
        demo_line(&format!(
            "{{\"iss\":\"{}\",\"sub\":\"s\"}}",
            "x".repeat(300_000)
        )),
        demo_line(&format!("{}1{}", "[".repeat(200), "]".repeat(200))),
        demo_line(&format!(
            "{{\"i\":{}1{}}}",
            "[".repeat(126),
            "]".repeat(126)
        )),
        demo_line(&format!(
            "{{\"i\":{}1{}}}",
            "[".repeat(127),
            "]".repeat(127)
        )),
        demo_line(&format!(
            "{{\"i\":{{\"sub\":\"s\",\"x\":{}1{}}}}}",
            "[".repeat(126),
            "]".repeat(126)
        )),
        r#"{"response_code":200,"jwt_authn":{"https://i":{"sub":"s","aud":["a",1]}}}"#.to_string(),
        r#"{"response_code":200,"jwt_authn":"{\"sub\":\"as-string\"}"}"#.to_string(),
        r#"{"response_code":"abc"}"#.to_string(),
        r#"{"method":"GET","path":"/"}"#.to_string(),
        r#"{"level":"info","msg":"m"}"#.to_string(),
        r#"{"response_code":200,"#.to_string(),
    ];
    let mut differential = Differential::new(&[]);
    for line in &cases {
        differential.check(line, "istio-system/istio-ingressgateway", HopRole::Gateway);
    }
    differential.finish();
}

#[test]
fn claims_agree() {
    let mut differential = Differential::new(&[]);
    for claims in CLAIMS {
        differential.check(&demo_line(claims), "shop/orders", HopRole::Sidecar);
        let json = format!(
            r#"{{"response_code":200,"authorization_scheme":"Bearer","jwt_authn":{}}}"#,
            if claims.is_empty() { "null" } else { claims }
        );
        differential.check(&json, "shop/orders", HopRole::Sidecar);
    }
    differential.finish();
}

#[test]
fn custom_formats_agree() {
    let mut differential = Differential::new(CUSTOM_FORMATS);
    let mut random = Random(0x5eed_cafe);
    for round in 0..20 {
        for line in CUSTOM_LINES {
            let line = if round == 0 {
                (*line).to_string()
            } else {
                mutate(line, &mut random)
            };
            differential.check(&line, "shop/orders", HopRole::Sidecar);
        }
        for claims in CLAIMS {
            differential.check(
                &format!(r#"200 "Bearer " "GET" {claims} {claims}"#),
                "shop/orders",
                HopRole::Sidecar,
            );
        }
    }
    for (text, location, role) in generated_lines().into_iter().take(50) {
        differential.check(&text, location, role);
    }
    differential.finish();
}

#[test]
fn mutated_lines_agree() {
    let mut sources: Vec<String> = parser_test_lines();
    sources.extend(
        GATEWAY_LOG
            .lines()
            .chain(SIDECAR_LOG.lines())
            .map(str::to_string),
    );
    sources.extend(CLAIMS.iter().map(|claims| demo_line(claims)));
    sources.extend(
        generated_lines()
            .into_iter()
            .take(20)
            .map(|(text, _, _)| text),
    );

    let mut random = Random(0x0dd_ba11);
    let mut differential = Differential::new(&[]);
    for _ in 0..15_000 {
        let source = &sources[random.below(sources.len())];
        let mut line = mutate(source, &mut random);
        if random.below(3) == 0 {
            line = mutate(&line, &mut random);
        }
        let role = if random.below(2) == 0 {
            HopRole::Gateway
        } else {
            HopRole::Sidecar
        };
        differential.check(&line, "shop/orders", role);
    }

    let stats = differential.lean_path.stats().clone();
    assert_eq!(differential.finish(), 15_000);
    // The mutations must reach both outcomes, or the comparison proves little.
    assert!(stats.parsed > 1_000, "{stats:?}");
    assert!(stats.malformed > 1_000, "{stats:?}");
}

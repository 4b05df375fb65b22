//! Istio's authz builder golden pairs: for every `NAME-in.yaml`, the filters built here equal the
//! `NAME-out*.yaml` (and `extended-NAME-out*.yaml`) files as data trees, not as text.

use std::path::{Path, PathBuf};
use std::time::Duration;

use idflow::mesh::crd::AuthorizationPolicy;
use idflow::mesh::rbac::config::Filter;
use idflow::mesh::rbac::{BuildSettings, ExtAuthzProvider, ProviderKind, ScopedPolicy, build};
use idflow::mesh::{IstioVersion, MeshSettings, Protocol};
use serde_json::Value;

/// The golden files come from Istio's main branch, which names CUSTOM policies per provider.
const GOLDEN_VERSION: IstioVersion = IstioVersion {
    major: 1,
    minor: 30,
};

fn golden_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/istio-authz-golden");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipped: {} is absent (the shared data folder is not next to this clone)",
            dir.display()
        );
        None
    }
}

fn policies(path: &Path) -> Vec<AuthorizationPolicy> {
    let text = std::fs::read_to_string(path).expect("read input");
    serde_saphyr::from_multiple::<AuthorizationPolicy>(&text).expect("parse input")
}

fn yaml_value(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read golden");
    serde_saphyr::from_str::<Value>(&text).expect("parse golden")
}

/// Returns the trust domain bundle each case uses.
fn mesh_for(case: &str) -> MeshSettings {
    let (td, aliases): (&str, &[&str]) = match case {
        "simple-policy-td-aliases" => ("td1", &["cluster.local"]),
        "simple-policy-multiple-td-aliases" => ("td1", &["cluster.local", "some-td"]),
        "simple-policy-principal-with-wildcard" => ("td1", &["foobar"]),
        "td-aliases-source-principal" => ("new-td", &["old-td", "some-trustdomain"]),
        _ => ("cluster.local", &[]),
    };
    MeshSettings {
        trust_domain: td.to_owned(),
        trust_domain_aliases: aliases.iter().map(|s| (*s).to_owned()).collect(),
        istio_version: GOLDEN_VERSION,
        ..MeshSettings::default()
    }
}

/// Returns the mesh extension provider `default` of the cases: gRPC (2 ms timeout) for
/// `custom-both-http-tcp`, HTTP (10 s) for the others.
fn providers_for(case: &str) -> Vec<ExtAuthzProvider> {
    let (kind, timeout) = if case == "custom-both-http-tcp" {
        (ProviderKind::Grpc, Duration::from_millis(2))
    } else {
        (ProviderKind::Http, Duration::from_secs(10))
    };
    vec![ExtAuthzProvider {
        name: "default".to_owned(),
        kind,
        service: "my-custom-ext-authz.foo.svc.cluster.local".to_owned(),
        port: 9000,
        timeout: Some(timeout),
        fail_open: true,
    }]
}

fn built(
    input: &[AuthorizationPolicy],
    mesh: &MeshSettings,
    protocol: Protocol,
    providers: &[ExtAuthzProvider],
) -> Vec<Value> {
    let scoped: Vec<ScopedPolicy<'_>> = input.iter().map(ScopedPolicy::new).collect();
    let settings = BuildSettings {
        mesh,
        protocol,
        providers,
    };
    build(&scoped, &settings)
        .filters
        .iter()
        .map(|f| serde_json::to_value(f).expect("serialize"))
        .collect()
}

/// Collects every path where the two trees differ, as `a.b[2].c: got X, want Y`.
fn diff(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => diff(&p, gv, wv, out),
                    None => out.push(format!("{p}: missing")),
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{k}: unexpected"));
            }
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                diff(&format!("{path}[{i}]"), gv, wv, out);
            }
        }
        _ if got == want => {}
        _ => out.push(format!("{path}: got {got}, want {want}")),
    }
}

/// Cases this crate cannot build yet, with the reason.
fn expected_files(dir: &Path, case: &str, prefix: &str) -> Vec<PathBuf> {
    let single = dir.join(format!("{prefix}{case}-out.yaml"));
    if single.is_file() {
        return vec![single];
    }
    (1..10)
        .map(|i| dir.join(format!("{prefix}{case}-out{i}.yaml")))
        .take_while(|p| p.is_file())
        .collect()
}

fn compare(label: &str, got: &[Value], wants: &[PathBuf], failures: &mut Vec<String>) {
    if got.len() != wants.len() {
        failures.push(format!(
            "{label}: built {} filters, want {}",
            got.len(),
            wants.len()
        ));
        return;
    }
    for (g, w) in got.iter().zip(wants) {
        let mut d = Vec::new();
        diff("", g, &yaml_value(w), &mut d);
        if !d.is_empty() {
            let name = w
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            failures.push(format!("{label} vs {name}:\n    {}", d.join("\n    ")));
        }
    }
}

fn run_folder(sub: &str, protocol: Protocol) -> (usize, Vec<String>) {
    let Some(root) = golden_dir() else {
        return (0, Vec::new());
    };
    let dir = root.join(sub);
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .expect("list golden folder")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix("-in.yaml")
                .map(str::to_owned)
        })
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        let input = policies(&dir.join(format!("{case}-in.yaml")));
        let got = built(&input, &mesh_for(case), protocol, &providers_for(case));
        for prefix in ["", "extended-"] {
            let wants = expected_files(&dir, case, prefix);
            if prefix == "extended-" && wants.is_empty() {
                continue;
            }
            checked += 1;
            compare(
                &format!("{sub}/{prefix}{case}"),
                &got,
                &wants,
                &mut failures,
            );
        }
    }
    (checked, failures)
}

#[test]
fn golden_http() {
    let (checked, failures) = run_folder("http", Protocol::Http);
    println!("checked {checked} HTTP golden cases");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_tcp() {
    let (checked, failures) = run_folder("tcp", Protocol::Tcp);
    println!("checked {checked} TCP golden cases");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `custom-bad-out.yaml` has no input of its own: Istio builds it from two CUSTOM policies whose
/// provider config is invalid, the same policies as `tcp/custom-only-http-in.yaml`.
#[test]
fn golden_custom_bad_provider() {
    let Some(root) = golden_dir() else {
        return;
    };
    let input = policies(&root.join("tcp/custom-only-http-in.yaml"));
    let got = built(&input, &mesh_for(""), Protocol::Http, &[]);
    let mut failures = Vec::new();
    for prefix in ["", "extended-"] {
        let wants = vec![root.join(format!("http/{prefix}custom-bad-out.yaml"))];
        compare(
            &format!("http/{prefix}custom-bad"),
            &got,
            &wants,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each golden output reads back into the typed config and serializes to the same tree.
#[test]
fn golden_round_trip() {
    let Some(root) = golden_dir() else {
        return;
    };
    let mut failures = Vec::new();
    for sub in ["http", "tcp"] {
        for entry in std::fs::read_dir(root.join(sub)).expect("list").flatten() {
            let path = entry.path();
            if !path.to_string_lossy().contains("-out") {
                continue;
            }
            let want = yaml_value(&path);
            let filter: Filter = match serde_json::from_value(want.clone()) {
                Ok(f) => f,
                Err(e) => {
                    failures.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            let mut d = Vec::new();
            diff(
                "",
                &serde_json::to_value(&filter).expect("serialize"),
                &want,
                &mut d,
            );
            if !d.is_empty() {
                failures.push(format!("{}:\n    {}", path.display(), d.join("\n    ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! Differences between an edge profile and `RequestAuthentication` objects read from files: two
//! files can hold one with the same `NAMESPACE/NAME`, and each difference then names its file.

use std::collections::BTreeSet;

#[path = "what_if/mint.rs"]
mod mint;

use idflow::edge::profile::{Difference, EdgeProfile, PolicyInFile};
use idflow::mesh::crd::RequestAuthentication;
use idflow::mesh::load::load_policies;

fn request_authentication(issuer: &str) -> RequestAuthentication {
    let text = format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n\
         metadata:\n  name: jwt\n  namespace: shop\n\
         spec:\n  jwtRules:\n  - issuer: {issuer}\n    forwardOriginalToken: true\n"
    );
    let mut policies = load_policies(&text, "policy.yaml", "default")
        .unwrap_or_else(|error| panic!("{error}"))
        .request_authentication;
    policies.remove(0)
}

#[test]
fn same_name_differences_name_files() {
    let profile = EdgeProfile::from_toml("[checks]\nissuers = [\"https://a.test\"]\n", "edge.toml")
        .unwrap_or_else(|error| panic!("{error}"));
    let first = request_authentication("https://a.test");
    let second = request_authentication("https://b.test");
    let filed = [
        PolicyInFile {
            policy: &first,
            file: "a.yaml",
        },
        PolicyInFile {
            policy: &second,
            file: "b.yaml",
        },
    ];
    let differences = profile.differences_in_files(&filed, None);
    let not_at_edge = differences
        .iter()
        .find(|difference| difference.code == "issuer_not_at_edge")
        .expect("the second policy's issuer is not accepted at the edge");
    assert_eq!(not_at_edge.subject(), "shop/jwt (b.yaml)");
    assert_eq!(not_at_edge.file.as_deref(), Some("b.yaml"));
    let subjects: BTreeSet<String> = differences
        .iter()
        .filter(|difference| difference.policy.is_some())
        .map(Difference::subject)
        .collect();
    assert_eq!(
        subjects,
        BTreeSet::from([
            "shop/jwt (a.yaml)".to_owned(),
            "shop/jwt (b.yaml)".to_owned()
        ])
    );
}

#[test]
fn distinct_names_keep_plain_subject() {
    let profile = EdgeProfile::from_toml("", "edge.toml").unwrap_or_else(|error| panic!("{error}"));
    let only = request_authentication("https://a.test");
    let filed = [PolicyInFile {
        policy: &only,
        file: "a.yaml",
    }];
    let differences = profile.differences_in_files(&filed, None);
    let issuer = differences
        .iter()
        .find(|difference| difference.code == "issuer_unchecked")
        .expect("the edge accepts any issuer");
    assert_eq!(issuer.subject(), "shop/jwt");
    assert_eq!(issuer.file, None);
}

/// Writes a policy file with one `RequestAuthentication` shop/jwt for `issuer` with the inline
/// `jwks`, and returns its path.
fn policy_file(dir: &std::path::Path, file: &str, issuer: &str, jwks: &str) -> String {
    let text = format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n\
         metadata:\n  name: jwt\n  namespace: shop\n\
         spec:\n  selector:\n    matchLabels:\n      app: orders\n  jwtRules:\n  - issuer: {issuer}\n    jwks: '{jwks}'\n"
    );
    let path = dir.join(file);
    std::fs::write(&path, text).expect("policy file written");
    path.display().to_string()
}

/// A later file's object replaces a same-named one, as a later `kubectl apply` would: decode warns
/// about it, compares the edge with the later one only, and labels its key set with that file.
#[test]
fn decode_later_file_replaces_same_name() {
    let dir = std::env::temp_dir().join(format!("idflow-edge6-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    let first = policy_file(&dir, "a.yaml", mint::ISSUER, &mint::jwks());
    let second = policy_file(&dir, "b.yaml", "https://other.test", r#"{"keys":[]}"#);
    let profile = dir.join("edge.toml");
    std::fs::write(
        &profile,
        format!("[checks]\nissuers = [\"{}\"]\n", mint::ISSUER),
    )
    .expect("profile written");
    let now = chrono::Utc::now().timestamp();
    let token = mint::mint(mint::key(), &mint::claims(mint::ISSUER, "api", now, 3600));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "--policies", &first, "--policies", &second])
        .args(["--workload", "shop/orders", "--edge-profile"])
        .arg(&profile)
        .arg(&token)
        .output()
        .expect("idflow decode runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "RequestAuthentication shop/jwt is defined in {first} and again in {second}; the \
             later definition replaces the earlier one"
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("is defined in").count(),
        1,
        "one notice: {stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "RequestAuthentication shop/jwt ({second}) jwtRules[0]"
        )),
        "the key set names the later file: {stdout}"
    );
    assert!(
        stdout.contains("differences from the mesh (1 RequestAuthentication)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the mesh accepts issuer `https://other.test`"),
        "{stdout}"
    );
}

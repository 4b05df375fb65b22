//! The demo data recorded from a real Envoy and an edge stand-in, embedded in the binary so that
//! `idflow demo` needs no files. `demo/README.md` describes how it was recorded.

use super::Input;

/// The recorded files, by name.
const FILES: [(&str, &str); 3] = [
    (
        "edge.ds2.ndjson",
        include_str!("../../demo/edge.ds2.ndjson"),
    ),
    (
        "istio-system.istio-ingressgateway.log",
        include_str!("../../demo/istio-system.istio-ingressgateway.log"),
    ),
    (
        "shop.orders.log",
        include_str!("../../demo/shop.orders.log"),
    ),
];

/// The Istio objects the recording stands for, as `(name, text)`: the policies of the Token
/// view's what-if.
pub const POLICIES: (&str, &str) = (
    "demo/policies.yaml",
    include_str!("../../demo/policies.yaml"),
);

/// The edge profile of the recording's EdgeWorker stand-in, as `(name, text)`: the Token view's
/// edge column.
pub const EDGE_PROFILE: (&str, &str) = (
    "demo/edge-profile.toml",
    include_str!("../../demo/edge-profile.toml"),
);

/// Returns the embedded demo inputs.
pub fn inputs() -> Vec<Input> {
    FILES
        .iter()
        .map(|(name, text)| Input {
            name: (*name).to_owned(),
            text: (*text).to_owned(),
        })
        .collect()
}

//! Runs `idflow envoy-config` and `idflow check` as a user would.

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// The binary under test: `IDFLOW_BIN` when set (to try another build), else this crate's.
pub fn binary() -> PathBuf {
    std::env::var_os("IDFLOW_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_idflow")),
        PathBuf::from,
    )
}

fn run(args: &[String]) -> Result<(i32, String), String> {
    let output = Command::new(binary())
        .args(args)
        .output()
        .map_err(|error| format!("cannot run idflow: {error}"))?;
    let code = output.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if code == 2 || code < 0 {
        return Err(format!(
            "`idflow {}` failed with exit status {code}: {}",
            args.first().map_or("", String::as_str),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .next()
                .unwrap_or_default()
        ));
    }
    Ok((code, stdout))
}

/// The filters `idflow envoy-config` prints.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub http_filters: Vec<Value>,
    #[serde(default)]
    pub network_filters: Vec<Value>,
}

/// `idflow envoy-config ARGS…`.
pub fn envoy_config(args: &[String]) -> Result<Filters, String> {
    let mut all = vec!["envoy-config".to_owned()];
    all.extend_from_slice(args);
    let (_, stdout) = run(&all)?;
    serde_json::from_str(&stdout).map_err(|error| {
        format!("`idflow envoy-config` printed no filter object ({error}): {stdout}")
    })
}

/// The fields of `idflow check -o json` the comparison reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Verdict {
    pub status: u16,
    pub decision: String,
    pub response_code_details: String,
    /// The deciding policy as `NAMESPACE/NAME`, or `None` when no policy decided.
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub explanation: Vec<Value>,
    /// The exit status (0 allowed, 1 denied).
    #[serde(skip)]
    pub exit: i32,
}

impl Verdict {
    /// The explanation steps, one per line.
    pub fn explain(&self) -> String {
        self.explanation
            .iter()
            .map(|step| {
                let field = |name: &str| {
                    step.get(name).map_or_else(String::new, |v| match v {
                        Value::String(text) => text.clone(),
                        Value::Null => "-".to_owned(),
                        other => other.to_string(),
                    })
                };
                format!(
                    "      {} {} rule {}: {} {}",
                    field("stage"),
                    field("policy"),
                    field("rule"),
                    field("outcome"),
                    field("message")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `idflow check ARGS… -o json`.
pub fn check(args: &[String]) -> Result<Verdict, String> {
    let mut all = vec!["check".to_owned()];
    all.extend_from_slice(args);
    all.extend(["-o".to_owned(), "json".to_owned()]);
    let (exit, stdout) = run(&all)?;
    let mut verdict: Verdict = serde_json::from_str(&stdout)
        .map_err(|error| format!("`idflow check` printed no verdict ({error}): {stdout}"))?;
    verdict.exit = exit;
    Ok(verdict)
}

//! `idflow check` and `idflow envoy-config`: run the mesh simulator on policy files.

use std::collections::BTreeMap;
use std::io::{Read as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::check::{
    CheckArgs, EXIT_ALLOWED, EXIT_DENIED, EnvoyConfigArgs, MeshArgs, NotEvaluated, WorkloadReport,
    kind_word,
};
use super::{OutputFormat, PolicyFiles};
use crate::mesh::check::{Mesh, check, envoy_filters};
use crate::mesh::crd::PolicySet;
use crate::mesh::load::{NoticeKind, load_policies_with_notices, load_policy_file};
use crate::mesh::named;
use crate::mesh::validate::{Severity, validate};
use crate::mesh::{MeshSettings, Verdict, Workload};
use crate::model::Decision;

/// Policies, JWKS and settings read from the flags.
struct Loaded {
    workload: Workload,
    policies: PolicySet,
    jwks: BTreeMap<String, String>,
    settings: MeshSettings,
    /// Warnings about `--workload` and the selectors left out, from the policies' selectors and
    /// namespaces.
    workload_report: WorkloadReport,
}

/// `check -o json`: the verdict, then the selectors that name the workload but were not
/// evaluated.
#[derive(Serialize)]
struct CheckOutput<'a> {
    #[serde(flatten)]
    verdict: &'a Verdict,
    selectors_not_evaluated: &'a [NotEvaluated],
}

fn load(args: &MeshArgs, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Loaded> {
    let mut workload = args.workload()?;
    let settings = args.settings(now)?;
    let files = read_policy_files(&args.files, &workload.namespace)?;
    let policies = files.policies;
    let mut workload_report = args.apply_policy_selectors(&mut workload, &policies);
    workload_report.warnings.splice(0..0, files.notices);
    if policies.authorization.is_empty()
        && policies.request_authentication.is_empty()
        && policies.peer_authentication.is_empty()
    {
        stderr_line!(
            "idflow: warning: no AuthorizationPolicy, RequestAuthentication or PeerAuthentication \
             in the -f files, so the result is that of a workload without policies; check the paths"
        );
    }

    let mut rejected = 0;
    for error in validate(&policies) {
        match error.severity {
            Severity::Error => {
                rejected += 1;
                stderr_line!(
                    "idflow: {} (field {}): {}",
                    error.object,
                    error.field,
                    error.webhook_message()
                );
            }
            Severity::Warning => stderr_line!(
                "idflow: warning: {} (field {}): {}",
                error.object,
                error.field,
                error.message
            ),
        }
    }
    if rejected > 0 {
        anyhow::bail!(
            "{rejected} validation error(s): istiod's webhook would reject these policies, so no verdict is given; fix the fields named above"
        );
    }

    let mut jwks = BTreeMap::new();
    for (key, path) in args.jwks_files()? {
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read the JWKS file {:?} given for {key:?}",
                path.display().to_string()
            )
        })?;
        jwks.insert(key, text);
    }
    workload_report
        .warnings
        .extend(unused_jwks_warnings(&jwks, &policies));
    Ok(Loaded {
        workload,
        policies,
        jwks,
        settings,
        workload_report,
    })
}

/// Reads the `-f` files in order, `-` as standard input. A file named twice (or `-` twice) is
/// read once, so its objects are not reported as defined in two files.
fn read_policy_files(paths: &[PathBuf], namespace: &str) -> anyhow::Result<PolicyFiles> {
    let mut files = PolicyFiles::default();
    let mut read: Vec<PathBuf> = Vec::with_capacity(paths.len());
    for path in paths {
        // A file that cannot be resolved is kept as given; reading it reports the error.
        let identity = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        if read.contains(&identity) {
            continue;
        }
        read.push(identity);
        let (source, loaded) = if path.as_os_str() == STDIN_NAME {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("failed to read the policies from standard input (-f -)")?;
            let source = "standard input".to_owned();
            let loaded = load_policies_with_notices(&text, &source, namespace)?;
            (source, loaded)
        } else {
            let loaded = load_policy_file(path, namespace)?;
            (path.display().to_string(), loaded)
        };
        for notice in &loaded.notices {
            let text = format!("{}: {}: {}", source, notice.object, notice.message);
            // A replaced object changes the verdict, so it is reported with the verdict's
            // warnings, as a replacement across files is.
            if notice.kind == NoticeKind::Replaced {
                files.notices.push(text);
            } else {
                stderr_line!("idflow: {text}");
            }
        }
        files.add(&source, loaded.policies);
    }
    Ok(files)
}

/// Returns a warning for each `--jwks` key that is neither an issuer nor a `jwksUri` of a
/// `jwtRules` entry in the policies, since its keys are then never used (often a typo).
fn unused_jwks_warnings(jwks: &BTreeMap<String, String>, policies: &PolicySet) -> Vec<String> {
    let rules: Vec<_> = policies
        .request_authentication
        .iter()
        .flat_map(|policy| &policy.spec.jwt_rules)
        .collect();
    let mut issuers: Vec<String> = Vec::new();
    for rule in &rules {
        let quoted = format!("{:?}", rule.issuer);
        if !issuers.contains(&quoted) {
            issuers.push(quoted);
        }
    }
    let known = issuers.join(", ");
    jwks.keys()
        .filter(|key| {
            !rules
                .iter()
                .any(|rule| rule.issuer == **key || rule.jwks_uri == **key)
        })
        .map(|key| {
            let existing = if rules.is_empty() {
                "the -f files have no RequestAuthentication jwtRules".to_owned()
            } else {
                format!("the issuers of the -f files are {known}")
            };
            format!(
                "--jwks {key:?} names no issuer or jwksUri of a RequestAuthentication, so its \
                 keys are not used ({existing}). Check the issuer in --jwks ISSUER_OR_URI=FILE"
            )
        })
        .collect()
}

/// Returns a warning when the `--token` value is more than a token: a header line, a value with
/// an authorization scheme, which `--token` adds itself, or a token in quotes. The request then
/// carries `Bearer` and that text, which Envoy rejects.
fn token_scheme_warning(token: &str) -> Option<String> {
    let token = token.trim();
    let header = token
        .split_once(':')
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"));
    let first = token.split([' ', '\t']).next().unwrap_or_default();
    let is_scheme = crate::token::TOKEN_SCHEMES
        .iter()
        .chain(&crate::token::CREDENTIAL_SCHEMES)
        .any(|scheme| first.eq_ignore_ascii_case(scheme))
        && token.len() > first.len();
    let quoted = token.len() > 1
        && ['"', '\'']
            .iter()
            .any(|quote| token.starts_with(*quote) && token.ends_with(*quote));
    let what = if header.is_some() {
        "an `Authorization:` header line".to_owned()
    } else if is_scheme {
        format!("the scheme {first:?}")
    } else if quoted {
        "quotes".to_owned()
    } else {
        return None;
    };
    Some(format!(
        "the --token value starts with {what}, and --token sends `Authorization: Bearer ` and the \
         value as given, so Envoy reads more than the token. Pass the token alone to --token, or \
         the whole header with -H 'Authorization: <scheme> <token>'"
    ))
}

/// The `-f` value that names standard input, as `kubectl apply -f -` takes it.
const STDIN_NAME: &str = "-";

/// Runs `idflow check` and returns the exit status that [`super::check::EXIT_STATUSES`] lists.
pub fn run_check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let now = args.request.now()?;
    let loaded = load(&args.mesh, now)?;
    let request = args.request.request(&args.mesh, &loaded.workload)?;
    let mesh = Mesh {
        policies: &loaded.policies,
        jwks: &loaded.jwks,
        providers: &[],
        settings: &loaded.settings,
    };
    let mut verdict = check(&mesh, &loaded.workload, &request)?;
    verdict
        .warnings
        .extend(loaded.workload_report.warnings.iter().cloned());
    verdict
        .warnings
        .extend(args.request.token.as_deref().and_then(token_scheme_warning));

    let mut out = std::io::stdout().lock();
    let written: anyhow::Result<()> = match args.output {
        OutputFormat::Json | OutputFormat::Ndjson => {
            let output = CheckOutput {
                verdict: &verdict,
                selectors_not_evaluated: &loaded.workload_report.not_evaluated,
            };
            // NDJSON is one object per line, as `replay` and `follow` print it.
            let printed = if args.output == OutputFormat::Ndjson {
                serde_json::to_writer(&mut out, &output)
            } else {
                serde_json::to_writer_pretty(&mut out, &output)
            };
            printed
                .map_err(anyhow::Error::from)
                .and_then(|()| Ok(writeln!(out)?))
        }
        OutputFormat::Text => {
            write_verdict_text(&mut out, &verdict, &loaded.workload).map_err(anyhow::Error::from)
        }
    };
    // A reader that stopped early (`| head`) keeps the verdict's exit status.
    if let Err(error) = written
        && !super::is_broken_pipe(&error)
    {
        return Err(error);
    }
    Ok(ExitCode::from(if verdict.decision == Decision::Allow {
        EXIT_ALLOWED
    } else {
        EXIT_DENIED
    }))
}

/// Runs `idflow envoy-config`: prints the filters as one JSON object, and the warnings `check`
/// would give to standard error, so that the config can be piped to a file.
pub fn run_envoy_config(args: &EnvoyConfigArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(&args.mesh, chrono::Utc::now())?;
    let mesh = Mesh {
        policies: &loaded.policies,
        jwks: &loaded.jwks,
        providers: &[],
        settings: &loaded.settings,
    };
    let filters = envoy_filters(&mesh, &loaded.workload, args.mesh.protocol())?;
    for warning in loaded
        .workload_report
        .warnings
        .iter()
        .chain(&filters.warnings)
    {
        stderr_line!("idflow: warning: {warning}");
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &filters)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

fn write_verdict_text(
    out: &mut impl Write,
    verdict: &Verdict,
    workload: &Workload,
) -> std::io::Result<()> {
    let decision = match verdict.decision {
        Decision::Allow => "ALLOW",
        Decision::Deny => "DENY",
        Decision::Error => "ERROR",
        Decision::Unknown => "UNKNOWN",
    };
    writeln!(out, "{decision} {} at {}", verdict.status, verdict.workload)?;
    writeln!(
        out,
        "  response code details  {}",
        verdict.response_code_details
    )?;
    // The labels decide which selectors match, and they may come from the policies' selectors.

    writeln!(
        out,
        "  workload               {}, labels {}",
        kind_word(workload.kind),
        named::labels_text(&workload.labels)
    )?;
    if let Some(policy) = &verdict.policy {
        let rule = verdict
            .rule
            .map_or_else(String::new, |rule| format!(", rule {rule}"));
        writeln!(out, "  decided by             {policy}{rule}")?;
    }
    if let Some(principal) = &verdict.request_principal {
        writeln!(out, "  request principal      {principal}")?;
    }
    if !verdict.explanation.is_empty() {
        writeln!(out, "Explanation:")?;
    }
    for step in &verdict.explanation {
        let policy = step.policy.as_deref().unwrap_or("-");
        let rule = step
            .rule
            .map_or_else(String::new, |rule| format!(" rule {rule}"));
        writeln!(
            out,
            "  {:<11} {policy}{rule}: {}",
            step.outcome, step.message
        )?;
    }
    for warning in &verdict.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    Ok(())
}

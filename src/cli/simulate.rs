//! `idflow check` and `idflow envoy-config`: run the mesh simulator on policy files.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::check::{CheckArgs, EnvoyConfigArgs, MeshArgs, NotEvaluated, WorkloadReport};
use super::{OutputFormat, PolicyFiles};
use crate::mesh::check::{Mesh, check, envoy_filters};
use crate::mesh::crd::PolicySet;
use crate::mesh::load::load_policy_file;
use crate::mesh::named;
use crate::mesh::validate::{Severity, validate};
use crate::mesh::{MeshSettings, Verdict, Workload, WorkloadKind};
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
    let mut files = PolicyFiles::default();
    for path in &args.files {
        let loaded = load_policy_file(path, &workload.namespace)?;
        for notice in &loaded.notices {
            eprintln!(
                "idflow: {}: {}: {}",
                path.display(),
                notice.object,
                notice.message
            );
        }
        files.add(&path.display().to_string(), loaded.policies);
    }
    let policies = files.policies;
    let mut workload_report = args.apply_policy_selectors(&mut workload, &policies);
    workload_report.warnings.splice(0..0, files.notices);
    if policies.authorization.is_empty()
        && policies.request_authentication.is_empty()
        && policies.peer_authentication.is_empty()
    {
        eprintln!(
            "idflow: warning: no AuthorizationPolicy, RequestAuthentication or PeerAuthentication \
             in the -f files, so the result is that of a workload without policies; check the paths"
        );
    }

    let mut rejected = 0;
    for error in validate(&policies) {
        match error.severity {
            Severity::Error => {
                rejected += 1;
                eprintln!(
                    "idflow: {} (field {}): {}",
                    error.object,
                    error.field,
                    error.webhook_message()
                );
            }
            Severity::Warning => eprintln!(
                "idflow: warning: {} (field {}): {}",
                error.object, error.field, error.message
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
    Ok(Loaded {
        workload,
        policies,
        jwks,
        settings,
        workload_report,
    })
}

/// Runs `idflow check`: exit 0 allowed, 1 denied, 2 on a usage or input error.
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

    let mut out = std::io::stdout().lock();
    let written: anyhow::Result<()> = match args.output {
        OutputFormat::Json | OutputFormat::Ndjson => {
            let output = CheckOutput {
                verdict: &verdict,
                selectors_not_evaluated: &loaded.workload_report.not_evaluated,
            };
            serde_json::to_writer_pretty(&mut out, &output)
                .map_err(anyhow::Error::from)
                .and_then(|()| Ok(writeln!(out)?))
        }
        OutputFormat::Text => Ok(write_verdict_text(&mut out, &verdict, &loaded.workload)?),
    };
    // A reader that stopped early (`| head`) keeps the verdict's exit status.
    if let Err(error) = written
        && !super::is_broken_pipe(&error)
    {
        return Err(error);
    }
    Ok(if verdict.decision == Decision::Allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
        eprintln!("idflow: warning: {warning}");
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

    let kind = match workload.kind {
        WorkloadKind::Sidecar => "sidecar",
        WorkloadKind::Gateway => "gateway",
        WorkloadKind::KubernetesGateway => "kubernetes-gateway",
        WorkloadKind::Waypoint => "waypoint",
    };
    writeln!(
        out,
        "  workload               {kind}, labels {}",
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

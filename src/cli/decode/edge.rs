//! The edge part of `idflow decode --edge-profile`: what the EdgeWorker decides for the token, and
//! how its rules differ from the `RequestAuthentication` objects given with `--policies`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{DecodeArgs, Keys, WorkloadPolicies, read_text};
use crate::cli::PolicyFiles;
use crate::edge::profile::{
    Difference, EdgeDecision, EdgeProfile, KeySource, PastedRequest, PolicyInFile,
    sent_header_value,
};
use crate::mesh::crd::RequestAuthentication;
use crate::mesh::load::load_policy_file;
use crate::token::Inspection;
use crate::token::jwks::Jwks;
use crate::token::keys::{KeySet, SourceKind};

/// Namespace given to policies that name none, as `kubectl apply` would.
const DEFAULT_NAMESPACE: &str = "default";

/// The edge profile, its keys and the mesh rules to compare with, loaded once per run.
pub(super) struct EdgeCheck {
    profile: EdgeProfile,
    keys: Option<KeySet>,
    /// The `RequestAuthentication` objects of `--policies`, each with the file it came from:
    /// with `--workload`, those that cover it.
    policies: Vec<(String, RequestAuthentication)>,
    /// Whether `--workload` was given, so one `jwt_authn` filter contains the rules of all
    /// [`EdgeCheck::policies`].
    for_workload: bool,
}

/// Reads `--policies` and returns the files and the `RequestAuthentication` objects to compare.
/// With `--workload` these are the ones that cover it, else all.
fn compared_policies(
    args: &DecodeArgs,
) -> Result<(PolicyFiles, Vec<RequestAuthentication>), String> {
    if let Some(workload) = &args.workload {
        // `load_policy_keys` has printed the notices of these files.
        let covering = WorkloadPolicies::load(args, workload)?;
        let applied = covering
            .applied
            .request_authentication
            .into_iter()
            .map(|applied| applied.policy)
            .collect();
        return Ok((covering.files, applied));
    }
    let mut files = PolicyFiles::default();
    for path in &args.policies {
        let loaded =
            load_policy_file(path, DEFAULT_NAMESPACE).map_err(|error| error.to_string())?;
        files.add(&path.display().to_string(), loaded.policies);
    }
    for notice in &files.notices {
        stderr_line!("idflow decode: warning: {notice}");
    }
    let all = files.policies.request_authentication.clone();
    Ok((files, all))
}

impl EdgeCheck {
    /// Loads `--edge-profile`, its key source and `--policies`, or returns `None` without
    /// `--edge-profile`. An unreadable file is a usage error. A key source that cannot be fetched
    /// or parsed leaves the EdgeWorker without keys, so the verdict reports an EdgeWorker error.
    pub(super) fn load(args: &DecodeArgs, keys: &mut Keys) -> Result<Option<Self>, String> {
        let Some(path) = &args.edge_profile else {
            return Ok(None);
        };
        let profile = EdgeProfile::load(path)?;
        let edge_keys = load_keys(&profile, args, keys)?;
        let (files, compared) = compared_policies(args)?;
        let for_workload = args.workload.is_some();
        let policies: Vec<(String, RequestAuthentication)> = compared
            .into_iter()
            .map(|policy| {
                let meta = &policy.metadata;
                let object = format!("RequestAuthentication {}/{}", meta.namespace, meta.name);
                let file = files.file_of(&object).unwrap_or_default().to_owned();
                (file, policy)
            })
            .collect();
        // With --workload, `load_policy_keys` has warned when no policy covers it.
        if !args.policies.is_empty() && policies.is_empty() && !for_workload {
            stderr_line!(
                "idflow decode: warning: the --policies files hold no RequestAuthentication, so \
                 there is nothing to compare the edge profile with"
            );
        }
        Ok(Some(Self {
            policies,
            for_workload,
            profile,
            keys: edge_keys,
        }))
    }

    /// Decides for the token in `inspection`, found in the pasted `input`, whose header value the
    /// EdgeWorker reads as sent.
    fn decide(&self, input: &str, inspection: &Inspection, now: DateTime<Utc>) -> EdgeDecision {
        let sent = sent_header_value(input, inspection);
        let path = PastedRequest::parse(input).and_then(|request| request.path());
        self.profile.evaluate_request(
            inspection,
            sent.as_deref(),
            path.as_deref(),
            self.keys.as_ref(),
            now,
        )
    }

    /// Lists how the edge's checks differ from the mesh's, for the token of `inspection` when
    /// there is one.
    fn differences(&self, inspection: Option<&Inspection>) -> Vec<Difference> {
        let policies: Vec<PolicyInFile> = self
            .policies
            .iter()
            .map(|(file, policy)| PolicyInFile { policy, file })
            .collect();
        let token = inspection.map(|inspection| inspection.token.expose());
        if self.for_workload {
            self.profile.workload_differences_in_files(&policies, token)
        } else {
            self.profile.differences_in_files(&policies, token)
        }
    }

    /// Builds the `edge` object of `decode -o json`.
    pub(super) fn json(
        &self,
        input: &str,
        inspection: &Inspection,
        now: DateTime<Utc>,
        show_secrets: bool,
    ) -> Value {
        let decision = self.decide(input, inspection, now);
        self.json_of(&decision, Some(inspection), show_secrets)
    }

    /// Builds the `edge` object for `input`, in which decode found no token, or returns `None`
    /// when `input` is not a request ([`PastedRequest::parse`]).
    pub(super) fn json_without_token(&self, input: &str, now: DateTime<Utc>) -> Option<Value> {
        let decision = self.decide_without_token(input, now)?;
        Some(self.json_of(&decision, None, false))
    }

    fn decide_without_token(&self, input: &str, now: DateTime<Utc>) -> Option<EdgeDecision> {
        let request = PastedRequest::parse(input)?;
        Some(
            self.profile
                .evaluate_without_token(&request, self.keys.as_ref(), now),
        )
    }

    fn json_of(
        &self,
        decision: &EdgeDecision,
        inspection: Option<&Inspection>,
        show_secrets: bool,
    ) -> Value {
        let forwarded: Vec<Value> = decision
            .forwarded_headers
            .iter()
            .map(|header| json!({"name": header.name, "value": header.shown(show_secrets)}))
            .collect();
        json!({
            "profile": self.profile.name,
            "verdict": decision.verdict,
            "status": decision.status,
            "reason": decision.reason,
            "edgeworker_error": decision.edgeworker_error,
            "validated": decision.validated,
            "signature_checked": decision.signature_checked,
            "notes": decision.notes,
            "forwarded_headers": forwarded,
            "policies_compared": self.policies.len(),
            "differences": self.differences(inspection),
        })
    }

    /// Builds the `edge` section of the text output.
    pub(super) fn text(
        &self,
        input: &str,
        inspection: &Inspection,
        now: DateTime<Utc>,
        show_secrets: bool,
    ) -> String {
        let decision = self.decide(input, inspection, now);
        self.text_of(&decision, Some(inspection), show_secrets)
    }

    /// Builds the `edge` section for `input`, in which decode found no token, or returns `None`
    /// as [`EdgeCheck::json_without_token`] does.
    pub(super) fn text_without_token(&self, input: &str, now: DateTime<Utc>) -> Option<String> {
        let decision = self.decide_without_token(input, now)?;
        Some(self.text_of(&decision, None, false))
    }

    fn text_of(
        &self,
        decision: &EdgeDecision,
        inspection: Option<&Inspection>,
        show_secrets: bool,
    ) -> String {
        let mut out = String::new();
        let verdict = serde_json::to_value(decision.verdict)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        let status = decision
            .status
            .map_or_else(|| "request goes on".to_owned(), |status| status.to_string());

        let _ = writeln!(out, "\nedge ({})", self.profile.name);
        let _ = writeln!(out, "  verdict  {verdict} ({status})");
        let _ = writeln!(out, "  reason   {}", decision.reason);
        if let Some(thrown) = &decision.edgeworker_error {
            let _ = writeln!(out, "  throws   {thrown}");
        }
        for note in &decision.notes {
            let _ = writeln!(out, "  note     {note}");
        }
        for header in &decision.forwarded_headers {
            let _ = writeln!(
                out,
                "  forwards {}: {}",
                header.name,
                header.shown(show_secrets)
            );
        }

        let compared = self.policies.len();
        if compared == 0 {
            let _ = writeln!(
                out,
                "  differences: none listed; pass --policies FILE to compare with the mesh's \
                 RequestAuthentications"
            );
            return out;
        }

        let _ = writeln!(
            out,
            "\ndifferences from the mesh ({} RequestAuthentication{})",
            compared,
            if compared == 1 { "" } else { "s" }
        );
        let differences = self.differences(inspection);
        if differences.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for difference in &differences {
            let _ = writeln!(out, "  {}: {}", difference.subject(), difference.message);
        }
        out
    }
}

/// Loads the keys of the profile's key source, or, when it names none, the keys given with the
/// key flags, merged into one set.
fn load_keys(
    profile: &EdgeProfile,
    args: &DecodeArgs,
    keys: &mut Keys,
) -> Result<Option<KeySet>, String> {
    let origin = &profile.origin;
    let warn = |error: String| {
        stderr_line!("idflow decode: warning: edge profile {origin}: {error}");
        None
    };
    Ok(match &profile.key_source {
        Some(KeySource::JwksFile(path)) => {
            // A file that cannot be read is a usage error; one that does not parse leaves the
            // EdgeWorker without keys.
            read_text(&path.display().to_string(), "JWKS file of the edge profile")?;
            profile.local_keys().unwrap_or_else(warn)
        }
        Some(KeySource::JwksUrl(url)) => keys
            .fetch_jwks(
                args,
                SourceKind::Url,
                &crate::redact::hide_url_credentials(url),
                url,
            )
            .map_or_else(warn, Some),
        Some(KeySource::Pem(_) | KeySource::PemFile(_)) => profile.local_keys()?,
        // The EdgeWorker imports the keys in turn and throws at the first that does not fit, so
        // the set of that key alone is kept, and the reason names its file only.
        None => match keys
            .sets
            .iter()
            .find(|set| profile.pem_import_failure(set).is_some())
        {
            Some(failing) => Some(failing.clone()),
            None => merged(&keys.sets),
        },
    })
}

/// Joins the key sets of the key flags into one, as an EdgeWorker given all their keys would hold.
fn merged(sets: &[KeySet]) -> Option<KeySet> {
    let first = sets.first()?;
    let mut jwks = Jwks::default();
    for set in sets {
        for key in &set.jwks.keys {
            let mut key = key.clone();
            key.index = jwks.keys.len();
            jwks.keys.push(key);
        }
    }
    Some(KeySet {
        kind: first.kind,
        label: sets
            .iter()
            .map(|set| set.label.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        url: None,
        jwks,
        istiod_stand_in: None,
    })
}

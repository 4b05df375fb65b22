//! Reading an edge profile from TOML: the file's shape as serde reads it, and errors that name the
//! key, the file and the line, with the fix.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file. Every key is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawProfile {
    pub name: Option<String>,
    pub token: RawToken,
    pub checks: RawChecks,
    pub keys: RawKeys,
    pub response: RawResponse,
    pub forward: RawForward,
}

/// `[token]`: where the EdgeWorker reads the token.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawToken {
    pub header: Option<String>,
    pub query: Option<String>,
    pub cookie: Option<String>,
    pub scheme: Option<String>,
    pub scheme_case_sensitive: Option<bool>,
    pub scheme_required: Option<bool>,
    pub missing: Option<RawMissing>,
    pub public_paths: Vec<String>,
}

/// `token.missing`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawMissing {
    Deny,
    Forward,
}

/// `[checks]`: what the validator compares.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawChecks {
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub skip_absent_claims: Option<bool>,
    pub algorithms: Option<Vec<String>>,
    pub clock_tolerance_seconds: Option<u32>,
    pub check_exp: Option<bool>,
    pub check_nbf: Option<bool>,
}

/// `[keys]`: at most one key source.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawKeys {
    pub jwks: Option<String>,
    pub pem: Option<String>,
    pub pem_file: Option<String>,
    pub pem_algorithm: Option<String>,
}

/// `[response]`: how the EdgeWorker responds.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawResponse {
    pub deny_status: Option<u16>,
    pub missing_status: Option<u16>,
    pub fail_open: Option<bool>,
}

/// `[forward]`: what the next hop receives.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawForward {
    pub keep_token: Option<bool>,
    pub token_header: Option<String>,
    pub token_prefix: Option<String>,
    pub request_id_header: Option<String>,
    pub claims: BTreeMap<String, String>,
}

/// Parses `text`, turning serde's error into one that names the key, `origin` and the line.
pub(super) fn parse_raw(text: &str, origin: &str) -> Result<RawProfile, String> {
    toml::from_str(text).map_err(|error| describe_toml_error(text, origin, &error))
}

fn describe_toml_error(text: &str, origin: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    let Some(span) = error.span() else {
        return format!("{origin}: {message}; fix the TOML and load the profile again");
    };
    let line = line_number(text, span.start);
    let key = key_at(text, span.start);
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (_, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "no other key"));
        return format!(
            "{origin}:{line}: unknown key `{key}`; this section accepts {expected}; remove the key \
             or correct its spelling"
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        let expected = message
            .rsplit_once(", expected ")
            .map_or("the documented type", |(_, expected)| expected);
        return format!(
            "{origin}:{line}: wrong type for `{key}`: {message}; change the value to {expected}"
        );
    }
    if message.starts_with("unknown variant") {
        return format!(
            "{origin}:{line}: invalid value for `{key}`: {message}; use one of the listed values"
        );
    }
    format!("{origin}:{line}: {message} (at `{key}`); fix the TOML syntax on that line")
}

/// Returns the 1-based line of byte `offset` in `text`.
pub(super) fn line_number(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].split(|&byte| byte == b'\n').count()
}

/// Returns the dotted key (`section.key`) whose assignment contains byte `offset`: the nearest
/// `key =` line at or above it, under the nearest `[section]` header above that.
fn key_at(text: &str, offset: usize) -> String {
    let line_index = line_number(text, offset) - 1;
    let lines: Vec<&str> = text.lines().collect();
    let mut key = None;
    let mut section = None;
    for line in lines.iter().take(line_index + 1).rev() {
        let trimmed = line.trim();
        if key.is_none()
            && let Some((name, _)) = trimmed.split_once('=')
            && !trimmed.starts_with('#')
        {
            key = Some(name.trim().trim_matches('"').to_owned());
        }
        if trimmed.starts_with('[') {
            section = Some(trimmed.trim_matches(['[', ']', ' ']).to_owned());
            break;
        }
    }
    match (section, key) {
        (Some(section), Some(key)) => format!("{section}.{key}"),
        (None, Some(key)) => key,
        (Some(section), None) => section,
        (None, None) => "(top level)".to_owned(),
    }
}

/// Returns the 1-based line of `key = …` inside `[section]` (or at the top level when `section`
/// is empty), or of the section header when the key is not written; 1 when neither is found.
pub(super) fn line_of_key(text: &str, section: &str, key: &str) -> usize {
    let mut current = String::new();
    let mut section_line = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            trimmed
                .trim_matches(['[', ']', ' '])
                .clone_into(&mut current);
            if current == section {
                section_line = Some(index + 1);
            }
            continue;
        }
        let Some((name, _)) = trimmed.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_matches('"');
        let dotted = format!("{section}.{key}");
        if (current == section && name == key) || (current.is_empty() && name == dotted) {
            return index + 1;
        }
    }
    section_line.unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_at_section_key() {
        let text = "[token]\nheader = \"a\"\nscheme_required = \"yes\"\n";
        let offset = text.find("\"yes\"").unwrap_or_default();
        assert_eq!(key_at(text, offset), "token.scheme_required");
    }

    #[test]
    fn line_of_key_dotted_top_level() {
        let text = "name = \"x\"\ntoken.header = \"a\"\n";
        assert_eq!(line_of_key(text, "token", "header"), 2);
    }
}

//! Loading Istio security policies from YAML or JSON text: multi-document YAML, a JSON object, a
//! JSON array, or a Kubernetes `List`.
//!
//! Only `security.istio.io/v1` and `v1beta1` are accepted: the Istio CRDs serve no other version
//! of AuthorizationPolicy, RequestAuthentication or PeerAuthentication. Other kinds (a Service in
//! the same file) are skipped and reported as notices. Unknown spec fields are errors, as they are
//! for istiod's validating webhook and the API server's strict field validation.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use super::crd::{
    AuthorizationPolicy, ObjectMeta, PeerAuthentication, PolicySet, RequestAuthentication,
};
use super::load_schema::{
    SchemaProblem, authorization_spec, check_object, object_fields, peer_authentication_spec,
    request_authentication_spec,
};
use crate::redact::excerpt;

const GROUP: &str = "security.istio.io";
const SERVED_VERSIONS: [&str; 2] = ["v1", "v1beta1"];
const POLICY_KINDS: [&str; 3] = [
    "AuthorizationPolicy",
    "RequestAuthentication",
    "PeerAuthentication",
];

/// Error from loading a policy file.
#[derive(Debug, Error)]
pub enum LoadError {
    // The cause is in the message and not a `#[source]`, so that `{:#}` prints it once.
    #[error("cannot read policy file \"{path}\": {error}; check the path and that it is readable")]
    Read { path: String, error: std::io::Error },
    #[error("{0}")]
    Invalid(Box<InvalidDocument>),
}

/// The location and reason of one rejected document or object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDocument {
    pub source_name: String,
    /// 1-based index of the YAML document (always 1 for JSON).
    pub document: usize,
    /// 1-based index in a JSON array or a `List`'s `items`.
    pub item: Option<usize>,
    /// 1-based line in the whole text, when known.
    pub line: Option<u64>,
    /// `Kind namespace/name`, when the object got that far.
    pub object: Option<String>,
    /// Dotted path of the offending field.
    pub field: Option<String>,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for InvalidDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.source_name, self.document)?;
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if let Some(object) = &self.object {
            write!(f, ", {object}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}; {}", self.problem, self.fix)
    }
}

/// Something the loader did that the user should know about, without failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadNotice {
    pub document: usize,
    pub item: Option<usize>,
    /// `Kind namespace/name` of the object concerned.
    pub object: String,
    pub kind: NoticeKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// An object of another kind was skipped.
    SkippedKind,
    /// A field Istio accepts was ignored because the simulator does not model it.
    UnmodelledField,
    /// A later object with the same kind, namespace and name replaced an earlier one.
    Replaced,
}

impl fmt::Display for LoadNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        write!(f, ", {}: {}", self.object, self.message)
    }
}

/// Policies loaded from one text, with the notices about what was skipped or ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedPolicies {
    pub policies: PolicySet,
    pub notices: Vec<LoadNotice>,
    /// Objects of other kinds that were skipped.
    pub skipped: usize,
}

/// Loads the security policies in `text`; objects without a namespace get `default_namespace`.
/// Use [`load_policies_with_notices`] to learn what was skipped.
pub fn load_policies(
    text: &str,
    source_name: &str,
    default_namespace: &str,
) -> Result<PolicySet, LoadError> {
    load_policies_with_notices(text, source_name, default_namespace).map(|loaded| loaded.policies)
}

/// Reads and loads one policy file; the file name is used in errors.
pub fn load_policy_file(path: &Path, default_namespace: &str) -> Result<LoadedPolicies, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
        path: path.display().to_string(),
        error,
    })?;
    load_policies_with_notices(&text, &path.display().to_string(), default_namespace)
}

/// Loads the security policies in `text` and reports skipped kinds and ignored fields.
pub fn load_policies_with_notices(
    text: &str,
    source_name: &str,
    default_namespace: &str,
) -> Result<LoadedPolicies, LoadError> {
    let mut loader = Loader {
        source_name,
        default_namespace,
        loaded: LoadedPolicies::default(),
    };
    for document in parse_documents(text, source_name)? {
        loader.add_document(&document)?;
    }
    Ok(loader.loaded)
}

/// One parsed document and where it starts.
struct Document {
    index: usize,
    /// 0-based line of the document's first line in the whole text.
    first_line: u64,
    text: String,
    value: Value,
}

fn parse_documents(text: &str, source_name: &str) -> Result<Vec<Document>, LoadError> {
    let start = text.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            invalid(InvalidDocument {
                source_name: source_name.to_owned(),
                document: 1,
                item: None,
                line: u64::try_from(err.line()).ok().filter(|line| *line > 0),
                object: None,
                field: None,
                problem: format!("invalid JSON: {err}"),
                fix: "fix the JSON syntax at that line".to_owned(),
            })
        })?;
        return Ok(vec![Document {
            index: 1,
            first_line: 0,
            text: text.to_owned(),
            value,
        }]);
    }

    let mut documents = Vec::new();
    for (first_line, chunk) in split_yaml_documents(text) {
        if !has_content(&chunk) {
            continue;
        }
        let index = documents.len() + 1;
        let value: Value = serde_saphyr::from_str(&chunk).map_err(|err| {
            let line = err.location().map(|at| at.line() + first_line);
            invalid(InvalidDocument {
                source_name: source_name.to_owned(),
                document: index,
                item: None,
                line,
                object: None,
                field: None,
                problem: format!("invalid YAML: {}", first_line_of(&err.to_string())),
                fix: "fix the YAML syntax at that line (indentation, a missing `:` or an unclosed quote)"
                    .to_owned(),
            })
        })?;
        documents.push(Document {
            index,
            first_line,
            text: chunk,
            value,
        });
    }
    Ok(documents)
}

/// Splits YAML text at `---` document markers, keeping each document's starting line so parser
/// line numbers can be mapped back to the whole text.
fn split_yaml_documents(text: &str) -> Vec<(u64, String)> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut first_line = 0_u64;
    for (number, line) in (0_u64..).zip(text.lines()) {
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_marker {
            documents.push((first_line, std::mem::take(&mut current)));
            first_line = number;
            // Content after the marker belongs to the new document; blanks keep its columns.
            current.push_str("   ");
            current.push_str(&line[3..]);
            current.push('\n');
        } else if line == "..." {
            current.push('\n');
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    documents.push((first_line, current));
    documents
}

fn has_content(chunk: &str) -> bool {
    chunk.lines().any(|line| {
        let trimmed = line.trim();
        !trimmed.is_empty() && !trimmed.starts_with('#') && !trimmed.starts_with('%')
    })
}

fn first_line_of(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

fn invalid(document: InvalidDocument) -> LoadError {
    LoadError::Invalid(Box::new(document))
}

struct Loader<'a> {
    source_name: &'a str,
    default_namespace: &'a str,
    loaded: LoadedPolicies,
}

/// An object's position: its document and, inside a list, its item.
#[derive(Clone, Copy)]
struct Place<'d> {
    document: &'d Document,
    item: Option<usize>,
}

impl Loader<'_> {
    fn add_document(&mut self, document: &Document) -> Result<(), LoadError> {
        let place = Place {
            document,
            item: None,
        };
        match &document.value {
            Value::Null => Ok(()),
            Value::Array(items) => self.add_items(items, document),
            Value::Object(map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                match map.get("items") {
                    Some(Value::Array(items)) => self.add_items(items, document),
                    None | Some(Value::Null) => Ok(()),
                    Some(other) => Err(self.error(
                        place,
                        None,
                        Some("items"),
                        format!("`items` is {} where a list is required", kind_of(other)),
                        "write the objects as a list under `items`",
                    )),
                }
            }
            value => self.add_object(value, place),
        }
    }

    fn add_items(&mut self, items: &[Value], document: &Document) -> Result<(), LoadError> {
        for (i, item) in items.iter().enumerate() {
            let place = Place {
                document,
                item: Some(i + 1),
            };
            self.add_object(item, place)?;
        }
        Ok(())
    }

    fn add_object(&mut self, value: &Value, place: Place<'_>) -> Result<(), LoadError> {
        let Value::Object(map) = value else {
            return Err(self.error(
                place,
                None,
                None,
                format!(
                    "found {} where a Kubernetes object is required",
                    kind_of(value)
                ),
                "each document needs `apiVersion`, `kind`, `metadata` and `spec`",
            ));
        };
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
        let api_version = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let namespace = map
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .unwrap_or(self.default_namespace);
        let object = format!("{} {namespace}/{name}", or_unknown(kind));

        if kind.is_empty() {
            return Err(self.error(
                place,
                None,
                Some("kind"),
                "missing `kind`".to_owned(),
                "add `kind: AuthorizationPolicy` (or RequestAuthentication, PeerAuthentication)",
            ));
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        if !POLICY_KINDS.contains(&kind) {
            self.loaded.skipped += 1;
            self.notice(
                place,
                object,
                NoticeKind::SkippedKind,
                format!("skipped: {kind} is not a security policy"),
            );
            return Ok(());
        }
        if group != GROUP || !SERVED_VERSIONS.contains(&version) {
            return Err(self.error(
                place,
                Some(&object),
                Some("apiVersion"),
                format!(
                    "apiVersion \"{}\" does not serve {kind}: Istio serves it only as {GROUP}/v1 and {GROUP}/v1beta1",
                    excerpt(api_version, 60)
                ),
                &format!("write `apiVersion: {GROUP}/v1`"),
            ));
        }
        if name.is_empty() {
            return Err(self.error(
                place,
                Some(&object),
                Some("metadata.name"),
                "missing `metadata.name`".to_owned(),
                "give the object a name",
            ));
        }

        self.add_policy(value, place, kind, &object, namespace)
    }

    /// Checks a security policy against the schema and stores it.
    fn add_policy(
        &mut self,
        value: &Value,
        place: Place<'_>,
        kind: &str,
        object: &str,
        namespace: &str,
    ) -> Result<(), LoadError> {
        let spec = match kind {
            "AuthorizationPolicy" => authorization_spec(),
            "RequestAuthentication" => request_authentication_spec(),
            _ => peer_authentication_spec(),
        };
        let mut ignored_paths = Vec::new();
        check_object(value, &object_fields(spec), "", &mut ignored_paths)
            .map_err(|problem| self.schema_error(place, object, problem))?;
        // Server-side metadata (`uid`, `managedFields` …) is in every object read from a cluster and
        // never changes a verdict, so only spec fields are worth a notice.
        for path in ignored_paths
            .into_iter()
            .filter(|path| !path.starts_with("metadata"))
        {
            self.notice(
                place,
                object.to_owned(),
                NoticeKind::UnmodelledField,
                format!("field `{path}` is accepted by Istio but not modelled by the simulator, so verdicts ignore it"),
            );
        }

        match kind {
            "AuthorizationPolicy" => self.store::<AuthorizationPolicy>(
                value,
                place,
                object,
                namespace,
                |p| &mut p.metadata,
                |set| &mut set.authorization,
            ),
            "RequestAuthentication" => self.store::<RequestAuthentication>(
                value,
                place,
                object,
                namespace,
                |p| &mut p.metadata,
                |set| &mut set.request_authentication,
            ),
            _ => self.store::<PeerAuthentication>(
                value,
                place,
                object,
                namespace,
                |p| &mut p.metadata,
                |set| &mut set.peer_authentication,
            ),
        }
    }

    /// Converts `value` into the CRD type and adds it, replacing an earlier object with the same
    /// namespace and name.
    fn store<T: DeserializeOwned>(
        &mut self,
        value: &Value,
        place: Place<'_>,
        object: &str,
        namespace: &str,
        meta: fn(&mut T) -> &mut ObjectMeta,
        list: fn(&mut PolicySet) -> &mut Vec<T>,
    ) -> Result<(), LoadError> {
        let mut policy: T = self.convert(value, place, object)?;
        namespace.clone_into(&mut meta(&mut policy).namespace);
        let key = (
            meta(&mut policy).namespace.clone(),
            meta(&mut policy).name.clone(),
        );
        let policies = list(&mut self.loaded.policies);
        let existing = policies.iter_mut().position(|p| {
            let m = meta(p);
            m.namespace == key.0 && m.name == key.1
        });
        if let Some(index) = existing {
            policies[index] = policy;
            self.notice(
                place,
                object.to_owned(),
                NoticeKind::Replaced,
                "defined again; this later definition replaces the earlier one, as `kubectl apply` would"
                    .to_owned(),
            );
        } else {
            policies.push(policy);
        }
        Ok(())
    }

    fn convert<T: DeserializeOwned>(
        &self,
        value: &Value,
        place: Place<'_>,
        object: &str,
    ) -> Result<T, LoadError> {
        // The schema check above has accepted every field, so this fails only on shapes the
        // schema does not describe.
        serde_json::from_value(value.clone()).map_err(|err| {
            self.error(
                place,
                Some(object),
                None,
                format!("cannot read the object: {err}"),
                "compare it with the CRD's field types",
            )
        })
    }

    fn schema_error(&self, place: Place<'_>, object: &str, problem: SchemaProblem) -> LoadError {
        let mut error = self.error(
            place,
            Some(object),
            Some(&problem.field),
            problem.problem,
            &problem.fix,
        );
        if let LoadError::Invalid(details) = &mut error {
            details.line = line_of_key(&place.document.text, &problem.key)
                .map(|line| line + place.document.first_line);
        }
        error
    }

    fn error(
        &self,
        place: Place<'_>,
        object: Option<&str>,
        field: Option<&str>,
        problem: String,
        fix: &str,
    ) -> LoadError {
        invalid(InvalidDocument {
            source_name: self.source_name.to_owned(),
            document: place.document.index,
            item: place.item,
            line: None,
            object: object.map(str::to_owned),
            field: field.map(str::to_owned),
            problem,
            fix: fix.to_owned(),
        })
    }

    fn notice(&mut self, place: Place<'_>, object: String, kind: NoticeKind, message: String) {
        self.loaded.notices.push(LoadNotice {
            document: place.document.index,
            item: place.item,
            object,
            kind,
            message,
        });
    }
}

/// Finds the 1-based line of the first mapping key `key` in a document (YAML `key:` or JSON
/// `"key":`). This is a text search, so it can point at an earlier key of the same name.
fn line_of_key(text: &str, key: &str) -> Option<u64> {
    if key.is_empty() {
        return None;
    }
    let yaml = format!("{key}:");
    let json = format!("\"{key}\"");
    (1_u64..).zip(text.lines()).find_map(|(number, line)| {
        let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
        let quoted = trimmed.trim_start_matches(['"', '\'']);
        let found = trimmed.starts_with(&yaml)
            || quoted.starts_with(&yaml)
            || line.contains(&json)
            || line.contains(&format!("{{{yaml}"))
            || line.contains(&format!(", {yaml}"))
            || line.contains(&format!("{{ {yaml}"));
        found.then_some(number)
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn or_unknown(kind: &str) -> &str {
    if kind.is_empty() { "object" } else { kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_lines() {
        let docs = split_yaml_documents("a: 1\n---\nb: 2\n--- \nc: 3\n");
        let starts: Vec<u64> = docs.iter().map(|(line, _)| *line).collect();
        assert_eq!(starts, vec![0, 1, 3]);
    }

    #[test]
    fn key_line_found() {
        assert_eq!(line_of_key("a: 1\nspec:\n  - foo: 2\n", "foo"), Some(3));
    }
}

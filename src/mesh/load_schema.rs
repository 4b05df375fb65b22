//! The field schema of the three `security.istio.io` kinds, used to reject what istiod and the API
//! server reject before serde fills the CRD types (which ignore unknown fields).
//!
//! The schema follows the CRDs of istio/api (camelCase names, every field typed). A field that
//! Istio accepts but the simulator does not model is marked, so the loader can report it as ignored.

use serde_json::Value;

use crate::redact::excerpt;

/// The type a field must have.
pub(crate) enum Ty {
    Str,
    Bool,
    /// A string from a fixed set (protobuf enums are written in capitals).
    Enum(&'static [&'static str]),
    List(&'static Ty),
    Obj(&'static [Field]),
    /// A map from strings to strings (labels, annotations).
    StrMap,
    /// A map from strings to values of one type.
    Map(&'static Ty),
    /// Any value: kept by the API server, never read here.
    Any,
}

pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    /// False for fields Istio accepts that the simulator ignores.
    pub modelled: bool,
}

const fn field(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        modelled: true,
    }
}

const fn ignored(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        modelled: false,
    }
}

const STR_LIST: Ty = Ty::List(&Ty::Str);

static SELECTOR: &[Field] = &[field("matchLabels", Ty::StrMap)];

static TARGET_REF: &[Field] = &[
    field("group", Ty::Str),
    field("kind", Ty::Str),
    field("name", Ty::Str),
    field("namespace", Ty::Str),
];

static SOURCE: &[Field] = &[
    field("principals", STR_LIST),
    field("notPrincipals", STR_LIST),
    field("requestPrincipals", STR_LIST),
    field("notRequestPrincipals", STR_LIST),
    field("namespaces", STR_LIST),
    field("notNamespaces", STR_LIST),
    field("serviceAccounts", STR_LIST),
    field("notServiceAccounts", STR_LIST),
    field("ipBlocks", STR_LIST),
    field("notIpBlocks", STR_LIST),
    field("remoteIpBlocks", STR_LIST),
    field("notRemoteIpBlocks", STR_LIST),
    // Istio 1.30 and later ("extended" CRD channel).
    field("trustDomains", STR_LIST),
    field("notTrustDomains", STR_LIST),
];

static OPERATION: &[Field] = &[
    field("hosts", STR_LIST),
    field("notHosts", STR_LIST),
    field("ports", STR_LIST),
    field("notPorts", STR_LIST),
    field("methods", STR_LIST),
    field("notMethods", STR_LIST),
    field("paths", STR_LIST),
    field("notPaths", STR_LIST),
];

static CONDITION: &[Field] = &[
    field("key", Ty::Str),
    field("values", STR_LIST),
    field("notValues", STR_LIST),
];

static RULE: &[Field] = &[
    field(
        "from",
        Ty::List(&Ty::Obj(&[field("source", Ty::Obj(SOURCE))])),
    ),
    field(
        "to",
        Ty::List(&Ty::Obj(&[field("operation", Ty::Obj(OPERATION))])),
    ),
    field("when", Ty::List(&Ty::Obj(CONDITION))),
];

static AUTHORIZATION_SPEC: &[Field] = &[
    field("selector", Ty::Obj(SELECTOR)),
    field("targetRef", Ty::Obj(TARGET_REF)),
    field("targetRefs", Ty::List(&Ty::Obj(TARGET_REF))),
    field("rules", Ty::List(&Ty::Obj(RULE))),
    field("action", Ty::Enum(&["ALLOW", "DENY", "AUDIT", "CUSTOM"])),
    field("provider", Ty::Obj(&[field("name", Ty::Str)])),
];

static JWT_RULE: &[Field] = &[
    field("issuer", Ty::Str),
    field("audiences", STR_LIST),
    field("jwksUri", Ty::Str),
    field("jwks", Ty::Str),
    field(
        "fromHeaders",
        Ty::List(&Ty::Obj(&[
            field("name", Ty::Str),
            field("prefix", Ty::Str),
        ])),
    ),
    field("fromParams", STR_LIST),
    field("fromCookies", STR_LIST),
    field("outputPayloadToHeader", Ty::Str),
    field("forwardOriginalToken", Ty::Bool),
    field(
        "outputClaimToHeaders",
        Ty::List(&Ty::Obj(&[
            field("header", Ty::Str),
            field("claim", Ty::Str),
        ])),
    ),
    field("timeout", Ty::Str),
    field("spaceDelimitedClaims", STR_LIST),
];

static REQUEST_AUTHENTICATION_SPEC: &[Field] = &[
    field("selector", Ty::Obj(SELECTOR)),
    field("targetRef", Ty::Obj(TARGET_REF)),
    field("targetRefs", Ty::List(&Ty::Obj(TARGET_REF))),
    field("jwtRules", Ty::List(&Ty::Obj(JWT_RULE))),
];

static MTLS: &[Field] = &[field(
    "mode",
    Ty::Enum(&["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]),
)];

static PEER_AUTHENTICATION_SPEC: &[Field] = &[
    field("selector", Ty::Obj(SELECTOR)),
    field("mtls", Ty::Obj(MTLS)),
    field("portLevelMtls", Ty::Map(&Ty::Obj(MTLS))),
];

static METADATA: &[Field] = &[
    field("name", Ty::Str),
    field("namespace", Ty::Str),
    field("labels", Ty::StrMap),
    field("annotations", Ty::StrMap),
    ignored("generateName", Ty::Str),
    ignored("uid", Ty::Str),
    ignored("resourceVersion", Ty::Str),
    ignored("generation", Ty::Any),
    field("creationTimestamp", Ty::Str),
    ignored("deletionTimestamp", Ty::Any),
    ignored("deletionGracePeriodSeconds", Ty::Any),
    ignored("ownerReferences", Ty::Any),
    ignored("finalizers", Ty::Any),
    ignored("managedFields", Ty::Any),
    ignored("selfLink", Ty::Any),
];

/// Returns the top-level fields of an object whose spec has the fields `spec`.
pub(crate) fn object_fields(spec: &'static [Field]) -> [Field; 5] {
    [
        field("apiVersion", Ty::Str),
        field("kind", Ty::Str),
        field("metadata", Ty::Obj(METADATA)),
        field("spec", Ty::Obj(spec)),
        field("status", Ty::Any),
    ]
}

pub(crate) fn authorization_spec() -> &'static [Field] {
    AUTHORIZATION_SPEC
}

pub(crate) fn request_authentication_spec() -> &'static [Field] {
    REQUEST_AUTHENTICATION_SPEC
}

pub(crate) fn peer_authentication_spec() -> &'static [Field] {
    PEER_AUTHENTICATION_SPEC
}

/// A value that does not fit the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaProblem {
    /// Dotted path, e.g. `spec.rules[0].from[0].source.requestPrincipal`.
    pub field: String,
    pub problem: String,
    pub fix: String,
    /// The last key of the path, to find its line in the text.
    pub key: String,
}

/// Walks `value` against `fields`: returns the first problem, and collects the paths of fields
/// that are accepted but not modelled.
pub(crate) fn check_object(
    value: &Value,
    fields: &[Field],
    path: &str,
    ignored_paths: &mut Vec<String>,
) -> Result<(), SchemaProblem> {
    let Value::Object(map) = value else {
        return Err(type_problem(path, value, "an object"));
    };
    for (key, child) in map {
        let child_path = join(path, key);
        let Some(known) = fields.iter().find(|f| f.name == key) else {
            return Err(unknown_field(&child_path, key, fields));
        };
        if !known.modelled && !child.is_null() {
            ignored_paths.push(child_path.clone());
        }
        check_value(child, &known.ty, &child_path, key, ignored_paths)?;
    }
    Ok(())
}

fn check_value(
    value: &Value,
    ty: &Ty,
    path: &str,
    key: &str,
    ignored_paths: &mut Vec<String>,
) -> Result<(), SchemaProblem> {
    // The API server treats an explicit null like an absent field.
    if value.is_null() {
        return Ok(());
    }
    let with_key = |mut problem: SchemaProblem| {
        if problem.key.is_empty() {
            key.clone_into(&mut problem.key);
        }
        problem
    };
    match ty {
        Ty::Any => Ok(()),
        Ty::Str if value.is_string() => Ok(()),
        Ty::Str => Err(with_key(type_problem(path, value, "a string"))),
        Ty::Bool if value.is_boolean() => Ok(()),
        Ty::Bool => Err(with_key(type_problem(path, value, "a boolean"))),
        Ty::Enum(allowed) => match value.as_str() {
            Some(text) if allowed.contains(&text) => Ok(()),
            _ => Err(SchemaProblem {
                field: path.to_owned(),
                problem: format!("{} is not one of {}", describe(value), allowed.join(", ")),
                fix: format!("write one of {} (in capitals)", allowed.join(", ")),
                key: key.to_owned(),
            }),
        },
        Ty::List(item) => {
            let Value::Array(items) = value else {
                return Err(with_key(type_problem(path, value, "a list")));
            };
            for (i, child) in items.iter().enumerate() {
                check_value(child, item, &format!("{path}[{i}]"), key, ignored_paths)?;
            }
            Ok(())
        }
        Ty::Obj(fields) => check_object(value, fields, path, ignored_paths).map_err(with_key),
        Ty::StrMap => check_map(value, &Ty::Str, path, key, ignored_paths),
        Ty::Map(inner) => check_map(value, inner, path, key, ignored_paths),
    }
}

fn check_map(
    value: &Value,
    inner: &Ty,
    path: &str,
    key: &str,
    ignored_paths: &mut Vec<String>,
) -> Result<(), SchemaProblem> {
    let Value::Object(map) = value else {
        let mut problem = type_problem(path, value, "a map");
        key.clone_into(&mut problem.key);
        return Err(problem);
    };
    for (name, child) in map {
        check_value(child, inner, &join(path, name), name, ignored_paths)?;
    }
    Ok(())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn unknown_field(path: &str, key: &str, fields: &[Field]) -> SchemaProblem {
    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
    let closest = names
        .iter()
        .copied()
        .filter(|name| similar(name, key))
        .min_by_key(|name| name.len().abs_diff(key.len()));
    let fix = match closest {
        Some(name) => format!(
            "did you mean `{name}`? Known fields here: {}",
            names.join(", ")
        ),
        None => format!("remove it; known fields here: {}", names.join(", ")),
    };
    SchemaProblem {
        field: path.to_owned(),
        problem: "unknown field (istiod and the API server reject it)".to_owned(),
        fix,
        key: key.to_owned(),
    }
}

/// Tells whether two field names differ only by case, a plural `s` or one character.
fn similar(known: &str, typed: &str) -> bool {
    let known = known.to_ascii_lowercase();
    let typed = typed.to_ascii_lowercase();
    if known == typed || known.trim_end_matches('s') == typed.trim_end_matches('s') {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (known.chars().collect(), typed.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    prefix + suffix + 1 >= a.len().max(b.len())
}

fn type_problem(path: &str, value: &Value, expected: &str) -> SchemaProblem {
    let fix = match (expected, value) {
        ("a string", Value::Number(_) | Value::Bool(_)) => {
            format!("quote it: \"{value}\"")
        }
        ("a list", Value::String(text)) => {
            format!("write it as a list: [\"{}\"]", excerpt(text, 60))
        }
        _ => format!("write {expected} here"),
    };
    SchemaProblem {
        field: path.to_owned(),
        problem: format!("{} where {expected} is required", describe(value)),
        fix,
        key: String::new(),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("\"{}\"", excerpt(s, 60)),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

//! `Status` objects exactly as kube-apiserver writes them for failures.

use serde_json::{Value, json};

/// Builds a failure `Status` (`kind: Status`, `apiVersion: v1`, `status: Failure`).
pub fn failure(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(details) = details {
        status["details"] = details;
    }
    status
}

/// 401 for a missing or wrong bearer token; the real server names no resource.
pub fn unauthorized() -> Value {
    failure(401, "Unauthorized", "Unauthorized", None)
}

/// 404 for a named object, e.g. `pods "orders-1" not found`.
pub fn not_found(group: &str, plural: &str, name: &str) -> Value {
    let qualified = qualified(group, plural);
    failure(
        404,
        "NotFound",
        &format!("{qualified} \"{name}\" not found"),
        Some(details(group, plural, name)),
    )
}

/// 404 for a path the server does not serve (an absent group, version or resource).
pub fn no_such_resource() -> Value {
    failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

/// 403 as the RBAC authorizer words it, e.g. for `get` on `pods/log`.
pub fn forbidden(user: &str, verb: &str, resource: &str, name: &str, namespace: &str) -> Value {
    let (plural, _) = resource.split_once('/').unwrap_or((resource, ""));
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{namespace}\"")
    };
    let subject = if name.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural} \"{name}\"")
    };
    failure(
        403,
        "Forbidden",
        &format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"\" {scope}"
        ),
        Some(details("", plural, name)),
    )
}

/// 400 with the given message (bad selectors, unknown containers).
pub fn bad_request(message: &str) -> Value {
    failure(400, "BadRequest", message, None)
}

/// 410 `Expired`, as the watch cache returns for a resource version older than its history.
pub fn too_old(requested: u64, oldest: u64) -> Value {
    failure(
        410,
        "Expired",
        &format!("too old resource version: {requested} ({oldest})"),
        None,
    )
}

/// 410 `Expired` for a list `continue` token whose snapshot was compacted.
pub fn continue_expired() -> Value {
    failure(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        None,
    )
}

/// 405 for any verb but GET: the fake server is read-only over HTTP.
pub fn method_not_allowed() -> Value {
    failure(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Some(json!({})),
    )
}

fn details(group: &str, plural: &str, name: &str) -> Value {
    let mut details = json!({ "name": name, "kind": plural });
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    details
}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

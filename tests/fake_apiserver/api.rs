//! Get, list and watch on the served resource types.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::http::{self, Body, Frames};
use super::resources::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::state::{Change, ChangeKind, ClusterState, ObjectKey, Signal};
use super::status;

/// The collection a list or watch reads: one type at one version, in one namespace or all.
pub struct Collection {
    pub ty: &'static ResourceType,
    pub version: String,
    /// Empty for all namespaces (or a cluster-scoped type).
    pub namespace: String,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Collection {
    pub fn new(
        ty: &'static ResourceType,
        version: &str,
        namespace: &str,
        query: &[(String, String)],
    ) -> Result<Self, String> {
        Ok(Self {
            ty,
            version: version.to_owned(),
            namespace: namespace.to_owned(),
            labels: LabelSelector::parse(param(query, "labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(
                param(query, "fieldSelector").unwrap_or(""),
                ty.kind,
                ty.is_custom(),
            )?,
        })
    }

    fn holds(&self, key: &ObjectKey) -> bool {
        key.group == self.ty.group
            && key.plural == self.ty.plural
            && (self.namespace.is_empty() || key.namespace == self.namespace)
    }

    fn selects(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// The object as served at this version: custom resources are converted by rewriting
    /// `apiVersion` (Istio's CRDs use the `None` conversion strategy).
    fn render(&self, object: &Value) -> Value {
        let mut object = object.clone();
        object["apiVersion"] = json!(self.ty.api_version(&self.version));
        object
    }

    fn list_kind(&self) -> String {
        format!("{}List", self.ty.kind)
    }
}

/// `GET` of one object.
pub fn get(
    state: &ClusterState,
    ty: &'static ResourceType,
    version: &str,
    namespace: &str,
    name: &str,
) -> Response<Body> {
    let key = ObjectKey {
        group: ty.group.to_owned(),
        plural: ty.plural.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    match state.lock().objects.get(&key) {
        Some(object) => {
            let mut object = object.clone();
            object["apiVersion"] = json!(ty.api_version(version));
            http::json(200, &object)
        }
        None => http::json(404, &status::not_found(ty.group, ty.plural, name)),
    }
}

/// `GET` of a collection, with `limit` and `continue` paging.
pub fn list(
    state: &ClusterState,
    collection: &Collection,
    query: &[(String, String)],
) -> Response<Body> {
    let data = state.lock();
    let (list_rv, start) = match param(query, "continue").filter(|c| !c.is_empty()) {
        Some(token) => match decode_continue(token) {
            Some((rv, _)) if rv < data.floor => {
                return http::json(410, &status::continue_expired());
            }
            Some(found) => found,
            None => {
                return http::json(
                    400,
                    &status::bad_request("continue key is not valid: invalid continue token"),
                );
            }
        },
        None => (data.rv, String::new()),
    };
    // NOTE: a continued list reads the current objects, not a snapshot at the token's version,
    // and a list at an older `resourceVersion` also reads the current objects.
    let exact = param(query, "resourceVersionMatch") == Some("Exact");
    if let Some(rv) = param(query, "resourceVersion").and_then(|v| v.parse::<u64>().ok())
        && exact
        && rv < data.floor
    {
        return http::json(410, &status::too_old(rv, data.floor));
    }
    let matching: Vec<(&ObjectKey, &Value)> = data
        .objects
        .iter()
        .filter(|(key, object)| collection.holds(key) && collection.selects(object))
        .filter(|(key, _)| start.is_empty() || sort_key(key) > start)
        .collect();
    let limit = param(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let page = &matching[..matching.len().min(limit)];
    let mut metadata = json!({ "resourceVersion": list_rv.to_string() });
    if page.len() < matching.len()
        && let Some((last, _)) = page.last()
    {
        metadata["continue"] = json!(encode_continue(list_rv, &sort_key(last)));
        if collection.labels == LabelSelector::default()
            && collection.fields == FieldSelector::default()
        {
            metadata["remainingItemCount"] = json!(matching.len() - page.len());
        }
    }
    let items: Vec<Value> = page
        .iter()
        .map(|(_, object)| {
            let mut item = collection.render(object);
            // Built-in lists carry no kind or apiVersion on their items; custom resources do.
            if !collection.ty.is_custom()
                && let Some(map) = item.as_object_mut()
            {
                map.remove("kind");
                map.remove("apiVersion");
            }
            item
        })
        .collect();
    let body = json!({
        "kind": collection.list_kind(),
        "apiVersion": collection.ty.api_version(&collection.version),
        "metadata": metadata,
        "items": items,
    });
    http::json(200, &body)
}

/// `GET ?watch=1`: newline-delimited watch events on a chunked `200` stream.
pub fn watch(
    state: &ClusterState,
    collection: Collection,
    query: &[(String, String)],
) -> Response<Body> {
    let flag = |name: &str| matches!(param(query, name), Some("true" | "1"));
    let bookmarks = flag("allowWatchBookmarks");
    let initial_events = flag("sendInitialEvents");
    let timeout = param(query, "timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let (frames, response) = http::stream("application/json");

    let data = state.lock();
    let mut backlog: Vec<Value> = Vec::new();
    let requested = param(query, "resourceVersion").unwrap_or("");
    let from = if requested.is_empty() || requested == "0" || initial_events {
        // No version (or "0"): start with the current state as ADDED events, then changes.
        for (key, object) in &data.objects {
            if collection.holds(key) && collection.selects(object) {
                backlog.push(event("ADDED", &collection.render(object)));
            }
        }
        if initial_events {
            backlog.push(bookmark(&collection, data.rv, true));
        }
        data.rv
    } else {
        let Ok(rv) = requested.parse::<u64>() else {
            return http::json(
                400,
                &status::bad_request(&format!("invalid resource version: {requested}")),
            );
        };
        if rv < data.floor {
            // Once the version has parsed, the real server sends 200 and one ERROR event, then closes.
            http::send(
                &frames,
                event("ERROR", &status::too_old(rv, data.floor)).to_string() + "\n",
            );
            return response;
        }
        for change in data.history.iter().filter(|c| c.rv > rv) {
            if let Some(e) = change_event(&collection, change) {
                backlog.push(e);
            }
        }
        rv
    };
    let mut signals = state.subscribe();
    let bookmark_every = data.bookmark_every;
    drop(data);

    let state = state.clone();
    tokio::spawn(async move {
        for e in &backlog {
            if !send_event(&frames, e) {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(1800)));
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = &mut deadline => return,
                _ = ticker.tick(), if bookmarks => {
                    if !send_event(&frames, &bookmark(&collection, state.resource_version(), false)) {
                        return;
                    }
                }
                signal = signals.recv() => match signal {
                    Ok(Signal::Change(change)) => {
                        if change.rv <= from {
                            continue;
                        }
                        if let Some(e) = change_event(&collection, &change)
                            && !send_event(&frames, &e)
                        {
                            return;
                        }
                    }
                    Ok(Signal::Bookmark) => {
                        if bookmarks && !send_event(&frames, &bookmark(&collection, state.resource_version(), false)) {
                            return;
                        }
                    }
                    Ok(Signal::GroupRemoved(group)) => {
                        if group == collection.ty.group {
                            return;
                        }
                    }
                    // A watcher that cannot keep up is closed, as the real server does.
                    Err(RecvError::Lagged(_) | RecvError::Closed) => return,
                },
            }
        }
    });
    response
}

/// Returns the first value of a query parameter.
fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn send_event(frames: &Frames, event: &Value) -> bool {
    http::send(frames, event.to_string() + "\n")
}

fn event(kind: &str, object: &Value) -> Value {
    json!({ "type": kind, "object": object })
}

/// A BOOKMARK carries only the type and the resource version (and, at the end of the initial
/// events of a streaming list, the `k8s.io/initial-events-end` annotation).
fn bookmark(collection: &Collection, rv: u64, initial_end: bool) -> Value {
    let mut metadata = json!({ "resourceVersion": rv.to_string(), "creationTimestamp": null });
    if initial_end {
        metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    event(
        "BOOKMARK",
        &json!({
            "kind": collection.ty.kind,
            "apiVersion": collection.ty.api_version(&collection.version),
            "metadata": metadata,
        }),
    )
}

/// Converts a change into the event this watch sends, if any. A modification that moves an object into or out of
/// the selector is sent as ADDED or DELETED, as the watch cache does. DELETED then carries the
/// old object at the new resource version.
fn change_event(collection: &Collection, change: &Change) -> Option<Value> {
    if !collection.holds(&change.key) {
        return None;
    }
    let now = collection.selects(&change.object);
    let before = change
        .previous
        .as_ref()
        .is_some_and(|p| collection.selects(p));
    let (kind, object) = match change.kind {
        ChangeKind::Deleted if now => ("DELETED", change.object.clone()),
        ChangeKind::Modified if now && before => ("MODIFIED", change.object.clone()),
        ChangeKind::Added | ChangeKind::Modified if now => ("ADDED", change.object.clone()),
        ChangeKind::Modified if before => {
            let mut old = change.previous.clone().unwrap_or_default();
            old["metadata"]["resourceVersion"] = json!(change.rv.to_string());
            ("DELETED", old)
        }
        _ => return None,
    };
    Some(event(kind, &collection.render(&object)))
}

fn sort_key(key: &ObjectKey) -> String {
    format!("{}/{}", key.namespace, key.name)
}

/// Encodes a continue token as the real server does: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"KEY\u0000"}`.
fn encode_continue(rv: u64, last: &str) -> String {
    let token = json!({ "v": "meta.k8s.io/v1", "rv": rv, "start": format!("{last}\u{0}") });
    STANDARD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Option<(u64, String)> {
    let raw = STANDARD.decode(token).ok()?;
    let value: Value = serde_json::from_slice(&raw).ok()?;
    let rv = value["rv"].as_u64()?;
    let start = value["start"]
        .as_str()?
        .trim_end_matches('\u{0}')
        .to_owned();
    Some((rv, start))
}

//! The fake cluster's objects, their shared resource version, the change history that watches
//! replay, and the switches tests flip.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::logs::{ContainerLog, LogCut, LogSignal};
use super::resources::{self, ISTIO_SECURITY, ResourceType};

/// Where an object lives: its type (group and plural), namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

/// What happened to an object, as a watch event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One entry of the change history, at resource version `rv`.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: ChangeKind,
    pub key: ObjectKey,
    pub object: Value,
    /// The object before a modification, so label-filtered watches can turn it into ADDED or DELETED.
    pub previous: Option<Value>,
}

/// Messages to open watches.
#[derive(Debug, Clone)]
pub enum Signal {
    Change(Arc<Change>),
    /// Send a BOOKMARK at the current resource version to watches that asked for bookmarks.
    Bookmark,
    /// A group's CRDs were deleted: its watches end.
    GroupRemoved(&'static str),
}

pub(crate) struct Data {
    pub rv: u64,
    pub objects: BTreeMap<ObjectKey, Value>,
    pub history: VecDeque<Arc<Change>>,
    /// Oldest resource version a watch may resume from; older ones get `410 Expired`.
    pub floor: u64,
    pub istio_crds: bool,
    pub forbidden_logs: BTreeSet<String>,
    pub logs: BTreeMap<(String, String, String), ContainerLog>,
    pub bookmark_every: Duration,
}

/// A fake cluster's state, shared by the server and the test that drives it. Cheap to clone.
#[derive(Clone)]
pub struct ClusterState {
    data: Arc<Mutex<Data>>,
    signals: broadcast::Sender<Signal>,
}

impl Default for ClusterState {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterState {
    /// Creates an empty cluster with Istio's security CRDs installed and the `default` namespace.
    pub fn new() -> Self {
        let (signals, _) = broadcast::channel(4096);
        let state = Self {
            data: Arc::new(Mutex::new(Data {
                rv: 1000,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                floor: 1000,
                istio_crds: true,
                forbidden_logs: BTreeSet::new(),
                logs: BTreeMap::new(),
                bookmark_every: Duration::from_secs(60),
            })),
            signals,
        };
        state.ensure_namespace("default");
        state
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Data> {
        // A test that panicked while holding the lock leaves plain data behind; keep serving it.
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    /// The latest resource version handed out.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Creates or replaces an object (it needs `apiVersion`, `kind` and `metadata.name`), bumps the
    /// resource version, notifies watches and returns the stored object.
    ///
    /// # Panics
    /// On an object of a type the server does not serve: a mistake in the test.
    pub fn apply(&self, object: Value) -> Value {
        let (ty, key) = key_of(&object);
        if ty.namespaced {
            self.ensure_namespace(&key.namespace);
        }
        let mut data = self.lock();
        let previous = data.objects.get(&key).cloned();
        data.rv += 1;
        let rv = data.rv;
        let mut object = object;
        let meta = &mut object["metadata"];
        if ty.namespaced {
            meta["namespace"] = json!(key.namespace);
        }
        meta["resourceVersion"] = json!(rv.to_string());
        if let Some(prev) = &previous {
            for field in ["uid", "creationTimestamp"] {
                if meta.get(field).is_none() {
                    meta[field] = prev["metadata"][field].clone();
                }
            }
        }
        if meta.get("uid").is_none() {
            meta["uid"] = json!(uid_for(&key, rv));
        }
        if meta.get("creationTimestamp").is_none() {
            meta["creationTimestamp"] = json!(now_rfc3339());
        }
        if ty.is_custom() && meta.get("generation").is_none() {
            meta["generation"] = json!(1);
        }
        let kind = if previous.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        data.objects.insert(key.clone(), object.clone());
        self.record(&mut data, kind, key, object.clone(), previous);
        object
    }

    /// Deletes an object by `apiVersion`, `kind`, namespace and name; returns it if it existed.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let (ty, key) = lookup_key(api_version, kind, namespace, name)?;
        let mut data = self.lock();
        let mut object = data.objects.remove(&key)?;
        data.rv += 1;
        object["metadata"]["resourceVersion"] = json!(data.rv.to_string());
        if ty.plural == "pods" {
            end_pod_logs(&mut data, namespace, name, true);
        }
        self.record(&mut data, ChangeKind::Deleted, key, object.clone(), None);
        Some(object)
    }

    /// Deletes a pod and ends its log streams as the kubelet does when the container goes away.
    pub fn delete_pod(&self, namespace: &str, name: &str) -> Option<Value> {
        self.delete("v1", "Pod", namespace, name)
    }

    /// Returns the stored object, if any.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let (_, key) = lookup_key(api_version, kind, namespace, name)?;
        self.lock().objects.get(&key).cloned()
    }

    /// Forgets the change history, so every resource version handed out so far is too old to
    /// watch from (`410 Expired`), as after an etcd compaction or a watch-cache wrap-around.
    pub fn compact(&self) {
        let mut data = self.lock();
        data.floor = data.rv;
        data.history.clear();
    }

    /// Installs or removes Istio's security CRDs. Removing them deletes their objects (as deleting
    /// a CRD does) and makes `security.istio.io` disappear from discovery.
    pub fn set_istio_crds(&self, installed: bool) {
        let mut data = self.lock();
        data.istio_crds = installed;
        if !installed {
            data.objects.retain(|key, _| key.group != ISTIO_SECURITY);
            data.history
                .retain(|change| change.key.group != ISTIO_SECURITY);
            let _ = self.signals.send(Signal::GroupRemoved(ISTIO_SECURITY));
        }
    }

    /// Returns whether Istio's security CRDs are installed.
    pub fn istio_crds(&self) -> bool {
        self.lock().istio_crds
    }

    /// Makes `get pods/log` in `namespace` fail with `403 Forbidden`, or lifts that.
    pub fn set_logs_forbidden(&self, namespace: &str, forbidden: bool) {
        let mut data = self.lock();
        if forbidden {
            data.forbidden_logs.insert(namespace.to_owned());
        } else {
            data.forbidden_logs.remove(namespace);
        }
    }

    /// Sets how often watches that allow bookmarks get one (the real server sends one about once a minute).
    pub fn set_bookmark_interval(&self, every: Duration) {
        self.lock().bookmark_every = every;
    }

    /// Sends a BOOKMARK now to every watch that allows bookmarks.
    pub fn send_bookmark(&self) {
        // A send error only means that no watch is open.
        let _ = self.signals.send(Signal::Bookmark);
    }

    /// Appends lines to a container's log, stamped now; followers receive them at once.
    pub fn append_log<I, S>(&self, namespace: &str, pod: &str, container: &str, lines: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Vec<u8>>,
    {
        for line in lines {
            self.append_log_at(namespace, pod, container, Utc::now(), line);
        }
    }

    /// Appends one line with the kubelet timestamp `at`. The line's bytes need not be UTF-8.
    pub fn append_log_at(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        at: DateTime<Utc>,
        line: impl Into<Vec<u8>>,
    ) {
        let mut data = self.lock();
        let log = container_log(&mut data, namespace, pod, container);
        let line = Bytes::from(line.into());
        log.current.push((at, line.clone()));
        // No follower is fine.
        let _ = log.tx.send(LogSignal::Line(at, line));
    }

    /// Cuts every open follow stream of one container log the given way.
    pub fn cut_log_streams(&self, namespace: &str, pod: &str, container: &str, cut: LogCut) {
        let mut data = self.lock();
        let log = container_log(&mut data, namespace, pod, container);
        let _ = log.tx.send(LogSignal::Cut(cut));
    }

    /// Restarts every container of a pod: each gets a new log (the old one is what
    /// `previous=true` returns), `restartCount` goes up, and open follow streams end cleanly, as
    /// the kubelet ends them when the container exits. Returns the updated pod.
    pub fn restart_pod(&self, namespace: &str, name: &str) -> Option<Value> {
        let mut pod = self.get("v1", "Pod", namespace, name)?;
        {
            let mut data = self.lock();
            end_pod_logs(&mut data, namespace, name, false);
        }
        let now = now_rfc3339();
        for list in ["containerStatuses", "initContainerStatuses"] {
            if let Some(statuses) = pod["status"][list].as_array_mut() {
                for status in statuses {
                    let restarts = status["restartCount"].as_u64().unwrap_or(0) + 1;
                    status["restartCount"] = json!(restarts);
                    status["containerID"] = json!(format!("containerd://{:064x}", restarts));
                    status["state"] = json!({"running": {"startedAt": now}});
                }
            }
        }
        Some(self.apply(pod))
    }

    pub(crate) fn ensure_namespace(&self, namespace: &str) {
        if namespace.is_empty() || self.get("v1", "Namespace", "", namespace).is_some() {
            return;
        }
        self.apply(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }));
    }

    fn record(
        &self,
        data: &mut Data,
        kind: ChangeKind,
        key: ObjectKey,
        object: Value,
        previous: Option<Value>,
    ) {
        let change = Arc::new(Change {
            rv: data.rv,
            kind,
            key,
            object,
            previous,
        });
        data.history.push_back(Arc::clone(&change));
        // Sent under the lock, so a watch that subscribes under the lock misses nothing.
        let _ = self.signals.send(Signal::Change(change));
    }
}

fn container_log<'a>(
    data: &'a mut Data,
    namespace: &str,
    pod: &str,
    container: &str,
) -> &'a mut ContainerLog {
    data.logs
        .entry((namespace.to_owned(), pod.to_owned(), container.to_owned()))
        .or_insert_with(ContainerLog::new)
}

/// Ends the follow streams of every container of a pod; keeps the logs as `previous` unless
/// the pod is gone.
fn end_pod_logs(data: &mut Data, namespace: &str, pod: &str, pod_deleted: bool) {
    let keys: Vec<_> = data
        .logs
        .keys()
        .filter(|(ns, p, _)| ns == namespace && p == pod)
        .cloned()
        .collect();
    for key in keys {
        if pod_deleted {
            if let Some(log) = data.logs.remove(&key) {
                let _ = log.tx.send(LogSignal::Ended);
            }
        } else if let Some(log) = data.logs.get_mut(&key) {
            log.restart();
        }
    }
}

/// Finds the type and key of an object named by `apiVersion`, `kind`, namespace and name.
fn lookup_key(
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<(&'static ResourceType, ObjectKey)> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let ty = resources::by_kind(group, kind)?;
    let key = ObjectKey {
        group: ty.group.to_owned(),
        plural: ty.plural.to_owned(),
        namespace: if ty.namespaced {
            namespace.to_owned()
        } else {
            String::new()
        },
        name: name.to_owned(),
    };
    Some((ty, key))
}

fn key_of(object: &Value) -> (&'static ResourceType, ObjectKey) {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let Some(ty) = resources::by_kind(group, kind) else {
        panic!("the fake API server does not serve {api_version} {kind}");
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    assert!(!name.is_empty(), "object {kind} has no metadata.name");
    let namespace = if ty.namespaced {
        object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
    } else {
        ""
    };
    (
        ty,
        ObjectKey {
            group: ty.group.to_owned(),
            plural: ty.plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        },
    )
}

/// A stable, UUID-shaped id derived from the key and version (no randomness, so runs repeat).
fn uid_for(key: &ObjectKey, rv: u64) -> String {
    use std::fmt::Write as _;
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{key:?}/{rv}").as_bytes(),
    );
    let hex = digest
        .as_ref()
        .iter()
        .take(16)
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

//! Pod logs as the kubelet serves them through the API server: `timestamps`, `sinceTime`,
//! `sinceSeconds`, `tailLines`, `limitBytes`, `previous` and `follow`.

use chrono::{DateTime, Duration, Utc};
use hyper::Response;
use hyper::body::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use super::http::{self, Body, Frames};
use super::state::ClusterState;
use super::status;

/// How [`ClusterState::cut_log_streams`] ends open follow streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogCut {
    /// Write this text (a line without its newline) and then drop the connection.
    MidLine(String),
    /// Write this text (a line without its newline) and then end the body cleanly, so that the
    /// client reads a whole response that stops inside a line.
    MidLineThenEnd(String),
    /// Drop the connection between two lines, without the final chunk.
    Abort,
    /// End the body cleanly, as the kubelet does when it stops following.
    End,
}

#[derive(Debug, Clone)]
pub enum LogSignal {
    /// One line without its newline. Its bytes need not be UTF-8, as a container may write any.
    Line(DateTime<Utc>, Bytes),
    Cut(LogCut),
    /// The container exited or the pod is gone: the kubelet ends the stream cleanly.
    Ended,
}

/// One container's log: the running instance's lines and the previous instance's.
pub struct ContainerLog {
    pub current: Vec<(DateTime<Utc>, Bytes)>,
    pub previous: Option<Vec<(DateTime<Utc>, Bytes)>>,
    pub tx: broadcast::Sender<LogSignal>,
}

impl ContainerLog {
    pub fn new() -> Self {
        Self {
            current: Vec::new(),
            previous: None,
            tx: broadcast::channel(4096).0,
        }
    }

    /// Ends the followers after a container restart and starts an empty log.
    pub fn restart(&mut self) {
        let _ = self.tx.send(LogSignal::Ended);
        self.tx = broadcast::channel(4096).0;
        self.previous = Some(std::mem::take(&mut self.current));
    }
}

/// The query of a `pods/log` request.
#[derive(Debug, Default)]
pub struct LogQuery {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub since_time: Option<DateTime<Utc>>,
    pub since_seconds: Option<i64>,
    pub tail_lines: Option<usize>,
    pub limit_bytes: Option<usize>,
}

impl LogQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut query = Self::default();
        for (key, value) in pairs {
            let number = || {
                value
                    .parse::<i64>()
                    .map_err(|_| format!("invalid value for {key}: \"{value}\""))
            };
            match key.as_str() {
                "container" => query.container = Some(value.clone()),
                "follow" => query.follow = value == "true" || value == "1",
                "previous" => query.previous = value == "true" || value == "1",
                "timestamps" => query.timestamps = value == "true" || value == "1",
                "sinceTime" => {
                    let at = DateTime::parse_from_rfc3339(value)
                        .map_err(|_| format!("invalid value for sinceTime: \"{value}\""))?;
                    query.since_time = Some(at.with_timezone(&Utc));
                }
                "sinceSeconds" => query.since_seconds = Some(number()?),
                "tailLines" => query.tail_lines = usize::try_from(number()?).ok(),
                "limitBytes" => query.limit_bytes = usize::try_from(number()?).ok(),
                _ => {}
            }
        }
        if query.since_time.is_some() && query.since_seconds.is_some() {
            return Err("at most one of sinceTime or sinceSeconds may be specified".to_owned());
        }
        Ok(query)
    }

    fn since(&self) -> Option<DateTime<Utc>> {
        self.since_time.or_else(|| {
            self.since_seconds
                .map(|s| Utc::now() - Duration::seconds(s))
        })
    }
}

/// `GET /api/v1/namespaces/NS/pods/NAME/log`, after authentication.
pub fn serve(
    state: &ClusterState,
    user: &str,
    namespace: &str,
    pod_name: &str,
    query: &LogQuery,
) -> Response<Body> {
    let mut data = state.lock();
    // The authorizer runs before the pod is looked up, so a forbidden user learns nothing about it.
    if data.forbidden_logs.contains(namespace) {
        return http::json(
            403,
            &status::forbidden(user, "get", "pods/log", pod_name, namespace),
        );
    }
    let pod = data
        .objects
        .iter()
        .find(|(k, _)| {
            k.plural == "pods"
                && k.group.is_empty()
                && k.namespace == namespace
                && k.name == pod_name
        })
        .map(|(_, v)| v.clone());
    let Some(pod) = pod else {
        return http::json(404, &status::not_found("", "pods", pod_name));
    };
    let container = match pick_container(&pod, pod_name, query.container.as_deref()) {
        Ok(c) => c,
        Err(message) => return http::json(400, &status::bad_request(&message)),
    };
    let log = data
        .logs
        .entry((namespace.to_owned(), pod_name.to_owned(), container.clone()))
        .or_insert_with(ContainerLog::new);
    let lines = if query.previous {
        match &log.previous {
            Some(lines) => lines.clone(),
            None => {
                return http::json(
                    400,
                    &status::bad_request(&format!(
                        "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
                    )),
                );
            }
        }
    } else {
        log.current.clone()
    };
    let follow = (query.follow && !query.previous).then(|| log.tx.subscribe());
    drop(data);

    let since = query.since();
    let start = query
        .tail_lines
        .map_or(0, |n| lines.len().saturating_sub(n));
    let backlog: Vec<_> = lines[start..]
        .iter()
        .filter(|(at, _)| since.is_none_or(|s| *at >= s))
        .cloned()
        .collect();
    let (frames, response) = http::stream("text/plain");
    let mut writer = LineWriter {
        frames,
        timestamps: query.timestamps,
        budget: query.limit_bytes,
    };
    tokio::spawn(async move {
        for (at, line) in &backlog {
            if !writer.line(*at, line) {
                return;
            }
        }
        let Some(mut rx) = follow else { return };
        loop {
            match rx.recv().await {
                Ok(LogSignal::Line(at, line)) => {
                    if !writer.line(at, &line) {
                        return;
                    }
                }
                Ok(LogSignal::Cut(LogCut::MidLine(text))) => {
                    http::send(&writer.frames, text);
                    http::abort(&writer.frames);
                    return;
                }
                Ok(LogSignal::Cut(LogCut::MidLineThenEnd(text))) => {
                    http::send(&writer.frames, text);
                    return;
                }
                Ok(LogSignal::Cut(LogCut::Abort)) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    http::abort(&writer.frames);
                    return;
                }
                Ok(LogSignal::Cut(LogCut::End) | LogSignal::Ended)
                | Err(broadcast::error::RecvError::Closed) => {
                    return;
                }
            }
        }
    });
    response
}

struct LineWriter {
    frames: Frames,
    timestamps: bool,
    budget: Option<usize>,
}

impl LineWriter {
    /// Writes one line; false when the client is gone or `limitBytes` is spent.
    fn line(&mut self, at: DateTime<Utc>, line: &[u8]) -> bool {
        let mut text = Vec::with_capacity(line.len() + 32);
        if self.timestamps {
            // The kubelet's fixed-width RFC 3339 form: always nine fraction digits.
            let stamp = at.format("%Y-%m-%dT%H:%M:%S%.9fZ ").to_string();
            text.extend_from_slice(stamp.as_bytes());
        }
        text.extend_from_slice(line);
        text.push(b'\n');
        if let Some(budget) = self.budget.as_mut() {
            if text.len() >= *budget {
                // `limitBytes` is a count of bytes, so the cut may fall inside a UTF-8 character.
                text.truncate(*budget);
                http::send(&self.frames, text);
                return false;
            }
            *budget -= text.len();
        }
        http::send(&self.frames, text)
    }
}

/// Picks the container a log request names, with the API server's errors for a missing or unknown one.
/// kube-apiserver rejects an unknown container with `400 BadRequest`, not `404`.
fn pick_container(pod: &Value, pod_name: &str, wanted: Option<&str>) -> Result<String, String> {
    let names = |list: &str| -> Vec<String> {
        pod["spec"][list]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    let init = names("initContainers");
    match wanted {
        Some(name) if containers.iter().chain(&init).any(|c| c == name) => Ok(name.to_owned()),
        Some(name) => Err(format!("container {name} is not valid for pod {pod_name}")),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message = format!(
                    "{message} or one of the init containers: [{}]",
                    init.join(" ")
                );
            }
            Err(message)
        }
    }
}

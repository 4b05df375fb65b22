//! Log fan-in: one task per `istio-proxy` container, following its log with reconnects that resume
//! where they stopped, under a bound on concurrent streams.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{AsyncBufRead, AsyncBufReadExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::LogParams;
use kube::{Api, Client};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::backoff::{Backoff, Jitter};
use super::live::LiveMessage;
use super::resume::{ResumePoint, split_timestamp};
use super::workloads::LogTarget;

/// Health of one log stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum StreamHealth {
    /// Waiting for a free slot: the bound on concurrent streams is reached.
    Queued,
    Live,
    /// The connection ended or failed; the next attempt starts after `delay_ms`.
    Reconnecting {
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    /// Not followed any more (pod deleted or stopped).
    Ended {
        reason: String,
    },
    /// The API server returned 403 for this pod's log; other streams carry on.
    Forbidden {
        message: String,
    },
}

impl std::fmt::Display for StreamHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Queued => f.write_str("queued (stream limit reached; raise --max-streams)"),
            Self::Live => f.write_str("live"),
            Self::Reconnecting {
                attempt,
                delay_ms,
                error,
            } => write!(
                f,
                "reconnecting (attempt {attempt}, in {delay_ms} ms): {error}"
            ),
            Self::Ended { reason } => write!(f, "ended: {reason}"),
            Self::Forbidden { message } => write!(
                f,
                "forbidden: {message}; ask for get on pods/log in this namespace"
            ),
        }
    }
}

/// A health change of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamStatus {
    /// `NAMESPACE/POD/CONTAINER`.
    pub stream: String,
    pub health: StreamHealth,
}

/// One log line of one stream, without its timestamp prefix.
#[derive(Debug)]
pub struct LogLine {
    pub target: Arc<LogTarget>,
    /// The line without its timestamp, or `None` for a line longer than [`MAX_LOG_LINE_BYTES`],
    /// whose bytes past the limit were skipped unread.
    pub text: Option<String>,
    /// The line's share of [`MAX_IN_FLIGHT_BYTES`], given back when the line is dropped.
    _budget: OwnedSemaphorePermit,
}

/// Maximum length of a log line that is read, without the kubelet's timestamp. A sidecar access
/// log line is usually a few KiB, so a longer line is counted and skipped, and a container writing
/// without newlines cannot exhaust memory.
pub const MAX_LOG_LINE_BYTES: usize = 1024 * 1024;

/// Maximum bytes of lines read but not yet parsed, over all streams. The line channel is bounded
/// in lines, which at [`MAX_LOG_LINE_BYTES`] each would allow gigabytes, so a stream waits here.
pub const MAX_IN_FLIGHT_BYTES: usize = 16 * 1024 * 1024;

/// Room for the kubelet's timestamp and a space before a line (`2026-03-01T10:00:05.123456789Z `
/// is 31 bytes), and a carriage return after it.
const TIMESTAMP_ROOM_BYTES: usize = 64;

/// Settings of the log fan-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// Maximum streams open at once; further pods wait as [`StreamHealth::Queued`].
    pub max_streams: usize,
    /// How far back the first connection of each stream reads.
    pub since: Duration,
    pub backoff: Backoff,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            max_streams: 50,
            since: Duration::from_secs(60),
            backoff: Backoff::default(),
        }
    }
}

/// Everything a stream task shares with the others.
#[derive(Clone)]
struct Shared {
    client: Client,
    settings: StreamSettings,
    permits: Arc<Semaphore>,
    /// Bytes of lines in flight, [`MAX_IN_FLIGHT_BYTES`] in all.
    in_flight: Arc<Semaphore>,
    lines: mpsc::Sender<LogLine>,
    out: mpsc::Sender<LiveMessage>,
    /// Namespaces where reading logs returned 403, so new pods there are not tried.
    forbidden: Arc<Mutex<HashSet<String>>>,
}

/// The set of followed streams, kept equal to the targets the pod watcher gives it.
pub struct LogFanIn {
    shared: Shared,
    tasks: HashMap<LogTarget, JoinHandle<()>>,
}

impl LogFanIn {
    /// Creates an empty fan-in that sends lines to `lines` and health changes to `out`.
    pub fn new(
        client: Client,
        settings: StreamSettings,
        lines: mpsc::Sender<LogLine>,
        out: mpsc::Sender<LiveMessage>,
    ) -> Self {
        Self {
            shared: Shared {
                client,
                settings,
                permits: Arc::new(Semaphore::new(settings.max_streams.max(1))),
                in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT_BYTES)),
                lines,
                out,
                forbidden: Arc::new(Mutex::new(HashSet::new())),
            },
            tasks: HashMap::new(),
        }
    }

    /// Starts streams for new targets and stops those whose pod is gone.
    pub async fn sync(&mut self, targets: Vec<LogTarget>) {
        let requested: HashSet<LogTarget> = targets.into_iter().collect();
        let removed: Vec<LogTarget> = self
            .tasks
            .keys()
            .filter(|target| !requested.contains(*target))
            .cloned()
            .collect();
        for target in removed {
            if let Some(task) = self.tasks.remove(&target) {
                task.abort();
            }
            let health = StreamHealth::Ended {
                reason: "pod deleted or no longer running".to_owned(),
            };
            send_health(&self.shared.out, &target, health).await;
        }
        for target in requested {
            if self.tasks.contains_key(&target) {
                continue;
            }
            let shared = self.shared.clone();
            let task = tokio::spawn(follow(shared, Arc::new(target.clone())));
            self.tasks.insert(target, task);
        }
    }

    /// Returns how many streams are followed or queued.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Returns true when no stream is followed.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl Drop for LogFanIn {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

async fn send_health(out: &mpsc::Sender<LiveMessage>, target: &LogTarget, health: StreamHealth) {
    let status = StreamStatus {
        stream: target.stream_name(),
        health,
    };
    // A closed channel means the consumer stopped, and the task is about to be aborted.
    let _ = out.send(LiveMessage::Stream(status)).await;
}

/// The end of one connection.
enum Ended {
    /// The stream closed or failed; reconnect.
    Retry {
        error: String,
        delivered: bool,
    },
    Forbidden(String),
    /// The pod is gone (404).
    Gone,
    /// The receiver of lines is gone: the source is stopping.
    Stopped,
}

/// Follows one container's log until the task is aborted, the pod is gone or access is forbidden.
async fn follow(shared: Shared, target: Arc<LogTarget>) {
    if is_forbidden(&shared, &target.namespace) {
        let message = format!(
            "reading logs in namespace \"{}\" was denied",
            target.namespace
        );
        send_health(&shared.out, &target, StreamHealth::Forbidden { message }).await;
        return;
    }
    // Taking a slot and checking for one are one step, so a stream that waits always reports
    // `Queued`, even when another task took the last slot in between.
    let _permit = if let Ok(permit) = Arc::clone(&shared.permits).try_acquire_owned() {
        permit
    } else {
        send_health(&shared.out, &target, StreamHealth::Queued).await;
        // The semaphore is never closed, so acquiring fails only if that changes.
        let Ok(permit) = Arc::clone(&shared.permits).acquire_owned().await else {
            return;
        };
        permit
    };

    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &target.namespace);
    let mut jitter = Jitter::new(seed(&target));
    let mut resume = ResumePoint::default();
    let since = chrono::Duration::from_std(shared.settings.since).unwrap_or_default();
    let started = Utc::now() - since;
    let mut attempt = 0u32;
    loop {
        let params = LogParams {
            container: Some(target.container.clone()),
            follow: true,
            timestamps: true,
            since_time: Some(to_timestamp(resume.since_time().unwrap_or(started))),
            ..LogParams::default()
        };
        match connect_once(&shared, &api, &target, &params, &mut resume).await {
            Ended::Retry { error, delivered } => {
                // NOTE: a connection that opened but delivered no line counts as failed, so a quiet
                // stream that is cut again and again waits longer each time, up to the backoff cap.
                if delivered {
                    attempt = 0;
                }
                let delay = shared.settings.backoff.delay(attempt, jitter.next_unit());
                let health = StreamHealth::Reconnecting {
                    attempt: attempt + 1,
                    delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error,
                };
                send_health(&shared.out, &target, health).await;
                tokio::time::sleep(delay).await;
                attempt = attempt.saturating_add(1);
                resume.begin_resume();
            }
            Ended::Forbidden(message) => {
                if let Ok(mut forbidden) = shared.forbidden.lock() {
                    forbidden.insert(target.namespace.clone());
                }
                send_health(&shared.out, &target, StreamHealth::Forbidden { message }).await;
                return;
            }
            Ended::Gone => {
                let reason = "pod not found".to_owned();
                send_health(&shared.out, &target, StreamHealth::Ended { reason }).await;
                return;
            }
            Ended::Stopped => return,
        }
    }
}

/// Opens one connection and forwards its lines until it ends.
async fn connect_once(
    shared: &Shared,
    api: &Api<Pod>,
    target: &Arc<LogTarget>,
    params: &LogParams,
    resume: &mut ResumePoint,
) -> Ended {
    let reader = match api.log_stream(&target.pod, params).await {
        Ok(reader) => reader,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Ended::Forbidden(status.message.clone());
        }
        Err(kube::Error::Api(status)) if status.code == 404 => return Ended::Gone,
        Err(error) => {
            return Ended::Retry {
                error: error.to_string(),
                delivered: false,
            };
        }
    };
    send_health(&shared.out, target, StreamHealth::Live).await;

    let mut reader = std::pin::pin!(reader);
    let mut delivered = false;
    loop {
        let (mut line, complete) = match read_log_line(&mut reader).await {
            Ok(Some(read)) => read,
            Ok(None) => {
                return Ended::Retry {
                    error: "log stream closed".to_owned(),
                    delivered,
                };
            }
            Err(error) => {
                return Ended::Retry {
                    error: error.to_string(),
                    delivered,
                };
            }
        };
        // An over-long line's timestamp still counts for the resume point, so that a reconnect
        // skips it like any other line. The limit applies to the text after the timestamp, which
        // the reader's limit leaves room for.
        let stamp_bytes = match split_timestamp(&line) {
            Some((time, text)) if resume.accept(time) => line.len() - text.len(),
            Some(_) => continue,
            None => 0,
        };
        delivered = true;
        let whole = complete && line.len() - stamp_bytes <= MAX_LOG_LINE_BYTES;
        // The line's own buffer is delivered, without its timestamp, so a long line is not copied.
        let text = whole.then(|| {
            line.drain(..stamp_bytes);
            line
        });
        let bytes = text
            .as_ref()
            .map_or(1, String::len)
            .clamp(1, MAX_LOG_LINE_BYTES);
        let Ok(budget) = Arc::clone(&shared.in_flight)
            .acquire_many_owned(u32::try_from(bytes).unwrap_or(u32::MAX))
            .await
        else {
            return Ended::Stopped;
        };
        let line = LogLine {
            target: Arc::clone(target),
            text,
            _budget: budget,
        };
        if shared.lines.send(line).await.is_err() {
            return Ended::Stopped;
        }
    }
}

/// Reads one line and returns it without its line ending, and whether it is whole. A line longer
/// than [`MAX_LOG_LINE_BYTES`] and a timestamp keeps its first bytes, and the rest is skipped.
/// Bytes that are not UTF-8 become U+FFFD, because an HTTP header value may contain any byte.
/// Returns `None` at the end of the stream.
// NOTE: a stream that ends cleanly inside a line gives the part read as a line, as a container's
// last line without a newline needs. A proxy that ended a body mid-line would split that line.
async fn read_log_line<R>(reader: &mut R) -> std::io::Result<Option<(String, bool)>>
where
    R: AsyncBufRead + Unpin + ?Sized,
{
    let mut bytes = Vec::new();
    let mut complete = true;
    let mut any = false;
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            break;
        }
        any = true;
        let newline = buffer.iter().position(|&byte| byte == b'\n');
        let end = newline.unwrap_or(buffer.len());
        let room = MAX_LOG_LINE_BYTES + TIMESTAMP_ROOM_BYTES - bytes.len();
        if end > room {
            complete = false;
        }
        bytes.extend_from_slice(&buffer[..end.min(room)]);
        reader.consume_unpin(newline.map_or(end, |at| at + 1));
        if newline.is_some() {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if bytes.ends_with(b"\r") {
        bytes.pop();
    }
    let line = String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
    Ok(Some((line, complete)))
}

fn is_forbidden(shared: &Shared, namespace: &str) -> bool {
    shared
        .forbidden
        .lock()
        .is_ok_and(|forbidden| forbidden.contains(namespace))
}

/// Converts to the timestamp type of the log request. The client sends whole seconds.
fn to_timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp::from_second(time.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn seed(target: &LogTarget) -> u64 {
    let mut hasher = DefaultHasher::new();
    target.hash(&mut hasher);
    Utc::now().timestamp_nanos_opt().hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use futures::io::{BufReader, Cursor};

    use super::*;

    /// Reads every line of `input` through a reader with a buffer of `capacity` bytes.
    async fn read_all(input: Vec<u8>, capacity: usize) -> Vec<(String, bool)> {
        let mut reader = BufReader::with_capacity(capacity, Cursor::new(input));
        let mut lines = Vec::new();
        while let Some(read) = read_log_line(&mut reader)
            .await
            .expect("reading from memory works")
        {
            lines.push(read);
        }
        lines
    }

    #[tokio::test]
    async fn lines_split_on_newlines() {
        let lines = read_all(b"one\ntwo\r\n\nlast".to_vec(), 3).await;
        let expected = [("one", true), ("two", true), ("", true), ("last", true)];
        assert_eq!(
            lines,
            expected.map(|(text, complete)| (text.to_owned(), complete))
        );
    }

    #[tokio::test]
    async fn overlong_line_cut_and_skipped() {
        let mut input = vec![b'x'; MAX_LOG_LINE_BYTES + 100_000];
        input.extend_from_slice(b"\nnext\n");
        let lines = read_all(input, 64 * 1024).await;

        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0.len(), MAX_LOG_LINE_BYTES + TIMESTAMP_ROOM_BYTES);
        assert!(!lines[0].1, "the long line is marked as cut");
        assert_eq!(lines[1], ("next".to_owned(), true));
    }

    #[tokio::test]
    async fn line_at_limit_is_whole() {
        let mut input = vec![b'x'; MAX_LOG_LINE_BYTES + TIMESTAMP_ROOM_BYTES];
        input.push(b'\n');
        let lines = read_all(input, 8 * 1024).await;

        assert_eq!(lines.len(), 1);
        assert!(lines[0].1, "a line of the limit and a timestamp is whole");
    }

    #[tokio::test]
    async fn invalid_utf8_replaced() {
        let lines = read_all(b"a\xffb\nok\n".to_vec(), 16).await;
        assert_eq!(lines[0], ("a\u{FFFD}b".to_owned(), true));
        assert_eq!(lines[1], ("ok".to_owned(), true));
    }
}

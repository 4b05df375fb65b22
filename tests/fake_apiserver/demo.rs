//! The recorded Envoy access logs in `demo/`, as lines to append to a container's log.

use std::path::PathBuf;

/// One recorded log: the namespace and workload its file name gives (`NS.WORKLOAD.log`) and
/// its lines.
#[derive(Debug, Clone)]
pub struct DemoLog {
    pub namespace: String,
    pub workload: String,
    pub lines: Vec<String>,
}

/// Loads every `demo/*.log` file, sorted by file name.
///
/// # Panics
/// When the `demo` folder cannot be read: it ships with the crate.
pub fn demo_logs() -> Vec<DemoLog> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the demo folder")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_owned();
            let (namespace, workload) = stem.split_once('.')?;
            let text = std::fs::read_to_string(&path).ok()?;
            Some(DemoLog {
                namespace: namespace.to_owned(),
                workload: workload.to_owned(),
                lines: text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect()
}

/// Returns the lines of one workload's demo log, e.g. `("shop", "orders")`, or none when it is absent.
pub fn demo_log_lines(namespace: &str, workload: &str) -> Vec<String> {
    demo_logs()
        .into_iter()
        .find(|log| log.namespace == namespace && log.workload == workload)
        .map(|log| log.lines)
        .unwrap_or_default()
}

/// Returns the recorded sidecar access line of an allowed request in `shop/orders`, with its edge
/// request id (and so its flow id) set to `id` and its `x-request-id` to `{id}-request`.
pub fn demo_access_line(id: &str) -> String {
    /// The ids the recorded line carries: its `x-request-id` and its edge request id.
    const REQUEST_ID: &str = "d77482c6-8692-40bf-b041-fd7e3faa0ee8";
    const EDGE_ID: &str = "3e57c0a3";
    let template = demo_log_lines("shop", "orders")
        .into_iter()
        .find(|line| line.contains(EDGE_ID))
        .expect("the recorded allowed request in demo/shop.orders.log");
    template
        .replace(REQUEST_ID, &format!("{id}-request"))
        .replace(EDGE_ID, id)
}

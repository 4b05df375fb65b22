//! Cluster selection: kubeconfig files merged as kubectl merges them, in-cluster configuration,
//! context and namespace, and errors that name the file, context or namespace and the fix.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::redact::hide_tokens;

/// Environment variable that contains the in-cluster API server address.
const SERVICE_HOST_ENV: &str = "KUBERNETES_SERVICE_HOST";

/// The raw cluster flags and environment, before they are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    /// `--kubeconfig FILE`; wins over `KUBECONFIG`.
    pub kubeconfig: Option<PathBuf>,
    /// The value of `KUBECONFIG`: files separated by `:` (`;` on Windows), merged in order.
    pub kubeconfig_env: Option<OsString>,
    /// The home directory, for the default `~/.kube/config`.
    pub home: Option<PathBuf>,
    /// Whether `KUBERNETES_SERVICE_HOST` is set, so that in-cluster configuration can be tried.
    pub in_cluster: bool,
    /// `--context NAME`; default: the kubeconfig's `current-context`.
    pub context: Option<String>,
    /// `-n/--namespace`; default: the context's namespace, else `default`.
    pub namespace: Option<String>,
    /// `-A/--all-namespaces`.
    pub all_namespaces: bool,
}

impl KubeSettings {
    /// Creates settings from the flags and this process's environment.
    pub fn from_env(
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        namespace: Option<String>,
        all_namespaces: bool,
    ) -> Self {
        Self {
            kubeconfig,
            kubeconfig_env: std::env::var_os("KUBECONFIG"),
            home: std::env::var_os("HOME").map(PathBuf::from),
            in_cluster: std::env::var_os(SERVICE_HOST_ENV).is_some(),
            context,
            namespace,
            all_namespaces,
        }
    }
}

/// Namespaces to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

impl Scope {
    /// Returns the namespace, or `None` for all namespaces.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Self::Namespace(namespace) => Some(namespace),
            Self::All => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Namespace(namespace) => write!(f, "namespace \"{namespace}\""),
            Self::All => f.write_str("all namespaces"),
        }
    }
}

/// Origin of the cluster configuration.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// Kubeconfig files, merged, in order.
    Files {
        paths: Vec<PathBuf>,
        kubeconfig: Box<Kubeconfig>,
    },
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`).
    InCluster,
}

/// Checked settings: the context and scope to use.
#[derive(Debug, Clone)]
pub struct ResolvedKube {
    pub source: ConfigSource,
    /// The context name; `in-cluster` for in-cluster configuration.
    pub context: String,
    pub scope: Scope,
}

/// Errors from finding and reading the cluster configuration.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(
        "no kubeconfig found (looked at {tried}) and not running in a pod; pass --kubeconfig FILE or set KUBECONFIG"
    )]
    NoConfig { tried: String },
    #[error(
        "cannot read kubeconfig {path}: {reason}; check that the file exists and is valid YAML"
    )]
    Read { path: String, reason: String },
    #[error("context \"{context}\" not found in {path}; available: {available}")]
    ContextNotFound {
        context: String,
        path: String,
        available: String,
    },
    #[error("no current context in {path}; pass --context NAME (available: {available})")]
    NoCurrentContext { path: String, available: String },
    #[error(
        "context \"{context}\" in {path} refers to cluster \"{cluster}\", which is not defined there; fix the context or add the cluster"
    )]
    ClusterNotFound {
        context: String,
        cluster: String,
        path: String,
    },
    #[error(
        "invalid namespace \"{namespace}\": a namespace is at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
    )]
    InvalidNamespace { namespace: String },
    #[error(
        "cannot load in-cluster configuration: {reason}; pass --kubeconfig FILE to use a kubeconfig"
    )]
    InCluster { reason: String },
    #[error("cannot create a client for context \"{context}\": {reason}")]
    Client { context: String, reason: String },
}

/// Reads the kubeconfig files (or picks in-cluster configuration) and checks the context and
/// namespace.
///
/// Files come from `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`. Like kubectl,
/// `KUBECONFIG` entries that are empty or do not exist are skipped, and for each context, cluster
/// and user the first file that defines it wins, as does the first `current-context`.
pub fn resolve(settings: &KubeSettings) -> Result<ResolvedKube, KubeError> {
    let home = settings.home.as_deref();
    let paths = config_paths(settings);
    let existing: Vec<PathBuf> = match &settings.kubeconfig {
        // An explicit --kubeconfig must exist: reading it reports the error.
        Some(path) => vec![path.clone()],
        None => paths.iter().filter(|path| path.exists()).cloned().collect(),
    };

    if existing.is_empty() {
        if settings.in_cluster {
            let namespace = settings.namespace.clone();
            return Ok(ResolvedKube {
                source: ConfigSource::InCluster,
                context: "in-cluster".to_owned(),
                scope: scope(settings, namespace.as_deref())?,
            });
        }
        let tried = paths
            .iter()
            .map(|path| display_path(path, home))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(KubeError::NoConfig {
            tried: if tried.is_empty() {
                "no path: HOME is not set".to_owned()
            } else {
                tried
            },
        });
    }

    let mut merged = Kubeconfig::default();
    for path in &existing {
        let file = Kubeconfig::read_from(path).map_err(|error| KubeError::Read {
            path: display_path(path, home),
            reason: first_line(&error.to_string()),
        })?;
        merged = merged.merge(file).map_err(|error| KubeError::Read {
            path: display_path(path, home),
            reason: error.to_string(),
        })?;
    }
    let shown_paths = existing
        .iter()
        .map(|path| display_path(path, home))
        .collect::<Vec<_>>()
        .join(":");

    let available = context_names(&merged);
    let context_name = match settings
        .context
        .as_ref()
        .or(merged.current_context.as_ref())
    {
        Some(name) if !name.is_empty() => name.clone(),
        _ => {
            return Err(KubeError::NoCurrentContext {
                path: shown_paths,
                available,
            });
        }
    };
    let Some(context) = merged
        .contexts
        .iter()
        .find(|named| named.name == context_name)
        .and_then(|named| named.context.as_ref())
    else {
        return Err(KubeError::ContextNotFound {
            context: context_name,
            path: shown_paths,
            available,
        });
    };
    if !merged
        .clusters
        .iter()
        .any(|named| named.name == context.cluster)
    {
        return Err(KubeError::ClusterNotFound {
            context: context_name,
            cluster: context.cluster.clone(),
            path: shown_paths,
        });
    }
    let context_namespace = context.namespace.clone();
    Ok(ResolvedKube {
        scope: scope(settings, context_namespace.as_deref())?,
        source: ConfigSource::Files {
            paths: existing,
            kubeconfig: Box::new(merged),
        },
        context: context_name,
    })
}

/// Creates a client for the resolved context. Makes no request: the first list or watch is the
/// first contact with the API server.
pub async fn connect(resolved: &ResolvedKube) -> Result<Client, KubeError> {
    let config = match &resolved.source {
        ConfigSource::InCluster => Config::incluster().map_err(|error| KubeError::InCluster {
            reason: error.to_string(),
        })?,
        ConfigSource::Files { kubeconfig, .. } => {
            let options = KubeConfigOptions {
                context: Some(resolved.context.clone()),
                ..KubeConfigOptions::default()
            };
            Config::from_custom_kubeconfig((**kubeconfig).clone(), &options)
                .await
                .map_err(|error| KubeError::Client {
                    context: resolved.context.clone(),
                    reason: without_exec_command(&error.to_string()),
                })?
        }
    };
    Client::try_from(config).map_err(|error| KubeError::Client {
        context: resolved.context.clone(),
        reason: without_exec_command(&error.to_string()),
    })
}

/// Returns the first line of a kubeconfig parse error. The YAML parser's next lines quote the
/// file around the fault, and a kubeconfig contains tokens and keys.
fn first_line(message: &str) -> String {
    hide_tokens(message.lines().next().unwrap_or_default())
}

/// Returns kube's error text without the exec plugin's command line, environment and output,
/// which it quotes whole (`auth exec command 'SECRET="…" "/bin/tool" "--token=…"' failed with
/// status exit status: 1: Output { … }`) and which may hold credentials.
fn without_exec_command(message: &str) -> String {
    const START: &str = "auth exec command '";
    const FAILED: &str = "' failed";
    let Some(start) = message.find(START) else {
        return hide_tokens(message);
    };
    let Some(failed) = message[start..].find(FAILED) else {
        return hide_tokens(&message[..start]);
    };
    let after = &message[start + failed + FAILED.len()..];
    let status = after.split(": Output").next().unwrap_or_default();
    format!(
        "{}the kubeconfig user's exec plugin failed{status}; run the command from the kubeconfig \
         to see its error",
        &message[..start]
    )
}

/// Returns the kubeconfig paths to read, in merge order.
fn config_paths(settings: &KubeSettings) -> Vec<PathBuf> {
    if let Some(path) = &settings.kubeconfig {
        return vec![path.clone()];
    }
    if let Some(list) = &settings.kubeconfig_env {
        let paths: Vec<PathBuf> = std::env::split_paths(list)
            .filter(|path| !path.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    settings
        .home
        .iter()
        .map(|home| home.join(".kube").join("config"))
        .collect()
}

fn scope(settings: &KubeSettings, context_namespace: Option<&str>) -> Result<Scope, KubeError> {
    if settings.all_namespaces {
        return Ok(Scope::All);
    }
    let namespace = settings
        .namespace
        .as_deref()
        .or(context_namespace)
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or("default");
    if !is_dns_label(namespace) {
        return Err(KubeError::InvalidNamespace {
            namespace: namespace.chars().take(80).collect(),
        });
    }
    Ok(Scope::Namespace(namespace.to_owned()))
}

/// Returns whether `name` is an RFC 1123 label, the rule for namespace names.
fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok =
        |byte: Option<&u8>| byte.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    name.len() <= 63
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn context_names(kubeconfig: &Kubeconfig) -> String {
    let mut names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|named| named.name.as_str())
        .collect();
    names.sort_unstable();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Shows a path with the home directory as `~`, as users type it.
fn display_path(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|home| path.strip_prefix(home).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// A directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("idflow-kube-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create temp dir");
            Self(path)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write kubeconfig");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Returns a kubeconfig with the given contexts (`name`, `namespace`), all on one loopback cluster.
    fn kubeconfig(current: Option<&str>, contexts: &[(&str, Option<&str>)]) -> String {
        let mut text = String::from(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: tester\n  user: {}\ncontexts:\n",
        );
        for (name, namespace) in contexts {
            let _ = writeln!(
                text,
                "- name: {name}\n  context:\n    cluster: local\n    user: tester"
            );
            if let Some(namespace) = namespace {
                let _ = writeln!(text, "    namespace: {namespace}");
            }
        }
        if let Some(current) = current {
            let _ = writeln!(text, "current-context: {current}");
        }
        text
    }

    fn settings(dir: &TempDir) -> KubeSettings {
        KubeSettings {
            home: Some(dir.0.clone()),
            ..KubeSettings::default()
        }
    }

    fn home_config(dir: &TempDir, text: &str) {
        std::fs::create_dir_all(dir.0.join(".kube")).expect("create .kube");
        dir.write(".kube/config", text);
    }

    #[test]
    fn resolve_current_context_namespace() {
        let dir = TempDir::new("current");
        home_config(&dir, &kubeconfig(Some("dev"), &[("dev", Some("shop"))]));
        let resolved = resolve(&settings(&dir)).expect("resolves");
        assert_eq!(resolved.context, "dev");
        assert_eq!(resolved.scope, Scope::Namespace("shop".to_owned()));
    }

    #[test]
    fn resolve_namespace_defaults() {
        let dir = TempDir::new("default-ns");
        home_config(&dir, &kubeconfig(Some("dev"), &[("dev", None)]));
        let resolved = resolve(&settings(&dir)).expect("resolves");
        assert_eq!(resolved.scope, Scope::Namespace("default".to_owned()));
    }

    #[test]
    fn resolve_flag_namespace_wins() {
        let dir = TempDir::new("flag-ns");
        home_config(&dir, &kubeconfig(Some("dev"), &[("dev", Some("shop"))]));
        let mut settings = settings(&dir);
        settings.namespace = Some("payments".to_owned());
        let resolved = resolve(&settings).expect("resolves");
        assert_eq!(resolved.scope, Scope::Namespace("payments".to_owned()));
    }

    #[test]
    fn resolve_all_namespaces() {
        let dir = TempDir::new("all-ns");
        home_config(&dir, &kubeconfig(Some("dev"), &[("dev", Some("shop"))]));
        let mut settings = settings(&dir);
        settings.all_namespaces = true;
        assert_eq!(resolve(&settings).expect("resolves").scope, Scope::All);
    }

    #[test]
    fn resolve_unknown_context_lists_available() {
        let dir = TempDir::new("unknown");
        home_config(
            &dir,
            &kubeconfig(Some("dev"), &[("staging", None), ("dev", None)]),
        );
        let mut settings = settings(&dir);
        settings.context = Some("prod".to_owned());
        let error = resolve(&settings).expect_err("prod is missing");
        assert_eq!(
            error.to_string(),
            "context \"prod\" not found in ~/.kube/config; available: dev, staging"
        );
    }

    #[test]
    fn resolve_without_current_context() {
        let dir = TempDir::new("no-current");
        home_config(&dir, &kubeconfig(None, &[("dev", None)]));
        let error = resolve(&settings(&dir)).expect_err("no current context");
        assert!(
            matches!(error, KubeError::NoCurrentContext { .. }),
            "{error}"
        );
    }

    #[test]
    fn resolve_missing_cluster() {
        let dir = TempDir::new("no-cluster");
        let text =
            kubeconfig(Some("dev"), &[("dev", None)]).replace("cluster: local", "cluster: gone");
        home_config(&dir, &text);
        let error = resolve(&settings(&dir)).expect_err("cluster missing");
        assert!(error.to_string().contains("cluster \"gone\""), "{error}");
    }

    #[test]
    fn resolve_invalid_namespace() {
        let dir = TempDir::new("bad-ns");
        home_config(&dir, &kubeconfig(Some("dev"), &[("dev", None)]));
        let mut settings = settings(&dir);
        settings.namespace = Some("Shop_1".to_owned());
        let error = resolve(&settings).expect_err("invalid namespace");
        assert!(
            error
                .to_string()
                .starts_with("invalid namespace \"Shop_1\""),
            "{error}"
        );
    }

    #[test]
    fn resolve_env_list_merges_first_wins() {
        let dir = TempDir::new("merge");
        let first = dir.write("a.yaml", &kubeconfig(Some("dev"), &[("dev", Some("shop"))]));
        let second = dir.write(
            "b.yaml",
            &kubeconfig(
                Some("prod"),
                &[("prod", Some("payments")), ("dev", Some("other"))],
            ),
        );
        let missing = dir.0.join("missing.yaml");
        let list = std::env::join_paths([&missing, &first, &second]).expect("join paths");
        let mut settings = settings(&dir);
        settings.kubeconfig_env = Some(list);
        let resolved = resolve(&settings).expect("resolves");
        assert_eq!(resolved.context, "dev");
        assert_eq!(resolved.scope, Scope::Namespace("shop".to_owned()));
    }

    #[test]
    fn resolve_env_list_second_file_context() {
        let dir = TempDir::new("merge-second");
        let first = dir.write("a.yaml", &kubeconfig(Some("dev"), &[("dev", None)]));
        let second = dir.write("b.yaml", &kubeconfig(None, &[("prod", Some("payments"))]));
        let mut settings = settings(&dir);
        settings.kubeconfig_env = Some(std::env::join_paths([&first, &second]).expect("join"));
        settings.context = Some("prod".to_owned());
        let resolved = resolve(&settings).expect("resolves");
        assert_eq!(resolved.scope, Scope::Namespace("payments".to_owned()));
    }

    #[test]
    fn resolve_flag_file_must_exist() {
        let dir = TempDir::new("flag-missing");
        let mut settings = settings(&dir);
        settings.kubeconfig = Some(dir.0.join("nope.yaml"));
        let error = resolve(&settings).expect_err("file missing");
        assert!(matches!(error, KubeError::Read { .. }), "{error}");
    }

    #[test]
    fn resolve_nothing_found() {
        let dir = TempDir::new("nothing");
        let error = resolve(&settings(&dir)).expect_err("no kubeconfig");
        assert!(error.to_string().contains("~/.kube/config"), "{error}");
    }

    #[test]
    fn resolve_in_cluster_fallback() {
        let dir = TempDir::new("in-cluster");
        let mut settings = settings(&dir);
        settings.in_cluster = true;
        settings.namespace = Some("shop".to_owned());
        let resolved = resolve(&settings).expect("in-cluster");
        assert!(matches!(resolved.source, ConfigSource::InCluster));
    }

    #[test]
    fn resolve_invalid_yaml_names_file() {
        let dir = TempDir::new("bad-yaml");
        home_config(&dir, "clusters: [unclosed");
        let error = resolve(&settings(&dir)).expect_err("invalid YAML");
        assert!(error.to_string().contains("~/.kube/config"), "{error}");
    }

    #[test]
    fn dns_label_table() {
        let cases = [
            ("shop", true),
            ("a-1", true),
            ("-a", false),
            ("a-", false),
            ("Shop", false),
            ("", false),
        ];
        for (name, expected) in cases {
            assert_eq!(is_dns_label(name), expected, "namespace {name:?}");
        }
    }
}

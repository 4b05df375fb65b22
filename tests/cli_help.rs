//! The help of every subcommand, as a user reads it. Subcommand arguments are built only when the
//! subcommand runs (`#[command(defer = true)]` in src/cli/mod.rs). A doc comment on a flattened
//! `Args` struct then replaces the subcommand's about line, and these tests catch that.

use std::process::Command;

/// Runs `idflow ARGS` and returns its standard output, failing on a non-zero exit.
fn idflow(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(args)
        .output()
        .expect("the idflow binary runs");
    assert!(
        output.status.success(),
        "idflow {args:?} exited with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// Returns the subcommands and their about lines, as `idflow --help` lists them.
fn listed_subcommands() -> Vec<(String, String)> {
    let help = idflow(&["--help"]);
    let commands = help
        .split("Commands:\n")
        .nth(1)
        .expect("idflow --help has a Commands section");
    commands
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let (name, about) = line.trim().split_once(char::is_whitespace)?;
            (name != "help").then(|| (name.to_owned(), about.trim().to_owned()))
        })
        .collect()
}

#[test]
fn subcommand_help_keeps_listed_about() {
    let subcommands = listed_subcommands();
    let names: Vec<&str> = subcommands.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "demo",
        "decode",
        "replay",
        "check",
        "envoy-config",
        "follow",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for (name, about) in &subcommands {
        let help = idflow(&[name, "--help"]);
        let first = help.lines().next().unwrap_or_default();
        // The list shows the first sentence without its final period.
        assert_eq!(
            first.trim_end_matches('.'),
            about.trim_end_matches('.'),
            "`idflow {name} --help` opens with another about line"
        );
        assert!(
            help.contains(&format!("Usage: idflow {name}")),
            "`idflow {name} --help` has no usage line:\n{help}"
        );
    }
}

#[test]
fn deferred_decode_flags_parse() {
    let help = idflow(&["decode", "--help"]);
    for flag in ["--jwks", "--batch", "--theme", "--log-file"] {
        assert!(help.contains(flag), "decode --help lacks {flag}:\n{help}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "--no-such-flag"])
        .output()
        .expect("the idflow binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

/// Returns the `STATUS  MEANING` entries of the `Exit status:` section of `idflow NAME --help`,
/// with each meaning's continuation lines joined to it.
fn exit_statuses(name: &str) -> Vec<(u8, String)> {
    let help = idflow(&[name, "--help"]);
    let section = help
        .split("Exit status:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("`idflow {name} --help` has no Exit status section:\n{help}"));
    let mut statuses: Vec<(u8, String)> = Vec::new();
    for line in section.lines().take_while(|line| line.starts_with("  ")) {
        let entry = line
            .trim_start()
            .split_once("  ")
            .and_then(|(status, meaning)| Some((status.parse().ok()?, meaning)));
        if let Some((status, meaning)) = entry {
            statuses.push((status, meaning.to_owned()));
        } else {
            let (_, meaning) = statuses
                .last_mut()
                .expect("a status before its continuation");
            meaning.push(' ');
            meaning.push_str(line.trim());
        }
    }
    statuses
}

/// Returns the status whose meaning in `idflow check --help` starts with `start`.
fn check_status_for(start: &str) -> i32 {
    exit_statuses("check")
        .into_iter()
        .find(|(_, meaning)| meaning.starts_with(start))
        .map_or_else(
            || panic!("`idflow check --help` lists no status for {start:?}"),
            |(status, _)| i32::from(status),
        )
}

/// Runs `idflow check ARGS` and returns its exit status.
fn check_exit(args: &[&str]) -> Option<i32> {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .arg("check")
        .args(args)
        .output()
        .expect("the idflow binary runs");
    output.status.code()
}

#[test]
fn check_help_lists_exit_statuses() {
    let listed = exit_statuses("check");
    let expected: Vec<(u8, String)> = idflow::cli::check::EXIT_STATUSES
        .iter()
        .map(|(status, meaning)| (*status, (*meaning).to_owned()))
        .collect();

    assert_eq!(listed, expected);
}

#[test]
fn check_exits_as_help_lists() {
    let folder = std::env::temp_dir().join(format!("idflow-cli-help-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("folder created");
    let policy = folder.join("public-only.yaml");
    std::fs::write(
        &policy,
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: \
         public-only\n  namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: \
         orders\n  action: ALLOW\n  rules:\n  - to:\n    - operation:\n        paths: \
         [\"/public/*\"]\n",
    )
    .expect("policy written");
    let policy = policy.to_string_lossy().into_owned();
    let missing = folder.join("missing.yaml").to_string_lossy().into_owned();
    let request = |path| ["-f", &policy, "--workload", "shop/orders", "--path", path];

    let allowed = check_exit(&request("/public/logo.png"));
    let denied = check_exit(&request("/private"));
    let bad_flag = check_exit(&["-f", &policy, "--workload", "shoporders"]);
    let unreadable = check_exit(&["-f", &missing, "--workload", "shop/orders"]);

    assert_eq!(allowed, Some(check_status_for("the proxy allows")));
    assert_eq!(denied, Some(check_status_for("the proxy denies")));
    assert_eq!(bad_flag, Some(check_status_for("invalid flags")));
    assert_eq!(unreadable, Some(check_status_for("invalid flags")));
}

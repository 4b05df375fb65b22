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

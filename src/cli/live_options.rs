//! The live TUI's options given before a subcommand (`idflow --context prod follow`).
//!
//! kubectl takes its cluster flags before or after the verb, so users write them first. Such an
//! option goes to the subcommand when the subcommand takes it. Any other subcommand ends with a
//! usage error, because ignoring a `--context` would let `follow` read another cluster.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, error::ErrorKind};

use super::{Cli, Command};

/// The live TUI's options, by clap id and flag, with the subcommands that also take them.
const LIVE_OPTIONS: [(&str, &str, &[&str]); 6] = [
    ("kubeconfig", "--kubeconfig", &["follow"]),
    ("context", "--context", &["follow"]),
    ("namespace", "--namespace (-n)", &["follow"]),
    ("all_namespaces", "--all-namespaces (-A)", &["follow"]),
    ("max_flows", "--max-flows", &["follow", "replay"]),
    ("edge_profile", "--edge-profile", &["decode", "replay"]),
];

/// Parses the command line of the process.
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the program name first) and hands the live TUI's options given before a
/// subcommand to that subcommand, or returns a usage error naming the option and where it belongs.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let Some((name, sub_matches)) = matches.subcommand() {
        lift(&mut cli, &matches, name, sub_matches)
            .map_err(|message| Cli::command().error(ErrorKind::ArgumentConflict, message))?;
    }
    Ok(cli)
}

fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

fn lift(
    cli: &mut Cli,
    matches: &ArgMatches,
    subcommand: &str,
    sub_matches: &ArgMatches,
) -> Result<(), String> {
    for (id, flag, takers) in LIVE_OPTIONS {
        if !given(matches, id) {
            continue;
        }
        if !takers.contains(&subcommand) {
            let takers: Vec<String> = takers.iter().map(|name| format!("`{name}`")).collect();
            return Err(format!(
                "{flag} before `{subcommand}` would have no effect: it belongs to the live TUI \
                 (no subcommand) and to {}; remove it, or give it to one of those",
                takers.join(" and ")
            ));
        }
        let twice = given(sub_matches, id);
        if !move_value(cli, id, twice) {
            return Err(format!(
                "{flag} is given both before and after `{subcommand}` with different values; \
                 give it once"
            ));
        }
    }
    if let Some(Command::Follow(follow)) = &cli.command
        && follow.kube.all_namespaces
        && follow.kube.namespace.is_some()
    {
        return Err(
            "--namespace (-n) and --all-namespaces (-A) cannot be used together; give one"
                .to_owned(),
        );
    }
    Ok(())
}

/// Copies the top-level value of `id` into the subcommand. When the subcommand was given the
/// option too (`twice`), returns false unless both values are equal.
fn move_value(cli: &mut Cli, id: &str, twice: bool) -> bool {
    fn put<T: PartialEq + Clone>(top: &T, sub: &mut T, twice: bool) -> bool {
        if twice {
            return top == sub;
        }
        sub.clone_from(top);
        true
    }
    match (id, cli.command.as_mut()) {
        ("kubeconfig", Some(Command::Follow(follow))) => {
            put(&cli.kube.kubeconfig, &mut follow.kube.kubeconfig, twice)
        }
        ("context", Some(Command::Follow(follow))) => {
            put(&cli.kube.context, &mut follow.kube.context, twice)
        }
        ("namespace", Some(Command::Follow(follow))) => {
            put(&cli.kube.namespace, &mut follow.kube.namespace, twice)
        }
        ("all_namespaces", Some(Command::Follow(follow))) => put(
            &cli.kube.all_namespaces,
            &mut follow.kube.all_namespaces,
            twice,
        ),
        ("max_flows", Some(Command::Follow(follow))) => {
            put(&cli.max_flows, &mut follow.max_flows, twice)
        }
        ("max_flows", Some(Command::Replay(replay))) => {
            put(&cli.max_flows, &mut replay.max_flows, twice)
        }
        ("edge_profile", Some(Command::Decode(decode))) => {
            put(&cli.edge_profile, &mut decode.edge_profile, twice)
        }
        ("edge_profile", Some(Command::Replay(replay))) => {
            put(&cli.edge_profile, &mut replay.edge_profile, twice)
        }
        _ => unreachable!("LIVE_OPTIONS names `{id}` for a subcommand without it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        parse_from(std::iter::once("idflow").chain(args.iter().copied()))
            .map_err(|error| error.to_string())
    }

    fn follow(cli: &Cli) -> &crate::cli::follow::FollowArgs {
        match &cli.command {
            Some(Command::Follow(follow)) => follow,
            other => panic!("expected follow, got {other:?}"),
        }
    }

    #[test]
    fn cluster_options_before_follow_reach_it() {
        let cli = parse(&[
            "--kubeconfig",
            "k.yaml",
            "--context",
            "prod",
            "-n",
            "shop",
            "--max-flows",
            "7",
            "follow",
        ])
        .expect("parses");
        let follow = follow(&cli);
        assert_eq!(
            follow.kube.kubeconfig.as_deref(),
            Some(std::path::Path::new("k.yaml"))
        );
        assert_eq!(follow.kube.context.as_deref(), Some("prod"));
        assert_eq!(follow.kube.namespace.as_deref(), Some("shop"));
        assert_eq!(follow.max_flows, 7);
    }

    #[test]
    fn same_value_on_both_sides_is_accepted() {
        let cli = parse(&["--context", "prod", "follow", "--context", "prod"]).expect("parses");
        assert_eq!(follow(&cli).kube.context.as_deref(), Some("prod"));
    }

    #[test]
    fn different_values_on_both_sides_are_an_error() {
        let error = parse(&["--context", "prod", "follow", "--context", "dev"]).expect_err("two");
        assert!(
            error.contains(
                "--context is given both before and after `follow` with different values; give it once"
            ),
            "{error}"
        );
    }

    #[test]
    fn namespace_before_and_all_namespaces_after_conflict() {
        let error = parse(&["-n", "shop", "follow", "-A"]).expect_err("conflict");
        assert!(
            error.contains("--namespace (-n) and --all-namespaces (-A) cannot be used together"),
            "{error}"
        );
    }

    #[test]
    fn edge_profile_before_decode_reaches_it() {
        let cli = parse(&["--edge-profile", "edge.toml", "decode", "t"]).expect("parses");
        let Some(Command::Decode(decode)) = &cli.command else {
            panic!("expected decode");
        };
        assert_eq!(
            decode.edge_profile.as_deref(),
            Some(std::path::Path::new("edge.toml"))
        );
    }

    #[test]
    fn option_for_other_subcommand_rejected() {
        let error = parse(&[
            "--context",
            "prod",
            "check",
            "--file",
            "p.yaml",
            "--workload",
            "a/b",
        ])
        .expect_err("check");
        assert!(
            error.contains(
                "--context before `check` would have no effect: it belongs to the live TUI (no \
                 subcommand) and to `follow`; remove it, or give it to one of those"
            ),
            "{error}"
        );
        let error = parse(&["--edge-profile", "e.toml", "follow"]).expect_err("follow");
        assert!(error.contains("to `decode` and `replay`"), "{error}");
    }

    #[test]
    fn live_tui_keeps_its_options() {
        let cli = parse(&["--context", "prod", "--max-flows", "9"]).expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(cli.kube.context.as_deref(), Some("prod"));
        assert_eq!(cli.max_flows, 9);
    }
}

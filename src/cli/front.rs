//! The `idflow` executable: it decodes a single token given alone (no keys, edge profile or
//! policies) itself, and hands every other command line to `idflow-full`, the executable in the
//! same folder that contains the whole program.
//!
//! A script that decodes one token per process pays the start-up on every token. The whole
//! program starts about 0.7 ms slower than `jwt decode`, because the loader relocates the
//! pointers of every linked crate (kube, k8s-openapi and ratatui among them) and mimalloc sets up
//! its first arena. The live pipeline needs mimalloc and the executable keeps PIE. So the decode
//! of a token alone lives in a small executable with the system allocator. It links no cluster,
//! TUI, key loading, fetching or profile code (docs/BENCHMARKS.md, "Two executables").

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use super::{DecodeArgs, EXIT_USAGE};

/// The executable, in the folder of `idflow`, that runs every command line.
pub const FULL_PROGRAM: &str = "idflow-full";

/// `idflow decode`'s arguments, parsed without the rest of the command line interface.
#[derive(Parser)]
#[command(name = "idflow decode", no_binary_name = true)]
struct SingleDecode {
    #[command(flatten)]
    args: DecodeArgs,
}

/// Runs the command line of the process.
pub fn run() -> ExitCode {
    crate::redact::hide_tokens_in_panics();
    let args: Vec<OsString> = std::env::args_os().collect();
    match single_decode(&args) {
        Some(decode) => super::decode::run_token_only(&decode),
        None => hand_over(&args),
    }
}

/// Returns the arguments of `args` (the program name first) when they are a single `decode` of
/// the token alone ([`DecodeArgs::reads_token_only`]) that parses: no option before the
/// subcommand, no help, no usage error. Anything else goes to `idflow-full`, which prints its
/// usual output, so both executables behave as one.
pub fn single_decode(args: &[OsString]) -> Option<DecodeArgs> {
    if args.get(1)? != "decode" {
        return None;
    }
    let decode = SingleDecode::try_parse_from(&args[2..]).ok()?.args;
    decode.reads_token_only().then_some(decode)
}

/// Replaces this process with `idflow-full` and the same arguments, or reports why it could not.
fn hand_over(args: &[OsString]) -> ExitCode {
    let program = match std::env::current_exe() {
        Ok(path) => path.with_file_name(FULL_PROGRAM),
        Err(error) => {
            stderr_line!(
                "idflow: failed to find its own path, needed to start {FULL_PROGRAM}: {error}"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut command = std::process::Command::new(&program);
    command.args(args.iter().skip(1));
    let error = replace_process(&mut command, args.first());
    stderr_line!(
        "idflow: cannot start {}: {error}. idflow decodes a token given alone itself and hands \
         every other command to {FULL_PROGRAM}, which must be in the same folder: build both with \
         `cargo build --release`, or install both with `cargo install --path .`",
        program.display()
    );
    ExitCode::from(EXIT_USAGE)
}

/// Runs `command` in place of this process, under the name `arg0` that the user typed (as `ps`
/// shows it), and returns the error when it could not start.
#[cfg(unix)]
fn replace_process(command: &mut std::process::Command, arg0: Option<&OsString>) -> std::io::Error {
    use std::os::unix::process::CommandExt as _;
    if let Some(arg0) = arg0 {
        command.arg0(arg0);
    }
    command.exec()
}

/// Runs `command` and exits with its status, where a process cannot be replaced.
#[cfg(not(unix))]
fn replace_process(
    command: &mut std::process::Command,
    _arg0: Option<&OsString>,
) -> std::io::Error {
    match command.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn runs_a_single_decode_itself() {
        let decode = single_decode(&args(&[
            "idflow", "decode", "-o", "json", "Bearer", "x.y.z",
        ]))
        .expect("a single decode");

        assert_eq!(decode.token, ["Bearer", "x.y.z"]);
        assert!(decode.output.is_some());
    }

    #[test]
    fn hands_over_everything_else() {
        for words in [
            &["idflow"][..],
            &["idflow", "demo"],
            &["idflow", "check", "-f", "p.yaml"],
            &["idflow", "decode", "--batch", "tokens.txt"],
            &["idflow", "decode", "--jwks", "jwks.json", "x.y.z"],
            &["idflow", "decode", "--edge-profile", "edge.toml", "x.y.z"],
            &["idflow", "decode", "--help"],
            &["idflow", "decode", "--theme", "light", "x.y.z"],
            &["idflow", "decode", "--no-such-option"],
            &["idflow", "--edge-profile", "edge.toml", "decode", "x.y.z"],
            &["idflow", "--version"],
        ] {
            assert!(single_decode(&args(words)).is_none(), "{words:?}");
        }
    }
}

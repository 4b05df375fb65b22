//! `idflow decode`: decode a token, with the exit status DESIGN.md lists.

use std::process::ExitCode;

use super::DecodeArgs;

/// Runs `idflow decode` and returns 0 when decoded, 1 when decoded but invalid, 2 when not a token.
pub fn run(args: &DecodeArgs) -> ExitCode {
    let _ = args;
    ExitCode::from(2)
}

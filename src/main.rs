//! `idflow`: runs a single `decode` itself and hands every other command line to `idflow-full`.

use std::process::ExitCode;

fn main() -> ExitCode {
    idflow::cli::front::run()
}

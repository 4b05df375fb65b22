use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    idflow::cli::run(idflow::cli::Cli::parse())
}

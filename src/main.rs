use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match idflow::cli::Cli::try_parse() {
        Ok(cli) => idflow::cli::run(cli),
        Err(error) => idflow::cli::exit_on_usage_error(&error),
    }
}

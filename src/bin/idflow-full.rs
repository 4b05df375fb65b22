//! `idflow-full`: the whole program. The `idflow` executable hands it every command line but a
//! single `decode`.

use std::process::ExitCode;

idflow::use_pipeline_allocator!();

fn main() -> ExitCode {
    match idflow::cli::parse() {
        Ok(cli) => idflow::cli::run(cli),
        Err(error) => idflow::cli::exit_on_usage_error(&error),
    }
}

use std::process::ExitCode;

fn main() -> ExitCode {
    match idflow::cli::parse() {
        Ok(cli) => idflow::cli::run(cli),
        Err(error) => idflow::cli::exit_on_usage_error(&error),
    }
}

//! The two executables: `idflow` runs a single `decode` itself and hands every other command line
//! to `idflow-full`. Both must behave as one program, so each command line below runs through
//! both and the outputs are compared byte for byte.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `program` with `args` and empty standard input. A copy of an executable that another
/// test thread's child still has open for writing fails to start with "Text file busy"
/// (`ETXTBSY`) for a moment, so that error is retried.
fn run(program: &str, args: &[&str]) -> Output {
    let mut attempts = 0;
    loop {
        match Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
        {
            Ok(output) => return output,
            Err(error) if error.raw_os_error() == Some(26) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!("{program} starts: {error}"),
        }
    }
}

/// Returns the status, standard output and standard error of `output`, for comparing.
fn outcome(output: &Output) -> (Option<i32>, String, String) {
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn both_executables_print_alike() {
    let (token, _) = support::jwt_shaped("alice");
    let bearer = format!("Bearer {token}");
    let folder = std::env::temp_dir().join(format!("idflow-front-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let batch = folder.join("tokens.txt");
    std::fs::write(&batch, format!("{token}\nnot a token\n")).expect("batch file");
    let batch = batch.to_string_lossy().into_owned();
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/edge.sample.toml");
    let profile = profile.to_string_lossy().into_owned();
    let at = "2030-01-01T00:00:00Z";
    let token_file = folder.join("token.txt");
    std::fs::write(&token_file, format!("Authorization: Bearer {token}\n")).expect("token file");
    let token_file = token_file.to_string_lossy().into_owned();
    let curl = format!(
        "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token=x{token}'"
    );
    let expired = support::jwt_shaped("bob").0.replace(
        &support::jwt_shaped("bob").1[1],
        "eyJzdWIiOiJib2IiLCJleHAiOjE2MDAwMDAwMDB9",
    );
    let jwe = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y2lwaGVy.dGFn";

    let command_lines: Vec<Vec<&str>> = vec![
        vec!["decode", "--at", at, &token],
        vec!["decode", "--at", at, "-o", "json", &token],
        vec!["decode", "--at", at, "Bearer", &token],
        vec!["decode", "--at", at, "--show-secrets", &bearer],
        vec!["decode", "--at", at, "--edge-profile", &profile, &token],
        vec!["--edge-profile", &profile, "decode", "--at", at, &token],
        vec!["decode", "--at", at, "--batch", &batch],
        vec!["decode", "not a token"],
        vec!["decode", "--at", at, &token_file],
        vec!["decode", "--at", at, "-o", "ndjson", &curl],
        vec!["decode", "--at", at, &expired],
        vec!["decode", "--at", at, "-o", "json", jwe],
        vec!["decode", "--at", at, "opaque-token-123"],
        vec!["decode", "--jwks", &batch, &token],
        vec!["decode", "--ca-file", &batch, &token],
        vec!["decode", "--at", "yesterday", &token],
        vec!["decode", "--no-such-option", &token],
        vec!["decode", "--theme", "light", "--at", at, &token],
        vec!["decode", "--help"],
        vec!["decode"],
        vec!["check", "--help"],
        vec!["--version"],
        vec!["no-such-command"],
    ];
    for args in &command_lines {
        let front = outcome(&run(env!("CARGO_BIN_EXE_idflow"), args));
        let full = outcome(&run(env!("CARGO_BIN_EXE_idflow-full"), args));

        assert_eq!(front, full, "{:.60}", args.join(" "));
        assert!(!front.1.is_empty() || !front.2.is_empty(), "{args:?}");
    }
    std::fs::remove_dir_all(&folder).ok();
}

/// A single decode needs nothing beside `idflow`. Every other command line ends with exit 2 and a
/// message that names the missing executable and how to build it, where a bare "No such file"
/// would not tell the user what is missing.
#[test]
fn names_a_missing_full_program() {
    let folder = std::env::temp_dir().join(format!("idflow-alone-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let alone = folder.join("idflow");
    std::fs::copy(env!("CARGO_BIN_EXE_idflow"), &alone).expect("copy of idflow");
    let alone = alone.to_string_lossy().into_owned();
    let (token, _) = support::jwt_shaped("alice");

    let decode = run(&alone, &["decode", &token]);
    let check = run(&alone, &["check", "--workload", "shop/orders"]);

    assert_eq!(decode.status.code(), Some(0), "{}", outcome(&decode).2);
    let (code, stdout, stderr) = outcome(&check);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stderr.contains("idflow-full"), "{stderr}");
    assert!(stderr.contains("cargo build --release"), "{stderr}");
    std::fs::remove_dir_all(&folder).ok();
}

/// Messages of `idflow-full` name the program `idflow` however it was started.
#[test]
fn usage_names_idflow() {
    let output = run(
        env!("CARGO_BIN_EXE_idflow-full"),
        &["check", "--no-such-option"],
    );
    let stderr = outcome(&output).2;

    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Usage: idflow check"), "{stderr}");
}

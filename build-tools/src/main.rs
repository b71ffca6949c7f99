//! `cargo xtask`: the spec pipeline's commands. Run `cargo xtask help` for the list.

use std::process::ExitCode;

mod bench;
mod release;

use build_tools::{Result, derive_spec, diff, parse_yaml, paths, render, workspace_root};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  spec              rewrite invitations-client/invitations.yaml from spec/upstream/openapi.yaml and
                    spec/overlay.yaml, and the generated-code snapshot from it
  check             fail (exit 1) when invitations-client/invitations.yaml or the snapshot is stale
  codegen           print the generated Rust code to stdout
  diff OLD NEW      summarise the API difference between two specs (exit 1 when different)
  bench [--quick]   build in release mode, measure the performance figures, print them with
                    their goals and write target/bench/report.json (--quick: a short run that
                    only proves the command works)
  phasetwo-server [--port N] [--versions KEYCLOAK+ORGS | --matrix] [-- COMMAND ARGS...]
                    download (pinned, cached), start and configure the real server, Keycloak
                    with Phase Two's extension, on 127.0.0.1; print its description as one
                    JSON line; serve until interrupted, or run COMMAND with the description
                    in PHASETWO_SERVER and stop afterwards (--versions: another verified pair;
                    --matrix: COMMAND against each verified pair)
  chaos [--short]   the real server with Toxiproxy in front: bulk runs, revocations, racing
                    creates and a killed Keycloak, each judged by the server's state; one line
                    per scenario, then `N passed, M failed` (--short: fewer rows, each toxic
                    once)
  release-check     the public API of every published crate against the last release
                    (RELEASED.toml), by cargo-semver-checks (installed when missing): fails
                    when the change needs a bigger version bump than the one made
  spec-drill        on copies of the workspace, three upstream spec changes (a field added,
                    a field removed, an operation removed) through the spec pipeline and
                    cargo-semver-checks: fails unless each is classified as expected
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["spec"] => spec(),
        ["check"] => check(),
        ["codegen"] => codegen(),
        ["diff", old, new] => diff_files(old, new),
        ["bench"] => bench::run(false),
        ["bench", "--quick"] => bench::run(true),
        ["phasetwo-server", rest @ ..] => tests_program("phasetwo-server", rest, &[]),
        ["chaos", rest @ ..] => chaos(rest),
        ["release-check"] => release::check(),
        ["spec-drill"] => release::drill(),
        ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprint!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    outcome.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn read(relative: &str) -> Result<String> {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn write(relative: &str, contents: &str) -> Result<()> {
    let path = workspace_root().join(relative);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, contents).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// What the derived spec and the snapshot should contain now.
fn expected() -> Result<(String, String)> {
    let derived = derive_spec(&read(paths::UPSTREAM)?, &read(paths::OVERLAY)?)?;
    let code = render(&derived)?;
    Ok((derived, code))
}

fn spec() -> Result<ExitCode> {
    let (derived, code) = expected()?;
    write(paths::DERIVED, &derived)?;
    write(paths::SNAPSHOT, &code)?;
    eprintln!("wrote {} and {}", paths::DERIVED, paths::SNAPSHOT);
    Ok(ExitCode::SUCCESS)
}

fn check() -> Result<ExitCode> {
    let (derived, code) = expected()?;
    let mut stale = Vec::new();
    for (file, want) in [(paths::DERIVED, &derived), (paths::SNAPSHOT, &code)] {
        if read(file).ok().as_ref() != Some(want) {
            stale.push(file);
        }
    }
    if stale.is_empty() {
        eprintln!("{} and {} are current", paths::DERIVED, paths::SNAPSHOT);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("stale: {}; run `cargo xtask spec` and commit the result", stale.join(", "));
    Ok(ExitCode::FAILURE)
}

fn codegen() -> Result<ExitCode> {
    print!("{}", render(&read(paths::DERIVED)?)?);
    Ok(ExitCode::SUCCESS)
}

fn diff_files(old: &str, new: &str) -> Result<ExitCode> {
    let load = |p: &str| -> Result<serde_json::Value> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?;
        parse_yaml(&text).map_err(|e| format!("{p}: {e}").into())
    };
    let changes = diff::diff(&load(old)?, &load(new)?);
    if changes.is_empty() {
        println!("no API difference");
        return Ok(ExitCode::SUCCESS);
    }
    for change in &changes {
        println!("{change}");
    }
    Ok(ExitCode::FAILURE)
}

/// The chaos program drives the command-line tool, built first.
fn chaos(args: &[&str]) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = std::process::Command::new(&cargo)
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--locked", "--package", "phasetwo-invitations"])
        .args(["--features", "cli", "--bin", "phasetwo-invitations"])
        .status()?;
    if !built.success() {
        return Ok(ExitCode::FAILURE);
    }
    let cli = bench::target_dir().join("debug/phasetwo-invitations");
    tests_program("chaos", args, &[("PHASETWO_CLI", cli.as_os_str())])
}

/// The real server's programs live with the tests that use them; this only runs one.
fn tests_program(
    program: &str,
    args: &[&str],
    vars: &[(&str, &std::ffi::OsStr)],
) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        .args(["run", "--quiet", "--locked", "--package", "invitations-tests"])
        .args(["--bin", program, "--"])
        .args(args)
        .envs(vars.iter().copied())
        .status()?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

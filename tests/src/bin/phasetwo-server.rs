//! The real Phase Two server, for conformance tests and trying the client out:
//! `cargo xtask phasetwo-server [--port N] [--versions KEYCLOAK+ORGS | --matrix] [-- COMMAND ARGS...]`.
//!
//! `--versions` picks one of the verified pairs of Keycloak and keycloak-orgs (default: the
//! pinned one); `--matrix` runs the command against each verified pair in turn, printing one
//! line per pair and a closing `N passed, M failed`.
//!
//! Downloads Keycloak and the organizations extension (pinned, checked, cached), starts them on
//! 127.0.0.1, configures a realm, organizations, clients and users, and describes them in one
//! JSON line. Without a command it prints that line and serves until interrupted; with one, it
//! runs it with the description in `PHASETWO_SERVER` and the client's variables set (`PHASETWO_URL`,
//! `PHASETWO_REALM`, `PHASETWO_ORG`, `PHASETWO_CLIENT_ID`, `PHASETWO_CLIENT_SECRET`,
//! `PHASETWO_AUTH_REALM`; `PHASETWO_OTHER_ORG`, and the invitee's `PHASETWO_INVITEE_EMAIL` and
//! `PHASETWO_USER_TOKEN`), stops the server and exits with the command's status.

use std::process::ExitCode;

use invitations_tests::admin::configure;
use invitations_tests::keycloak::{Keycloak, PINNED, VERIFIED, Versions};

const USAGE: &str =
    "usage: phasetwo-server [--port N] [--versions KEYCLOAK+ORGS | --matrix] [-- COMMAND ARGS...]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (options, command) = match args.iter().position(|a| a == "--") {
        Some(at) => (&args[..at], Some(&args[at + 1..])),
        None => (&args[..], None),
    };
    let (mut port, mut versions, mut matrix) = (None, PINNED, false);
    let mut options = options.iter();
    while let Some(flag) = options.next() {
        match flag.as_str() {
            "--port" => match options.next().map(|v| (v, v.parse())) {
                Some((_, Ok(value))) => port = Some(value),
                Some((value, Err(e))) => {
                    eprintln!("--port {value}: {e}");
                    return ExitCode::from(2);
                }
                None => return usage(),
            },
            "--versions" => match options.next().map(|v| (v, Versions::named(v))) {
                Some((_, Some(named))) => versions = named,
                Some((value, None)) => {
                    let known: Vec<String> = VERIFIED.iter().map(Versions::name).collect();
                    eprintln!(
                        "--versions {value}: not a verified pair; one of {}",
                        known.join(", ")
                    );
                    return ExitCode::from(2);
                }
                None => return usage(),
            },
            "--matrix" => matrix = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    if command.is_some_and(<[String]>::is_empty) || (matrix && command.is_none()) {
        return usage();
    }
    if !matrix {
        return serve(versions, port, command).await;
    }
    // Each verified pair in turn, the command run against each.
    let mut failed = Vec::new();
    for versions in VERIFIED {
        let outcome = serve(versions, port, command).await;
        let passed = outcome == ExitCode::SUCCESS;
        println!("{} {}", if passed { "ok  " } else { "FAIL" }, versions.name());
        if !passed {
            failed.push(versions.name());
        }
    }
    println!(
        "{} passed, {} failed{}",
        VERIFIED.len() - failed.len(),
        failed.len(),
        if failed.is_empty() { String::new() } else { format!(": {}", failed.join(", ")) }
    );
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// Starts and configures the server, then serves until interrupted or runs `command`.
async fn serve(versions: Versions, port: Option<u16>, command: Option<&[String]>) -> ExitCode {
    let started = std::time::Instant::now();
    let mut keycloak = match Keycloak::start(versions, port).await {
        Ok(keycloak) => keycloak,
        Err(e) => {
            eprintln!("phasetwo-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "phasetwo-server: Keycloak {} with keycloak-orgs {} ready at {} after {:.1} s",
        versions.keycloak.version,
        versions.orgs.version,
        keycloak.url(),
        started.elapsed().as_secs_f64()
    );
    let description = match configure(
        keycloak.url(),
        keycloak.admin_password(),
        (versions.keycloak.version, versions.orgs.version),
    )
    .await
    {
        Ok(description) => description,
        Err(e) => {
            eprintln!(
                "phasetwo-server: configuring: {e}\n--- last lines of Keycloak's log ---\n{}",
                keycloak.log_tail(40)
            );
            keycloak.stop().await;
            return ExitCode::FAILURE;
        }
    };
    let line = serde_json::to_string(&description).expect("the description serialises");
    // Alone, the description is the output; before a command, which gets it in
    // PHASETWO_SERVER, only what is not secret is shown, so that logs keep no credentials.
    match command {
        None => println!("{line}"),
        Some(_) => eprintln!(
            "phasetwo-server: realm {}, organizations {} and {}; credentials in PHASETWO_SERVER",
            description.realm, description.org, description.other_org
        ),
    }

    let outcome = match command {
        None => {
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Some(command) => {
            let mut child = match tokio::process::Command::new(&command[0])
                .args(&command[1..])
                .env("PHASETWO_SERVER", &line)
                .env("PHASETWO_URL", &description.url)
                .env("PHASETWO_REALM", &description.realm)
                .env("PHASETWO_ORG", &description.org)
                .env("PHASETWO_OTHER_ORG", &description.other_org)
                .env("PHASETWO_INVITEE_EMAIL", &description.invitee_email)
                .env("PHASETWO_USER_TOKEN", &description.invitee_token)
                .env("PHASETWO_CLIENT_ID", &description.client_id)
                .env("PHASETWO_CLIENT_SECRET", &description.client_secret)
                .env("PHASETWO_AUTH_REALM", &description.realm)
                .spawn()
            {
                Ok(child) => child,
                Err(e) => {
                    eprintln!("phasetwo-server: running {}: {e}", command[0]);
                    keycloak.stop().await;
                    return ExitCode::FAILURE;
                }
            };
            tokio::select! {
                status = child.wait() => match status {
                    Ok(status) if status.success() => ExitCode::SUCCESS,
                    Ok(status) => {
                        eprintln!("phasetwo-server: {} ended with {status}", command[0]);
                        ExitCode::FAILURE
                    }
                    Err(e) => {
                        eprintln!("phasetwo-server: waiting for {}: {e}", command[0]);
                        ExitCode::FAILURE
                    }
                },
                _ = tokio::signal::ctrl_c() => {
                    let _ = child.kill().await;
                    ExitCode::from(130)
                }
            }
        }
    };
    keycloak.stop().await;
    eprintln!("phasetwo-server: stopped");
    outcome
}

//! The real Phase Two server, for conformance tests and trying the client out:
//! `cargo xtask phasetwo-server [--port N] [-- COMMAND ARGS...]`.
//!
//! Downloads Keycloak and the organizations extension (pinned, checked, cached), starts them on
//! 127.0.0.1, configures a realm, organizations, clients and users, and prints one JSON line
//! describing them. Without a command it serves until interrupted; with one, it runs it with
//! the description in `PHASETWO_SERVER` and the client's variables set (`PHASETWO_URL`,
//! `PHASETWO_REALM`, `PHASETWO_ORG`, `PHASETWO_CLIENT_ID`, `PHASETWO_CLIENT_SECRET`,
//! `PHASETWO_AUTH_REALM`; `PHASETWO_OTHER_ORG`, and the invitee's `PHASETWO_INVITEE_EMAIL` and
//! `PHASETWO_USER_TOKEN`), stops the server and exits with the command's status.

use std::process::ExitCode;

use invitations_tests::admin::configure;
use invitations_tests::keycloak::{KEYCLOAK, Keycloak, PROVIDERS};

const USAGE: &str = "usage: phasetwo-server [--port N] [-- COMMAND ARGS...]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (options, command) = match args.iter().position(|a| a == "--") {
        Some(at) => (&args[..at], Some(&args[at + 1..])),
        None => (&args[..], None),
    };
    let port = match options {
        [] => None,
        [flag, value] if flag == "--port" => match value.parse() {
            Ok(port) => Some(port),
            Err(e) => {
                eprintln!("--port {value}: {e}");
                return ExitCode::from(2);
            }
        },
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if command.is_some_and(<[String]>::is_empty) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }

    let started = std::time::Instant::now();
    let mut keycloak = match Keycloak::start(port).await {
        Ok(keycloak) => keycloak,
        Err(e) => {
            eprintln!("phasetwo-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "phasetwo-server: Keycloak {} with keycloak-orgs {} ready at {} after {:.1} s",
        KEYCLOAK.version,
        PROVIDERS[0].version,
        keycloak.url(),
        started.elapsed().as_secs_f64()
    );
    let description = match configure(
        keycloak.url(),
        keycloak.admin_password(),
        (KEYCLOAK.version, PROVIDERS[0].version),
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
    println!("{line}");

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

//! The built-in Phase Two server as a process, for local development without Keycloak.
//!
//! `phasetwo-fake --addr 127.0.0.1:8089 --realm demo --org demo-org --token devtoken` seeds
//! one organization (roles `member` and `admin`) and a token that may manage it, prints one
//! JSON line `{"url": ..., "realm": ..., "org": ..., "token": ...}`, and serves until
//! interrupted.

use std::net::SocketAddr;
use std::process::ExitCode;

use phasetwo_invitations::testing::{FakeServer, Permission};

const USAGE: &str =
    "usage: phasetwo-fake [--addr HOST:PORT] [--realm NAME] [--org ID] [--token TOKEN]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (mut realm, mut org, mut token) = (
        "demo".to_owned(),
        "demo-org".to_owned(),
        "devtoken".to_owned(),
    );
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--addr" => match value.parse() {
                Ok(parsed) => addr = parsed,
                Err(e) => {
                    eprintln!("--addr {value}: {e}");
                    return ExitCode::from(2);
                }
            },
            "--realm" => realm = value,
            "--org" => org = value,
            "--token" => token = value,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let server = match FakeServer::start_on(addr).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    server.add_org(&realm, &org, ["member", "admin"]);
    server.add_token(&token, Permission::Manage);
    println!(
        "{}",
        serde_json::json!({"url": server.url(), "realm": realm, "org": org, "token": token})
    );
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

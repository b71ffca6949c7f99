//! `phasetwo-invitations`: manage Phase Two organization invitations from a shell.

mod args;
mod bulk;
mod exit;
mod input;
mod invitation;
mod output;

use std::process::ExitCode;

use clap::Parser;
use phasetwo_invitations::{Client, OrgInvitations};

use args::{Cli, Command};
use output::{Failure, Output};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(cli, &out)),
        Err(e) => Err(Failure::output(format!("cannot start: {e}"))),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            out.fail(&failure);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli, out: &Output) -> Result<u8, Failure> {
    let org = org(&cli)?;
    match cli.command {
        Command::Invitation(command) => invitation::run(command, &org, out).await,
        Command::Bulk(command) => bulk::run(command, &org, out).await,
    }
}

/// The client, built as `Client::from_vars` builds one from the environment, with each flag
/// (clap already falls back to its variable) taking the variable's place.
fn client(cli: &Cli) -> Result<Client, Failure> {
    let lookup = |name: &str| match name {
        "PHASETWO_URL" => cli.url.clone(),
        "PHASETWO_TOKEN" => cli.token.clone(),
        "PHASETWO_CLIENT_ID" => cli.client_id.clone(),
        "PHASETWO_CLIENT_SECRET" => cli.client_secret.clone(),
        "PHASETWO_AUTH_REALM" => Some(cli.auth_realm.clone()),
        "PHASETWO_TOKEN_URL" => cli.token_url.clone(),
        _ => None,
    };
    let builder = Client::builder_from_vars(lookup).map_err(|e| {
        Failure::usage(format!("{e} (or the flags --url, --token, --client-id, --client-secret)"))
    })?;
    Ok(builder.allow_insecure_http(cli.allow_insecure_http).build()?)
}

fn org(cli: &Cli) -> Result<OrgInvitations, Failure> {
    let client = client(cli)?;
    let realm = cli
        .realm
        .as_deref()
        .ok_or_else(|| Failure::usage("missing --realm (or PHASETWO_REALM)"))?;
    let org =
        cli.org.as_deref().ok_or_else(|| Failure::usage("missing --org (or PHASETWO_ORG)"))?;
    Ok(client.invitations(realm, org))
}

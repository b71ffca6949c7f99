//! The built-in Phase Two server as a process, for local development and tests without
//! Keycloak. Run `phasetwo-fake --help` for what it seeds and the flags that change it.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use phasetwo_invitations_testing::{FakeServer, Permission, SeededInvitation, ServerDescription};

/// Serves the built-in Phase Two server on 127.0.0.1 until interrupted, and prints one JSON
/// line describing what it seeded, with the field names `cargo xtask phasetwo-server` uses for
/// the real server. Every option has a default, so no option is needed.
///
/// Exit codes: 0 after an interrupt, 1 when the address cannot be bound, 2 for a usage error.
#[derive(Debug, clap::Parser)]
#[command(name = "phasetwo-fake", version)]
struct Options {
    /// Where to listen (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The realm.
    #[arg(long, default_value = "demo")]
    realm: String,
    /// The organization.
    #[arg(long, default_value = "demo-org")]
    org: String,
    /// A second organization, with the same roles.
    #[arg(long, default_value = "demo-other-org")]
    other_org: String,
    /// A role of both organizations; repeat for more. Phase Two's built-in organization roles
    /// exist as well.
    #[arg(long = "role", default_values = ["member", "admin"])]
    roles: Vec<String>,
    /// A bearer token that may view and manage invitations.
    #[arg(long, default_value = "devtoken")]
    token: String,
    /// A bearer token that may only view.
    #[arg(long, default_value = "viewtoken")]
    view_token: String,
    /// A client whose client-credentials tokens manage invitations.
    #[arg(long, default_value = "invitations-service")]
    client_id: String,
    /// Its secret.
    #[arg(long, default_value = "devsecret")]
    client_secret: String,
    /// A client whose tokens only view.
    #[arg(long, default_value = "invitations-viewer")]
    view_client_id: String,
    /// Its secret.
    #[arg(long, default_value = "viewsecret")]
    view_client_secret: String,
    /// Lifetime in seconds of the tokens the token endpoint issues.
    #[arg(long = "token-lifetime", default_value_t = 300)]
    token_lifetime_s: u64,
    /// A member of the organization; repeat for more.
    #[arg(long = "member", default_values = ["member@example.com"])]
    members: Vec<String>,
    /// A user with a verified email and no membership.
    #[arg(long, default_value = "invitee@example.com")]
    invitee: String,
    /// The invitee's token.
    #[arg(long, default_value = "invitee-token")]
    invitee_token: String,
    /// An invitation of the organization; repeat for more.
    #[arg(long = "invitation")]
    invitations: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = <Options as clap::Parser>::parse();
    let token_lifetime = Duration::from_secs(options.token_lifetime_s);
    let server = match FakeServer::start_on(options.addr).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("phasetwo-fake: cannot listen on {}: {e}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    let realm = &options.realm;
    for org in [&options.org, &options.other_org] {
        server.add_org(realm, org, &options.roles);
    }
    server.add_token(&options.token, Permission::Manage);
    server.add_token(&options.view_token, Permission::View);
    for (id, secret, permission) in [
        (&options.client_id, &options.client_secret, Permission::Manage),
        (&options.view_client_id, &options.view_client_secret, Permission::View),
    ] {
        server.add_client(realm, id, secret, permission, token_lifetime);
    }
    for member in &options.members {
        server.add_member(realm, &options.org, member);
    }
    server.add_token(&options.invitee_token, Permission::User(options.invitee.clone()));
    let invitations: Vec<_> = options
        .invitations
        .iter()
        .map(|email| {
            let id = server.add_invitation(realm, &options.org, email);
            SeededInvitation { id, email: email.to_lowercase() }
        })
        .collect();
    let description = ServerDescription {
        url: server.url().to_owned(),
        realm: realm.clone(),
        org: options.org.clone(),
        token: options.token.clone(),
        other_org: options.other_org.clone(),
        roles: options.roles.clone(),
        client_id: options.client_id.clone(),
        client_secret: options.client_secret.clone(),
        view_client_id: options.view_client_id.clone(),
        view_client_secret: options.view_client_secret.clone(),
        view_token: options.view_token.clone(),
        member_email: options.members.first().cloned().unwrap_or_default(),
        invitee_email: options.invitee.clone(),
        invitee_token: options.invitee_token.clone(),
        token_lifetime_s: options.token_lifetime_s,
        members: options.members.clone(),
        invitations,
        keycloak: None,
    };
    println!("{}", serde_json::to_string(&description).expect("a description serialises"));
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

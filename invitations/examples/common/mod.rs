//! How every example connects: to the server in `PHASETWO_URL` when it is set (see
//! `Client::from_env`, plus `PHASETWO_REALM` and `PHASETWO_ORG`), else to the built-in server
//! seeded with a demo organization.

// Each example uses a different part of the target.
#![allow(dead_code)]

use phasetwo_invitations::{Client, OrgInvitations};
use phasetwo_invitations_testing::{FakeServer, Permission};

/// Keeps the built-in server alive for as long as the example runs.
pub struct Target {
    pub client: Client,
    pub org: OrgInvitations,
    pub server: Option<FakeServer>,
}

pub async fn connect() -> Result<Target, Box<dyn std::error::Error>> {
    if std::env::var_os("PHASETWO_URL").is_some() {
        let client = Client::from_env()?;
        let realm = std::env::var("PHASETWO_REALM").map_err(|_| "PHASETWO_REALM is not set")?;
        let org_id = std::env::var("PHASETWO_ORG").map_err(|_| "PHASETWO_ORG is not set")?;
        let org = client.invitations(realm, org_id);
        println!("Using {}", client.server_url());
        return Ok(Target { client, org, server: None });
    }
    let server = FakeServer::start().await;
    server.add_org("demo", "demo-org", ["member", "admin"]);
    server.add_token("demo-token", Permission::Manage);
    let client = Client::builder().base_url(server.url()).bearer_token("demo-token").build()?;
    let org = client.invitations("demo", "demo-org");
    println!("No PHASETWO_URL set: using the built-in server at {}", server.url());
    Ok(Target { client, org, server: Some(server) })
}

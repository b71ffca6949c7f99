//! A service authenticating with client credentials: the token is fetched from Keycloak,
//! cached, and renewed before it expires.

mod common;

use std::time::Duration;

use phasetwo_invitations::Client;
use phasetwo_invitations_testing::Permission;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::connect().await?;
    let Some(server) = &target.server else {
        // Against a real server, Client::from_env already uses client credentials when
        // PHASETWO_CLIENT_ID and PHASETWO_CLIENT_SECRET are set.
        println!("{} invitations", target.org.count().await?);
        return Ok(());
    };
    server.add_client(
        "master",
        "invitations-service",
        "s3cr3t",
        Permission::Manage,
        Duration::from_secs(300),
    );
    let client = Client::builder()
        .base_url(server.url())
        .client_credentials("master", "invitations-service", "s3cr3t")
        .build()?;
    let org = client.invitations("demo", "demo-org");
    for _ in 0..3 {
        println!("{} invitations", org.count().await?);
    }
    println!("tokens granted for 3 calls: {}", server.grants());
    println!("the client, as it shows itself: {client:?}");
    Ok(())
}

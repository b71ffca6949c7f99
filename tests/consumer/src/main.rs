//! What a new user writes first: a client, one call, against the built-in server.

use phasetwo_invitations::Client;
use phasetwo_invitations_testing::support::{Fixture, MANAGE_TOKEN, ORG, REALM};

#[tokio::main]
async fn main() -> Result<(), phasetwo_invitations::Error> {
    let fixture = Fixture::start().await;
    let client = Client::builder()
        .base_url(fixture.server.url())
        .bearer_token(MANAGE_TOKEN)
        .build()?;
    let created = client
        .invitations(REALM, ORG)
        .create("consumer@example.com")
        .await?;
    assert_eq!(fixture.server.invitations(REALM, ORG).len(), 1);
    println!("packaged crates work: created {}", created.id());
    Ok(())
}

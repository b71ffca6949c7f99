//! The blocking client from a plain `fn main`: no async runtime of the caller's. Runs against
//! the built-in server unless PHASETWO_URL names a real one (with PHASETWO_REALM, PHASETWO_ORG
//! and credentials as for `Client::from_env`).

use phasetwo_invitations::blocking::Client;
use phasetwo_invitations_testing::support::{Fixture, MANAGE_TOKEN, ORG, REALM};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The built-in server runs on a runtime of its own, as a separate service would.
    let server_runtime = tokio::runtime::Runtime::new()?;
    let (client, realm, org_id, _fixture) = match std::env::var("PHASETWO_URL") {
        Ok(_) => (
            Client::from_env()?,
            std::env::var("PHASETWO_REALM")?,
            std::env::var("PHASETWO_ORG")?,
            None,
        ),
        Err(_) => {
            let fixture = server_runtime.block_on(Fixture::start());
            let client = phasetwo_invitations::Client::builder()
                .base_url(fixture.server.url())
                .bearer_token(MANAGE_TOKEN)
                .build()?;
            (Client::new(client)?, REALM.to_owned(), ORG.to_owned(), Some(fixture))
        }
    };
    let org = client.invitations(realm, org_id);
    let email = format!("blocking-example-{}@example.com", std::process::id());
    let invited = org.create(&email).or_existing().send()?;
    println!("invitation {} for {email}", invited.id());
    let count = org.list().page_size(50).into_iter().count();
    println!("{count} invitations listed");
    org.delete(invited.id()).send()?;
    Ok(())
}

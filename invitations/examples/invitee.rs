//! The invitee's side: list my invitations and answer them, with the user's own token.
//!
//! Against a real server, set `PHASETWO_USER_TOKEN` to a token of the invited user.

mod common;

use phasetwo_invitations::Client;
use phasetwo_invitations_testing::Permission;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::connect().await?;
    let realm = target.org.realm().to_owned();
    let (user_token, email) = match &target.server {
        Some(server) => {
            let email = "invitee@example.com";
            server.add_token("invitee-token", Permission::User(email.into()));
            target.org.create(email).await?;
            ("invitee-token".to_owned(), email.to_owned())
        }
        None => (
            std::env::var("PHASETWO_USER_TOKEN").map_err(|_| "PHASETWO_USER_TOKEN is not set")?,
            "the signed-in user".to_owned(),
        ),
    };
    let user = Client::builder()
        .base_url(target.client.server_url().as_str())
        .bearer_token(user_token)
        .build()?;
    let mine = user.my_invitations(realm);
    let invitations = mine.list().send().await?;
    println!("{} has {} invitation(s)", email, invitations.len());
    for invitation in invitations {
        mine.accept(&invitation.id).send().await?;
        println!(
            "accepted the invitation to {}",
            invitation.organization_id.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

//! Inviting: roles, an email sent by the server, a landing page, attributes, and what each
//! refusal looks like.

mod common;

use phasetwo_invitations::ErrorKind;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::connect().await?;
    let org = &target.org;
    let email = format!("new.hire.{}@example.com", std::process::id());

    let created = org
        .create(&email)
        .roles(["member"])
        .send_email(true)
        .redirect_uri("https://app.example.com/welcome")
        .attribute("team", ["platform"])
        .send()
        .await?;
    println!("invited {} (id {}, at {})", created.email(), created.id(), created.location());

    // Refused before anything is sent.
    let e = org.create("not an email").send().await.unwrap_err();
    println!("invalid input: {e} (field {:?})", e.field());

    // Refused by the server.
    for attempt in [org.create(&email), org.create("someone@example.com").roles(["no-such-role"])] {
        match attempt.send().await {
            Err(e) if e.kind() == ErrorKind::AlreadyInvited => println!("already invited: {e}"),
            Err(e) if e.kind() == ErrorKind::BadRequest => println!("bad request: {e}"),
            other => println!("unexpected: {other:?}"),
        }
    }
    org.delete(created.id()).send().await?;
    Ok(())
}

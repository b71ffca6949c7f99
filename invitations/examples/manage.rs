//! One invitation's life: get it, count, resend its email, revoke it.

mod common;

use std::time::Duration;

use phasetwo_invitations::RetryConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::connect().await?;
    let org = &target.org;
    let created = org.create(format!("manage.{}@example.com", std::process::id())).await?;

    let invitation = org.get(created.id()).await?;
    println!("{} invited at {}", invitation.email, invitation.created_at.as_deref().unwrap_or("?"));
    println!("{} invitations in the organization", org.count().await?);

    // Resending emails the invitee again; it is not retried unless surely undelivered.
    org.resend(created.id()).send().await?;
    println!("email sent again");

    // A delete may be retried; this one allows at most 5 s in all.
    org.delete(created.id())
        .retry(RetryConfig::default().max_attempts(5))
        .operation_timeout(Duration::from_secs(5))
        .send()
        .await?;
    println!("revoked; a second delete with ignore_missing() also succeeds");
    org.delete(created.id()).ignore_missing().send().await?;
    Ok(())
}

//! The main jobs in one run: invite, meet a duplicate, list, count, delete.
//!
//! `cargo run --example quickstart` uses the built-in server; with `PHASETWO_URL` and
//! credentials set (see `Client::from_env`), plus `PHASETWO_REALM` and `PHASETWO_ORG`, it runs
//! against that server and deletes what it created.

mod common;

use phasetwo_invitations::ErrorKind;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::connect().await?;
    let org = &target.org;
    // Unique addresses, so that a run against a real server does not meet an earlier run's.
    let run = &uuid_suffix();
    let people = [
        format!("Alice.{run}@Example.com"),
        format!("bob.{run}@example.com"),
        format!("carol.{run}@example.com"),
    ];

    println!("\n1. Invite three people");
    let mut created = Vec::new();
    for email in &people {
        let invitation = org.create(email).roles(["member"]).send().await?;
        println!("   invited {:<40} id {}", invitation.email(), invitation.id());
        created.push(invitation);
    }

    println!("\n2. Invite Alice again");
    match org.create(&people[0]).send().await {
        Err(e) if e.kind() == ErrorKind::AlreadyInvited => {
            println!("   refused, as expected: {e}");
        }
        other => return Err(format!("expected AlreadyInvited, got {other:?}").into()),
    }

    println!("\n3. List this run's invitations, two per page");
    let listed: Vec<_> = org.list().search(run).page_size(2).collect().await?;
    for invitation in &listed {
        println!("   {:<40} roles {:?}", invitation.email, invitation.roles);
    }

    println!("\n4. Count");
    println!("   the organization has {} invitations", org.count().await?);

    println!("\n5. Delete Bob's invitation");
    org.delete(created[1].id()).send().await?;
    println!(
        "   deleted; Bob's invitation now: {:?}",
        org.get(created[1].id()).optional().await?.map(|i| i.email)
    );

    if target.server.is_none() {
        for invitation in [&created[0], &created[2]] {
            org.delete(invitation.id()).ignore_missing().send().await?;
        }
        println!("\nCleaned up the invitations this run created.");
    }
    Ok(())
}

/// A short random tag for this run.
fn uuid_suffix() -> String {
    format!(
        "{:08x}",
        std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
    )
}

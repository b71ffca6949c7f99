//! Reading many invitations: one page, all pages, a lazy stream, and a lookup by email.

mod common;

use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = common::connect().await?;
    let org = &target.org;
    let tag = std::process::id();
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(org.create(format!("reader{i}.{tag}@example.com")).await?.id().to_owned());
    }

    let first_page = org.list().search(format!(".{tag}@")).page_size(3).send().await?;
    println!("first page: {} invitations", first_page.len());

    let mut pages = std::pin::pin!(org.list().search(format!(".{tag}@")).page_size(3).pages());
    while let Some(page) = pages.try_next().await? {
        println!("a page of {}", page.len());
    }

    let emails: Vec<String> = org
        .list()
        .search(format!(".{tag}@"))
        .page_size(3)
        .stream()
        .map_ok(|invitation| invitation.email)
        .try_collect()
        .await?;
    println!("all {}: {emails:?}", emails.len());

    let found = org.find_by_email(&format!("READER3.{tag}@example.com")).await?;
    println!("found by email: {:?}", found.map(|i| i.id));

    for id in ids {
        org.delete(id).send().await?;
    }
    Ok(())
}

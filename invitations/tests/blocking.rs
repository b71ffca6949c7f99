//! The blocking API from plain threads, against the built-in server running on a runtime of
//! its own (as a separate service would).

use phasetwo_invitations::blocking::Client;
use phasetwo_invitations::{ErrorKind, Invited};
use phasetwo_invitations_testing::support::{Fixture, MANAGE_TOKEN, ORG, REALM};

/// The server on its own runtime; the test's thread has none.
fn server() -> (tokio::runtime::Runtime, Fixture) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fixture = runtime.block_on(Fixture::start());
    (runtime, fixture)
}

fn client(fixture: &Fixture) -> Client {
    Client::new(
        phasetwo_invitations::Client::builder()
            .base_url(fixture.server.url())
            .bearer_token(MANAGE_TOKEN)
            .build()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn every_operation_from_a_plain_function() {
    let (_runtime, fixture) = server();
    let org = client(&fixture).invitations(REALM, ORG);

    let created = org.create("Alice@Example.com").roles(["member"]).send().unwrap();
    assert_eq!(created.email(), "alice@example.com");
    let found = org.get(created.id()).send().unwrap();
    assert_eq!(found.roles, ["member"]);
    assert!(org.get("no-such-id").optional().send().unwrap().is_none());
    assert_eq!(org.get("no-such-id").send().unwrap_err().kind(), ErrorKind::NotFound);
    let again = org.create("alice@example.com").roles(["member"]).or_existing().send().unwrap();
    assert!(matches!(again, Invited::Existing(ref i) if i.id == created.id()));
    org.resend(created.id()).send().unwrap();

    let report =
        org.create_many((0..25).map(|i| format!("p{i}@example.com"))).concurrency(4).send();
    assert_eq!(report.created, 25, "{report}");
    assert_eq!(org.count().send().unwrap(), 26);

    // A listing is an iterator, fetched page by page.
    let emails: Vec<String> =
        org.list().page_size(7).into_iter().map(|i| i.unwrap().email).collect();
    assert_eq!(emails.len(), 26);
    assert_eq!(org.list().page_size(7).send().unwrap().len(), 7);
    assert!(org.find_by_email("p3@example.com").unwrap().is_some());

    let plan = org.select().search("p1").plan_revocation().unwrap();
    assert_eq!(plan.invitations().len(), 11, "p1 and p10 to p19");
    assert_eq!(plan.apply().send().deleted, 11);
    org.delete(created.id()).send().unwrap();
    org.delete(created.id()).ignore_missing().send().unwrap();
    assert_eq!(org.count().send().unwrap(), 14);
}

#[test]
fn clones_work_from_several_threads() {
    let (_runtime, fixture) = server();
    let client = client(&fixture);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let org = client.invitations(REALM, ORG);
            std::thread::spawn(move || {
                for i in 0..5 {
                    org.create(format!("t{t}-{i}@example.com")).send().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(fixture.server.invitations(REALM, ORG).len(), 20);
}

/// Inside an async runtime, a blocking call panics with tokio's message, as
/// `reqwest::blocking` does.
#[test]
fn a_call_from_inside_an_async_runtime_panics_clearly() {
    let (runtime, fixture) = server();
    let org = client(&fixture).invitations(REALM, ORG);
    let outcome = std::thread::spawn(move || runtime.block_on(async { org.count().send() }))
        .join()
        .unwrap_err();
    let message = outcome
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| outcome.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("Cannot start a runtime from within a runtime"), "{message}");
}

/// One async client under two blocking clients, and under another runtime through
/// `as_async()`: no call waits on a connection whose runtime is not running, and a create is
/// neither lost nor sent twice.
#[test]
fn blocking_clients_sharing_one_async_client_do_not_stall() {
    use std::time::{Duration, Instant};

    let (_runtime, fixture) = server();
    let shared = phasetwo_invitations::Client::builder()
        .base_url(fixture.server.url())
        .bearer_token(MANAGE_TOKEN)
        .attempt_timeout(Duration::from_secs(5))
        .retry(phasetwo_invitations::RetryConfig::disabled())
        .build()
        .unwrap();
    let first = Client::new(shared.clone()).unwrap();
    let second = Client::new(shared.clone()).unwrap();
    let other_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let quick = |what: &str, started: Instant| {
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{what} took {took:?}");
    };
    for i in 0..3 {
        let started = Instant::now();
        first.invitations(REALM, ORG).create(format!("first{i}@example.com")).send().unwrap();
        quick("the first blocking client", started);
        let started = Instant::now();
        second.invitations(REALM, ORG).create(format!("second{i}@example.com")).send().unwrap();
        quick("the second blocking client", started);
        let started = Instant::now();
        let org = first.as_async().invitations(REALM, ORG);
        other_runtime.block_on(org.create(format!("async{i}@example.com")).send()).unwrap();
        quick("as_async() on another runtime", started);
    }
    let stored = fixture.server.invitations(REALM, ORG);
    assert_eq!(stored.len(), 9, "every create stored once");
    let posts = fixture.server.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 9, "no create sent twice");
}

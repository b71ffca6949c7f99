//! Resilience at scale against the built-in server: faults over thousands of creates, token
//! churn, load. (Hostile answers and input, which need exact answers, are in the facade's
//! `tests/hostile.rs`.) Every run is bounded in count and time and talks only to 127.0.0.1.

use std::collections::BTreeSet;

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use phasetwo_invitations::operation;
use phasetwo_invitations::{Client, Outcome};
use phasetwo_invitations_testing::support::{Fixture, MANAGE_TOKEN, quick_retries};
use phasetwo_invitations_testing::{FakeServer, Fault, FaultAction, Permission, Scope};

const TOKEN: &str = MANAGE_TOKEN;
const SECRET: &str = phasetwo_invitations_testing::support::CLIENT_SECRET;

/// Fails a test that runs longer than `limit` instead of letting it hang.
async fn bounded<T>(limit: Duration, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, work).await.expect("the scenario ran past its time limit")
}

/// A client of the service account `svc` of realm master, registered by the test.
fn service_client(server: &FakeServer) -> Client {
    Client::builder()
        .base_url(server.url())
        .client_credentials("master", "svc", SECRET)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_two_thousand_creates_end_as_exactly_two_thousand_invitations() {
    let server = Fixture::start().await.server;
    let create = Scope::Operation(operation::CREATE);
    // About a fifth of the creates meet a fault, spread over the run. The periods are prime,
    // so that no fault always falls on the requests of another.
    let unavailable = FaultAction::Status { status: 503, retry_after: None };
    let throttled = FaultAction::Status { status: 429, retry_after: Some("1".into()) };
    let faults = [
        (unavailable, 11, 300),
        (FaultAction::CloseBeforeAnswer, 23, 150),
        (FaultAction::CloseAfterHandling, 29, 100),
        (throttled, 31, 90),
        (FaultAction::Delay(Duration::from_millis(800)), 37, 70),
    ];
    for (action, every, count) in faults {
        server.inject(Fault::every(create.clone(), action, every, count));
    }
    let client = Client::builder()
        .base_url(server.url())
        .bearer_token(TOKEN)
        // Slower answers than this are given up on, and the create is retried.
        .attempt_timeout(Duration::from_millis(300))
        .retry(quick_retries().max_attempts(10).max_backoff(Duration::from_millis(50)))
        .retry_budget(1_000_000)
        .build()
        .unwrap();
    let emails: Vec<String> = (0..2000).map(|i| format!("chaos{i}@example.com")).collect();
    let org = client.invitations("acme", "org-1");

    let results: Vec<_> = bounded(
        Duration::from_secs(120),
        org.create_many(emails.clone()).concurrency(16).stream().collect(),
    )
    .await;
    let stored = server.invitations("acme", "org-1");
    assert_eq!(stored.len(), 2000, "exactly the 2,000 invitations, no more");
    let stored_emails: BTreeSet<_> = stored.iter().map(|i| i.email.clone()).collect();
    assert_eq!(stored_emails, emails.iter().cloned().collect());
    assert_eq!(results.len(), 2000);
    for item in &results {
        match &item.outcome {
            Outcome::Created { id, .. } => {
                let invitation = stored.iter().find(|i| &i.id == id).expect("reported id");
                assert_eq!(invitation.email, item.email, "the reported id is that email's");
            }
            other => panic!("{}: {other:?}", item.email),
        }
    }
    let faulted = server.faults_applied();
    assert!(faulted >= 400, "a fifth of the requests met a fault: {faulted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_churn_during_a_long_stream_and_a_bulk_run() {
    let server = Fixture::start().await.server;
    server.add_invitations("acme", "org-1", (0..400).map(|i| format!("existing{i}@example.com")));
    let lifetime = Duration::from_secs(2);
    server.add_client("master", "svc", SECRET, Permission::Manage, lifetime);
    // Each page takes a while, so the stream outlives several tokens.
    server.inject(Fault::on(operation::LIST, FaultAction::Delay(Duration::from_millis(50)), 1000));
    let org = service_client(&server).invitations("acme", "org-1");
    let started = Instant::now();
    let stream = org.list().page_size(5).stream().try_collect::<Vec<_>>();
    let emails: Vec<String> = (0..300).map(|i| format!("churn{i}@example.com")).collect();
    let bulk = org.create_many(emails).concurrency(4).rate_limit(75).send();
    let (listed, report) =
        bounded(Duration::from_secs(60), futures::future::join(stream, bulk)).await;
    let elapsed = started.elapsed().as_secs_f64();

    let listed = listed.expect("no page failed");
    assert!(listed.len() >= 400, "{}", listed.len());
    assert_eq!(report.created, 300, "{report}");
    assert!(report.is_success(), "{report}");
    // Renewed a quarter of the lifetime early: one grant per 1.5 s, and the first.
    let grants = server.grants() as f64;
    let most = (elapsed / 1.5).ceil() + 1.0;
    let least = (elapsed / 2.0).floor();
    assert!(grants >= least && grants <= most, "{grants} grants in {elapsed:.1} s");
    assert!(elapsed > 3.0, "the run outlived a token: {elapsed:.1} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_calls_share_one_grant_per_expiry() {
    let server = Fixture::start().await.server;
    // Tokens live 6 s and are renewed after 4.5 s: time enough for a burst on a busy machine.
    server.add_client("master", "svc", SECRET, Permission::View, Duration::from_secs(6));
    let org = service_client(&server).invitations("acme", "org-1");
    let burst = || async {
        let calls: Vec<_> = (0..500).map(|_| tokio::spawn(org.count().send())).collect();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap(), 0);
        }
    };
    let started = Instant::now();
    bounded(Duration::from_secs(30), burst()).await;
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "the first burst must end before the renewal for this check to mean anything"
    );
    assert_eq!(server.grants(), 1);
    // Past the renewal point, while the old token is still valid: one new grant for all.
    tokio::time::sleep_until((started + Duration::from_millis(4600)).into()).await;
    bounded(Duration::from_secs(30), burst()).await;
    assert_eq!(server.grants(), 2);
}

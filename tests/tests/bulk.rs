//! `create_many` and revocations against the built-in server, with and without faults.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use phasetwo_invitations::operation;
use phasetwo_invitations::{Client, ErrorKind, NewInvitation, Outcome};
use phasetwo_invitations_testing::support::{Fixture, VIEW_TOKEN, client_of};
use phasetwo_invitations_testing::{FakeServer, Fault, FaultAction, Permission, Scope};

/// 1,000 rows: 900 distinct valid emails, 60 duplicates (other case, spaces), 40 invalid.
fn thousand_rows() -> (Vec<String>, BTreeSet<String>) {
    let mut rows = Vec::new();
    let mut expected = BTreeSet::new();
    for i in 0..900 {
        rows.push(format!("person{i}@example.com"));
        expected.insert(format!("person{i}@example.com"));
    }
    for i in 0..60 {
        rows.push(format!("  Person{}@EXAMPLE.com ", i * 7));
    }
    for i in 0..40 {
        rows.push(if i % 2 == 0 { format!("broken{i}") } else { "   ".to_owned() });
    }
    (rows, expected)
}

fn stored_emails(server: &FakeServer) -> BTreeSet<String> {
    server.invitations("acme", "org-1").into_iter().map(|i| i.email).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_rows_give_the_exact_report_and_a_rerun_creates_nothing() {
    let Fixture { server, client } = Fixture::start().await;
    let org = client.invitations("acme", "org-1");
    let (rows, expected) = thousand_rows();

    let report = org.create_many(rows.clone()).concurrency(8).send().await;
    assert_eq!(report.created, 900, "{report}");
    assert_eq!(report.duplicates, 60, "{report}");
    assert_eq!(report.invalid.len(), 40, "{report}");
    assert!(report.failed.is_empty() && report.not_attempted == 0, "{report}");
    assert!(report.invalid.iter().all(|f| f.error.field() == Some("email")));
    assert_eq!(stored_emails(&server), expected);
    assert_eq!(server.invitations("acme", "org-1").len(), 900);

    let rerun = org.create_many(rows).concurrency(8).send().await;
    assert_eq!(rerun.created, 0, "{rerun}");
    assert_eq!(rerun.already_invited, 900, "{rerun}");
    assert_eq!(server.invitations("acme", "org-1").len(), 900);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_leave_exactly_one_invitation_per_email_and_a_truthful_report() {
    let Fixture { server, client } = Fixture::start().await;
    let org = client.invitations("acme", "org-1");
    let create = Scope::Operation(operation::CREATE);
    // About a fifth of the creates meet a fault, spread over the run; prime periods, so that
    // no fault always falls on the requests of another.
    let unavailable = FaultAction::Status { status: 503, retry_after: None };
    let throttled = FaultAction::Status { status: 429, retry_after: Some("1".into()) };
    server.inject(Fault::every(create.clone(), unavailable, 11, 25));
    server.inject(Fault::every(create.clone(), FaultAction::CloseAfterHandling, 23, 12));
    server.inject(Fault::every(create.clone(), throttled, 29, 3));
    server.inject(Fault::every(create, FaultAction::CloseBeforeAnswer, 31, 10));
    let emails: Vec<String> = (0..200).map(|i| format!("u{i}@example.com")).collect();

    let mut created = BTreeSet::new();
    let mut failed = Vec::new();
    let mut results = std::pin::pin!(org.create_many(emails.clone()).concurrency(8).stream());
    while let Some(item) = results.next().await {
        let stored = server.invitations("acme", "org-1");
        let stored_for_email = stored.iter().filter(|i| i.email == item.email).count();
        assert!(stored_for_email <= 1, "{} stored {stored_for_email} times", item.email);
        match item.outcome {
            Outcome::Created { id, .. } => {
                // The reported id is the stored invitation of that email.
                let entry = stored.iter().find(|i| i.id == id).expect("reported id stored");
                assert_eq!(entry.email, item.email);
                assert!(created.insert(item.email.clone()), "{} twice", item.email);
            }
            Outcome::Failed(error) => {
                // A failure stored nothing, unless the error says the request may have
                // reached the server.
                assert!(stored_for_email == 0 || error.may_have_been_sent(), "{error:?}");
                failed.push(item.email);
            }
            other => panic!("{}: {other:?}", item.email),
        }
    }
    assert_eq!(created.len() + failed.len(), 200);
    assert!(created.len() >= 190, "{} created", created.len());

    // Once the faults are over, a re-run creates what is missing, and nothing twice.
    server.clear_faults();
    let rerun = org.create_many(emails.clone()).concurrency(8).send().await;
    assert!(rerun.is_success(), "{rerun}");
    assert_eq!(rerun.created + rerun.already_invited, 200, "{rerun}");
    assert!(rerun.created <= failed.len(), "{rerun}");
    assert_eq!(stored_emails(&server), emails.into_iter().collect());
    assert_eq!(server.invitations("acme", "org-1").len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_stops_the_run_early() {
    let Fixture { server, .. } = Fixture::start().await;
    let viewer = client_of(&server, VIEW_TOKEN).build().unwrap();
    let emails: Vec<String> = (0..100).map(|i| format!("v{i}@example.com")).collect();
    let report =
        viewer.invitations("acme", "org-1").create_many(emails).concurrency(4).send().await;
    assert!(report.failed.len() <= 4, "only requests already in flight fail: {report}");
    assert!(!report.failed.is_empty());
    assert_eq!(report.failed.len() + report.not_attempted, 100, "{report}");
    assert!(server.invitations("acme", "org-1").is_empty());
    let posts = server.requests().iter().filter(|r| r.method == "POST").count();
    assert!(posts <= 4, "{posts} creates sent after the first 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_organization_stops_the_run_too() {
    let Fixture { server: _server, client } = Fixture::start().await;
    let report = client
        .invitations("acme", "no-such-org")
        .create_many(["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io", "f@x.io"])
        .concurrency(1)
        .send()
        .await;
    assert_eq!(report.failed.len(), 1, "{report}");
    assert!(report.failed[0].error.is_not_found());
    assert_eq!(report.not_attempted, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_item_refusals_do_not_stop_the_run() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_member("acme", "org-1", "member@x.io");
    server.add_invitation("acme", "org-1", "invited@x.io");
    let items = vec![
        NewInvitation::new("ok@x.io"),
        NewInvitation { roles: vec!["owner".into()], ..NewInvitation::new("bad-role@x.io") },
        NewInvitation::new("member@x.io"),
        NewInvitation::new("Invited@x.io"),
        NewInvitation {
            roles: vec!["member".into()],
            send_email: true,
            redirect_uri: Some("https://app.example.com/".into()),
            ..NewInvitation::new("full@x.io")
        },
    ];
    let report = client.invitations("acme", "org-1").create_many(items).send().await;
    assert_eq!(report.created, 2, "{report}");
    assert_eq!(report.already_member, 1);
    assert_eq!(report.already_invited, 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].email, "bad-role@x.io");
    assert_eq!(report.failed[0].error.server_message(), Some("Unknown role in list."));
    let full =
        server.invitations("acme", "org-1").into_iter().find(|i| i.email == "full@x.io").unwrap();
    assert!(full.send_email && full.roles.contains("member"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sends_no_write() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_invitation("acme", "org-1", "existing@x.io");
    server.clear_requests();
    let report = client
        .invitations("acme", "org-1")
        .create_many(["existing@x.io", "new@x.io", "not-an-email", "NEW@x.io"])
        .dry_run()
        .send()
        .await;
    assert_eq!(report.already_invited, 1, "{report}");
    assert_eq!(report.would_create, 1);
    assert_eq!(report.invalid.len(), 1);
    assert_eq!(report.duplicates, 1);
    let requests = server.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    assert_eq!(server.invitations("acme", "org-1").len(), 1);
}

/// A revocation is planned, reviewed, then applied: exactly the planned ids go, whatever
/// the organization holds by then, and a domain matches exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_plan_revokes_exactly_what_it_lists() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_invitations("acme", "org-1", (0..130).map(|i| format!("temp{i}@old.example.com")));
    for other in
        ["mallory@old.example.com.evil.com", "sub@team.old.example.com", "keep@example.com"]
    {
        server.add_invitation("acme", "org-1", other);
    }
    let org = client.invitations("acme", "org-1");
    let plan = org.select().domain("OLD.example.com").plan_revocation().await.unwrap();
    assert_eq!(plan.invitations().len(), 130);
    assert!(plan.invitations().iter().all(|i| i.email.ends_with("@old.example.com")));
    assert_eq!(server.invitations("acme", "org-1").len(), 133, "planning reads only");

    // Added after the plan: matches the domain, but was not reviewed, so it stays.
    server.add_invitation("acme", "org-1", "late@old.example.com");
    let report = plan.apply().concurrency(8).send().await;
    assert_eq!(report.deleted, 130, "{report}");
    assert!(report.is_success());
    let left: BTreeSet<String> = stored_emails(&server);
    assert_eq!(
        left,
        BTreeSet::from([
            "late@old.example.com".to_owned(),
            "mallory@old.example.com.evil.com".to_owned(),
            "sub@team.old.example.com".to_owned(),
            "keep@example.com".to_owned(),
        ])
    );

    // Applying the same plan again finds them gone.
    let again = plan.apply().send().await;
    assert_eq!(again.already_gone, 130, "{again}");
}

/// An empty or blank selection never revokes anything; `all()` must be asked for.
#[tokio::test]
async fn an_empty_selection_is_refused_unless_all_is_asked_for() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_invitations("acme", "org-1", (0..3).map(|i| format!("p{i}@example.com")));
    let org = client.invitations("acme", "org-1");
    for (what, select) in [
        ("nothing", org.select()),
        ("empty search", org.select().search("")),
        ("blank search", org.select().search("  ")),
        ("blank domain", org.select().domain("@")),
    ] {
        let e = select.plan_revocation().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
    }
    assert_eq!(server.invitations("acme", "org-1").len(), 3);
    server.clear_requests();
    let plan = org.select().all().plan_revocation().await.unwrap();
    assert_eq!(plan.invitations().len(), 3);
    // Exact email and any Rust predicate.
    let one = org.select().email(" P1@Example.com ").plan_revocation().await.unwrap();
    assert_eq!(one.invitations().len(), 1);
    let odd = org.select().all().filter(|i| i.email.starts_with("p0") || i.email.starts_with("p2"));
    assert_eq!(odd.clone().collect().await.unwrap().len(), 2);
    // A selection counts what it matches; the organization's count is every invitation.
    assert_eq!(odd.count().await.unwrap(), 2);
    assert_eq!(org.count().await.unwrap(), 3);
    // A refused selection is refused by every way of reading it.
    let e = org.select().search(" ").count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

/// Revoking ids: each is revoked or reported gone; an unusable id is invalid, not sent.
#[tokio::test]
async fn revoking_ids_reports_each() {
    let Fixture { server, client } = Fixture::start().await;
    let id = server.add_invitation("acme", "org-1", "a@example.com");
    let org = client.invitations("acme", "org-1");
    let report = org.revoke([id.as_str(), "no-such-id", ".."]).send().await;
    assert_eq!((report.deleted, report.already_gone, report.invalid.len()), (1, 1, 1), "{report}");
    assert!(server.invitations("acme", "org-1").is_empty());
}

/// An item already invited carries the existing invitation's id.
#[tokio::test]
async fn already_invited_items_carry_the_existing_id() {
    let Fixture { server, client } = Fixture::start().await;
    let existing = server.add_invitation("acme", "org-1", "old@example.com");
    let org = client.invitations("acme", "org-1");
    let results: Vec<_> =
        org.create_many(["old@example.com", "new@example.com"]).stream().collect().await;
    let old = results.iter().find(|r| r.email == "old@example.com").unwrap();
    assert_eq!(old.outcome.name(), "already_invited");
    assert_eq!(old.outcome.id(), Some(existing.as_str()));
    let dry: Vec<_> = org.create_many(["old@example.com"]).dry_run().stream().collect().await;
    assert_eq!(dry[0].outcome.id(), Some(existing.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_spaces_out_creates() {
    let Fixture { server: _server, client } = Fixture::start().await;
    let emails: Vec<String> = (0..5).map(|i| format!("r{i}@x.io")).collect();
    let started = Instant::now();
    let report = client
        .invitations("acme", "org-1")
        .create_many(emails)
        .concurrency(5)
        .rate_limit(2)
        .send()
        .await;
    assert_eq!(report.created, 5);
    // Two at once, then one every half second: at least 1.5 s for five.
    assert!(started.elapsed() >= Duration::from_millis(1400), "{:?}", started.elapsed());
}

/// One 503 from the token endpoint at the start of a run: retried like any passing failure,
/// so the run completes instead of stopping with everything not attempted.
#[tokio::test]
async fn a_token_endpoint_blip_does_not_stop_a_bulk_run() {
    let server = Fixture::start().await.server;
    server.add_client("acme", "svc", "svc-secret", Permission::Manage, Duration::from_secs(300));
    server.inject(Fault::new(
        Scope::PathPrefix("/realms/acme/protocol/openid-connect/token".into()),
        FaultAction::Status { status: 503, retry_after: Some("1".into()) },
        1,
    ));
    let client = Client::builder()
        .base_url(server.url())
        .client_credentials("acme", "svc", "svc-secret")
        .build()
        .unwrap();
    let emails: Vec<String> = (0..50).map(|i| format!("blip{i}@example.com")).collect();
    let report =
        client.invitations("acme", "org-1").create_many(emails).concurrency(8).send().await;
    assert_eq!(server.faults_applied(), 1);
    assert_eq!(report.created, 50, "{report:?}");
    assert!(report.failed.is_empty() && report.not_attempted == 0);
    assert_eq!(server.invitations("acme", "org-1").len(), 50);
    assert_eq!(server.grants(), 1);
}

/// Invitees accept other invitations while an offboarding plan is made, and the list shifts
/// back under the plan's offset: the plan still holds every matching invitation that existed
/// throughout (offset paging alone skips one for each removal behind it).
#[tokio::test]
async fn a_plan_misses_nothing_while_invitations_behind_it_are_removed() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_invitations("acme", "org-1", (0..350).map(|i| format!("p{i}@corp.example")));
    let ids = |server: &FakeServer| -> BTreeSet<String> {
        server.invitations("acme", "org-1").into_iter().map(|i| i.id).collect()
    };
    let before = ids(&server);
    // Every listing request first finds the 3 oldest invitations gone.
    server.inject(Fault::on(operation::LIST, FaultAction::RemoveOldest(3), 6));
    let plan = client
        .invitations("acme", "org-1")
        .select()
        .domain("corp.example")
        .plan_revocation()
        .await
        .unwrap();
    let planned: BTreeSet<String> = plan.invitations().iter().map(|i| i.id.clone()).collect();
    let throughout = ids(&server);
    assert!(server.faults_applied() >= 3, "the list shifted under the plan");
    let missed: Vec<_> = throughout.difference(&planned).collect();
    assert!(missed.is_empty(), "the plan missed {} invitations: {missed:?}", missed.len());
    assert!(planned.is_subset(&before));
    assert_eq!(planned.len(), plan.invitations().len(), "no invitation twice");
}

/// An email already invited with other roles is reported as such, in a run and in a dry run,
/// and its invitation keeps its roles.
#[tokio::test]
async fn an_existing_invitation_with_other_roles_is_told_apart() {
    let fixture = Fixture::start().await;
    let org = fixture.org();
    org.create("same@example.com").roles(["member"]).await.unwrap();
    org.create("other@example.com").roles(["admin"]).await.unwrap();
    let items = || {
        ["same@example.com", "other@example.com"].map(|email| NewInvitation {
            roles: vec!["member".into()],
            ..NewInvitation::new(email)
        })
    };
    for dry_run in [true, false] {
        let many = org.create_many(items());
        let many = if dry_run { many.dry_run() } else { many };
        let results: Vec<_> = many.stream().collect().await;
        let other_roles: Vec<_> = results
            .iter()
            .map(|item| match &item.outcome {
                Outcome::AlreadyInvited { other_roles, .. } => (item.email.as_str(), *other_roles),
                other => panic!("{}: {other:?}", item.email),
            })
            .collect();
        assert_eq!(
            other_roles,
            [("same@example.com", false), ("other@example.com", true)],
            "dry run: {dry_run}"
        );
        let line = results[1].to_json();
        assert_eq!(line["other_roles"], true, "{line}");
        assert!(results[0].to_json().get("other_roles").is_none());
    }
    let report = org.create_many(items()).send().await;
    assert_eq!((report.already_invited, report.other_roles), (2, 1), "{report}");
    let kept = fixture.server.invitations("acme", "org-1");
    let other = kept.iter().find(|i| i.email == "other@example.com").unwrap();
    assert_eq!(other.roles, BTreeSet::from(["admin".to_owned()]), "unchanged");
}

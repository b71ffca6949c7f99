//! The facade against the built-in server: the real server's behaviour, faults included, as an
//! application meets it.

use std::time::Duration;

use futures::TryStreamExt;
use phasetwo_invitations::operation;
use phasetwo_invitations::{Client, ErrorKind};
use phasetwo_invitations_testing::support::{Fixture, client_of};
use phasetwo_invitations_testing::{Fault, FaultAction, Permission};

/// The facade's design program, with an administrator's and an invitee's client.
#[tokio::test]
async fn the_design_program_against_the_built_in_server() -> Result<(), phasetwo_invitations::Error>
{
    let Fixture { server, client } = Fixture::start().await;
    server.add_token("alice-token", Permission::User("alice@example.com".into()));
    let org = client.invitations("acme", "org-1");
    let created = org
        .create("Alice@Example.com")
        .roles(["member"])
        .send_email(true)
        .redirect_uri("https://app.example.com/welcome")
        .attribute("team", ["blue"])
        .send()
        .await?;
    let id = created.id().to_owned();
    let found = org.get(&id).send().await?;
    assert_eq!(found.email, "alice@example.com");
    assert_eq!(found.attributes["team"], ["blue"]);
    let n: u64 = org.count().send().await?;
    assert_eq!(n, 1);
    let all: Vec<_> = org.list().search("ALICE").page_size(50).collect().await?;
    assert_eq!(all.len(), 1, "the search is lower-cased for the server");
    let first_page = org.list().page_size(10).send().await?;
    assert_eq!(first_page.len(), 1);
    match org.create("alice@example.com").send().await {
        Err(e) if e.kind() == ErrorKind::AlreadyInvited => {}
        other => panic!("{other:?}"),
    }
    org.resend(&id).send().await?;
    assert_eq!(server.invitations("acme", "org-1")[0].emails_sent, 2);

    let alice = Client::builder().base_url(server.url()).bearer_token("alice-token").build()?;
    let mine = alice.my_invitations("acme");
    for inv in mine.list().send().await? {
        mine.accept(&inv.id).send().await?;
    }
    assert_eq!(server.members("acme", "org-1"), ["alice@example.com"]);
    match org.create("alice@example.com").send().await {
        Err(e) if e.kind() == ErrorKind::AlreadyMember => {}
        other => panic!("{other:?}"),
    }
    assert!(org.get(&id).optional().await?.is_none(), "accepting removed the invitation");
    let e = org.delete(&id).send().await.unwrap_err();
    assert!(e.is_not_found());
    Ok(())
}

#[tokio::test]
async fn server_refusals_come_back_typed() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_token("viewer", Permission::View);
    let org = client.invitations("acme", "org-1");
    let e = org.create("a@x.io").roles(["owner"]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert_eq!(e.server_message(), Some("Unknown role in list."));

    let viewer = Client::builder().base_url(server.url()).bearer_token("viewer").build().unwrap();
    let e = viewer.invitations("acme", "org-1").create("a@x.io").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(e.attempts(), 1, "a static token cannot be renewed");

    let e = client.invitations("acme", "no-such-org").count().await.unwrap_err();
    assert!(e.is_not_found());
    assert!(server.invitations("acme", "org-1").is_empty());
}

#[tokio::test]
async fn paging_over_many_invitations_sees_each_once() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_invitations("acme", "org-1", (0..250).map(|i| format!("user{i:03}@example.com")));
    let org = client.invitations("acme", "org-1");
    let ids: Vec<String> =
        org.list().page_size(40).stream().map_ok(|i| i.id).try_collect().await.unwrap();
    assert_eq!(ids.len(), 250);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 250);
    // 250 / 40: six full pages and a short one.
    assert_eq!(server.requests().len(), 7);
    let some: Vec<_> = org.list().search("user1").max_items(15).collect().await.unwrap();
    assert_eq!(some.len(), 15);
}

#[tokio::test]
async fn a_connection_closed_after_storing_is_not_resent_unless_idempotent() {
    let Fixture { server, client } = Fixture::start().await;
    let org = client.invitations("acme", "org-1");
    server.inject(Fault::on(operation::CREATE, FaultAction::CloseAfterHandling, 1));
    let e = org.create("one@example.com").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert!(e.may_have_been_sent());
    assert_eq!(e.attempts(), 1);
    assert_eq!(server.invitations("acme", "org-1").len(), 1);

    server.inject(Fault::on(operation::CREATE, FaultAction::CloseAfterHandling, 1));
    let created = org.create("two@example.com").idempotent().await.unwrap();
    assert!(created.reconciled());
    let stored = server.invitations("acme", "org-1");
    assert_eq!(stored.len(), 2, "exactly one invitation for two@example.com");
    assert_eq!(stored[1].id, created.id());
}

/// The real server answers the later of two simultaneous creates of one email with Keycloak's
/// 409 "Duplicate resource error": a create reads it as "already invited", and
/// `or_existing()` returns the invitation the other create stored.
#[tokio::test]
async fn a_create_that_loses_a_race_reads_as_already_invited() {
    let fixture = Fixture::start().await;
    let (server, org) = (&fixture.server, fixture.org());
    let lost_race = || Fault::on(operation::CREATE, FaultAction::LostCreateRace, 1);
    server.inject(lost_race());
    let e = org.create("one@example.com").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyInvited, "{e}");

    server.inject(lost_race());
    let existing = match org.create("two@example.com").or_existing().await.unwrap() {
        phasetwo_invitations::Invited::Existing(existing) => existing,
        other => panic!("expected the stored invitation, got {other:?}"),
    };
    let stored = server.invitations("acme", "org-1");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].id, existing.id);
}

#[tokio::test]
async fn a_connection_closed_before_handling_is_resent_for_reads_only() {
    let Fixture { server, client } = Fixture::start().await;
    let org = client.invitations("acme", "org-1");
    server.inject(Fault::on(operation::COUNT, FaultAction::CloseBeforeAnswer, 2));
    assert_eq!(org.count().await.unwrap(), 0);

    server.inject(Fault::on(operation::RESEND, FaultAction::CloseBeforeAnswer, 1));
    let id = server.add_invitation("acme", "org-1", "a@x.io");
    let e = org.resend(&id).await.unwrap_err();
    assert_eq!(e.attempts(), 1, "an email is not sent twice on a guess");
}

#[tokio::test]
async fn throttling_and_unavailability_are_ridden_out() {
    let Fixture { server, client } = Fixture::start().await;
    let org = client.invitations("acme", "org-1");
    server.inject(Fault::on(
        operation::CREATE,
        FaultAction::Status { status: 429, retry_after: Some("0".into()) },
        2,
    ));
    server.inject(Fault::on(
        operation::LIST,
        FaultAction::Status { status: 503, retry_after: None },
        1,
    ));
    org.create("a@x.io").await.unwrap();
    assert_eq!(org.list().send().await.unwrap().len(), 1);
    assert_eq!(server.invitations("acme", "org-1").len(), 1);
}

#[tokio::test]
async fn broken_bodies_are_typed_errors() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_invitation("acme", "org-1", "a@x.io");
    let org = client.invitations("acme", "org-1");
    server.inject(Fault::on(operation::LIST, FaultAction::NonJsonBody, 1));
    let e = org.list().send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert_eq!(e.status().map(|s| s.as_u16()), Some(200));
    assert!(e.body_snippet().unwrap().starts_with("<html>"));

    // A cut body is a broken connection: a read is retried and succeeds.
    server.inject(Fault::on(operation::LIST, FaultAction::TruncatedBody, 1));
    assert_eq!(org.list().send().await.unwrap().len(), 1);
}

#[tokio::test]
async fn client_credentials_are_renewed_as_tokens_expire() {
    let Fixture { server, .. } = Fixture::start().await;
    server.add_client("master", "svc", "s3cret", Permission::Manage, Duration::from_millis(1500));
    let client = Client::builder()
        .base_url(server.url())
        .client_credentials("master", "svc", "s3cret")
        .build()
        .unwrap();
    let org = client.invitations("acme", "org-1");
    org.count().await.unwrap();
    org.count().await.unwrap();
    assert_eq!(server.grants(), 1);
    // The token's 1 s lifetime (as `expires_in` rounds it) is renewed ahead of time.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    org.count().await.unwrap();
    assert_eq!(server.grants(), 2);
}

#[tokio::test]
async fn path_values_reach_the_server_as_one_segment() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_org("acme", "a/b?c #%é", ["member"]);
    let org = client.invitations("acme", "a/b?c #%é");
    let created = org.create("x@y.io").await.unwrap();
    assert_eq!(server.invitations("acme", "a/b?c #%é").len(), 1);
    assert_eq!(org.get(created.id()).await.unwrap().id, created.id());
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with("/realms/acme/orgs/a%2Fb%3Fc%20%23%25%C3%A9/invitations")),
        "{paths:?}"
    );
}

/// An accept or reject whose answer was lost is sent again; the server then answers "not
/// found" (404 for accept, 400 `invitation not found` for reject), which means done.
#[tokio::test]
async fn a_lost_answer_to_accept_or_reject_counts_as_done() {
    let Fixture { server, client } = Fixture::start().await;
    server.add_token("bo-token", Permission::User("bo@example.com".into()));
    let org = client.invitations("acme", "org-1");
    let bo = client_of(&server, "bo-token").build().unwrap();
    let mine = bo.my_invitations("acme");
    for (operation, accept) in [("rejectInvitation", false), ("acceptInvitation", true)] {
        let id = org.create("bo@example.com").send().await.unwrap().id().to_owned();
        server.inject(Fault::on(operation, FaultAction::CloseAfterHandling, 1));
        let answer = if accept { mine.accept(&id) } else { mine.reject(&id) };
        answer.send().await.unwrap_or_else(|e| panic!("{operation}: {e:?}"));
        assert!(org.get(&id).optional().await.unwrap().is_none(), "{operation}");
        assert_eq!(server.faults_applied(), usize::from(accept) + 1);
    }
    assert_eq!(server.members("acme", "org-1"), ["bo@example.com"]);
}

//! No token or secret in traces, `Debug` or `Display`. In a test binary of its own: a
//! tracing subscriber scoped to one test must not race with other tests' threads.

use std::time::Duration;

use phasetwo_invitations::Client;
use phasetwo_invitations_testing::Permission;
use phasetwo_invitations_testing::support::{Fixture, MANAGE_TOKEN, TraceCapture, client_of};

const TOKEN: &str = MANAGE_TOKEN;
const SECRET: &str = phasetwo_invitations_testing::support::CLIENT_SECRET;

/// Everything written at TRACE while tokens are granted, renewed after a 401 and refused.
#[tokio::test]
async fn no_secret_in_traces_debug_or_display() {
    let capture = TraceCapture::start();

    let server = Fixture::start().await.server;
    server.add_client("master", "svc", SECRET, Permission::Manage, Duration::from_secs(60));
    let mut shown = Vec::new();

    let cc = Client::builder()
        .base_url(server.url())
        .client_credentials("master", "svc", SECRET)
        .log_emails(true)
        .build()
        .unwrap();
    let org = cc.invitations("acme", "org-1");
    let created = org.create("a@x.io").await.unwrap();
    shown.push(format!("{created:?}"));
    // The server forgets the token: a 401, a new grant, a re-send.
    server.revoke_grants();
    shown.push(format!("{:?}", org.count().await));
    assert_eq!(server.grants(), 2);
    let wrong = Client::builder()
        .base_url(server.url())
        .client_credentials("master", "svc", "not-the-secret")
        .build()
        .unwrap();
    let bearer = client_of(&server, TOKEN).build().unwrap();
    // Refused credentials, and an unknown organization.
    for (client, org_id) in [(&wrong, "org-1"), (&bearer, "nope")] {
        let e = client.invitations("acme", org_id).count().await.unwrap_err();
        shown.extend([e.to_string(), format!("{e:?}")]);
    }
    let report = bearer.invitations("acme", "org-1").create_many(["b@x.io", "bad"]).send().await;
    shown.extend([report.to_string(), format!("{report:?}")]);
    shown.extend([
        format!("{cc:?}"),
        format!("{bearer:?}"),
        format!("{org:?}"),
        format!("{:?}", org.create("c@x.io").roles(["member"])),
        format!("{:?}", org.list().search("x")),
        format!("{:?}", org.delete("x")),
        format!("{:?}", cc.my_invitations("acme").accept("x")),
        format!("{:?}", org.create_many(["d@x.io"])),
        format!("{:?}", org.select().search("x")),
        format!("{:?}", cc.my_invitations("acme").list()),
        format!("{:?}", Client::builder().client_credentials("m", "svc", SECRET)),
        format!("{:?}", Client::builder().bearer_token(TOKEN)),
    ]);
    let trace = capture.text();
    assert!(trace.contains("addOrganizationInvitation"), "tracing was captured");
    for text in shown.iter().chain([&trace]) {
        assert!(!text.contains(TOKEN), "token in: {text}");
        assert!(!text.contains(SECRET), "secret in: {text}");
        assert!(!text.contains("granted-"), "issued token in: {text}");
    }
}

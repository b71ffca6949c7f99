//! What the library traces: operations and attempts, and no email unless the client opts in.
//! In a test binary of its own: a tracing subscriber scoped to one test must not race with
//! other tests' threads.

use httpmock::prelude::*;
use phasetwo_invitations::{Client, ErrorKind, RetryConfig};
use phasetwo_invitations_testing::support::TraceCapture;
use serde_json::json;

const ORG_PATH: &str = "/realms/acme/orgs/o1/invitations";
const TOKEN: &str = "bearer-secret-xyz";

/// Everything the library traces, at TRACE, with and without the opt-in for emails.
async fn traced_create(log_emails: bool) -> String {
    let capture = TraceCapture::start();
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(429)
                .header("retry-after", "1")
                .json_body(json!({"error": "slow down"}))
                .up_to_n_times(1);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(409).json_body(
                json!({"error": "Invitation for secret.person@example.com already exists."}),
            );
        })
        .await;
    let client = Client::builder()
        .base_url(server.base_url())
        .bearer_token(TOKEN)
        .retry(RetryConfig::default().without_jitter())
        .log_emails(log_emails)
        .build()
        .unwrap();
    let e = client.invitations("acme", "o1").create("Secret.Person@example.com").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyInvited);
    capture.text()
}

/// One test in this binary, so that nothing else traces meanwhile.
#[tokio::test]
async fn traces_show_operation_attempts_and_no_email_unless_asked() {
    let trace = traced_create(false).await;
    assert!(trace.contains("addOrganizationInvitation"), "{trace}");
    assert!(trace.contains("request_id="), "{trace}");
    assert!(trace.contains("realm=\"acme\""), "{trace}");
    assert!(trace.contains("reason=\"throttled\""), "{trace}");
    assert!(trace.contains("delay_ms=1000"), "{trace}");
    assert!(trace.contains("n=2"), "{trace}");
    assert!(!trace.to_lowercase().contains("secret.person"), "{trace}");
    assert!(!trace.contains(TOKEN), "{trace}");

    let trace = traced_create(true).await;
    assert!(trace.contains("secret.person@example.com"), "{trace}");
}

/// A page holding one invitation twice is a server defect: the stream yields the first, and
/// says so in the trace rather than hiding it.
#[tokio::test]
async fn a_page_holding_an_id_twice_is_reported_in_the_trace() {
    use futures::TryStreamExt;

    let capture = TraceCapture::start();
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH);
            then.status(200).json_body(json!([
                {"id": "dup-1", "email": "a@x.io"},
                {"id": "other", "email": "b@x.io"},
                {"id": "dup-1", "email": "c@x.io"},
            ]));
        })
        .await;
    let client = Client::builder().base_url(server.base_url()).bearer_token(TOKEN).build().unwrap();
    let listed: Vec<_> = client
        .invitations("acme", "o1")
        .list()
        .stream()
        .map_ok(|i| i.email)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, ["a@x.io", "b@x.io"]);
    let text = capture.text();
    let warning = text
        .lines()
        .find(|line| line.contains("WARN") && line.contains("dup-1"))
        .unwrap_or_else(|| panic!("no warning naming the id: {text}"));
    assert!(warning.contains("twice") && warning.contains("differs=true"), "{warning}");
}

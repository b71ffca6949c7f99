//! What the library traces: operations and attempts, and no email unless the client opts in.
//! In a test binary of its own: a tracing subscriber scoped to one test must not race with
//! other tests' threads.

use httpmock::prelude::*;
use phasetwo_invitations::testing::support::{TraceCapture, VirtualClock};
use phasetwo_invitations::{Client, ErrorKind, RetryConfig};
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
        .clock(VirtualClock::new())
        .log_emails(log_emails)
        .build()
        .unwrap();
    let e = client
        .invitations("acme", "o1")
        .create("Secret.Person@example.com")
        .await
        .unwrap_err();
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

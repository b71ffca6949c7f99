//! Retries, timeouts and safe re-sending, against httpmock. The waits between attempts are
//! read from the client's `retrying` events; they are real, so the backoffs and `Retry-After`s
//! here stay at a second or less.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use httpmock::prelude::*;
use phasetwo_invitations::{Client, ClientBuilder, ErrorKind, RetryConfig};
use phasetwo_invitations_testing::support::{TraceCapture, quick_retries};
use serde_json::json;

const ORG_PATH: &str = "/realms/acme/orgs/o1/invitations";
const TOKEN: &str = "bearer-secret-xyz";

fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .base_url(server.base_url())
        .bearer_token(TOKEN)
        .retry(RetryConfig::default().without_jitter())
}

/// A mock answering `status` (with optional `Retry-After`) to the first `times` matching
/// requests.
async fn failing<'a>(
    server: &'a MockServer,
    method: Method,
    path: &str,
    status: u16,
    retry_after: Option<String>,
    times: usize,
) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(method).path(path);
            let mut then =
                then.status(status).json_body(json!({"error": "unavailable"})).up_to_n_times(times);
            if let Some(value) = retry_after {
                then = then.header("retry-after", value);
            }
            let _ = then;
        })
        .await
}

async fn count_ok(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{ORG_PATH}/count"));
            then.status(200).json_body(json!(7));
        })
        .await
}

#[tokio::test]
async fn a_503_then_200_succeeds_after_one_backoff() {
    let server = MockServer::start_async().await;
    let trace = TraceCapture::start();
    let unavailable = failing(&server, GET, &format!("{ORG_PATH}/count"), 503, None, 1).await;
    let ok = count_ok(&server).await;
    let client = builder(&server).build().unwrap();
    assert_eq!(client.invitations("acme", "o1").count().await.unwrap(), 7);
    unavailable.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
    assert_eq!(trace.retry_waits(), [Duration::from_millis(100)]);
}

#[tokio::test]
async fn retry_after_in_seconds_is_waited_for() {
    let server = MockServer::start_async().await;
    let trace = TraceCapture::start();
    failing(&server, GET, &format!("{ORG_PATH}/count"), 429, Some("1".into()), 1).await;
    count_ok(&server).await;
    let client = builder(&server).build().unwrap();
    let started = Instant::now();
    assert_eq!(client.invitations("acme", "o1").count().await.unwrap(), 7);
    assert_eq!(trace.retry_waits(), [Duration::from_secs(1)]);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for");
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_waited_for() {
    let server = MockServer::start_async().await;
    let trace = TraceCapture::start();
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    failing(&server, GET, &format!("{ORG_PATH}/count"), 503, Some(date), 1).await;
    count_ok(&server).await;
    let client = builder(&server).build().unwrap();
    assert_eq!(client.invitations("acme", "o1").count().await.unwrap(), 7);
    let waited = trace.retry_waits();
    assert_eq!(waited.len(), 1);
    // The date has one-second precision and a little real time has passed.
    assert!(
        waited[0] >= Duration::from_millis(500) && waited[0] <= Duration::from_secs(2),
        "{waited:?}"
    );
}

/// A `Retry-After` past `max_retry_after` fails the call at once with the delay asked for,
/// also one with more digits than a number of seconds can hold.
#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_at_once() {
    for (value, asked) in
        [("120", Duration::from_secs(120)), ("99999999999999999999", Duration::MAX)]
    {
        let server = MockServer::start_async().await;
        let trace = TraceCapture::start();
        let throttled =
            failing(&server, GET, &format!("{ORG_PATH}/count"), 429, Some(value.into()), 5).await;
        let client = builder(&server).build().unwrap();
        let e = client.invitations("acme", "o1").count().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited, "{value}");
        assert_eq!(e.retry_after(), Some(asked), "{value}");
        assert_eq!(e.attempts(), 1, "{value}");
        assert!(trace.retry_waits().is_empty(), "{value}: not retried");
        throttled.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn three_503s_use_up_the_three_attempts() {
    let server = MockServer::start_async().await;
    let trace = TraceCapture::start();
    let ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = ids.clone();
    let unavailable = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{ORG_PATH}/count"));
            then.respond_with(move |request| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                seen.lock().unwrap().push(id);
                httpmock::HttpMockResponse::builder()
                    .status(503)
                    .body(r#"{"error":"unavailable"}"#)
                    .build()
            });
        })
        .await;
    let client = builder(&server).build().unwrap();
    let e = client.invitations("acme", "o1").count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server);
    assert_eq!(e.attempts(), 3);
    assert!(e.is_retryable() && e.may_have_been_sent());
    assert_eq!(trace.retry_waits(), [Duration::from_millis(100), Duration::from_millis(200)]);
    unavailable.assert_calls_async(3).await;
    // One request id for the operation, on every attempt, and on the error.
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| id == &ids[0]) && !ids[0].is_empty(), "{ids:?}");
    assert_eq!(e.request_id(), Some(ids[0].as_str()));
    assert!(e.to_string().contains("after 3 attempts"), "{e}");
}

#[tokio::test]
async fn each_operation_gets_its_own_request_id() {
    let server = MockServer::start_async().await;
    failing(&server, GET, &format!("{ORG_PATH}/count"), 400, None, 2).await;
    let client = builder(&server).build().unwrap();
    let org = client.invitations("acme", "o1");
    let first = org.count().await.unwrap_err();
    let second = org.count().await.unwrap_err();
    assert_eq!(first.attempts(), 1, "a 400 is not retried");
    assert_ne!(first.request_id(), second.request_id());
}

#[tokio::test]
async fn a_create_that_times_out_is_not_sent_again_by_default() {
    let server = MockServer::start_async().await;
    let slow = server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(201)
                .header("location", "http://x/realms/acme/orgs/o1/invitations/i1")
                .delay(Duration::from_secs(2));
        })
        .await;
    let client = builder(&server).build().unwrap();
    let e = client
        .invitations("acme", "o1")
        .create("a@x.io")
        .attempt_timeout(Duration::from_millis(150))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(e.attempts(), 1);
    assert!(e.may_have_been_sent());
    slow.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_idempotent_create_is_retried_and_reconciled() {
    let server = MockServer::start_async().await;
    // The first attempt is stored but its answer comes too late; the retry meets the 409.
    let slow = server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(201)
                .header("location", "http://x/realms/acme/orgs/o1/invitations/i1")
                .delay(Duration::from_secs(2))
                .up_to_n_times(1);
        })
        .await;
    let conflict = server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(409).json_body(json!({"error": "Invitation for a@x.io already exists."}));
        })
        .await;
    let lookup = server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH).query_param("search", "a@x.io");
            then.status(200).json_body(json!([{"id": "i1", "email": "a@x.io"}]));
        })
        .await;
    let client = builder(&server).build().unwrap();
    let created = client
        .invitations("acme", "o1")
        .create("A@x.io")
        .idempotent()
        .attempt_timeout(Duration::from_millis(150))
        .await
        .unwrap();
    assert_eq!(created.id(), "i1");
    assert!(created.reconciled());
    assert!(created.location().ends_with("/realms/acme/orgs/o1/invitations/i1"));
    slow.assert_calls_async(1).await;
    conflict.assert_calls_async(1).await;
    lookup.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_first_409_is_the_callers_even_when_idempotent() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(409).json_body(json!({"error": "Invitation for a@x.io already exists."}));
        })
        .await;
    let client = builder(&server).build().unwrap();
    let e = client.invitations("acme", "o1").create("a@x.io").idempotent().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyInvited);
}

#[tokio::test]
async fn a_create_refused_with_429_is_sent_again() {
    let server = MockServer::start_async().await;
    failing(&server, POST, ORG_PATH, 429, Some("1".into()), 1).await;
    let created = server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(201).header("location", "http://x/realms/acme/orgs/o1/invitations/i9");
        })
        .await;
    let client = builder(&server).build().unwrap();
    let result = client.invitations("acme", "o1").create("a@x.io").await;
    assert_eq!(result.unwrap().id(), "i9");
    created.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_create_answered_503_is_not_sent_again() {
    let server = MockServer::start_async().await;
    let unavailable = failing(&server, POST, ORG_PATH, 503, None, 5).await;
    let client = builder(&server).build().unwrap();
    let e = client.invitations("acme", "o1").create("a@x.io").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server);
    unavailable.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_create_whose_connection_is_refused_is_sent_again() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .bearer_token("tok")
        .retry(RetryConfig::default().without_jitter())
        .build()
        .unwrap();
    let e = client.invitations("acme", "o1").create("a@x.io").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert_eq!(e.attempts(), 3);
    assert!(!e.may_have_been_sent());
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_succeeds_on_the_404_of_its_retry() {
    let server = MockServer::start_async().await;
    let path = format!("{ORG_PATH}/i1");
    let lost = server
        .mock_async(|when, then| {
            when.method(DELETE).path(&path);
            then.status(204).delay(Duration::from_secs(2)).up_to_n_times(1);
        })
        .await;
    let gone = server
        .mock_async(|when, then| {
            when.method(DELETE).path(&path);
            then.status(404).json_body(json!({"error": "No invitation with id i1"}));
        })
        .await;
    let client = builder(&server).build().unwrap();
    let org = client.invitations("acme", "o1");
    org.delete("i1").attempt_timeout(Duration::from_millis(150)).await.unwrap();
    lost.assert_calls_async(1).await;
    gone.assert_calls_async(1).await;
    // Without an earlier unknown outcome, a 404 is still an error.
    let e = org.delete("i1").await.unwrap_err();
    assert!(e.is_not_found());
}

#[tokio::test]
async fn a_401_gets_one_new_token_and_one_resend() {
    let server = MockServer::start_async().await;
    let first_grant = server
        .mock_async(|when, then| {
            when.method(POST).path_suffix("/token");
            then.status(200)
                .json_body(json!({"access_token": "tok-1", "expires_in": 300}))
                .up_to_n_times(1);
        })
        .await;
    let second_grant = server
        .mock_async(|when, then| {
            when.method(POST).path_suffix("/token");
            then.status(200).json_body(json!({"access_token": "tok-2", "expires_in": 300}));
        })
        .await;
    let revoked = server
        .mock_async(|when, then| {
            when.method(GET).header("authorization", "Bearer tok-1");
            then.status(401);
        })
        .await;
    let accepted = server
        .mock_async(|when, then| {
            when.method(GET).header("authorization", "Bearer tok-2");
            then.status(200).json_body(json!(3));
        })
        .await;
    let client = builder(&server).client_credentials("master", "svc", "secret").build().unwrap();
    assert_eq!(client.invitations("acme", "o1").count().await.unwrap(), 3);
    first_grant.assert_calls_async(1).await;
    second_grant.assert_calls_async(1).await;
    revoked.assert_calls_async(1).await;
    accepted.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_second_401_is_returned() {
    let server = MockServer::start_async().await;
    let grants = server
        .mock_async(|when, then| {
            when.method(POST).path_suffix("/token");
            then.status(200).json_body(json!({"access_token": "tok", "expires_in": 300}));
        })
        .await;
    let refused = server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(401);
        })
        .await;
    let client = builder(&server).client_credentials("master", "svc", "secret").build().unwrap();
    let e = client.invitations("acme", "o1").count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(e.attempts(), 2);
    grants.assert_calls_async(2).await;
    refused.assert_calls_async(2).await;

    // A static token cannot be renewed: one attempt.
    let e = builder(&server).build().unwrap().invitations("acme", "o1").count().await.unwrap_err();
    assert_eq!(e.attempts(), 1);
}

#[tokio::test]
async fn the_operation_deadline_cuts_a_long_retry_after() {
    let server = MockServer::start_async().await;
    let trace = TraceCapture::start();
    let throttled =
        failing(&server, GET, &format!("{ORG_PATH}/count"), 429, Some("30".into()), 5).await;
    let client = builder(&server).build().unwrap();
    let e = client
        .invitations("acme", "o1")
        .count()
        .operation_timeout(Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    assert!(trace.retry_waits().is_empty());
    throttled.assert_calls_async(1).await;

    // Waits add up against the deadline: 1 s twice fits in 2.5 s, a third would not.
    let server = MockServer::start_async().await;
    let trace = TraceCapture::start();
    let throttled =
        failing(&server, GET, &format!("{ORG_PATH}/count"), 429, Some("1".into()), 10).await;
    let client = builder(&server)
        .retry(RetryConfig::default().max_attempts(10))
        .operation_timeout(Duration::from_millis(2500))
        .build()
        .unwrap();
    let e = client.invitations("acme", "o1").count().await.unwrap_err();
    assert_eq!(e.attempts(), 3);
    assert_eq!(trace.retry_waits(), [Duration::from_secs(1), Duration::from_secs(1)]);
    throttled.assert_calls_async(3).await;
}

#[tokio::test]
async fn the_retry_budget_stops_retries_when_everything_fails() {
    let server = MockServer::start_async().await;
    let unavailable = failing(&server, GET, &format!("{ORG_PATH}/count"), 503, None, 1000).await;
    // Room for two retries (5 each) across all calls of the client.
    let client = builder(&server).retry_budget(10).build().unwrap();
    let org = client.invitations("acme", "o1");
    let calls: Vec<_> = (0..10).map(|_| tokio::spawn(org.count().send())).collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap_err().kind(), ErrorKind::Server);
    }
    // 10 first attempts and 2 retries, instead of 30 requests.
    unavailable.assert_calls_async(12).await;
}

#[tokio::test]
async fn disabled_retry_makes_one_attempt() {
    let server = MockServer::start_async().await;
    let unavailable = failing(&server, GET, &format!("{ORG_PATH}/count"), 503, None, 5).await;
    let client = builder(&server).build().unwrap();
    let e =
        client.invitations("acme", "o1").count().retry(RetryConfig::disabled()).await.unwrap_err();
    assert_eq!(e.attempts(), 1);
    unavailable.assert_calls_async(1).await;
}

/// Durations too large to add to the present (a server's `Retry-After`, a caller's limit) end
/// the operation instead of panicking.
#[tokio::test]
async fn durations_past_the_representable_future_do_not_panic() {
    let server = MockServer::start_async().await;
    let trace = TraceCapture::start();
    failing(
        &server,
        GET,
        &format!("{ORG_PATH}/count"),
        503,
        Some("18446744073709551615".into()),
        1,
    )
    .await;
    let client = builder(&server)
        .retry(RetryConfig::default().max_retry_after(Duration::MAX))
        .operation_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let e = client.invitations("acme", "o1").count().await.unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(503));
    assert!(trace.retry_waits().is_empty(), "no wait past the deadline");

    let unlimited = builder(&server).operation_timeout(Duration::MAX).build().unwrap();
    count_ok(&server).await;
    assert_eq!(unlimited.invitations("acme", "o1").count().await.unwrap(), 7);
}

const TOKEN_PATH: &str = "/realms/master/protocol/openid-connect/token";

/// A client getting its tokens from `server`'s token endpoint.
fn service_builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .base_url(server.base_url())
        .client_credentials("master", "svc", "svc-secret-value")
        .retry(RetryConfig::default().without_jitter())
}

async fn token_ok<'a>(server: &'a MockServer, body: serde_json::Value) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(200).json_body(body);
        })
        .await
}

#[tokio::test]
async fn a_token_endpoint_blip_is_retried_and_the_create_sent_once() {
    let server = MockServer::start_async().await;
    let trace = TraceCapture::start();
    let blip = failing(&server, POST, TOKEN_PATH, 503, Some("1".into()), 1).await;
    let grant = token_ok(&server, json!({"access_token": "issued-token", "expires_in": 300})).await;
    let created = server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH).header("authorization", "Bearer issued-token");
            then.status(201).header("location", server.url(format!("{ORG_PATH}/new-id")));
        })
        .await;
    let client = service_builder(&server).build().unwrap();
    // A plain create: not idempotent, yet safe to retry, since the token request failed
    // before it was sent.
    let invitation = client.invitations("acme", "o1").create("a@x.io").await.unwrap();
    assert_eq!(invitation.id(), "new-id");
    assert_eq!(trace.retry_waits(), [Duration::from_secs(1)], "Retry-After honoured");
    blip.assert_calls_async(1).await;
    grant.assert_calls_async(1).await;
    created.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_token_endpoint_down_for_good_is_a_server_error_that_sent_nothing() {
    let server = MockServer::start_async().await;
    let down = failing(&server, POST, TOKEN_PATH, 503, None, 100).await;
    let client = service_builder(&server).build().unwrap();
    let e = client.invitations("acme", "o1").count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server, "{e}");
    assert_eq!(e.attempts(), 3);
    assert!(!e.may_have_been_sent());
    assert!(e.to_string().contains("token endpoint"), "{e}");
    down.assert_calls_async(3).await;
}

/// One token request for any number of waiting callers, and its failure is theirs too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_waiting_for_a_failing_token_request_share_its_failure() {
    let server = MockServer::start_async().await;
    let down = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(503)
                .delay(Duration::from_millis(500))
                .json_body(json!({"error": "unavailable"}));
        })
        .await;
    let client = service_builder(&server).retry(RetryConfig::disabled()).build().unwrap();
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let org = client.invitations("acme", "o1");
            tokio::spawn(async move { org.count().await })
        })
        .collect();
    for call in calls {
        let e = call.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Server);
        assert!(!e.may_have_been_sent());
    }
    down.assert_calls_async(1).await;
}

/// A token endpoint that never answers: every caller gives up at its own deadline, instead of
/// queueing behind the fetch of the caller before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_token_endpoint_does_not_outlast_each_callers_deadline() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(200)
                .delay(Duration::from_secs(20))
                .json_body(json!({"access_token": "late"}));
        })
        .await;
    let client =
        service_builder(&server).operation_timeout(Duration::from_secs(1)).build().unwrap();
    let started = Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let org = client.invitations("acme", "o1");
            tokio::spawn(async move { org.count().await })
        })
        .collect();
    for call in calls {
        let e = call.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(!e.may_have_been_sent(), "{e:?}");
        assert!(e.to_string().contains("no token"), "{e}");
    }
    // One after another, ten fetches would take ten seconds or more.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn unusable_token_answers_are_named_and_not_cached() {
    for (body, expect) in [
        (
            json!({"access_token": "abc\r\nX-Injected: 1", "expires_in": 300}),
            "not usable in an HTTP header",
        ),
        (json!({"access_token": "abc", "expires_in": -1}), "expires_in"),
        (json!({"access_token": "abc", "expires_in": "soon"}), "expires_in"),
        (json!({"expires_in": 300}), "access_token"),
    ] {
        let server = MockServer::start_async().await;
        let grant = token_ok(&server, body.clone()).await;
        let client = service_builder(&server).build().unwrap();
        let org = client.invitations("acme", "o1");
        for _ in 0..2 {
            let e = org.count().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NoToken, "{body}: {e}");
            assert!(e.to_string().contains(expect), "{body}: {e}");
            assert!(!e.to_string().contains("svc-secret-value"));
        }
        // Each call asked again: nothing unusable was kept.
        grant.assert_calls_async(2).await;
    }
}

/// After a 503 (or 429) the request was not carried out, so a 404 on the retry is the
/// caller's: the invitation never existed here. Only an answer that may hide an applied
/// change (a lost answer, a timeout after sending, 500, 502, 504) lets the 404 mean "done".
#[tokio::test]
async fn a_503_then_the_servers_not_found_is_not_reported_as_done() {
    struct Case {
        method: &'static str,
        path: String,
        first: u16,
        then: (u16, &'static str),
        done: bool,
    }
    let delete = |first, done| Case {
        method: "DELETE",
        path: format!("{ORG_PATH}/typo-id"),
        first,
        then: (404, "No invitation with id typo-id"),
        done,
    };
    let accept = |first, done| Case {
        method: "POST",
        path: "/realms/acme/orgs/me/invitations/typo-id".into(),
        first,
        then: (404, "Invitation typo-id not found"),
        done,
    };
    let reject = |first, done| Case {
        method: "DELETE",
        path: "/realms/acme/orgs/me/invitations/typo-id".into(),
        first,
        then: (400, "invitation not found"),
        done,
    };
    let cases = [
        delete(503, false),
        delete(429, false),
        delete(502, true),
        accept(503, false),
        accept(504, true),
        reject(503, false),
        reject(500, true),
    ];
    for case in cases {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(case.method).path(&case.path);
                then.status(case.first)
                    .header("content-type", "text/html")
                    .body("<html><body>Service Unavailable</body></html>")
                    .up_to_n_times(1);
            })
            .await;
        server
            .mock_async(|when, then| {
                when.method(case.method).path(&case.path);
                then.status(case.then.0).json_body(json!({"error": case.then.1}));
            })
            .await;
        let client = builder(&server).build().unwrap();
        let result = if case.path.contains("/orgs/me/") {
            let me = client.my_invitations("acme");
            if case.method == "POST" {
                me.accept("typo-id").await
            } else {
                me.reject("typo-id").await
            }
        } else {
            client.invitations("acme", "o1").delete("typo-id").await
        };
        let what = format!("{} {} after {}", case.method, case.path, case.first);
        if case.done {
            assert!(result.is_ok(), "{what}: {result:?}");
        } else {
            let e = result.unwrap_err();
            assert!(e.is_not_found(), "{what}: {e}");
            assert_eq!(e.attempts(), 2, "{what}");
        }
    }
}

/// A caller whose 401 arrives while another caller's token request is held by the endpoint
/// ends at its own operation time limit, not when that request ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_renewal_ends_at_the_callers_time_limit() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(200)
                .json_body(json!({"access_token": "token-1", "expires_in": 300}))
                .up_to_n_times(1);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(200)
                .delay(Duration::from_secs(8))
                .json_body(json!({"access_token": "token-2", "expires_in": 300}));
        })
        .await;
    // B's 401 comes first, and B starts the slow renewal; A's comes while it runs.
    for (path, delay) in [("/count", 100), ("", 400)] {
        server
            .mock_async(|when, then| {
                when.method(GET)
                    .path(format!("{ORG_PATH}{path}"))
                    .header("authorization", "Bearer token-1");
                then.status(401)
                    .delay(Duration::from_millis(delay))
                    .json_body(json!({"error": "HTTP 401 Unauthorized"}));
            })
            .await;
    }
    let client = service_builder(&server).build().unwrap();
    let org = client.invitations("acme", "o1");
    let b = tokio::spawn({
        let org = org.clone();
        async move { org.count().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let e = org.list().operation_timeout(Duration::from_secs(1)).send().await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2_500), "{took:?}: {e}");
    assert!(!e.to_string().contains("within 0 ms"), "no attempt starts with nothing left: {e}");
    b.abort();
}

/// `or_existing` is one call: its lookups share the call's deadline and retry policy instead
/// of each being a listing with the client's defaults.
#[tokio::test]
async fn or_existing_lookups_share_the_calls_time_limit() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(409).json_body(json!({"error": "Invitation for a@x.io already exists."}));
        })
        .await;
    let stalled = server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH);
            then.status(200).delay(Duration::from_secs(5)).json_body(json!([]));
        })
        .await;
    let client = Client::builder().base_url(server.base_url()).bearer_token(TOKEN).build().unwrap();
    let started = Instant::now();
    let e = client
        .invitations("acme", "o1")
        .create("a@x.io")
        .retry(RetryConfig::disabled())
        .operation_timeout(Duration::from_millis(500))
        .or_existing()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(took < Duration::from_millis(1_500), "{took:?}: {e}");
    stalled.assert_calls_async(1).await;
}

/// The same for the lookup an idempotent create makes after a lost answer.
#[tokio::test]
async fn an_idempotent_creates_reconcile_shares_the_calls_time_limit() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(201)
                .delay(Duration::from_secs(2))
                .header("location", server.url(format!("{ORG_PATH}/lost")))
                .up_to_n_times(1);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(409).json_body(json!({"error": "Invitation for a@x.io already exists."}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH);
            then.status(200).delay(Duration::from_secs(5)).json_body(json!([]));
        })
        .await;
    let client = Client::builder()
        .base_url(server.base_url())
        .bearer_token(TOKEN)
        .retry(quick_retries())
        .build()
        .unwrap();
    let started = Instant::now();
    let e = client
        .invitations("acme", "o1")
        .create("a@x.io")
        .idempotent()
        .attempt_timeout(Duration::from_millis(200))
        .operation_timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.may_have_been_sent(), "the first create may be stored: {e:?}");
    assert!(took < Duration::from_secs(2), "{took:?}: {e}");
}

/// A token endpoint slower than each attempt's limit: the grant the first attempt started
/// goes on, and serves the retry.
#[tokio::test]
async fn a_grant_slower_than_the_attempt_limit_serves_the_retry() {
    let server = MockServer::start_async().await;
    let grant = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(200)
                .delay(Duration::from_millis(1_200))
                .json_body(json!({"access_token": "slow-token", "expires_in": 300}));
        })
        .await;
    let counted = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{ORG_PATH}/count"))
                .header("authorization", "Bearer slow-token");
            then.status(200).json_body(json!(3));
        })
        .await;
    let client = service_builder(&server).build().unwrap();
    let org = client.invitations("acme", "o1");
    let n = org.count().attempt_timeout(Duration::from_secs(1)).await.unwrap();
    assert_eq!(n, 3);
    grant.assert_calls_async(1).await;
    counted.assert_calls_async(1).await;
}

/// A token endpoint failing everything sees about one request per retry round, not one per
/// retrying caller: a failure is shared with the callers that ask within its retry delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_endpoint_sees_a_request_per_retry_round() {
    let server = MockServer::start_async().await;
    let down = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            then.status(503).json_body(json!({"error": "unavailable"}));
        })
        .await;
    let client = Client::builder()
        .base_url(server.base_url())
        .client_credentials("master", "svc", "svc-secret-value")
        .build()
        .unwrap();
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let org = client.invitations("acme", "o1");
            tokio::spawn(async move { org.count().await })
        })
        .collect();
    for call in calls {
        let e = call.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Server, "{e}");
        assert!(!e.may_have_been_sent());
    }
    let requests = down.calls_async().await;
    assert!(requests <= 10, "{requests} token requests for 200 callers");
}

//! Hostile answers and hostile input: malformed, huge, stalled and arbitrary answers from
//! httpmock and raw sockets, servers that do not page, redirects, plain HTTP to another host.
//! Each must give its documented error, never a panic, a hang or a request that should not go.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use httpmock::prelude::*;
use phasetwo_invitations::{Client, ErrorKind, RetryConfig};
use proptest::prelude::*;
use serde_json::json;

const TOKEN: &str = "hostile-test-token-0004";

/// Fails a test that runs longer than `limit` instead of letting it hang.
async fn bounded<T>(limit: Duration, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, work).await.expect("the scenario ran past its time limit")
}

fn hostile_client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(server.base_url())
        .bearer_token(TOKEN)
        .retry(RetryConfig::disabled())
        .build()
        .unwrap()
}

/// Malformed answers and the typed error each one gives.
#[tokio::test]
async fn hostile_responses_give_typed_errors() {
    let huge = "x".repeat(5 * 1024 * 1024);
    let list_cases: Vec<(u16, &str, Vec<u8>, Option<ErrorKind>)> = vec![
        (200, "application/json", br#"[{"id":"a","email":"#.to_vec(), Some(ErrorKind::Decode)),
        (200, "application/json", br#"[{"id":5,"email":true}]"#.to_vec(), Some(ErrorKind::Decode)),
        (200, "application/json", br#"{"not":"a list"}"#.to_vec(), Some(ErrorKind::Decode)),
        (200, "text/html", b"<html>login</html>".to_vec(), Some(ErrorKind::Decode)),
        (200, "application/json", vec![0xff, 0xfe, b'[', b']'], Some(ErrorKind::Decode)),
        (200, "application/json", huge.clone().into_bytes(), Some(ErrorKind::Decode)),
        (200, "application/json", b"".to_vec(), Some(ErrorKind::Decode)),
        // Read by content: valid JSON under another content type is accepted.
        (200, "text/plain", br#"[{"id":"a","email":"a@x.io"}]"#.to_vec(), None),
        (503, "text/html", huge.into_bytes(), Some(ErrorKind::Server)),
        (500, "application/json", vec![0xff; 100], Some(ErrorKind::Server)),
    ];
    for (status, content_type, body, expected) in list_cases {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(GET);
                then.status(status).header("content-type", content_type).body(body.clone());
            })
            .await;
        let result = hostile_client(&server).invitations("acme", "org-1").list().send().await;
        let what = format!("{status} {content_type} {:?}", &body[..body.len().min(40)]);
        match expected {
            None => assert!(result.is_ok(), "{what}: {result:?}"),
            Some(kind) => {
                let e = result.unwrap_err();
                assert_eq!(e.kind(), kind, "{what}: {e}");
                assert_eq!(e.status().map(|s| s.as_u16()), Some(status), "{what}");
                assert!(e.body_snippet().is_none_or(|s| s.chars().count() <= 256), "{what}");
                assert!(e.to_string().len() < 600, "{what}: {e}");
            }
        }
    }

    for location in [
        None,
        Some("not a url"),
        Some("http://h/realms/acme/orgs/org-1/invitations/"),
        Some("http://h/realms/acme/orgs/org-1/invitations"),
        Some("http://h/realms/acme/orgs/org-1/members/x"),
        // Another organization's invitation is not the one just created.
        Some("/realms/acme/orgs/org-2/invitations/x"),
        Some("http://h/realms/other/orgs/org-1/invitations/x"),
    ] {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(POST);
                let then = then.status(201);
                if let Some(location) = location {
                    then.header("location", location);
                }
            })
            .await;
        let e = hostile_client(&server)
            .invitations("acme", "org-1")
            .create("a@x.io")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingLocation, "{location:?}");
        assert_eq!(e.status().map(|s| s.as_u16()), Some(201), "{location:?}");
    }
    // A relative reference (RFC 9110) is resolved against the request's URL.
    for location in ["/realms/acme/orgs/org-1/invitations/x", "invitations/x"] {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(POST);
                then.status(201).header("location", location);
            })
            .await;
        let created = hostile_client(&server)
            .invitations("acme", "org-1")
            .create("a@x.io")
            .await
            .unwrap_or_else(|e| panic!("{location}: {e}"));
        assert_eq!(created.id(), "x");
        assert_eq!(created.location(), server.url("/realms/acme/orgs/org-1/invitations/x"));
    }

    // A server ignoring `first`: whatever the offset, its first `max` invitations.
    let server = MockServer::start_async().await;
    let all = [("a", "a@x.io"), ("b", "b@x.io"), ("c", "c@x.io")];
    for max in [2, 3] {
        let page: Vec<_> =
            all[..max].iter().map(|(id, email)| json!({"id": id, "email": email})).collect();
        server
            .mock_async(|when, then| {
                when.method(GET).query_param("max", max.to_string());
                then.status(200).json_body(json!(page));
            })
            .await;
    }
    let e = hostile_client(&server)
        .invitations("acme", "org-1")
        .list()
        .page_size(2)
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RepeatedPage);
}

/// Answers one connection with `response` (whatever bytes), after reading the request head.
fn answer_once(response: Vec<u8>) -> u16 {
    answer_then_hold(response, Duration::ZERO)
}

/// Like [`answer_once`], then keeps the connection open, sending nothing more, until the
/// client closes it or `hold` has passed.
fn answer_then_hold(response: Vec<u8>, hold: Duration) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&byte[..n]),
                }
            }
            let _ = stream.write_all(&response);
            if !hold.is_zero() {
                let _ = stream.set_read_timeout(Some(hold));
                while let Ok(n) = stream.read(&mut byte) {
                    if n == 0 {
                        break;
                    }
                }
            }
        }
    });
    port
}

/// The attempt's time limit covers reading an error body: a 502 whose body stalls ends at
/// the limit, not at the (much longer) request timeout.
#[tokio::test]
async fn a_stalled_error_body_ends_at_the_attempt_limit() {
    let head =
        b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\npart"
            .to_vec();
    let port = answer_then_hold(head, Duration::from_secs(30));
    let client = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .bearer_token(TOKEN)
        .retry(RetryConfig::disabled())
        .attempt_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = client
        .invitations("acme", "org-1")
        .count()
        .attempt_timeout(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "ended after {:?}", started.elapsed());
}

/// An answer the HTTP parser refuses says why, not only "connection failed".
#[tokio::test]
async fn an_answer_with_thousands_of_headers_says_what_was_wrong() {
    let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
    for n in 0..3000 {
        answer.extend_from_slice(format!("x-filler-{n}: {n}\r\n").as_bytes());
    }
    answer.extend_from_slice(b"content-length: 1\r\n\r\n7");
    let port = answer_once(answer);
    let client = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .bearer_token(TOKEN)
        .retry(RetryConfig::disabled())
        .build()
        .unwrap();
    let e = client.invitations("acme", "org-1").count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    assert!(e.to_string().contains("message head is too large"), "{e}");
}

/// The size limit holds for a body whose length is not declared: chunks are counted as they
/// come, and the answer is refused once past the limit (a declared length is checked by
/// `an_answer_over_the_size_limit_is_refused_not_buffered`).
#[tokio::test]
async fn a_chunked_answer_over_the_size_limit_is_refused() {
    let invitations = serde_json::to_vec(&json!(
        (0..100)
            .map(|n| json!({"id": format!("i{n}"), "email": format!("p{n}@x.io"), "roles": []}))
            .collect::<Vec<_>>()
    ))
    .unwrap();
    assert!(invitations.len() > 2048);
    let mut answer =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    for chunk in invitations.chunks(500) {
        answer.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        answer.extend_from_slice(chunk);
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"0\r\n\r\n");
    let limited = |port: u16, limit: usize| {
        Client::builder()
            .base_url(format!("http://127.0.0.1:{port}"))
            .bearer_token(TOKEN)
            .retry(RetryConfig::disabled())
            .max_response_bytes(limit)
            .build()
            .unwrap()
    };
    let e = limited(answer_once(answer.clone()), 2048)
        .invitations("acme", "org-1")
        .list()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert!(e.to_string().contains("2048 bytes"), "{e}");
    // Under a larger limit the same answer is read whole.
    let page = limited(answer_once(answer), 64 * 1024)
        .invitations("acme", "org-1")
        .list()
        .send()
        .await
        .unwrap();
    assert_eq!(page.len(), 100);
}

fn arbitrary_response() -> impl Strategy<Value = Vec<u8>> {
    let status = prop_oneof![
        Just(200u16),
        Just(201),
        Just(204),
        Just(401),
        Just(409),
        Just(503),
        100u16..600
    ];
    let header = prop_oneof![
        Just("Content-Type: application/json".to_owned()),
        Just("Content-Type: text/html".to_owned()),
        "Retry-After: [ -~]{0,30}",
        "Location: [ -~]{0,60}",
        "Content-Length: [0-9]{1,6}",
        "[A-Za-z-]{1,12}: [ -~]{0,40}",
    ];
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "\\[\\{\"id\":\"[a-z]{0,5}\",\"email\":\"[a-z@.]{0,10}\"\\}\\]"
            .prop_map(String::into_bytes),
        Just(b"{\"error\":\"x\"}".to_vec()),
    ];
    (status, proptest::collection::vec(header, 0..4), body, any::<bool>()).prop_map(
        |(status, headers, body, raw)| {
            if raw {
                // Not even HTTP.
                return body;
            }
            let mut out = format!("HTTP/1.1 {status} X\r\n").into_bytes();
            for header in headers {
                out.extend_from_slice(header.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"Connection: close\r\n\r\n");
            out.extend_from_slice(&body);
            out
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever bytes come back, every operation returns a value or a typed error.
    #[test]
    fn arbitrary_answers_never_panic(response in arbitrary_response(), operation in 0..4usize) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let port = answer_once(response);
        runtime.block_on(async move {
            let client = Client::builder()
                .base_url(format!("http://127.0.0.1:{port}"))
                .bearer_token(TOKEN)
                .retry(RetryConfig::disabled())
                .attempt_timeout(Duration::from_secs(3))
                .build()
                .unwrap();
            let org = client.invitations("acme", "org-1");
            let outcome = match operation {
                0 => org.list().send().await.map(drop),
                1 => org.count().await.map(drop),
                2 => org.create("a@x.io").await.map(drop),
                _ => org.get("x").await.map(drop),
            };
            if let Err(e) = outcome {
                // Display and Debug work on whatever came back.
                let _ = (e.to_string(), format!("{e:?}"), e.kind());
            }
        });
    }
}

#[test]
fn plain_http_to_another_host_is_refused_unless_allowed() {
    let refused = Client::builder()
        .base_url("http://keycloak.internal.example")
        .bearer_token(TOKEN)
        .build()
        .unwrap_err();
    assert_eq!(refused.field(), Some("base_url"));
    assert!(!refused.to_string().contains(TOKEN));
    Client::builder()
        .base_url("http://keycloak.internal.example")
        .bearer_token(TOKEN)
        .allow_insecure_http(true)
        .build()
        .unwrap();
}

/// No redirect is followed: neither a token, nor a create's body, nor a search, nor the client
/// secret reaches the origin a hostile or misconfigured server points to.
#[tokio::test]
async fn redirects_are_not_followed_so_nothing_reaches_another_origin() {
    let elsewhere = MockServer::start_async().await;
    let anything = elsewhere
        .mock_async(|_, then| {
            then.status(200).json_body(json!(3));
        })
        .await;
    let target = elsewhere.url("/landing");
    for status in [302, 307] {
        let origin = MockServer::start_async().await;
        origin
            .mock_async(|_, then| {
                then.status(status).header("location", &target);
            })
            .await;
        let org = hostile_client(&origin).invitations("acme", "org-1");
        let e = org.list().search("alice").send().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Redirect, "{status}: {e:?}");
        assert_eq!(e.status().map(|s| s.as_u16()), Some(status));
        let text = e.to_string();
        assert!(text.contains(&elsewhere.base_url()), "names the origin: {text}");
        assert!(!text.contains("/landing"), "not the path: {text}");
        let e = org.create("alice@example.com").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Redirect);

        // The token endpoint too: the secret stays home.
        let service = Client::builder()
            .base_url(origin.base_url())
            .client_credentials("master", "svc", "s3cr3t-value")
            .retry(RetryConfig::disabled())
            .build()
            .unwrap();
        let e = service.invitations("acme", "org-1").count().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoToken, "{e:?}");
    }
    anything.assert_calls_async(0).await;
}

/// How a hostile listing server answers `GET …/invitations`.
#[derive(Clone, Copy)]
enum Paging {
    /// Honours `max` but neither `first` nor `search`, in another order on every request.
    Reorders,
    /// Answers every invitation whatever the query, as behind a proxy that drops it.
    IgnoresQuery,
}

/// A listing server over `total` synthetic invitations behaving as `paging`; counts requests.
/// It stops with the test's runtime.
async fn hostile_listing(
    paging: Paging,
    total: u64,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::extract::{Query, State};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(serde::Deserialize)]
    struct Params {
        max: Option<u64>,
    }
    let requests = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let handler = move |State(n): State<std::sync::Arc<AtomicUsize>>, Query(q): Query<Params>| async move {
        let round = n.fetch_add(1, Ordering::SeqCst) as u64;
        let mut all: Vec<_> = (0..total)
            .map(|i| json!({ "id": format!("inv-{i}"), "email": format!("person{i}@example.com") }))
            .collect();
        if let Paging::Reorders = paging {
            // A different rotation and stride each time: another order, no randomness needed.
            let len = all.len();
            let start = (round.wrapping_mul(7919) % len as u64) as usize;
            all.rotate_left(start);
            let max = q.max.unwrap_or(100) as usize;
            let stride = [1, 3, 7, 11][round as usize % 4];
            let picked = (0..len.min(max)).map(|k| all[(k * stride) % len].clone());
            return axum::Json(picked.collect::<Vec<_>>());
        }
        axum::Json(all)
    };
    let app = axum::Router::new()
        .route("/realms/acme/orgs/org-1/invitations", axum::routing::get(handler))
        .with_state(counter);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, requests)
}

/// Every listing ends, and no stream yields an invitation twice, whatever order a server
/// returns or whichever paging parameter it ignores.
#[tokio::test]
async fn listings_end_and_never_repeat_against_servers_that_do_not_page() {
    use std::sync::atomic::Ordering;

    let (url, requests) = hostile_listing(Paging::Reorders, 250).await;
    let client = Client::builder().base_url(&url).bearer_token(TOKEN).build().unwrap();
    let org = client.invitations("acme", "org-1");
    let mut ids = Vec::new();
    let mut stream = std::pin::pin!(org.list().page_size(7).stream());
    let ended = bounded(Duration::from_secs(20), async {
        loop {
            match stream.next().await {
                Some(Ok(invitation)) => ids.push(invitation.id),
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        }
    })
    .await;
    let e = ended.expect("a server that ignores `first` cannot be paged to its end");
    assert_eq!(e.kind(), ErrorKind::RepeatedPage, "{e}");
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an invitation was yielded twice");
    assert!(ids.len() <= 250);
    assert!(requests.load(Ordering::SeqCst) < 1_000, "{requests:?}");

    // Looking for an absent email, or collecting what to revoke, ends the same way.
    requests.store(0, Ordering::SeqCst);
    let e = bounded(Duration::from_secs(20), org.find_by_email("absent@example.com"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RepeatedPage, "{e}");
    assert!(requests.load(Ordering::SeqCst) < 100, "{requests:?}");
    let e = bounded(Duration::from_secs(20), org.select().search("example.com").plan_revocation())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RepeatedPage, "{e}");

    // Behind a proxy that drops the query, every answer is the whole list.
    let (url, requests) = hostile_listing(Paging::IgnoresQuery, 25).await;
    let client = Client::builder().base_url(&url).bearer_token(TOKEN).build().unwrap();
    let org = client.invitations("acme", "org-1");
    let e =
        bounded(Duration::from_secs(20), org.list().page_size(7).stream().try_collect::<Vec<_>>())
            .await
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RepeatedPage, "{e}");
    assert!(e.to_string().contains("ignores `max`"), "{e}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let e = org.list().page_size(7).send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RepeatedPage, "{e}");
}

//! The facade against httpmock: what users write, what goes on the wire, what comes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use httpmock::prelude::*;
use phasetwo_invitations::{Client, ErrorKind, RetryConfig};
use serde_json::{Value, json};

const TOKEN: &str = "eyJ.test-token";
const ORG: &str = "3f2a";
const ORG_PATH: &str = "/auth/realms/acme/orgs/3f2a/invitations";

/// A client that does not retry: retries have tests of their own.
fn client(server: &MockServer) -> Client {
    builder(server).build().unwrap()
}

fn builder(server: &MockServer) -> phasetwo_invitations::ClientBuilder {
    Client::builder()
        .base_url(server.url("/auth"))
        .bearer_token(TOKEN)
        .retry(RetryConfig::disabled())
}

fn invitation(id: &str, email: &str) -> Value {
    json!({"id": id, "email": email, "createdAt": "2026-11-26T06:21Z", "roles": ["member"]})
}

fn invitations(range: std::ops::Range<usize>) -> Value {
    Value::Array(
        range.map(|i| invitation(&format!("inv-{i}"), &format!("user{i}@example.com"))).collect(),
    )
}

/// The program of the facade's design, unchanged but for the server URL and the token.
#[tokio::test]
async fn the_shape_users_write() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start_async().await;
    let auth = format!("Bearer {TOKEN}");
    let location = server.url(format!("{ORG_PATH}/inv-1"));
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(ORG_PATH)
                .header("authorization", &auth)
                .header("accept", "application/json")
                .json_body(json!({
                    "email": "alice@example.com",
                    "send": true,
                    "redirectUri": "https://app.example.com/welcome",
                    "roles": ["member"],
                    "attributes": {"team": ["blue"]}
                }));
            then.status(201).header("location", &location);
        })
        .await;
    let duplicate = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(ORG_PATH)
                .json_body(json!({"email": "alice@example.com", "send": false}));
            then.status(409)
                .json_body(json!({"error": "Invitation for alice@example.com already exists."}));
        })
        .await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{ORG_PATH}/inv-1"));
            then.status(200).json_body(invitation("inv-1", "alice@example.com"));
        })
        .await;
    let count = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{ORG_PATH}/count"));
            then.status(200).json_body(json!(1));
        })
        .await;
    let search = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ORG_PATH)
                .query_param("search", "alice")
                .query_param("first", "0")
                .query_param("max", "50");
            then.status(200).json_body(json!([invitation("inv-1", "alice@example.com")]));
        })
        .await;
    let page = server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH).query_param_missing("search").query_param("max", "10");
            then.status(200).json_body(json!([invitation("inv-1", "alice@example.com")]));
        })
        .await;
    let resend = server
        .mock_async(|when, then| {
            when.method(PUT).path(format!("{ORG_PATH}/inv-1/resend-email"));
            then.status(204);
        })
        .await;
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE).path(format!("{ORG_PATH}/inv-1"));
            then.status(204);
        })
        .await;
    let mine_list = server
        .mock_async(|when, then| {
            when.method(GET).path("/auth/realms/acme/orgs/me/invitations");
            then.status(200).json_body(json!([invitation("inv-9", "me@example.com")]));
        })
        .await;
    let accept = server
        .mock_async(|when, then| {
            when.method(POST).path("/auth/realms/acme/orgs/me/invitations/inv-9");
            then.status(204);
        })
        .await;

    // From here on, the design's program.
    let client = Client::builder()
        .base_url(server.url("/auth/")) // Keycloak server URL; `/realms` is appended
        .bearer_token(TOKEN)
        .build()?;
    let org = client.invitations("acme", ORG); // a cheap, cloneable, 'static handle
    let created = org
        .create("Alice@Example.com")
        .roles(["member"])
        .send_email(true)
        .redirect_uri("https://app.example.com/welcome")
        .attribute("team", ["blue"])
        .send()
        .await?;
    let id = created.id().to_owned(); // parsed from the 201's Location header
    let found = org.get(&id).send().await?; // NotFound on 404; get(id).optional() gives None
    let n: u64 = org.count().send().await?;
    let all: Vec<_> = org.list().search("alice").page_size(50).collect().await?;
    let first_page = org.list().page_size(10).send().await?; // exactly one request
    match org.create("alice@example.com").send().await {
        Err(e) if e.kind() == ErrorKind::AlreadyInvited => {} // the server's 409 "already exists"
        other => panic!("{other:?}"),
    }
    org.resend(&id).send().await?;
    org.delete(&id).send().await?;
    let mine = client.my_invitations("acme"); // the invitee's side, with the user's token
    for inv in mine.list().send().await? {
        mine.accept(&inv.id).send().await?;
    }

    assert_eq!(id, "inv-1");
    assert_eq!(created.email(), "alice@example.com");
    assert_eq!(found.email, "alice@example.com");
    assert_eq!(n, 1);
    assert_eq!(all.len(), 1);
    assert_eq!(first_page.len(), 1);
    for mock in
        [&create, &duplicate, &get, &count, &search, &page, &resend, &delete, &mine_list, &accept]
    {
        mock.assert_async().await;
    }
    Ok(())
}

/// What the client can tell is invalid is refused before anything is sent, naming the field:
/// empty or malformed values, values over the server's column sizes, and CR/LF anywhere a value
/// could reach a header or a path.
#[tokio::test]
async fn invalid_input_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|_, then| {
            then.status(500);
        })
        .await;
    let client = client(&server);
    let org = client.invitations("acme", ORG);
    let crlf = "x\r\nX-Injected: 1";

    let cases = [
        (org.create("   ").send().await.map(drop), "email"),
        (org.create("no-at-sign").send().await.map(drop), "email"),
        (org.create(format!("a@x.io{crlf}")).await.map(drop), "email"),
        (org.create(format!("{}@x.io", "a".repeat(300))).await.map(drop), "email"),
        (org.create("a@x.io").roles([""]).await.map(drop), "roles"),
        (org.create("a@x.io").roles([crlf]).await.map(drop), "roles"),
        (org.create("a@x.io").roles(["r".repeat(256)]).await.map(drop), "roles"),
        (org.create("a@x.io").redirect_uri("/relative").await.map(drop), "redirect_uri"),
        (
            org.create("a@x.io").redirect_uri(format!("https://x.io/{crlf}")).await.map(drop),
            "redirect_uri",
        ),
        (
            org.create("a@x.io")
                .redirect_uri(format!("https://x.io/{}", "p".repeat(2100)))
                .await
                .map(drop),
            "redirect_uri",
        ),
        (org.create("a@x.io").inviter_id(crlf).await.map(drop), "inviter_id"),
        (org.create("a@x.io").attribute("k", ["v".repeat(4001)]).await.map(drop), "attributes"),
        (org.create("a@x.io").attribute("k".repeat(256), ["v"]).await.map(drop), "attributes"),
        (org.get("..").await.map(drop), "invitation_id"),
        (org.get(crlf).await.map(drop), "invitation_id"),
        (org.delete("").await.map(drop), "invitation_id"),
        (org.delete(crlf).await.map(drop), "invitation_id"),
        (client.invitations("", ORG).count().await.map(drop), "realm"),
        (client.invitations(crlf, ORG).count().await.map(drop), "realm"),
        (client.invitations("acme", crlf).count().await.map(drop), "org_id"),
        (client.my_invitations(crlf).list().await.map(drop), "realm"),
        (org.list().page_size(0).send().await.map(drop), "page_size"),
        (
            org.list().offset(u64::from(u32::MAX)).stream().try_collect::<Vec<_>>().await.map(drop),
            "offset",
        ),
    ];
    for (i, (result, field)) in cases.into_iter().enumerate() {
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "case {i}: {e}");
        assert_eq!(e.field(), Some(field), "case {i}: {e}");
        assert_eq!(e.attempts(), 0, "case {i}");
        assert!(!e.may_have_been_sent(), "case {i}");
    }
    // A token that would inject a header is refused as no token at all.
    let injecting_token = Client::builder()
        .base_url(server.base_url())
        .token_provider(|| async { Ok::<_, std::io::Error>("t\r\nX-Injected: 1".to_owned()) })
        .build()
        .unwrap();
    let e = injecting_token.invitations("acme", ORG).count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoToken);
    anything.assert_calls_async(0).await;
    anything.delete_async().await;

    // A search travels in the query string, encoded: it cannot become a header.
    let search = server
        .mock_async(|when, then| {
            when.query_param("search", "a\r\nx-injected: 1");
            then.status(200).json_body(json!([]));
        })
        .await;
    org.list().search("A\r\nX-Injected: 1").send().await.unwrap();
    search.assert_async().await;
}

#[tokio::test]
async fn email_is_sent_trimmed_and_lower_cased() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).json_body(json!({"email": "alice@example.com", "send": false}));
            then.status(201).header("location", "http://kc/realms/acme/orgs/3f2a/invitations/x");
        })
        .await;
    let created =
        client(&server).invitations("acme", ORG).create(" Alice@Example.COM ").await.unwrap();
    assert_eq!(created.email(), "alice@example.com");
    assert_eq!(created.id(), "x");
    create.assert_async().await;
}

#[tokio::test]
async fn search_is_lower_cased_and_max_items_limits_the_request() {
    let server = MockServer::start_async().await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ORG_PATH)
                .query_param("search", "alice@example")
                .query_param("first", "5")
                .query_param("max", "3");
            then.status(200).json_body(invitations(0..3));
        })
        .await;
    let page = client(&server)
        .invitations("acme", ORG)
        .list()
        .search("Alice@Example")
        .offset(5)
        .page_size(20)
        .max_items(3)
        .send()
        .await
        .unwrap();
    assert_eq!(page.len(), 3);
    list.assert_async().await;
}

/// Mocks `GET list?first=F&max=M` answering `items`.
async fn page_mock<'a>(
    server: &'a MockServer,
    first: usize,
    max: usize,
    items: Value,
) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ORG_PATH)
                .query_param("first", first.to_string())
                .query_param("max", max.to_string());
            then.status(200).json_body(items);
        })
        .await
}

/// Every page after the first starts at the last invitation of the one before (and asks for
/// one more), so that a shift of the list under the offset shows.
#[tokio::test]
async fn stream_reads_pages_until_a_short_one() {
    let server = MockServer::start_async().await;
    let p1 = page_mock(&server, 0, 2, invitations(0..2)).await;
    let p2 = page_mock(&server, 1, 3, invitations(1..3)).await;
    let org = client(&server).invitations("acme", ORG);
    let ids: Vec<String> =
        org.list().page_size(2).stream().map_ok(|i| i.id).try_collect().await.unwrap();
    assert_eq!(ids, ["inv-0", "inv-1", "inv-2"]);
    p1.assert_async().await;
    p2.assert_async().await;
}

#[tokio::test]
async fn stream_of_an_exact_multiple_ends_on_an_empty_page() {
    let server = MockServer::start_async().await;
    let p1 = page_mock(&server, 0, 2, invitations(0..2)).await;
    let p2 = page_mock(&server, 1, 3, invitations(1..4)).await;
    // Only the invitation shared with the page before: the end.
    let p3 = page_mock(&server, 3, 3, invitations(3..4)).await;
    let org = client(&server).invitations("acme", ORG);
    let pages: Vec<Vec<_>> = org.list().page_size(2).pages().try_collect().await.unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    for p in [&p1, &p2, &p3] {
        p.assert_async().await;
    }
}

#[tokio::test]
async fn stream_skips_items_a_shifted_page_repeats() {
    // An invitation was added at the front between the two requests: inv-0 comes again.
    let server = MockServer::start_async().await;
    page_mock(&server, 0, 2, invitations(0..2)).await;
    page_mock(&server, 1, 3, invitations(0..3)).await;
    page_mock(&server, 3, 3, invitations(2..3)).await;
    let ids: Vec<String> = client(&server)
        .invitations("acme", ORG)
        .list()
        .page_size(2)
        .stream()
        .map_ok(|i| i.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["inv-0", "inv-1", "inv-2"]);
}

#[tokio::test]
async fn stream_fails_when_the_server_ignores_first() {
    let server = MockServer::start_async().await;
    // Whatever `first` says, the first `max` invitations of 10.
    let mut ignoring = Vec::new();
    for max in [2, 3] {
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path(ORG_PATH).query_param("max", max.to_string());
                then.status(200).json_body(invitations(0..max));
            })
            .await;
        ignoring.push(mock);
    }
    let result: Result<Vec<_>, _> =
        client(&server).invitations("acme", ORG).list().page_size(2).collect().await;
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RepeatedPage, "{e}");
    let calls = ignoring[0].calls_async().await + ignoring[1].calls_async().await;
    assert_eq!(calls, 3, "the first page, one more, and the one that repeats it");
}

#[tokio::test]
async fn stream_stops_at_max_items_without_extra_requests() {
    let server = MockServer::start_async().await;
    let p1 = page_mock(&server, 0, 2, invitations(0..2)).await;
    let p2 = page_mock(&server, 1, 3, invitations(1..4)).await;
    let ids: Vec<String> = client(&server)
        .invitations("acme", ORG)
        .list()
        .page_size(2)
        .max_items(3)
        .stream()
        .map_ok(|i| i.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["inv-0", "inv-1", "inv-2"]);
    p1.assert_async().await;
    p2.assert_async().await;
}

#[tokio::test]
async fn streams_are_send_and_static() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let server = MockServer::start_async().await;
    page_mock(&server, 0, 100, invitations(0..3)).await;
    let org = client(&server).invitations("acme", ORG);
    let stream = org.list().stream();
    assert_send_static(&stream);
    let task = tokio::spawn(stream.try_collect::<Vec<_>>());
    drop(org);
    assert_eq!(task.await.unwrap().unwrap().len(), 3);
}

#[tokio::test]
async fn find_by_email_wants_the_exact_email() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH).query_param("search", "al@example.com");
            then.status(200).json_body(json!([
                invitation("a", "sal@example.com.au"),
                invitation("b", "al@example.com"),
            ]));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH).query_param("search", "nobody@example.com");
            then.status(200).json_body(json!([invitation("c", "xnobody@example.com")]));
        })
        .await;
    let org = client(&server).invitations("acme", ORG);
    let found = org.find_by_email("AL@example.com").await.unwrap().unwrap();
    assert_eq!(found.id, "b");
    assert!(org.find_by_email("nobody@example.com").await.unwrap().is_none());
}

/// A realistic answer for each status, and the kind the caller sees.
#[tokio::test]
async fn each_error_kind_from_a_realistic_answer() {
    struct Case {
        status: u16,
        content_type: &'static str,
        body: &'static str,
        kind: ErrorKind,
        message: Option<&'static str>,
    }
    let json = "application/json";
    let cases = [
        Case {
            status: 400,
            content_type: json,
            body: r#"{"error":"Unknown role in list."}"#,
            kind: ErrorKind::BadRequest,
            message: Some("Unknown role in list."),
        },
        Case {
            status: 400,
            content_type: json,
            body: r#"{"error":"Invalid email: a@"}"#,
            kind: ErrorKind::BadRequest,
            message: Some("Invalid email: a@"),
        },
        Case {
            status: 401,
            content_type: json,
            body: "",
            kind: ErrorKind::Unauthorized,
            message: None,
        },
        Case {
            status: 401,
            content_type: json,
            body: r#"{"error":"HTTP 401 Unauthorized"}"#,
            kind: ErrorKind::Unauthorized,
            message: Some("HTTP 401 Unauthorized"),
        },
        Case {
            status: 403,
            content_type: json,
            body: r#"{"error":"Forbidden"}"#,
            kind: ErrorKind::Forbidden,
            message: Some("Forbidden"),
        },
        Case {
            status: 404,
            content_type: json,
            body: r#"{"error":"Organization not found"}"#,
            kind: ErrorKind::NotFound,
            message: Some("Organization not found"),
        },
        Case {
            status: 409,
            content_type: json,
            body: r#"{"error":"Invitation for a@x.io already exists."}"#,
            kind: ErrorKind::AlreadyInvited,
            message: Some("Invitation for a@x.io already exists."),
        },
        Case {
            status: 409,
            content_type: json,
            body: r#"{"error":"a@x.io is already a member of this organization."}"#,
            kind: ErrorKind::AlreadyMember,
            message: Some("a@x.io is already a member of this organization."),
        },
        Case {
            status: 409,
            content_type: json,
            body: r#"{"errorMessage":"Conflict detected."}"#,
            kind: ErrorKind::Conflict,
            message: Some("Conflict detected."),
        },
        Case {
            status: 429,
            content_type: "text/plain",
            body: "Too Many Requests",
            kind: ErrorKind::RateLimited,
            message: Some("Too Many Requests"),
        },
        Case {
            status: 500,
            content_type: json,
            body: r#"{"error":"unknown_error","error_description":"For more on this error consult the server log."}"#,
            kind: ErrorKind::Server,
            message: Some("unknown_error: For more on this error consult the server log."),
        },
        Case {
            status: 503,
            content_type: "text/html",
            body: "<html><body><h1>503 Service Unavailable</h1></body></html>",
            kind: ErrorKind::Server,
            message: None,
        },
        Case {
            status: 502,
            content_type: "text/html",
            body: "<html>Bad Gateway</html>",
            kind: ErrorKind::Server,
            message: None,
        },
        Case {
            status: 418,
            content_type: "text/plain",
            body: "",
            kind: ErrorKind::BadRequest,
            message: None,
        },
    ];
    for case in cases {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(POST);
                then.status(case.status)
                    .header("content-type", case.content_type)
                    .header("retry-after", "7")
                    .body(case.body);
            })
            .await;
        let e = client(&server).invitations("acme", ORG).create("a@x.io").send().await.unwrap_err();
        let what = format!("{} {}", case.status, case.body);
        assert_eq!(e.kind(), case.kind, "{what}: {e}");
        assert_eq!(e.status().map(|s| s.as_u16()), Some(case.status), "{what}");
        assert_eq!(e.server_message(), case.message, "{what}");
        assert_eq!(e.operation(), Some("addOrganizationInvitation"));
        if case.body.starts_with('<') {
            assert!(e.body_snippet().unwrap().contains("<html>"), "{what}");
        }
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{what}");
        assert_eq!(e.is_retryable(), matches!(case.status, 429 | 500 | 502 | 503), "{what}");
        assert_eq!(e.is_conflict(), case.status == 409, "{what}");
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
    }
}

#[tokio::test]
async fn unauthorized_says_what_401_means_here() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(401);
        })
        .await;
    let e = client(&server).invitations("acme", ORG).count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        e.to_string(),
        "getOrganizationInvitationCount: unauthorized: token missing, expired, or lacking the \
         role for this operation (HTTP 401)"
    );
}

#[tokio::test]
async fn undecodable_success_keeps_status_and_first_bytes() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH);
            then.status(200)
                .header("content-type", "application/json")
                .body(r#"[{"id": 42, "email": "x"}"#);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{ORG_PATH}/count"));
            then.status(200).body("-3");
        })
        .await;
    let org = client(&server).invitations("acme", ORG);
    let e = org.list().send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert_eq!(e.status().map(|s| s.as_u16()), Some(200));
    assert_eq!(e.body_snippet(), Some(r#"[{"id": 42, "email": "x"}"#));
    let e = org.count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn get_is_not_found_optional_is_none_and_delete_is_not_found_on_404() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path(format!("{ORG_PATH}/gone"));
            then.status(404).json_body(json!({"error": "No invitation with id gone"}));
        })
        .await;
    let org = client(&server).invitations("acme", ORG);
    assert!(org.get("gone").optional().await.unwrap().is_none());
    assert!(org.get("gone").await.unwrap_err().is_not_found());
    let e = org.delete("gone").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    org.delete("gone").ignore_missing().await.unwrap();
}

/// Only the server's own "no such invitation" means that the invitation is missing: a 404
/// for a path nothing serves (a wrong base path) or a proxy's HTML page is an error.
#[tokio::test]
async fn a_404_that_names_no_invitation_is_an_error_even_where_missing_is_fine() {
    let answers = [
        (json!({"error": "HTTP 404 Not Found"}).to_string(), "application/json"),
        ("<html><body>404 Not Found</body></html>".to_owned(), "text/html"),
        (String::new(), "text/plain"),
    ];
    for (body, content_type) in answers {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.path(format!("{ORG_PATH}/some-id"));
                then.status(404).header("content-type", content_type).body(body.clone());
            })
            .await;
        let org = client(&server).invitations("acme", ORG);
        let e = org.get("some-id").optional().await.unwrap_err();
        assert!(e.is_not_found(), "{body}: {e}");
        let e = org.delete("some-id").ignore_missing().await.unwrap_err();
        assert!(e.is_not_found(), "{body}: {e}");
        let report = org.revoke(["some-id"]).await;
        assert_eq!(report.already_gone, 0, "{body}: {report}");
        assert!(!report.is_success(), "{body}: {report}");
    }
}

#[tokio::test]
async fn transport_failures_are_typed() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let refused = builder(&MockServer::start_async().await)
        .base_url(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let e = refused.invitations("acme", ORG).count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    assert!(e.is_retryable());

    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(200).json_body(json!(1)).delay(Duration::from_millis(400));
        })
        .await;
    let slow = builder(&server).attempt_timeout(Duration::from_millis(200)).build().unwrap();
    let org = slow.invitations("acme", ORG);
    let e = org.count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("no answer within 200 ms"), "{e}");
    // A call's own attempt limit replaces the client's, longer as well as shorter.
    let patient = org.count().attempt_timeout(Duration::from_secs(5)).await;
    assert_eq!(patient.unwrap(), 1);
}

#[tokio::test]
async fn every_request_asks_for_json_and_names_the_library() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(DELETE).header("accept", "application/json").header(
                "user-agent",
                format!("phasetwo-invitations/{}", env!("CARGO_PKG_VERSION")),
            );
            then.status(204);
        })
        .await;
    client(&server).invitations("acme", ORG).delete("x").await.unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn client_credentials_grant_once_for_concurrent_calls() {
    let server = MockServer::start_async().await;
    let grant = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/auth/realms/master/protocol/openid-connect/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .form_urlencoded_tuple("grant_type", "client_credentials")
                .form_urlencoded_tuple("client_id", "svc")
                .form_urlencoded_tuple("client_secret", "s3cr3t-value");
            then.status(200).delay(Duration::from_millis(100)).json_body(
                json!({"access_token": "granted-1", "expires_in": 300, "token_type": "Bearer"}),
            );
        })
        .await;
    let count = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{ORG_PATH}/count"))
                .header("authorization", "Bearer granted-1");
            then.status(200).json_body(json!(4));
        })
        .await;
    let client = Client::builder()
        .base_url(server.url("/auth/realms"))
        .client_credentials("master", "svc", "s3cr3t-value")
        .build()
        .unwrap();
    let org = client.invitations("acme", ORG);
    let calls: Vec<_> = (0..20).map(|_| tokio::spawn(org.count().send())).collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 4);
    }
    grant.assert_calls_async(1).await;
    count.assert_calls_async(20).await;
    assert!(!format!("{client:?}").contains("s3cr3t-value"));
}

/// `token_base_url` sends the grant to another address than the API's; a bad one is refused
/// by name before anything is sent.
#[tokio::test]
async fn the_token_endpoint_may_live_at_another_address() {
    let (api, auth) = (MockServer::start_async().await, MockServer::start_async().await);
    let grant = auth
        .mock_async(|when, then| {
            when.method(POST).path("/kc/realms/master/protocol/openid-connect/token");
            then.status(200).json_body(json!({"access_token": "from-auth", "expires_in": 300}));
        })
        .await;
    let count = api
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{ORG_PATH}/count"))
                .header("authorization", "Bearer from-auth");
            then.status(200).json_body(json!(4));
        })
        .await;
    let builder = || {
        Client::builder().base_url(api.url("/auth")).client_credentials(
            "master",
            "svc",
            "s3cr3t-value",
        )
    };
    let client = builder().token_base_url(auth.url("/kc")).build().unwrap();
    assert_eq!(client.invitations("acme", ORG).count().await.unwrap(), 4);
    grant.assert_calls_async(1).await;
    count.assert_calls_async(1).await;

    let refused = builder().token_base_url("http://keycloak.internal").build().unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput);
    assert!(refused.to_string().contains("token_base_url"), "{refused}");
}

/// A token endpoint may claim a lifetime no clock can add (`expires_in` of 2^64 - 1): the
/// token is used, kept a bounded time, and nothing panics.
#[tokio::test]
async fn an_endless_token_lifetime_is_used_without_panicking() {
    let server = MockServer::start_async().await;
    let grant = server
        .mock_async(|when, then| {
            when.method(POST).path_suffix("/token");
            then.status(200).json_body(json!({
                "access_token": "forever",
                "expires_in": u64::MAX,
                "token_type": "Bearer",
            }));
        })
        .await;
    let count = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{ORG_PATH}/count"))
                .header("authorization", "Bearer forever");
            then.status(200).json_body(json!(4));
        })
        .await;
    let client = Client::builder()
        .base_url(server.url("/auth"))
        .client_credentials("master", "svc", "s3cr3t-value")
        .build()
        .unwrap();
    let org = client.invitations("acme", ORG);
    for _ in 0..3 {
        assert_eq!(org.count().await.unwrap(), 4);
    }
    grant.assert_calls_async(1).await;
    count.assert_calls_async(3).await;
}

#[tokio::test]
async fn refused_client_credentials_are_an_auth_error_without_the_secret() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path_suffix("/token");
            then.status(401).json_body(json!({
                "error": "unauthorized_client",
                "error_description": "Invalid client or Invalid client credentials"
            }));
        })
        .await;
    let api = server
        .mock_async(|when, then| {
            when.path_includes("/orgs/");
            then.status(200).json_body(json!(0));
        })
        .await;
    let client =
        builder(&server).client_credentials("master", "svc", "wrong-secret").build().unwrap();
    let e = client.invitations("acme", ORG).count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoToken);
    assert_eq!(e.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(
        e.server_message(),
        Some("unauthorized_client: Invalid client or Invalid client credentials")
    );
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains("wrong-secret"), "{shown}");
    }
    api.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_token_provider_is_asked_before_every_request() {
    let server = MockServer::start_async().await;
    let first = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer fresh-1");
            then.status(200).json_body(json!(1));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer fresh-2");
            then.status(200).json_body(json!(2));
        })
        .await;
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let client = Client::builder()
        .base_url(server.base_url())
        .token_provider(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok::<_, std::io::Error>(format!("fresh-{n}")) }
        })
        .build()
        .unwrap();
    let org = client.invitations("acme", ORG);
    assert_eq!(org.count().await.unwrap(), 1);
    assert_eq!(org.count().await.unwrap(), 2);
    first.assert_async().await;
    second.assert_async().await;

    let failing = Client::builder()
        .base_url(server.base_url())
        .token_provider(|| async { Err::<String, _>(std::io::Error::other("vault sealed")) })
        .build()
        .unwrap();
    let e = failing.invitations("acme", ORG).count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoToken);
    assert_eq!(
        std::error::Error::source(&e).map(|s| s.to_string()),
        Some("vault sealed".to_owned())
    );
}

#[tokio::test]
async fn raw_client_carries_the_same_authentication() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.path("/auth/realms/acme/orgs/3f2a/invitations/count")
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(200).json_body(json!(9));
        })
        .await;
    let client = client(&server);
    let count = client
        .raw()
        .get_organization_invitation_count()
        .realm("acme")
        .org_id(ORG)
        .send()
        .await
        .unwrap();
    assert_eq!(count.into_inner(), 9);
    mock.assert_async().await;
}

#[tokio::test]
async fn dedupe_remembers_every_id_or_a_window_of_pages() {
    let server = MockServer::start_async().await;
    page_mock(&server, 0, 1, invitations(0..1)).await;
    for first in 0..5 {
        page_mock(&server, first, 2, invitations(first..first + 2)).await;
    }
    // inv-0 again, six pages after it was listed.
    page_mock(
        &server,
        5,
        2,
        json!([invitation("inv-5", "user5@example.com"), invitation("inv-0", "user0@example.com")]),
    )
    .await;
    page_mock(&server, 6, 2, invitations(0..1)).await;
    let org = client(&server).invitations("acme", ORG);
    let ids = |list: phasetwo_invitations::ListInvitations| async move {
        list.stream().map_ok(|i| i.id).try_collect::<Vec<_>>().await.unwrap()
    };
    let everything = ids(org.list().page_size(1)).await;
    assert_eq!(everything.len(), 6, "{everything:?}");
    // Beyond a window of 4 pages, still not yielded again: a window mode listing remembers
    // its first 10,000 ids whatever the window.
    let windowed = ids(org.list().page_size(1).dedupe_window(4)).await;
    assert_eq!(windowed, everything);
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_refused_not_buffered() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH);
            then.status(200).json_body(invitations(0..100));
        })
        .await;
    let small =
        builder(&server).retry(RetryConfig::default()).max_response_bytes(2048).build().unwrap();
    let e = small.invitations("acme", ORG).list().send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert_eq!(e.attempts(), 1, "a body too large is not sent for again");
    assert!(e.to_string().contains("2048 bytes"), "{e}");
    // The default limit reads it.
    assert_eq!(client(&server).invitations("acme", ORG).list().send().await.unwrap().len(), 100);
}

/// `or_existing` when the invitation is deleted between the 409 and the lookup: it creates
/// again, and gives up with the 409 after a few such rounds rather than looping.
#[tokio::test]
async fn or_existing_creates_again_when_the_existing_one_vanished() {
    let server = MockServer::start_async().await;
    let conflict = server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(409)
                .json_body(json!({"error": "Invitation for a@x.io already exists."}))
                .up_to_n_times(1);
        })
        .await;
    let created = server
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(201).header("location", server.url(format!("{ORG_PATH}/fresh")));
        })
        .await;
    let lookup = server
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH);
            then.status(200).json_body(json!([]));
        })
        .await;
    let org = client(&server).invitations("acme", ORG);
    let invited = org.create("a@x.io").or_existing().await.unwrap();
    assert!(invited.was_created());
    assert_eq!(invited.id(), "fresh");
    conflict.assert_calls_async(1).await;
    created.assert_calls_async(1).await;
    lookup.assert_calls_async(1).await;

    let always = MockServer::start_async().await;
    let conflicts = always
        .mock_async(|when, then| {
            when.method(POST).path(ORG_PATH);
            then.status(409).json_body(json!({"error": "Invitation for a@x.io already exists."}));
        })
        .await;
    always
        .mock_async(|when, then| {
            when.method(GET).path(ORG_PATH);
            then.status(200).json_body(json!([]));
        })
        .await;
    let e =
        client(&always).invitations("acme", ORG).create("a@x.io").or_existing().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyInvited);
    conflicts.assert_calls_async(3).await;
}

/// A server that ignores `first` and cycles through the pages of a pool: request `k` answers
/// the `k`-th run of `max` ids of `distinct`, so that no page repeats the one before.
async fn cycling_server(distinct: usize) -> (String, Arc<AtomicUsize>) {
    use axum::extract::Query;
    use std::collections::HashMap;

    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let handler = move |Query(query): Query<HashMap<String, usize>>| {
        let k = counter.fetch_add(1, Ordering::SeqCst);
        let max = query.get("max").copied().unwrap_or(100);
        let page: Vec<Value> = (0..max)
            .map(|j| {
                let i = (k * max + j) % distinct;
                invitation(&format!("inv-{i}"), &format!("user{i}@example.com"))
            })
            .collect();
        async move { axum::Json(Value::Array(page)) }
    };
    let app = axum::Router::new()
        .route("/auth/realms/acme/orgs/{org}/invitations", axum::routing::get(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/auth", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, requests)
}

/// "Fails instead of looping" holds in every mode: a listing that remembers only a window of
/// pages still ends against a server that cycles through more pages than the window.
#[tokio::test]
async fn a_windowed_listing_ends_against_a_server_cycling_past_its_window() {
    for (distinct, page_size, window) in [(20, 10, 1), (20, 5, 3), (2_000, 10, 2)] {
        let (url, requests) = cycling_server(distinct).await;
        let client = Client::builder().base_url(url).bearer_token(TOKEN).build().unwrap();
        let result: Result<Vec<_>, _> = client
            .invitations("acme", ORG)
            .list()
            .page_size(page_size)
            .dedupe_window(window)
            .stream()
            .map_ok(|i| i.id)
            .try_collect()
            .await;
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RepeatedPage, "{e}");
        let made = requests.load(Ordering::SeqCst);
        // Each distinct id read once, then a few pages to be sure.
        assert!(made <= distinct / page_size as usize + 10, "{made} requests: {e}");
    }
}

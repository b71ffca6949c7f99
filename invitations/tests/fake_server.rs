//! The built-in server, spoken to in plain HTTP (not through the facade), so that a mistake in
//! the facade cannot hide one in the server.

use std::time::Duration;

use phasetwo_invitations::operation;
use phasetwo_invitations_testing::support::{Fixture, MANAGE_TOKEN, VIEW_TOKEN};
use phasetwo_invitations_testing::{FakeServer, Fault, FaultAction, Permission, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

const MANAGE: &str = MANAGE_TOKEN;
const VIEW: &str = VIEW_TOKEN;

async fn server() -> FakeServer {
    Fixture::start().await.server
}

struct Http {
    base: String,
    http: reqwest::Client,
}

impl Http {
    fn new(server: &FakeServer) -> Self {
        Http { base: format!("{}/realms", server.url()), http: reqwest::Client::new() }
    }

    fn request(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("accept", "application/json")
    }

    async fn create(&self, email: &str, extra: Value) -> reqwest::Response {
        let mut body = json!({ "email": email });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.request(reqwest::Method::POST, "/acme/orgs/org-1/invitations", MANAGE)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn list(&self, query: &str) -> (StatusCode, Value) {
        let response = self
            .request(reqwest::Method::GET, &format!("/acme/orgs/org-1/invitations{query}"), VIEW)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

fn emails(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn create_answers_201_with_location_and_stores_the_lower_cased_email() {
    let server = server().await;
    let http = Http::new(&server);
    let response =
        http.create("Jo@Example.COM", json!({"roles": ["member", "member"], "send": true})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(response.bytes().await.unwrap().is_empty());
    let stored = server.invitations("acme", "org-1");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].email, "jo@example.com");
    assert_eq!(stored[0].roles.len(), 1, "roles are a set");
    assert_eq!(stored[0].emails_sent, 1);
    assert_eq!(
        location,
        format!("{}/realms/acme/orgs/org-1/invitations/{}", server.url(), stored[0].id)
    );
}

#[tokio::test]
async fn create_refuses_invalid_emails_unknown_roles_and_broken_json() {
    let server = server().await;
    let http = Http::new(&server);
    let (status, message) = error_of(http.create("not-an-email", json!({})).await).await;
    assert_eq!(
        (status, message.as_str()),
        (StatusCode::BAD_REQUEST, "Invalid email: not-an-email")
    );
    let (status, message) =
        error_of(http.create("a@x.io", json!({"roles": ["owner"]})).await).await;
    assert_eq!((status, message.as_str()), (StatusCode::BAD_REQUEST, "Unknown role in list."));
    let broken = http
        .request(reqwest::Method::POST, "/acme/orgs/org-1/invitations", MANAGE)
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    // A name and angle brackets are refused by the request's validation.
    let (status, message) = error_of(http.create("Jo <jo@x.io>", json!({})).await).await;
    assert_eq!((status, message.as_str()), (StatusCode::BAD_REQUEST, "Provided data is invalid"));
    // A well-formed address longer than the email column (255) fails in the database.
    let labels = ["b".repeat(60), "c".repeat(60), "d".repeat(60), "e".repeat(20)];
    let too_long =
        http.create(&format!("{}@{}.io", "a".repeat(64), labels.join(".")), json!({})).await;
    assert_eq!(too_long.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(server.invitations("acme", "org-1").is_empty());
}

#[tokio::test]
async fn both_409s_compare_lower_cased_emails() {
    let server = server().await;
    server.add_member("acme", "org-1", "member@x.io");
    let http = Http::new(&server);
    assert_eq!(http.create("a@x.io", json!({})).await.status(), StatusCode::CREATED);
    let (status, message) = error_of(http.create("A@X.io", json!({})).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(message, "Invitation for a@x.io already exists.");
    let (status, message) = error_of(http.create("Member@x.io", json!({})).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(message, "member@x.io is already a member of this organization.");
}

#[tokio::test]
async fn list_filters_case_sensitively_then_skips_and_limits() {
    let server = server().await;
    for email in ["alice@x.io", "bob@x.io", "malice@y.io", "carol@x.io"] {
        server.add_invitation("acme", "org-1", email);
    }
    let http = Http::new(&server);
    let (_, all) = http.list("").await;
    assert_eq!(emails(&all).len(), 4);
    let (_, found) = http.list("?search=alice").await;
    assert_eq!(emails(&found), ["alice@x.io", "malice@y.io"]);
    let (_, none) = http.list("?search=ALICE").await;
    assert!(emails(&none).is_empty());
    let (_, page) = http.list("?first=1&max=2").await;
    assert_eq!(emails(&page), ["bob@x.io", "malice@y.io"]);
    let (_, empty) = http.list("?max=0").await;
    assert!(emails(&empty).is_empty());
    for negative in ["?first=-1", "?max=-5"] {
        let (status, _) = http.list(negative).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{negative}");
    }
}

#[tokio::test]
async fn list_defaults_to_a_page_of_100() {
    let server = server().await;
    server.add_invitations("acme", "org-1", (0..120).map(|i| format!("u{i}@x.io")));
    let (_, page) = Http::new(&server).list("").await;
    assert_eq!(emails(&page).len(), 100);
}

#[tokio::test]
async fn unknown_realm_org_or_invitation_is_404_and_a_second_delete_too() {
    let server = server().await;
    let id = server.add_invitation("acme", "org-1", "a@x.io");
    let http = Http::new(&server);
    let get = |path: String| http.request(reqwest::Method::GET, &path, VIEW).send();
    for path in [
        "/nowhere/orgs/org-1/invitations".to_owned(),
        "/acme/orgs/nope/invitations".to_owned(),
        "/acme/orgs/org-1/invitations/missing".to_owned(),
    ] {
        assert_eq!(get(path.clone()).await.unwrap().status(), StatusCode::NOT_FOUND, "{path}");
    }
    let delete = || {
        http.request(reqwest::Method::DELETE, &format!("/acme/orgs/org-1/invitations/{id}"), MANAGE)
            .send()
    };
    assert_eq!(delete().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(delete().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn count_get_and_resend() {
    let server = server().await;
    let id = server.add_invitation("acme", "org-1", "a@x.io");
    server.add_invitation("acme", "org-1", "b@x.io");
    let http = Http::new(&server);
    let count: u64 = http
        .request(reqwest::Method::GET, "/acme/orgs/org-1/invitations/count", VIEW)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count, 2);
    let one: Value = http
        .request(reqwest::Method::GET, &format!("/acme/orgs/org-1/invitations/{id}"), VIEW)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["email"], "a@x.io");
    assert_eq!(one["organizationId"], "org-1");
    let created_at = one["createdAt"].as_str().unwrap();
    assert_eq!(created_at.len(), "2026-11-26T06:21Z".len(), "{created_at}");
    assert!(created_at.ends_with('Z') && created_at.as_bytes()[10] == b'T');
    let resend = http
        .request(
            reqwest::Method::PUT,
            &format!("/acme/orgs/org-1/invitations/{id}/resend-email"),
            MANAGE,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resend.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.invitations("acme", "org-1")[0].emails_sent, 1);
}

#[tokio::test]
async fn view_tokens_get_401_on_writes_like_the_real_server() {
    let server = server().await;
    let http = Http::new(&server);
    let create = http
        .request(reqwest::Method::POST, "/acme/orgs/org-1/invitations", VIEW)
        .json(&json!({"email": "a@x.io"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), StatusCode::UNAUTHORIZED);
    let id = server.add_invitation("acme", "org-1", "b@x.io");
    let delete = http
        .request(reqwest::Method::DELETE, &format!("/acme/orgs/org-1/invitations/{id}"), VIEW)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = http.list("").await;
    assert_eq!(status, StatusCode::OK);
    let anonymous =
        reqwest::get(format!("{}/realms/acme/orgs/org-1/invitations", server.url())).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn errors_are_json_unless_html_is_asked_for() {
    let server = server().await;
    let url = format!("{}/realms/acme/orgs/nope/invitations/count", server.url());
    let http = reqwest::Client::new();
    let json_error = http.get(&url).bearer_auth(VIEW).send().await.unwrap();
    assert_eq!(json_error.headers()["content-type"], "application/json");
    let html_error =
        http.get(&url).bearer_auth(VIEW).header("accept", "text/html").send().await.unwrap();
    assert_eq!(html_error.headers()["content-type"], "text/html");
    assert!(html_error.text().await.unwrap().starts_with("<html>"));
}

#[tokio::test]
async fn the_invitee_lists_accepts_and_rejects_with_a_user_token() {
    let server = server().await;
    server.add_org("acme", "org-2", ["member"]);
    let first = server.add_invitation("acme", "org-1", "me@x.io");
    let second = server.add_invitation("acme", "org-2", "me@x.io");
    server.add_invitation("acme", "org-1", "someone-else@x.io");
    server.add_token("user-token", Permission::User("Me@x.io".into()));
    let http = Http::new(&server);
    let mine: Value = http
        .request(reqwest::Method::GET, "/acme/orgs/me/invitations", "user-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(emails(&mine), ["me@x.io", "me@x.io"]);
    let answer = |method, id: &str| {
        http.request(method, &format!("/acme/orgs/me/invitations/{id}"), "user-token").send()
    };
    assert_eq!(
        answer(reqwest::Method::POST, &first).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.members("acme", "org-1"), ["me@x.io"]);
    assert_eq!(
        answer(reqwest::Method::DELETE, &second).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert!(server.members("acme", "org-2").is_empty());
    assert!(server.invitations("acme", "org-2").is_empty());
    assert_eq!(
        answer(reqwest::Method::POST, &first).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // An admin token has no verified email.
    let admin = http
        .request(reqwest::Method::GET, "/acme/orgs/me/invitations", MANAGE)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_token_endpoint_grants_counts_and_expires_tokens() {
    let server = server().await;
    server.add_client("master", "svc", "s3cret", Permission::View, Duration::from_secs(60));
    server.add_client("master", "short", "s3cret", Permission::View, Duration::ZERO);
    let http = reqwest::Client::new();
    let grant = |client: &'static str, secret: &'static str| {
        http.post(format!("{}/realms/master/protocol/openid-connect/token", server.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={client}&client_secret={secret}"
            ))
            .send()
    };
    let granted: Value = grant("svc", "s3cret").await.unwrap().json().await.unwrap();
    assert_eq!(granted["expires_in"], 60);
    let token = granted["access_token"].as_str().unwrap().to_owned();
    assert_eq!(server.grants(), 1);
    let count = Http::new(&server)
        .request(reqwest::Method::GET, "/acme/orgs/org-1/invitations/count", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(count.status(), StatusCode::OK);

    let refused = grant("svc", "wrong").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.grants(), 1);

    let expired: Value = grant("short", "s3cret").await.unwrap().json().await.unwrap();
    let expired = expired["access_token"].as_str().unwrap().to_owned();
    let count = Http::new(&server)
        .request(reqwest::Method::GET, "/acme/orgs/org-1/invitations/count", &expired)
        .send()
        .await
        .unwrap();
    assert_eq!(count.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn requests_are_recorded_as_sent() {
    let server = server().await;
    let http = Http::new(&server);
    http.create("a@x.io", json!({})).await;
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/realms/acme/orgs/org-1/invitations");
    assert_eq!(requests[0].header("authorization"), Some(format!("Bearer {MANAGE}").as_str()));
    assert_eq!(&requests[0].body[..], br#"{"email":"a@x.io"}"#);
}

#[tokio::test]
async fn injected_statuses_and_delays_apply_to_their_scope_and_count() {
    let server = server().await;
    server.inject(Fault::on(
        operation::COUNT,
        FaultAction::Status { status: 503, retry_after: Some("3".into()) },
        2,
    ));
    let http = Http::new(&server);
    let count =
        || http.request(reqwest::Method::GET, "/acme/orgs/org-1/invitations/count", VIEW).send();
    for _ in 0..2 {
        let response = count().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "3");
    }
    assert_eq!(count().await.unwrap().status(), StatusCode::OK);
    // Another operation was never affected.
    server.inject(Fault::new(
        Scope::PathPrefix("/realms/acme/orgs/org-1/invitations/count".into()),
        FaultAction::Delay(Duration::from_millis(300)),
        1,
    ));
    let (status, _) = http.list("").await;
    assert_eq!(status, StatusCode::OK);
    let started = std::time::Instant::now();
    assert_eq!(count().await.unwrap().status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn closing_before_or_after_handling_decides_whether_it_was_stored() {
    let server = server().await;
    let http = Http::new(&server);
    let create = Scope::Operation(operation::CREATE);
    server.inject(Fault::new(create.clone(), FaultAction::CloseBeforeAnswer, 1));
    let lost = http
        .request(reqwest::Method::POST, "/acme/orgs/org-1/invitations", MANAGE)
        .json(&json!({"email": "a@x.io"}))
        .send()
        .await;
    assert!(lost.is_err());
    assert!(server.invitations("acme", "org-1").is_empty());

    server.inject(Fault::new(create, FaultAction::CloseAfterHandling, 1));
    let ambiguous = http
        .request(reqwest::Method::POST, "/acme/orgs/org-1/invitations", MANAGE)
        .json(&json!({"email": "a@x.io"}))
        .send()
        .await;
    assert!(ambiguous.is_err());
    assert_eq!(server.invitations("acme", "org-1").len(), 1);
}

#[tokio::test]
async fn truncated_and_non_json_bodies() {
    let server = server().await;
    server.add_invitations("acme", "org-1", (0..5).map(|i| format!("u{i}@x.io")));
    let http = Http::new(&server);
    let list = Scope::Operation(operation::LIST);
    server.inject(Fault::new(list.clone(), FaultAction::TruncatedBody, 1));
    let truncated = http
        .request(reqwest::Method::GET, "/acme/orgs/org-1/invitations", VIEW)
        .send()
        .await
        .unwrap();
    assert_eq!(truncated.status(), StatusCode::OK);
    assert!(truncated.bytes().await.is_err());

    server.inject(Fault::new(list, FaultAction::NonJsonBody, 1));
    let html = http
        .request(reqwest::Method::GET, "/acme/orgs/org-1/invitations", VIEW)
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    assert_eq!(html.headers()["content-type"], "text/html");
    assert!(html.text().await.unwrap().starts_with("<html>"));
}

#[tokio::test]
async fn the_server_stops_when_dropped() {
    let server = server().await;
    let url = format!("{}/realms/acme/orgs/org-1/invitations/count", server.url());
    drop(server);
    tokio::task::yield_now().await;
    let result = reqwest::Client::new().get(url).send().await;
    assert!(result.is_err(), "{result:?}");
}

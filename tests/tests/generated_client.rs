//! The generated client against httpmock: what goes on the wire for each of the 9 operations,
//! and what comes back to the caller.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use httpmock::prelude::*;
use phasetwo_invitations_client::types::{ErrorRepresentation, InvitationRequestRepresentation};
use phasetwo_invitations_client::{Client, Error, Hooks, RequestHook};
use serde_json::json;

/// Keycloak behind a `/auth` prefix, as self-hosted servers often are.
const PREFIX: &str = "/auth/realms";

fn client(server: &MockServer) -> Client {
    Client::new(&server.url(PREFIX), Hooks::default())
}

fn invitation(id: &str, email: &str) -> serde_json::Value {
    json!({
        "id": id,
        "createdAt": "2026-11-26T06:21Z",
        "email": email,
        "inviterId": "u-1",
        "invitationUrl": "",
        "organizationId": "org-1",
        "roles": ["member"],
        "attributes": {"team": ["blue"]}
    })
}

#[tokio::test]
async fn each_operation_uses_its_method_and_path_and_asks_for_json() {
    let server = MockServer::start_async().await;
    let base = format!("{PREFIX}/acme/orgs/org-1/invitations");
    let mocks = [
        (POST, base.clone(), 201),
        (GET, base.clone(), 200),
        (GET, format!("{base}/count"), 200),
        (GET, format!("{base}/inv-1"), 200),
        (DELETE, format!("{base}/inv-1"), 204),
        (PUT, format!("{base}/inv-1/resend-email"), 204),
        (GET, format!("{PREFIX}/acme/orgs/me/invitations"), 200),
        (POST, format!("{PREFIX}/acme/orgs/me/invitations/inv-1"), 204),
        (DELETE, format!("{PREFIX}/acme/orgs/me/invitations/inv-1"), 204),
    ];
    let mut registered = Vec::new();
    for (method, path, status) in mocks {
        let is_get = matches!(method, GET);
        let body = match path.as_str() {
            p if is_get && p.ends_with("/count") => json!(2),
            p if is_get && p.ends_with("/inv-1") => invitation("inv-1", "a@x.io"),
            _ if is_get => json!([invitation("inv-1", "a@x.io")]),
            _ => serde_json::Value::Null,
        };
        registered.push(
            server
                .mock_async(|when, then| {
                    when.method(method).path(path).header("accept", "application/json");
                    let then = then.status(status);
                    if !body.is_null() {
                        then.header("content-type", "application/json").json_body(body);
                    }
                })
                .await,
        );
    }

    let c = client(&server);
    let request = InvitationRequestRepresentation::builder().email("a@x.io");
    c.add_organization_invitation()
        .realm("acme")
        .org_id("org-1")
        .body(request)
        .send()
        .await
        .unwrap();
    let list = c.get_organization_invitations().realm("acme").org_id("org-1").send().await.unwrap();
    assert_eq!(list.into_inner()[0].email, "a@x.io");
    let count =
        c.get_organization_invitation_count().realm("acme").org_id("org-1").send().await.unwrap();
    assert_eq!(count.into_inner(), 2);
    let one = c
        .get_organization_invitation_by_id()
        .realm("acme")
        .org_id("org-1")
        .invitation_id("inv-1")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.id, "inv-1");
    assert_eq!(one.attributes["team"], ["blue"]);
    c.remove_organization_invitation()
        .realm("acme")
        .org_id("org-1")
        .invitation_id("inv-1")
        .send()
        .await
        .unwrap();
    c.resend_organization_invitation()
        .realm("acme")
        .org_id("org-1")
        .invitation_id("inv-1")
        .send()
        .await
        .unwrap();
    let mine = c.invitations().realm("acme").send().await.unwrap();
    assert_eq!(mine.into_inner().len(), 1);
    c.accept_invitation().realm("acme").invitation_id("inv-1").send().await.unwrap();
    c.reject_invitation().realm("acme").invitation_id("inv-1").send().await.unwrap();

    for mock in &registered {
        mock.assert_async().await;
    }
}

#[tokio::test]
async fn path_parameters_are_each_one_encoded_segment() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(DELETE).path(format!(
                "{PREFIX}/a%2Fb%3Fc/orgs/x%20y%23z/invitations/100%25%20caf%C3%A9%7B%7D"
            ));
            then.status(204);
        })
        .await;
    client(&server)
        .remove_organization_invitation()
        .realm("a/b?c")
        .org_id("x y#z")
        .invitation_id("100% café{}")
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn list_sends_only_the_query_parameters_that_are_set() {
    let server = MockServer::start_async().await;
    let path = format!("{PREFIX}/acme/orgs/org-1/invitations");
    let bare = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(&path)
                .query_param_missing("search")
                .query_param_missing("first")
                .query_param_missing("max");
            then.status(200).json_body(json!([]));
        })
        .await;
    let full = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(&path)
                .query_param("search", "al ice")
                .query_param("first", "0")
                .query_param("max", "50");
            then.status(200).json_body(json!([]));
        })
        .await;

    let c = client(&server);
    let list = || c.get_organization_invitations().realm("acme").org_id("org-1");
    list().send().await.unwrap();
    list().search("al ice").first(0).max(50).send().await.unwrap();

    bare.assert_async().await;
    full.assert_async().await;
}

#[tokio::test]
async fn create_sends_camel_case_json_and_omits_unset_fields() {
    let server = MockServer::start_async().await;
    let path = format!("{PREFIX}/acme/orgs/org-1/invitations");
    let minimal = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(&path)
                .header("content-type", "application/json")
                .json_body(json!({"email": "a@x.io", "send": false}));
            then.status(201);
        })
        .await;
    let full = server
        .mock_async(|when, then| {
            when.method(POST).path(&path).json_body(json!({
                "email": "b@x.io",
                "send": true,
                "inviterId": "u-1",
                "redirectUri": "https://app.example.com/welcome",
                "roles": ["member", "admin"],
                "attributes": {"team": ["blue"]}
            }));
            then.status(201);
        })
        .await;

    let c = client(&server);
    let create = || c.add_organization_invitation().realm("acme").org_id("org-1");
    create().body(InvitationRequestRepresentation::builder().email("a@x.io")).send().await.unwrap();
    create()
        .body(
            InvitationRequestRepresentation::builder()
                .email("b@x.io")
                .send(true)
                .inviter_id(Some("u-1".to_owned()))
                .redirect_uri(Some("https://app.example.com/welcome".to_owned()))
                .roles(vec!["member".to_owned(), "admin".to_owned()])
                .attributes(BTreeMap::from([("team".to_owned(), vec!["blue".to_owned()])])),
        )
        .send()
        .await
        .unwrap();

    minimal.assert_async().await;
    full.assert_async().await;
}

#[tokio::test]
async fn created_invitation_location_is_readable() {
    let server = MockServer::start_async().await;
    let location = server.url(format!("{PREFIX}/acme/orgs/org-1/invitations/new-id"));
    let location_header = location.clone();
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(201).header("location", location_header);
        })
        .await;
    let response = client(&server)
        .add_organization_invitation()
        .realm("acme")
        .org_id("org-1")
        .body(InvitationRequestRepresentation::builder().email("a@x.io"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], location.as_str());
}

#[tokio::test]
async fn a_409_comes_back_with_its_typed_body() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(409)
                .header("content-type", "application/json")
                .json_body(json!({"error": "Invitation for a@x.io already exists."}));
        })
        .await;
    let err = client(&server)
        .add_organization_invitation()
        .realm("acme")
        .org_id("org-1")
        .body(InvitationRequestRepresentation::builder().email("a@x.io"))
        .send()
        .await
        .unwrap_err();
    let Error::ErrorResponse(response) = err else {
        panic!("expected a typed error response, got {err:?}");
    };
    assert_eq!(response.status(), 409);
    let body: &ErrorRepresentation = &response;
    assert_eq!(body.error.as_deref(), Some("Invitation for a@x.io already exists."));
}

#[tokio::test]
async fn an_undeclared_status_reaches_the_caller_with_its_body() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(502).header("content-type", "text/html").body("<html>Bad Gateway</html>");
        })
        .await;
    let err = client(&server)
        .get_organization_invitation_count()
        .realm("acme")
        .org_id("org-1")
        .send()
        .await
        .unwrap_err();
    let Error::UnexpectedResponse(response) = err else {
        panic!("expected the raw response, got {err:?}");
    };
    assert_eq!(response.status(), 502);
    assert_eq!(response.text().await.unwrap(), "<html>Bad Gateway</html>");
}

#[tokio::test]
async fn count_beyond_32_bits_is_decoded() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path_suffix("/count");
            then.status(200).json_body(json!(5_000_000_000u64));
        })
        .await;
    let count = client(&server)
        .get_organization_invitation_count()
        .realm("acme")
        .org_id("org-1")
        .send()
        .await
        .unwrap();
    assert_eq!(count.into_inner(), 5_000_000_000);
}

#[tokio::test]
async fn invitation_with_only_id_and_email_decodes() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(200).json_body(json!([{"id": "i", "email": "a@x.io"}]));
        })
        .await;
    let list = client(&server).invitations().realm("acme").send().await.unwrap().into_inner();
    assert_eq!(list[0].id, "i");
    assert_eq!(list[0].inviter_id, None);
    assert!(list[0].roles.is_empty());
}

/// The seam the facade uses for tokens: a hook runs before every request, so each request
/// can carry the token current at that moment.
#[tokio::test]
async fn request_hook_sets_a_header_on_every_request() {
    struct Counter(AtomicUsize);
    impl RequestHook for Counter {
        fn before_send<'a>(
            &'a self,
            request: &'a mut reqwest::Request,
            _operation_id: &'static str,
        ) -> phasetwo_invitations_client::BoxFuture<'a, Result<(), String>> {
            Box::pin(async move {
                let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
                let value = format!("Bearer token-{n}").parse().unwrap();
                request.headers_mut().insert("authorization", value);
                Ok(())
            })
        }
    }

    let server = MockServer::start_async().await;
    let first = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer token-1");
            then.status(200).json_body(json!(1));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer token-2");
            then.status(200).json_body(json!(1));
        })
        .await;
    let unauthenticated = server
        .mock_async(|when, then| {
            when.header_missing("authorization");
            then.status(401);
        })
        .await;
    let c = Client::new(&server.url(PREFIX), Hooks::new(Counter(AtomicUsize::new(0))));
    for _ in 0..2 {
        c.get_organization_invitation_count().realm("acme").org_id("org-1").send().await.unwrap();
    }
    first.assert_async().await;
    second.assert_async().await;

    // A hook that fails stops the request before it is sent.
    struct Refuse;
    impl RequestHook for Refuse {
        fn before_send<'a>(
            &'a self,
            _request: &'a mut reqwest::Request,
            _operation_id: &'static str,
        ) -> phasetwo_invitations_client::BoxFuture<'a, Result<(), String>> {
            Box::pin(async { Err("no token".to_owned()) })
        }
    }
    let err = Client::new(&server.url(PREFIX), Hooks::new(Refuse))
        .get_organization_invitation_count()
        .realm("acme")
        .org_id("org-1")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Custom(ref m) if m == "no token"), "{err:?}");
    unauthenticated.assert_calls_async(0).await;
}

/// The facade's operation ids (what errors and faults name) are exactly the spec's.
#[test]
fn the_facades_operation_ids_are_the_specs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(build_tools::paths::DERIVED)).unwrap();
    let spec: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut in_spec: Vec<String> = spec["paths"]
        .as_mapping()
        .unwrap()
        .values()
        .flat_map(|item| item.as_mapping().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str().map(str::to_owned))
        .collect();
    in_spec.sort();
    let mut ours: Vec<String> =
        phasetwo_invitations::operation::ALL.iter().map(|s| s.to_string()).collect();
    ours.sort();
    assert_eq!(ours, in_spec);
}

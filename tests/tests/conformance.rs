//! One conformance suite, two servers: what the Phase Two server does, and what the facade
//! makes of it, written once. What it verifies is described in docs/server.md.
//!
//! `cargo test` runs it against the built-in `FakeServer`; with `PHASETWO_SERVER` set (as
//! `cargo xtask phasetwo-server -- cargo test -p invitations-tests --test conformance` does)
//! the same cases run against the real Keycloak with Phase Two. A case that fails on one server
//! only is a difference between the two: a defect of the fake, the facade or the overlay.
//!
//! Each case makes its own organizations and users, so the cases run in parallel on one server.

use invitations_tests::target::Target;
use phasetwo_invitations::{ErrorKind, Invited};
use phasetwo_invitations_testing::BUILT_IN_ROLES;
use serde_json::{Value, json};

/// An answer to a request made by hand, without the facade.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The `error` field of a JSON error body.
    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// A request as a plain HTTP client sends it, with `Accept: application/json`.
async fn request(
    target: &Target,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    request_accepting(target, method, path, token, body, "application/json").await
}

async fn request_accepting(
    target: &Target,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    accept: &str,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut builder = reqwest::Client::new()
        .request(method, format!("{}{path}", target.url()))
        .header("Accept", accept);
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    if let Some(body) = body {
        builder = builder.header("Content-Type", "application/json").body(body.to_owned());
    }
    let response = builder.send().await.expect("the server answers");
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Answer {
        status: response.status().as_u16(),
        location: header("location"),
        content_type: header("content-type").unwrap_or_default(),
        body: response.text().await.expect("a readable body"),
    }
}

fn invitations_path(target: &Target, org: &str) -> String {
    format!("/realms/{}/orgs/{org}/invitations", target.realm())
}

/// A manager's token and a new organization.
async fn org_and_token(target: &Target) -> (String, String) {
    (target.new_org().await, target.manager_token().await)
}

/// Creates an invitation by hand and returns its id.
async fn create_by_hand(target: &Target, org: &str, token: &str, body: Value) -> String {
    let answer = request(
        target,
        "POST",
        &invitations_path(target, org),
        Some(token),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let location = answer.location.expect("Location");
    location.rsplit('/').next().unwrap().to_owned()
}

// --- Create -----------------------------------------------------------------------------

#[tokio::test]
async fn create_answers_201_with_an_empty_body_and_the_id_in_location() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let path = invitations_path(&target, &org);
    let email = target.email("located");
    let answer =
        request(&target, "POST", &path, Some(&token), Some(&json!({ "email": email }).to_string()))
            .await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body, "", "no body");
    let location = answer.location.expect("Location");
    let id = location
        .strip_prefix(&format!("{}{path}/", target.url()))
        .unwrap_or_else(|| panic!("Location is the request URL plus the id: {location}"));
    uuid::Uuid::parse_str(id).expect("the id is a UUID");
    let got = request(&target, "GET", &format!("{path}/{id}"), Some(&token), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["email"], email.as_str());
}

#[tokio::test]
async fn the_facade_returns_the_id_of_the_new_invitation() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    let email = target.email("facade");
    let created = org.create(email.to_uppercase()).send().await.unwrap();
    assert_eq!(created.email(), email);
    assert!(created.location().ends_with(created.id()));
    let found = org.get(created.id()).send().await.unwrap();
    assert_eq!(found.id, created.id());
    assert_eq!(found.email, email, "stored in lower case");
}

#[tokio::test]
async fn an_invitation_has_the_fields_the_server_fills() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let email = target.email("fields");
    let id = create_by_hand(
        &target,
        &org,
        &token,
        json!({
            "email": email,
            "roles": ["member", "view-invitations", "member"],
            "redirectUri": "https://app.example.com/welcome",
            "attributes": {"team": ["blue", "green"]},
        }),
    )
    .await;
    let path = format!("{}/{id}", invitations_path(&target, &org));
    let invitation = request(&target, "GET", &path, Some(&token), None).await.json();
    assert_eq!(invitation["id"], id.as_str());
    assert_eq!(invitation["organizationId"], org.as_str());
    assert_eq!(invitation["email"], email.as_str());
    let created_at = invitation["createdAt"].as_str().expect("createdAt");
    let shape = created_at.len() == 17
        && created_at.ends_with('Z')
        && created_at.as_bytes()[10] == b'T'
        && created_at.as_bytes()[13] == b':';
    assert!(shape, "yyyy-MM-ddTHH:mmZ (minutes, UTC), not RFC 3339: {created_at}");
    // ... which the typed accessor reads as the minute it was made (clocks may differ a little).
    let typed = target.manager().invitations(target.realm(), &org).get(&id).await.unwrap();
    let made = typed.created_at_utc().expect("createdAt reads as a time").timestamp();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    assert!((now - 300..=now + 60).contains(&made), "{created_at} is not about now");
    assert!(
        invitation["inviterId"].as_str().is_some_and(|i| !i.is_empty()),
        "the caller is the inviter: {invitation}"
    );
    assert_eq!(invitation["invitationUrl"], "https://app.example.com/welcome");
    let mut roles: Vec<&str> =
        invitation["roles"].as_array().expect("roles").iter().filter_map(Value::as_str).collect();
    roles.sort_unstable();
    assert_eq!(roles, ["member", "view-invitations"], "a set");
    assert_eq!(invitation["attributes"], json!({"team": ["blue", "green"]}));

    // Without a redirect URI (and no realm default) the URL is empty.
    let plain =
        create_by_hand(&target, &org, &token, json!({ "email": target.email("plain") })).await;
    let plain = request(
        &target,
        "GET",
        &format!("{}/{plain}", invitations_path(&target, &org)),
        Some(&token),
        None,
    )
    .await
    .json();
    assert_eq!(plain["invitationUrl"], "");
    assert_eq!(plain["roles"], json!([]));
    assert_eq!(plain["attributes"], json!({}));
}

#[tokio::test]
async fn phase_two_organization_roles_may_be_granted() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    let created = org
        .create(target.email("roles"))
        .roles(BUILT_IN_ROLES)
        .roles(["admin"])
        .send()
        .await
        .unwrap();
    let found = org.get(created.id()).await.unwrap();
    assert_eq!(found.roles.len(), BUILT_IN_ROLES.len() + 1);
}

#[tokio::test]
async fn sending_the_email_without_a_mail_server_still_creates() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    let created = org
        .create(target.email("mailed"))
        .send_email(true)
        .send()
        .await
        .expect("mail failures are not reported");
    org.resend(created.id()).send().await.expect("nor on resend");
}

/// Email checks happen in two places on the server: bean validation of the request, then an
/// RFC 822 parser. Each answers with its own body.
#[tokio::test]
async fn emails_are_checked_as_the_server_checks_them() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let path = invitations_path(&target, &org);
    const MALFORMED: &str = "Provided data is invalid";
    let cases: [(&str, u16, Option<&str>); 16] = [
        ("nope", 400, Some("Invalid email: nope")),
        ("a@", 400, Some("Invalid email: a@")),
        ("@b.io", 400, Some("Invalid email: @b.io")),
        ("a b@c.io", 400, Some("Invalid email: a b@c.io")),
        ("a@@b.io", 400, Some("Invalid email: a@@b.io")),
        ("a@b..io", 400, Some("Invalid email: a@b..io")),
        ("dot.@b.io", 400, Some("Invalid email: dot.@b.io")),
        ("a@b_c.io", 400, Some("Invalid email: a@b_c.io")),
        ("Jo <jo@b.io>", 400, Some(MALFORMED)),
        (" lead@b.io", 400, Some(MALFORMED)),
        ("trail@b.io ", 400, Some(MALFORMED)),
        ("mailto:m@b.io", 400, Some(MALFORMED)),
        ("dash@-b.io", 400, Some(MALFORMED)),
        ("nodot@b", 201, None),
        ("\"q r\"@b.io", 201, None),
        ("umlaut-ü@b.io", 201, None),
    ];
    for (email, status, error) in cases {
        let answer = request(
            &target,
            "POST",
            &path,
            Some(&token),
            Some(&json!({ "email": email }).to_string()),
        )
        .await;
        // Before Keycloak 26.5 the format check does not run: the parser decides alone.
        if error == Some(MALFORMED) && !target.checks_email_format() {
            assert_eq!(answer.status, 201, "{email:?}: {answer:?}");
            continue;
        }
        assert_eq!(answer.status, status, "{email:?}: {answer:?}");
        if let Some(error) = error {
            assert_eq!(answer.error(), error, "{email:?}");
        }
        if error == Some(MALFORMED) {
            assert_eq!(
                answer.json()["violations"],
                json!(["email: must be a well-formed email address"])
            );
        }
    }
    let missing = request(&target, "POST", &path, Some(&token), Some("{}")).await;
    assert_eq!((missing.status, missing.error()), (400, "Invalid email: null".to_owned()));
}

#[tokio::test]
async fn the_facade_passes_on_what_the_servers_validation_refused() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    if target.checks_email_format() {
        let e = org.create("dash@-b.io").send().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequest);
        assert_eq!(
            e.server_message(),
            Some("Provided data is invalid: email: must be a well-formed email address")
        );
    }
    let e = org.create("a@b..io").send().await.unwrap_err();
    assert_eq!(e.server_message(), Some("Invalid email: a@b..io"));
}

#[tokio::test]
async fn bodies_that_are_not_an_invitation_request_are_400() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let path = invitations_path(&target, &org);
    let broken = request(&target, "POST", &path, Some(&token), Some("{\"email\":")).await;
    assert_eq!(broken.status, 400);
    assert_eq!(
        broken.json(),
        json!({"error": "invalid_request", "error_description": "Cannot parse the JSON"})
    );
    let mistyped = request(
        &target,
        "POST",
        &path,
        Some(&token),
        Some(r#"{"email":"t@b.io","roles":"member"}"#),
    )
    .await;
    assert_eq!(mistyped.status, 400);
    assert_eq!(
        mistyped.json(),
        json!({"error": "unknown_error", "error_description": "Cannot parse the JSON"})
    );
}

/// A sign-up hook's call, repeated: the first creates, the second finds the same invitation;
/// a member stays a typed error.
#[tokio::test]
async fn create_or_existing_is_one_call_safe_to_repeat() {
    let target = Target::new().await;
    let org_id = target.new_org().await;
    let member = target.email("hooked-member");
    target.add_member(&org_id, &member).await;
    let org = target.manager().invitations(target.realm(), &org_id);
    let email = target.email("hook");
    let first = org.create(&email).roles(["member"]).or_existing().await.unwrap();
    assert!(first.was_created());
    // Asked again with the same roles: the same invitation.
    let again = org.create(email.to_uppercase()).roles(["member"]).or_existing().await.unwrap();
    assert!(matches!(&again, Invited::Existing(i) if i.id == first.id()), "{again:?}");
    assert_eq!(again.email(), first.email());
    // Asked with other roles: the same invitation, unchanged, and the difference told.
    let other = org.create(&email).roles(["admin"]).or_existing().await.unwrap();
    match &other {
        Invited::ExistingWithOtherRoles(existing) => {
            assert_eq!(existing.id, first.id());
            assert_eq!(existing.roles, ["member"], "unchanged");
        }
        _ => panic!("roles that differ are told: {other:?}"),
    }
    let e = org.create(&member).or_existing().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyMember);
    assert_eq!(org.count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_two_conflicts_are_told_apart() {
    let target = Target::new().await;
    let org_id = target.new_org().await;
    let member = target.email("member");
    target.add_member(&org_id, &member).await;
    let org = target.manager().invitations(target.realm(), &org_id);
    let email = target.email("twice");
    org.create(&email).send().await.unwrap();

    let again = org.create(email.to_uppercase()).send().await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyInvited);
    assert_eq!(
        again.server_message(),
        Some(format!("Invitation for {email} already exists.").as_str())
    );
    let joined = org.create(member.to_uppercase()).send().await.unwrap_err();
    assert_eq!(joined.kind(), ErrorKind::AlreadyMember);
    assert_eq!(
        joined.server_message(),
        Some(format!("{member} is already a member of this organization.").as_str())
    );
    assert_eq!(org.count().await.unwrap(), 1, "neither conflict stored anything");
}

#[tokio::test]
async fn an_unknown_role_is_refused_with_the_servers_message() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    let e = org.create(target.email("role")).roles(["member", "owner"]).send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert_eq!(e.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(e.server_message(), Some("Unknown role in list."));
    // The server does not say which role; the error lists the ones asked for.
    assert!(e.to_string().contains("the roles asked for: member, owner"), "{e}");
}

#[tokio::test]
async fn values_the_server_cannot_store_fail_with_500_and_store_nothing() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let path = invitations_path(&target, &org);
    let labels = ["b".repeat(60), "c".repeat(60), "d".repeat(60), "e".repeat(20)];
    let long_email = format!("{}@{}.io", "a".repeat(64), labels.join("."));
    assert!(long_email.len() > 255);
    let bodies = [
        json!({ "email": long_email }),
        json!({ "email": target.email("uri"), "redirectUri": format!("https://x.io/{}", "a".repeat(2040)) }),
        json!({ "email": target.email("attr"), "attributes": {"k": ["v".repeat(4001)]} }),
    ];
    for body in bodies {
        let answer = request(&target, "POST", &path, Some(&token), Some(&body.to_string())).await;
        assert_eq!(answer.status, 500, "{answer:?}");
        assert_eq!(
            answer.json(),
            json!({"error": "unknown_error", "error_description": "For more on this error consult the server log."})
        );
    }
    let unknown_inviter = request(
        &target,
        "POST",
        &path,
        Some(&token),
        Some(&json!({ "email": target.email("inviter"), "inviterId": "nobody" }).to_string()),
    )
    .await;
    assert_eq!(unknown_inviter.status, 500);
    assert_eq!(
        unknown_inviter.json(),
        json!({"error": "HTTP 500 Internal Server Error", "error_description": "For more on this error consult the server log."})
    );
    let count = request(&target, "GET", &format!("{path}/count"), Some(&token), None).await;
    assert_eq!(count.body, "0");
}

#[tokio::test]
async fn a_server_failure_reaches_the_facade_as_a_server_error_sent_once() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    let e = org.create(target.email("inviter")).inviter_id("nobody").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server);
    assert_eq!(e.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(e.attempts(), 1, "a create that may have reached the server is not re-sent");
    assert_eq!(
        e.server_message(),
        Some("HTTP 500 Internal Server Error: For more on this error consult the server log.")
    );
    assert_eq!(org.count().await.unwrap(), 0);
}

#[tokio::test]
async fn the_facade_refuses_what_the_server_cannot_store_before_sending() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    let e = org.create(format!("{}@example.com", "a".repeat(250))).send().await.unwrap_err();
    assert_eq!((e.kind(), e.field(), e.attempts()), (ErrorKind::InvalidInput, Some("email"), 0));
    let e = org
        .create(target.email("uri"))
        .redirect_uri(format!("https://x.io/{}", "a".repeat(2040)))
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.field()), (ErrorKind::InvalidInput, Some("redirect_uri")));
    for refused in ["Jo <jo@example.com>", "jo smith@example.com"] {
        let e = org.create(refused).send().await.unwrap_err();
        assert_eq!((e.kind(), e.field()), (ErrorKind::InvalidInput, Some("email")), "{refused}");
    }
    assert_eq!(org.count().await.unwrap(), 0);
}

// --- Authorization ----------------------------------------------------------------------

#[tokio::test]
async fn a_missing_token_a_bad_token_and_a_missing_role_are_all_401() {
    let target = Target::new().await;
    let org = target.new_org().await;
    let path = invitations_path(&target, &org);
    let viewer = target.viewer_token().await;
    let create = json!({ "email": target.email("denied") }).to_string();
    for (token, method, body) in [
        (None, "GET", None),
        (Some("not-a-token"), "GET", None),
        (Some(viewer.as_str()), "POST", Some(create.as_str())),
    ] {
        let answer = request(&target, method, &path, token, body).await;
        assert_eq!(answer.status, 401, "{token:?} {method}");
        assert_eq!(answer.json(), json!({"error": "HTTP 401 Unauthorized"}));
    }
}

#[tokio::test]
async fn a_view_only_client_reads_and_resends_but_cannot_create_or_delete() {
    let target = Target::new().await;
    let org_id = target.new_org().await;
    let manager = target.manager().invitations(target.realm(), &org_id);
    let created = manager.create(target.email("viewed")).send().await.unwrap();
    let viewer = target.viewer().invitations(target.realm(), &org_id);
    assert_eq!(viewer.count().await.unwrap(), 1);
    assert_eq!(viewer.list().send().await.unwrap().len(), 1);
    assert_eq!(viewer.get(created.id()).await.unwrap().id, created.id());
    // The server checks no manage right on resend.
    viewer.resend(created.id()).send().await.unwrap();
    let e = viewer.create(target.email("no")).send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let e = viewer.delete(created.id()).send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(manager.count().await.unwrap(), 1);
}

#[tokio::test]
async fn errors_are_an_html_page_when_the_client_prefers_html() {
    let target = Target::new().await;
    let org = target.new_org().await;
    let answer = request_accepting(
        &target,
        "GET",
        &invitations_path(&target, &org),
        None,
        None,
        "text/html",
    )
    .await;
    assert_eq!(answer.status, 401);
    assert!(answer.content_type.starts_with("text/html"), "{answer:?}");
    assert!(answer.body.contains("<html"), "{answer:?}");
}

// --- Not found --------------------------------------------------------------------------

#[tokio::test]
async fn unknown_organizations_realms_invitations_and_paths_are_404() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let realm = target.realm();
    let cases = [
        (format!("/realms/{realm}/orgs/no-such-org/invitations"), "no-such-org not found"),
        (format!("/realms/{realm}/orgs/no-such-org/invitations/count"), "no-such-org not found"),
        (format!("/realms/{realm}/orgs/no-such-org/invitations/x"), "no-such-org not found"),
        (format!("/realms/no-such-realm/orgs/{org}/invitations"), "Realm does not exist"),
        (format!("/realms/{realm}/orgs/{org}/invitations/x"), "No invitation with id x"),
        (format!("/realms/{realm}/orgs/{org}/invitationz"), "HTTP 404 Not Found"),
        (format!("/realms/{realm}/orgs/{org}/invitations?max=many"), "HTTP 404 Not Found"),
    ];
    for (path, error) in cases {
        let answer = request(&target, "GET", &path, Some(&token), None).await;
        assert_eq!(answer.status, 404, "{path}: {answer:?}");
        assert_eq!(answer.json(), json!({ "error": error }), "{path}");
    }
}

#[tokio::test]
async fn the_facade_reports_an_unknown_organization_as_not_found() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), "no-such-org");
    for e in [
        org.count().await.unwrap_err(),
        org.list().send().await.unwrap_err(),
        org.create(target.email("lost")).send().await.unwrap_err(),
    ] {
        assert!(e.is_not_found(), "{e:?}");
        assert_eq!(e.server_message(), Some("no-such-org not found"));
    }
    let e = org.get("x").optional().send().await.unwrap_err();
    assert!(e.is_not_found(), "get tells a missing organization from a missing invitation");
    let no_realm = target.manager().invitations("no-such-realm", "any");
    assert!(no_realm.get("x").optional().send().await.unwrap_err().is_not_found());
    let known = target.manager().invitations(target.realm(), target.new_org().await);
    assert!(known.get("x").optional().send().await.unwrap().is_none());
    assert!(known.get("x").send().await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn another_organizations_invitation_is_not_found_here() {
    let target = Target::new().await;
    let client = target.manager();
    let (a, b) = (target.new_org().await, target.new_org().await);
    let (org_a, org_b) =
        (client.invitations(target.realm(), &a), client.invitations(target.realm(), &b));
    let created = org_a.create(target.email("elsewhere")).send().await.unwrap();
    assert!(org_b.get(created.id()).optional().await.unwrap().is_none());
    let e = org_b.delete(created.id()).send().await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let e = org_b.resend(created.id()).send().await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(org_a.get(created.id()).optional().await.unwrap().is_some(), "untouched");
}

// --- Delete and resend ------------------------------------------------------------------

#[tokio::test]
async fn delete_is_204_then_404() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let id = create_by_hand(&target, &org, &token, json!({ "email": target.email("gone") })).await;
    let path = format!("{}/{id}", invitations_path(&target, &org));
    let first = request(&target, "DELETE", &path, Some(&token), None).await;
    assert_eq!((first.status, first.body.as_str()), (204, ""));
    let second = request(&target, "DELETE", &path, Some(&token), None).await;
    assert_eq!(second.status, 404);
    assert_eq!(second.error(), format!("No invitation with id {id}"));

    let handle = target.manager().invitations(target.realm(), &org);
    assert!(handle.delete(&id).send().await.unwrap_err().is_not_found());
    handle.delete(&id).ignore_missing().send().await.unwrap();
}

#[tokio::test]
async fn resend_is_204_and_404_for_an_unknown_id() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let id = create_by_hand(&target, &org, &token, json!({ "email": target.email("again") })).await;
    let path = invitations_path(&target, &org);
    let resent =
        request(&target, "PUT", &format!("{path}/{id}/resend-email"), Some(&token), None).await;
    assert_eq!((resent.status, resent.body.as_str()), (204, ""));
    let unknown =
        request(&target, "PUT", &format!("{path}/x/resend-email"), Some(&token), None).await;
    assert_eq!((unknown.status, unknown.error()), (404, "No invitation with id x".to_owned()));
}

// --- Listing ----------------------------------------------------------------------------

/// Creates `n` invitations in `org`; returns their emails in creation order.
async fn seed(
    target: &Target,
    org: &phasetwo_invitations::OrgInvitations,
    tag: &str,
    n: usize,
) -> Vec<String> {
    let emails: Vec<String> = (0..n).map(|i| target.email(&format!("{tag}{i:03}"))).collect();
    let report = org.create_many(emails.clone()).concurrency(1).send().await;
    assert_eq!(report.created, n, "{report}");
    emails
}

#[tokio::test]
async fn the_search_is_a_case_sensitive_substring_of_the_stored_email() {
    let target = Target::new().await;
    let (org_id, token) = org_and_token(&target).await;
    let org = target.manager().invitations(target.realm(), &org_id);
    let email = target.email("Finder");
    org.create(&email).send().await.unwrap();
    let path = invitations_path(&target, &org_id);
    let search = |text: &str| format!("{path}?search={text}");
    let upper = request(&target, "GET", &search("FINDER"), Some(&token), None).await;
    assert_eq!(upper.json(), json!([]), "the server compares with the lower-case email");
    let middle = &email[3..12];
    let found = request(&target, "GET", &search(middle), Some(&token), None).await;
    assert_eq!(found.json().as_array().map(Vec::len), Some(1));
    // The facade lower-cases the search for the server.
    let through_facade = org.list().search("FINDER").send().await.unwrap();
    assert_eq!(through_facade.len(), 1);
}

#[tokio::test]
async fn first_and_max_page_the_list_in_creation_order() {
    let target = Target::new().await;
    let (org_id, token) = org_and_token(&target).await;
    let org = target.manager().invitations(target.realm(), &org_id);
    let emails = seed(&target, &org, "page", 12).await;
    let path = invitations_path(&target, &org_id);
    let page = |query: String| {
        let (target, token, path) = (&target, &token, &path);
        async move {
            let answer =
                request(target, "GET", &format!("{path}?{query}"), Some(token), None).await;
            assert_eq!(answer.status, 200, "{query}: {answer:?}");
            answer
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["email"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("first=0&max=100".into()).await, emails, "creation order");
    assert_eq!(page("first=3&max=4".into()).await, emails[3..7]);
    assert_eq!(page("first=10&max=5".into()).await, emails[10..]);
    assert_eq!(page("first=50".into()).await, Vec::<String>::new());
    assert_eq!(page("max=0".into()).await, Vec::<String>::new());
    // The same request twice gives the same order.
    assert_eq!(page("max=100".into()).await, page("max=100".into()).await);
}

#[tokio::test]
async fn the_list_returns_100_by_default_and_count_is_the_total() {
    let target = Target::new().await;
    let (org_id, token) = org_and_token(&target).await;
    let org = target.manager().invitations(target.realm(), &org_id);
    seed(&target, &org, "many", 103).await;
    let path = invitations_path(&target, &org_id);
    let all = request(&target, "GET", &path, Some(&token), None).await;
    assert_eq!(all.json().as_array().map(Vec::len), Some(100));
    let count = request(&target, "GET", &format!("{path}/count"), Some(&token), None).await;
    assert_eq!((count.status, count.body.as_str()), (200, "103"));
    assert!(count.content_type.starts_with("application/json"));
    let streamed: Vec<_> = org.list().page_size(10).collect().await.unwrap();
    assert_eq!(streamed.len(), 103);
    assert_eq!(org.count().await.unwrap(), 103);
}

#[tokio::test]
async fn negative_paging_values_are_500() {
    let target = Target::new().await;
    let (org, token) = org_and_token(&target).await;
    let path = invitations_path(&target, &org);
    for query in ["first=-1", "max=-1"] {
        let answer = request(&target, "GET", &format!("{path}?{query}"), Some(&token), None).await;
        assert_eq!(answer.status, 500, "{query}");
        assert_eq!(answer.error(), "unknown_error");
    }
}

/// Offset paging while the list changes: an addition goes to the end (nothing repeats), a
/// removal before the offset shifts one unread invitation onto a page already read.
#[tokio::test]
async fn offset_paging_skips_one_invitation_per_removal_behind_it() {
    let target = Target::new().await;
    let (org_id, token) = org_and_token(&target).await;
    let org = target.manager().invitations(target.realm(), &org_id);
    let emails = seed(&target, &org, "shift", 10).await;
    let path = invitations_path(&target, &org_id);
    let mut seen = Vec::new();
    for first in (0..).step_by(4) {
        let answer =
            request(&target, "GET", &format!("{path}?first={first}&max=4"), Some(&token), None)
                .await;
        let page = answer.json();
        let page = page.as_array().unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|i| i["email"].as_str().unwrap().to_owned()));
        if first == 0 {
            // Remove one already read, add a new one.
            org.delete(page[0]["id"].as_str().unwrap()).send().await.unwrap();
            org.create(target.email("late")).send().await.unwrap();
        }
    }
    assert!(!seen.contains(&emails[4]), "the first of the next page moved behind the offset");
    assert_eq!(seen.len(), 10, "9 of the first 10 and the late one");
    let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "nothing repeats");
}

// --- Tokens -----------------------------------------------------------------------------

#[tokio::test]
async fn the_token_endpoint_answers_client_credentials_as_keycloak_does() {
    let target = Target::new().await;
    let (realm, client_id, secret) = target.manager_credentials();
    let url = format!("{}/realms/{realm}/protocol/openid-connect/token", target.url());
    let http = reqwest::Client::new();
    let grant = |id: &str, secret: &str| {
        http.post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
    };
    let ok = grant(client_id, secret).await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], target.token_lifetime().as_secs());
    assert!(body.get("refresh_token").is_none(), "no refresh token: {body}");

    let wrong_secret = grant(client_id, "wrong").await.unwrap();
    assert_eq!(wrong_secret.status(), 401);
    assert_eq!(
        wrong_secret.json::<Value>().await.unwrap(),
        json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"})
    );
    let unknown = grant("nobody", "wrong").await.unwrap();
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.json::<Value>().await.unwrap()["error"], "invalid_client");
    let no_realm = http
        .post(format!("{}/realms/no-such-realm/protocol/openid-connect/token", target.url()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_realm.status(), 404);
    assert_eq!(no_realm.json::<Value>().await.unwrap(), json!({"error": "Realm does not exist"}));
}

#[tokio::test]
async fn client_credentials_through_the_facade() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    org.create(target.email("cc")).send().await.unwrap();
    assert_eq!(org.count().await.unwrap(), 1);

    let (realm, client_id, _) = target.manager_credentials();
    let wrong =
        target.builder().client_credentials(realm, client_id, "wrong-secret").build().unwrap();
    let e = wrong.invitations(target.realm(), "any").count().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoToken);
    assert!(!format!("{e} {e:?}").contains("wrong-secret"));
}

// --- The invitee's side -----------------------------------------------------------------

#[tokio::test]
async fn an_invitee_sees_his_invitations_of_every_organization_and_accepts_one() {
    let target = Target::new().await;
    let manager = target.manager();
    let (a, b) = (target.new_org().await, target.new_org().await);
    let email = target.email("invitee");
    let token = target.user_token(&email).await;
    let first = manager.invitations(target.realm(), &a).create(&email).send().await.unwrap();
    let second = manager.invitations(target.realm(), &b).create(&email).send().await.unwrap();
    manager.invitations(target.realm(), &b).create(target.email("someone")).send().await.unwrap();

    let me = target.with_token(&token).my_invitations(target.realm());
    let mut mine: Vec<String> = me.list().send().await.unwrap().into_iter().map(|i| i.id).collect();
    mine.sort();
    let mut expected = vec![first.id().to_owned(), second.id().to_owned()];
    expected.sort();
    assert_eq!(mine, expected);

    me.accept(first.id()).send().await.unwrap();
    let org_a = manager.invitations(target.realm(), &a);
    assert!(
        org_a.get(first.id()).optional().await.unwrap().is_none(),
        "accepting removes the invitation"
    );
    let e = org_a.create(&email).send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyMember, "accepting made him a member");

    me.reject(second.id()).send().await.unwrap();
    let org_b = manager.invitations(target.realm(), &b);
    assert!(
        org_b.get(second.id()).optional().await.unwrap().is_none(),
        "rejecting removes the invitation"
    );
    org_b.create(&email).send().await.expect("rejecting does not make a member");
}

#[tokio::test]
async fn what_the_invitee_endpoints_answer_to_unknown_ids_and_other_peoples_invitations() {
    let target = Target::new().await;
    let org = target.new_org().await;
    let manager = target.manager_token().await;
    let someone_else =
        create_by_hand(&target, &org, &manager, json!({ "email": target.email("other") })).await;
    let token = target.user_token(&target.email("curious")).await;
    let mine = |id: &str| format!("/realms/{}/orgs/me/invitations/{id}", target.realm());
    let cases = [
        ("POST", mine("x"), 404, "Invitation x not found"),
        ("DELETE", mine("x"), 400, "invitation not found"),
        ("POST", mine(&someone_else), 400, "Email claim differs from invitation email"),
        ("DELETE", mine(&someone_else), 400, "`email` claim differ from invitation email"),
    ];
    for (method, path, status, error) in cases {
        let answer = request(&target, method, &path, Some(&token), None).await;
        assert_eq!((answer.status, answer.error()), (status, error.to_owned()), "{method} {path}");
    }
    // A service account has no email: the server asks for a verified one.
    let list = format!("/realms/{}/orgs/me/invitations", target.realm());
    let answer = request(&target, "GET", &list, Some(&manager), None).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "User needs to be email verified".to_owned())
    );
    let answer = request(&target, "GET", &list, None, None).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn the_facade_reports_a_response_to_a_gone_invitation_as_not_found() {
    let target = Target::new().await;
    let org = target.manager().invitations(target.realm(), target.new_org().await);
    let email = target.email("late");
    let token = target.user_token(&email).await;
    let created = org.create(&email).send().await.unwrap();
    let me = target.with_token(&token).my_invitations(target.realm());
    me.reject(created.id()).send().await.unwrap();
    let again = me.reject(created.id()).send().await.unwrap_err();
    assert!(again.is_not_found(), "the server's 400 `invitation not found`: {again:?}");
    let accept = me.accept(created.id()).send().await.unwrap_err();
    assert!(accept.is_not_found(), "{accept:?}");
}

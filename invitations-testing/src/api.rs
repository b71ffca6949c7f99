//! The HTTP API of the fake server, behaving as the Phase Two extension does.

// Handlers answer early with a ready response; its size does not matter in a test server.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use phasetwo_invitations::operation;

use crate::state::{Permission, State, StoredInvitation, created_at_now};

type Shared = Arc<Mutex<State>>;

// The server's column sizes, from keycloak-orgs' Liquibase changelogs: a longer value makes the
// insert fail, and the server answers 500. Written here rather than taken from the client's
// checks, so that a wrong limit in the client shows up as a test failure instead of agreeing
// with itself. INVITATION.EMAIL VARCHAR(255) (jpa-changelog-phasetwo-20200220.xml):
const EMAIL_COLUMN: usize = 255;
// INVITATION.URL, widened to varchar(2048) (jpa-changelog-phasetwo-20240308.xml).
const REDIRECT_URI_COLUMN: usize = 2048;
// INVITATION_ROLE.ROLE VARCHAR(255) (jpa-changelog-phasetwo-20220824.xml).
const ROLE_COLUMN: usize = 255;
// INVITATION_ATTRIBUTE.VALUE, widened to varchar(4000) (jpa-changelog-phasetwo-20240229.xml).
const ATTRIBUTE_VALUE_COLUMN: usize = 4000;

/// The operation id of Keycloak's token endpoint, which the spec does not describe.
const TOKEN: &str = "token";

/// One route of the server.
struct Route {
    method: Method,
    /// Path template, `{name}` for a segment that varies.
    path: &'static str,
    operation: &'static str,
}

/// Every route the server answers, in the order requests are matched against them (the
/// invitee's `/orgs/me/…` before an organization's `/orgs/{org}/…`). Dispatch and the
/// operation names that faults select both come from this table.
fn routes() -> [Route; 10] {
    let route = |method, path, operation| Route { method, path, operation };
    [
        route(Method::GET, "/realms/{realm}/orgs/me/invitations", operation::MY_LIST),
        route(Method::POST, "/realms/{realm}/orgs/me/invitations/{id}", operation::ACCEPT),
        route(Method::DELETE, "/realms/{realm}/orgs/me/invitations/{id}", operation::REJECT),
        route(Method::POST, "/realms/{realm}/orgs/{org}/invitations", operation::CREATE),
        route(Method::GET, "/realms/{realm}/orgs/{org}/invitations", operation::LIST),
        route(Method::GET, "/realms/{realm}/orgs/{org}/invitations/count", operation::COUNT),
        route(Method::GET, "/realms/{realm}/orgs/{org}/invitations/{id}", operation::GET),
        route(Method::DELETE, "/realms/{realm}/orgs/{org}/invitations/{id}", operation::DELETE),
        route(
            Method::PUT,
            "/realms/{realm}/orgs/{org}/invitations/{id}/resend-email",
            operation::RESEND,
        ),
        route(Method::POST, "/realms/{realm}/protocol/openid-connect/token", TOKEN),
    ]
}

/// The handler of an operation, answering the route's method.
fn handler(route: &Route) -> MethodRouter<Shared> {
    let method = MethodFilter::try_from(route.method.clone()).expect("routes use plain methods");
    match route.operation {
        operation::MY_LIST => on(method, my_invitations),
        operation::ACCEPT => on(method, accept),
        operation::REJECT => on(method, reject),
        operation::CREATE => on(method, create),
        operation::LIST => on(method, list),
        operation::COUNT => on(method, count),
        operation::GET => on(method, get_one),
        operation::DELETE => on(method, delete),
        operation::RESEND => on(method, resend),
        TOKEN => on(method, token),
        other => unreachable!("no handler for {other}"),
    }
}

pub(super) fn router(state: Shared) -> Router {
    routes()
        .iter()
        .fold(Router::new(), |router, route| router.route(route.path, handler(route)))
        .fallback(unknown_path)
        .with_state(state)
}

/// The operation a request is for, by method and path, for scoping faults.
pub(super) fn operation_of(method: &Method, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let matches = |template: &str| {
        let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(part, segment)| part.starts_with('{') || part == segment)
    };
    routes()
        .into_iter()
        .find(|route| route.method == method && matches(route.path))
        .map(|route| route.operation)
}

/// An error answer, as Keycloak shapes it: JSON, or an HTML page when the client's
/// `Accept` prefers HTML.
fn error(status: StatusCode, message: &str, headers: &HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("text/html") && !accept.contains("json") {
        let page = format!("<html><head><title>Error</title></head><body>{message}</body></html>");
        return (status, [(header::CONTENT_TYPE, "text/html")], page).into_response();
    }
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Keycloak's answer to an exception it did not expect: the details stay in its log.
fn server_failure(error: &str, headers: &HeaderMap) -> Response {
    error_with_description(
        StatusCode::INTERNAL_SERVER_ERROR,
        error,
        "For more on this error consult the server log.",
        headers,
    )
}

/// An OAuth-style error body, `{"error": ..., "error_description": ...}`.
fn error_with_description(
    status: StatusCode,
    error: &str,
    description: &str,
    headers: &HeaderMap,
) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("text/html") && !accept.contains("json") {
        return self::error(status, description, headers);
    }
    let body = json!({ "error": error, "error_description": description });
    (status, axum::Json(body)).into_response()
}

/// What JAX-RS answers for a path no resource serves.
async fn unknown_path(headers: HeaderMap) -> Response {
    error(StatusCode::NOT_FOUND, "HTTP 404 Not Found", &headers)
}

/// An answer forced by an injected fault.
pub(super) fn injected_status(status: u16, retry_after: Option<String>) -> Response<Bytes> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder =
        Response::builder().status(status).header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = retry_after {
        builder = builder.header(header::RETRY_AFTER, value);
    }
    let body = json!({ "error": status.canonical_reason().unwrap_or("injected") });
    builder.body(Bytes::from(body.to_string())).expect("a valid response")
}

/// The caller's permission, or the 401 the server gives to missing, expired and
/// insufficient tokens alike.
fn authorize(
    state: &State,
    headers: &HeaderMap,
    allowed: impl Fn(&Permission) -> bool,
) -> Result<Permission, Response> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match state.permission(authorization) {
        Some(permission) if allowed(&permission) => Ok(permission),
        _ => Err(error(StatusCode::UNAUTHORIZED, "HTTP 401 Unauthorized", headers)),
    }
}

fn can_view(p: &Permission) -> bool {
    matches!(p, Permission::View | Permission::Manage)
}

fn can_manage(p: &Permission) -> bool {
    matches!(p, Permission::Manage)
}

fn not_found(headers: &HeaderMap) -> Response {
    error(StatusCode::NOT_FOUND, "HTTP 404 Not Found", headers)
}

fn no_realm(headers: &HeaderMap) -> Response {
    error(StatusCode::NOT_FOUND, "Realm does not exist", headers)
}

fn no_org(org_id: &str, headers: &HeaderMap) -> Response {
    error(StatusCode::NOT_FOUND, &format!("{org_id} not found"), headers)
}

fn no_invitation(id: &str, headers: &HeaderMap) -> Response {
    error(StatusCode::NOT_FOUND, &format!("No invitation with id {id}"), headers)
}

/// What the server checks before every invitation operation, in its order: the realm, the
/// organization, then the right to view the organization's invitations. Operations that
/// change something check the right to manage afterwards, once the body is read.
fn locate(state: &State, realm: &str, org_id: &str, headers: &HeaderMap) -> Result<(), Response> {
    match state.realms.get(realm) {
        None => Err(no_realm(headers)),
        Some(orgs) if !orgs.contains_key(org_id) => Err(no_org(org_id, headers)),
        Some(_) => authorize(state, headers, can_view).map(drop),
    }
}

fn representation(invitation: &StoredInvitation, org_id: &str) -> serde_json::Value {
    let mut value = json!({
        "id": invitation.id,
        "createdAt": invitation.created_at,
        "email": invitation.email,
        "invitationUrl": invitation.redirect_uri,
        "organizationId": org_id,
        "roles": invitation.roles,
        "attributes": invitation.attributes,
    });
    if let Some(inviter) = &invitation.inviter_id {
        value["inviterId"] = json!(inviter);
    }
    value
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    email: Option<String>,
    #[serde(default)]
    send: bool,
    inviter_id: Option<String>,
    redirect_uri: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    attributes: BTreeMap<String, Vec<String>>,
}

/// What the request's bean validation (`@Email`) refuses, before the resource sees the
/// request: answered with `violations`. Reproduces what the server was seen to refuse.
fn malformed_email(email: &str) -> bool {
    let (local, domain) = email.rsplit_once('@').unwrap_or(("", email));
    email.trim() != email
        || email.contains(['<', '>'])
        || unquoted(email).contains(':')
        || local.chars().count() > 64
        || domain.split('.').any(|label| label.starts_with('-'))
}

/// `text` without its quoted parts.
fn unquoted(text: &str) -> String {
    text.split('"').step_by(2).collect()
}

/// Whether the server's RFC 822 parser (strict) accepts a bare address.
fn parses_as_address(email: &str) -> bool {
    let bare = unquoted(email);
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain_ok = if domain.starts_with('[') && domain.ends_with(']') {
        true
    } else {
        !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-' || !c.is_ascii())
            })
    };
    bare.matches('@').count() == 1
        && !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !bare.chars().any(char::is_whitespace)
        && domain_ok
}

/// The request body, as the server's JSON reader takes it: a syntax error and a value of the
/// wrong type are told apart.
fn parse_create(body: &[u8], headers: &HeaderMap) -> Result<CreateBody, Response> {
    serde_json::from_slice::<CreateBody>(body).map_err(|e| {
        let error = match e.classify() {
            serde_json::error::Category::Data => "unknown_error",
            _ => "invalid_request",
        };
        error_with_description(StatusCode::BAD_REQUEST, error, "Cannot parse the JSON", headers)
    })
}

async fn create(
    Extract(state): Extract<Shared>,
    Path((realm, org_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(refused) = locate(&state, &realm, &org_id, &headers) {
        return refused;
    }
    let request = match parse_create(&body, &headers) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    if request.email.as_deref().is_some_and(malformed_email) {
        let body = json!({
            "error": "Provided data is invalid",
            "violations": ["email: must be a well-formed email address"],
        });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    if let Err(denied) = authorize(&state, &headers, can_manage) {
        return denied;
    }
    let Some(org) = state.org_mut(&realm, &org_id) else {
        return no_org(&org_id, &headers);
    };
    let email = match request.email.as_deref() {
        Some(given) if parses_as_address(given) => given.to_lowercase(),
        given => {
            let given = given.unwrap_or("null");
            return error(StatusCode::BAD_REQUEST, &format!("Invalid email: {given}"), &headers);
        }
    };
    if request.roles.iter().any(|r| !org.roles.contains(r)) {
        return error(StatusCode::BAD_REQUEST, "Unknown role in list.", &headers);
    }
    if org.invitations.iter().any(|i| i.email == email) {
        return error(
            StatusCode::CONFLICT,
            &format!("Invitation for {email} already exists."),
            &headers,
        );
    }
    if org.members.contains(&email) {
        return error(
            StatusCode::CONFLICT,
            &format!("{email} is already a member of this organization."),
            &headers,
        );
    }
    let too_long = email.chars().count() > EMAIL_COLUMN
        || request.redirect_uri.as_ref().is_some_and(|u| u.chars().count() > REDIRECT_URI_COLUMN)
        || request.roles.iter().any(|r| r.chars().count() > ROLE_COLUMN)
        || request
            .attributes
            .values()
            .flatten()
            .any(|v| v.chars().count() > ATTRIBUTE_VALUE_COLUMN);
    if too_long {
        return server_failure("unknown_error", &headers);
    }
    let inviter_id = match request.inviter_id.filter(|i| !i.is_empty()) {
        // The server looks the inviter up and fails on an unknown one; this one knows none.
        Some(_) => return server_failure("HTTP 500 Internal Server Error", &headers),
        None => Some("fake-admin".to_owned()),
    };
    let invitation = StoredInvitation {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        created_at: created_at_now(),
        inviter_id,
        redirect_uri: request.redirect_uri.unwrap_or_default(),
        roles: request.roles.into_iter().collect::<BTreeSet<_>>(),
        attributes: request.attributes,
        send_email: request.send,
        emails_sent: u32::from(request.send),
    };
    let id = invitation.id.clone();
    org.invitations.push(invitation);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    // The request's own URL plus the new id, as JAX-RS builds it.
    let mut location = url::Url::parse(&format!("http://{host}/"))
        .unwrap_or_else(|_| url::Url::parse("http://localhost/").expect("a valid URL"));
    location.path_segments_mut().expect("http URLs have path segments").pop_if_empty().extend([
        "realms",
        &realm,
        "orgs",
        &org_id,
        "invitations",
        &id,
    ]);
    (StatusCode::CREATED, [(header::LOCATION, location.to_string())]).into_response()
}

async fn list(
    Extract(state): Extract<Shared>,
    Path((realm, org_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(refused) = locate(&state, &realm, &org_id, &headers) {
        return refused;
    }
    let Some(org) = state.realms.get(&realm).and_then(|r| r.get(&org_id)) else {
        return no_org(&org_id, &headers);
    };
    // JAX-RS answers 404 when a query parameter does not convert to its Java type.
    let number = |name: &str, default: i64| -> Result<i64, Response> {
        match query.get(name) {
            None => Ok(default),
            Some(text) => text.parse::<i32>().map(i64::from).map_err(|_| not_found(&headers)),
        }
    };
    let (first, max) = match (number("first", 0), number("max", 100)) {
        (Ok(first), Ok(max)) => (first, max),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    // The server hands negative values to Java streams, which throw.
    if first < 0 || max < 0 {
        return server_failure("unknown_error", &headers);
    }
    let search = query.get("search").map(String::as_str).unwrap_or("");
    let page: Vec<_> = org
        .invitations
        .iter()
        .filter(|i| i.email.contains(search))
        .skip(first as usize)
        .take(max as usize)
        .map(|i| representation(i, &org_id))
        .collect();
    axum::Json(page).into_response()
}

async fn count(
    Extract(state): Extract<Shared>,
    Path((realm, org_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(refused) = locate(&state, &realm, &org_id, &headers) {
        return refused;
    }
    match state.realms.get(&realm).and_then(|r| r.get(&org_id)) {
        Some(org) => axum::Json(org.invitations.len() as u64).into_response(),
        None => no_org(&org_id, &headers),
    }
}

async fn get_one(
    Extract(state): Extract<Shared>,
    Path((realm, org_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(refused) = locate(&state, &realm, &org_id, &headers) {
        return refused;
    }
    let found = state
        .realms
        .get(&realm)
        .and_then(|r| r.get(&org_id))
        .and_then(|o| o.invitations.iter().find(|i| i.id == id));
    match found {
        Some(invitation) => axum::Json(representation(invitation, &org_id)).into_response(),
        None => no_invitation(&id, &headers),
    }
}

async fn delete(
    Extract(state): Extract<Shared>,
    Path((realm, org_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(refused) = locate(&state, &realm, &org_id, &headers) {
        return refused;
    }
    if let Err(denied) = authorize(&state, &headers, can_manage) {
        return denied;
    }
    let Some(org) = state.org_mut(&realm, &org_id) else {
        return no_org(&org_id, &headers);
    };
    let before = org.invitations.len();
    org.invitations.retain(|i| i.id != id);
    if org.invitations.len() == before {
        return no_invitation(&id, &headers);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Resending needs only the right to view: the server checks no manage right here.
async fn resend(
    Extract(state): Extract<Shared>,
    Path((realm, org_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(refused) = locate(&state, &realm, &org_id, &headers) {
        return refused;
    }
    let found =
        state.org_mut(&realm, &org_id).and_then(|o| o.invitations.iter_mut().find(|i| i.id == id));
    match found {
        Some(invitation) => {
            invitation.emails_sent += 1;
            StatusCode::NO_CONTENT.into_response()
        }
        None => no_invitation(&id, &headers),
    }
}

/// The signed-in user's email. Any valid token passes; one without a verified email (a
/// service account's) is a 400.
fn user_email(state: &State, headers: &HeaderMap) -> Result<String, Response> {
    match authorize(state, headers, |_| true)? {
        Permission::User(email) => Ok(email.to_lowercase()),
        Permission::View | Permission::Manage => {
            Err(error(StatusCode::BAD_REQUEST, "User needs to be email verified", headers))
        }
    }
}

async fn my_invitations(
    Extract(state): Extract<Shared>,
    Path(realm): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    let Some(orgs) = state.realms.get(&realm) else {
        return no_realm(&headers);
    };
    let email = match user_email(&state, &headers) {
        Ok(email) => email,
        Err(refused) => return refused,
    };
    let mine: Vec<_> = orgs
        .iter()
        .flat_map(|(org_id, org)| {
            org.invitations
                .iter()
                .filter(|i| i.email == email)
                .map(move |i| representation(i, org_id))
        })
        .collect();
    axum::Json(mine).into_response()
}

/// Removes the user's invitation `id`; on accept, makes the user a member. The two answer an
/// unknown id and another person's invitation with different statuses and messages, as the
/// server does.
fn respond(state: &Shared, realm: &str, id: &str, headers: &HeaderMap, accept: bool) -> Response {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if !state.realms.contains_key(realm) {
        return no_realm(headers);
    }
    let email = match user_email(&state, headers) {
        Ok(email) => email,
        Err(refused) => return refused,
    };
    let Some(orgs) = state.realms.get_mut(realm) else {
        return no_realm(headers);
    };
    let found = orgs
        .values_mut()
        .find_map(|org| org.invitations.iter().position(|i| i.id == id).map(|at| (org, at)));
    let Some((org, at)) = found else {
        return if accept {
            error(StatusCode::NOT_FOUND, &format!("Invitation {id} not found"), headers)
        } else {
            error(StatusCode::BAD_REQUEST, "invitation not found", headers)
        };
    };
    if org.invitations[at].email != email {
        let message = if accept {
            "Email claim differs from invitation email"
        } else {
            "`email` claim differ from invitation email"
        };
        return error(StatusCode::BAD_REQUEST, message, headers);
    }
    org.invitations.remove(at);
    if accept {
        org.members.insert(email);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn accept(
    Extract(state): Extract<Shared>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(&state, &realm, &id, &headers, true)
}

async fn reject(
    Extract(state): Extract<Shared>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(&state, &realm, &id, &headers, false)
}

/// Keycloak's token endpoint, client-credentials grant only.
async fn token(
    Extract(state): Extract<Shared>,
    Path(realm): Path<String>,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let refuse = |status: StatusCode, error: &str, description: &str| {
        (status, axum::Json(json!({"error": error, "error_description": description})))
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Unsupported grant_type");
    }
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if !state.realms.contains_key(&realm) {
        let body = json!({ "error": "Realm does not exist" });
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let Some(registration) = state.clients.get(&(realm.clone(), client_id)) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        );
    };
    if form.get("client_secret") != Some(&registration.secret) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Invalid client or Invalid client credentials",
        );
    }
    let (permission, lifetime) = (registration.permission.clone(), registration.lifetime);
    state.grants += 1;
    let token = format!("granted-{}-{}", state.grants, uuid::Uuid::new_v4().simple());
    state.add_token(&token, permission, Some(lifetime));
    axum::Json(json!({
        "access_token": token,
        "expires_in": lifetime.as_secs(),
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": "profile email",
    }))
    .into_response()
}

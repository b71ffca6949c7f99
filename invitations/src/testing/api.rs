//! The HTTP API of the fake server, behaving as the Phase Two extension does.

// Handlers answer early with a ready response; its size does not matter in a test server.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::state::{Permission, State, StoredInvitation, created_at_now};
// The server's column sizes, the same facts the client checks before sending: longer values
// make the server fail with a 500.
use crate::validate::{MAX_ATTRIBUTE_VALUE, MAX_EMAIL, MAX_REDIRECT_URI, MAX_ROLE};

type Shared = Arc<Mutex<State>>;

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route("/realms/{realm}/orgs/me/invitations", get(my_invitations))
        .route(
            "/realms/{realm}/orgs/me/invitations/{id}",
            post(accept).delete(reject),
        )
        .route(
            "/realms/{realm}/orgs/{org}/invitations",
            post(create).get(list),
        )
        .route("/realms/{realm}/orgs/{org}/invitations/count", get(count))
        .route(
            "/realms/{realm}/orgs/{org}/invitations/{id}",
            get(get_one).delete(delete),
        )
        .route(
            "/realms/{realm}/orgs/{org}/invitations/{id}/resend-email",
            put(resend),
        )
        .route("/realms/{realm}/protocol/openid-connect/token", post(token))
        .with_state(state)
}

/// The operation a request is for, by method and path, for scoping faults.
pub(super) fn operation_of(method: &Method, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let op = match (method.as_str(), segments.as_slice()) {
        ("GET", ["realms", _, "orgs", "me", "invitations"]) => "invitations",
        ("POST", ["realms", _, "orgs", "me", "invitations", _]) => "acceptInvitation",
        ("DELETE", ["realms", _, "orgs", "me", "invitations", _]) => "rejectInvitation",
        ("POST", ["realms", _, "orgs", _, "invitations"]) => "addOrganizationInvitation",
        ("GET", ["realms", _, "orgs", _, "invitations"]) => "getOrganizationInvitations",
        ("GET", ["realms", _, "orgs", _, "invitations", "count"]) => {
            "getOrganizationInvitationCount"
        }
        ("GET", ["realms", _, "orgs", _, "invitations", _]) => "getOrganizationInvitationById",
        ("DELETE", ["realms", _, "orgs", _, "invitations", _]) => "removeOrganizationInvitation",
        ("PUT", ["realms", _, "orgs", _, "invitations", _, "resend-email"]) => {
            "resendOrganizationInvitation"
        }
        ("POST", ["realms", _, "protocol", "openid-connect", "token"]) => "token",
        _ => return None,
    };
    Some(op)
}

/// An error answer, as Keycloak shapes it: JSON, or an HTML page when the client's
/// `Accept` prefers HTML.
fn error(status: StatusCode, message: &str, headers: &HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("text/html") && !accept.contains("json") {
        let page = format!("<html><head><title>Error</title></head><body>{message}</body></html>");
        return (status, [(header::CONTENT_TYPE, "text/html")], page).into_response();
    }
    let body = if status.is_server_error() {
        json!({"error": "unknown_error", "error_description": message})
    } else {
        json!({ "error": message })
    };
    (status, axum::Json(body)).into_response()
}

/// An answer forced by an injected fault.
pub(super) fn injected_status(status: u16, retry_after: Option<String>) -> Response<Bytes> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = retry_after {
        builder = builder.header(header::RETRY_AFTER, value);
    }
    let body = json!({ "error": status.canonical_reason().unwrap_or("injected") });
    builder
        .body(Bytes::from(body.to_string()))
        .expect("a valid response")
}

/// The caller's permission, or the 401 the server gives to missing, expired and
/// insufficient tokens alike.
fn authorize(
    state: &State,
    headers: &HeaderMap,
    allowed: impl Fn(&Permission) -> bool,
) -> Result<Permission, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.permission(authorization) {
        Some(permission) if allowed(&permission) => Ok(permission),
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            "HTTP 401 Unauthorized",
            headers,
        )),
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

fn representation(invitation: &StoredInvitation, org_id: &str) -> serde_json::Value {
    let mut value = json!({
        "id": invitation.id,
        "createdAt": invitation.created_at,
        "email": invitation.email,
        "invitationUrl": "",
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

/// The address of an RFC 822 mailbox (`Jo <jo@x.io>` or `jo@x.io`), if it is one.
fn mailbox_address(text: &str) -> Option<&str> {
    let text = text.trim();
    let address = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close && close == text.len() - 1 => {
            &text[open + 1..close]
        }
        (None, None) => text,
        _ => return None,
    };
    let (local, domain) = address.rsplit_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    valid.then_some(address)
}

async fn create(
    Extract(state): Extract<Shared>,
    Path((realm, org_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(denied) = authorize(&state, &headers, can_manage) {
        return denied;
    }
    let Some(org) = state.org_mut(&realm, &org_id) else {
        return not_found(&headers);
    };
    let Ok(request) = serde_json::from_slice::<CreateBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Malformed request body", &headers);
    };
    let given = request.email.unwrap_or_default();
    let Some(address) = mailbox_address(&given) else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid email: {given}"),
            &headers,
        );
    };
    let email = address.to_lowercase();
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
    let too_long = email.chars().count() > MAX_EMAIL
        || request
            .redirect_uri
            .as_ref()
            .is_some_and(|u| u.chars().count() > MAX_REDIRECT_URI)
        || request.roles.iter().any(|r| r.chars().count() > MAX_ROLE)
        || request
            .attributes
            .values()
            .flatten()
            .any(|v| v.chars().count() > MAX_ATTRIBUTE_VALUE);
    if too_long {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "value too long for column",
            &headers,
        );
    }
    let inviter_id = match request.inviter_id.filter(|i| !i.is_empty()) {
        // The server looks the inviter up and fails on an unknown one; this one knows none.
        Some(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unknown inviter",
                &headers,
            );
        }
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
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    // The request's own URL plus the new id, as JAX-RS builds it.
    let mut location = url::Url::parse(&format!("http://{host}/"))
        .unwrap_or_else(|_| url::Url::parse("http://localhost/").expect("a valid URL"));
    location
        .path_segments_mut()
        .expect("http URLs have path segments")
        .pop_if_empty()
        .extend(["realms", &realm, "orgs", &org_id, "invitations", &id]);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

async fn list(
    Extract(state): Extract<Shared>,
    Path((realm, org_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(denied) = authorize(&state, &headers, can_view) {
        return denied;
    }
    let Some(org) = state.realms.get(&realm).and_then(|r| r.get(&org_id)) else {
        return not_found(&headers);
    };
    let number = |name: &str, default: i64| -> Result<i64, Response> {
        match query.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<i32>()
                .map(i64::from)
                .map_err(|_| not_found(&headers)),
        }
    };
    let (first, max) = match (number("first", 0), number("max", 100)) {
        (Ok(first), Ok(max)) => (first, max),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    // The server hands negative values to Java streams, which throw.
    if first < 0 || max < 0 {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "negative paging parameter",
            &headers,
        );
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
    if let Err(denied) = authorize(&state, &headers, can_view) {
        return denied;
    }
    match state.realms.get(&realm).and_then(|r| r.get(&org_id)) {
        Some(org) => axum::Json(org.invitations.len() as u64).into_response(),
        None => not_found(&headers),
    }
}

async fn get_one(
    Extract(state): Extract<Shared>,
    Path((realm, org_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(denied) = authorize(&state, &headers, can_view) {
        return denied;
    }
    let found = state
        .realms
        .get(&realm)
        .and_then(|r| r.get(&org_id))
        .and_then(|o| o.invitations.iter().find(|i| i.id == id));
    match found {
        Some(invitation) => axum::Json(representation(invitation, &org_id)).into_response(),
        None => not_found(&headers),
    }
}

async fn delete(
    Extract(state): Extract<Shared>,
    Path((realm, org_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(denied) = authorize(&state, &headers, can_manage) {
        return denied;
    }
    let Some(org) = state.org_mut(&realm, &org_id) else {
        return not_found(&headers);
    };
    let before = org.invitations.len();
    org.invitations.retain(|i| i.id != id);
    if org.invitations.len() == before {
        return not_found(&headers);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn resend(
    Extract(state): Extract<Shared>,
    Path((realm, org_id, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(denied) = authorize(&state, &headers, can_manage) {
        return denied;
    }
    let found = state
        .org_mut(&realm, &org_id)
        .and_then(|o| o.invitations.iter_mut().find(|i| i.id == id));
    match found {
        Some(invitation) => {
            invitation.emails_sent += 1;
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(&headers),
    }
}

/// The signed-in user's email, or the 401.
fn user_email(state: &State, headers: &HeaderMap) -> Result<String, Response> {
    match authorize(state, headers, |p| matches!(p, Permission::User(_)))? {
        Permission::User(email) => Ok(email.to_lowercase()),
        _ => unreachable!("authorize checked the variant"),
    }
}

async fn my_invitations(
    Extract(state): Extract<Shared>,
    Path(realm): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    let email = match user_email(&state, &headers) {
        Ok(email) => email,
        Err(denied) => return denied,
    };
    let Some(orgs) = state.realms.get(&realm) else {
        return not_found(&headers);
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

/// Removes the user's invitation `id`; on accept, makes the user a member.
fn respond(state: &Shared, realm: &str, id: &str, headers: &HeaderMap, accept: bool) -> Response {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let email = match user_email(&state, headers) {
        Ok(email) => email,
        Err(denied) => return denied,
    };
    let Some(orgs) = state.realms.get_mut(realm) else {
        return not_found(headers);
    };
    for org in orgs.values_mut() {
        if let Some(at) = org
            .invitations
            .iter()
            .position(|i| i.id == id && i.email == email)
        {
            org.invitations.remove(at);
            if accept {
                org.members.insert(email);
            }
            return StatusCode::NO_CONTENT.into_response();
        }
    }
    not_found(headers)
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
        (
            status,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        );
    }
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let registration = state.clients.get(&(realm.clone(), client_id));
    let Some(registration) = registration.filter(|r| form.get("client_secret") == Some(&r.secret))
    else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Invalid client or Invalid client credentials",
        );
    };
    let (permission, lifetime) = (registration.permission.clone(), registration.lifetime);
    state.grants += 1;
    let token = format!("granted-{}-{}", state.grants, uuid::Uuid::new_v4().simple());
    state.add_token(&token, permission, Some(lifetime));
    axum::Json(json!({
        "access_token": token,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
        "scope": "profile email",
    }))
    .into_response()
}

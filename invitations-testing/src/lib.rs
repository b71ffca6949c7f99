//! A Phase Two server in-process, for testing code that uses `phasetwo-invitations` without
//! Keycloak, and the `phasetwo-fake` program that serves it.
//!
//! It implements the 9 invitation operations the way the real server does (see the
//! repository's docs/server.md): 201 with an empty body and
//! `Location` on create, emails lower-cased before storing and comparing, both 409s, a
//! case-sensitive substring search, 500 for a negative `first` or `max`, 401 for a missing
//! role, error bodies `{"error": "..."}`. It also has Keycloak's client-credentials token
//! endpoint, and can inject faults.
//!
//! ```no_run
//! # async fn demo() -> Result<(), phasetwo_invitations::Error> {
//! use phasetwo_invitations_testing::{FakeServer, Permission};
//!
//! let server = FakeServer::start().await;
//! server.add_org("acme", "org-1", ["member", "admin"]);
//! server.add_token("t0ken", Permission::Manage);
//! let client = phasetwo_invitations::Client::builder()
//!     .base_url(server.url())
//!     .bearer_token("t0ken")
//!     .build()?;
//! client.invitations("acme", "org-1").create("a@example.com").await?;
//! assert_eq!(server.invitations("acme", "org-1").len(), 1);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod api;
mod state;
pub mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use state::{BUILT_IN_ROLES, Permission, RecordedRequest, StoredInvitation};

use state::State;

/// A running fake server; it stops when dropped.
#[derive(Debug)]
pub struct FakeServer {
    url: String,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        // The accept loop owns the connections' tasks: aborting it ends them all.
        self.accept_loop.abort();
    }
}

/// Which requests a [`Fault`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// Every request.
    Any,
    /// Requests of one operation, by its OpenAPI `operationId` (`addOrganizationInvitation`).
    Operation(&'static str),
    /// Requests whose path starts with this.
    PathPrefix(String),
}

/// What happens to a request a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer this status with `{"error": ...}`, without handling the request.
    Status {
        /// The HTTP status.
        status: u16,
        /// A `Retry-After` value to send with it.
        retry_after: Option<String>,
    },
    /// Answer this status as a proxy in front of the server would, without handling the
    /// request: an HTML page, or an empty body.
    ProxyStatus {
        /// The HTTP status.
        status: u16,
        /// An HTML page when true, else an empty body.
        html: bool,
    },
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// Close the connection without handling the request or answering.
    CloseBeforeAnswer,
    /// Handle the request (an invitation is stored), then close the connection without
    /// answering: the ambiguous case.
    CloseAfterHandling,
    /// Handle the request and send half of the answer's body, then close.
    TruncatedBody,
    /// Handle the request and answer its status with an HTML body instead of JSON.
    NonJsonBody,
    /// Remove the `n` oldest invitations of the request's organization, as invitees accepting
    /// them would, then handle the request: a listing under way sees the list shift back
    /// under its offset.
    RemoveOldest(usize),
    /// Store the invitation, as another create of the same email committing first would, and
    /// answer as the real server answers the later of two such creates: 409 with Keycloak's
    /// `Duplicate resource error` (its unique key refused the row), not the endpoint's own
    /// "already exists".
    LostCreateRace,
}

/// A fault injected into requests within `scope`: every `every`-th of them, `count` times.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The requests it applies to.
    pub scope: Scope,
    /// What it does to them.
    pub action: FaultAction,
    /// How many times it applies before it is used up.
    pub count: usize,
    /// It applies to every `every`-th request within the scope.
    pub every: usize,
    /// Requests within the scope seen so far.
    pub(crate) seen: usize,
}

impl Fault {
    /// `action` on the next `count` requests within `scope`.
    pub fn new(scope: Scope, action: FaultAction, count: usize) -> Self {
        Fault::every(scope, action, 1, count)
    }

    /// `action` on the next `count` requests of one operation (an id of
    /// `phasetwo_invitations::operation`).
    pub fn on(operation: &'static str, action: FaultAction, count: usize) -> Self {
        Fault::new(Scope::Operation(operation), action, count)
    }

    /// `action` on every `nth` request within `scope` (1 for each), `count` times in all:
    /// spreads faults over a run instead of bunching them at its start.
    pub fn every(scope: Scope, action: FaultAction, nth: usize, count: usize) -> Self {
        Fault { scope, action, count, every: nth.max(1), seen: 0 }
    }
}

impl FakeServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> FakeServer {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("binding 127.0.0.1:0 does not fail")
    }

    /// Starts a server on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let router = api::router(state.clone());
        let served_state = state.clone();
        let accept_loop = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let router = router.clone();
                let state = served_state.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        serve(request, router.clone(), state.clone())
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    // A connection closed on purpose by a fault ends with an error here.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
                // Reap finished connections so the set does not grow.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(FakeServer { url: format!("http://{addr}"), addr, state, accept_loop })
    }

    /// The server's base URL, to give to `ClientBuilder::base_url` (`/realms` is below it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds an organization (and its realm) with the roles invitations may grant, besides
    /// Phase Two's [`BUILT_IN_ROLES`].
    pub fn add_org<R: Into<String>>(
        &self,
        realm: &str,
        org_id: &str,
        roles: impl IntoIterator<Item = R>,
    ) {
        let roles = roles.into_iter().map(Into::into).collect();
        self.with(|s| s.add_org(realm, org_id, roles));
    }

    /// Makes `email` a member of the organization.
    pub fn add_member(&self, realm: &str, org_id: &str, email: &str) {
        self.with(|s| s.add_member(realm, org_id, email));
    }

    /// Stores an invitation directly and returns its id.
    pub fn add_invitation(&self, realm: &str, org_id: &str, email: &str) -> String {
        self.with(|s| s.add_invitation(realm, org_id, email))
    }

    /// Stores an invitation for each email, in order, and returns their ids.
    pub fn add_invitations(
        &self,
        realm: &str,
        org_id: &str,
        emails: impl IntoIterator<Item = String>,
    ) -> Vec<String> {
        emails.into_iter().map(|email| self.add_invitation(realm, org_id, &email)).collect()
    }

    /// Accepts `token` as a bearer token with `permission`.
    pub fn add_token(&self, token: &str, permission: Permission) {
        self.with(|s| s.add_token(token, permission, None));
    }

    /// Registers a confidential client of `realm` for the client-credentials grant; its
    /// tokens have `permission` and live `lifetime`.
    pub fn add_client(
        &self,
        realm: &str,
        client_id: &str,
        secret: &str,
        permission: Permission,
        lifetime: Duration,
    ) {
        self.with(|s| s.add_client(realm, client_id, secret, permission, lifetime));
    }

    /// Makes every token issued by the token endpoint invalid, as a revocation or a restart
    /// of Keycloak would: their next use gets a 401.
    pub fn revoke_grants(&self) {
        self.with(|s| s.tokens.retain(|_, t| !t.granted));
    }

    /// How many tokens the token endpoint has issued.
    pub fn grants(&self) -> usize {
        self.with(|s| s.grants)
    }

    /// The invitations stored for an organization, in creation order.
    pub fn invitations(&self, realm: &str, org_id: &str) -> Vec<StoredInvitation> {
        self.with(|s| s.stored(realm, org_id))
    }

    /// The members of an organization (their emails).
    pub fn members(&self, realm: &str, org_id: &str) -> Vec<String> {
        self.with(|s| s.members(realm, org_id))
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.requests.clone())
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear());
    }

    /// Removes every injected fault that is not used up yet.
    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }

    /// How many requests met an injected fault.
    pub fn faults_applied(&self) -> usize {
        self.with(|s| s.faults_applied)
    }

    /// Injects a fault. Every fault whose scope matches a request counts it; of those due,
    /// the first injected applies.
    pub fn inject(&self, fault: Fault) {
        if fault.count > 0 {
            self.with(|s| s.faults.push(fault));
        }
    }
}

/// The realm and organization a path `/realms/{realm}/orgs/{org}/…` names.
fn org_of(path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["realms", realm, "orgs", org, ..] => {
            let decode =
                |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            Some((decode(realm), decode(org)))
        }
        _ => None,
    }
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed_unsync()
}

/// One request: recorded, then faulted or passed to the API.
async fn serve(
    request: Request<Incoming>,
    router: axum::Router,
    state: Arc<Mutex<State>>,
) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let operation = api::operation_of(&parts.method, parts.uri.path());
    let fault = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.record(&parts, &body);
        s.take_fault(operation, parts.uri.path())
    };
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    let handle = |request: Request<axum::body::Body>| async move {
        let response: axum::response::Response =
            router.oneshot(request).await.unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        (parts, bytes)
    };
    let closed = || std::io::Error::other("connection closed by an injected fault");
    match fault {
        None => {
            let (parts, bytes) = handle(request).await;
            Ok(Response::from_parts(parts, full(bytes)))
        }
        Some(FaultAction::Status { status, retry_after }) => {
            Ok(api::injected_status(status, retry_after).map(full))
        }
        Some(FaultAction::ProxyStatus { status, html }) => {
            let status = hyper::StatusCode::from_u16(status)
                .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
            let (content_type, body) = if html {
                ("text/html", format!("<html><body><h1>{status}</h1></body></html>"))
            } else {
                ("text/plain", String::new())
            };
            let mut response = Response::new(full(body));
            *response.status_mut() = status;
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(content_type),
            );
            Ok(response)
        }
        Some(FaultAction::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            let (parts, bytes) = handle(request).await;
            Ok(Response::from_parts(parts, full(bytes)))
        }
        Some(FaultAction::RemoveOldest(n)) => {
            if let Some((realm, org_id)) = org_of(request.uri().path()) {
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(org) = s.org_mut(&realm, &org_id) {
                    let n = n.min(org.invitations.len());
                    org.invitations.drain(..n);
                }
            }
            let (parts, bytes) = handle(request).await;
            Ok(Response::from_parts(parts, full(bytes)))
        }
        Some(FaultAction::LostCreateRace) => {
            handle(request).await;
            let body = serde_json::json!({
                "error": "conflict",
                "error_description": "Duplicate resource error",
            });
            let mut response = Response::new(full(Bytes::from(body.to_string())));
            *response.status_mut() = hyper::StatusCode::CONFLICT;
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        Some(FaultAction::CloseBeforeAnswer) => Err(closed()),
        Some(FaultAction::CloseAfterHandling) => {
            handle(request).await;
            Err(closed())
        }
        Some(FaultAction::TruncatedBody) => {
            let (parts, bytes) = handle(request).await;
            let half = bytes.slice(..bytes.len() / 2);
            // The error comes a moment later, so the head and the first half go out first.
            let cut = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::other("body cut short by an injected fault"))
            });
            let frames = futures_util::StreamExt::chain(
                futures_util::stream::iter([Ok(Frame::data(half))]),
                cut,
            );
            // Content-Length still announces the whole body.
            Ok(Response::from_parts(parts, StreamBody::new(frames).boxed_unsync()))
        }
        Some(FaultAction::NonJsonBody) => {
            let (mut parts, _) = handle(request).await;
            parts.headers.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/html"),
            );
            parts.headers.remove(hyper::header::CONTENT_LENGTH);
            Ok(Response::from_parts(parts, full("<html><body>Something went wrong</body></html>")))
        }
    }
}

/// A running server as one JSON line describes it, to the tests and programs that use it:
/// what `phasetwo-fake` prints, and what the real server's launcher prints and passes on. One
/// format for both, so that a test can run against either.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServerDescription {
    /// The server URL (without `/realms`).
    pub url: String,
    /// The realm everything below lives in.
    pub realm: String,
    /// An organization with [`Self::roles`].
    pub org: String,
    /// A token that may view and manage invitations.
    pub token: String,
    /// A second organization, with the same roles.
    pub other_org: String,
    /// Roles of both organizations that invitations may grant (besides Phase Two's own).
    pub roles: Vec<String>,
    /// A confidential client that may view and manage invitations.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// A confidential client that may only view.
    pub view_client_id: String,
    /// Its secret.
    pub view_client_secret: String,
    /// A token that may only view.
    pub view_token: String,
    /// A member of [`Self::org`].
    pub member_email: String,
    /// Someone to invite, who can act on his own invitations.
    pub invitee_email: String,
    /// His token.
    pub invitee_token: String,
    /// Access token lifetime of the client-credentials grant, in seconds.
    pub token_lifetime_s: u64,
    /// The built-in server: every member it was seeded with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// The built-in server: the invitations it was seeded with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invitations: Vec<SeededInvitation>,
    /// The real server: what only a server with users and an administrator has.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub keycloak: Option<KeycloakDetails>,
}

/// An invitation the built-in server was seeded with.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeededInvitation {
    /// Its id.
    pub id: String,
    /// Its email, lower-cased as stored.
    pub email: String,
}

/// What the real server's description adds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct KeycloakDetails {
    /// The invitee's password.
    pub invitee_password: String,
    /// A public client that allows the password grant, for user tokens.
    pub user_client_id: String,
    /// The master realm's administrator.
    pub admin_user: String,
    /// His password.
    pub admin_password: String,
    /// Keycloak's version.
    #[serde(rename = "keycloak")]
    pub keycloak_version: String,
    /// The extension's version.
    pub keycloak_orgs: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built_in() -> ServerDescription {
        ServerDescription {
            url: "http://127.0.0.1:1".into(),
            realm: "acme".into(),
            org: "org-1".into(),
            token: "t".into(),
            other_org: "org-2".into(),
            roles: vec!["member".into()],
            client_id: "c".into(),
            client_secret: "s".into(),
            view_client_id: "v".into(),
            view_client_secret: "vs".into(),
            view_token: "vt".into(),
            member_email: "m@x.io".into(),
            invitee_email: "i@x.io".into(),
            invitee_token: "it".into(),
            token_lifetime_s: 60,
            members: vec!["m@x.io".into()],
            invitations: Vec::new(),
            keycloak: None,
        }
    }

    /// One format: the built-in server's line reads back without Keycloak's part, the real
    /// server's with it, its fields at the top level as before.
    #[test]
    fn descriptions_of_both_servers_read_back_as_written() {
        let line = serde_json::to_string(&built_in()).unwrap();
        assert!(!line.contains("admin_password"), "{line}");
        let read: ServerDescription = serde_json::from_str(&line).unwrap();
        assert!(read.keycloak.is_none());
        assert_eq!(read.members, ["m@x.io"]);

        let real = ServerDescription {
            members: Vec::new(),
            keycloak: Some(KeycloakDetails {
                invitee_password: "p".into(),
                user_client_id: "u".into(),
                admin_user: "admin".into(),
                admin_password: "ap".into(),
                keycloak_version: "26.5.0".into(),
                keycloak_orgs: "0.142".into(),
            }),
            ..built_in()
        };
        let line = serde_json::to_string(&real).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["keycloak"], "26.5.0");
        assert_eq!(value["admin_user"], "admin");
        let read: ServerDescription = serde_json::from_str(&line).unwrap();
        assert_eq!(read.keycloak.unwrap().keycloak_orgs, "0.142");
    }
}

//! The set-up tests share: a seeded server with a client, a trace capture that reads back the
//! waits between attempts.
//! Tests of this workspace use these instead of writing their own; so can a user's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use phasetwo_invitations::{Client, ClientBuilder, OrgInvitations, RetryConfig};

use crate::{FakeServer, Permission};

/// The realm of a [`Fixture`].
pub const REALM: &str = "acme";
/// The organization of a [`Fixture`].
pub const ORG: &str = "org-1";
/// The roles of a [`Fixture`]'s organization.
pub const ROLES: [&str; 2] = ["member", "admin"];
/// A bearer token of a [`Fixture`] that may view and manage invitations.
pub const MANAGE_TOKEN: &str = "fixture-manage-token-0001";
/// A bearer token of a [`Fixture`] that may only view them.
pub const VIEW_TOKEN: &str = "fixture-view-token-0002";
/// A client secret for tests of the client-credentials grant, recognisable wherever it leaks.
pub const CLIENT_SECRET: &str = "fixture-client-secret-0003";

/// A running [`FakeServer`] with [`REALM`], [`ORG`] (roles [`ROLES`]), [`MANAGE_TOKEN`] and
/// [`VIEW_TOKEN`], and a client sending [`MANAGE_TOKEN`] that retries without waiting long.
#[derive(Debug)]
pub struct Fixture {
    /// The server; it stops when the fixture is dropped.
    pub server: FakeServer,
    /// A client of the server, sending [`MANAGE_TOKEN`].
    pub client: Client,
}

impl Fixture {
    /// Starts the server and builds the client.
    pub async fn start() -> Fixture {
        let server = FakeServer::start().await;
        server.add_org(REALM, ORG, ROLES);
        server.add_token(MANAGE_TOKEN, Permission::Manage);
        server.add_token(VIEW_TOKEN, Permission::View);
        let client = client_of(&server, MANAGE_TOKEN).build().expect("a fixture client builds");
        Fixture { server, client }
    }

    /// The invitations of [`ORG`], through the fixture's client.
    pub fn org(&self) -> OrgInvitations {
        self.client.invitations(REALM, ORG)
    }
}

/// A client builder for `server` sending `token`, retrying as [`quick_retries`] says.
pub fn client_of(server: &FakeServer, token: &str) -> ClientBuilder {
    Client::builder().base_url(server.url()).bearer_token(token).retry(quick_retries())
}

/// Four attempts with backoffs of a few milliseconds: tests that meet faults finish quickly.
pub fn quick_retries() -> RetryConfig {
    RetryConfig::default().initial_backoff(Duration::from_millis(1)).max_attempts(4)
}

/// Everything traced at TRACE level on this thread while it is alive, as text.
pub struct TraceCapture {
    buffer: Buffer,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for TraceCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceCapture")
    }
}

impl TraceCapture {
    /// Starts capturing, spans' openings and closings included. The subscriber is this
    /// thread's default: run the traced code on the same thread (a current-thread runtime).
    pub fn start() -> TraceCapture {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || writer.clone())
            .finish();
        TraceCapture { buffer, _guard: tracing::subscriber::set_default(subscriber) }
    }

    /// What was traced so far.
    pub fn text(&self) -> String {
        let bytes = self.buffer.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The waits between attempts announced so far (the client's `retrying` events and
    /// their `delay_ms`), in order.
    pub fn retry_waits(&self) -> Vec<Duration> {
        self.text()
            .lines()
            .filter(|line| line.contains(" retrying "))
            .filter_map(|line| line.split("delay_ms=").nth(1))
            .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .filter_map(|digits| digits.parse().ok())
            .map(Duration::from_millis)
            .collect()
    }
}
